//! Collector configuration: defaults < TOML file < environment (`LANDMETER_*`) < flags, in one place.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::map::TagConventions;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
}

/// `landmeter serve` configuration. Every field has a default; a file may set any of them.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Address the gRPC server binds (ingest, map queries, health, reflection).
    pub listen: SocketAddr,
    /// SQLite database file; created and migrated at start.
    pub database: PathBuf,
    /// Tenant assigned to agents on plaintext connections (before mutual TLS binds a tenant
    /// to each agent certificate).
    pub default_tenant: String,
    /// Tag keys that carry a store's classification (first match wins).
    pub classification_tags: Vec<String>,
    /// Tag keys that carry the business process a store serves.
    pub process_tags: Vec<String>,
    /// Tag keys whose value `true` declares client-side encryption.
    pub client_side_encryption_tags: Vec<String>,
    /// Replacement regions table (CSV, same columns as the shipped one).
    pub regions_table: Option<PathBuf>,
    /// Replacement providers table (CSV, same columns as the shipped one).
    pub providers_table: Option<PathBuf>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        let tags = TagConventions::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7400)),
            database: PathBuf::from("landmeter.db"),
            default_tenant: "default".into(),
            classification_tags: tags.classification_keys,
            process_tags: tags.process_keys,
            client_side_encryption_tags: tags.client_side_keys,
            regions_table: None,
            providers_table: None,
        }
    }
}

impl CollectorConfig {
    /// Defaults, then the file (if any), then `LANDMETER_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_owned(),
                    source,
                })?
            }
            None => Self::default(),
        };
        for (name, value) in env {
            let list = || {
                value
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            match name.as_str() {
                "LANDMETER_LISTEN" => {
                    cfg.listen =
                        value
                            .parse()
                            .map_err(|e: std::net::AddrParseError| ConfigError::Env {
                                name: name.clone(),
                                message: e.to_string(),
                            })?;
                }
                "LANDMETER_DATABASE" => cfg.database = PathBuf::from(&value),
                "LANDMETER_DEFAULT_TENANT" => cfg.default_tenant = value.clone(),
                "LANDMETER_CLASSIFICATION_TAGS" => cfg.classification_tags = list(),
                "LANDMETER_PROCESS_TAGS" => cfg.process_tags = list(),
                _ => {}
            }
        }
        Ok(cfg)
    }

    pub fn tag_conventions(&self) -> TagConventions {
        TagConventions {
            classification_keys: self.classification_tags.clone(),
            process_keys: self.process_tags.clone(),
            client_side_keys: self.client_side_encryption_tags.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_override_defaults() {
        let dir = std::env::temp_dir().join(format!("landmeter-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let file = dir.join("collector.toml");
        std::fs::write(
            &file,
            "database = \"/var/lib/landmeter/map.db\"\nclassification_tags = [\"bbn\"]\n",
        )
        .expect("write");
        let cfg = CollectorConfig::load(
            Some(&file),
            [("LANDMETER_LISTEN".to_owned(), "127.0.0.1:9000".to_owned())],
        )
        .expect("load");
        assert_eq!(cfg.database, PathBuf::from("/var/lib/landmeter/map.db"));
        assert_eq!(cfg.classification_tags, ["bbn"]);
        assert_eq!(cfg.listen.port(), 9000);
        assert_eq!(cfg.process_tags, ["process"], "untouched default");
    }

    #[test]
    fn unknown_keys_and_bad_env_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("landmeter-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let file = dir.join("collector.toml");
        std::fs::write(&file, "databse = \"x\"\n").expect("write");
        let err = CollectorConfig::load(Some(&file), [])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `databse`"), "{err}");
        let err = CollectorConfig::load(None, [("LANDMETER_LISTEN".to_owned(), "nope".to_owned())])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("environment variable LANDMETER_LISTEN"),
            "{err}"
        );
    }

    #[test]
    fn example_config_in_deploy_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/collector.example.toml");
        let cfg = CollectorConfig::load(Some(&path), []).expect("example config loads");
        assert_eq!(cfg.default_tenant, "gemeente-example");
    }
}
