//! Agent configuration: TOML file, environment and command-line flags, layered in one place.
//!
//! Precedence, lowest first: built-in defaults < the TOML file < `LANDMETER_AGENT_*`
//! environment variables < command-line flags ([`Overrides`]). [`Config::load`] is the only
//! function that reads any of these; the rest of the agent receives a validated [`Config`].
//!
//! This module holds the agent-wide sections (`name`, `[collector]`, `[schedule]`, `[spool]`,
//! `[metrics]`) and composes the provider sections, which live beside their providers
//! (`providers/aws/config.rs`, `providers/azure/config.rs`) with their variables and checks.
//! Every enabled cloud is covered by the same scan: `[aws]` is on unless `[azure]` is enabled
//! or an `[[s3_compatible]]` entry is given (then `[aws] enabled = true` adds it);
//! `[aws] enabled = false` turns it off.
//!
//! The configuration holds no secrets: cloud credentials come from the provider's own chain
//! (for AWS: environment, profile, web identity, instance or container role).
//!
//! Environment variables (each overrides the key of the same name):
//!
//! | Variable | Key |
//! |---|---|
//! | `LANDMETER_AGENT_NAME` | `name` |
//! | `LANDMETER_AGENT_COLLECTOR_URL` | `collector.url` (a comma-separated list sets `collector.urls`) |
//! | `LANDMETER_AGENT_COLLECTOR_URLS` | `collector.urls`, comma-separated (the same as above) |
//! | `LANDMETER_AGENT_COLLECTOR_ACK_TIMEOUT_SECS` | `collector.ack_timeout_secs` |
//! | `LANDMETER_AGENT_COLLECTOR_CA_FILE` | `collector.ca_file` |
//! | `LANDMETER_AGENT_COLLECTOR_CERT_FILE` | `collector.cert_file` |
//! | `LANDMETER_AGENT_COLLECTOR_KEY_FILE` | `collector.key_file` |
//! | `LANDMETER_AGENT_COLLECTOR_RECONNECT_MAX_SECS` | `collector.reconnect_max_secs` |
//! | `LANDMETER_AGENT_SPOOL_DIR` | `spool.dir` (empty string clears it) |
//! | `LANDMETER_AGENT_SPOOL_MAX_BYTES` | `spool.max_bytes` |
//! | `LANDMETER_AGENT_METRICS_LISTEN` | `metrics.listen` (empty string clears it) |
//! | `LANDMETER_AGENT_METRICS_BEARER_TOKEN_FILE` | `metrics.bearer_token_file` |
//! | `LANDMETER_AGENT_SCHEDULE_INTERVAL` | `schedule.interval` |
//! | `LANDMETER_AGENT_SCHEDULE_CRON` | `schedule.cron` |
//! | `LANDMETER_AGENT_SCHEDULE_JITTER` | `schedule.jitter` |
//! | `LANDMETER_AGENT_PROVIDER` | `aws.provider` |
//! | `LANDMETER_AGENT_ENDPOINT_URL` | `aws.endpoint_url` (empty string clears it) |
//! | `LANDMETER_AGENT_HOME_REGION` | `aws.home_region` |
//! | `LANDMETER_AGENT_CONCURRENCY` | `aws.concurrency` |
//! | `LANDMETER_AGENT_INCLUDE_CALLER_ACCOUNT` | `aws.include_caller_account` (`true`/`false`) |
//! | `LANDMETER_AGENT_ORGANIZATION` | `aws.organization` (`true`/`false`) |
//! | `LANDMETER_AGENT_ORGANIZATION_ROLE_NAME` | `aws.organization_role_name` |
//! | `LANDMETER_AGENT_ORGANIZATION_EXTERNAL_ID` | `aws.organization_external_id` (empty string clears it) |
//! | `LANDMETER_AGENT_OBJECT_LOCK` | `aws.object_lock` (`true`/`false`) |
//! | `LANDMETER_AGENT_SIZES` | `aws.sizes` (`true`/`false`) |
//! | `LANDMETER_AGENT_AWS_ENABLED` | `aws.enabled` (`true`/`false`) |
//! | `LANDMETER_AGENT_AZURE_ENABLED` | `azure.enabled` (`true`/`false`) |
//! | `LANDMETER_AGENT_AZURE_ARM_ENDPOINT` | `azure.arm_endpoint` |
//! | `LANDMETER_AGENT_AZURE_BLOB_ENDPOINT` | `azure.blob_endpoint` (empty string clears it) |
//! | `LANDMETER_AGENT_AZURE_CA_FILE` | `azure.ca_file` (empty string clears it) |
//! | `LANDMETER_AGENT_AZURE_KINDS` | `azure.kinds` (comma-separated; empty lists none) |
//! | `LANDMETER_AGENT_GCP_ENABLED` | `gcp.enabled` (`true`/`false`) |
//! | `LANDMETER_AGENT_GCP_PROJECTS` | `gcp.projects` (comma-separated) |
//! | `LANDMETER_AGENT_GCP_STORAGE_ENDPOINT` | `gcp.storage_endpoint` |
//! | `LANDMETER_AGENT_GCP_KMS_ENDPOINT` | `gcp.kms_endpoint` |
//! | `LANDMETER_AGENT_GCP_MONITORING_ENDPOINT` | `gcp.monitoring_endpoint` |
//! | `LANDMETER_AGENT_GCP_SQLADMIN_ENDPOINT` | `gcp.sqladmin_endpoint` |
//! | `LANDMETER_AGENT_GCP_COMPUTE_ENDPOINT` | `gcp.compute_endpoint` |
//! | `LANDMETER_AGENT_GCP_KINDS` | `gcp.kinds` (comma-separated; empty: buckets only) |
//! | `LANDMETER_AGENT_GCP_TOKEN_ENDPOINT` | `gcp.token_endpoint` (empty string clears it) |
//! | `LANDMETER_AGENT_GCP_METADATA_ENDPOINT` | `gcp.metadata_endpoint` |
//! | `LANDMETER_AGENT_GCP_METADATA` | `gcp.metadata` (`true`/`false`) |
//! | `LANDMETER_AGENT_GCP_CA_FILE` | `gcp.ca_file` (empty string clears it) |
//! | `LANDMETER_AGENT_GCP_CREDENTIALS_FILE` | `gcp.credentials_file` (empty string clears it) |
//!
//! `LANDMETER_AGENT_CONFIG` names the file (read by the command line, not here). Any other
//! `LANDMETER_AGENT_*` variable is an error, like an unknown key in the file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::providers::aws::config::{AwsAccount, AwsConfig};
pub use crate::providers::azure::config::{AzureAccountKey, AzureConfig};
pub use crate::providers::gcp::config::GcpConfig;
pub use crate::providers::s3_compatible::S3CompatibleConfig;

/// Prefix of every environment variable the agent reads.
pub const ENV_PREFIX: &str = "LANDMETER_AGENT_";

/// The environment variable naming the configuration file (handled by the command line).
pub const ENV_CONFIG_FILE: &str = "LANDMETER_AGENT_CONFIG";

/// Smallest `spool.max_bytes` accepted: a few batches.
pub const MIN_SPOOL_BYTES: u64 = 1024 * 1024;

/// Most buckets in flight the configuration accepts.
pub const MAX_CONCURRENCY: usize = 256;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid environment variable {var}: {reason}")]
    Env { var: String, reason: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The agent's configuration file (`agent.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Agent name, sent to the collector in `Hello` and used in scan ids.
    /// Letters, digits, `-`, `_` and `.`; default `agent`.
    pub name: String,
    /// Where facts are streamed to.
    pub collector: CollectorConfig,
    /// The AWS (or S3-compatible) estate to survey; on unless another cloud is enabled.
    pub aws: AwsConfig,
    /// The Azure estate to survey (`enabled = true`); scanned in the same scan as AWS when
    /// `[aws] enabled = true` is given too.
    pub azure: AzureConfig,
    /// The Google Cloud estate to survey (`enabled = true`); scanned in the same scan as the
    /// other enabled clouds.
    pub gcp: GcpConfig,
    /// When `landmeter-agent run` scans.
    pub schedule: ScheduleConfig,
    /// Where batches wait for the collector's acknowledgement.
    pub spool: SpoolConfig,
    /// The Prometheus `/metrics` endpoint.
    pub metrics: MetricsConfig,
    /// European S3-compatible clouds, one entry per provider account
    /// (`providers/s3_compatible.rs`); scanned in the same scan as the other clouds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub s3_compatible: Vec<S3CompatibleConfig>,
}

/// When the service (`landmeter-agent run`) scans. Besides these times it scans at once when
/// the collector sends a `ScanRequest`; never two scans at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Scan every so long, the first at start: `"6h"`, `"30m"`, `"1d"`. Default `"24h"` when
    /// no `cron` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Scan at the times of a cron expression, in UTC: `"0 3 * * *"` (five fields, or six
    /// with seconds). Excludes `interval`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Start each scan up to this long after its time, at random, so a fleet of agents does
    /// not call the cloud APIs at once. Default `"0s"`.
    pub jitter: String,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            interval: None,
            cron: None,
            jitter: "0s".to_owned(),
        }
    }
}

impl ScheduleConfig {
    /// The schedule this section describes (validated by [`Config::validate`]).
    pub fn schedule(&self) -> Result<crate::schedule::Schedule, String> {
        use crate::schedule::{Schedule, Trigger, parse_cron, parse_duration};
        let trigger = match (&self.interval, &self.cron) {
            (Some(_), Some(_)) => {
                return Err("schedule.interval and schedule.cron exclude each other".to_owned());
            }
            (None, Some(cron)) => Trigger::Cron(Box::new(
                parse_cron(cron).map_err(|e| format!("schedule.cron {e}"))?,
            )),
            (interval, None) => {
                let every = parse_duration(interval.as_deref().unwrap_or("24h"))
                    .map_err(|e| format!("schedule.interval {e}"))?;
                if every < std::time::Duration::from_secs(1) {
                    return Err("schedule.interval must be at least 1s".to_owned());
                }
                Trigger::Interval(every)
            }
        };
        let jitter = parse_duration(&self.jitter).map_err(|e| format!("schedule.jitter {e}"))?;
        Ok(Schedule { trigger, jitter })
    }
}

/// The durable spool of batches not yet acknowledged by the collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Directory for the spool (one subdirectory per scan). Required by `run`; with it,
    /// `scan` also spools, reconnects and resumes. Default: none (a one-shot `scan` keeps
    /// its batches in memory and fails when the collector does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Most bytes of unacknowledged batches; when full the scan pauses until the collector
    /// acknowledges. Default 268435456 (256 MiB).
    pub max_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: None,
            max_bytes: crate::spool::DEFAULT_MAX_BYTES,
        }
    }
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address for `/metrics` (and `/live`), e.g. `"127.0.0.1:9464"`. Default: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// A file holding the bearer token `/metrics` requires (`/live` stays open). Required
    /// when `listen` is not a loopback address, e.g. for Prometheus in Kubernetes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
}

/// The collector the agent streams to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// gRPC URL of the collector's ingest service, `http://` or `https://`.
    /// Default `http://127.0.0.1:7400`.
    pub url: String,
    /// Several collectors sharing one database, tried in order (the next when a connection
    /// fails); replaces `url` when given. Default: just `url`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Seconds to wait for the collector's answer (an ack) before the scan fails. Default 60.
    pub ack_timeout_secs: u64,
    /// The collector's CA certificate (PEM, `ca.pem` from `landmeter agent enroll`);
    /// required for an `https://` url.
    pub ca_file: Option<String>,
    /// This agent's certificate (PEM) from `landmeter agent enroll`: it binds the tenant.
    pub cert_file: Option<String>,
    /// This agent's private key (PEM); never leaves the agent's host.
    pub key_file: Option<String>,
    /// Longest pause between reconnection attempts (with a spool), in seconds. Default 60.
    pub reconnect_max_secs: u64,
}

/// Command-line flags that override the configuration. `None` leaves a key as layered below.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub name: Option<String>,
    pub collector_url: Option<String>,
    pub provider: Option<String>,
    pub endpoint_url: Option<String>,
    pub concurrency: Option<usize>,
    /// When non-empty, replaces `[[aws.accounts]]` (roles without external id).
    pub role_arns: Vec<String>,
    /// `--no-caller-account`.
    pub no_caller_account: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: "agent".to_owned(),
            collector: CollectorConfig::default(),
            aws: AwsConfig::default(),
            azure: AzureConfig::default(),
            gcp: GcpConfig::default(),
            schedule: ScheduleConfig::default(),
            spool: SpoolConfig::default(),
            metrics: MetricsConfig::default(),
            s3_compatible: Vec::new(),
        }
    }
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            url: "http://127.0.0.1:7400".to_owned(),
            urls: Vec::new(),
            ack_timeout_secs: 60,
            ca_file: None,
            cert_file: None,
            key_file: None,
            reconnect_max_secs: 60,
        }
    }
}

impl CollectorConfig {
    /// The collectors to try, in order: `urls`, or else `url`.
    pub fn all_urls(&self) -> Vec<String> {
        if self.urls.is_empty() {
            vec![self.url.clone()]
        } else {
            self.urls.clone()
        }
    }

    /// Sets the collectors from one URL or a comma-separated list (env, flag): a later layer
    /// replaces both `url` and `urls`.
    fn set_urls(&mut self, list: &str) {
        let urls: Vec<String> = list
            .split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        match urls.as_slice() {
            [one] => {
                self.url.clone_from(one);
                self.urls.clear();
            }
            _ => self.urls = urls,
        }
    }
}

impl Config {
    /// Builds the effective configuration: defaults, then `file` (if any), then the
    /// `LANDMETER_AGENT_*` entries of `env`, then `overrides`; then validates it.
    ///
    /// `env` is injected (pass `std::env::vars()` in the binary) so tests never touch the
    /// process environment.
    pub fn load<I>(
        file: Option<&Path>,
        env: I,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut config = match file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.apply_overrides(overrides);
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML file; missing keys take their defaults. Does not validate.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Parses TOML text; missing keys take their defaults. Does not validate.
    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    /// The effective configuration as TOML (it holds no secrets).
    pub fn to_toml(&self) -> String {
        // Serialising plain strings, numbers and tables cannot fail; fall back to Debug anyway.
        toml::to_string_pretty(self)
            .unwrap_or_else(|err| format!("# cannot render: {err}\n{self:#?}"))
    }

    fn apply_env<I>(&mut self, env: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        for (var, value) in env {
            let Some(key) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let invalid = |reason: &str| ConfigError::Env {
                var: var.clone(),
                reason: reason.to_owned(),
            };
            match key {
                "CONFIG" => {}
                "NAME" => self.name = value,
                "COLLECTOR_URL" | "COLLECTOR_URLS" => self.collector.set_urls(&value),
                "COLLECTOR_CA_FILE" => {
                    self.collector.ca_file = Some(value).filter(|v| !v.is_empty())
                }
                "COLLECTOR_CERT_FILE" => {
                    self.collector.cert_file = Some(value).filter(|v| !v.is_empty())
                }
                "COLLECTOR_KEY_FILE" => {
                    self.collector.key_file = Some(value).filter(|v| !v.is_empty())
                }
                "COLLECTOR_ACK_TIMEOUT_SECS" => {
                    self.collector.ack_timeout_secs = value
                        .trim()
                        .parse()
                        .map_err(|_| invalid("expected a number of seconds"))?
                }
                "COLLECTOR_RECONNECT_MAX_SECS" => {
                    self.collector.reconnect_max_secs = value
                        .trim()
                        .parse()
                        .map_err(|_| invalid("expected a number of seconds"))?
                }
                "SPOOL_DIR" => {
                    self.spool.dir = Some(value).filter(|v| !v.is_empty()).map(PathBuf::from)
                }
                "SPOOL_MAX_BYTES" => {
                    self.spool.max_bytes = value
                        .trim()
                        .parse()
                        .map_err(|_| invalid("expected a number of bytes"))?
                }
                "METRICS_LISTEN" => self.metrics.listen = Some(value).filter(|v| !v.is_empty()),
                "METRICS_BEARER_TOKEN_FILE" => {
                    self.metrics.bearer_token_file =
                        Some(PathBuf::from(value)).filter(|p| !p.as_os_str().is_empty())
                }
                "SCHEDULE_INTERVAL" => {
                    self.schedule.interval = Some(value).filter(|v| !v.is_empty())
                }
                "SCHEDULE_CRON" => self.schedule.cron = Some(value).filter(|v| !v.is_empty()),
                "SCHEDULE_JITTER" => self.schedule.jitter = value,
                _ => {
                    // The provider sections own their variables.
                    let ours = self
                        .aws
                        .apply_env(key, value.clone())
                        .map_err(|reason| invalid(&reason))?
                        || self
                            .azure
                            .apply_env(key, value.clone())
                            .map_err(|reason| invalid(&reason))?
                        || self
                            .gcp
                            .apply_env(key, value)
                            .map_err(|reason| invalid(&reason))?;
                    if !ours {
                        return Err(invalid("unknown variable"));
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn apply_overrides(&mut self, o: &Overrides) {
        if let Some(name) = &o.name {
            self.name.clone_from(name);
        }
        if let Some(url) = &o.collector_url {
            self.collector.set_urls(url);
        }
        if let Some(provider) = &o.provider {
            self.aws.provider.clone_from(provider);
        }
        if let Some(url) = &o.endpoint_url {
            self.aws.endpoint_url = Some(url.clone());
        }
        if let Some(n) = o.concurrency {
            self.aws.concurrency = n;
        }
        if !o.role_arns.is_empty() {
            self.aws.accounts = o
                .role_arns
                .iter()
                .map(|arn| AwsAccount {
                    role_arn: arn.clone(),
                    external_id: None,
                })
                .collect();
        }
        if o.no_caller_account {
            self.aws.include_caller_account = false;
        }
    }

    /// Checks every key; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |msg: String| Err(ConfigError::Invalid(msg));
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return bad(format!(
                "name {:?} must be non-empty letters, digits, '-', '_' or '.'",
                self.name
            ));
        }
        let key = if self.collector.urls.is_empty() {
            "collector.url"
        } else {
            "collector.urls"
        };
        for url in self.collector.all_urls() {
            if let Err(reason) = check_url(&url) {
                return bad(format!("{key} {url:?}: {reason}"));
            }
        }
        let c = &self.collector;
        if c.cert_file.is_some() != c.key_file.is_some() {
            return bad("collector.cert_file and collector.key_file go together".to_owned());
        }
        if c.all_urls().iter().any(|u| u.starts_with("https://")) && c.ca_file.is_none() {
            return bad(
                "an https:// collector url needs collector.ca_file (the collector's CA)".to_owned(),
            );
        }
        if self.collector.ack_timeout_secs == 0 {
            return bad("collector.ack_timeout_secs must be at least 1".to_owned());
        }
        if self.collector.reconnect_max_secs == 0 {
            return bad("collector.reconnect_max_secs must be at least 1".to_owned());
        }
        if let Err(reason) = self.schedule.schedule() {
            return bad(reason);
        }
        if self.spool.max_bytes < MIN_SPOOL_BYTES {
            return bad(format!(
                "spool.max_bytes {} must be at least {MIN_SPOOL_BYTES} (1 MiB)",
                self.spool.max_bytes
            ));
        }
        if self
            .spool
            .dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            return bad("spool.dir is empty: remove it or give a directory".to_owned());
        }
        if let Some(listen) = &self.metrics.listen {
            let Ok(addr) = listen.parse::<std::net::SocketAddr>() else {
                return bad(format!(
                    "metrics.listen {listen:?} is not an address such as \"127.0.0.1:9464\""
                ));
            };
            if !addr.ip().is_loopback() && self.metrics.bearer_token_file.is_none() {
                return bad(format!(
                    "metrics.listen {listen} is beyond loopback: set metrics.bearer_token_file so only your scraper reads /metrics"
                ));
            }
        }
        if let Err(reason) = self.aws.validate(self.aws_enabled()) {
            return bad(reason);
        }
        if self.azure.enabled
            && let Err(reason) = self.azure.validate()
        {
            return bad(reason);
        }
        if self.gcp.enabled
            && let Err(reason) = self.gcp.validate()
        {
            return bad(reason);
        }
        if let Err(reason) = crate::providers::s3_compatible::validate_all(&self.s3_compatible) {
            return bad(reason);
        }
        if !self.aws_enabled()
            && !self.azure.enabled
            && !self.gcp.enabled
            && self.s3_compatible.is_empty()
        {
            return bad(
                "nothing to scan: [aws] enabled = false, neither [azure] nor [gcp] is enabled and no [[s3_compatible]] is given".to_owned(),
            );
        }
        Ok(())
    }
}

impl Config {
    /// Whether AWS is scanned: `[aws] enabled` when given, else only when no other cloud is
    /// (the meaning of configurations from before several clouds per agent).
    pub fn aws_enabled(&self) -> bool {
        self.aws
            .enabled
            .unwrap_or(!self.azure.enabled && !self.gcp.enabled && self.s3_compatible.is_empty())
    }
}

pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

pub(crate) fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains(char::is_whitespace) {
        return Err("has no host".to_owned());
    }
    url.parse::<hyper::Uri>()
        .map(|_| ())
        .map_err(|err| err.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn example_config_loads_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/agent.example.toml");
        let config = Config::load(Some(&path), env(&[]), &Overrides::default())
            .expect("example config is valid");
        assert_eq!(config.name, "agent-1");
        assert_eq!(config.aws.accounts.len(), 1);
        assert_eq!(
            config.aws.accounts[0].external_id.as_deref(),
            Some("landmeter-example")
        );
        assert_eq!(config.schedule.interval.as_deref(), Some("6h"));
        assert_eq!(config.schedule.jitter, "10m");
        assert_eq!(
            config.spool.dir.as_deref(),
            Some(Path::new("/var/lib/landmeter-agent/spool"))
        );
        assert_eq!(config.spool.max_bytes, crate::spool::DEFAULT_MAX_BYTES);
        assert_eq!(config.metrics.listen.as_deref(), Some("127.0.0.1:9464"));
        // Round trip: the rendered effective config parses back to the same value.
        assert_eq!(
            Config::from_toml(&config.to_toml()).expect("renders valid toml"),
            config
        );
    }

    /// The .deb's /etc/landmeter/agent.toml validates and keeps its state where the unit's
    /// `StateDirectory` is (the service may write nowhere else).
    #[test]
    fn packaged_config_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/debian/agent.toml");
        let config = Config::load(Some(&path), env(&[]), &Overrides::default())
            .expect("the .deb's config is valid");
        let state = Path::new("/var/lib/landmeter");
        assert!(config.spool.dir.as_deref().unwrap().starts_with(state));
        for file in [
            &config.collector.ca_file,
            &config.collector.cert_file,
            &config.collector.key_file,
        ] {
            assert!(
                Path::new(file.as_deref().unwrap()).starts_with(state),
                "{file:?}"
            );
        }
    }

    /// The `agent.toml` of every ConfigMap under deploy/kubernetes validates.
    #[test]
    fn kubernetes_example_configs_validate() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes");
        let mut checked = 0;
        for file in ["agent-deployment.yaml", "agent-cronjob.yaml"] {
            let text = std::fs::read_to_string(dir.join(file)).expect("example exists");
            let mut lines = text
                .lines()
                .skip_while(|l| l.trim() != "agent.toml: |")
                .skip(1);
            let mut toml_text = String::new();
            for line in lines.by_ref() {
                if !line.is_empty() && !line.starts_with("    ") {
                    break;
                }
                toml_text.push_str(line.strip_prefix("    ").unwrap_or(line));
                toml_text.push('\n');
            }
            let config = Config::from_toml(&toml_text)
                .unwrap_or_else(|e| panic!("{file}: {e}\n{toml_text}"));
            // The TLS files exist only in the pod; the rest must validate as written.
            config.validate().unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(config.spool.dir.is_some(), "{file}: no spool dir");
            checked += 1;
        }
        assert_eq!(checked, 2);
    }

    #[test]
    fn schedule_spool_and_metrics_are_checked() {
        for (text, expected) in [
            (
                "[schedule]\ninterval = \"6h\"\ncron = \"0 3 * * *\"\n",
                "exclude each other",
            ),
            ("[schedule]\ninterval = \"6 hours\"\n", "schedule.interval"),
            ("[schedule]\ncron = \"0 25 * * *\"\n", "schedule.cron"),
            ("[schedule]\njitter = \"soon\"\n", "schedule.jitter"),
            ("[spool]\nmax_bytes = 10\n", "spool.max_bytes"),
            ("[metrics]\nlisten = \"localhost\"\n", "metrics.listen"),
            (
                "[metrics]\nlisten = \"0.0.0.0:9464\"\n",
                "metrics.bearer_token_file",
            ),
            (
                "[collector]\nreconnect_max_secs = 0\n",
                "reconnect_max_secs",
            ),
        ] {
            let err = Config::from_toml(text)
                .expect("parses")
                .validate()
                .expect_err(text);
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
        let config = Config::load(
            None,
            env(&[
                ("LANDMETER_AGENT_SPOOL_DIR", "/tmp/spool"),
                ("LANDMETER_AGENT_SCHEDULE_CRON", "0 3 * * *"),
                ("LANDMETER_AGENT_METRICS_LISTEN", "127.0.0.1:9464"),
            ]),
            &Overrides::default(),
        )
        .expect("valid");
        assert_eq!(config.spool.dir.as_deref(), Some(Path::new("/tmp/spool")));
        assert!(matches!(
            config.schedule.schedule().expect("valid").trigger,
            crate::schedule::Trigger::Cron(_)
        ));
    }

    #[test]
    fn defaults_apply_without_a_file() {
        let config = Config::load(None, env(&[]), &Overrides::default()).expect("defaults valid");
        assert_eq!(config, Config::default());
        assert_eq!(config.aws.concurrency, 16);
        assert!(config.aws.include_caller_account);
    }

    #[test]
    fn layers_apply_defaults_then_file_then_env_then_flags() {
        let dir =
            std::env::temp_dir().join(format!("landmeter-agent-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("agent.toml");
        std::fs::write(
            &path,
            "name = \"from-file\"\n[collector]\nurl = \"http://file:1\"\n[aws]\nconcurrency = 4\nhome_region = \"eu-west-1\"\n",
        )
        .expect("write config");

        let vars = env(&[
            ("LANDMETER_AGENT_COLLECTOR_URL", "http://env:2"),
            ("LANDMETER_AGENT_CONCURRENCY", "8"),
            ("LANDMETER_AGENT_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("LANDMETER_AGENT_CONFIG", "ignored-here"),
            ("HOME", "/root"),
        ]);
        let flags = Overrides {
            concurrency: Some(32),
            ..Overrides::default()
        };
        let config = Config::load(Some(&path), vars, &flags).expect("valid");
        std::fs::remove_dir_all(&dir).ok();

        assert_eq!(config.name, "from-file"); // file over default
        assert_eq!(config.aws.home_region, "eu-west-1"); // file over default
        assert_eq!(config.collector.url, "http://env:2"); // env over file
        assert_eq!(
            config.aws.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        ); // env over default
        assert_eq!(config.aws.concurrency, 32); // flag over env over file
        assert_eq!(config.aws.provider, "aws"); // default
    }

    #[test]
    fn unknown_keys_and_variables_are_rejected() {
        assert!(Config::from_toml("nmae = \"typo\"").is_err());
        assert!(Config::from_toml("[aws]\nendpoint = \"http://x\"").is_err());
        let err = Config::load(
            None,
            env(&[("LANDMETER_AGENT_COLECTOR_URL", "x")]),
            &Overrides::default(),
        )
        .expect_err("typo in variable");
        assert!(
            err.to_string().contains("LANDMETER_AGENT_COLECTOR_URL"),
            "{err}"
        );
    }

    /// AWS is on unless Azure is, so older configurations keep their meaning; both can be on.
    #[test]
    fn clouds_enabled_by_the_config_and_the_environment() {
        // (file text, environment, AWS on, Azure on)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool, bool);
        let cases: &[Case] = &[
            ("", &[], true, false),
            ("[aws]\nconcurrency = 4\n", &[], true, false),
            ("[azure]\nenabled = true\n", &[], false, true),
            (
                "[aws]\nenabled = true\n[azure]\nenabled = true\n",
                &[],
                true,
                true,
            ),
            (
                "[azure]\nenabled = true\n",
                &[("LANDMETER_AGENT_AWS_ENABLED", "true")],
                true,
                true,
            ),
            (
                "[aws]\nenabled = false\n",
                &[("LANDMETER_AGENT_AZURE_ENABLED", "true")],
                false,
                true,
            ),
        ];
        for (text, vars, aws, azure) in cases {
            let mut config = Config::from_toml(text).expect("parses");
            config.apply_env(env(vars)).expect("variables apply");
            config.validate().expect("valid");
            assert_eq!(
                (config.aws_enabled(), config.azure.enabled),
                (*aws, *azure),
                "{text} {vars:?}"
            );
            assert_eq!(
                Config::from_toml(&config.to_toml()).expect("round trip"),
                config
            );
        }
        let err = Config::from_toml("[aws]\nenabled = false\n")
            .expect("parses")
            .validate()
            .expect_err("no cloud");
        assert!(err.to_string().contains("nothing to scan"), "{err}");
        // An AWS section beside Azure need not name an account unless AWS is on.
        let azure_only = "[aws]\ninclude_caller_account = false\n[azure]\nenabled = true\n";
        Config::from_toml(azure_only)
            .expect("parses")
            .validate()
            .expect("valid");
        let both = azure_only.replace("[aws]\n", "[aws]\nenabled = true\n");
        let err = Config::from_toml(&both)
            .expect("parses")
            .validate()
            .expect_err("aws on without an account");
        assert!(err.to_string().contains("nothing to scan"), "{err}");
    }

    /// (file text, environment, text the error must contain)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

    #[test]
    fn several_collector_urls_come_from_the_file_env_or_flag() {
        let mut config =
            Config::from_toml("[collector]\nurls = [\"http://a:7400\", \"http://b:7400\"]\n")
                .expect("parses");
        config.validate().expect("valid");
        assert_eq!(
            config.collector.all_urls(),
            ["http://a:7400", "http://b:7400"]
        );
        // A single url (env or flag) replaces the list, a comma-separated one is a list.
        config
            .apply_env(env(&[("LANDMETER_AGENT_COLLECTOR_URL", "http://env:1")]))
            .expect("env");
        assert_eq!(config.collector.all_urls(), ["http://env:1"]);
        config.apply_overrides(&Overrides {
            collector_url: Some("http://c:7400, http://d:7400".to_owned()),
            ..Overrides::default()
        });
        assert_eq!(
            config.collector.all_urls(),
            ["http://c:7400", "http://d:7400"]
        );
        // The default: `url` alone.
        assert_eq!(
            Config::default().collector.all_urls(),
            ["http://127.0.0.1:7400"]
        );
    }

    #[test]
    fn invalid_values_are_named() {
        let cases: &[Case] = &[
            (
                "",
                &[("LANDMETER_AGENT_CONCURRENCY", "0")],
                "aws.concurrency",
            ),
            (
                "",
                &[("LANDMETER_AGENT_CONCURRENCY", "many")],
                "LANDMETER_AGENT_CONCURRENCY",
            ),
            (
                "",
                &[("LANDMETER_AGENT_COLLECTOR_URL", "127.0.0.1:7400")],
                "collector.url",
            ),
            (
                "[collector]\nurls = [\"http://a:7400\", \"b:7400\"]\n",
                &[],
                "collector.urls \"b:7400\"",
            ),
            (
                "[collector]\nurls = [\"http://a:7400\", \"https://b:7400\"]\n",
                &[],
                "collector.ca_file",
            ),
            (
                "",
                &[("LANDMETER_AGENT_ENDPOINT_URL", "ftp://x")],
                "aws.endpoint_url",
            ),
            ("", &[("LANDMETER_AGENT_PROVIDER", "AWS")], "aws.provider"),
            ("", &[("LANDMETER_AGENT_NAME", "a b")], "name"),
            (
                "",
                &[("LANDMETER_AGENT_ORGANIZATION", "maybe")],
                "LANDMETER_AGENT_ORGANIZATION",
            ),
            (
                "[[aws.accounts]]\nrole_arn = \"222222222222\"\n",
                &[],
                "role_arn",
            ),
            (
                "[[aws.accounts]]\nrole_arn = \"arn:aws:iam::2222:role/x\"\n",
                &[],
                "role_arn",
            ),
            (
                "[aws]\ninclude_caller_account = false\n",
                &[],
                "nothing to scan",
            ),
        ];
        for (toml_text, vars, expected) in cases {
            let mut config = Config::from_toml(toml_text).expect("parses");
            let result = config.apply_env(env(vars)).and_then(|()| config.validate());
            let err = result.expect_err(&format!("{toml_text:?} {vars:?} must fail"));
            assert!(err.to_string().contains(expected), "{vars:?}: {err}");
        }
    }
}
