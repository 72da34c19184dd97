//! Azure Resource Manager over azure_core's `Pipeline`: bearer tokens for the ARM audience,
//! retries that honour `Retry-After`, typed serde structs for the fields the map needs, and
//! `nextLink` paging. There is no usable official ARM crate for storage (see STACK.md).

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{
    ClientOptions, Context, ExponentialRetryOptions, Method, Pipeline, PipelineSendOptions,
    Request, RetryOptions, Transport, Url,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::providers::CallFailure;

/// Storage resource provider API version (KEY-CUSTODY.md 2.1).
pub const STORAGE_API: &str = "2025-06-01";
pub const SUBSCRIPTIONS_API: &str = "2022-12-01";
pub const KEYVAULT_API: &str = "2023-07-01";
pub const MONITOR_API: &str = "2023-10-01";

/// Attempts after the first, per call (429 and 5xx; `Retry-After` is honoured).
const MAX_RETRIES: u32 = 4;

/// A client for one ARM endpoint.
#[derive(Debug, Clone)]
pub struct ArmClient {
    base: Url,
    pipeline: Arc<Pipeline>,
}

impl ArmClient {
    pub fn new(
        base: &str,
        audience: &str,
        credential: Arc<dyn TokenCredential>,
        transport: Transport,
    ) -> Result<ArmClient, String> {
        let base = Url::parse(base.trim_end_matches('/'))
            .map_err(|e| format!("azure.arm_endpoint {base:?}: {e}"))?;
        let scope = format!("{}/.default", audience.trim_end_matches('/'));
        let auth = BearerTokenAuthorizationPolicy::new(credential, [scope]);
        let options = ClientOptions {
            transport: Some(transport),
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                max_retries: MAX_RETRIES,
                initial_delay: azure_core::time::Duration::milliseconds(200),
                max_delay: azure_core::time::Duration::seconds(30),
                ..ExponentialRetryOptions::default()
            }),
            ..ClientOptions::default()
        };
        let pipeline = Pipeline::new(
            Some("landmeter-agent"),
            Some(crate::AGENT_VERSION),
            options,
            Vec::new(),
            vec![Arc::new(auth)],
            None,
        );
        Ok(ArmClient {
            base,
            pipeline: Arc::new(pipeline),
        })
    }

    /// The URL of an ARM path (`/subscriptions/...`) with its api-version.
    pub fn url(&self, path: &str, api_version: &str) -> Result<Url, CallFailure> {
        let mut url = self.base.clone();
        let base_path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base_path}{path}"));
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        Ok(url)
    }

    /// GETs one JSON document.
    pub async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, CallFailure> {
        let mut request = Request::new(url, Method::Get);
        request.insert_header("accept", "application/json");
        let response = self
            .pipeline
            .send(
                &Context::new(),
                &mut request,
                Some(PipelineSendOptions {
                    skip_checks: true,
                    ..PipelineSendOptions::default()
                }),
            )
            .await
            .map_err(|e| failure_of(&e))?;
        let status = u16::from(response.status());
        let body = response.into_body();
        if !(200..300).contains(&status) {
            let parsed: Option<ErrorEnvelope> = serde_json::from_slice(body.as_ref()).ok();
            let (code, message) = parsed
                .and_then(|e| e.error)
                .map(|e| (e.code, e.message))
                .unwrap_or_default();
            return Err(CallFailure {
                code: (!code.is_empty()).then_some(code),
                message: if message.is_empty() {
                    String::from_utf8_lossy(body.as_ref())
                        .chars()
                        .take(300)
                        .collect()
                } else {
                    message
                },
                status: Some(status),
                timeout: false,
            });
        }
        serde_json::from_slice(body.as_ref()).map_err(|e| CallFailure {
            code: Some("InvalidResponse".into()),
            message: format!("cannot parse the answer: {e}"),
            status: Some(status),
            timeout: false,
        })
    }

    /// Every item of a listing, following `nextLink`. A failure on a later page fails the
    /// whole listing (the items seen so far are returned with it).
    pub async fn list<T: DeserializeOwned>(&self, first: Url) -> (Vec<T>, Option<CallFailure>) {
        let mut items = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 10_000 {
                return (
                    items,
                    Some(CallFailure {
                        code: Some("TooManyPages".into()),
                        message: "nextLink did not end after 10000 pages".into(),
                        status: None,
                        timeout: false,
                    }),
                );
            }
            match self.get::<Page<T>>(url).await {
                Ok(page) => {
                    items.extend(page.value);
                    next = match page.next_link.filter(|l| !l.is_empty()) {
                        Some(link) => match Url::parse(&link) {
                            Ok(u) => Some(u),
                            Err(e) => {
                                return (
                                    items,
                                    Some(CallFailure {
                                        code: Some("InvalidNextLink".into()),
                                        message: format!("nextLink {link:?}: {e}"),
                                        status: None,
                                        timeout: false,
                                    }),
                                );
                            }
                        },
                        None => None,
                    };
                }
                Err(f) => return (items, Some(f)),
            }
        }
        (items, None)
    }
}

/// A transport or credential failure as a [`CallFailure`].
pub fn failure_of(e: &azure_core::Error) -> CallFailure {
    use azure_core::error::ErrorKind;
    match e.kind() {
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => CallFailure {
            code: error_code.clone(),
            message: readable(&e.to_string()),
            status: Some(u16::from(*status)),
            timeout: false,
        },
        ErrorKind::Credential => CallFailure {
            code: Some("CredentialUnavailable".into()),
            message: e.to_string(),
            status: None,
            timeout: false,
        },
        _ => {
            let text = e.to_string();
            let mut source = std::error::Error::source(e);
            let mut timeout = text.contains("timed out");
            while let Some(s) = source {
                timeout |= s.to_string().contains("timed out");
                source = s.source();
            }
            CallFailure {
                code: None,
                message: text,
                status: None,
                timeout,
            }
        }
    }
}

/// The storage data plane answers errors as an XML document, which the SDK's error text
/// carries whole: people read its `<Message>` (the code is reported on its own), not the XML.
fn readable(text: &str) -> String {
    let inner = |tag: &str| {
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{tag}>"))? + start;
        Some(text[start..end].trim())
    };
    match (
        text.find("<?xml").or_else(|| text.find("<Error>")),
        inner("Message"),
    ) {
        (Some(at), Some(message)) => {
            let head = text[..at].trim_end().trim_end_matches(':').trim_end();
            // The first line of a storage message is the sentence; the rest are request ids.
            let message = message.lines().next().unwrap_or(message).trim();
            if head.is_empty() {
                message.to_owned()
            } else {
                format!("{head}: {message}")
            }
        }
        _ => text.to_owned(),
    }
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: Option<ErrorBody>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// One page of an ARM listing.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(rename = "nextLink", default)]
    pub next_link: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub subscription_id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub state: String,
}

/// An ARM resource as listed: the envelope every resource type shares around its own
/// `properties`. `id` is required: an item without one cannot be a store.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Resource<P> {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub location: String,
    /// The resource's `kind` (storage account kind, Cosmos DB API, ...).
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub sku: Option<NamedSku>,
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub properties: P,
}

impl<P> Resource<P> {
    /// `sku.name`, empty when the resource has none.
    pub fn sku_name(&self) -> String {
        self.sku
            .as_ref()
            .map(|k| k.name.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NamedSku {
    #[serde(default)]
    pub name: String,
}

pub type StorageAccount = Resource<AccountProperties>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountProperties {
    #[serde(default)]
    pub primary_location: String,
    #[serde(default)]
    pub secondary_location: String,
    #[serde(default)]
    pub status_of_secondary: String,
    #[serde(default)]
    pub creation_time: Option<String>,
    #[serde(default)]
    pub encryption: Option<AccountEncryption>,
    #[serde(default)]
    pub primary_endpoints: Endpoints,
    /// Default access tier of the account's blobs ("Hot", "Cool", "Cold", "Premium").
    #[serde(default)]
    pub access_tier: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Endpoints {
    #[serde(default)]
    pub blob: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountEncryption {
    #[serde(default)]
    pub key_source: String,
    #[serde(default)]
    pub keyvaultproperties: Option<KeyVaultProperties>,
    #[serde(default)]
    pub require_infrastructure_encryption: bool,
    #[serde(default)]
    pub identity: Option<EncryptionIdentity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyVaultProperties {
    #[serde(default)]
    pub keyvaulturi: String,
    #[serde(default)]
    pub keyname: String,
    #[serde(default)]
    pub keyversion: String,
    #[serde(default, rename = "currentVersionedKeyIdentifier")]
    pub current_versioned_key_identifier: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionIdentity {
    #[serde(default)]
    pub user_assigned_identity: String,
    #[serde(default)]
    pub federated_identity_client_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EncryptionScope {
    pub name: String,
    #[serde(default)]
    pub properties: EncryptionScopeProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionScopeProperties {
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub key_vault_properties: Option<ScopeKeyVaultProperties>,
    #[serde(default)]
    pub require_infrastructure_encryption: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeKeyVaultProperties {
    #[serde(default)]
    pub key_uri: String,
}

/// A key vault or managed HSM as listed per subscription.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Vault {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub properties: VaultProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultProperties {
    #[serde(default)]
    pub vault_uri: String,
    #[serde(default)]
    pub hsm_uri: String,
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub sku: Option<NamedSku>,
}

/// `…/vaults/{v}/keys/{k}` or `…/managedHSMs/{h}/keys/{k}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VaultKey {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub properties: VaultKeyProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultKeyProperties {
    #[serde(default)]
    pub kty: String,
    #[serde(default)]
    pub key_size: Option<i64>,
    #[serde(default)]
    pub curve_name: Option<String>,
    #[serde(default)]
    pub key_uri: String,
    #[serde(default)]
    pub attributes: KeyAttributes,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyAttributes {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub exportable: Option<bool>,
}

/// Azure Monitor `metrics` answer (the fields read).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metrics {
    #[serde(default)]
    pub value: Vec<Metric>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metric {
    #[serde(default)]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TimeSeries {
    #[serde(default)]
    pub metadatavalues: Vec<MetadataValue>,
    #[serde(default)]
    pub data: Vec<MetricValue>,
}

/// A dimension value of a time series (`{"name": {"value": "tier"}, "value": "Archive"}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetadataValue {
    #[serde(default)]
    pub name: LocalizedName,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LocalizedName {
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricValue {
    #[serde(default)]
    pub time_stamp: String,
    #[serde(default)]
    pub average: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_error_document_reads_as_its_message() {
        // As Azurite and Blob storage answer a data-plane call the identity may not make.
        let text = "403: <?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthorizationPermissionMismatch</Code><Message>This request is not authorized to perform this operation using this permission.\nRequestId:1b2c\nTime:2026-12-06T10:00:00Z</Message></Error>";
        assert_eq!(
            readable(text),
            "403: This request is not authorized to perform this operation using this permission."
        );
        // Anything else is left as it is.
        assert_eq!(readable("403: Forbidden"), "403: Forbidden");
        assert_eq!(
            readable("<Error><Code>X</Code></Error>"),
            "<Error><Code>X</Code></Error>"
        );
    }

    #[test]
    fn parses_the_documented_cmk_account_shape() {
        // Trimmed from az-specs StorageAccountEnableCMK.json (KEY-CUSTODY.md 2.1).
        let json = r#"{
          "id": "/subscriptions/{subscription-id}/resourceGroups/res9407/providers/Microsoft.Storage/storageAccounts/sto8596",
          "name": "sto8596",
          "type": "Microsoft.Storage/storageAccounts",
          "location": "eastus2(stage)",
          "identity": {"type": "SystemAssigned", "principalId": "911871cc", "tenantId": "72f988bf"},
          "sku": {"name": "Standard_GRS", "tier": "Standard"},
          "properties": {
            "encryption": {
              "keySource": "Microsoft.Keyvault",
              "keyvaultproperties": {
                "keyvaulturi": "https://myvault8569.vault.azure.net",
                "keyname": "wrappingKey",
                "keyversion": "",
                "currentVersionedKeyIdentifier": "https://myvault8569.vault.azure.net/keys/wrappingKey/0682afdd9c104f4285df20107e956cad",
                "lastKeyRotationTimestamp": "2019-12-13T20:36:23.7023290Z"
              },
              "services": {"blob": {"enabled": true, "keyType": "Account"}}
            },
            "primaryLocation": "eastus2(stage)",
            "secondaryLocation": "northcentralus(stage)"
          }
        }"#;
        let a: StorageAccount = serde_json::from_str(json).expect("parses");
        assert_eq!(a.sku_name(), "Standard_GRS");
        let e = a.properties.encryption.expect("encryption");
        assert_eq!(e.key_source, "Microsoft.Keyvault");
        assert_eq!(e.keyvaultproperties.expect("kv").keyname, "wrappingKey");
        assert_eq!(a.properties.secondary_location, "northcentralus(stage)");
    }
}
