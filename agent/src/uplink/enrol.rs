//! Enrolment and renewal of the agent's client certificate; the private key is made here and
//! never leaves this host.
//!
//! [`enroll`] (`landmeter-agent enroll`):
//! 1. asks the collector for its CA (`EnrolService.GetCa`) over TLS whose server certificate
//!    is not verified yet (nothing secret is sent on that connection), and compares the CA's
//!    SHA-256 fingerprint with the one the operator gave (`--ca-fingerprint`); a mismatch
//!    stops here;
//! 2. makes a key (ECDSA P-256) and a CSR, and sends them with the one-time token over a
//!    new TLS connection verified against that CA (`EnrolService.Enroll`);
//! 3. writes `ca.pem`, `agent.pem` and `agent.key` (0600) into the folder, each atomically.
//!
//! [`run_renewal`] (inside `landmeter-agent run`): at two thirds of the certificate's
//! lifetime, a new key and CSR go to `EnrolService.Renew` over mutual TLS with the current
//! certificate; the new certificate and key replace the files and the [`ClientIdentity`] the
//! uplink reads on every new connection, so no restart is needed. Time is the scheduler's
//! [`Clock`] on tokio's clock, so tests run a month under `tokio::time::pause()`.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use landmeter_proto::v1::enrol_service_client::EnrolServiceClient;
use landmeter_proto::v1::{EnrollRequest, GetCaRequest, RenewRequest};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::sync::watch;

use crate::schedule::Clock;

/// The files [`enroll`] writes into its folder.
pub const CA_FILE: &str = "ca.pem";
pub const CERT_FILE: &str = "agent.pem";
pub const KEY_FILE: &str = "agent.key";

/// First pause after a failed renewal; doubled up to [`RENEW_RETRY_MAX`].
pub const RENEW_RETRY_INITIAL: Duration = Duration::from_secs(60);
pub const RENEW_RETRY_MAX: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("--ca-fingerprint {0:?}: expected sha256: and 64 hex digits")]
    BadFingerprint(String),
    #[error(
        "the collector's CA has fingerprint {actual}, not {expected}: refusing to enrol (a mistyped fingerprint, or not the collector you meant)"
    )]
    FingerprintMismatch { expected: String, actual: String },
    #[error("collector url {url:?}: {message}")]
    Url { url: String, message: String },
    #[error("cannot reach the collector at {url}: {source}")]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("the collector refused ({code:?}): {message}")]
    Refused { code: tonic::Code, message: String },
    #[error("key or certificate request: {0}")]
    Key(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("certificate: {0}")]
    Certificate(String),
}

impl From<tonic::Status> for EnrolError {
    fn from(s: tonic::Status) -> Self {
        EnrolError::Refused {
            code: s.code(),
            message: s.message().to_owned(),
        }
    }
}

/// A certificate and its private key, PEM.
pub type CertAndKey = Arc<(Vec<u8>, Vec<u8>)>;

/// The agent's certificate and key (PEM) as the uplink presents them: replaced by a renewal,
/// read again by every new connection.
#[derive(Clone)]
pub struct ClientIdentity(Arc<watch::Sender<CertAndKey>>);

impl ClientIdentity {
    pub fn new(cert_pem: Vec<u8>, key_pem: Vec<u8>) -> Self {
        ClientIdentity(Arc::new(watch::Sender::new(Arc::new((cert_pem, key_pem)))))
    }

    /// The current certificate and key.
    pub fn get(&self) -> CertAndKey {
        Arc::clone(&self.0.borrow())
    }

    pub fn set(&self, cert_pem: Vec<u8>, key_pem: Vec<u8>) {
        self.0.send_replace(Arc::new((cert_pem, key_pem)));
    }

    /// Sees every replacement from now on.
    pub fn subscribe(&self) -> watch::Receiver<CertAndKey> {
        self.0.subscribe()
    }
}

impl std::fmt::Debug for ClientIdentity {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientIdentity(..)")
    }
}

/// `sha256:<hex>` normalised (lowercase, colons between bytes allowed), or why not.
pub fn parse_fingerprint(s: &str) -> Result<String, EnrolError> {
    let bad = || EnrolError::BadFingerprint(s.to_owned());
    let hex = s
        .trim()
        .strip_prefix("sha256:")
        .or_else(|| s.trim().strip_prefix("SHA256:"))
        .ok_or_else(bad)?;
    let hex: String = hex
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok(format!("sha256:{hex}"))
}

/// The fingerprint of the first certificate in a PEM text, as `sha256:<hex>`.
pub fn fingerprint(cert_pem: &[u8]) -> Result<String, EnrolError> {
    let der = CertificateDer::from_pem_slice(cert_pem)
        .map_err(|e| EnrolError::Certificate(format!("not a PEM certificate: {e}")))?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der.as_ref());
    Ok(format!(
        "sha256:{}",
        digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

/// What `landmeter-agent enroll` is given.
#[derive(Debug, Clone)]
pub struct EnrollOptions {
    /// `https://host:port` of the collector's gRPC listener.
    pub collector: String,
    pub token: String,
    /// `sha256:...` as `landmeter enroll-token create` printed it.
    pub ca_fingerprint: String,
    /// Where `ca.pem`, `agent.pem` and `agent.key` are written.
    pub dir: PathBuf,
    /// The agent's name, when the token binds none.
    pub name: Option<String>,
    pub connect_timeout: Duration,
}

/// What an enrolment gave.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub tenant: String,
    pub agent: String,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub not_after_ms: i64,
}

/// Enrols this agent (see the module docs).
pub async fn enroll(opts: &EnrollOptions) -> Result<Enrolled, EnrolError> {
    let expected = parse_fingerprint(&opts.ca_fingerprint)?;
    let url = opts.collector.trim_end_matches('/').to_owned();
    if !url.starts_with("https://") {
        return Err(EnrolError::Url {
            url,
            message: "enrolment needs an https:// collector url".to_owned(),
        });
    }
    let ca_pem = fetch_ca(&url, opts.connect_timeout).await?;
    let actual = fingerprint(ca_pem.as_bytes())?;
    if actual != expected {
        return Err(EnrolError::FingerprintMismatch { expected, actual });
    }
    let (key, csr) = key_and_csr(opts.name.as_deref().unwrap_or("landmeter-agent"))?;
    let channel = verified_channel(&url, ca_pem.as_bytes(), None, opts.connect_timeout).await?;
    let answer = EnrolServiceClient::new(channel)
        .enroll(EnrollRequest {
            token: opts.token.clone(),
            csr_pem: csr,
            agent: opts.name.clone().unwrap_or_default(),
        })
        .await?
        .into_inner();
    create_dir(&opts.dir)?;
    let enrolled = Enrolled {
        tenant: answer.tenant,
        agent: answer.agent,
        ca_file: opts.dir.join(CA_FILE),
        cert_file: opts.dir.join(CERT_FILE),
        key_file: opts.dir.join(KEY_FILE),
        not_after_ms: answer.not_after_ms,
    };
    write_atomic(&enrolled.key_file, key.as_bytes(), true)?;
    write_atomic(&enrolled.cert_file, answer.cert_pem.as_bytes(), false)?;
    write_atomic(&enrolled.ca_file, ca_pem.as_bytes(), false)?;
    Ok(enrolled)
}

/// A new key (PEM) and a CSR (PEM) for it.
fn key_and_csr(name: &str) -> Result<(String, String), EnrolError> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let csr = params.serialize_request(&key)?.pem()?;
    Ok((key.serialize_pem(), csr))
}

fn split_url(url: &str) -> Result<(String, u16), EnrolError> {
    let uri: tonic::codegen::http::Uri = url.parse().map_err(|e| EnrolError::Url {
        url: url.to_owned(),
        message: format!("{e}"),
    })?;
    let host = uri.host().ok_or_else(|| EnrolError::Url {
        url: url.to_owned(),
        message: "no host".to_owned(),
    })?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok((host, uri.port_u16().unwrap_or(443)))
}

/// `GetCa` over TLS that accepts any server certificate: the answer is checked by its
/// fingerprint, and nothing secret is sent on this connection.
async fn fetch_ca(url: &str, connect_timeout: Duration) -> Result<String, EnrolError> {
    let (host, port) = split_url(url)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| EnrolError::Certificate(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = UnverifiedTls {
        config: Arc::new(config),
        host: host.clone(),
        port,
    };
    // The scheme tonic sees is http: the TLS is the connector's own.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{host}:{port}"))
        .map_err(|e| EnrolError::Url {
            url: url.to_owned(),
            message: e.to_string(),
        })?
        .connect_timeout(connect_timeout)
        .connect_with_connector(connector)
        .await
        .map_err(|source| EnrolError::Connect {
            url: url.to_owned(),
            source,
        })?;
    Ok(EnrolServiceClient::new(channel)
        .get_ca(GetCaRequest {})
        .await?
        .into_inner()
        .ca_pem)
}

/// A channel whose server certificate is verified against `ca_pem`, presenting `identity`
/// when given.
async fn verified_channel(
    url: &str,
    ca_pem: &[u8],
    identity: Option<&(Vec<u8>, Vec<u8>)>,
    connect_timeout: Duration,
) -> Result<tonic::transport::Channel, EnrolError> {
    let mut tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem));
    if let Some((cert, key)) = identity {
        tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
    }
    tonic::transport::Endpoint::from_shared(url.to_owned())
        .and_then(|e| e.tls_config(tls))
        .map_err(|e| EnrolError::Url {
            url: url.to_owned(),
            message: e.to_string(),
        })?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|source| EnrolError::Connect {
            url: url.to_owned(),
            source,
        })
}

/// TCP and TLS with the given client config, for `fetch_ca`.
#[derive(Clone)]
struct UnverifiedTls {
    config: Arc<rustls::ClientConfig>,
    host: String,
    port: u16,
}

type TlsIo = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

impl tonic::codegen::Service<tonic::codegen::http::Uri> for UnverifiedTls {
    type Response = TlsIo;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<TlsIo, std::io::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: tonic::codegen::http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let tcp = tokio::net::TcpStream::connect((this.host.as_str(), this.port)).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from(this.host.clone()).map_err(std::io::Error::other)?;
            let tls = tokio_rustls::TlsConnector::from(this.config)
                .connect(name, tcp)
                .await?;
            Ok(hyper_util::rt::TokioIo::new(tls))
        })
    }
}

/// Accepts any server certificate (its handshake signature is still checked): only for
/// `GetCa`, whose answer is verified by fingerprint.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn create_dir(dir: &Path) -> Result<(), EnrolError> {
    std::fs::create_dir_all(dir).map_err(|source| EnrolError::Io {
        path: dir.to_owned(),
        source,
    })
}

/// Writes `path` through a temporary file in the same folder and a rename: a reader sees the
/// old file or the new one, never a part. A private file is created 0600.
fn write_atomic(path: &Path, contents: &[u8], private: bool) -> Result<(), EnrolError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| EnrolError::Io {
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// A certificate's validity, Unix ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before_ms: i64,
    pub not_after_ms: i64,
}

impl Validity {
    pub fn of(cert_pem: &[u8]) -> Result<Validity, EnrolError> {
        let der = CertificateDer::from_pem_slice(cert_pem)
            .map_err(|e| EnrolError::Certificate(format!("not a PEM certificate: {e}")))?;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| EnrolError::Certificate(e.to_string()))?;
        let v = cert.validity();
        Ok(Validity {
            not_before_ms: v.not_before.timestamp().saturating_mul(1000),
            not_after_ms: v.not_after.timestamp().saturating_mul(1000),
        })
    }

    /// When to renew: two thirds into the lifetime.
    pub fn renew_at_ms(&self) -> i64 {
        self.not_before_ms + (self.not_after_ms - self.not_before_ms) * 2 / 3
    }
}

/// What renewal needs: where to reach the collector, what it trusts, where the files are.
#[derive(Debug, Clone)]
pub struct Renewal {
    /// The collectors, tried in order.
    pub urls: Vec<String>,
    pub ca_pem: Vec<u8>,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub identity: ClientIdentity,
    pub connect_timeout: Duration,
}

/// One renewal now: a new key and certificate in the files and in `identity`, or why not
/// (a revoked certificate is refused by the collector).
pub async fn renew_once(r: &Renewal) -> Result<Validity, EnrolError> {
    let current = r.identity.get();
    let (key, csr) = key_and_csr("landmeter-agent")?;
    let mut last = None;
    for url in &r.urls {
        let channel =
            match verified_channel(url, &r.ca_pem, Some(&current), r.connect_timeout).await {
                Ok(c) => c,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
        let answer = EnrolServiceClient::new(channel)
            .renew(RenewRequest {
                csr_pem: csr.clone(),
            })
            .await?
            .into_inner();
        let validity = Validity::of(answer.cert_pem.as_bytes())?;
        write_atomic(&r.key_file, key.as_bytes(), true)?;
        write_atomic(&r.cert_file, answer.cert_pem.as_bytes(), false)?;
        r.identity
            .set(answer.cert_pem.into_bytes(), key.into_bytes());
        return Ok(validity);
    }
    Err(last.unwrap_or_else(|| EnrolError::Url {
        url: String::new(),
        message: "no collector url".to_owned(),
    }))
}

/// Renews the certificate at two thirds of each lifetime, for ever; a failed renewal is
/// retried with backoff ([`RENEW_RETRY_INITIAL`] doubling to [`RENEW_RETRY_MAX`]) while the
/// current certificate still serves.
pub async fn run_renewal(r: Renewal, clock: Clock) {
    let mut retry = RENEW_RETRY_INITIAL;
    loop {
        let validity = match Validity::of(&r.identity.get().0) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the agent certificate; no automatic renewal");
                return;
            }
        };
        let now_ms = clock.now().timestamp_millis();
        let wait_ms = validity.renew_at_ms() - now_ms;
        if wait_ms > 0 {
            tracing::debug!(in_s = wait_ms / 1000, "certificate renewal scheduled");
            tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await;
        }
        match renew_once(&r).await {
            Ok(v) => {
                retry = RENEW_RETRY_INITIAL;
                tracing::info!(
                    not_after_ms = v.not_after_ms,
                    "agent certificate renewed; new connections use it"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_s = retry.as_secs(), expires_at_ms = validity.not_after_ms, "certificate renewal failed");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RENEW_RETRY_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_in_their_usual_spellings() {
        let hex = "ab".repeat(32);
        let want = format!("sha256:{hex}");
        assert_eq!(parse_fingerprint(&want).expect("plain"), want);
        let colons = format!("SHA256:{}", ["AB"; 32].join(":"));
        assert_eq!(parse_fingerprint(&colons).expect("colons"), want);
        assert!(parse_fingerprint(&hex).is_err(), "no algorithm");
        assert!(parse_fingerprint("sha256:abc").is_err(), "too short");
        assert!(
            parse_fingerprint(&format!("sha256:{}", "zz".repeat(32))).is_err(),
            "not hex"
        );
    }

    #[test]
    fn renewal_is_due_at_two_thirds_of_the_lifetime() {
        let v = Validity {
            not_before_ms: 0,
            not_after_ms: 30 * 86_400_000,
        };
        assert_eq!(v.renew_at_ms(), 20 * 86_400_000);
    }

    #[test]
    fn a_private_file_is_written_0600_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("landmeter-enrol-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        create_dir(&dir).expect("dir");
        let path = dir.join(KEY_FILE);
        write_atomic(&path, b"one", true).expect("write");
        write_atomic(&path, b"two", true).expect("again");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
