/*
 * Callback URL tokens.
 *
 * The provider neither signs its callbacks nor sends a secret with them,
 * so the secret travels in the URL it posts to. Each collection (pay_v2)
 * names its own callback URL:
 *
 *   PAYQ_CALLBACK_URL/cb/<request transaction id>/<token>
 *   token = base64url(HMAC-SHA256(secret, "pay:" + transaction id))
 *
 * Payouts (deposit) post to one URL set once on the provider account:
 *
 *   PAYQ_CALLBACK_URL/cb/deposit/<token>
 *   token = base64url(HMAC-SHA256(secret, "deposit"))
 *
 * base64url is RFC 4648 section 5 without padding: 43 characters for the
 * 32-byte MAC. A token proves that we made the URL; a pay token is bound
 * to its transaction id, so it cannot be replayed for another one. The
 * "pay:" prefix keeps the two kinds apart: no transaction id gives the
 * deposit token. Tokens are secrets: never log them.
 *
 * Threads: every function is safe to call from any thread.
 */
#ifndef PAYQ_CALLBACK_TOKEN_H
#define PAYQ_CALLBACK_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define CALLBACK_TOKEN_LEN 43
#define CALLBACK_SECRET_MIN 16 /* bytes of PAYQ_CALLBACK_SECRET */

/*
 * Writes the token for a collection's callback into out, NUL-terminated.
 * PAYQ_ERR_CONFIG when secret is NULL or shorter than CALLBACK_SECRET_MIN,
 * PAYQ_ERR_DATA when txn_id is NULL or empty, PAYQ_ERR_NOMEM when OpenSSL
 * fails. On failure out holds "".
 */
PAYQ_MUST_USE enum payq_err
callback_token_pay(const char *secret, const char *txn_id,
                   char out[CALLBACK_TOKEN_LEN + 1]);

/* Writes the token for payout callbacks into out; errors as above. */
PAYQ_MUST_USE enum payq_err
callback_token_deposit(const char *secret, char out[CALLBACK_TOKEN_LEN + 1]);

/*
 * Constant-time comparison of a presented token (any length, untrusted,
 * may be NULL) with the expected one; false on any mismatch. The time
 * taken depends on the lengths only, never on where the bytes differ.
 * An empty or NULL expected matches nothing, so an unset secret can
 * never be satisfied by an empty one.
 */
bool callback_token_equal(const char *expected, const char *presented);

/*
 * Writes base_url (its trailing slashes dropped, so none is doubled) +
 * "/cb/" + txn_id + "/" + token into out, NUL-terminated.
 *
 * base_url must start with http:// or https:// and hold no query,
 * fragment, space or control character: PAYQ_ERR_CONFIG otherwise, and
 * as callback_token_pay() for the secret. txn_id must be 1 to 64 of
 * A-Z a-z 0-9 _ . : - (the ids attempts store) and not "deposit", which
 * names the payout route: PAYQ_ERR_DATA otherwise. PAYQ_ERR_TOO_LARGE
 * when the URL does not fit in size bytes. On failure out holds "" (when
 * size > 0).
 */
PAYQ_MUST_USE enum payq_err callback_url_pay(const char *base_url,
                                             const char *secret,
                                             const char *txn_id, char *out,
                                             size_t size);

/* As callback_url_pay(), for the payout URL "/cb/deposit/<token>". */
PAYQ_MUST_USE enum payq_err callback_url_deposit(const char *base_url,
                                                 const char *secret, char *out,
                                                 size_t size);

#endif
