#!/usr/bin/env bash
# Collector benchmark, one command from a clean checkout: builds release, runs every scenario
# side by side on this machine in one run, prints one table and writes it, with the command,
# the machine and the date, into bench/README.md (between the results markers).
#
#   scripts/bench.sh                      # 1,000,000 stores, durability as the collector defaults
#   scripts/bench.sh --stores 200000      # a smaller estate (see bench/README.md)
#   scripts/bench.sh --durability full    # any landmeter-bench flag is passed through
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --release --bins
out=$(mktemp)
trap 'rm -f "$out"' EXIT
target/release/landmeter-bench "$@" | tee "$out"

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
block=$(mktemp)
{
  echo "Command: \`scripts/bench.sh${*:+ $*}\`"
  echo
  echo "Machine: $(nproc) cores ($cpu), $mem memory; $(uname -sr); rustc $(rustc --version | cut -d' ' -f2)."
  echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); git $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')."
  echo
  cat "$out"
} > "$block"

readme=bench/README.md
awk -v block="$block" '
  /<!-- results:begin -->/ { print; while ((getline line < block) > 0) print line; skip = 1; next }
  /<!-- results:end -->/ { skip = 0 }
  !skip { print }
' "$readme" > "$readme.new" && mv "$readme.new" "$readme"
rm -f "$block"
echo "results written to $readme" >&2
