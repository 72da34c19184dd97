#!/usr/bin/env bash
# Runs every test: unit tests, the collector's gRPC/SQLite integration tests and the
# end-to-end tests against moto (installed into .venv by scripts/setup.sh), and the store's
# PostgreSQL backend against the machine's server (scripts/ensure-postgres.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/setup-browser.sh
scripts/ensure-postgres.sh
export LANDMETER_TEST_PG="${LANDMETER_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
export LANDMETER_MOTO_SERVER="${LANDMETER_MOTO_SERVER:-$PWD/.venv/bin/moto_server}"
cargo build --workspace --bins --tests
cargo test --workspace "$@"
