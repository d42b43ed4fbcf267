/*
 * Inbox: a directory that another system (an SFTP drop, a nightly export)
 * fills with CSV files. Each complete file is imported once, then moved
 * to DIR/imported/, or to DIR/rejected/ with NAME.errors beside it
 * listing every problem.
 *
 * A file is complete when its size and modification time have not changed
 * for the settle time, so a writer may either write in place or write
 * elsewhere and rename (names starting with '.' or ending in .tmp or
 * .part are never taken). Never twice, also across restarts: the import
 * commits before the file moves, and a file found again after a crash
 * between the two is recognised by its SHA-256 and file name as already
 * imported, and only moved.
 */
#ifndef PAYQ_INGEST_INBOX_H
#define PAYQ_INGEST_INBOX_H

#include <signal.h>

#include <libpq-fe.h>

#include "core/err.h"
#include "ingest/import.h"

/* Seconds a file must stay unchanged before it is taken. */
#define INBOX_SETTLE_S_DEFAULT 3

/* Files tracked at once; more wait for a later scan. */
#define INBOX_FILES_MAX 256

struct inbox;

/*
 * Opens dir as an inbox, creating imported/ and rejected/ inside it.
 * opts are used for every import (their report stream is replaced per
 * file). The caller frees the inbox with inbox_destroy().
 */
PAYQ_MUST_USE enum payq_err inbox_create(const char *dir,
                                         const struct ingest_options *opts,
                                         int settle_s, struct inbox **out);

/*
 * Scans once: imports every file that has become complete since the last
 * scan and moves it. Returns an error only when the database is lost or
 * the directory cannot be read; problems with a file reject that file.
 * *imported counts the files imported by this scan.
 */
PAYQ_MUST_USE enum payq_err inbox_scan(struct inbox *box, PGconn *conn,
                                       int *imported);

/*
 * Scans every second until *stop becomes non-zero (set it from a signal
 * handler).
 */
PAYQ_MUST_USE enum payq_err inbox_watch(struct inbox *box, PGconn *conn,
                                        volatile sig_atomic_t *stop);

/* Frees box; NULL is allowed. */
void inbox_destroy(struct inbox *box);

#endif
