//! A headless Debian `chromium` driven through `chromedriver` over W3C WebDriver: a minimal
//! client of our own (plain HTTP on loopback), enough for the UI tests: navigate, run a
//! script, find, click, read text, wait, screenshot.
//!
//! A missing chromium or chromedriver is an error naming `scripts/setup-browser.sh`, never a skip.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::{Collector, TempDir, free_port, workspace_root};

/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `LANDMETER_CHROMIUM` or `/usr/bin/chromium`; `LANDMETER_CHROMEDRIVER` or `/usr/bin/chromedriver`.
fn binaries() -> anyhow::Result<(PathBuf, PathBuf)> {
    let pick = |var: &str, default: &str| {
        std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
    };
    let chromium = pick("LANDMETER_CHROMIUM", "/usr/bin/chromium");
    let driver = pick("LANDMETER_CHROMEDRIVER", "/usr/bin/chromedriver");
    check_installed(&chromium, &driver)?;
    Ok((chromium, driver))
}

/// Fails, naming `scripts/setup-browser.sh`, unless both binaries exist.
pub fn check_installed(chromium: &Path, driver: &Path) -> anyhow::Result<()> {
    for p in [chromium, driver] {
        if !p.is_file() {
            bail!(
                "{} not found: the UI tests need Debian's chromium and chromium-driver. Run \
                 `scripts/setup-browser.sh` (installs them with apt-get) or set LANDMETER_CHROMIUM / \
                 LANDMETER_CHROMEDRIVER",
                p.display()
            );
        }
    }
    Ok(())
}

/// Where screenshots go: `target/ui-artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("ui-artifacts")
}

/// One chromium session; chromedriver (and with it chromium) is shut down on drop.
pub struct Browser {
    http: reqwest::Client,
    driver_addr: SocketAddr,
    session: String,
    driver: Child,
    _profile: TempDir,
}

/// A found element.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver on a free port and a headless chromium session with a fresh profile.
    pub async fn start() -> anyhow::Result<Browser> {
        let (chromium, driver_bin) = binaries()?;
        let profile = TempDir::new("landmeter-chromium")?;
        let log = std::fs::File::create(profile.path().join("chromedriver.log"))?;
        let port = free_port()?;
        let mut driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", driver_bin.display()))?;
        let driver_addr = SocketAddr::from(([127, 0, 0, 1], port));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = driver.try_wait()? {
                bail!(
                    "chromedriver exited {status}: {}",
                    std::fs::read_to_string(profile.path().join("chromedriver.log"))
                        .unwrap_or_default()
                );
            }
            let ready = http
                .get(format!("http://{driver_addr}/status"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            if Instant::now() > deadline {
                let _ = driver.kill();
                let _ = driver.wait();
                bail!("chromedriver did not answer on {driver_addr} within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let user_data = profile.path().join("profile");
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-proxy-server".to_owned(),
            "--window-size=1440,1000".to_owned(),
            format!("--user-data-dir={}", user_data.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let mut browser = Browser {
            http,
            driver_addr,
            session: String::new(),
            driver,
            _profile: profile,
        };
        let created = browser
            .call(reqwest::Method::POST, "/session", Some(caps))
            .await
            .context("create a chromium session")?;
        browser.session = created["sessionId"]
            .as_str()
            .context("no sessionId in the new session answer")?
            .to_owned();
        Ok(browser)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("http://{}{path}", self.driver_addr);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("{method} {path}: not JSON: {text}"))?;
        if !status.is_success() {
            bail!(
                "{method} {path}: {status} {} {}",
                v["value"]["error"],
                v["value"]["message"]
            );
        }
        Ok(v["value"].clone())
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            &self.session_path("/url"),
            Some(json!({"url": url})),
        )
        .await?;
        Ok(())
    }

    /// The page's current URL.
    pub async fn url(&self) -> anyhow::Result<String> {
        let v = self
            .call(reqwest::Method::GET, &self.session_path("/url"), None)
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns its value.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.call(
            reqwest::Method::POST,
            &self.session_path("/execute/sync"),
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        let v = self
            .call(
                reqwest::Method::POST,
                &self.session_path("/elements"),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_owned())))
                    .collect()
            })
            .unwrap_or_default())
    }

    pub async fn click(&self, e: &Element) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            &self.session_path(&format!("/element/{}/click", e.0)),
            Some(json!({})),
        )
        .await?;
        Ok(())
    }

    /// Clears an input and types `text` into it.
    pub async fn type_into(&self, e: &Element, text: &str) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            &self.session_path(&format!("/element/{}/clear", e.0)),
            Some(json!({})),
        )
        .await?;
        self.call(
            reqwest::Method::POST,
            &self.session_path(&format!("/element/{}/value", e.0)),
            Some(json!({"text": text})),
        )
        .await?;
        Ok(())
    }

    /// Presses Enter on an element (keyboard activation, as a user tabbing to it would).
    pub async fn press_enter(&self, e: &Element) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            &self.session_path(&format!("/element/{}/value", e.0)),
            Some(json!({"text": "\u{E007}"})),
        )
        .await?;
        Ok(())
    }

    /// The element's rendered text.
    pub async fn text(&self, e: &Element) -> anyhow::Result<String> {
        let v = self
            .call(
                reqwest::Method::GET,
                &self.session_path(&format!("/element/{}/text", e.0)),
                None,
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Waits until `css` matches at least one element and returns the first.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> anyhow::Result<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.find_all(css).await?.into_iter().next() {
                return Ok(e);
            }
            if Instant::now() > deadline {
                bail!(
                    "no element matches `{css}` after {timeout:?}; page text:\n{}\nconsole:\n{}",
                    self.page_text().await.unwrap_or_default(),
                    self.console().await.unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the script (a function body) returns something truthy; returns it.
    pub async fn wait_until(&self, script: &str, timeout: Duration) -> anyhow::Result<Value> {
        self.wait_until_with(script, vec![], timeout).await
    }

    /// [`Self::wait_until`] with `arguments` for the script.
    pub async fn wait_until_with(
        &self,
        script: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.execute(script, args.clone()).await?;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!(
                    "`{script}` stayed false for {timeout:?}; page text:\n{}\nconsole:\n{}",
                    self.page_text().await.unwrap_or_default(),
                    self.console().await.unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// The visible text of the page (for failure messages).
    pub async fn page_text(&self) -> anyhow::Result<String> {
        let v = self
            .execute(
                "return document.body ? document.body.innerText : ''",
                vec![],
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().chars().take(3000).collect())
    }

    /// The browser console since the last call (chromedriver's log endpoint; best effort).
    pub async fn console(&self) -> anyhow::Result<String> {
        let v = self
            .call(
                reqwest::Method::POST,
                &self.session_path("/se/log"),
                Some(json!({"type": "browser"})),
            )
            .await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| format!("{} {}", e["level"], e["message"]))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default())
    }

    /// Emulates a viewport of `width` x `height` CSS pixels (a phone's when `mobile`: touch,
    /// no scroll bars taking width), through chromedriver's DevTools passthrough, so the page
    /// gets exactly that size whatever the headless window's decorations.
    pub async fn set_viewport(&self, width: u32, height: u32, mobile: bool) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            &self.session_path("/goog/cdp/execute"),
            Some(
                json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                    "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
                }}),
            ),
        )
        .await
        .with_context(|| format!("set the viewport to {width}x{height}"))?;
        Ok(())
    }

    /// Runs the vendored axe-core (`tests/vendor/axe-core/axe.min.js`) on the page for the WCAG
    /// 2.0, 2.1 and 2.2 A and AA rules; returns the violations as readable lines (rule, impact,
    /// help, then each offending element's selector and axe's summary), empty when none.
    pub async fn axe_violations(&self) -> anyhow::Result<Vec<String>> {
        static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let injected = self
            .execute("return typeof window.axe === 'object'", vec![])
            .await?;
        if injected != Value::Bool(true) {
            let src = match AXE.get() {
                Some(s) => s,
                None => {
                    let path = workspace_root().join("tests/vendor/axe-core/axe.min.js");
                    let s = std::fs::read_to_string(&path)
                        .with_context(|| format!("read {}", path.display()))?;
                    AXE.get_or_init(|| s)
                }
            };
            // Evaluated by the driver, not as a <script>: the UI's CSP allows no inline script.
            self.execute(&format!("{src}\n;return typeof window.axe;"), vec![])
                .await
                .context("inject axe-core")?;
        }
        self.execute(
            "window.__axe = null; \
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}, resultTypes: ['violations']}) \
               .then(r => { window.__axe = r.violations.map(v => `${v.id} (${v.impact}): ${v.help}\\n` + \
                 v.nodes.slice(0, 8).map(n => `    ${n.target.join(' ')}: ${(n.failureSummary || '').replace(/\\s+/g, ' ')}`).join('\\n')); }) \
               .catch(e => { window.__axe = ['axe failed: ' + e]; }); return 1",
            vec![],
        )
        .await?;
        let v = self
            .wait_until("return window.__axe", Duration::from_secs(60))
            .await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Saves a PNG of the viewport as `target/ui-artifacts/<name>.png`; returns the path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let v = self
            .call(
                reqwest::Method::GET,
                &self.session_path("/screenshot"),
                None,
            )
            .await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().context("screenshot is not a string")?)
            .context("screenshot is not base64")?;
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("write {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes chromium; chromedriver is killed after. Blocking and raw,
        // because drop cannot await.
        if !self.session.is_empty() {
            let _ = raw_request(
                self.driver_addr,
                "DELETE",
                &format!("/session/{}", self.session),
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn raw_request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
    Ok(())
}

/// The collector's HTTP address, from its `http on ADDR` stdout line (in its log); the
/// collector must have been started with `--http-listen`.
pub fn http_addr(collector: &Collector, timeout: Duration) -> anyhow::Result<SocketAddr> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(addr) = collector
            .log()
            .lines()
            .find_map(|l| l.trim().strip_prefix("http on ")?.parse().ok())
        {
            return Ok(addr);
        }
        if Instant::now() > deadline {
            bail!(
                "the collector printed no `http on ADDR` line within {timeout:?}; log:\n{}",
                collector.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET base+path` with a bearer token; the JSON answer (fails on a non-2xx status).
pub async fn get_json(base: &str, path: &str, token: &str) -> anyhow::Result<Value> {
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .get(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .with_context(|| format!("GET {path}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("GET {path}: {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("GET {path}: not JSON: {text}"))
}

/// Keeps a screenshot path relative to the workspace in messages.
pub fn shown(p: &Path) -> String {
    p.strip_prefix(workspace_root())
        .unwrap_or(p)
        .display()
        .to_string()
}
