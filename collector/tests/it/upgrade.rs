//! Upgrades: a database written by an earlier build opens in this one and migrates, keeping
//! the map, operators' tokens and the audit log.
//!
//! The fixture (`collector/tests/fixtures/map-schema-11.db`) was written by the collector at
//! schema 11 (commit 6602384, the last landed build before this test): the demo's map (every
//! store kind on both clouds, `landmeter-demo --exit --db ...`), then an admin token
//! (`landmeter token create --db ... --role admin --name upgrade-fixture`, the token in
//! `map-schema-11.token`). `scripts/make-upgrade-fixture.sh` makes the next one: run it on
//! the build before a schema change and add a test beside this one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use landmeter_collector::store::{self, Migrations, Scope, StoreError};
use landmeter_proto::v1::StoreFilter;

const FIXTURE_SCHEMA: usize = 11;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A private copy: the test must never migrate the committed fixture itself.
fn copy_of_fixture(tag: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("lm-upgrade-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = dir.join("map.db");
    std::fs::copy(fixture("map-schema-11.db"), &db).expect("fixture copied");
    (dir, db)
}

#[test]
fn a_map_written_at_schema_11_migrates_and_keeps_stores_tokens_and_audit() {
    let (dir, db) = copy_of_fixture("sqlite");
    // What the old build wrote, read with the old schema's own columns.
    let (old_version, old_stores, old_audit) = {
        let conn = rusqlite::Connection::open(&db).expect("open the fixture");
        let version: String = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .expect("schema version");
        let mut stmt = conn
            .prepare("SELECT tenant, id, custody, country FROM stores WHERE gone_at_ms IS NULL")
            .expect("stores");
        let stores: BTreeSet<(String, String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        let audit: i64 = conn
            .query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0))
            .expect("audit count");
        (version.parse::<usize>().expect("number"), stores, audit)
    };
    assert_eq!(old_version, FIXTURE_SCHEMA);
    assert!(
        old_stores.len() > 50,
        "the fixture holds the demo's map: {}",
        old_stores.len()
    );

    // A collector told not to migrate refuses it when this build's schema is newer, and
    // says how far behind it is; it opens it as is when nothing changed since.
    let url = db.display().to_string();
    match store::open_with(&url, Default::default(), Migrations::Refuse) {
        Err(StoreError::SchemaBehind { at, needs }) => {
            assert_eq!(at, FIXTURE_SCHEMA);
            assert!(needs > at);
        }
        Ok(_) => {}
        Err(e) => panic!("unexpected: {e}"),
    }

    let upgraded = store::open(&url, Default::default()).expect("migrates");
    let (views, next) = upgraded
        .list_stores(&Scope::AllTenants, &StoreFilter::default(), 100_000, "")
        .expect("list");
    assert!(next.is_empty());
    let now: BTreeSet<(String, String, String, String)> = views
        .iter()
        .map(|v| {
            (
                v.tenant.clone(),
                v.id.clone(),
                v.custody().label().to_owned(),
                v.country.clone(),
            )
        })
        .collect();
    assert_eq!(
        now, old_stores,
        "the map after the upgrade is the map before it"
    );

    let token = std::fs::read_to_string(fixture("map-schema-11.token")).expect("token");
    let record = upgraded
        .find_token(&landmeter_collector::auth::token_hash(token.trim()))
        .expect("lookup")
        .expect("the operator's token still signs in after the upgrade");
    assert_eq!(record.name, "upgrade-fixture");
    assert!(
        upgraded.audit_log(1_000_000).expect("audit").len() as i64 >= old_audit,
        "the audit log was kept"
    );
    drop(upgraded);
    // Opening again changes nothing: migrations are applied once.
    store::open_with(&url, Default::default(), Migrations::Refuse).expect("up to date now");
    std::fs::remove_dir_all(&dir).ok();
}
