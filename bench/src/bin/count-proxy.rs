//! Agent benchmark helpers (`bench/agent/run.py` drives them):
//!
//! - `count-proxy proxy`: an HTTP/1.1 forwarding proxy in front of an emulator that counts
//!   requests, in total and per operation. A second, control port answers any request with
//!   the counts as JSON (`GET /reset` zeroes them after answering). Bytes are forwarded
//!   unchanged; only request heads are parsed, to find where one request ends.
//!   `--delay-ms D --jitter-ms J` is the latency model: every request is held D ms, plus a
//!   uniform 0..=J ms, before it is forwarded (a cloud API's round trip from a data centre,
//!   which an emulator on loopback does not have); the counts then also say how many
//!   requests were in flight at most (`peak_in_flight`), the tool's parallelism as seen on
//!   the wire. `GET /reset?trace=PATH` also starts a trace: one line per answered request,
//!   `arrived_ms forwarded_ms answered_ms operation` (milliseconds since that reset), which
//!   `bench/agent/trace.py` turns into where a tool's wall time went.
//! - `count-proxy ceiling`: the emulator ceiling, a minimal raw client that sends
//!   `GetBucketEncryption` requests over keep-alive connections as fast as the emulator
//!   answers them, and prints requests per second as JSON.
//!
//! Plain tokio sockets, no HTTP library: the proxy must not be the bottleneck it measures,
//! and it must forward whatever each tool sends (chunked bodies, `Expect: 100-continue`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Parser)]
#[command(about = "Counting HTTP proxy and emulator ceiling client for the agent benchmark")]
enum Cli {
    /// Forward to `upstream`, counting requests. Prints `{"port":P,"control":C}` once ready.
    Proxy {
        #[arg(long)]
        upstream: String,
        /// Fixed delay added to every request before it is forwarded, in milliseconds.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// Uniform random extra delay per request, 0 to this many milliseconds.
        #[arg(long, default_value_t = 0)]
        jitter_ms: u64,
        /// Answer this share of requests (0-100, deterministic per request number) with
        /// the service's throttling error instead of forwarding them (S3 `SlowDown`, EC2
        /// `RequestLimitExceeded`, JSON `ThrottlingException`, query `Throttling`).
        #[arg(long, default_value_t = 0.0)]
        throttle_percent: f64,
        /// Rate-based throttling, as a cloud applies it: requests above this many per second
        /// per region and service (the SigV4 credential scope) are answered with the
        /// service's throttling error. A token bucket per scope, holding a tenth of a
        /// second's worth (at least one). 0: off.
        #[arg(long, default_value_t = 0.0)]
        throttle_rate: f64,
    },
    /// Raw GetBucketEncryption loop against `target`; prints JSON with requests per second.
    Ceiling {
        #[arg(long)]
        target: String,
        /// File with one `bucket region` pair a line (requests cycle through them, each
        /// signed for its bucket's region, as ministack checks).
        #[arg(long)]
        buckets: std::path::PathBuf,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Bucket requests sent per bucket, in turn: S3 subresources (`encryption`,
        /// `tagging`, `replication`, ...) or `HEAD` (HeadBucket). Default: GetBucketEncryption.
        #[arg(long, value_delimiter = ',', default_value = "encryption")]
        ops: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli {
            Cli::Proxy {
                upstream,
                delay_ms,
                jitter_ms,
                throttle_percent,
                throttle_rate,
            } => {
                let latency = Latency {
                    delay: Duration::from_millis(delay_ms),
                    jitter_ms,
                    throttle: throttle_percent.clamp(0.0, 100.0) / 100.0,
                };
                proxy(upstream, latency, RateLimit::new(throttle_rate)).await
            }
            Cli::Ceiling {
                target,
                buckets,
                concurrency,
                seconds,
                ops,
            } => ceiling(target, buckets, concurrency, seconds, ops).await,
        }
    })
}

/// The latency model: each request waits `delay` plus a uniform `0..=jitter_ms` ms; a share
/// `throttle` of them is then answered with a throttling error.
#[derive(Debug, Clone, Copy)]
struct Latency {
    delay: Duration,
    jitter_ms: u64,
    throttle: f64,
}

/// Rate-based throttling: a token bucket per credential scope (region and service), filled
/// at `rate` per second up to `burst`.
#[derive(Debug)]
struct RateLimit {
    rate: f64,
    burst: f64,
    /// Scope -> (tokens, when they were counted).
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimit {
    fn new(rate: f64) -> RateLimit {
        RateLimit {
            rate: rate.max(0.0),
            burst: (rate / 10.0).max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a request of `scope` arriving `now` is within the rate (and takes a token).
    fn admits(&self, scope: &str, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, counted) = buckets.entry(scope.to_owned()).or_insert((self.burst, now));
        let refill = now.saturating_duration_since(*counted).as_secs_f64() * self.rate;
        *tokens = (*tokens + refill).min(self.burst);
        *counted = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// splitmix64: a well-spread hash of a request number (repeatable runs, no random crate).
fn mix(n: u64, salt: u64) -> u64 {
    let mut z = n.wrapping_add(salt).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Latency {
    /// Whether the `n`-th request is answered "throttled".
    fn throttles(&self, n: u64) -> bool {
        self.throttle > 0.0
            && ((mix(n, 0x7468_726f_7474_6c65) % 1_000_000) as f64) < self.throttle * 1e6
    }

    /// The hold of the `n`-th request: the jitter from a hash of `n` (splitmix64), so a run
    /// is repeatable and needs no random-number crate.
    fn hold(&self, n: u64) -> Duration {
        if self.jitter_ms == 0 {
            return self.delay;
        }
        let micros = mix(n, 0) % (self.jitter_ms * 1000 + 1);
        self.delay + Duration::from_micros(micros)
    }
}

#[derive(Default)]
struct Counts {
    total: AtomicU64,
    /// Requests received and not yet answered (held by the latency model included).
    in_flight: AtomicU64,
    /// The most requests in flight at once since the last reset.
    peak_in_flight: AtomicU64,
    /// Requests answered with a throttling error by the proxy itself.
    throttled: AtomicU64,
    /// Operation -> (requests, milliseconds from request sent to first response byte).
    by_op: Mutex<BTreeMap<String, (u64, f64)>>,
    /// The trace file started by the last `/reset?trace=PATH`, with its time zero.
    trace: Mutex<Option<(std::fs::File, Instant)>>,
}

/// One request's times, for the trace.
#[derive(Clone)]
struct Pending {
    op: String,
    arrived: Instant,
    sent: Instant,
}

impl Counts {
    /// A request arrived: in flight until [`Counts::done`]. Returns its sequence number.
    fn arrived(&self) -> u64 {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        self.total.load(Ordering::Relaxed)
    }

    fn done(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    fn add(&self, op: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut ops = self.by_op.lock().unwrap_or_else(|p| p.into_inner());
        match ops.get_mut(op) {
            Some(entry) => entry.0 += 1,
            None => {
                ops.insert(op.to_owned(), (1, 0.0));
            }
        }
    }

    fn answered(&self, request: &Pending) {
        let now = Instant::now();
        {
            let mut ops = self.by_op.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = ops.get_mut(&request.op) {
                entry.1 += (now - request.sent).as_secs_f64() * 1000.0;
            }
        }
        let mut trace = self.trace.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((file, zero)) = trace.as_mut() {
            let ms = |t: Instant| t.saturating_duration_since(*zero).as_secs_f64() * 1000.0;
            use std::io::Write;
            // A lost trace line is a bench diagnostic lost, not a wrong count.
            let _ = writeln!(
                file,
                "{:.3} {:.3} {:.3} {}",
                ms(request.arrived),
                ms(request.sent),
                ms(now),
                request.op
            );
        }
    }

    /// `/reset?trace=PATH`: trace into PATH (truncated) from now on; a plain `/reset` stops
    /// tracing.
    fn restart_trace(&self, request_line: &str) -> anyhow::Result<()> {
        let path = request_line
            .split_whitespace()
            .nth(1)
            .and_then(|target| target.split_once("trace="))
            .map(|(_, path)| path.split('&').next().unwrap_or(path).to_owned());
        let file = match path {
            Some(path) => {
                Some(std::fs::File::create(&path).with_context(|| format!("trace {path}"))?)
            }
            None => None,
        };
        *self.trace.lock().unwrap_or_else(|p| p.into_inner()) = file.map(|f| (f, Instant::now()));
        Ok(())
    }

    fn json_and_maybe_reset(&self, reset: bool) -> String {
        let mut ops = self.by_op.lock().unwrap_or_else(|p| p.into_inner());
        let body = serde_like_json(
            self.total.load(Ordering::Relaxed),
            self.peak_in_flight.load(Ordering::Relaxed),
            self.throttled.load(Ordering::Relaxed),
            &ops,
        );
        if reset {
            self.total.store(0, Ordering::Relaxed);
            self.throttled.store(0, Ordering::Relaxed);
            self.peak_in_flight
                .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
            ops.clear();
        }
        body
    }
}

/// `{"requests":N,"peak_in_flight":P,"throttled":T,"by_op":{"op":{"n":n,"ms":ms},...}}`
/// (operation names are ASCII).
fn serde_like_json(
    total: u64,
    peak: u64,
    throttled: u64,
    ops: &BTreeMap<String, (u64, f64)>,
) -> String {
    let ops: Vec<String> = ops
        .iter()
        .map(|(op, (n, ms))| {
            format!(
                "\"{}\":{{\"n\":{n},\"ms\":{ms:.1}}}",
                op.replace(['"', '\\'], "_")
            )
        })
        .collect();
    format!(
        "{{\"requests\":{total},\"peak_in_flight\":{peak},\"throttled\":{throttled},\"by_op\":{{{}}}}}",
        ops.join(",")
    )
}

async fn proxy(upstream: String, latency: Latency, rate: RateLimit) -> anyhow::Result<()> {
    let rate = Arc::new(rate);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let control = TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "{{\"port\":{},\"control\":{}}}",
        listener.local_addr()?.port(),
        control.local_addr()?.port()
    );
    let counts = Arc::new(Counts::default());
    let control_counts = Arc::clone(&counts);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = control.accept().await {
            let counts = Arc::clone(&control_counts);
            tokio::spawn(async move {
                let mut reader = BufReader::new(&mut socket);
                let mut line = String::new();
                if reader.read_line(&mut line).await.is_err() {
                    return;
                }
                let reset = line.contains("/reset");
                if reset && let Err(err) = counts.restart_trace(&line) {
                    eprintln!("count-proxy: {err:#}");
                }
                let body = counts.json_and_maybe_reset(reset);
                let answer = format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    loop {
        let (client, _) = listener.accept().await?;
        let counts = Arc::clone(&counts);
        let rate = Arc::clone(&rate);
        let upstream = upstream.clone();
        tokio::spawn(async move {
            if let Err(err) = relay(client, &upstream, &counts, latency, &rate).await {
                eprintln!("count-proxy: connection ended: {err:#}");
            }
        });
    }
}

/// One client connection: requests are parsed and forwarded upstream, responses copied back
/// verbatim. When either side closes, both close.
async fn relay(
    client: TcpStream,
    upstream: &str,
    counts: &Counts,
    latency: Latency,
    rate: &RateLimit,
) -> anyhow::Result<()> {
    client.set_nodelay(true)?;
    let server = TcpStream::connect(upstream)
        .await
        .with_context(|| format!("connect {upstream}"))?;
    server.set_nodelay(true)?;
    let (client_read, client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Shared: the proxy answers throttled requests itself, between the server's answers
    // (no client pipelines, so they never interleave with one).
    let client_write = tokio::sync::Mutex::new(client_write);
    // The request waiting for its answer: no client pipelines, so the next bytes from the
    // server start its response.
    let pending: Mutex<Option<Pending>> = Mutex::new(None);
    let responses = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let answered = pending.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(request) = answered {
                counts.answered(&request);
                counts.done();
            }
            if client_write
                .lock()
                .await
                .write_all(&buf[..n])
                .await
                .is_err()
            {
                break;
            }
        }
        let _ = client_write.lock().await.shutdown().await;
    };
    let requests = async {
        let mut reader = BufReader::with_capacity(64 * 1024, client_read);
        while let Some(head) = read_head(&mut reader).await? {
            let info = RequestInfo::parse(&head);
            let arrived = Instant::now();
            // Held before anything is forwarded: the emulator sees the request only after
            // the modelled round trip, and the client waits for its answer that much longer.
            let n = counts.arrived();
            let hold = latency.hold(n);
            if !hold.is_zero() {
                tokio::time::sleep(hold).await;
            }
            // Pending is set before the request leaves, so its answer cannot come first.
            let sent = |op: String| {
                counts.add(&op);
                *pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(Pending {
                    op,
                    arrived,
                    sent: Instant::now(),
                });
            };
            match info.body {
                BodyLen::Fixed(n) if info.expect_continue => {
                    // The client waits for `100 Continue` before it sends the body.
                    sent(info.operation(&[]));
                    server_write.write_all(&head).await?;
                    tokio::io::copy(&mut (&mut reader).take(n), &mut server_write).await?;
                }
                BodyLen::Fixed(len) => {
                    let mut body = Vec::with_capacity(len.min(1 << 20) as usize);
                    (&mut reader).take(len).read_to_end(&mut body).await?;
                    // Judged when the request reaches the "service", after its hold.
                    let refused = latency.throttles(n)
                        || !rate.admits(info.scope.as_deref().unwrap_or(""), Instant::now());
                    if refused && info.method != "HEAD" {
                        counts.add(&info.operation(&body));
                        counts.throttled.fetch_add(1, Ordering::Relaxed);
                        counts.done();
                        let answer = throttling_answer(&info, &body);
                        client_write.lock().await.write_all(&answer).await?;
                        continue;
                    }
                    sent(info.operation(&body));
                    server_write.write_all(&head).await?;
                    server_write.write_all(&body).await?;
                }
                BodyLen::Chunked => {
                    sent(info.operation(&[]));
                    server_write.write_all(&head).await?;
                    copy_chunked(&mut reader, &mut server_write).await?;
                }
            }
        }
        let _ = server_write.shutdown().await;
        anyhow::Ok(())
    };
    tokio::select! {
        () = responses => Ok(()),
        r = requests => r,
    }
}

/// The service's own throttling error for a request, as a whole HTTP/1.1 response.
fn throttling_answer(info: &RequestInfo, body: &[u8]) -> Vec<u8> {
    let form = String::from_utf8_lossy(body);
    let (status, content_type, extra, text) = match info.service.as_deref() {
        Some("s3") => (
            "503 Slow Down",
            "application/xml",
            "",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>LMBENCH</RequestId></Error>".to_owned(),
        ),
        Some("ec2") => (
            "503 Service Unavailable",
            "text/xml;charset=UTF-8",
            "",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>LMBENCH</RequestID></Response>".to_owned(),
        ),
        _ if info.amz_target.is_some() => (
            "400 Bad Request",
            "application/x-amz-json-1.1",
            "x-amzn-ErrorType: ThrottlingException\r\n",
            "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}".to_owned(),
        ),
        _ if form.contains("Action=") || info.target.contains("Action=") => (
            "400 Bad Request",
            "text/xml",
            "",
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>LMBENCH</RequestId></ErrorResponse>".to_owned(),
        ),
        _ => (
            "429 Too Many Requests",
            "application/json",
            "x-amzn-ErrorType: ThrottlingException\r\n",
            "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}".to_owned(),
        ),
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\n\r\n{text}",
        text.len()
    )
    .into_bytes()
}

/// Reads one message head (through the blank line); `None` at a clean end of stream.
async fn read_head<R: AsyncBufRead + Unpin>(reader: &mut R) -> anyhow::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(1024);
    loop {
        let start = head.len();
        let n = reader.read_until(b'\n', &mut head).await?;
        if n == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            bail!("connection closed inside a message head");
        }
        let line = &head[start..];
        if line == b"\r\n" || line == b"\n" {
            if start == 0 {
                // Stray blank line between messages (allowed by RFC 9112).
                head.clear();
                continue;
            }
            return Ok(Some(head));
        }
        if head.len() > 256 * 1024 {
            bail!("message head over 256 KiB");
        }
    }
}

async fn copy_chunked<R, W>(reader: &mut R, writer: &mut W) -> anyhow::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let mut size_line = Vec::new();
        reader.read_until(b'\n', &mut size_line).await?;
        writer.write_all(&size_line).await?;
        let text = String::from_utf8_lossy(&size_line);
        let hex = text.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(hex, 16).with_context(|| format!("chunk size {hex:?}"))?;
        if size == 0 {
            // Trailers, then the blank line.
            loop {
                let mut line = Vec::new();
                reader.read_until(b'\n', &mut line).await?;
                writer.write_all(&line).await?;
                if line == b"\r\n" || line == b"\n" || line.is_empty() {
                    return Ok(());
                }
            }
        }
        let mut chunk = Vec::new();
        (&mut *reader)
            .take(size + 2)
            .read_to_end(&mut chunk)
            .await?;
        writer.write_all(&chunk).await?;
    }
}

enum BodyLen {
    Fixed(u64),
    Chunked,
}

struct RequestInfo {
    method: String,
    target: String,
    amz_target: Option<String>,
    /// The service of the SigV4 credential scope (`Credential=AKID/date/region/service/...`).
    service: Option<String>,
    /// `region/service` of the credential scope: what a rate limit applies to.
    scope: Option<String>,
    body: BodyLen,
    expect_continue: bool,
}

impl RequestInfo {
    fn parse(head: &[u8]) -> Self {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_owned();
        let target = first.next().unwrap_or("").to_owned();
        let mut body = BodyLen::Fixed(0);
        let mut amz_target = None;
        let mut service = None;
        let mut scope = None;
        let mut expect_continue = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                body = BodyLen::Fixed(value.parse().unwrap_or(0));
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                body = BodyLen::Chunked;
            } else if name.eq_ignore_ascii_case("x-amz-target") {
                amz_target = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("authorization") {
                let credential: Vec<&str> = value
                    .split_once("Credential=")
                    .map(|(_, c)| c.split(['/', ',']).take(4).collect())
                    .unwrap_or_default();
                service = credential.get(3).map(|s| (*s).to_owned());
                scope = credential
                    .get(2)
                    .zip(credential.get(3))
                    .map(|(region, service)| format!("{region}/{service}"));
            } else if name.eq_ignore_ascii_case("expect") {
                expect_continue = value.eq_ignore_ascii_case("100-continue");
            }
        }
        RequestInfo {
            method,
            target,
            amz_target,
            service,
            scope,
            body,
            expect_continue,
        }
    }

    /// A name for the operation: `X-Amz-Target` (JSON protocols: KMS), `Action=` of a form
    /// body (query protocols: STS, CloudWatch, EC2, RDS), the path of another REST service
    /// with its ids as `{id}` (`backup GET /backup/plans/{id}/`), else the S3 shape
    /// `GET /b?encryption`.
    fn operation(&self, body: &[u8]) -> String {
        if let Some(target) = &self.amz_target {
            return target.rsplit('.').next().unwrap_or(target).to_owned();
        }
        let body = String::from_utf8_lossy(body);
        let (path, query) = self.target.split_once('?').unwrap_or((&self.target, ""));
        let form = if body.contains("Action=") {
            body.as_ref()
        } else {
            query
        };
        if let Some(action) = form
            .split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
        {
            return action.to_owned();
        }
        if let Some(service) = self.service.as_deref().filter(|s| *s != "s3") {
            let path: Vec<&str> = path
                .split('/')
                .map(|seg| if is_id(seg) { "{id}" } else { seg })
                .collect();
            return format!("{service} {} {}", self.method, path.join("/"));
        }
        let shape = match path.trim_start_matches('/').split_once('/') {
            _ if path == "/" || path.is_empty() => "/",
            Some((_, key)) if !key.is_empty() => "/b/k",
            _ => "/b",
        };
        let mut keys: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split('=').next().unwrap_or(p))
            .filter(|k| !k.starts_with("X-Amz-") && !k.starts_with("x-id"))
            .collect();
        keys.sort_unstable();
        if keys.is_empty() {
            format!("{} {shape}", self.method)
        } else {
            format!("{} {shape}?{}", self.method, keys.join("&"))
        }
    }
}

/// A path segment naming one resource (a UUID, `fs-0123abcd`), not an API's fixed path; an
/// API version such as `2015-02-01` is not one.
fn is_id(segment: &str) -> bool {
    let digits = segment.bytes().filter(u8::is_ascii_digit).count();
    let letters = segment.bytes().filter(u8::is_ascii_alphabetic).count();
    digits > 0 && (letters > 0 || segment.len() > 12)
}

async fn ceiling(
    target: String,
    buckets: std::path::PathBuf,
    concurrency: usize,
    seconds: f64,
    ops: Vec<String>,
) -> anyhow::Result<()> {
    let names: Vec<(String, String)> = std::fs::read_to_string(&buckets)
        .with_context(|| format!("read {}", buckets.display()))?
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next()?.to_owned();
            Some((name, parts.next().unwrap_or("us-east-1").to_owned()))
        })
        .collect();
    if names.is_empty() {
        bail!("no bucket names in {}", buckets.display());
    }
    let names = Arc::new(names);
    let ops = Arc::new(ops);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, u64>::new()));
    let concurrency = concurrency.max(1);
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let names = Arc::clone(&names);
        let target = target.clone();
        let statuses = Arc::clone(&statuses);
        let ops = Arc::clone(&ops);
        workers.push(tokio::spawn(async move {
            // Request counter: bucket i / ops.len(), op i % ops.len().
            let mut i = w * ops.len();
            let mut conn: Option<BufReader<TcpStream>> = None;
            let mut done = 0u64;
            let mut local: BTreeMap<u16, u64> = BTreeMap::new();
            while Instant::now() < deadline {
                let (bucket, region) = &names[(i / ops.len()) % names.len()];
                let op = &ops[i % ops.len()];
                i += if (i + 1).is_multiple_of(ops.len()) {
                    // Next bucket of this worker: buckets are dealt round-robin.
                    (concurrency - 1) * ops.len() + 1
                } else {
                    1
                };
                let (method, query) = if op == "HEAD" {
                    ("HEAD", String::new())
                } else {
                    ("GET", format!("?{op}"))
                };
                let stream = match conn.as_mut() {
                    Some(s) => s,
                    None => {
                        let s = TcpStream::connect(&target).await?;
                        s.set_nodelay(true)?;
                        conn.insert(BufReader::new(s))
                    }
                };
                // Emulators do not check signatures; the header names the access key (account).
                let request = format!(
                    "{method} /{bucket}{query} HTTP/1.1\r\nHost: {target}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20261129/{region}/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\r\nx-amz-date: 20261129T000000Z\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Length: 0\r\n\r\n"
                );
                stream.get_mut().write_all(request.as_bytes()).await?;
                let (status, keep) = read_response(stream, method == "HEAD").await?;
                *local.entry(status).or_default() += 1;
                done += 1;
                if !keep {
                    conn = None;
                }
            }
            let mut all = statuses.lock().unwrap_or_else(|p| p.into_inner());
            for (s, n) in local {
                *all.entry(s).or_default() += n;
            }
            anyhow::Ok(done)
        }));
    }
    let mut total = 0;
    for worker in workers {
        total += worker.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let statuses = statuses.lock().unwrap_or_else(|p| p.into_inner());
    let by_status: Vec<String> = statuses
        .iter()
        .map(|(s, n)| format!("\"{s}\":{n}"))
        .collect();
    println!(
        "{{\"ops\":\"{}\",\"requests\":{total},\"seconds\":{elapsed:.3},\"per_second\":{:.1},\"concurrency\":{concurrency},\"by_status\":{{{}}}}}",
        ops.join(","),
        total as f64 / elapsed,
        by_status.join(",")
    );
    Ok(())
}

/// Reads one response; returns its status and whether the connection stays open.
async fn read_response(
    stream: &mut BufReader<TcpStream>,
    head_request: bool,
) -> anyhow::Result<(u16, bool)> {
    let head = read_head(stream)
        .await?
        .context("server closed the connection")?;
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("bad status line")?;
    let mut keep = status_line.starts_with("HTTP/1.1");
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_ascii_lowercase();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            keep = value.contains("keep-alive") || (keep && !value.contains("close"));
        }
    }
    if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        // No body, whatever Content-Length says.
    } else if chunked {
        copy_chunked(stream, &mut tokio::io::sink()).await?;
    } else if let Some(n) = length {
        let mut sink = tokio::io::sink();
        tokio::io::copy(&mut (&mut *stream).take(n), &mut sink).await?;
    } else {
        // Body until close.
        let mut sink = tokio::io::sink();
        tokio::io::copy(stream, &mut sink).await?;
        keep = false;
    }
    Ok((status, keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operation of a request `line` signed for `service`, with `extra` header lines.
    fn op(line: &str, service: &str, extra: &str, body: &str) -> String {
        let head = format!(
            "{line} HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n{extra}\r\n"
        );
        RequestInfo::parse(head.as_bytes()).operation(body.as_bytes())
    }

    #[test]
    fn rate_limit_admits_a_burst_then_the_rate_per_scope() {
        let limit = RateLimit::new(100.0);
        let t0 = Instant::now();
        // A tenth of a second's worth at once, then nothing until tokens come back.
        let admitted = (0..20).filter(|_| limit.admits("eu-west-1/s3", t0)).count();
        assert_eq!(admitted, 10);
        // 50 ms later: five more at 100 per second.
        let t1 = t0 + Duration::from_millis(50);
        let admitted = (0..20).filter(|_| limit.admits("eu-west-1/s3", t1)).count();
        assert_eq!(admitted, 5);
        // Another region, another service: buckets of their own.
        assert!(limit.admits("us-east-1/s3", t1));
        assert!(limit.admits("eu-west-1/kms", t1));
        // Off: everything passes.
        let off = RateLimit::new(0.0);
        assert!((0..1000).all(|_| off.admits("eu-west-1/s3", t0)));
    }

    #[test]
    fn scope_is_region_and_service_of_the_credential() {
        let head = "GET /b?encryption HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\n\r\n";
        let info = RequestInfo::parse(head.as_bytes());
        assert_eq!(info.scope.as_deref(), Some("eu-west-1/s3"));
        assert_eq!(info.service.as_deref(), Some("s3"));
    }

    #[test]
    fn latency_holds_the_delay_plus_bounded_jitter() {
        let fixed = Latency {
            delay: Duration::from_millis(25),
            jitter_ms: 0,
            throttle: 0.0,
        };
        assert!(!(0..1000).any(|n| fixed.throttles(n)));
        assert_eq!(fixed.hold(7), Duration::from_millis(25));
        let jittered = Latency {
            delay: Duration::from_millis(25),
            jitter_ms: 10,
            throttle: 0.3,
        };
        // 30 % throttled, spread over the requests.
        let throttled = (0..10_000).filter(|&n| jittered.throttles(n)).count();
        assert!((2_700..3_300).contains(&throttled), "{throttled}");
        let holds: Vec<Duration> = (0..1000).map(|n| jittered.hold(n)).collect();
        assert!(
            holds
                .iter()
                .all(|h| (Duration::from_millis(25)..=Duration::from_millis(35)).contains(h))
        );
        // Spread over the range, not one value; and the same request number, the same hold.
        let mean = holds.iter().sum::<Duration>() / 1000;
        assert!(
            (Duration::from_millis(28)..Duration::from_millis(32)).contains(&mean),
            "{mean:?}"
        );
        assert_eq!(jittered.hold(3), jittered.hold(3));
    }

    #[test]
    fn operations_are_named_per_protocol() {
        let target = "X-Amz-Target: DynamoDB_20120810.DescribeTable\r\n";
        assert_eq!(op("POST /", "dynamodb", target, ""), "DescribeTable");
        let form = "Action=DescribeDBInstances&Version=2014-10-31";
        assert_eq!(op("POST /", "rds", "", form), "DescribeDBInstances");
        let plan = "GET /backup/plans/8e1c7f5a-0d4e-4a7b-9a52-1f0e2b3c4d5e/";
        assert_eq!(op(plan, "backup", "", ""), "backup GET /backup/plans/{id}/");
        let efs = "GET /2015-02-01/file-systems";
        assert_eq!(
            op(efs, "elasticfilesystem", "", ""),
            "elasticfilesystem GET /2015-02-01/file-systems"
        );
        let s3 = "GET /lm-bench-00001?encryption";
        assert_eq!(op(s3, "s3", "", ""), "GET /b?encryption");
    }
}
