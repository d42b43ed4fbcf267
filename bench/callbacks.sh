#!/usr/bin/env bash
# callbacks.sh: the callback receiver benchmark. Drives `payq callbacks`
# with wrk (authenticated pay callbacks, each for its own pending job)
# against a private PostgreSQL with durable commits (fsync and
# synchronous_commit on), and prints its rate and latency percentiles
# beside the write-transaction rate pgbench reaches on the same server in
# the same run.
#
# Targets: at least 6,000 callbacks per second sustained, p99 under
# 50 ms; and never a 200 before the commit: after the run, the callbacks
# table must hold at least as many rows as wrk counted 200 answers.
#
# Usage: bench/callbacks.sh   (after "cmake --build build"; needs wrk)
# Env:   PAYQ_BENCH_SECONDS      wrk run length (default 20)
#        PAYQ_BENCH_CONNECTIONS  wrk connections (default 64)
#        PAYQ_BENCH_JOBS         pending jobs seeded (default 200000)
#        PAYQ_BENCH_DB_CONNS     receiver database connections (default 2)
#        PAYQ_BENCH_BUILD        build directory (default build)
set -euo pipefail

readonly PROG=callbacks.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly PG=$ROOT/scripts/pg-private
readonly TARGET_RATE=6000
readonly TARGET_P99_MS=50
readonly SECRET=bench-callback-secret-0123456789

SECONDS_RUN=${PAYQ_BENCH_SECONDS:-20}
CONNS=${PAYQ_BENCH_CONNECTIONS:-64}
JOBS=${PAYQ_BENCH_JOBS:-200000}
DB_CONNS=${PAYQ_BENCH_DB_CONNS:-2}
BUILD=${PAYQ_BENCH_BUILD:-$ROOT/build}
WORK=""
RECEIVER_PID=""

die() {
    echo "$PROG: $*" >&2
    exit 1
}

cleanup() {
    local rc=$?
    set +e
    [[ -n $RECEIVER_PID ]] && kill "$RECEIVER_PID" 2>/dev/null &&
        wait "$RECEIVER_PID" 2>/dev/null
    if [[ -n $WORK ]]; then
        "$PG" stop "$WORK" >/dev/null 2>&1
        rm -rf "$WORK"
    fi
    exit "$rc"
}

check() {
    local v
    for v in "$SECONDS_RUN" "$CONNS" "$JOBS" "$DB_CONNS"; do
        [[ $v =~ ^[1-9][0-9]*$ ]] || die "settings must be positive numbers"
    done
    for v in payq payq-gen-callbacks; do
        [[ -x $BUILD/$v ]] ||
            die "$BUILD/$v not found; run cmake --build build first"
    done
    command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
    command -v pgbench >/dev/null ||
        PATH=$PATH:$(pg_config --bindir)
    command -v pgbench >/dev/null || die "pgbench not found"
}

sql() {
    psql -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}

start_db() {
    WORK=$(mktemp -d /tmp/payq-bench-cb.XXXXXX)
    chmod 755 "$WORK"
    "$PG" start "$WORK" >/dev/null
    eval "$("$PG" env "$WORK")"
    "$BUILD/payq" migrate >/dev/null 2>&1
    [[ $(sql "show fsync") == on && $(sql "show synchronous_commit") == on ]] ||
        die "the server must commit durably for this benchmark"
}

# JOBS pending collections, each with its pending attempt B-i-1.
seed() {
    sql "insert into batches (file_name, file_size, file_sha256, kind,
             approved_at, approved_by)
         values ('bench', 1, repeat('b', 64), 'pay', now(), 'bench');
         insert into jobs (batch_id, kind, phone, amount, reference, state,
             attempt_count, callback_deadline)
         select 1, 'pay', '25078' || lpad((g % 10000000)::text, 7, '0'),
             1000, 'B-' || g, 'pending', 1, now() + interval '1 day'
         from generate_series(1, $JOBS) g;
         insert into attempts (job_id, attempt_no, request_txn_id,
             send_count, first_sent_at, last_sent_at, outcome)
         select id, 1, 'B-' || id || '-1', 1, now(), now(), 'pending'
         from jobs;" >/dev/null
    sql "vacuum analyze" >/dev/null
    PAYQ_CALLBACK_SECRET=$SECRET "$BUILD/payq-gen-callbacks" B "$JOBS" \
        >"$WORK/callbacks.tsv"
}

pgbench_baseline() {
    pgbench -i -q -s 10 payq >/dev/null 2>&1
    PGBENCH_TPS=$(pgbench -n -c 16 -j 2 -T 10 payq 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    [[ -n $PGBENCH_TPS ]] || die "pgbench gave no figure"
}

start_receiver() {
    local i
    PAYQ_CALLBACK_SECRET=$SECRET PAYQ_LOG_LEVEL=info \
        "$BUILD/payq" callbacks --listen 127.0.0.1:0 \
        --connections "$DB_CONNS" 2>"$WORK/receiver.log" &
    RECEIVER_PID=$!
    for i in $(seq 100); do
        PORT=$(sed -n 's/.*callback receiver listening.*port=\([0-9]*\).*/\1/p' \
            "$WORK/receiver.log")
        [[ -n $PORT ]] && return
        sleep 0.05
    done
    die "payq callbacks did not start: $(cat "$WORK/receiver.log")"
}

write_lua() {
    cat >"$WORK/post.lua" <<EOF
-- Each wrk thread posts its own share of the callbacks, in order.
local threads = {}
local counter = 0
function setup(thread)
    counter = counter + 1
    thread:set("id", counter)
    table.insert(threads, thread)
end
function init(args)
    lines = {}
    for line in io.lines("$WORK/callbacks.tsv") do
        local tab = line:find("\t", 1, true)
        lines[#lines + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
    end
    next_index = id
    ok = 0
    other = 0
end
function request()
    local l = lines[(next_index - 1) % #lines + 1]
    next_index = next_index + 2
    return wrk.format("POST", l[1],
        { ["Content-Type"] = "application/json" }, l[2])
end
function response(status, headers, body)
    if status == 200 then ok = ok + 1 else other = other + 1 end
end
function done(summary, latency, requests)
    local ok_total, other_total = 0, 0
    for _, t in ipairs(threads) do
        ok_total = ok_total + t:get("ok")
        other_total = other_total + t:get("other")
    end
    io.write(string.format("RESULT ok=%d other=%d p50=%.2f p99=%.2f " ..
        "max=%.2f\n", ok_total, other_total,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000))
end
EOF
}

run_wrk() {
    wrk -t 2 -c "$CONNS" -d "${SECONDS_RUN}s" -s "$WORK/post.lua" \
        "http://127.0.0.1:$PORT" >"$WORK/wrk.out" 2>&1 ||
        die "wrk failed: $(cat "$WORK/wrk.out")"
    read -r OK OTHER P50 P99 MAX < <(sed -n \
        's/^RESULT ok=\([0-9]*\) other=\([0-9]*\) p50=\([0-9.]*\) p99=\([0-9.]*\) max=\([0-9.]*\)/\1 \2 \3 \4 \5/p' \
        "$WORK/wrk.out")
    [[ -n $OK ]] || die "no result from wrk: $(cat "$WORK/wrk.out")"
}

report() {
    local rows rate verdict
    kill "$RECEIVER_PID"
    wait "$RECEIVER_PID" || die "payq callbacks exited non-zero"
    RECEIVER_PID=""
    rows=$(sql "select count(*) from callbacks")
    rate=$((OK / SECONDS_RUN))
    verdict=PASS
    ((rate >= TARGET_RATE)) || verdict=MISS
    awk "BEGIN { exit !($P99 < $TARGET_P99_MS) }" || verdict=MISS
    printf 'pgbench (TPC-B-like, 16 clients, durable): %s tps\n' \
        "$PGBENCH_TPS"
    printf 'payq callbacks: %d x 200 in %d s = %d/s, %d other answers;' \
        "$OK" "$SECONDS_RUN" "$rate" "$OTHER"
    printf ' latency p50 %s ms, p99 %s ms, max %s ms\n' "$P50" "$P99" "$MAX"
    printf 'ratio callbacks/pgbench tps: %.2f\n' \
        "$(awk "BEGIN { print $rate / $PGBENCH_TPS }")"
    printf 'callbacks rows %d >= 200 answers %d: %s\n' "$rows" "$OK" \
        "$( ((rows >= OK)) && echo PASS || echo FAIL)"
    printf 'target >= %d/s and p99 < %d ms: %s\n' "$TARGET_RATE" \
        "$TARGET_P99_MS" "$verdict"
    ((rows >= OK)) || die "more 200 answers than stored callbacks"
}

main() {
    trap cleanup EXIT
    check
    start_db
    seed
    pgbench_baseline
    write_lua
    start_receiver
    run_wrk
    report
}

main "$@"
