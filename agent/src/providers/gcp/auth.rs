//! Who the Google Cloud provider talks as, and over what.
//!
//! - [`transport`]: one reqwest client (rustls on aws-lc-rs) for every Google call, trusting
//!   the operator's extra CA bundle (`[gcp] ca_file`) besides the platform's roots.
//! - [`TokenSource`]: the Google standard credential chain, in the order of Application
//!   Default Credentials: the configured credentials file, else the file
//!   `GOOGLE_APPLICATION_CREDENTIALS` names, else gcloud's application-default credentials
//!   file, else (when `[gcp] metadata` allows it) the metadata server. A service-account key
//!   signs a JWT (RS256, aws-lc-rs) that the token endpoint exchanges for an access token
//!   (OAuth2 JWT bearer grant, RFC 7523); an authorized-user file is exchanged by its refresh
//!   token. Tokens are cached until a minute before they expire.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::config::GcpConfig;

/// The OAuth2 scope asked for. Cloud KMS and Cloud Monitoring accept no narrower read-only
/// scope than `cloud-platform`; what the agent may do is bounded by its IAM role.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

pub use crate::providers::SetupError;
use crate::providers::read_setup_file as read_file;

/// The HTTP client every Google call uses: timeouts, no redirects, the operator's CA bundle.
pub fn transport(config: &GcpConfig) -> Result<reqwest::Client, SetupError> {
    let mut builder = reqwest::ClientBuilder::new()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &config.ca_file {
        let pem = read_file("gcp.ca_file", path)?;
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| SetupError::Invalid(format!("gcp.ca_file {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(SetupError::Invalid(format!(
                "gcp.ca_file {} holds no PEM certificate",
                path.display()
            )));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| SetupError::Invalid(format!("cannot build the Google HTTP client: {e}")))
}

/// A credentials file as `GOOGLE_APPLICATION_CREDENTIALS` names one (the fields read).
#[derive(Debug, Clone, Deserialize)]
pub struct CredentialsFile {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub quota_project_id: Option<String>,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default)]
    pub private_key: Option<String>,
    #[serde(default)]
    pub client_email: Option<String>,
    #[serde(default)]
    pub token_uri: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// Where tokens come from.
enum Source {
    ServiceAccount {
        email: String,
        key_id: String,
        key: aws_lc_rs::signature::RsaKeyPair,
        token_uri: String,
    },
    AuthorizedUser {
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
    },
    Metadata {
        base: String,
    },
}

/// The chain's chosen credential and its cached token.
pub struct TokenSource {
    http: reqwest::Client,
    source: Source,
    /// What the chain chose, for logs and errors ("service account a@p.iam...").
    pub description: String,
    /// The credentials' own project, when they name one.
    pub project: Option<String>,
    cached: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("description", &self.description)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenSource {
    /// Resolves the chain (reads files; asks no server).
    pub fn from_config(config: &GcpConfig, http: reqwest::Client) -> Result<Self, SetupError> {
        let file: Option<PathBuf> = config
            .credentials_file
            .clone()
            .or_else(|| {
                std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .or_else(|| {
                let home = std::env::var_os("HOME")?;
                let path =
                    PathBuf::from(home).join(".config/gcloud/application_default_credentials.json");
                path.is_file().then_some(path)
            });
        if let Some(path) = file {
            let text = read_file("gcp credentials file", &path)?;
            let creds: CredentialsFile = serde_json::from_str(&text).map_err(|e| {
                SetupError::Invalid(format!("credentials file {}: {e}", path.display()))
            })?;
            return Self::from_file(&creds, config.token_endpoint.as_deref(), http)
                .map_err(|e| SetupError::Invalid(format!("{}: {e}", path.display())));
        }
        if !config.metadata {
            return Err(SetupError::Invalid(
                "no Google credentials: set [gcp] credentials_file or GOOGLE_APPLICATION_CREDENTIALS (the metadata server is turned off by [gcp] metadata = false)".to_owned(),
            ));
        }
        Ok(TokenSource {
            http,
            description: format!("metadata server {}", config.metadata_endpoint),
            source: Source::Metadata {
                base: config.metadata_endpoint.trim_end_matches('/').to_owned(),
            },
            project: None,
            cached: Mutex::new(None),
        })
    }

    /// A token source for a parsed credentials file; `token_endpoint` overrides its `token_uri`.
    pub fn from_file(
        creds: &CredentialsFile,
        token_endpoint: Option<&str>,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        let token_uri = token_endpoint
            .map(str::to_owned)
            .or_else(|| creds.token_uri.clone())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
        let need = |v: &Option<String>, field: &str| {
            v.clone()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{} credentials without {field}", creds.kind))
        };
        let (source, description, project) = match creds.kind.as_str() {
            "service_account" => {
                let email = need(&creds.client_email, "client_email")?;
                let pem = need(&creds.private_key, "private_key")?;
                let key = rsa_key_from_pem(&pem)?;
                (
                    Source::ServiceAccount {
                        email: email.clone(),
                        key_id: creds.private_key_id.clone().unwrap_or_default(),
                        key,
                        token_uri,
                    },
                    format!("service account {email}"),
                    creds.project_id.clone(),
                )
            }
            "authorized_user" => (
                Source::AuthorizedUser {
                    client_id: need(&creds.client_id, "client_id")?,
                    client_secret: need(&creds.client_secret, "client_secret")?,
                    refresh_token: need(&creds.refresh_token, "refresh_token")?,
                    token_uri,
                },
                "authorized user (gcloud application-default login)".to_owned(),
                creds.quota_project_id.clone(),
            ),
            other => {
                return Err(format!(
                    "credentials of type {other:?} are not supported (service_account, authorized_user; or the metadata server)"
                ));
            }
        };
        Ok(TokenSource {
            http,
            source,
            description,
            project,
            cached: Mutex::new(None),
        })
    }

    /// A bearer token, from the cache while it has more than a minute left.
    pub async fn token(&self) -> Result<String, String> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() + Duration::from_secs(60) < *until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        *cached = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    async fn fetch(&self) -> Result<(String, Duration), String> {
        let request = match &self.source {
            Source::ServiceAccount {
                email,
                key_id,
                key,
                token_uri,
            } => {
                let assertion = signed_jwt(email, key_id, key, token_uri)?;
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", JWT_BEARER)
                    .append_pair("assertion", &assertion)
                    .finish();
                self.http
                    .post(token_uri)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
            }
            Source::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => {
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "refresh_token")
                    .append_pair("client_id", client_id)
                    .append_pair("client_secret", client_secret)
                    .append_pair("refresh_token", refresh_token)
                    .finish();
                self.http
                    .post(token_uri)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
            }
            Source::Metadata { base } => self
                .http
                .get(format!(
                    "{base}/computeMetadata/v1/instance/service-accounts/default/token"
                ))
                .header("metadata-flavor", "Google"),
        };
        let response = request
            .send()
            .await
            .map_err(|e| format!("{}: token request failed: {e}", self.description))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{}: token answer unreadable: {e}", self.description))?;
        if !status.is_success() {
            return Err(format!(
                "{}: token endpoint answered {status}: {}",
                self.description,
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ));
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| format!("{}: token answer: {e}", self.description))?;
        Ok((
            t.access_token,
            Duration::from_secs(t.expires_in.unwrap_or(3600).max(1)),
        ))
    }

    /// The project the metadata server runs in (`project/project-id`), when it is the source.
    pub async fn metadata_project(&self) -> Option<String> {
        let Source::Metadata { base } = &self.source else {
            return None;
        };
        let response = self
            .http
            .get(format!("{base}/computeMetadata/v1/project/project-id"))
            .header("metadata-flavor", "Google")
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let text = response.text().await.ok()?;
        Some(text.trim().to_owned()).filter(|p| !p.is_empty())
    }
}

/// An RSA private key from a PEM `PRIVATE KEY` (PKCS#8) block, as service-account keys hold.
pub fn rsa_key_from_pem(pem: &str) -> Result<aws_lc_rs::signature::RsaKeyPair, String> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    if body.is_empty() {
        return Err("private_key is not a PEM PRIVATE KEY (PKCS#8) block".to_owned());
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| format!("private_key: {e}"))?;
    aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der)
        .map_err(|e| format!("private_key is not an RSA PKCS#8 key: {e}"))
}

/// The JWT a service account presents to the token endpoint (RFC 7523 section 2.1).
fn signed_jwt(
    email: &str,
    key_id: &str,
    key: &aws_lc_rs::signature::RsaKeyPair,
    audience: &str,
) -> Result<String, String> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": key_id});
    let claims = serde_json::json!({
        "iss": email,
        "scope": SCOPE,
        "aud": audience,
        "iat": now,
        "exp": now + 3600,
    });
    let signing_input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|e| format!("cannot sign the JWT: {e}"))?;
    Ok(format!("{signing_input}.{}", b64.encode(signature)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_and_incomplete_credentials_are_refused() {
        let http = reqwest::Client::new();
        let creds = |json: serde_json::Value| -> CredentialsFile {
            serde_json::from_value(json).expect("parses")
        };
        let err = TokenSource::from_file(
            &creds(serde_json::json!({"type": "external_account"})),
            None,
            http.clone(),
        )
        .expect_err("not supported");
        assert!(err.contains("not supported"), "{err}");
        let err = TokenSource::from_file(
            &creds(serde_json::json!({"type": "service_account", "client_email": "a@b"})),
            None,
            http.clone(),
        )
        .expect_err("no key");
        assert!(err.contains("private_key"), "{err}");
        let err = TokenSource::from_file(
            &creds(serde_json::json!({"type": "service_account", "client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"})),
            None,
            http,
        )
        .expect_err("bad key");
        assert!(err.contains("RSA PKCS#8"), "{err}");
    }
}
