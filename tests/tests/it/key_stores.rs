//! Custom key stores. moto creates CloudHSM and XKS keys without a store and answers
//! DescribeCustomKeyStores with HTTP 500, so the proxy plays AWS for those two calls with
//! the response shapes AWS documents (KEY-CUSTODY.md 1.4): the key gains its
//! `CustomKeyStoreId`, and the store list names the XKS proxy and the CloudHSM cluster.

use landmeter_e2e::estate::{self, Aws};
use landmeter_e2e::fault_proxy::{Answer, FaultProxy, Rule};
use landmeter_e2e::{Collector, Moto, run_agent};
use landmeter_proto::Custody;
use landmeter_proto::v1::fact::Body;

use crate::ESTATE;

const XKS_STORE: &str = "cks-1234567890abcdef0";
const HSM_STORE: &str = "cks-0987654321fedcba0";

/// DescribeCustomKeyStores as AWS answers it for one XKS and one CloudHSM store.
fn describe_custom_key_stores() -> Answer {
    let body = serde_json::json!({
        "CustomKeyStores": [
            {
                "CustomKeyStoreId": XKS_STORE,
                "CustomKeyStoreName": "ExampleXksKeyStore",
                "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
                "ConnectionState": "CONNECTED",
                "CreationDate": 1.663893e9,
                "XksProxyConfiguration": {
                    "AccessKeyId": "ABCDE12345670EXAMPLE",
                    "Connectivity": "PUBLIC_ENDPOINT",
                    "UriEndpoint": "https://xks.example.eu:443",
                    "UriPath": "/example/prefix/kms/xks/v1"
                }
            },
            {
                "CustomKeyStoreId": HSM_STORE,
                "CustomKeyStoreName": "ExampleCloudHSMKeyStore",
                "CustomKeyStoreType": "AWS_CLOUDHSM",
                "CloudHsmClusterId": "cluster-1a23b4cdefg",
                "ConnectionState": "CONNECTED",
                "CreationDate": 1.5e9,
                "TrustAnchorCertificate": "<certificate appears here>"
            }
        ],
        "Truncated": false
    });
    Answer::new(
        hyper::StatusCode::OK,
        "application/x-amz-json-1.1",
        body.to_string(),
    )
}

/// Adds the store id AWS reports for a key created in a custom key store.
fn with_store(
    store: &'static str,
    xks_key: Option<&'static str>,
) -> impl Fn(&landmeter_e2e::fault_proxy::RequestInfo, Answer) -> Answer {
    move |_req, answer| {
        let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&answer.body) else {
            return answer;
        };
        v["KeyMetadata"]["CustomKeyStoreId"] = serde_json::json!(store);
        if let Some(id) = xks_key {
            v["KeyMetadata"]["XksKeyConfiguration"] = serde_json::json!({"Id": id});
        }
        Answer::new(answer.status, "application/x-amz-json-1.1", v.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xks_proxy_and_cloudhsm_cluster_reach_the_map() -> anyhow::Result<()> {
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    let truth = estate::seed(&aws, ESTATE).await?;
    let key_of = |bucket: &str| {
        truth
            .iter()
            .find(|t| t.name() == bucket)
            .and_then(|t| t.key_id.clone())
            .expect("bucket has a customer key")
    };
    let (hyok_key, hsm_key) = (key_of("lm-it-hyok"), key_of("lm-se-hsm"));
    let proxy = FaultProxy::start(
        moto.addr(),
        vec![
            Rule::kms("DescribeKey")
                .body_contains(&hyok_key)
                .rewrite(with_store(XKS_STORE, Some("ext-key-1"))),
            Rule::kms("DescribeKey")
                .body_contains(&hsm_key)
                .rewrite(with_store(HSM_STORE, None)),
            Rule::kms("DescribeCustomKeyStores").respond(describe_custom_key_stores()),
        ],
    )
    .await?;
    let collector = Collector::start()?;
    run_agent(&collector.url(), &proxy.endpoint(), &[])
        .await?
        .success()?;

    let mut map = collector.map().await?;
    let stores = map.all_stores().await?;
    let find = |name: &str| {
        stores
            .iter()
            .find(|s| s.name == name)
            .expect("store in map")
            .clone()
    };
    let hyok = find("lm-it-hyok");
    assert_eq!(hyok.custody(), Custody::Hyok, "{}", hyok.custody_reason);
    assert_eq!(
        hyok.custody_modifiers,
        ["external key proxy xks.example.eu (public_endpoint)"]
    );
    let hsm = find("lm-se-hsm");
    assert_eq!(
        hsm.custody(),
        Custody::DedicatedHsm,
        "{}",
        hsm.custody_reason
    );
    assert_eq!(
        hsm.custody_modifiers,
        ["CloudHSM cluster cluster-1a23b4cdefg"]
    );

    // The store's provenance follows encryption -> key -> key store, each with its call.
    let detail = map.get_store(&hyok.id).await?;
    let calls: Vec<(&str, &str)> = detail
        .facts
        .iter()
        .filter_map(|p| p.fact.as_ref())
        .filter(|f| matches!(f.body, Some(Body::Key(_)) | Some(Body::KeyStore(_))))
        .map(|f| (f.api_call.as_str(), f.subject.as_str()))
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].0, "kms:DescribeKey");
    assert_eq!(calls[1], ("kms:DescribeCustomKeyStores", XKS_STORE));
    // Only regions holding custom-store keys were asked, once each.
    assert_eq!(
        proxy.count("kms:DescribeCustomKeyStores"),
        2,
        "{:?}",
        proxy.counts()
    );
    Ok(())
}
