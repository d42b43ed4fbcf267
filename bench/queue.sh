#!/usr/bin/env bash
# queue.sh: the queue throughput benchmark. PAYQ_BENCH_JOBS deposit jobs
# (a payout completes on the simulator's synchronous answer, so no
# callback is needed) are drained through payq-sim at zero latency, on
# one private PostgreSQL 15 with durable commits, by each contender in
# turn at the same concurrency (requests in flight):
#   payq              the jobs imported by `payq import --kind deposit`
#                     from a generated file, then `payq work --workers C
#                     --max-in-flight C --rate 0 --claim K`
#   graphile          graphile-worker 0.17.3, concurrentJobs C
#   graphile-batched  the same with localQueue and completeJobBatchDelay
#   pgboss            pg-boss 10.4, 16 work() registrations of batch 100,
#                     at most C requests in flight between them
#   direct            no queue and no database: the same POSTs from Node
#                     at concurrency C, the far end's own ceiling
# The Node.js contenders (bench/node/queue.js) do one keep-alive HTTP POST
# of a deposit per job. Each runs against a fresh simulator and its own
# database on the same server; the clock runs from the start of the
# worker process until no job of the contender is left unfinished. The
# watch costs next to nothing, so that it takes no CPU from the
# contender: every 50 ms it asks the simulator (an HTTP request from bash
# itself, no process started) how many ids it has executed, and only
# once all have, it counts the unfinished jobs in the database (a scan
# of the contender's table, over one connection). After each run the
# simulator's ledger must show every job's transaction id executed
# exactly once, and nothing else.
#
# The contenders take turns, PAYQ_BENCH_ROUNDS times over (each round
# on fresh databases and simulators), and each one's best round counts:
# the machine is shared and noisy, and a round that another process
# slowed down says nothing about the contender. Every round is printed.
#
# Also printed: commits per job (pg_stat_database.xact_commit over the
# run, less the poller's own), row versions written per job (its
# tup_inserted + tup_updated + tup_deleted: each one a heap tuple and,
# unless a HOT update, an entry in every index it belongs to), the CPU
# seconds of the worker process, of the simulator and of all PostgreSQL
# processes, and pgbench's
# write-transaction rate on the same database (TPC-B-like, 16 clients,
# 10 s): the ceiling of a design that commits once per job.
#
# Also printed: the CPU of payq's best round per job (its worker, the
# simulator and PostgreSQL together) and the most jobs per second the
# machine's cores could give at that cost, beside the rate the target
# asks for.
#
# Targets: payq/graphile-batched >= 1.5 and payq/pg-boss >= 4 (jobs per
# second). A miss prints MISS and exits 0, unless PAYQ_BENCH_STRICT=1
# (then 2); other failures (a job lost or paid twice) exit 1.
#
# Usage: bench/queue.sh   (after "cmake --build build"; needs node 20,
#                          npm, jq, curl, pgbench)
# Env:   PAYQ_BENCH_JOBS         jobs per contender (default 100000)
#        PAYQ_BENCH_CONCURRENCY  requests in flight (default 16)
#        PAYQ_BENCH_CLAIM        payq work --claim (default 64)
#        PAYQ_BENCH_ROUNDS       turns of every contender (default 3)
#        PAYQ_BENCH_CONTENDERS   which, in order (default "direct payq
#                                graphile graphile-batched pgboss")
#        PAYQ_BENCH_TIMEOUT      seconds per contender (default 600)
#        PAYQ_BENCH_NODE_DIR     npm cache of the Node.js contenders
#                                (default ${XDG_CACHE_HOME:-~/.cache}/
#                                payq-bench/node)
#        PAYQ_BENCH_BUILD        build directory (default build)
#        PAYQ_BENCH_STRICT       1: exit 2 on a missed target
set -euo pipefail

readonly PROG=queue.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly PG=$ROOT/scripts/pg-private
readonly TARGET_GRAPHILE=1.5
readonly TARGET_PGBOSS=4
readonly POLL_S=0.05
readonly SECRET=bench-callback-secret-0123456789
readonly GRAPHILE_VERSION=0.17.3
readonly PGBOSS_VERSION=10.4.2

JOBS=${PAYQ_BENCH_JOBS:-100000}
CONC=${PAYQ_BENCH_CONCURRENCY:-16}
CLAIM=${PAYQ_BENCH_CLAIM:-64}
ROUNDS=${PAYQ_BENCH_ROUNDS:-3}
CONTENDERS=${PAYQ_BENCH_CONTENDERS:-direct payq graphile graphile-batched \
pgboss}
TIMEOUT=${PAYQ_BENCH_TIMEOUT:-600}
NODE_DIR=${PAYQ_BENCH_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/payq-bench/node}
BUILD=${PAYQ_BENCH_BUILD:-$ROOT/build}
STRICT=${PAYQ_BENCH_STRICT:-0}
TICKS=$(getconf CLK_TCK)
WORK=""
SIM_PID=""
WORKER_PID=""
POLL_PID=""
PG_PID=""
# Per-contender results, by name.
declare -A RATE ELAPSED COMMITS WRITES CPU_WORKER CPU_SIM CPU_PG
declare -A BEST_RATE BEST_ELAPSED BEST_COMMITS BEST_WRITES BEST_CPU_WORKER \
    BEST_CPU_SIM BEST_CPU_PG

die() {
    echo "$PROG: $*" >&2
    exit 1
}

stop_pid() {
    local pid=$1
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
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

check_settings() {
    local v
    for v in "$JOBS" "$CONC" "$CLAIM" "$TIMEOUT" "$ROUNDS"; do
        [[ $v =~ ^[1-9][0-9]*$ ]] ||
            die "PAYQ_BENCH_JOBS, _CONCURRENCY, _CLAIM, _TIMEOUT and" \
                "_ROUNDS must be positive numbers"
    done
    ((CLAIM <= 64)) || die "PAYQ_BENCH_CLAIM is at most 64"
    [[ $STRICT == [01] ]] || die "PAYQ_BENCH_STRICT must be 0 or 1"
    for v in $CONTENDERS; do
        case $v in
        direct | payq | graphile | graphile-batched | pgboss) ;;
        *) die "unknown contender '$v'" ;;
        esac
    done
}

check_tools() {
    local bin
    for bin in payq payq-sim payq-gen-fees; do
        [[ -x $BUILD/$bin ]] ||
            die "$BUILD/$bin not found; run cmake --build build first"
    done
    for bin in jq curl; do
        command -v "$bin" >/dev/null || die "$bin not found"
    done
    command -v pgbench >/dev/null || PATH=$PATH:/usr/lib/postgresql/15/bin
    command -v pgbench >/dev/null || die "pgbench not found"
    command -v psql >/dev/null || die "psql not found"
    if [[ $CONTENDERS != payq ]]; then
        command -v node >/dev/null && command -v npm >/dev/null ||
            die "node and npm are needed (apt-get install nodejs npm)"
        (($(node -p 'process.versions.node.split(".")[0]') >= 20)) ||
            die "Node.js 20 or later is needed, not $(node --version)"
    fi
}

# Installs the exact versions of bench/node/package.json from the npm
# registry into NODE_DIR, outside the repository; a no-op when there.
node_install() {
    local have
    [[ $CONTENDERS != payq ]] || return 0
    mkdir -p "$NODE_DIR"
    have=$(cd "$NODE_DIR" && node -p \
        'require("graphile-worker/package.json").version + " " +
         require("pg-boss/package.json").version' 2>/dev/null || true)
    [[ $have != "$GRAPHILE_VERSION $PGBOSS_VERSION" ]] || return 0
    echo "installing graphile-worker $GRAPHILE_VERSION and pg-boss" \
        "$PGBOSS_VERSION into $NODE_DIR"
    cp "$ROOT/bench/node/package.json" "$NODE_DIR/package.json"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error \
        >"$NODE_DIR/npm-install.log" 2>&1) ||
        die "npm install failed; see $NODE_DIR/npm-install.log"
}

sql() {
    psql -X -q -t -A -v ON_ERROR_STOP=1 "$@"
}

start_db() {
    WORK=$(mktemp -d /tmp/payq-bench-queue.XXXXXX)
    chmod 755 "$WORK"
    "$PG" start "$WORK" >/dev/null
    eval "$("$PG" env "$WORK")"
    PG_PID=$(head -n 1 "$WORK/data/postmaster.pid")
    "$BUILD/payq" migrate >/dev/null 2>&1 || die "payq migrate failed"
    [[ $(sql -c "show fsync") == on &&
        $(sql -c "show synchronous_commit") == on ]] ||
        die "the server must commit durably for this benchmark"
}

# A fresh simulator for each contender, so no ledger carries over.
start_sim() {
    local i
    export PAYQ_SIM_USERNAME=bench PAYQ_SIM_PASSWORD=bench-pw
    export PAYQ_SIM_KEY=bench-key
    "$BUILD/payq-sim" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --float 1000000000000 --max-transactions 4000000 \
        --log-level warn >"$WORK/sim.out" 2>"$WORK/sim.err" &
    SIM_PID=$!
    for i in $(seq 100); do
        grep -q "listening port=" "$WORK/sim.out" 2>/dev/null && break
        sleep 0.05
    done
    read -r SIM_PORT ADMIN_PORT < <(sed -n \
        's/.*listening port=\([0-9]*\) admin_port=\([0-9]*\).*/\1 \2/p' \
        "$WORK/sim.out")
    [[ -n ${ADMIN_PORT:-} ]] || die "payq-sim did not start"
}

stop_sim() {
    stop_pid "$SIM_PID"
    SIM_PID=""
}

# One psql session answers the "how many are left" query, so polling
# costs one connection, not one per poll.
start_poller() {
    local db=$1
    coproc POLL { exec psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" 2>&1; }
    POLLS=0
}

poll() {
    local line
    echo "$1;" >&"${POLL[1]}"
    read -r -t 30 line <&"${POLL[0]}" || die "the poller did not answer"
    [[ $line =~ ^[0-9]+$ ]] || die "poller: $line"
    POLLS=$((POLLS + 1))
    REMAINING=$line
}

stop_poller() {
    [[ -n $POLL_PID ]] || return 0
    exec {POLL[1]}>&-
    wait "$POLL_PID" 2>/dev/null
    POLL_PID=""
}

# "COMMITS ROW_WRITES" of a database so far, read in one transaction so
# that the reads add a known number of commits.
db_counters() {
    sql -d "$1" -F ' ' -c "select xact_commit,
                    tup_inserted + tup_updated + tup_deleted
                    from pg_stat_database where datname = current_database()"
}

# utime + stime of one process, in clock ticks (0 when it is gone).
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" \
        2>/dev/null || echo 0
}

# The postmaster and all its children: backends, walwriter, checkpointer.
pg_ticks() {
    local sum pid
    sum=$(cpu_ticks "$PG_PID")
    for pid in $(pgrep -P "$PG_PID"); do
        sum=$((sum + $(cpu_ticks "$pid")))
    done
    echo "$sum"
}

calc() {
    awk "BEGIN { printf \"%.2f\", $1 }"
}

now() {
    date +%s.%N
}

# The simulator alone, driven by the Node client the contenders use.
run_direct() {
    local s
    start_sim
    node_env payq
    node "$ROOT/bench/node/queue.js" direct >"$WORK/direct.out" \
        2>"$WORK/direct.err" ||
        die "direct: $(tail -n 5 "$WORK/direct.err")"
    s=$(sed -n "s/^RESULT handled=$JOBS errors=0 elapsed_s=//p" \
        "$WORK/direct.out")
    [[ -n $s ]] || die "direct: $(cat "$WORK/direct.out")"
    ELAPSED[direct]=$(calc "$s")
    RATE[direct]=$(awk "BEGIN { printf \"%.0f\", $JOBS / $s }")
    COMMITS[direct]=0 WRITES[direct]=0
    CPU_WORKER[direct]=- CPU_SIM[direct]=- CPU_PG[direct]=-
    report_one direct
    seq -f "direct-%.0f" 1 "$JOBS" >"$WORK/ids"
    verify_ledger direct "$WORK/ids" "$(node_amounts)"
    stop_sim
}

# queue.js's amounts: 1000 + (i % 50) * 500 francs for job i.
node_amounts() {
    awk -v n="$JOBS" 'BEGIN {
        for (i = 1; i <= n; i++) s += 1000 + (i % 50) * 500
        printf "%.0f", s }'
}

pgbench_baseline() {
    pgbench -i -q -s 10 payq >/dev/null 2>&1 || die "pgbench -i failed"
    PGBENCH_TPS=$(pgbench -n -c 16 -j 2 -T 10 payq 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    [[ -n $PGBENCH_TPS ]] || die "pgbench gave no figure"
    pgbench -i -I d payq >/dev/null 2>&1 # drop its tables again
    printf 'pgbench (TPC-B-like, 16 clients, 10 s, durable): %.0f tps\n' \
        "$PGBENCH_TPS"
}

# Sets EXECUTED to the simulator's count of executed ids. Bash talks
# HTTP itself (/dev/tcp): a curl per poll would cost the contender CPU.
sim_executed() {
    local reply fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" ||
        die "cannot reach the simulator's admin port"
    printf 'GET /_sim/ledger?limit=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n' \
        'Connection: close'$'\r\n' >&"$fd"
    IFS= read -r -d '' -t 30 reply <&"$fd" || true
    exec {fd}>&-
    [[ $reply =~ \"executed\":\ ?([0-9]+) ]] ||
        die "the simulator's ledger has no executed count"
    EXECUTED=${BASH_REMATCH[1]}
}

# Between two polls: the worker must still run and the deadline not
# have passed (else "LEFT after TIMEOUT"), then a pause.
between_polls() {
    local name=$1 deadline=$2 left=$3
    kill -0 "$WORKER_PID" 2>/dev/null ||
        die "$name exited early: $(tail -n 5 "$WORK/$name.err")"
    ((SECONDS < deadline)) || die "$name: $left after ${TIMEOUT}s"
    sleep "$POLL_S"
}

# Runs the worker command (its pid in WORKER_PID) until the simulator
# has executed every id and then the poll query on db answers 0, and
# records the time, CPU and commits of contender.
measure() {
    local name=$1 db=$2 query=$3 c0 c1 w0 w1 t0 t1 pg0 sim0 deadline
    shift 3
    read -r c0 w0 < <(db_counters "$db")
    pg0=$(pg_ticks)
    sim0=$(cpu_ticks "$SIM_PID")
    start_poller "$db"
    t0=$(now)
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    WORKER_PID=$!
    deadline=$((SECONDS + TIMEOUT))
    while sim_executed && ((EXECUTED < JOBS)); do
        between_polls "$name" "$deadline" "$((JOBS - EXECUTED)) ids unsent"
    done
    while poll "$query" && ((REMAINING > 0)); do
        between_polls "$name" "$deadline" "$REMAINING jobs left"
    done
    t1=$(now)
    CPU_WORKER[$name]=$(calc "$(cpu_ticks "$WORKER_PID") / $TICKS")
    CPU_SIM[$name]=$(calc "($(cpu_ticks "$SIM_PID") - $sim0) / $TICKS")
    CPU_PG[$name]=$(calc "($(pg_ticks) - $pg0) / $TICKS")
    stop_poller
    kill -TERM "$WORKER_PID"
    wait "$WORKER_PID" || die "$name exited non-zero on SIGTERM"
    WORKER_PID=""
    # Exited backends have flushed their counters. Less the poller's:
    # its connection start, its polls, and the c0 read with its own.
    read -r c1 w1 < <(db_counters "$db")
    COMMITS[$name]=$(calc "($c1 - $c0 - $POLLS - 3) / $JOBS")
    WRITES[$name]=$(calc "($w1 - $w0) / $JOBS")
    ELAPSED[$name]=$(calc "$t1 - $t0")
    RATE[$name]=$(awk "BEGIN { printf \"%.0f\", $JOBS / ($t1 - $t0) }")
}

# The ledger's ids and executed counts as "id<TAB>executed" lines,
# page by page (the admin port lists at most 100,000 at a time).
ledger_lines() {
    local from=0 page=50000 got url=http://127.0.0.1:$ADMIN_PORT/_sim/ledger
    : >"$WORK/ledger.tsv"
    while :; do
        curl -sf "$url?from=$from&limit=$page" >"$WORK/ledger.json" ||
            die "cannot read the simulator's ledger"
        got=$(jq '.transactions | length' "$WORK/ledger.json")
        jq -r '.transactions[] | "\(.id)\t\(.executed)"' "$WORK/ledger.json" \
            >>"$WORK/ledger.tsv"
        ((got == page)) || break
        from=$((from + page))
    done
    curl -sf "$url?limit=0" >"$WORK/totals.json" ||
        die "cannot read the simulator's totals"
}

# Every expected id (one per line in $1) executed exactly once, no other
# id executed, and the executed amount equals $2.
verify_ledger() {
    local name=$1 expected=$2 amount=$3 executed twice sum
    ledger_lines
    executed=$(jq '.totals.executed' "$WORK/totals.json")
    twice=$(jq '.totals.ids_executed_twice' "$WORK/totals.json")
    sum=$(jq '.totals.deposit.succeeded_amount' "$WORK/totals.json")
    ((executed == JOBS && twice == 0)) ||
        die "$name: simulator executed $executed ids ($twice twice)," \
            "expected $JOBS once each"
    awk -F '\t' '$2 != 1 { bad++ } END { exit bad > 0 }' \
        "$WORK/ledger.tsv" || die "$name: an id was executed twice"
    cut -f 1 "$WORK/ledger.tsv" | sort >"$WORK/ledger.ids"
    sort "$expected" >"$WORK/expected.ids"
    cmp -s "$WORK/ledger.ids" "$WORK/expected.ids" ||
        die "$name: the ledger's ids are not the jobs' ids"
    ((sum == amount)) ||
        die "$name: simulator paid out $sum RWF, the jobs hold $amount"
    echo "  ledger: $JOBS ids executed exactly once, $sum RWF: ok"
}

# A new, migrated payq database for each round: the same file cannot
# be imported twice into one.
fresh_payq_db() {
    sql -d postgres -c "set client_min_messages = warning" \
        -c "drop database if exists payq" -c "create database payq"
    "$BUILD/payq" migrate >/dev/null 2>&1 || die "payq migrate failed"
}

run_payq() {
    local t0 amount
    fresh_payq_db
    "$BUILD/payq-gen-fees" --kind deposit --rows "$JOBS" --seed 1 \
        >"$WORK/payouts.csv"
    t0=$(now)
    "$BUILD/payq" import --kind deposit "$WORK/payouts.csv" \
        >"$WORK/import.out" 2>"$WORK/import.err" ||
        die "payq import failed: $(tail -n 5 "$WORK/import.err")"
    printf 'payq: imported %d payouts in %.2f s (payq import, one file)\n' \
        "$JOBS" "$(calc "$(now) - $t0")"
    sql -d payq -c "vacuum analyze" >/dev/null
    start_sim
    export PAYQ_USERNAME=bench PAYQ_PASSWORD=bench-pw PAYQ_KEY=bench-key
    export PAYQ_API_URL=http://127.0.0.1:$SIM_PORT/ PAYQ_TXN_PREFIX=bench
    export PAYQ_CALLBACK_URL=http://127.0.0.1:9/cb
    export PAYQ_CALLBACK_SECRET=$SECRET
    measure payq payq \
        "select count(*) from jobs where state in ('queued', 'running',
         'pending')" \
        "$BUILD/payq" work --workers "$CONC" --max-in-flight "$CONC" \
        --rate 0 --claim "$CLAIM" --progress 1h
    [[ $(sql -d payq -c "select count(*) from jobs
                         where state = 'succeeded'") == "$JOBS" ]] ||
        die "payq: not every payout succeeded"
    sql -d payq -c "select request_txn_id from attempts" >"$WORK/ids"
    amount=$(sql -d payq -c "select sum(amount) from jobs")
    report_one payq
    verify_ledger payq "$WORK/ids" "$amount"
    stop_sim
}

node_env() {
    export NODE_PATH=$NODE_DIR/node_modules NO_LOG_SUCCESS=1
    export PAYQ_BENCH_JOBS=$JOBS PAYQ_BENCH_CONCURRENCY=$CONC
    export BENCH_SIM_URL=http://127.0.0.1:$SIM_PORT BENCH_DB=$1
}

run_node() {
    local name=$1 db prefix query
    case $name in
    graphile) prefix=gw ;;
    graphile-batched) prefix=gwb ;;
    pgboss) prefix=boss ;;
    esac
    db=bench_${name//-/_}
    if [[ $name == pgboss ]]; then
        query="select count(*) from pgboss.job where name = 'deposit'
               and state <> 'completed'"
    else
        query="select count(*) from graphile_worker._private_jobs"
    fi
    sql -d postgres -c "set client_min_messages = warning" \
        -c "drop database if exists $db" -c "create database $db"
    start_sim
    node_env "$db"
    node "$ROOT/bench/node/queue.js" enqueue "$name" \
        >"$WORK/enqueue.log" 2>&1 ||
        die "$name: enqueue failed: $(tail -n 5 "$WORK/enqueue.log")"
    sql -d "$db" -c "vacuum analyze" >/dev/null
    measure "$name" "$db" "$query" node "$ROOT/bench/node/queue.js" work \
        "$name"
    grep -q "^RESULT handled=$JOBS errors=0$" "$WORK/$name.out" ||
        die "$name: $(cat "$WORK/$name.out" "$WORK/$name.err" | tail -n 5)"
    seq -f "$prefix-%.0f" 1 "$JOBS" >"$WORK/ids"
    report_one "$name"
    verify_ledger "$name" "$WORK/ids" "$(node_amounts)"
    stop_sim
}

# Keeps the figures of contender's fastest round so far in BEST_*.
keep_best() {
    local n=$1
    if [[ -z ${BEST_RATE[$n]:-} ]] || ((RATE[$n] > BEST_RATE[$n])); then
        BEST_RATE[$n]=${RATE[$n]} BEST_ELAPSED[$n]=${ELAPSED[$n]}
        BEST_COMMITS[$n]=${COMMITS[$n]} BEST_CPU_PG[$n]=${CPU_PG[$n]}
        BEST_WRITES[$n]=${WRITES[$n]}
        BEST_CPU_WORKER[$n]=${CPU_WORKER[$n]} BEST_CPU_SIM[$n]=${CPU_SIM[$n]}
    fi
}

# The report speaks of each contender's best round.
take_best() {
    local n
    for n in $CONTENDERS; do
        RATE[$n]=${BEST_RATE[$n]} ELAPSED[$n]=${BEST_ELAPSED[$n]}
        COMMITS[$n]=${BEST_COMMITS[$n]} CPU_PG[$n]=${BEST_CPU_PG[$n]}
        WRITES[$n]=${BEST_WRITES[$n]}
        CPU_WORKER[$n]=${BEST_CPU_WORKER[$n]} CPU_SIM[$n]=${BEST_CPU_SIM[$n]}
    done
}

report_one() {
    local n=$1
    printf '%-17s %7d jobs %8s s %7s jobs/s  commits/job %5s' "$n" \
        "$JOBS" "${ELAPSED[$n]}" "${RATE[$n]}" "${COMMITS[$n]}"
    printf '  rows written/job %4s' "${WRITES[$n]}"
    printf '  cpu s: worker %s, sim %s, postgres %s' "${CPU_WORKER[$n]}" \
        "${CPU_SIM[$n]}" "${CPU_PG[$n]}"
    if [[ ${CPU_PG[$n]} != - ]]; then
        printf ' (%s ms/job)' "$(calc "${CPU_PG[$n]} * 1000 / $JOBS")"
    fi
    echo
}

# The CPU payq's best round took per job, all processes together, and
# the rate that would fill every core with it: no more is possible at
# that cost, however the work is spread. Beside it, the rate the
# graphile-batched target asks for.
report_ceiling() {
    local cores cpu_s per_job_us
    [[ ${CPU_PG[payq]:--} != - && ${CPU_WORKER[payq]:--} != - ]] || return 0
    cores=$(nproc)
    cpu_s=$(calc "${CPU_WORKER[payq]} + ${CPU_SIM[payq]} + ${CPU_PG[payq]}")
    per_job_us=$(calc "$cpu_s * 1000000 / $JOBS")
    printf 'payq cpu per job %.0f us (worker, sim, postgres); %d cores' \
        "$per_job_us" "$cores"
    printf ' at that cost: at most %.0f jobs/s' \
        "$(calc "$cores * 1000000 / $per_job_us")"
    if [[ -n ${RATE[graphile-batched]:-} ]]; then
        printf '; the graphile-batched target needs %.0f' \
            "$(calc "${RATE[graphile-batched]} * $TARGET_GRAPHILE")"
    fi
    echo
}

# Prints "RATIO VERDICT" of payq against contender, or "- -".
ratio_of() {
    local other=$1 target=$2
    if [[ -z ${RATE[payq]:-} || -z ${RATE[$other]:-} ]]; then
        echo "- -"
        return
    fi
    awk -v p="${RATE[payq]}" -v o="${RATE[$other]}" -v t="$target" \
        'BEGIN { r = p / o; printf "%.2f %s\n", r, (r >= t) ? "PASS" : "MISS" }'
}

report() {
    local rg vg rb vb result=PASS why=""
    read -r rg vg < <(ratio_of graphile-batched "$TARGET_GRAPHILE")
    read -r rb vb < <(ratio_of pgboss "$TARGET_PGBOSS")
    echo
    printf 'concurrency %d (payq --workers %d --max-in-flight %d --claim %d' \
        "$CONC" "$CONC" "$CONC" "$CLAIM"
    printf ' --rate 0), %d jobs each, simulator at zero latency,' "$JOBS"
    printf ' best of %d rounds\n' "$ROUNDS"
    for n in $CONTENDERS; do
        report_one "$n"
    done
    printf 'pgbench write transactions: %.0f tps' "$PGBENCH_TPS"
    if [[ -n ${COMMITS[payq]:-} ]]; then
        printf '; payq %s commits/job, so %.0f commits/s' \
            "${COMMITS[payq]}" "$(calc "${RATE[payq]} * ${COMMITS[payq]}")"
    fi
    echo
    report_ceiling
    printf 'ratio payq/graphile-batched %5s   target >= %s  %s\n' "$rg" \
        "$TARGET_GRAPHILE" "$vg"
    printf 'ratio payq/pg-boss          %5s   target >= %s    %s\n' "$rb" \
        "$TARGET_PGBOSS" "$vb"
    [[ $vg != MISS ]] || why+=" graphile-batched"
    [[ $vb != MISS ]] || why+=" pg-boss"
    [[ -z $why ]] || result="MISS (${why# })"
    [[ $vg$vb != -- ]] || result="SKIPPED (not every contender ran)"
    echo "queue: payq_jobs_s=${RATE[payq]:--} ratio_graphile_batched=$rg" \
        "ratio_pgboss=$rb commits_per_job=${COMMITS[payq]:--}" \
        "pgbench_tps=$(calc "$PGBENCH_TPS") $result"
    [[ $result == MISS* && $STRICT == 1 ]] && exit 2
    return 0
}

main() {
    local n round
    cd "$ROOT"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    check_settings
    check_tools
    node_install
    start_db
    pgbench_baseline
    for ((round = 1; round <= ROUNDS; round++)); do
        echo "round $round of $ROUNDS"
        for n in $CONTENDERS; do
            case $n in
            direct) run_direct ;;
            payq) run_payq ;;
            *) run_node "$n" ;;
            esac
            keep_best "$n"
        done
    done
    take_best
    report
}

main "$@"
