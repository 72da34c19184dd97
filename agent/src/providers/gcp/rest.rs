//! Google Cloud REST over reqwest: a bearer token from the [`TokenSource`] on every request,
//! retries on 429 and 5xx (honouring `Retry-After`), the Google error envelope
//! (`{"error": {"code", "message", "status"}}`) as a [`CallFailure`], `nextPageToken`
//! paging, and typed serde structs for the fields the map needs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::auth::TokenSource;
use crate::providers::CallFailure;

/// Attempts after the first, per request (429 and 5xx).
const MAX_RETRIES: u32 = 4;
/// Pages one listing may take before it is called endless.
const MAX_PAGES: usize = 10_000;

/// A client for the Google REST APIs, sharing one HTTP client and token source.
#[derive(Debug, Clone)]
pub struct GcpRest {
    http: reqwest::Client,
    tokens: Arc<TokenSource>,
}

impl GcpRest {
    pub fn new(http: reqwest::Client, tokens: Arc<TokenSource>) -> GcpRest {
        GcpRest { http, tokens }
    }

    /// `base` + `path` with query pairs.
    pub fn url(base: &str, path: &str, query: &[(&str, &str)]) -> Result<url::Url, CallFailure> {
        let mut url =
            url::Url::parse(&format!("{}{path}", base.trim_end_matches('/'))).map_err(|e| {
                CallFailure {
                    code: Some("InvalidEndpoint".into()),
                    message: format!("{base}{path}: {e}"),
                    status: None,
                    timeout: false,
                }
            })?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// GETs one JSON document.
    pub async fn get<T: DeserializeOwned>(&self, url: url::Url) -> Result<T, CallFailure> {
        let token = self.tokens.token().await.map_err(|message| CallFailure {
            code: Some("CredentialUnavailable".into()),
            message,
            status: None,
            timeout: false,
        })?;
        let mut attempt = 0;
        loop {
            let sent = self
                .http
                .get(url.clone())
                .bearer_auth(&token)
                .header("accept", "application/json")
                .header(
                    "user-agent",
                    concat!("landmeter-agent/", env!("CARGO_PKG_VERSION")),
                )
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    let failure = CallFailure {
                        code: None,
                        message: format!("{e}"),
                        status: None,
                        timeout: e.is_timeout(),
                    };
                    if attempt < MAX_RETRIES && (e.is_connect() || e.is_timeout()) {
                        attempt += 1;
                        tokio::time::sleep(backoff(attempt, None)).await;
                        continue;
                    }
                    return Err(failure);
                }
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response.bytes().await.map_err(|e| CallFailure {
                code: None,
                message: format!("cannot read the answer: {e}"),
                status: Some(status),
                timeout: e.is_timeout(),
            })?;
            if (status == 429 || status >= 500) && attempt < MAX_RETRIES {
                attempt += 1;
                tokio::time::sleep(backoff(attempt, retry_after)).await;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(failure_of(status, &body));
            }
            return serde_json::from_slice(&body).map_err(|e| CallFailure {
                code: Some("InvalidResponse".into()),
                message: format!("cannot parse the answer: {e}"),
                status: Some(status),
                timeout: false,
            });
        }
    }

    /// Every item of a listing, following `nextPageToken` (`pageToken` on the next request).
    /// A failure on a later page fails the listing; the items seen so far come with it.
    pub async fn list<T: DeserializeOwned>(
        &self,
        first: url::Url,
        items_field: &'static str,
    ) -> (Vec<T>, Option<CallFailure>) {
        self.list_with(first, |page| match page.get(items_field) {
            Some(list) => serde_json::from_value::<Vec<T>>(list.clone())
                .map_err(|e| format!("cannot parse {items_field}: {e}")),
            None => Ok(Vec::new()),
        })
        .await
    }

    /// [`GcpRest::list`] with the page's items taken by `items` (an aggregated listing keys
    /// them by zone and region).
    pub async fn list_with<T>(
        &self,
        first: url::Url,
        items: impl Fn(&serde_json::Map<String, serde_json::Value>) -> Result<Vec<T>, String>,
    ) -> (Vec<T>, Option<CallFailure>) {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = first.clone();
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let page: serde_json::Map<String, serde_json::Value> = match self.get(url).await {
                Ok(p) => p,
                Err(f) => return (all, Some(f)),
            };
            match items(&page) {
                Ok(mut page_items) => all.append(&mut page_items),
                Err(message) => {
                    return (
                        all,
                        Some(CallFailure {
                            code: Some("InvalidResponse".into()),
                            message,
                            status: None,
                            timeout: false,
                        }),
                    );
                }
            }
            token = page
                .get("nextPageToken")
                .and_then(|t| t.as_str())
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                return (all, None);
            }
        }
        (
            all,
            Some(CallFailure {
                code: Some("TooManyPages".into()),
                message: format!("nextPageToken did not end after {MAX_PAGES} pages"),
                status: None,
                timeout: false,
            }),
        )
    }
}

fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    retry_after
        .unwrap_or_else(|| Duration::from_millis(200 * 2u64.pow(attempt.min(6))))
        .min(Duration::from_secs(30))
}

/// The Google error envelope as a [`CallFailure`]: the canonical `status`
/// (`PERMISSION_DENIED`), else the first `errors[].reason` (Cloud Storage's `forbidden`).
pub fn failure_of(status: u16, body: &[u8]) -> CallFailure {
    #[derive(Deserialize)]
    struct Envelope {
        error: Option<ErrorBody>,
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        message: String,
        #[serde(default)]
        status: String,
        #[serde(default)]
        errors: Vec<ErrorItem>,
    }
    #[derive(Deserialize)]
    struct ErrorItem {
        #[serde(default)]
        reason: String,
    }
    let parsed = serde_json::from_slice::<Envelope>(body)
        .ok()
        .and_then(|e| e.error);
    match parsed {
        Some(e) => CallFailure {
            code: Some(e.status).filter(|s| !s.is_empty()).or_else(|| {
                e.errors
                    .into_iter()
                    .map(|i| i.reason)
                    .find(|r| !r.is_empty())
            }),
            message: e.message,
            status: Some(status),
            timeout: false,
        },
        None => CallFailure {
            code: None,
            message: String::from_utf8_lossy(body).chars().take(300).collect(),
            status: Some(status),
            timeout: false,
        },
    }
}

/// A Cloud Storage bucket as `buckets.list` gives it (the fields read).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    pub name: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub location_type: String,
    #[serde(default)]
    pub storage_class: String,
    #[serde(default)]
    pub time_created: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub encryption: Option<BucketEncryption>,
    #[serde(default)]
    pub retention_policy: Option<RetentionPolicy>,
    #[serde(default)]
    pub custom_placement_config: Option<CustomPlacementConfig>,
    #[serde(default)]
    pub rpo: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketEncryption {
    #[serde(default)]
    pub default_kms_key_name: String,
    #[serde(default)]
    pub customer_supplied_encryption_enforcement_config: Option<EnforcementConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnforcementConfig {
    #[serde(default)]
    pub restriction_mode: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicy {
    /// Seconds, as a decimal string (int64 in JSON).
    #[serde(default)]
    pub retention_period: Option<serde_json::Value>,
    #[serde(default)]
    pub is_locked: bool,
}

impl RetentionPolicy {
    pub fn seconds(&self) -> Option<i64> {
        match self.retention_period.as_ref()? {
            serde_json::Value::String(s) => s.parse().ok(),
            serde_json::Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomPlacementConfig {
    #[serde(default)]
    pub data_locations: Vec<String>,
}

/// A Cloud KMS CryptoKey (google/cloud/kms/v1/resources.proto, JSON names).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CryptoKey {
    pub name: String,
    #[serde(default)]
    pub purpose: String,
    #[serde(default)]
    pub primary: Option<CryptoKeyVersion>,
    #[serde(default)]
    pub version_template: Option<VersionTemplate>,
    #[serde(default)]
    pub crypto_key_backend: String,
    #[serde(default)]
    pub import_only: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionTemplate {
    #[serde(default)]
    pub protection_level: String,
    #[serde(default)]
    pub algorithm: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CryptoKeyVersion {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub protection_level: String,
    #[serde(default)]
    pub algorithm: String,
    #[serde(default)]
    pub import_job: String,
    #[serde(default)]
    pub external_protection_level_options: Option<ExternalProtectionLevelOptions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalProtectionLevelOptions {
    #[serde(default)]
    pub external_key_uri: String,
    #[serde(default)]
    pub ekm_connection_key_path: String,
}

/// A Cloud Monitoring time series (the fields read).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TimeSeries {
    #[serde(default)]
    pub metric: Labelled,
    #[serde(default)]
    pub resource: Labelled,
    #[serde(default)]
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Labelled {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Point {
    #[serde(default)]
    pub interval: PointInterval,
    #[serde(default)]
    pub value: TypedValue,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PointInterval {
    #[serde(default)]
    pub end_time: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypedValue {
    #[serde(default)]
    pub double_value: Option<f64>,
    /// int64 values are JSON strings.
    #[serde(default)]
    pub int64_value: Option<serde_json::Value>,
}

impl TypedValue {
    pub fn as_f64(&self) -> Option<f64> {
        self.double_value
            .or_else(|| match self.int64_value.as_ref()? {
                serde_json::Value::String(s) => s.parse().ok(),
                serde_json::Value::Number(n) => n.as_f64(),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_error_envelopes_become_failures() {
        let f = failure_of(
            403,
            br#"{"error": {"code": 403, "message": "Permission 'cloudkms.cryptoKeys.get' denied", "status": "PERMISSION_DENIED"}}"#,
        );
        assert_eq!(f.code.as_deref(), Some("PERMISSION_DENIED"));
        assert_eq!(f.kind(), landmeter_proto::v1::GapKind::AccessDenied);
        let f = failure_of(
            403,
            br#"{"error": {"code": 403, "message": "x does not have storage.buckets.list access", "errors": [{"reason": "forbidden"}]}}"#,
        );
        assert_eq!(f.code.as_deref(), Some("forbidden"));
        assert_eq!(f.kind(), landmeter_proto::v1::GapKind::AccessDenied);
        let f = failure_of(502, b"<html>bad gateway</html>");
        assert_eq!((f.code, f.status), (None, Some(502)));
    }

    #[test]
    fn parses_the_documented_bucket_and_key_shapes() {
        let b: Bucket = serde_json::from_value(serde_json::json!({
            "kind": "storage#bucket", "name": "b", "location": "EU", "locationType": "dual-region",
            "customPlacementConfig": {"dataLocations": ["EUROPE-WEST1", "EUROPE-WEST6"]},
            "encryption": {"defaultKmsKeyName": "projects/p/locations/europe/keyRings/r/cryptoKeys/k"},
            "retentionPolicy": {"retentionPeriod": "2592000", "effectiveTime": "2026-01-01T00:00:00Z", "isLocked": true},
            "labels": {"data-classification": "confidential"}, "storageClass": "NEARLINE"
        }))
        .expect("parses");
        assert_eq!(
            b.retention_policy
                .as_ref()
                .and_then(RetentionPolicy::seconds),
            Some(2_592_000)
        );
        assert_eq!(
            b.custom_placement_config
                .expect("placement")
                .data_locations
                .len(),
            2
        );
        let k: CryptoKey = serde_json::from_value(serde_json::json!({
            "name": "projects/p/locations/europe/keyRings/r/cryptoKeys/k",
            "primary": {"name": "…/cryptoKeyVersions/1", "state": "ENABLED", "protectionLevel": "EXTERNAL",
                        "externalProtectionLevelOptions": {"externalKeyUri": "https://ekm.example.eu/v0/keys/k1"}},
            "purpose": "ENCRYPT_DECRYPT"
        }))
        .expect("parses");
        let p = k.primary.expect("primary");
        assert_eq!(p.protection_level, "EXTERNAL");
        assert_eq!(
            p.external_protection_level_options
                .expect("options")
                .external_key_uri,
            "https://ekm.example.eu/v0/keys/k1"
        );
    }
}
