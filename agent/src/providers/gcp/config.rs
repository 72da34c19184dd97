//! The `[gcp]` section: the projects to scan, the endpoints of the Cloud Storage, Cloud KMS,
//! Cloud Monitoring and OAuth2 token APIs (sovereign deployments, test servers), the CA file
//! and the credentials file, with its `LANDMETER_AGENT_GCP_*` variables and its checks.
//! Composed into the agent's configuration by `crate::config`, which owns the layering.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{MAX_CONCURRENCY, check_url, parse_bool};

/// What to scan in Google Cloud: Cloud Storage buckets, the Cloud KMS keys behind them and
/// their sizes from Cloud Monitoring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcpConfig {
    /// Scan Google Cloud. Default false. With it, AWS is scanned too only when
    /// `[aws] enabled = true`.
    pub enabled: bool,
    /// The provider as the collector's provider table names it. Default `google-cloud`.
    pub provider: String,
    /// Projects to scan (ids). Default: the project of the credentials (the service-account
    /// key's `project_id`, or the metadata server's project).
    pub projects: Vec<String>,
    /// Cloud Storage JSON API base. Default `https://storage.googleapis.com`.
    pub storage_endpoint: String,
    /// Cloud KMS API base. Default `https://cloudkms.googleapis.com`.
    pub kms_endpoint: String,
    /// Cloud Monitoring API base. Default `https://monitoring.googleapis.com`.
    pub monitoring_endpoint: String,
    /// Cloud SQL Admin API base. Default `https://sqladmin.googleapis.com`.
    pub sqladmin_endpoint: String,
    /// Compute Engine API base (disks, snapshots). Default `https://compute.googleapis.com`.
    pub compute_endpoint: String,
    /// Store kinds listed beside buckets (which are always listed), per project: `database`
    /// (Cloud SQL instances), `volume` (Persistent Disks), `snapshot` (disk snapshots).
    /// Default: all of them; `[]` lists buckets only.
    pub kinds: Vec<String>,
    /// OAuth2 token endpoint for service-account and authorized-user credentials. Default:
    /// the credentials file's `token_uri`, else `https://oauth2.googleapis.com/token`.
    pub token_endpoint: Option<String>,
    /// Metadata server base, asked only when no credentials file is configured or found.
    /// Default `http://metadata.google.internal`.
    pub metadata_endpoint: String,
    /// Ask the metadata server when no credentials file is configured or found. Default true.
    pub metadata: bool,
    /// Extra CA certificates (PEM bundle) trusted for every Google endpoint.
    pub ca_file: Option<PathBuf>,
    /// Credentials file (a service-account key or an authorized-user file, as
    /// `GOOGLE_APPLICATION_CREDENTIALS` names one). Default: `GOOGLE_APPLICATION_CREDENTIALS`,
    /// else gcloud's application-default credentials file, else the metadata server.
    pub credentials_file: Option<PathBuf>,
    /// Buckets examined concurrently per project (1 to 256). Default 8.
    pub concurrency: usize,
    /// Read sizes from Cloud Monitoring (`storage/total_bytes`, `storage/object_count`).
    /// Default true.
    pub metrics: bool,
}

impl Default for GcpConfig {
    fn default() -> Self {
        GcpConfig {
            enabled: false,
            provider: "google-cloud".to_owned(),
            projects: Vec::new(),
            storage_endpoint: "https://storage.googleapis.com".to_owned(),
            kms_endpoint: "https://cloudkms.googleapis.com".to_owned(),
            monitoring_endpoint: "https://monitoring.googleapis.com".to_owned(),
            sqladmin_endpoint: "https://sqladmin.googleapis.com".to_owned(),
            compute_endpoint: "https://compute.googleapis.com".to_owned(),
            kinds: super::GCP_KINDS.iter().map(|k| (*k).to_owned()).collect(),
            token_endpoint: None,
            metadata_endpoint: "http://metadata.google.internal".to_owned(),
            metadata: true,
            ca_file: None,
            credentials_file: None,
            concurrency: 8,
            metrics: true,
        }
    }
}

impl GcpConfig {
    /// Applies one `LANDMETER_AGENT_<key>` variable of this section. `Ok(false)`: not ours.
    pub fn apply_env(&mut self, key: &str, value: String) -> Result<bool, String> {
        let path = |v: String| Some(v).filter(|v| !v.is_empty()).map(PathBuf::from);
        match key {
            "GCP_ENABLED" => self.enabled = parse_bool(&value).ok_or("expected true or false")?,
            "GCP_METADATA" => self.metadata = parse_bool(&value).ok_or("expected true or false")?,
            "GCP_PROJECTS" => {
                self.projects = value
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "GCP_STORAGE_ENDPOINT" => self.storage_endpoint = value,
            "GCP_KMS_ENDPOINT" => self.kms_endpoint = value,
            "GCP_MONITORING_ENDPOINT" => self.monitoring_endpoint = value,
            "GCP_SQLADMIN_ENDPOINT" => self.sqladmin_endpoint = value,
            "GCP_COMPUTE_ENDPOINT" => self.compute_endpoint = value,
            "GCP_KINDS" => {
                self.kinds = value
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "GCP_TOKEN_ENDPOINT" => self.token_endpoint = Some(value).filter(|v| !v.is_empty()),
            "GCP_METADATA_ENDPOINT" => self.metadata_endpoint = value,
            "GCP_CA_FILE" => self.ca_file = path(value),
            "GCP_CREDENTIALS_FILE" => self.credentials_file = path(value),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks every key of the section (when it is enabled); the error names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        if self.provider.is_empty()
            || !self
                .provider
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(format!(
                "gcp.provider {:?} must be a lowercase provider id such as \"google-cloud\"",
                self.provider
            ));
        }
        for (key, url) in [
            ("gcp.storage_endpoint", Some(&self.storage_endpoint)),
            ("gcp.kms_endpoint", Some(&self.kms_endpoint)),
            ("gcp.monitoring_endpoint", Some(&self.monitoring_endpoint)),
            ("gcp.sqladmin_endpoint", Some(&self.sqladmin_endpoint)),
            ("gcp.compute_endpoint", Some(&self.compute_endpoint)),
            ("gcp.metadata_endpoint", Some(&self.metadata_endpoint)),
            ("gcp.token_endpoint", self.token_endpoint.as_ref()),
        ] {
            if let Some(url) = url
                && let Err(reason) = check_url(url)
            {
                return Err(format!("{key} {url:?}: {reason}"));
            }
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(format!(
                "gcp.concurrency {} must be between 1 and {MAX_CONCURRENCY}",
                self.concurrency
            ));
        }
        for k in &self.kinds {
            if !super::GCP_KINDS.contains(&k.as_str()) {
                return Err(format!(
                    "gcp.kinds entry {k:?} is not one of {}",
                    super::GCP_KINDS.join(", ")
                ));
            }
        }
        for p in &self.projects {
            // Project ids: 6 to 30 lowercase letters, digits and hyphens (Resource Manager).
            if p.is_empty()
                || !p.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == ':'
                })
            {
                return Err(format!("gcp.projects entry {p:?} is not a project id"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::env;
    use crate::config::{Config, Overrides};

    #[test]
    fn gcp_section_loads_and_validates() {
        let config = Config::load(
            None,
            env(&[
                ("LANDMETER_AGENT_GCP_ENABLED", "true"),
                ("LANDMETER_AGENT_GCP_PROJECTS", "alpha-1, beta-2"),
                ("LANDMETER_AGENT_GCP_KMS_ENDPOINT", "https://127.0.0.1:9/"),
                ("LANDMETER_AGENT_GCP_METADATA", "false"),
            ]),
            &Overrides::default(),
        )
        .expect("valid");
        assert!(config.gcp.enabled);
        assert!(!config.aws_enabled(), "GCP alone turns AWS off");
        assert_eq!(config.gcp.projects, ["alpha-1", "beta-2"]);
        assert_eq!(config.gcp.kms_endpoint, "https://127.0.0.1:9/");
        assert!(!config.gcp.metadata);
        assert_eq!(config.gcp.provider, "google-cloud");
        assert_eq!(
            config.gcp.kinds,
            ["database", "volume", "snapshot"],
            "every kind by default"
        );
        let text = "[gcp]\nenabled = true\nprojects = [\"p-1\"]\ncredentials_file = \"/x/key.json\"\ntoken_endpoint = \"https://127.0.0.1:1/token\"\n";
        let config = Config::from_toml(text).expect("parses");
        config.validate().expect("valid");
        assert_eq!(
            Config::from_toml(&config.to_toml()).expect("round trip"),
            config
        );
        for (text, expected) in [
            (
                "[gcp]\nenabled = true\nkms_endpoint = \"ftp://x\"\n",
                "gcp.kms_endpoint",
            ),
            (
                "[gcp]\nenabled = true\nconcurrency = 0\n",
                "gcp.concurrency",
            ),
            (
                "[gcp]\nenabled = true\nprojects = [\"Bad Project\"]\n",
                "gcp.projects",
            ),
            ("[gcp]\nenabled = true\nkinds = [\"disk\"]\n", "gcp.kinds"),
        ] {
            let err = Config::from_toml(text)
                .expect("parses")
                .validate()
                .expect_err(text);
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
    }
}
