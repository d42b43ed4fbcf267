/*
 * The header row of an import file: which field holds which known column,
 * and which fields are extra columns kept as metadata.
 *
 * Names are matched case-insensitively with surrounding spaces ignored,
 * in any order. Known columns and their aliases:
 *   kind; phone (mobilephone); amount; reference; reason;
 *   name (deposit_ref_name); withdrawcharge.
 * Every other column (student, school, class, term...) is metadata.
 */
#ifndef PAYQ_INGEST_COLUMNS_H
#define PAYQ_INGEST_COLUMNS_H

#include <stdbool.h>
#include <stddef.h>

#include "ingest/reader.h"
#include "queue/job.h"

enum ingest_col {
    INGEST_COL_KIND,
    INGEST_COL_PHONE,
    INGEST_COL_AMOUNT,
    INGEST_COL_REFERENCE,
    INGEST_COL_REASON,
    INGEST_COL_NAME,
    INGEST_COL_CHARGE,
    INGEST_COL_COUNT,
};

/*
 * Bytes of a header name kept: a longer name is cut, before a character,
 * for messages and metadata keys, and two names alike up to the cut are
 * the same column ("column appears twice").
 */
#define INGEST_COLUMN_NAME_MAX 128

struct ingest_columns {
    int index[INGEST_COL_COUNT]; /* field of each known column; -1 absent */
    size_t nfields;              /* fields in the header */
    /* Trimmed header names, for error messages and metadata keys. */
    char names[INGEST_COLUMNS_MAX][INGEST_COLUMN_NAME_MAX + 1];
    bool is_metadata[INGEST_COLUMNS_MAX];
};

/*
 * Maps the header. kind is the --kind given (used when the file has no
 * kind column). Returns NULL, or a problem with the header; *problem_name
 * then names the column concerned ("missing column reference").
 */
const char *ingest_columns_map(struct ingest_columns *cols,
                               const struct ingest_row *header,
                               enum job_kind kind, const char **problem_name);

/* The canonical name of a known column, as used in messages. */
const char *ingest_col_name(enum ingest_col col);

#endif
