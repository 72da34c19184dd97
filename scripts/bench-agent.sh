#!/usr/bin/env bash
# Agent-versus-peers benchmark, one command from a clean checkout: installs the emulators and
# the peers (moto via scripts/setup.sh into .venv; ministack, Prowler and Cloud Custodian each
# into their own virtualenv under .bench/), builds release and the agent as shipped
# (release-small), seeds 1,000 and 5,000-bucket estates into moto and ministack, runs the
# landmeter agent, a sequential boto3 script,
# Prowler and Cloud Custodian against a counting proxy in front of each emulator, prints one
# table and writes it, with the command, the machine and the date, into bench/README.md
# (between the agent-results markers). See bench/README.md, "Agent scan".
#
#   scripts/bench-agent.sh            # the full run (about 15 minutes)
#   scripts/bench-agent.sh --quick    # 1,000 buckets, agent and boto3 only (iteration)
#   scripts/bench-agent.sh --kinds    # the AWS store kinds instead of buckets: 50 stores of
#                                     # each kind in moto, requests per store per kind
#                                     # (bench/README.md, "Store kinds: requests per store")
#   scripts/bench-agent.sh --no-build # use the release binaries already built
#   other flags go to bench/agent/run.py (--emulators, --sizes, --tools, --kinds-count, ...)
# The binaries are built into and run from $CARGO_TARGET_DIR when set, else target/.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
quick=0
kinds=0
pass=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --kinds) kinds=1 ;;
        --no-build) build=0 ;;
        *) pass+=("$arg") ;;
    esac
done

# Pinned peers and emulator (versions of 2026-11); each in its own venv so their
# dependency pins (Prowler pins boto3) cannot collide with moto's.
declare -A pins=([ministack]="ministack==1.5.33" [prowler]="prowler==5.46.0" [c7n]="c7n==0.9.53")
declare -A bins=([ministack]=ministack [prowler]=prowler [c7n]=custodian)

bash scripts/setup.sh >&2
test -x /usr/bin/time || { echo "error: GNU time is needed (apt-get install time)" >&2; exit 1; }
mkdir -p .bench
python="${PYTHON:-python3}"
for tool in ministack prowler c7n; do
    if [ "$kinds" = 1 ]; then break; fi  # moto only
    if [ "$quick" = 1 ] && [ "$tool" != ministack ]; then continue; fi
    venv=".bench/$tool"
    if [ -x "$venv/bin/${bins[$tool]}" ]; then continue; fi
    echo "installing ${pins[$tool]} into $venv (log: .bench/install-$tool.log)" >&2
    if ! { "$python" -m venv "$venv" && "$venv/bin/pip" install "${pins[$tool]}"; } \
        > ".bench/install-$tool.log" 2>&1; then
        # The table then says the peer is not installed; the log says why.
        echo "warning: $tool did not install, see .bench/install-$tool.log" >&2
    fi
done

if [ "$build" = 1 ]; then
    cargo build --workspace --release --bins >&2
    # The agent measured is the shipped one (bench/agent/run.py --agent-profile).
    cargo build --locked --profile release-small -p landmeter-agent >&2
fi

args=()
command="scripts/bench-agent.sh"
markers=agent-results
if [ "$kinds" = 1 ]; then
    args+=(--scenario kinds)
    command="scripts/bench-agent.sh --kinds"
    markers=kinds-results
elif [ "$quick" = 1 ]; then
    args+=(--sizes 1000 --tools agent,boto3)
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
.venv/bin/python bench/agent/run.py "${args[@]}" "${pass[@]}" | tee "$out"

if [ "$quick" = 1 ] || [ "${#pass[@]}" -gt 0 ]; then
    echo "(partial run: bench/README.md left as it is)" >&2
    exit 0
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
block=$(mktemp)
{
    echo "Command: \`$command\`"
    echo
    echo "Machine: $(nproc) cores ($cpu), $mem memory; $(uname -sr); rustc $(rustc --version | cut -d' ' -f2); $(.venv/bin/python --version)."
    echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); git $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')."
    echo
    cat "$out"
    echo
} > "$block"
readme=bench/README.md
awk -v block="$block" -v begin="<!-- $markers:begin -->" -v end="<!-- $markers:end -->" '
  $0 == begin { print; while ((getline line < block) > 0) print line; skip = 1; next }
  $0 == end { skip = 0 }
  !skip { print }
' "$readme" > "$readme.new" && mv "$readme.new" "$readme"
rm -f "$block"
echo "results written to $readme" >&2
