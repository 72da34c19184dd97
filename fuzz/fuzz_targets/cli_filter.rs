//! `landmeter stores` argument parsing and the filter it builds; the custody label parser.
#![no_main]

use clap::Parser as _;
use libfuzzer_sys::fuzz_target;

use landmeter_collector::cli::{Cli, Command, parse_custody};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let args = ["landmeter", "stores"]
        .into_iter()
        .map(str::to_owned)
        .chain(
            text.split(|c: char| c == '\0' || c.is_whitespace())
                .filter(|a| !a.is_empty())
                .map(str::to_owned),
        );
    if let Ok(cli) = Cli::try_parse_from(args)
        && let Command::Stores { filter, .. } = cli.command
    {
        std::hint::black_box(filter.to_filter());
    }
    let _ = std::hint::black_box(parse_custody(&text));
});
