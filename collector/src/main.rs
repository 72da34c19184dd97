//! `landmeter`: the collector and its operator CLI.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = landmeter_collector::cli::Cli::parse();
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
