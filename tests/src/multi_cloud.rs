//! One agent, several clouds: a configuration with `[aws]` (moto or a proxy in front of it)
//! and `[azure]` (the ARM test server, and Azurite when it serves the blobs) both enabled,
//! and `landmeter-agent scan --config` with it; [`GoogleCloud`] and [`EuropeanClouds`] add a
//! `[gcp]` section and two `[[s3_compatible]]` entries to it (the demo and the five-cloud test).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::arm_server::ArmServer;
use crate::gcp_server::{FakeGcs, GcpServer, PROJECT};
use crate::s3_compatible::{S3RVER_KEY, S3RVER_SECRET, S3rver};
use crate::{AgentRun, TempDir, agent_with_args};

/// A Google Cloud project: the GCP test server (OAuth2 token, Cloud KMS, Cloud Monitoring and,
/// without an emulator, the bucket listing) and, when asked, fake-gcs-server serving the
/// buckets as the `gcp` e2e tests do.
pub struct GoogleCloud {
    pub server: GcpServer,
    gcs: Option<FakeGcs>,
}

/// The buckets the demo creates in fake-gcs-server. The emulator keeps only their names and
/// gives each the one location it was started with (EMULATORS.md).
pub const DEMO_GCS_BUCKETS: &[&str] = &["lm-gcs-burgerzaken", "lm-gcs-archief", "lm-gcs-geodata"];
/// The location fake-gcs-server gives every demo bucket (Eemshaven, NL).
pub const DEMO_GCS_LOCATION: &str = "EUROPE-WEST4";

impl GoogleCloud {
    /// The test server alone: its whole estate ([`crate::gcp_server::GCP_ESTATE`]), with the
    /// location types, keys and labels fake-gcs-server would drop.
    pub async fn start() -> anyhow::Result<GoogleCloud> {
        Ok(GoogleCloud {
            server: GcpServer::start().await?,
            gcs: None,
        })
    }

    /// fake-gcs-server with `buckets` in [`PROJECT`] for the listing, the test server for the
    /// rest.
    pub async fn with_emulated_buckets(buckets: &[&str]) -> anyhow::Result<GoogleCloud> {
        let gcs = FakeGcs::start(DEMO_GCS_LOCATION)?;
        for name in buckets {
            gcs.create_bucket(PROJECT, &serde_json::json!({ "name": name }))
                .await?;
        }
        Ok(GoogleCloud {
            server: GcpServer::start().await?,
            gcs: Some(gcs),
        })
    }

    /// The emulator's endpoint when it serves the buckets.
    pub fn storage_endpoint(&self) -> String {
        self.gcs
            .as_ref()
            .map_or_else(|| self.server.endpoint(), FakeGcs::endpoint)
    }

    /// The `[gcp]` section: buckets only.
    pub fn section(&self) -> String {
        self.with_storage_endpoint(self.server.gcp_section())
    }

    /// The `[gcp]` section with Cloud SQL instances, Persistent Disks and snapshots (the
    /// test server's) beside the buckets.
    pub fn section_with_kinds(&self) -> String {
        self.with_storage_endpoint(self.server.gcp_section_with_kinds())
    }

    fn with_storage_endpoint(&self, section: String) -> String {
        section.replace(
            &format!("storage_endpoint = \"{}\"", self.server.endpoint()),
            &format!("storage_endpoint = \"{}\"", self.storage_endpoint()),
        )
    }
}

/// One European S3-compatible provider account played by an s3rver.
#[derive(Debug, Clone, Copy)]
pub struct Persona {
    pub provider: &'static str,
    pub account: &'static str,
    pub region: &'static str,
    pub buckets: &'static [&'static str],
}

/// The two European providers of the demo and the five-cloud test: OVHcloud Gravelines (FR,
/// in the EU; encryption only when asked, and s3rver answers NotImplemented, so custody
/// unknown) and Exoscale Geneva (CH, outside the EU/EEA; SSE-SOS always: provider custody).
pub const EUROPEAN_PERSONAS: &[Persona] = &[
    Persona {
        provider: "ovhcloud",
        account: "ovh-gemeente",
        region: "gra",
        buckets: &["ovh-gra-archief", "ovh-gra-zaakdossiers"],
    },
    Persona {
        provider: "exoscale",
        account: "exo-gemeente",
        region: "ch-gva-2",
        buckets: &["exo-gva-backups"],
    },
];

/// The s3rvers of [`EUROPEAN_PERSONAS`] (one per provider: each lists every bucket of its
/// endpoint) and the shared-credentials file their entries read the keys from.
pub struct EuropeanClouds {
    servers: Vec<(Persona, S3rver)>,
    credentials: PathBuf,
    _dir: TempDir,
}

impl EuropeanClouds {
    pub fn start() -> anyhow::Result<EuropeanClouds> {
        let dir = TempDir::new("landmeter-eu-clouds")?;
        let credentials = dir.path().join("s3-compatible.credentials");
        std::fs::write(
            &credentials,
            format!(
                "[landmeter]\naws_access_key_id = {S3RVER_KEY}\naws_secret_access_key = {S3RVER_SECRET}\n"
            ),
        )?;
        let servers = EUROPEAN_PERSONAS
            .iter()
            .map(|p| -> anyhow::Result<(Persona, S3rver)> { Ok((*p, S3rver::start(p.buckets)?)) })
            .collect::<anyhow::Result<_>>()?;
        Ok(EuropeanClouds {
            servers,
            credentials,
            _dir: dir,
        })
    }

    /// One `[[s3_compatible]]` entry per persona, keys from the credentials file.
    pub fn section(&self) -> String {
        self.servers
            .iter()
            .map(|(p, server)| {
                format!(
                    "[[s3_compatible]]\nprovider = \"{}\"\naccount = \"{}\"\n\
                     regions = [{{ region = \"{}\", endpoint = \"{}\" }}]\n\
                     credentials_file = \"{}\"\ncredentials_profile = \"landmeter\"\n",
                    p.provider,
                    p.account,
                    p.region,
                    server.endpoint(),
                    self.credentials.display()
                )
            })
            .collect()
    }
}

/// Writes an agent configuration that scans the ARM test server as Azure and `aws_endpoint`
/// as AWS (the credential chain's account), in one scan. `azure_secret` replaces the test
/// client secret (a wrong one makes Azure's planning fail).
pub fn config(
    arm: &ArmServer,
    collector_url: &str,
    aws_endpoint: &str,
    azure_secret: Option<&str>,
) -> anyhow::Result<PathBuf> {
    let azure = arm.agent_config(collector_url)?;
    let mut text = std::fs::read_to_string(&azure)
        .with_context(|| format!("read {}", azure.display()))?
        .replace("name = \"e2e-azure\"", "name = \"e2e-multi\"");
    let dir = azure.parent().context("config has a directory")?;
    if let Some(secret) = azure_secret {
        let path = dir.join("wrong-client-secret");
        std::fs::write(&path, secret)?;
        let right = dir.join("client-secret").display().to_string();
        text = text.replace(&right, &path.display().to_string());
    }
    text.push_str(&format!(
        "[aws]\nenabled = true\nprovider = \"aws\"\nendpoint_url = \"{aws_endpoint}\"\n"
    ));
    let path = dir.join("agent-multi.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Runs `landmeter-agent scan --config <config> --collector <collector>` with the test AWS
/// environment (static credentials, no config files, no metadata) and no Azure or Google
/// variables from the host. AWS scans buckets only (the harness's default).
pub async fn run_agent(collector: &str, config: &Path) -> anyhow::Result<AgentRun> {
    run(collector, config, false).await
}

/// [`run_agent`] with the AWS store kinds as the configuration says (the demo).
pub async fn run_agent_with_aws_kinds(collector: &str, config: &Path) -> anyhow::Result<AgentRun> {
    run(collector, config, true).await
}

async fn run(collector: &str, config: &Path, aws_kinds: bool) -> anyhow::Result<AgentRun> {
    let config = config.display().to_string();
    let (mut cmd, _home) = agent_with_args(
        &["scan", "--config", &config, "--collector", collector],
        &[],
    )?;
    if aws_kinds {
        cmd.env_remove("LANDMETER_AGENT_AWS_KINDS");
    }
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if ["AZURE_", "IDENTITY_", "GOOGLE_", "CLOUDSDK_", "GCE_"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .context("landmeter-agent scan (multi-cloud) did not finish within 180 s")?
        .context("run landmeter-agent")?;
    Ok(AgentRun {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
