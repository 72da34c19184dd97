//! TLS to the database on rustls with aws-lc-rs (the workspace's one TLS stack), and the rule
//! of when plaintext is allowed: only to a database on this machine (a loopback address,
//! `localhost` or a Unix socket), where it is the default unless the URL says
//! `sslmode=require`. Any other host gets TLS whatever the URL's `sslmode` says short of
//! `disable`, which is refused. The server certificate is always verified (name and chain:
//! libpq's `verify-full`), against the system's roots or the file named by `sslrootcert=`.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use crate::store::{BackendError, StoreError};

fn refused(url: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::UnsupportedUrl(format!("{}: {why}", redact(url)))
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The connection settings of a URL and the TLS connector to use with them. `sslrootcert`
/// is read here (tokio-postgres does not know it) and removed from the URL.
pub fn connect_config(url: &str) -> Result<(tokio_postgres::Config, RustlsConnect), StoreError> {
    let (url_rest, root_file) = take_query_param(url, "sslrootcert");
    let mut config: tokio_postgres::Config = url_rest
        .parse()
        .map_err(|e| refused(url, format_args!("not a PostgreSQL URL: {e}")))?;
    if config.get_hosts().is_empty() {
        return Err(refused(url, "no host"));
    }
    let local = config.get_hosts().iter().all(is_loopback);
    match (local, config.get_ssl_mode()) {
        (false, SslMode::Disable) => {
            return Err(refused(
                url,
                "sslmode=disable is allowed only for a database on this machine",
            ));
        }
        // Elsewhere `prefer` (the default) would fall back to plaintext when the server
        // offers no TLS: TLS is required instead.
        (false, _) => {
            config.ssl_mode(SslMode::Require);
        }
        // On this machine `prefer` means plaintext (libpq's `prefer` would encrypt without
        // verifying, which protects nothing on loopback); `require` gets verified TLS.
        (true, SslMode::Prefer) => {
            config.ssl_mode(SslMode::Disable);
        }
        (true, _) => {}
    }
    let roots = root_store(root_file.as_deref())?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format_args!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((config, RustlsConnect(Arc::new(tls))))
}

fn tls_error(why: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(BackendError {
        message: why.to_string(),
        code: None,
    })
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => {
            let name = name.trim_start_matches('[').trim_end_matches(']');
            name.eq_ignore_ascii_case("localhost")
                || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Host::Unix(_) => true,
    }
}

/// `url` without the query parameter `key`, and the parameter's value.
fn take_query_param(url: &str, key: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((k, v)) if k == key => {
                value = Some(v.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    if kept.is_empty() {
        (base.to_owned(), value)
    } else {
        (format!("{base}?{}", kept.join("&")), value)
    }
}

fn root_store(file: Option<&str>) -> Result<rustls::RootCertStore, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| tls_error(format_args!("sslrootcert {path}: {e}")))?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| tls_error(format_args!("sslrootcert {path}: {e}")))?;
            }
        }
        None => {
            // Unreadable system certificates are skipped; none at all fails at the handshake.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(roots)
}

/// Makes TLS connections to the database for tokio-postgres.
#[derive(Clone)]
pub struct RustlsConnect(Arc<ClientConfig>);

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsHandshake;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsHandshake> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsHandshake {
            name,
            config: Arc::clone(&self.0),
        })
    }
}

/// One handshake with a named server.
pub struct RustlsHandshake {
    name: ServerName<'static>,
    config: Arc<ClientConfig>,
}

impl<S> TlsConnect<S> for RustlsHandshake
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move {
            let tls = connector.connect(self.name, stream).await?;
            Ok(RustlsStream(tls))
        })
    }
}

/// A TLS connection to the database.
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    /// SCRAM's `tls-server-end-point` binding, so a password exchange cannot be relayed
    /// through another TLS connection; none when the certificate's hash is not known.
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| tls_server_end_point(cert))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

/// RFC 5929 `tls-server-end-point`: the certificate's digest with the hash of its signature
/// algorithm (SHA-1 and MD5 raised to SHA-256). None for algorithms without a hash
/// (Ed25519), as libpq.
fn tls_server_end_point(cert_der: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::digest;
    use x509_parser::oid_registry as oid;
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let algorithm = &cert.signature_algorithm.algorithm;
    let hash = if [
        oid::OID_PKCS1_SHA1WITHRSA,
        oid::OID_PKCS1_SHA256WITHRSA,
        oid::OID_SIG_ECDSA_WITH_SHA256,
    ]
    .contains(algorithm)
    {
        &digest::SHA256
    } else if [oid::OID_PKCS1_SHA384WITHRSA, oid::OID_SIG_ECDSA_WITH_SHA384].contains(algorithm) {
        &digest::SHA384
    } else if [oid::OID_PKCS1_SHA512WITHRSA, oid::OID_SIG_ECDSA_WITH_SHA512].contains(algorithm) {
        &digest::SHA512
    } else {
        return None;
    };
    Some(digest::digest(hash, cert_der).as_ref().to_vec())
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_only_to_this_machine() {
        let mode = |url: &str| connect_config(url).map(|(c, _)| c.get_ssl_mode());
        assert!(matches!(
            mode("postgres://u@127.0.0.1:5432/db?sslmode=disable"),
            Ok(SslMode::Disable)
        ));
        assert!(matches!(
            mode("postgres://u@localhost/db"),
            Ok(SslMode::Disable)
        ));
        assert!(matches!(
            mode("postgres://u@[::1]/db?sslmode=require"),
            Ok(SslMode::Require)
        ));
        assert!(matches!(
            mode("postgresql://u@db.example.org/map"),
            Ok(SslMode::Require)
        ));
        assert!(matches!(
            mode("postgres://u@10.0.0.5/map?sslmode=prefer"),
            Ok(SslMode::Require)
        ));
        assert!(matches!(
            mode("postgres://u@10.0.0.5/map?sslmode=disable"),
            Err(StoreError::UnsupportedUrl(_))
        ));
    }

    #[test]
    fn sslrootcert_is_read_here_and_a_missing_file_is_an_error() {
        let (rest, file) = take_query_param(
            "postgres://u@h/db?sslmode=require&sslrootcert=/x/ca.pem",
            "sslrootcert",
        );
        assert_eq!(rest, "postgres://u@h/db?sslmode=require");
        assert_eq!(file.as_deref(), Some("/x/ca.pem"));
        assert!(connect_config("postgres://u@h/db?sslrootcert=/nonexistent/ca.pem").is_err());
    }

    #[test]
    fn channel_binding_hashes_the_certificate_with_its_signature_hash() {
        // rcgen signs with ECDSA P-256 and SHA-256 by default.
        let cert = rcgen::generate_simple_self_signed(vec!["db".to_owned()]).expect("cert");
        let der = cert.cert.der().to_vec();
        let expected = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
        assert_eq!(
            tls_server_end_point(&der).as_deref(),
            Some(expected.as_ref())
        );
        assert_eq!(tls_server_end_point(b"not a certificate"), None);
    }

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redact("postgres://lm:secret@db:5432/map?sslmode=require"),
            "postgres://lm:***@db:5432/map?sslmode=require"
        );
        assert_eq!(redact("postgres://db/map"), "postgres://db/map");
        assert_eq!(redact("postgres://lm@db/map"), "postgres://lm@db/map");
        let err = connect_config("postgres://lm:secret@10.0.0.5/map?sslmode=disable")
            .err()
            .expect("refused");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
