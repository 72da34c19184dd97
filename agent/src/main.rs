//! `landmeter-agent`: tracing, command line, configuration; the work is in the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use landmeter_agent::config::{Config, ENV_CONFIG_FILE, Overrides};

/// Read-only survey of cloud storage and key custody; streams facts to a landmeter collector.
#[derive(Debug, Parser)]
#[command(name = "landmeter-agent", version = env!("LANDMETER_VERSION"))]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr: json or text (default: json unless stderr is a terminal).
    #[arg(long, global = true, value_enum, env = "LANDMETER_LOG_FORMAT")]
    log_format: Option<LogFormat>,
}

use landmeter_telemetry::LogFormat;

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan the configured accounts and stream the facts to the collector (or print them).
    Scan(ScanArgs),
    /// Run as a service: scan on the schedule and when the collector asks, deliver through
    /// the durable spool, serve /metrics; stop on SIGTERM or Ctrl-C.
    Run {
        /// Configuration file (TOML).
        #[arg(long, env = ENV_CONFIG_FILE)]
        config: Option<PathBuf>,
    },
    /// Enrol with a collector: the key is made here (0600) and never leaves this host; a
    /// certificate signing request goes with a one-time token (`landmeter enroll-token
    /// create`) to the collector, whose CA is first checked against --ca-fingerprint.
    /// Writes ca.pem, agent.pem and agent.key into --dir and prints the [collector] settings.
    Enroll(EnrollArgs),
    /// Load and validate the configuration, then print the effective configuration.
    CheckConfig {
        /// Configuration file (TOML).
        #[arg(long, env = ENV_CONFIG_FILE)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct EnrollArgs {
    /// The collector's gRPC URL, `https://host:port`.
    #[arg(long, value_name = "URL")]
    collector: String,
    /// The one-time enrolment token.
    #[arg(long, env = "LANDMETER_ENROLL_TOKEN", hide_env_values = true)]
    token: String,
    /// The collector CA's fingerprint, `sha256:...`, as `enroll-token create` printed it.
    #[arg(long, value_name = "sha256:HEX")]
    ca_fingerprint: String,
    /// Folder for ca.pem, agent.pem and agent.key.
    #[arg(long, default_value = "/var/lib/landmeter/agent")]
    dir: PathBuf,
    /// This agent's name, when the token does not bind one.
    #[arg(long)]
    name: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ScanArgs {
    /// Configuration file (TOML).
    #[arg(long, env = ENV_CONFIG_FILE)]
    config: Option<PathBuf>,
    /// Collector URL, or several comma-separated (tried in order); overrides collector.url(s).
    #[arg(long, value_name = "URL", conflicts_with = "output")]
    collector: Option<String>,
    /// Print the facts to stdout instead of streaming them to a collector.
    #[arg(long, value_enum)]
    output: Option<Output>,
    /// Endpoint for every AWS API (emulators, S3-compatible clouds); S3 goes path-style.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// The provider the endpoint stands for (aws, ovhcloud, scaleway, ...).
    #[arg(long, value_name = "NAME")]
    provider: Option<String>,
    /// Agent name.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Scan the account behind this role (repeatable; replaces [[aws.accounts]]).
    #[arg(long = "role-arn", value_name = "ARN")]
    role_arns: Vec<String>,
    /// Do not scan the credential chain's own account.
    #[arg(long)]
    no_caller_account: bool,
    /// Buckets examined concurrently per account.
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    /// One JSON document: {"scan_id", "facts", "coverage"}.
    Json,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = landmeter_telemetry::init("landmeter-agent", cli.log_format);
    match cli.command {
        Command::CheckConfig { config } => {
            let config = Config::load(config.as_deref(), std::env::vars(), &Overrides::default())
                .context("configuration is invalid")?;
            print!("{}", config.to_toml());
            Ok(())
        }
        Command::Scan(args) => scan(args),
        Command::Enroll(args) => enroll(args),
        Command::Run { config } => run(config),
    }
}

fn run(config: Option<PathBuf>) -> anyhow::Result<()> {
    let config = Config::load(config.as_deref(), std::env::vars(), &Overrides::default())
        .context("configuration is invalid")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                match signal(SignalKind::terminate()) {
                    Ok(mut term) => {
                        tokio::select! {
                            _ = term.recv() => {}
                            _ = tokio::signal::ctrl_c() => {}
                        }
                    }
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
        };
        tracing::info!(name = %config.name, collectors = ?config.collector.all_urls(), "agent service starting");
        landmeter_agent::run_service(&config, shutdown).await
    })?;
    Ok(())
}

fn enroll(args: EnrollArgs) -> anyhow::Result<()> {
    use landmeter_agent::uplink::enrol;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let options = enrol::EnrollOptions {
        collector: args.collector.clone(),
        token: args.token,
        ca_fingerprint: args.ca_fingerprint,
        dir: args.dir,
        name: args.name,
        connect_timeout: std::time::Duration::from_secs(10),
    };
    let enrolled = runtime
        .block_on(enrol::enroll(&options))
        .context("enrolment failed")?;
    let when = time::OffsetDateTime::from_unix_timestamp(enrolled.not_after_ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    eprintln!(
        "enrolled as agent {} of tenant {}; certificate valid until {when}, renewed automatically by `landmeter-agent run`; key {} (0600) never left this host. Agent configuration:",
        enrolled.agent,
        enrolled.tenant,
        enrolled.key_file.display()
    );
    println!(
        "name = {:?}\n\n[collector]\nurl = {:?}\nca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}",
        enrolled.agent,
        args.collector,
        enrolled.ca_file.display().to_string(),
        enrolled.cert_file.display().to_string(),
        enrolled.key_file.display().to_string()
    );
    Ok(())
}

fn scan(args: ScanArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        name: args.name,
        collector_url: args.collector,
        provider: args.provider,
        endpoint_url: args.endpoint_url,
        concurrency: args.concurrency,
        role_arns: args.role_arns,
        no_caller_account: args.no_caller_account,
    };
    let config = Config::load(args.config.as_deref(), std::env::vars(), &overrides)
        .context("configuration is invalid")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let summary = runtime.block_on(async {
        match args.output {
            Some(Output::Json) => {
                let stdout = std::io::BufWriter::new(std::io::stdout().lock());
                Ok::<_, anyhow::Error>(landmeter_agent::scan_to_json(&config, stdout).await?)
            }
            None => Ok(landmeter_agent::scan_to_collector(&config).await?),
        }
    })?;
    landmeter_agent::log_summary(&summary);
    Ok(())
}
