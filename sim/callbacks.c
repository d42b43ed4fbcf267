/*
 * Sender pool for callbacks. Deliveries wait in a min-heap ordered by due
 * time (then by submission order, so equal delays keep their order);
 * sender threads sleep on a condition variable until the earliest one
 * falls due. A failed attempt goes back into the heap with its next due
 * time, so a slow receiver never holds a thread through its backoff.
 *
 * cbs->lock guards the heap, next_seq, stopping and deadline_ms. Hooks
 * and libcurl run without it.
 */
#include "sim/callbacks.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <curl/curl.h>

#include "core/log.h"
#include "core/mem.h"

/* Gap between a callback and its duplicate. */
#define DUPLICATE_GAP_MS 20

/* Longest backoff between two attempts. */
#define BACKOFF_MAX_MS (60L * 60 * 1000)

struct job {
    long long due_ms;       /* monotonic time it falls due */
    unsigned long long seq; /* submission order, for ties */
    int attempts;           /* attempts made for this copy */
    int extra_copies;       /* duplicates still to deliver after it */
    char *body;             /* NULL until prepared */
    char *url;
    char id[];
};

struct sim_callbacks {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job **heap;
    size_t count;
    size_t cap;
    unsigned long long next_seq;
    bool stopping;
    long long deadline_ms; /* when stopping: last due time still sent */
    pthread_t *threads;
    int started;
    struct sim_callbacks_settings settings;
    struct sim_callbacks_hooks hooks;
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool job_before(const struct job *a, const struct job *b)
{
    if (a->due_ms != b->due_ms)
        return a->due_ms < b->due_ms;
    return a->seq < b->seq;
}

static void job_free(struct job *job)
{
    if (job == NULL)
        return;
    mem_free(job->body);
    mem_free(job->url);
    mem_free(job);
}

static struct job *job_create(const char *id, const char *url, long delay_ms,
                              int extra_copies)
{
    size_t n = strlen(id);
    struct job *job = mem_calloc(1, sizeof(*job) + n + 1);

    if (job == NULL)
        return NULL;
    job->url = mem_strdup(url);
    if (job->url == NULL) {
        mem_free(job);
        return NULL;
    }
    memcpy(job->id, id, n + 1);
    job->due_ms = now_ms() + delay_ms;
    job->extra_copies = extra_copies;
    return job;
}

static void heap_swap(struct job **heap, size_t a, size_t b)
{
    struct job *t = heap[a];

    heap[a] = heap[b];
    heap[b] = t;
}

/* Adds job to the heap; caller holds the lock. */
static enum payq_err heap_push(struct sim_callbacks *cbs, struct job *job)
{
    size_t i = cbs->count;

    if (cbs->count == SIM_CALLBACKS_QUEUE_MAX)
        return PAYQ_ERR_TOO_LARGE;
    if (cbs->count == cbs->cap) {
        size_t cap = cbs->cap > 0 ? cbs->cap * 2 : 256;
        struct job **heap = mem_realloc(cbs->heap, cap * sizeof(*heap));

        if (heap == NULL)
            return PAYQ_ERR_NOMEM;
        cbs->heap = heap;
        cbs->cap = cap;
    }
    job->seq = cbs->next_seq++;
    cbs->heap[cbs->count++] = job;
    while (i > 0 && job_before(cbs->heap[i], cbs->heap[(i - 1) / 2])) {
        heap_swap(cbs->heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return PAYQ_OK;
}

/* Removes and returns the earliest job; caller holds the lock. */
static struct job *heap_pop(struct sim_callbacks *cbs)
{
    struct job *top = cbs->heap[0];
    size_t i = 0;

    cbs->heap[0] = cbs->heap[--cbs->count];
    for (;;) {
        size_t least = i;
        size_t l = 2 * i + 1;
        size_t r = l + 1;

        if (l < cbs->count && job_before(cbs->heap[l], cbs->heap[least]))
            least = l;
        if (r < cbs->count && job_before(cbs->heap[r], cbs->heap[least]))
            least = r;
        if (least == i)
            break;
        heap_swap(cbs->heap, i, least);
        i = least;
    }
    return top;
}

static enum payq_err queue_job(struct sim_callbacks *cbs, struct job *job)
{
    enum payq_err err;

    pthread_mutex_lock(&cbs->lock);
    err = heap_push(cbs, job);
    if (err == PAYQ_OK)
        pthread_cond_signal(&cbs->wake);
    pthread_mutex_unlock(&cbs->lock);
    return err;
}

static void wait_until(struct sim_callbacks *cbs, long long due_ms)
{
    struct timespec ts = { .tv_sec = (time_t)(due_ms / 1000),
                           .tv_nsec = (long)(due_ms % 1000) * 1000000 };

    pthread_cond_timedwait(&cbs->wake, &cbs->lock, &ts);
}

/*
 * Blocks until a job falls due and returns it, or returns NULL when the
 * pool is stopping and nothing more is due within the grace period.
 */
static struct job *next_job(struct sim_callbacks *cbs)
{
    struct job *job = NULL;

    pthread_mutex_lock(&cbs->lock);
    for (;;) {
        long long now = now_ms();
        long long due = cbs->count > 0 ? cbs->heap[0]->due_ms : -1;

        if (cbs->stopping &&
            (due < 0 || due > cbs->deadline_ms || now >= cbs->deadline_ms))
            break;
        if (due >= 0 && due <= now) {
            job = heap_pop(cbs);
            break;
        }
        if (due < 0)
            pthread_cond_wait(&cbs->wake, &cbs->lock);
        else
            wait_until(cbs, due);
    }
    pthread_mutex_unlock(&cbs->lock);
    return job;
}

static size_t discard_body(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

/* POSTs body to url; returns the HTTP status, or 0 without an answer. */
static long post_json(CURL *curl, const char *url, const char *body,
                      long timeout_ms)
{
    struct curl_slist *headers;
    long status = 0;

    headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    return status;
}

static long backoff_ms(const struct sim_callbacks *cbs, int attempts)
{
    long wait = cbs->settings.backoff_ms;
    int i;

    for (i = 1; i < attempts && wait < BACKOFF_MAX_MS; i++)
        wait *= 2;
    return wait < BACKOFF_MAX_MS ? wait : BACKOFF_MAX_MS;
}

/* After an attempt: retry, move on to a duplicate, or finish. */
static void reschedule(struct sim_callbacks *cbs, struct job *job, bool acked)
{
    bool retry = !acked && job->attempts <= cbs->settings.retries;

    if (!acked && !retry)
        log_warn("callback abandoned", LOG_STR("id", job->id),
                 LOG_INT("attempts", job->attempts));
    if (retry) {
        job->due_ms = now_ms() + backoff_ms(cbs, job->attempts);
    } else if (job->extra_copies > 0) {
        job->extra_copies--;
        job->attempts = 0;
        job->due_ms = now_ms() + DUPLICATE_GAP_MS;
    } else {
        job_free(job);
        return;
    }
    if (queue_job(cbs, job) != PAYQ_OK) {
        log_warn("callback dropped: queue full", LOG_STR("id", job->id));
        job_free(job);
    }
}

/* One attempt of job; takes ownership of job. */
static void deliver(struct sim_callbacks *cbs, CURL *curl, struct job *job)
{
    long status = 0;

    if (job->body == NULL)
        job->body = cbs->hooks.prepare(cbs->hooks.ctx, job->id);
    if (job->body == NULL) {
        job_free(job);
        return;
    }
    if (curl != NULL)
        status = post_json(curl, job->url, job->body, cbs->settings.timeout_ms);
    job->attempts++;
    log_debug("callback attempt", LOG_STR("id", job->id),
              LOG_INT("attempt", job->attempts), LOG_INT("status", status));
    cbs->hooks.result(cbs->hooks.ctx, job->id, status == 200);
    reschedule(cbs, job, status == 200);
}

static void *sender_main(void *arg)
{
    struct sim_callbacks *cbs = arg;
    CURL *curl = curl_easy_init();
    struct job *job;

    prctl(PR_SET_NAME, "payq-sim-cb", 0, 0, 0);
    if (curl == NULL)
        log_error("cannot create a callback sender: out of memory");
    while ((job = next_job(cbs)) != NULL)
        deliver(cbs, curl, job);
    curl_easy_cleanup(curl);
    return NULL;
}

static enum payq_err start_threads(struct sim_callbacks *cbs)
{
    int n = cbs->settings.threads;

    cbs->threads = mem_calloc((size_t)n, sizeof(*cbs->threads));
    if (cbs->threads == NULL)
        return PAYQ_ERR_NOMEM;
    for (; cbs->started < n; cbs->started++)
        if (pthread_create(&cbs->threads[cbs->started], NULL, sender_main,
                           cbs) != 0)
            return PAYQ_ERR_IO;
    return PAYQ_OK;
}

static void init_sync(struct sim_callbacks *cbs)
{
    pthread_condattr_t attr;

    pthread_mutex_init(&cbs->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cbs->wake, &attr);
    pthread_condattr_destroy(&attr);
}

enum payq_err
sim_callbacks_create(const struct sim_callbacks_settings *settings,
                     const struct sim_callbacks_hooks *hooks,
                     struct sim_callbacks **out)
{
    enum payq_err err = PAYQ_ERR_NOMEM;
    struct sim_callbacks *cbs = mem_calloc(1, sizeof(*cbs));

    *out = NULL;
    if (cbs == NULL)
        goto out;
    init_sync(cbs);
    cbs->settings = *settings;
    if (cbs->settings.threads < 1)
        cbs->settings.threads = 1;
    cbs->hooks = *hooks;
    err = start_threads(cbs);
    if (err != PAYQ_OK)
        goto out;
    *out = cbs;
    cbs = NULL;
out:
    if (cbs != NULL)
        sim_callbacks_destroy(cbs, 0);
    return err;
}

enum payq_err sim_callbacks_submit(struct sim_callbacks *cbs, const char *id,
                                   const char *url, long delay_ms,
                                   int extra_copies)
{
    struct job *job = job_create(id, url, delay_ms, extra_copies);
    enum payq_err err;

    if (job == NULL)
        return PAYQ_ERR_NOMEM;
    err = queue_job(cbs, job);
    if (err != PAYQ_OK)
        job_free(job);
    return err;
}

enum payq_err sim_callbacks_send_now(struct sim_callbacks *cbs, const char *id,
                                     const char *url, int extra_copies)
{
    struct job *job = job_create(id, url, 0, extra_copies);
    CURL *curl;

    if (job == NULL)
        return PAYQ_ERR_NOMEM;
    curl = curl_easy_init();
    deliver(cbs, curl, job);
    curl_easy_cleanup(curl);
    return PAYQ_OK;
}

void sim_callbacks_destroy(struct sim_callbacks *cbs, long grace_ms)
{
    size_t abandoned;
    int i;

    if (cbs == NULL)
        return;
    pthread_mutex_lock(&cbs->lock);
    cbs->stopping = true;
    cbs->deadline_ms = now_ms() + grace_ms;
    pthread_cond_broadcast(&cbs->wake);
    pthread_mutex_unlock(&cbs->lock);
    for (i = 0; i < cbs->started; i++)
        pthread_join(cbs->threads[i], NULL);

    abandoned = cbs->count;
    while (cbs->count > 0)
        job_free(cbs->heap[--cbs->count]);
    if (abandoned > 0)
        log_warn("callbacks abandoned at shutdown",
                 LOG_INT("count", abandoned));
    mem_free(cbs->heap);
    mem_free(cbs->threads);
    pthread_cond_destroy(&cbs->wake);
    pthread_mutex_destroy(&cbs->lock);
    mem_free(cbs);
}
