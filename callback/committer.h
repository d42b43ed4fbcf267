/*
 * Group commit of callbacks. Requests hand their callback to the
 * committer and wait; a few committer threads, each with its own
 * database connection, take every callback waiting at that moment (up to
 * CALLBACK_STORE_BATCH_MAX), store them in one transaction with one
 * commit (callback/store.h), and only then tell each request its
 * outcome. While one batch commits, the next one gathers, so the number
 * of callbacks per commit grows with the load and a commit's fsync is
 * shared by all of them.
 *
 * Nothing is reported stored that was not committed: a failed batch is
 * retried item by item by the store, and what still fails is reported as
 * failed (the HTTP answer is then 503, and the provider sends it again).
 */
#ifndef PAYQ_CALLBACK_COMMITTER_H
#define PAYQ_CALLBACK_COMMITTER_H

#include "callback/store.h"
#include "core/config.h"
#include "core/err.h"

#define CALLBACK_COMMITTERS_MAX 32

/* One callback waiting to be stored; owned by the submitter. */
struct callback_job {
    struct callback_item item; /* inputs, then outputs */
    /* Called once, from a committer thread, when item's outputs are
     * final. It must not block. */
    void (*done)(struct callback_job *job, void *arg);
    void *arg;
    struct callback_job *next; /* the committer's queue link */
};

struct callback_committer;

/*
 * Starts `connections` committer threads (1..CALLBACK_COMMITTERS_MAX) on
 * the database of cfg, which is borrowed and must outlive the committer.
 * Each connects at once; a connection that fails is reopened on the next
 * batch, and meanwhile its batches fail with PAYQ_ERR_DB_CONNECT.
 */
PAYQ_MUST_USE enum payq_err
callback_committer_create(const struct config *cfg, int connections,
                          struct callback_committer **out);

/* How many committers hold an open database connection. Any thread. */
int callback_committer_connected(struct callback_committer *c);

/* Queues job; its done() follows. Any thread. */
void callback_committer_submit(struct callback_committer *c,
                               struct callback_job *job);

/*
 * Stops the threads after the batches in progress; jobs still queued are
 * done() with PAYQ_ERR_INTERRUPTED. NULL is allowed.
 */
void callback_committer_destroy(struct callback_committer *c);

#endif
