/*
 * The worker's metrics: plain counters behind one mutex, copied out whole
 * for rendering so that a slow scrape never holds up a worker thread.
 *
 * Histograms keep one count per bucket (not cumulative) in integer
 * milliseconds; every bound is a whole number of milliseconds, so the
 * "value <= le" test is exact. Rendering adds the buckets up.
 */
#include "worker/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"
#include "core/utf8.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Request endpoints; an unexpected name is counted as "other". */
static const char *const endpoint_names[] = {
    "pay_v2",
    "deposit",
    "balance",
    "other",
};

enum {
    ENDPOINT_OTHER = 3,
    ENDPOINT_COUNT = COUNT(endpoint_names),
};

/* Code slots: two fixed labels first, then codes in order of arrival. */
enum {
    CODE_NONE,
    CODE_OTHER,
    CODE_FIRST,
    CODE_SLOTS = CODE_FIRST + WORKER_METRICS_CODES_MAX,
};

/* The largest number of finite buckets of any histogram here. */
#define BUCKETS_MAX 10

/* A histogram's finite bucket bounds, in ms and as written in le. */
struct bounds {
    const long long *ms;
    const char *const *le;
    size_t n;
};

static const long long request_ms[] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
};
static const char *const request_le[] = {
    "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60",
};
static const struct bounds request_bounds = {
    .ms = request_ms,
    .le = request_le,
    .n = COUNT(request_ms),
};

static const long long claim_ms[] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000,
};
static const char *const claim_le[] = {
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
};
static const struct bounds claim_bounds = {
    .ms = claim_ms,
    .le = claim_le,
    .n = COUNT(claim_ms),
};

_Static_assert(COUNT(request_ms) <= BUCKETS_MAX &&
                   COUNT(claim_ms) <= BUCKETS_MAX,
               "a histogram has more buckets than BUCKETS_MAX");
_Static_assert(COUNT(request_ms) == COUNT(request_le) &&
                   COUNT(claim_ms) == COUNT(claim_le),
               "every bucket bound needs its le text");

struct histogram {
    /* Per bucket, not cumulative; index n counts what passed them all. */
    long long buckets[BUCKETS_MAX + 1];
    long long sum_ms;
    long long count;
};

enum { PAUSE_ALL, PAUSE_PAY, PAUSE_DEPOSIT, PAUSE_COUNT };

static const char *const pause_names[PAUSE_COUNT] = {
    "all",
    "pay",
    "deposit",
};

/* Everything a scrape shows; copied whole under the lock. */
struct metrics_data {
    long long requests[ENDPOINT_COUNT][UPSTREAM_CLASS_COUNT][CODE_SLOTS];
    char codes[CODE_SLOTS][WORKER_METRICS_CODE_LEN_MAX + 1];
    size_t code_count; /* slots in use, the two fixed ones included */
    struct histogram request_time[ENDPOINT_COUNT];
    long long claims;
    long long claimed_jobs;
    struct histogram claim_time;
    long long jobs[JOB_KIND_COUNT][JOB_STATE_COUNT];
    bool paused[PAUSE_COUNT];
    bool db_up;
    bool stopping;
    long long beat_ms; /* CLOCK_MONOTONIC */
};

struct worker_metrics {
    /* Guards d, which every worker thread and the scraper share. */
    pthread_mutex_t lock;
    struct metrics_data d;
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum payq_err worker_metrics_create(struct worker_metrics **out)
{
    struct worker_metrics *m;

    *out = NULL;
    m = mem_calloc(1, sizeof(*m));
    if (m == NULL)
        return PAYQ_ERR_NOMEM;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        mem_free(m);
        return PAYQ_ERR_NOMEM;
    }
    memcpy(m->d.codes[CODE_NONE], "none", sizeof("none"));
    memcpy(m->d.codes[CODE_OTHER], "other", sizeof("other"));
    m->d.code_count = CODE_FIRST;
    m->d.beat_ms = now_ms();
    *out = m;
    return PAYQ_OK;
}

void worker_metrics_destroy(struct worker_metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->lock);
    mem_free(m);
}

static size_t endpoint_index(const char *endpoint)
{
    size_t i;

    for (i = 0; endpoint != NULL && i < ENDPOINT_OTHER; i++)
        if (strcmp(endpoint, endpoint_names[i]) == 0)
            return i;
    return ENDPOINT_OTHER;
}

/*
 * Whether code may become a label value of its own: short, and valid
 * UTF-8, which the format requires. Checked before taking the lock.
 */
static bool code_keepable(const char *code, size_t len)
{
    const unsigned char *s = (const unsigned char *)code;
    size_t at = 0, n;

    if (len > WORKER_METRICS_CODE_LEN_MAX)
        return false;
    while (at < len) {
        n = utf8_sequence_len(s + at, len - at);
        if (n == 0)
            return false;
        at += n;
    }
    return true;
}

/* Finds or adds code's slot. Call with the lock held. */
static size_t code_slot_locked(struct metrics_data *d, const char *code,
                               size_t len)
{
    size_t i;

    for (i = 0; i < d->code_count; i++)
        if (strcmp(d->codes[i], code) == 0)
            return i;
    if (d->code_count == CODE_SLOTS)
        return CODE_OTHER;
    memcpy(d->codes[i], code, len + 1);
    d->code_count++;
    return i;
}

static size_t bucket_index(const struct bounds *b, long long ms)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        if (ms <= b->ms[i])
            break;
    return i;
}

/* Adds one observation, its bucket found beforehand. Lock held. */
static void histogram_add(struct histogram *h, size_t bucket, long long ms)
{
    h->buckets[bucket]++;
    h->sum_ms += ms;
    h->count++;
}

void worker_metrics_request(struct worker_metrics *m, const char *endpoint,
                            enum upstream_class cls, const char *code,
                            long long duration_ms)
{
    size_t ep = endpoint_index(endpoint);
    size_t len = code != NULL ? strlen(code) : 0;
    bool keep = len > 0 && code_keepable(code, len);
    size_t slot = len == 0 ? CODE_NONE : CODE_OTHER;
    size_t bucket;

    /* A class out of range would index past the table: not countable. */
    if ((unsigned)cls >= UPSTREAM_CLASS_COUNT)
        return;
    if (duration_ms < 0)
        duration_ms = 0;
    bucket = bucket_index(&request_bounds, duration_ms);

    pthread_mutex_lock(&m->lock);
    if (keep)
        slot = code_slot_locked(&m->d, code, len);
    m->d.requests[ep][cls][slot]++;
    histogram_add(&m->d.request_time[ep], bucket, duration_ms);
    pthread_mutex_unlock(&m->lock);
}

void worker_metrics_claim(struct worker_metrics *m, long long duration_ms,
                          int jobs)
{
    size_t bucket;

    if (duration_ms < 0)
        duration_ms = 0;
    if (jobs < 0)
        jobs = 0;
    bucket = bucket_index(&claim_bounds, duration_ms);

    pthread_mutex_lock(&m->lock);
    m->d.claims++;
    m->d.claimed_jobs += jobs;
    histogram_add(&m->d.claim_time, bucket, duration_ms);
    pthread_mutex_unlock(&m->lock);
}

void worker_metrics_set_jobs(
    struct worker_metrics *m,
    const long long counts[JOB_KIND_COUNT][JOB_STATE_COUNT])
{
    pthread_mutex_lock(&m->lock);
    memcpy(m->d.jobs, counts, sizeof(m->d.jobs));
    pthread_mutex_unlock(&m->lock);
}

void worker_metrics_set_paused(struct worker_metrics *m, bool all, bool pay,
                               bool deposit)
{
    pthread_mutex_lock(&m->lock);
    m->d.paused[PAUSE_ALL] = all;
    m->d.paused[PAUSE_PAY] = pay;
    m->d.paused[PAUSE_DEPOSIT] = deposit;
    pthread_mutex_unlock(&m->lock);
}

void worker_metrics_set_db_up(struct worker_metrics *m, bool up)
{
    pthread_mutex_lock(&m->lock);
    m->d.db_up = up;
    pthread_mutex_unlock(&m->lock);
}

void worker_metrics_set_stopping(struct worker_metrics *m, bool stopping)
{
    pthread_mutex_lock(&m->lock);
    m->d.stopping = stopping;
    pthread_mutex_unlock(&m->lock);
}

void worker_metrics_beat(struct worker_metrics *m)
{
    worker_metrics_beat_at(m, now_ms());
}

void worker_metrics_beat_at(struct worker_metrics *m, long long mono_ms)
{
    pthread_mutex_lock(&m->lock);
    m->d.beat_ms = mono_ms;
    pthread_mutex_unlock(&m->lock);
}

bool worker_metrics_alive(struct worker_metrics *m, long long max_age_ms)
{
    long long beat;

    pthread_mutex_lock(&m->lock);
    beat = m->d.beat_ms;
    pthread_mutex_unlock(&m->lock);
    return now_ms() - beat <= max_age_ms;
}

const char *worker_metrics_unready_reason(struct worker_metrics *m)
{
    bool db_up, stopping;

    pthread_mutex_lock(&m->lock);
    db_up = m->d.db_up;
    stopping = m->d.stopping;
    pthread_mutex_unlock(&m->lock);
    /* Stopping first: a shutdown may well take the database with it. */
    if (stopping)
        return "stopping";
    if (!db_up)
        return "database down";
    if (!worker_metrics_alive(m, WORKER_METRICS_ALIVE_MS))
        return "stalled";
    return NULL;
}

bool worker_metrics_ready(struct worker_metrics *m)
{
    return worker_metrics_unready_reason(m) == NULL;
}

/* ------------------------------------------------------------------ */
/* Rendering, from a private copy of the data                          */
/* ------------------------------------------------------------------ */

static enum payq_err put_header(struct buf *out, const char *name,
                                const char *type, const char *help)
{
    return buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                       type);
}

/* Appends a label value with backslash, quote and newline escaped. */
static enum payq_err put_label_value(struct buf *out, const char *s)
{
    enum payq_err err = PAYQ_OK;

    for (; err == PAYQ_OK && *s != '\0'; s++) {
        if (*s == '\\')
            err = buf_append(out, "\\\\", 2);
        else if (*s == '"')
            err = buf_append(out, "\\\"", 2);
        else if (*s == '\n')
            err = buf_append(out, "\\n", 2);
        else
            err = buf_append_byte(out, *s);
    }
    return err;
}

/* Milliseconds as seconds, exactly: 1234 is "1.234". */
static enum payq_err put_seconds(struct buf *out, long long ms)
{
    return buf_appendf(out, "%lld.%03lld", ms / 1000, ms % 1000);
}

static enum payq_err render_jobs(const struct metrics_data *d, struct buf *out)
{
    enum payq_err err;
    int k, s;

    err = put_header(out, "payq_jobs", "gauge",
                     "Jobs by kind and state, from the last snapshot.");
    for (k = 0; err == PAYQ_OK && k < JOB_KIND_COUNT; k++)
        for (s = 0; err == PAYQ_OK && s < JOB_STATE_COUNT; s++)
            err = buf_appendf(out, "payq_jobs{kind=\"%s\",state=\"%s\"} %lld\n",
                              job_kind_name((enum job_kind)k),
                              job_state_name((enum job_state)s), d->jobs[k][s]);
    return err;
}

/* One line of payq_requests_total; code is escaped, the rest is ours. */
static enum payq_err put_request_line(struct buf *out, size_t ep, int cls,
                                      const char *code, long long n)
{
    enum payq_err err;

    err = buf_appendf(out,
                      "payq_requests_total{endpoint=\"%s\",class=\"%s\","
                      "code=\"",
                      endpoint_names[ep],
                      upstream_class_name((enum upstream_class)cls));
    if (err == PAYQ_OK)
        err = put_label_value(out, code);
    if (err == PAYQ_OK)
        err = buf_appendf(out, "\"} %lld\n", n);
    return err;
}

/* Only series seen at least once: most combinations never happen. */
static enum payq_err render_requests(const struct metrics_data *d,
                                     struct buf *out)
{
    enum payq_err err;
    size_t ep, code;
    int cls;

    err = put_header(out, "payq_requests_total", "counter",
                     "Provider requests by endpoint, outcome class and "
                     "response code.");
    for (ep = 0; err == PAYQ_OK && ep < ENDPOINT_COUNT; ep++)
        for (cls = 0; err == PAYQ_OK && cls < UPSTREAM_CLASS_COUNT; cls++)
            for (code = 0; err == PAYQ_OK && code < d->code_count; code++)
                if (d->requests[ep][cls][code] > 0)
                    err = put_request_line(out, ep, cls, d->codes[code],
                                           d->requests[ep][cls][code]);
    return err;
}

/*
 * The series of one histogram. labels is "" or 'name="value",' (with
 * the comma), written ahead of le and inside the braces of _sum/_count.
 */
static enum payq_err put_histogram(struct buf *out, const char *name,
                                   const char *labels, const struct bounds *b,
                                   const struct histogram *h)
{
    enum payq_err err = PAYQ_OK;
    size_t len = strlen(labels);
    long long total = 0;
    size_t i;

    for (i = 0; err == PAYQ_OK && i < b->n; i++) {
        total += h->buckets[i];
        err = buf_appendf(out, "%s_bucket{%sle=\"%s\"} %lld\n", name, labels,
                          b->le[i], total);
    }
    if (err == PAYQ_OK)
        err = buf_appendf(out, "%s_bucket{%sle=\"+Inf\"} %lld\n", name, labels,
                          h->count);
    /* _sum and _count take the labels without their trailing comma. */
    if (err == PAYQ_OK && len > 0)
        err = buf_appendf(out, "%s_sum{%.*s} ", name, (int)len - 1, labels);
    else if (err == PAYQ_OK)
        err = buf_appendf(out, "%s_sum ", name);
    if (err == PAYQ_OK)
        err = put_seconds(out, h->sum_ms);
    if (err == PAYQ_OK && len > 0)
        err = buf_appendf(out, "\n%s_count{%.*s} %lld\n", name, (int)len - 1,
                          labels, h->count);
    else if (err == PAYQ_OK)
        err = buf_appendf(out, "\n%s_count %lld\n", name, h->count);
    return err;
}

/* The three real endpoints always; "other" only once it happened. */
static enum payq_err render_request_time(const struct metrics_data *d,
                                         struct buf *out)
{
    static const char name[] = "payq_request_duration_seconds";
    char labels[64];
    enum payq_err err;
    size_t ep;

    err = put_header(out, name, "histogram",
                     "Time a provider request took, by endpoint.");
    for (ep = 0; err == PAYQ_OK && ep < ENDPOINT_COUNT; ep++) {
        if (ep == ENDPOINT_OTHER && d->request_time[ep].count == 0)
            continue;
        snprintf(labels, sizeof(labels), "endpoint=\"%s\",",
                 endpoint_names[ep]);
        err = put_histogram(out, name, labels, &request_bounds,
                            &d->request_time[ep]);
    }
    return err;
}

static enum payq_err render_claims(const struct metrics_data *d,
                                   struct buf *out)
{
    static const char name[] = "payq_claim_duration_seconds";
    enum payq_err err;

    err = put_header(out, "payq_claims_total", "counter",
                     "Claim transactions run.");
    if (err == PAYQ_OK)
        err = buf_appendf(out, "payq_claims_total %lld\n", d->claims);
    if (err == PAYQ_OK)
        err = put_header(out, "payq_claimed_jobs_total", "counter",
                         "Jobs taken by claim transactions.");
    if (err == PAYQ_OK)
        err =
            buf_appendf(out, "payq_claimed_jobs_total %lld\n", d->claimed_jobs);
    if (err == PAYQ_OK)
        err = put_header(out, name, "histogram",
                         "Time a claim transaction took.");
    if (err == PAYQ_OK)
        err = put_histogram(out, name, "", &claim_bounds, &d->claim_time);
    return err;
}

static enum payq_err render_state(const struct metrics_data *d, struct buf *out)
{
    enum payq_err err;
    int i;

    err = put_header(out, "payq_paused", "gauge",
                     "1 while sending is paused, by scope.");
    for (i = 0; err == PAYQ_OK && i < PAUSE_COUNT; i++)
        err = buf_appendf(out, "payq_paused{scope=\"%s\"} %d\n", pause_names[i],
                          d->paused[i] ? 1 : 0);
    if (err == PAYQ_OK)
        err = put_header(out, "payq_database_up", "gauge",
                         "1 when the database answered last time.");
    if (err == PAYQ_OK)
        err = buf_appendf(out, "payq_database_up %d\n", d->db_up ? 1 : 0);
    if (err == PAYQ_OK)
        err = put_header(out, "payq_up", "gauge",
                         "1: the worker process is running.");
    if (err == PAYQ_OK)
        err = buf_append_str(out, "payq_up 1\n");
    return err;
}

enum payq_err worker_metrics_render(struct worker_metrics *m, struct buf *out)
{
    struct metrics_data *d = mem_alloc(sizeof(*d));
    enum payq_err err = PAYQ_ERR_NOMEM;

    if (d == NULL)
        goto out;
    pthread_mutex_lock(&m->lock);
    memcpy(d, &m->d, sizeof(*d));
    pthread_mutex_unlock(&m->lock);

    err = render_jobs(d, out);
    if (err == PAYQ_OK)
        err = render_requests(d, out);
    if (err == PAYQ_OK)
        err = render_request_time(d, out);
    if (err == PAYQ_OK)
        err = render_claims(d, out);
    if (err == PAYQ_OK)
        err = render_state(d, out);
out:
    mem_free(d);
    return err;
}
