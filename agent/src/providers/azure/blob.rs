//! The Blob data plane with the official `azure_storage_blob` crate: containers per storage
//! account, with their metadata and default encryption scope (one `ListContainers` listing
//! with `include=metadata`; no per-container call).
//!
//! Authentication per account: an account key (Shared Key, signed per try) or an account
//! SAS when the operator configured one for that account, else the Entra ID credential
//! chain (which `azure_storage_blob` allows over https only).

use std::collections::HashMap;
use std::sync::Arc;

use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::policies::Policy;
use azure_core::http::{ClientOptions, Transport, Url};
use azure_storage_blob::models::{
    BlobServiceClientListContainersOptions, ListContainersIncludeType,
};
use azure_storage_blob::{BlobServiceClient, BlobServiceClientOptions};
use futures::StreamExt;

use super::auth::{SasPolicy, SetupError, SharedKeyPolicy};
use super::config::AzureConfig;
use crate::providers::CallFailure;

/// One container as the listing described it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub metadata: std::collections::BTreeMap<String, String>,
    pub default_encryption_scope: String,
    pub deny_encryption_scope_override: bool,
    /// `HasImmutabilityPolicy`; `None` when the service did not say.
    pub has_immutability_policy: Option<bool>,
    /// `HasLegalHold`; `None` when the service did not say.
    pub has_legal_hold: Option<bool>,
}

#[derive(Debug, Clone)]
enum AccountAuth {
    Key(Arc<SharedKeyPolicy>),
    Sas(Arc<SasPolicy>),
}

/// How to reach each account's Blob endpoint.
#[derive(Debug)]
pub struct BlobAccess {
    template: Option<String>,
    credential: Arc<dyn TokenCredential>,
    transport: Transport,
    per_account: HashMap<String, AccountAuth>,
}

impl BlobAccess {
    pub fn new(
        config: &AzureConfig,
        credential: Arc<dyn TokenCredential>,
        transport: Transport,
    ) -> Result<BlobAccess, SetupError> {
        let mut per_account = HashMap::new();
        for k in &config.account_keys {
            let read = |path: &std::path::Path, what: &'static str| {
                std::fs::read_to_string(path)
                    .map(|s| s.trim().to_owned())
                    .map_err(|source| SetupError::Read {
                        what,
                        path: path.display().to_string(),
                        source,
                    })
            };
            let auth = match (&k.key_file, &k.sas_file) {
                (Some(path), _) => AccountAuth::Key(Arc::new(SharedKeyPolicy {
                    account: k.account.clone(),
                    key: Secret::new(read(path, "azure.account_keys key_file")?),
                })),
                (None, Some(path)) => AccountAuth::Sas(Arc::new(SasPolicy {
                    sas: read(path, "azure.account_keys sas_file")?,
                })),
                (None, None) => continue,
            };
            per_account.insert(k.account.clone(), auth);
        }
        Ok(BlobAccess {
            template: config.blob_endpoint.clone(),
            credential,
            transport,
            per_account,
        })
    }

    /// The account's Blob endpoint: the configured template, else ARM's
    /// `primaryEndpoints.blob`, else the public cloud's. No trailing `/` (path-style URLs
    /// would double up).
    pub fn endpoint_for(&self, account: &str, from_arm: &str) -> String {
        let url = match &self.template {
            Some(t) => t.replace("{account}", account),
            None if !from_arm.is_empty() => from_arm.to_owned(),
            None => format!("https://{account}.blob.core.windows.net"),
        };
        url.trim_end_matches('/').to_owned()
    }

    /// Every container of `account`, across pages.
    pub async fn list_containers(
        &self,
        account: &str,
        endpoint: &str,
    ) -> Result<Vec<Container>, CallFailure> {
        let invalid = |message: String| CallFailure {
            code: Some("InvalidEndpoint".into()),
            message,
            status: None,
            timeout: false,
        };
        let url = Url::parse(endpoint).map_err(|e| invalid(format!("{endpoint}: {e}")))?;
        let mut per_try: Vec<Arc<dyn Policy>> = Vec::new();
        let credential = match self.per_account.get(account) {
            Some(AccountAuth::Key(p)) => {
                per_try.push(p.clone());
                None
            }
            Some(AccountAuth::Sas(p)) => {
                per_try.push(p.clone());
                None
            }
            None => Some(self.credential.clone()),
        };
        let options = BlobServiceClientOptions {
            client_options: ClientOptions {
                transport: Some(self.transport.clone()),
                per_try_policies: per_try,
                ..ClientOptions::default()
            },
            ..BlobServiceClientOptions::default()
        };
        let client = BlobServiceClient::new(url, credential, Some(options))
            .map_err(|e| invalid(e.to_string()))?;
        let pager = client
            .list_containers(Some(BlobServiceClientListContainersOptions {
                include: Some(vec![ListContainersIncludeType::Metadata]),
                ..BlobServiceClientListContainersOptions::default()
            }))
            .map_err(|e| super::arm::failure_of(&e))?;
        let mut pages = pager.into_pages();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| super::arm::failure_of(&e))?;
            let body = page.into_model().map_err(|e| super::arm::failure_of(&e))?;
            for item in body.container_items {
                let props = item.properties.unwrap_or_default();
                out.push(Container {
                    name: item.name.unwrap_or_default(),
                    metadata: item.metadata.unwrap_or_default().into_iter().collect(),
                    default_encryption_scope: props.default_encryption_scope.unwrap_or_default(),
                    deny_encryption_scope_override: props
                        .prevent_encryption_scope_override
                        .unwrap_or(false),
                    has_immutability_policy: props.has_immutability_policy,
                    has_legal_hold: props.has_legal_hold,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}
