/*
 * Request parameters from a JSON or form-encoded body.
 *
 * The reference's PHP and Python examples send
 * application/x-www-form-urlencoded bodies and its Node example sends
 * JSON, so both become the same list of name/value strings. JSON numbers
 * keep their text ("1500", "1500.0"): amounts are judged later, as text,
 * without floating point.
 */
#ifndef PAYQ_SIM_PARAMS_H
#define PAYQ_SIM_PARAMS_H

#include <stddef.h>

#include "core/err.h"

/* Most parameters in one body; more is a malformed request. */
#define SIM_PARAMS_MAX 32

/* Longest parameter name or value kept, in bytes. */
#define SIM_PARAM_VALUE_MAX 2048

struct sim_param {
    char *name;  /* owned */
    char *value; /* owned; may be a secret, so wiped when freed */
};

/* The parameters of one request. The caller embeds it. */
struct sim_params {
    struct sim_param items[SIM_PARAMS_MAX];
    size_t count;
};

/*
 * Parses body (len bytes, need not be NUL-terminated) into p, which must
 * be empty. content_type picks the syntax (NULL or another type: sniffed,
 * '{' means JSON). Returns PAYQ_ERR_DATA for malformed input or an
 * unsupported type, PAYQ_ERR_TOO_LARGE past the limits above,
 * PAYQ_ERR_NOMEM. Release p with sim_params_cleanup() in every case.
 */
PAYQ_MUST_USE enum payq_err sim_params_parse(struct sim_params *p,
                                             const char *content_type,
                                             const char *body, size_t len);

/*
 * Returns the value of name, or NULL when absent, null or blank. When a
 * name repeats, the last one counts (as in PHP). Owned by p.
 */
const char *sim_params_get(const struct sim_params *p, const char *name);

/* Wipes and frees every value; p is empty again. */
void sim_params_cleanup(struct sim_params *p);

#endif
