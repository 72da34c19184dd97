//! A local HTTPS server that plays Google Cloud for the GCP tests: the OAuth2 token endpoint,
//! the Cloud Storage JSON API bucket listing, Cloud KMS `cryptoKeys.get` and Cloud Monitoring
//! `timeSeries.list`, answering with the shapes of the official API references
//! (KEY-CUSTODY.md 3). fake-gcs-server, the Cloud Storage emulator on PyPI, drops location
//! types, data locations, encryption, labels and retention policies and ignores `?project=`
//! and paging (EMULATORS.md, checked again in `tests/it/gcp.rs`), and Cloud KMS and Cloud
//! Monitoring have no emulator; so the whole surface is answered here.
//!
//! TLS: the ARM test server's certificate kind (a CA and a certificate for 127.0.0.1 by
//! rcgen); the CA's PEM is the agent's `[gcp] ca_file`. Credentials: a service-account key
//! file made at start (an RSA key by aws-lc-rs); the token endpoint checks the JWT bearer
//! grant (RS256 signature against that key, issuer, audience, scope) before it gives the
//! bearer token every other route checks.
//!
//! [`GCP_ESTATE`] is the estate as a table: what the server answers and what the map must
//! say about each bucket.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use landmeter_proto::Custody;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::TempDir;
use crate::arm_server::json_response;

/// The project every bucket is in.
pub const PROJECT: &str = "lm-eu-project";
/// A project that owns a key used by [`PROJECT`]'s bucket.
pub const KEY_PROJECT: &str = "lm-keys-project";
/// The service account of the key file.
pub const SERVICE_ACCOUNT: &str = "landmeter-agent@lm-eu-project.iam.gserviceaccount.com";
const ACCESS_TOKEN: &str = "gcp-e2e-token";
/// Buckets per page of `buckets.list`, so the estate spans several pages.
const PAGE_SIZE: usize = 4;

/// A Cloud KMS key as the server answers it.
#[derive(Debug, Clone, Copy)]
pub struct GcpKey {
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
    pub name: &'static str,
    /// The primary version's protection level.
    pub level: &'static str,
    /// The primary version came from an import job.
    pub imported: bool,
    /// `externalProtectionLevelOptions.externalKeyUri` (EXTERNAL).
    pub external_key_uri: &'static str,
    /// `cryptoKeyBackend` (an EKM connection or a single-tenant HSM instance).
    pub backend: &'static str,
    /// `cryptoKeys.get` answers 403 PERMISSION_DENIED.
    pub denied: bool,
}

const fn key(name: &'static str, level: &'static str) -> GcpKey {
    GcpKey {
        name,
        level,
        imported: false,
        external_key_uri: "",
        backend: "",
        denied: false,
    }
}

/// What the map must say about a bucket.
#[derive(Debug, Clone, Copy)]
pub struct GcpExpect {
    pub country: &'static str,
    pub eu: bool,
    pub custody: Custody,
    /// Each modifier starts with the given text, in order.
    pub modifiers: &'static [&'static str],
    /// The copies' regions (data locations), sorted.
    pub copies: &'static [&'static str],
    pub replicated_outside_eu: bool,
    pub classification: &'static str,
}

/// One bucket: its `buckets.list` item and what the map must say.
#[derive(Debug, Clone, Copy)]
pub struct GcpBucket {
    pub name: &'static str,
    pub location: &'static str,
    pub location_type: &'static str,
    pub data_locations: &'static [&'static str],
    pub key: Option<GcpKey>,
    pub labels: &'static [(&'static str, &'static str)],
    pub storage_class: &'static str,
    /// `retentionPolicy`: (seconds, isLocked).
    pub retention: Option<(i64, bool)>,
    /// `storage/total_bytes` and `storage/object_count`; none: no datapoint.
    pub size: Option<(i64, i64)>,
    pub expect: GcpExpect,
}

const EKM_URI: &str = "https://ekm.example-eu-partner.eu/v0/keys/lm-key-1";
const EKM_CONNECTION: &str = "projects/lm-eu-project/locations/europe-west9/ekmConnections/lm-ekm";
const HSM_INSTANCE: &str =
    "projects/lm-eu-project/locations/europe-west3/singleTenantHsmInstances/lm-sthsm";

/// The estate as a table: one bucket per protection level and per location type.
#[rustfmt::skip]
pub const GCP_ESTATE: &[GcpBucket] = &[
    // No default key: Google default encryption.
    GcpBucket { name: "lm-gcs-default", location: "EUROPE-WEST3", location_type: "region", data_locations: &[], key: None,
        labels: &[("classification", "bbn2"), ("process", "burgerzaken")], storage_class: "STANDARD", retention: None, size: Some((1_234_567, 42)),
        expect: GcpExpect { country: "DE", eu: true, custody: Custody::Provider, modifiers: &[], copies: &[], replicated_outside_eu: false, classification: "bbn2" } },
    // One bucket per protection level.
    GcpBucket { name: "lm-gcs-software", location: "EUROPE-WEST4", location_type: "region", data_locations: &[],
        key: Some(key("projects/lm-eu-project/locations/europe-west4/keyRings/lm-ring/cryptoKeys/software", "SOFTWARE")),
        labels: &[], storage_class: "STANDARD", retention: None, size: Some((10_000, 1)),
        expect: GcpExpect { country: "NL", eu: true, custody: Custody::CustomerManaged, modifiers: &[], copies: &[], replicated_outside_eu: false, classification: "unclassified" } },
    GcpBucket { name: "lm-gcs-hsm", location: "EUROPE-WEST1", location_type: "region", data_locations: &[],
        key: Some(key("projects/lm-eu-project/locations/europe-west1/keyRings/lm-ring/cryptoKeys/hsm", "HSM")),
        labels: &[("classification", "bbn3")], storage_class: "NEARLINE", retention: None, size: Some((20_000, 2)),
        expect: GcpExpect { country: "BE", eu: true, custody: Custody::CustomerManaged, modifiers: &["HSM-backed key"], copies: &[], replicated_outside_eu: false, classification: "bbn3" } },
    GcpBucket { name: "lm-gcs-single-tenant", location: "EUROPE-WEST3", location_type: "region", data_locations: &[],
        key: Some(GcpKey { backend: HSM_INSTANCE, ..key("projects/lm-eu-project/locations/europe-west3/keyRings/lm-ring/cryptoKeys/sthsm", "HSM_SINGLE_TENANT") }),
        labels: &[], storage_class: "STANDARD", retention: None, size: Some((30_000, 3)),
        expect: GcpExpect { country: "DE", eu: true, custody: Custody::DedicatedHsm, modifiers: &["single-tenant HSM instance"], copies: &[], replicated_outside_eu: false, classification: "unclassified" } },
    GcpBucket { name: "lm-gcs-byok", location: "EUROPE-WEST4", location_type: "region", data_locations: &[],
        key: Some(GcpKey { imported: true, ..key("projects/lm-keys-project/locations/europe-west4/keyRings/lm-ring/cryptoKeys/imported", "HSM") }),
        labels: &[], storage_class: "STANDARD", retention: None, size: Some((40_000, 4)),
        expect: GcpExpect { country: "NL", eu: true, custody: Custody::Byok, modifiers: &["key owned by another project", "HSM-backed key"], copies: &[], replicated_outside_eu: false, classification: "unclassified" } },
    GcpBucket { name: "lm-gcs-ekm", location: "EU", location_type: "multi-region", data_locations: &[],
        key: Some(GcpKey { external_key_uri: EKM_URI, ..key("projects/lm-eu-project/locations/europe/keyRings/lm-ring/cryptoKeys/ekm", "EXTERNAL") }),
        labels: &[], storage_class: "STANDARD", retention: None, size: Some((50_000, 5)),
        expect: GcpExpect { country: "EU", eu: true, custody: Custody::Hyok, modifiers: &["key in location europe", "external key manager ekm.example-eu-partner.eu"], copies: &[], replicated_outside_eu: false, classification: "unclassified" } },
    GcpBucket { name: "lm-gcs-ekm-vpc", location: "EUROPE-WEST9", location_type: "region", data_locations: &[],
        key: Some(GcpKey { backend: EKM_CONNECTION, ..key("projects/lm-eu-project/locations/europe-west9/keyRings/lm-ring/cryptoKeys/ekm-vpc", "EXTERNAL_VPC") }),
        labels: &[], storage_class: "STANDARD", retention: None, size: Some((60_000, 6)),
        expect: GcpExpect { country: "FR", eu: true, custody: Custody::Hyok, modifiers: &["external key manager over a VPC: EKM connection"], copies: &[], replicated_outside_eu: false, classification: "unclassified" } },
    // The key exists but the agent may not read it: unknown, never "provider".
    GcpBucket { name: "lm-gcs-denied-key", location: "EUROPE-WEST4", location_type: "region", data_locations: &[],
        key: Some(GcpKey { denied: true, ..key("projects/lm-eu-project/locations/europe-west4/keyRings/lm-ring/cryptoKeys/secret", "SOFTWARE") }),
        labels: &[], storage_class: "STANDARD", retention: None, size: Some((70_000, 7)),
        expect: GcpExpect { country: "NL", eu: true, custody: Custody::Unknown, modifiers: &[], copies: &[], replicated_outside_eu: false, classification: "unclassified" } },
    // Location types: a configurable dual-region with a member outside the EU (Zurich) ...
    GcpBucket { name: "lm-gcs-dual-ch", location: "EU", location_type: "dual-region", data_locations: &["EUROPE-WEST1", "EUROPE-WEST6"], key: None,
        labels: &[], storage_class: "STANDARD", retention: None, size: Some((80_000, 8)),
        expect: GcpExpect { country: "EU", eu: true, custody: Custody::Provider, modifiers: &[], copies: &["EUROPE-WEST1", "EUROPE-WEST6"], replicated_outside_eu: true, classification: "unclassified" } },
    // ... one inside it ...
    GcpBucket { name: "lm-gcs-dual-eu", location: "EU", location_type: "dual-region", data_locations: &["EUROPE-WEST1", "EUROPE-WEST4"], key: None,
        labels: &[], storage_class: "STANDARD", retention: None, size: Some((90_000, 9)),
        expect: GcpExpect { country: "EU", eu: true, custody: Custody::Provider, modifiers: &[], copies: &["EUROPE-WEST1", "EUROPE-WEST4"], replicated_outside_eu: false, classification: "unclassified" } },
    // ... predefined dual-regions (members known from Google's list, not reported) ...
    GcpBucket { name: "lm-gcs-eur4", location: "EUR4", location_type: "dual-region", data_locations: &[], key: None,
        labels: &[], storage_class: "STANDARD", retention: None, size: Some((100_000, 10)),
        expect: GcpExpect { country: "", eu: true, custody: Custody::Provider, modifiers: &[], copies: &["europe-north1", "europe-west4"], replicated_outside_eu: false, classification: "unclassified" } },
    GcpBucket { name: "lm-gcs-eur5", location: "EUR5", location_type: "dual-region", data_locations: &[], key: None,
        labels: &[], storage_class: "STANDARD", retention: None, size: Some((110_000, 11)),
        expect: GcpExpect { country: "", eu: false, custody: Custody::Provider, modifiers: &[], copies: &["europe-west1", "europe-west2"], replicated_outside_eu: true, classification: "unclassified" } },
    GcpBucket { name: "lm-gcs-nam4", location: "NAM4", location_type: "dual-region", data_locations: &[], key: None,
        labels: &[], storage_class: "STANDARD", retention: None, size: None,
        expect: GcpExpect { country: "US", eu: false, custody: Custody::Provider, modifiers: &[], copies: &["us-central1", "us-east1"], replicated_outside_eu: true, classification: "unclassified" } },
    // ... and multi-regions.
    GcpBucket { name: "lm-gcs-us", location: "US", location_type: "multi-region", data_locations: &[], key: None,
        labels: &[], storage_class: "STANDARD", retention: None, size: Some((120_000, 12)),
        expect: GcpExpect { country: "US", eu: false, custody: Custody::Provider, modifiers: &[], copies: &[], replicated_outside_eu: false, classification: "unclassified" } },
    // Bucket lock: a locked retention policy, archive storage class.
    GcpBucket { name: "lm-gcs-locked", location: "EUROPE-WEST3", location_type: "region", data_locations: &[], key: None,
        labels: &[("classification", "bbn2")], storage_class: "ARCHIVE", retention: Some((31_536_000, true)), size: Some((130_000, 13)),
        expect: GcpExpect { country: "DE", eu: true, custody: Custody::Provider, modifiers: &[], copies: &[], replicated_outside_eu: false, classification: "bbn2" } },
];

/// The bucket whose key the agent may not read.
pub const DENIED_KEY_BUCKET: &str = "lm-gcs-denied-key";
/// The bucket without a size datapoint.
pub const NO_SIZE_BUCKET: &str = "lm-gcs-nam4";
/// The locked bucket.
pub const LOCKED_BUCKET: &str = "lm-gcs-locked";

struct Shared {
    base: String,
    public_key: Vec<u8>,
    counts: Mutex<BTreeMap<String, u64>>,
}

/// A running Google Cloud test server; stops when dropped.
pub struct GcpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    ca_file: PathBuf,
    key_file: PathBuf,
    dir: TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl GcpServer {
    /// Serves [`GCP_ESTATE`] on 127.0.0.1:0 and writes the CA and a service-account key file.
    pub async fn start() -> anyhow::Result<GcpServer> {
        let dir = TempDir::new("landmeter-gcp")?;
        let (tls, ca_pem) = crate::arm_server::tls_config()?;
        let ca_file = dir.path().join("gcp-ca.pem");
        std::fs::write(&ca_file, ca_pem)?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("gcp server: bind 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let base = format!("https://{addr}");
        // The service account's key, as the IAM API hands it out (PKCS#8 PEM in JSON).
        let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|e| anyhow::anyhow!("rsa key: {e}"))?;
        let pkcs8 = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key)
            .map_err(|e| anyhow::anyhow!("pkcs8: {e}"))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk)?);
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        let public_key = aws_lc_rs::signature::KeyPair::public_key(&key)
            .as_ref()
            .to_vec();
        let key_file = dir.path().join("service-account.json");
        std::fs::write(
            &key_file,
            serde_json::to_string_pretty(&json!({
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "0123456789abcdef",
                "private_key": pem,
                "client_email": SERVICE_ACCOUNT,
                "client_id": "100000000000000000001",
                "token_uri": format!("{base}/token"),
            }))?,
        )?;
        let shared = Arc::new(Shared {
            base: base.clone(),
            public_key,
            counts: Mutex::new(BTreeMap::new()),
        });
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let task = tokio::spawn(accept_loop(listener, acceptor, shared.clone()));
        Ok(GcpServer {
            addr,
            shared,
            ca_file,
            key_file,
            dir,
            task,
        })
    }

    /// `https://127.0.0.1:PORT`: every Google endpoint.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// Requests seen so far per route (`buckets.list`, `token`, `cryptoKeys.get`, ...).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.counts.lock().expect("counts").clone()
    }

    pub fn count(&self, route: &str) -> u64 {
        self.counts().get(route).copied().unwrap_or(0)
    }

    /// The `[gcp]` section that scans this server's buckets: every endpoint here, the
    /// service-account key file, this server's CA, the metadata server off, no other kinds.
    pub fn gcp_section(&self) -> String {
        format!("{}kinds = []\n", self.gcp_section_with_kinds())
    }

    /// [`GcpServer::gcp_section`] with every store kind (Cloud SQL, disks, snapshots:
    /// `sql_instances`, `disks`, `snapshots` below).
    pub fn gcp_section_with_kinds(&self) -> String {
        format!(
            "[gcp]\nenabled = true\nprojects = [\"{PROJECT}\"]\nstorage_endpoint = \"{ep}\"\n\
             kms_endpoint = \"{ep}\"\nmonitoring_endpoint = \"{ep}\"\n\
             sqladmin_endpoint = \"{ep}\"\ncompute_endpoint = \"{ep}\"\n\
             metadata_endpoint = \"http://127.0.0.1:9\"\nmetadata = false\n\
             ca_file = \"{ca}\"\ncredentials_file = \"{key}\"\nconcurrency = 4\n",
            ep = self.endpoint(),
            ca = self.ca_file.display(),
            key = self.key_file.display(),
        )
    }

    /// An agent configuration (TOML) that scans this server as Google Cloud alone.
    pub fn agent_config(&self, collector_url: &str) -> anyhow::Result<PathBuf> {
        let text = format!(
            "name = \"e2e-gcp\"\n[collector]\nurl = \"{collector_url}\"\n{}",
            self.gcp_section()
        );
        let path = self.dir.path().join("agent-gcp.toml");
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

impl Drop for GcpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else { return };
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

type Response = hyper::Response<Full<Bytes>>;

/// The Google error envelope (google.rpc.Status as JSON).
fn google_error(status: StatusCode, canonical: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"code": status.as_u16(), "message": message, "status": canonical}}),
    )
}

async fn handle(shared: &Shared, req: hyper::Request<Incoming>) -> Response {
    let path = req.uri().path().to_owned();
    let query: BTreeMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let method = req.method().clone();
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {ACCESS_TOKEN}"));
    let (route, response) = if method == Method::POST && path == "/token" {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        ("token", token(shared, &body))
    } else if !authorized {
        (
            "unauthorized",
            google_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            ),
        )
    } else if method == Method::GET && path == "/storage/v1/b" {
        ("buckets.list", buckets(&query))
    } else if method == Method::GET
        && path.starts_with("/v1/projects/")
        && path.ends_with("/instances")
    {
        (
            "instances.list",
            kinds_listing(&path, "/instances", sql_instances),
        )
    } else if method == Method::GET
        && path.starts_with("/compute/v1/projects/")
        && path.ends_with("/aggregated/disks")
    {
        (
            "disks.aggregatedList",
            kinds_listing(&path, "/aggregated/disks", disks),
        )
    } else if method == Method::GET
        && path.starts_with("/compute/v1/projects/")
        && path.ends_with("/global/snapshots")
    {
        (
            "snapshots.list",
            kinds_listing(&path, "/global/snapshots", snapshots),
        )
    } else if method == Method::GET && path.starts_with("/v1/projects/") {
        ("cryptoKeys.get", crypto_key(&path["/v1/".len()..]))
    } else if method == Method::GET
        && path.starts_with("/v3/projects/")
        && path.ends_with("/timeSeries")
    {
        ("timeSeries.list", time_series(&path, &query))
    } else {
        (
            "not-found",
            google_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!("no route {path}"),
            ),
        )
    };
    *shared
        .counts
        .lock()
        .expect("counts")
        .entry(route.to_owned())
        .or_default() += 1;
    response
}

/// The OAuth2 JWT bearer grant: checks the assertion's signature, issuer, audience and scope.
fn token(shared: &Shared, body: &[u8]) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let refuse = |why: &str| {
        json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_grant", "error_description": why}),
        )
    };
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return refuse("grant_type");
    }
    let Some(assertion) = form.get("assertion") else {
        return refuse("no assertion");
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    if parts.len() != 3 {
        return refuse("not a JWT");
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (Ok(header), Ok(claims), Ok(signature)) = (
        b64.decode(parts[0]),
        b64.decode(parts[1]),
        b64.decode(parts[2]),
    ) else {
        return refuse("bad base64url");
    };
    let public = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &shared.public_key,
    );
    if public
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .is_err()
    {
        return refuse("invalid JWT signature");
    }
    let (Ok(header), Ok(claims)) = (
        serde_json::from_slice::<Value>(&header),
        serde_json::from_slice::<Value>(&claims),
    ) else {
        return refuse("bad JSON");
    };
    if header["alg"] != "RS256"
        || claims["iss"] != SERVICE_ACCOUNT
        || claims["aud"] != format!("{}/token", shared.base)
        || !claims["scope"]
            .as_str()
            .is_some_and(|s| s.contains("https://www.googleapis.com/auth/cloud-platform"))
        || !claims["exp"].is_u64()
    {
        return refuse("unexpected JWT header or claims");
    }
    json_response(
        StatusCode::OK,
        &json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
    )
}

/// `buckets.list`: [`PAGE_SIZE`] buckets a page, `nextPageToken` the next offset.
fn buckets(query: &BTreeMap<String, String>) -> Response {
    if query.get("project").map(String::as_str) != Some(PROJECT) {
        return json_response(StatusCode::OK, &json!({"kind": "storage#buckets"}));
    }
    let start: usize = query
        .get("pageToken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = GCP_ESTATE
        .iter()
        .skip(start)
        .take(PAGE_SIZE)
        .map(bucket_json)
        .collect();
    let mut body = json!({"kind": "storage#buckets", "items": page});
    if start + PAGE_SIZE < GCP_ESTATE.len() {
        body["nextPageToken"] = json!((start + PAGE_SIZE).to_string());
    }
    json_response(StatusCode::OK, &body)
}

fn bucket_json(b: &GcpBucket) -> Value {
    let labels: serde_json::Map<String, Value> = b
        .labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let mut v = json!({
        "kind": "storage#bucket",
        "id": b.name,
        "selfLink": format!("https://www.googleapis.com/storage/v1/b/{}", b.name),
        "projectNumber": "123456789012",
        "name": b.name,
        "timeCreated": "2026-03-01T10:00:00.000Z",
        "updated": "2026-03-01T10:00:00.000Z",
        "metageneration": "1",
        "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": true}, "publicAccessPrevention": "enforced"},
        "location": b.location,
        "locationType": b.location_type,
        "storageClass": b.storage_class,
        "rpo": "DEFAULT",
        "etag": "CAE=",
    });
    if !labels.is_empty() {
        v["labels"] = Value::Object(labels);
    }
    if !b.data_locations.is_empty() {
        v["customPlacementConfig"] = json!({"dataLocations": b.data_locations});
    }
    if let Some(k) = &b.key {
        v["encryption"] = json!({"defaultKmsKeyName": k.name});
    }
    if let Some((seconds, locked)) = b.retention {
        v["retentionPolicy"] = json!({
            "retentionPeriod": seconds.to_string(),
            "effectiveTime": "2026-03-01T10:00:00.000Z",
            "isLocked": locked,
        });
    }
    v
}

/// `cryptoKeys.get` (google/cloud/kms/v1/resources.proto CryptoKey, JSON).
fn crypto_key(name: &str) -> Response {
    let Some(k) = GCP_ESTATE
        .iter()
        .filter_map(|b| b.key)
        .chain(KIND_KEYS.iter().copied())
        .find(|k| k.name == name)
    else {
        return google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("{name} not found."),
        );
    };
    if k.denied {
        return google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            &format!(
                "Permission 'cloudkms.cryptoKeys.get' denied on resource '{name}' (or it may not exist)."
            ),
        );
    }
    let mut primary = json!({
        "name": format!("{name}/cryptoKeyVersions/1"),
        "state": "ENABLED",
        "protectionLevel": k.level,
        "algorithm": if k.level.starts_with("EXTERNAL") { "EXTERNAL_SYMMETRIC_ENCRYPTION" } else { "GOOGLE_SYMMETRIC_ENCRYPTION" },
        "createTime": "2026-03-01T09:00:00.000Z",
        "generateTime": "2026-03-01T09:00:00.000Z",
    });
    if k.imported {
        let ring = &name[..name.find("/cryptoKeys/").unwrap_or(name.len())];
        primary["importJob"] = json!(format!("{ring}/importJobs/lm-import"));
        primary["importTime"] = json!("2026-03-01T09:00:00.000Z");
    }
    if !k.external_key_uri.is_empty() {
        primary["externalProtectionLevelOptions"] = json!({"externalKeyUri": k.external_key_uri});
    }
    if k.level == "EXTERNAL_VPC" {
        primary["externalProtectionLevelOptions"] =
            json!({"ekmConnectionKeyPath": "v0/keys/lm-key-2"});
    }
    let mut body = json!({
        "name": name,
        "primary": primary,
        "purpose": "ENCRYPT_DECRYPT",
        "createTime": "2026-03-01T09:00:00.000Z",
        "versionTemplate": {"protectionLevel": k.level, "algorithm": primary["algorithm"].clone()},
        "destroyScheduledDuration": "2592000s",
    });
    if !k.backend.is_empty() {
        body["cryptoKeyBackend"] = json!(k.backend);
    }
    json_response(StatusCode::OK, &body)
}

/// `timeSeries.list` for `storage/total_bytes` or `storage/object_count`
/// (monitoring/api/v3 TimeSeries, JSON): one series per bucket and storage class, two points.
fn time_series(path: &str, query: &BTreeMap<String, String>) -> Response {
    if path != format!("/v3/projects/{PROJECT}/timeSeries") {
        return json_response(StatusCode::OK, &json!({}));
    }
    let filter = query.get("filter").cloned().unwrap_or_default();
    let bytes = filter.contains("storage/total_bytes");
    if !bytes && !filter.contains("storage/object_count") {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "unknown metric",
        );
    }
    let metric = if bytes {
        "storage.googleapis.com/storage/total_bytes"
    } else {
        "storage.googleapis.com/storage/object_count"
    };
    let series: Vec<Value> = GCP_ESTATE
        .iter()
        .filter_map(|b| b.size.map(|s| (b, s)))
        .map(|(b, (total, objects))| {
            let (latest, older) = if bytes {
                (json!({"doubleValue": total as f64}), json!({"doubleValue": (total / 2) as f64}))
            } else {
                (json!({"int64Value": objects.to_string()}), json!({"int64Value": (objects / 2).to_string()}))
            };
            json!({
                "metric": {"type": metric, "labels": {"storage_class": b.storage_class}},
                "resource": {"type": "gcs_bucket", "labels": {"bucket_name": b.name, "location": b.location.to_ascii_lowercase(), "project_id": PROJECT}},
                "metricKind": "GAUGE",
                "valueType": if bytes { "DOUBLE" } else { "INT64" },
                "points": [
                    {"interval": {"startTime": "2026-12-05T10:00:00Z", "endTime": "2026-12-05T10:00:00Z"}, "value": latest},
                    {"interval": {"startTime": "2026-12-04T10:00:00Z", "endTime": "2026-12-04T10:00:00Z"}, "value": older},
                ],
            })
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"timeSeries": series, "unit": if bytes { "By" } else { "1" }}),
    )
}

/// How to find fake-gcs-server: `LANDMETER_FAKE_GCS_SERVER`, else
/// `<repo>/.venv/bin/fake-gcs-server` (linked there by `scripts/setup.sh`).
pub fn fake_gcs_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("LANDMETER_FAKE_GCS_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let venv = crate::workspace_root().join(".venv/bin/fake-gcs-server");
    anyhow::ensure!(
        venv.exists(),
        "fake-gcs-server not found at {} (nor $LANDMETER_FAKE_GCS_SERVER): run scripts/setup.sh",
        venv.display()
    );
    Ok(venv)
}

/// fake-gcs-server (the Cloud Storage JSON API emulator) on its own port, in memory, killed
/// on drop. `-location` is the one location it gives every bucket.
pub struct FakeGcs {
    addr: SocketAddr,
    _process: crate::Process,
    _log: TempDir,
}

impl FakeGcs {
    pub fn start(location: &str) -> anyhow::Result<FakeGcs> {
        let bin = fake_gcs_binary()?;
        let port = crate::free_port()?;
        let log = TempDir::new("landmeter-fake-gcs")?;
        let log_file = std::fs::File::create(log.path().join("fake-gcs.log"))?;
        let child = std::process::Command::new(&bin)
            .args([
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-backend",
                "memory",
            ])
            .args(["-port", &port.to_string(), "-location", location])
            .args(["-log-level", "warn"])
            .stdin(std::process::Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let mut process = crate::Process {
            name: format!("fake-gcs-server on {port}"),
            child,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        crate::wait_for_http(&mut process, addr, std::time::Duration::from_secs(20))?;
        Ok(FakeGcs {
            addr,
            _process: process,
            _log: log,
        })
    }

    /// `http://127.0.0.1:PORT`: the agent's `[gcp] storage_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `buckets.insert` with `body` as the bucket resource; returns what the emulator kept.
    pub async fn create_bucket(&self, project: &str, body: &Value) -> anyhow::Result<Value> {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/storage/v1/b?project={project}",
                self.endpoint()
            ))
            .json(body)
            .send()
            .await?
            .error_for_status()?;
        Ok(response.json().await?)
    }
}

// The other store kinds: Cloud SQL instances (Cloud SQL Admin API v1 `DatabaseInstance`),
// Persistent Disks (Compute `Disk`, aggregated by zone and region) and snapshots (Compute
// `Snapshot`), in the official REST reference shapes. The truth is in `tests/it/gcp.rs`.

/// A project whose Cloud SQL and Compute listings answer 403 PERMISSION_DENIED (its bucket
/// listing is empty).
pub const DENIED_KINDS_PROJECT: &str = "lm-denied-project";
/// The key of the Cloud SQL read replica in Iowa (HSM) and of the US snapshot (software).
pub const SQL_US_KEY: &str =
    "projects/lm-eu-project/locations/us-central1/keyRings/lm-ring-us/cryptoKeys/sql-us";
pub const SNAPSHOT_US_KEY: &str =
    "projects/lm-eu-project/locations/us/keyRings/lm-ring-us/cryptoKeys/snap-us";
const KIND_KEYS: &[GcpKey] = &[key(SQL_US_KEY, "HSM"), key(SNAPSHOT_US_KEY, "SOFTWARE")];
const COMPUTE: &str = "https://www.googleapis.com/compute/v1/projects/lm-eu-project";

/// The listing of `project` for a kinds route: the estate for [`PROJECT`], 403 for
/// [`DENIED_KINDS_PROJECT`], empty otherwise.
fn kinds_listing(path: &str, suffix: &str, estate: fn() -> Value) -> Response {
    let project = path
        .trim_end_matches(suffix)
        .rsplit('/')
        .next()
        .unwrap_or_default();
    if project == DENIED_KINDS_PROJECT {
        let permission = match suffix {
            "/instances" => "cloudsql.instances.list",
            "/aggregated/disks" => "compute.disks.list",
            _ => "compute.snapshots.list",
        };
        return google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            &format!("Required '{permission}' permission for 'projects/{project}'"),
        );
    }
    if project != PROJECT {
        return json_response(StatusCode::OK, &json!({}));
    }
    json_response(StatusCode::OK, &estate())
}

/// `instances.list`: a CMEK primary in Eemshaven with a read replica in Iowa, a
/// Google-managed MySQL in Frankfurt whose backups are kept in the US multi-region, and an
/// instance whose key the agent may not read.
fn sql_instances() -> Value {
    let instance = |name: &str, version: &str, region: &str, extra: Value| {
        let mut v = json!({
            "kind": "sql#instance",
            "name": name,
            "project": PROJECT,
            "databaseVersion": version,
            "region": region,
            "gceZone": format!("{region}-a"),
            "state": "RUNNABLE",
            "backendType": "SECOND_GEN",
            "instanceType": "CLOUD_SQL_INSTANCE",
            "connectionName": format!("{PROJECT}:{region}:{name}"),
            "createTime": "2026-03-01T10:00:00.000Z",
            "selfLink": format!("https://sqladmin.googleapis.com/v1/projects/{PROJECT}/instances/{name}"),
            "settings": {
                "kind": "sql#settings",
                "tier": "db-custom-2-7680",
                "dataDiskSizeGb": "100",
                "dataDiskType": "PD_SSD",
                "availabilityType": "ZONAL",
                "backupConfiguration": {"kind": "sql#backupConfiguration", "enabled": true, "startTime": "02:00"},
            },
        });
        if let (Some(target), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            for (k, x) in extra {
                if k == "settings" {
                    if let (Some(settings), Some(more)) =
                        (target["settings"].as_object_mut(), x.as_object())
                    {
                        for (sk, sv) in more {
                            settings.insert(sk.clone(), sv.clone());
                        }
                    }
                } else {
                    target.insert(k.clone(), x.clone());
                }
            }
        }
        v
    };
    let cmek = |key: &str| json!({"kind": "sql#diskEncryptionConfiguration", "kmsKeyName": key});
    json!({
        "kind": "sql#instancesList",
        "items": [
            instance("lm-sql-payroll", "POSTGRES_15", "europe-west4", json!({
                "replicaNames": ["lm-sql-payroll-us"],
                "diskEncryptionConfiguration": cmek("projects/lm-eu-project/locations/europe-west4/keyRings/lm-ring/cryptoKeys/software"),
                "diskEncryptionStatus": {"kind": "sql#diskEncryptionStatus", "kmsKeyVersionName": "projects/lm-eu-project/locations/europe-west4/keyRings/lm-ring/cryptoKeys/software/cryptoKeyVersions/1"},
                "settings": {
                    "userLabels": {"classification": "bbn3", "process": "salarisadministratie"},
                    "backupConfiguration": {"kind": "sql#backupConfiguration", "enabled": true, "location": "europe-west4"},
                },
            })),
            instance("lm-sql-payroll-us", "POSTGRES_15", "us-central1", json!({
                "instanceType": "READ_REPLICA_INSTANCE",
                "masterInstanceName": format!("{PROJECT}:lm-sql-payroll"),
                "diskEncryptionConfiguration": cmek(SQL_US_KEY),
                "settings": {"backupConfiguration": {"kind": "sql#backupConfiguration", "enabled": false}},
            })),
            instance("lm-sql-cases", "MYSQL_8_0", "europe-west3", json!({
                "settings": {
                    "dataDiskSizeGb": "250",
                    "backupConfiguration": {"kind": "sql#backupConfiguration", "enabled": true, "location": "us"},
                },
            })),
            instance("lm-sql-secret", "SQLSERVER_2022_STANDARD", "europe-west4", json!({
                "diskEncryptionConfiguration": cmek("projects/lm-eu-project/locations/europe-west4/keyRings/lm-ring/cryptoKeys/secret"),
            })),
        ],
    })
}

/// `disks.aggregatedList`: a Google-managed boot disk in Eemshaven, a single-tenant-HSM
/// keyed disk in Frankfurt (its key named with a version, as Compute reports it), a
/// regional disk in Belgium, and a zone without disks (a `warning`).
fn disks() -> Value {
    let disk = |name: &str, scope: &str, size: &str, extra: Value| {
        let mut v = json!({
            "kind": "compute#disk",
            "id": "4611686018427387904",
            "creationTimestamp": "2026-03-01T02:00:00.000-08:00",
            "name": name,
            "sizeGb": size,
            "status": "READY",
            "selfLink": format!("{COMPUTE}/{scope}/disks/{name}"),
            "type": format!("{COMPUTE}/{scope}/diskTypes/pd-balanced"),
            "physicalBlockSizeBytes": "4096",
        });
        let (field, url) = if let Some(zone) = scope.strip_prefix("zones/") {
            ("zone", format!("{COMPUTE}/zones/{zone}"))
        } else {
            ("region", format!("{COMPUTE}/{scope}"))
        };
        v[field] = json!(url);
        if let (Some(target), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            for (k, x) in extra {
                target.insert(k.clone(), x.clone());
            }
        }
        v
    };
    json!({
        "kind": "compute#diskAggregatedList",
        "id": format!("projects/{PROJECT}/aggregated/disks"),
        "items": {
            "zones/europe-west4-a": {"disks": [
                disk("lm-pd-boot", "zones/europe-west4-a", "50", json!({"labels": {"classification": "bbn2"}})),
            ]},
            "zones/europe-west3-b": {"disks": [
                disk("lm-pd-records", "zones/europe-west3-b", "500", json!({
                    "diskEncryptionKey": {"kmsKeyName": "projects/lm-eu-project/locations/europe-west3/keyRings/lm-ring/cryptoKeys/sthsm/cryptoKeyVersions/1"},
                })),
            ]},
            "regions/europe-west1": {"disks": [
                disk("lm-pd-regional", "regions/europe-west1", "200", json!({
                    "replicaZones": [format!("{COMPUTE}/zones/europe-west1-b"), format!("{COMPUTE}/zones/europe-west1-c")],
                })),
            ]},
            "zones/us-east1-b": {"warning": {
                "code": "NO_RESULTS_ON_PAGE",
                "message": "There are no results for scope 'zones/us-east1-b' on this page.",
                "data": [{"key": "scope", "value": "zones/us-east1-b"}],
            }},
        },
        "selfLink": format!("{COMPUTE}/aggregated/disks"),
    })
}

/// `snapshots.list`: the boot disk's snapshot in its own region, the Frankfurt disk's in
/// the US multi-region (a copy outside the EU, under a US key), the regional disk's in the
/// EU multi-region.
fn snapshots() -> Value {
    let snapshot = |name: &str, source: &str, location: &str, bytes: &str, extra: Value| {
        let mut v = json!({
            "kind": "compute#snapshot",
            "id": "1152921504606846976",
            "creationTimestamp": "2026-03-02T02:00:00.000-08:00",
            "name": name,
            "status": "READY",
            "sourceDisk": format!("{COMPUTE}/{source}"),
            "sourceDiskId": "4611686018427387904",
            "diskSizeGb": "50",
            "storageBytes": bytes,
            "storageBytesStatus": "UP_TO_DATE",
            "storageLocations": [location],
            "snapshotType": "STANDARD",
            "selfLink": format!("{COMPUTE}/global/snapshots/{name}"),
        });
        if let (Some(target), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            for (k, x) in extra {
                target.insert(k.clone(), x.clone());
            }
        }
        v
    };
    json!({
        "kind": "compute#snapshotList",
        "id": format!("projects/{PROJECT}/global/snapshots"),
        "items": [
            snapshot("lm-snap-boot", "zones/europe-west4-a/disks/lm-pd-boot", "europe-west4", "2147483648", json!({})),
            snapshot("lm-snap-records-us", "zones/europe-west3-b/disks/lm-pd-records", "us", "53687091200", json!({
                "diskSizeGb": "500",
                "snapshotEncryptionKey": {"kmsKeyName": format!("{SNAPSHOT_US_KEY}/cryptoKeyVersions/1")},
            })),
            snapshot("lm-snap-regional-eu", "regions/europe-west1/disks/lm-pd-regional", "eu", "1073741824", json!({"diskSizeGb": "200"})),
        ],
        "selfLink": format!("{COMPUTE}/global/snapshots"),
    })
}
