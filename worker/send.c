/*
 * A sender thread: take a claimed job from the feed (or claim more for
 * the feed when it runs low), send it, hand its outcome to the recorder.
 *
 * The order of one job is the safety argument:
 *   1. the claim commits the attempt and its transaction id;
 *   2. the job is sent only if its lease will outlast the request, no
 *      pause covers its kind and the pool is not stopping; a job that
 *      waited long for its turn (--rate, --max-in-flight) has its lease
 *      renewed first, so that bounded sending never starves;
 *   3. the outcome is recorded under the lease, by the recorder thread
 *      with others' (worker/recorder.c); a database outage is waited out
 *      and the write retried, never dropped for a new send. The sender
 *      does not wait for the write: nothing it does next depends on it.
 * A job claimed but not started goes back to the queue (released).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "callback/token.h"
#include "core/backoff.h"
#include "core/log.h"
#include "core/mem.h"
#include "db/conn.h"
#include "worker/decide.h"
#include "worker/internal.h"

enum {
    CALLBACK_URL_MAX = 2048,
    BODY_KEEP = 4096, /* bytes of an answer kept with the attempt */
};

/* The thread's name in a claim's lease token, leaving room for ":%x" of
 * the claim counter (at most 9 bytes), which must never be cut off. */
#define LEASE_NAME_MAX (QUEUE_OWNER_MAX - 9)

struct sender {
    struct worker_pool *pool;
    char owner[QUEUE_OWNER_MAX + 1]; /* this thread's name in leases */
    unsigned claims;                 /* claims made, for their tokens */
    PGconn *conn;
    struct upstream_client *client;
    uint64_t rng;
    struct worker_claimed cur; /* the job being run */
    char body[BODY_KEEP + 1];  /* the last answer, NUL-terminated */
};

static atomic_int sender_count;

static const char *endpoint_of(enum job_kind kind)
{
    return kind == JOB_KIND_PAY ? "pay_v2" : "deposit";
}

static enum worker_scope scope_of(enum job_kind kind)
{
    return kind == JOB_KIND_PAY ? WORKER_SCOPE_PAY : WORKER_SCOPE_DEPOSIT;
}

/*
 * Hands res for the current job to the recorder. Dropped only when the
 * pool abandons: then the lease expires and the job is probed.
 */
static void record(struct sender *snd, const struct queue_result *res)
{
    if (!worker_record_push(snd->pool, snd->cur.owner, &snd->cur.job, res))
        log_debug("outcome dropped: the pool abandons",
                  LOG_INT("job", snd->cur.job.id));
}

static void release(struct sender *snd)
{
    struct queue_result res;

    memset(&res, 0, sizeof(res));
    res.kind = QUEUE_RESULT_RELEASE;
    log_debug("job released unsent", LOG_INT("job", snd->cur.job.id));
    record(snd, &res);
}

/* Step 2's conditions, checked before and after any wait. */
static bool may_start(struct sender *snd, const struct queue_job *job)
{
    struct worker_pool *pool = snd->pool;
    bool pay = false;
    bool deposit = false;

    if (worker_stop_level(pool) != WORKER_RUNNING)
        return false;
    worker_pause_allowed(pool, &pay, &deposit);
    return job->kind == JOB_KIND_PAY ? pay : deposit;
}

/*
 * Whether the current job's lease outlasts its request by the margin,
 * renewing it when it does not: it waited for its turn. false when the
 * job is no longer ours, or the renewal could not be made: release it.
 */
static bool lease_left(struct sender *snd)
{
    struct worker_pool *pool = snd->pool;
    struct worker_claimed *cur = &snd->cur;
    long long now = worker_now_ms();
    long long budget = pool->s.lease_s * 1000LL - WORKER_LEASE_MARGIN_MS -
                       pool->ucfg->timeout_ms;
    bool kept = false;

    if (now - cur->leased_ms <= budget)
        return true;
    if (!worker_db_try(pool, "worker", &snd->conn) ||
        queue_lease_renew(snd->conn, cur->owner, &cur->job, pool->s.lease_s,
                          &kept) != PAYQ_OK ||
        !kept) {
        log_debug("lease not renewed; job released",
                  LOG_INT("job", cur->job.id));
        return false;
    }
    cur->leased_ms = now;
    return true;
}

/* Waits for a place among the requests in flight; false: stopping. */
static bool take_slot(struct worker_pool *pool)
{
    bool ok;

    pthread_mutex_lock(&pool->lock);
    while (pool->in_flight >= pool->max_in_flight &&
           pool->stop == WORKER_RUNNING)
        pthread_cond_wait(&pool->slot_freed, &pool->lock);
    ok = pool->stop == WORKER_RUNNING;
    if (ok)
        pool->in_flight++;
    pthread_mutex_unlock(&pool->lock);
    return ok;
}

static void give_slot(struct worker_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->in_flight--;
    pthread_cond_signal(&pool->slot_freed);
    pthread_mutex_unlock(&pool->lock);
}

/*
 * The rate limit's token, then any throttle that began while waiting for
 * it (a reservation is not recalled by a later hold). false when the
 * pool began stopping meanwhile.
 */
static bool wait_turn(struct worker_pool *pool)
{
    long long wait = ratelimit_reserve_ms(pool->rate);

    while (wait > 0) {
        if (worker_sleep(pool, wait, WORKER_DRAINING, false) != WORKER_RUNNING)
            return false;
        wait = ratelimit_hold_left_ms(pool->rate);
    }
    return true;
}

/* Keeps a NUL-terminated copy of the answer for attempts.response_body. */
static const char *keep_body(struct sender *snd)
{
    size_t len = 0;
    const char *raw = upstream_client_last_body(snd->client, &len);

    if (raw == NULL)
        return NULL;
    if (len > BODY_KEEP)
        len = BODY_KEEP;
    memcpy(snd->body, raw, len);
    snd->body[len] = '\0';
    return snd->body;
}

/*
 * Whether requests reach the provider, as one condition of the whole
 * process: logged once when they stop reaching it and once when they
 * reach it again, however many jobs and threads see it meanwhile.
 */
static void note_reach(struct worker_pool *pool,
                       const struct upstream_result *r)
{
    bool reached = r->cls != UPSTREAM_CLASS_NOT_SENT;
    bool changed;
    long long unsent;

    pthread_mutex_lock(&pool->lock);
    changed = pool->unreachable == reached;
    pool->unreachable = !reached;
    if (!reached)
        pool->unsent_tries++;
    unsent = pool->unsent_tries;
    if (changed && reached)
        pool->unsent_tries = 0;
    pthread_mutex_unlock(&pool->lock);
    if (changed && !reached)
        log_warn("requests are not reaching the provider; jobs wait and "
                 "are sent again with the same id, with growing backoff",
                 LOG_STR("reason", r->reason),
                 LOG_INT("curl_code", r->curl_code));
    else if (changed)
        log_info("requests reach the provider again",
                 LOG_INT("tries_not_sent", unsent));
}

static void log_outcome(const struct queue_job *job,
                        const struct upstream_result *r)
{
    log_debug(
        "job sent", LOG_INT("job", job->id),
        LOG_STR("kind", job_kind_name(job->kind)), LOG_STR("txn", job->txn_id),
        LOG_STR("probe", job->resend ? "yes" : "no"),
        LOG_STR("class", upstream_class_name(r->cls)), LOG_STR("code", r->code),
        LOG_STR("reason", r->reason), LOG_INT("ms", r->duration_ms));
}

/*
 * A collection's own callback URL, with the token that proves a callback
 * genuine (callback/token.h). A collection is never sent without it: the
 * client would fall back to the bare PAYQ_CALLBACK_URL, whose callbacks
 * the receiver refuses. PAYQ_ERR_CONFIG when it cannot be made (start-up
 * checks the settings, so this is a second guard).
 */
static enum payq_err callback_url_of(struct worker_pool *pool,
                                     const struct queue_job *job, char *out,
                                     size_t size, const char **url)
{
    *url = NULL;
    if (job->kind != JOB_KIND_PAY)
        return PAYQ_OK;
    if (pool->ucfg->callback_url == NULL ||
        callback_url_pay(pool->ucfg->callback_url, pool->s.callback_secret,
                         job->txn_id, out, size) != PAYQ_OK) {
        log_debug("collection not sent: no callback URL with its token",
                  LOG_INT("job", job->id));
        return PAYQ_ERR_CONFIG;
    }
    *url = out;
    return PAYQ_OK;
}

static void send_one(struct sender *snd, const struct queue_job *job,
                     struct upstream_result *r, struct worker_decision *d)
{
    struct worker_pool *pool = snd->pool;
    char url[CALLBACK_URL_MAX];
    struct upstream_payment pay = {
        .kind = job->kind,
        .request_txn_id = job->txn_id,
        .phone = job->phone,
        .amount = job->amount,
        .reference = job->reference,
        .withdraw_charge = job->withdraw_charge,
        .reason = job->reason,
        .depositor_name = job->depositor_name,
    };
    enum payq_err err =
        callback_url_of(pool, job, url, sizeof(url), &pay.callback_url);

    /* A live id is a probe: 2400 then means the first send arrived. */
    if (err == PAYQ_OK)
        err = upstream_client_send(snd->client, &pay, job->live, r);
    if (err != PAYQ_OK) {
        worker_decide_refused(job, err, &pool->s.policy, &snd->rng, d);
        return;
    }
    note_reach(pool, r);
    log_outcome(job, r);
    worker_metrics_request(pool->metrics, endpoint_of(job->kind), r->cls,
                           r->code, r->duration_ms);
    worker_decide(job, r, keep_body(snd), &pool->s.policy, &snd->rng, d);
}

/* What the pool does besides recording: pauses, slowing, alerts. */
static void act(struct sender *snd, const struct queue_job *job,
                const struct worker_decision *d)
{
    struct worker_pool *pool = snd->pool;

    switch (d->action) {
    case WORKER_ACTION_PAUSE_ALL:
        worker_pause_set(pool, WORKER_SCOPE_ALL, false, d->why, d->code);
        break;
    case WORKER_ACTION_PAUSE_KIND:
        worker_pause_set(pool, scope_of(job->kind), d->short_float, d->why,
                         d->code);
        break;
    case WORKER_ACTION_SLOW_DOWN:
        if (ratelimit_hold_left_ms(pool->rate) == 0)
            log_warn("provider throttled us; the pool slows down",
                     LOG_INT("retry_after_s", d->slow_down_s));
        ratelimit_hold(pool->rate, d->slow_down_s * 1000);
        break;
    case WORKER_ACTION_ALERT:
        log_error("the provider says a new transaction id was used before; "
                  "job set aside for review",
                  LOG_INT("job", job->id), LOG_STR("txn", job->txn_id));
        break;
    case WORKER_ACTION_NONE:
        break;
    }
}

static void run_job(struct sender *snd)
{
    struct worker_pool *pool = snd->pool;
    const struct queue_job *job = &snd->cur.job;
    struct upstream_result r;
    struct worker_decision d;

    if (!may_start(snd, job) || !take_slot(pool)) {
        release(snd);
        return;
    }
    if (!wait_turn(pool) || !may_start(snd, job) || !lease_left(snd)) {
        give_slot(pool);
        release(snd);
        return;
    }
    memset(&r, 0, sizeof(r));
    send_one(snd, job, &r, &d);
    give_slot(pool);
    act(snd, job, &d);
    record(snd, &d.result);
}

/* Which kinds to claim now; false when none. */
static bool kinds_to_claim(struct sender *snd, struct queue_claim_opts *o)
{
    worker_pause_allowed(snd->pool, &o->pay, &o->deposit);
    if (o->deposit && !worker_float_allows(snd->pool, snd->conn, snd->client))
        o->deposit = false;
    return o->pay || o->deposit;
}

/*
 * Claims for the feed under this thread's lease. Whatever goes wrong
 * gives the feed fewer jobs than asked, which it takes as a dry queue:
 * the next claim waits for a NOTIFY or the poll interval, not a hot loop.
 */
static void claim(struct sender *snd, struct worker_claim *c)
{
    struct worker_pool *pool = snd->pool;
    char lease[QUEUE_OWNER_MAX + 1];
    struct queue_claim_opts opts = {
        .owner = lease,
        .prefix = pool->s.txn_prefix,
        .lease_s = pool->s.lease_s,
        .max = c->max,
        .cursor = &c->cursor,
    };
    long long started = worker_now_ms();
    int n = 0;

    /*
     * Each claim leases its jobs under a token of its own. An outcome
     * still waiting for a recorder when its lease ran out (a long
     * database outage) is then refused if this thread has claimed the
     * same job again meanwhile, instead of passing for the new claim's:
     * that could close an attempt the provider may be executing.
     */
    snprintf(lease, sizeof(lease), "%.*s:%x", LEASE_NAME_MAX, snd->owner,
             snd->claims++);
    /* A connection lost by the last claim is opened again first. */
    if (worker_db_ensure(pool, "worker", &snd->conn, WORKER_DRAINING) ==
            PAYQ_OK &&
        kinds_to_claim(snd, &opts)) {
        if (queue_claim(snd->conn, &opts, c->jobs, &n) != PAYQ_OK)
            n = 0;
        worker_metrics_claim(pool->metrics, worker_now_ms() - started, n);
    }
    worker_feed_put(pool, c, n, lease, started);
}

/* Stopping: what the feed still holds goes back to the queue. */
static void release_waiting(struct sender *snd)
{
    while (worker_stop_level(snd->pool) == WORKER_DRAINING &&
           worker_feed_drain(snd->pool, &snd->cur))
        release(snd);
}

static void sender_run(struct sender *snd)
{
    struct worker_claim c;
    enum worker_step step;

    for (;;) {
        step = worker_feed_next(snd->pool, &snd->cur, &c);
        if (step == WORKER_STEP_STOP)
            break;
        if (step == WORKER_STEP_CLAIM) {
            claim(snd, &c);
            continue;
        }
        run_job(snd);
        worker_feed_done(snd->pool);
    }
    release_waiting(snd);
}

static enum payq_err sender_open(struct sender *snd)
{
    struct worker_pool *pool = snd->pool;
    int index = atomic_fetch_add(&sender_count, 1);

    snprintf(snd->owner, sizeof(snd->owner), "%s:%d", pool->name, index);
    snd->rng = backoff_seed();
    return upstream_client_create(pool->ucfg, &pool->cfg->credentials,
                                  &snd->client);
}

void *worker_send_main(void *arg)
{
    struct worker_pool *pool = arg;
    struct sender *snd = mem_calloc(1, sizeof(*snd));

    if (snd == NULL)
        goto out;
    snd->pool = pool;
    if (sender_open(snd) != PAYQ_OK) {
        log_error("a worker thread cannot start its provider client");
        goto out;
    }
    sender_run(snd);
out:
    if (snd != NULL) {
        upstream_client_destroy(snd->client);
        db_conn_close(snd->conn);
    }
    mem_free(snd);
    atomic_fetch_sub(&pool->senders_alive, 1);
    worker_record_kick(pool);
    return NULL;
}
