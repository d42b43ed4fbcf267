/*
 * Staging one data row: validate it against the mapped header and, when
 * valid, append it as a line of PostgreSQL COPY text to the stream bound
 * for the import's staging table.
 *
 * Staging table columns, in COPY order:
 *   line, kind, phone, amount, withdraw_charge, reason, depositor_name,
 *   reference, metadata (a JSON object of the extra columns), raw.
 */
#ifndef PAYQ_INGEST_STAGE_H
#define PAYQ_INGEST_STAGE_H

#include <stdbool.h>

#include "core/buf.h"
#include "ingest/columns.h"
#include "ingest/reader.h"

/* Most characters kept of a deposit's reason or depositor name. */
#define INGEST_TEXT_MAX_CHARS 200

struct ingest_stage_opts {
    enum job_kind default_kind; /* rows without a kind column */
    long long min_amount;       /* PAYQ_MIN_AMOUNT */
    long long max_amount;       /* PAYQ_MAX_AMOUNT */
    bool keep_raw;              /* stage the raw row text (--skip-invalid) */
};

/* What is wrong with a row, for "FILE:LINE: COLUMN: problem (value)". */
struct ingest_problem {
    const char *column;  /* header name, or "-" for the whole row */
    const char *problem; /* static text */
    const char *value;   /* the offending text (not NUL-terminated) */
    size_t value_len;
};

/*
 * Validates row. When valid, appends its COPY line to out, sets *amount
 * and *kind, and returns PAYQ_OK. When invalid, fills *problem and
 * returns PAYQ_ERR_DATA, leaving out unchanged. PAYQ_ERR_TOO_LARGE or
 * PAYQ_ERR_NOMEM when out cannot grow.
 */
PAYQ_MUST_USE enum payq_err ingest_stage_row(
    const struct ingest_columns *cols, const struct ingest_row *row,
    const struct ingest_stage_opts *opts, struct buf *out,
    struct ingest_problem *problem, long long *amount, enum job_kind *kind);

/* Appends text as a COPY text-format value (escaping \, tab, CR, LF). */
PAYQ_MUST_USE enum payq_err ingest_copy_escape(struct buf *out,
                                               const char *text, size_t len);

#endif
