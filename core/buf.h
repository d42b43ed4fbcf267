/*
 * Bounded growable buffers.
 *
 * A buf grows on demand up to a maximum fixed at init. Appending past the
 * maximum fails with PAYQ_ERR_TOO_LARGE and leaves the contents unchanged,
 * so hostile input (a huge CSV field, an endless HTTP body) becomes an error
 * and never an out-of-memory crash. The data is always NUL-terminated, so a
 * buf holding text can be used as a C string.
 */
#ifndef PAYQ_CORE_BUF_H
#define PAYQ_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/err.h"

struct buf {
    char *data; /* the bytes, NUL-terminated; NULL until first growth */
    size_t len; /* bytes in use, not counting the terminator */
    size_t cap; /* bytes allocated */
    size_t max; /* the most len may ever reach */
};

/* Prepares an empty buffer that may hold up to max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Frees the storage; the buffer may be initialised again afterwards. */
void buf_cleanup(struct buf *b);

/* Empties the buffer and keeps its storage. */
void buf_reset(struct buf *b);

/* Appends n bytes. PAYQ_ERR_TOO_LARGE past max, PAYQ_ERR_NOMEM. */
PAYQ_MUST_USE enum payq_err buf_append(struct buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string. */
PAYQ_MUST_USE enum payq_err buf_append_str(struct buf *b, const char *s);

/* Appends one byte. */
PAYQ_MUST_USE enum payq_err buf_append_byte(struct buf *b, char c);

/* Appends printf-style formatted text. */
PAYQ_MUST_USE enum payq_err buf_appendf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* As buf_appendf(), with a va_list. */
PAYQ_MUST_USE enum payq_err buf_vappendf(struct buf *b, const char *fmt,
                                         va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Returns the contents as a C string; "" for a buffer never written. */
const char *buf_str(const struct buf *b);

/*
 * Hands the storage to the caller and leaves b empty. The caller frees the
 * result with mem_free(). Returns NULL when out of memory.
 */
char *buf_take(struct buf *b);

#endif
