//! An AWS estate seeded into moto through the Rust AWS SDK, with the truth the map must show.
//!
//! An estate is a table of [`Bucket`] rows: what to create (account, region, default
//! encryption, tags, replication, size metrics) and what the collector must answer for it
//! ([`Expect`], written from DESIGN.md's rules, never from what the code outputs). [`seed`]
//! creates it and returns one [`Truth`] per bucket, with the key ARNs it created.
//!
//! The end-to-end tests define their own table; [`DEMO`] is the demo's.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use aws_credential_types::Credentials;
use aws_smithy_types::DateTime;
use landmeter_proto::Custody;

/// moto's default account.
pub const MAIN_ACCOUNT: &str = "123456789012";
/// The second account, reached by STS AssumeRole.
pub const SECOND_ACCOUNT: &str = "222222222222";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Account {
    Main,
    Second,
}

impl Account {
    pub const fn id(self) -> &'static str {
        match self {
            Account::Main => MAIN_ACCOUNT,
            Account::Second => SECOND_ACCOUNT,
        }
    }
}

/// How the material of a customer KMS key is made and held (KMS `Origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// AWS_KMS: made by KMS.
    Kms,
    /// EXTERNAL: imported (BYOK).
    External,
    /// AWS_CLOUDHSM: in a CloudHSM key store (moto creates it without a store).
    CloudHsm,
    /// EXTERNAL_KEY_STORE: in an external key store, XKS (moto: without a store).
    ExternalKeyStore,
}

/// A bucket's default encryption, as seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// Never configured: moto answers ServerSideEncryptionConfigurationNotFoundError.
    Unconfigured,
    /// SSE-S3.
    Aes256,
    /// aws:kms without a key id (the AWS-managed aws/s3 key).
    KmsDefault,
    /// aws:kms naming `alias/aws/s3`.
    KmsAwsManagedAlias,
    /// aws:kms naming a new customer key of this origin by its ARN.
    KmsKeyArn(KeyOrigin),
    /// aws:kms naming a new customer key by an alias `alias/lm-<bucket>`.
    KmsKeyAlias(KeyOrigin),
    /// aws:kms naming a new multi-region customer key by ARN, replicated to a second region.
    KmsMultiRegion { replica_region: &'static str },
    /// aws:kms:dsse without a key id.
    DsseDefault,
    /// aws:kms:dsse naming a new customer key by ARN.
    DsseKeyArn(KeyOrigin),
}

/// What the map must say about a bucket.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub country: &'static str,
    pub eu: bool,
    pub custody: Custody,
    /// Account owning the key; empty for provider keys.
    pub key_owner_account: &'static str,
    pub replicated_outside_eu: bool,
    pub classification: &'static str,
    /// A substring one of the custody modifiers must contain (case-insensitive).
    pub modifier: Option<&'static str>,
}

/// One row of an estate: what to seed and what the map must answer.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    pub name: &'static str,
    pub account: Account,
    pub region: &'static str,
    pub encryption: Encryption,
    pub tags: &'static [(&'static str, &'static str)],
    /// Names of buckets (rows of the same estate) this one replicates to.
    pub replicate_to: &'static [&'static str],
    /// CloudWatch BucketSizeBytes (StandardStorage) and NumberOfObjects, dated yesterday.
    pub size: Option<(i64, i64)>,
    /// Further BucketSizeBytes series by StorageType (`GlacierStorage`, ...), dated yesterday.
    pub storage: &'static [(&'static str, i64)],
    /// Created with Object Lock; the default retention (mode, days), if any.
    pub object_lock: Option<Option<(&'static str, i32)>>,
    pub expect: Expect,
}

/// Starts a row: `bucket("b", Account::Main, "eu-west-1", Encryption::Aes256).expect(...)`.
pub const fn bucket(
    name: &'static str,
    account: Account,
    region: &'static str,
    encryption: Encryption,
) -> Bucket {
    Bucket {
        name,
        account,
        region,
        encryption,
        tags: &[],
        replicate_to: &[],
        size: None,
        storage: &[],
        object_lock: None,
        expect: Expect {
            country: "",
            eu: false,
            custody: Custody::Unspecified,
            key_owner_account: "",
            replicated_outside_eu: false,
            classification: "unclassified",
            modifier: None,
        },
    }
}

impl Bucket {
    pub const fn tags(mut self, tags: &'static [(&'static str, &'static str)]) -> Self {
        self.tags = tags;
        self
    }

    pub const fn replicate_to(mut self, to: &'static [&'static str]) -> Self {
        self.replicate_to = to;
        self
    }

    pub const fn size(mut self, bytes: i64, objects: i64) -> Self {
        self.size = Some((bytes, objects));
        self
    }

    /// BucketSizeBytes per further storage type, e.g. `&[("GlacierStorage", 5_000)]`.
    pub const fn storage(mut self, by_type: &'static [(&'static str, i64)]) -> Self {
        self.storage = by_type;
        self
    }

    /// Creates the bucket with Object Lock enabled and this default retention (mode
    /// `COMPLIANCE`/`GOVERNANCE`, days); `None` enables the lock without a default rule.
    pub const fn object_lock(mut self, default: Option<(&'static str, i32)>) -> Self {
        self.object_lock = Some(default);
        self
    }

    /// Country, EU, custody, key owner account ("" for none), replicated outside the EU,
    /// classification.
    pub const fn expect(
        mut self,
        country: &'static str,
        eu: bool,
        custody: Custody,
        key_owner_account: &'static str,
        replicated_outside_eu: bool,
        classification: &'static str,
    ) -> Self {
        self.expect = Expect {
            country,
            eu,
            custody,
            key_owner_account,
            replicated_outside_eu,
            classification,
            modifier: self.expect.modifier,
        };
        self
    }

    pub const fn modifier(mut self, contains: &'static str) -> Self {
        self.expect.modifier = Some(contains);
        self
    }

    /// The tag value for `key`, if seeded.
    pub fn tag(&self, key: &str) -> Option<&'static str> {
        self.tags.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// A replication target as the map must show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTruth {
    pub bucket: String,
    pub account: String,
    pub region: String,
    pub country: String,
    pub eu: bool,
}

/// The truth about one seeded bucket.
#[derive(Debug, Clone)]
pub struct Truth {
    pub row: Bucket,
    pub account: String,
    /// The customer key created for the bucket, if any.
    pub key_arn: Option<String>,
    /// Its key id (the last ARN segment).
    pub key_id: Option<String>,
    pub replication: Vec<TargetTruth>,
}

impl Truth {
    pub fn name(&self) -> &'static str {
        self.row.name
    }
}

/// Static credentials per account and one endpoint: SDK clients for moto (or the proxy).
#[derive(Clone)]
pub struct Aws {
    endpoint: String,
    credentials: HashMap<Account, Credentials>,
}

impl Aws {
    /// Connects as `test`/`test` (moto's default account) and assumes a role into the second
    /// account, whose temporary credentials act there.
    pub async fn connect(endpoint: &str) -> anyhow::Result<Aws> {
        let main = Credentials::new("test", "test", None, None, "landmeter-e2e");
        let mut aws = Aws {
            endpoint: endpoint.to_owned(),
            credentials: HashMap::from([(Account::Main, main)]),
        };
        let assumed = aws
            .sts(Account::Main)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{SECOND_ACCOUNT}:role/landmeter-seed"))
            .role_session_name("landmeter-e2e-seed")
            .send()
            .await
            .context("sts:AssumeRole into the second account")?;
        let c = assumed
            .credentials()
            .context("AssumeRole returned no credentials")?;
        aws.credentials.insert(
            Account::Second,
            Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                None,
                "landmeter-e2e-assumed",
            ),
        );
        Ok(aws)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Same credentials, another endpoint (e.g. the fault proxy in front of the same moto).
    pub fn with_endpoint(&self, endpoint: &str) -> Aws {
        Aws {
            endpoint: endpoint.to_owned(),
            credentials: self.credentials.clone(),
        }
    }

    pub(crate) fn creds(&self, account: Account) -> Credentials {
        self.credentials
            .get(&account)
            .cloned()
            .unwrap_or_else(|| panic!("no credentials for {account:?}"))
    }

    pub fn s3(&self, account: Account, region: &str) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(region.to_owned()))
            .credentials_provider(self.creds(account))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub fn kms(&self, account: Account, region: &str) -> aws_sdk_kms::Client {
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new(region.to_owned()))
            .credentials_provider(self.creds(account))
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    }

    pub fn sts(&self, account: Account) -> aws_sdk_sts::Client {
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .credentials_provider(self.creds(account))
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }

    pub fn cloudwatch(&self, account: Account, region: &str) -> aws_sdk_cloudwatch::Client {
        let conf = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudwatch::config::Region::new(region.to_owned()))
            .credentials_provider(self.creds(account))
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_cloudwatch::Client::from_conf(conf)
    }
}

/// Unix seconds of yesterday 12:00 UTC: moto invents a wrong datapoint for today, so sizes
/// are dated on an earlier day (shared/reference/EMULATORS.md).
pub fn yesterday_noon_utc() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    now - now % 86_400 - 12 * 3_600
}

/// Seeds `estate` and returns its truth, one row per bucket, in table order.
pub async fn seed(aws: &Aws, estate: &[Bucket]) -> anyhow::Result<Vec<Truth>> {
    check_table(estate)?;
    let by_name: HashMap<&str, &Bucket> = estate.iter().map(|b| (b.name, b)).collect();
    let versioned: Vec<&str> = estate
        .iter()
        .flat_map(|b| {
            let mut v = b.replicate_to.to_vec();
            if !b.replicate_to.is_empty() {
                v.push(b.name);
            }
            v
        })
        .collect();

    // Buckets first: replication needs its destinations.
    for b in estate {
        create_bucket(aws, b).await?;
        if versioned.contains(&b.name) {
            aws.s3(b.account, b.region)
                .put_bucket_versioning()
                .bucket(b.name)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .with_context(|| format!("enable versioning on {}", b.name))?;
        }
    }

    let mut truth = Vec::with_capacity(estate.len());
    for b in estate {
        let s3 = aws.s3(b.account, b.region);
        let key_arn = seed_encryption(aws, b).await?;
        if !b.tags.is_empty() {
            let mut tagging = aws_sdk_s3::types::Tagging::builder();
            for (k, v) in b.tags {
                tagging = tagging.tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key(*k)
                        .value(*v)
                        .build()?,
                );
            }
            s3.put_bucket_tagging()
                .bucket(b.name)
                .tagging(tagging.build()?)
                .send()
                .await
                .with_context(|| format!("tag {}", b.name))?;
        }
        let mut replication = Vec::new();
        if !b.replicate_to.is_empty() {
            let mut conf = aws_sdk_s3::types::ReplicationConfiguration::builder().role(format!(
                "arn:aws:iam::{}:role/landmeter-replication",
                b.account.id()
            ));
            for (i, dest) in b.replicate_to.iter().enumerate() {
                let d = by_name[dest];
                let mut destination = aws_sdk_s3::types::Destination::builder()
                    .bucket(format!("arn:aws:s3:::{dest}"));
                if d.account != b.account {
                    destination = destination.account(d.account.id());
                }
                conf = conf.rules(
                    aws_sdk_s3::types::ReplicationRule::builder()
                        .id(format!("to-{dest}"))
                        .priority(i as i32 + 1)
                        .status(aws_sdk_s3::types::ReplicationRuleStatus::Enabled)
                        .filter(
                            aws_sdk_s3::types::ReplicationRuleFilter::builder()
                                .prefix("")
                                .build(),
                        )
                        .delete_marker_replication(
                            aws_sdk_s3::types::DeleteMarkerReplication::builder()
                                .status(aws_sdk_s3::types::DeleteMarkerReplicationStatus::Disabled)
                                .build(),
                        )
                        .destination(destination.build()?)
                        .build()?,
                );
                replication.push(TargetTruth {
                    bucket: d.name.to_owned(),
                    account: d.account.id().to_owned(),
                    region: d.region.to_owned(),
                    country: d.expect.country.to_owned(),
                    eu: d.expect.eu,
                });
            }
            s3.put_bucket_replication()
                .bucket(b.name)
                .replication_configuration(conf.build()?)
                .send()
                .await
                .with_context(|| format!("put replication on {}", b.name))?;
        }
        if b.size.is_some() || !b.storage.is_empty() {
            seed_size(aws, b).await?;
        }
        if let Some(Some((mode, days))) = b.object_lock {
            s3.put_object_lock_configuration()
                .bucket(b.name)
                .object_lock_configuration(
                    aws_sdk_s3::types::ObjectLockConfiguration::builder()
                        .object_lock_enabled(aws_sdk_s3::types::ObjectLockEnabled::Enabled)
                        .rule(
                            aws_sdk_s3::types::ObjectLockRule::builder()
                                .default_retention(
                                    aws_sdk_s3::types::DefaultRetention::builder()
                                        .mode(aws_sdk_s3::types::ObjectLockRetentionMode::from(
                                            mode,
                                        ))
                                        .days(days)
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
                .with_context(|| format!("put object lock configuration on {}", b.name))?;
        }
        let key_id = key_arn
            .as_deref()
            .and_then(|a| a.rsplit('/').next())
            .map(str::to_owned);
        truth.push(Truth {
            row: *b,
            account: b.account.id().to_owned(),
            key_arn,
            key_id,
            replication,
        });
    }
    Ok(truth)
}

fn check_table(estate: &[Bucket]) -> anyhow::Result<()> {
    let mut seen = std::collections::HashSet::new();
    for b in estate {
        if !seen.insert(b.name) {
            bail!("estate table: bucket {} appears twice", b.name);
        }
        if b.expect.custody == Custody::Unspecified {
            bail!("estate table: bucket {} has no expectation", b.name);
        }
    }
    for b in estate {
        for d in b.replicate_to {
            if !seen.contains(d) {
                bail!(
                    "estate table: {} replicates to {d}, which is not a row",
                    b.name
                );
            }
        }
    }
    Ok(())
}

async fn create_bucket(aws: &Aws, b: &Bucket) -> anyhow::Result<()> {
    let mut req = aws
        .s3(b.account, b.region)
        .create_bucket()
        .bucket(b.name)
        .set_object_lock_enabled_for_bucket(b.object_lock.map(|_| true));
    if b.region != "us-east-1" {
        req = req.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(b.region))
                .build(),
        );
    }
    req.send()
        .await
        .with_context(|| format!("create bucket {} in {}", b.name, b.region))?;
    Ok(())
}

/// Creates a customer key for `b` (in its account and region) and returns its ARN.
async fn create_key(
    aws: &Aws,
    b: &Bucket,
    origin: KeyOrigin,
    multi_region: bool,
) -> anyhow::Result<String> {
    use aws_sdk_kms::types::OriginType;
    let origin = match origin {
        KeyOrigin::Kms => OriginType::AwsKms,
        KeyOrigin::External => OriginType::External,
        KeyOrigin::CloudHsm => OriginType::AwsCloudhsm,
        KeyOrigin::ExternalKeyStore => OriginType::ExternalKeyStore,
    };
    let out = aws
        .kms(b.account, b.region)
        .create_key()
        .description(format!("landmeter e2e key for {}", b.name))
        .origin(origin.clone())
        .multi_region(multi_region)
        .send()
        .await
        .with_context(|| format!("kms:CreateKey {origin:?} for {}", b.name))?;
    let meta = out
        .key_metadata()
        .context("CreateKey returned no metadata")?;
    meta.arn()
        .map(str::to_owned)
        .context("CreateKey returned no ARN")
}

async fn seed_encryption(aws: &Aws, b: &Bucket) -> anyhow::Result<Option<String>> {
    use aws_sdk_s3::types::ServerSideEncryption as Sse;
    let (algorithm, key_ref, key_arn) = match b.encryption {
        Encryption::Unconfigured => return Ok(None),
        Encryption::Aes256 => (Sse::Aes256, None, None),
        Encryption::KmsDefault => (Sse::AwsKms, None, None),
        Encryption::KmsAwsManagedAlias => (Sse::AwsKms, Some("alias/aws/s3".to_owned()), None),
        Encryption::KmsKeyArn(origin) => {
            let arn = create_key(aws, b, origin, false).await?;
            (Sse::AwsKms, Some(arn.clone()), Some(arn))
        }
        Encryption::KmsKeyAlias(origin) => {
            let arn = create_key(aws, b, origin, false).await?;
            let alias = format!("alias/lm-{}", b.name);
            aws.kms(b.account, b.region)
                .create_alias()
                .alias_name(&alias)
                .target_key_id(&arn)
                .send()
                .await
                .with_context(|| format!("kms:CreateAlias {alias}"))?;
            (Sse::AwsKms, Some(alias), Some(arn))
        }
        Encryption::KmsMultiRegion { replica_region } => {
            let arn = create_key(aws, b, KeyOrigin::Kms, true).await?;
            aws.kms(b.account, b.region)
                .replicate_key()
                // moto resolves ReplicateKey's KeyId only as a bare key id.
                .key_id(arn.rsplit('/').next().unwrap_or(&arn))
                .replica_region(replica_region)
                .send()
                .await
                .with_context(|| format!("kms:ReplicateKey {arn} to {replica_region}"))?;
            (Sse::AwsKms, Some(arn.clone()), Some(arn))
        }
        Encryption::DsseDefault => (Sse::AwsKmsDsse, None, None),
        Encryption::DsseKeyArn(origin) => {
            let arn = create_key(aws, b, origin, false).await?;
            (Sse::AwsKmsDsse, Some(arn.clone()), Some(arn))
        }
    };
    let mut default =
        aws_sdk_s3::types::ServerSideEncryptionByDefault::builder().sse_algorithm(algorithm);
    if let Some(key) = key_ref {
        default = default.kms_master_key_id(key);
    }
    let conf = aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder()
        .rules(
            aws_sdk_s3::types::ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(default.build()?)
                .build(),
        )
        .build()?;
    aws.s3(b.account, b.region)
        .put_bucket_encryption()
        .bucket(b.name)
        .server_side_encryption_configuration(conf)
        .send()
        .await
        .with_context(|| format!("put encryption on {}", b.name))?;
    Ok(key_arn)
}

/// Seeds S3's daily storage metrics with CloudWatch PutMetricData.
///
/// Sent in the AWS Query protocol by hand: aws-sdk-cloudwatch (1.1xx) speaks Smithy RPC v2
/// CBOR, which moto (5.2.x) does not understand (getmoto/moto#9195). moto checks no
/// signature; it reads the region and the account (from the access key) off the
/// `Authorization` credential scope.
async fn seed_size(aws: &Aws, b: &Bucket) -> anyhow::Result<()> {
    let at = DateTime::from_secs(yesterday_noon_utc())
        .fmt(aws_smithy_types::date_time::Format::DateTime)?;
    let mut form = vec![
        ("Action".to_owned(), "PutMetricData".to_owned()),
        ("Version".to_owned(), "2010-08-01".to_owned()),
        ("Namespace".to_owned(), "AWS/S3".to_owned()),
    ];
    let mut metrics = Vec::new();
    if let Some((bytes, objects)) = b.size {
        metrics.push(("BucketSizeBytes", "StandardStorage", bytes, "Bytes"));
        metrics.push(("NumberOfObjects", "AllStorageTypes", objects, "Count"));
    }
    for (storage_type, bytes) in b.storage {
        metrics.push(("BucketSizeBytes", storage_type, *bytes, "Bytes"));
    }
    for (i, (metric, storage_type, value, unit)) in metrics.into_iter().enumerate() {
        let m = format!("MetricData.member.{}", i + 1);
        form.extend([
            (format!("{m}.MetricName"), metric.to_owned()),
            (
                format!("{m}.Dimensions.member.1.Name"),
                "BucketName".to_owned(),
            ),
            (format!("{m}.Dimensions.member.1.Value"), b.name.to_owned()),
            (
                format!("{m}.Dimensions.member.2.Name"),
                "StorageType".to_owned(),
            ),
            (
                format!("{m}.Dimensions.member.2.Value"),
                storage_type.to_owned(),
            ),
            (format!("{m}.Timestamp"), at.clone()),
            (format!("{m}.Value"), value.to_string()),
            (format!("{m}.Unit"), unit.to_owned()),
        ]);
    }
    let (status, body) = aws
        .query_call(b.account, b.region, "monitoring", &form)
        .await?;
    if status != 200 {
        bail!(
            "cloudwatch:PutMetricData for {} answered {status}: {body}",
            b.name
        );
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

impl Aws {
    /// An AWS Query protocol call (form POST to `/`) to an emulator that checks no signature.
    /// Returns the status and body.
    pub async fn query_call(
        &self,
        account: Account,
        region: &str,
        service: &str,
        form: &[(String, String)],
    ) -> anyhow::Result<(u16, String)> {
        use http_body_util::{BodyExt as _, Full};
        let creds = self.creds(account);
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let uri: hyper::Uri = format!("{}/", self.endpoint.trim_end_matches('/')).parse()?;
        let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let mut req = hyper::Request::builder()
            .method(hyper::Method::POST)
            .uri(uri)
            .header(hyper::header::HOST, authority)
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header(
                hyper::header::AUTHORIZATION,
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0",
                    creds.access_key_id()
                ),
            );
        if let Some(token) = creds.session_token() {
            req = req.header("x-amz-security-token", token);
        }
        let req = req.body(Full::new(bytes::Bytes::from(body)))?;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let resp = client
            .request(req)
            .await
            .with_context(|| format!("{service} query call to {}", self.endpoint))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

use Account::{Main as M, Second as S};
use Custody::{Byok, CustomerManaged, DedicatedHsm, Hyok, Provider};
use Encryption::*;
use KeyOrigin::*;

/// The demo's estate: a municipality with buckets across the EU and beyond.
pub const DEMO: &[Bucket] = &[
    bucket("gemeente-burgerzaken", M, "eu-central-1", KmsKeyArn(Kms))
        .tags(&[("classification", "BBN2"), ("process", "burgerzaken")])
        .size(48_318_382_080, 1_204_331)
        .expect("DE", true, CustomerManaged, MAIN_ACCOUNT, false, "BBN2"),
    bucket("gemeente-belastingen", M, "eu-west-1", KmsKeyAlias(Kms))
        .tags(&[("classification", "BBN2"), ("process", "belastingen")])
        .replicate_to(&["gemeente-belastingen-dr"])
        .size(12_884_901_888, 402_113)
        .expect("IE", true, CustomerManaged, MAIN_ACCOUNT, true, "BBN2")
        .modifier("ambiguous"),
    bucket("gemeente-belastingen-dr", M, "us-east-1", Aes256)
        .tags(&[("classification", "BBN2"), ("process", "belastingen")])
        .expect("US", false, Provider, "", false, "BBN2"),
    bucket("gemeente-archief", M, "eu-north-1", KmsKeyArn(External))
        .tags(&[("classification", "BBN3"), ("process", "archief")])
        .size(219_902_325_555, 8_800_112)
        .expect("SE", true, Byok, MAIN_ACCOUNT, false, "BBN3"),
    bucket(
        "gemeente-jeugdzorg",
        M,
        "eu-south-1",
        KmsKeyArn(ExternalKeyStore),
    )
    .tags(&[("classification", "BBN3"), ("process", "jeugdzorg")])
    .size(3_221_225_472, 90_210)
    .expect("IT", true, Hyok, MAIN_ACCOUNT, false, "BBN3"),
    bucket(
        "gemeente-sociaal-domein",
        M,
        "eu-central-1",
        KmsKeyArn(CloudHsm),
    )
    .tags(&[("classification", "BBN3"), ("process", "wmo")])
    .expect("DE", true, DedicatedHsm, MAIN_ACCOUNT, false, "BBN3"),
    bucket("gemeente-website-assets", M, "us-west-2", Unconfigured)
        .tags(&[("classification", "BBN1"), ("process", "website")])
        .size(1_073_741_824, 5_120)
        .expect("US", false, Provider, "", false, "BBN1"),
    bucket("gemeente-analytics", M, "ap-southeast-2", KmsDefault).expect(
        "AU",
        false,
        Provider,
        "",
        false,
        "unclassified",
    ),
    bucket("gemeente-logs", M, "ca-central-1", KmsAwsManagedAlias).expect(
        "CA",
        false,
        Provider,
        "",
        false,
        "unclassified",
    ),
    bucket(
        "gemeente-gis",
        M,
        "eu-west-1",
        KmsMultiRegion {
            replica_region: "us-east-1",
        },
    )
    .tags(&[("classification", "BBN1"), ("process", "ruimte")])
    .expect("IE", true, CustomerManaged, MAIN_ACCOUNT, false, "BBN1")
    .modifier("multi-region"),
    bucket("samenwerking-backup", S, "eu-central-1", Aes256)
        .tags(&[("classification", "BBN2"), ("process", "backup")])
        .expect("DE", true, Provider, "", false, "BBN2"),
    bucket("samenwerking-ict", S, "eu-west-1", DsseKeyArn(Kms))
        .tags(&[("classification", "BBN2"), ("process", "ict")])
        .replicate_to(&["samenwerking-backup"])
        .expect("IE", true, CustomerManaged, SECOND_ACCOUNT, false, "BBN2"),
];
