/*
 * Pauses of the pool: which kinds of work may be sent, why not, and when
 * to look again.
 *
 * A systemic refusal pauses a scope: all work (credentials or access
 * refused), or one kind. A pause is logged once when it starts and once
 * when it ends, whatever the number of jobs it holds back. Maintenance
 * re-checks it with backoff: refused access by asking the balance, a
 * short float by comparing the balance with the next payout, anything
 * else by letting the next job try. Each pause is mirrored in the table
 * pool_pauses for `payq status`, under this process's name: pauses are
 * per process, each lifts only its own, and its rows go with its
 * workers row when it exits (status ignores those of dead processes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backoff.h"
#include "core/log.h"
#include "db/conn.h"
#include "worker/internal.h"

/* The next ready payout's cost, as the claim would pick it. */
static const char NEXT_DEPOSIT_SQL[] =
    "select j.amount + j.withdraw_charge from jobs j"
    " join batches b on b.id = j.batch_id"
    " where j.state = 'queued' and j.kind = 'deposit'"
    " and j.run_at <= now() and b.approved_at is not null"
    " and b.paused_at is null and b.cancelled_at is null"
    " order by j.run_at, j.id limit 1";

/* This process's pause of scope $2 ($1: its workers.id). */
static const char UPSERT_PAUSE_SQL[] =
    "insert into pool_pauses (worker_id, scope, reason, code, since,"
    " recheck_at) values ($1, $2, $3, nullif($4, ''),"
    " now() - make_interval(secs => $5::double precision),"
    " now() + make_interval(secs => $6::double precision))"
    " on conflict (worker_id, scope) do update set"
    " reason = excluded.reason, code = excluded.code,"
    " since = excluded.since, recheck_at = excluded.recheck_at";

/* Lifts this process's pause only; another may still be paused. */
static const char DELETE_PAUSE_SQL[] =
    "delete from pool_pauses where worker_id = $1 and scope = $2";

enum { RECHECK_MIN_MS = 1000 };

const char *worker_scope_name(enum worker_scope scope)
{
    static const char *const names[] = { "all", "pay", "deposit" };

    return (unsigned)scope < WORKER_SCOPE_COUNT ? names[scope] : "all";
}

static void publish(struct worker_pool *pool)
{
    worker_metrics_set_paused(pool->metrics, pool->pauses[WORKER_SCOPE_ALL].on,
                              pool->pauses[WORKER_SCOPE_PAY].on,
                              pool->pauses[WORKER_SCOPE_DEPOSIT].on);
}

/* The first re-check comes after the backoff base; later ones back off. */
static long long recheck_delay(struct worker_pool *pool, int rechecks,
                               uint64_t *rng)
{
    const struct worker_policy *p = &pool->s.policy;
    long long ms = backoff_ceiling_ms(p->backoff_base_ms, p->backoff_cap_ms, 0);

    if (rechecks > 0)
        ms = backoff_delay_ms(p->backoff_base_ms, p->backoff_cap_ms, rechecks,
                              rng);
    return ms < RECHECK_MIN_MS ? RECHECK_MIN_MS : ms;
}

void worker_pause_set(struct worker_pool *pool, enum worker_scope scope,
                      bool short_float, const char *reason, const char *code)
{
    struct worker_pause *p = &pool->pauses[scope];
    long long now = worker_now_ms();

    pthread_mutex_lock(&pool->lock);
    if (p->on) {
        pthread_mutex_unlock(&pool->lock);
        return;
    }
    p->on = true;
    p->short_float = short_float;
    snprintf(p->reason, sizeof(p->reason), "%s", reason);
    snprintf(p->code, sizeof(p->code), "%s", code != NULL ? code : "");
    p->since_ms = now;
    p->rechecks = 0;
    p->recheck_at_ms = now + recheck_delay(pool, 0, NULL);
    p->dirty = true;
    publish(pool);
    pthread_mutex_unlock(&pool->lock);
    log_error("sending paused", LOG_STR("scope", worker_scope_name(scope)),
              LOG_STR("reason", reason), LOG_STR("code", code),
              LOG_STR("jobs", "stay queued; nothing is failed"));
}

void worker_pause_lift(struct worker_pool *pool, enum worker_scope scope,
                       const char *why)
{
    struct worker_pause *p = &pool->pauses[scope];
    long long paused_ms;

    pthread_mutex_lock(&pool->lock);
    if (!p->on) {
        pthread_mutex_unlock(&pool->lock);
        return;
    }
    p->on = false;
    p->dirty = true;
    if (scope != WORKER_SCOPE_PAY)
        pool->float_cache.checked_ms = 0; /* ask afresh, not the old no */
    paused_ms = worker_now_ms() - p->since_ms;
    publish(pool);
    pthread_mutex_unlock(&pool->lock);
    log_info("sending resumed", LOG_STR("scope", worker_scope_name(scope)),
             LOG_STR("why", why), LOG_INT("paused_s", paused_ms / 1000));
    worker_wake_all(pool);
}

void worker_pause_allowed(struct worker_pool *pool, bool *pay, bool *deposit)
{
    pthread_mutex_lock(&pool->lock);
    *pay = !pool->pauses[WORKER_SCOPE_ALL].on &&
           !pool->pauses[WORKER_SCOPE_PAY].on;
    *deposit = !pool->pauses[WORKER_SCOPE_ALL].on &&
               !pool->pauses[WORKER_SCOPE_DEPOSIT].on;
    pthread_mutex_unlock(&pool->lock);
}

/* -1: no payout waiting; -2: cannot tell. */
static long long next_deposit_cost(PGconn *conn)
{
    PGresult *res = PQexec(conn, NEXT_DEPOSIT_SQL);
    long long cost = -2;

    if (db_result_check_outage(conn, res, "find the next payout") == PAYQ_OK)
        cost =
            PQntuples(res) == 0 ? -1 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return cost;
}

/* Asks the balance; PAYQ_ERR_CONFIG when access itself is refused. */
static enum payq_err ask_balance(struct worker_pool *pool,
                                 struct upstream_client *client, long long *net)
{
    struct upstream_balance bal;
    struct upstream_result r;
    enum payq_err err;

    if (client == NULL)
        return PAYQ_ERR_IO;
    memset(&r, 0, sizeof(r));
    err = upstream_client_balance(client, &bal, &r);
    if (err == PAYQ_OK || err == PAYQ_ERR_CONFIG || err == PAYQ_ERR_IO)
        worker_metrics_request(pool->metrics, "balance", r.cls, r.code,
                               r.duration_ms);
    if (err == PAYQ_OK)
        *net = bal.net_balance;
    else
        log_debug("balance not read", LOG_STR("reason", r.reason),
                  LOG_STR("code", r.code));
    return err;
}

/* A short float: is the next payout covered now? */
static bool float_covers(struct worker_pool *pool, PGconn *conn,
                         struct upstream_client *client, long long *net,
                         long long *cost)
{
    *net = -1;
    *cost = next_deposit_cost(conn);
    if (*cost == -1)
        return true; /* nothing waits: let the next import try */
    if (*cost < 0)
        return false;
    return ask_balance(pool, client, net) == PAYQ_OK && *net >= *cost;
}

/* One due pause: true when it may be lifted. */
static bool recheck(struct worker_pool *pool, enum worker_scope scope,
                    bool short_float, PGconn *conn,
                    struct upstream_client *client)
{
    long long net = 0;
    long long cost = 0;

    if (scope == WORKER_SCOPE_ALL)
        return ask_balance(pool, client, &net) == PAYQ_OK;
    if (short_float)
        return float_covers(pool, conn, client, &net, &cost);
    return true; /* the next job is the test; it pauses again if need be */
}

/* Brings pool_pauses up to date with one scope. */
static void store(struct worker_pool *pool, enum worker_scope scope,
                  PGconn *conn)
{
    struct worker_pause p;
    char age[32];
    char next[32];
    const char *params[6];
    PGresult *res;
    long long now = worker_now_ms();

    pthread_mutex_lock(&pool->lock);
    p = pool->pauses[scope];
    pool->pauses[scope].dirty = false;
    pthread_mutex_unlock(&pool->lock);
    if (!p.dirty)
        return;
    snprintf(age, sizeof(age), "%lld", (now - p.since_ms) / 1000);
    snprintf(next, sizeof(next), "%lld", (p.recheck_at_ms - now) / 1000);
    params[0] = pool->name;
    params[1] = worker_scope_name(scope);
    params[2] = p.reason;
    params[3] = p.code;
    params[4] = age;
    params[5] = next;
    res = PQexecParams(conn, p.on ? UPSERT_PAUSE_SQL : DELETE_PAUSE_SQL,
                       p.on ? 6 : 2, NULL, params, NULL, NULL, 0);
    if (db_result_check_outage(conn, res, "record a pause") != PAYQ_OK) {
        pthread_mutex_lock(&pool->lock);
        pool->pauses[scope].dirty = true; /* try again next round */
        pthread_mutex_unlock(&pool->lock);
    }
    PQclear(res);
}

static void maintain_scope(struct worker_pool *pool, enum worker_scope scope,
                           PGconn *conn, struct upstream_client *client,
                           uint64_t *rng)
{
    struct worker_pause *p = &pool->pauses[scope];
    bool due;
    bool short_float;

    pthread_mutex_lock(&pool->lock);
    due = p->on && worker_now_ms() >= p->recheck_at_ms;
    short_float = p->short_float;
    pthread_mutex_unlock(&pool->lock);
    if (due && recheck(pool, scope, short_float, conn, client)) {
        worker_pause_lift(pool, scope,
                          short_float ? "float covers the "
                                        "next payout"
                                      : "re-check passed");
    } else if (due) {
        pthread_mutex_lock(&pool->lock);
        p->rechecks++;
        p->recheck_at_ms =
            worker_now_ms() + recheck_delay(pool, p->rechecks, rng);
        p->dirty = true;
        pthread_mutex_unlock(&pool->lock);
    }
    store(pool, scope, conn);
}

void worker_pause_maintain(struct worker_pool *pool, PGconn *conn,
                           struct upstream_client *client)
{
    static _Thread_local uint64_t rng;
    int scope;

    if (rng == 0)
        rng = backoff_seed();
    for (scope = 0; scope < WORKER_SCOPE_COUNT; scope++)
        maintain_scope(pool, (enum worker_scope)scope, conn, client, &rng);
}

/* The shared verdict, or false with *mine set: this thread asks. */
static bool cached_verdict(struct worker_pool *pool, bool *mine)
{
    struct worker_float *f = &pool->float_cache;
    long long now = worker_now_ms();
    bool enough;

    pthread_mutex_lock(&pool->lock);
    *mine = !f->checking &&
            (f->checked_ms == 0 || now - f->checked_ms >= WORKER_FLOAT_TTL_MS);
    if (*mine)
        f->checking = true;
    enough = f->checked_ms == 0 || f->enough;
    pthread_mutex_unlock(&pool->lock);
    return enough;
}

bool worker_float_allows(struct worker_pool *pool, PGconn *conn,
                         struct upstream_client *client)
{
    struct worker_float *f = &pool->float_cache;
    char reason[200];
    long long net = -1;
    long long cost = -1;
    bool mine = false;
    bool enough = cached_verdict(pool, &mine);

    if (!mine)
        return enough;
    enough = float_covers(pool, conn, client, &net, &cost) || net < 0;
    pthread_mutex_lock(&pool->lock);
    f->checking = false;
    f->checked_ms = worker_now_ms();
    f->enough = enough;
    pthread_mutex_unlock(&pool->lock);
    if (!enough) {
        snprintf(reason, sizeof(reason),
                 "float short: balance %lld RWF below the next payout's "
                 "%lld RWF",
                 net, cost);
        worker_pause_set(pool, WORKER_SCOPE_DEPOSIT, true, reason, "");
    }
    return enough;
}
