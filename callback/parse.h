/*
 * Reading the provider's callback bodies.
 *
 * This is what the network feeds us, so every byte is hostile until
 * checked. A body is a JSON object (the reference's Node example) or an
 * application/x-www-form-urlencoded form (its PHP and Python examples);
 * some integrations see the JSON wrapped as {"jsonpayload": {...}}.
 *
 * The parser only records what a body says, each field with its type and
 * size checked; callback_verdict_of() reduces status and code to a
 * verdict that can never read unknown text as success. Whether the
 * callback is genuine is callback/token's business, not this one's.
 *
 * Threads: every function is safe to call from any thread.
 */
#ifndef PAYQ_CALLBACK_PARSE_H
#define PAYQ_CALLBACK_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define CALLBACK_BODY_MAX 16384
#define CALLBACK_FIELD_MAX 64 /* ids, status, code, reference */

/*
 * One callback, as a plain value. A field that was absent, JSON null or
 * empty is "". Every text is valid UTF-8 with no control character.
 */
struct callback_fields {
    char request_txn_id[CALLBACK_FIELD_MAX + 1]; /* "requesttransactionid" */
    char transaction_id[CALLBACK_FIELD_MAX + 1]; /* "transactionid" */
    char status[CALLBACK_FIELD_MAX + 1];         /* "status" */
    char code[CALLBACK_FIELD_MAX + 1];           /* "responsecode" */
    char reference_no[CALLBACK_FIELD_MAX + 1];   /* "referenceno" */
    char status_desc[256]; /* "statusdesc", else "message"; cut at a
                            * character boundary when longer */
    bool has_amount;       /* "amount" was present and valid */
    long long amount;      /* whole RWF, 0 < amount < 10^13 */
};

enum callback_body_form { CALLBACK_BODY_JSON, CALLBACK_BODY_FORM };

/*
 * Parses body (len bytes, not NUL-terminated, <= CALLBACK_BODY_MAX; NULL
 * only when len is 0) into out. Never reads past len.
 *
 * content_type picks the form: a JSON type (application/json, text/json,
 * anything/+json) is read as JSON only; application/x-www-form-urlencoded
 * as a form, unless the body starts with '{', which no form encoder
 * leaves raw, so it is a mislabelled JSON body and read as JSON. NULL or
 * any other type: JSON is tried, then a form. Parameters (";charset=")
 * and case are ignored.
 *
 * JSON: an object, duplicate keys refused, nesting at most 8 deep, a
 * leading UTF-8 byte order mark skipped. {"jsonpayload": {...}}, or
 * jsonpayload holding a JSON string of an object, is unwrapped once; the
 * wrapper may not also carry a field of its own. Text fields may be
 * strings or integers (transactionid 1425 gives "1425"); null counts as
 * absent; reals, booleans, objects and arrays are of a wrong type.
 *
 * Form: name=value pairs joined by '&', %XX and '+' decoded, at most 32
 * pairs; the first of repeated names wins; unknown names are ignored.
 * Only printable ASCII that form encoders leave raw may appear; leading
 * and trailing white space is ignored.
 *
 * amount: a JSON integer, a JSON real with no fraction, or a string of
 * digits optionally followed by ".0" or ".00"; it must be > 0 and
 * < 10^13. "" or null leaves has_amount false.
 *
 * Returns PAYQ_OK; PAYQ_ERR_DATA when the body is empty or neither a JSON
 * object nor a form, or a field is of a wrong type, too long (ids,
 * status, code and reference past CALLBACK_FIELD_MAX bytes), not valid
 * UTF-8, or holds a control character (C0, DEL or C1), or the amount is
 * invalid; PAYQ_ERR_TOO_LARGE above CALLBACK_BODY_MAX; PAYQ_ERR_NOMEM.
 * On failure out is emptied, never half-filled.
 */
PAYQ_MUST_USE enum payq_err callback_parse(const char *body, size_t len,
                                           const char *content_type,
                                           struct callback_fields *out);

/* What a callback's status says. */
enum callback_verdict {
    CALLBACK_SUCCESS,
    CALLBACK_FAILURE,
    CALLBACK_PENDING,
    CALLBACK_UNCLEAR,
};

/*
 * Reduces status and code to a verdict. Status words are compared whole,
 * in any case: success-like is "Successfull", "Successful" or "Success";
 * failure-like "Failed", "Failure", "Fail" or "Error".
 *
 *   SUCCESS  a success-like status with code "01" or no code, or code
 *            "01" with no status.
 *   FAILURE  a non-empty code other than "01" and "1000" with no status
 *            or a failure-like one; the caller checks the code against
 *            the documented table.
 *   PENDING  code "1000" with no status or "pending"; or status
 *            "pending" with no code.
 *   UNCLEAR  anything else: no status and no code, a success-like status
 *            with another code, a failure-like or pending status with
 *            code "01", "pending" with a failure code, a failure-like
 *            status without a code, and status text of any other kind,
 *            whatever the code.
 *
 * Unknown text is never SUCCESS, nor FAILURE: a job is settled only by
 * words the provider is known to use ("Success" is the status of its
 * own deposit answers).
 */
enum callback_verdict callback_verdict_of(const struct callback_fields *f);

/* "success", "failure", "pending", "unclear"; "unknown" out of range. */
const char *callback_verdict_name(enum callback_verdict v);

#endif
