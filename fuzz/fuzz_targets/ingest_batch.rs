//! The collector's decoder of agent messages, then the pure interpretation of the untrusted
//! facts of a `FactsBatch` (what `ingest` checks, and what `map` makes of the facts it accepts).
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prost::Message as _;

use landmeter_collector::ingest::invalid_fact;
use landmeter_collector::map::reference::ReferenceTables;
use landmeter_collector::map::{Interpreter, TagConventions};
use landmeter_proto::v1::{AgentMessage, Fact, agent_message::Msg};

fn interpreter() -> &'static Interpreter {
    static I: OnceLock<Interpreter> = OnceLock::new();
    I.get_or_init(|| {
        Interpreter::new(
            ReferenceTables::builtin().expect("built-in tables parse"),
            TagConventions::default(),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = AgentMessage::decode(data) else {
        return;
    };
    let Some(Msg::FactsBatch(batch)) = msg.msg else {
        return;
    };
    // As the collector does: facts that `invalid_fact` refuses are never stored, so never
    // interpreted; the others are interpreted per account.
    let mut by_account: BTreeMap<&str, Vec<Fact>> = BTreeMap::new();
    for f in &batch.facts {
        if invalid_fact(f).is_none() {
            by_account.entry(f.account.as_str()).or_default().push(f.clone());
        }
        // Bringing an old agent's fact to the current shape is idempotent, and afterwards
        // nothing more needs doing.
        let mut once = f.clone();
        landmeter_proto::compat::upgrade_fact(&mut once);
        let mut twice = once.clone();
        landmeter_proto::compat::upgrade_fact(&mut twice);
        assert_eq!(once, twice);
        assert!(!landmeter_proto::compat::needs_upgrade(&once));
    }
    for (account, facts) in &by_account {
        let views = interpreter().interpret_account("t", account, facts, &|_, _| None);
        std::hint::black_box(views);
    }
});
