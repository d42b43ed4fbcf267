/*
 * The provider's three endpoints, pay_v2, deposit and balance: from a
 * request's parameters to its answer, with the ledger, the fault plan and
 * the callbacks in between. Knows nothing of HTTP plumbing; sim/server.c
 * feeds it and writes what it returns.
 *
 * A request may sleep (--latency-ms, --slow); sim_api_stop() cuts every
 * such sleep short so that shutdown need not wait for them.
 *
 * Threads: sim_api_handle() is called concurrently from the HTTP
 * server's connection threads.
 */
#ifndef PAYQ_SIM_API_H
#define PAYQ_SIM_API_H

#include <stdbool.h>

#include "core/err.h"
#include "sim/callbacks.h"
#include "sim/config.h"
#include "sim/ledger.h"
#include "sim/params.h"

struct sim_api;

enum sim_endpoint {
    SIM_ENDPOINT_PAY,     /* /pay_v2 and /test/pay_v2 */
    SIM_ENDPOINT_DEPOSIT, /* /deposit and /test/deposit */
    SIM_ENDPOINT_BALANCE, /* /balance and /test/balance */
};

/* How to answer one request. */
struct sim_answer {
    unsigned status;    /* HTTP status */
    char *body;         /* JSON text; owned; NULL when dropping */
    bool drop;          /* close the connection without any answer */
    long retry_after_s; /* a Retry-After header's seconds; -1: none */
};

/*
 * Creates the endpoints over cfg, ledger and cbs, which must outlive the
 * result. NULL when out of memory. The caller frees the result with
 * sim_api_destroy().
 */
struct sim_api *sim_api_create(const struct sim_config *cfg,
                               struct sim_ledger *ledger,
                               struct sim_callbacks *cbs);

/*
 * Answers one request to endpoint with params. Fills *answer; release it
 * with sim_answer_cleanup(). Never fails: out of memory becomes HTTP 500
 * with no body.
 */
void sim_api_handle(struct sim_api *api, enum sim_endpoint endpoint,
                    const struct sim_params *params, struct sim_answer *answer);

/* Fills *answer with {"status":"error","message":message}. */
void sim_answer_error(struct sim_answer *answer, unsigned status,
                      const char *message);

/* Frees the answer's body. */
void sim_answer_cleanup(struct sim_answer *answer);

/* Wakes every sleeping request and makes later sleeps return at once. */
void sim_api_stop(struct sim_api *api);

/* Frees the api. No request may be in progress. */
void sim_api_destroy(struct sim_api *api);

/*
 * Returns the callback hooks over ledger: at due time a transaction is
 * settled and its body built (none when its callback is to be lost);
 * each attempt is counted in the ledger.
 */
struct sim_callbacks_hooks sim_api_callback_hooks(struct sim_ledger *ledger);

#endif
