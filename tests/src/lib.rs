//! End-to-end harness: moto, the collector and the agent as real processes, a
//! fault-injecting proxy, and a seeded AWS estate with its expected map.
//!
//! # Layout
//! - this module: the sandbox. [`Moto`] (an emulator on a free port), [`Collector`]
//!   (`landmeter serve` on a temporary database), [`run_agent`] (`landmeter-agent scan`),
//!   [`MapClient`] (typed `MapService` queries), [`TempDir`]. Every process is killed on drop.
//! - [`fault_proxy`]: an HTTP proxy in front of moto that injects AWS's real errors and
//!   rewrites answers into today's AWS behaviour; it counts requests per operation.
//! - [`estate`]: an estate as a table (one row per bucket: what to seed, what the map must
//!   say), seeded through the Rust AWS SDK.
//!
//! - [`arm_server`]: a local HTTPS server playing Azure Resource Manager and Entra ID, with
//!   the Azure estate as a table ([`arm_server::AZURE_ESTATE`]).
//! - [`arm_kinds`]: the ARM server's other store kinds (disks, snapshots, SQL, PostgreSQL,
//!   MySQL, Cosmos DB, vaults, file shares) and the subscription's paired regions.
//! - [`azurite`]: Azurite (the Azure Blob emulator) and container seeding.
//! - [`browser`]: headless chromium through chromedriver (WebDriver), for the UI tests.
//! - [`gcp_server`]: a local HTTPS server playing Google Cloud (OAuth2 token endpoint, Cloud
//!   Storage, Cloud KMS, Cloud Monitoring), with the GCP estate as a table
//!   ([`gcp_server::GCP_ESTATE`]).
//! - [`multi_cloud`]: one agent configuration with `[aws]` and `[azure]` both enabled.
//! - [`s3_compatible`]: s3rver (a real S3 server lacking the bucket-configuration calls) and
//!   agent runs with `[[s3_compatible]]` entries.
//!
//! Nothing here reaches a cloud: static credentials, explicit endpoints, instance metadata
//! disabled, empty AWS config files.

pub mod arm_kinds;
pub mod arm_server;
pub mod aws_gaps;
pub mod aws_kinds_estate;
pub mod azurite;
pub mod browser;
pub mod estate;
pub mod fault_proxy;
pub mod gcp_server;
pub mod multi_cloud;
pub mod otlp_receiver;
pub mod s3_compatible;
pub mod wave1_collector;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use landmeter_proto::v1::map_service_client::MapServiceClient;
use landmeter_proto::v1::{
    GetStoreRequest, GetStoreResponse, ListStoresRequest, StoreFilter, StoreView, SummaryRequest,
    SummaryResponse,
};

/// The workspace root (`tests/..`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Where cargo put this process's binary's siblings (`target/debug`).
///
/// Integration tests run from `target/<profile>/deps`, binaries of this crate from
/// `target/<profile>`; `CARGO_TARGET_DIR` and the workspace `target/debug` are fallbacks.
pub fn bin_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        let dir = if dir.ends_with("deps") {
            dir.parent().unwrap_or(dir)
        } else {
            dir
        };
        return dir.to_path_buf();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("debug")
}

/// A workspace binary (`landmeter`, `landmeter-agent`), fresh.
///
/// `cargo test` builds only this crate's binaries, so the first call per process runs
/// `cargo build --workspace --bins --tests` (a no-op when up to date; cargo holds no lock
/// while tests run). `--tests` keeps the dev-dependencies' features (tokio's `test-util`) in
/// the build, as `cargo test` and `scripts/test.sh` have them: without it, cargo resolves
/// other features for tokio and rebuilds everything above it, about 7 minutes here, only to
/// run these tests. Set `LANDMETER_E2E_NO_BUILD=1` to use the binaries as they are.
pub fn workspace_bin(name: &str) -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let dir = bin_dir();
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let skip = std::env::var_os("LANDMETER_E2E_NO_BUILD").is_some() && path.exists();
    if !skip {
        let built = BUILT.get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(&cargo);
            cmd.args(["build", "--workspace", "--bins", "--tests"])
                .current_dir(workspace_root());
            if dir.ends_with("release") {
                cmd.arg("--release");
            }
            match cmd.status() {
                Ok(s) if s.success() => Ok(()),
                Ok(s) => Err(format!(
                    "`cargo build --workspace --bins --tests` failed: {s}"
                )),
                Err(e) => Err(format!("cannot run {cargo}: {e}")),
            }
        });
        if let Err(e) = built {
            bail!("{e}");
        }
    }
    if !path.exists() {
        bail!(
            "{} does not exist even after `cargo build --workspace --bins --tests`",
            path.display()
        );
    }
    Ok(path)
}

/// A directory under the system temp dir, removed on drop (kept when `LANDMETER_KEEP_TMP` is set).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> anyhow::Result<TempDir> {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("LANDMETER_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A free 127.0.0.1 port, as the OS picked it.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A child process killed (and reaped) on drop.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
}

impl Process {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            Some(status) => bail!("{} exited: {status}", self.name),
            None => Ok(()),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How to find moto: `LANDMETER_MOTO_SERVER`, else `<repo>/.venv/bin/moto_server`, else
/// `moto_server` on `PATH`.
pub fn moto_server_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("LANDMETER_MOTO_SERVER") {
        let p = PathBuf::from(p);
        if p.exists() {
            return Ok(p);
        }
        bail!(
            "LANDMETER_MOTO_SERVER={} does not exist; run scripts/setup.sh (or .ci/run) to install moto",
            p.display()
        );
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return Ok(venv);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("moto_server");
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    bail!(
        "moto_server not found (looked at $LANDMETER_MOTO_SERVER, {}, $PATH). These end-to-end \
         tests need moto: run `scripts/setup.sh` (creates .venv with moto[server]) or `.ci/run`",
        venv.display()
    )
}

/// A moto server on its own port, killed on drop.
pub struct Moto {
    addr: SocketAddr,
    _process: Process,
    _log: TempDir,
}

impl Moto {
    /// Starts `moto_server -H 127.0.0.1 -p PORT` and waits until it answers.
    pub fn start() -> anyhow::Result<Moto> {
        Self::start_on(None)
    }

    /// As [`Moto::start`], on `port` when given.
    pub fn start_on(port: Option<u16>) -> anyhow::Result<Moto> {
        let bin = moto_server_binary()?;
        let mut last_err = None;
        // A port picked free can be taken before moto binds it: retry with another.
        for _ in 0..3 {
            let port_now = match port {
                Some(p) => p,
                None => free_port()?,
            };
            let log = TempDir::new("landmeter-moto")?;
            let log_file = std::fs::File::create(log.path().join("moto.log"))?;
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port_now.to_string()])
                .stdin(Stdio::null())
                .stdout(log_file.try_clone()?)
                .stderr(log_file)
                .spawn()
                .with_context(|| format!("start {}", bin.display()))?;
            let mut process = Process {
                name: format!("moto_server on {port_now}"),
                child,
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port_now));
            match wait_for_http(&mut process, addr, Duration::from_secs(30)) {
                Ok(()) => {
                    return Ok(Moto {
                        addr,
                        _process: process,
                        _log: log,
                    });
                }
                Err(e) => {
                    let tail =
                        std::fs::read_to_string(log.path().join("moto.log")).unwrap_or_default();
                    last_err = Some(e.context(format!("moto log:\n{}", tail_lines(&tail, 20))));
                    if port.is_some() {
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("moto did not start")))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Waits until `addr` accepts a TCP connection; false when `process` exits first or
/// `timeout` passes.
pub(crate) fn wait_for_port(process: &mut Process, addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if process.check_running().is_err() {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `addr` answers an HTTP request (any status).
fn wait_for_http(process: &mut Process, addr: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        process.check_running()?;
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req = format!(
                "GET /moto-api/data.json HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            );
            if s.write_all(req.as_bytes()).is_ok() {
                let mut first = String::new();
                if BufReader::new(&mut s).read_line(&mut first).is_ok()
                    && first.starts_with("HTTP/1.")
                {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not answer on {addr} within {timeout:?}",
                process.name
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `landmeter serve` on a temporary database, killed on drop.
pub struct Collector {
    addr: SocketAddr,
    dir: TempDir,
    db: PathBuf,
    extra: Vec<String>,
    process: Process,
    /// An admin bearer token created (hashed in the database) before the collector started.
    token: String,
    /// Serving mutual TLS (`--tls-cert` given): the URL is https.
    tls: bool,
    /// Environment variables the collector process gets (also after a restart).
    env: Vec<(String, String)>,
}

impl Collector {
    /// Starts `landmeter serve --db <tmp>/map.db --listen 127.0.0.1:0` and reads the bound
    /// address from its first stdout line (`listening on 127.0.0.1:PORT`).
    pub fn start() -> anyhow::Result<Collector> {
        let dir = TempDir::new("landmeter-collector")?;
        let db = dir.path().join("map.db");
        Self::start_with(dir, &db, "127.0.0.1:0", &[])
    }

    /// Starts a collector on `db` and `listen`, with extra arguments; `dir` holds its log.
    /// Without TLS arguments it serves plaintext (`--insecure-plaintext`, loopback only).
    /// An admin token is created first, for [`Collector::map`] and [`Collector::cli`].
    pub fn start_with(
        dir: TempDir,
        db: &Path,
        listen: &str,
        extra: &[&str],
    ) -> anyhow::Result<Collector> {
        Self::start_with_env(dir, db, listen, extra, &[])
    }

    /// [`Collector::start_with`] with environment variables for the collector process (e.g.
    /// the OpenTelemetry exporter's).
    pub fn start_with_env(
        dir: TempDir,
        db: &Path,
        listen: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Collector> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (addr, process, token, tls) = Self::launch(dir.path(), db, listen, extra, &env)?;
        Ok(Collector {
            addr,
            dir,
            db: db.to_owned(),
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
            process,
            token,
            tls,
            env,
        })
    }

    /// Creates a token, starts `landmeter serve`, reads its address: (addr, process, token, tls).
    fn launch(
        dir: &Path,
        db: &Path,
        listen: &str,
        extra: &[&str],
        env: &[(String, String)],
    ) -> anyhow::Result<(SocketAddr, Process, String, bool)> {
        let bin = workspace_bin("landmeter")?;
        let mut create = Command::new(&bin);
        create
            .args(["token", "create", "--role", "admin", "--name", "e2e"])
            .arg("--db")
            .arg(db);
        scrub_env(&mut create);
        let out = create
            .output()
            .with_context(|| format!("run {}", bin.display()))?;
        if !out.status.success() {
            bail!(
                "`landmeter token create` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let plaintext: &[&str] = if extra.contains(&"--tls-cert") {
            &[]
        } else {
            &["--insecure-plaintext"]
        };
        let log_path = dir.join("collector.log");
        // Appended: a restarted collector keeps its predecessor's log.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .arg("--db")
            .arg(db)
            .args(["--listen", listen])
            .args(plaintext)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?);
        scrub_env(&mut cmd);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let stdout = child.stdout.take().context("collector stdout")?;
        let mut process = Process {
            name: "landmeter serve".into(),
            child,
        };
        // Read the first line on a thread (a blocking read cannot time out), then keep
        // draining stdout into the log so the collector never blocks on a full pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = tx.send(first);
            let mut log = log;
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                let _ = log.write_all(line.as_bytes());
                line.clear();
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.trim().parse::<SocketAddr>().ok());
        let Some(addr) = addr else {
            let _ = process.check_running();
            std::thread::sleep(Duration::from_millis(200));
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!(
                "collector's first stdout line was {first:?}, expected `listening on 127.0.0.1:PORT`; log:\n{}",
                tail_lines(&log, 30)
            );
        };
        Ok((addr, process, token, plaintext.is_empty()))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Kills the collector (SIGKILL, no graceful shutdown) and waits until it is gone.
    pub fn kill(&mut self) {
        let _ = self.process.child.kill();
        let _ = self.process.child.wait();
    }

    /// Kills the collector (if it still runs) and starts it again on the same database, port
    /// and arguments; retries the bind for a few seconds while the port is still held.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match Self::launch(
                self.dir.path(),
                &self.db,
                &self.addr.to_string(),
                &extra,
                &self.env,
            ) {
                Ok((addr, process, token, tls)) => {
                    self.addr = addr;
                    self.process = process;
                    self.token = token;
                    self.tls = tls;
                    return Ok(());
                }
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "collector restart failed; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e.context("collector did not restart on its port")),
            }
        }
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` under TLS (the name the
    /// server certificate is issued for).
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The collector's log (stderr and stdout after the first line).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("collector.log")).unwrap_or_default()
    }

    pub fn check_running(&mut self) -> anyhow::Result<()> {
        self.process.check_running()
    }

    /// The admin bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// GETs `path` of the collector's HTTP side at `http` (its `--http-listen` address) with
    /// the admin token, as JSON.
    pub async fn http_json(&self, http: &str, path: &str) -> anyhow::Result<serde_json::Value> {
        Ok(reqwest::Client::new()
            .get(format!("http://{http}{path}"))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// A typed MapService client with the admin token.
    pub async fn map(&self) -> anyhow::Result<MapClient> {
        MapClient::connect(&self.url(), Some(&self.token)).await
    }

    /// Runs the collector's CLI (`landmeter <args> --server URL`) and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        run_cli(&self.url(), &self.token, args)
    }

    /// Runs the CLI and returns its exit code and stdout, whatever the code (3: an answer
    /// resting on reads that failed).
    pub fn cli_status(&self, args: &[&str]) -> anyhow::Result<(i32, String)> {
        let bin = workspace_bin("landmeter")?;
        let mut cmd = Command::new(&bin);
        cmd.args(args)
            .args(["--server", &self.url()])
            .env("LANDMETER_TOKEN", &self.token);
        scrub_env(&mut cmd);
        let out = cmd
            .output()
            .with_context(|| format!("run {}", bin.display()))?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    }
}

/// Runs `landmeter <args> --server <server>` with a bearer token and returns stdout; fails
/// on a non-zero exit.
pub fn run_cli(server: &str, token: &str, args: &[&str]) -> anyhow::Result<String> {
    let (out, _) = cli_output(server, token, args, false)?;
    Ok(out)
}

/// [`run_cli`] for a listing whose answer may be incomplete: exit status 3 (a listed store
/// has a dimension that could not be read) is an answer too; its note is returned with it.
pub fn run_cli_listing(
    server: &str,
    token: &str,
    args: &[&str],
) -> anyhow::Result<(String, Option<String>)> {
    cli_output(server, token, args, true)
}

fn cli_output(
    server: &str,
    token: &str,
    args: &[&str],
    incomplete_ok: bool,
) -> anyhow::Result<(String, Option<String>)> {
    let bin = workspace_bin("landmeter")?;
    let mut cmd = Command::new(&bin);
    cmd.args(args)
        .args(["--server", server])
        .env("LANDMETER_TOKEN", token);
    scrub_env(&mut cmd);
    let out = cmd
        .output()
        .with_context(|| format!("run {}", bin.display()))?;
    if incomplete_ok && out.status.code() == Some(3) {
        return Ok((
            String::from_utf8_lossy(&out.stdout).into_owned(),
            Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        ));
    }
    if !out.status.success() {
        bail!(
            "`landmeter {}` failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), None))
}

/// Removes every `AWS_*` variable, so no profile, role or region leaks in from the host; and
/// asks for text logs (the tests read them as people do; JSON is the default off a terminal).
fn scrub_env(cmd: &mut Command) {
    cmd.env("LANDMETER_LOG_FORMAT", "text");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
}

/// One agent run.
#[derive(Debug)]
pub struct AgentRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl AgentRun {
    /// Fails with the agent's output unless it exited 0.
    pub fn success(self) -> anyhow::Result<AgentRun> {
        if !self.status.success() {
            bail!(
                "landmeter-agent exited {}\n--- stdout\n{}\n--- stderr\n{}",
                self.status,
                tail_lines(&self.stdout, 40),
                tail_lines(&self.stderr, 80)
            );
        }
        Ok(self)
    }
}

/// The role the agent assumes into the second account.
pub const AGENT_ROLE_ARN: &str = "arn:aws:iam::222222222222:role/landmeter-read";

/// Runs `landmeter-agent scan` once against `endpoint` (moto or a proxy), reporting to
/// `collector`, with static test credentials and no AWS config files; `extra` is appended.
pub async fn run_agent(
    collector: &str,
    endpoint: &str,
    extra: &[&str],
) -> anyhow::Result<AgentRun> {
    run_agent_with_env(collector, endpoint, extra, &[]).await
}

/// [`run_agent`] with `LANDMETER_AGENT_*` variables added (e.g. `[aws] kinds` and `regions`).
pub async fn run_agent_with_env(
    collector: &str,
    endpoint: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<AgentRun> {
    let (mut cmd, _home) = agent_command(collector, endpoint, extra)?;
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .context("landmeter-agent scan did not finish within 180 s")?
        .context("run landmeter-agent")?;
    Ok(AgentRun {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// A `landmeter-agent scan` running in the background (killed on drop), its stderr in a file.
pub struct AgentProcess {
    pub child: tokio::process::Child,
    home: TempDir,
}

impl AgentProcess {
    /// Starts `landmeter-agent scan` as [`run_agent`] does, without waiting for it.
    pub fn spawn(collector: &str, endpoint: &str, extra: &[&str]) -> anyhow::Result<AgentProcess> {
        let (mut cmd, home) = agent_command(collector, endpoint, extra)?;
        let log = std::fs::File::create(home.path().join("agent.log"))?;
        cmd.stdout(Stdio::null()).stderr(log).kill_on_drop(true);
        let child = cmd.spawn().context("start landmeter-agent")?;
        Ok(AgentProcess { child, home })
    }

    /// Starts `landmeter-agent run --config <config>` (the service) against `endpoint`,
    /// reporting to `collector` as agent `e2e`.
    pub fn spawn_service(
        collector: &str,
        endpoint: &str,
        config: &Path,
    ) -> anyhow::Result<AgentProcess> {
        let config = config.display().to_string();
        let (mut cmd, home) = agent_with_args(
            &["run", "--config", &config],
            &[
                ("LANDMETER_AGENT_COLLECTOR_URL", collector),
                ("LANDMETER_AGENT_ENDPOINT_URL", endpoint),
                ("LANDMETER_AGENT_NAME", "e2e"),
            ],
        )?;
        let log = std::fs::File::create(home.path().join("agent.log"))?;
        cmd.stdout(Stdio::null()).stderr(log).kill_on_drop(true);
        let child = cmd.spawn().context("start landmeter-agent run")?;
        Ok(AgentProcess { child, home })
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("agent.log")).unwrap_or_default()
    }

    /// Kills the agent (SIGKILL) and reaps it.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("kill landmeter-agent")
    }

    /// Waits for the agent to exit (at most `timeout`); fails with its log unless it exited 0.
    pub async fn wait_success(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .with_context(|| format!("landmeter-agent did not finish within {timeout:?}"))??;
        if !status.success() {
            bail!(
                "landmeter-agent exited {status}\n--- log\n{}",
                tail_lines(&self.log(), 80)
            );
        }
        Ok(())
    }
}

/// `landmeter-agent scan` against `endpoint`, reporting to `collector`, with static test
/// credentials, no AWS config files and no host AWS variables; and its home directory.
fn agent_command(
    collector: &str,
    endpoint: &str,
    extra: &[&str],
) -> anyhow::Result<(tokio::process::Command, TempDir)> {
    let mut args = vec![
        "scan",
        "--collector",
        collector,
        "--endpoint-url",
        endpoint,
        "--provider",
        "aws",
        "--name",
        "e2e",
        "--role-arn",
        AGENT_ROLE_ARN,
    ];
    args.extend_from_slice(extra);
    agent_with_args(&args, &[])
}

/// `landmeter-agent <args>` with the test AWS environment and `env` added.
pub(crate) fn agent_with_args(
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<(tokio::process::Command, TempDir)> {
    let bin = workspace_bin("landmeter-agent")?;
    let home = TempDir::new("landmeter-agent")?;
    let config = home.path().join("aws-config");
    let credentials = home.path().join("aws-credentials");
    std::fs::write(&config, "")?;
    std::fs::write(&credentials, "")?;
    let mut cmd = Command::new(&bin);
    cmd.args(args);
    scrub_env(&mut cmd);
    // Buckets only unless a test asks for the other kinds (`run_agent_with_env`): against
    // moto, the kinds' listings in all 38 regions of two accounts add ~20 s to every scan.
    cmd.env("LANDMETER_AGENT_AWS_KINDS", "");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("HOME", home.path())
        .stdin(Stdio::null());
    Ok((tokio::process::Command::from(cmd), home))
}

/// Runs `landmeter-agent scan --config <config>` (an Azure configuration, e.g. from
/// [`arm_server::ArmServer::agent_config`]) reporting to `collector`, with no Azure, Google
/// or AWS variables from the host.
pub async fn run_agent_azure(collector: &str, config: &Path) -> anyhow::Result<AgentRun> {
    run_agent_config(collector, config, "azure").await
}

/// Runs `landmeter-agent scan --config <config>` (a Google Cloud configuration, e.g. from
/// [`gcp_server::GcpServer::agent_config`]) reporting to `collector`, with no Google, Azure
/// or AWS variables from the host and an empty home (no gcloud credentials file).
pub async fn run_agent_gcp(collector: &str, config: &Path) -> anyhow::Result<AgentRun> {
    run_agent_config(collector, config, "gcp").await
}

async fn run_agent_config(collector: &str, config: &Path, what: &str) -> anyhow::Result<AgentRun> {
    let bin = workspace_bin("landmeter-agent")?;
    let home = TempDir::new(&format!("landmeter-agent-{what}"))?;
    let mut cmd = Command::new(&bin);
    cmd.arg("scan")
        .arg("--config")
        .arg(config)
        .args(["--collector", collector]);
    scrub_env(&mut cmd);
    for (k, _) in std::env::vars_os() {
        let k_text = k.to_string_lossy();
        if ["AZURE_", "IDENTITY_", "GOOGLE_", "CLOUDSDK_", "GCE_"]
            .iter()
            .any(|p| k_text.starts_with(p))
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home.path()).stdin(Stdio::null());
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .with_context(|| format!("landmeter-agent scan ({what}) did not finish within 180 s"))?
        .with_context(|| format!("run {}", bin.display()))?;
    Ok(AgentRun {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Typed `MapService` queries.
#[derive(Clone)]
pub struct MapClient {
    inner: MapServiceClient<tonic::transport::Channel>,
    token: Option<String>,
}

impl MapClient {
    pub async fn connect(url: &str, token: Option<&str>) -> anyhow::Result<MapClient> {
        let inner = MapServiceClient::connect(url.to_owned())
            .await
            .with_context(|| format!("connect MapService at {url}"))?;
        Ok(MapClient {
            inner,
            token: token.map(str::to_owned),
        })
    }

    /// A request carrying the bearer token.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        if let Some(t) = &self.token
            && let Ok(v) = format!("Bearer {t}").parse()
        {
            req.metadata_mut().insert("authorization", v);
        }
        req
    }

    /// Every store the filter selects, across pages.
    pub async fn list_stores(&mut self, filter: StoreFilter) -> anyhow::Result<Vec<StoreView>> {
        let mut stores = Vec::new();
        let mut page_token = String::new();
        loop {
            let resp = self
                .inner
                .list_stores(self.request(ListStoresRequest {
                    filter: Some(filter.clone()),
                    page_size: 500,
                    page_token: page_token.clone(),
                }))
                .await
                .context("MapService.ListStores")?
                .into_inner();
            stores.extend(resp.stores);
            if resp.next_page_token.is_empty() {
                return Ok(stores);
            }
            if resp.next_page_token == page_token {
                bail!("ListStores returned the same page token twice: {page_token:?}");
            }
            page_token = resp.next_page_token;
        }
    }

    /// Every present store.
    pub async fn all_stores(&mut self) -> anyhow::Result<Vec<StoreView>> {
        self.list_stores(StoreFilter::default()).await
    }

    pub async fn get_store(&mut self, id: &str) -> anyhow::Result<GetStoreResponse> {
        Ok(self
            .inner
            .get_store(self.request(GetStoreRequest {
                id: id.to_owned(),
                ..Default::default()
            }))
            .await
            .with_context(|| format!("MapService.GetStore {id}"))?
            .into_inner())
    }

    /// `MapService.Watch`: every change after `after_id` (0: from now), then live.
    pub async fn watch(
        &mut self,
        after_id: i64,
    ) -> anyhow::Result<tonic::Streaming<landmeter_proto::v1::ChangeEvent>> {
        Ok(self
            .inner
            .watch(self.request(landmeter_proto::v1::WatchRequest {
                filter: None,
                after_id,
            }))
            .await
            .context("MapService.Watch")?
            .into_inner())
    }

    pub async fn summary(
        &mut self,
        filter: StoreFilter,
        group_by: &[&str],
    ) -> anyhow::Result<SummaryResponse> {
        Ok(self
            .inner
            .summary(self.request(SummaryRequest {
                filter: Some(filter),
                group_by: group_by.iter().map(|s| (*s).to_owned()).collect(),
            }))
            .await
            .context("MapService.Summary")?
            .into_inner())
    }
}

/// A fresh PostgreSQL database `lm_e2e_<pid>_<n>` on the server `LANDMETER_TEST_PG` names
/// (default `postgres://postgres@127.0.0.1:5432/postgres`), made and dropped with `psql`.
/// An unreachable server fails the test with the reason; it never skips.
pub struct PgDatabase {
    admin: String,
    name: String,
}

impl PgDatabase {
    pub fn create() -> anyhow::Result<PgDatabase> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let admin = std::env::var("LANDMETER_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!(
            "lm_e2e_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        psql(&admin, &format!("CREATE DATABASE {name}")).context(
            "the several-collectors tests need PostgreSQL: start it or set LANDMETER_TEST_PG",
        )?;
        Ok(PgDatabase { admin, name })
    }

    /// The database's URL: the admin URL with its database replaced.
    pub fn url(&self) -> String {
        let (base, query) = match self.admin.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (self.admin.as_str(), None),
        };
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let authority_end = base[scheme_end..]
            .find('/')
            .map_or(base.len(), |i| scheme_end + i);
        let mut url = format!("{}/{}", &base[..authority_end], self.name);
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        url
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("dropping test database {}: {e:#}", self.name);
        }
    }
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .stdin(Stdio::null())
        .output()
        .context("run psql")?;
    if !out.status.success() {
        bail!(
            "psql {sql:?} on {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
