//! Cloud providers: each turns one cloud's read-only APIs into [`Fact`]s pushed into a
//! [`FactSink`](crate::sink::FactSink). One module per cloud, each behind its Cargo feature.
//!
//! What they share lives here: the classification of a failed call into a [`GapKind`], and
//! the construction of facts.
//!
//! [`Fact`]: landmeter_proto::v1::Fact

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "azure")]
pub mod azure;

use landmeter_proto::v1::{Fact, Gap, GapKind, fact};

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

    /// The `Gap` body for this failure of `call`.
    pub fn gap(&self, call: &str) -> Gap {
        Gap {
            kind: self.kind() as i32,
            code: self.code.clone().unwrap_or_default(),
            message: self.message.clone(),
            call: call.to_owned(),
            // Set from the provider's call registry (renovation, in progress).
            topic: 0,
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
        | "CredentialUnavailable" => GapKind::AccessDenied,
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
        | "ServerBusy" => GapKind::Throttled,
        "NotImplemented"
        | "UnsupportedOperation"
        | "UnsupportedOperationException"
        | "NotSupported" => GapKind::NotImplemented,
        "RequestTimeout" | "RequestTimeoutException" => GapKind::Timeout,
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
        | "ContainerNotFound" => GapKind::NotFound,
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let gap = failure.gap("s3:GetBucketEncryption");
        assert_eq!(gap.kind(), GapKind::AccessDenied);
        assert_eq!(gap.code, "AccessDenied");
        assert_eq!(gap.message, "Access Denied");
        assert_eq!(gap.call, "s3:GetBucketEncryption");
        assert_eq!(
            failure.to_string(),
            "AccessDenied (http 403): Access Denied"
        );
    }
}
