//! End-to-end tests: a seeded moto estate, the agent and the collector as real processes.
//!
//! Every test owns its moto, collector and proxy (own ports, own database), so tests run in
//! parallel. moto is required: without it the tests fail and say how to install it.
//!
//! # Layout
//! - this file: [`ESTATE`], the estate and its truth, one row per bucket.
//! - `proxy`: the fault proxy and the seeding against moto alone (no landmeter binaries).
//! - `map`: agent -> collector -> MapService answers, on stock moto, on today's AWS
//!   behaviour, under AccessDenied, and across repeated scans.
//! - `tls`: the agent and the CLI over mutual TLS with certificates from `landmeter ca`.
//! - `enrol`: `enroll-token create` -> `landmeter-agent enroll` -> `run` -> the scan in the
//!   token's tenant; refused reuse, fingerprint and token; renewal under a paused clock;
//!   revocation stops renewal.
//! - `key_stores`: custom key stores (XKS proxy, CloudHSM) from recorded AWS answers.
//! - `lockin`: Object Lock and archive storage classes in the map and the exit scenario
//!   (a small estate of its own).
//! - `aws_kinds`: AWS databases, tables, volumes, snapshots, file systems, backup vaults and
//!   log groups (a seeded estate of their own), and a denied listing of one kind.
//! - `azure`: the Azure provider against an HTTPS ARM test server and Azurite.
//! - `azure_kinds`: the other Azure store kinds (disks, snapshots, databases, vaults, file
//!   shares) against the ARM test server: facts, the map, requests, a denied listing.
//! - `gcp`: the Google Cloud provider against an HTTPS test server (token endpoint, Cloud
//!   Storage, Cloud KMS, Cloud Monitoring) and fake-gcs-server: one scan per protection level
//!   and location type.
//! - `multi_cloud`: one agent with `[aws]` and `[azure]` both enabled: one scan, one map;
//!   a cloud whose credentials fail is incomplete coverage beside the other's stores.
//! - `telemetry`: traces over OTLP to a receiver (agent scan, collector ingest and queries);
//!   an unreachable endpoint loses spans, not scans.
//! - `s3_compatible`: four European providers (`[[s3_compatible]]`) against s3rver and moto
//!   in one scan: country, EU flag, custody, CLOUD Act; calls a provider lacks are "not
//!   applicable", neither gaps nor "no".
//! - `wire_compat`: the current agent against a collector that speaks only the wave-1 wire
//!   contract (proto/compat/wave1): it delivers the buckets as wave 1 reads them.
//! - `demo`: the demo binary (`scripts/demo.sh --exit`) prints every store kind and exits 0.
//! - `faults`: the collector killed and restarted mid-scan, the agent killed mid-scan and
//!   resumed from its spool, 30% of cloud calls throttled; the agent service (`run`).
//! - `ui`: the web UI in headless chromium against the demo estate (dashboard = API, map
//!   nodes after a filter, a store's facts, live changes); screenshots in target/ui-artifacts.

mod aws_kinds;
mod azure;
mod azure_kinds;
mod demo;
mod enrol;
mod faults;
mod gcp;
mod key_stores;
mod lockin;
mod map;
mod multi_cloud;
mod proxy;
mod s3_compatible;
mod several_collectors;
mod telemetry;
mod tls;
mod ui;
mod wire_compat;

use landmeter_e2e::estate::Account::{Main as M, Second as S};
use landmeter_e2e::estate::Encryption::*;
use landmeter_e2e::estate::KeyOrigin::*;
use landmeter_e2e::estate::{Bucket, MAIN_ACCOUNT as MAIN, SECOND_ACCOUNT as SECOND, bucket};
use landmeter_proto::Custody::{Byok, CustomerManaged, DedicatedHsm, Hyok, Provider};

/// The estate every test seeds. Expected values follow DESIGN.md (custody ladder, region
/// table, tag conventions) and real AWS semantics, not what moto or the code answers.
///
/// `.expect(country, eu, custody, key owner account, replicated outside EU, classification)`
#[rustfmt::skip]
pub const ESTATE: &[Bucket] = &[
    // Provider custody in every shape AWS has.
    bucket("lm-ie-aes256", M, "eu-west-1", Aes256).tags(&[("classification", "BBN2"), ("process", "burgerzaken")]).size(1_234_567, 42).expect("IE", true, Provider, "", false, "BBN2"),
    bucket("lm-de-unconfigured", M, "eu-central-1", Unconfigured).expect("DE", true, Provider, "", false, "unclassified"),
    bucket("lm-se-kms-default", M, "eu-north-1", KmsDefault).expect("SE", true, Provider, "", false, "unclassified"),
    bucket("lm-it-aws-s3", M, "eu-south-1", KmsAwsManagedAlias).expect("IT", true, Provider, "", false, "unclassified"),
    bucket("lm-ie-dsse-default", M, "eu-west-1", DsseDefault).expect("IE", true, Provider, "", false, "unclassified"),
    // Customer keys by origin.
    bucket("lm-ie-cmk-arn", M, "eu-west-1", KmsKeyArn(Kms)).tags(&[("classification", "BBN3"), ("process", "jeugdzorg")]).size(9_876_543_210, 1_000).expect("IE", true, CustomerManaged, MAIN, false, "BBN3"),
    bucket("lm-de-cmk-alias", M, "eu-central-1", KmsKeyAlias(Kms)).expect("DE", true, CustomerManaged, MAIN, false, "unclassified").modifier("ambiguous"),
    bucket("lm-de-byok", M, "eu-central-1", KmsKeyArn(External)).expect("DE", true, Byok, MAIN, false, "unclassified"),
    bucket("lm-se-hsm", M, "eu-north-1", KmsKeyArn(CloudHsm)).tags(&[("classification", "BBN3")]).expect("SE", true, DedicatedHsm, MAIN, false, "BBN3"),
    bucket("lm-it-hyok", M, "eu-south-1", KmsKeyArn(ExternalKeyStore)).expect("IT", true, Hyok, MAIN, false, "unclassified"),
    bucket("lm-ie-dsse-cmk", M, "eu-west-1", DsseKeyArn(Kms)).expect("IE", true, CustomerManaged, MAIN, false, "unclassified"),
    bucket("lm-de-mrk", M, "eu-central-1", KmsMultiRegion { replica_region: "eu-west-1" }).expect("DE", true, CustomerManaged, MAIN, false, "unclassified").modifier("multi-region"),
    // Replication: out of the EU, and to another account inside the EU.
    bucket("lm-ie-repl-us", M, "eu-west-1", Aes256).tags(&[("classification", "BBN2"), ("process", "belastingen")]).replicate_to(&["lm-us-replica"]).expect("IE", true, Provider, "", true, "BBN2"),
    bucket("lm-us-replica", M, "us-east-1", Unconfigured).expect("US", false, Provider, "", false, "unclassified"),
    bucket("lm-de-repl-acct2", M, "eu-central-1", KmsKeyArn(Kms)).replicate_to(&["lm-acct2-se-dest"]).expect("DE", true, CustomerManaged, MAIN, false, "unclassified"),
    // Outside the EU.
    bucket("lm-us-west-cmk", M, "us-west-2", KmsKeyArn(Kms)).size(5_000, 5).expect("US", false, CustomerManaged, MAIN, false, "unclassified"),
    bucket("lm-au", M, "ap-southeast-2", Aes256).tags(&[("classification", "BBN1")]).expect("AU", false, Provider, "", false, "BBN1"),
    bucket("lm-ca", M, "ca-central-1", Unconfigured).expect("CA", false, Provider, "", false, "unclassified"),
    // The second account (reached by AssumeRole).
    bucket("lm-acct2-se-dest", S, "eu-north-1", Aes256).tags(&[("classification", "BBN2"), ("process", "backup")]).size(777_000, 7).expect("SE", true, Provider, "", false, "BBN2"),
    bucket("lm-acct2-us-cmk", S, "us-west-2", KmsKeyArn(Kms)).tags(&[("classification", "BBN1")]).expect("US", false, CustomerManaged, SECOND, false, "BBN1"),
    bucket("lm-acct2-ie-repl-au", S, "eu-west-1", Aes256).replicate_to(&["lm-au"]).expect("IE", true, Provider, "", true, "unclassified"),
];

/// The bucket whose GetBucketEncryption the proxy denies in the AccessDenied tests.
pub const DENIED_ENCRYPTION_BUCKET: &str = "lm-ie-aes256";
/// The bucket whose key's DescribeKey the proxy denies.
pub const DENIED_KEY_BUCKET: &str = "lm-se-hsm";
