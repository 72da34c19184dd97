//! [`S3CompatibleProvider`]: one `[[s3_compatible]]` entry (a European provider's account
//! reached over its S3 API), scanned with the AWS S3 code under the provider's persona
//! (`providers/s3_compatible.rs`): one [`AccountScan`] per configured region endpoint, no
//! STS, no CloudWatch, no KMS, no other store kinds.

use std::collections::HashSet;

use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use landmeter_proto::v1::{AccountCoverage, fact};

use super::account::AccountScan;
use super::budget::RequestBudget;
use super::calls;
use super::provider::{Compatible, Settings};
use super::sdk::loader;
use crate::providers::s3_compatible::{S3_COMPATIBLE_CALLS, S3CompatibleConfig};
use crate::providers::{Call, CallFailure, PlanError, Provider, new_fact};
use crate::sink::{FactSink, SinkClosed};

/// The keys, once read. Never logged: its Debug shows neither the secret nor the key id.
#[derive(Clone)]
struct Keys(Credentials);

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(redacted)")
    }
}

/// One S3-compatible provider account.
#[derive(Debug)]
pub struct S3CompatibleProvider {
    config: S3CompatibleConfig,
    /// Set by `enumerate`.
    keys: Option<Keys>,
}

impl S3CompatibleProvider {
    pub fn new(config: S3CompatibleConfig) -> S3CompatibleProvider {
        S3CompatibleProvider { config, keys: None }
    }

    async fn sdk(&self, keys: &Keys, region: &str, endpoint: &str) -> SdkConfig {
        let credentials = SharedCredentialsProvider::new(keys.0.clone());
        // As many requests in flight as before the budget: every bucket's four calls
        // (encryption, tags, replication, object lock) at `concurrency` buckets at once.
        let budget = RequestBudget::new(self.config.concurrency.max(1) * 4);
        loader(&budget)
            .region(Region::new(region.to_owned()))
            .endpoint_url(endpoint)
            .credentials_provider(credentials)
            .load()
            .await
    }
}

/// Reads the keys the entry names. The error names variables or the file, never a value.
fn read_keys(config: &S3CompatibleConfig) -> Result<Keys, PlanError> {
    if let (Some(id_var), Some(secret_var)) =
        (&config.access_key_id_env, &config.secret_access_key_env)
    {
        let read = |var: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    PlanError::setup(format!(
                        "{} account {}: environment variable {var} is not set",
                        config.provider,
                        config.account()
                    ))
                })
        };
        let (id, secret) = (read(id_var)?, read(secret_var)?);
        return Ok(Keys(Credentials::new(
            id,
            secret,
            None,
            None,
            "landmeter-s3-compatible",
        )));
    }
    let Some(file) = &config.credentials_file else {
        return Err(PlanError::setup(format!(
            "{} account {}: no credentials configured",
            config.provider,
            config.account()
        )));
    };
    let text = std::fs::read_to_string(file).map_err(|err| {
        PlanError::setup(format!(
            "{} account {}: cannot read credentials file {}: {err}",
            config.provider,
            config.account(),
            file.display()
        ))
    })?;
    let profile = config.credentials_profile.as_deref().unwrap_or("default");
    let (id, secret, token) = profile_keys(&text, profile).ok_or_else(|| {
        PlanError::setup(format!(
            "{} account {}: credentials file {} has no profile [{profile}] with aws_access_key_id and aws_secret_access_key",
            config.provider,
            config.account(),
            file.display()
        ))
    })?;
    Ok(Keys(Credentials::new(
        id,
        secret,
        token,
        None,
        "landmeter-s3-compatible-file",
    )))
}

/// The keys of `profile` in a file of the AWS shared-credentials format (INI: `[name]`, then
/// `aws_access_key_id = ...`, `aws_secret_access_key = ...`, optionally
/// `aws_session_token = ...`). Read here rather than by aws-config's profile provider, which
/// logs the access key id.
fn profile_keys(text: &str, profile: &str) -> Option<(String, String, Option<String>)> {
    let (mut id, mut secret, mut token) = (None, None, None);
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            inside =
                name == profile || name.strip_prefix("profile ").map(str::trim) == Some(profile);
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if !inside {
            continue;
        }
        let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        match key.trim() {
            "aws_access_key_id" => id = value,
            "aws_secret_access_key" => secret = value,
            "aws_session_token" => token = value,
            _ => {}
        }
    }
    Some((id?, secret?, token))
}

#[async_trait::async_trait(?Send)]
impl Provider for S3CompatibleProvider {
    fn id(&self) -> &str {
        &self.config.provider
    }

    fn calls(&self) -> &'static [&'static Call] {
        S3_COMPATIBLE_CALLS
    }

    fn configured_accounts(&self) -> Vec<String> {
        vec![self.config.account().to_owned()]
    }

    async fn enumerate(&mut self) -> Result<Vec<String>, PlanError> {
        self.keys = Some(read_keys(&self.config)?);
        Ok(self.configured_accounts())
    }

    /// Every configured region endpoint in turn; a bucket listed at two endpoints (a
    /// provider whose listing is global) is examined at the first only. The account is
    /// complete when every endpoint's listing answered.
    async fn scan(&self, account: &str, sink: &FactSink) -> Result<AccountCoverage, SinkClosed> {
        let mut coverage = AccountCoverage {
            account: account.to_owned(),
            complete: true,
            ..AccountCoverage::default()
        };
        let Some(keys) = &self.keys else {
            coverage.complete = false;
            coverage.reason = "not enumerated".to_owned();
            return Ok(coverage);
        };
        let persona = self.config.persona();
        let started = std::time::Instant::now();
        let mut seen: HashSet<String> = HashSet::new();
        let mut reasons = Vec::new();
        for (region, endpoint) in self.config.endpoints() {
            let sdk = self.sdk(keys, &region, &endpoint).await;
            let settings = Settings {
                provider: self.config.provider.clone(),
                endpoint: Some(endpoint.clone()),
                concurrency: self.config.concurrency.max(1),
                object_lock: self.config.object_lock,
                sizes: false,
                home_region: region.clone(),
                kinds: Vec::new(),
                regions: Vec::new(),
                compatible: Some(Compatible {
                    persona,
                    endpoint_region: region.clone(),
                }),
            };
            let scan = AccountScan::new(account.to_owned(), &settings, sdk, sink);
            let part = match scan.list_buckets().await {
                Ok(listed) => {
                    let fresh: Vec<_> = listed
                        .into_iter()
                        .filter(|b| seen.insert(b.name.clone()))
                        .collect();
                    scan.scan_listed(fresh).await?
                }
                Err(failed) => {
                    tracing::error!(account, region = %region, endpoint = %endpoint, error = %failed, "cannot list buckets");
                    sink.push(new_fact(
                        account,
                        &format!("{account}@{region}"),
                        calls::LIST_BUCKETS.name,
                        fact::Body::Gap(failed.gap(calls::LIST_BUCKETS)),
                    ))
                    .await?;
                    listing_failed(account, &region, &failed)
                }
            };
            coverage.stores_seen += part.stores_seen;
            coverage.gaps += part.gaps;
            if !part.complete {
                coverage.complete = false;
                reasons.push(part.reason);
            }
        }
        coverage.reason = reasons.join("; ");
        tracing::info!(
            provider = %self.config.provider,
            account,
            complete = coverage.complete,
            stores = coverage.stores_seen,
            gaps = coverage.gaps,
            seconds = started.elapsed().as_secs_f64(),
            "account scanned"
        );
        Ok(coverage)
    }
}

fn listing_failed(account: &str, region: &str, failed: &CallFailure) -> AccountCoverage {
    AccountCoverage {
        account: account.to_owned(),
        complete: false,
        stores_seen: 0,
        gaps: 1,
        reason: format!("s3:ListBuckets at {region} failed: {failed}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_read_from_a_shared_credentials_file() {
        let text = "# keys\n[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n[profile exo]\naws_access_key_id=A2\naws_secret_access_key = S2\naws_session_token = T2\n[empty]\naws_access_key_id = A3\n";
        assert_eq!(
            profile_keys(text, "default"),
            Some(("A1".into(), "S1".into(), None))
        );
        assert_eq!(
            profile_keys(text, "exo"),
            Some(("A2".into(), "S2".into(), Some("T2".into())))
        );
        assert_eq!(profile_keys(text, "empty"), None, "no secret");
        assert_eq!(profile_keys(text, "missing"), None);
    }
}
