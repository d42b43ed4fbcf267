/*
 * The worker pool's shared state and the contracts between its threads.
 * Private to worker/: nothing outside includes this file.
 *
 * Threads and what they own:
 *   main         worker_pool_run(): starts and stops the others, turns
 *                signals into the stop level, pets the systemd watchdog;
 *   senders      worker/send.c, settings.workers of them: claim, send,
 *                record; each owns a connection and a provider client;
 *   listener     worker/listen.c: LISTEN on its own connection, wakes
 *                idle senders on NOTIFY;
 *   maintenance  worker/maint.c: leases, callback deadlines, heartbeat,
 *                progress, metrics snapshot and the re-check of pauses.
 *
 * Everything mutable that threads share lives in struct worker_pool under
 * its one mutex, `lock`, except the counters, which are atomics, and the
 * rate limiter and metrics, which lock themselves. No code holds `lock`
 * across a database query or an HTTP call.
 */
#ifndef PAYQ_WORKER_INTERNAL_H
#define PAYQ_WORKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <libpq-fe.h>

#include "core/ratelimit.h"
#include "upstream/client.h"
#include "worker/httpd.h"
#include "worker/metrics.h"
#include "worker/pool.h"

/*
 * Time a lease must have left beyond the longest request before a job may
 * be sent: the record's write and clock drift. A lease shorter than the
 * request timeout plus this margin plus a second is refused.
 */
#define WORKER_LEASE_MARGIN_MS 10000

/* How hard the pool is stopping. */
enum worker_stop {
    WORKER_RUNNING,  /* claim and send */
    WORKER_DRAINING, /* claim nothing; finish what is in flight */
    WORKER_ABANDON,  /* drop everything now; leases recover it */
};

/* The scopes of pool_pauses, in the order of its check constraint. */
enum worker_scope {
    WORKER_SCOPE_ALL,
    WORKER_SCOPE_PAY,
    WORKER_SCOPE_DEPOSIT,
    WORKER_SCOPE_COUNT,
};

/* Why sending of one scope is paused, while `on`. */
struct worker_pause {
    bool on;
    bool short_float;        /* deposits: lifted by a good balance */
    char reason[200];        /* for logs, status and pool_pauses */
    char code[16];           /* the provider's code, "" when none */
    long long since_ms;      /* monotonic */
    long long recheck_at_ms; /* monotonic: when maintenance looks again */
    int rechecks;            /* failed re-checks: the backoff's exponent */
    bool stored;             /* pool_pauses holds our row */
    bool dirty;              /* pool_pauses must be brought up to date */
};

/* The deposit float as last seen, so claims need not ask every time. */
struct worker_float {
    long long checked_ms; /* monotonic; 0: never */
    bool checking;        /* a thread is asking now: others use verdict */
    bool enough;          /* the last verdict */
};

struct worker_pool {
    const struct config *cfg;
    const struct upstream_config *ucfg;
    struct worker_settings s;
    char name[QUEUE_OWNER_MAX - 8]; /* host:pid:random, workers.id */
    char host[48];

    pthread_mutex_t lock;
    pthread_cond_t wake;        /* work may be ready, or stop changed */
    pthread_cond_t slot_freed;  /* in_flight went down */
    unsigned long long wake_seq; /* bumped on every wake-up */
    enum worker_stop stop;
    int in_flight;
    int max_in_flight;
    struct worker_pause pauses[WORKER_SCOPE_COUNT];
    struct worker_float float_cache;
    bool unreachable;           /* the last request did not leave */
    long long unsent_tries;     /* requests not sent since it began */
    bool db_down;               /* an outage began and has not ended */
    bool db_reporting;          /* a thread's try will log the outage */

    struct ratelimit *rate;
    struct worker_metrics *metrics;
    struct worker_httpd *httpd;

    atomic_llong done;         /* outcomes recorded by this process */
    atomic_int senders_alive;  /* sender threads not yet returned */
    atomic_bool db_ready;      /* a first connection succeeded */

    pthread_t *threads;        /* senders, then listener, maintenance */
    int thread_count;
    bool threads_joined;
};

/* Monotonic milliseconds. */
long long worker_now_ms(void);

/* The pool's stop level, read under its lock. */
enum worker_stop worker_stop_level(struct worker_pool *pool);

/*
 * Sleeps up to ms, waking early when the stop level reaches at least
 * `until`, or when any wake-up comes if on_wake. Returns the stop level.
 */
enum worker_stop worker_sleep(struct worker_pool *pool, long long ms,
                              enum worker_stop until, bool on_wake);

/* Tells systemd state ("READY=1"...); nothing outside systemd. */
void worker_sd_notify(const char *state);

/* Wakes every sleeping thread: work may be ready. */
void worker_wake_all(struct worker_pool *pool);

/* The count of wake-ups so far, to wait for the next one. */
unsigned long long worker_wake_seq(struct worker_pool *pool);

/*
 * Sleeps up to ms or until a wake-up after seq (taken before looking for
 * work, so one that came meanwhile is not missed) or a stop. Returns the
 * stop level.
 */
enum worker_stop worker_wait_work(struct worker_pool *pool, long long ms,
                                  unsigned long long seq);

/*
 * A connection that comes back: opens it when closed or broken, waiting
 * with backoff (1 s doubling to 30 s) between tries, until it opens or
 * the stop level reaches `until`. Returns PAYQ_OK with *conn open, or
 * PAYQ_ERR_INTERRUPTED. An outage is logged once for the whole process
 * (the first failed try, at warn, with libpq's reason) and its end once
 * (info), whatever the number of threads waiting.
 */
PAYQ_MUST_USE enum payq_err worker_db_ensure(struct worker_pool *pool,
                                             const char *component,
                                             PGconn **conn,
                                             enum worker_stop until);

/*
 * One try of worker_db_ensure(), for a thread that must not block:
 * true when *conn is open (now or already).
 */
bool worker_db_try(struct worker_pool *pool, const char *component,
                   PGconn **conn);

/* True when err says the connection is gone (reconnect, then retry). */
bool worker_db_lost(PGconn *conn, enum payq_err err);

/*
 * db_result_check() for the pool's statements, except that a lost
 * connection is not logged (the outage is, once): PAYQ_ERR_DB_CONNECT.
 */
PAYQ_MUST_USE enum payq_err worker_db_check(PGconn *conn,
                                            const PGresult *res,
                                            const char *what);

/* Runs sql (no parameters, no rows) and checks it as worker_db_check(). */
PAYQ_MUST_USE enum payq_err worker_db_exec(PGconn *conn, const char *sql,
                                           const char *what);

/* Thread bodies. arg is the pool. */
void *worker_send_main(void *arg);
void *worker_listen_main(void *arg);
void *worker_maint_main(void *arg);

/*
 * Pauses (worker/pauses.c). Setting a pause that is on changes nothing
 * and logs nothing: one error line per condition, not per job.
 */
void worker_pause_set(struct worker_pool *pool, enum worker_scope scope,
                      bool short_float, const char *reason,
                      const char *code);
void worker_pause_lift(struct worker_pool *pool, enum worker_scope scope,
                       const char *why);

/* Which kinds may be claimed now. */
void worker_pause_allowed(struct worker_pool *pool, bool *pay,
                          bool *deposit);

/*
 * Maintenance: re-checks pauses whose time has come, with a balance
 * request through client, and brings pool_pauses up to date on conn.
 */
void worker_pause_maintain(struct worker_pool *pool, PGconn *conn,
                           struct upstream_client *client);

/*
 * Before deposits are claimed: whether the float covers the next ready
 * deposit, asked at most every WORKER_FLOAT_TTL_MS and shared by all
 * senders. A short float pauses deposits. Any doubt (the balance cannot
 * be read) answers true: the provider's own 1005 is the last guard.
 */
bool worker_float_allows(struct worker_pool *pool, PGconn *conn,
                         struct upstream_client *client);

#define WORKER_FLOAT_TTL_MS 5000

/* The pool_pauses scope name of scope. */
const char *worker_scope_name(enum worker_scope scope);

#endif
