//! One agent, several clouds: a configuration with `[aws]` (moto) and `[azure]` (the ARM test
//! server and Azurite) both enabled runs one scan, one scan id, and both clouds' stores land
//! in one collector's map; a cloud whose credentials fail (either one) is incomplete
//! coverage while the other is still scanned. With `[gcp]` (the GCP test server) and two
//! `[[s3_compatible]]` European providers (s3rver personas) added, every store of the five
//! is in the map with its country, EU flag, custody and copies.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Context as _;
use landmeter_e2e::arm_server::{
    AZURE_ESTATE, AZURITE_ACCOUNT, ArmServer, SUB_DENIED, SUB_MAIN, SUB_US,
};
use landmeter_e2e::azurite::Azurite;
use landmeter_e2e::browser::{get_json, http_addr};
use landmeter_e2e::estate::{self, Aws, MAIN_ACCOUNT, SECOND_ACCOUNT};
use landmeter_e2e::fault_proxy::{Answer, FaultProxy, Rule};
use landmeter_e2e::gcp_server::{GCP_ESTATE, PROJECT};
use landmeter_e2e::multi_cloud::{EUROPEAN_PERSONAS, EuropeanClouds, GoogleCloud};
use landmeter_e2e::{AGENT_ROLE_ARN, Collector, Moto, TempDir, multi_cloud};
use landmeter_proto::Custody;
use landmeter_proto::v1::fact::Body;
use landmeter_proto::v1::{Fact, FactTopic, StoreKind, StoreView, encryption};
use serde_json::Value;

use crate::ESTATE;

/// The AWS rows this test seeds (both in the credential chain's account).
const AWS_ROWS: std::ops::Range<usize> = 0..2;

/// A collector with its HTTP side (for `/v1/coverage`).
fn collector() -> anyhow::Result<Collector> {
    let dir = TempDir::new("landmeter-collector-multi")?;
    let db = dir.path().join("map.db");
    Collector::start_with(dir, &db, "127.0.0.1:0", &["--http-listen", "127.0.0.1:0"])
}

/// The newest scans the collector reports, as `/v1/coverage` gives them.
async fn scans(collector: &Collector) -> anyhow::Result<Vec<Value>> {
    let base = format!("http://{}", http_addr(collector, Duration::from_secs(10))?);
    let coverage = get_json(&base, "/v1/coverage", collector.token()).await?;
    Ok(coverage["scans"].as_array().context("scans")?.clone())
}

/// Account -> (complete, reason) of one scan's coverage.
fn coverage_of(scan: &Value) -> BTreeMap<String, (bool, String)> {
    scan["coverage"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["account"].as_str().unwrap_or_default().to_owned(),
                (
                    c["complete"].as_bool().unwrap_or(false),
                    c["reason"].as_str().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect()
}

fn find<'a>(stores: &'a [StoreView], name: &str) -> &'a StoreView {
    stores.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "{name} not in the map: {:?}",
            stores.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

/// The facts a store's view rests on, as the collector kept them.
async fn facts_of(
    collector: &Collector,
    stores: &[StoreView],
    name: &str,
) -> anyhow::Result<Vec<Fact>> {
    let detail = collector
        .map()
        .await?
        .get_store(&find(stores, name).id)
        .await?;
    Ok(detail.facts.into_iter().filter_map(|p| p.fact).collect())
}

/// Seeds [`AWS_ROWS`] of the estate into a new moto.
async fn moto_with_buckets() -> anyhow::Result<Moto> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    estate::seed(&aws, &ESTATE[AWS_ROWS]).await?;
    Ok(moto)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_and_azure_in_one_scan_reach_one_map() -> anyhow::Result<()> {
    let azurite = Azurite::start()?;
    azurite
        .create_containers(&[("records", &[("classification", "BBN2")]), ("scratch", &[])])
        .await?;
    let arm = ArmServer::start(Some(azurite.blob_endpoint())).await?;
    let moto = moto_with_buckets().await?;
    let collector = collector()?;
    let config = multi_cloud::config(&arm, &collector.url(), &moto.endpoint(), None)?;
    multi_cloud::run_agent(&collector.url(), &config)
        .await?
        .success()
        .map_err(|e| e.context(format!("collector log:\n{}", collector.log())))?;

    let stores = collector.map().await?.all_stores().await?;
    let containers = ["records", "scratch"].map(|c| format!("{AZURITE_ACCOUNT}/{c}"));
    // Every store of both clouds, and nothing else.
    assert_eq!(
        stores.len(),
        AWS_ROWS.len() + AZURE_ESTATE.len() + 1 + containers.len(),
        "{:?}",
        stores.iter().map(|s| &s.id).collect::<Vec<_>>()
    );
    for row in &ESTATE[AWS_ROWS] {
        let v = find(&stores, row.name);
        assert_eq!(v.id, format!("aws:{MAIN_ACCOUNT}:{}", row.name));
        assert_eq!(
            (v.provider.as_str(), v.account.as_str()),
            ("aws", MAIN_ACCOUNT)
        );
        assert_eq!(v.region, row.region, "{}", row.name);
        assert_eq!(
            (v.country.as_str(), v.eu),
            (row.expect.country, row.expect.eu),
            "{}",
            row.name
        );
        assert!(v.provider_parent.starts_with("Amazon.com"), "{}", row.name);
    }
    for a in AZURE_ESTATE {
        let v = find(&stores, a.name);
        assert_eq!(
            v.id,
            format!("microsoft-azure:{}:{}", a.subscription, a.name)
        );
        assert_eq!(v.provider, "microsoft-azure");
        assert_eq!(
            (v.country.as_str(), v.eu),
            (a.expect.country, a.expect.eu),
            "{}",
            a.name
        );
    }
    for name in containers
        .iter()
        .map(String::as_str)
        .chain([AZURITE_ACCOUNT])
    {
        let v = find(&stores, name);
        assert_eq!(v.id, format!("microsoft-azure:{SUB_MAIN}:{name}"));
        assert_eq!((v.country.as_str(), v.eu), ("IE", true), "{name}");
    }

    // The new wire fields, as the collector received them: each store's kind, encryption
    // details per provider (beside the flat fields older collectors read), gap topics.
    for (name, kind) in [
        (ESTATE[0].name, StoreKind::Bucket),
        ("lmdehsm", StoreKind::StorageAccount),
        (containers[0].as_str(), StoreKind::Container),
    ] {
        let facts = facts_of(&collector, &stores, name).await?;
        let kinds: Vec<StoreKind> = facts
            .iter()
            .filter_map(|f| match &f.body {
                Some(Body::Store(s)) => Some(s.kind()),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, [kind], "{name}");
    }
    let encryption_of = |facts: &[Fact]| {
        facts.iter().find_map(|f| match &f.body {
            Some(Body::Encryption(e)) if e.encryption_scope.is_empty() => Some(e.clone()),
            _ => None,
        })
    };
    let s3 = encryption_of(&facts_of(&collector, &stores, ESTATE[0].name).await?).context("s3")?;
    assert!(
        matches!(s3.detail, Some(encryption::Detail::S3(_))),
        "{s3:?}"
    );
    assert!(!s3.double_encryption, "{s3:?}");
    let hsm = encryption_of(&facts_of(&collector, &stores, "lmdehsm").await?).context("hsm")?;
    assert!(
        matches!(hsm.detail, Some(encryption::Detail::AzureStorage(_))),
        "{hsm:?}"
    );
    assert!(
        hsm.double_encryption && hsm.require_infrastructure_encryption,
        "{hsm:?}"
    );
    let size_gap = facts_of(&collector, &stores, "lmsecrosstenant")
        .await?
        .into_iter()
        .find_map(|f| match f.body {
            Some(Body::Gap(g)) if g.call == "monitor:Metrics_List" => Some(g),
            _ => None,
        })
        .context("the size gap")?;
    assert_eq!(size_gap.topic(), FactTopic::Size);

    // One scan: every store carries its id, and the collector knows one scan.
    let scan_ids: BTreeSet<&str> = stores.iter().map(|s| s.last_scan_id.as_str()).collect();
    assert_eq!(scan_ids.len(), 1, "{scan_ids:?}");
    let scans = scans(&collector).await?;
    assert_eq!(scans.len(), 1, "{scans:?}");
    let scan = &scans[0];
    assert_eq!(scan["scan_id"].as_str(), scan_ids.first().copied());
    assert!(scan["ended_at_ms"].is_number(), "{scan}");
    // ScanBegin names AWS first: a collector that keeps one provider per scan keeps AWS, one
    // that keeps them all lists both.
    let provider = scan["provider"].as_str().context("provider")?;
    assert!(
        ["aws", "aws,microsoft-azure"].contains(&provider),
        "{provider}"
    );
    let accounts: BTreeSet<&str> = scan["accounts"]
        .as_array()
        .context("accounts")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        accounts,
        BTreeSet::from([MAIN_ACCOUNT, SUB_MAIN, SUB_US, SUB_DENIED]),
        "{scan}"
    );
    // One coverage line per account of either cloud; only the denied subscription is
    // incomplete (its listing answered 403).
    let coverage = coverage_of(scan);
    let complete: BTreeMap<&str, bool> = coverage
        .iter()
        .map(|(a, (c, _))| (a.as_str(), *c))
        .collect();
    assert_eq!(
        complete,
        BTreeMap::from([
            (MAIN_ACCOUNT, true),
            (SUB_MAIN, true),
            (SUB_US, true),
            (SUB_DENIED, false),
        ]),
        "{scan}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_azure_credentials_leave_the_aws_scan_and_incomplete_azure_coverage()
-> anyhow::Result<()> {
    let arm = ArmServer::start(None).await?;
    let moto = moto_with_buckets().await?;
    let collector = collector()?;
    let config = multi_cloud::config(&arm, &collector.url(), &moto.endpoint(), Some("wrong"))?;
    let run = multi_cloud::run_agent(&collector.url(), &config)
        .await?
        .success()
        .map_err(|e| e.context(format!("collector log:\n{}", collector.log())))?;

    // AWS's stores are in the map; no Azure store is (nothing was listed).
    let stores = collector.map().await?.all_stores().await?;
    let mut names: Vec<&str> = stores.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = ESTATE[AWS_ROWS].iter().map(|r| r.name).collect();
    expected.sort_unstable();
    assert_eq!(names, expected);
    assert!(stores.iter().all(|s| s.provider == "aws"));

    // Azure could not be planned: with no subscription configured, the provider itself
    // stands for its accounts, incomplete, with the reason; AWS's account is complete.
    let scans = scans(&collector).await?;
    assert_eq!(scans.len(), 1, "{scans:?}");
    let coverage = coverage_of(&scans[0]);
    assert_eq!(coverage.len(), 2, "{coverage:?}");
    assert!(coverage[MAIN_ACCOUNT].0, "{coverage:?}");
    let (complete, reason) = &coverage["microsoft-azure"];
    assert!(!complete, "{coverage:?}");
    assert!(
        reason.contains("Subscriptions_List") && reason.contains("could not be planned"),
        "{reason}"
    );
    // The failed call is a gap fact, with its call, on the stand-in account.
    let gaps = scans[0]["gaps"].as_array().context("gaps")?;
    assert!(
        gaps.iter()
            .any(|g| g["account"] == "microsoft-azure" && g["call"] == "arm:Subscriptions_List"),
        "{gaps:?}"
    );
    assert!(scans[0]["complete"] == false, "{}", scans[0]);
    assert!(
        run.stderr.contains("cannot plan this cloud's scan"),
        "{}",
        run.stderr
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_aws_credentials_leave_the_azure_scan_and_incomplete_aws_coverage()
-> anyhow::Result<()> {
    // STS refuses the credential chain (an expired or revoked key answers this way).
    let moto = Moto::start()?;
    let denied = Answer::new(
        hyper::StatusCode::FORBIDDEN,
        "text/xml",
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message>\
         </Error><RequestId>lm-e2e</RequestId></ErrorResponse>",
    );
    let proxy = FaultProxy::start(
        moto.addr(),
        vec![
            Rule::any()
                .body_contains("Action=GetCallerIdentity")
                .respond(denied),
        ],
    )
    .await?;
    let arm = ArmServer::start(None).await?;
    let collector = collector()?;
    let config = multi_cloud::config(&arm, &collector.url(), &proxy.endpoint(), None)?;
    // A role account beside the credential chain's own: both stand for AWS in the coverage.
    let mut text = std::fs::read_to_string(&config)?;
    text.push_str(&format!(
        "[[aws.accounts]]\nrole_arn = \"{AGENT_ROLE_ARN}\"\n"
    ));
    std::fs::write(&config, text)?;
    multi_cloud::run_agent(&collector.url(), &config)
        .await?
        .success()
        .map_err(|e| e.context(format!("collector log:\n{}", collector.log())))?;

    // Azure's stores are in the map; no AWS store is.
    let stores = collector.map().await?.all_stores().await?;
    assert_eq!(stores.len(), AZURE_ESTATE.len(), "{stores:?}");
    assert!(stores.iter().all(|s| s.provider == "microsoft-azure"));

    // AWS could not be planned: the role's account and the provider (standing for the
    // credential chain's account, which only STS can name) are incomplete, with the reason.
    let scans = scans(&collector).await?;
    assert_eq!(scans.len(), 1, "{scans:?}");
    let scan = &scans[0];
    let provider = scan["provider"].as_str().context("provider")?;
    assert!(provider.starts_with("aws"), "{provider}");
    let coverage = coverage_of(scan);
    for account in ["aws", SECOND_ACCOUNT] {
        let (complete, reason) = &coverage[account];
        assert!(!complete, "{account}: {coverage:?}");
        assert!(
            reason.contains("sts:GetCallerIdentity") && reason.contains("InvalidClientTokenId"),
            "{account}: {reason}"
        );
    }
    assert!(coverage[SUB_MAIN].0 && coverage[SUB_US].0, "{coverage:?}");
    assert!(!coverage[SUB_DENIED].0, "{coverage:?}");
    assert_eq!(coverage.len(), 5, "{coverage:?}");
    let gaps = scan["gaps"].as_array().context("gaps")?;
    assert!(
        gaps.iter()
            .any(|g| g["account"] == SECOND_ACCOUNT && g["call"] == "sts:GetCallerIdentity"),
        "{gaps:?}"
    );
    Ok(())
}

/// The "Must show": one configuration with AWS, Azure, Google Cloud and two European
/// providers (OVHcloud in France, Exoscale in Switzerland); one scan; every store of the five
/// in the map with the right country, EU flag, custody and copies, each provider's accounts
/// covered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_azure_gcp_and_two_european_providers_in_one_scan_reach_one_map() -> anyhow::Result<()>
{
    let arm = ArmServer::start(None).await?;
    let moto = moto_with_buckets().await?;
    let gcp = GoogleCloud::start().await?;
    let europe = EuropeanClouds::start()?;
    let collector = collector()?;
    let config = multi_cloud::config(&arm, &collector.url(), &moto.endpoint(), None)?;
    let mut text = std::fs::read_to_string(&config)?;
    text.push_str(&gcp.section());
    text.push_str(&europe.section());
    std::fs::write(&config, text)?;
    multi_cloud::run_agent(&collector.url(), &config)
        .await?
        .success()
        .map_err(|e| e.context(format!("collector log:\n{}", collector.log())))?;

    let stores = collector.map().await?.all_stores().await?;
    let european: usize = EUROPEAN_PERSONAS.iter().map(|p| p.buckets.len()).sum();
    assert_eq!(
        stores.len(),
        AWS_ROWS.len() + AZURE_ESTATE.len() + GCP_ESTATE.len() + european,
        "{:?}",
        stores.iter().map(|s| &s.id).collect::<Vec<_>>()
    );
    let regions = |v: &StoreView| {
        let mut r: Vec<String> = v.replication.iter().map(|t| t.region.clone()).collect();
        r.sort();
        r
    };
    // AWS: the moto rows (no replication among them).
    for row in &ESTATE[AWS_ROWS] {
        let v = find(&stores, row.name);
        assert_eq!(v.provider, "aws");
        let e = &row.expect;
        assert_eq!(
            (v.country.as_str(), v.eu),
            (e.country, e.eu),
            "{}",
            row.name
        );
        assert_eq!(v.custody(), e.custody, "{}: {}", row.name, v.custody_reason);
        assert_eq!(
            v.replicated_outside_eu, e.replicated_outside_eu,
            "{}",
            row.name
        );
        assert!(
            v.replication.is_empty(),
            "{}: {:?}",
            row.name,
            v.replication
        );
    }
    // Azure: a geo-redundant account's copy is its paired region.
    for a in AZURE_ESTATE {
        let v = find(&stores, a.name);
        assert_eq!(v.provider, "microsoft-azure");
        let e = &a.expect;
        assert_eq!((v.country.as_str(), v.eu), (e.country, e.eu), "{}", a.name);
        assert_eq!(v.custody(), e.custody, "{}: {}", a.name, v.custody_reason);
        assert_eq!(
            v.replicated_outside_eu, e.replicated_outside_eu,
            "{}",
            a.name
        );
        let copies: Vec<(&str, &str, bool)> = v
            .replication
            .iter()
            .map(|t| (t.region.as_str(), t.country.as_str(), t.eu))
            .collect();
        assert_eq!(
            copies,
            e.secondary.into_iter().collect::<Vec<_>>(),
            "{}",
            a.name
        );
    }
    // Google Cloud: every protection level and location type; dual-region members are copies.
    for b in GCP_ESTATE {
        let v = find(&stores, b.name);
        assert_eq!(v.id, format!("google-cloud:{PROJECT}:{}", b.name));
        let e = &b.expect;
        assert_eq!((v.country.as_str(), v.eu), (e.country, e.eu), "{}", b.name);
        assert_eq!(v.custody(), e.custody, "{}: {}", b.name, v.custody_reason);
        assert_eq!(regions(v), e.copies, "{}", b.name);
        assert_eq!(
            v.replicated_outside_eu, e.replicated_outside_eu,
            "{}",
            b.name
        );
    }
    // The European providers: OVHcloud Gravelines is in the EU, Exoscale Geneva is not; OVHcloud
    // encrypts only when asked and s3rver cannot say (unknown, never none), Exoscale always does.
    for p in EUROPEAN_PERSONAS {
        let (country, eu, custody) = match p.provider {
            "ovhcloud" => ("FR", true, Custody::Unknown),
            "exoscale" => ("CH", false, Custody::Provider),
            other => panic!("no expectation for {other}"),
        };
        for name in p.buckets {
            let v = find(&stores, name);
            assert_eq!(v.id, format!("{}:{}:{name}", p.provider, p.account));
            assert_eq!(
                (v.region.as_str(), v.country.as_str(), v.eu),
                (p.region, country, eu),
                "{name}"
            );
            assert_eq!(v.custody(), custody, "{name}: {}", v.custody_reason);
            assert!(
                v.replication.is_empty() && !v.replicated_outside_eu,
                "{name}"
            );
            assert!(!v.provider_parent.is_empty(), "{name}: providers.csv");
        }
    }

    // One scan, every provider's accounts in its coverage.
    let scan_ids: BTreeSet<&str> = stores.iter().map(|s| s.last_scan_id.as_str()).collect();
    assert_eq!(scan_ids.len(), 1, "{scan_ids:?}");
    let scans = scans(&collector).await?;
    assert_eq!(scans.len(), 1, "{scans:?}");
    let complete: BTreeMap<String, bool> = coverage_of(&scans[0])
        .into_iter()
        .map(|(a, (c, _))| (a, c))
        .collect();
    let mut expected = BTreeMap::from([
        (MAIN_ACCOUNT.to_owned(), true),
        (SUB_MAIN.to_owned(), true),
        (SUB_US.to_owned(), true),
        (SUB_DENIED.to_owned(), false),
        (PROJECT.to_owned(), true),
    ]);
    for p in EUROPEAN_PERSONAS {
        expected.insert(p.account.to_owned(), true);
    }
    assert_eq!(complete, expected, "{}", scans[0]);
    Ok(())
}
