//! The agent's decoder of the collector's answers, and the JSON rendering of a decoded fact.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message as _;

use landmeter_proto::v1::{CollectorMessage, Fact};

fuzz_target!(|data: &[u8]| {
    // A CollectorMessage (Ack, Reject, ScanRequest) carries no facts: decoding and reading
    // what the uplink reads is all there is.
    if let Ok(m) = CollectorMessage::decode(data) {
        std::hint::black_box(format!("{m:?}"));
        if let Some(landmeter_proto::v1::collector_message::Msg::Reject(r)) = &m.msg {
            std::hint::black_box(r.code().as_str_name());
        }
    }
    if let Ok(f) = Fact::decode(data) {
        let v = landmeter_proto::json::fact(&f);
        std::hint::black_box(v.to_string());
    }
});
