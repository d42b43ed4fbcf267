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
 *
 * One file never stops the inbox: a file refused for what it holds is
 * rejected; one that fails for another reason (the database, say) stays
 * where it is and is tried again after a delay that doubles up to a
 * minute, while the other files go on.
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
 * Opens dir as an inbox, creating imported/ and rejected/ inside it; its
 * files are imported under the directory's canonical path (realpath), so
 * any spelling of it names them alike. opts are used for every import
 * (their report stream is replaced per file). The caller frees the inbox
 * with inbox_destroy().
 */
PAYQ_MUST_USE enum payq_err inbox_create(const char *dir,
                                         const struct ingest_options *opts,
                                         int settle_s, struct inbox **out);

/*
 * Scans once: imports every file that has become complete since the last
 * scan (and is not waiting for a retry) and moves it. Returns
 * PAYQ_ERR_DB_CONNECT when the connection is lost, PAYQ_ERR_IO when the
 * directory cannot be read, else PAYQ_OK: problems with a file reject it
 * or leave it for a retry. *imported counts the files imported by this
 * scan.
 */
PAYQ_MUST_USE enum payq_err inbox_scan(struct inbox *box, PGconn *conn,
                                       int *imported);

/*
 * Scans every second until *stop becomes non-zero (set it from a signal
 * handler), reconnecting with backoff when the connection is lost and
 * waiting out a directory that cannot be read. Returns PAYQ_OK once
 * stopped: nothing else ends the watch.
 */
PAYQ_MUST_USE enum payq_err inbox_watch(struct inbox *box, PGconn *conn,
                                        volatile sig_atomic_t *stop);

/* Frees box; NULL is allowed. */
void inbox_destroy(struct inbox *box);

#endif
