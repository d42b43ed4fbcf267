#!/usr/bin/env bash
# latency.sh: the latency-bound benchmark. With the provider slow (every
# request to payq-sim answered after 200 ms) and 64 requests allowed in
# flight, the best any sender can do is 64 / 0.2 = 320 requests a second.
# This drains PAYQ_BENCH_JOBS imported payouts with `payq work --workers
# 64 --max-in-flight 64 --rate 0` on a private PostgreSQL (durable
# commits) and reports payq's rate against that bound.
#
# The rate is jobs over the time from the start of `payq work` until no
# job is left unfinished (polled every 50 ms over one connection), so it
# includes the start-up. Also printed: the rate between the first attempt
# and the last job finished, from the database's own timestamps.
# Afterwards the simulator's ledger must show each job's transaction id
# executed exactly once.
#
# Target: at least 90 % of the bound. A miss prints MISS and exits 0,
# unless PAYQ_BENCH_STRICT=1 (then 2); other failures exit 1.
#
# Usage: bench/latency.sh   (after "cmake --build build"; needs jq, curl)
# Env:   PAYQ_BENCH_JOBS        payouts (default 5000, about 16 s)
#        PAYQ_BENCH_LATENCY_MS  the simulator's latency (default 200)
#        PAYQ_BENCH_IN_FLIGHT   workers and requests in flight (default 64)
#        PAYQ_BENCH_CLAIM       payq work --claim (default: payq's own)
#        PAYQ_BENCH_TIMEOUT     seconds before giving up (default 300)
#        PAYQ_BENCH_BUILD       build directory (default build)
#        PAYQ_BENCH_STRICT      1: exit 2 on a missed target
set -euo pipefail

readonly PROG=latency.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly PG=$ROOT/scripts/pg-private
readonly TARGET_PERCENT=90
readonly POLL_S=0.05
readonly SECRET=bench-callback-secret-0123456789

JOBS=${PAYQ_BENCH_JOBS:-5000}
LATENCY_MS=${PAYQ_BENCH_LATENCY_MS:-200}
IN_FLIGHT=${PAYQ_BENCH_IN_FLIGHT:-64}
CLAIM=${PAYQ_BENCH_CLAIM:-}
TIMEOUT=${PAYQ_BENCH_TIMEOUT:-300}
BUILD=${PAYQ_BENCH_BUILD:-$ROOT/build}
STRICT=${PAYQ_BENCH_STRICT:-0}
WORK=""
SIM_PID=""
WORKER_PID=""
POLL_PID=""

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
    stop_poller
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
    for v in "$JOBS" "$LATENCY_MS" "$IN_FLIGHT" "$TIMEOUT" "${CLAIM:-1}"; do
        [[ $v =~ ^[1-9][0-9]*$ ]] || die "settings must be positive numbers"
    done
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

calc() {
    awk "BEGIN { printf \"%.2f\", $1 }"
}

start_servers() {
    local i
    WORK=$(mktemp -d /tmp/payq-bench-latency.XXXXXX)
    chmod 755 "$WORK"
    "$PG" start "$WORK" >/dev/null
    eval "$("$PG" env "$WORK")"
    "$BUILD/payq" migrate >/dev/null 2>&1 || die "payq migrate failed"
    [[ $(sql "show fsync") == on && $(sql "show synchronous_commit") == on ]] ||
        die "the server must commit durably for this benchmark"
    export PAYQ_SIM_USERNAME=bench PAYQ_SIM_PASSWORD=bench-pw
    export PAYQ_SIM_KEY=bench-key
    "$BUILD/payq-sim" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --float 1000000000000 --max-transactions 4000000 \
        --latency-ms "$LATENCY_MS-$LATENCY_MS" --log-level warn \
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
    sql "vacuum analyze" >/dev/null
}

# One psql session answers the polls, so polling costs one connection.
start_poller() {
    coproc POLL { exec psql -X -q -t -A -v ON_ERROR_STOP=1 2>&1; }
}

remaining() {
    local line
    echo "select count(*) from jobs
          where state in ('queued', 'running', 'pending');" >&"${POLL[1]}"
    read -r -t 30 line <&"${POLL[0]}" || die "the poller did not answer"
    [[ $line =~ ^[0-9]+$ ]] || die "poller: $line"
    echo "$line"
}

stop_poller() {
    [[ -n $POLL_PID ]] || return 0
    exec {POLL[1]}>&-
    wait "$POLL_PID" 2>/dev/null
    POLL_PID=""
}

drain() {
    local t0 t1 left deadline
    local -a flags=(--workers "$IN_FLIGHT" --max-in-flight "$IN_FLIGHT"
        --rate 0 --progress 1h)
    [[ -z $CLAIM ]] || flags+=(--claim "$CLAIM")
    start_poller
    t0=$(date +%s.%N)
    "$BUILD/payq" work "${flags[@]}" 2>"$WORK/work.log" &
    WORKER_PID=$!
    deadline=$((SECONDS + TIMEOUT))
    while left=$(remaining) && ((left > 0)); do
        kill -0 "$WORKER_PID" 2>/dev/null ||
            die "payq work exited early: $(tail -n 5 "$WORK/work.log")"
        ((SECONDS < deadline)) || die "$left jobs left after ${TIMEOUT}s"
        sleep "$POLL_S"
    done
    t1=$(date +%s.%N)
    stop_poller
    kill -TERM "$WORKER_PID"
    wait "$WORKER_PID" || die "payq work exited non-zero on SIGTERM"
    WORKER_PID=""
    ELAPSED=$(calc "$t1 - $t0")
    SPAN=$(sql "select extract(epoch from max(j.finished_at)
                    - min(a.created_at))
                from jobs j join attempts a on a.job_id = j.id")
}

verify() {
    local ok executed twice amount sum
    ok=$(sql "select count(*) from jobs where state = 'succeeded'")
    ((ok == JOBS)) || die "only $ok of $JOBS payouts succeeded"
    curl -sf "http://127.0.0.1:$ADMIN_PORT/_sim/ledger?limit=0" \
        >"$WORK/totals.json" || die "cannot read the simulator's ledger"
    executed=$(jq '.totals.executed' "$WORK/totals.json")
    twice=$(jq '.totals.ids_executed_twice' "$WORK/totals.json")
    sum=$(jq '.totals.deposit.succeeded_amount' "$WORK/totals.json")
    amount=$(sql "select sum(amount) from jobs")
    ((executed == JOBS && twice == 0 && sum == amount)) ||
        die "simulator executed $executed ids ($twice twice, $sum RWF);" \
            "expected $JOBS once each, $amount RWF"
    [[ $(sql "select count(*) from attempts") == "$JOBS" ]] ||
        die "a job has more than one attempt"
}

report() {
    local bound rate steady percent verdict
    bound=$(calc "$IN_FLIGHT * 1000 / $LATENCY_MS")
    rate=$(calc "$JOBS / $ELAPSED")
    steady=$(calc "$JOBS / $SPAN")
    percent=$(calc "100 * $rate / $bound")
    verdict=$(awk -v p="$percent" -v t="$TARGET_PERCENT" \
        'BEGIN { print ((p + 0 >= t + 0) ? "PASS" : "MISS") }')
    printf 'latency %d ms, %d in flight (payq work --workers %d' \
        "$LATENCY_MS" "$IN_FLIGHT" "$IN_FLIGHT"
    printf ' --max-in-flight %d%s), %d payouts\n' "$IN_FLIGHT" \
        "${CLAIM:+ --claim $CLAIM}" "$JOBS"
    printf 'payq: %s s from start, %s jobs/s; first attempt to last' \
        "$ELAPSED" "$rate"
    printf ' finish %.2f s, %s jobs/s\n' "$SPAN" "$steady"
    printf 'ledger: %d ids executed exactly once: ok\n' "$JOBS"
    printf 'bound %s jobs/s; achieved %s %% (target >= %d %%): %s\n' \
        "$bound" "$percent" "$TARGET_PERCENT" "$verdict"
    echo "latency: jobs_s=$rate bound=$bound percent=$percent $verdict"
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
