//! Enrolment without moving private keys, with the real binaries over real sockets and TLS:
//! `landmeter enroll-token create` -> `landmeter-agent enroll` -> `landmeter-agent run` -> the
//! scan in the token's tenant; a token's second use, a wrong fingerprint and an unknown token
//! refused; renewal at two thirds of the certificate's lifetime under a paused clock; a
//! revoked certificate (or one renewed from it) never renewed.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use landmeter_agent::uplink::enrol::{self, ClientIdentity, Renewal, Validity};
use landmeter_e2e::estate::{self, Aws};
use landmeter_e2e::{AGENT_ROLE_ARN, AgentProcess, Collector, Moto, TempDir, workspace_bin};

use crate::ESTATE;

fn run(bin: &str, args: &[&str]) -> anyhow::Result<Output> {
    Command::new(workspace_bin(bin)?)
        .args(args)
        .env("LANDMETER_LOG_FORMAT", "text")
        .env_remove("LANDMETER_ENROLL_TOKEN")
        .output()
        .with_context(|| format!("run {bin}"))
}

fn landmeter(args: &[&str]) -> anyhow::Result<String> {
    let out = run("landmeter", args)?;
    anyhow::ensure!(
        out.status.success(),
        "landmeter {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A CA, a server certificate for localhost, and a collector holding the CA key.
struct Setup {
    dir: TempDir,
    collector: Collector,
}

impl Setup {
    fn start() -> anyhow::Result<Setup> {
        let dir = TempDir::new("landmeter-enrol")?;
        let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        landmeter(&["ca", "init", "--dir", &p("ca"), "--org", "Gemeente Test"])?;
        landmeter(&[
            "ca",
            "server-cert",
            "--dir",
            &p("ca"),
            "--host",
            "localhost",
            "--out",
            &p("tls"),
        ])?;
        let collector = Collector::start_with(
            TempDir::new("landmeter-enrol-collector")?,
            &dir.path().join("map.db"),
            "127.0.0.1:0",
            &[
                "--tls-cert",
                &p("tls/server.pem"),
                "--tls-key",
                &p("tls/server.key"),
                "--client-ca",
                &p("ca/ca.pem"),
                "--ca-key",
                &p("ca/ca.key"),
            ],
        )?;
        Ok(Setup { dir, collector })
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// `landmeter enroll-token create`: (token, fingerprint).
    fn token(&self, tenant: &str, name: Option<&str>) -> anyhow::Result<(String, String)> {
        let (db, ca) = (self.path("map.db"), self.path("ca"));
        let mut args = vec![
            "enroll-token",
            "create",
            "--db",
            &db,
            "--tenant",
            tenant,
            "--expires",
            "1h",
            "--ca-dir",
            &ca,
        ];
        if let Some(n) = name {
            args.extend(["--name", n]);
        }
        let out = landmeter(&args)?;
        let field = |key: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_owned())
                .with_context(|| format!("no {key} in {out:?}"))
        };
        Ok((field("token:")?, field("ca-fingerprint:")?))
    }

    /// `landmeter-agent enroll` into `dir`.
    fn enroll(&self, token: &str, fingerprint: &str, dir: &str) -> anyhow::Result<Output> {
        run(
            "landmeter-agent",
            &[
                "enroll",
                "--collector",
                &self.collector.url(),
                "--token",
                token,
                "--ca-fingerprint",
                fingerprint,
                "--dir",
                dir,
            ],
        )
    }

    fn audit(&self) -> anyhow::Result<String> {
        landmeter(&["audit", "--db", &self.path("map.db"), "--limit", "100"])
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_enrolled_with_a_one_time_token_runs_and_its_scan_lands_in_the_tenant()
-> anyhow::Result<()> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    estate::seed(&aws, ESTATE).await?;
    let s = Setup::start()?;
    let (token, fingerprint) = s.token("gemeente-a", Some("e2e"))?;
    assert!(token.starts_with("lme_"), "{token}");
    assert_eq!(
        fingerprint,
        enrol::fingerprint(&std::fs::read(s.path("ca/ca.pem"))?)?,
        "the fingerprint printed is the CA's"
    );

    // A wrong fingerprint: refused before anything is sent or written; the token stays good.
    let wrong = format!("sha256:{}", "00".repeat(32));
    let refused = s.enroll(&token, &wrong, &s.path("agent-wrong"))?;
    assert!(!refused.status.success());
    let why = stderr(&refused);
    assert!(
        why.contains("refusing to enrol") && why.contains(&fingerprint),
        "{why}"
    );
    assert!(
        !Path::new(&s.path("agent-wrong")).exists(),
        "nothing written"
    );
    // An unknown token.
    let unknown = s.enroll("lme_nope", &fingerprint, &s.path("agent-unknown"))?;
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("unknown enrolment token"),
        "{}",
        stderr(&unknown)
    );

    let enrolled = s.enroll(&token, &fingerprint, &s.path("agent"))?;
    anyhow::ensure!(
        enrolled.status.success(),
        "enrol: {}\ncollector log:\n{}",
        stderr(&enrolled),
        s.collector.log()
    );
    assert!(
        stderr(&enrolled).contains("enrolled as agent e2e of tenant gemeente-a"),
        "{}",
        stderr(&enrolled)
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.path("agent/agent.key"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key is private");
    }
    // The second use of the token.
    let again = s.enroll(&token, &fingerprint, &s.path("agent-again"))?;
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already used"),
        "{}",
        stderr(&again)
    );
    let audit = s.audit()?;
    assert!(
        audit.contains("method=enroll-token create")
            && audit.contains("method=EnrolService/Enroll rows=1 outcome=ok")
            && audit.contains("method=EnrolService/Enroll rows=0 outcome=refused"),
        "{audit}"
    );

    // `landmeter-agent run` with the settings enrol printed, a spool, an hourly schedule and
    // the estate's second account.
    let config = s.dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "{}\nreconnect_max_secs = 1\n[schedule]\ninterval = \"1h\"\n[spool]\ndir = {:?}\n[[aws.accounts]]\nrole_arn = {AGENT_ROLE_ARN:?}\n",
            String::from_utf8_lossy(&enrolled.stdout).trim_end(),
            s.path("spool")
        ),
    )?;
    let mut agent = AgentProcess::spawn_service(&s.collector.url(), &moto.endpoint(), &config)?;
    let ca = s.path("ca/ca.pem");
    let deadline = Instant::now() + Duration::from_secs(120);
    let stores = loop {
        if let Some(status) = agent.child.try_wait()? {
            bail!("agent service exited {status}:\n{}", agent.log());
        }
        let json = s
            .collector
            .cli(&["stores", "--format", "json", "--ca-file", &ca])?;
        let stores: Vec<serde_json::Value> = serde_json::from_str(&json)?;
        if stores.len() == ESTATE.len() {
            break stores;
        }
        if Instant::now() > deadline {
            bail!(
                "{} of {} stores after 120 s\nagent:\n{}\ncollector:\n{}",
                stores.len(),
                ESTATE.len(),
                agent.log(),
                s.collector.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        stores.iter().all(|s| s["tenant"] == "gemeente-a"),
        "the tenant is the token's: {stores:?}"
    );
    agent.kill().await?;
    // Revoking the agent by name revokes the certificate it enrolled with.
    let revoked = landmeter(&[
        "agent",
        "revoke",
        "--db",
        &s.path("map.db"),
        "--tenant",
        "gemeente-a",
        "--name",
        "e2e",
    ])?;
    assert!(revoked.contains("(1 certificates)"), "{revoked}");
    Ok(())
}

/// The renewal loop under `tokio::time::pause()`: nothing before two thirds of the lifetime,
/// then a new key and certificate in the files and in the identity new connections use; a
/// certificate renewed from a revoked one, and the revoked agent, get no renewal.
#[tokio::test(flavor = "current_thread")]
async fn renewal_at_two_thirds_of_the_lifetime_under_a_paused_clock_and_none_once_revoked()
-> anyhow::Result<()> {
    let s = Setup::start()?;
    let (token, fingerprint) = s.token("gemeente-b", None)?;
    let enrolled = enrol::enroll(&enrol::EnrollOptions {
        collector: s.collector.url(),
        token,
        ca_fingerprint: fingerprint,
        dir: s.path("agent").into(),
        name: Some("renewer".into()),
        connect_timeout: Duration::from_secs(10),
    })
    .await
    .with_context(|| s.collector.log())?;
    assert_eq!(
        (enrolled.tenant.as_str(), enrolled.agent.as_str()),
        ("gemeente-b", "renewer")
    );
    let first_cert = std::fs::read(&enrolled.cert_file)?;
    let first_key = std::fs::read(&enrolled.key_file)?;
    std::fs::write(s.path("first.pem"), &first_cert)?;
    let first = Validity::of(&first_cert)?;
    let day = Duration::from_secs(86_400);
    assert_eq!(
        (first.not_after_ms - first.not_before_ms) / 1000 / 60,
        30 * 24 * 60 + 5,
        "30 days, from five minutes back"
    );
    let identity = ClientIdentity::new(first_cert.clone(), first_key.clone());
    let renewal = Renewal {
        urls: vec![s.collector.url()],
        ca_pem: std::fs::read(&enrolled.ca_file)?,
        cert_file: enrolled.cert_file.clone(),
        key_file: enrolled.key_file.clone(),
        identity: identity.clone(),
        connect_timeout: Duration::from_secs(10),
    };
    let mut renewed = identity.subscribe();

    tokio::time::pause();
    let task = tokio::spawn(enrol::run_renewal(
        renewal.clone(),
        landmeter_agent::schedule::Clock::system(),
    ));
    tokio::task::yield_now().await;
    tokio::time::advance(19 * day).await;
    assert!(
        !renewed.has_changed()?,
        "renewed before two thirds of the lifetime"
    );
    assert_eq!(std::fs::read(&enrolled.cert_file)?, first_cert);
    // Two thirds of 30 days and 5 minutes, from five minutes back: 20 days less 100 s.
    tokio::time::advance(day).await;
    // The renewal talks to a real collector: real time from here on.
    tokio::time::resume();
    tokio::time::timeout(Duration::from_secs(30), renewed.changed())
        .await
        .context("no renewal after 20 days")??;
    task.abort();
    let current = identity.get();
    assert_ne!(current.0, first_cert, "a new certificate");
    assert_ne!(current.1, first_key, "for a new key");
    assert_eq!(
        std::fs::read(&enrolled.cert_file)?,
        current.0,
        "in the file"
    );
    assert_eq!(std::fs::read(&enrolled.key_file)?, current.1);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&enrolled.key_file)?.permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let second = Validity::of(&current.0)?;
    assert!(second.not_after_ms >= first.not_after_ms);
    // The same tenant and agent, bound by the collector.
    assert_eq!(
        uri_names(&current.0)?,
        ["spiffe://landmeter/tenant/gemeente-b/agent/renewer"]
    );
    // The renewed certificate authenticates a new connection: it renews again.
    renewal_ok(&renewal).await?;

    // Revoking the first certificate revokes those renewed from it: no more renewal.
    let revoked = landmeter(&[
        "agent",
        "revoke",
        "--db",
        &s.path("map.db"),
        "--cert",
        &s.path("first.pem"),
    ])?;
    assert!(revoked.contains("revoked agent renewer"), "{revoked}");
    let before = identity.get();
    let err = enrol::renew_once(&renewal)
        .await
        .err()
        .context("a certificate renewed from a revoked one renewed")?;
    assert!(err.to_string().contains("certificate revoked"), "{err}");
    assert_eq!(identity.get(), before, "nothing replaced");
    assert_eq!(std::fs::read(&enrolled.cert_file)?, before.0);
    let audit = s.audit()?;
    assert!(
        audit.contains("method=EnrolService/Renew rows=1 outcome=ok")
            && audit.contains("method=EnrolService/Renew rows=0 outcome=refused"),
        "{audit}"
    );
    Ok(())
}

/// The URI names of a PEM certificate.
fn uri_names(cert_pem: &[u8]) -> anyhow::Result<Vec<String>> {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(cert_pem)
        .map_err(|e| anyhow::anyhow!("certificate PEM: {e}"))?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| anyhow::anyhow!("certificate: {e}"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| anyhow::anyhow!("SAN: {e}"))?
        .context("no SAN")?;
    Ok(san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::URI(u) => Some((*u).to_owned()),
            _ => None,
        })
        .collect())
}

async fn renewal_ok(renewal: &Renewal) -> anyhow::Result<()> {
    enrol::renew_once(renewal)
        .await
        .map(|_| ())
        .context("renewal with the renewed certificate")
}
