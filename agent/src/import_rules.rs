//! The agent's import rules (ARCHITECTURE.md), checked on the source so a reviewer need not:
//! providers never reach the uplink, the spool or the network stack (they push into a
//! `FactSink`); the uplink and the spool know no cloud; the agent crate never depends on
//! the collector crate.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Lines of code (not comments) naming `needle` as a path segment (`needle::` or `::needle`).
fn uses(text: &str, needle: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .filter(|l| l.contains(&format!("{needle}::")) || l.contains(&format!("::{needle}")))
        .map(|l| l.trim().to_owned())
        .collect()
}

#[test]
fn providers_never_reach_the_uplink_the_spool_or_the_network() {
    let mut files = Vec::new();
    rust_files(&src().join("providers"), &mut files);
    assert!(files.len() > 10, "the providers' sources: {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        for forbidden in ["uplink", "spool", "tonic"] {
            let found = uses(&text, forbidden);
            assert!(
                found.is_empty(),
                "{} uses {forbidden}: {found:?}",
                file.display()
            );
        }
    }
}

#[test]
fn the_uplink_and_the_spool_know_no_cloud() {
    for file in ["uplink.rs", "spool.rs"] {
        let text = std::fs::read_to_string(src().join(file))
            .expect("readable")
            .to_ascii_lowercase();
        for cloud in ["aws", "azure", "providers::"] {
            assert!(!text.contains(cloud), "{file} names {cloud}");
        }
    }
}

#[test]
fn the_agent_never_depends_on_the_collector() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("manifest");
    assert!(
        manifest.contains("landmeter-proto"),
        "the check reads the right file"
    );
    assert!(
        !manifest.contains("landmeter-collector"),
        "agent depends on the collector"
    );
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let found = uses(&text, "landmeter_collector");
        assert!(found.is_empty(), "{}: {found:?}", file.display());
    }
}
