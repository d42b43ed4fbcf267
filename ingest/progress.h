/*
 * Progress of a long import on stderr. On a terminal: one line redrawn at
 * most ten times a second (percent of bytes, rows, rows per second, time
 * left). Otherwise: one logfmt info line every five seconds (or the
 * interval given), so logs stay readable under systemd or in CI.
 */
#ifndef PAYQ_INGEST_PROGRESS_H
#define PAYQ_INGEST_PROGRESS_H

#include <stdbool.h>
#include <time.h>

struct ingest_progress {
    const char *label;        /* the file, for the line */
    unsigned long long total; /* bytes in the file */
    bool tty;                 /* stderr is a terminal */
    bool drawn;               /* a terminal line needs clearing */
    struct timespec start;
    struct timespec last; /* last redraw or log line */
    unsigned calls;       /* updates since the clock was read */
    long long log_ms;     /* interval of the log lines */
};

/* Default interval of the log lines, off a terminal. */
#define INGEST_PROGRESS_LOG_MS 5000

/*
 * Starts tracking; label must outlive the progress. log_ms is the
 * interval of the log lines (off a terminal); 0 or less means
 * INGEST_PROGRESS_LOG_MS.
 */
void ingest_progress_init(struct ingest_progress *p, const char *label,
                          unsigned long long total_bytes, long long log_ms);

/* Reports bytes consumed and rows read; cheap enough to call per row. */
void ingest_progress_update(struct ingest_progress *p, unsigned long long bytes,
                            long long rows);

/* Clears the terminal line, if one was drawn. */
void ingest_progress_finish(struct ingest_progress *p);

#endif
