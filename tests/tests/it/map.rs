//! The whole chain: seeded moto -> `landmeter-agent scan` -> `landmeter serve` -> MapService.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use landmeter_e2e::estate::{self, Aws, Truth};
use landmeter_e2e::fault_proxy::{Fault, FaultProxy, Rule, today};
use landmeter_e2e::{Collector, MapClient, Moto, run_agent};
use landmeter_proto::Custody;
use landmeter_proto::v1::{StoreFilter, StoreView};

use crate::{DENIED_ENCRYPTION_BUCKET, DENIED_KEY_BUCKET, ESTATE};

/// A seeded moto, optionally a proxy in front of it, and a collector.
pub(crate) struct Scene {
    moto: Moto,
    pub(crate) proxy: Option<FaultProxy>,
    collector: Collector,
    truth: Vec<Truth>,
}

impl Scene {
    /// Seeds [`ESTATE`] into a new moto and starts a collector; `rules` puts a proxy in front.
    pub(crate) async fn start(
        rules: impl FnOnce(&[Truth]) -> Option<Vec<Rule>>,
    ) -> anyhow::Result<Scene> {
        let moto = Moto::start()?;
        let aws = Aws::connect(&moto.endpoint()).await?;
        let truth = estate::seed(&aws, ESTATE).await?;
        let proxy = match rules(&truth) {
            Some(rules) => Some(FaultProxy::start(moto.addr(), rules).await?),
            None => None,
        };
        let collector = Collector::start()?;
        Ok(Scene {
            moto,
            proxy,
            collector,
            truth,
        })
    }

    /// The endpoint the agent talks to: the proxy when there is one.
    fn endpoint(&self) -> String {
        match &self.proxy {
            Some(p) => p.endpoint(),
            None => self.moto.endpoint(),
        }
    }

    pub(crate) async fn scan(&self) -> anyhow::Result<()> {
        self.scan_run().await.map(drop)
    }

    /// [`Scene::scan`], returning the agent's run (its log on stderr).
    pub(crate) async fn scan_run(&self) -> anyhow::Result<landmeter_e2e::AgentRun> {
        run_agent(&self.collector.url(), &self.endpoint(), &[])
            .await?
            .success()
            .map_err(|e| e.context(format!("collector log:\n{}", self.collector.log())))
    }

    async fn map(&self) -> anyhow::Result<MapClient> {
        self.collector.map().await
    }
}

/// What a store must show instead of its row's expectation (fault tests).
pub(crate) struct Override {
    custody: Custody,
    key_owner_account: String,
    reason_contains: &'static str,
}

/// Compares every store with the truth; returns every difference, not just the first.
fn differences(
    stores: &[StoreView],
    truth: &[Truth],
    overrides: &HashMap<&str, Override>,
) -> Vec<String> {
    let mut diffs = Vec::new();
    let by_key: HashMap<(&str, &str), &StoreView> = stores
        .iter()
        .map(|s| ((s.account.as_str(), s.name.as_str()), s))
        .collect();
    for t in truth {
        let name = t.name();
        let Some(s) = by_key.get(&(t.account.as_str(), name)) else {
            diffs.push(format!("{name} ({}): missing from the map", t.account));
            continue;
        };
        let e = &t.row.expect;
        check(
            &mut diffs,
            name,
            "provider",
            s.provider.clone(),
            "aws".into(),
        );
        check(
            &mut diffs,
            name,
            "region",
            s.region.clone(),
            t.row.region.into(),
        );
        check(
            &mut diffs,
            name,
            "country",
            s.country.clone(),
            e.country.into(),
        );
        check(&mut diffs, name, "eu", s.eu.to_string(), e.eu.to_string());
        let custody = s.custody().label().to_owned();
        match overrides.get(name) {
            Some(o) => {
                check(
                    &mut diffs,
                    name,
                    "custody",
                    custody,
                    o.custody.label().into(),
                );
                check(
                    &mut diffs,
                    name,
                    "key owner account",
                    s.key_owner_account.clone(),
                    o.key_owner_account.clone(),
                );
                if !s.custody_reason.contains(o.reason_contains) {
                    diffs.push(format!(
                        "{name}: custody_reason {:?} does not mention {:?}",
                        s.custody_reason, o.reason_contains
                    ));
                }
            }
            None => {
                check(
                    &mut diffs,
                    name,
                    "custody",
                    format!("{custody} ({})", s.custody_reason),
                    format!("{} ({})", e.custody.label(), s.custody_reason),
                );
                check(
                    &mut diffs,
                    name,
                    "key owner account",
                    s.key_owner_account.clone(),
                    e.key_owner_account.into(),
                );
                if let Some(m) = e.modifier
                    && !s
                        .custody_modifiers
                        .iter()
                        .any(|x| x.to_ascii_lowercase().contains(&m.to_ascii_lowercase()))
                {
                    diffs.push(format!(
                        "{name}: no custody modifier mentions {m:?}: {:?}",
                        s.custody_modifiers
                    ));
                }
                if let Some(arn) = &t.key_arn {
                    check(&mut diffs, name, "key arn", s.key_arn.clone(), arn.clone());
                }
            }
        }
        check(
            &mut diffs,
            name,
            "replicated_outside_eu",
            s.replicated_outside_eu.to_string(),
            e.replicated_outside_eu.to_string(),
        );
        let mut got: Vec<String> = s
            .replication
            .iter()
            .map(|r| {
                format!(
                    "{}@{}:{}/{}/eu={}",
                    r.bucket, r.account, r.region, r.country, r.eu
                )
            })
            .collect();
        got.sort();
        let mut want: Vec<String> = t
            .replication
            .iter()
            .map(|r| {
                format!(
                    "{}@{}:{}/{}/eu={}",
                    r.bucket, r.account, r.region, r.country, r.eu
                )
            })
            .collect();
        want.sort();
        check(
            &mut diffs,
            name,
            "replication",
            format!("{got:?}"),
            format!("{want:?}"),
        );
        for r in &s.replication {
            if r.cross_account != (r.account != t.account) {
                diffs.push(format!(
                    "{name}: replication to {} cross_account={}",
                    r.bucket, r.cross_account
                ));
            }
        }
        check(
            &mut diffs,
            name,
            "classification",
            s.classification.clone(),
            e.classification.into(),
        );
        if let Some(process) = t.row.tag("process") {
            check(
                &mut diffs,
                name,
                "process",
                s.process.clone(),
                process.into(),
            );
        }
    }
    for s in stores {
        if !truth
            .iter()
            .any(|t| t.account == s.account && t.name() == s.name)
        {
            diffs.push(format!(
                "{} ({}): in the map but never seeded",
                s.name, s.account
            ));
        }
    }
    diffs
}

fn check(diffs: &mut Vec<String>, name: &str, what: &str, got: String, want: String) {
    if got != want {
        diffs.push(format!("{name}: {what} is {got:?}, expected {want:?}"));
    }
}

fn assert_no_differences(diffs: Vec<String>, context: &str) {
    assert!(
        diffs.is_empty(),
        "{context}: {} difference(s) between the map and the estate:\n  {}",
        diffs.len(),
        diffs.join("\n  ")
    );
}

/// Checks ListStores and GetStore against the truth.
pub(crate) async fn assert_map(
    scene: &Scene,
    overrides: &HashMap<&str, Override>,
    context: &str,
) -> anyhow::Result<Vec<StoreView>> {
    let mut map = scene.map().await?;
    let stores = map.all_stores().await?;
    assert_no_differences(differences(&stores, &scene.truth, overrides), context);
    // GetStore answers the same view, with the facts it rests on.
    for s in &stores {
        let got = map.get_store(&s.id).await?;
        assert_eq!(
            got.store.as_ref(),
            Some(s),
            "GetStore({}) differs from ListStores",
            s.id
        );
        assert!(
            !got.facts.is_empty(),
            "GetStore({}) has no provenance",
            s.id
        );
    }
    Ok(stores)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_matches_the_estate_on_stock_moto() -> anyhow::Result<()> {
    let scene = Scene::start(|_| None).await?;
    scene.scan().await?;
    assert_map(&scene, &HashMap::new(), "stock moto").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_is_the_same_with_todays_aws_answers() -> anyhow::Result<()> {
    // Today's AWS: BucketRegion in paginated ListBuckets, AES256 for unconfigured buckets.
    let kms_asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let scene = Scene::start(|truth| {
        let regions: HashMap<String, String> = truth
            .iter()
            .map(|t| (t.name().to_owned(), t.row.region.to_owned()))
            .collect();
        Some(vec![
            today::list_buckets_with_region(move |b| regions.get(b).cloned()),
            today::unconfigured_encryption_is_aes256(),
            record(&kms_asked, Rule::kms("DescribeKey")),
            record(&kms_asked, Rule::kms("ListAliases")),
        ])
    })
    .await?;
    scene.scan().await?;
    assert_map(&scene, &HashMap::new(), "today's AWS answers").await?;
    let proxy = scene.proxy.as_ref().expect("proxy");
    let counts = proxy.counts();
    // Each account's buckets listed once: the caller's beside GetCallerIdentity, never
    // again by its scan.
    let accounts: std::collections::HashSet<&str> =
        scene.truth.iter().map(|t| t.account.as_str()).collect();
    assert_eq!(
        counts.get("s3:ListBuckets").copied().unwrap_or(0),
        accounts.len() as u64,
        "one listing per account ({accounts:?}): {counts:?}"
    );
    // The keys are asked ahead, while the buckets are examined, and again looked up when
    // the facts are written: each question still reaches KMS once per account's scan.
    assert_kms_asked_once(&kms_asked);
    Ok(())
}

/// Each recorded KMS question (`record`) reached KMS once, and both kinds of question were
/// asked.
pub(crate) fn assert_kms_asked_once(kms_asked: &Mutex<Vec<String>>) {
    let asked = kms_asked.lock().expect("recorder poisoned").clone();
    let mut seen = std::collections::HashSet::new();
    let twice: Vec<&String> = asked.iter().filter(|q| !seen.insert(*q)).collect();
    assert!(twice.is_empty(), "asked more than once: {twice:?}");
    assert!(
        asked.iter().any(|q| q.contains("DescribeKey"))
            && asked.iter().any(|q| q.contains("ListAliases")),
        "{asked:?}"
    );
}

/// `rule` passing answers through unchanged, recording each question it matches as
/// "access key, region, target, body" (the access key tells the account apart).
pub(crate) fn record(asked: &Arc<Mutex<Vec<String>>>, rule: Rule) -> Rule {
    let asked = Arc::clone(asked);
    rule.rewrite(move |req, answer| {
        asked.lock().expect("recorder poisoned").push(format!(
            "{} {} {} {}",
            req.access_key(),
            req.region(),
            req.target(),
            String::from_utf8_lossy(&req.body)
        ));
        answer
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_is_a_coverage_gap_on_that_store_only() -> anyhow::Result<()> {
    let scene = Scene::start(|truth| {
        let key_id = truth
            .iter()
            .find(|t| t.name() == DENIED_KEY_BUCKET)
            .and_then(|t| t.key_id.clone())
            .expect("the denied-key bucket has a customer key");
        Some(vec![
            Rule::s3("GetBucketEncryption")
                .bucket(DENIED_ENCRYPTION_BUCKET)
                .respond(Fault::s3_access_denied()),
            Rule::kms("DescribeKey")
                .body_contains(&key_id)
                .respond(Fault::kms_access_denied()),
        ])
    })
    .await?;
    scene.scan().await?;
    let denied_key_account = scene
        .truth
        .iter()
        .find(|t| t.name() == DENIED_KEY_BUCKET)
        .map(|t| t.account.clone())
        .unwrap_or_default();
    let overrides = HashMap::from([
        (
            DENIED_ENCRYPTION_BUCKET,
            Override {
                custody: Custody::Unknown,
                key_owner_account: String::new(),
                reason_contains: "AccessDenied",
            },
        ),
        (
            DENIED_KEY_BUCKET,
            Override {
                custody: Custody::Unknown,
                // The key is named by ARN: its owner is known without describing it.
                key_owner_account: denied_key_account,
                reason_contains: "AccessDenied",
            },
        ),
    ]);
    assert_map(&scene, &overrides, "AccessDenied injected").await?;
    let proxy = scene.proxy.as_ref().expect("proxy");
    assert!(proxy.count("s3:GetBucketEncryption") >= ESTATE.len() as u64);
    assert!(proxy.count("kms:DescribeKey") > 0);
    Ok(())
}

/// The bucket that replicates out of the EU whose GetBucketReplication the proxy denies.
const DENIED_REPLICATION_BUCKET: &str = "lm-ie-repl-us";
/// A classified bucket whose GetBucketTagging the proxy denies.
const DENIED_TAGS_BUCKET: &str = "lm-ie-cmk-arn";

/// Unknown is never "no" through the whole chain: a bucket that replicates to the US whose
/// replication cannot be read, and a classified bucket whose tags cannot be read, are
/// unknown (with the call and its error) in the map, `stores --format json`, the summary,
/// the dashboard and the report; their indicators are withheld; `--replicated-outside-eu
/// false` does not list them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_replication_and_tags_are_unknown_never_no() -> anyhow::Result<()> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    estate::seed(&aws, ESTATE).await?;
    let proxy = FaultProxy::start(
        moto.addr(),
        vec![
            Rule::s3("GetBucketReplication")
                .bucket(DENIED_REPLICATION_BUCKET)
                .respond(Fault::s3_access_denied()),
            Rule::s3("GetBucketTagging")
                .bucket(DENIED_TAGS_BUCKET)
                .respond(Fault::s3_access_denied()),
        ],
    )
    .await?;
    let http = format!("127.0.0.1:{}", landmeter_e2e::free_port()?);
    let dir = landmeter_e2e::TempDir::new("landmeter-unknowns")?;
    let db = dir.path().join("map.db");
    let collector = Collector::start_with(dir, &db, "127.0.0.1:0", &["--http-listen", &http])?;
    run_agent(&collector.url(), &proxy.endpoint(), &[])
        .await?
        .success()
        .map_err(|e| e.context(format!("collector log:\n{}", collector.log())))?;
    assert!(proxy.count("s3:GetBucketReplication") > 0);

    // The map.
    let mut map = collector.map().await?;
    let stores = map.all_stores().await?;
    let find = |name: &str| {
        stores
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("{name} not in the map"))
    };
    let repl = find(DENIED_REPLICATION_BUCKET);
    assert_eq!(repl.replicated_outside_eu_known(), None, "{repl:?}");
    let why = repl
        .unknown("replication")
        .expect("replication listed as unknown");
    assert_eq!(why.code, "AccessDenied", "{why:?}");
    assert!(why.call.contains("GetBucketReplication"), "{why:?}");
    assert_eq!((repl.sov2_indicator, repl.sov3_indicator), (None, None));
    let tags = find(DENIED_TAGS_BUCKET);
    assert_eq!(tags.classification, "unknown");
    assert!(
        tags.unknown("classification")
            .is_some_and(|u| u.call.contains("GetBucketTagging")),
        "{tags:?}"
    );
    // Undenied buckets keep their known answers.
    assert_eq!(
        find("lm-acct2-ie-repl-au").replicated_outside_eu_known(),
        Some(true)
    );
    assert_eq!(find("lm-ie-aes256").classification, "BBN2");

    // Filters: false is known-false only; unknown is a value of its own.
    let names = |v: Vec<StoreView>| v.into_iter().map(|s| s.name).collect::<Vec<_>>();
    let not_outside = names(
        map.list_stores(StoreFilter {
            replicated_outside_eu: Some(false),
            ..StoreFilter::default()
        })
        .await?,
    );
    assert!(!not_outside.iter().any(|n| n == DENIED_REPLICATION_BUCKET));
    assert!(not_outside.iter().any(|n| n == "lm-ie-aes256"));
    let unknown = names(
        map.list_stores(StoreFilter {
            unknown: vec!["replication".into()],
            ..StoreFilter::default()
        })
        .await?,
    );
    assert_eq!(unknown, [DENIED_REPLICATION_BUCKET]);

    // The summary counts unknown apart.
    let by = summary_rows(
        &map.summary(StoreFilter::default(), &["replication"])
            .await?,
    );
    assert_eq!(by.get("unknown").map(|r| r.0), Some(1), "{by:?}");
    // The other bucket replicating out of the EU (to Australia) was readable.
    assert_eq!(by.get("outside-EU").map(|r| r.0), Some(1), "{by:?}");
    let by = summary_rows(
        &map.summary(StoreFilter::default(), &["classification"])
            .await?,
    );
    assert_eq!(by.get("unknown").map(|r| r.0), Some(1), "{by:?}");

    // The CLI's JSON: null, not false, and why; exit code 3, as the answer rests on failed reads.
    let (code, out) =
        collector.cli_status(&["stores", "--format", "json", "--unknown", "replication"])?;
    assert_eq!(code, 3, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out)?;
    let listed = json.as_array().expect("array");
    assert_eq!(listed.len(), 1, "{json}");
    assert_eq!(listed[0]["replicated_outside_eu"], serde_json::Value::Null);
    assert_eq!(listed[0]["unknowns"][0]["dimension"], "replication");
    let (_, not_outside) = collector.cli_status(&[
        "stores",
        "--replicated-outside-eu",
        "false",
        "--format",
        "json",
    ])?;
    assert!(!not_outside.contains(DENIED_REPLICATION_BUCKET));
    assert!(not_outside.contains("lm-ie-aes256"), "{not_outside}");

    // The dashboard.
    let dashboard: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{http}/v1/dashboard"))
        .bearer_auth(collector.token())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let rows = dashboard["dimensions"]["replication"]
        .as_array()
        .expect("replication rows");
    assert!(
        rows.iter()
            .any(|r| r["key"] == "unknown" && r["stores"] == 1),
        "{rows:?}"
    );

    // The report names both as risks, with the failed call.
    let report = collector.cli(&["report", "--tenant", "default"])?;
    for (risk, call) in [
        ("replication-unknown", "GetBucketReplication"),
        ("classification-unknown", "GetBucketTagging"),
    ] {
        let row = report
            .split("<tr")
            .find(|l| l.contains(&format!("data-risk=\"{risk}\"")))
            .unwrap_or_else(|| panic!("no {risk} risk row in the report"));
        assert!(row.contains(call) && row.contains("AccessDenied"), "{row}");
    }
    Ok(())
}

/// Summary rows keyed by their group keys joined with `/`.
fn summary_rows(resp: &landmeter_proto::v1::SummaryResponse) -> BTreeMap<String, (u64, i64, u64)> {
    resp.rows
        .iter()
        .map(|r| (r.keys.join("/"), (r.stores, r.bytes, r.stores_without_size)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanning_twice_gives_the_same_map_and_counts() -> anyhow::Result<()> {
    let scene = Scene::start(|_| None).await?;
    scene.scan().await?;
    let mut map = scene.map().await?;
    let normalise = |mut stores: Vec<StoreView>| {
        for s in &mut stores {
            s.last_seen_ms = 0;
            s.last_scan_id.clear();
        }
        stores.sort_by(|a, b| a.id.cmp(&b.id));
        stores
    };
    let first = normalise(map.all_stores().await?);
    scene.scan().await?;
    let second = normalise(map.all_stores().await?);
    assert_eq!(first.len(), ESTATE.len());
    assert_eq!(
        first, second,
        "a second scan of an unchanged estate changed the map"
    );
    assert_no_differences(
        differences(&second, &scene.truth, &HashMap::new()),
        "second scan",
    );

    // Summary counts equal what was seeded, per country and per custody level.
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for t in &scene.truth {
        *want.entry(t.row.expect.country.to_owned()).or_default() += 1;
    }
    let by_country = map.summary(StoreFilter::default(), &["country"]).await?;
    let got: BTreeMap<String, u64> = summary_rows(&by_country)
        .into_iter()
        .map(|(k, (stores, _, _))| (k, stores))
        .collect();
    assert_eq!(got, want, "Summary by country");
    assert_eq!(got.values().sum::<u64>(), ESTATE.len() as u64);
    let by_custody = map.summary(StoreFilter::default(), &["custody"]).await?;
    let mut want_custody: BTreeMap<String, u64> = BTreeMap::new();
    for t in &scene.truth {
        *want_custody
            .entry(t.row.expect.custody.label().to_owned())
            .or_default() += 1;
    }
    let got_custody: BTreeMap<String, u64> = by_custody
        .rows
        .iter()
        .map(|r| (r.keys.join("/"), r.stores))
        .collect();
    assert_eq!(got_custody, want_custody, "Summary by custody");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_the_expected_stores() -> anyhow::Result<()> {
    let scene = Scene::start(|_| None).await?;
    scene.scan().await?;
    let mut map = scene.map().await?;
    let names = |stores: Vec<StoreView>| {
        let mut n: Vec<String> = stores.into_iter().map(|s| s.name).collect();
        n.sort();
        n
    };
    let expected = |pred: &dyn Fn(&Truth) -> bool| {
        let mut n: Vec<String> = scene
            .truth
            .iter()
            .filter(|t| pred(t))
            .map(|t| t.name().to_owned())
            .collect();
        n.sort();
        n
    };
    let outside = map
        .list_stores(StoreFilter {
            replicated_outside_eu: Some(true),
            ..StoreFilter::default()
        })
        .await?;
    assert_eq!(
        names(outside),
        expected(&|t| t.row.expect.replicated_outside_eu)
    );
    let non_eu = map
        .list_stores(StoreFilter {
            eu: Some(false),
            ..StoreFilter::default()
        })
        .await?;
    assert_eq!(names(non_eu), expected(&|t| !t.row.expect.eu));
    let strong = map
        .list_stores(StoreFilter {
            custody_at_least: Custody::Byok as i32,
            ..StoreFilter::default()
        })
        .await?;
    assert_eq!(
        names(strong),
        expected(&|t| t.row.expect.custody.rank() >= Custody::Byok.rank())
    );
    let second = map
        .list_stores(StoreFilter {
            accounts: vec![estate::SECOND_ACCOUNT.into()],
            ..StoreFilter::default()
        })
        .await?;
    assert_eq!(
        names(second),
        expected(&|t| t.account == estate::SECOND_ACCOUNT)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_come_from_the_daily_cloudwatch_metrics() -> anyhow::Result<()> {
    let scene = Scene::start(|_| None).await?;
    scene.scan().await?;
    let mut map = scene.map().await?;
    let stores = map.all_stores().await?;
    // The seeded datapoint (yesterday); without one the size is unknown, not zero.
    let mut diffs = Vec::new();
    for t in &scene.truth {
        let name = t.name();
        let Some(s) = stores
            .iter()
            .find(|s| s.account == t.account && s.name == name)
        else {
            diffs.push(format!("{name}: missing from the map"));
            continue;
        };
        let (bytes, objects) = match t.row.size {
            Some((b, o)) => (Some(b), Some(o)),
            None => (None, None),
        };
        check(
            &mut diffs,
            name,
            "bytes",
            format!("{:?}", s.bytes),
            format!("{bytes:?}"),
        );
        check(
            &mut diffs,
            name,
            "objects",
            format!("{:?}", s.objects),
            format!("{objects:?}"),
        );
    }
    if !diffs.is_empty() {
        // Say where the sizes went: the agent's CloudWatch facts as the collector holds them.
        let mut evidence = Vec::new();
        if let Some(s) = stores.iter().find(|s| {
            scene
                .truth
                .iter()
                .any(|t| t.name() == s.name && t.row.size.is_some())
        }) {
            for p in map.get_store(&s.id).await?.facts {
                if let Some(f) = p.fact
                    && (f.api_call.starts_with("cloudwatch")
                        || f.api_call.starts_with("monitoring"))
                {
                    evidence.push(format!("{} {}: {:?}", s.name, f.api_call, f.body));
                }
            }
        }
        diffs.push(format!("cloudwatch facts: {evidence:?}"));
    }
    assert_no_differences(diffs, "sizes");

    // Summary: bytes per country, and how many stores had no size.
    let mut want: BTreeMap<String, (u64, i64, u64)> = BTreeMap::new();
    for t in &scene.truth {
        let row = want.entry(t.row.expect.country.to_owned()).or_default();
        row.0 += 1;
        match t.row.size {
            Some((bytes, _)) => row.1 += bytes,
            None => row.2 += 1,
        }
    }
    let by_country = map.summary(StoreFilter::default(), &["country"]).await?;
    assert_eq!(
        summary_rows(&by_country),
        want,
        "Summary by country: (stores, bytes, stores without size)"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_and_the_map_is_complete() -> anyhow::Result<()> {
    // S3 SlowDown (503, Retry-After) and KMS ThrottlingException, each on the first two tries.
    let scene = Scene::start(|truth| {
        let key_id = truth
            .iter()
            .find(|t| t.name() == "lm-de-byok")
            .and_then(|t| t.key_id.clone())
            .expect("lm-de-byok has a customer key");
        Some(vec![
            Rule::s3("GetBucketTagging")
                .bucket("lm-au")
                .times(2)
                .respond(Fault::s3_slow_down(1)),
            Rule::s3("GetBucketEncryption")
                .bucket("lm-it-hyok")
                .times(2)
                .respond(Fault::s3_slow_down(1)),
            Rule::kms("DescribeKey")
                .body_contains(&key_id)
                .times(2)
                .respond(Fault::kms_throttling()),
        ])
    })
    .await?;
    scene.scan().await?;
    assert_map(&scene, &HashMap::new(), "throttled").await?;
    Ok(())
}
