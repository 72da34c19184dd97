//! A local HTTPS server that plays Azure Resource Manager and Entra ID for the Azure tests
//! and the demo. No ARM emulator exists (EMULATORS.md), so this answers with the response
//! shapes of the official REST API examples (KEY-CUSTODY.md 2): storage accounts with each
//! key source, a Managed HSM key, a key in another tenant, geo-redundant accounts, two
//! pages joined by `nextLink`, one subscription answering 403 `AuthorizationFailed`, and a
//! throttled answer (429 with `Retry-After`).
//!
//! TLS: a CA and a server certificate for 127.0.0.1 made by rcgen at start; the CA's PEM is
//! written to a file the agent trusts through `[azure] ca_file`. Tokens: the agent's real
//! `ClientSecretCredential`, pointed at this server as its authority
//! (`POST /{tenant}/oauth2/v2.0/token`), gets a bearer token every other route checks.
//!
//! [`AZURE_ESTATE`] is the estate as a table: what the server answers and what the map must
//! say about each storage account.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
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

/// The Entra tenant, client id and secret of the test credential.
pub const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT_ID: &str = "landmeter-e2e-client";
pub const CLIENT_SECRET: &str = "landmeter-e2e-secret";
const ACCESS_TOKEN: &str = "landmeter-e2e-token";

/// A subscription with storage accounts over two pages, vaults and a managed HSM.
pub const SUB_MAIN: &str = "11111111-1111-4111-8111-111111111111";
/// A subscription whose account uses a key from [`SUB_MAIN`]'s vault.
pub const SUB_US: &str = "22222222-2222-4222-8222-222222222222";
/// A subscription the identity can see but not list storage accounts in (403).
pub const SUB_DENIED: &str = "33333333-3333-4333-8333-333333333333";
/// The Azurite account (listed by ARM when the server is given an Azurite endpoint).
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's published account key.
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub const VAULT_URI: &str = "https://lm-vault.vault.azure.net";
pub const HSM_URI: &str = "https://lm-hsm.managedhsm.azure.net";
const PARTNER_VAULT_URI: &str = "https://lm-partner.vault.azure.net";
/// Federated identity client of the cross-tenant key.
pub const FEDERATED_CLIENT_ID: &str = "f3a1b2c4-0000-4000-8000-00000000fed1";

/// How an account is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzureKey {
    /// keySource Microsoft.Storage.
    Platform,
    /// Microsoft.Keyvault with a key in the main subscription's vault (RSA-HSM).
    Vault(&'static str),
    /// Microsoft.Keyvault with a key in the main subscription's Managed HSM.
    ManagedHsm(&'static str),
    /// Microsoft.Keyvault with a key in a vault of another tenant (not visible).
    OtherTenant(&'static str),
}

/// One storage account: what ARM answers and what the map must say.
#[derive(Debug, Clone, Copy)]
pub struct AzureAccount {
    pub subscription: &'static str,
    pub name: &'static str,
    pub location: &'static str,
    pub sku: &'static str,
    pub secondary: &'static str,
    pub key: AzureKey,
    pub infrastructure_encryption: bool,
    pub tags: &'static [(&'static str, &'static str)],
    /// Page of the listing (1 or 2).
    pub page: u8,
    /// UsedCapacity bytes; `None` answers 404 (a gap).
    pub used_bytes: Option<i64>,
    pub expect: AzureExpect,
}

/// What the map must say about an account.
#[derive(Debug, Clone, Copy)]
pub struct AzureExpect {
    pub country: &'static str,
    pub eu: bool,
    /// (secondary region, its country, its EU flag) for geo-redundant SKUs.
    pub secondary: Option<(&'static str, &'static str, bool)>,
    pub replicated_outside_eu: bool,
    pub custody: Custody,
    /// Substrings each expected modifier starts with, in order.
    pub modifiers: &'static [&'static str],
    pub classification: &'static str,
}

/// The ARM estate. Region pairs are Microsoft's (northeurope is westeurope's pair, ukwest
/// uksouth's, swedensouth swedencentral's, westus eastus's).
#[rustfmt::skip]
pub const AZURE_ESTATE: &[AzureAccount] = &[
    // Page 1 of the main subscription.
    AzureAccount { subscription: SUB_MAIN, name: "lmweuplatform", location: "westeurope", sku: "Standard_GRS", secondary: "northeurope",
        key: AzureKey::Platform, infrastructure_encryption: false, tags: &[("classification", "BBN2"), ("process", "burgerzaken")], page: 1, used_bytes: Some(123_456_789),
        expect: AzureExpect { country: "NL", eu: true, secondary: Some(("northeurope", "IE", true)), replicated_outside_eu: false, custody: Custody::Provider, modifiers: &[], classification: "BBN2" } },
    AzureAccount { subscription: SUB_MAIN, name: "lmweucmk", location: "westeurope", sku: "Standard_LRS", secondary: "",
        key: AzureKey::Vault("cmk-weu"), infrastructure_encryption: false, tags: &[("classification", "BBN3")], page: 1, used_bytes: Some(5_000),
        expect: AzureExpect { country: "NL", eu: true, secondary: None, replicated_outside_eu: false, custody: Custody::CustomerManaged, modifiers: &["HSM-backed key (RSA-HSM)"], classification: "BBN3" } },
    AzureAccount { subscription: SUB_MAIN, name: "lmdehsm", location: "germanywestcentral", sku: "Standard_ZRS", secondary: "",
        key: AzureKey::ManagedHsm("hsm-de"), infrastructure_encryption: true, tags: &[], page: 1, used_bytes: Some(42),
        expect: AzureExpect { country: "DE", eu: true, secondary: None, replicated_outside_eu: false, custody: Custody::DedicatedHsm, modifiers: &["infrastructure (double) encryption", "encryption scopes: 1 (weakest provider platform-scope"], classification: "unclassified" } },
    // Page 2 (behind nextLink; its first request is throttled).
    AzureAccount { subscription: SUB_MAIN, name: "lmukgrs", location: "uksouth", sku: "Standard_RAGRS", secondary: "ukwest",
        key: AzureKey::Platform, infrastructure_encryption: false, tags: &[("classification", "BBN1")], page: 2, used_bytes: Some(1_000_000),
        expect: AzureExpect { country: "GB", eu: false, secondary: Some(("ukwest", "GB", false)), replicated_outside_eu: true, custody: Custody::Provider, modifiers: &[], classification: "BBN1" } },
    AzureAccount { subscription: SUB_MAIN, name: "lmsecrosstenant", location: "swedencentral", sku: "Standard_RAGZRS", secondary: "swedensouth",
        key: AzureKey::OtherTenant("partner-key"), infrastructure_encryption: false, tags: &[], page: 2, used_bytes: None,
        expect: AzureExpect { country: "SE", eu: true, secondary: Some(("swedensouth", "SE", true)), replicated_outside_eu: false, custody: Custody::CustomerManaged,
            modifiers: &["key in another Entra tenant", "key not described: VaultNotFound"], classification: "unclassified" } },
    // Another subscription, with a key from the main subscription's vault.
    AzureAccount { subscription: SUB_US, name: "lmuseast", location: "eastus", sku: "Standard_GRS", secondary: "westus",
        key: AzureKey::Vault("cmk-weu"), infrastructure_encryption: false, tags: &[], page: 1, used_bytes: Some(77),
        expect: AzureExpect { country: "US", eu: false, secondary: Some(("westus", "US", false)), replicated_outside_eu: true, custody: Custody::CustomerManaged,
            modifiers: &["key owned by another account: 11111111", "key in region westeurope", "HSM-backed key (RSA-HSM)"], classification: "unclassified" } },
];

/// The Azurite account's row (listed only when an Azurite endpoint is given).
pub const AZURITE_ROW: AzureAccount = AzureAccount {
    subscription: SUB_MAIN,
    name: AZURITE_ACCOUNT,
    location: "northeurope",
    sku: "Standard_LRS",
    secondary: "",
    key: AzureKey::Platform,
    infrastructure_encryption: false,
    tags: &[("process", "emulated")],
    page: 2,
    used_bytes: Some(2_048),
    expect: AzureExpect {
        country: "IE",
        eu: true,
        secondary: None,
        replicated_outside_eu: false,
        custody: Custody::Provider,
        modifiers: &[],
        classification: "unclassified",
    },
};

/// An answer of the server.
pub type ArmResponse = hyper::Response<Full<Bytes>>;

struct Shared {
    accounts: Vec<AzureAccount>,
    /// Serve the store kinds of `arm_kinds` (else their listings are empty).
    kinds: bool,
    /// A kinds route answered with 403 `AuthorizationFailed`.
    deny: Option<&'static str>,
    azurite: Option<String>,
    base: String,
    counts: Mutex<BTreeMap<String, u64>>,
    throttled_once: AtomicU64,
}

/// A running ARM server; stops when dropped.
pub struct ArmServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    ca_file: PathBuf,
    dir: TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl ArmServer {
    /// Serves [`AZURE_ESTATE`] (plus the Azurite account when `azurite` names its blob
    /// endpoint, e.g. `http://127.0.0.1:PORT/devstoreaccount1`) on 127.0.0.1:0.
    pub async fn start(azurite: Option<String>) -> anyhow::Result<ArmServer> {
        Self::start_with(azurite, false, None).await
    }

    /// Serves [`AZURE_ESTATE`] and the other store kinds (`arm_kinds`); `deny` names a
    /// route (`Snapshots_List`, ...) answered with 403 `AuthorizationFailed`.
    pub async fn start_with_kinds(deny: Option<&'static str>) -> anyhow::Result<ArmServer> {
        Self::start_with(None, true, deny).await
    }

    /// Serves everything: [`AZURE_ESTATE`], the Azurite account when `azurite` names its
    /// blob endpoint, and the other store kinds (the demo).
    pub async fn start_with_azurite_and_kinds(
        azurite: Option<String>,
    ) -> anyhow::Result<ArmServer> {
        Self::start_with(azurite, true, None).await
    }

    async fn start_with(
        azurite: Option<String>,
        kinds: bool,
        deny: Option<&'static str>,
    ) -> anyhow::Result<ArmServer> {
        let dir = TempDir::new("landmeter-arm")?;
        let (tls, ca_pem) = tls_config()?;
        let ca_file = dir.path().join("arm-ca.pem");
        std::fs::write(&ca_file, ca_pem)?;
        std::fs::write(dir.path().join("client-secret"), CLIENT_SECRET)?;
        std::fs::write(dir.path().join("azurite-key"), AZURITE_KEY)?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("arm server: bind 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mut accounts = AZURE_ESTATE.to_vec();
        if azurite.is_some() {
            accounts.push(AZURITE_ROW);
        }
        let shared = Arc::new(Shared {
            accounts,
            kinds,
            deny,
            azurite,
            base: format!("https://{addr}"),
            counts: Mutex::new(BTreeMap::new()),
            throttled_once: AtomicU64::new(0),
        });
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let task = tokio::spawn(accept_loop(listener, acceptor, shared.clone()));
        Ok(ArmServer {
            addr,
            shared,
            ca_file,
            dir,
            task,
        })
    }

    /// `https://127.0.0.1:PORT`: the ARM endpoint and the Entra authority.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// PEM of the CA that signed the server certificate.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// Requests seen so far per route (`StorageAccounts_List`, `token`, ...), including 429s.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.counts.lock().expect("counts").clone()
    }

    pub fn count(&self, route: &str) -> u64 {
        self.counts().get(route).copied().unwrap_or(0)
    }

    /// Answers sent with 429 (the first request for page 2).
    pub fn throttled(&self) -> u64 {
        self.shared.throttled_once.load(Ordering::Relaxed).min(1)
    }

    /// An agent configuration (TOML) that scans this server as Azure, with the client-secret
    /// credential, this server's CA, and the Azurite account key when Azurite is in play.
    pub fn agent_config(&self, collector_url: &str) -> anyhow::Result<PathBuf> {
        self.agent_config_for(collector_url, &[])
    }

    /// [`Self::agent_config`] scanning only `subscriptions` (all the identity sees when empty).
    pub fn agent_config_for(
        &self,
        collector_url: &str,
        subscriptions: &[&str],
    ) -> anyhow::Result<PathBuf> {
        let mut text = format!(
            "name = \"e2e-azure\"\n[collector]\nurl = \"{collector_url}\"\n[azure]\nenabled = true\n\
             arm_endpoint = \"{ep}\"\narm_audience = \"https://management.azure.com\"\n\
             authority_host = \"{ep}\"\nca_file = \"{ca}\"\ntenant_id = \"{TENANT_ID}\"\n\
             client_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{secret}\"\nconcurrency = 4\n",
            ep = self.endpoint(),
            ca = self.ca_file.display(),
            secret = self.dir.path().join("client-secret").display(),
        );
        if !subscriptions.is_empty() {
            text.push_str(&format!("subscriptions = {subscriptions:?}\n"));
        }
        if self.shared.azurite.is_some() {
            text.push_str(&format!(
                "[[azure.account_keys]]\naccount = \"{AZURITE_ACCOUNT}\"\nkey_file = \"{}\"\n",
                self.dir.path().join("azurite-key").display()
            ));
        }
        let path = self.dir.path().join("agent-azure.toml");
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

impl Drop for ArmServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A CA and a server certificate for 127.0.0.1 and localhost (also the GCP test server's);
/// returns the server config and
/// the CA's PEM.
pub(crate) fn tls_config() -> anyhow::Result<(rustls::ServerConfig, String)> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "landmeter test ARM CA");
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate()?;
    let mut leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca_cert.der().clone()], key)?;
    Ok((config, ca_cert.pem()))
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

pub fn json_response(status: StatusCode, body: &Value) -> ArmResponse {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

pub fn arm_error(status: StatusCode, code: &str, message: &str) -> ArmResponse {
    json_response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

async fn handle(shared: &Shared, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let method = req.method().clone();
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {ACCESS_TOKEN}"));
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let (route, response) = route(shared, &method, &path, &query, authorized, &body);
    *shared
        .counts
        .lock()
        .expect("counts")
        .entry(route.to_owned())
        .or_default() += 1;
    response
}

fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    authorized: bool,
    body: &[u8],
) -> (&'static str, hyper::Response<Full<Bytes>>) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // Entra ID token endpoint.
    if method == Method::POST && path.ends_with("/oauth2/v2.0/token") {
        let form: BTreeMap<String, String> = url_form(body);
        let ok = segments.first() == Some(&TENANT_ID)
            && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
        if !ok {
            return (
                "token",
                json_response(
                    StatusCode::UNAUTHORIZED,
                    &json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]}),
                ),
            );
        }
        return (
            "token",
            json_response(
                StatusCode::OK,
                &json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": ACCESS_TOKEN}),
            ),
        );
    }
    // Blob endpoints of the accounts not in Azurite: the identity lacks data-plane rights.
    if segments.first() == Some(&"blob") {
        let xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthorizationPermissionMismatch</Code><Message>This request is not authorized to perform this operation using this permission.</Message></Error>";
        return (
            "blob",
            hyper::Response::builder()
                .status(StatusCode::FORBIDDEN)
                .header("content-type", "application/xml")
                .header("x-ms-error-code", "AuthorizationPermissionMismatch")
                .body(Full::new(Bytes::from(xml)))
                .expect("response"),
        );
    }
    if !authorized {
        return (
            "unauthorized",
            arm_error(
                StatusCode::UNAUTHORIZED,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            ),
        );
    }
    if let Some(answer) = crate::arm_kinds::route(shared.kinds, shared.deny, &segments) {
        return answer;
    }
    match segments.as_slice() {
        ["subscriptions"] => ("Subscriptions_List", subscriptions()),
        [
            "subscriptions",
            sub,
            "providers",
            "Microsoft.Storage",
            "storageAccounts",
        ] => ("StorageAccounts_List", storage_accounts(shared, sub, query)),
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.Storage",
            "storageAccounts",
            name,
            "encryptionScopes",
        ] => ("EncryptionScopes_List", encryption_scopes(name)),
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.Storage",
            "storageAccounts",
            name,
            "providers",
            "Microsoft.Insights",
            "metrics",
        ] => ("Metrics_List", metrics(shared, name)),
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.Storage",
            "storageAccounts",
            name,
            "blobServices",
            "default",
            "providers",
            "Microsoft.Insights",
            "metrics",
        ] => (
            "Metrics_List(BlobCapacity by Tier)",
            blob_tier_metrics(shared, name),
        ),
        [
            "subscriptions",
            sub,
            "providers",
            "Microsoft.KeyVault",
            "vaults",
        ] => ("Vaults_List", vaults(sub, false)),
        [
            "subscriptions",
            sub,
            "providers",
            "Microsoft.KeyVault",
            "managedHSMs",
        ] => ("ManagedHsms_List", vaults(sub, true)),
        [
            "subscriptions",
            _,
            "resourceGroups",
            _,
            "providers",
            "Microsoft.KeyVault",
            kind,
            vault,
            "keys",
            key,
        ] => ("Keys_Get", vault_key(kind, vault, key)),
        _ => (
            "unknown",
            arm_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                &format!("no route for {path}"),
            ),
        ),
    }
}

fn url_form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn subscriptions() -> hyper::Response<Full<Bytes>> {
    let subs: Vec<Value> = [
        (SUB_MAIN, "Landmeter EU"),
        (SUB_US, "Landmeter US"),
        (SUB_DENIED, "Landmeter denied"),
    ]
    .iter()
    .map(|(id, name)| {
        json!({"id": format!("/subscriptions/{id}"), "subscriptionId": id, "displayName": name,
               "tenantId": TENANT_ID, "state": "Enabled"})
    })
    .collect();
    json_response(StatusCode::OK, &json!({"value": subs}))
}

fn resource_group(sub: &str) -> &'static str {
    if sub == SUB_US {
        "rg-us"
    } else {
        "rg-landmeter"
    }
}

fn account_id(a: &AzureAccount) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Storage/storageAccounts/{}",
        a.subscription,
        resource_group(a.subscription),
        a.name
    )
}

/// One storage account in the shape of `StorageAccounts_List` (api-version 2025-06-01).
fn account_json(shared: &Shared, a: &AzureAccount) -> Value {
    let blob = if a.name == AZURITE_ACCOUNT {
        shared.azurite.clone().unwrap_or_default()
    } else {
        format!("{}/blob/{}/", shared.base, a.name)
    };
    let mut encryption = json!({
        "services": {
            "blob": {"enabled": true, "keyType": "Account", "lastEnabledTime": "2019-12-11T20:49:31.7036140Z"},
            "file": {"enabled": true, "keyType": "Account", "lastEnabledTime": "2019-12-11T20:49:31.7036140Z"}
        },
        "keySource": "Microsoft.Storage",
        "requireInfrastructureEncryption": a.infrastructure_encryption,
    });
    let cmk = |uri: &str, name: &str| {
        json!({
            "keyvaulturi": uri,
            "keyname": name,
            "keyversion": "",
            "currentVersionedKeyIdentifier": format!("{uri}/keys/{name}/0682afdd9c104f4285df20107e956cad"),
            "lastKeyRotationTimestamp": "2019-12-13T20:36:23.7023290Z"
        })
    };
    match a.key {
        AzureKey::Platform => {}
        AzureKey::Vault(k) => {
            encryption["keySource"] = json!("Microsoft.Keyvault");
            encryption["keyvaultproperties"] = cmk(VAULT_URI, k);
        }
        AzureKey::ManagedHsm(k) => {
            encryption["keySource"] = json!("Microsoft.Keyvault");
            encryption["keyvaultproperties"] = cmk(HSM_URI, k);
        }
        AzureKey::OtherTenant(k) => {
            encryption["keySource"] = json!("Microsoft.Keyvault");
            encryption["keyvaultproperties"] = cmk(PARTNER_VAULT_URI, k);
            encryption["identity"] = json!({
                "userAssignedIdentity": format!("/subscriptions/{}/resourceGroups/rg-landmeter/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cmk-identity", a.subscription),
                "federatedIdentityClientId": FEDERATED_CLIENT_ID
            });
        }
    }
    let mut properties = json!({
        "keyCreationTime": {"key1": "2021-03-18T04:42:22.4322836Z", "key2": "2021-03-18T04:42:22.4322836Z"},
        "creationTime": "2021-03-18T04:42:22.3697832Z",
        "primaryLocation": a.location,
        "statusOfPrimary": "available",
        "provisioningState": "Succeeded",
        "encryption": encryption,
        "primaryEndpoints": {"blob": blob, "dfs": format!("https://{}.dfs.core.windows.net/", a.name)},
        "supportsHttpsTrafficOnly": true,
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": false
    });
    if !a.secondary.is_empty() {
        properties["secondaryLocation"] = json!(a.secondary);
        properties["statusOfSecondary"] = json!("available");
    }
    let tier = if a.sku.starts_with("Premium") {
        "Premium"
    } else {
        "Standard"
    };
    // The official examples' default access tier of a StorageV2 account.
    properties["accessTier"] = json!(if tier == "Premium" { "Premium" } else { "Hot" });
    json!({
        "id": account_id(a),
        "name": a.name,
        "type": "Microsoft.Storage/storageAccounts",
        "location": a.location,
        "kind": "StorageV2",
        "sku": {"name": a.sku, "tier": tier},
        "tags": a.tags.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "identity": if matches!(a.key, AzureKey::OtherTenant(_)) {
            json!({"type": "UserAssigned", "userAssignedIdentities": {}})
        } else {
            json!({"type": "SystemAssigned", "principalId": "911871cc-ffff-ffff-ffff-57b0b18a6e6b", "tenantId": TENANT_ID})
        },
        "properties": properties
    })
}

fn storage_accounts(shared: &Shared, sub: &str, query: &str) -> hyper::Response<Full<Bytes>> {
    if sub == SUB_DENIED {
        return arm_error(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            &format!(
                "The client '{CLIENT_ID}' with object id '0000' does not have authorization to perform action 'Microsoft.Storage/storageAccounts/read' over scope '/subscriptions/{sub}' or the scope is invalid. If access was recently granted, please refresh your credentials."
            ),
        );
    }
    let page: u8 = if query.contains("$skiptoken=page2") || query.contains("%24skiptoken=page2") {
        2
    } else {
        1
    };
    if page == 2 && shared.throttled_once.fetch_add(1, Ordering::Relaxed) == 0 {
        let mut r = arm_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "The request is being throttled. Retry after 1 second.",
        );
        r.headers_mut()
            .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
        return r;
    }
    let value: Vec<Value> = shared
        .accounts
        .iter()
        .filter(|a| a.subscription == sub && a.page == page)
        .map(|a| account_json(shared, a))
        .collect();
    let more = page == 1
        && shared
            .accounts
            .iter()
            .any(|a| a.subscription == sub && a.page == 2);
    let mut body = json!({"value": value});
    if more {
        body["nextLink"] = json!(format!(
            "{}/subscriptions/{sub}/providers/Microsoft.Storage/storageAccounts?api-version=2025-06-01&$skiptoken=page2",
            shared.base
        ));
    }
    json_response(StatusCode::OK, &body)
}

fn encryption_scopes(account: &str) -> hyper::Response<Full<Bytes>> {
    let value = if account == "lmdehsm" {
        // Shape of az-specs StorageAccountGetEncryptionScope.json.
        vec![json!({
            "id": "/subscriptions/x/resourceGroups/rg-landmeter/providers/Microsoft.Storage/storageAccounts/lmdehsm/encryptionScopes/platform-scope",
            "name": "platform-scope",
            "type": "Microsoft.Storage/storageAccounts/encryptionScopes",
            "properties": {"source": "Microsoft.Storage", "state": "Enabled",
                           "creationTime": "2018-10-16T02:42:41.7633306Z", "lastModifiedTime": "2018-10-16T02:42:41.7633306Z"}
        })]
    } else {
        Vec::new()
    };
    json_response(StatusCode::OK, &json!({"value": value}))
}

fn metrics(shared: &Shared, account: &str) -> hyper::Response<Full<Bytes>> {
    let Some(a) = shared.accounts.iter().find(|a| a.name == account) else {
        return arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", "no such account");
    };
    let Some(bytes) = a.used_bytes else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "The Resource 'Microsoft.Insights/metrics' was not found.",
        );
    };
    json_response(
        StatusCode::OK,
        &json!({
            "cost": 0, "timespan": "2026-11-27T00:00:00Z/2026-11-29T00:00:00Z", "interval": "PT1H",
            "value": [{
                "id": format!("{}/providers/Microsoft.Insights/metrics/UsedCapacity", account_id(a)),
                "type": "Microsoft.Insights/metrics",
                "name": {"value": "UsedCapacity", "localizedValue": "Used capacity"},
                "unit": "Bytes",
                "timeseries": [{"metadatavalues": [], "data": [
                    {"timeStamp": "2026-11-28T10:00:00Z"},
                    {"timeStamp": "2026-11-28T11:00:00Z", "average": bytes as f64}
                ]}],
                "errorCode": "Success"
            }],
            "namespace": "Microsoft.Storage/storageAccounts",
            "resourceregion": a.location
        }),
    )
}

/// Blob capacity per access tier of [`ARCHIVED_ACCOUNT`]: the rest of its used capacity is
/// not blob data (files, tables, queues).
pub const ARCHIVED_TIERS: &[(&str, i64)] = &[("Hot", 100_000_000), ("Archive", 20_000_000)];
/// The account whose blobs are partly archived.
pub const ARCHIVED_ACCOUNT: &str = "lmweuplatform";

/// `Metrics_List` of `BlobCapacity` split by the `Tier` dimension (`$filter=Tier eq '*'`),
/// in the shape of the specification's dimension example: one time series per tier, the
/// tier in `metadatavalues`.
fn blob_tier_metrics(shared: &Shared, account: &str) -> hyper::Response<Full<Bytes>> {
    let Some(a) = shared.accounts.iter().find(|a| a.name == account) else {
        return arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", "no such account");
    };
    let Some(bytes) = a.used_bytes else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "The Resource 'Microsoft.Insights/metrics' was not found.",
        );
    };
    let tiers: Vec<(&str, i64)> = if a.name == ARCHIVED_ACCOUNT {
        ARCHIVED_TIERS.to_vec()
    } else {
        vec![("Hot", bytes)]
    };
    let series: Vec<serde_json::Value> = tiers
        .iter()
        .map(|(tier, b)| {
            json!({
                "metadatavalues": [{"name": {"value": "tier", "localizedValue": "tier"}, "value": tier}],
                "data": [
                    {"timeStamp": "2026-11-28T10:00:00Z"},
                    {"timeStamp": "2026-11-28T11:00:00Z", "average": *b as f64}
                ]
            })
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "cost": 0, "timespan": "2026-11-27T00:00:00Z/2026-11-29T00:00:00Z", "interval": "PT1H",
            "value": [{
                "id": format!("{}/blobServices/default/providers/Microsoft.Insights/metrics/BlobCapacity", account_id(a)),
                "type": "Microsoft.Insights/metrics",
                "name": {"value": "BlobCapacity", "localizedValue": "Blob Capacity"},
                "unit": "Bytes",
                "timeseries": series,
                "errorCode": "Success"
            }],
            "namespace": "Microsoft.Storage/storageAccounts/blobServices",
            "resourceregion": a.location
        }),
    )
}

fn vaults(sub: &str, managed_hsm: bool) -> hyper::Response<Full<Bytes>> {
    if sub != SUB_MAIN {
        return json_response(StatusCode::OK, &json!({"value": []}));
    }
    let value = if managed_hsm {
        json!([{
            "id": format!("/subscriptions/{SUB_MAIN}/resourceGroups/rg-landmeter/providers/Microsoft.KeyVault/managedHSMs/lm-hsm"),
            "name": "lm-hsm", "type": "Microsoft.KeyVault/managedHSMs", "location": "germanywestcentral",
            "sku": {"family": "B", "name": "Standard_B1"},
            "properties": {"tenantId": TENANT_ID, "hsmUri": format!("{HSM_URI}/"), "provisioningState": "Succeeded"}
        }])
    } else {
        json!([{
            "id": format!("/subscriptions/{SUB_MAIN}/resourceGroups/rg-landmeter/providers/Microsoft.KeyVault/vaults/lm-vault"),
            "name": "lm-vault", "type": "Microsoft.KeyVault/vaults", "location": "westeurope",
            "properties": {"tenantId": TENANT_ID, "sku": {"family": "A", "name": "premium"}, "vaultUri": format!("{VAULT_URI}/")}
        }])
    };
    json_response(StatusCode::OK, &json!({"value": value}))
}

fn vault_key(kind: &str, vault: &str, key: &str) -> hyper::Response<Full<Bytes>> {
    let (uri, location) = match (kind, vault) {
        ("vaults", "lm-vault") => (VAULT_URI, "westeurope"),
        ("managedHSMs", "lm-hsm") => (HSM_URI, "germanywestcentral"),
        _ => return arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", "no such vault"),
    };
    // Shape of Azure/bicep-types-az KeyProperties (KEY-CUSTODY.md 2.3).
    json_response(
        StatusCode::OK,
        &json!({
            "id": format!("/subscriptions/{SUB_MAIN}/resourceGroups/rg-landmeter/providers/Microsoft.KeyVault/{kind}/{vault}/keys/{key}"),
            "name": key,
            "type": format!("Microsoft.KeyVault/{kind}/keys"),
            "location": location,
            "properties": {
                "attributes": {"enabled": true, "created": 1_598_533_051, "updated": 1_598_533_051,
                               "recoveryLevel": "Recoverable+Purgeable", "exportable": false},
                "kty": "RSA-HSM",
                "keySize": 2048,
                "keyOps": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
                "keyUri": format!("{uri}/keys/{key}"),
                "keyUriWithVersion": format!("{uri}/keys/{key}/fd618d9519b74f9aae94ade66b876acc")
            }
        }),
    )
}
