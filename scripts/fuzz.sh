#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target in fuzz/ for SECONDS each (default 20).
#
#   scripts/fuzz.sh [SECONDS]
#
# Exits non-zero when a target crashes (panic, sanitizer report, timeout, out-of-memory);
# the input that did it is in fuzz/artifacts/<target>/ and the log in fuzz/target/logs/.
# Replay one:   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --target-dir fuzz/target <target> fuzz/artifacts/<target>/<file>
# Fuzz longer:  scripts/fuzz.sh 600
#
# Needs only stable Rust (plus the C/C++ compiler the main build already needs; libFuzzer
# itself is C++ built by libfuzzer-sys). Linux x86_64.
#
# Environment: FUZZ_SANITIZER (address|none; default address), FUZZ_RSS_LIMIT_MB (default
# 2048), FUZZ_TARGETS (space-separated subset; default all), FUZZ_TARGET_TIMEOUT (seconds one
# input may take, default 10).
set -euo pipefail

secs=${1:-20}
case $secs in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz_dir=$root/fuzz
target_dir=$fuzz_dir/target
cd "$root"

CARGO_FUZZ_VERSION=0.13.2
sanitizer=${FUZZ_SANITIZER:-address}
rss_limit_mb=${FUZZ_RSS_LIMIT_MB:-2048}
input_timeout=${FUZZ_TARGET_TIMEOUT:-10}

# cargo-fuzz builds with rustc flags that stable rustc refuses unless told it may: -Z flags
# (-Zsanitizer=address, the sancov -Cllvm-args) and `--cfg fuzzing`/-Cpasses=sancov-module
# need a nightly compiler. RUSTC_BOOTSTRAP=1 lets the stable compiler (the only one this
# project's machines and CI have; no nightly can be fetched) accept them. It is set here only,
# for this script's own cargo invocations in its own target dir (fuzz/target), never for the
# main build.
export RUSTC_BOOTSTRAP=1

# The pinned cargo-fuzz: the one on PATH if it is that version, else installed into
# fuzz/target/tools (not over a developer's own cargo-fuzz of another version).
tools=$target_dir/tools
export PATH=$tools/bin:$PATH
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$tools"
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
fi

flags=(--fuzz-dir "$fuzz_dir" --target-dir "$target_dir" --sanitizer "$sanitizer")

start=$(date +%s)
echo "fuzz: building all targets (sanitizer $sanitizer), then running ${targets[*]} for ${secs}s each"
cargo fuzz build "${flags[@]}"
echo "fuzz: built in $(($(date +%s) - start)) s"

mkdir -p "$target_dir/logs"
failed=()
summary=()
for t in "${targets[@]}"; do
    # New inputs go to the git-ignored working corpus (first dir); the checked-in seeds in
    # fuzz/corpus/<target> are only read.
    work=$target_dir/corpus/$t
    seeds=$fuzz_dir/corpus/$t
    mkdir -p "$work" "$seeds"
    log=$target_dir/logs/$t.log
    rc=0
    cargo fuzz run "${flags[@]}" "$t" "$work" "$seeds" -- \
        -max_total_time="$secs" -rss_limit_mb="$rss_limit_mb" -timeout="$input_timeout" \
        -print_final_stats=1 >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
    corpus=$(find "$work" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        line="ok    $t: ${runs:-?} runs in ${secs}s (${eps:-?} exec/s), cov ${cov:-?}, corpus $corpus"
    else
        failed+=("$t")
        line="FAIL  $t: exit $rc after ${runs:-?} runs; artifacts in fuzz/artifacts/$t/, log $log"
        echo "---- $t: $log (the panic or sanitizer report, then the log's end)"
        grep -m3 -A2 -E "panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer" "$log" || true
        echo "...."
        tail -n 25 "$log"
        echo "----"
    fi
    summary+=("$line")
    echo "fuzz: $line"
done

echo "fuzz: summary ($(($(date +%s) - start)) s total)"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}" >&2
    exit 1
fi
