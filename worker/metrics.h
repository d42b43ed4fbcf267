/*
 * What `payq work` tells a monitoring system: counters, gauges and
 * histograms, rendered in the Prometheus text exposition format 0.0.4,
 * plus the liveness and readiness answers of the --listen endpoint.
 *
 * Every function may be called from any thread once the metrics exist;
 * each takes one short lock (a few counter updates, or a copy of the
 * counters for rendering). create and destroy are for the owning thread,
 * with no other caller left.
 *
 * Memory is fixed at create: provider response codes, the one label whose
 * values come from outside, are kept to WORKER_METRICS_CODES_MAX distinct
 * values, and later ones are counted under code="other".
 */
#ifndef PAYQ_WORKER_METRICS_H
#define PAYQ_WORKER_METRICS_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/err.h"
#include "queue/job.h"
#include "upstream/classify.h"

/* Distinct provider codes given their own label value. */
#define WORKER_METRICS_CODES_MAX 64

/* Longest code kept as itself, in bytes; longer ones count as "other". */
#define WORKER_METRICS_CODE_LEN_MAX 32

/* The beat age past which the process counts as stalled (/healthz). */
#define WORKER_METRICS_ALIVE_MS 10000

struct worker_metrics;

/*
 * Creates the metrics, all zero, database down, not stopping, with a beat
 * at this moment (so a process is alive while it starts). The caller
 * frees them with worker_metrics_destroy(). PAYQ_ERR_NOMEM.
 */
PAYQ_MUST_USE enum payq_err worker_metrics_create(struct worker_metrics **out);

/* Frees m; nothing may use it any more. NULL is allowed. */
void worker_metrics_destroy(struct worker_metrics *m);

/*
 * Counts one provider request. endpoint: "pay_v2", "deposit" or
 * "balance" (anything else counts as "other"); cls: its class; code: the
 * provider's response code, NULL or "" when there was none (label
 * code="none"). A code that is new once WORKER_METRICS_CODES_MAX are
 * known, longer than WORKER_METRICS_CODE_LEN_MAX or not valid UTF-8
 * counts as code="other". duration_ms: how long it took (negative: 0).
 */
void worker_metrics_request(struct worker_metrics *m, const char *endpoint,
                            enum upstream_class cls, const char *code,
                            long long duration_ms);

/* Counts one claim transaction: its latency and how many jobs it took. */
void worker_metrics_claim(struct worker_metrics *m, long long duration_ms,
                          int jobs);

/* Replaces the job counts by kind and state (the database snapshot). */
void worker_metrics_set_jobs(
    struct worker_metrics *m,
    const long long counts[JOB_KIND_COUNT][JOB_STATE_COUNT]);

/* Records whether sending is paused: everything, pay_v2, deposit. */
void worker_metrics_set_paused(struct worker_metrics *m, bool all, bool pay,
                               bool deposit);

/* Records whether the database answered the last time it was asked. */
void worker_metrics_set_db_up(struct worker_metrics *m, bool up);

/* Records that the process is shutting down (readiness goes false). */
void worker_metrics_set_stopping(struct worker_metrics *m, bool stopping);

/* Records a beat now; the pool's main loop calls it about every second. */
void worker_metrics_beat(struct worker_metrics *m);

/*
 * Records a beat at mono_ms, a CLOCK_MONOTONIC time in milliseconds.
 * For tests, which date a beat in the past instead of sleeping.
 */
void worker_metrics_beat_at(struct worker_metrics *m, long long mono_ms);

/* Returns true when the last beat is at most max_age_ms old. */
bool worker_metrics_alive(struct worker_metrics *m, long long max_age_ms);

/*
 * Returns NULL when the process is ready for work, else why not, as
 * static text: "stopping", "database down", or "stalled" (no beat within
 * WORKER_METRICS_ALIVE_MS), checked in that order.
 */
const char *worker_metrics_unready_reason(struct worker_metrics *m);

/* Returns true when the database is up, not stopping, and alive. */
bool worker_metrics_ready(struct worker_metrics *m);

/*
 * Appends the whole exposition to out. PAYQ_ERR_TOO_LARGE when out's
 * maximum is reached (out then holds a partial text), PAYQ_ERR_NOMEM.
 */
PAYQ_MUST_USE enum payq_err worker_metrics_render(struct worker_metrics *m,
                                                  struct buf *out);

#endif
