/*
 * Every JSON body the simulator sends, in the shapes of the provider's
 * reference: answers to pay_v2, deposit and balance, and the callbacks.
 * Keys come in the reference's order. Where the reference shows no shape
 * (declines, deposit failures) the choice is documented in
 * sim/README.md and here.
 *
 * Each function returns a NUL-terminated string, or NULL when out of
 * memory. The caller frees the result with mem_free(). Any thread.
 */
#ifndef PAYQ_SIM_BODIES_H
#define PAYQ_SIM_BODIES_H

#include "sim/ledger.h"

/* {"status":"error","message":message} */
char *sim_body_error(const char *message);

/* {"status":"error","message":"<prefix><name>"}, e.g. a missing field. */
char *sim_body_error_about(const char *prefix, const char *name);

/*
 * Pay accepted: {"status":"Pending","requesttransactionid":id,
 * "success":true,"responsecode":"1000","transactionid":<provider id>,
 * "message":"Transaction Pending"}.
 */
char *sim_body_pay_pending(const struct sim_txn *txn);

/*
 * Pay declined: {"status":"Failed","requesttransactionid":id,
 * "success":false,"responsecode":code,"message":<code's description>}.
 */
char *sim_body_pay_failed(const char *id, const char *code);

/*
 * Deposit done: {"status":"success","message":"Deposit successful",
 * "transactionid":id,"responsecode":"01","success":true,
 * "referenceno":ref}.
 */
char *sim_body_deposit_success(const struct sim_txn *txn);

/*
 * Deposit declined: {"status":"Failed","message":<description>,
 * "transactionid":id,"responsecode":code,"success":false}.
 */
char *sim_body_deposit_failed(const char *id, const char *code);

/*
 * Balance: net, credits and debits printed as the reference prints them
 * ("37500.0"), from whole francs, with "currency":"RWF".
 */
char *sim_body_balance(long long net, long long credits, long long debits);

/*
 * The final-status callback of a settled transaction. Pay:
 * requesttransactionid is the caller's id and transactionid the
 * provider's; deposit: the other way round, as the reference shows.
 */
char *sim_body_callback(const struct sim_txn *txn);

#endif
