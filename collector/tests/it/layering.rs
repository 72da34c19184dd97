//! The import rules of ARCHITECTURE.md ("Import rules"), checked on the sources: each rule
//! names a folder and what no file in it may import. A rule broken by a new `use` fails here
//! with the file and line, before a reviewer has to find it.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines of code (comments dropped) in `folder` that mention any of `forbidden`.
fn offending(folder: &str, forbidden: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    let root = workspace();
    let dir = root.join(folder);
    if dir.is_file() {
        files.push(dir);
    } else {
        rust_files(&dir, &mut files);
    }
    let mut hits = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if let Some(f) = forbidden.iter().find(|f| code.contains(*f)) {
                hits.push(format!(
                    "{}:{}: {f}: {}",
                    file.strip_prefix(&root).unwrap_or(&file).display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    hits
}

#[track_caller]
fn rule(name: &str, folder: &str, forbidden: &[&str]) {
    let hits = offending(folder, forbidden);
    assert!(hits.is_empty(), "{name}:\n{}", hits.join("\n"));
}

const SURFACES: [&str; 7] = [
    "crate::api",
    "crate::report",
    "crate::evidence",
    "crate::cli",
    "crate::server",
    "crate::ingest",
    "crate::scan_end",
];

#[test]
fn map_is_pure() {
    let mut forbidden = vec!["crate::store"];
    forbidden.extend(SURFACES);
    rule(
        "1. map/ imports neither the store nor a surface",
        "collector/src/map",
        &forbidden,
    );
}

#[test]
fn the_store_interprets_nothing_and_serves_no_surface() {
    let mut forbidden = vec!["crate::map", "crate::config"];
    forbidden.extend(SURFACES);
    rule(
        "2. store/ imports nothing of map/ or a surface",
        "collector/src/store",
        &forbidden,
    );
}

#[test]
fn reports_and_evidence_take_a_scope_not_a_transport() {
    let transports = [
        "crate::api",
        "MapApi",
        "HttpState",
        "tonic::",
        "axum::",
        "crate::cli",
        "crate::server",
    ];
    rule(
        "3. report/ takes a scope and a read handle",
        "collector/src/report",
        &transports,
    );
    rule(
        "3. evidence takes a scope and a read handle",
        "collector/src/evidence.rs",
        &transports,
    );
}

#[test]
fn the_filter_grammar_belongs_to_the_api() {
    rule(
        "4. api/ never imports the CLI",
        "collector/src/api",
        &["crate::cli"],
    );
    rule(
        "4. ingest never imports the API",
        "collector/src/ingest.rs",
        &["crate::api"],
    );
}

#[test]
fn providers_never_reach_the_uplink_and_the_uplink_knows_no_cloud() {
    rule(
        "5. providers never reach the uplink or spool",
        "agent/src/providers",
        &["crate::uplink", "crate::spool", "tonic::"],
    );
    let clouds = ["crate::providers", "aws_sdk", "aws_config", "azure_"];
    rule("5. the uplink knows no cloud", "agent/src/uplink", &clouds);
    rule("5. the spool knows no cloud", "agent/src/spool.rs", &clouds);
}

#[test]
fn agent_and_collector_crates_never_depend_on_each_other() {
    let manifest = |krate: &str| {
        std::fs::read_to_string(workspace().join(krate).join("Cargo.toml")).expect("manifest")
    };
    assert!(
        !manifest("agent").contains("landmeter-collector"),
        "6. the agent depends on the collector"
    );
    assert!(
        !manifest("collector").contains("landmeter-agent"),
        "6. the collector depends on the agent"
    );
}
