#!/usr/bin/env bash
# A PostgreSQL server for the tests, on this machine (needs root): installs Debian's
# `postgresql` if missing, keeps a cluster of its own (`fuyuan-test`, on 127.0.0.1 only, port
# $FUYUAN_TEST_PG_PORT or 55432, durability off: its data is thrown away), starts it, and makes
# sure the tests' role exists (it may create databases: every test gets a fresh one; and end
# other sessions, so `DROP DATABASE … WITH (FORCE)` also stops an autovacuum worker there).
# Prints the URL for TEST_DATABASE_URL on standard output, everything else on standard error.
# Idempotent; a second run only checks that the cluster is up.
#
# usage: TEST_DATABASE_URL="$(scripts/postgres.sh)"
set -euo pipefail

CLUSTER=fuyuan-test
PORT="${FUYUAN_TEST_PG_PORT:-55432}"
ROLE=fuyuan_test
PASSWORD=test-only-password  # reachable from this machine only, for throw-away test databases

_say() { echo "fuyuan-bot: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
    _say "setting up PostgreSQL for the tests needs root."
    exit 1
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    _say "installing PostgreSQL (Debian's postgresql package)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
fi

# The newest server version installed.
VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"

if ! pg_lsclusters -h | awk '{print $1 "/" $2}' | grep -qx "$VERSION/$CLUSTER"; then
    _say "creating the PostgreSQL cluster $VERSION/$CLUSTER on 127.0.0.1:$PORT..."
    pg_createcluster "$VERSION" "$CLUSTER" --port "$PORT" >&2
    cat >"/etc/postgresql/$VERSION/$CLUSTER/conf.d/fuyuan-test.conf" <<'CONF'
# Tests only: reachable from this machine, nothing kept through a crash.
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
fi

status="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}')"
if [ "$status" != online ]; then
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi
PORT="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $3}')"

_psql() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" -d postgres "$@"; }

_psql -c "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN CREATE ROLE $ROLE; END IF;
END \$\$" -c "ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'" \
    -c "GRANT pg_signal_backend TO $ROLE" >&2

echo "postgresql+asyncpg://$ROLE:$PASSWORD@127.0.0.1:$PORT/postgres"
