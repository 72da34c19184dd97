//! `landmeter`: the collector and its operator CLI.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = landmeter_collector::cli::Cli::parse();
    init_logging(cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(landmeter_collector::cli::run(cli)) {
        Err(e)
            if e.downcast_ref::<landmeter_collector::cli::Incomplete>()
                .is_some() =>
        {
            // Printed in full, but resting on failed reads: its own exit code.
            eprintln!("landmeter: {e}");
            std::process::exit(landmeter_collector::cli::Incomplete::EXIT_CODE);
        }
        other => other,
    }
}

/// Logs to stderr in `format` (JSON when not given and stderr is not a terminal); never ANSI
/// colour codes into a file or pipe.
fn init_logging(format: Option<landmeter_collector::cli::LogFormat>) {
    use landmeter_collector::cli::LogFormat;
    use std::io::IsTerminal as _;
    let terminal = std::io::stderr().is_terminal();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(terminal);
    match format.unwrap_or(if terminal {
        LogFormat::Text
    } else {
        LogFormat::Json
    }) {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
