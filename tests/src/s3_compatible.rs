//! The European S3-compatible clouds: s3rver (a real S3 server from npm, installed by
//! `scripts/setup.sh`) playing providers whose S3 API lacks the bucket-configuration calls,
//! and the agent run with `[[s3_compatible]]` entries.
//!
//! s3rver answers `ListBuckets` (without `BucketRegion`), `HeadBucket`, object calls and
//! CORS/website configuration, and `NotImplemented` (HTTP 501, S3's XML error) for every
//! other bucket sub-resource: location, encryption, tagging, replication, object lock,
//! versioning. That is the answer an S3-compatible provider gives for a call it lacks, so the
//! agent's persona handling and the collector's "not applicable" run against a real server.
//! It checks Signature V4 with its fixed key pair [`S3RVER_KEY`] / [`S3RVER_SECRET`].
//!
//! Found at `LANDMETER_S3RVER`, else `<repo>/.tools/node_modules/.bin/s3rver`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::{AgentRun, Process, TempDir, agent_with_args, free_port, workspace_root};

/// s3rver's built-in access key id (and secret: the same string).
pub const S3RVER_KEY: &str = "S3RVER";
pub const S3RVER_SECRET: &str = "S3RVER";

pub fn s3rver_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("LANDMETER_S3RVER") {
        let p = PathBuf::from(p);
        if p.exists() {
            return Ok(p);
        }
        bail!(
            "LANDMETER_S3RVER={} does not exist; run scripts/setup.sh",
            p.display()
        );
    }
    let local = workspace_root().join(".tools/node_modules/.bin/s3rver");
    if local.exists() {
        return Ok(local);
    }
    bail!(
        "s3rver not found (looked at $LANDMETER_S3RVER and {}). The S3-compatible tests need it: \
         run `scripts/setup.sh` (npm install s3rver@3.7.1 into .tools) or `.ci/run`",
        local.display()
    )
}

/// A running s3rver with its buckets, killed on drop.
pub struct S3rver {
    addr: SocketAddr,
    _process: Process,
    _dir: TempDir,
}

impl S3rver {
    /// Starts s3rver on a free port with `buckets` created (empty).
    pub fn start(buckets: &[&str]) -> anyhow::Result<S3rver> {
        let bin = s3rver_binary()?;
        let mut last = None;
        for _ in 0..3 {
            let port = free_port()?;
            let dir = TempDir::new("landmeter-s3rver")?;
            let data = dir.path().join("data");
            std::fs::create_dir_all(&data)?;
            let log = std::fs::File::create(dir.path().join("s3rver.log"))?;
            let mut cmd = Command::new(&bin);
            cmd.arg("-d")
                .arg(&data)
                .args(["-a", "127.0.0.1", "-p", &port.to_string(), "--silent"]);
            for bucket in buckets {
                cmd.args(["--configure-bucket", bucket]);
            }
            let child = cmd
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("start {}", bin.display()))?;
            let mut process = Process {
                name: format!("s3rver on {port}"),
                child,
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if crate::wait_for_port(&mut process, addr, Duration::from_secs(30)) {
                return Ok(S3rver {
                    addr,
                    _process: process,
                    _dir: dir,
                });
            }
            let text = std::fs::read_to_string(dir.path().join("s3rver.log")).unwrap_or_default();
            last = Some(anyhow::anyhow!("s3rver did not start on {port}:\n{text}"));
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("s3rver did not start")))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Runs `landmeter-agent scan --config <config> --collector <collector>` with `env` added
/// (the variables the entries name for their keys) and the test AWS environment.
pub async fn run_agent(
    collector: &str,
    config: &Path,
    env: &[(&str, &str)],
) -> anyhow::Result<AgentRun> {
    let config = config.display().to_string();
    let (mut cmd, _home) = agent_with_args(
        &["scan", "--config", &config, "--collector", collector],
        env,
    )?;
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .context("landmeter-agent scan (s3-compatible) did not finish within 180 s")?
        .context("run landmeter-agent")?;
    Ok(AgentRun {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
