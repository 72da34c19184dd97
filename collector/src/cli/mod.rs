//! The operator command line. Queries go through `MapService`, like every other client.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use landmeter_proto::v1::map_service_client::MapServiceClient;
use landmeter_proto::v1::{
    GetStoreRequest, ListChangesRequest, ListSettingsRequest, ListStoresRequest,
    RequestScanRequest, SummaryRequest,
};

use crate::api::filter::FilterArgs;
use crate::api::render::{self, Format};
use crate::config::CollectorConfig;

mod db;
mod enroll_token;
mod serve;
mod token;
pub use db::DbCommand;
pub use enroll_token::EnrollTokenCommand;
use serve::serve;
pub use token::TokenCommand;

#[derive(Debug, Parser)]
#[command(
    name = "landmeter",
    version = env!("LANDMETER_VERSION"),
    about = "Where is our data, under which jurisdiction, who holds its keys."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr: json or text (default: json unless stderr is a terminal).
    #[arg(long, global = true, value_enum, env = "LANDMETER_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Language of messages and of `report`: nl or en (nl-NL accepted). Default: `language`
    /// of the collector config in LANDMETER_CONFIG, else English; a report then follows the
    /// collector's configuration.
    #[arg(long, global = true, env = "LANDMETER_LANG", value_parser = parse_lang)]
    pub lang: Option<crate::i18n::Lang>,
}

/// How logs are written to stderr (`--log-format`, `LANDMETER_LOG_FORMAT`).
pub use landmeter_telemetry::LogFormat;

/// What `landmeter graph` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GraphFormat {
    /// GraphViz DOT.
    Dot,
    /// Nodes and edges as JSON (the `/v1/graph` shape, every store its own node).
    Json,
    /// Edges as CSV: from, to, kind.
    EdgesCsv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector: gRPC ingest for agents, map queries for operators.
    Serve(ServeArgs),
    /// Load and validate a collector configuration, print the effective settings.
    CheckConfig {
        #[arg(long, env = "LANDMETER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// List stores, filtered.
    ///
    /// The table fits the terminal (or `COLUMNS`); `--wide` shows every column. Exits with 3
    /// when a listed store has a dimension that could not be read (the answer is incomplete).
    Stores {
        #[command(flatten)]
        conn: Connection,
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Every column: custody modifiers, key owner, replicas, process, custody reason.
        #[arg(long)]
        wide: bool,
        /// Sizes in bytes (default: KB, MB, GB, ...).
        #[arg(long)]
        bytes: bool,
    },
    /// Shell completions for `landmeter` (bash, zsh, fish, elvish, powershell) on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Manual pages of `landmeter` and every subcommand, written into a folder.
    Man {
        #[arg(long, default_value = "man")]
        out_dir: PathBuf,
    },
    /// Store counts and bytes grouped by fields.
    Summary {
        #[command(flatten)]
        conn: Connection,
        /// Comma-separated: tenant, provider, account, region, country, eu, jurisdiction,
        /// cloud_act, custody, classification, process.
        #[arg(long, value_delimiter = ',', default_value = "country,custody")]
        by: Vec<String>,
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// One store with every fact and where it came from (API call, time, scan).
    Store {
        #[command(flatten)]
        conn: Connection,
        /// Store id as listed (`provider:account:name`).
        id: String,
        /// The store's tenant: needed when the id exists in several tenants you can read.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Account and region settings the agents read (EBS encryption by default and its default
    /// key per region), with what each means; exits 3 when one could not be read.
    Settings {
        #[command(flatten)]
        conn: Connection,
        /// One tenant (default: every tenant you may read).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Changes to the map (added, changed with before/after, gone), oldest first.
    Changes {
        #[command(flatten)]
        conn: Connection,
        /// From when: Unix milliseconds, an RFC 3339 time, or an age such as 30m, 24h, 7d.
        #[arg(long, default_value = "24h", value_parser = parse_since)]
        since: i64,
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// The map as a GraphViz DOT graph (render with `dot -Tsvg`), or its nodes and edges as
    /// JSON, or its edges as CSV (every store its own node).
    Graph {
        #[command(flatten)]
        conn: Connection,
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormat,
    },
    /// Monthly storage cost at list price per provider, account, tenant, kind or store, with the
    /// price's date, status and source; unknown prices and sizes stay unknown.
    Costs {
        #[command(flatten)]
        conn: Connection,
        /// provider, account, tenant, kind (each kind has its own price) or store.
        #[arg(long, default_value = "provider")]
        by: String,
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// What leaving a provider would take: bytes, egress cost, transfer time, keys to
    /// re-create, replication to cut (list prices with their date and source).
    Exit {
        #[command(flatten)]
        conn: Connection,
        /// The provider to leave (aws, microsoft-azure, ...).
        #[arg(long)]
        from: String,
        /// The alternative (ovhcloud, scaleway, ionos, ...).
        #[arg(long)]
        to: String,
        /// Sustained transfer bandwidth.
        #[arg(long, default_value_t = 1000.0)]
        bandwidth_mbps: f64,
        /// The day to compute for, YYYY-MM-DD (default today, UTC): the EU Data Act's
        /// switching-charge rule depends on it.
        #[arg(long)]
        on: Option<String>,
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// The board report of a tenant (HTML or PDF): posture, trend since the previous report,
    /// top risks, exit scenario, costs, and the scans every figure comes from.
    Report {
        #[command(flatten)]
        conn: Connection,
        /// The tenant (a tenant role may leave it out).
        #[arg(long, default_value = "")]
        tenant: String,
        #[arg(long, value_enum, default_value = "html")]
        format: crate::report::ReportFormat,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The sovereign alternative of the exit scenario (default: an EU provider from the price table).
        #[arg(long, default_value = "")]
        exit_to: String,
        #[arg(long, default_value_t = 1000.0)]
        bandwidth_mbps: f64,
        /// Chromium for PDF (default: LANDMETER_CHROMIUM, else /usr/bin/chromium).
        #[arg(long)]
        chromium: Option<PathBuf>,
        /// Issue the report: keep it as the baseline the next report's trend compares with
        /// (admin or tenant-admin). Without it the report is a preview and keeps nothing.
        #[arg(long)]
        issue: bool,
    },
    /// The evidence bundle of a tenant for auditors (JSON with provenance and a SHA-256
    /// manifest), or with --verify FILE: check a bundle's digests.
    Evidence {
        #[command(flatten)]
        conn: Connection,
        #[arg(long, default_value = "")]
        tenant: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Verify this bundle offline instead (every section digest and the manifest digest).
        #[arg(long, conflicts_with = "out")]
        verify: Option<PathBuf>,
    },
    /// Ask connected agents of a tenant (or one agent) to scan now.
    ScanRequest {
        #[command(flatten)]
        conn: Connection,
        /// The tenant (a tenant-admin may leave it out).
        #[arg(long, default_value = "")]
        tenant: String,
        /// One agent by name; every connected agent of the tenant when left out.
        #[arg(long, default_value = "")]
        agent: String,
    },
    /// The collector's certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Agent identities: enroll (issue a certificate) and revoke.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Operator tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// One-time tokens with which agents enrol themselves (their key never leaves them).
    #[command(subcommand)]
    EnrollToken(EnrollTokenCommand),
    /// The map's database: migrate it, copy a map from SQLite to PostgreSQL.
    #[command(subcommand)]
    Db(DbCommand),
    /// The newest entries of the query audit log (run on the collector host).
    Audit {
        #[arg(long, env = "LANDMETER_DATABASE")]
        db: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the CA key and certificate (ca.key is written with mode 0600).
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// Organisation named in the CA's subject.
        #[arg(long, default_value = "landmeter")]
        org: String,
        #[arg(long, default_value_t = 3650)]
        days: i64,
    },
    /// Issue the collector's server certificate.
    ServerCert {
        #[arg(long)]
        dir: PathBuf,
        /// DNS names and IP addresses agents and operators use to reach the collector.
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Folder for server.pem and server.key.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Issue a short-lived agent certificate binding tenant and agent; renew by enrolling again.
    Enroll {
        #[arg(long)]
        ca_dir: PathBuf,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// Folder for <name>.pem and <name>.key.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// Revoke an agent certificate and every certificate renewed from it, or (with --tenant
    /// and --name) every certificate the collector signed for an agent; takes effect at once,
    /// also on open streams, and a revoked certificate is never renewed.
    Revoke {
        #[arg(long, env = "LANDMETER_DATABASE")]
        db: String,
        /// The agent's certificate (PEM).
        #[arg(long, required_unless_present = "name", conflicts_with_all = ["tenant", "name"])]
        cert: Option<PathBuf>,
        /// The agent's tenant (with --name).
        #[arg(long, requires = "name")]
        tenant: Option<String>,
        /// The agent's name (with --tenant): revokes every certificate enrolment and renewal
        /// signed for it.
        #[arg(long, requires = "tenant")]
        name: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long, env = "LANDMETER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to bind (overrides the file and LANDMETER_LISTEN). Port 0 picks a free port.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Database URL: a SQLite file (`map.db`, `sqlite:map.db`) or PostgreSQL
    /// (`postgres://user@host:5432/name`); overrides the file and LANDMETER_DATABASE.
    #[arg(long)]
    pub db: Option<String>,
    /// Tenant for plaintext agent connections (with --insecure-plaintext).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Serve plaintext without agent certificates: local demos on loopback only.
    #[arg(long)]
    pub insecure_plaintext: bool,
    /// Server certificate (PEM); with --tls-key and --client-ca enables mutual TLS.
    #[arg(long, requires_all = ["tls_key", "client_ca"])]
    pub tls_cert: Option<PathBuf>,
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// The CA that issued the agents' certificates.
    #[arg(long)]
    pub client_ca: Option<PathBuf>,
    /// The CA's key (`ca.key`): the collector then enrols agents with one-time tokens
    /// (`landmeter enroll-token create`) and renews their certificates.
    #[arg(long, requires = "client_ca")]
    pub ca_key: Option<PathBuf>,
    /// Validity in days of certificates signed at enrolment and renewal (default 30).
    #[arg(long, requires = "ca_key")]
    pub agent_cert_days: Option<u32>,
    /// Address of the HTTP side (web UI, JSON API, /live, /ready, /metrics, /v1/events):
    /// loopback only, unless served over TLS (--http-tls-cert and --http-tls-key).
    #[arg(long)]
    pub http_listen: Option<std::net::SocketAddr>,
    /// Apply no schema migration at start: refuse a database behind this build's schema
    /// (migrate it first with `landmeter db migrate`).
    #[arg(long)]
    pub no_migrate: bool,
    /// Certificate (PEM) of the HTTP side: serves it over TLS, on any address.
    #[arg(long, requires = "http_tls_key")]
    pub http_tls_cert: Option<PathBuf>,
    /// Private key (PEM) of the HTTP side's certificate.
    #[arg(long, requires = "http_tls_cert")]
    pub http_tls_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Connection {
    /// Collector address (https:// under TLS).
    #[arg(
        long,
        env = "LANDMETER_SERVER",
        default_value = "http://127.0.0.1:7400"
    )]
    pub server: String,
    /// Bearer token from `landmeter token create`.
    #[arg(long, env = "LANDMETER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate that signed the collector's server certificate (https).
    #[arg(long, env = "LANDMETER_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

/// `--since`: Unix ms, RFC 3339, or an age (`90s`, `30m`, `24h`, `7d`) before now.
pub fn parse_since(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = number.parse().map_err(|_| {
        format!("cannot read {s:?} as a time: use Unix ms, RFC 3339 or an age like 24h")
    })?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}: use s, m, h or d")),
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    Ok(now as i64 - n.saturating_mul(unit_ms))
}

type AuthedChannel = tonic::service::interceptor::InterceptedService<
    tonic::transport::Channel,
    crate::auth::BearerToken,
>;

async fn client(conn: &Connection) -> anyhow::Result<MapServiceClient<AuthedChannel>> {
    let mut endpoint = tonic::transport::Endpoint::from_shared(conn.server.clone())
        .with_context(|| format!("invalid collector address {:?}", conn.server))?;
    if let Some(ca) = &conn.ca_file {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        endpoint = endpoint.tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(pem)),
        )?;
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to the collector at {}", conn.server))?;
    let token = crate::auth::BearerToken::new(conn.token.as_deref());
    Ok(MapServiceClient::with_interceptor(channel, token))
}

/// Every store the filter selects, across pages.
async fn all_stores(
    conn: &Connection,
    filter: &FilterArgs,
) -> anyhow::Result<Vec<landmeter_proto::v1::StoreView>> {
    let mut c = client(conn).await?;
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .list_stores(ListStoresRequest {
                filter: Some(filter.to_filter()),
                page_size: 0,
                page_token: token,
            })
            .await?
            .into_inner();
        all.extend(page.stores);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        token = page.next_page_token;
    }
}

/// Writes to a file, or to standard output without one.
fn write_out(out: Option<&std::path::Path>, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    match out {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
        }
        None => Ok(std::io::stdout().write_all(bytes)?),
    }
}

fn open_store(db: &str) -> anyhow::Result<std::sync::Arc<dyn crate::store::MapStore>> {
    crate::store::open(db, crate::store::Durability::Full)
        .with_context(|| format!("opening {}", crate::store::redacted_url(db)))
}

fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<CollectorConfig> {
    Ok(CollectorConfig::load(path, std::env::vars())?)
}

/// An answer printed in full that rests on reads that failed: the process exits with
/// [`Incomplete::EXIT_CODE`] so scripts can tell it from a complete answer and from an error.
#[derive(Debug)]
pub struct Incomplete(pub String);

impl Incomplete {
    pub const EXIT_CODE: i32 = 3;
}

impl std::fmt::Display for Incomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Incomplete {}

/// Runs one command; its errors for people in the language of `--lang` (or
/// `LANDMETER_LANG`, or the collector config's `language`).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let lang = message_lang(cli.lang);
    let report_lang = cli.lang;
    run_in(cli.command, lang, report_lang)
        .await
        .map_err(|e| localized(e, lang))
}

/// The language of messages: the flag or `LANDMETER_LANG`, else the `language` of the
/// collector config named by `LANDMETER_CONFIG` (when it reads), else English.
fn message_lang(flag: Option<crate::i18n::Lang>) -> crate::i18n::Lang {
    flag.or_else(|| {
        let path = std::env::var_os("LANDMETER_CONFIG")?;
        CollectorConfig::load(Some(std::path::Path::new(&path)), std::iter::empty())
            .ok()
            .map(|c| c.language)
    })
    .unwrap_or_default()
}

/// A wrong name (from the collector's status metadata or this process's own check) said in
/// `lang`; other errors as they are. English keeps the original text, which scripts match.
fn localized(e: anyhow::Error, lang: crate::i18n::Lang) -> anyhow::Error {
    use crate::i18n::{Lang, t, ta};
    if lang == Lang::En {
        return e;
    }
    let detail: Option<serde_json::Value> = if let Some(s) = e.downcast_ref::<tonic::Status>() {
        s.metadata()
            .get_bin(crate::status::NAME_ERROR_METADATA)
            .and_then(|v| v.to_bytes().ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
    } else {
        match e.downcast_ref::<crate::store::StoreError>() {
            Some(crate::store::StoreError::UnknownName { what, given, known }) => {
                Some(serde_json::json!({"what": what, "given": given, "known": known}))
            }
            Some(crate::store::StoreError::NoScans { tenant, known }) => {
                Some(serde_json::json!({"tenant": tenant, "known": known}))
            }
            _ => None,
        }
    };
    let Some(d) = detail else { return e };
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let known = d["known"]
        .as_array()
        .map(|k| k.iter().map(text).collect::<Vec<_>>().join(", "))
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| t(lang, "cli-none"));
    let message = if let Some(tenant) = d.get("tenant") {
        ta(
            lang,
            "cli-no-scans",
            &[("tenant", text(tenant).into()), ("known", known.into())],
        )
    } else {
        let what = text(&d["what"]);
        let key = format!("cli-what-{what}");
        let shown = if crate::i18n::keys(lang).contains(&key) {
            t(lang, &key)
        } else {
            what
        };
        ta(
            lang,
            "cli-unknown-name",
            &[
                ("what", shown.into()),
                ("given", text(&d["given"]).into()),
                ("known", known.into()),
            ],
        )
    };
    anyhow::Error::msg(message)
}

async fn run_in(
    command: Command,
    lang: crate::i18n::Lang,
    report_lang: Option<crate::i18n::Lang>,
) -> anyhow::Result<()> {
    use crate::i18n::ta;
    match command {
        Command::Serve(args) => serve(args).await,
        Command::CheckConfig { config } => {
            let mut cfg = load_config(config.as_deref())?;
            crate::server::build_interpreter(&cfg)?;
            // The effective settings, but never a database password.
            cfg.database = crate::store::redacted_url(&cfg.database);
            println!("{cfg:#?}");
            Ok(())
        }
        Command::Stores {
            conn,
            filter,
            format,
            wide,
            bytes,
        } => {
            let all = all_stores(&conn, &filter).await?;
            match format {
                Format::Table => {
                    let width = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
                    let layout = render::TableLayout {
                        wide,
                        raw_bytes: bytes,
                        width,
                    };
                    println!("{}", render::stores_table(&all, layout));
                }
                other => println!("{}", render::stores(&all, other)),
            }
            let unread = all
                .iter()
                .filter(|v| {
                    v.unknowns
                        .iter()
                        .any(|u| u.dimension != landmeter_proto::dimension::SIZE)
                })
                .count();
            if unread > 0 {
                return Err(Incomplete(ta(
                    lang,
                    "cli-incomplete-stores",
                    &[
                        ("unread", unread.to_string().into()),
                        ("total", all.len().to_string().into()),
                    ],
                ))
                .into());
            }
            Ok(())
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "landmeter", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { out_dir } => {
            std::fs::create_dir_all(&out_dir)
                .with_context(|| format!("creating {}", out_dir.display()))?;
            clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), &out_dir)
                .with_context(|| format!("writing manual pages into {}", out_dir.display()))?;
            println!("manual pages in {}", out_dir.display());
            Ok(())
        }
        Command::Summary {
            conn,
            by,
            filter,
            format,
        } => {
            let mut c = client(&conn).await?;
            let s = c
                .summary(SummaryRequest {
                    filter: Some(filter.to_filter()),
                    group_by: by,
                })
                .await?
                .into_inner();
            println!("{}", render::summary(&s, format));
            Ok(())
        }
        Command::Store {
            conn,
            id,
            tenant,
            format,
        } => {
            let mut c = client(&conn).await?;
            let tenant = tenant.unwrap_or_default();
            let r = c
                .get_store(GetStoreRequest { id, tenant })
                .await?
                .into_inner();
            println!("{}", render::store_detail(&r, format));
            Ok(())
        }
        Command::Settings {
            conn,
            tenant,
            format,
        } => {
            let rows = client(&conn)
                .await?
                .list_settings(ListSettingsRequest {
                    tenant: tenant.unwrap_or_default(),
                })
                .await?
                .into_inner()
                .settings;
            println!("{}", render::settings(&rows, format));
            let unknown = rows.iter().filter(|r| !r.known).count();
            if unknown > 0 {
                return Err(Incomplete(ta(
                    lang,
                    "cli-incomplete-settings",
                    &[
                        ("unknown", unknown.to_string().into()),
                        ("total", rows.len().to_string().into()),
                    ],
                ))
                .into());
            }
            Ok(())
        }
        Command::Changes {
            conn,
            since,
            filter,
            format,
        } => {
            let mut c = client(&conn).await?;
            let mut all = Vec::new();
            let mut after_id = 0;
            loop {
                let page = c
                    .list_changes(ListChangesRequest {
                        since_ms: since,
                        after_id,
                        limit: 0,
                        filter: Some(filter.to_filter()),
                    })
                    .await?
                    .into_inner()
                    .changes;
                let Some(last) = page.last() else { break };
                after_id = last.id;
                all.extend(page);
            }
            println!("{}", render::changes(&all, format));
            Ok(())
        }
        Command::Graph {
            conn,
            filter,
            format,
        } => {
            let stores = all_stores(&conn, &filter).await?;
            match format {
                GraphFormat::Dot => print!("{}", render::dot(&stores)),
                GraphFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&crate::api::insight::graph_detailed(&stores))?
                ),
                GraphFormat::EdgesCsv => {
                    let graph = crate::api::insight::graph_detailed(&stores);
                    let edges = graph["edges"].as_array().cloned().unwrap_or_default();
                    print!(
                        "{}",
                        render::json_rows(&edges, &["from", "to", "kind"], Format::Csv)
                    );
                }
            }
            Ok(())
        }
        Command::Costs {
            conn,
            by,
            filter,
            format,
        } => {
            let by = crate::api::insight::CostsBy::parse(&by)
                .context("--by must be one of provider, account, tenant, kind, store")?;
            let stores = all_stores(&conn, &filter).await?;
            let prices = crate::map::exit::PriceTable::builtin()?;
            let costs = crate::api::insight::costs_of(&stores, by, &prices);
            let rows = costs["rows"].as_array().cloned().unwrap_or_default();
            println!(
                "{}",
                render::json_rows(
                    &rows,
                    &[
                        "key",
                        "stores",
                        "bytes",
                        "stores_size_unknown",
                        "monthly",
                        "currency",
                        "stores_price_unknown",
                        "price_date",
                        "price_status",
                        "price_source",
                    ],
                    format
                )
            );
            Ok(())
        }
        Command::Exit {
            conn,
            from,
            to,
            bandwidth_mbps,
            on,
            filter,
            format,
        } => {
            use crate::map::exit;
            let on = match on {
                Some(text) => exit::parse_day(&text).map_err(|e| anyhow::anyhow!("--on: {e}"))?,
                None => exit::day_of_ms(crate::clock::now_ms()),
            };
            let stores = all_stores(&conn, &filter).await?;
            let prices = exit::PriceTable::builtin()?;
            // `AWS` is aws, `azure` microsoft-azure; a name that is neither is an error, not 0.
            let present = stores.iter().map(|v| v.provider.as_str());
            let from = crate::api::names::provider_among(&from, present.clone())?;
            let to = crate::api::names::provider_among(&to, present)?;
            let scenario = exit::exit_scenario(&stores, &from, &to, bandwidth_mbps, &prices, on);
            println!("{}", render::exit(&scenario, format));
            Ok(())
        }
        Command::Report {
            conn,
            tenant,
            format,
            out,
            exit_to,
            bandwidth_mbps,
            chromium,
            issue,
        } => {
            // Fail before issuing a report that could not be converted.
            let converter = crate::report::pdf::converter(chromium.as_deref());
            if format == crate::report::ReportFormat::Pdf && !converter.is_file() {
                return Err(crate::report::pdf::PdfError::ConverterMissing(converter).into());
            }
            let r = client(&conn)
                .await?
                .board_report(landmeter_proto::v1::BoardReportRequest {
                    tenant,
                    exit_to,
                    bandwidth_mbps,
                    issue,
                    lang: report_lang.map(|l| l.code().to_owned()).unwrap_or_default(),
                })
                .await?
                .into_inner();
            let bytes = match format {
                crate::report::ReportFormat::Html => r.html.into_bytes(),
                crate::report::ReportFormat::Pdf => {
                    crate::report::pdf::html_to_pdf(&r.html, &converter).await?
                }
            };
            write_out(out.as_deref(), &bytes)?;
            if issue {
                eprintln!(
                    "{}",
                    ta(
                        lang,
                        "cli-report-issued",
                        &[("id", r.report_id.to_string().into())]
                    )
                );
            } else {
                eprintln!("{}", ta(lang, "cli-report-preview", &[]));
            }
            Ok(())
        }
        Command::Evidence {
            conn,
            tenant,
            out,
            verify,
        } => {
            if let Some(path) = verify {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let bundle: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", path.display()))?;
                crate::evidence::verify(&bundle).map_err(anyhow::Error::msg)?;
                println!(
                    "{}: every section digest and the manifest digest {} verify",
                    path.display(),
                    bundle["manifest"]["digest"].as_str().unwrap_or_default()
                );
                return Ok(());
            }
            let r = client(&conn)
                .await?
                .evidence(landmeter_proto::v1::EvidenceRequest { tenant })
                .await?
                .into_inner();
            write_out(out.as_deref(), r.json.as_bytes())
        }
        Command::ScanRequest {
            conn,
            tenant,
            agent,
        } => {
            let mut c = client(&conn).await?;
            let reached = c
                .request_scan(RequestScanRequest {
                    tenant,
                    agent,
                    reason: "landmeter scan-request".into(),
                })
                .await?
                .into_inner()
                .agents;
            if reached.is_empty() {
                anyhow::bail!("no matching agent is connected");
            }
            println!("scan requested from {}", reached.join(", "));
            Ok(())
        }
        Command::Ca(CaCommand::Init { dir, org, days }) => {
            let cert = crate::pki::init_ca(&dir, &org, days)?;
            println!(
                "CA certificate: {} (keep {} secret)",
                cert.display(),
                dir.join(crate::pki::CA_KEY).display()
            );
            Ok(())
        }
        Command::Ca(CaCommand::ServerCert {
            dir,
            hosts,
            out,
            days,
        }) => {
            let issued =
                crate::pki::Ca::load(&dir)?.issue_server(&hosts, time::Duration::days(days))?;
            let (cert, key) = crate::pki::write_issued(&out, "server", &issued)?;
            println!(
                "server certificate {} and key {} (serial {})",
                cert.display(),
                key.display(),
                issued.serial
            );
            Ok(())
        }
        Command::Agent(AgentCommand::Enroll {
            ca_dir,
            tenant,
            name,
            out,
            days,
        }) => {
            let ca = crate::pki::Ca::load(&ca_dir)?;
            let issued = ca.issue_agent(&tenant, &name, time::Duration::days(days))?;
            let (cert, key) = crate::pki::write_issued(&out, &name, &issued)?;
            std::fs::write(out.join("ca.pem"), &ca.cert_pem)
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "agent {name} of tenant {tenant}: certificate {} key {} (serial {}, valid {days} days); the agent trusts {}",
                cert.display(),
                key.display(),
                issued.serial,
                out.join("ca.pem").display()
            );
            Ok(())
        }
        Command::Agent(AgentCommand::Revoke {
            db,
            cert: None,
            tenant,
            name,
        }) => {
            let (tenant, name) = (tenant.unwrap_or_default(), name.unwrap_or_default());
            let n = open_store(&db)?.revoke_agent(&tenant, &name)?;
            if n == 0 {
                anyhow::bail!(
                    "no certificate of agent {name} of tenant {tenant} left to revoke (certificates made by `landmeter agent enroll` are revoked with --cert)"
                );
            }
            println!("revoked agent {name} of tenant {tenant} ({n} certificates)");
            Ok(())
        }
        Command::Agent(AgentCommand::Revoke {
            db,
            cert: Some(cert),
            ..
        }) => {
            let pem = std::fs::read_to_string(&cert)
                .with_context(|| format!("reading {}", cert.display()))?;
            let id = crate::pki::identity_from_pem(&pem)?;
            open_store(&db)?.revoke_certificate(&id.serial, &id.tenant, &id.agent)?;
            println!(
                "revoked agent {} of tenant {} (serial {})",
                id.agent, id.tenant, id.serial
            );
            Ok(())
        }
        Command::Token(cmd) => token::run(cmd),
        Command::EnrollToken(cmd) => enroll_token::run(cmd),
        Command::Db(cmd) => db::run(cmd),
        Command::Audit { db, limit } => {
            for e in open_store(&db)?.audit_log(limit)? {
                println!(
                    "token={} role={} tenant={} method={} rows={} outcome={} request={}",
                    e.token_id.map(|i| i.to_string()).unwrap_or_default(),
                    e.role,
                    e.tenant.unwrap_or_default(),
                    e.method,
                    e.rows,
                    e.outcome,
                    e.request
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;

/// `--lang`: nl, en, or a tag such as nl-NL.
fn parse_lang(s: &str) -> Result<crate::i18n::Lang, String> {
    s.parse()
        .map_err(|e: crate::i18n::UnknownLang| e.to_string())
}
