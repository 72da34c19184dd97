//! The European S3-compatible clouds, first-class: one agent configuration with four
//! `[[s3_compatible]]` entries, each a provider persona against a real S3 server, in one
//! scan into one map.
//!
//! - OVHcloud `bhs` on s3rver: every bucket-configuration call answers NotImplemented (501).
//!   Beauharnois is in Canada: outside the EU. OVHcloud encrypts only when asked (SSE-OMK), so
//!   with no readable encryption configuration custody is unknown, not "none".
//! - Exoscale `ch-gva-2` on s3rver, keys from a credentials file: Switzerland, not EU/EEA;
//!   SSE-SOS encrypts every object, so custody is the provider's even without the call.
//! - Hetzner `fsn1` on s3rver: replication, tagging and default encryption are documented as
//!   absent (the persona does not ask them); object lock is asked and answers NotImplemented.
//! - Scaleway `fr-par` on moto (which implements the calls): SSE-ONE (AES256) is provider
//!   custody, tags classify, replication and object lock answer "not configured".
//!
//! Not implemented is "not applicable": neither a coverage gap (the accounts are complete
//! with 0 gaps, no gap facts) nor "no" (not in `unknowns`, listed in `not_applicable`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging,
};
use landmeter_e2e::browser::{get_json, http_addr};
use landmeter_e2e::estate::{Account, Aws};
use landmeter_e2e::s3_compatible::{S3RVER_KEY, S3RVER_SECRET, S3rver, run_agent};
use landmeter_e2e::{Collector, Moto, TempDir};
use landmeter_proto::v1::fact::Body;
use landmeter_proto::v1::{Fact, StoreView};
use landmeter_proto::{Custody, dimension, not_applicable};

const OVH_BUCKET: &str = "ovh-bhs-archive";
const EXO_BUCKET: &str = "exo-gva-records";
const HETZNER_BUCKET: &str = "hz-fsn-backups";
const SCW_BUCKET: &str = "scw-par-data";

/// One store's truth: (bucket, provider, account, region, country, EU, custody, CLOUD Act,
/// jurisdiction).
type Expect = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    Custody,
    &'static str,
    &'static str,
);

fn find<'a>(stores: &'a [StoreView], name: &str) -> &'a StoreView {
    stores.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "{name} not in the map: {:?}",
            stores.iter().map(|s| &s.id).collect::<Vec<_>>()
        )
    })
}

fn dims(list: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = list.into_iter().collect();
    v.sort();
    v
}

/// The Scaleway persona's bucket on moto: SSE-ONE (AES256) and a classification tag.
async fn seed_scaleway(moto: &Moto) -> anyhow::Result<()> {
    let aws = Aws::connect(&moto.endpoint()).await?;
    let s3 = aws.s3(Account::Main, "us-east-1");
    s3.create_bucket().bucket(SCW_BUCKET).send().await?;
    s3.put_bucket_encryption()
        .bucket(SCW_BUCKET)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()?,
                        )
                        .build(),
                )
                .build()?,
        )
        .send()
        .await?;
    s3.put_bucket_tagging()
        .bucket(SCW_BUCKET)
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("classification").value("BBN2").build()?)
                .build()?,
        )
        .send()
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn european_providers_in_one_scan_with_not_applicable_calls() -> anyhow::Result<()> {
    let ovh = S3rver::start(&[OVH_BUCKET])?;
    let exoscale = S3rver::start(&[EXO_BUCKET])?;
    let hetzner = S3rver::start(&[HETZNER_BUCKET])?;
    let moto = Moto::start()?;
    seed_scaleway(&moto).await?;

    let dir = TempDir::new("landmeter-collector-eu")?;
    let db = dir.path().join("map.db");
    let collector =
        Collector::start_with(dir, &db, "127.0.0.1:0", &["--http-listen", "127.0.0.1:0"])?;
    let conf = TempDir::new("landmeter-agent-eu")?;
    let credentials = conf.path().join("exoscale.credentials");
    std::fs::write(
        &credentials,
        format!(
            "[landmeter]\naws_access_key_id = {S3RVER_KEY}\naws_secret_access_key = {S3RVER_SECRET}\n"
        ),
    )?;
    let config = conf.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            r#"name = "e2e-eu"

[[s3_compatible]]
provider = "ovhcloud"
account = "ovh-project-e2e"
regions = [{{ region = "bhs", endpoint = "{ovh}" }}]
access_key_id_env = "E2E_OVH_KEY"
secret_access_key_env = "E2E_OVH_SECRET"

[[s3_compatible]]
provider = "exoscale"
account = "exo-org-e2e"
regions = [{{ region = "ch-gva-2", endpoint = "{exo}" }}]
credentials_file = "{credentials}"
credentials_profile = "landmeter"

[[s3_compatible]]
provider = "hetzner"
account = "hz-project-e2e"
regions = [{{ region = "fsn1", endpoint = "{hz}" }}]
access_key_id_env = "E2E_OVH_KEY"
secret_access_key_env = "E2E_OVH_SECRET"

[[s3_compatible]]
provider = "scaleway"
account = "scw-project-e2e"
regions = [{{ region = "fr-par", endpoint = "{scw}" }}]
access_key_id_env = "E2E_SCW_KEY"
secret_access_key_env = "E2E_SCW_SECRET"
"#,
            ovh = ovh.endpoint(),
            exo = exoscale.endpoint(),
            hz = hetzner.endpoint(),
            scw = moto.endpoint(),
            credentials = credentials.display(),
        ),
    )?;
    let run = run_agent(
        &collector.url(),
        &config,
        &[
            ("E2E_OVH_KEY", S3RVER_KEY),
            ("E2E_OVH_SECRET", S3RVER_SECRET),
            ("E2E_SCW_KEY", "test"),
            ("E2E_SCW_SECRET", "test"),
        ],
    )
    .await?
    .success()
    .map_err(|e| e.context(format!("collector log:\n{}", collector.log())))?;
    // The keys are never logged.
    assert!(
        !run.stderr.contains("S3RVER") && !run.stdout.contains("S3RVER"),
        "a key in the agent's output:\n{}",
        run.stderr
    );

    let stores = collector.map().await?.all_stores().await?;
    assert_eq!(
        stores.len(),
        4,
        "{:?}",
        stores.iter().map(|s| &s.id).collect::<Vec<_>>()
    );

    // (bucket, provider, account, region, country, EU, custody, CLOUD Act, jurisdiction)
    #[rustfmt::skip]
    let expect: &[Expect] = &[
        (OVH_BUCKET, "ovhcloud", "ovh-project-e2e", "bhs", "CA", false, Custody::Unknown, "no", "non-EU"),
        (EXO_BUCKET, "exoscale", "exo-org-e2e", "ch-gva-2", "CH", false, Custody::Provider, "no", "non-EU"),
        // Who runs Hetzner's US locations is unverified: CLOUD Act exposure unclear.
        (HETZNER_BUCKET, "hetzner", "hz-project-e2e", "fsn1", "DE", true, Custody::Unknown, "unclear", "EU+US-CLOUD-ACT?"),
        (SCW_BUCKET, "scaleway", "scw-project-e2e", "fr-par", "FR", true, Custody::Provider, "no", "EU"),
    ];
    for (name, provider, account, region, country, eu, custody, cloud_act, jurisdiction) in expect {
        let v = find(&stores, name);
        assert_eq!(v.id, format!("{provider}:{account}:{name}"));
        assert_eq!(
            (v.region.as_str(), v.country.as_str(), v.eu),
            (*region, *country, *eu),
            "{name}"
        );
        assert_eq!(v.custody(), *custody, "{name}: {}", v.custody_reason);
        // Legal parent and CLOUD Act from the providers table.
        assert_eq!(v.cloud_act, *cloud_act, "{name}");
        assert!(!v.provider_parent.is_empty(), "{name}");
        assert!(!v.location_unverified, "{name}");
        assert_eq!(v.jurisdiction, *jurisdiction, "{name}: {:?}", v.unknowns);
        // No metrics service: the size is unknown, and the reason says so.
        let size = v.unknown(dimension::SIZE).context("size unknown")?;
        assert!(
            size.reason.contains("no CloudWatch") || size.reason.contains("no metrics"),
            "{name}: {}",
            size.reason
        );
        assert!(v.bytes.is_none(), "{name}");
    }
    assert!(
        find(&stores, OVH_BUCKET)
            .provider_parent
            .starts_with("OVH Groupe")
    );
    assert!(
        find(&stores, EXO_BUCKET)
            .custody_reason
            .contains("does not implement s3:GetBucketEncryption")
    );

    // Not applicable: listed, not unknown, not "no".
    let all_four = dims(not_applicable::ALL.iter().map(|d| (*d).to_owned()));
    for name in [OVH_BUCKET, EXO_BUCKET, HETZNER_BUCKET] {
        let v = find(&stores, name);
        assert_eq!(
            dims(v.not_applicable.iter().map(|n| n.dimension.clone())),
            all_four,
            "{name}: {:?}",
            v.not_applicable
        );
        for dim in [
            dimension::REPLICATION,
            dimension::CLASSIFICATION,
            dimension::PROCESS,
        ] {
            assert!(
                !v.is_unknown(dim),
                "{name}: {dim} is not applicable, not unknown: {:?}",
                v.unknowns
            );
        }
        assert!(!v.object_lock_unknown && !v.object_lock, "{name}");
        assert!(
            v.replication.is_empty() && !v.replicated_outside_eu,
            "{name}"
        );
        assert_eq!(v.classification, "unclassified", "{name}");
    }
    // Asked and answered NotImplemented, or documented and not asked.
    let ovh_repl = find(&stores, OVH_BUCKET)
        .not_applicable(not_applicable::REPLICATION)
        .context("ovh replication")?;
    assert_eq!(
        (ovh_repl.call.as_str(), ovh_repl.code.as_str()),
        ("s3:GetBucketReplication", "NotImplemented")
    );
    let hz = find(&stores, HETZNER_BUCKET);
    assert_eq!(
        hz.not_applicable(not_applicable::TAGS)
            .map(|n| n.code.as_str()),
        Some(""),
        "Hetzner documents no bucket tagging: not asked"
    );
    assert_eq!(
        hz.not_applicable(not_applicable::OBJECT_LOCK)
            .map(|n| n.code.as_str()),
        Some("NotImplemented"),
        "Hetzner has object lock: asked"
    );
    // Custody unknown where the provider does not encrypt by default: an unknown with the
    // reason, never "none".
    for name in [OVH_BUCKET, HETZNER_BUCKET] {
        let u = find(&stores, name)
            .unknown(dimension::CUSTODY)
            .context("custody unknown")?;
        assert!(u.reason.contains("cannot be read"), "{name}: {}", u.reason);
    }

    // Scaleway on a server that implements the calls: read, nothing not applicable.
    let scw = find(&stores, SCW_BUCKET);
    assert!(scw.not_applicable.is_empty(), "{:?}", scw.not_applicable);
    assert_eq!(scw.classification, "BBN2");
    assert!(!scw.object_lock_unknown && !scw.is_unknown(dimension::REPLICATION));
    assert!(
        scw.custody_reason.contains("SSE-S3 (AES256)"),
        "{}",
        scw.custody_reason
    );

    // The facts: Unsupported with the raw answer, and not one gap.
    let detail = collector
        .map()
        .await?
        .get_store(&find(&stores, OVH_BUCKET).id)
        .await?;
    let facts: Vec<Fact> = detail.facts.into_iter().filter_map(|p| p.fact).collect();
    let unsupported: BTreeMap<String, (String, u32)> = facts
        .iter()
        .filter_map(|f| match &f.body {
            Some(Body::Unsupported(u)) => Some((u.call.clone(), (u.code.clone(), u.http_status))),
            _ => None,
        })
        .collect();
    for call in [
        "s3:GetBucketEncryption",
        "s3:GetBucketTagging",
        "s3:GetBucketReplication",
        "s3:GetObjectLockConfiguration",
    ] {
        assert_eq!(
            unsupported.get(call),
            Some(&("NotImplemented".to_owned(), 501)),
            "{call}: {unsupported:?}"
        );
    }
    let store = facts
        .iter()
        .find_map(|f| match &f.body {
            Some(Body::Store(s)) => Some(s.clone()),
            _ => None,
        })
        .context("store fact")?;
    assert_eq!(store.region_source, "configured endpoint region");
    assert_eq!(store.endpoint, ovh.endpoint());
    assert!(
        !facts.iter().any(|f| matches!(f.body, Some(Body::Gap(_)))),
        "no gap: {facts:?}"
    );

    // Coverage: every account complete, with no gap.
    let base = format!("http://{}", http_addr(&collector, Duration::from_secs(10))?);
    let coverage = get_json(&base, "/v1/coverage", collector.token()).await?;
    let scan = &coverage["scans"][0];
    let accounts = scan["coverage"].as_array().context("coverage")?;
    assert_eq!(accounts.len(), 4, "{scan}");
    for a in accounts {
        assert_eq!(a["complete"], true, "{a}");
        assert_eq!(a["gaps"], 0, "{a}");
        assert_eq!(a["stores_seen"], 1, "{a}");
    }
    assert_eq!(scan["gaps"].as_array().map(Vec::len), Some(0), "{scan}");
    Ok(())
}
