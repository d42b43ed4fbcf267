/*
 * UTF-8 helpers for text that must be stored in PostgreSQL (a UTF8
 * database refuses invalid sequences and NUL bytes) whatever a file or a
 * remote server sent us.
 */
#ifndef PAYQ_CORE_UTF8_H
#define PAYQ_CORE_UTF8_H

#include <stddef.h>

#include "core/buf.h"

/*
 * Returns the length (1 to 4) of the valid UTF-8 sequence at s, which has
 * n bytes left, or 0 when it is not one: a NUL, a stray continuation, an
 * overlong form, a surrogate, past U+10FFFF, or cut short.
 */
size_t utf8_sequence_len(const unsigned char *s, size_t n);

/*
 * Appends text to out as valid UTF-8 without NUL: every byte that is not
 * part of a valid sequence becomes the four characters \xNN. Stops before
 * out would pass max bytes, never in the middle of a character. Returns
 * PAYQ_OK, or PAYQ_ERR_NOMEM.
 */
PAYQ_MUST_USE enum payq_err utf8_sanitize(struct buf *out, const char *text,
                                          size_t len, size_t max);

#endif
