#!/usr/bin/env bash
# import.sh: the import benchmark. Times "payq import" of a generated pay
# file against psql's \copy of the same file into a bare all-text table
# with a unique index on reference, which is about the fastest any
# importer could load it, and reports payq's time as a ratio to that.
#
# Usage: bench/import.sh   (after "cmake --build build"; needs no server)
#
# Each round, alternating, times (a) \copy into the truncated baseline
# table and (b) payq import into a freshly created and migrated database;
# the best time of each side counts, and payq's largest peak RSS. Each
# payq round also prints where its time went (the import's own steps:
# streaming rows into staging, the INSERT ... SELECT into jobs).
#
# Each round also times (c) the floor of that design, with psql alone:
# in one transaction, \copy of the rows as payq stages them (canonical
# phone, whole amount, metadata; exported once from payq's jobs) into an
# unindexed temporary table, then one INSERT ... SELECT into a table with
# the columns and defaults of jobs and only the two constraints this
# tool cannot do without: the primary key and the unique reference (one
# job per reference, enforced by the database). No check, no trigger, no
# claim or batch index, no conflict handling. No importer that stages
# rows and then inserts them into jobs can be faster, so floor/psql says
# how near the target any such importer can come on this machine.
# Two more floors drop the staging too, each one \copy of those valid
# rows, with no check of any kind on the client: (d) straight into a
# table with jobs' columns, types and defaults and only the unique
# reference, the least that any importer can take that stores a job's
# columns as jobs types them (metadata as jsonb) and lets the database
# keep one job per reference; (e) straight into the migrated jobs table
# itself, of a fresh database: the least that any importer into payq's
# schema can take, however it is written.
# Targets: payq/psql time <= 1.5 and payq peak RSS <= 32 MiB. A miss is
# printed as MISS; it fails the script (exit 2) only with
# PAYQ_BENCH_STRICT=1. Otherwise the exit status is non-zero only when a
# step fails to run (or loads the wrong number of rows).
#
# Env: PAYQ_BENCH_ROWS           rows in the file (default 1000000)
#      PAYQ_BENCH_ROUNDS         rounds of each side (default 3)
#      PAYQ_BENCH_BUILD          build directory (default build)
#      PAYQ_BENCH_ONLY_BASELINE  1: time psql's \copy only, skip payq
#      PAYQ_BENCH_STRICT         1: exit 2 when a target is missed
set -euo pipefail

readonly PROG=import.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly PG=$ROOT/scripts/pg-private
readonly GNU_TIME=/usr/bin/time
readonly TARGET_RATIO=1.5
readonly TARGET_RSS_MIB=32
readonly COPY_DB=bench_copy
readonly PAYQ_DB=bench_payq
readonly DIRECT_DB=bench_direct

ROWS=${PAYQ_BENCH_ROWS:-1000000}
ROUNDS=${PAYQ_BENCH_ROUNDS:-3}
ONLY_BASELINE=${PAYQ_BENCH_ONLY_BASELINE:-0}
STRICT=${PAYQ_BENCH_STRICT:-0}
BUILD=${PAYQ_BENCH_BUILD:-$ROOT/build}
WORK=""
FILE=""
PSQL=""
# Results: times in centiseconds (GNU time's %e has two decimals).
ELAPSED_CS=0
RSS_KIB=0
BEST_COPY_CS=""
BEST_PAYQ_CS=""
BEST_FLOOR_CS=""
BEST_COPY_FLOOR_CS=""
BEST_DIRECT_CS=""
MAX_PAYQ_KIB=0

die() {
    echo "$PROG: $*" >&2
    exit 1
}

# Runs on every exit: the server and its directory never outlive us.
cleanup() {
    local rc=$?
    set +e
    if [[ -n $WORK ]]; then
        "$PG" stop "$WORK" >/dev/null 2>&1
        rm -rf "$WORK"
    fi
    exit "$rc"
}

check_settings() {
    [[ $ROWS =~ ^[1-9][0-9]*$ ]] ||
        die "PAYQ_BENCH_ROWS must be a positive number, not '$ROWS'"
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] ||
        die "PAYQ_BENCH_ROUNDS must be a positive number, not '$ROUNDS'"
    [[ $ONLY_BASELINE == [01] ]] ||
        die "PAYQ_BENCH_ONLY_BASELINE must be 0 or 1"
    [[ $STRICT == [01] ]] || die "PAYQ_BENCH_STRICT must be 0 or 1"
}

# The binaries come from the normal build; this script builds nothing.
check_tools() {
    local bin
    local -a need=(payq-gen-fees)
    ((ONLY_BASELINE)) || need+=(payq)
    for bin in "${need[@]}"; do
        [[ -x $BUILD/$bin ]] ||
            die "$BUILD/$bin not found; run cmake --build build first"
    done
    # Bash's own "time" keyword cannot report peak memory.
    "$GNU_TIME" -f '%e %M' -o /dev/null true 2>/dev/null ||
        die "GNU time ($GNU_TIME) not found; run scripts/install-deps"
}

# The psql on PATH may be Debian's wrapper picking another version; use
# the server's own, as pg-private does.
find_psql() {
    local dir
    for dir in "${PAYQ_PG_BINDIR:-}" /usr/lib/postgresql/15/bin; do
        if [[ -n $dir && -x $dir/psql ]]; then
            PSQL=$dir/psql
            return
        fi
    done
    PSQL=$(command -v psql) ||
        die "psql not found; run scripts/install-deps"
}

# The caller's PG* settings must not point us at another server.
start_postgres() {
    local var
    WORK=$(mktemp -d /tmp/payq-bench.XXXXXX)
    "$PG" start "$WORK" >/dev/null
    for var in $(compgen -e); do
        if [[ $var == PG* ]]; then
            unset "$var"
        fi
    done
    eval "$("$PG" env "$WORK")"
    unset DATABASE_URL
}

sql() {
    local db=$1
    shift
    "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"
}

generate_file() {
    FILE=$WORK/fees.csv
    timed "$BUILD/payq-gen-fees" --kind pay --rows "$ROWS" --seed 1 \
        >"$FILE" || die "payq-gen-fees failed"
    printf "generated %s rows (%s MiB) in %s s\n" "$ROWS" \
        "$(mib "$(($(stat -c %s "$FILE") / 1024))")" "$(secs "$ELAPSED_CS")"
}

# Every column is text: amounts come as 15000 and "15,000" alike.
create_baseline() {
    sql postgres -c "create database $COPY_DB"
    sql "$COPY_DB" <<'EOF'
create table baseline_jobs (
    reference text, phone text, amount text, student_id text,
    student_name text, school text, class text, term text,
    parent_name text
);
create unique index baseline_jobs_reference_idx
    on baseline_jobs (reference);
EOF
}

# A new, migrated database, so no round inherits another's rows.
fresh_db() {
    local db=$1
    sql postgres -c "set client_min_messages = warning" \
        -c "drop database if exists $db" -c "create database $db"
    if ! DATABASE_URL="dbname=$db" "$BUILD/payq" migrate \
        >"$WORK/migrate.log" 2>&1; then
        tail -n 20 "$WORK/migrate.log" >&2
        die "payq migrate failed"
    fi
}

# Runs a command under GNU time and sets ELAPSED_CS and RSS_KIB. Its
# output goes where the caller redirects it; time's goes to a file.
timed() {
    local secs
    "$GNU_TIME" -f '%e %M' -o "$WORK/time.out" "$@" || return
    read -r secs RSS_KIB <"$WORK/time.out"
    ELAPSED_CS=$((10#${secs/./}))
}

# Dirty pages left by the previous step must not be flushed during the
# next one's timing, or each side would pay for the other.
checkpoint() {
    sql postgres -c checkpoint
}

expect_rows() {
    local what=$1 db=$2 table=$3 n
    n=$(sql "$db" -c "select count(*) from $table")
    ((n == ROWS)) || die "$what loaded $n rows, not $ROWS"
}

copy_round() {
    local copy="\\copy baseline_jobs from '$FILE'"
    copy+=" with (format csv, header true)"
    sql "$COPY_DB" -c "truncate baseline_jobs"
    checkpoint
    if ! timed "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$COPY_DB" -c "$copy" \
        >"$WORK/copy.log" 2>&1; then
        tail -n 20 "$WORK/copy.log" >&2
        die "psql \\copy failed"
    fi
    expect_rows "psql \\copy" "$COPY_DB" baseline_jobs
    keep_best_cs BEST_COPY_CS
    printf "  psql \\\\copy   %8s s  %8s MiB\n" "$(secs "$ELAPSED_CS")" \
        "$(mib "$RSS_KIB")"
}

payq_round() {
    local round=$1
    ((round == 1)) || fresh_db "$PAYQ_DB"
    checkpoint
    if ! DATABASE_URL="dbname=$PAYQ_DB" PAYQ_LOG_LEVEL=debug \
        timed "$BUILD/payq" import "$FILE" \
        >"$WORK/import.out" 2>"$WORK/import.log"; then
        tail -n 20 "$WORK/import.log" >&2
        die "payq import failed"
    fi
    expect_rows "payq import" "$PAYQ_DB" jobs
    keep_best_cs BEST_PAYQ_CS
    if ((RSS_KIB > MAX_PAYQ_KIB)); then
        MAX_PAYQ_KIB=$RSS_KIB
    fi
    printf "  payq import  %8s s  %8s MiB  (%s)\n" "$(secs "$ELAPSED_CS")" \
        "$(mib "$RSS_KIB")" "$(payq_steps)"
}

# The floors' rows: what payq staged, taken back from its jobs once.
readonly FLOOR_COLUMNS="batch_id, kind, reference, phone, amount, metadata"
export_floor_rows() {
    [[ -s $WORK/floor.csv ]] && return
    sql "$PAYQ_DB" -c "\\copy (select $FLOOR_COLUMNS
        from jobs order by id) to '$WORK/floor.csv' with (format csv)"
}

# Keeps the lower of a best time so far (named by $1) and ELAPSED_CS.
keep_best_cs() {
    local -n best=$1
    if [[ -z $best ]] || ((ELAPSED_CS < best)); then
        best=$ELAPSED_CS
    fi
}

# Times psql running one command (or -f FILE) on a database.
timed_psql() {
    local what=$1 db=$2
    shift 2
    checkpoint
    if ! timed "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@" \
        >"$WORK/psql.log" 2>&1; then
        tail -n 20 "$WORK/psql.log" >&2
        die "$what failed"
    fi
}

# A floor table (named by $1) follows the migrated jobs table's columns;
# LIKE copies neither indexes nor checks nor triggers, so it has only
# the constraints $2 adds.
create_floor_table() {
    local table=$1 constraints=$2
    sql "$PAYQ_DB" -c "set client_min_messages = warning" \
        -c "drop table if exists $table" \
        -c "create table $table
            (like jobs including defaults including identity)" \
        -c "alter table $table $constraints"
}

write_floor_script() {
    cat >"$WORK/floor.sql" <<EOF
begin;
create temporary table floor_staging (
    batch_id bigint, kind text, reference text collate "C", phone text,
    amount bigint, metadata jsonb
) on commit drop;
\\copy floor_staging from '$WORK/floor.csv' with (format csv)
insert into floor_jobs ($FLOOR_COLUMNS)
select $FLOOR_COLUMNS from floor_staging;
commit;
EOF
}

floor_round() {
    export_floor_rows
    create_floor_table floor_jobs "add primary key (id), add unique (reference)"
    write_floor_script
    timed_psql "the floor's \\copy and INSERT ... SELECT" "$PAYQ_DB" \
        -f "$WORK/floor.sql"
    expect_rows "the floor" "$PAYQ_DB" floor_jobs
    sql "$PAYQ_DB" -c "drop table floor_jobs"
    keep_best_cs BEST_FLOOR_CS
    printf "  floor        %8s s       (staging, then jobs' columns, %s)\n" \
        "$(secs "$ELAPSED_CS")" "primary key and unique reference only"
}

# (d): no staging and no primary key, the unique reference only.
copy_floor_round() {
    create_floor_table copy_floor_jobs "add unique (reference)"
    timed_psql "the copy floor's \\copy" "$PAYQ_DB" -c \
        "\\copy copy_floor_jobs ($FLOOR_COLUMNS) from '$WORK/floor.csv'
         with (format csv)"
    expect_rows "the copy floor" "$PAYQ_DB" copy_floor_jobs
    sql "$PAYQ_DB" -c "drop table copy_floor_jobs"
    keep_best_cs BEST_COPY_FLOOR_CS
    printf "  copy floor   %8s s       (%s)\n" "$(secs "$ELAPSED_CS")" \
        "no staging: jobs' columns and the unique reference only"
}

# (e): a fresh migrated database whose first batch (id 1, as in the
# rows) is the one payq's import made.
direct_round() {
    fresh_db "$DIRECT_DB"
    sql "$DIRECT_DB" -c "insert into batches
        (file_name, file_size, file_sha256, kind)
        values ('direct.csv', 0, repeat('0', 64), 'pay')"
    timed_psql "the \\copy into jobs" "$DIRECT_DB" -c \
        "\\copy jobs ($FLOOR_COLUMNS) from '$WORK/floor.csv'
         with (format csv)"
    expect_rows "the \\copy into jobs" "$DIRECT_DB" jobs
    keep_best_cs BEST_DIRECT_CS
    printf "  into jobs    %8s s       (%s)\n" "$(secs "$ELAPSED_CS")" \
        "no staging: \\copy straight into payq's jobs table"
}

# The import's slow steps, from its debug log: "stream_rows 4.10 s ...".
payq_steps() {
    awk '/msg="import step done"/ {
        step = ""; ms = 0
        for (i = 1; i <= NF; i++) {
            if ($i ~ /^step=/) step = substr($i, 6)
            if ($i ~ /^ms=/) ms = substr($i, 4)
        }
        if (ms + 0 >= 100) printf "%s%s %.2f s", sep, step, ms / 1000
        if (ms + 0 >= 100) sep = ", "
    }' "$WORK/import.log"
}

secs() {
    printf "%d.%02d" $(($1 / 100)) $(($1 % 100))
}

mib() {
    awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

# Prints "PASS" if value <= target, else "MISS".
verdict() {
    awk -v v="$1" -v t="$2" \
        'BEGIN { print ((v + 0 <= t + 0) ? "PASS" : "MISS") }'
}

report_baseline_only() {
    echo
    printf "%-22s %10s\n" rows "$ROWS"
    printf "%-22s %10s   best of %d\n" "psql \\copy seconds" \
        "$(secs "$BEST_COPY_CS")" "$ROUNDS"
    printf "%-22s %10s\n" "payq import seconds" skipped
    echo "import: ratio=- rss_mib=- SKIPPED (PAYQ_BENCH_ONLY_BASELINE=1)"
}

# A best time over psql's, to two places. Below 10 ms GNU time reads
# 0.00; don't divide by it.
ratio_to_copy() {
    awk -v t="$1" -v c="$BEST_COPY_CS" \
        'BEGIN { printf "%.2f", t / (c > 0 ? c : 1) }'
}

report() {
    local ratio floor_ratio copy_floor_ratio direct_ratio rss ratio_ok rss_ok
    local result=PASS why=""
    ratio=$(ratio_to_copy "$BEST_PAYQ_CS")
    floor_ratio=$(ratio_to_copy "$BEST_FLOOR_CS")
    copy_floor_ratio=$(ratio_to_copy "$BEST_COPY_FLOOR_CS")
    direct_ratio=$(ratio_to_copy "$BEST_DIRECT_CS")
    rss=$(mib "$MAX_PAYQ_KIB")
    ratio_ok=$(verdict "$ratio" "$TARGET_RATIO")
    rss_ok=$(verdict "$rss" "$TARGET_RSS_MIB")
    [[ $ratio_ok == PASS ]] || why+=" ratio > $TARGET_RATIO"
    [[ $rss_ok == PASS ]] || why+=" rss > $TARGET_RSS_MIB MiB"
    [[ -z $why ]] || result="MISS (${why# })"
    echo
    printf "%-22s %10s\n" rows "$ROWS"
    printf "%-22s %10s   best of %d\n" "psql \\copy seconds" \
        "$(secs "$BEST_COPY_CS")" "$ROUNDS"
    printf "%-22s %10s   best of %d\n" "payq import seconds" \
        "$(secs "$BEST_PAYQ_CS")" "$ROUNDS"
    printf "%-22s %10s   best of %d\n" "floor seconds" \
        "$(secs "$BEST_FLOOR_CS")" "$ROUNDS"
    printf "%-22s %10s   best of %d\n" "copy floor seconds" \
        "$(secs "$BEST_COPY_FLOOR_CS")" "$ROUNDS"
    printf "%-22s %10s   best of %d\n" "into jobs seconds" \
        "$(secs "$BEST_DIRECT_CS")" "$ROUNDS"
    printf "%-22s %10s   target <= %s  %s\n" "ratio payq/psql" \
        "$ratio" "$TARGET_RATIO" "$ratio_ok"
    printf "%-22s %10s   the least a staging importer can reach\n" \
        "ratio floor/psql" "$floor_ratio"
    printf "%-22s %10s   the least any importer of jobs' columns can reach\n" \
        "ratio copy floor/psql" "$copy_floor_ratio"
    printf "%-22s %10s   the least any importer into jobs can reach\n" \
        "ratio into jobs/psql" "$direct_ratio"
    printf "%-22s %10s   target <= %s   %s\n" "payq peak RSS MiB" \
        "$rss" "$TARGET_RSS_MIB" "$rss_ok"
    echo "payq said: $(tail -n 1 "$WORK/import.out")"
    printf "import: psql_s=%s payq_s=%s ratio=%s floor_ratio=%s" \
        "$(secs "$BEST_COPY_CS")" "$(secs "$BEST_PAYQ_CS")" "$ratio" \
        "$floor_ratio"
    printf " copy_floor_ratio=%s into_jobs_ratio=%s" "$copy_floor_ratio" \
        "$direct_ratio"
    printf " rss_mib=%s %s\n" "$rss" "$result"
    if [[ $result != PASS ]] && ((STRICT)); then
        return 2
    fi
}

main() {
    local round
    cd "$ROOT"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    check_settings
    check_tools
    find_psql
    start_postgres
    generate_file
    create_baseline
    ((ONLY_BASELINE)) || fresh_db "$PAYQ_DB"
    for ((round = 1; round <= ROUNDS; round++)); do
        echo "round $round of $ROUNDS"
        copy_round
        ((ONLY_BASELINE)) || payq_round "$round"
        ((ONLY_BASELINE)) || floor_round
        ((ONLY_BASELINE)) || copy_floor_round
        ((ONLY_BASELINE)) || direct_round
    done
    if ((ONLY_BASELINE)); then
        report_baseline_only
    else
        report
    fi
}

main "$@"
