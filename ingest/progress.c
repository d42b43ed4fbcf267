/* Import progress: terminal redraws or periodic log lines. */
#include "ingest/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "core/log.h"

enum {
    CLOCK_EVERY = 1024,    /* rows between clock reads */
    TTY_INTERVAL_MS = 100, /* at most ten redraws a second */
};

static long long ms_between(const struct timespec *a, const struct timespec *b)
{
    return (long long)(b->tv_sec - a->tv_sec) * 1000 +
           (b->tv_nsec - a->tv_nsec) / 1000000;
}

void ingest_progress_init(struct ingest_progress *p, const char *label,
                          unsigned long long total_bytes, long long log_ms)
{
    p->log_ms = log_ms > 0 ? log_ms : INGEST_PROGRESS_LOG_MS;
    p->label = label;
    p->total = total_bytes;
    p->tty = isatty(2) == 1;
    p->drawn = false;
    p->calls = 0;
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    p->last = p->start;
}

/* Figures shared by both forms of output. */
struct figures {
    int percent;
    long long rate;  /* rows per second */
    long long eta_s; /* seconds left, estimated from bytes */
};

static struct figures compute(const struct ingest_progress *p,
                              const struct timespec *now,
                              unsigned long long bytes, long long rows)
{
    long long ms = ms_between(&p->start, now);
    struct figures f = { 100, 0, 0 };

    if (p->total > 0)
        f.percent = (int)(bytes * 100 / p->total);
    if (ms > 0)
        f.rate = rows * 1000 / ms;
    if (bytes > 0 && p->total > bytes)
        f.eta_s = (long long)((double)ms / 1000.0 * (double)(p->total - bytes) /
                              (double)bytes);
    return f;
}

void ingest_progress_update(struct ingest_progress *p, unsigned long long bytes,
                            long long rows)
{
    struct timespec now;
    struct figures f;

    if (++p->calls < CLOCK_EVERY)
        return;
    p->calls = 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (ms_between(&p->last, &now) < (p->tty ? TTY_INTERVAL_MS : p->log_ms))
        return;
    p->last = now;
    f = compute(p, &now, bytes, rows);
    if (p->tty) {
        fprintf(stderr, "\r%s: %3d%%  %lld rows  %lld rows/s  %llds left ",
                p->label, f.percent, rows, f.rate, f.eta_s);
        fflush(stderr);
        p->drawn = true;
        return;
    }
    log_info("import progress", LOG_STR("file", p->label),
             LOG_INT("percent", f.percent), LOG_INT("rows", rows),
             LOG_INT("rows_per_s", f.rate), LOG_INT("eta_s", f.eta_s));
}

void ingest_progress_finish(struct ingest_progress *p)
{
    if (!p->drawn)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->drawn = false;
}
