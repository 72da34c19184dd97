//! The tenant and agent read from a client certificate (DER from TLS, PEM from the CLI).
#![no_main]

use libfuzzer_sys::fuzz_target;

use landmeter_collector::pki::{identity_from_der, identity_from_pem};

fuzz_target!(|data: &[u8]| {
    let _ = std::hint::black_box(identity_from_der(data));
    let _ = std::hint::black_box(identity_from_pem(&String::from_utf8_lossy(data)));
});
