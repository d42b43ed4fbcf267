/*
 * Connections that come back. A pool thread never exits over a database
 * outage: it waits, with backoff, and carries on where it was, so a
 * result obtained while the database was away is written when it returns.
 *
 * An outage is one condition of the process, not of each thread: the
 * first thread to try (db_reporting) logs the failure at warn, the
 * others at debug; the first to get through logs the return. A failed
 * statement on a lost connection is not logged at all.
 */
#include <stdatomic.h>

#include "core/backoff.h"
#include "core/log.h"
#include "db/conn.h"
#include "worker/internal.h"

enum {
    RECONNECT_BASE_MS = 1000,
    RECONNECT_CAP_MS = 30000,
};

bool worker_db_lost(PGconn *conn, enum payq_err err)
{
    return err == PAYQ_ERR_DB_CONNECT || conn == NULL ||
           PQstatus(conn) != CONNECTION_OK;
}

enum payq_err worker_db_exec(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    enum payq_err err = db_result_check_outage(conn, res, what);

    PQclear(res);
    return err;
}

/* Whether this thread's next try is the one that reports an outage. */
static bool take_report(struct worker_pool *pool)
{
    bool mine;

    pthread_mutex_lock(&pool->lock);
    mine = !pool->db_down && !pool->db_reporting;
    if (mine)
        pool->db_reporting = true;
    pthread_mutex_unlock(&pool->lock);
    return mine;
}

/* After a try: the outage begins on a failure, ends on a success. */
static void after_try(struct worker_pool *pool, const char *component,
                      bool reported, bool ok)
{
    bool began = false;
    bool ended = false;

    pthread_mutex_lock(&pool->lock);
    if (reported)
        pool->db_reporting = false;
    if (!ok && !pool->db_down)
        began = pool->db_down = true;
    else if (ok && pool->db_down) {
        pool->db_down = false;
        ended = true;
    }
    pthread_mutex_unlock(&pool->lock);
    if (began)
        worker_metrics_set_db_up(pool->metrics, false);
    if (ok)
        worker_metrics_set_db_up(pool->metrics, true);
    if (ended)
        log_info("database connection back", LOG_STR("thread", component));
    if (ok)
        atomic_store(&pool->db_ready, true);
}

bool worker_db_try(struct worker_pool *pool, const char *component,
                   PGconn **conn)
{
    bool reported;
    bool ok;

    if (*conn != NULL && PQstatus(*conn) == CONNECTION_OK)
        return true;
    db_conn_close(*conn);
    *conn = NULL;
    reported = take_report(pool);
    ok = db_conn_open_at(pool->cfg, component,
                         reported ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG,
                         conn) == PAYQ_OK;
    after_try(pool, component, reported, ok);
    return ok;
}

enum payq_err worker_db_ensure(struct worker_pool *pool, const char *component,
                               PGconn **conn, enum worker_stop until)
{
    uint64_t rng = backoff_seed();
    int tries = 0;

    while (!worker_db_try(pool, component, conn)) {
        long long wait = RECONNECT_BASE_MS / 2 +
                         backoff_delay_ms(RECONNECT_BASE_MS, RECONNECT_CAP_MS,
                                          tries++, &rng);

        if (worker_sleep(pool, wait, until, false) >= until)
            return PAYQ_ERR_INTERRUPTED;
    }
    if (tries > 0)
        log_debug("database connection re-opened", LOG_STR("thread", component),
                  LOG_INT("tries", tries));
    return PAYQ_OK;
}
