//! HTML to PDF with headless Chromium (Debian's `chromium`), when it is installed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where Chromium is looked for unless `LANDMETER_CHROMIUM` (or a flag) names another path.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMIUM_ENV: &str = "LANDMETER_CHROMIUM";
const TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(
        "no PDF converter: chromium not found at {0} (install Chromium: scripts/setup-browser.sh names how per system, or set {CHROMIUM_ENV}); the HTML report works without it"
    )]
    ConverterMissing(PathBuf),
    #[error("PDF conversion with {converter} failed: {detail}")]
    Failed { converter: PathBuf, detail: String },
    #[error("PDF conversion: {0}")]
    Io(#[from] std::io::Error),
}

/// The converter to use: the given path, else `LANDMETER_CHROMIUM`, else /usr/bin/chromium.
pub fn converter(configured: Option<&Path>) -> PathBuf {
    configured
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(CHROMIUM_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROMIUM))
}

/// A fresh private working folder (page, profile, output), removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> std::io::Result<Self> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "landmeter-pdf-{}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Prints `html` to PDF (A4 from the page's `@page` rule, no header or footer).
pub async fn html_to_pdf(html: &str, converter: &Path) -> Result<Vec<u8>, PdfError> {
    if !converter.is_file() {
        return Err(PdfError::ConverterMissing(converter.to_path_buf()));
    }
    let work = WorkDir::new()?;
    let page = work.0.join("report.html");
    let out = work.0.join("report.pdf");
    tokio::fs::write(&page, html).await?;
    let mut cmd = tokio::process::Command::new(converter);
    cmd.arg("--headless")
        .arg("--no-sandbox")
        .arg("--disable-gpu")
        // The machine's network is closed: no background connections, no update checks.
        .arg("--disable-quic")
        .arg("--no-first-run")
        .arg("--disable-background-networking")
        .arg("--disable-component-update")
        .arg("--disable-sync")
        .arg(format!(
            "--user-data-dir={}",
            work.0.join("profile").display()
        ))
        .arg("--no-pdf-header-footer")
        .arg(format!("--print-to-pdf={}", out.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let run = cmd.output();
    let output = tokio::time::timeout(TIMEOUT, run)
        .await
        .map_err(|_| PdfError::Failed {
            converter: converter.to_path_buf(),
            detail: format!("no result within {} s", TIMEOUT.as_secs()),
        })??;
    match tokio::fs::read(&out).await {
        Ok(pdf) if pdf.starts_with(b"%PDF-") => Ok(pdf),
        _ => Err(PdfError::Failed {
            converter: converter.to_path_buf(),
            detail: format!(
                "exit {}, no PDF written: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .rev()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
        }),
    }
}
