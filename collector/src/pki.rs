//! The collector's certificate authority: agent identities bound to tenants.
//!
//! An agent certificate carries one URI SAN, `spiffe://landmeter/tenant/<tenant>/agent/<agent>`,
//! and the client-auth usage. The collector trusts only its own CA for client certificates,
//! takes the tenant from that SAN, and never from a message. Certificates are short-lived
//! (default 30 days) and renewed by issuing a new one; revocation is by serial number,
//! checked on every stream message.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
    SerialNumber,
};
use time::{Duration, OffsetDateTime};

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
const URI_PREFIX: &str = "spiffe://landmeter/tenant/";

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("a CA already exists in {0}; refusing to overwrite it")]
    CaExists(PathBuf),
    #[error("invalid {what} {value:?}: use 1-64 of a-z, 0-9, '-', '_', '.'")]
    BadName { what: &'static str, value: String },
    #[error("client certificate cannot be parsed: {0}")]
    Parse(String),
    #[error("certificate signing request: {0}")]
    Csr(String),
    #[error(
        "client certificate carries no landmeter identity (URI SAN {URI_PREFIX}<tenant>/agent/<agent>)"
    )]
    NoIdentity,
}

/// Who an agent certificate says its holder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    pub tenant: String,
    pub agent: String,
    /// Certificate serial, lowercase hex: what revocation names.
    pub serial: String,
    /// The end of the certificate's validity, Unix ms: an open stream is refused after it.
    pub not_after_ms: i64,
}

/// A certificate and its private key, PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub serial: String,
}

pub fn validate_name(what: &'static str, value: &str) -> Result<(), PkiError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(PkiError::BadName {
            what,
            value: value.to_owned(),
        })
    }
}

fn write(path: &Path, contents: &str, private: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    // A private key is created 0600, never written under wider permissions first; a file
    // that existed is narrowed before the key is written into it.
    let mode = if private { 0o600 } else { 0o644 };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    if private {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    file.set_len(0).map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)?;
    Ok(())
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    // A positive 127-bit serial: unpredictable, unique in practice.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    // Leading byte 0x40..=0x7f: positive and never padded, so its hex is stable.
    bytes[0] = (bytes[0] & 0x3f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates the CA (key and self-signed certificate) in `dir`.
pub fn init_ca(dir: &Path, organisation: &str, valid_days: i64) -> Result<PathBuf, PkiError> {
    std::fs::create_dir_all(dir).map_err(|source| PkiError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let cert_path = dir.join(CA_CERT);
    if cert_path.exists() {
        return Err(PkiError::CaExists(dir.to_owned()));
    }
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{organisation} landmeter CA"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = OffsetDateTime::now_utc() - Duration::minutes(5);
    params.not_after = OffsetDateTime::now_utc() + Duration::days(valid_days);
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key)?;
    write(&dir.join(CA_KEY), &key.serialize_pem(), true)?;
    write(&cert_path, &cert.pem(), false)?;
    Ok(cert_path)
}

/// A certificate signed for a public key the holder keeps (a CSR's): no private key here.
#[derive(Debug, Clone)]
pub struct Signed {
    pub cert_pem: String,
    pub serial: String,
    /// The end of its validity, Unix ms.
    pub not_after_ms: i64,
}

/// The SHA-256 fingerprint of a PEM certificate's DER, as `sha256:<hex>`: what an operator
/// hands an agent to pin the collector's CA (`landmeter enroll-token create` prints it).
pub fn fingerprint(cert_pem: &str) -> Result<String, PkiError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
        .map_err(|e| PkiError::Parse(e.to_string()))?;
    Ok(format!(
        "sha256:{}",
        hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &pem.contents).as_ref())
    ))
}

/// The CA loaded from `dir`, ready to issue.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: String,
}

impl Ca {
    pub fn load(dir: &Path) -> Result<Self, PkiError> {
        Self::load_files(&dir.join(CA_CERT), &dir.join(CA_KEY))
    }

    /// The CA from its certificate and key files (the collector's `tls.ca_key_file`).
    pub fn load_files(cert: &Path, key: &Path) -> Result<Self, PkiError> {
        let cert_pem = read(cert)?;
        let key = KeyPair::from_pem(&read(key)?)?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)?;
        Ok(Self { issuer, cert_pem })
    }

    /// Signs `params` for `public_key`, valid from five minutes ago (clock skew) for `valid`.
    fn sign(
        &self,
        mut params: CertificateParams,
        public_key: &impl PublicKeyData,
        valid: Duration,
    ) -> Result<Signed, PkiError> {
        let serial = random_serial();
        let serial_hex = hex(&serial.to_bytes());
        let now = OffsetDateTime::now_utc();
        params.serial_number = Some(serial);
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + valid;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(public_key, &self.issuer)?;
        let not_after_ms = (params.not_after.unix_timestamp_nanos() / 1_000_000) as i64;
        Ok(Signed {
            cert_pem: cert.pem(),
            serial: serial_hex,
            not_after_ms,
        })
    }

    fn issue(&self, params: CertificateParams, valid: Duration) -> Result<Issued, PkiError> {
        let key = KeyPair::generate()?;
        let signed = self.sign(params, &key, valid)?;
        Ok(Issued {
            cert_pem: signed.cert_pem,
            key_pem: key.serialize_pem(),
            serial: signed.serial,
        })
    }

    /// An agent certificate binding `tenant` and `agent`, valid for `valid`.
    pub fn issue_agent(
        &self,
        tenant: &str,
        agent: &str,
        valid: Duration,
    ) -> Result<Issued, PkiError> {
        self.issue(agent_params(tenant, agent)?, valid)
    }

    /// An agent certificate binding `tenant` and `agent` for the public key of a CSR (PEM)
    /// whose signature proves its sender holds the key. Nothing else of the CSR is used: the
    /// subject, names and usages are the ones [`Ca::issue_agent`] writes.
    pub fn sign_agent_csr(
        &self,
        tenant: &str,
        agent: &str,
        csr_pem: &str,
        valid: Duration,
    ) -> Result<Signed, PkiError> {
        let params = agent_params(tenant, agent)?;
        let csr = parse_csr(csr_pem)?;
        self.sign(params, &csr.public_key, valid)
    }

    /// A server certificate for the collector, for the given DNS names and IP addresses.
    pub fn issue_server(&self, hosts: &[String], valid: Duration) -> Result<Issued, PkiError> {
        let mut params = CertificateParams::new(hosts.to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "landmeter collector");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params, valid)
    }
}

/// A CSR (PEM) parsed and its signature verified: proof that the sender holds the key.
pub fn parse_csr(csr_pem: &str) -> Result<CertificateSigningRequestParams, PkiError> {
    CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| PkiError::Csr(e.to_string()))
}

/// The subject, URI SAN and usage of an agent certificate.
fn agent_params(tenant: &str, agent: &str) -> Result<CertificateParams, PkiError> {
    validate_name("tenant", tenant)?;
    validate_name("agent", agent)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{agent}.{tenant}"));
    params.subject_alt_names = vec![SanType::URI(
        format!("{URI_PREFIX}{tenant}/agent/{agent}").try_into()?,
    )];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params)
}

/// Writes an issued certificate as `<dir>/<name>.pem` and `<dir>/<name>.key` (0600).
pub fn write_issued(
    dir: &Path,
    name: &str,
    issued: &Issued,
) -> Result<(PathBuf, PathBuf), PkiError> {
    std::fs::create_dir_all(dir).map_err(|source| PkiError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    write(&cert, &issued.cert_pem, false)?;
    write(&key, &issued.key_pem, true)?;
    Ok((cert, key))
}

/// Reads the landmeter identity from a DER client certificate (already verified by TLS).
pub fn identity_from_der(der: &[u8]) -> Result<AgentIdentity, PkiError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| PkiError::Parse(e.to_string()))?;
    let serial = hex(cert.raw_serial());
    let not_after_ms = cert.validity().not_after.timestamp().saturating_mul(1000);
    let san = cert
        .subject_alternative_name()
        .map_err(|e| PkiError::Parse(e.to_string()))?
        .ok_or(PkiError::NoIdentity)?;
    for name in &san.value.general_names {
        if let x509_parser::extensions::GeneralName::URI(uri) = name
            && let Some(rest) = uri.strip_prefix(URI_PREFIX)
            && let Some((tenant, agent)) = rest.split_once("/agent/")
            && validate_name("tenant", tenant).is_ok()
            && validate_name("agent", agent).is_ok()
        {
            return Ok(AgentIdentity {
                tenant: tenant.to_owned(),
                agent: agent.to_owned(),
                serial,
                not_after_ms,
            });
        }
    }
    Err(PkiError::NoIdentity)
}

/// Reads the identity from a PEM certificate (for `landmeter agent revoke --cert`).
pub fn identity_from_pem(pem: &str) -> Result<AgentIdentity, PkiError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| PkiError::Parse(e.to_string()))?;
    identity_from_der(&pem.contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_certificates_bind_tenant_and_agent() {
        let dir = std::env::temp_dir().join(format!("landmeter-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        init_ca(&dir, "Gemeente Test", 365).expect("ca");
        assert!(matches!(
            init_ca(&dir, "again", 1),
            Err(PkiError::CaExists(_))
        ));
        let ca = Ca::load(&dir).expect("load");
        let issued = ca
            .issue_agent("gemeente-a", "agent-1", Duration::days(30))
            .expect("issue");
        let id = identity_from_pem(&issued.cert_pem).expect("identity");
        assert_eq!(
            (id.tenant.as_str(), id.agent.as_str()),
            ("gemeente-a", "agent-1")
        );
        assert_eq!(id.serial, issued.serial);
        let server = ca
            .issue_server(&["localhost".into(), "127.0.0.1".into()], Duration::days(1))
            .expect("server");
        assert!(matches!(
            identity_from_pem(&server.cert_pem),
            Err(PkiError::NoIdentity)
        ));
        assert!(matches!(
            ca.issue_agent("Gemeente A", "x", Duration::days(1)),
            Err(PkiError::BadName { .. })
        ));
        // A CSR asking for another tenant and server usage gets the identity it is given.
        let key = KeyPair::generate().expect("key");
        let mut asked = CertificateParams::new(vec!["evil.example".to_owned()]).expect("params");
        asked.subject_alt_names.push(SanType::URI(
            "spiffe://landmeter/tenant/other/agent/x"
                .try_into()
                .expect("uri"),
        ));
        let csr = asked
            .serialize_request(&key)
            .expect("csr")
            .pem()
            .expect("pem");
        let signed = ca
            .sign_agent_csr("gemeente-a", "agent-2", &csr, Duration::days(30))
            .expect("sign");
        let id = identity_from_pem(&signed.cert_pem).expect("identity");
        assert_eq!(
            (id.tenant.as_str(), id.agent.as_str(), id.serial.as_str()),
            ("gemeente-a", "agent-2", signed.serial.as_str())
        );
        assert_eq!(id.not_after_ms / 1000, signed.not_after_ms / 1000);
        assert!(matches!(
            ca.sign_agent_csr("gemeente-a", "agent-2", "not a csr", Duration::days(1)),
            Err(PkiError::Csr(_))
        ));
        let fp = fingerprint(&ca.cert_pem).expect("fingerprint");
        assert!(fp.starts_with("sha256:") && fp.len() == 7 + 64, "{fp}");
        assert_ne!(fp, fingerprint(&signed.cert_pem).expect("fingerprint"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(CA_KEY))
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
