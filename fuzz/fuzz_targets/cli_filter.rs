//! `landmeter stores` argument parsing and the filter it builds; the custody and store-kind
//! label parsers; the HTTP API's query parameters (the same grammar); the `authorization`
//! header an operator sends.
#![no_main]

use clap::Parser as _;
use libfuzzer_sys::fuzz_target;

use landmeter_collector::api::filter::{from_query, parse_custody, parse_kind};
use landmeter_collector::auth::Credential;
use landmeter_collector::cli::{Cli, Command};

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
    let _ = std::hint::black_box(parse_kind(&text));
    // `k=v&k=v` as axum hands the pairs over.
    let pairs: Vec<(String, String)> = text
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let _ = std::hint::black_box(from_query(&pairs));
    if let Some(c) = Credential::from_header(&text) {
        // What is read back is what would be sent.
        assert_eq!(Credential::from_header(&c.header()), Some(c));
    }
});
