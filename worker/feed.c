/*
 * The feed: the pool's claimed jobs, waiting for a sender.
 *
 * Senders take the oldest waiting job; when the feed runs low, the next
 * sender to look claims more for everyone (a few may claim at once, on
 * their own connections: claims never overlap, SKIP LOCKED), so a claim's
 * round trip stalls one sender, not the pool, and the last jobs of a
 * drain go to whichever senders are free instead of waiting behind a
 * busy one.
 *
 * How much the pool holds (waiting, being claimed, or with a sender) is
 * bounded by `hold`, set at start from the settings:
 *   hold        eight times the requests in flight plus four claims: at
 *               full speed a claim's round trip (a commit, on a busy
 *               database) must not drain what the senders have left. But
 *               never more than --claim per sender, nor (under --rate)
 *               more than two seconds of requests: a held job waits for
 *               its turn under its lease, and the fewer wait, the less
 *               any one process takes from a queue others share;
 *   claim_size  --claim, but at most four times the requests in flight
 *               and half of `hold`, so that one claim is under way while
 *               the senders still have work. Every claim asks for
 *               exactly this many and starts only when that many fit:
 *               claims stay large while the queue is deep, and stop at
 *               the first one to come back short: the queue is dry until
 *               a NOTIFY or the poll interval. After a dry spell one
 *               claim probes the queue before several run at once.
 *
 * Claims go on from where the last one stopped (queue_cursor): jobs just
 * claimed leave entries in jobs_claim_idx until vacuum, and a claim from
 * the start would step over them all. Jobs that become ready behind the
 * cursor (a batch approved or resumed, which NOTIFYs) are found once it
 * is dropped: on any wake-up, every poll interval, and when a claim from
 * it comes back short (then the next goes from the start at once; only
 * a short claim from the start means the queue is dry).
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "worker/internal.h"

static int min_int(int a, int b)
{
    return a < b ? a : b;
}

static void feed_size(struct worker_feed *f, const struct worker_pool *pool)
{
    const struct worker_settings *s = &pool->s;
    int flight = pool->max_in_flight;
    long long hold;

    f->claim_size = min_int(s->claim_max, 4 * flight);
    hold = 8LL * flight + 4LL * f->claim_size;
    if (hold > (long long)s->workers * s->claim_max)
        hold = (long long)s->workers * s->claim_max;
    if (s->rate > 0 && hold > 2 * s->rate)
        hold = 2 * s->rate;
    f->hold = hold < 1 ? 1 : (int)hold;
    f->claim_size = min_int(f->claim_size, f->hold / 2);
    if (f->claim_size < 1)
        f->claim_size = 1;
    f->claimers_max =
        min_int(WORKER_CLAIMERS_MAX, s->workers / 4 > 1 ? s->workers / 4 : 1);
    /* At start claims run side by side: the first may wait for the
     * float check (a balance request) while the others go on. */
    f->probing = false;
}

enum payq_err worker_feed_init(struct worker_pool *pool)
{
    struct worker_feed *f = &pool->feed;
    int i;

    memset(f, 0, sizeof(*f));
    feed_size(f, pool);
    f->slots = mem_calloc((size_t)f->hold, sizeof(*f->slots));
    if (f->slots == NULL)
        return PAYQ_ERR_NOMEM;
    for (i = 0; i < f->claimers_max; i++) {
        f->scratch[i] =
            mem_calloc((size_t)f->claim_size, sizeof(*f->scratch[i]));
        if (f->scratch[i] == NULL)
            return PAYQ_ERR_NOMEM;
    }
    log_debug("feed sized", LOG_INT("hold", f->hold),
              LOG_INT("claim", f->claim_size),
              LOG_INT("claimers", f->claimers_max));
    return PAYQ_OK;
}

void worker_feed_cleanup(struct worker_pool *pool)
{
    struct worker_feed *f = &pool->feed;
    int i;

    for (i = 0; i < WORKER_CLAIMERS_MAX; i++)
        mem_free(f->scratch[i]);
    mem_free(f->slots);
    memset(f, 0, sizeof(*f));
}

/*
 * Whether a claim may start now: a whole one fits, the queue is not dry,
 * and fewer are under way than allowed (one while probing). Under lock.
 */
static bool may_claim(const struct worker_feed *f)
{
    int room = f->hold - f->count - f->in_service - f->reserved;
    int most = f->probing ? 1 : f->claimers_max;

    return !f->idle && f->claimers < most && room >= f->claim_size;
}

/* The dry spell ends on a wake-up after it began, or at its poll time. */
static void end_idle_if_due(struct worker_pool *pool)
{
    struct worker_feed *f = &pool->feed;

    if (f->idle && (pool->wake_seq != f->idle_seq ||
                    worker_now_ms() >= f->idle_until_ms)) {
        f->idle = false;
        f->probing = true;
    }
}

/* The cursor a claim starts from: none once it may hide ready jobs. */
static void cursor_for_claim(struct worker_pool *pool,
                             struct worker_claim *claim)
{
    struct worker_feed *f = &pool->feed;

    if (f->cursor_seq != pool->wake_seq ||
        worker_now_ms() - f->cursor_ms >= pool->s.poll_ms)
        f->cursor.run_at[0] = '\0';
    claim->cursor = f->cursor;
    claim->from_start = f->cursor.run_at[0] == '\0';
}

static void hand_claim(struct worker_pool *pool, struct worker_claim *claim)
{
    struct worker_feed *f = &pool->feed;
    int max = f->claim_size;
    int i = 0;

    while (f->scratch_busy[i])
        i++; /* claimers < claimers_max: one is free */
    f->scratch_busy[i] = true;
    f->claimers++;
    f->reserved += max;
    claim->scratch = i;
    claim->jobs = f->scratch[i];
    claim->max = max;
    claim->seq = pool->wake_seq;
    cursor_for_claim(pool, claim);
}

static void pop(struct worker_feed *f, struct worker_claimed *job)
{
    *job = f->slots[f->head];
    f->head = (f->head + 1) % f->hold;
    f->count--;
}

/* Waits, under lock, for the dry spell's end or any change. */
static void wait_locked(struct worker_pool *pool)
{
    struct worker_feed *f = &pool->feed;
    struct timespec deadline;

    if (!(f->idle && f->claimers == 0)) {
        pthread_cond_wait(&pool->fed, &pool->lock);
        return;
    }
    /* Dry: only a NOTIFY (wake_seq) or the poll interval ends it. */
    deadline = worker_deadline_in(f->idle_until_ms - worker_now_ms());
    pthread_cond_timedwait(&pool->wake, &pool->lock, &deadline);
}

enum worker_step worker_feed_next(struct worker_pool *pool,
                                  struct worker_claimed *job,
                                  struct worker_claim *claim)
{
    struct worker_feed *f = &pool->feed;
    enum worker_step step = WORKER_STEP_STOP;

    pthread_mutex_lock(&pool->lock);
    while (pool->stop == WORKER_RUNNING) {
        end_idle_if_due(pool);
        if (may_claim(f)) {
            hand_claim(pool, claim);
            step = WORKER_STEP_CLAIM;
            break;
        }
        if (f->count > 0) {
            pop(f, job);
            f->in_service++;
            step = WORKER_STEP_JOB;
            break;
        }
        wait_locked(pool);
    }
    pthread_mutex_unlock(&pool->lock);
    return step;
}

void worker_feed_put(struct worker_pool *pool, const struct worker_claim *claim,
                     int n, const char *owner, long long leased_ms)
{
    struct worker_feed *f = &pool->feed;
    int i;

    pthread_mutex_lock(&pool->lock);
    for (i = 0; i < n && f->count < f->hold; i++) {
        struct worker_claimed *slot = &f->slots[(f->head + f->count) % f->hold];

        slot->job = claim->jobs[i];
        snprintf(slot->owner, sizeof(slot->owner), "%s", owner);
        slot->leased_ms = leased_ms;
        f->count++;
    }
    if (i < n)
        log_error("claimed jobs found no room in the feed; their leases "
                  "will expire and they will be probed",
                  LOG_INT("jobs", n - i));
    f->scratch_busy[claim->scratch] = false;
    f->claimers--;
    f->reserved -= claim->max;
    if (n == claim->max) {
        f->cursor = claim->cursor;
        f->cursor_seq = claim->seq;
        f->cursor_ms = worker_now_ms();
    } else {
        f->cursor.run_at[0] = '\0'; /* the next claim from the start */
    }
    f->probing = n < claim->max;
    if (n < claim->max && claim->from_start) {
        /* Dry: wait for a wake-up after this claim began, or the poll. */
        f->idle = true;
        f->idle_seq = claim->seq;
        f->idle_until_ms = worker_now_ms() + pool->s.poll_ms;
    }
    pthread_cond_broadcast(&pool->fed);
    pthread_mutex_unlock(&pool->lock);
}

void worker_feed_done(struct worker_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->feed.in_service--;
    /* Waiting senders care only when a claim fits now: one of them. */
    if (may_claim(&pool->feed))
        pthread_cond_signal(&pool->fed);
    pthread_mutex_unlock(&pool->lock);
}

/* The leases due for renewal: those past half the sender's budget. */
struct renewal {
    long long ids[QUEUE_RENEW_MAX];
    char owners[QUEUE_RENEW_MAX][QUEUE_OWNER_MAX + 1];
    const char *owner_ptrs[QUEUE_RENEW_MAX];
    bool kept[QUEUE_RENEW_MAX];
    int n;
};

static void collect_due(struct worker_pool *pool, long long due_before,
                        struct renewal *r)
{
    struct worker_feed *f = &pool->feed;
    int k;

    r->n = 0;
    for (k = 0; k < f->count && r->n < QUEUE_RENEW_MAX; k++) {
        const struct worker_claimed *slot = &f->slots[(f->head + k) % f->hold];

        if (slot->leased_ms >= due_before)
            continue;
        r->ids[r->n] = slot->job.id;
        snprintf(r->owners[r->n], sizeof(r->owners[r->n]), "%s", slot->owner);
        r->owner_ptrs[r->n] = r->owners[r->n];
        r->n++;
    }
}

/* Jobs renewed and still waiting start their lease again at since. */
static void restart_leases(struct worker_pool *pool, const struct renewal *r,
                           long long since)
{
    struct worker_feed *f = &pool->feed;
    int k;
    int i;

    for (k = 0; k < f->count; k++) {
        struct worker_claimed *slot = &f->slots[(f->head + k) % f->hold];

        for (i = 0; i < r->n; i++)
            if (r->kept[i] && r->ids[i] == slot->job.id &&
                strcmp(r->owners[i], slot->owner) == 0)
                slot->leased_ms = since;
    }
}

void worker_feed_renew(struct worker_pool *pool, PGconn *conn)
{
    struct renewal r;
    long long budget = pool->s.lease_s * 1000LL - WORKER_LEASE_MARGIN_MS -
                       pool->ucfg->timeout_ms;
    long long now = worker_now_ms();

    pthread_mutex_lock(&pool->lock);
    collect_due(pool, now - budget / 2, &r);
    pthread_mutex_unlock(&pool->lock);
    if (r.n == 0)
        return;
    if (queue_lease_renew_many(conn, r.ids, r.owner_ptrs, r.n, pool->s.lease_s,
                               r.kept) != PAYQ_OK)
        return; /* each sender still renews its job before sending */
    pthread_mutex_lock(&pool->lock);
    restart_leases(pool, &r, now);
    pthread_mutex_unlock(&pool->lock);
    log_debug("leases of waiting jobs renewed", LOG_INT("jobs", r.n));
}

bool worker_feed_drain(struct worker_pool *pool, struct worker_claimed *job)
{
    bool any;

    pthread_mutex_lock(&pool->lock);
    any = pool->feed.count > 0;
    if (any)
        pop(&pool->feed, job);
    pthread_mutex_unlock(&pool->lock);
    return any;
}
