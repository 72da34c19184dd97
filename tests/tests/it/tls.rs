//! The real binaries over mutual TLS: `landmeter ca init`, `ca server-cert`, `agent enroll`,
//! a collector serving TLS, an agent presenting its certificate, the CLI with a token.
//! The tenant of every store is the one the agent's certificate names.

use std::process::Command;

use landmeter_e2e::estate::{self, Aws};
use landmeter_e2e::{Collector, Moto, TempDir, run_agent, workspace_bin};

use crate::ESTATE;

fn landmeter(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(workspace_bin("landmeter")?)
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "landmeter {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolled_agent_streams_over_mutual_tls_into_its_tenant() -> anyhow::Result<()> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    estate::seed(&aws, ESTATE).await?;

    let dir = TempDir::new("landmeter-tls")?;
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
    landmeter(&[
        "agent",
        "enroll",
        "--ca-dir",
        &p("ca"),
        "--tenant",
        "gemeente-a",
        "--name",
        "e2e",
        "--out",
        &p("agent"),
    ])?;

    let collector = Collector::start_with(
        TempDir::new("landmeter-tls-collector")?,
        &dir.path().join("map.db"),
        "127.0.0.1:0",
        &[
            "--tls-cert",
            &p("tls/server.pem"),
            "--tls-key",
            &p("tls/server.key"),
            "--client-ca",
            &p("ca/ca.pem"),
        ],
    )?;
    assert!(collector.url().starts_with("https://"));

    // Without its certificate the agent is refused; with it the scan lands.
    let bare = dir.path().join("bare.toml");
    std::fs::write(
        &bare,
        format!("[collector]\nca_file = {:?}\n", p("agent/ca.pem")),
    )?;
    let refused = run_agent(
        &collector.url(),
        &moto.endpoint(),
        &["--config", bare.to_str().unwrap_or_default()],
    )
    .await?;
    assert!(
        refused.success().is_err(),
        "an agent without a certificate streamed"
    );

    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\nca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}\n",
            p("agent/ca.pem"),
            p("agent/e2e.pem"),
            p("agent/e2e.key")
        ),
    )?;
    run_agent(
        &collector.url(),
        &moto.endpoint(),
        &["--config", config.to_str().unwrap_or_default()],
    )
    .await?
    .success()
    .map_err(|e| e.context(format!("collector log:\n{}", collector.log())))?;

    let json = collector.cli(&["stores", "--format", "json", "--ca-file", &p("ca/ca.pem")])?;
    let stores: serde_json::Value = serde_json::from_str(&json)?;
    let stores = stores.as_array().cloned().unwrap_or_default();
    assert_eq!(stores.len(), ESTATE.len(), "every seeded bucket arrived");
    assert!(
        stores.iter().all(|s| s["tenant"] == "gemeente-a"),
        "tenant from the certificate: {json}"
    );
    Ok(())
}
