#!/usr/bin/env bash
# Tests of scripts/pg-private: status of a running and a stopped
# cluster (exit 0 and 3), a second start that changes nothing, the
# short socket directory used when DIR is too long for a socket path,
# the cluster owner (postgres when run as root), restart, and refusal of
# a PostgreSQL that is not version 15, binaries or data directory.
# One cluster serves every step, so the test takes a few seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly PG=$ROOT/scripts/pg-private
TMP=$(mktemp -d /tmp/payq-pgt.XXXXXX)
# The cluster owner (postgres, under root) must be able to enter it.
chmod 755 "$TMP"
# Long enough that DIR/run/.s.PGSQL.5432 passes the 100-byte limit.
DIR=$TMP/$(printf 'a-directory-name-long-enough-%.0s' 1 2 3)
FAILED=0
STEPS=0

cleanup() {
    set +e
    "$PG" stop "$DIR" >/dev/null 2>&1
    [[ -s $DIR/socket-dir ]] && rm -rf "$(cat "$DIR/socket-dir")"
    rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    FAILED=$((FAILED + 1))
}

# run WANT_RC CMD...: runs CMD, leaves its stdout and stderr in OUT and
# ERR, and fails the step unless it exits WANT_RC.
run() {
    local want=$1 rc=0
    shift
    STEPS=$((STEPS + 1))
    "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
    OUT=$(cat "$TMP/out")
    ERR=$(cat "$TMP/err")
    ((rc == want)) || fail "$*: wanted exit $want, got $rc: $OUT $ERR"
}

expect() {
    [[ $1 == *"$2"* ]] || fail "wanted '$2' in: $1"
}

run 2 "$PG"
run 3 "$PG" status "$DIR"
expect "$OUT" "not running"

run 0 "$PG" start "$DIR"
expect "$OUT" "creating cluster"
expect "$OUT" "started (pid "
(($(printf %s "$DIR/run/.s.PGSQL.5432" | wc -c) > 100)) ||
    fail "DIR is not long enough to need the fallback"
SOCK=$(cat "$DIR/socket-dir")
[[ $SOCK == /tmp/payq-pg.* && -S $SOCK/.s.PGSQL.5432 ]] ||
    fail "no socket in the short directory '$SOCK'"
[[ ! -e $DIR/run ]] || fail "$DIR/run made although it is too long"
expect "$OUT" "socket in $SOCK"
PID=$(head -n 1 "$DIR/data/postmaster.pid")

OWNER=$(id -un)
((EUID != 0)) || OWNER=postgres
[[ $(stat -c %U "$DIR/data") == "$OWNER" ]] ||
    fail "data belongs to $(stat -c %U "$DIR/data"), not $OWNER"
[[ $(stat -c %U "/proc/$PID") == "$OWNER" ]] ||
    fail "server runs as $(stat -c %U "/proc/$PID"), not $OWNER"
[[ $(stat -c %a "$SOCK") == 700 ]] || fail "socket directory not private"

run 0 "$PG" status "$DIR"
expect "$OUT" "running (pid $PID, socket in $SOCK)"

# A second start is a no-op: same server, no new cluster.
run 0 "$PG" start "$DIR"
expect "$OUT" "already running (pid $PID)"
[[ $OUT != *"creating cluster"* ]] || fail "second start ran initdb"
[[ $(head -n 1 "$DIR/data/postmaster.pid") == "$PID" ]] ||
    fail "second start replaced the server"

# env's settings reach this server, which is PostgreSQL 15.
run 0 "$PG" env "$DIR"
ENV_OUT=$OUT
VERSION=$(eval "$ENV_OUT" &&
    /usr/lib/postgresql/15/bin/psql "$DATABASE_URL" -XAtc \
        "select current_setting('server_version_num')::int / 10000" &&
    [[ $PGHOST == "$SOCK" ]])
[[ $VERSION == 15 ]] || fail "env: wanted server 15, got '$VERSION'"
run 0 "$PG" psql "$DIR" -XAtc "select current_database()"
expect "$OUT" payq

run 0 "$PG" stop "$DIR"
expect "$OUT" "stopped"
run 3 "$PG" status "$DIR"
expect "$OUT" "not running"
run 0 "$PG" stop "$DIR"
expect "$OUT" "not running"

# Restart: the same cluster and the recorded socket directory.
run 0 "$PG" start "$DIR"
[[ $OUT != *"creating cluster"* ]] || fail "restart ran initdb"
expect "$OUT" "socket in $SOCK"
run 0 "$PG" status "$DIR"
run 0 "$PG" stop "$DIR"

# Another major version's binaries are refused, before anything runs.
FAKE=$TMP/fake-bin
mkdir "$FAKE"
for tool in pg_ctl initdb psql; do
    printf '#!/bin/sh\necho called >>%s/called\nexit 99\n' "$TMP" \
        >"$FAKE/$tool"
done
printf '#!/bin/sh\necho "postgres (PostgreSQL) 16.4"\n' >"$FAKE/postgres"
chmod 755 "$FAKE"/*
run 1 env PAYQ_PG_BINDIR="$FAKE" "$PG" status "$DIR"
expect "$ERR" "$FAKE/postgres is PostgreSQL 16, but payq needs PostgreSQL 15"
run 1 env PAYQ_PG_BINDIR="$FAKE" "$PG" start "$DIR"
[[ ! -e $TMP/called ]] || fail "a PostgreSQL 16 tool was run"
run 1 env PAYQ_PG_BINDIR="$TMP/nothing" "$PG" status "$DIR"
expect "$ERR" "PostgreSQL 15 server not found"

# So is a data directory another major version made.
OLD=$TMP/old
mkdir -p "$OLD/data"
echo 14 >"$OLD/data/PG_VERSION"
((EUID != 0)) || chown -R postgres: "$OLD"
run 1 "$PG" start "$OLD"
expect "$ERR" "was made by PostgreSQL 14, but payq uses PostgreSQL 15"

if ((FAILED > 0)); then
    echo "test_pg_private: $FAILED of $STEPS steps failed"
    exit 1
fi
echo "test_pg_private: $STEPS steps passed"
