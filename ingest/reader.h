/*
 * Streaming CSV reader over libcsv.
 *
 * Reads RFC 4180 CSV (quoted fields with commas, quotes and newlines, CRLF
 * or LF line ends) a chunk at a time, so memory does not grow with the
 * file. A UTF-8 byte order mark is dropped. The delimiter is ',' or ';',
 * detected from the header line (the one more frequent outside quotes;
 * ',' on a tie) unless given. Blank lines, and rows after the header whose
 * fields are all empty or spaces (what spreadsheets leave at the end), are
 * skipped. As libcsv has it, spaces and tabs around an unquoted field are
 * dropped, a quote inside an unquoted field is kept as it is, and a bare
 * CR ends a row (and a line, for line numbers).
 *
 * Hostile input gives row problems, never crashes: a field over
 * INGEST_FIELD_MAX bytes, a NUL byte, invalid UTF-8, a row with more or
 * fewer fields than the header; only a row's first problem is reported.
 * The parser's own buffer is capped near INGEST_PARSE_MAX bytes; past
 * that, the field still gets "field longer than 1024 bytes" and the rest
 * of its row is skipped unparsed (the row then has no fields after that
 * one). Only a quote still open at the end of the input (an unterminated
 * quote swallowing the file, say) stops the file with a fatal error.
 *
 * Not thread-safe: one reader per thread.
 */
#ifndef PAYQ_INGEST_READER_H
#define PAYQ_INGEST_READER_H

#include <stddef.h>

#include "core/err.h"

#define INGEST_FIELD_MAX 1024        /* bytes in one field */
#define INGEST_COLUMNS_MAX 256       /* fields in one row */
#define INGEST_RAW_MAX 65536         /* raw row bytes kept for reports */
#define INGEST_PARSE_MAX (64 * 1024) /* longest field parsed whole */

struct ingest_reader;

/* One row. Everything it points to is valid until the next call. */
struct ingest_row {
    long line;                 /* physical line the row starts on, 1-based */
    size_t nfields;            /* fields in this row */
    const char *const *fields; /* values, NUL-terminated (a field with a
                                  problem may be cut short or empty) */
    const size_t *lens;        /* byte length of each value */
    const char *raw;           /* the row's bytes as in the file, without
                                  its final line end; cut at INGEST_RAW_MAX */
    size_t raw_len;
    const char *problem;  /* NULL, or what is wrong with the row */
    size_t problem_field; /* the field it concerns, from 0; for a
                             problem of the whole row (too many or
                             too few fields), nfields */
};

/*
 * Creates a reader of the file open on fd (which the caller keeps and
 * closes). delimiter is ',' or ';', or 0 to detect it from the header;
 * anything else, or a negative fd, gives PAYQ_ERR_USAGE. The caller frees
 * the reader with ingest_reader_destroy().
 */
PAYQ_MUST_USE enum payq_err ingest_reader_create_fd(int fd, char delimiter,
                                                    struct ingest_reader **out);

/* As ingest_reader_create_fd(), over len bytes in memory (not copied). */
PAYQ_MUST_USE enum payq_err
ingest_reader_create_mem(const char *data, size_t len, char delimiter,
                         struct ingest_reader **out);

/*
 * Reads the next row; the first is the header. Returns PAYQ_OK with *row
 * filled, PAYQ_ERR_NOT_FOUND at the end of the input, PAYQ_ERR_DATA on a
 * fatal problem (see ingest_reader_error()), PAYQ_ERR_IO when reading
 * fails, PAYQ_ERR_NOMEM.
 */
PAYQ_MUST_USE enum payq_err ingest_reader_next(struct ingest_reader *r,
                                               struct ingest_row *row);

/*
 * The fatal problem after PAYQ_ERR_DATA (what failed, after PAYQ_ERR_IO),
 * "" before any, and the line that the field it concerns starts on.
 */
const char *ingest_reader_error(const struct ingest_reader *r);
long ingest_reader_error_line(const struct ingest_reader *r);

/* The delimiter in use (after detection, once the first row is read). */
char ingest_reader_delimiter(const struct ingest_reader *r);

/* Bytes consumed from the input so far, for progress reports. */
unsigned long long ingest_reader_offset(const struct ingest_reader *r);

/* Frees r; NULL is allowed. */
void ingest_reader_destroy(struct ingest_reader *r);

#endif
