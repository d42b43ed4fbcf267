/*
 * The maintenance thread: the pool's housekeeping, once a second.
 *
 *   every second   liveness beat (/healthz, the systemd watchdog) and
 *                  the re-check of pauses that are due;
 *   every 5 s      heartbeat in `workers`; expired leases back to the
 *                  queue (their open attempts are probed, same id);
 *                  pending jobs past their callback deadline to unknown;
 *   every 10 s     (--progress) the jobs snapshot for /metrics and,
 *                  while there is work, one progress line.
 *
 * Every process runs it: the statements are idempotent, so several
 * pools sharing a database need no leader.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "db/conn.h"
#include "worker/internal.h"

enum {
    TICK_MS = 1000,
    HOUSEKEEPING_MS = 5000,
};

static const char HEARTBEAT_SQL[] =
    "insert into workers (id, host, pid, stopping) values ($1, $2, $3, $4)"
    " on conflict (id) do update set heartbeat_at = now(),"
    " stopping = excluded.stopping";

static const char GONE_SQL[] = "delete from workers where id = $1";

/* Rows of workers that stopped beating long ago: crashed processes. */
static const char STALE_WORKERS_SQL[] =
    "delete from workers where heartbeat_at < now() - interval '1 day'";

static const char COUNTS_SQL[] =
    "select kind, state, count(*) from jobs group by kind, state";

struct maint {
    struct worker_pool *pool;
    PGconn *conn;
    struct upstream_client *client;
    long long next_housekeeping;
    long long next_progress;
    long long done_before; /* pool->done at the last progress */
    long long counts[JOB_KIND_COUNT][JOB_STATE_COUNT];
};

static enum payq_err heartbeat(struct maint *m)
{
    struct worker_pool *pool = m->pool;
    char pid[16];
    const char *params[4];
    PGresult *res;
    enum payq_err err;

    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    params[0] = pool->name;
    params[1] = pool->host;
    params[2] = pid;
    params[3] = worker_stop_level(pool) != WORKER_RUNNING ? "true" : "false";
    res = PQexecParams(m->conn, HEARTBEAT_SQL, 4, NULL, params, NULL, NULL, 0);
    err = db_result_check_outage(m->conn, res, "record the heartbeat");
    PQclear(res);
    return err;
}

static void housekeeping(struct maint *m)
{
    int reaped = 0;
    int expired = 0;

    if (heartbeat(m) != PAYQ_OK)
        return;
    if (worker_stop_level(m->pool) != WORKER_RUNNING)
        return;
    /* Each statement logs its own failure; the next round tries again. */
    if (queue_reap_expired(m->conn, &reaped) == PAYQ_OK && reaped > 0)
        worker_wake_all(m->pool);
    if (queue_expire_pending(m->conn, &expired) != PAYQ_OK)
        return;
    if (worker_db_exec(m->conn, STALE_WORKERS_SQL,
                       "forget long-dead workers") != PAYQ_OK)
        return;
}

static bool read_counts(struct maint *m)
{
    PGresult *res = PQexec(m->conn, COUNTS_SQL);
    bool ok = db_result_check_outage(m->conn, res, "count jobs") == PAYQ_OK;
    int i;

    memset(m->counts, 0, sizeof(m->counts));
    for (i = 0; ok && i < PQntuples(res); i++) {
        enum job_kind kind;
        enum job_state state;

        if (job_kind_parse(PQgetvalue(res, i, 0), &kind) == PAYQ_OK &&
            job_state_parse(PQgetvalue(res, i, 1), &state) == PAYQ_OK)
            m->counts[kind][state] = strtoll(PQgetvalue(res, i, 2), NULL, 10);
    }
    PQclear(res);
    return ok;
}

static long long by_state(const struct maint *m, enum job_state state)
{
    return m->counts[JOB_KIND_PAY][state] + m->counts[JOB_KIND_DEPOSIT][state];
}

/* One line per interval while something moves; silence when idle. */
static void progress(struct maint *m, long long elapsed_ms)
{
    long long done = atomic_load(&m->pool->done);
    long long delta = done - m->done_before;
    char status[128];
    char rate[32];

    m->done_before = done;
    if (!read_counts(m))
        return;
    worker_metrics_set_jobs(m->pool->metrics,
                            (const long long(*)[JOB_STATE_COUNT])m->counts);
    if (delta == 0 && by_state(m, JOB_STATE_RUNNING) == 0)
        return;
    snprintf(rate, sizeof(rate), "%.1f",
             elapsed_ms > 0 ? (double)delta * 1000.0 / (double)elapsed_ms
                            : 0.0);
    log_info("progress", LOG_STR("jobs_per_s", rate),
             LOG_INT("outcomes", delta),
             LOG_INT("queued", by_state(m, JOB_STATE_QUEUED)),
             LOG_INT("running", by_state(m, JOB_STATE_RUNNING)),
             LOG_INT("pending", by_state(m, JOB_STATE_PENDING)),
             LOG_INT("succeeded", by_state(m, JOB_STATE_SUCCEEDED)),
             LOG_INT("failed", by_state(m, JOB_STATE_FAILED)),
             LOG_INT("unknown", by_state(m, JOB_STATE_UNKNOWN)));
    snprintf(status, sizeof(status), "STATUS=%lld outcomes, %lld queued", done,
             by_state(m, JOB_STATE_QUEUED));
    worker_sd_notify(status);
}

static void tick(struct maint *m)
{
    long long now = worker_now_ms();

    if (now >= m->next_housekeeping) {
        housekeeping(m);
        m->next_housekeeping = now + HOUSEKEEPING_MS;
    }
    /* After the heartbeat: a pause row refers to this process's row. */
    worker_pause_maintain(m->pool, m->conn, m->client);
    worker_feed_renew(m->pool, m->conn);
    if (now >= m->next_progress) {
        progress(m, m->pool->s.progress_ms);
        m->next_progress = now + m->pool->s.progress_ms;
    }
}

/*
 * One connection try per tick, never a blocking wait: the liveness beat
 * must go on through a database outage, or the systemd watchdog would
 * restart a process that is only waiting for the database.
 */
static bool connected(struct maint *m)
{
    return worker_db_try(m->pool, "maintenance", &m->conn);
}

/*
 * A clean exit takes this process out of the live workers at once, and
 * its pauses with it (pool_pauses cascades).
 */
static void say_goodbye(struct maint *m)
{
    const char *params[1] = { m->pool->name };
    PGresult *res;

    if (m->conn == NULL || PQstatus(m->conn) != CONNECTION_OK)
        return;
    res = PQexecParams(m->conn, GONE_SQL, 1, NULL, params, NULL, NULL, 0);
    if (db_result_check_outage(m->conn, res, "remove this worker's row") ==
        PAYQ_OK)
        log_debug("worker row removed", LOG_STR("name", m->pool->name));
    PQclear(res);
}

void *worker_maint_main(void *arg)
{
    struct maint m;
    struct worker_pool *pool = arg;

    memset(&m, 0, sizeof(m));
    m.pool = pool;
    if (upstream_client_create(pool->ucfg, &pool->cfg->credentials,
                               &m.client) != PAYQ_OK)
        log_error("maintenance cannot create its provider client; "
                  "pauses will not be re-checked");
    m.next_progress = worker_now_ms() + pool->s.progress_ms;
    while (worker_stop_level(pool) != WORKER_ABANDON) {
        worker_metrics_beat(pool->metrics);
        if (connected(&m))
            tick(&m);
        worker_sleep(pool, TICK_MS, WORKER_ABANDON, false);
    }
    say_goodbye(&m);
    upstream_client_destroy(m.client);
    db_conn_close(m.conn);
    return NULL;
}
