/*
 * The worker pool's life: settings, threads, the stop levels and the
 * systemd protocol. The work itself is in send.c, listen.c and maint.c.
 */
#include "worker/pool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/sdnotify.h"
#include "worker/internal.h"

enum {
    MAIN_TICK_MS = 100,       /* how often main looks at signals */
    ALIVE_MAX_AGE_MS = 10000, /* maintenance beat older: stalled */
    SYSTEMIC_DELAY_MS = 5000, /* a refused job's way back */
};

void worker_settings_init(struct worker_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->workers = 8;
    s->rate = 0;
    s->max_in_flight = 0;
    s->lease_s = 120;
    s->claim_max = QUEUE_CLAIM_MAX;
    s->poll_ms = 1000;
    s->notify = true;
    s->grace_s = 30;
    s->progress_ms = 10000;
    s->http_listen = NULL;
    snprintf(s->txn_prefix, sizeof(s->txn_prefix), "%s", "payq");
    s->policy.backoff_base_ms = 5000;
    s->policy.backoff_cap_ms = 15 * 60 * 1000;
    s->policy.max_probes = 8;
    s->policy.callback_timeout_s = 30 * 60;
    s->policy.systemic_delay_ms = SYSTEMIC_DELAY_MS;
}

long long worker_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum worker_stop worker_stop_level(struct worker_pool *pool)
{
    enum worker_stop level;

    pthread_mutex_lock(&pool->lock);
    level = pool->stop;
    pthread_mutex_unlock(&pool->lock);
    return level;
}

struct timespec worker_deadline_in(long long ms)
{
    struct timespec ts;

    if (ms < 0)
        ms = 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* The one timed wait under the pool's lock. seq NULL: no wake-ups. */
static enum worker_stop wait_locked(struct worker_pool *pool, long long ms,
                                    enum worker_stop until,
                                    const unsigned long long *seq)
{
    struct timespec deadline = worker_deadline_in(ms);
    int rc = 0;

    while (pool->stop < until && rc != ETIMEDOUT &&
           !(seq != NULL && pool->wake_seq != *seq))
        rc = pthread_cond_timedwait(&pool->wake, &pool->lock, &deadline);
    return pool->stop;
}

enum worker_stop worker_sleep(struct worker_pool *pool, long long ms,
                              enum worker_stop until, bool on_wake)
{
    enum worker_stop level;
    unsigned long long seq;

    pthread_mutex_lock(&pool->lock);
    seq = pool->wake_seq;
    level = wait_locked(pool, ms, until, on_wake ? &seq : NULL);
    pthread_mutex_unlock(&pool->lock);
    return level;
}

unsigned long long worker_wake_seq(struct worker_pool *pool)
{
    unsigned long long seq;

    pthread_mutex_lock(&pool->lock);
    seq = pool->wake_seq;
    pthread_mutex_unlock(&pool->lock);
    return seq;
}

enum worker_stop worker_wait_work(struct worker_pool *pool, long long ms,
                                  unsigned long long seq)
{
    enum worker_stop level;

    pthread_mutex_lock(&pool->lock);
    level = wait_locked(pool, ms, WORKER_DRAINING, &seq);
    pthread_mutex_unlock(&pool->lock);
    return level;
}

void worker_sd_notify(const char *state)
{
    /* A failure is logged once inside; the pool runs on without it. */
    if (sdnotify_send(state) != PAYQ_OK)
        return;
}

void worker_wake_all(struct worker_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->wake_seq++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
}

/* The rule that makes leases safe: no request outlives its lease. */
static enum payq_err check_settings(const struct worker_settings *s,
                                    const struct upstream_config *ucfg)
{
    long long longest =
        (long long)ucfg->timeout_ms + WORKER_LEASE_MARGIN_MS + 1000;

    if (s->workers < 1 || s->workers > WORKER_THREADS_MAX) {
        log_error("workers out of range", LOG_INT("workers", s->workers),
                  LOG_INT("max", WORKER_THREADS_MAX));
        return PAYQ_ERR_CONFIG;
    }
    if (s->claim_max < 1 || s->claim_max > QUEUE_CLAIM_MAX || s->poll_ms < 10 ||
        s->grace_s < 0 || s->max_in_flight < 0 || s->progress_ms < 100 ||
        s->rate < 0 || s->policy.max_probes < 0 ||
        s->policy.callback_timeout_s < 1) {
        log_error("worker settings out of range");
        return PAYQ_ERR_CONFIG;
    }
    if ((long long)s->lease_s * 1000 < longest) {
        log_error("the lease must outlast a provider request by 11 s, or "
                  "a job could be taken over while its request is in "
                  "flight; raise --lease or lower PAYQ_TIMEOUT_MS",
                  LOG_INT("lease_s", s->lease_s),
                  LOG_INT("timeout_ms", ucfg->timeout_ms));
        return PAYQ_ERR_CONFIG;
    }
    return PAYQ_OK;
}

/* host:pid:random. The random part keeps a restarted container with the
 * same host name and pid from sharing a name with its predecessor. */
static void name_pool(struct worker_pool *pool)
{
    uint64_t rng = backoff_seed();

    if (gethostname(pool->host, sizeof(pool->host)) != 0)
        snprintf(pool->host, sizeof(pool->host), "%s", "unknown");
    pool->host[sizeof(pool->host) - 1] = '\0';
    snprintf(pool->name, sizeof(pool->name), "%.32s:%d:%04x", pool->host,
             (int)getpid(), (unsigned)(rng & 0xffff));
}

static enum payq_err init_sync(struct worker_pool *pool)
{
    pthread_condattr_t attr;
    int rc;

    if (pthread_condattr_init(&attr) != 0)
        return PAYQ_ERR_NOMEM;
    /* Timed waits against the monotonic clock: immune to clock jumps. */
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&pool->wake, &attr);
    if (rc == 0)
        rc = pthread_cond_init(&pool->slot_freed, &attr);
    if (rc == 0)
        rc = pthread_cond_init(&pool->fed, &attr);
    if (rc == 0)
        rc = pthread_cond_init(&pool->recorded, &attr);
    pthread_condattr_destroy(&attr);
    if (rc == 0)
        rc = pthread_mutex_init(&pool->lock, NULL);
    return rc == 0 ? PAYQ_OK : PAYQ_ERR_NOMEM;
}

enum payq_err worker_pool_create(const struct config *cfg,
                                 const struct upstream_config *ucfg,
                                 const struct worker_settings *s,
                                 struct worker_pool **out)
{
    struct worker_pool *pool = NULL;
    double rate = (double)s->rate;
    enum payq_err err = check_settings(s, ucfg);

    *out = NULL;
    if (err != PAYQ_OK)
        return err;
    pool = mem_calloc(1, sizeof(*pool));
    if (pool == NULL)
        return PAYQ_ERR_NOMEM;
    pool->cfg = cfg;
    pool->ucfg = ucfg;
    pool->s = *s;
    pool->max_in_flight = s->max_in_flight > 0 ? s->max_in_flight : s->workers;
    name_pool(pool);
    err = init_sync(pool);
    if (err != PAYQ_OK) {
        mem_free(pool);
        return err;
    }
    /* No thread runs yet: from here on, destroy frees what was made. */
    pool->threads_joined = true;
    err = worker_feed_init(pool);
    if (err == PAYQ_OK)
        err = worker_records_init(pool);
    if (err == PAYQ_OK)
        err = ratelimit_create(rate, rate > 1 ? rate : 1, &pool->rate);
    if (err == PAYQ_OK)
        err = worker_metrics_create(&pool->metrics);
    if (err != PAYQ_OK) {
        worker_pool_destroy(pool);
        return err;
    }
    *out = pool;
    return PAYQ_OK;
}

/* Starts senders, then the listener, maintenance and the recorders. */
static enum payq_err start_threads(struct worker_pool *pool)
{
    int total = pool->s.workers + 2 + worker_recorders(pool);
    int i;

    pool->threads = mem_calloc((size_t)total, sizeof(*pool->threads));
    if (pool->threads == NULL)
        return PAYQ_ERR_NOMEM;
    pool->threads_joined = false;
    for (i = 0; i < total; i++) {
        void *(*body)(void *) = worker_send_main;

        if (i == pool->s.workers)
            body = worker_listen_main;
        else if (i == pool->s.workers + 1)
            body = worker_maint_main;
        else if (i > pool->s.workers + 1)
            body = worker_recorder_main;
        if (i < pool->s.workers)
            atomic_fetch_add(&pool->senders_alive, 1);
        if (body == worker_recorder_main)
            atomic_fetch_add(&pool->recorders_alive, 1);
        if (pthread_create(&pool->threads[i], NULL, body, pool) != 0) {
            if (i < pool->s.workers)
                atomic_fetch_sub(&pool->senders_alive, 1);
            if (body == worker_recorder_main)
                atomic_fetch_sub(&pool->recorders_alive, 1);
            log_error("cannot start a worker thread", LOG_INT("thread", i));
            return PAYQ_ERR_NOMEM;
        }
        pool->thread_count++;
    }
    return PAYQ_OK;
}

static void set_stop(struct worker_pool *pool, enum worker_stop level)
{
    pthread_mutex_lock(&pool->lock);
    if (level > pool->stop)
        pool->stop = level;
    pool->wake_seq++;
    pthread_cond_broadcast(&pool->wake);
    pthread_cond_broadcast(&pool->slot_freed);
    pthread_cond_broadcast(&pool->fed);
    pthread_cond_broadcast(&pool->recorded);
    pthread_mutex_unlock(&pool->lock);
}

static void join_threads(struct worker_pool *pool)
{
    int i;

    for (i = 0; i < pool->thread_count; i++)
        pthread_join(pool->threads[i], NULL);
    pool->threads_joined = true;
}

/* The systemd watchdog is fed only while maintenance is alive, so a
 * stuck pool is restarted rather than kept alive by the main thread. */
static void feed_watchdog(struct worker_pool *pool, long long *last_ms,
                          long long interval_ms)
{
    long long now = worker_now_ms();

    if (interval_ms <= 0 || now - *last_ms < interval_ms)
        return;
    if (!worker_metrics_alive(pool->metrics, ALIVE_MAX_AGE_MS))
        return;
    *last_ms = now;
    worker_sd_notify("WATCHDOG=1");
}

/* Waits for the database, then says READY. false: stopped first. */
static bool wait_ready(struct worker_pool *pool, volatile sig_atomic_t *stop)
{
    while (!atomic_load(&pool->db_ready)) {
        if (*stop >= 1)
            return false;
        nanosleep(&(struct timespec){ 0, MAIN_TICK_MS * 1000000L }, NULL);
    }
    worker_sd_notify("READY=1\nSTATUS=claiming jobs");
    log_info("worker pool ready", LOG_STR("name", pool->name),
             LOG_INT("workers", pool->s.workers), LOG_INT("rate", pool->s.rate),
             LOG_INT("max_in_flight", pool->max_in_flight),
             LOG_STR("notify", pool->s.notify ? "listen" : "poll"));
    return true;
}

/*
 * Main loop: signals into stop levels, until senders are done and the
 * recorders have written what they left.
 */
static enum payq_err supervise(struct worker_pool *pool,
                               volatile sig_atomic_t *stop)
{
    long long watchdog_ms = sdnotify_watchdog_usec() / 2000;
    long long fed_ms = 0;
    long long grace_end = 0;
    bool ready = wait_ready(pool, stop);

    while (atomic_load(&pool->senders_alive) > 0 ||
           atomic_load(&pool->recorders_alive) > 0) {
        if (ready)
            feed_watchdog(pool, &fed_ms, watchdog_ms);
        if (*stop >= 1 && grace_end == 0) {
            worker_sd_notify("STOPPING=1");
            log_info("stopping: no new claims; finishing requests in flight",
                     LOG_INT("grace_s", pool->s.grace_s));
            worker_metrics_set_stopping(pool->metrics, true);
            set_stop(pool, WORKER_DRAINING);
            grace_end = worker_now_ms() + pool->s.grace_s * 1000LL;
        }
        if (*stop >= 2 || (grace_end != 0 && worker_now_ms() > grace_end)) {
            log_warn(*stop >= 2 ? "second signal: exiting at once"
                                : "grace time over: exiting at once",
                     LOG_STR("recovery", "leases expire; open attempts "
                                         "are probed with the same id"));
            set_stop(pool, WORKER_ABANDON);
            return PAYQ_ERR_INTERRUPTED;
        }
        nanosleep(&(struct timespec){ 0, MAIN_TICK_MS * 1000000L }, NULL);
    }
    if (*stop == 0) {
        /* Not asked to stop: every sender failed to start or run. */
        log_error("every worker thread stopped on its own; see above");
        return PAYQ_ERR_IO;
    }
    return PAYQ_OK;
}

enum payq_err worker_pool_run(struct worker_pool *pool,
                              volatile sig_atomic_t *stop)
{
    enum payq_err err = PAYQ_OK;

    if (pool->s.http_listen != NULL)
        err = worker_httpd_start(pool->s.http_listen, pool->metrics,
                                 &pool->httpd);
    if (err != PAYQ_OK)
        return err;
    worker_metrics_beat(pool->metrics);
    err = start_threads(pool);
    if (err == PAYQ_OK)
        err = supervise(pool, stop);
    if (err == PAYQ_ERR_INTERRUPTED)
        return err;
    /* Senders are done (or never started): stop the helpers too. */
    set_stop(pool, WORKER_ABANDON);
    join_threads(pool);
    worker_httpd_stop(pool->httpd);
    pool->httpd = NULL;
    if (err == PAYQ_OK)
        log_info("worker pool stopped",
                 LOG_INT("outcomes", atomic_load(&pool->done)));
    return err;
}

void worker_pool_destroy(struct worker_pool *pool)
{
    if (pool == NULL || !pool->threads_joined)
        return;
    worker_httpd_stop(pool->httpd);
    worker_metrics_destroy(pool->metrics);
    ratelimit_destroy(pool->rate);
    worker_feed_cleanup(pool);
    worker_records_cleanup(pool);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->slot_freed);
    pthread_cond_destroy(&pool->fed);
    pthread_cond_destroy(&pool->recorded);
    pthread_mutex_destroy(&pool->lock);
    mem_free(pool->threads);
    mem_free(pool);
}
