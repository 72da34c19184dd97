//! The collector's reference tables (regions, providers) parsed from operator-supplied CSV.
#![no_main]

use libfuzzer_sys::fuzz_target;

use landmeter_collector::map::reference::{PROVIDERS_CSV, REGIONS_CSV, ReferenceTables};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = std::hint::black_box(ReferenceTables::parse(text, PROVIDERS_CSV));
    let _ = std::hint::black_box(ReferenceTables::parse(REGIONS_CSV, text));
});
