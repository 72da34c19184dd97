#!/usr/bin/env bash
# Installs what the end-to-end tests and the demo need beside Rust: moto (the AWS emulator)
# in <repo>/.venv. Idempotent: does nothing when moto[server] 5.x is already there.
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
