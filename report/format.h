/*
 * Writing report results: an aligned table for people (like psql's),
 * RFC 4180 CSV for spreadsheets, or a JSON array of objects for programs.
 *
 * The formatter knows nothing of libpq: cells come through a callback as
 * the text PostgreSQL sends (NULL for an SQL null), and each column says
 * how its values are written. Only table output adds thousands separators,
 * and only to amount columns; CSV and JSON carry the plain digits, so
 * they parse back to the same figures.
 */
#ifndef PAYQ_REPORT_FORMAT_H
#define PAYQ_REPORT_FORMAT_H

#include <stdbool.h>
#include <stdio.h>

#include "core/err.h"

enum report_format {
    REPORT_FORMAT_TABLE,
    REPORT_FORMAT_CSV,
    REPORT_FORMAT_JSON,
};

/* How a column's values are written. */
enum report_type {
    REPORT_TYPE_TEXT,    /* left-aligned; a JSON string */
    REPORT_TYPE_NUMBER,  /* right-aligned; a JSON number */
    REPORT_TYPE_AMOUNT,  /* whole RWF: a number, "1,234,500" in a table */
    REPORT_TYPE_BOOLEAN, /* "t" or "f" in; true or false out */
};

/* One column of a result. */
struct report_column {
    const char *name;      /* header, JSON key; borrowed */
    enum report_type type; /* how its cells are written */
};

/*
 * A run of rows. cell(ctx, row, col) returns the cell's text, valid until
 * the next call of the writer, or NULL for an SQL null.
 */
struct report_rows {
    int count;
    const char *(*cell)(const void *ctx, int row, int col);
    const void *ctx;
};

/* Parses "table", "csv" or "json"; returns false for anything else. */
bool report_format_parse(const char *name, enum report_format *out);

/*
 * Writes rows as a table aligned as psql aligns it: centred headers, text
 * left, numbers right, "(N rows)" below. Widths count characters, not
 * bytes; control characters are written as \n, \t, \r or \xNN. Takes
 * every row at once, since every row decides the widths. Returns
 * PAYQ_ERR_IO when out fails, PAYQ_ERR_NOMEM.
 */
PAYQ_MUST_USE enum payq_err report_table_write(FILE *out,
                                               const struct report_column *cols,
                                               int ncols,
                                               const struct report_rows *rows);

/*
 * CSV and JSON are written as the rows arrive, so a report of any length
 * needs no more memory than one run of rows. Plain struct, owned by the
 * caller; nothing to clean up.
 */
struct report_stream {
    enum report_format format;        /* CSV or JSON */
    FILE *out;                        /* borrowed */
    const struct report_column *cols; /* borrowed, ncols of them */
    int ncols;
    long long rows; /* rows written so far */
};

/*
 * Prepares s for format (REPORT_FORMAT_CSV or REPORT_FORMAT_JSON); cols
 * must outlive s. Writes nothing.
 */
void report_stream_init(struct report_stream *s, enum report_format format,
                        FILE *out, const struct report_column *cols, int ncols);

/* Writes the CSV header row, or the JSON array's opening. */
PAYQ_MUST_USE enum payq_err report_stream_begin(struct report_stream *s);

/* Writes a run of rows; may be called any number of times. */
PAYQ_MUST_USE enum payq_err report_stream_rows(struct report_stream *s,
                                               const struct report_rows *rows);

/* Closes the JSON array; flushes. Returns PAYQ_ERR_IO if any write failed. */
PAYQ_MUST_USE enum payq_err report_stream_end(struct report_stream *s);

#endif
