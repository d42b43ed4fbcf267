/*
 * pay_v2, deposit and balance. A pay or deposit goes through fixed steps:
 * credentials, required fields, value rules, the ledger's attempt count,
 * the fault plan (latency, then one outcome), execution, the callback,
 * and the answer. Faults apply only to requests that reach the ledger as
 * new ids, so validation answers never vary with the seed.
 */
#include "sim/api.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "core/mem.h"
#include "sim/bodies.h"
#include "sim/codes.h"
#include "sim/faults.h"
#include "sim/rules.h"

struct sim_api {
    const struct sim_config *cfg;
    struct sim_ledger *ledger;
    struct sim_callbacks *cbs;
    pthread_mutex_t lock; /* guards stopping */
    pthread_cond_t wake;  /* signalled when stopping is set */
    bool stopping;
    atomic_ullong balance_requests; /* draws /balance latencies */
};

/* A pay or deposit request whose fields passed validation. */
struct request {
    enum sim_endpoint endpoint;
    const char *id;          /* requesttransactionid or transactionid */
    const char *phone;       /* phone or mobilephone */
    const char *referenceid; /* deposit's referenceid; NULL for pay */
    const char *url;         /* where its callback goes; NULL for none */
    long long amount;
    long long charge; /* withdrawcharge; 0 for pay */
};

enum auth {
    AUTH_OK,
    AUTH_NO_USERNAME,
    AUTH_NO_PASSWORD,
    AUTH_NO_KEY,
    AUTH_UNKNOWN_USER,
    AUTH_BAD_PASSWORD,
    AUTH_BAD_KEY,
};

/* Required fields besides the credentials, in the reference's order. */
static const char *const pay_fields[] = {
    "phone", "amount", "requesttransactionid", "callbackurl", NULL,
};

static const char *const deposit_fields[] = {
    "transactionid", "referenceid",      "amount",      "withdrawcharge",
    "reason",        "deposit_ref_name", "mobilephone", NULL,
};

static const char *endpoint_name(enum sim_endpoint endpoint)
{
    switch (endpoint) {
    case SIM_ENDPOINT_PAY:
        return "pay_v2";
    case SIM_ENDPOINT_DEPOSIT:
        return "deposit";
    default:
        return "balance";
    }
}

static void nap(struct sim_api *api, long ms)
{
    struct timespec until;

    if (ms <= 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&api->lock);
    while (!api->stopping &&
           pthread_cond_timedwait(&api->wake, &api->lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&api->lock);
}

void sim_answer_error(struct sim_answer *answer, unsigned status,
                      const char *message)
{
    answer->status = status;
    answer->body = sim_body_error(message);
    answer->drop = false;
    answer->retry_after_s = -1;
}

void sim_answer_cleanup(struct sim_answer *answer)
{
    mem_free(answer->body);
    answer->body = NULL;
}

/* A decline in the endpoint's Failed shape, HTTP 200 like any answer. */
static void answer_declined(struct sim_answer *answer,
                            enum sim_endpoint endpoint, const char *id,
                            const char *code)
{
    answer->status = 200;
    if (endpoint == SIM_ENDPOINT_DEPOSIT)
        answer->body = sim_body_deposit_failed(id, code);
    else
        answer->body = sim_body_pay_failed(id, code);
}

/* Compares a secret without leaking where it first differs. */
static bool same_secret(const char *given, const char *expected)
{
    size_t n = strlen(expected);

    return strlen(given) == n && CRYPTO_memcmp(given, expected, n) == 0;
}

static enum auth check_auth(const struct sim_config *cfg,
                            const struct sim_params *params)
{
    const char *username = sim_params_get(params, "username");
    const char *password = sim_params_get(params, "password");
    const char *key = sim_params_get(params, "key");

    if (username == NULL)
        return AUTH_NO_USERNAME;
    if (password == NULL)
        return AUTH_NO_PASSWORD;
    if (key == NULL)
        return AUTH_NO_KEY;
    if (strcmp(username, cfg->username) != 0)
        return AUTH_UNKNOWN_USER;
    if (!same_secret(password, cfg->password))
        return AUTH_BAD_PASSWORD;
    if (!same_secret(key, cfg->key))
        return AUTH_BAD_KEY;
    return AUTH_OK;
}

/* pay/deposit: answers a credential problem; false when there is none. */
static bool refuse_auth(const struct sim_api *api, enum sim_endpoint ep,
                        const struct sim_params *params, const char *id,
                        struct sim_answer *answer)
{
    switch (check_auth(api->cfg, params)) {
    case AUTH_OK:
        return false;
    case AUTH_NO_USERNAME:
        answer_declined(answer, ep, id, SIM_CODE_NO_USERNAME);
        break;
    case AUTH_NO_PASSWORD:
        answer_declined(answer, ep, id, SIM_CODE_NO_PASSWORD);
        break;
    case AUTH_UNKNOWN_USER:
        answer_declined(answer, ep, id, SIM_CODE_NO_SUCH_USER);
        break;
    case AUTH_BAD_PASSWORD:
        answer_declined(answer, ep, id, SIM_CODE_BAD_PASSWORD);
        break;
    default:
        sim_answer_error(answer, 401, "Unauthorized API access");
        break;
    }
    return true;
}

/* Answers 400 for the first missing field; false when all are there. */
static bool refuse_missing(const struct sim_params *params,
                           const char *const *fields, unsigned status,
                           struct sim_answer *answer)
{
    for (; *fields != NULL; fields++) {
        if (sim_params_get(params, *fields) == NULL) {
            answer->status = status;
            answer->body = sim_body_error_about("Missing parameter: ", *fields);
            return true;
        }
    }
    return false;
}

static void answer_invalid(struct sim_answer *answer, const char *field)
{
    answer->status = 400;
    answer->body = sim_body_error_about("Invalid parameter: ", field);
}

/* Fills req from params; answers 400 for a malformed value. */
static bool read_fields(const struct sim_api *api,
                        const struct sim_params *params, struct request *req,
                        struct sim_answer *answer)
{
    bool pay = req->endpoint == SIM_ENDPOINT_PAY;
    const char *id_field = pay ? "requesttransactionid" : "transactionid";
    const char *charge = sim_params_get(params, "withdrawcharge");

    req->id = sim_params_get(params, id_field);
    req->phone = sim_params_get(params, pay ? "phone" : "mobilephone");
    req->referenceid = pay ? NULL : sim_params_get(params, "referenceid");
    req->url = pay ? sim_params_get(params, "callbackurl")
                   : api->cfg->deposit_callback_url;
    if (!sim_rules_valid_id(req->id))
        answer_invalid(answer, id_field);
    else if (!pay && !sim_rules_valid_reference(req->referenceid))
        answer_invalid(answer, "referenceid");
    else if (pay && !sim_rules_valid_url(req->url))
        answer_invalid(answer, "callbackurl");
    else if (!sim_rules_parse_amount(sim_params_get(params, "amount"),
                                     &req->amount))
        answer_invalid(answer, "amount");
    else if (!pay &&
             (!sim_rules_parse_amount(charge, &req->charge) || req->charge < 0))
        answer_invalid(answer, "withdrawcharge");
    else
        return true;
    return false;
}

/*
 * Validates a pay or deposit request into req. Returns false with
 * *answer filled when it is refused.
 */
static bool validate(const struct sim_api *api, const struct sim_params *params,
                     struct request *req, struct sim_answer *answer)
{
    bool pay = req->endpoint == SIM_ENDPOINT_PAY;
    const char *id =
        sim_params_get(params, pay ? "requesttransactionid" : "transactionid");
    const char *code;

    if (refuse_auth(api, req->endpoint, params, id, answer))
        return false;
    if (refuse_missing(params, pay ? pay_fields : deposit_fields, 400, answer))
        return false;
    if (!read_fields(api, params, req, answer))
        return false;
    code = sim_rules_check_amount(api->cfg, req->amount);
    if (code == NULL)
        code = sim_rules_check_phone(req->phone,
                                     pay ? SIM_PHONE_PAY : SIM_PHONE_DEPOSIT);
    if (code != NULL) {
        answer_declined(answer, req->endpoint, req->id, code);
        return false;
    }
    return true;
}

/* req for the ledger; plan may be NULL before the faults are drawn. */
static struct sim_ledger_req ledger_req(const struct request *req,
                                        const struct sim_plan *plan)
{
    return (struct sim_ledger_req){
        .id = req->id,
        .kind =
            req->endpoint == SIM_ENDPOINT_PAY ? SIM_KIND_PAY : SIM_KIND_DEPOSIT,
        .amount = req->amount,
        .charge = req->charge,
        .phone = req->phone,
        .referenceid = req->referenceid,
        .callback_url = req->url,
        .lose_callback = plan != NULL && plan->lose_callback,
        .latency_ms = plan != NULL ? plan->latency_ms : 0,
    };
}

/* Counts the callback faults of an executed transaction. */
static void note_callback_faults(struct sim_api *api, const struct request *req,
                                 const struct sim_plan *plan)
{
    if (req->url == NULL)
        return;
    if (plan->lose_callback)
        sim_ledger_note_event(api->ledger, SIM_EVENT_LOST_CALLBACK);
    if (plan->duplicate_callback)
        sim_ledger_note_event(api->ledger, SIM_EVENT_DUPLICATE_CALLBACK);
    if (plan->early_callback)
        sim_ledger_note_event(api->ledger, SIM_EVENT_EARLY_CALLBACK);
}

/* Queues (or, for early callbacks, sends) the transaction's callback. */
static void schedule_callback(struct sim_api *api, const struct request *req,
                              const struct sim_plan *plan)
{
    int copies = plan->duplicate_callback ? 1 : 0;
    enum payq_err err;

    if (req->url == NULL)
        return;
    if (plan->early_callback)
        err = sim_callbacks_send_now(api->cbs, req->id, req->url, copies);
    else
        err = sim_callbacks_submit(
            api->cbs, req->id, req->url,
            api->cfg->callback_delay_ms + plan->reorder_ms, copies);
    if (err != PAYQ_OK)
        log_warn("callback not queued", LOG_STR("id", req->id), LOG_ERR(err));
}

/* Registers and executes req, schedules its callback, fills the answer. */
static void execute(struct sim_api *api, const struct request *req,
                    const struct sim_plan *plan, struct sim_answer *answer)
{
    bool pay = req->endpoint == SIM_ENDPOINT_PAY;
    struct sim_ledger_req lreq = ledger_req(req, plan);
    const char *final =
        plan->late_failure && pay ? SIM_CODE_NO_FUNDS : SIM_CODE_SUCCESS;
    struct sim_txn txn;

    switch (sim_ledger_execute(api->ledger, &lreq, final, &txn)) {
    case SIM_LEDGER_OK:
        break;
    case SIM_LEDGER_DUPLICATE:
        answer_declined(answer, req->endpoint, req->id, SIM_CODE_DUPLICATE);
        return;
    case SIM_LEDGER_NO_FUNDS:
        sim_ledger_note_event(api->ledger, SIM_EVENT_NO_FUNDS);
        answer_declined(answer, req->endpoint, req->id, SIM_CODE_NO_FUNDS);
        return;
    default:
        sim_answer_error(answer, 500, "Internal Server Error");
        return;
    }
    if (pay && plan->late_failure)
        sim_ledger_note_event(api->ledger, SIM_EVENT_LATE_FAILURE);
    note_callback_faults(api, req, plan);
    schedule_callback(api, req, plan);
    answer->status = 200;
    answer->body =
        pay ? sim_body_pay_pending(&txn) : sim_body_deposit_success(&txn);
}

/* Declines req with the plan's code, executing nothing. */
static void decline(struct sim_api *api, const struct request *req,
                    const struct sim_plan *plan, struct sim_answer *answer)
{
    struct sim_ledger_req lreq = ledger_req(req, plan);
    const char *code = plan->decline_code;

    lreq.callback_url = NULL; /* a declined id never calls back */
    if (sim_ledger_decline(api->ledger, &lreq, code) == SIM_LEDGER_DUPLICATE)
        code = SIM_CODE_DUPLICATE;
    else
        sim_ledger_note_event(api->ledger, SIM_EVENT_DECLINED);
    answer_declined(answer, req->endpoint, req->id, code);
}

/* Counts the attempt; answers 2400 or 500 when the id cannot proceed. */
static bool admit(struct sim_api *api, const struct request *req,
                  unsigned *attempt, struct sim_answer *answer)
{
    struct sim_ledger_req lreq = ledger_req(req, NULL);

    switch (sim_ledger_attempt(api->ledger, &lreq, attempt)) {
    case SIM_LEDGER_OK:
        return true;
    case SIM_LEDGER_DUPLICATE:
        answer_declined(answer, req->endpoint, req->id, SIM_CODE_DUPLICATE);
        return false;
    case SIM_LEDGER_FULL:
        log_warn("transaction limit reached",
                 LOG_INT("max", api->cfg->max_transactions));
        sim_answer_error(answer, 500, "Transaction limit reached");
        return false;
    default:
        sim_answer_error(answer, 500, "Internal Server Error");
        return false;
    }
}

/*
 * Answers 429 or 503 when the plan throttles; false otherwise. A
 * throttle stands in front of the provider, so it answers at once,
 * without the plan's latency, and executes nothing.
 */
static bool throttle(const struct sim_api *api, const struct sim_plan *plan,
                     struct sim_answer *answer)
{
    if (plan->outcome == SIM_FAULT_HTTP429) {
        sim_ledger_note_event(api->ledger, SIM_EVENT_HTTP429);
        sim_answer_error(answer, 429, "Too Many Requests");
    } else if (plan->outcome == SIM_FAULT_HTTP503) {
        sim_ledger_note_event(api->ledger, SIM_EVENT_HTTP503);
        sim_answer_error(answer, 503, "Service Unavailable");
    } else {
        return false;
    }
    answer->retry_after_s = api->cfg->retry_after_s;
    return true;
}

/* A validated pay or deposit: the ledger, the faults, the answer. */
static void process(struct sim_api *api, const struct request *req,
                    struct sim_answer *answer)
{
    struct sim_plan plan;
    unsigned attempt;

    if (!admit(api, req, &attempt, answer))
        return;
    sim_faults_plan(api->cfg, req->id, attempt, &plan);
    if (throttle(api, &plan, answer))
        return;
    nap(api, plan.latency_ms);
    switch (plan.outcome) {
    case SIM_FAULT_HTTP500:
        sim_ledger_note_event(api->ledger, SIM_EVENT_HTTP500);
        sim_answer_error(answer, 500, "Internal Server Error");
        return;
    case SIM_FAULT_DECLINE:
        decline(api, req, &plan, answer);
        return;
    default:
        break;
    }
    execute(api, req, &plan, answer);
    if (plan.outcome == SIM_FAULT_DROP) {
        sim_ledger_note_event(api->ledger, SIM_EVENT_DROPPED);
        sim_answer_cleanup(answer);
        answer->drop = true;
    } else if (plan.outcome == SIM_FAULT_SLOW) {
        sim_ledger_note_event(api->ledger, SIM_EVENT_SLOW);
        nap(api, api->cfg->slow_ms);
    }
}

/*
 * /balance has no transaction id: its latency is drawn from the count of
 * balance requests, reproducible for a client that asks one at a time.
 */
static long balance_latency(struct sim_api *api)
{
    unsigned long long n = atomic_fetch_add(&api->balance_requests, 1);

    return sim_faults_balance_latency(api->cfg, n);
}

static void handle_balance(struct sim_api *api, const struct sim_params *params,
                           struct sim_answer *answer)
{
    static const char *const fields[] = { "username", "password", "key", NULL };
    const struct sim_config *cfg = api->cfg;
    long long net;
    long long credits;
    long long debits;

    if (refuse_missing(params, fields, 422, answer))
        return;
    switch (check_auth(cfg, params)) {
    case AUTH_OK:
        break;
    case AUTH_BAD_KEY:
        sim_answer_error(answer, 401, "Invalid API key");
        return;
    default:
        sim_answer_error(answer, 401, "Invalid credentials");
        return;
    }
    nap(api, balance_latency(api));
    sim_ledger_balance(api->ledger, &net, &credits, &debits);
    answer->status = 200;
    answer->body = sim_body_balance(net, credits, debits);
}

void sim_api_handle(struct sim_api *api, enum sim_endpoint endpoint,
                    const struct sim_params *params, struct sim_answer *answer)
{
    struct request req = { .endpoint = endpoint };

    *answer = (struct sim_answer){ .status = 500, .retry_after_s = -1 };
    if (endpoint == SIM_ENDPOINT_BALANCE)
        handle_balance(api, params, answer);
    else if (validate(api, params, &req, answer))
        process(api, &req, answer);

    if (answer->body == NULL && !answer->drop)
        answer->status = 500; /* a body could not be built */
    log_debug("request answered", LOG_STR("endpoint", endpoint_name(endpoint)),
              LOG_STR("id", req.id), LOG_PHONE("phone", req.phone),
              LOG_INT("amount", req.amount), LOG_INT("status", answer->status),
              LOG_STR("dropped", answer->drop ? "true" : "false"));
}

struct sim_api *sim_api_create(const struct sim_config *cfg,
                               struct sim_ledger *ledger,
                               struct sim_callbacks *cbs)
{
    struct sim_api *api = mem_calloc(1, sizeof(*api));
    pthread_condattr_t attr;

    if (api == NULL)
        return NULL;
    api->cfg = cfg;
    api->ledger = ledger;
    api->cbs = cbs;
    pthread_mutex_init(&api->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&api->wake, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&api->balance_requests, 0);
    return api;
}

void sim_api_stop(struct sim_api *api)
{
    pthread_mutex_lock(&api->lock);
    api->stopping = true;
    pthread_cond_broadcast(&api->wake);
    pthread_mutex_unlock(&api->lock);
}

void sim_api_destroy(struct sim_api *api)
{
    if (api == NULL)
        return;
    pthread_cond_destroy(&api->wake);
    pthread_mutex_destroy(&api->lock);
    mem_free(api);
}

/* At due time: settle the transaction, then build its callback body. */
static char *hook_prepare(void *ctx, const char *id)
{
    struct sim_txn txn;

    if (sim_ledger_settle(ctx, id, &txn) != SIM_LEDGER_OK)
        return NULL;
    if (txn.lose_callback) {
        log_debug("callback lost on purpose", LOG_STR("id", id));
        return NULL;
    }
    return sim_body_callback(&txn);
}

static void hook_result(void *ctx, const char *id, bool acked)
{
    sim_ledger_note_callback(ctx, id, acked);
}

struct sim_callbacks_hooks sim_api_callback_hooks(struct sim_ledger *ledger)
{
    return (struct sim_callbacks_hooks){
        .ctx = ledger,
        .prepare = hook_prepare,
        .result = hook_result,
    };
}
