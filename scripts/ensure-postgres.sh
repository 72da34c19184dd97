#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the tests (the store's second
# backend; its tests create and drop their own lm_test_* databases there, and fail, never
# skip, when it is not reachable): installs Debian's package where none is installed (trust
# auth on loopback), starts it where it is not running. Idempotent.
set -euo pipefail
if ! command -v pg_isready >/dev/null || ! ls /etc/postgresql >/dev/null 2>&1; then
    # A machine without a PostgreSQL server: Debian's package (trust auth on loopback below).
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql
    conf="$(ls -d /etc/postgresql/*/main | sort -V | tail -n 1)/pg_hba.conf"
    $sudo sed -i 's/^\(host.*127.0.0.1\/32\s*\)\S*$/\1trust/; s/^\(local\s*all\s*postgres\s*\)\S*$/\1trust/' "$conf"
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start \
        || service postgresql start
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 1
    done
fi
pg_isready -h 127.0.0.1 -p 5432
