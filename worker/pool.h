/*
 * The worker pool behind `payq work`: N threads, each with its own
 * database connection and provider client, claiming jobs for the pool
 * and sending them; recorder threads that write their outcomes, many per
 * statement; a listener thread that wakes idle workers on NOTIFY; a
 * maintenance thread that takes back expired leases, expires pending
 * jobs past their callback deadline, reports progress and keeps this
 * process's row in `workers` fresh.
 *
 * The database is the only coordinator: several pools, on one host or
 * many, may drain the same queue. Design note: worker/README.md.
 */
#ifndef PAYQ_WORKER_POOL_H
#define PAYQ_WORKER_POOL_H

#include <signal.h>
#include <stdbool.h>

#include "core/config.h"
#include "core/err.h"
#include "queue/claim.h"
#include "upstream/config.h"
#include "worker/decide.h"

#define WORKER_THREADS_MAX 256

struct worker_settings {
    int workers;                 /* --workers; 8 */
    long long rate;              /* --rate: requests per second; 0 unlimited */
    int max_in_flight;           /* --max-in-flight; 0: as many as workers */
    int lease_s;                 /* --lease: seconds a claim is held; 120 */
    int claim_max;               /* --claim: most jobs per claim; 64 */
    int poll_ms;                 /* --poll: idle wait without NOTIFY; 1000 */
    bool notify;                 /* LISTEN/NOTIFY; false with --no-listen */
    int grace_s;                 /* --grace: in-flight time at shutdown; 30 */
    int progress_ms;             /* --progress: info line interval; 10000 */
    const char *http_listen;     /* --listen ADDR:PORT for /metrics; NULL */
    const char *callback_secret; /* PAYQ_CALLBACK_SECRET: URL tokens */
    char txn_prefix[QUEUE_PREFIX_MAX + 1]; /* PAYQ_TXN_PREFIX */
    struct worker_policy policy;
};

struct worker_pool;

/* Fills s with the defaults above. */
void worker_settings_init(struct worker_settings *s);

/*
 * Creates a pool. cfg and ucfg are borrowed and must outlive it. The
 * caller frees it with worker_pool_destroy().
 */
PAYQ_MUST_USE enum payq_err
worker_pool_create(const struct config *cfg, const struct upstream_config *ucfg,
                   const struct worker_settings *s, struct worker_pool **out);

/*
 * Starts the threads and runs until *stop becomes 1 (a signal handler sets
 * it): then stops claiming, lets requests in flight finish within the
 * grace time, releases jobs claimed but not started, and returns PAYQ_OK.
 * If *stop reaches 2 (a second signal), or the grace time runs out, it
 * returns PAYQ_ERR_INTERRUPTED at once with threads still running: the
 * caller must then end the process with _exit(). What was in flight is
 * recovered by lease expiry and probing, as after a crash. Call from the
 * main thread. A database that cannot be reached is waited for, at
 * start as later. PAYQ_ERR_NOMEM when threads cannot start,
 * PAYQ_ERR_CONFIG when the --listen address cannot be served.
 */
PAYQ_MUST_USE enum payq_err worker_pool_run(struct worker_pool *pool,
                                            volatile sig_atomic_t *stop);

/*
 * Frees the pool after worker_pool_run() returned PAYQ_OK (its threads
 * have stopped). NULL is allowed; a pool whose threads still run is left
 * alone, as the process is about to end.
 */
void worker_pool_destroy(struct worker_pool *pool);

#endif
