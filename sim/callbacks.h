/*
 * Callback delivery: a small pool of named sender threads that POST JSON
 * bodies with libcurl, off the request path, retrying with exponential
 * backoff.
 *
 * A delivery is queued for a transaction id and a URL with a delay. When
 * it falls due, a sender asks the prepare hook for the body (so the pay
 * settles at that moment, not when it was queued), POSTs it, and reports
 * each attempt to the result hook. Only HTTP 200 acknowledges; anything
 * else, or no answer within the attempt timeout, is retried up to
 * `retries` times, waiting backoff_ms, then twice that, and so on.
 *
 * Threads: sim_callbacks_submit() and sim_callbacks_send_now() may be
 * called from any thread. The hooks run on sender threads (and on the
 * caller's, for send_now) without any lock of this module held.
 */
#ifndef PAYQ_SIM_CALLBACKS_H
#define PAYQ_SIM_CALLBACKS_H

#include <stdbool.h>

#include "core/err.h"

struct sim_callbacks;

/* Most deliveries waiting at once; more are refused. */
#define SIM_CALLBACKS_QUEUE_MAX 4000000

struct sim_callbacks_hooks {
    void *ctx; /* passed to both hooks */
    /*
     * Returns the body for id's callback, NUL-terminated, or NULL when
     * nothing is to be sent. The module frees it with mem_free().
     */
    char *(*prepare)(void *ctx, const char *id);
    /* Reports one attempt for id and whether it got HTTP 200. */
    void (*result)(void *ctx, const char *id, bool acked);
};

struct sim_callbacks_settings {
    int threads;     /* sender threads, at least 1 */
    int retries;     /* attempts after the first */
    long backoff_ms; /* wait before the first retry; doubles each time */
    long timeout_ms; /* longest one attempt may take */
};

/*
 * Starts the sender threads. Returns PAYQ_OK with *out set, or
 * PAYQ_ERR_NOMEM / PAYQ_ERR_IO (a thread would not start). libcurl must
 * be initialised (curl_global_init) first. The caller frees the pool
 * with sim_callbacks_destroy().
 */
PAYQ_MUST_USE enum payq_err
sim_callbacks_create(const struct sim_callbacks_settings *settings,
                     const struct sim_callbacks_hooks *hooks,
                     struct sim_callbacks **out);

/*
 * Queues a delivery of id's callback to url after delay_ms, then
 * `extra_copies` more deliveries of the same body (duplicates). id and
 * url are copied. PAYQ_ERR_TOO_LARGE when the queue is full,
 * PAYQ_ERR_NOMEM.
 */
PAYQ_MUST_USE enum payq_err sim_callbacks_submit(struct sim_callbacks *cbs,
                                                 const char *id,
                                                 const char *url, long delay_ms,
                                                 int extra_copies);

/*
 * Prepares and makes the first attempt of id's delivery in the calling
 * thread, and queues whatever remains (retries, copies). For callbacks
 * that must arrive before the request that caused them is answered.
 */
PAYQ_MUST_USE enum payq_err sim_callbacks_send_now(struct sim_callbacks *cbs,
                                                   const char *id,
                                                   const char *url,
                                                   int extra_copies);

/*
 * Stops the pool: deliveries falling due within grace_ms are still made,
 * the rest are abandoned (and counted in a warning); then the threads are
 * joined and everything freed. No other thread may use cbs afterwards.
 */
void sim_callbacks_destroy(struct sim_callbacks *cbs, long grace_ms);

#endif
