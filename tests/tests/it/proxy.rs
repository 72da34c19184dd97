//! The fault proxy and the seeded estate against moto alone: what the agent will see.

use std::collections::HashMap;

use landmeter_e2e::Moto;
use landmeter_e2e::estate::{self, Account, Aws, Encryption, KeyOrigin, Truth};
use landmeter_e2e::fault_proxy::{Fault, FaultProxy, Rule, today};

use crate::{DENIED_ENCRYPTION_BUCKET, DENIED_KEY_BUCKET, ESTATE};

fn truth_of<'a>(truth: &'a [Truth], name: &str) -> &'a Truth {
    truth
        .iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("{name} is not in the estate"))
}

fn s3_code<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> Option<String>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_forwards_injects_and_rewrites_over_a_seeded_estate() -> anyhow::Result<()> {
    let moto = Moto::start()?;
    let direct = Aws::connect(&moto.endpoint()).await?;
    let truth = estate::seed(&direct, ESTATE).await?;
    assert_eq!(truth.len(), ESTATE.len());

    let regions: HashMap<String, String> = truth
        .iter()
        .map(|t| (t.name().to_owned(), t.row.region.to_owned()))
        .collect();
    let denied_key = truth_of(&truth, DENIED_KEY_BUCKET)
        .key_id
        .clone()
        .expect("the denied-key bucket has a customer key");
    let proxy = FaultProxy::start(
        moto.addr(),
        vec![
            Rule::s3("GetBucketEncryption")
                .bucket(DENIED_ENCRYPTION_BUCKET)
                .respond(Fault::s3_access_denied()),
            Rule::kms("DescribeKey")
                .body_contains(&denied_key)
                .respond(Fault::kms_access_denied()),
            Rule::s3("GetBucketTagging")
                .bucket("lm-au")
                .times(1)
                .respond(Fault::s3_slow_down(0)),
            Rule::kms("ListAliases")
                .times(1)
                .respond(Fault::kms_throttling()),
            today::list_buckets_with_region(move |b| regions.get(b).cloned()),
            today::unconfigured_encryption_is_aes256(),
        ],
    )
    .await?;
    let via = direct.with_endpoint(&proxy.endpoint());

    // ListBuckets: per account; BucketRegion only on paginated requests, added by the proxy.
    for account in [Account::Main, Account::Second] {
        let expected: Vec<&Truth> = truth.iter().filter(|t| t.row.account == account).collect();
        let paged = via
            .s3(account, "us-east-1")
            .list_buckets()
            .max_buckets(1000)
            .send()
            .await?;
        let buckets = paged.buckets();
        assert_eq!(buckets.len(), expected.len(), "{account:?}: {buckets:?}");
        for b in buckets {
            let name = b.name().unwrap_or_default();
            let t = truth_of(&truth, name);
            assert_eq!(t.row.account, account, "{name} listed in the wrong account");
            assert_eq!(b.bucket_region(), Some(t.row.region), "{name}");
        }
        let plain = via.s3(account, "us-east-1").list_buckets().send().await?;
        assert!(
            plain.buckets().iter().all(|b| b.bucket_region().is_none()),
            "stock moto answers without BucketRegion when max-buckets is absent"
        );
    }

    // HeadBucket answers the region of another account's bucket too (replication targets).
    let head = via
        .s3(Account::Main, "us-east-1")
        .head_bucket()
        .bucket("lm-acct2-se-dest")
        .send()
        .await?;
    assert_eq!(head.bucket_region(), Some("eu-north-1"));

    // Unconfigured: moto's older answer directly, today's AES256 through the proxy.
    let err = direct
        .s3(Account::Main, "eu-central-1")
        .get_bucket_encryption()
        .bucket("lm-de-unconfigured")
        .send()
        .await
        .expect_err("moto answers NotFound for a bucket never configured");
    assert_eq!(
        s3_code(&err).as_deref(),
        Some("ServerSideEncryptionConfigurationNotFoundError")
    );
    let enc = via
        .s3(Account::Main, "eu-central-1")
        .get_bucket_encryption()
        .bucket("lm-de-unconfigured")
        .send()
        .await?;
    let rule = &enc
        .server_side_encryption_configuration()
        .expect("config")
        .rules()[0];
    let algo = rule
        .apply_server_side_encryption_by_default()
        .map(|d| d.sse_algorithm().as_str().to_owned());
    assert_eq!(algo.as_deref(), Some("AES256"));

    // Injected AccessDenied on one bucket's encryption, with the real shape.
    let err = via
        .s3(Account::Main, "eu-west-1")
        .get_bucket_encryption()
        .bucket(DENIED_ENCRYPTION_BUCKET)
        .send()
        .await
        .expect_err("AccessDenied injected");
    assert_eq!(s3_code(&err).as_deref(), Some("AccessDenied"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));

    // Configured buckets read back what was seeded, through the proxy.
    for t in &truth {
        if t.name() == DENIED_ENCRYPTION_BUCKET || t.row.encryption == Encryption::Unconfigured {
            continue;
        }
        let enc = via
            .s3(t.row.account, t.row.region)
            .get_bucket_encryption()
            .bucket(t.name())
            .send()
            .await?;
        let d = enc
            .server_side_encryption_configuration()
            .expect("config")
            .rules()[0]
            .apply_server_side_encryption_by_default()
            .cloned()
            .expect("default rule");
        let want_algo = match t.row.encryption {
            Encryption::Aes256 => "AES256",
            Encryption::DsseDefault | Encryption::DsseKeyArn(_) => "aws:kms:dsse",
            _ => "aws:kms",
        };
        assert_eq!(d.sse_algorithm().as_str(), want_algo, "{}", t.name());
        match t.row.encryption {
            Encryption::KmsKeyArn(_)
            | Encryption::DsseKeyArn(_)
            | Encryption::KmsMultiRegion { .. } => {
                assert_eq!(d.kms_master_key_id(), t.key_arn.as_deref(), "{}", t.name());
            }
            Encryption::KmsKeyAlias(_) => {
                assert_eq!(
                    d.kms_master_key_id(),
                    Some(format!("alias/lm-{}", t.name()).as_str())
                );
            }
            Encryption::KmsAwsManagedAlias => {
                assert_eq!(d.kms_master_key_id(), Some("alias/aws/s3"))
            }
            _ => assert_eq!(d.kms_master_key_id(), None, "{}", t.name()),
        }
    }

    // Keys: origins as seeded; the denied one answers AccessDeniedException.
    for t in truth.iter().filter(|t| t.key_arn.is_some()) {
        let kms = via.kms(t.row.account, t.row.region);
        let arn = t.key_arn.as_deref().unwrap_or_default();
        let res = kms.describe_key().key_id(arn).send().await;
        if t.name() == DENIED_KEY_BUCKET {
            let err = res.expect_err("AccessDenied injected on DescribeKey");
            let code = err
                .as_service_error()
                .and_then(aws_sdk_kms::error::ProvideErrorMetadata::code);
            assert_eq!(code, Some("AccessDeniedException"));
            continue;
        }
        let meta = res?.key_metadata.expect("metadata");
        let want_origin = match t.row.encryption {
            Encryption::KmsKeyArn(o) | Encryption::KmsKeyAlias(o) | Encryption::DsseKeyArn(o) => o,
            _ => KeyOrigin::Kms,
        };
        let origin = meta
            .origin()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default();
        let want = match want_origin {
            KeyOrigin::Kms => "AWS_KMS",
            KeyOrigin::External => "EXTERNAL",
            KeyOrigin::CloudHsm => "AWS_CLOUDHSM",
            KeyOrigin::ExternalKeyStore => "EXTERNAL_KEY_STORE",
        };
        assert_eq!(origin, want, "{}", t.name());
        assert_eq!(meta.arn(), Some(arn));
        let multi = matches!(t.row.encryption, Encryption::KmsMultiRegion { .. });
        assert_eq!(meta.multi_region(), Some(multi), "{}", t.name());
        if multi {
            let conf = meta
                .multi_region_configuration()
                .expect("multi-region configuration");
            let replicas: Vec<_> = conf
                .replica_keys()
                .iter()
                .filter_map(|r| r.region())
                .collect();
            assert_eq!(replicas, ["eu-west-1"]);
        }
    }

    // Throttling is retried by the SDK: SlowDown once on tagging, ThrottlingException once on ListAliases.
    let before = proxy.count("s3:GetBucketTagging");
    let tags = via
        .s3(Account::Main, "ap-southeast-2")
        .get_bucket_tagging()
        .bucket("lm-au")
        .send()
        .await?;
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(
        proxy.count("s3:GetBucketTagging") - before,
        2,
        "one SlowDown, one retry"
    );
    let aliases = via
        .kms(Account::Main, "eu-central-1")
        .list_aliases()
        .send()
        .await?;
    assert!(
        aliases
            .aliases()
            .iter()
            .any(|a| a.alias_name() == Some("alias/lm-lm-de-cmk-alias"))
    );
    assert_eq!(
        proxy.count("kms:ListAliases"),
        2,
        "one ThrottlingException, one retry"
    );

    // Replication: cross-account destination recorded with its account.
    let repl = via
        .s3(Account::Main, "eu-central-1")
        .get_bucket_replication()
        .bucket("lm-de-repl-acct2")
        .send()
        .await?;
    let dest = repl.replication_configuration().expect("config").rules()[0]
        .destination()
        .expect("destination")
        .clone();
    assert_eq!(dest.bucket(), "arn:aws:s3:::lm-acct2-se-dest");
    assert_eq!(dest.account(), Some(estate::SECOND_ACCOUNT));

    // Sizes: the seeded datapoint, in the bucket's region, in a window ending today 00:00 UTC.
    for t in truth.iter().filter(|t| t.row.size.is_some()) {
        let (bytes, objects) = t.row.size.unwrap_or_default();
        let end = estate::yesterday_noon_utc() + 12 * 3_600;
        for (metric, storage, want) in [
            ("BucketSizeBytes", "StandardStorage", bytes),
            ("NumberOfObjects", "AllStorageTypes", objects),
        ] {
            // Query protocol: aws-sdk-cloudwatch speaks CBOR, which moto does not (see estate.rs).
            let fmt = |secs| {
                aws_smithy_types::DateTime::from_secs(secs)
                    .fmt(aws_smithy_types::date_time::Format::DateTime)
                    .expect("format")
            };
            let form: Vec<(String, String)> = [
                ("Action", "GetMetricStatistics".to_owned()),
                ("Version", "2010-08-01".to_owned()),
                ("Namespace", "AWS/S3".to_owned()),
                ("MetricName", metric.to_owned()),
                ("Dimensions.member.1.Name", "BucketName".to_owned()),
                ("Dimensions.member.1.Value", t.name().to_owned()),
                ("Dimensions.member.2.Name", "StorageType".to_owned()),
                ("Dimensions.member.2.Value", storage.to_owned()),
                ("StartTime", fmt(end - 3 * 86_400)),
                ("EndTime", fmt(end)),
                ("Period", "86400".to_owned()),
                ("Statistics.member.1", "Average".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let (status, body) = via
                .query_call(t.row.account, t.row.region, "monitoring", &form)
                .await?;
            assert_eq!(status, 200, "{body}");
            let values: Vec<f64> = body
                .split("<Average>")
                .skip(1)
                .filter_map(|v| v.split("</Average>").next()?.parse().ok())
                .collect();
            assert_eq!(values, [want as f64], "{} {metric}: {body}", t.name());
        }
    }

    // Counting: every operation above went through the proxy and is named like AWS.
    let counts = proxy.counts();
    for op in [
        "s3:ListBuckets",
        "s3:HeadBucket",
        "s3:GetBucketEncryption",
        "s3:GetBucketReplication",
        "kms:DescribeKey",
        "monitoring:GetMetricStatistics",
    ] {
        assert!(
            counts.get(op).copied().unwrap_or(0) > 0,
            "{op} not counted: {counts:?}"
        );
    }
    assert_eq!(counts.get("s3:ListBuckets"), Some(&4), "{counts:?}");
    Ok(())
}
