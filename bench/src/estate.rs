//! The synthetic estate: accounts of 1,000 buckets, each bucket a Store, an Encryption and a
//! Tags fact, spread over regions, encryption settings and tag conventions like a real one.

use landmeter_proto::v1::{
    Encryption, EncryptionState, Fact, S3Encryption, Store, StoreKind, Tag, Tags,
    encryption::Detail, fact::Body,
};

/// Buckets per cloud account.
pub const STORES_PER_ACCOUNT: u64 = 1_000;
/// Facts per batch, as the agent's uplink sends them.
pub const BATCH: usize = 500;
/// Facts per store.
pub const FACTS_PER_STORE: u64 = 3;

const REGIONS: [&str; 12] = [
    "eu-central-1",
    "eu-west-1",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "eu-central-2",
    "eu-west-2",
    "us-east-1",
    "us-west-2",
    "ap-southeast-1",
    "ap-northeast-1",
    "ca-central-1",
];
const CLASSIFICATIONS: [&str; 4] = ["public", "internal", "confidential", "secret"];
const PROCESSES: [&str; 3] = ["billing", "hr", "operations"];

pub fn account_id(account: u64) -> String {
    format!("{:012}", 100_000_000_000 + account)
}

/// A cheap deterministic spread (no RNG dependency; the same estate every run).
fn mix(a: u64, i: u64) -> u64 {
    let mut x = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(i.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 29)
}

/// The three facts of bucket `i` of account `a`; `tag_round` varies its classification (a
/// change of the map).
pub fn store_facts(a: u64, i: u64, tag_round: u64) -> [Fact; 3] {
    let account = account_id(a);
    let name = format!("bench-{a}-{i:04}");
    let h = mix(a, i);
    let region = REGIONS[(h % REGIONS.len() as u64) as usize];
    let observed_at_ms = 1_700_000_000_000 + (h % 86_400_000) as i64;
    let fact = |call: &str, body: Body| Fact {
        account: account.clone(),
        subject: name.clone(),
        observed_at_ms,
        api_call: call.into(),
        body: Some(body),
    };
    // As the current agent reports them: the S3 detail beside the flat fields it still
    // fills for older collectors.
    let s3 = |bucket_key_enabled: bool| {
        Some(Detail::S3(S3Encryption {
            bucket_key_enabled,
            ..S3Encryption::default()
        }))
    };
    let encryption = if h.is_multiple_of(10) {
        Encryption {
            state: EncryptionState::Configured as i32,
            algorithm: "aws:kms".into(),
            key_ref: format!("arn:aws:kms:{region}:{account}:alias/aws/s3"),
            bucket_key_enabled: true,
            detail: s3(true),
            ..Encryption::default()
        }
    } else {
        Encryption {
            state: EncryptionState::Configured as i32,
            algorithm: "AES256".into(),
            detail: s3(false),
            ..Encryption::default()
        }
    };
    let mut tags = Vec::new();
    // A later round always carries a classification, and a different one each round.
    if tag_round > 0 || (h >> 8) % 10 < 7 {
        tags.push(Tag {
            key: "classification".into(),
            value: CLASSIFICATIONS[(((h >> 12) + tag_round) % 4) as usize].into(),
        });
        tags.push(Tag {
            key: "process".into(),
            value: PROCESSES[((h >> 16) % 3) as usize].into(),
        });
    }
    tags.push(Tag {
        key: "team".into(),
        value: format!("team-{}", (h >> 20) % 50),
    });
    [
        fact(
            "s3:ListBuckets",
            Body::Store(Store {
                provider: "aws".into(),
                service: "s3".into(),
                name: name.clone(),
                region: region.into(),
                region_source: "ListBuckets.BucketRegion".into(),
                created_at_ms: 1_600_000_000_000 + (h % 100_000_000) as i64,
                kind: StoreKind::Bucket as i32,
                ..Store::default()
            }),
        ),
        fact("s3:GetBucketEncryption", Body::Encryption(encryption)),
        fact("s3:GetBucketTagging", Body::Tags(Tags { tags })),
    ]
}

/// The facts of one account's scan in batches of [`BATCH`], as the uplink cuts them
/// (a batch boundary may fall between the facts of one bucket).
pub fn account_batches(a: u64) -> impl Iterator<Item = Vec<Fact>> {
    let mut facts = (0..STORES_PER_ACCOUNT).flat_map(move |i| store_facts(a, i, 0));
    std::iter::from_fn(move || {
        let batch: Vec<Fact> = facts.by_ref().take(BATCH).collect();
        (!batch.is_empty()).then_some(batch)
    })
}
