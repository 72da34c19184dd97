//! One budget of requests in flight for every AWS call a provider makes, and an adaptive
//! limit per service and region below it.
//!
//! Both live in the HTTP client the SDK configuration carries ([`BudgetedClient`]), so every
//! client built from it (every account, region and service, STS and the assume-role
//! credentials included) shares them without any call site knowing: a request holds a
//! permit from the moment it is sent until its answer's head is back, never while the SDK
//! sleeps between retries. Memory then stays bounded by the budget however many accounts,
//! buckets or regions are scanned at once.
//!
//! The limit per (service, region) is AIMD with every cut put to the test
//! (`adaptive_limit.rs`): it starts at the whole budget, halves when an answer says the
//! caller is throttled (HTTP 429, 503 as S3's `SlowDown` and EC2's `RequestLimitExceeded`, or
//! a throttling error code in a 400), down to one request in flight, and grows back; a cut
//! that does not let more answers through is undone. The SDK still retries the throttled
//! call itself (twenty attempts, `sdk.rs`); the limit makes the retries, and everyone else's
//! calls to that service in that region, come slower instead of failing again. A throttled
//! answer the limit judges background (refused whatever the rate) is given
//! `x-amz-retry-after: 0`, so its retry does not sleep the exponential backoff: at 30 %
//! refused, the unluckiest of 1,600 calls is refused six times in a row, and its backoff
//! alone (about 0.8 s, with waits of up to 1 s) set the scan's end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::adaptive_limit::{AdaptiveLimit, MIN_LIMIT};

/// Error codes that mean "slow down" across the AWS protocols (REST-XML `<Code>`, query
/// `<Code>`, JSON `__type` and `x-amzn-ErrorType`).
const THROTTLING_CODES: &[&str] = &[
    "Throttl", // Throttling, ThrottlingException, ThrottledException
    "SlowDown",
    "RequestLimitExceeded",
    "TooManyRequests",
    "ProvisionedThroughputExceeded",
    "RequestThrottled",
    "BandwidthLimitExceeded",
];

/// The AWS header for a server's retry delay, in milliseconds.
const RETRY_AFTER: &str = "x-amz-retry-after";
const RETRY_AT_ONCE_MS: &str = "0";

/// An error body longer than this is not read for a throttling code (error bodies are a few
/// hundred bytes; a large 400 is something else and stays untouched).
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// The requests in flight of one provider, and the adaptive limits per service and region.
#[derive(Debug)]
pub struct RequestBudget {
    global: Arc<Semaphore>,
    max: usize,
    limits: Mutex<HashMap<(String, String), Arc<AdaptiveLimit>>>,
    throttled: AtomicU64,
    sent: AtomicU64,
}

impl RequestBudget {
    pub fn new(max: usize) -> Arc<RequestBudget> {
        let max = max.max(1);
        Arc::new(RequestBudget {
            global: Arc::new(Semaphore::new(max)),
            max,
            limits: Mutex::new(HashMap::new()),
            throttled: AtomicU64::new(0),
            sent: AtomicU64::new(0),
        })
    }

    /// The SDK's default HTTPS client (hyper 1, rustls on aws-lc, proxy from the environment,
    /// as `aws-smithy-runtime` builds it) with this budget in front of it.
    pub fn client(self: &Arc<Self>) -> SharedHttpClient {
        use aws_smithy_http_client::proxy::ProxyConfig;
        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        use aws_smithy_http_client::{Builder, ConnectorBuilder};
        let inner = Builder::new().build_with_connector_fn(|settings, components| {
            let mut conn =
                ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
            conn.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                conn.set_sleep_impl(components.sleep_impl());
            }
            conn.set_proxy_config(Some(ProxyConfig::from_env()));
            conn.build()
        });
        SharedHttpClient::new(BudgetedClient {
            budget: Arc::clone(self),
            inner,
        })
    }

    fn limit_for(&self, service: &str, region: &str) -> Arc<AdaptiveLimit> {
        let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            limits
                .entry((service.to_owned(), region.to_owned()))
                .or_insert_with(|| Arc::new(AdaptiveLimit::new(self.max, MIN_LIMIT))),
        )
    }

    /// Requests sent and answers that said "throttled", since the start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.throttled.load(Ordering::Relaxed),
        )
    }

    /// Every (service, region) that was throttled, with its throttled answers, its cuts and
    /// its limit now.
    pub fn throttled_limits(&self) -> Vec<ThrottledLimit> {
        let limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<ThrottledLimit> = limits
            .iter()
            .filter_map(|((service, region), limit)| {
                let state = limit.lock();
                (state.throttled > 0).then(|| ThrottledLimit {
                    service: service.clone(),
                    region: region.clone(),
                    throttled: state.throttled,
                    cuts: state.cuts,
                    undone: state.undone,
                    background: state.background(),
                    lowest: state.lowest,
                    limit: state.limit,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.service, &a.region).cmp(&(&b.service, &b.region)));
        out
    }

    /// Logs what throttling did (once, at the end of a scan).
    pub fn log_summary(&self, provider: &str) {
        let (sent, throttled) = self.counts();
        for t in self.throttled_limits() {
            tracing::info!(
                provider,
                service = %t.service,
                region = %t.region,
                throttled = t.throttled,
                cuts = t.cuts,
                undone = t.undone,
                background = %t.background.map_or("none".to_owned(), |b| format!("{b:.2}")),
                lowest = t.lowest,
                limit = t.limit,
                "throttled: requests in flight to this service and region were cut, then grew back"
            );
        }
        tracing::debug!(provider, sent, throttled, max = self.max, "request budget");
    }
}

/// What throttling did to one (service, region).
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottledLimit {
    pub service: String,
    pub region: String,
    pub throttled: u64,
    pub cuts: u64,
    /// Cuts undone because they did not raise the share of answers that came through.
    pub undone: u64,
    /// The share of answers throttled whatever the rate, when one was seen.
    pub background: Option<f64>,
    pub lowest: f64,
    pub limit: f64,
}

/// The SDK's HTTP client behind the budget.
#[derive(Debug)]
struct BudgetedClient {
    budget: Arc<RequestBudget>,
    inner: SharedHttpClient,
}

impl HttpClient for BudgetedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(BudgetedConnector {
            budget: Arc::clone(&self.budget),
            inner: self.inner.http_connector(settings, components),
        })
    }
}

#[derive(Debug)]
struct BudgetedConnector {
    budget: Arc<RequestBudget>,
    inner: SharedHttpConnector,
}

impl HttpConnector for BudgetedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let budget = Arc::clone(&self.budget);
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            let (service, region) = request
                .headers()
                .get("authorization")
                .and_then(credential_scope)
                .unwrap_or(("", ""));
            let slot = budget.limit_for(service, region).acquire().await;
            let _permit: OwnedSemaphorePermit = Arc::clone(&budget.global)
                .acquire_owned()
                .await
                .expect("the budget's semaphore is never closed");
            budget.sent.fetch_add(1, Ordering::Relaxed);
            let mut response = inner.call(request).await?;
            let throttled = is_throttled(&mut response).await;
            if throttled {
                budget.throttled.fetch_add(1, Ordering::Relaxed);
            }
            if slot.answered(throttled) {
                // Refused whatever the rate: the retry need not wait (the limit, which it
                // passes again, sets the pace). The SDK takes a server's retry delay from
                // this header (standard retries, `sdk.rs`).
                response.headers_mut().insert(RETRY_AFTER, RETRY_AT_ONCE_MS);
            }
            Ok::<_, ConnectorError>(response)
        })
    }
}

/// (service, region) of a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20260101/eu-west-1/s3/aws4_request`).
fn credential_scope(authorization: &str) -> Option<(&str, &str)> {
    let scope = authorization
        .split_once("Credential=")?
        .1
        .split([',', ' '])
        .next()?;
    let mut parts = scope.split('/');
    let region = parts.nth(2)?;
    let service = parts.next()?;
    Some((service, region))
}

/// Whether an answer says "slow down". A 400 is read for its error code (query protocols
/// carry it only in the body); its body is put back for the SDK to parse.
async fn is_throttled(response: &mut HttpResponse) -> bool {
    let status = response.status().as_u16();
    if status == 429 || status == 503 {
        return true;
    }
    if status != 400 {
        return false;
    }
    if let Some(kind) = response.headers().get("x-amzn-errortype") {
        return has_throttling_code(kind.as_bytes());
    }
    let small = response
        .headers()
        .get("content-length")
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n <= MAX_ERROR_BODY);
    if let Some(bytes) = response.body().bytes() {
        return has_throttling_code(bytes);
    }
    if !small {
        return false;
    }
    let body = response.take_body();
    match ByteStream::new(body).collect().await {
        Ok(bytes) => {
            let bytes = bytes.into_bytes();
            let throttled = has_throttling_code(&bytes);
            *response.body_mut() = SdkBody::from(bytes);
            throttled
        }
        // The body is gone with the error; the SDK then reports the read failure itself.
        Err(_) => false,
    }
}

fn has_throttling_code(text: &[u8]) -> bool {
    THROTTLING_CODES
        .iter()
        .any(|code| text.windows(code.len()).any(|w| w == code.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_scope_names_service_and_region() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=0";
        assert_eq!(credential_scope(auth), Some(("s3", "eu-west-1")));
        assert_eq!(credential_scope("Bearer x"), None);
    }

    #[test]
    fn throttling_codes_of_every_protocol_are_recognised() {
        for body in [
            "<Error><Code>SlowDown</Code></Error>",
            "<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>",
            "{\"__type\":\"com.amazonaws.kms#ThrottlingException\"}",
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors></Response>",
            "{\"__type\":\"ProvisionedThroughputExceededException\"}",
        ] {
            assert!(has_throttling_code(body.as_bytes()), "{body}");
        }
        for body in [
            "<Error><Code>AccessDenied</Code></Error>",
            "{\"__type\":\"NotFoundException\"}",
        ] {
            assert!(!has_throttling_code(body.as_bytes()), "{body}");
        }
    }
}
