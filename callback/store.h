/*
 * Storing provider callbacks durably, many per commit.
 *
 * Each callback is stored and applied by the database function
 * payq_apply_callbacks() (migrations/0002_callbacks.sql), which keeps the
 * raw body, matches it to our attempt and job, and settles, ignores or
 * flags the job under its row lock. This module only batches calls to
 * it: a batch is one statement, payq_apply_callbacks(), with binary array
 * parameters; run outside a transaction it is one transaction with one
 * commit (one fsync) in a single round trip, so the cost of a commit is
 * shared by every callback that arrived while the previous one ran.
 *
 * Threads: callback_store_batch() uses the caller's connection; one
 * connection per thread.
 */
#ifndef PAYQ_CALLBACK_STORE_H
#define PAYQ_CALLBACK_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "core/err.h"

#define CALLBACK_STORE_BATCH_MAX 256 /* items one batch may hold */

/* One callback to store, and what became of it. Inputs are borrowed
 * strings; NULL stands for SQL null. */
struct callback_item {
    const char *endpoint;        /* "pay" | "deposit" */
    const char *body;            /* raw, as received; NULL: empty */
    size_t body_len;             /* bytes of body */
    const char *source;          /* "127.0.0.1" or NULL */
    const char *txn_id;          /* OUR request transaction id: pay
                                    from the URL, deposit from the body */
    const char *body_txn_id;     /* pay: the body's requesttransactionid
                                    (must equal txn_id); deposit: NULL */
    const char *provider_txn_id; /* the provider's transaction id */
    const char *status;          /* status text as received */
    const char *code;            /* response code as received */
    const char *reference_no;    /* provider or network reference */
    bool has_amount;             /* the callback states an amount */
    long long amount;            /* RWF, when has_amount */
    const char *verdict;         /* "success" | "failure" | "pending" |
                                    "unclear", from the parser, or
                                    "unreadable": the body could not be
                                    parsed (stored as rejected) */
    /* outputs */
    enum payq_err err;     /* PAYQ_OK when committed */
    long long callback_id; /* callbacks.id: the answer's request_id */
    char effect[16];       /* callbacks.effect; "" unless stored */
};

/*
 * Applies items[0..n) in ONE transaction with ONE commit: one statement,
 * payq_apply_callbacks(), whose eleven parameters are binary arrays (the
 * bodies as bytea, byte for byte). On success every item has err PAYQ_OK
 * and its outputs.
 *
 * If the batch fails (a statement error, a deadlock, a serialization
 * failure), it is retried item by item, each in its own transaction, so
 * one bad item cannot fail the others. An item that still fails gets
 * its err (PAYQ_ERR_DB, or PAYQ_ERR_DB_CONNECT when the connection is
 * gone, in which case the remaining items get it too). Never reports
 * an item stored unless its transaction committed; one whose COMMIT was
 * sent but not answered counts as failed, though it may be stored (a
 * resend is then a duplicate, which is harmless).
 *
 * Items are applied in the order given; the caller sorts them (by
 * txn_id) to keep lock order consistent. conn must be idle and outside
 * a transaction (else PAYQ_ERR_USAGE, nothing stored); n is 0 to
 * CALLBACK_STORE_BATCH_MAX. Returns PAYQ_OK when every item was stored,
 * else the first item's error in item order. Failures are logged.
 */
PAYQ_MUST_USE enum payq_err
callback_store_batch(PGconn *conn, struct callback_item *items, int n);

#endif
