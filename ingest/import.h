/*
 * Importing one CSV file as one batch of jobs, all or nothing.
 *
 * Order of work, in one read committed transaction:
 *   1. SHA-256 of the file; under an advisory lock on that digest, refuse
 *      a file already imported (unless forced), so two imports of the
 *      same file at once cannot both pass the check;
 *   2. insert the batch row;
 *   3. stream every valid row by COPY into a temporary staging table,
 *      validating as the file is read (memory does not grow with it);
 *   4. find references repeated inside the file;
 *   5. one INSERT ... SELECT into jobs of the staged rows whose reference
 *      no job has yet. Importers take turns at this step (an advisory
 *      lock held to commit), so the statement sees every job committed
 *      before it and never meets a concurrent one: two overlapping
 *      imports make one job per reference, the later one counting the
 *      rest as duplicates, and cannot deadlock. The unique index on
 *      jobs.reference still decides: any other writer is refused by it;
 *   6. record rejected rows (--skip-invalid), the batch's counts, NOTIFY
 *      the workers, commit.
 * Strict mode (the default) rolls back on any invalid row, after listing
 * every problem, repeats included. A dry run does steps 1, 3 and 4 and
 * counts what step 5 would insert, writing nothing and locking nothing.
 */
#ifndef PAYQ_INGEST_IMPORT_H
#define PAYQ_INGEST_IMPORT_H

#include <stdbool.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "core/err.h"
#include "queue/job.h"

/* Errors printed per file before only counting the rest. */
#define INGEST_ERRORS_SHOWN 100

struct ingest_options {
    enum job_kind kind;     /* --kind, for files without a kind column */
    char delimiter;         /* --delimiter, or 0 to detect */
    bool skip_invalid;      /* import valid rows, record the rest */
    bool dry_run;           /* validate and report, write nothing */
    bool hold;              /* batch waits for payq approve */
    bool force;             /* import a file seen before */
    bool verbose;           /* list duplicate references */
    bool progress;          /* report progress on stderr */
    int progress_ms;        /* log line interval off a terminal; 0: 5 s */
    long long min_amount;   /* PAYQ_MIN_AMOUNT */
    long long max_amount;   /* PAYQ_MAX_AMOUNT */
    const char *actor;      /* who approved, for an approved batch */
    FILE *report;           /* where FILE:LINE: errors are written */
    long long errors_shown; /* errors written before only counting */
};

struct ingest_result {
    long long batch_id;      /* 0 when nothing was committed */
    long long rows;          /* data rows read (blank rows not counted) */
    long long accepted;      /* jobs created */
    long long duplicates;    /* rows whose reference an earlier batch has */
    long long rejected;      /* invalid rows */
    long long amount;        /* RWF of the jobs created */
    long long earlier_batch; /* the batch a refused re-import matches */
    bool earlier_same_path;  /* ...and it was imported from this path */
};

/*
 * Fills opts with the defaults: pay, strict, bounds 1..5,000,000, errors
 * to stderr, the first INGEST_ERRORS_SHOWN of them shown.
 */
void ingest_options_init(struct ingest_options *opts);

/*
 * Imports path. Returns PAYQ_OK when committed (or validated, for a dry
 * run); PAYQ_ERR_DATA when the file is refused (invalid rows in strict
 * mode, a bad header, a repeat of an earlier file, or data the database
 * refuses: SQLSTATE classes 22 and 23); PAYQ_ERR_IO when the file cannot
 * be read; other database errors as db_result_check() maps them, which a
 * later attempt may not meet. Problems with rows are written to
 * opts->report; *res is filled as far as the import got.
 */
PAYQ_MUST_USE enum payq_err
ingest_import_file(PGconn *conn, const char *path,
                   const struct ingest_options *opts,
                   struct ingest_result *res);

#endif
