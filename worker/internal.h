/*
 * The worker pool's shared state and the contracts between its threads.
 * Private to worker/: nothing outside includes this file.
 *
 * Threads and what they own:
 *   main         worker_pool_run(): starts and stops the others, turns
 *                signals into the stop level, pets the systemd watchdog;
 *   senders      worker/send.c, settings.workers of them: take a claimed
 *                job from the feed (worker/feed.c), or claim more for
 *                the feed when it runs low, send it, and hand its outcome
 *                to the recorder; each owns a connection and a provider
 *                client;
 *   recorders    worker/recorder.c, one for every 8 senders (at most
 *                WORKER_RECORDERS_MAX): write the outcomes of every
 *                sender, many jobs per statement, each on its own
 *                connection;
 *   listener     worker/listen.c: LISTEN on its own connection, wakes
 *                idle senders on NOTIFY;
 *   maintenance  worker/maint.c: leases, callback deadlines, heartbeat,
 *                progress, metrics snapshot and the re-check of pauses.
 *
 * Everything mutable that threads share lives in struct worker_pool under
 * its one mutex, `lock`, except the counters, which are atomics, and the
 * rate limiter and metrics, which lock themselves. The feed and the
 * recorder's ring are part of it: a claimed job belongs to the feed until
 * a sender takes it, then to that sender until its outcome is in the
 * ring, then to a recorder until written. No code holds `lock` across a
 * database query or an HTTP call.
 */
#ifndef PAYQ_WORKER_INTERNAL_H
#define PAYQ_WORKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

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

/* A claimed job waiting in the feed, or the one a sender runs. */
struct worker_claimed {
    struct queue_job job;
    char owner[QUEUE_OWNER_MAX + 1]; /* the lease it was claimed under */
    long long leased_ms;             /* monotonic: when that lease began */
};

/* Most claims of one process at once. */
#define WORKER_CLAIMERS_MAX 4

/*
 * Claimed jobs waiting for a sender: the whole pool's, so that any idle
 * sender takes the next one (no job waits behind a busy sender, and the
 * last jobs of a drain spread over every sender), and a sender claims
 * more while the others still have work. Sizes, fixed at start
 * (worker/feed.c): the pool holds at most `hold` jobs (waiting here,
 * being claimed, or with a sender), which bounds what a lease must
 * cover; a claim asks for `claim_size`, at most `claimers_max` at once.
 */
struct worker_feed {
    struct worker_claimed *slots; /* a ring of `hold` entries */
    int head;
    int count;      /* waiting in the ring */
    int in_service; /* taken by senders, not yet recorded */
    int reserved;   /* asked for by claims in progress */
    int claimers;   /* claims in progress */
    int hold;
    int claim_size;
    int claimers_max;
    struct queue_job *scratch[WORKER_CLAIMERS_MAX]; /* a claim's rows */
    bool scratch_busy[WORKER_CLAIMERS_MAX];
    struct queue_cursor cursor;    /* where the last claim stopped */
    unsigned long long cursor_seq; /* wake_seq when it was set */
    long long cursor_ms;           /* monotonic: when it was set */
    bool idle;                     /* the last claim found the queue dry */
    bool probing;                  /* one claim at a time until one is full */
    unsigned long long idle_seq;   /* wake_seq when that claim began */
    long long idle_until_ms;       /* monotonic: poll again then */
};

/* Where an outcome in the recorders' ring is. */
enum worker_record_state {
    WORKER_RECORD_QUEUED,  /* waiting for a recorder */
    WORKER_RECORD_WRITING, /* in a recorder's statement now */
    WORKER_RECORD_WRITTEN, /* done, its slot not yet given back */
};

/* An outcome waiting for a recorder; its strings point into it. */
struct worker_record {
    enum worker_record_state state;
    struct queue_job job;
    struct queue_result res;
    char owner[QUEUE_OWNER_MAX + 1];
    char code[UPSTREAM_CODE_SIZE];
    char message[2 * UPSTREAM_MESSAGE_SIZE];
    char provider_txn_id[UPSTREAM_ID_SIZE];
    char reference_no[UPSTREAM_ID_SIZE];
    char *body; /* mem_strdup()ed copy, or NULL */
};

/* Most recorder threads. */
#define WORKER_RECORDERS_MAX 3

/*
 * The recorders' ring (worker/recorder.c): room for two whole batches,
 * so that one gathers while another is written. Recorders take batches
 * in order and may finish them out of order; a slot is given back once
 * it and every older one are written.
 */
struct worker_records {
    struct worker_record *slots; /* `size` entries */
    int size;
    int recorders; /* recorder threads */
    int head;      /* the oldest slot in use */
    int count;     /* in use from head, in any state */
    int next;      /* from head: the first still queued */
    int writers;   /* recorders writing a batch now */
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
    pthread_cond_t wake;         /* work may be ready, or stop changed */
    pthread_cond_t slot_freed;   /* in_flight went down */
    pthread_cond_t fed;          /* the feed changed */
    pthread_cond_t recorded;     /* the recorder's ring changed */
    unsigned long long wake_seq; /* bumped on every wake-up */
    enum worker_stop stop;
    int in_flight;
    int max_in_flight;
    struct worker_pause pauses[WORKER_SCOPE_COUNT];
    struct worker_float float_cache;
    bool unreachable;       /* the last request did not leave */
    long long unsent_tries; /* requests not sent since it began */
    bool db_down;           /* an outage began and has not ended */
    bool db_reporting;      /* a thread's try will log the outage */
    struct worker_feed feed;
    struct worker_records records;

    struct ratelimit *rate;
    struct worker_metrics *metrics;
    struct worker_httpd *httpd;

    atomic_llong done;          /* outcomes recorded by this process */
    atomic_int senders_alive;   /* sender threads not yet returned */
    atomic_bool db_ready;       /* a first connection succeeded */
    atomic_int recorders_alive; /* recorder threads not yet returned */

    pthread_t *threads; /* senders, then listener, maintenance,
                         * recorders */
    int thread_count;
    bool threads_joined;
};

/* Monotonic milliseconds. */
long long worker_now_ms(void);

/* The CLOCK_MONOTONIC time ms from now (0 when negative): for the
 * pool's timed waits, whose conditions use that clock. */
struct timespec worker_deadline_in(long long ms);

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

/* Runs sql (no parameters, no rows) and checks it as
 * db_result_check_outage() does: the outage is logged once, elsewhere. */
PAYQ_MUST_USE enum payq_err worker_db_exec(PGconn *conn, const char *sql,
                                           const char *what);

/* Thread bodies. arg is the pool. */
void *worker_send_main(void *arg);
void *worker_listen_main(void *arg);
void *worker_maint_main(void *arg);
void *worker_recorder_main(void *arg);

/*
 * The feed (worker/feed.c). init sizes it from the settings and
 * allocates it (PAYQ_ERR_NOMEM); cleanup frees it, with no thread left.
 */
PAYQ_MUST_USE enum payq_err worker_feed_init(struct worker_pool *pool);
void worker_feed_cleanup(struct worker_pool *pool);

/* A claim a sender is asked to make for the feed. */
struct worker_claim {
    int scratch;                /* which of the feed's buffers it fills */
    struct queue_job *jobs;     /* that buffer */
    int max;                    /* jobs to ask for, <= QUEUE_CLAIM_MAX */
    unsigned long long seq;     /* wake_seq when it was handed out */
    struct queue_cursor cursor; /* where to go on from; the claim moves it */
    bool from_start;            /* no cursor: a short claim means dry */
};

enum worker_step {
    WORKER_STEP_JOB,   /* *job holds a claimed job: run it, then done() */
    WORKER_STEP_CLAIM, /* make *claim, then put() what it took */
    WORKER_STEP_STOP,  /* the pool stops: release what the feed holds */
};

/*
 * A sender's next step, waiting while there is none: a claim when the
 * feed has room and the queue was not just found dry (then a NOTIFY or
 * the poll interval ends the wait), else the oldest waiting job.
 */
enum worker_step worker_feed_next(struct worker_pool *pool,
                                  struct worker_claimed *job,
                                  struct worker_claim *claim);

/*
 * Hands the feed claim's first n jobs, claimed under owner's lease at
 * leased_ms. Fewer than asked means the queue is dry for now.
 */
void worker_feed_put(struct worker_pool *pool, const struct worker_claim *claim,
                     int n, const char *owner, long long leased_ms);

/* A job taken by WORKER_STEP_JOB is settled (its outcome queued). */
void worker_feed_done(struct worker_pool *pool);

/* Takes any waiting job, for release at a stop; false when none. */
bool worker_feed_drain(struct worker_pool *pool, struct worker_claimed *job);

/*
 * Renews, in one statement on conn, the leases of jobs that have waited
 * in the feed for half of what a sender allows (lease less the margin
 * and the request timeout), so that a slow provider never lets them
 * expire before their turn. Maintenance calls it; a failure is left to
 * each sender's own check before it sends.
 */
void worker_feed_renew(struct worker_pool *pool, PGconn *conn);

/*
 * The recorders (worker/recorder.c). init sizes their ring from the
 * settings and allocates it (PAYQ_ERR_NOMEM); cleanup frees it, with no
 * thread left.
 */
PAYQ_MUST_USE enum payq_err worker_records_init(struct worker_pool *pool);
void worker_records_cleanup(struct worker_pool *pool);

/*
 * Queues res for job, claimed under owner, to be written by a recorder;
 * copies everything. Waits while the ring is full. false when
 * the pool abandons first: the outcome is dropped, and the job's lease
 * will expire and its attempt be probed with the same id.
 */
bool worker_record_push(struct worker_pool *pool, const char *owner,
                        const struct queue_job *job,
                        const struct queue_result *res);

/* Tells the recorders that a sender returned. */
void worker_record_kick(struct worker_pool *pool);

/* Recorder threads to start. */
int worker_recorders(const struct worker_pool *pool);

/*
 * Pauses (worker/pauses.c). Setting a pause that is on changes nothing
 * and logs nothing: one error line per condition, not per job.
 */
void worker_pause_set(struct worker_pool *pool, enum worker_scope scope,
                      bool short_float, const char *reason, const char *code);
void worker_pause_lift(struct worker_pool *pool, enum worker_scope scope,
                       const char *why);

/* Which kinds may be claimed now. */
void worker_pause_allowed(struct worker_pool *pool, bool *pay, bool *deposit);

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
