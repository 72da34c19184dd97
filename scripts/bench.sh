#!/usr/bin/env bash
# Collector benchmark, one command from a clean checkout: builds release, runs every scenario
# side by side on this machine in one run, prints one table and writes it, with the command,
# the machine and the date, into bench/README.md (between the results markers).
#
#   scripts/bench.sh                      # 1,000,000 stores, durability as the collector defaults
#   scripts/bench.sh --stores 200000      # a smaller estate (see bench/README.md)
#   scripts/bench.sh --durability full    # any landmeter-bench flag is passed through
#   scripts/bench.sh --collector-only     # only the collector half
#   scripts/bench.sh --agent-only         # only the agent half (scripts/bench-agent.sh)
#
# Without either flag it runs the collector half, then the agent half (agent versus Prowler,
# Cloud Custodian and a boto3 script on moto and ministack, scripts/bench-agent.sh), and
# prints both tables; each half writes its own table into bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

collector=1
agent=1
collector_args=()
for arg in "$@"; do
  case "$arg" in
    --collector-only) agent=0 ;;
    --agent-only) collector=0 ;;
    *) collector_args+=("$arg") ;;
  esac
done
set -- "${collector_args[@]}"

cargo build --workspace --release --bins
if [ "$collector" = 0 ]; then
  exec scripts/bench-agent.sh --no-build
fi
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

if [ "$agent" = 1 ]; then
  scripts/bench-agent.sh --no-build
  echo
  echo "Collector:"
  cat "$out"
fi
