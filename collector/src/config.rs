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
    #[error("{0}")]
    Invalid(String),
}

/// TLS for the collector's listener. Agents must present a certificate issued by
/// `client_ca_file`; operators authenticate with bearer tokens over the same TLS.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Server certificate (PEM), e.g. from `landmeter ca server-cert`.
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// The CA that issues agent certificates (`landmeter ca init` wrote `ca.pem`).
    pub client_ca_file: PathBuf,
    /// The CA's private key (`ca.key`): with it the collector signs agents' certificates at
    /// enrolment (`landmeter enroll-token create`, `landmeter-agent enroll`) and renewal.
    /// Without it agents are enrolled on the CA host (`landmeter agent enroll`) and renew
    /// the same way.
    #[serde(default)]
    pub ca_key_file: Option<PathBuf>,
    /// Validity of the certificates signed at enrolment and renewal, in days (default 30);
    /// agents renew at two thirds of it.
    #[serde(default)]
    pub agent_certificate_days: Option<u32>,
}

/// `landmeter serve` configuration. Every field has a default; a file may set any of them.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Address the gRPC server binds (ingest, map queries, health, reflection).
    pub listen: SocketAddr,
    /// Database URL: a SQLite file (`map.db`, `sqlite:map.db`) or a PostgreSQL database
    /// (`postgres://user@host:5432/name`), created (SQLite) and migrated at start.
    pub database: String,
    /// Tenant assigned to agents on an `insecure_plaintext` listener. Under TLS the tenant
    /// comes from each agent's certificate.
    pub default_tenant: String,
    /// Mutual TLS (required unless `insecure_plaintext`).
    pub tls: Option<TlsConfig>,
    /// Serve plaintext gRPC without agent certificates. Only for a local demo: refused
    /// unless `listen` is a loopback address.
    pub insecure_plaintext: bool,
    /// The pool role sees an aggregate only when at least this many tenants contribute.
    pub pool_min_tenants: u32,
    /// Sustained batches per second one agent may send, over all its streams.
    pub max_batches_per_second: u32,
    /// gRPC server reflection (what `grpcurl` lists). Unset: on when the gRPC listener is
    /// bound to a loopback address, off otherwise, so a published collector does not describe its API to anyone
    /// who connects.
    pub reflection: Option<bool>,
    /// The HTTP side: web UI, JSON API, `/live`, `/ready`, `/metrics`, `/v1/events`. Plaintext
    /// on a loopback address only; with `http_tls` on any address.
    pub http_listen: Option<SocketAddr>,
    /// Serve the HTTP side over TLS (certificate and key, PEM); session cookies then carry
    /// the `Secure` flag.
    pub http_tls: Option<crate::https::HttpTlsConfig>,
    /// Webhook alert rules on chosen changes.
    pub alerts: Vec<crate::alerts::AlertRule>,
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
    /// When a commit is on disk: `"full"` syncs every commit (an acknowledged batch survives
    /// a power cut); `"normal"` syncs at WAL checkpoints (an acknowledged batch survives a
    /// crash of the collector, a power cut may lose the last transactions whole).
    pub durability: crate::store::Durability,
    /// Apply the schema migrations the database lacks at start (default). `false`
    /// (`serve --no-migrate`): refuse a database behind this build's schema instead, for
    /// operators who migrate explicitly (`landmeter db migrate`) before a rollout.
    pub migrate: bool,
    /// The language of what people read from this collector by default: the board report
    /// (`report --lang` overrides it), the web UI's first choice. `"nl"` or `"en"` (default).
    pub language: crate::i18n::Lang,
    /// The IANA time zone dates and times are shown in (default `Europe/Amsterdam`).
    pub time_zone: String,
    /// Per tenant: `[tenants.gemeente-a] language = "nl"`, the language of that tenant's
    /// board reports over `language` (a report's `--lang` still wins).
    pub tenants: std::collections::BTreeMap<String, TenantSettings>,
}

/// What one tenant reads differently from the collector's defaults.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// The language of the tenant's board reports: `"nl"` or `"en"`.
    pub language: Option<crate::i18n::Lang>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        let tags = TagConventions::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7400)),
            database: "landmeter.db".into(),
            default_tenant: "default".into(),
            tls: None,
            insecure_plaintext: false,
            pool_min_tenants: 5,
            max_batches_per_second: 100,
            reflection: None,
            http_listen: None,
            http_tls: None,
            alerts: Vec::new(),
            classification_tags: tags.classification_keys,
            process_tags: tags.process_keys,
            client_side_encryption_tags: tags.client_side_keys,
            regions_table: None,
            providers_table: None,
            durability: crate::store::Durability::default(),
            migrate: true,
            language: crate::i18n::Lang::En,
            time_zone: crate::i18n::DEFAULT_TIME_ZONE.to_owned(),
            tenants: std::collections::BTreeMap::new(),
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
                "LANDMETER_HTTP_LISTEN" => {
                    cfg.http_listen =
                        Some(value.parse().map_err(|e: std::net::AddrParseError| {
                            ConfigError::Env {
                                name: name.clone(),
                                message: e.to_string(),
                            }
                        })?);
                }
                "LANDMETER_DATABASE" => cfg.database = value.clone(),
                "LANDMETER_DEFAULT_TENANT" => cfg.default_tenant = value.clone(),
                "LANDMETER_CLASSIFICATION_TAGS" => cfg.classification_tags = list(),
                "LANDMETER_PROCESS_TAGS" => cfg.process_tags = list(),
                // The same variable the CLI reads for its own messages.
                "LANDMETER_LANG" => {
                    cfg.language =
                        value
                            .parse()
                            .map_err(|e: crate::i18n::UnknownLang| ConfigError::Env {
                                name: name.clone(),
                                message: e.to_string(),
                            })?;
                }
                "LANDMETER_TIME_ZONE" => cfg.time_zone = value.clone(),
                _ => {}
            }
        }
        Ok(cfg)
    }

    /// Checks the settings that only make sense together, without binding anything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // A rule meant to be signed must have its secret: never an unsigned delivery.
        if let Some(e) = self.alerts.iter().find_map(|r| r.secret().err()) {
            return Err(ConfigError::Invalid(e));
        }
        self.locale()?;
        match (&self.tls, self.insecure_plaintext) {
            (Some(_), true) => Err(ConfigError::Invalid(
                "tls and insecure_plaintext are both set: choose one".into(),
            )),
            (None, false) => Err(ConfigError::Invalid(
                "no tls configured: set [tls] (see landmeter ca init) or, for a local demo only, insecure_plaintext on a loopback address".into(),
            )),
            (None, true) if !self.listen.ip().is_loopback() => Err(ConfigError::Invalid(format!(
                "insecure_plaintext is refused on {}: only loopback addresses may serve plaintext",
                self.listen
            ))),
            _ if self.http_tls.is_none() && self.http_listen.is_some_and(|a| !a.ip().is_loopback()) => Err(ConfigError::Invalid(
                "http_listen without http_tls serves plaintext: bind it to a loopback address, or give it a certificate (http_tls / --http-tls-cert --http-tls-key)".into(),
            )),
            _ if self.pool_min_tenants < 2 => Err(ConfigError::Invalid(
                "pool_min_tenants below 2 would let a pool aggregate identify one tenant".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The languages tenants are configured with (`[tenants.<name>] language`).
    pub fn tenant_languages(&self) -> std::collections::BTreeMap<String, crate::i18n::Lang> {
        self.tenants
            .iter()
            .filter_map(|(tenant, t)| Some((tenant.clone(), t.language?)))
            .collect()
    }

    /// The configured language and time zone (an unknown zone is an error, never UTC).
    pub fn locale(&self) -> Result<crate::i18n::Locale, ConfigError> {
        crate::i18n::Locale::new(self.language, &self.time_zone)
            .map_err(|e| ConfigError::Invalid(format!("time_zone: {e}")))
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
        assert_eq!(cfg.database, "/var/lib/landmeter/map.db");
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
    fn language_and_time_zone_from_file_and_env() {
        let dir = std::env::temp_dir().join(format!("landmeter-cfg-lang-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let file = dir.join("collector.toml");
        let cfg = CollectorConfig::default();
        assert_eq!(
            cfg.language,
            crate::i18n::Lang::En,
            "English unless configured"
        );
        assert_eq!(cfg.time_zone, "Europe/Amsterdam");
        std::fs::write(&file, "language = \"nl\"\ntime_zone = \"UTC\"\n").expect("write");
        let cfg = CollectorConfig::load(Some(&file), []).expect("load");
        assert_eq!(cfg.language, crate::i18n::Lang::Nl);
        assert_eq!(cfg.locale().expect("zone").zone.iana_name(), Some("UTC"));
        let cfg = CollectorConfig::load(
            Some(&file),
            [("LANDMETER_LANG".to_owned(), "en-GB".to_owned())],
        )
        .expect("load");
        assert_eq!(cfg.language, crate::i18n::Lang::En, "env over file");
        let err = CollectorConfig::load(None, [("LANDMETER_LANG".to_owned(), "fr".to_owned())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("LANDMETER_LANG") && err.contains("nl or en"),
            "{err}"
        );
        std::fs::write(&file, "language = \"de\"\n").expect("write");
        let err = CollectorConfig::load(Some(&file), [])
            .unwrap_err()
            .to_string();
        assert!(err.contains("nl or en"), "{err}");
        let cfg = CollectorConfig {
            insecure_plaintext: true,
            time_zone: "Europe/Amsterdamm".into(),
            ..CollectorConfig::default()
        };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("Europe/Amsterdamm"), "{err}");
    }

    #[test]
    fn durability_is_full_unless_set_to_normal() {
        let dir = std::env::temp_dir().join(format!("landmeter-cfg3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let file = dir.join("collector.toml");
        assert_eq!(
            CollectorConfig::default().durability,
            crate::store::Durability::Full
        );
        std::fs::write(&file, "durability = \"normal\"\n").expect("write");
        let cfg = CollectorConfig::load(Some(&file), []).expect("load");
        assert_eq!(cfg.durability, crate::store::Durability::Normal);
        std::fs::write(&file, "durability = \"fast\"\n").expect("write");
        let err = CollectorConfig::load(Some(&file), [])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `fast`"), "{err}");
    }

    #[test]
    fn plaintext_only_on_loopback_and_never_beside_tls() {
        let mut cfg = CollectorConfig {
            insecure_plaintext: true,
            ..CollectorConfig::default()
        };
        assert!(cfg.validate().is_ok());
        cfg.listen = "0.0.0.0:7400".parse().expect("addr");
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("only loopback addresses may serve plaintext")
        );
        cfg.insecure_plaintext = false;
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .starts_with("no tls configured")
        );
        cfg.tls = Some(TlsConfig {
            cert_file: "a".into(),
            key_file: "b".into(),
            client_ca_file: "c".into(),
            ..TlsConfig::default()
        });
        assert!(cfg.validate().is_ok());
        cfg.insecure_plaintext = true;
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn example_config_in_deploy_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/collector.example.toml");
        let cfg = CollectorConfig::load(Some(&path), []).expect("example config loads");
        assert_eq!(cfg.default_tenant, "gemeente-example");
        assert_eq!(cfg.language, crate::i18n::Lang::Nl);
        assert_eq!(
            cfg.tenant_languages().get("eu-agency-example"),
            Some(&crate::i18n::Lang::En)
        );
        assert!(cfg.tls.is_some());
        cfg.validate().expect("the example is valid");
    }

    /// A rule meant to be signed whose secret file is missing or empty is refused at start.
    #[test]
    fn alert_secrets_must_be_readable_and_non_empty() {
        let dir = std::env::temp_dir().join(format!("lm-alert-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty");
        std::fs::write(&empty, " \n").unwrap();
        let mut cfg = CollectorConfig {
            insecure_plaintext: true,
            ..CollectorConfig::default()
        };
        for (file, expected) in [
            (dir.join("missing"), "secret_file"),
            (empty.clone(), "is empty"),
        ] {
            cfg.alerts = vec![crate::alerts::AlertRule {
                name: "signed".into(),
                url: "https://hooks.example.nl/x".into(),
                secret_file: Some(file),
                ..Default::default()
            }];
            let err = cfg.validate().expect_err("refused").to_string();
            assert!(
                err.contains(expected) && err.contains("alert signed"),
                "{err}"
            );
        }
        std::fs::write(&empty, "secret").unwrap();
        cfg.alerts[0].secret_file = Some(empty);
        cfg.validate().expect("a readable secret is fine");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The configurations the packages and manifests install load and validate as written:
    /// the .deb's /etc/landmeter/collector.toml and the `collector.toml` of each Kubernetes
    /// ConfigMap (PostgreSQL's with its URL from the environment, as the Secret gives it).
    #[test]
    fn packaged_and_kubernetes_configs_validate() {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        let deb = CollectorConfig::load(Some(&deploy.join("debian/collector.toml")), [])
            .expect("the .deb's config loads");
        deb.validate().expect("the .deb's config is valid");
        assert_eq!(deb.database, "/var/lib/landmeter/landmeter.db");
        assert!(deb.tls.is_some() && deb.migrate);

        let pg_url = "postgres://landmeter@db.example.nl:5432/landmeter";
        for (file, env, database, migrate) in [
            (
                "collector-statefulset-sqlite.yaml",
                None,
                "/var/lib/landmeter/landmeter.db",
                true,
            ),
            (
                "collector-deployment-postgres.yaml",
                Some(pg_url),
                pg_url,
                false,
            ),
        ] {
            let text = std::fs::read_to_string(deploy.join("kubernetes").join(file)).unwrap();
            let toml_text: String = text
                .lines()
                .skip_while(|l| l.trim() != "collector.toml: |")
                .skip(1)
                .take_while(|l| l.is_empty() || l.starts_with("    "))
                .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
                .collect();
            let dir = std::env::temp_dir().join(format!("lm-k8s-{}-{file}", std::process::id()));
            std::fs::write(&dir, &toml_text).unwrap();
            let env = env.map(|url| ("LANDMETER_DATABASE".to_owned(), url.to_owned()));
            let cfg = CollectorConfig::load(Some(&dir), env)
                .unwrap_or_else(|e| panic!("{file}: {e}\n{toml_text}"));
            std::fs::remove_file(&dir).ok();
            cfg.validate().unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(cfg.database, database, "{file}");
            assert_eq!(cfg.migrate, migrate, "{file}");
            // Kubelet probes reach the pod's address: the HTTP listener must carry TLS.
            assert!(
                cfg.http_tls.is_some(),
                "{file}: plaintext HTTP beyond loopback"
            );
        }
    }
}
