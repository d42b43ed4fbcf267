/*
 * Progress of a long import on stderr. On a terminal: one line redrawn at
 * most ten times a second (percent of bytes, rows, rows per second, time
 * left). Otherwise: one logfmt info line every five seconds, so logs stay
 * readable under systemd or in CI.
 */
#ifndef PAYQ_INGEST_PROGRESS_H
#define PAYQ_INGEST_PROGRESS_H

#include <stdbool.h>
#include <time.h>

struct ingest_progress {
    const char *label;             /* the file, for the line */
    unsigned long long total;      /* bytes in the file */
    bool tty;                      /* stderr is a terminal */
    bool drawn;                    /* a terminal line needs clearing */
    struct timespec start;
    struct timespec last;          /* last redraw or log line */
    unsigned calls;                /* updates since the clock was read */
};

/* Starts tracking; label must outlive the progress. */
void ingest_progress_init(struct ingest_progress *p, const char *label,
                          unsigned long long total_bytes);

/* Reports bytes consumed and rows read; cheap enough to call per row. */
void ingest_progress_update(struct ingest_progress *p,
                            unsigned long long bytes, long long rows);

/* Clears the terminal line, if one was drawn. */
void ingest_progress_finish(struct ingest_progress *p);

#endif
