#!/usr/bin/env bash
# cargo deny (deny.toml): licences, banned crates (a second TLS stack), sources, and the
# RustSec advisories. Licences, bans and sources fail CI on any finding.
#
# Advisories need the RustSec database, which cargo-deny fetches from GitHub. Machines that
# cannot reach GitHub use a local clone: LANDMETER_ADVISORY_DB (a git repository of
# rustsec/advisory-db; default /work/.mirror/rustsec+advisory-db/repo where this workplace
# keeps one). With neither, the check is reported as NOT RUN (loudly, never as passed).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo_deny_version="0.20.2"
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $cargo_deny_version" ]; then
    echo "installing cargo-deny $cargo_deny_version"
    cargo install --locked --quiet "cargo-deny@$cargo_deny_version"
fi
# Every platform's crates, so cargo-deny's metadata works offline below.
cargo fetch --quiet

cargo deny --log-level error check licenses bans sources

mirror="${LANDMETER_ADVISORY_DB:-/work/.mirror/rustsec+advisory-db/repo}"
if [ -d "$mirror" ]; then
    # cargo-deny's directory name for the default database URL (github.com/rustsec/advisory-db).
    db_root="$root/target/advisory-dbs"
    db="$db_root/advisory-db-3157b0e258782691"
    rm -rf "$db" && mkdir -p "$db_root"
    git clone --quiet "$mirror" "$db"
    echo "advisories: RustSec database from $mirror ($(git -C "$db" log -1 --format=%cs))"
    config="$(mktemp)"
    trap 'rm -f "$config"' EXIT
    { cat deny.toml; printf '\n[advisories]\ndb-path = "%s"\n' "$db_root"; } \
        | awk '/^\[advisories\]/ { if (seen++) next } { print }' >"$config"
    cargo deny --log-level error --offline --config "$config" check advisories
elif out="$(cargo deny --log-level error check advisories 2>&1)"; then
    echo "$out"
elif echo "$out" | grep -q "advisories FAILED"; then
    echo "$out" >&2
    exit 1
else
    echo "$out" | tail -3 >&2
    echo "advisories: NOT RUN: the RustSec database is not reachable (GitHub) and there is no LANDMETER_ADVISORY_DB" >&2
fi
