//! A small HTTP/1.1 reverse proxy in front of an emulator that injects the real clouds'
//! failures, rewrites answers into today's AWS behaviour, and counts requests.
//!
//! moto has no fault injection at all, and some of its answers are older AWS behaviour
//! (shared/reference/EMULATORS.md). The proxy forwards every request unchanged (method, path,
//! query, headers, body) and, for requests a [`Rule`] matches, either answers itself with
//! AWS's error shape ([`Fault`]) or rewrites the upstream answer ([`Rule::rewrite`]).
//!
//! ```no_run
//! # async fn f(moto: std::net::SocketAddr) -> anyhow::Result<()> {
//! use landmeter_e2e::fault_proxy::{Fault, FaultProxy, Rule};
//! let proxy = FaultProxy::start(moto, vec![
//!     Rule::s3("GetBucketEncryption").bucket("payroll").respond(Fault::s3_access_denied()),
//!     Rule::kms("DescribeKey").body_contains("1234abcd").respond(Fault::kms_access_denied()),
//! ]).await?;
//! let endpoint = format!("http://{}", proxy.addr());
//! # Ok(()) }
//! ```
//!
//! Operations are named `service:Operation` (`s3:GetBucketEncryption`, `kms:DescribeKey`,
//! `monitoring:GetMetricStatistics`, `sts:AssumeRole`), the service taken from the SigV4
//! credential scope. Every request is counted under its operation ([`FaultProxy::counts`]).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// A request as the proxy saw it, fully read.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub method: Method,
    /// Path without the query, e.g. `/my-bucket`.
    pub path: String,
    /// Raw query string without `?`, e.g. `encryption` or `encryption=`.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RequestInfo {
    /// Part `n` of the SigV4 credential scope of the `Authorization` header
    /// (`AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/s3/aws4_request, ...`: 0 the
    /// access key, 2 the region, 3 the service); empty when unsigned.
    fn credential_part(&self, n: usize) -> String {
        self.headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|auth| auth.split("Credential=").nth(1))
            .and_then(|c| c.split([',', ' ']).next())
            .and_then(|scope| scope.split('/').nth(n))
            .unwrap_or_default()
            .to_owned()
    }

    /// The SigV4 service of the request (`s3`, `kms`, `sts`, `monitoring`); empty when
    /// unsigned.
    pub fn service(&self) -> String {
        self.credential_part(3)
    }

    /// The SigV4 region of the request; empty when unsigned.
    pub fn region(&self) -> String {
        self.credential_part(2)
    }

    /// The access key that signed the request (it tells the accounts apart); empty when
    /// unsigned.
    pub fn access_key(&self) -> String {
        self.credential_part(0)
    }

    /// The path-style S3 bucket: the first path segment, if any.
    pub fn bucket(&self) -> Option<&str> {
        self.path
            .trim_start_matches('/')
            .split('/')
            .next()
            .filter(|b| !b.is_empty())
    }

    /// True when the query has `key` as a parameter (`encryption`, `encryption=`, `max-buckets=5`).
    pub fn has_query_key(&self, key: &str) -> bool {
        self.query
            .split('&')
            .any(|p| p.split('=').next() == Some(key))
    }

    /// The value of the `X-Amz-Target` header (`TrentService.DescribeKey`), empty when absent.
    pub fn target(&self) -> &str {
        self.headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The operation, `service:Operation`, as AWS names it where the proxy can tell.
    pub fn operation(&self) -> String {
        let service = self.service();
        let op = if service == "s3" {
            self.s3_operation()
        } else if let Some((_, op)) = self.target().rsplit_once('.') {
            // JSON protocols (KMS: TrentService.DescribeKey).
            op.to_owned()
        } else if let Some(idx) = self.path.find("/operation/") {
            // Smithy RPC v2 CBOR: /service/<Service>/operation/<Operation>.
            self.path[idx + "/operation/".len()..].to_owned()
        } else if let Some(action) =
            form_value(&self.body, "Action").or_else(|| form_value(self.query.as_bytes(), "Action"))
        {
            // Query protocol (STS, CloudWatch): Action=AssumeRole.
            action
        } else if let Some(op) = rest_json_operation(&service, &self.method, &self.path) {
            op.to_owned()
        } else {
            format!("{} {}", self.method, self.path)
        };
        if service.is_empty() {
            op
        } else {
            format!("{service}:{op}")
        }
    }

    fn s3_operation(&self) -> String {
        const SUBRESOURCES: [(&str, &str); 10] = [
            ("encryption", "BucketEncryption"),
            ("tagging", "BucketTagging"),
            ("replication", "BucketReplication"),
            ("versioning", "BucketVersioning"),
            ("location", "BucketLocation"),
            ("policy", "BucketPolicy"),
            ("acl", "BucketAcl"),
            ("lifecycle", "BucketLifecycleConfiguration"),
            ("object-lock", "ObjectLockConfiguration"),
            ("ownershipControls", "BucketOwnershipControls"),
        ];
        let verb = match self.method {
            Method::GET => "Get",
            Method::PUT => "Put",
            Method::DELETE => "Delete",
            Method::HEAD => "Head",
            Method::POST => "Post",
            _ => "Other",
        };
        let object_key = self
            .path
            .trim_start_matches('/')
            .split_once('/')
            .is_some_and(|(_, k)| !k.is_empty());
        if self.bucket().is_none() {
            return if self.method == Method::GET {
                "ListBuckets".into()
            } else {
                format!("{verb}Service")
            };
        }
        if !object_key {
            if let Some((_, name)) = SUBRESOURCES.iter().find(|(q, _)| self.has_query_key(q)) {
                return format!("{verb}{name}");
            }
            return match self.method {
                Method::GET if self.has_query_key("list-type") => "ListObjectsV2".into(),
                Method::GET if self.has_query_key("versions") => "ListObjectVersions".into(),
                Method::GET => "ListObjects".into(),
                Method::PUT => "CreateBucket".into(),
                Method::DELETE => "DeleteBucket".into(),
                Method::HEAD => "HeadBucket".into(),
                _ => format!("{verb}Bucket"),
            };
        }
        match self.method {
            Method::HEAD => "HeadObject".into(),
            _ => format!("{verb}Object"),
        }
    }
}

/// The REST-JSON operations the agent calls (EFS, AWS Backup), by method and path as their
/// API references give them; other REST requests are named `METHOD /path`.
fn rest_json_operation(service: &str, method: &Method, path: &str) -> Option<&'static str> {
    if *method != Method::GET {
        return None;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    Some(match (service, segments.as_slice()) {
        ("elasticfilesystem", ["2015-02-01", "file-systems"]) => "DescribeFileSystems",
        ("elasticfilesystem", ["2015-02-01", "file-systems", "replication-configurations"]) => {
            "DescribeReplicationConfigurations"
        }
        ("backup", ["backup-vaults"]) => "ListBackupVaults",
        ("backup", ["backup-vaults", _, "recovery-points"]) => "ListRecoveryPointsByBackupVault",
        ("backup", ["backup", "plans"]) => "ListBackupPlans",
        ("backup", ["backup", "plans", _]) => "GetBackupPlan",
        _ => return None,
    })
}

fn form_value(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.to_owned())
    })
}

/// A complete HTTP answer: what the proxy sends back instead of, or rewritten from, upstream's.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn new(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        Self {
            status,
            headers,
            body: body.into(),
        }
    }

    pub fn body_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(HeaderName::from_static(name), v);
        }
        self
    }
}

/// AWS's real error shapes.
pub struct Fault;

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

fn request_id() -> String {
    format!(
        "LMFAULT{:012X}",
        REQUEST_IDS.fetch_add(1, Ordering::Relaxed)
    )
}

impl Fault {
    /// An S3 REST-XML error: `<Error><Code>..</Code><Message>..</Message><RequestId>..</RequestId></Error>`.
    pub fn s3_error(status: StatusCode, code: &str, message: &str) -> Answer {
        let id = request_id();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{id}</RequestId><HostId>{id}</HostId></Error>"
        );
        Answer::new(status, "application/xml", body)
            .with_header("x-amz-request-id", &id)
            .with_header("x-amz-id-2", &id)
    }

    /// S3 403 AccessDenied.
    pub fn s3_access_denied() -> Answer {
        Self::s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied")
    }

    /// S3 503 SlowDown with `Retry-After`.
    pub fn s3_slow_down(retry_after_secs: u32) -> Answer {
        Self::s3_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
        )
        .with_header("retry-after", &retry_after_secs.to_string())
    }

    /// An AWS JSON 1.1 error (KMS): status 400, `{"__type": .., "message": ..}`, `x-amzn-ErrorType`.
    pub fn json_error(error_type: &str, message: &str) -> Answer {
        let body = serde_json::json!({ "__type": error_type, "message": message }).to_string();
        Answer::new(StatusCode::BAD_REQUEST, "application/x-amz-json-1.1", body)
            .with_header("x-amzn-errortype", error_type)
            .with_header("x-amzn-requestid", &request_id())
    }

    /// KMS AccessDeniedException.
    pub fn kms_access_denied() -> Answer {
        Self::json_error(
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/landmeter-read/e2e is not authorized to perform: kms:DescribeKey on this resource because no resource-based policy allows the kms:DescribeKey action",
        )
    }

    /// KMS ThrottlingException.
    pub fn kms_throttling() -> Answer {
        Self::json_error("ThrottlingException", "Rate exceeded")
    }
}

/// Rewrites an upstream answer; gets the request it answers.
pub type Rewriter = Arc<dyn Fn(&RequestInfo, Answer) -> Answer + Send + Sync>;

#[derive(Clone)]
enum Action {
    Respond(Answer),
    Rewrite(Rewriter),
}

/// Which requests a rule applies to, and what it does. Every condition set must hold.
#[derive(Clone)]
pub struct Rule {
    method: Option<Method>,
    operation: Option<String>,
    bucket: Option<String>,
    path: Option<String>,
    query_key: Option<String>,
    target: Option<String>,
    body_contains: Option<String>,
    /// Apply to at most this many matching requests; then let them through.
    times: Option<u64>,
    /// The SigV4 service (`s3`, `kms`).
    service: Option<String>,
    /// The SigV4 region (`eu-west-1`).
    region: Option<String>,
    /// Apply to each matching request with this probability (a seeded draw).
    probability: Option<(f64, Arc<Mutex<u64>>)>,
    applied: Arc<AtomicU64>,
    action: Action,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("method", &self.method)
            .field("operation", &self.operation)
            .field("bucket", &self.bucket)
            .field("path", &self.path)
            .field("query_key", &self.query_key)
            .field("target", &self.target)
            .field("body_contains", &self.body_contains)
            .field("times", &self.times)
            .field("service", &self.service)
            .field("region", &self.region)
            .field("probability", &self.probability.as_ref().map(|(p, _)| *p))
            .finish_non_exhaustive()
    }
}

impl Rule {
    /// A rule matching every request; narrow it with the methods below.
    pub fn any() -> Self {
        Self {
            method: None,
            operation: None,
            bucket: None,
            path: None,
            query_key: None,
            target: None,
            body_contains: None,
            times: None,
            service: None,
            region: None,
            probability: None,
            applied: Arc::new(AtomicU64::new(0)),
            // Replaced by respond() or rewrite(); a bare rule passes answers through.
            action: Action::Rewrite(Arc::new(|_, a| a)),
        }
    }

    /// An S3 operation by name (`GetBucketEncryption`, `ListBuckets`, `HeadBucket`).
    pub fn s3(operation: &str) -> Self {
        Self::any().operation(&format!("s3:{operation}"))
    }

    /// Every S3 request.
    pub fn s3_any() -> Self {
        Self::any().service("s3")
    }

    /// Every KMS request.
    pub fn kms_any() -> Self {
        Self::any().service("kms")
    }

    /// The SigV4 service of the request, as [`RequestInfo::service`] names it.
    pub fn service(mut self, service: &str) -> Self {
        self.service = Some(service.to_owned());
        self
    }

    /// Apply to each matching request with probability `p`, drawn from a xorshift seeded
    /// with `seed` (the same seed gives the same sequence of draws).
    pub fn probability(mut self, p: f64, seed: u64) -> Self {
        self.probability = Some((p, Arc::new(Mutex::new(seed | 1))));
        self
    }

    /// Only requests signed for `region` (the SigV4 credential scope).
    pub fn region(mut self, region: &str) -> Self {
        self.region = Some(region.to_owned());
        self
    }

    /// A KMS operation by name: matches `X-Amz-Target: TrentService.<operation>`.
    pub fn kms(operation: &str) -> Self {
        Self::any().target(&format!("TrentService.{operation}"))
    }

    /// `service:Operation`, as [`RequestInfo::operation`] names it.
    pub fn operation(mut self, op: &str) -> Self {
        self.operation = Some(op.to_owned());
        self
    }

    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// The path-style bucket (first path segment).
    pub fn bucket(mut self, bucket: &str) -> Self {
        self.bucket = Some(bucket.to_owned());
        self
    }

    /// The exact path (without query).
    pub fn path(mut self, path: &str) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    /// A query parameter that must be present (`encryption`, `max-buckets`).
    pub fn query_key(mut self, key: &str) -> Self {
        self.query_key = Some(key.to_owned());
        self
    }

    /// The exact `X-Amz-Target` header.
    pub fn target(mut self, target: &str) -> Self {
        self.target = Some(target.to_owned());
        self
    }

    /// A substring of the request body (a key id in a KMS request).
    pub fn body_contains(mut self, needle: &str) -> Self {
        self.body_contains = Some(needle.to_owned());
        self
    }

    /// Apply to the first `n` matching requests only.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// Answer matching requests with `answer` instead of forwarding them.
    pub fn respond(mut self, answer: Answer) -> Self {
        self.action = Action::Respond(answer);
        self
    }

    /// Forward matching requests and pass upstream's answer through `f`.
    pub fn rewrite(
        mut self,
        f: impl Fn(&RequestInfo, Answer) -> Answer + Send + Sync + 'static,
    ) -> Self {
        self.action = Action::Rewrite(Arc::new(f));
        self
    }

    /// How many requests this rule (or a clone of it) has been applied to.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    fn matches(&self, req: &RequestInfo, operation: &str) -> bool {
        self.service.as_deref().is_none_or(|s| s == req.service())
            && self.region.as_deref().is_none_or(|r| r == req.region())
            && self.method.as_ref().is_none_or(|m| *m == req.method)
            && self.operation.as_deref().is_none_or(|o| o == operation)
            && self
                .bucket
                .as_deref()
                .is_none_or(|b| req.bucket() == Some(b))
            && self.path.as_deref().is_none_or(|p| p == req.path)
            && self
                .query_key
                .as_deref()
                .is_none_or(|k| req.has_query_key(k))
            && self.target.as_deref().is_none_or(|t| t == req.target())
            && self
                .body_contains
                .as_deref()
                .is_none_or(|needle| String::from_utf8_lossy(&req.body).contains(needle))
    }

    /// Counts the use and says whether the rule still applies.
    fn take(&self) -> bool {
        if let Some((p, state)) = &self.probability {
            let mut x = state.lock().expect("fault proxy rng poisoned");
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            let draw = (*x >> 11) as f64 / (1u64 << 53) as f64;
            if draw >= *p {
                return false;
            }
        }
        let n = self.applied.fetch_add(1, Ordering::Relaxed);
        match self.times {
            Some(limit) if n >= limit => {
                self.applied.fetch_sub(1, Ordering::Relaxed);
                false
            }
            _ => true,
        }
    }
}

/// Response rewriters for today's AWS behaviour.
pub mod today {
    use super::*;

    /// ListBuckets with `max-buckets` (a paginated request): add `<BucketRegion>` to every
    /// bucket, as AWS does. `region_of` answers a bucket's region by name.
    pub fn list_buckets_with_region(
        region_of: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Rule {
        Rule::s3("ListBuckets")
            .query_key("max-buckets")
            .rewrite(move |_, mut answer| {
                if answer.status != StatusCode::OK {
                    return answer;
                }
                let text = answer.body_text().into_owned();
                answer.body = add_bucket_regions(&text, &region_of).into();
                answer
            })
    }

    /// GetBucketEncryption on a bucket never configured: answer SSE-S3 (AES256), as AWS has
    /// since 2023-01-05, instead of `ServerSideEncryptionConfigurationNotFoundError`.
    pub fn unconfigured_encryption_is_aes256() -> Rule {
        Rule::s3("GetBucketEncryption").rewrite(|_, answer| {
            if answer.status == StatusCode::NOT_FOUND
                && answer
                    .body_text()
                    .contains("ServerSideEncryptionConfigurationNotFoundError")
            {
                Answer::new(StatusCode::OK, "application/xml", AES256_CONFIGURATION)
                    .with_header("x-amz-request-id", &request_id())
            } else {
                answer
            }
        })
    }

    pub const AES256_CONFIGURATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>";

    /// Inserts `<BucketRegion>` after each `<Name>` of a ListAllMyBucketsResult, unless present.
    pub fn add_bucket_regions(xml: &str, region_of: &dyn Fn(&str) -> Option<String>) -> String {
        let mut out = String::with_capacity(xml.len() + 64);
        let mut rest = xml;
        while let Some(start) = rest.find("<Bucket>") {
            let Some(end) = rest[start..].find("</Bucket>").map(|e| start + e) else {
                break;
            };
            out.push_str(&rest[..start]);
            let entry = &rest[start..end];
            out.push_str(entry);
            let name = entry
                .split("<Name>")
                .nth(1)
                .and_then(|n| n.split("</Name>").next());
            if !entry.contains("<BucketRegion>")
                && let Some(region) = name.and_then(region_of)
            {
                out.push_str(&format!("<BucketRegion>{region}</BucketRegion>"));
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }
}

struct Shared {
    upstream: SocketAddr,
    rules: Vec<Rule>,
    client: Client<HttpConnector, Full<Bytes>>,
    counts: Mutex<BTreeMap<String, u64>>,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Binds 127.0.0.1:0 and serves on the current tokio runtime.
    pub async fn start(upstream: SocketAddr, rules: Vec<Rule>) -> anyhow::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("fault proxy: bind 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            rules,
            client: Client::builder(TokioExecutor::new()).build_http(),
            counts: Mutex::new(BTreeMap::new()),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FaultProxy { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests seen so far, per operation (`s3:GetBucketEncryption` -> 12).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared
            .counts
            .lock()
            .expect("fault proxy counts poisoned")
            .clone()
    }

    /// Requests seen for one operation.
    pub fn count(&self, operation: &str) -> u64 {
        self.counts().get(operation).copied().unwrap_or(0)
    }

    /// Every request seen so far.
    pub fn total(&self) -> u64 {
        self.counts().values().sum()
    }

    /// Forgets the counts (e.g. between seeding and a measured scan).
    pub fn reset_counts(&self) {
        self.shared
            .counts
            .lock()
            .expect("fault proxy counts poisoned")
            .clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Dropping the accept task drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(shared: &Shared, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    match proxy(shared, req).await {
        Ok(answer) => into_response(answer),
        Err(e) => into_response(Fault::s3_error(
            StatusCode::BAD_GATEWAY,
            "ProxyError",
            &format!("fault proxy: {e:#}"),
        )),
    }
}

async fn proxy(shared: &Shared, req: hyper::Request<Incoming>) -> anyhow::Result<Answer> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .context("read request body")?
        .to_bytes();
    let info = RequestInfo {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers.clone(),
        body,
    };
    let operation = info.operation();
    *shared
        .counts
        .lock()
        .expect("fault proxy counts poisoned")
        .entry(operation.clone())
        .or_default() += 1;

    let rule = shared
        .rules
        .iter()
        .find(|r| r.matches(&info, &operation) && r.take());
    if let Some(Rule {
        action: Action::Respond(answer),
        ..
    }) = rule
    {
        return Ok(answer.clone());
    }

    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let uri: hyper::Uri = format!("http://{}{}", shared.upstream, path_and_query).parse()?;
    let mut upstream_req = hyper::Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .body(Full::new(info.body.clone()))?;
    *upstream_req.headers_mut() = parts.headers.clone();
    strip_hop_by_hop(upstream_req.headers_mut());
    let resp = shared
        .client
        .request(upstream_req)
        .await
        .with_context(|| format!("forward {operation} to {}", shared.upstream))?;
    let (rparts, rbody) = resp.into_parts();
    let rbody = rbody
        .collect()
        .await
        .context("read upstream body")?
        .to_bytes();
    let answer = Answer {
        status: rparts.status,
        headers: rparts.headers,
        body: rbody,
    };
    Ok(match rule {
        Some(Rule {
            action: Action::Rewrite(f),
            ..
        }) => f(&info, answer),
        _ => answer,
    })
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::TE,
        header::TRAILER,
        header::PROXY_AUTHORIZATION,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

fn into_response(answer: Answer) -> hyper::Response<Full<Bytes>> {
    let mut headers = answer.headers;
    strip_hop_by_hop(&mut headers);
    // The body may have been rewritten: let hyper compute the length.
    headers.remove(header::CONTENT_LENGTH);
    let mut resp = hyper::Response::new(Full::new(answer.body));
    *resp.status_mut() = answer.status;
    *resp.headers_mut() = headers;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, path: &str, query: &str) -> RequestInfo {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=test/20260101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=x",
            ),
        );
        RequestInfo {
            method,
            path: path.into(),
            query: query.into(),
            headers,
            body: Bytes::new(),
        }
    }

    #[test]
    fn s3_operations_are_named_like_aws() {
        let cases = [
            (Method::GET, "/", "max-buckets=1000", "s3:ListBuckets"),
            (Method::GET, "/b", "encryption", "s3:GetBucketEncryption"),
            (Method::GET, "/b", "encryption=", "s3:GetBucketEncryption"),
            (Method::PUT, "/b", "encryption", "s3:PutBucketEncryption"),
            (Method::GET, "/b/", "tagging", "s3:GetBucketTagging"),
            (Method::HEAD, "/b", "", "s3:HeadBucket"),
            (Method::PUT, "/b", "", "s3:CreateBucket"),
            (Method::GET, "/b", "list-type=2", "s3:ListObjectsV2"),
            (Method::PUT, "/b/k/x", "", "s3:PutObject"),
        ];
        for (method, path, query, op) in cases {
            assert_eq!(req(method, path, query).operation(), op, "{path}?{query}");
        }
    }

    #[test]
    fn rest_json_operations_are_named_like_aws() {
        let signed = |service: &str, path: &str| {
            let mut r = req(Method::GET, path, "");
            r.headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!(
                    "AWS4-HMAC-SHA256 Credential=test/20260101/eu-west-1/{service}/aws4_request, SignedHeaders=host, Signature=x"
                ))
                .expect("header"),
            );
            r.operation()
        };
        let cases = [
            (
                "elasticfilesystem",
                "/2015-02-01/file-systems/replication-configurations",
                "elasticfilesystem:DescribeReplicationConfigurations",
            ),
            (
                "elasticfilesystem",
                "/2015-02-01/file-systems",
                "elasticfilesystem:DescribeFileSystems",
            ),
            (
                "backup",
                "/backup-vaults/main/recovery-points",
                "backup:ListRecoveryPointsByBackupVault",
            ),
            (
                "backup",
                "/backup-vaults/main/recovery-points/",
                "backup:ListRecoveryPointsByBackupVault",
            ),
            ("backup", "/backup-vaults/", "backup:ListBackupVaults"),
            ("backup", "/backup/plans/abc/", "backup:GetBackupPlan"),
            (
                "backup",
                "/backup-vaults/main",
                "backup:GET /backup-vaults/main",
            ),
        ];
        for (service, path, op) in cases {
            assert_eq!(signed(service, path), op, "{path}");
        }
    }

    #[test]
    fn bucket_regions_are_added_once() {
        let xml = "<R><Buckets><Bucket><Name>a</Name><CreationDate>x</CreationDate></Bucket><Bucket><Name>b</Name><BucketRegion>us-east-1</BucketRegion></Bucket><Bucket><Name>c</Name></Bucket></Buckets></R>";
        let out = today::add_bucket_regions(xml, &|n| (n != "c").then(|| "eu-west-1".to_owned()));
        assert_eq!(
            out,
            "<R><Buckets><Bucket><Name>a</Name><CreationDate>x</CreationDate><BucketRegion>eu-west-1</BucketRegion></Bucket><Bucket><Name>b</Name><BucketRegion>us-east-1</BucketRegion></Bucket><Bucket><Name>c</Name></Bucket></Buckets></R>"
        );
    }
}
