/*
 * The provider API client: pay_v2 (collect), deposit (pay out) and
 * balance over libcurl, each answer classified by upstream/classify.
 *
 * One client per thread. A client owns one libcurl easy handle, reused
 * so that its connection to the provider stays open between requests;
 * it may move between threads but must never be used by two at once.
 *
 * What the client guarantees, whatever the network does:
 *   - a request is written at most once per call: libcurl is not allowed
 *     to resend a body on a fresh connection by itself, so "sent twice"
 *     can only ever mean the caller resent it, knowingly, with the same
 *     transaction id;
 *   - TLS peer and host verification are always on; plain http only to
 *     loopback (see upstream/config.h); no redirects; http(s) only;
 *   - an answer body is read up to UPSTREAM_BODY_MAX bytes and no more;
 *   - the password, key and callback URL never reach a log line.
 *
 * Usage, in order:
 *   upstream_global_init()                 once, in main, before threads
 *   upstream_client_create()               once per worker thread
 *   upstream_client_send() / _balance()    any number of times
 *   upstream_client_destroy()              by the thread that used it
 *   upstream_global_cleanup()              once, after threads are gone
 */
#ifndef PAYQ_UPSTREAM_CLIENT_H
#define PAYQ_UPSTREAM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/err.h"
#include "upstream/classify.h"
#include "upstream/config.h"
#include "upstream/request.h"
#include "upstream/response.h"

struct upstream_client;

/* The provider's account balance, in whole RWF. */
struct upstream_balance {
    long long net_balance;                 /* net_balance */
    long long total_credits;               /* total_net_credits */
    long long total_debits;                /* total_net_debits */
    char currency[UPSTREAM_CURRENCY_SIZE]; /* "RWF" */
};

/*
 * Initialises libcurl (curl_global_init) and jansson's hash seed. Call
 * from main, before any thread exists; later calls do nothing and return
 * the first call's result. PAYQ_ERR_NOMEM when libcurl cannot start.
 */
PAYQ_MUST_USE enum payq_err upstream_global_init(void);

/* Releases libcurl's global state; after every client is destroyed. */
void upstream_global_cleanup(void);

/*
 * Creates a client for cfg (loaded by upstream_config_load), which is
 * copied. creds is borrowed: it must outlive the client, and only
 * username, password and key are read. The caller frees the client with
 * upstream_client_destroy(). Returns PAYQ_ERR_NOMEM, or PAYQ_ERR_CONFIG
 * when cfg was never loaded or libcurl refuses a setting (logged). When
 * the log level is debug at creation, libcurl's own trace is logged too,
 * without bodies in either direction.
 */
PAYQ_MUST_USE enum payq_err
upstream_client_create(const struct upstream_config *cfg,
                       const struct config_credentials *creds,
                       struct upstream_client **out);

/* Frees the client and closes its connection; NULL is allowed. */
void upstream_client_destroy(struct upstream_client *client);

/*
 * Sends one payment to pay_v2 or deposit and classifies the answer into
 * *result (see upstream_classify() for is_resend). When pay->kind is PAY
 * and pay->callback_url is NULL, the configured PAYQ_CALLBACK_URL is
 * used.
 *
 * Returns PAYQ_OK whenever the request was attempted, whatever came of
 * it: the outcome, a network failure included, is in *result. Any other
 * code means nothing was sent and *result is untouched: PAYQ_ERR_DATA for
 * a payment that cannot be written (bad phone, amount, id or text; logged
 * at warn), PAYQ_ERR_CONFIG for a collection with no callback URL,
 * PAYQ_ERR_TOO_LARGE, PAYQ_ERR_NOMEM.
 */
PAYQ_MUST_USE enum payq_err
upstream_client_send(struct upstream_client *client,
                     const struct upstream_payment *pay, bool is_resend,
                     struct upstream_result *result);

/*
 * Asks for the account balance. Returns PAYQ_OK with *balance filled,
 * PAYQ_ERR_CONFIG when the provider refused our credentials or address
 * (result->cls SYSTEMIC), PAYQ_ERR_IO for any other failure; *result
 * says what happened in each case. Before anything is sent: PAYQ_ERR_NOMEM,
 * or PAYQ_ERR_CONFIG for incomplete credentials, with *result untouched.
 */
PAYQ_MUST_USE enum payq_err
upstream_client_balance(struct upstream_client *client,
                        struct upstream_balance *balance,
                        struct upstream_result *result);

/*
 * The raw body of the last answer (at most UPSTREAM_BODY_MAX bytes, not
 * NUL-safe) and its length in *len, for the attempts.response_body copy.
 * Valid until the next request on this client. Never holds our request.
 */
const char *upstream_client_last_body(const struct upstream_client *client,
                                      size_t *len);

#endif
