/*
 * The reports behind `payq report` and `payq show`: each is a view of
 * migrations/0003_reports.sql, read in one read-only repeatable-read
 * transaction (so its figures agree with each other) with the session in
 * Africa/Kigali time, and written by report/format.
 *
 * Report names come from a fixed list; the values of filters are always
 * bound as parameters, never written into the SQL. Everything here reads
 * only the report views (and schema_migrations, through the schema check
 * of the command line), so it works under the read-only payq_report role.
 */
#ifndef PAYQ_REPORT_REPORT_H
#define PAYQ_REPORT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "core/err.h"
#include "report/format.h"

/* "YYYY-MM-DD" and its terminator. */
#define REPORT_DATE_SIZE 11

/* Which filters a report accepts. */
enum {
    REPORT_FILTER_BATCH = 1, /* --batch N */
    REPORT_FILTER_DAYS = 2,  /* --since DATE, --until DATE */
};

/* One report of the fixed list. Static storage. */
struct report_info {
    const char *name;    /* as given to payq report: "batches" */
    const char *view;    /* the view it prints: "report_batches" */
    unsigned filters;    /* REPORT_FILTER_* it accepts */
    const char *summary; /* one line for --help */
    const char *days_of; /* what --since/--until select on, for --help */
};

/* What to select. */
struct report_filter {
    long long batch_id;           /* 0: every batch */
    char since[REPORT_DATE_SIZE]; /* first Kigali day, or "" */
    char until[REPORT_DATE_SIZE]; /* last Kigali day (inclusive), or "" */
};

/* How many reports there are, and the i-th in the order of the help. */
size_t report_count(void);
const struct report_info *report_at(size_t i);

/* The report named name (or its view's name); NULL when there is none. */
const struct report_info *report_find(const char *name);

/*
 * Checks that text is a real calendar date written YYYY-MM-DD (years 1
 * to 9999) and copies it to out. Returns false for anything else.
 */
bool report_date_parse(const char *text, char out[REPORT_DATE_SIZE]);

/*
 * Prints report r (from report_find() or report_at(), nothing else),
 * selected by f, to out in format fmt. A filter r does
 * not accept gives PAYQ_ERR_USAGE; a database failure is logged and gives
 * PAYQ_ERR_DB or PAYQ_ERR_DB_CONNECT; a failed write PAYQ_ERR_IO. The
 * schema must be current.
 */
PAYQ_MUST_USE enum payq_err report_run(PGconn *conn,
                                       const struct report_info *r,
                                       const struct report_filter *f,
                                       enum report_format fmt, FILE *out);

/* A payment to show: by job id, by reference, or either. */
struct report_job_key {
    long long job_id;      /* 0: not by id */
    const char *reference; /* NULL: not by reference; borrowed */
};

/*
 * Prints one payment's whole history (report_job_history) to out: in a
 * table under a line naming the payment, or as CSV or JSON rows of every
 * column. PAYQ_ERR_NOT_FOUND when no payment matches key; PAYQ_ERR_USAGE
 * (logged) when the id and the reference name two different payments.
 */
PAYQ_MUST_USE enum payq_err report_show(PGconn *conn,
                                        const struct report_job_key *key,
                                        enum report_format fmt, FILE *out);

#endif
