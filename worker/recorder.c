/*
 * The recorder threads: write the outcomes of every sender, many jobs per
 * statement (queue_record_batch()), each on a connection of its own.
 *
 * Senders queue an outcome in a ring and go on to their next job; a
 * recorder takes whatever has gathered while it (or another) wrote the
 * last batch and writes it in one statement, one commit. Under load
 * batches grow by themselves; when idle each outcome is written as soon
 * as it comes. One recorder serves up to eight senders: a batch's
 * statement runs in one server process, so a few recorders keep several
 * cores of the database busy where one would not. Batches hold disjoint
 * jobs (a job has one outcome in the ring at a time: it is claimed again
 * only once its outcome is written), each locked in id order, so the
 * recorders never wait for one another.
 *
 * Why this is safe: every outcome is still a guarded transition of its
 * own (claim.h), so batching changes when it is written, never what it
 * may change. A result written late finds its job still running under
 * its lease (the lease outlasts the request by WORKER_LEASE_MARGIN_MS,
 * and the ring is short), or finds it taken over and changes nothing. A
 * result never written (the process died, or gave up at --grace) leaves
 * the job running under a lease that expires; any live worker then
 * probes its open attempt with the same id. The ring is bounded: a
 * sender waits for room rather than grow it.
 *
 * A database outage is waited out (the batch stays queued and is written
 * when it returns); a batch the database refuses for another reason is
 * written item by item, so that one bad item fails only itself.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "db/conn.h"
#include "worker/internal.h"

enum {
    RECORD_TRIES = 5,             /* a statement failing, not the connection */
    SYSTEMIC_WAIT_MAX_MS = 30000, /* longest wait for a refusing server */
    IDLE_CHECK_MS = 200,          /* how often an idle recorder looks at stop */
    SENDERS_PER_RECORDER = 8,
    /* While another recorder writes, a second starts only on this many:
     * every statement costs a plan and a commit, so small batches are
     * for an idle pool, where they come alone. */
    HELPER_BATCH_MIN = QUEUE_RECORD_BATCH_MAX / 4,
};

/* One batch, pointing into the ring. */
struct batch {
    struct queue_record_item items[QUEUE_RECORD_BATCH_MAX];
    enum queue_record_outcome outs[QUEUE_RECORD_BATCH_MAX];
    int slots[QUEUE_RECORD_BATCH_MAX]; /* where each item is in the ring */
    int n;
};

int worker_recorders(const struct worker_pool *pool)
{
    int n = (pool->s.workers + SENDERS_PER_RECORDER - 1) / SENDERS_PER_RECORDER;

    return n < WORKER_RECORDERS_MAX ? n : WORKER_RECORDERS_MAX;
}

enum payq_err worker_records_init(struct worker_pool *pool)
{
    struct worker_records *r = &pool->records;

    memset(r, 0, sizeof(*r));
    r->recorders = worker_recorders(pool);
    r->size = 2 * QUEUE_RECORD_BATCH_MAX;
    r->slots = mem_calloc((size_t)r->size, sizeof(*r->slots));
    return r->slots != NULL ? PAYQ_OK : PAYQ_ERR_NOMEM;
}

void worker_records_cleanup(struct worker_pool *pool)
{
    struct worker_records *r = &pool->records;
    int i;

    for (i = 0; r->slots != NULL && i < r->size; i++)
        mem_free(r->slots[i].body);
    mem_free(r->slots);
    memset(r, 0, sizeof(*r));
}

/* Copies s into out, or leaves NULL; the copy is what res points at. */
static const char *keep(char *out, size_t size, const char *s)
{
    if (s == NULL)
        return NULL;
    snprintf(out, size, "%s", s);
    return out;
}

/* Fills slot with a copy of everything the write will need. */
static void fill_slot(struct worker_record *slot, const char *owner,
                      const struct queue_job *job,
                      const struct queue_result *res, char *body)
{
    slot->job = *job;
    slot->res = *res;
    snprintf(slot->owner, sizeof(slot->owner), "%s", owner);
    slot->res.code = keep(slot->code, sizeof(slot->code), res->code);
    slot->res.message =
        keep(slot->message, sizeof(slot->message), res->message);
    slot->res.provider_txn_id =
        keep(slot->provider_txn_id, sizeof(slot->provider_txn_id),
             res->provider_txn_id);
    slot->res.reference_no =
        keep(slot->reference_no, sizeof(slot->reference_no), res->reference_no);
    slot->body = body;
    slot->res.body = body;
}

bool worker_record_push(struct worker_pool *pool, const char *owner,
                        const struct queue_job *job,
                        const struct queue_result *res)
{
    struct worker_records *r = &pool->records;
    /* Without memory the body is lost, not the outcome. */
    char *body = res->body != NULL ? mem_strdup(res->body) : NULL;
    bool queued = false;

    pthread_mutex_lock(&pool->lock);
    while (r->count >= r->size && pool->stop != WORKER_ABANDON)
        pthread_cond_wait(&pool->recorded, &pool->lock);
    if (pool->stop != WORKER_ABANDON) {
        struct worker_record *slot = &r->slots[(r->head + r->count) % r->size];

        fill_slot(slot, owner, job, res, body);
        slot->state = WORKER_RECORD_QUEUED;
        r->count++;
        queued = true;
        body = NULL;
        pthread_cond_broadcast(&pool->recorded);
    }
    pthread_mutex_unlock(&pool->lock);
    mem_free(body);
    return queued;
}

void worker_record_kick(struct worker_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pthread_cond_broadcast(&pool->recorded);
    pthread_mutex_unlock(&pool->lock);
}

/* Whether slot's job is already in b: a job goes once per statement. */
static bool in_batch(const struct batch *b, const struct worker_record *slot)
{
    int i;

    for (i = 0; i < b->n; i++)
        if (b->items[i].job->id == slot->job.id)
            return true;
    return false;
}

/* Takes the next batch from the ring; under lock. */
static void take_batch(struct worker_records *r, struct batch *b)
{
    b->n = 0;
    while (r->next < r->count && b->n < QUEUE_RECORD_BATCH_MAX) {
        int at = (r->head + r->next) % r->size;
        struct worker_record *slot = &r->slots[at];

        if (in_batch(b, slot))
            break;
        slot->state = WORKER_RECORD_WRITING;
        b->items[b->n].owner = slot->owner;
        b->items[b->n].job = &slot->job;
        b->items[b->n].res = &slot->res;
        b->slots[b->n] = at;
        b->n++;
        r->next++;
    }
}

/*
 * Marks the batch written and gives back, for senders, every slot from
 * the oldest on that is written; under lock.
 */
static void give_back(struct worker_records *r, const struct batch *b)
{
    int i;

    for (i = 0; i < b->n; i++) {
        struct worker_record *slot = &r->slots[b->slots[i]];

        mem_free(slot->body);
        slot->body = NULL;
        slot->state = WORKER_RECORD_WRITTEN;
    }
    while (r->count > 0 && r->slots[r->head].state == WORKER_RECORD_WRITTEN) {
        r->head = (r->head + 1) % r->size;
        r->count--;
        r->next--;
    }
}

/*
 * Waits for outcomes to write; false when there will be none: every
 * sender has returned and the ring is empty, or the pool abandons. The
 * first recorder free writes whatever is queued; others help only once
 * a good batch has gathered.
 */
static bool wait_for_work(struct worker_pool *pool, struct batch *b)
{
    struct worker_records *r = &pool->records;
    struct timespec deadline;
    bool more = false;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        if (pool->stop == WORKER_ABANDON)
            break;
        if (r->next < r->count &&
            (r->writers == 0 || r->count - r->next >= HELPER_BATCH_MIN ||
             atomic_load(&pool->senders_alive) == 0)) {
            take_batch(r, b);
            r->writers++;
            more = true;
            break;
        }
        if (r->next == r->count && atomic_load(&pool->senders_alive) == 0)
            break;
        /* Timed: the last sender's kick may come before this wait. */
        deadline = worker_deadline_in(IDLE_CHECK_MS);
        pthread_cond_timedwait(&pool->recorded, &pool->lock, &deadline);
    }
    pthread_mutex_unlock(&pool->lock);
    return more;
}

/* What was written: counted, and the jobs given up on noted. */
static void account(struct worker_pool *pool, const struct batch *b)
{
    int i;

    for (i = 0; i < b->n; i++) {
        const struct queue_record_item *it = &b->items[i];

        if (it->res->kind != QUEUE_RESULT_RELEASE)
            atomic_fetch_add(&pool->done, 1);
        /* Per job, so debug: payq status and the progress line count. */
        if (b->outs[i] == QUEUE_RECORDED_UNKNOWN)
            log_debug("no definite answer after the most probes: job "
                      "unknown",
                      LOG_INT("job", it->job->id),
                      LOG_STR("txn", it->job->txn_id),
                      LOG_INT("probes", it->job->probe_count + 1));
    }
}

/* Outcome of one pass over a refused batch, item by item. */
enum pass_result {
    PASS_DONE,     /* every item written, or given up after its tries */
    PASS_SYSTEMIC, /* the server refuses any write: wait, then again */
    PASS_ABANDON,  /* the pool abandoned meanwhile */
};

/*
 * Tries each item still unwritten (done[i] false) once. A refusal of any
 * write (PAYQ_ERR_DB_BUSY: a read-only server after a failover, a full
 * disk) is not the item's: the caller waits and starts the pass over,
 * rather than spend the item's tries on it and give it up.
 */
static enum pass_result write_each(struct worker_pool *pool, PGconn **conn,
                                   struct batch *b, bool *done, int *failed)
{
    int i;

    *failed = 0;
    for (i = 0; i < b->n; i++) {
        enum payq_err err;

        if (done[i])
            continue;
        if (worker_db_ensure(pool, "recorder", conn, WORKER_ABANDON) != PAYQ_OK)
            return PASS_ABANDON;
        err = queue_record_batch(*conn, &b->items[i], 1, &b->outs[i]);
        if (err != PAYQ_OK && worker_db_lost(*conn, err)) {
            i--; /* the connection, not the item: again once it is back */
            continue;
        }
        if (err == PAYQ_ERR_DB_BUSY)
            return PASS_SYSTEMIC;
        done[i] = err == PAYQ_OK;
        *failed += !done[i];
    }
    return PASS_DONE;
}

/* A wait while the server refuses every write: doubling, up to 30 s. */
static enum worker_stop busy_wait(struct worker_pool *pool,
                                  const struct batch *b, long long *wait_ms)
{
    enum worker_stop level;

    log_warn("the database refuses every write; outcomes wait",
             LOG_INT("jobs", b->n), LOG_INT("wait_ms", *wait_ms));
    level = worker_sleep(pool, *wait_ms, WORKER_ABANDON, false);
    *wait_ms = *wait_ms < SYSTEMIC_WAIT_MAX_MS / 2 ? 2 * *wait_ms
                                                   : SYSTEMIC_WAIT_MAX_MS;
    return level;
}

static void give_up_items(const struct batch *b, const bool *done)
{
    int i;

    for (i = 0; i < b->n; i++)
        if (!done[i])
            log_error("cannot record an outcome; the lease will expire "
                      "and the job be probed with the same id",
                      LOG_INT("job", b->items[i].job->id),
                      LOG_STR("txn", b->items[i].job->txn_id));
}

/*
 * The fallback after the database refused a whole batch: item by item,
 * so that one bad item fails only itself, each given RECORD_TRIES passes
 * a second apart; a refusal of everything waits (doubling, up to 30 s)
 * and starts over, for as long as it lasts. false when the pool
 * abandoned meanwhile.
 */
static bool write_apart(struct worker_pool *pool, PGconn **conn,
                        struct batch *b)
{
    bool done[QUEUE_RECORD_BATCH_MAX] = { false };
    long long wait_ms = 1000;
    int passes = 0;
    int failed = 0;

    for (;;) {
        switch (write_each(pool, conn, b, done, &failed)) {
        case PASS_ABANDON:
            return false;
        case PASS_SYSTEMIC:
            if (busy_wait(pool, b, &wait_ms) == WORKER_ABANDON)
                return false;
            continue;
        case PASS_DONE:
            break;
        }
        if (failed == 0)
            return true;
        if (++passes >= RECORD_TRIES) {
            give_up_items(b, done);
            return true;
        }
        if (worker_sleep(pool, 1000, WORKER_ABANDON, false) == WORKER_ABANDON)
            return false;
    }
}

/*
 * Writes the batch: waits out an outage, falls back to one item at a
 * time if the database refuses it. false when the pool abandoned.
 */
static bool write_batch(struct worker_pool *pool, PGconn **conn,
                        struct batch *b)
{
    long long wait_ms = 1000;
    enum payq_err err;

    for (;;) {
        if (worker_db_ensure(pool, "recorder", conn, WORKER_ABANDON) != PAYQ_OK)
            return false;
        err = queue_record_batch(*conn, b->items, b->n, b->outs);
        if (err == PAYQ_OK)
            break;
        if (worker_db_lost(*conn, err))
            continue;
        if (err == PAYQ_ERR_DB_BUSY) {
            if (busy_wait(pool, b, &wait_ms) == WORKER_ABANDON)
                return false;
            continue; /* the whole batch again */
        }
        log_warn("an outcome batch failed; writing its jobs one by one",
                 LOG_INT("jobs", b->n), LOG_ERR(err));
        if (!write_apart(pool, conn, b))
            return false;
        break;
    }
    account(pool, b);
    return true;
}

void *worker_recorder_main(void *arg)
{
    struct worker_pool *pool = arg;
    struct batch *b = mem_calloc(1, sizeof(*b));
    PGconn *conn = NULL;

    if (b == NULL) {
        log_error("the recorder cannot start; outcomes will be recovered "
                  "by lease expiry and probing");
        goto out;
    }
    while (wait_for_work(pool, b)) {
        if (!write_batch(pool, &conn, b))
            break;
        pthread_mutex_lock(&pool->lock);
        give_back(&pool->records, b);
        pool->records.writers--;
        pthread_cond_broadcast(&pool->recorded);
        pthread_mutex_unlock(&pool->lock);
    }
out:
    db_conn_close(conn);
    mem_free(b);
    atomic_fetch_sub(&pool->recorders_alive, 1);
    return NULL;
}
