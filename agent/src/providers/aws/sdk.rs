//! The SDK's configuration (retries, timeouts, endpoint) and the one translation of an SDK
//! error into a provider-neutral [`CallFailure`].

use std::sync::Arc;
use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::interceptors::InterceptorContext;
use aws_sdk_s3::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_types::retry::RetrySpec;

use super::budget::RequestBudget;
use super::config::AwsConfig;
use crate::providers::CallFailure;

/// Attempts per call, including the first, with the SDK's standard (jittered, exponential)
/// backoff from [`INITIAL_BACKOFF`] capped at [`MAX_BACKOFF`]. Twenty, not the SDK's three:
/// under sustained throttling (S3 SlowDown, KMS ThrottlingException) a scan must slow down,
/// not turn every throttled call into a gap; twenty attempts keep a call trying for two to
/// four seconds of backoff besides the budget's pacing, and at 30% of calls throttled all
/// twenty fail for one call in 3 x 10^10.
/// The retry quota (token bucket) only loses tokens for calls that fail every attempt.
const MAX_ATTEMPTS: u32 = 20;

/// The first retry waits up to this long, about one round trip of a cloud API (then
/// doubling, jittered). Not the SDK's 1 s: the request budget's per-service limit, which
/// every attempt passes, is what slows a throttled scan down (`budget.rs`), and a longer
/// wait only idles. A bucket's four calls go together, so a bucket waits for its slowest:
/// at 30 % of answers throttled three buckets in four have a throttled call, and with a
/// 100 ms base the buckets examined at once spent most of their time waiting, with half the
/// budget idle (300 buckets at 25 ms: 3.8-3.9 s against 1.6-1.7 s unthrottled; with 25 ms,
/// 2.5-2.8 s, bench/README.md).
const INITIAL_BACKOFF: Duration = Duration::from_millis(25);

/// The longest wait before one attempt. Not the SDK's 20 s, for the same reason, and
/// because the callers waiting are bounded (`concurrency`): with 20 s, the few calls of a
/// scan throttled five or six times in a row (at 30 % throttled, one call in about 400)
/// slept up to 3-6 s each and alone set the scan's end: 300 buckets at 25 ms took 5.2-8.9 s
/// instead of 1.6 s. 250 ms, not 1 s, since the request budget's limit paces a service below
/// one request in flight (`adaptive_limit.rs`): the backoff no longer has to slow a scan down,
/// and a call refused five times before its service's throttling was judged (the first
/// few hundred milliseconds) slept up to 1.6 s and set the end of one 30 %-throttled run
/// in eight (3.0 s against 1.2 s unthrottled); capped at 250 ms, 1.36-1.67x in three runs,
/// and at 10 requests a second per region the same answers unknown (bench/README.md).
const MAX_BACKOFF: Duration = Duration::from_millis(250);

pub(super) async fn load_sdk_config(config: &AwsConfig, budget: &Arc<RequestBudget>) -> SdkConfig {
    let region =
        RegionProviderChain::default_provider().or_else(Region::new(config.home_region.clone()));
    let mut loader = loader(budget).region(region);
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    loader.load().await
}

/// The SDK's loader with the agent's retries and timeouts, its HTTP client behind `budget`
/// (every client made from the configuration shares it: `budget.rs`).
pub(super) fn loader(budget: &Arc<RequestBudget>) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(budget.client())
        .retry_config(
            RetryConfig::standard()
                // Retry behaviour 2.0 (the default unless `AWS_NEW_RETRIES_2026` is set) takes a
                // server's `x-amz-retry-after` as the wait; 2.1 only lengthens the backoff with
                // it. The request budget sets it to 0 for throttling that does not follow the
                // rate (`budget.rs`), so the behaviour is pinned.
                .with_retry_spec(RetrySpec::v2_0())
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(INITIAL_BACKOFF)
                .with_max_backoff(MAX_BACKOFF),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .operation_timeout(Duration::from_secs(300))
                .build(),
        )
}

/// Turns an SDK error into a provider-neutral [`CallFailure`].
pub(super) fn failure<E>(err: &SdkError<E, HttpResponse>) -> CallFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let timeout = match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(dispatch) => dispatch.is_timeout(),
        _ => false,
    };
    let service = err.as_service_error();
    let code = service.and_then(|e| e.code()).map(str::to_owned);
    let message = match service.and_then(|e| e.message()) {
        Some(message) => message.to_owned(),
        // An answer the SDK could not read (an HTML 404 from a service that does not speak
        // the protocol, an empty HEAD body): say what came back, not the whole body.
        None if service.is_some() => {
            let content_type = err
                .raw_response()
                .and_then(|raw| raw.headers().get("content-type"))
                .unwrap_or("none");
            format!(
                "error response without a readable error (http {}, content-type {content_type})",
                status.map_or_else(|| "?".to_owned(), |s| s.to_string())
            )
        }
        None => truncate(DisplayErrorContext(err).to_string(), MAX_MESSAGE_CHARS),
    };
    CallFailure {
        code,
        message,
        status,
        timeout,
    }
}

/// Stops retries of an HTTP 500 whose body is an HTML page: an emulator's "not implemented"
/// (moto), never an AWS service error (those carry an XML or JSON error code and stay
/// retried). Without it each such call waits out ten backoffs before becoming a gap.
#[derive(Debug)]
pub(super) struct NoRetryOnHtmlError;

impl ClassifyRetry for NoRetryOnHtmlError {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.response() {
            Some(response)
                if response.status().as_u16() == 500
                    && response
                        .headers()
                        .get("content-type")
                        .is_some_and(|c| c.starts_with("text/html")) =>
            {
                RetryAction::RetryForbidden
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "NoRetryOnHtmlError"
    }
}

/// Longest error message kept in a gap.
const MAX_MESSAGE_CHARS: usize = 400;

fn truncate(mut text: String, max_chars: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max_chars) {
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut() {
        assert_eq!(truncate("abcdef".to_owned(), 3), "abc...");
        assert_eq!(truncate("abc".to_owned(), 3), "abc");
        assert_eq!(truncate("ééé".to_owned(), 2), "éé...");
    }
}
