//! `landmeter`: the collector and its operator CLI.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = landmeter_collector::cli::Cli::parse();
    let telemetry = landmeter_telemetry::init("landmeter-collector", cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(landmeter_collector::cli::run(cli));
    drop(runtime);
    // Flushes the spans not yet exported before the process exits.
    drop(telemetry);
    match result {
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
