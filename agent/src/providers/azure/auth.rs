//! Who the Azure provider talks as, and over what.
//!
//! - [`transport`]: one reqwest client (rustls on aws-lc-rs) for every Azure call, trusting
//!   the operator's extra CA bundle (`[azure] ca_file`) besides the platform's roots.
//! - [`credential_chain`]: the official `azure_identity` credentials composed into a chain
//!   (azure_identity 1.x has no `DefaultAzureCredential`): client secret from a file when
//!   configured, then workload identity, managed identity, and the Azure CLI.
//! - [`SharedKeyPolicy`]: Shared Key signing as a per-try pipeline policy, for data-plane
//!   calls to accounts where the operator chose an account key (Azurite, or customers who
//!   use keys); [`SasPolicy`] appends an account SAS instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{ClientOptions, Context, Request, Transport};
use azure_identity::{
    ClientSecretCredential, ClientSecretCredentialOptions, DeveloperToolsCredential,
    ManagedIdentityCredential, WorkloadIdentityCredential,
};

use super::config::AzureConfig;

pub use crate::providers::SetupError;
use crate::providers::read_setup_file as read_file;

/// The HTTP client every Azure pipeline uses: azure_core's defaults (timeouts, no redirects,
/// no automatic decompression) plus the operator's CA bundle.
pub fn transport(config: &AzureConfig) -> Result<Transport, SetupError> {
    let mut builder = reqwest::ClientBuilder::new()
        .connect_timeout(std::time::Duration::from_secs(10))
        .read_timeout(std::time::Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &config.ca_file {
        let pem = read_file("azure.ca_file", path)?;
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| SetupError::Invalid(format!("azure.ca_file {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(SetupError::Invalid(format!(
                "azure.ca_file {} holds no PEM certificate",
                path.display()
            )));
        }
        builder = builder.tls_certs_merge(certs);
    }
    let client = builder
        .build()
        .map_err(|e| SetupError::Invalid(format!("cannot build the Azure HTTP client: {e}")))?;
    Ok(Transport::new(Arc::new(client)))
}

/// Client options with our transport, and the sovereign-cloud or test authority when set.
pub fn client_options(config: &AzureConfig, transport: &Transport) -> ClientOptions {
    let mut options = ClientOptions {
        transport: Some(transport.clone()),
        ..ClientOptions::default()
    };
    if let Some(host) = &config.authority_host {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = host.trim_end_matches('/').to_owned();
        options.cloud = Some(Arc::new(CloudConfiguration::from(custom)));
    }
    options
}

/// The credential chain. A client secret (tenant, client id and secret file all configured)
/// comes first and alone: an operator who names one means it. Otherwise workload identity
/// (when its environment is present), managed identity, then the Azure CLI.
pub fn credential_chain(
    config: &AzureConfig,
    transport: &Transport,
) -> Result<Arc<dyn TokenCredential>, SetupError> {
    let options = client_options(config, transport);
    if let (Some(tenant), Some(client_id), Some(secret_file)) = (
        &config.tenant_id,
        &config.client_id,
        &config.client_secret_file,
    ) {
        let secret = read_file("azure.client_secret_file", secret_file)?;
        let credential = ClientSecretCredential::new(
            tenant,
            client_id.clone(),
            Secret::new(secret.trim().to_owned()),
            Some(ClientSecretCredentialOptions {
                client_options: options,
            }),
        )
        .map_err(|e| SetupError::Invalid(format!("client secret credential: {e}")))?;
        return Ok(credential);
    }
    let mut links: Vec<(&'static str, Arc<dyn TokenCredential>)> = Vec::new();
    if std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        match WorkloadIdentityCredential::new(Some(
            azure_identity::WorkloadIdentityCredentialOptions {
                credential_options: azure_identity::ClientAssertionCredentialOptions {
                    client_options: options.clone(),
                },
                ..Default::default()
            },
        )) {
            Ok(c) => links.push(("workload identity", c)),
            Err(e) => tracing::debug!("workload identity credential unavailable: {e}"),
        }
    }
    match ManagedIdentityCredential::new(Some(azure_identity::ManagedIdentityCredentialOptions {
        client_options: options.clone(),
        ..Default::default()
    })) {
        Ok(c) => links.push(("managed identity", c)),
        Err(e) => tracing::debug!("managed identity credential unavailable: {e}"),
    }
    match DeveloperToolsCredential::new(None) {
        Ok(c) => links.push(("Azure CLI", c)),
        Err(e) => tracing::debug!("developer tools credential unavailable: {e}"),
    }
    Ok(Arc::new(ChainCredential {
        links,
        chosen: AtomicUsize::new(usize::MAX),
    }))
}

/// Tries each credential in turn and sticks with the first that gives a token.
#[derive(Debug)]
struct ChainCredential {
    links: Vec<(&'static str, Arc<dyn TokenCredential>)>,
    chosen: AtomicUsize,
}

#[async_trait::async_trait]
impl TokenCredential for ChainCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let chosen = self.chosen.load(Ordering::Relaxed);
        if let Some((_, c)) = self.links.get(chosen) {
            return c.get_token(scopes, options).await;
        }
        let mut failures = Vec::new();
        for (i, (name, c)) in self.links.iter().enumerate() {
            match c.get_token(scopes, options.clone()).await {
                Ok(token) => {
                    tracing::info!("Azure credential: {name}");
                    self.chosen.store(i, Ordering::Relaxed);
                    return Ok(token);
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        Err(azure_core::Error::with_message(
            ErrorKind::Credential,
            format!(
                "no Azure credential in the chain gave a token ({})",
                if failures.is_empty() {
                    "none available".to_owned()
                } else {
                    failures.join("; ")
                }
            ),
        ))
    }
}

/// Signs each try with Shared Key (Blob service, version 2009-09-19 and later).
#[derive(Debug)]
pub struct SharedKeyPolicy {
    pub account: String,
    pub key: Secret,
}

#[async_trait::async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default()
            .replace("+0000", "GMT");
        request.insert_header("x-ms-date", date);
        let to_sign = string_to_sign(&self.account, request);
        let signature = azure_core::hmac::hmac_sha256(&to_sign, &self.key)?;
        request.insert_header(
            "authorization",
            format!("SharedKey {}:{signature}", self.account),
        );
        next[0].send(ctx, request, &next[1..]).await
    }
}

/// The Shared Key string to sign for a Blob request.
pub fn string_to_sign(account: &str, request: &Request) -> String {
    let header = |name: &str| -> String {
        request
            .headers()
            .iter()
            .find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str().to_owned())
            .unwrap_or_default()
    };
    let length = match request.body().len() {
        Some(0) | None => String::new(),
        Some(n) => n.to_string(),
    };
    let mut ms: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str().to_ascii_lowercase().starts_with("x-ms-"))
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.as_str().trim().to_owned(),
            )
        })
        .collect();
    ms.sort();
    let mut s = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n\n{}\n{}\n{}\n{}\n{}\n{}\n",
        request.method().as_ref(),
        header("content-encoding"),
        header("content-language"),
        length,
        header("content-md5"),
        header("content-type"),
        header("if-modified-since"),
        header("if-match"),
        header("if-none-match"),
        header("if-unmodified-since"),
        header("range"),
        ms.iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let url = request.url();
    s.push('/');
    s.push_str(account);
    s.push_str(url.path());
    let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in url.query_pairs() {
        params
            .entry(k.to_ascii_lowercase())
            .or_default()
            .push(v.into_owned());
    }
    for (k, mut v) in params {
        v.sort();
        s.push('\n');
        s.push_str(&k);
        s.push(':');
        s.push_str(&v.join(","));
    }
    s
}

/// Appends an account SAS to every request's query.
#[derive(Debug)]
pub struct SasPolicy {
    pub sas: String,
}

#[async_trait::async_trait]
impl Policy for SasPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let url = request.url_mut();
        let sas = self.sas.trim_start_matches('?');
        let query = match url.query() {
            Some(q) if !q.is_empty() => format!("{q}&{sas}"),
            _ => sas.to_owned(),
        };
        url.set_query(Some(&query));
        next[0].send(ctx, request, &next[1..]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::{Method, Url};

    #[test]
    fn shared_key_string_to_sign_has_the_documented_shape() {
        let url = Url::parse(
            "http://127.0.0.1:10000/devstoreaccount1?comp=list&include=metadata&maxresults=5",
        )
        .expect("url");
        let mut request = Request::new(url, Method::Get);
        request.insert_header("x-ms-version", "2026-02-06");
        request.insert_header("x-ms-date", "Sun, 29 Nov 2026 11:00:00 GMT");
        let s = string_to_sign("devstoreaccount1", &request);
        assert_eq!(
            s,
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sun, 29 Nov 2026 11:00:00 GMT\nx-ms-version:2026-02-06\n/devstoreaccount1/devstoreaccount1\ncomp:list\ninclude:metadata\nmaxresults:5"
        );
    }
}
