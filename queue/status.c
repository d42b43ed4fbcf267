/* Queue summary queries and their plain-text rendering. */
#include "queue/status.h"

#include <stdlib.h>
#include <string.h>

#include "db/conn.h"

/* A job is ready when a worker may claim it now. */
static const char READY_SQL[] =
    "select coalesce(extract(epoch from now() - min(j.run_at))::bigint, -1)"
    " from jobs j join batches b on b.id = j.batch_id"
    " where j.state = 'queued' and j.run_at <= now()"
    " and b.approved_at is not null and b.paused_at is null"
    " and b.cancelled_at is null";

static const char JOBS_SQL[] =
    "select kind, state, count(*), coalesce(sum(amount), 0)"
    " from jobs group by kind, state";

static const char BATCHES_SQL[] =
    "select count(*),"
    " count(*) filter (where approved_at is null and cancelled_at is null),"
    " count(*) filter (where paused_at is not null and cancelled_at is null)"
    " from batches";

/* The live workers' pauses by scope, the earliest reason first. */
static const char PAUSES_SQL[] =
    "select p.scope, (array_agg(p.reason order by p.since))[1],"
    " extract(epoch from now() - min(p.since))::bigint, count(*)"
    " from pool_pauses p join workers w on w.id = p.worker_id"
    " where not w.stopping"
    " and w.heartbeat_at > now() - make_interval(secs => $1)"
    " group by p.scope order by p.scope";

static const char WORKERS_SQL[] =
    "select count(*) from workers where not stopping"
    " and heartbeat_at > now() - make_interval(secs => $1)";

/* Jobs waiting to be sent again because their last try never left. */
static const char UNSENT_SQL[] =
    "select count(*), coalesce(max(a.unsent_count), 0)"
    " from attempts a join jobs j on j.id = a.job_id"
    " where a.outcome = 'open' and a.unsent_count > 0"
    " and j.state in ('queued', 'running')";

static long long cell(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Runs sql with up to one text parameter; the caller clears *res. */
static enum payq_err query(PGconn *conn, const char *sql, const char *param,
                           const char *what, PGresult **res)
{
    *res = PQexecParams(conn, sql, param != NULL ? 1 : 0, NULL, &param, NULL,
                        NULL, 0);
    return db_result_check(conn, *res, what);
}

static enum payq_err read_jobs(PGconn *conn, struct queue_status *st)
{
    PGresult *res;
    enum payq_err err = query(conn, JOBS_SQL, NULL, "count jobs", &res);
    int i;

    for (i = 0; err == PAYQ_OK && i < PQntuples(res); i++) {
        enum job_kind kind;
        enum job_state state;

        /* The schema's checks make other values impossible. */
        if (job_kind_parse(PQgetvalue(res, i, 0), &kind) != PAYQ_OK ||
            job_state_parse(PQgetvalue(res, i, 1), &state) != PAYQ_OK)
            continue;
        st->jobs[kind][state] = cell(res, i, 2);
        st->amounts[kind][state] = cell(res, i, 3);
    }
    PQclear(res);
    return err;
}

static enum payq_err read_scalars(PGconn *conn, struct queue_status *st)
{
    PGresult *res;
    char live_s[16];
    enum payq_err err;

    err = query(conn, BATCHES_SQL, NULL, "count batches", &res);
    if (err == PAYQ_OK) {
        st->batches = cell(res, 0, 0);
        st->batches_held = cell(res, 0, 1);
        st->batches_paused = cell(res, 0, 2);
    }
    PQclear(res);
    if (err != PAYQ_OK)
        return err;

    err = query(conn, READY_SQL, NULL, "find the oldest ready job", &res);
    if (err == PAYQ_OK)
        st->oldest_ready_s = cell(res, 0, 0);
    PQclear(res);
    if (err != PAYQ_OK)
        return err;

    snprintf(live_s, sizeof(live_s), "%d", QUEUE_WORKER_LIVE_S);
    err = query(conn, WORKERS_SQL, live_s, "count live workers", &res);
    if (err == PAYQ_OK)
        st->live_workers = cell(res, 0, 0);
    PQclear(res);
    if (err != PAYQ_OK)
        return err;

    err = query(conn, UNSENT_SQL, NULL, "count jobs not sent", &res);
    if (err == PAYQ_OK) {
        st->unsent_jobs = cell(res, 0, 0);
        st->unsent_tries = cell(res, 0, 1);
    }
    PQclear(res);
    return err;
}

static enum payq_err read_pauses(PGconn *conn, struct queue_status *st)
{
    PGresult *res;
    char live_s[16];
    enum payq_err err;
    int i;

    snprintf(live_s, sizeof(live_s), "%d", QUEUE_WORKER_LIVE_S);
    err = query(conn, PAUSES_SQL, live_s, "read pauses", &res);

    for (i = 0;
         err == PAYQ_OK && i < PQntuples(res) && i < QUEUE_STATUS_PAUSES_MAX;
         i++) {
        struct queue_pause *p = &st->pauses[i];

        snprintf(p->scope, sizeof(p->scope), "%s", PQgetvalue(res, i, 0));
        snprintf(p->reason, sizeof(p->reason), "%s", PQgetvalue(res, i, 1));
        p->age_s = cell(res, i, 2);
        p->workers = cell(res, i, 3);
        st->pause_count++;
    }
    PQclear(res);
    return err;
}

enum payq_err queue_status_read(PGconn *conn, struct queue_status *st)
{
    enum payq_err err;

    memset(st, 0, sizeof(*st));
    err = db_exec(conn, "begin isolation level repeatable read read only",
                  "begin reading the status");
    if (err != PAYQ_OK)
        return err;
    err = read_jobs(conn, st);
    if (err == PAYQ_OK)
        err = read_scalars(conn, st);
    if (err == PAYQ_OK)
        err = read_pauses(conn, st);
    PQclear(PQexec(conn, err == PAYQ_OK ? "commit" : "rollback"));
    return err;
}

/* One row per state: counts and amounts of each kind. */
static void write_jobs(const struct queue_status *st, FILE *out)
{
    long long total[JOB_KIND_COUNT][2] = { { 0, 0 }, { 0, 0 } };
    int s;
    int k;

    fprintf(out, "%-10s %13s %13s %13s %13s\n", "state", "pay jobs", "pay RWF",
            "deposit jobs", "deposit RWF");
    for (s = 0; s < JOB_STATE_COUNT; s++) {
        fprintf(out, "%-10s", job_state_name((enum job_state)s));
        for (k = 0; k < JOB_KIND_COUNT; k++) {
            fprintf(out, " %13lld %13lld", st->jobs[k][s], st->amounts[k][s]);
            total[k][0] += st->jobs[k][s];
            total[k][1] += st->amounts[k][s];
        }
        fputc('\n', out);
    }
    fprintf(out, "%-10s %13lld %13lld %13lld %13lld\n", "total",
            total[JOB_KIND_PAY][0], total[JOB_KIND_PAY][1],
            total[JOB_KIND_DEPOSIT][0], total[JOB_KIND_DEPOSIT][1]);
}

void queue_status_write(const struct queue_status *st, FILE *out)
{
    int i;

    fprintf(out, "batches: %lld (%lld held for approval, %lld paused)\n",
            st->batches, st->batches_held, st->batches_paused);
    write_jobs(st, out);
    if (st->oldest_ready_s < 0)
        fprintf(out, "oldest ready job: none\n");
    else
        fprintf(out, "oldest ready job: waiting %lld s\n", st->oldest_ready_s);
    if (st->pause_count == 0)
        fprintf(out, "pool: not paused\n");
    for (i = 0; i < st->pause_count; i++)
        fprintf(out,
                "pool: %s paused for %lld s by %lld of %lld live "
                "workers: %s\n",
                st->pauses[i].scope, st->pauses[i].age_s, st->pauses[i].workers,
                st->live_workers, st->pauses[i].reason);
    if (st->unsent_jobs > 0)
        fprintf(out,
                "not sent: %lld jobs could not reach the provider "
                "on their last try (up to %lld tries in a row); "
                "they are sent again, same id\n",
                st->unsent_jobs, st->unsent_tries);
    fprintf(out, "workers: %lld live\n", st->live_workers);
}
