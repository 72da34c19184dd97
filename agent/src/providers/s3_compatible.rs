//! The European S3-compatible clouds as first-class providers: one `[[s3_compatible]]` entry
//! per provider account (OVHcloud, Scaleway, IONOS, STACKIT, Hetzner, Open Telekom Cloud,
//! Exoscale, ...), several in one agent beside `[aws]` and `[azure]`. Each entry becomes one
//! [`Provider`](crate::providers::Provider) that reuses the AWS S3 scanning code
//! (`aws/compatible.rs`) with the provider's [`Persona`]: which calls it has, where its
//! endpoints are, where its sizes could come from.
//!
//! ```toml
//! [[s3_compatible]]
//! provider = "ovhcloud"                 # as the collector's providers table names it
//! account = "ovh-project-4f2a"          # the account in the map (default: the provider id)
//! regions = [
//!   { region = "gra" },                 # endpoint from the persona: https://s3.gra.io.cloud.ovh.net
//!   { region = "bhs", endpoint = "https://s3.bhs.io.cloud.ovh.net" },
//! ]
//! access_key_id_env = "OVH_S3_ACCESS_KEY_ID"         # names of variables, never the keys
//! secret_access_key_env = "OVH_S3_SECRET_ACCESS_KEY"
//! # or: credentials_file = "/etc/landmeter/ovh.credentials" (AWS shared-credentials format),
//! #     credentials_profile = "default"
//! ```
//!
//! What differs from AWS, and how the scan treats it:
//! - A call the provider does not implement (it answers `NotImplemented` / HTTP 501 or
//!   `MethodNotAllowed`, or the persona documents the feature as absent and the call is not
//!   made) becomes an `Unsupported` fact: "not applicable" for that provider's stores, neither
//!   a coverage gap nor "no" (facts.proto `Unsupported`, map.proto `NotApplicable`).
//! - No CloudWatch: sizes stay unknown; an `Unsupported` fact of topic SIZE says why (and
//!   names the provider's usage API when one exists but is not read yet).
//! - No STS, no KMS descriptions, no other store kinds.
//! - `ListBuckets` without `BucketRegion`: a bucket's region is what `GetBucketLocation`
//!   answers, else the region of the endpoint that listed it (`region_source`
//!   [`REGION_FROM_ENDPOINT`]).
//!
//! Credentials are read when a scan is planned and never logged nor serialised: the
//! configuration names variables or a file, not keys.

use std::path::PathBuf;

use landmeter_proto::v1::FactTopic;
use serde::{Deserialize, Serialize};

use crate::config::{MAX_CONCURRENCY, check_url};
use crate::providers::Call;
use crate::providers::aws::calls;

/// `Store.region_source` of a bucket whose provider named no region: the region of the
/// configured endpoint that listed it.
pub const REGION_FROM_ENDPOINT: &str = "configured endpoint region";

/// The calls an S3-compatible provider makes: a subset of the AWS registry.
pub const S3_COMPATIBLE_CALLS: &[&Call] = &[
    calls::LIST_BUCKETS,
    calls::GET_BUCKET_LOCATION,
    calls::GET_BUCKET_ENCRYPTION,
    calls::GET_BUCKET_TAGGING,
    calls::GET_BUCKET_REPLICATION,
    calls::GET_OBJECT_LOCK,
    calls::GET_METRIC_DATA,
];

/// One provider account reached over its S3 API.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3CompatibleConfig {
    /// The provider as the collector's providers table names it (`ovhcloud`, `scaleway`,
    /// `ionos`, `stackit`, `hetzner`, `open-telekom-cloud`, `exoscale`, `ovhcloud-us`).
    pub provider: String,
    /// The account in the map (a project id, a contract number). Default: the provider id.
    /// Two entries of one provider need distinct accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The regions to scan, each with its endpoint (default: the persona's endpoint for the
    /// region).
    pub regions: Vec<S3Region>,
    /// Name of the environment variable holding the access key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id_env: Option<String>,
    /// Name of the environment variable holding the secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key_env: Option<String>,
    /// A file in the AWS shared-credentials format holding the keys (instead of variables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// The profile of `credentials_file`. Default `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_profile: Option<String>,
    /// Buckets examined concurrently (1 to 256). Default 8.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Ask `GetObjectLockConfiguration` per bucket. Default true.
    #[serde(default = "default_true")]
    pub object_lock: bool,
}

impl std::fmt::Debug for S3CompatibleConfig {
    // Names of variables and files only; written out so that a secret field added later
    // is not printed by accident.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3CompatibleConfig")
            .field("provider", &self.provider)
            .field("account", &self.account)
            .field("regions", &self.regions)
            .field("access_key_id_env", &self.access_key_id_env)
            .field("secret_access_key_env", &self.secret_access_key_env)
            .field("credentials_file", &self.credentials_file)
            .field("credentials_profile", &self.credentials_profile)
            .field("concurrency", &self.concurrency)
            .field("object_lock", &self.object_lock)
            .finish()
    }
}

fn default_concurrency() -> usize {
    8
}

fn default_true() -> bool {
    true
}

/// One region of an account and the endpoint that serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Region {
    /// The region code as the provider spells it (`gra`, `fr-par`, `ch-gva-2`): also the
    /// signing region, and the region of buckets the provider places nowhere else.
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl S3CompatibleConfig {
    /// The account the map files this entry's stores under.
    pub fn account(&self) -> &str {
        self.account.as_deref().unwrap_or(&self.provider)
    }

    pub fn persona(&self) -> &'static Persona {
        persona(&self.provider)
    }

    /// Each region with the endpoint to use: the configured one, else the persona's.
    pub fn endpoints(&self) -> Vec<(String, String)> {
        self.regions
            .iter()
            .filter_map(|r| {
                let endpoint = r
                    .endpoint
                    .clone()
                    .or_else(|| self.persona().endpoint(&r.region))?;
                Some((r.region.clone(), endpoint))
            })
            .collect()
    }

    /// Checks the entry; `n` is its position (for the message).
    pub fn validate(&self, n: usize) -> Result<(), String> {
        let at = format!("s3_compatible[{n}]");
        let id_like = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if !id_like(&self.provider) {
            return Err(format!(
                "{at}.provider {:?} must be a lowercase provider id such as \"ovhcloud\"",
                self.provider
            ));
        }
        if matches!(
            self.provider.as_str(),
            "aws" | "aws-european-sovereign-cloud" | "microsoft-azure"
        ) {
            return Err(format!(
                "{at}.provider {:?} is scanned by its own section ([aws] or [azure])",
                self.provider
            ));
        }
        if let Some(account) = &self.account
            && (account.is_empty() || account.contains(char::is_whitespace))
        {
            return Err(format!("{at}.account {account:?} is not an account name"));
        }
        if self.regions.is_empty() {
            return Err(format!("{at}: no regions to scan (regions = [...])"));
        }
        for r in &self.regions {
            if r.region.is_empty() || r.region.contains(char::is_whitespace) {
                return Err(format!("{at}.regions {:?} is not a region", r.region));
            }
            match &r.endpoint {
                Some(url) => check_url(url).map_err(|e| format!("{at} endpoint {url:?}: {e}"))?,
                None if self.persona().endpoint(&r.region).is_none() => {
                    return Err(format!(
                        "{at}: region {:?} needs an endpoint (no endpoint pattern is known for {:?})",
                        r.region, self.provider
                    ));
                }
                None => {}
            }
        }
        match (
            &self.access_key_id_env,
            &self.secret_access_key_env,
            &self.credentials_file,
        ) {
            (Some(id), Some(secret), None) => {
                for var in [id, secret] {
                    if var.is_empty() || var.contains(['=', '\0']) {
                        return Err(format!("{at}: {var:?} is not an environment variable name"));
                    }
                }
            }
            (None, None, Some(file)) if !file.as_os_str().is_empty() => {}
            _ => {
                return Err(format!(
                    "{at}: give either access_key_id_env and secret_access_key_env (names of environment variables) or credentials_file"
                ));
            }
        }
        if self.credentials_profile.is_some() && self.credentials_file.is_none() {
            return Err(format!(
                "{at}.credentials_profile goes with credentials_file"
            ));
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(format!(
                "{at}.concurrency {} must be between 1 and {MAX_CONCURRENCY}",
                self.concurrency
            ));
        }
        Ok(())
    }
}

/// Checks every entry, and that no two entries share a (provider, account).
pub fn validate_all(entries: &[S3CompatibleConfig]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (n, entry) in entries.iter().enumerate() {
        entry.validate(n)?;
        if !seen.insert((entry.provider.as_str(), entry.account())) {
            return Err(format!(
                "s3_compatible[{n}]: provider {:?} account {:?} is configured twice: give each entry its own account",
                entry.provider,
                entry.account()
            ));
        }
    }
    Ok(())
}

/// What one provider's S3 API offers, as its documentation says (sources in each entry;
/// `unverified` where none was found). The agent asks every call the persona does not list
/// as absent; whatever the documentation says, a `NotImplemented` answer makes the call not
/// applicable for that provider.
#[derive(Debug)]
pub struct Persona {
    pub provider: &'static str,
    /// Endpoint for a region; `{region}` stands for the region code.
    pub endpoint_pattern: Option<&'static str>,
    /// Regions whose endpoint does not follow the pattern.
    pub endpoint_exceptions: &'static [(&'static str, &'static str)],
    /// Calls the provider documents as absent: not made, reported as not applicable.
    pub absent: &'static [&'static Call],
    /// Error codes besides `NotImplemented` and `MethodNotAllowed` with which the provider
    /// answers a call it lacks (where AWS would say "not configured").
    pub unsupported_codes: &'static [&'static str],
    /// Where sizes could come from, said in the size's `Unsupported` fact.
    pub sizes: &'static str,
    /// The documentation the entry rests on.
    pub source: &'static str,
}

impl Persona {
    pub fn endpoint(&self, region: &str) -> Option<String> {
        if let Some((_, url)) = self.endpoint_exceptions.iter().find(|(r, _)| *r == region) {
            return Some((*url).to_owned());
        }
        self.endpoint_pattern
            .map(|pattern| pattern.replace("{region}", region))
    }

    /// Whether the persona documents `call` as absent.
    pub fn lacks(&self, call: &Call) -> bool {
        self.absent.iter().any(|c| c.name == call.name)
    }

    /// Whether an error answer to `call` means the provider does not implement it.
    pub fn unsupported_answer(&self, code: Option<&str>, status: Option<u16>) -> bool {
        matches!(
            code,
            Some("NotImplemented" | "MethodNotAllowed" | "UnsupportedOperation" | "NotSupported")
        ) || status == Some(501)
            || code.is_some_and(|c| self.unsupported_codes.contains(&c))
    }
}

const NO_USAGE_API: &str = "no metrics service (no CloudWatch); the provider's S3 API reports no bucket size: size unknown";

/// The personas, one per provider with an S3 API. A provider not listed gets [`GENERIC`].
pub const PERSONAS: &[Persona] = &[
    Persona {
        provider: "ovhcloud",
        endpoint_pattern: Some("https://s3.{region}.io.cloud.ovh.net"),
        endpoint_exceptions: &[],
        absent: &[],
        unsupported_codes: &[],
        sizes: "no CloudWatch; OVHcloud's usage is in the OVHcloud API (cloud project storage), not read yet: size unknown",
        source: "ovh/docs s3_location guide (2026-02-03); SSE-OMK configured as AES256 (KEY-CUSTODY.md 4)",
    },
    Persona {
        provider: "ovhcloud-us",
        endpoint_pattern: Some("https://s3.{region}.io.cloud.ovh.us"),
        endpoint_exceptions: &[],
        absent: &[],
        unsupported_codes: &[],
        sizes: "no CloudWatch; OVHcloud's usage is in the OVHcloud API, not read yet: size unknown",
        source: "rclone backend/s3/provider/OVHcloud.yaml (.ovh.us endpoints)",
    },
    Persona {
        provider: "scaleway",
        endpoint_pattern: Some("https://s3.{region}.scw.cloud"),
        endpoint_exceptions: &[],
        // Replication is not in Scaleway's list of supported calls (unverified: asked, and a
        // NotImplemented answer makes it not applicable).
        absent: &[],
        unsupported_codes: &[],
        sizes: "no CloudWatch; Scaleway Cockpit metrics are not read: size unknown",
        source: "scaleway.com/en/docs/object-storage/api-cli/using-api-call-list (validated 2025-09-02): tagging, location, object lock supported",
    },
    Persona {
        provider: "ionos",
        endpoint_pattern: Some("https://s3.{region}.ionoscloud.com"),
        endpoint_exceptions: &[("de", "https://s3.eu-central-1.ionoscloud.com")],
        absent: &[],
        unsupported_codes: &[],
        sizes: NO_USAGE_API,
        source: "docs.ionos.com Object Storage; rclone backend/s3/provider/IONOS.yaml",
    },
    Persona {
        provider: "stackit",
        endpoint_pattern: Some("https://object.storage.{region}.onstackit.cloud"),
        endpoint_exceptions: &[],
        absent: &[],
        unsupported_codes: &[],
        sizes: NO_USAGE_API,
        source: "docs.stackit.cloud object storage (endpoint, encryption); supported calls unverified",
    },
    Persona {
        provider: "hetzner",
        endpoint_pattern: Some("https://{region}.your-objectstorage.com"),
        endpoint_exceptions: &[],
        // "Notable exceptions": replication and tagging not supported; encryption only SSE-C
        // (no bucket default encryption to read).
        absent: &[
            calls::GET_BUCKET_REPLICATION,
            calls::GET_BUCKET_TAGGING,
            calls::GET_BUCKET_ENCRYPTION,
        ],
        unsupported_codes: &[],
        sizes: NO_USAGE_API,
        source: "docs.hetzner.com/storage/object-storage/supported-actions (2024-09-23)",
    },
    Persona {
        provider: "open-telekom-cloud",
        endpoint_pattern: Some("https://obs.{region}.otc.t-systems.com"),
        endpoint_exceptions: &[],
        absent: &[],
        unsupported_codes: &[],
        sizes: "no CloudWatch; OBS bucket storage info (GetBucketStorageInfo, OBS API) is not read: size unknown",
        source: "opentelekomcloud-docs/regions-and-endpoints; OBS S3 compatibility unverified per call",
    },
    Persona {
        provider: "exoscale",
        endpoint_pattern: Some("https://sos-{region}.exo.io"),
        endpoint_exceptions: &[],
        absent: &[],
        unsupported_codes: &[],
        sizes: "no CloudWatch; Exoscale's listBucketsUsage (Compute API, daily) is not read yet: size unknown",
        source: "community.exoscale.com SOS overview (unsupported: object tagging, lifecycle, logging, notifications, website; versioning and object lock supported) and SOS API page (endpoints, listBucketsUsage)",
    },
];

/// The persona of a provider without its own: every call asked, no endpoint pattern.
pub static GENERIC: Persona = Persona {
    provider: "",
    endpoint_pattern: None,
    endpoint_exceptions: &[],
    absent: &[],
    unsupported_codes: &[],
    sizes: NO_USAGE_API,
    source: "none: a provider without a persona",
};

pub fn persona(provider: &str) -> &'static Persona {
    PERSONAS
        .iter()
        .find(|p| p.provider == provider)
        .unwrap_or(&GENERIC)
}

/// The dimension a persona-absent call leaves not applicable, for the messages.
pub fn feature(call: &Call) -> &'static str {
    match call.topic {
        FactTopic::Encryption => "bucket default encryption",
        FactTopic::Tags => "bucket tagging",
        FactTopic::Replication => "bucket replication",
        FactTopic::Retention => "object lock",
        FactTopic::Size => "bucket sizes",
        _ => "this call",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn entries_parse_validate_and_name_their_endpoints() {
        let config = Config::from_toml(
            r#"
[[s3_compatible]]
provider = "ovhcloud"
account = "ovh-project"
regions = [{ region = "gra" }, { region = "bhs", endpoint = "http://127.0.0.1:9000" }]
access_key_id_env = "OVH_KEY"
secret_access_key_env = "OVH_SECRET"

[[s3_compatible]]
provider = "ionos"
regions = [{ region = "de" }]
credentials_file = "/etc/landmeter/ionos"
"#,
        )
        .expect("parses");
        config.validate().expect("valid");
        assert!(!config.aws_enabled(), "AWS is off unless asked beside them");
        let ovh = &config.s3_compatible[0];
        assert_eq!(ovh.account(), "ovh-project");
        assert_eq!(
            ovh.endpoints(),
            [
                (
                    "gra".to_owned(),
                    "https://s3.gra.io.cloud.ovh.net".to_owned()
                ),
                ("bhs".to_owned(), "http://127.0.0.1:9000".to_owned()),
            ]
        );
        let ionos = &config.s3_compatible[1];
        assert_eq!(
            (ionos.account(), ionos.concurrency, ionos.object_lock),
            ("ionos", 8, true)
        );
        assert_eq!(
            ionos.endpoints()[0].1,
            "https://s3.eu-central-1.ionoscloud.com"
        );
        // The configuration names variables, never keys; its rendering says no more.
        let text = config.to_toml();
        assert!(
            text.contains("OVH_SECRET") && text.contains("[[s3_compatible]]"),
            "{text}"
        );
        assert_eq!(Config::from_toml(&text).expect("round trip"), config);
    }

    #[test]
    fn bad_entries_are_refused_with_the_reason() {
        let base =
            "[[s3_compatible]]\nprovider = \"scaleway\"\nregions = [{ region = \"fr-par\" }]\n";
        let keys = "access_key_id_env = \"A\"\nsecret_access_key_env = \"B\"\n";
        for (text, expect) in [
            (base.to_owned(), "give either"),
            (
                format!("{base}{keys}credentials_file = \"/x\"\n"),
                "give either",
            ),
            (
                format!(
                    "[[s3_compatible]]\nprovider = \"aws\"\nregions = [{{ region = \"x\" }}]\n{keys}"
                ),
                "its own section",
            ),
            (
                format!(
                    "[[s3_compatible]]\nprovider = \"acme\"\nregions = [{{ region = \"x\" }}]\n{keys}"
                ),
                "needs an endpoint",
            ),
            (
                format!("[[s3_compatible]]\nprovider = \"scaleway\"\nregions = []\n{keys}"),
                "no regions",
            ),
            (format!("{base}{keys}{base}{keys}"), "configured twice"),
        ] {
            let err = Config::from_toml(&text)
                .expect("parses")
                .validate()
                .expect_err(&text);
            assert!(err.to_string().contains(expect), "{text}: {err}");
        }
        // A provider without a persona is scanned when its endpoint is given.
        Config::from_toml(&format!(
            "[[s3_compatible]]\nprovider = \"acme\"\nregions = [{{ region = \"x\", endpoint = \"https://s3.acme.example\" }}]\n{keys}"
        ))
        .expect("parses")
        .validate()
        .expect("valid");
    }

    #[test]
    fn personas_say_what_is_not_implemented() {
        let hetzner = persona("hetzner");
        assert!(hetzner.lacks(calls::GET_BUCKET_REPLICATION));
        assert!(
            !hetzner.lacks(calls::GET_OBJECT_LOCK),
            "Hetzner has object lock"
        );
        assert_eq!(
            hetzner.endpoint("fsn1").as_deref(),
            Some("https://fsn1.your-objectstorage.com")
        );
        assert_eq!(
            persona("exoscale").endpoint("ch-gva-2").as_deref(),
            Some("https://sos-ch-gva-2.exo.io")
        );
        let any = persona("scaleway");
        assert!(any.unsupported_answer(Some("NotImplemented"), Some(501)));
        assert!(any.unsupported_answer(None, Some(501)));
        assert!(any.unsupported_answer(Some("MethodNotAllowed"), Some(405)));
        // Denied or failed is a gap, never "not applicable".
        assert!(!any.unsupported_answer(Some("AccessDenied"), Some(403)));
        assert!(!any.unsupported_answer(Some("InternalError"), Some(500)));
        assert!(std::ptr::eq(persona("acme"), &GENERIC));
        for p in PERSONAS {
            assert!(p.endpoint_pattern.is_some(), "{}", p.provider);
            for call in p.absent {
                assert!(S3_COMPATIBLE_CALLS.contains(call), "{}", call.name);
            }
        }
    }
}
