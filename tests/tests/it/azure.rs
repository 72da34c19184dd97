//! Azure end to end: the agent's Azure provider against a local HTTPS server playing ARM and
//! Entra ID (official example shapes, nextLink paging, 403, 429 with Retry-After), and
//! against Azurite for the Blob data plane; facts through the collector into the map.

use landmeter_e2e::arm_server::{
    AZURE_ESTATE, AZURITE_ACCOUNT, AZURITE_ROW, ArmServer, FEDERATED_CLIENT_ID, SUB_DENIED,
    SUB_MAIN, SUB_US,
};
use landmeter_e2e::azurite::Azurite;
use landmeter_e2e::{Collector, run_agent_azure};
use landmeter_proto::Custody;
use landmeter_proto::v1::{StoreFilter, StoreView};

fn find<'a>(stores: &'a [StoreView], name: &str) -> &'a StoreView {
    stores
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} not in the map: {:?}", names(stores)))
}

fn names(stores: &[StoreView]) -> Vec<&str> {
    stores.iter().map(|s| s.name.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_arm_estate_reaches_the_map() -> anyhow::Result<()> {
    let arm = ArmServer::start(None).await?;
    let collector = Collector::start()?;
    let config = arm.agent_config(&collector.url())?;
    let run = run_agent_azure(&collector.url(), &config)
        .await?
        .success()?;

    let mut map = collector.map().await?;
    let stores = map.all_stores().await?;
    assert_eq!(stores.len(), AZURE_ESTATE.len(), "{:?}", names(&stores));
    for a in AZURE_ESTATE {
        let v = find(&stores, a.name);
        let e = &a.expect;
        assert_eq!(v.provider, "microsoft-azure");
        assert_eq!(v.account, a.subscription, "{}", a.name);
        assert_eq!(
            v.id,
            format!("microsoft-azure:{}:{}", a.subscription, a.name)
        );
        assert_eq!(v.region, a.location, "{}", a.name);
        assert_eq!((v.country.as_str(), v.eu), (e.country, e.eu), "{}", a.name);
        assert_eq!(v.custody(), e.custody, "{}: {}", a.name, v.custody_reason);
        assert_eq!(
            v.custody_modifiers.len(),
            e.modifiers.len(),
            "{}: {:?}",
            a.name,
            v.custody_modifiers
        );
        for (got, want) in v.custody_modifiers.iter().zip(e.modifiers) {
            assert!(got.starts_with(want), "{}: {got:?} !~ {want:?}", a.name);
        }
        assert_eq!(v.classification, e.classification, "{}", a.name);
        assert_eq!(
            v.replicated_outside_eu, e.replicated_outside_eu,
            "{}",
            a.name
        );
        match e.secondary {
            Some((region, country, eu)) => {
                assert_eq!(v.replication.len(), 1, "{}", a.name);
                let t = &v.replication[0];
                assert_eq!(
                    (t.region.as_str(), t.country.as_str(), t.eu),
                    (region, country, eu),
                    "{}",
                    a.name
                );
            }
            None => assert!(v.replication.is_empty(), "{}: {:?}", a.name, v.replication),
        }
        assert_eq!(v.provider_parent, "Microsoft Corporation");
        assert!(v.jurisdictions.iter().any(|j| j == "US-CLOUD-ACT"));
        assert_eq!(v.bytes, a.used_bytes, "{}: size", a.name);
    }
    // Archived bytes come from the blob capacity per tier, not the account's default tier
    // (Hot): the rest of the used capacity is not blob data.
    let archived = find(&stores, landmeter_e2e::arm_server::ARCHIVED_ACCOUNT);
    assert_eq!(archived.access_tier, "Hot");
    assert_eq!(
        archived.archive_bytes,
        Some(20_000_000),
        "{:?}",
        archived.storage_classes
    );
    let classes: Vec<(&str, &str, i64)> = archived
        .storage_classes
        .iter()
        .map(|c| (c.storage_type.as_str(), c.class.as_str(), c.bytes))
        .collect();
    assert_eq!(
        classes,
        [
            ("BlobCapacity:Archive", "archive", 20_000_000),
            ("BlobCapacity:Hot", "standard", 100_000_000),
            ("NonBlobCapacity", "other", 3_456_789),
        ]
    );
    // The cross-tenant key names its federated identity; the HSM key its vault.
    let cross = find(&stores, "lmsecrosstenant");
    assert!(cross.custody_modifiers[0].contains(FEDERATED_CLIENT_ID));
    let hsm = find(&stores, "lmdehsm");
    assert_eq!(
        hsm.key_arn,
        "https://lm-hsm.managedhsm.azure.net/keys/hsm-de"
    );
    assert_eq!(hsm.key_region, "germanywestcentral");
    let us = find(&stores, "lmuseast");
    assert_eq!(us.key_owner_account, SUB_MAIN);
    assert_eq!(us.jurisdiction, "non-EU+US-CLOUD-ACT");

    // Filters cover Azure: EU stores replicated outside the EU, by provider.
    let outside = map
        .list_stores(StoreFilter {
            providers: vec!["microsoft-azure".into()],
            replicated_outside_eu: Some(true),
            ..StoreFilter::default()
        })
        .await?;
    let mut outside: Vec<&str> = outside.iter().map(|s| s.name.as_str()).collect();
    outside.sort_unstable();
    assert_eq!(outside, ["lmukgrs", "lmuseast"]);

    // Two pages joined by nextLink, the second throttled once (429, Retry-After: 1) and
    // retried; the denied subscription answered 403 and made only itself incomplete.
    assert_eq!(arm.throttled(), 1);
    assert_eq!(arm.count("StorageAccounts_List"), 5, "{:?}", arm.counts());
    // One token per audience (ARM, then Storage for the data plane), cached after that.
    assert_eq!(arm.count("token"), 2, "{:?}", arm.counts());
    assert_eq!(arm.count("unauthorized"), 0, "{:?}", arm.counts());
    assert!(
        run.stderr.contains(SUB_DENIED) && run.stderr.contains("AuthorizationFailed"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(&format!("account={SUB_MAIN}")),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(&format!("account={SUB_US}")),
        "{}",
        run.stderr
    );
    // The size Azure Monitor could not give is unknown, with its gap in the provenance.
    let detail = map.get_store(&find(&stores, "lmsecrosstenant").id).await?;
    assert!(
        detail
            .facts
            .iter()
            .filter_map(|p| p.fact.as_ref())
            .any(|f| f.api_call == "monitor:Metrics_List"
                && matches!(f.body, Some(landmeter_proto::v1::fact::Body::Gap(_)))),
        "{detail:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azurite_containers_reach_the_map() -> anyhow::Result<()> {
    let azurite = Azurite::start()?;
    azurite
        .create_containers(&[
            (
                "records",
                &[("classification", "BBN2"), ("owner", "archive")],
            ),
            ("scratch", &[]),
        ])
        .await?;
    let arm = ArmServer::start(Some(azurite.blob_endpoint())).await?;
    let collector = Collector::start()?;
    let config = arm.agent_config(&collector.url())?;
    run_agent_azure(&collector.url(), &config)
        .await?
        .success()?;

    let mut map = collector.map().await?;
    let stores = map.all_stores().await?;
    let account = find(&stores, AZURITE_ACCOUNT);
    assert_eq!(account.region, AZURITE_ROW.location);
    assert_eq!(account.custody(), Custody::Provider);
    for (container, classification) in [("records", "BBN2"), ("scratch", "unclassified")] {
        let name = format!("{AZURITE_ACCOUNT}/{container}");
        let v = find(&stores, &name);
        assert_eq!(v.id, format!("microsoft-azure:{SUB_MAIN}:{name}"));
        assert_eq!(v.region, "northeurope", "{name}: the account's location");
        assert_eq!((v.country.as_str(), v.eu), ("IE", true), "{name}");
        assert_eq!(
            v.custody(),
            Custody::Provider,
            "{name}: {}",
            v.custody_reason
        );
        assert!(
            v.custody_reason
                .starts_with("account encryption of devstoreaccount1"),
            "{}",
            v.custody_reason
        );
        assert_eq!(
            v.classification, classification,
            "{name}: container metadata"
        );
        assert_eq!(v.process, "emulated", "{name}: the account's tag");
        assert!(v.replication.is_empty());
    }
    // Accounts Azurite does not serve: the data plane refused, a gap, not a failed scan.
    let detail = map.get_store(&find(&stores, "lmweuplatform").id).await?;
    let gap_calls: Vec<&str> = detail
        .facts
        .iter()
        .filter_map(|p| p.fact.as_ref())
        .filter(|f| matches!(f.body, Some(landmeter_proto::v1::fact::Body::Gap(_))))
        .map(|f| f.api_call.as_str())
        .collect();
    assert_eq!(gap_calls, ["blob:ListContainers"], "{detail:?}");
    Ok(())
}

/// A blob endpoint behind a storage firewall: every request answers 403
/// `AuthorizationFailure`, as Azure Storage does when the network rules refuse the caller.
async fn firewalled_blob_endpoint() -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                // One request head per connection is enough for a refusal.
                let _ = conn.read(&mut buf).await;
                let body = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthorizationFailure</Code><Message>This request is not authorized to perform this operation.</Message></Error>";
                let head = format!(
                    "HTTP/1.1 403 This request is not authorized to perform this operation.\r\nContent-Type: application/xml\r\nx-ms-error-code: AuthorizationFailure\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body.as_bytes()).await;
            });
        }
    });
    Ok((format!("http://{addr}/{AZURITE_ACCOUNT}"), task))
}

/// First scan: the account's containers are listed. Second scan: a storage firewall refuses
/// the listing (403). Nothing is marked gone, no "gone" change is recorded, and the coverage
/// says the subscription is incomplete for that account's containers, and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firewalled_container_listing_marks_nothing_gone() -> anyhow::Result<()> {
    let azurite = Azurite::start()?;
    azurite
        .create_containers(&[("records", &[]), ("scratch", &[]), ("archive", &[])])
        .await?;
    let http = format!("127.0.0.1:{}", landmeter_e2e::free_port()?);
    let dir = landmeter_e2e::TempDir::new("landmeter-firewall")?;
    let db = dir.path().join("map.db");
    let collector = Collector::start_with(dir, &db, "127.0.0.1:0", &["--http-listen", &http])?;

    let arm = ArmServer::start(Some(azurite.blob_endpoint())).await?;
    run_agent_azure(&collector.url(), &arm.agent_config(&collector.url())?)
        .await?
        .success()?;
    let containers = |stores: &[StoreView]| {
        let mut n: Vec<String> = stores
            .iter()
            .filter(|v| v.kind == "container" && v.name.starts_with(AZURITE_ACCOUNT))
            .map(|v| v.name.clone())
            .collect();
        n.sort();
        n
    };
    let mut map = collector.map().await?;
    let first = containers(&map.all_stores().await?);
    assert_eq!(first.len(), 3, "{first:?}");

    let (firewalled, _server) = firewalled_blob_endpoint().await?;
    let arm = ArmServer::start(Some(firewalled)).await?;
    run_agent_azure(&collector.url(), &arm.agent_config(&collector.url())?)
        .await?
        .success()?;
    assert_eq!(
        containers(&map.all_stores().await?),
        first,
        "not listed is not gone"
    );
    let changes = collector.cli(&["changes", "--format", "json"])?;
    assert!(
        changes.contains("\"added\""),
        "the history is there: {changes}"
    );
    assert!(!changes.contains("\"gone\""), "{changes}");

    let coverage = collector.http_json(&http, "/v1/coverage").await?;
    let latest = &coverage["scans"][0];
    let reason = latest["coverage"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("incomplete for containers")
            && reason.contains(AZURITE_ACCOUNT)
            && reason.contains("403"),
        "{latest}"
    );
    assert!(
        latest["gaps"]
            .as_array()
            .expect("gaps")
            .iter()
            .any(|g| g["call"] == "blob:ListContainers" && g["subject"] == AZURITE_ACCOUNT),
        "{latest}"
    );
    Ok(())
}
