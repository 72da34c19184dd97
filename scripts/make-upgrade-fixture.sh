#!/usr/bin/env bash
# Writes the upgrade test's fixture with THIS build: the demo's map in a fresh SQLite file and
# an admin token, as collector/tests/fixtures/map-schema-<N>.db and .token (N = this build's
# schema version). Run it on the last build before a schema change; then add a test beside
# collector/tests/it/upgrade.rs that opens it with the new build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --workspace --bins
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin/landmeter-demo" --exit --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --db "$work/map.db" >/dev/null
token="$("$bin/landmeter" token create --db "$work/map.db" --role admin --name upgrade-fixture \
    --expires never --log-format text | grep -o 'lm_[A-Za-z0-9_-]*' | head -1)"
version="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT value FROM meta WHERE key=\"schema_version\"").fetchone()[0])' "$work/map.db")"
# One file, no WAL beside it.
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.execute("PRAGMA journal_mode=DELETE"); c.execute("VACUUM"); c.close()' "$work/map.db"
out="collector/tests/fixtures/map-schema-$version"
cp "$work/map.db" "$out.db"
printf '%s\n' "$token" > "$out.token"
echo "wrote $out.db ($(stat -c %s "$out.db") bytes) and $out.token"
