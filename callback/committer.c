/* Group commit of callbacks: a queue and its committer threads. */
#include "callback/committer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "db/conn.h"

struct callback_committer {
    const struct config *cfg;
    atomic_int connected;      /* threads whose connection is open */
    atomic_bool outage_logged; /* an outage is warned of once */
    pthread_mutex_t lock;
    pthread_cond_t ready;      /* the queue is not empty, or stop */
    struct callback_job *head; /* first in, first out */
    struct callback_job *tail;
    bool stop;
    pthread_t threads[CALLBACK_COMMITTERS_MAX];
    int started;
};

/* Takes up to max jobs from the queue, waiting for one; 0: stopping. */
static int take(struct callback_committer *c, struct callback_job **jobs,
                int max)
{
    int n = 0;

    pthread_mutex_lock(&c->lock);
    while (c->head == NULL && !c->stop)
        pthread_cond_wait(&c->ready, &c->lock);
    while (c->head != NULL && n < max && !c->stop) {
        jobs[n++] = c->head;
        c->head = c->head->next;
    }
    if (c->head == NULL)
        c->tail = NULL;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Lock order: rows in txn id order in every batch, so two batches never
 * wait on each other in a cycle. */
static int by_txn(const void *a, const void *b)
{
    const struct callback_job *x = *(struct callback_job *const *)a;
    const struct callback_job *y = *(struct callback_job *const *)b;
    const char *tx = x->item.txn_id != NULL ? x->item.txn_id : "";
    const char *ty = y->item.txn_id != NULL ? y->item.txn_id : "";

    return strcmp(tx, ty);
}

static void fail_all(struct callback_job **jobs, int n, enum payq_err err)
{
    int i;

    for (i = 0; i < n; i++)
        jobs[i]->item.err = err;
}

/*
 * Makes *conn usable, reopening it when it was lost; false when the
 * database cannot be reached. c->connected follows, for readiness.
 */
static bool connect_if_needed(struct callback_committer *c, PGconn **conn)
{
    bool was_open = *conn != NULL;

    if (*conn != NULL && PQstatus(*conn) == CONNECTION_OK)
        return true;
    db_conn_close(*conn);
    *conn = NULL;
    if (was_open)
        atomic_fetch_sub(&c->connected, 1);
    /* One warning per outage for all committers, not one per batch;
     * the reason of each failure is logged at debug. */
    if (db_conn_open_at(c->cfg, "callbacks", LOG_LEVEL_DEBUG, conn) !=
        PAYQ_OK) {
        if (!atomic_exchange(&c->outage_logged, true))
            log_warn("callback receiver cannot reach the database; "
                     "callbacks are answered 503 until it is back");
        return false;
    }
    if (atomic_exchange(&c->outage_logged, false))
        log_info("callback receiver: database connection back");
    atomic_fetch_add(&c->connected, 1);
    return true;
}

/* Stores one batch through a contiguous copy of the items. */
static void store(struct callback_committer *c, PGconn **conn,
                  struct callback_job **jobs, int n,
                  struct callback_item *items)
{
    int i;

    if (!connect_if_needed(c, conn)) {
        fail_all(jobs, n, PAYQ_ERR_DB_CONNECT);
        return;
    }
    for (i = 0; i < n; i++)
        items[i] = jobs[i]->item;
    /* Per-item errors are in the items; the batch's sum is not needed. */
    if (callback_store_batch(*conn, items, n) != PAYQ_OK)
        log_debug("a callback batch had failures", LOG_INT("size", n));
    for (i = 0; i < n; i++)
        jobs[i]->item = items[i];
}

static void *committer_main(void *arg)
{
    struct callback_committer *c = arg;
    struct callback_job *jobs[CALLBACK_STORE_BATCH_MAX];
    struct callback_item *items =
        mem_calloc(CALLBACK_STORE_BATCH_MAX, sizeof(*items));
    PGconn *conn = NULL;
    int n;
    int i;

    /* Connected before the first callback, so readiness means it. */
    (void)connect_if_needed(c, &conn);
    while ((n = take(c, jobs, CALLBACK_STORE_BATCH_MAX)) > 0) {
        qsort(jobs, (size_t)n, sizeof(jobs[0]), by_txn);
        if (items == NULL)
            fail_all(jobs, n, PAYQ_ERR_NOMEM);
        else
            store(c, &conn, jobs, n, items);
        for (i = 0; i < n; i++)
            jobs[i]->done(jobs[i], jobs[i]->arg);
    }
    if (conn != NULL)
        atomic_fetch_sub(&c->connected, 1);
    db_conn_close(conn);
    mem_free(items);
    return NULL;
}

enum payq_err callback_committer_create(const struct config *cfg,
                                        int connections,
                                        struct callback_committer **out)
{
    struct callback_committer *c;

    *out = NULL;
    if (connections < 1 || connections > CALLBACK_COMMITTERS_MAX)
        return PAYQ_ERR_CONFIG;
    c = mem_calloc(1, sizeof(*c));
    if (c == NULL)
        return PAYQ_ERR_NOMEM;
    c->cfg = cfg;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->ready, NULL);
    for (; c->started < connections; c->started++) {
        if (pthread_create(&c->threads[c->started], NULL, committer_main, c) !=
            0) {
            callback_committer_destroy(c);
            return PAYQ_ERR_NOMEM;
        }
    }
    *out = c;
    return PAYQ_OK;
}

int callback_committer_connected(struct callback_committer *c)
{
    return atomic_load(&c->connected);
}

void callback_committer_submit(struct callback_committer *c,
                               struct callback_job *job)
{
    bool refused;

    job->next = NULL;
    pthread_mutex_lock(&c->lock);
    refused = c->stop;
    if (!refused) {
        if (c->tail != NULL)
            c->tail->next = job;
        else
            c->head = job;
        c->tail = job;
        pthread_cond_signal(&c->ready);
    }
    pthread_mutex_unlock(&c->lock);
    if (refused) {
        job->item.err = PAYQ_ERR_INTERRUPTED;
        job->done(job, job->arg);
    }
}

void callback_committer_destroy(struct callback_committer *c)
{
    struct callback_job *rest;
    int i;

    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    rest = c->head;
    c->head = c->tail = NULL;
    pthread_cond_broadcast(&c->ready);
    pthread_mutex_unlock(&c->lock);
    for (i = 0; i < c->started; i++)
        pthread_join(c->threads[i], NULL);
    while (rest != NULL) {
        struct callback_job *next = rest->next;

        rest->item.err = PAYQ_ERR_INTERRUPTED;
        rest->done(rest, rest->arg);
        rest = next;
    }
    pthread_cond_destroy(&c->ready);
    pthread_mutex_destroy(&c->lock);
    mem_free(c);
}
