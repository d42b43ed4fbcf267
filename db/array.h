/*
 * One-dimensional arrays as binary query parameters.
 *
 * A batch of rows can reach PostgreSQL as one statement whose parameters
 * are arrays, one per column (unnest() or a loop unpacks them). Sending
 * them in the binary array format (what array_send writes) spares every
 * element the quoting and escaping of an array literal, and lets a bytea
 * element carry any bytes, NUL included.
 *
 * Layout: a 20-byte header (dimensions, null flag, element type, length,
 * lower bound), then per element its length as a big-endian int32 (-1 for
 * NULL) and its bytes in the element type's binary form: raw bytes for
 * text and bytea, a big-endian 8-byte integer for int8. Text elements are
 * checked by the server against the database encoding, as text in any
 * other parameter is.
 *
 * A db_array is a value the caller embeds; one thread at a time.
 */
#ifndef PAYQ_DB_ARRAY_H
#define PAYQ_DB_ARRAY_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* Element types, as pg_type fixes their OIDs in every database. */
#define DB_OID_TEXT 25u
#define DB_OID_BYTEA 17u
#define DB_OID_INT8 20u

/* The array types a statement declares for such parameters. */
#define DB_OID_TEXT_ARRAY 1009u
#define DB_OID_BYTEA_ARRAY 1001u
#define DB_OID_INT8_ARRAY 1016u

struct db_array {
    struct buf buf;    /* header, then the elements */
    unsigned elem_oid; /* DB_OID_TEXT, DB_OID_BYTEA or DB_OID_INT8 */
    int count;         /* elements added */
};

/*
 * Prepares an empty array of elem_oid elements whose encoding may take up
 * to max bytes (header included). Allocates nothing.
 */
void db_array_init(struct db_array *a, unsigned elem_oid, size_t max);

/* Frees the storage. */
void db_array_cleanup(struct db_array *a);

/* Empties the array for reuse; keeps its type, maximum and storage. */
void db_array_reset(struct db_array *a);

/*
 * Appends an element of n bytes (text or bytea), or SQL NULL when p is
 * NULL. PAYQ_ERR_TOO_LARGE past the maximum, PAYQ_ERR_NOMEM; on failure
 * the array is unchanged.
 */
PAYQ_MUST_USE enum payq_err db_array_add(struct db_array *a, const void *p,
                                         size_t n);

/* Appends a string element, or NULL when s is NULL. */
PAYQ_MUST_USE enum payq_err db_array_add_str(struct db_array *a, const char *s);

/* Appends an int8 element, or NULL when v is NULL. */
PAYQ_MUST_USE enum payq_err db_array_add_int8(struct db_array *a,
                                              const long long *v);

/*
 * Completes the header and returns the encoding and its length in *len,
 * for PQexecParams with paramFormats 1. The pointer stays valid until the
 * next add, reset or cleanup. Returns NULL when nothing was ever added.
 */
const char *db_array_param(struct db_array *a, int *len);

#endif
