#!/usr/bin/env bash
# memory.sh: the memory benchmark. Measures the resident memory of
# `payq work --workers 32` while it drains PAYQ_BENCH_JOBS imported
# payouts through payq-sim (zero latency, so the pool runs flat out) on a
# private PostgreSQL: VmRSS from /proc/PID/status every 0.5 s, the first
# PAYQ_BENCH_WARMUP seconds left out as start-up, then the minimum,
# median and maximum of the samples taken while jobs were still queued,
# and the kernel's peak (VmHWM) at the end.
#
# Target: steady RSS (the largest steady sample) at most 64 MiB. A miss
# prints MISS and exits 0, unless PAYQ_BENCH_STRICT=1 (then 2); other
# failures (a job not paid exactly once) exit 1.
#
# Usage: bench/memory.sh   (after "cmake --build build"; needs jq, curl)
# Env:   PAYQ_BENCH_JOBS     payouts (default 20000)
#        PAYQ_BENCH_WORKERS  payq work --workers (default 32)
#        PAYQ_BENCH_WARMUP   seconds of start-up not sampled (default 2)
#        PAYQ_BENCH_TIMEOUT  seconds before giving up (default 300)
#        PAYQ_BENCH_BUILD    build directory (default build)
#        PAYQ_BENCH_STRICT   1: exit 2 on a missed target
set -euo pipefail

readonly PROG=memory.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly PG=$ROOT/scripts/pg-private
readonly TARGET_MIB=64
readonly SAMPLE_S=0.5
readonly SECRET=bench-callback-secret-0123456789

JOBS=${PAYQ_BENCH_JOBS:-20000}
WORKERS=${PAYQ_BENCH_WORKERS:-32}
WARMUP=${PAYQ_BENCH_WARMUP:-2}
TIMEOUT=${PAYQ_BENCH_TIMEOUT:-300}
BUILD=${PAYQ_BENCH_BUILD:-$ROOT/build}
STRICT=${PAYQ_BENCH_STRICT:-0}
WORK=""
SIM_PID=""
WORKER_PID=""

die() {
    echo "$PROG: $*" >&2
    exit 1
}

stop_pid() {
    [[ -n $1 ]] || return 0
    kill "$1" 2>/dev/null && wait "$1" 2>/dev/null
    return 0
}

cleanup() {
    local rc=$?
    set +e
    stop_pid "$WORKER_PID"
    stop_pid "$SIM_PID"
    if [[ -n $WORK ]]; then
        "$PG" stop "$WORK" >/dev/null 2>&1
        rm -rf "$WORK"
    fi
    exit "$rc"
}

check() {
    local v
    for v in "$JOBS" "$WORKERS" "$TIMEOUT"; do
        [[ $v =~ ^[1-9][0-9]*$ ]] || die "settings must be positive numbers"
    done
    [[ $WARMUP =~ ^[0-9]+$ ]] || die "PAYQ_BENCH_WARMUP must be a number"
    [[ $STRICT == [01] ]] || die "PAYQ_BENCH_STRICT must be 0 or 1"
    for v in payq payq-sim payq-gen-fees; do
        [[ -x $BUILD/$v ]] ||
            die "$BUILD/$v not found; run cmake --build build first"
    done
    for v in jq curl psql; do
        command -v "$v" >/dev/null || die "$v not found"
    done
}

sql() {
    psql -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}

start_servers() {
    local i
    WORK=$(mktemp -d /tmp/payq-bench-memory.XXXXXX)
    chmod 755 "$WORK"
    "$PG" start "$WORK" >/dev/null
    eval "$("$PG" env "$WORK")"
    "$BUILD/payq" migrate >/dev/null 2>&1 || die "payq migrate failed"
    export PAYQ_SIM_USERNAME=bench PAYQ_SIM_PASSWORD=bench-pw
    export PAYQ_SIM_KEY=bench-key
    "$BUILD/payq-sim" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --float 1000000000000 --max-transactions 4000000 --log-level warn \
        >"$WORK/sim.out" 2>"$WORK/sim.err" &
    SIM_PID=$!
    for i in $(seq 100); do
        grep -q "listening port=" "$WORK/sim.out" 2>/dev/null && break
        sleep 0.05
    done
    read -r SIM_PORT ADMIN_PORT < <(sed -n \
        's/.*listening port=\([0-9]*\) admin_port=\([0-9]*\).*/\1 \2/p' \
        "$WORK/sim.out")
    [[ -n ${ADMIN_PORT:-} ]] || die "payq-sim did not start"
    export PAYQ_USERNAME=bench PAYQ_PASSWORD=bench-pw PAYQ_KEY=bench-key
    export PAYQ_API_URL=http://127.0.0.1:$SIM_PORT/ PAYQ_TXN_PREFIX=bench
    export PAYQ_CALLBACK_URL=http://127.0.0.1:9/cb
    export PAYQ_CALLBACK_SECRET=$SECRET
}

import_jobs() {
    "$BUILD/payq-gen-fees" --kind deposit --rows "$JOBS" --seed 1 \
        >"$WORK/payouts.csv"
    "$BUILD/payq" import --kind deposit "$WORK/payouts.csv" \
        >"$WORK/import.out" 2>"$WORK/import.err" ||
        die "payq import failed: $(tail -n 5 "$WORK/import.err")"
}

# A /proc/PID/status field in KiB ("VmRSS", "VmHWM"); empty when gone.
status_kib() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null ||
        true
}

queued() {
    sql "select count(*) from jobs where state = 'queued'"
}

# Samples until no job is queued any more; the last few in flight are
# the tail of the drain, not its steady state.
drain() {
    local started deadline kib
    : >"$WORK/rss.kib"
    "$BUILD/payq" work --workers "$WORKERS" --rate 0 --progress 1h \
        2>"$WORK/work.log" &
    WORKER_PID=$!
    started=$SECONDS
    deadline=$((SECONDS + TIMEOUT))
    while (($(queued) > 0)); do
        kill -0 "$WORKER_PID" 2>/dev/null ||
            die "payq work exited early: $(tail -n 5 "$WORK/work.log")"
        ((SECONDS < deadline)) || die "jobs still queued after ${TIMEOUT}s"
        kib=$(status_kib "$WORKER_PID" VmRSS)
        if [[ -n $kib ]] && ((SECONDS - started >= WARMUP)); then
            echo "$kib" >>"$WORK/rss.kib"
        fi
        sleep "$SAMPLE_S"
    done
    while (($(sql "select count(*) from jobs
                   where state in ('running', 'pending')") > 0)); do
        ((SECONDS < deadline)) || die "jobs still running after ${TIMEOUT}s"
        sleep 0.1
    done
    HWM_KIB=$(status_kib "$WORKER_PID" VmHWM)
    DRAIN_S=$((SECONDS - started))
    kill -TERM "$WORKER_PID"
    wait "$WORKER_PID" || die "payq work exited non-zero on SIGTERM"
    WORKER_PID=""
}

verify() {
    local ok executed twice
    ok=$(sql "select count(*) from jobs where state = 'succeeded'")
    ((ok == JOBS)) || die "only $ok of $JOBS payouts succeeded"
    curl -sf "http://127.0.0.1:$ADMIN_PORT/_sim/ledger?limit=0" \
        >"$WORK/totals.json" || die "cannot read the simulator's ledger"
    executed=$(jq '.totals.executed' "$WORK/totals.json")
    twice=$(jq '.totals.ids_executed_twice' "$WORK/totals.json")
    ((executed == JOBS && twice == 0)) ||
        die "simulator executed $executed ids ($twice twice), not $JOBS"
}

mib() {
    awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

report() {
    local n min med max verdict
    n=$(wc -l <"$WORK/rss.kib")
    ((n > 0)) || die "no steady sample: the drain took under" \
        "${WARMUP}s; raise PAYQ_BENCH_JOBS"
    read -r min med max < <(sort -n "$WORK/rss.kib" | awk '
        { v[NR] = $1 }
        END { print v[1], v[int((NR + 1) / 2)], v[NR] }')
    verdict=$(awk -v m="$(mib "$max")" -v t="$TARGET_MIB" \
        'BEGIN { print ((m + 0 <= t + 0) ? "PASS" : "MISS") }')
    printf 'payq work --workers %d, %d payouts drained in %d s\n' \
        "$WORKERS" "$JOBS" "$DRAIN_S"
    printf 'VmRSS over %d samples (every %s s after %d s): min %s MiB,' \
        "$n" "$SAMPLE_S" "$WARMUP" "$(mib "$min")"
    printf ' median %s MiB, max %s MiB; peak VmHWM %s MiB\n' \
        "$(mib "$med")" "$(mib "$max")" "$(mib "${HWM_KIB:-0}")"
    printf 'ledger: %d ids executed exactly once: ok\n' "$JOBS"
    printf 'steady RSS %s MiB (target <= %d MiB): %s\n' "$(mib "$max")" \
        "$TARGET_MIB" "$verdict"
    echo "memory: rss_mib=$(mib "$max") hwm_mib=$(mib "${HWM_KIB:-0}")" \
        "$verdict"
    [[ $verdict == MISS && $STRICT == 1 ]] && exit 2
    return 0
}

main() {
    cd "$ROOT"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    check
    start_servers
    import_jobs
    drain
    verify
    report
}

main "$@"
