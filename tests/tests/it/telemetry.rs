//! Traces over OTLP: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the agent exports its scan and
//! per-account spans and the collector its ingest batch, scan end and query spans (with
//! tenant and scan ids) to an OTLP/gRPC receiver; without it nothing is exported.

use std::time::Duration;

use landmeter_e2e::estate::{self, Aws};
use landmeter_e2e::otlp_receiver::{OtlpReceiver, ReceivedSpan};
use landmeter_e2e::{Collector, Moto, TempDir, run_agent_with_env};

use crate::ESTATE;

fn named<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> Vec<&'a ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.service == service && s.name == name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_ingest_and_queries_are_traced_over_otlp() -> anyhow::Result<()> {
    let receiver = OtlpReceiver::start().await?;
    let endpoint = receiver.endpoint();
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    estate::seed(&aws, ESTATE).await?;
    // The collector is killed at the end of the test, so it exports every 100 ms rather than
    // at exit; the agent flushes when `scan` returns.
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let dir = TempDir::new("landmeter-otlp")?;
    let db = dir.path().join("map.db");
    let collector = Collector::start_with_env(dir, &db, "127.0.0.1:0", &[], &otel)?;
    let run = run_agent_with_env(&collector.url(), &moto.endpoint(), &[], &otel)
        .await?
        .success()?;
    // An operator's query.
    let listed = collector.cli(&["stores", "--format", "json"])?;
    assert!(listed.contains("\"id\""), "{listed}");

    let spans = receiver
        .wait_for(
            "agent scan, collector ingest and query spans",
            Duration::from_secs(20),
            |s| {
                !named(s, "landmeter-agent", "scan").is_empty()
                    && !named(s, "landmeter-collector", "scan_end").is_empty()
                    && s.iter().any(|x| {
                        x.service == "landmeter-collector"
                            && x.name == "grpc"
                            && x.attribute("rpc") == Some("/landmeter.v1.MapService/ListStores")
                    })
            },
        )
        .await?;

    // The agent's scan: one span with the scan id it logged, one child per account.
    let scan = named(&spans, "landmeter-agent", "scan");
    assert_eq!(scan.len(), 1, "{scan:?}");
    let scan_id = scan[0].attribute("scan_id").unwrap_or_default().to_owned();
    assert!(
        run.stderr.contains(&scan_id) || run.stdout.contains(&scan_id),
        "the traced scan id {scan_id:?} is the scan's"
    );
    let accounts = named(&spans, "landmeter-agent", "scan_account");
    assert!(!accounts.is_empty());
    assert!(
        accounts
            .iter()
            .all(|a| a.trace_id == scan[0].trace_id && a.attribute("provider") == Some("aws")),
        "{accounts:?}"
    );

    // The collector: every batch of that scan in the agent's tenant, and its scan end.
    let batches: Vec<_> = named(&spans, "landmeter-collector", "ingest_batch")
        .into_iter()
        .filter(|b| b.attribute("scan_id") == Some(scan_id.as_str()))
        .collect();
    assert!(!batches.is_empty(), "no ingest_batch span of {scan_id}");
    assert!(
        batches
            .iter()
            .all(|b| b.attribute("tenant") == Some("default")
                && b.attribute("facts").is_some_and(|f| f != "0")),
        "{batches:?}"
    );
    let end = named(&spans, "landmeter-collector", "scan_end");
    assert_eq!(end[0].attribute("scan_id"), Some(scan_id.as_str()));
    // The query: its role recorded once authenticated.
    let query = spans
        .iter()
        .find(|x| x.attribute("rpc") == Some("/landmeter.v1.MapService/ListStores"))
        .expect("waited for");
    assert_eq!(query.attribute("role"), Some("admin"), "{query:?}");
    Ok(())
}

/// An endpoint nobody answers loses spans, not scans: the scan lands in the map and the
/// agent exits 0 (telemetry never stops the program).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_loses_spans_not_scans() -> anyhow::Result<()> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    estate::seed(&aws, ESTATE).await?;
    let collector = Collector::start()?;
    let closed = format!("http://127.0.0.1:{}", landmeter_e2e::free_port()?);
    run_agent_with_env(
        &collector.url(),
        &moto.endpoint(),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", closed.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
        ],
    )
    .await?
    .success()?;
    let stores = collector.map().await?.all_stores().await?;
    assert_eq!(stores.len(), ESTATE.len());
    Ok(())
}
