#!/usr/bin/env bash
# Installs what the end-to-end tests and the demo need beside Rust: moto (the AWS emulator)
# in <repo>/.venv, Azurite (the Azure Storage emulator, Node 20) and s3rver (an S3 server
# for the S3-compatible providers) in <repo>/.tools.
# Idempotent: does nothing for a tool whose pinned version is already there.
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

# Chromium and chromedriver (Debian packages) for the headless-browser UI tests.
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "chromium already installed: /usr/bin/chromium, /usr/bin/chromedriver"
elif [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    # The demo does not need a browser; the UI tests fail and point here.
    echo "warning: chromium missing and no root to install it: run 'apt-get install chromium chromium-driver' as root for the UI tests" >&2
else
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing chromium and chromium-driver with apt-get"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver
    test -x /usr/bin/chromedriver || { echo "error: /usr/bin/chromedriver missing after install" >&2; exit 1; }
fi
