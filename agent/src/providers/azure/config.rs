//! The `[azure]` section: Resource Manager, the Blob data plane and the credential chain,
//! its `LANDMETER_AGENT_AZURE_*` variables and its checks. Composed into the agent's
//! configuration by `crate::config`, which owns the layering.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{MAX_CONCURRENCY, check_url, parse_bool};

/// What to scan in Azure: Resource Manager (subscriptions, storage accounts, keys, metrics)
/// and the Blob data plane (containers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureConfig {
    /// Scan Azure. Default false. With it, AWS is scanned too only when `[aws] enabled = true`
    /// (one scan covers both).
    pub enabled: bool,
    /// The provider as the collector's provider table names it. Default `microsoft-azure`.
    pub provider: String,
    /// Azure Resource Manager base URL (sovereign clouds, test servers).
    /// Default `https://management.azure.com`.
    pub arm_endpoint: String,
    /// Audience of ARM tokens; the scope asked is `<audience>/.default`.
    /// Default `https://management.azure.com`.
    pub arm_audience: String,
    /// Entra ID authority for the client-secret and workload-identity credentials
    /// (sovereign clouds, test servers). Default: Azure public cloud.
    pub authority_host: Option<String>,
    /// Blob endpoint template, `{account}` replaced by the storage account name, e.g.
    /// `http://127.0.0.1:10000/{account}` (Azurite) or `https://{account}.blob.core.chinacloudapi.cn`.
    /// Default: the account's `primaryEndpoints.blob` from ARM.
    pub blob_endpoint: Option<String>,
    /// Extra CA certificates (PEM bundle) trusted for every Azure endpoint.
    pub ca_file: Option<PathBuf>,
    /// Entra tenant of the client-secret credential.
    pub tenant_id: Option<String>,
    /// Application (client) id of the client-secret credential.
    pub client_id: Option<String>,
    /// File holding the client secret. With `tenant_id` and `client_id` it selects the
    /// client-secret credential; otherwise the chain is workload identity, managed identity,
    /// Azure CLI.
    pub client_secret_file: Option<PathBuf>,
    /// Subscriptions to scan. Default: every subscription the identity can read.
    pub subscriptions: Vec<String>,
    /// Storage accounts examined concurrently per subscription (1 to 256). Default 8.
    pub concurrency: usize,
    /// Read sizes: `UsedCapacity` from Azure Monitor and file shares' used bytes
    /// (`$expand=stats`, one request per share). Default true.
    pub metrics: bool,
    /// Data-plane access by account key or SAS instead of Entra ID, per storage account.
    pub account_keys: Vec<AzureAccountKey>,
    /// Store kinds listed beside storage accounts (names in [`KINDS`]). Default: all.
    pub kinds: Vec<String>,
}

/// The store kinds the Azure provider can list beside storage accounts and containers.
pub const KINDS: &[&str] = &[
    "disks",
    "snapshots",
    "sql",
    "postgresql",
    "mysql",
    "cosmosdb",
    "recovery-services-vaults",
    "backup-vaults",
    "file-shares",
    "log-analytics",
];

/// Data-plane credential for one storage account (a secret in a file, never in the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureAccountKey {
    /// Storage account name.
    pub account: String,
    /// File holding the base64 account key (Shared Key signing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// File holding an account SAS token (appended to each URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sas_file: Option<PathBuf>,
}

impl Default for AzureConfig {
    fn default() -> Self {
        AzureConfig {
            enabled: false,
            provider: "microsoft-azure".to_owned(),
            arm_endpoint: "https://management.azure.com".to_owned(),
            arm_audience: "https://management.azure.com".to_owned(),
            authority_host: None,
            blob_endpoint: None,
            ca_file: None,
            tenant_id: None,
            client_id: None,
            client_secret_file: None,
            subscriptions: Vec::new(),
            concurrency: 8,
            metrics: true,
            account_keys: Vec::new(),
            kinds: KINDS.iter().map(|k| (*k).to_owned()).collect(),
        }
    }
}

impl AzureConfig {
    /// Applies one `LANDMETER_AGENT_<key>` variable of this section. `Ok(false)`: not ours.
    pub fn apply_env(&mut self, key: &str, value: String) -> Result<bool, String> {
        match key {
            "AZURE_ENABLED" => {
                self.enabled = parse_bool(&value).ok_or("expected true or false")?;
            }
            "AZURE_ARM_ENDPOINT" => self.arm_endpoint = value,
            "AZURE_BLOB_ENDPOINT" => self.blob_endpoint = Some(value).filter(|v| !v.is_empty()),
            "AZURE_CA_FILE" => {
                self.ca_file = Some(value).filter(|v| !v.is_empty()).map(PathBuf::from)
            }
            // Comma-separated; empty lists none (storage accounts and containers only).
            "AZURE_KINDS" => {
                self.kinds = value
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks every key of the section (when it is enabled); the error names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |msg: String| Err(msg);
        let az = self;
        if az.provider.is_empty()
            || !az
                .provider
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return bad(format!(
                "azure.provider {:?} must be a lowercase provider id such as \"microsoft-azure\"",
                az.provider
            ));
        }
        for (key, url) in [
            ("azure.arm_endpoint", Some(&az.arm_endpoint)),
            ("azure.arm_audience", Some(&az.arm_audience)),
            ("azure.authority_host", az.authority_host.as_ref()),
        ] {
            if let Some(url) = url
                && let Err(reason) = check_url(url)
            {
                return bad(format!("{key} {url:?}: {reason}"));
            }
        }
        if let Some(t) = &az.blob_endpoint
            && (!t.contains("{account}") || check_url(&t.replace("{account}", "a")).is_err())
        {
            return bad(format!(
                "azure.blob_endpoint {t:?} must be an http(s) URL template containing {{account}}"
            ));
        }
        if az.concurrency == 0 || az.concurrency > MAX_CONCURRENCY {
            return bad(format!(
                "azure.concurrency {} must be between 1 and {MAX_CONCURRENCY}",
                az.concurrency
            ));
        }
        let secret_parts = [
            az.tenant_id.is_some(),
            az.client_id.is_some(),
            az.client_secret_file.is_some(),
        ];
        if secret_parts.iter().any(|p| *p) && !secret_parts.iter().all(|p| *p) {
            return bad(
                "azure.tenant_id, azure.client_id and azure.client_secret_file go together"
                    .to_owned(),
            );
        }
        for s in &az.subscriptions {
            if s.is_empty() || s.contains(['/', ' ']) {
                return bad(format!(
                    "azure.subscriptions entry {s:?} is not a subscription id"
                ));
            }
        }
        for k in &az.kinds {
            if !KINDS.contains(&k.as_str()) {
                return bad(format!(
                    "azure.kinds entry {k:?} is not one of {}",
                    KINDS.join(", ")
                ));
            }
        }
        for k in &az.account_keys {
            if k.key_file.is_some() == k.sas_file.is_some() {
                return bad(format!(
                    "azure.account_keys for {:?}: give exactly one of key_file and sas_file",
                    k.account
                ));
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
    fn azure_section_loads_and_validates() {
        let config = Config::load(
            None,
            env(&[
                ("LANDMETER_AGENT_AZURE_ENABLED", "true"),
                (
                    "LANDMETER_AGENT_AZURE_BLOB_ENDPOINT",
                    "http://127.0.0.1:10000/{account}",
                ),
            ]),
            &Overrides::default(),
        )
        .expect("valid");
        assert!(config.azure.enabled);
        assert_eq!(config.azure.provider, "microsoft-azure");
        assert_eq!(
            config.azure.kinds.len(),
            super::KINDS.len(),
            "all kinds by default"
        );
        let only = Config::load(
            None,
            env(&[
                ("LANDMETER_AGENT_AZURE_ENABLED", "true"),
                ("LANDMETER_AGENT_AZURE_KINDS", "disks, sql"),
            ]),
            &Overrides::default(),
        )
        .expect("valid");
        assert_eq!(only.azure.kinds, ["disks", "sql"]);
        let text = "[azure]\nenabled = true\nca_file = \"/x/ca.pem\"\n[[azure.account_keys]]\naccount = \"devstoreaccount1\"\nkey_file = \"/x/key\"\n";
        let config = Config::from_toml(text).expect("parses");
        config.validate().expect("valid");
        assert_eq!(
            Config::from_toml(&config.to_toml()).expect("round trip"),
            config
        );
        for (text, expected) in [
            (
                "[azure]\nenabled = true\nblob_endpoint = \"http://x\"\n",
                "azure.blob_endpoint",
            ),
            (
                "[azure]\nenabled = true\ntenant_id = \"t\"\n",
                "go together",
            ),
            (
                "[azure]\nenabled = true\nconcurrency = 0\n",
                "azure.concurrency",
            ),
            (
                "[azure]\nenabled = true\n[[azure.account_keys]]\naccount = \"a\"\n",
                "exactly one",
            ),
            (
                "[azure]\nenabled = true\nkinds = [\"disks\", \"tapes\"]\n",
                "azure.kinds",
            ),
        ] {
            let err = Config::from_toml(text)
                .expect("parses")
                .validate()
                .expect_err(text);
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
    }
}
