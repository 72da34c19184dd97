//! A current agent against a collector that speaks only the wave-1 wire contract (the other
//! direction, old agents against this collector, is collector/tests/it/compat.rs). The agent
//! scans the estate's buckets, the wave-1 scope, and must deliver them as a wave-1 collector
//! reads them: every message decodes with the wave-1 types, the wave-1 collector's checks pass,
//! and the fields wave 1 interprets (provider, service, region, the flat encryption fields)
//! carry the buckets' truth.

use std::collections::BTreeMap;

use landmeter_e2e::estate::{self, Aws, MAIN_ACCOUNT, SECOND_ACCOUNT};
use landmeter_e2e::wave1_collector::Wave1Collector;
use landmeter_e2e::wave1_collector::wave1::{Encryption, Fact, Store, fact::Body};
use landmeter_e2e::{Moto, run_agent, run_agent_with_env};

use crate::ESTATE;

#[tokio::test]
async fn a_current_agent_delivers_buckets_to_a_wave1_collector() -> anyhow::Result<()> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    let truth = estate::seed(&aws, ESTATE).await?;
    let collector = Wave1Collector::start().await?;

    let run = run_agent(&collector.url(), &moto.endpoint(), &[]).await?;
    let got = collector.received();
    assert!(
        got.rejects.is_empty(),
        "the wave-1 collector refused: {:?}",
        got.rejects
    );
    run.success()?;

    // The protocol as wave 1 knows it: hello with the agent's name, one scan naming its one
    // provider in the wave-1 field, every batch acknowledged, the end counting them.
    assert_eq!(got.hellos.len(), 1, "{:?}", got.hellos);
    assert_eq!(got.hellos[0].agent_name, "e2e");
    assert!(!got.hellos[0].agent_version.is_empty());
    let begin = got.begins.first().expect("a ScanBegin");
    assert_eq!(
        begin.provider, "aws",
        "wave 1 reads the provider from ScanBegin.provider"
    );
    for account in [MAIN_ACCOUNT, SECOND_ACCOUNT] {
        assert!(
            begin.accounts.iter().any(|a| a == account),
            "{:?}",
            begin.accounts
        );
    }
    let end = got.ends.first().expect("a ScanEnd acknowledged");
    assert_eq!(end.scan_id, begin.scan_id);
    for account in [MAIN_ACCOUNT, SECOND_ACCOUNT] {
        let coverage = end.coverage.iter().find(|c| c.account == account);
        assert!(coverage.is_some_and(|c| c.complete), "{:?}", end.coverage);
    }

    // Every bucket as a wave-1 store, with the encryption wave 1 interprets.
    let stores: BTreeMap<&str, (&Fact, &Store)> = got
        .facts
        .iter()
        .filter_map(|f| match &f.body {
            Some(Body::Store(s)) => Some((s.name.as_str(), (f, s))),
            _ => None,
        })
        .collect();
    let encryption: BTreeMap<(&str, &str), &Encryption> = got
        .facts
        .iter()
        .filter_map(|f| match &f.body {
            Some(Body::Encryption(e)) => Some(((f.account.as_str(), f.subject.as_str()), e)),
            _ => None,
        })
        .collect();
    let mut wrong = Vec::new();
    for t in &truth {
        let Some((fact, store)) = stores.get(t.name()) else {
            wrong.push(format!("{}: no store fact", t.name()));
            continue;
        };
        if (store.provider.as_str(), store.service.as_str()) != ("aws", "s3") {
            wrong.push(format!(
                "{}: {}/{}",
                t.name(),
                store.provider,
                store.service
            ));
        }
        if store.region != t.row.region || fact.account != t.account {
            wrong.push(format!(
                "{}: {} in {}",
                t.name(),
                fact.account,
                store.region
            ));
        }
        let Some(e) = encryption.get(&(fact.account.as_str(), fact.subject.as_str())) else {
            wrong.push(format!("{}: no encryption fact", t.name()));
            continue;
        };
        if let Some(key) = &t.key_arn {
            let named = [&e.key_ref, &e.resolved_key_arn];
            if !named
                .iter()
                .any(|k| k.as_str() == key || key.ends_with(k.as_str()))
            {
                wrong.push(format!("{}: key {named:?}, expected {key}", t.name()));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    Ok(())
}

/// Beyond wave 1's scope: a kinds scan sends fact bodies added after wave 1 (`Sharing` of
/// snapshots, `Setting` of EBS encryption by default), which a wave-1 collector decodes as no
/// body and refuses, as it refuses any unknown fact; the agent reports the refusal by its code and reason and exits non-zero
/// instead of retrying or dropping facts (README: upgrade collectors before agents).
#[tokio::test]
async fn a_wave1_collector_refuses_new_store_kinds_and_the_agent_says_so() -> anyhow::Result<()> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    landmeter_e2e::aws_kinds_estate::seed(&aws).await?;
    let collector = Wave1Collector::start().await?;

    let run = run_agent_with_env(
        &collector.url(),
        &moto.endpoint(),
        &[],
        &[
            (
                "LANDMETER_AGENT_AWS_KINDS",
                "database,table,volume,snapshot,file-system,backup-vault,log-group",
            ),
            ("LANDMETER_AGENT_AWS_REGIONS", "eu-west-1,us-east-1"),
        ],
    )
    .await?;
    let got = collector.received();
    assert!(
        got.rejects
            .iter()
            .any(|r| r == "REJECT_CODE_INVALID_FACT: no body (unknown fact kind)"),
        "{:?}",
        got.rejects
    );
    assert!(!run.status.success(), "{}", run.stderr);
    assert!(
        run.stderr.contains("REJECT_CODE_INVALID_FACT") && run.stderr.contains("unknown fact kind"),
        "{}",
        run.stderr
    );
    assert!(
        got.ends.is_empty(),
        "a refused scan never ends as delivered"
    );
    Ok(())
}
