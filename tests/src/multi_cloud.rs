//! One agent, several clouds: a configuration with `[aws]` (moto or a proxy in front of it)
//! and `[azure]` (the ARM test server, and Azurite when it serves the blobs) both enabled,
//! and `landmeter-agent scan --config` with it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::arm_server::ArmServer;
use crate::{AgentRun, agent_with_args};

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
/// environment (static credentials, no config files, no metadata) and no Azure variables
/// from the host. AWS scans buckets only (the harness's default).
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
        if k.starts_with("AZURE_") || k.starts_with("IDENTITY_") {
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
