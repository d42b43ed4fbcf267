/*
 * Request bodies for the provider: JSON objects with exactly the field
 * names of the reference plus the credentials, written into a caller's
 * fixed buffer. Amounts are JSON integers of whole francs.
 *
 * The bodies hold the password and key: callers wipe the buffer after
 * use and never log it.
 *
 * Threads: every function is safe to call from any thread.
 */
#ifndef PAYQ_UPSTREAM_REQUEST_H
#define PAYQ_UPSTREAM_REQUEST_H

#include <stddef.h>

#include "core/config.h"
#include "core/err.h"
#include "queue/job.h"
#include "upstream/config.h"

/* Largest request body, in bytes; a payout's reason and name fit easily. */
#define UPSTREAM_REQUEST_MAX 4096
/* A phone number in any form, with its terminator. */
#define UPSTREAM_PHONE_SIZE 16

/* One payment to send. Strings are borrowed for the call only. */
struct upstream_payment {
    enum job_kind kind;         /* pay_v2 (PAY) or deposit (DEPOSIT) */
    const char *request_txn_id; /* the attempt's id: 1-64 of
                                 * [A-Za-z0-9_.:-]; requesttransactionid
                                 * (pay) or transactionid (deposit) */
    const char *phone;          /* canonical 2507XXXXXXXX */
    long long amount;           /* whole RWF, > 0 */
    const char *callback_url;   /* pay: callbackurl; may hold a token */
    const char *reference;      /* deposit: referenceid, our reference */
    long long withdraw_charge;  /* deposit: withdrawcharge, >= 0 */
    const char *reason;         /* deposit: reason */
    const char *depositor_name; /* deposit: deposit_ref_name */
};

/*
 * Writes canonical ("2507" and 8 digits) in form. PAYQ_ERR_DATA when
 * canonical is not a Rwandan mobile number in that form.
 */
PAYQ_MUST_USE enum payq_err
upstream_phone_format(const char *canonical, enum upstream_phone_form form,
                      char out[UPSTREAM_PHONE_SIZE]);

/*
 * Writes the pay_v2 or deposit body of pay into out (size bytes,
 * NUL-terminated) and its length into *len. Pay phones go in the 10-digit
 * local form; deposit phones in deposit_form. Returns PAYQ_ERR_DATA when
 * a field is missing or malformed (nothing is then worth sending),
 * PAYQ_ERR_TOO_LARGE when the body does not fit, PAYQ_ERR_NOMEM.
 */
PAYQ_MUST_USE enum payq_err upstream_request_payment(
    const struct upstream_payment *pay, const struct config_credentials *creds,
    enum upstream_phone_form deposit_form, char *out, size_t size, size_t *len);

/* Writes the balance body (the credentials alone), as above. */
PAYQ_MUST_USE enum payq_err
upstream_request_balance(const struct config_credentials *creds, char *out,
                         size_t size, size_t *len);

#endif
