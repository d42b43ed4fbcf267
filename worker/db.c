/*
 * Connections that come back. A pool thread never exits over a database
 * outage: it waits, with backoff, and carries on where it was, so a
 * result obtained while the database was away is written when it returns.
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

/* One try. Drops a broken connection first. */
static enum payq_err try_open(struct worker_pool *pool,
                              const char *component, int tries,
                              PGconn **conn)
{
    /* The reason once, at the start of an outage; then only at debug. */
    enum log_level level = tries == 0 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG;

    if (*conn != NULL && PQstatus(*conn) == CONNECTION_OK)
        return PAYQ_OK;
    db_conn_close(*conn);
    *conn = NULL;
    return db_conn_open_at(pool->cfg, component, level, conn);
}

enum payq_err worker_db_ensure(struct worker_pool *pool,
                               const char *component, PGconn **conn,
                               enum worker_stop until)
{
    uint64_t rng = backoff_seed();
    bool was_down = *conn != NULL && PQstatus(*conn) != CONNECTION_OK;
    int tries = 0;

    while (try_open(pool, component, tries, conn) != PAYQ_OK) {
        long long wait = RECONNECT_BASE_MS / 2 +
                         backoff_delay_ms(RECONNECT_BASE_MS,
                                          RECONNECT_CAP_MS, tries, &rng);

        if (tries++ == 0) {
            worker_metrics_set_db_up(pool->metrics, false);
            log_warn("database unreachable; retrying with backoff",
                     LOG_STR("thread", component));
        }
        if (worker_sleep(pool, wait, until, false) >= until)
            return PAYQ_ERR_INTERRUPTED;
    }
    if (tries > 0 || was_down)
        log_info("database connection back", LOG_STR("thread", component),
                 LOG_INT("tries", tries));
    worker_metrics_set_db_up(pool->metrics, true);
    atomic_store(&pool->db_ready, true);
    return PAYQ_OK;
}
