#!/usr/bin/env bash
# The .deb packages, installed for real: builds them with cargo-deb from the test build
# (`--profile dev --no-build`: the packaging is what is under test, not the optimiser; a
# release is `cargo deb -p ... --profile release-small`), installs both on this machine with
# dpkg, checks the user, directories and permissions the maintainer scripts make, verifies
# the units with systemd-analyze, then runs each unit's ExecStart= as its User= with its
# Environment= (systemd is not PID 1 on CI machines): the collector serves, the agent scans
# an estate in moto, and the bucket is in the map. Purges the packages at the end.
#
# Needs root (dpkg) and Debian's dpkg, adduser and systemd-analyze; CI runs it after the tests.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ "$(id -u)" -eq 0 ] || { echo "error: $0 installs packages: run it as root" >&2; exit 1; }
for tool in dpkg adduser systemd-analyze runuser; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed (Debian)" >&2; exit 1; }
done
cargo_deb_version="3.8.0"
if [ "$(cargo deb --version 2>/dev/null)" != "$cargo_deb_version" ]; then
    echo "installing cargo-deb $cargo_deb_version"
    cargo install --locked --quiet "cargo-deb@$cargo_deb_version"
fi

work="$(mktemp -d)"
moto_pid=""
collector_pid=""
cleanup() {
    # Every process of the service user (runuser's children included), then moto: nothing
    # started here may outlive the script (it would hold what the script holds, e.g. a lock).
    pkill -u landmeter 2>/dev/null || true
    [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null || true
    [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null || true
    sleep 0.5
    pkill -KILL -u landmeter 2>/dev/null || true
    dpkg --purge landmeter-agent landmeter-collector >/dev/null 2>&1 || true
    rm -rf /etc/landmeter /var/lib/landmeter "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== build the packages"
# --tests: the feature set scripts/test.sh built with (dev-dependencies' features), so the
# binaries are already there instead of rebuilt with another tokio.
cargo build --workspace --bins --tests
for pkg in landmeter-collector landmeter-agent; do
    cargo deb -p "$pkg" --profile dev --no-build -o "$work/" 2>&1 | grep -v "dev profile is not supported\|debug symbols set\|^ *To enable" || true
done
ls "$work"/*.deb

echo "== install"
dpkg --purge landmeter-agent landmeter-collector >/dev/null 2>&1 || true
rm -rf /etc/landmeter /var/lib/landmeter
dpkg -i "$work"/landmeter-collector_*.deb "$work"/landmeter-agent_*.deb

echo "== what the maintainer scripts made"
getent passwd landmeter >/dev/null || fail "no landmeter user"
[ "$(getent passwd landmeter | cut -d: -f7)" != "/bin/bash" ] || fail "the landmeter user has a login shell"
check_mode() { # path expected-mode expected-owner:group
    local got
    got="$(stat -c '%a %U:%G' "$1")"
    [ "$got" = "$2 $3" ] || fail "$1 is $got, expected $2 $3"
}
check_mode /etc/landmeter 750 root:landmeter
check_mode /var/lib/landmeter 750 landmeter:landmeter
check_mode /var/lib/landmeter/identity 700 landmeter:landmeter
check_mode /etc/landmeter/collector.toml 640 root:landmeter
check_mode /etc/landmeter/agent.toml 640 root:landmeter
check_mode /etc/landmeter/ca/ca.key 640 root:landmeter
check_mode /etc/landmeter/tls/server.key 640 root:landmeter
grep -qx /etc/landmeter/collector.toml /var/lib/dpkg/info/landmeter-collector.conffiles \
    || fail "collector.toml is not a conffile (an upgrade would overwrite the operator's edits)"

echo "== systemd-analyze verify"
units=(/usr/lib/systemd/system/landmeter-collector.service /usr/lib/systemd/system/landmeter-agent.service
       /usr/lib/systemd/system/landmeter-agent-scan.service /usr/lib/systemd/system/landmeter-agent-scan.timer)
for unit in "${units[@]}"; do [ -f "$unit" ] || fail "$unit not installed"; done
systemd-analyze verify "${units[@]}"
echo "verified: ${units[*]##*/}"

# Runs a unit's ExecStart= as its User= with its Environment= lines (what systemd would do,
# minus the sandbox, which systemd-analyze has checked) plus the given variables.
run_unit() { # unit extra-env...
    local unit="/usr/lib/systemd/system/$1"; shift
    local user cmd
    user="$(sed -n 's/^User=//p' "$unit")"
    cmd="$(sed -n 's/^ExecStart=//p' "$unit")"
    mapfile -t envs < <(sed -n 's/^Environment=//p' "$unit")
    [ -n "$user" ] && [ -n "$cmd" ] || fail "$unit has no User= or ExecStart="
    # shellcheck disable=SC2086
    runuser -u "$user" -- env "${envs[@]}" "$@" $cmd
}

port() { "$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== moto with one bucket"
moto_port="$(port)"
"$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
moto_pid=$!
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=eu-central-1
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$moto_port/moto-api/" >/dev/null && break; sleep 0.2; done
"$root/.venv/bin/python" - "$moto_port" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="eu-central-1")
s3.create_bucket(Bucket="package-test-archive", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
PY

echo "== the collector, as landmeter-collector.service runs it"
grpc_port="$(port)"
http_port="$(port)"
run_unit landmeter-collector.service LANDMETER_LISTEN="127.0.0.1:$grpc_port" \
    LANDMETER_HTTP_LISTEN="127.0.0.1:$http_port" >"$work/collector.log" 2>&1 &
collector_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/ready" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$http_port/ready" >/dev/null || { cat "$work/collector.log"; fail "the collector did not become ready"; }
[ -f /var/lib/landmeter/landmeter.db ] || fail "no map database in /var/lib/landmeter"
check_mode /var/lib/landmeter/landmeter.db 600 landmeter:landmeter

echo "== enrol the agent with a one-time token: its key is made on its host, in its state directory"
enrolment="$(runuser -u landmeter -- landmeter enroll-token create --db /var/lib/landmeter/landmeter.db \
    --ca-dir /etc/landmeter/ca --tenant package-test --name agent-1 --expires 1h --log-format text)"
token="$(echo "$enrolment" | sed -n 's/^ *token: *\(lme_[^ ]*\).*/\1/p' | head -1)"
fingerprint="$(echo "$enrolment" | grep -o 'sha256:[0-9a-f]*' | head -1)"
[ -n "$token" ] && [ -n "$fingerprint" ] || { echo "$enrolment"; fail "no enrolment token or fingerprint"; }
runuser -u landmeter -- landmeter-agent enroll --collector "https://localhost:$grpc_port" \
    --token "$token" --ca-fingerprint "$fingerprint" --dir /var/lib/landmeter/identity >"$work/enrol.log" 2>&1 \
    || { cat "$work/enrol.log"; fail "landmeter-agent enroll failed"; }
check_mode /var/lib/landmeter/identity/agent.key 600 landmeter:landmeter
sed -i "s#^url = .*#url = \"https://localhost:$grpc_port\"#" /etc/landmeter/agent.toml
cat >>/etc/landmeter/agent.toml <<TOML

[aws]
endpoint_url = "http://127.0.0.1:$moto_port"
regions = ["eu-central-1"]
TOML

echo "== one scan, as landmeter-agent-scan.service runs it"
run_unit landmeter-agent-scan.service AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    AWS_REGION=eu-central-1 AWS_EC2_METADATA_DISABLED=true >"$work/agent.log" 2>&1 \
    || { tail -20 "$work/agent.log"; fail "the packaged agent's scan failed"; }
[ -d /var/lib/landmeter/spool ] || fail "the agent kept no spool in its state directory"

echo "== the bucket is in the tenant's map"
token="$(runuser -u landmeter -- landmeter token create --db /var/lib/landmeter/landmeter.db \
    --role admin --name package-test --log-format text | grep -o 'lm_[A-Za-z0-9_-]*' | head -1)"
[ -n "$token" ] || fail "no token"
listing="$(landmeter stores --server "https://localhost:$grpc_port" --ca-file /etc/landmeter/ca/ca.pem \
    --token "$token" --format csv || true)"
echo "$listing" | grep -q "package-test-archive" || { echo "$listing"; fail "the scanned bucket is not in the map"; }
echo "$listing" | grep "package-test-archive" | grep -q "DE" || { echo "$listing"; fail "the bucket's country is not DE"; }
echo "packages: installed, units verified, collector served, agent scanned, bucket mapped"
