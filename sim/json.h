/*
 * JSON text written by hand into bounded buffers, for the bodies the
 * simulator sends many times a second: jansson would build a tree of
 * allocations for each only to print it once.
 */
#ifndef PAYQ_SIM_JSON_H
#define PAYQ_SIM_JSON_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/err.h"

/*
 * Appends text as a JSON string, quotes included: '"' and '\' escaped,
 * control characters and bytes that are not UTF-8 as \u00XX. NULL is
 * written as null. PAYQ_ERR_TOO_LARGE past b's max, PAYQ_ERR_NOMEM.
 */
PAYQ_MUST_USE enum payq_err sim_json_put_string(struct buf *b,
                                                const char *text);

/*
 * Appends ,"key":<string> (no comma when first is set), the string as
 * sim_json_put_string() writes it.
 */
PAYQ_MUST_USE enum payq_err sim_json_put_member(struct buf *b, bool first,
                                                const char *key,
                                                const char *text);

#endif
