/*
 * The simulator's books: every transaction id it has seen, what was done
 * with it, and the float that pays deposits out and takes collections in.
 *
 * Pay and deposit share one id space, as on the real service. An id is
 * "registered" once the provider has taken it (executed, or declined by
 * the network); a registered id answers 2400 Duplicate Transaction ID for
 * ever after and is never executed again: the execute calls check and
 * register under the same lock, so `executed` cannot pass 1 even when two
 * requests with one id race. Ids seen only by requests answered HTTP 500
 * stay unregistered, so the client may resend them.
 *
 * Growth is bounded: past max_entries ids the ledger refuses new ones
 * (SIM_LEDGER_FULL; the server answers HTTP 500).
 *
 * Threads: every function may be called from any thread; one mutex in
 * the ledger guards all of it.
 */
#ifndef PAYQ_SIM_LEDGER_H
#define PAYQ_SIM_LEDGER_H

#include <stdbool.h>

#include <jansson.h>

#include "core/err.h"
#include "sim/rules.h"

struct sim_ledger;

enum sim_kind {
    SIM_KIND_PAY,
    SIM_KIND_DEPOSIT,
};

enum sim_status {
    SIM_STATUS_UNREGISTERED, /* seen, answered 500, free to resend */
    SIM_STATUS_PENDING,      /* pay taken, final status not yet known */
    SIM_STATUS_SUCCESS,      /* "Successfull" */
    SIM_STATUS_FAILED,       /* declined, refused or failed late */
};

/* What a ledger call found. */
enum sim_ledger_result {
    SIM_LEDGER_OK,
    SIM_LEDGER_DUPLICATE, /* the id is already registered */
    SIM_LEDGER_FULL,      /* max_entries reached */
    SIM_LEDGER_NO_FUNDS,  /* deposit above the float; registered, failed */
    SIM_LEDGER_UNKNOWN,   /* no such id (the ledger was reset) */
    SIM_LEDGER_NOMEM,
};

/* A new transaction, as the endpoints describe it. */
struct sim_ledger_req {
    const char *id; /* requesttransactionid or transactionid */
    enum sim_kind kind;
    long long amount;         /* whole RWF */
    long long charge;         /* deposit's withdrawcharge; 0 for pay */
    const char *callback_url; /* where callbacks go; may be NULL */
    bool lose_callback;       /* settle, but never send a callback */
};

/* A copy of one transaction's record. A value type. */
struct sim_txn {
    char id[SIM_ID_MAX + 1];
    enum sim_kind kind;
    long long amount;
    long long charge;
    enum sim_status status;
    char code[8];          /* last response code given, "" if none */
    long long provider_id; /* 0 until registered */
    char reference[48];    /* provider reference number, "" if none */
    char callback_url[SIM_URL_MAX + 1];
    bool lose_callback; /* its callback is dropped on purpose */
};

/*
 * Creates an empty ledger holding opening_float RWF. Returns NULL when
 * out of memory. The caller frees it with sim_ledger_destroy().
 */
struct sim_ledger *sim_ledger_create(long long opening_float, long max_entries);

/* Frees the ledger. No other thread may still use it. */
void sim_ledger_destroy(struct sim_ledger *ledger);

/*
 * Counts an attempt for id before anything is decided for it. Returns
 * SIM_LEDGER_DUPLICATE when id is registered, SIM_LEDGER_FULL when a new
 * id does not fit; otherwise SIM_LEDGER_OK with *attempt set to the
 * number of earlier attempts (0 the first time).
 */
PAYQ_MUST_USE enum sim_ledger_result
sim_ledger_attempt(struct sim_ledger *ledger, const char *id,
                   unsigned *attempt);

/*
 * Registers req as declined with code, executing nothing.
 * SIM_LEDGER_DUPLICATE when another request registered the id first.
 */
PAYQ_MUST_USE enum sim_ledger_result
sim_ledger_decline(struct sim_ledger *ledger, const struct sim_ledger_req *req,
                   const char *code);

/*
 * Registers and executes req; writes the record into *out. A pay becomes
 * Pending with final_code ("01" or a failure) kept for
 * sim_ledger_settle(). A deposit settles at once: it debits amount +
 * charge from the float, or, when they exceed it, is registered as failed
 * 1005 and SIM_LEDGER_NO_FUNDS returned. SIM_LEDGER_DUPLICATE when the id
 * is already registered; nothing is executed then.
 */
PAYQ_MUST_USE enum sim_ledger_result
sim_ledger_execute(struct sim_ledger *ledger, const struct sim_ledger_req *req,
                   const char *final_code, struct sim_txn *out);

/*
 * Gives a Pending pay its final status (crediting the float on success);
 * a settled transaction is left as it is. Writes the record into *out.
 * SIM_LEDGER_UNKNOWN when the id is gone.
 */
PAYQ_MUST_USE enum sim_ledger_result
sim_ledger_settle(struct sim_ledger *ledger, const char *id,
                  struct sim_txn *out);

/* Notes a callback for id: one attempt made, and whether it got 200. */
void sim_ledger_note_callback(struct sim_ledger *ledger, const char *id,
                              bool acked);

/*
 * Writes the balance: credits are the opening float plus successful
 * pays, debits are deposits with their charges, net is the difference
 * (the float).
 */
void sim_ledger_balance(struct sim_ledger *ledger, long long *net,
                        long long *credits, long long *debits);

/*
 * Returns the ledger as JSON: totals, then up to limit transactions in
 * the order first seen (only id's, when id is not NULL). The caller frees
 * the result with json_decref(). NULL when out of memory.
 */
json_t *sim_ledger_to_json(struct sim_ledger *ledger, const char *id,
                           long limit);

/* Forgets every transaction and restores the opening float. */
void sim_ledger_reset(struct sim_ledger *ledger);

/* Returns the status as the ledger listing and callbacks spell it. */
const char *sim_ledger_status_name(enum sim_status status);

#endif
