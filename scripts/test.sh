#!/usr/bin/env bash
# Runs every test: unit tests, the collector's gRPC/SQLite integration tests and the
# end-to-end tests against moto (installed into .venv by scripts/setup.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
export LANDMETER_MOTO_SERVER="${LANDMETER_MOTO_SERVER:-$PWD/.venv/bin/moto_server}"
cargo build --workspace --bins --tests
cargo test --workspace "$@"
