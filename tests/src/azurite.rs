//! Azurite, the Azure Storage emulator (Blob service only), on its own port, killed on drop;
//! and seeding containers into it through the official `azure_storage_blob` crate, signed
//! with Shared Key by the agent's own policy.
//!
//! Found at `LANDMETER_AZURITE`, else `<repo>/.tools/node_modules/.bin/azurite-blob`
//! (installed by `scripts/setup.sh`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use azure_core::credentials::Secret;
use azure_core::http::{ClientOptions, Url};
use azure_storage_blob::models::BlobContainerClientCreateOptions;
use azure_storage_blob::{BlobServiceClient, BlobServiceClientOptions};
use landmeter_agent::providers::azure::auth::SharedKeyPolicy;

use crate::arm_server::{AZURITE_ACCOUNT, AZURITE_KEY};
use crate::{Process, TempDir, free_port, workspace_root};

/// The demo's containers (name, metadata): a classified archive, a process's exports, and
/// an unclassified scratch container.
pub const DEMO_CONTAINERS: &[(&str, &[(&str, &str)])] = &[
    (
        "archief",
        &[("classification", "BBN2"), ("process", "archief")],
    ),
    ("exports", &[("process", "belastingen")]),
    ("scratch", &[]),
];

/// How to find azurite-blob.
pub fn azurite_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("LANDMETER_AZURITE") {
        let p = PathBuf::from(p);
        if p.exists() {
            return Ok(p);
        }
        bail!(
            "LANDMETER_AZURITE={} does not exist; run scripts/setup.sh",
            p.display()
        );
    }
    let local = workspace_root().join(".tools/node_modules/.bin/azurite-blob");
    if local.exists() {
        return Ok(local);
    }
    bail!(
        "azurite-blob not found (looked at $LANDMETER_AZURITE and {}). The Azure tests need it: \
         run `scripts/setup.sh` (npm install azurite@3.35.0 into .tools) or `.ci/run`",
        local.display()
    )
}

/// A running Azurite Blob service.
pub struct Azurite {
    addr: SocketAddr,
    _process: Process,
    _dir: TempDir,
}

impl Azurite {
    pub fn start() -> anyhow::Result<Azurite> {
        let bin = azurite_binary()?;
        let mut last = None;
        for _ in 0..3 {
            let port = free_port()?;
            let dir = TempDir::new("landmeter-azurite")?;
            let log = std::fs::File::create(dir.path().join("azurite.log"))?;
            let child = Command::new(&bin)
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .arg("--location")
                .arg(dir.path())
                .args(["--skipApiVersionCheck", "--disableTelemetry", "--silent"])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("start {}", bin.display()))?;
            let mut process = Process {
                name: format!("azurite-blob on {port}"),
                child,
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if crate::wait_for_port(&mut process, addr, Duration::from_secs(30)) {
                return Ok(Azurite {
                    addr,
                    _process: process,
                    _dir: dir,
                });
            }
            let text = std::fs::read_to_string(dir.path().join("azurite.log")).unwrap_or_default();
            last = Some(anyhow::anyhow!("azurite did not start on {port}:\n{text}"));
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("azurite did not start")))
    }

    /// `http://127.0.0.1:PORT/devstoreaccount1` (path-style, no trailing `/`).
    pub fn blob_endpoint(&self) -> String {
        format!("http://{}/{AZURITE_ACCOUNT}", self.addr)
    }

    /// Creates `containers` (name, metadata) with Shared Key.
    pub async fn create_containers(
        &self,
        containers: &[(&str, &[(&str, &str)])],
    ) -> anyhow::Result<()> {
        let options = BlobServiceClientOptions {
            client_options: ClientOptions {
                per_try_policies: vec![Arc::new(SharedKeyPolicy {
                    account: AZURITE_ACCOUNT.to_owned(),
                    key: Secret::new(AZURITE_KEY.to_owned()),
                })],
                ..ClientOptions::default()
            },
            ..BlobServiceClientOptions::default()
        };
        let service =
            BlobServiceClient::new(Url::parse(&self.blob_endpoint())?, None, Some(options))?;
        for (name, metadata) in containers {
            let metadata: HashMap<String, String> = metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            service
                .blob_container_client(name)
                .create(Some(BlobContainerClientCreateOptions {
                    metadata: Some(metadata),
                    ..BlobContainerClientCreateOptions::default()
                }))
                .await
                .with_context(|| format!("create container {name} in azurite"))?;
        }
        Ok(())
    }
}
