//! Cloud providers: each turns one cloud's read-only APIs into [`Fact`]s pushed into a
//! [`FactSink`]. One folder per cloud, its configuration section beside it
//! (`aws/config.rs`, `azure/config.rs`); the scanning code behind the cloud's Cargo feature.
//!
//! What they share lives here: the [`Provider`] trait the scan drives, the [`Call`] registry
//! entry (name, topic, permissions), the classification of a failed call into a [`GapKind`],
//! and the construction of facts.
//!
//! Providers push into a [`FactSink`] and nothing else: they never import the uplink, the
//! spool or tonic (ARCHITECTURE.md, import rules).
//!
//! [`Fact`]: landmeter_proto::v1::Fact

pub mod aws;
pub mod azure;
pub mod gcp;
pub mod s3_compatible;

use landmeter_proto::v1::{AccountCoverage, Fact, FactTopic, Gap, GapKind, fact};

use crate::config::Config;
use crate::sink::{FactSink, SinkClosed};

/// One API operation a provider may call: an entry of its registry.
///
/// The registry is the one place that says what a call is for: the least-privilege policy is
/// checked against its permissions, and every gap the call leaves takes its topic from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// `service:Operation` as recorded in facts (`Fact.api_call`, `Gap.call`).
    pub name: &'static str,
    /// The dimension a failure of this call leaves unknown.
    pub topic: FactTopic,
    /// IAM actions or Azure RBAC (data) actions that authorise it; empty when none is needed.
    pub permissions: &'static [&'static str],
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Why a provider could not enumerate its accounts (credentials, client setup, the account
/// listing). The scan goes on with the other providers; this one's accounts are reported
/// incomplete with this reason.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub message: String,
    /// The call whose failure stopped the planning, and how it failed: reported as a gap.
    pub failed_call: Option<(&'static Call, CallFailure)>,
}

impl PlanError {
    /// A failure without a failed call (a bad CA file, no credential source).
    pub fn setup(message: impl std::fmt::Display) -> PlanError {
        PlanError {
            message: message.to_string(),
            failed_call: None,
        }
    }
}

/// One cloud, as a scan drives it: enumerate the accounts, then scan them one by one.
///
/// An async trait through `async_trait`: a scan holds several providers of different types
/// (`Vec<Box<dyn Provider>>`), and native `async fn` in traits is not object safe; the one
/// box per call it costs is per account, not per request. The futures are not `Send`
/// (`?Send`): a scan runs on the agent's own task (joined, never spawned), and proving
/// `Send` for the providers' stream combinators trips rustc's higher-ranked lifetime
/// limitation (rust-lang/rust#102211); the workaround, building every bucket's future up
/// front, would cost memory per bucket.
#[async_trait::async_trait(?Send)]
pub trait Provider: Send + Sync {
    /// The provider as the collector's provider table names it (`aws`, `ovhcloud`,
    /// `microsoft-azure`, ...): recorded on every store and in `ScanBegin.providers`.
    fn id(&self) -> &str;

    /// Every call this provider can make: the registry the least-privilege policy is checked
    /// against, and where each gap's topic comes from.
    fn calls(&self) -> &'static [&'static Call];

    /// Accounts the configuration names without asking the cloud (role accounts, listed
    /// subscriptions), and the provider id standing for those only the cloud can name. They
    /// stand in for the enumeration when it fails, so the coverage still names them.
    fn configured_accounts(&self) -> Vec<String>;

    /// Resolves the credentials and enumerates the accounts (subscriptions, projects) to
    /// cover, in scan order. Called once per scan, before any fact is sent.
    async fn enumerate(&mut self) -> Result<Vec<String>, PlanError>;

    /// Scans one enumerated account into `sink` and returns its coverage. A failed call is a
    /// gap fact; only a closed sink stops it.
    async fn scan(&self, account: &str, sink: &FactSink) -> Result<AccountCoverage, SinkClosed>;

    /// Accounts scanned at once. Default one at a time: a provider whose calls share one
    /// bound of requests in flight (AWS: `budget.rs`) may overlap them.
    fn accounts_in_parallel(&self) -> usize {
        1
    }

    /// Called once after every account was scanned (a summary to log).
    fn scan_finished(&self) {}
}

/// Why a REST-based provider (Azure, Google Cloud) could not be set up: a file its
/// configuration names could not be read, or what it holds is not usable.
#[cfg(any(feature = "azure", feature = "gcp"))]
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Reads a file a provider's configuration names (CA bundle, credentials), naming it on error.
#[cfg(any(feature = "azure", feature = "gcp"))]
pub(crate) fn read_setup_file(
    what: &'static str,
    path: &std::path::Path,
) -> Result<String, SetupError> {
    std::fs::read_to_string(path).map_err(|source| SetupError::Read {
        what,
        path: path.display().to_string(),
        source,
    })
}

/// Why the configured providers cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ProvidersError {
    #[error(
        "[{section}] is enabled but this agent was built without the `{section}` feature: build landmeter-agent with it"
    )]
    NotCompiled { section: &'static str },
    #[error("nothing to scan: every provider is disabled")]
    NoneEnabled,
}

/// The providers the configuration enables, in scan order (AWS, the S3-compatible entries,
/// Azure, Google Cloud).
pub fn configured(config: &Config) -> Result<Vec<Box<dyn Provider>>, ProvidersError> {
    let mut providers: Vec<Box<dyn Provider>> = Vec::new();
    if config.aws_enabled() {
        #[cfg(feature = "aws")]
        providers.push(Box::new(aws::AwsProvider::new(config.aws.clone())));
        #[cfg(not(feature = "aws"))]
        return Err(ProvidersError::NotCompiled { section: "aws" });
    }
    for entry in &config.s3_compatible {
        #[cfg(feature = "aws")]
        providers.push(Box::new(aws::S3CompatibleProvider::new(entry.clone())));
        #[cfg(not(feature = "aws"))]
        {
            let _ = entry;
            return Err(ProvidersError::NotCompiled { section: "aws" });
        }
    }
    if config.azure.enabled {
        #[cfg(feature = "azure")]
        providers.push(Box::new(azure::AzureProvider::new(config.azure.clone())));
        #[cfg(not(feature = "azure"))]
        return Err(ProvidersError::NotCompiled { section: "azure" });
    }
    if config.gcp.enabled {
        #[cfg(feature = "gcp")]
        providers.push(Box::new(gcp::GcpProvider::new(config.gcp.clone())));
        #[cfg(not(feature = "gcp"))]
        return Err(ProvidersError::NotCompiled { section: "gcp" });
    }
    if providers.is_empty() {
        return Err(ProvidersError::NoneEnabled);
    }
    Ok(providers)
}

/// `Hello` capabilities naming the clouds this build can scan (`provider.aws`, ...).
pub fn capabilities() -> Vec<String> {
    let mut caps = Vec::new();
    if cfg!(feature = "aws") {
        caps.push("provider.aws".to_owned());
        caps.push("provider.s3-compatible".to_owned());
    }
    if cfg!(feature = "azure") {
        caps.push("provider.azure".to_owned());
    }
    if cfg!(feature = "gcp") {
        caps.push("provider.gcp".to_owned());
    }
    caps
}

/// What a failed call told us, provider-neutral.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFailure {
    /// The service's error code (`AccessDenied`, `SlowDown`, ...), when it sent one.
    pub code: Option<String>,
    /// The service's message, or a description of the transport failure.
    pub message: String,
    /// HTTP status of the response, when there was one.
    pub status: Option<u16>,
    /// The call timed out (connect, attempt or operation timeout).
    pub timeout: bool,
}

impl CallFailure {
    pub fn kind(&self) -> GapKind {
        classify(self.code.as_deref(), self.status, self.timeout)
    }

    /// The `Gap` body for this failure of `call`; its topic comes from the call registry.
    pub fn gap(&self, call: &Call) -> Gap {
        Gap {
            kind: self.kind() as i32,
            code: self.code.clone().unwrap_or_default(),
            message: self.message.clone(),
            call: call.name.to_owned(),
            topic: call.topic as i32,
        }
    }
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.code, self.status) {
            (Some(code), Some(status)) => write!(f, "{code} (http {status}): {}", self.message),
            (Some(code), None) => write!(f, "{code}: {}", self.message),
            (None, Some(status)) => write!(f, "http {status}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// Classifies a failed call. The error code wins over the HTTP status when both speak,
/// because S3-compatible services and emulators reuse statuses loosely.
pub fn classify(code: Option<&str>, status: Option<u16>, timeout: bool) -> GapKind {
    if timeout {
        return GapKind::Timeout;
    }
    if let Some(kind) = code.and_then(classify_code) {
        return kind;
    }
    match status {
        Some(401 | 403) => GapKind::AccessDenied,
        Some(404 | 410) => GapKind::NotFound,
        Some(408) => GapKind::Timeout,
        Some(429 | 503) => GapKind::Throttled,
        Some(501) => GapKind::NotImplemented,
        Some(500..=599) => GapKind::ServerError,
        _ => GapKind::Other,
    }
}

fn classify_code(code: &str) -> Option<GapKind> {
    let kind = match code {
        "AccessDenied"
        | "AccessDeniedException"
        | "AllAccessDisabled"
        | "AuthorizationError"
        | "AuthFailure"
        | "Forbidden"
        | "UnauthorizedOperation"
        | "UnrecognizedClientException"
        | "InvalidAccessKeyId"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "SignatureDoesNotMatch"
        | "AWSOrganizationsNotInUseException"
        | "AuthorizationFailed"
        | "AuthenticationFailed"
        | "InvalidAuthenticationToken"
        | "CredentialUnavailable"
        | "PERMISSION_DENIED"
        | "UNAUTHENTICATED"
        | "forbidden" => GapKind::AccessDenied,
        "SlowDown"
        | "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "ProvisionedThroughputExceededException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "TransactionInProgressException"
        | "BandwidthLimitExceeded"
        | "EC2ThrottledException"
        | "TooManyRequests"
        | "ServerBusy"
        | "RESOURCE_EXHAUSTED"
        | "UNAVAILABLE"
        | "rateLimitExceeded" => GapKind::Throttled,
        "NotImplemented"
        | "UnsupportedOperation"
        | "UnsupportedOperationException"
        | "NotSupported"
        | "UNIMPLEMENTED" => GapKind::NotImplemented,
        "RequestTimeout" | "RequestTimeoutException" | "DEADLINE_EXCEEDED" => GapKind::Timeout,
        "InternalError"
        | "InternalFailure"
        | "InternalServerError"
        | "KMSInternalException"
        | "ServiceException" => GapKind::ServerError,
        "NotFound"
        | "NotFoundException"
        | "ResourceNotFoundException"
        | "NoSuchEntity"
        | "ResourceNotFound"
        | "ResourceGroupNotFound"
        | "SubscriptionNotFound"
        | "VaultNotFound"
        | "KeyNotFound"
        | "ContainerNotFound"
        | "NOT_FOUND"
        | "notFound" => GapKind::NotFound,
        _ if code.starts_with("NoSuch")
            || code.ends_with("NotFound")
            || code.ends_with("NotFoundException")
            || code.ends_with("NotFoundError") =>
        {
            GapKind::NotFound
        }
        _ => return None,
    };
    Some(kind)
}

/// A fact with its envelope filled in; `observed_at_ms` is now.
pub fn new_fact(account: &str, subject: &str, api_call: &str, body: fact::Body) -> Fact {
    Fact {
        account: account.to_owned(),
        subject: subject.to_owned(),
        observed_at_ms: crate::now_ms(),
        api_call: api_call.to_owned(),
        body: Some(body),
    }
}

/// Checks a provider's registry: every call named once, each with a topic. Shared by the
/// providers' unit tests.
#[cfg(test)]
pub(crate) fn check_registry(calls: &[&Call]) {
    let mut names = std::collections::BTreeSet::new();
    for call in calls {
        assert!(names.insert(call.name), "{} listed twice", call.name);
        assert_ne!(
            call.topic,
            FactTopic::Unspecified,
            "{} has no topic",
            call.name
        );
        assert!(
            call.name.contains(':'),
            "{} is not service:Operation",
            call.name
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration decides the providers, in scan order; each exposes a registry in
    /// which every call has its topic.
    #[test]
    fn configured_providers_follow_the_config_and_expose_their_registries() {
        let cases: &[(&str, &[&str])] = &[
            ("", &["aws"]),
            ("[aws]\nprovider = \"ovhcloud\"\n", &["ovhcloud"]),
            ("[azure]\nenabled = true\n", &["microsoft-azure"]),
            ("[gcp]\nenabled = true\n", &["google-cloud"]),
            (
                "[aws]\nenabled = true\n[azure]\nenabled = true\n",
                &["aws", "microsoft-azure"],
            ),
            // Each [[s3_compatible]] entry is a provider of its own; AWS only when asked.
            (
                "[[s3_compatible]]\nprovider = \"ovhcloud\"\nregions = [{ region = \"gra\" }]\n\
                 [[s3_compatible]]\nprovider = \"exoscale\"\naccount = \"exo-1\"\nregions = [{ region = \"ch-gva-2\" }]\n",
                &["ovhcloud", "exoscale"],
            ),
            (
                "[aws]\nenabled = true\n[azure]\nenabled = true\n\
                 [[s3_compatible]]\nprovider = \"scaleway\"\nregions = [{ region = \"fr-par\" }]\n",
                &["aws", "scaleway", "microsoft-azure"],
            ),
        ];
        for (text, expected) in cases {
            let config = Config::from_toml(text).expect("parses");
            let providers = configured(&config).expect("providers");
            let ids: Vec<&str> = providers.iter().map(|p| p.id()).collect();
            assert_eq!(&ids, expected, "{text}");
            for p in &providers {
                check_registry(p.calls());
            }
        }
        let none = Config::from_toml("[aws]\nenabled = false\n").expect("parses");
        assert!(matches!(
            configured(&none),
            Err(ProvidersError::NoneEnabled)
        ));
        // Unknown is never "no": a failed planning still names AWS's accounts.
        let roles = Config::from_toml(
            "[aws]\ninclude_caller_account = false\n[[aws.accounts]]\nrole_arn = \"arn:aws:iam::222222222222:role/r\"\n",
        )
        .expect("parses");
        let providers = configured(&roles).expect("providers");
        assert_eq!(providers[0].configured_accounts(), ["222222222222"]);
        let caller = configured(&Config::default()).expect("providers");
        assert_eq!(caller[0].configured_accounts(), ["aws"]);
        let eu = Config::from_toml(
            "[[s3_compatible]]\nprovider = \"exoscale\"\naccount = \"exo-1\"\nregions = [{ region = \"ch-gva-2\" }]\n",
        )
        .expect("parses");
        let providers = configured(&eu).expect("providers");
        assert_eq!(providers[0].configured_accounts(), ["exo-1"]);
        assert!(
            providers[0]
                .calls()
                .iter()
                .all(|c| c.name.starts_with("s3:") || c.name == "cloudwatch:GetMetricData")
        );
    }

    #[test]
    fn classifies_failures() {
        use GapKind::*;
        let cases: &[(Option<&str>, Option<u16>, bool, GapKind)] = &[
            (Some("AccessDenied"), Some(403), false, AccessDenied),
            (
                Some("AccessDeniedException"),
                Some(400),
                false,
                AccessDenied,
            ),
            (None, Some(403), false, AccessDenied),
            (Some("NoSuchBucket"), Some(404), false, NotFound),
            (Some("NotFoundException"), Some(400), false, NotFound),
            (
                Some("ServerSideEncryptionConfigurationNotFoundError"),
                Some(404),
                false,
                NotFound,
            ),
            (None, Some(404), false, NotFound),
            (Some("SlowDown"), Some(503), false, Throttled),
            (Some("ThrottlingException"), Some(400), false, Throttled),
            (Some("Throttling"), Some(400), false, Throttled),
            (None, Some(429), false, Throttled),
            (None, Some(503), false, Throttled),
            (Some("InternalError"), Some(500), false, ServerError),
            (None, Some(500), false, ServerError),
            (None, Some(502), false, ServerError),
            (Some("KMSInternalException"), Some(500), false, ServerError),
            (None, None, true, Timeout),
            (Some("AccessDenied"), Some(403), true, Timeout),
            (Some("RequestTimeout"), Some(400), false, Timeout),
            (Some("NotImplemented"), Some(501), false, NotImplemented),
            (Some("NotImplemented"), Some(500), false, NotImplemented),
            (None, Some(501), false, NotImplemented),
            (Some("InvalidRequest"), Some(400), false, Other),
            (Some("SomethingNew"), None, false, Other),
            (None, None, false, Other),
            (None, Some(301), false, Other),
            (Some("AuthorizationFailed"), Some(403), false, AccessDenied),
            (Some("TooManyRequests"), Some(429), false, Throttled),
            (Some("ResourceNotFound"), Some(404), false, NotFound),
        ];
        for (code, status, timeout, expected) in cases {
            assert_eq!(
                classify(*code, *status, *timeout),
                *expected,
                "{code:?} {status:?} {timeout}"
            );
        }
    }

    #[test]
    fn gap_carries_code_message_and_call() {
        let failure = CallFailure {
            code: Some("AccessDenied".to_owned()),
            message: "Access Denied".to_owned(),
            status: Some(403),
            timeout: false,
        };
        let call = Call {
            name: "s3:GetBucketEncryption",
            topic: FactTopic::Encryption,
            permissions: &["s3:GetEncryptionConfiguration"],
        };
        let gap = failure.gap(&call);
        assert_eq!(gap.kind(), GapKind::AccessDenied);
        assert_eq!(gap.topic(), FactTopic::Encryption);
        assert_eq!(gap.code, "AccessDenied");
        assert_eq!(gap.message, "Access Denied");
        assert_eq!(gap.call, "s3:GetBucketEncryption");
        assert_eq!(
            failure.to_string(),
            "AccessDenied (http 403): Access Denied"
        );
    }
}
