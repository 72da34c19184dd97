#!/usr/bin/env bash
# The landmeter demo: installs moto if needed, builds the workspace, seeds an estate into
# moto, runs a collector and one agent scan, prints the map and serves until Ctrl-C.
# Arguments go to the demo binary: --listen ADDR, --db PATH, --moto-port N, --exit.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo build --workspace --bins
exec "${CARGO_TARGET_DIR:-$root/target}/debug/landmeter-demo" "$@"
