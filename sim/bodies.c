/* JSON bodies in the reference's shapes, built with jansson. */
#include "sim/bodies.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/mem.h"
#include "sim/codes.h"

/* Callbacks of successes say these rather than the table's word. */
#define PAY_DONE_TEXT "Successfully Processed Transaction"
#define DEPOSIT_DONE_TEXT "Deposit processed successfully"

/* Each adds one member; false when out of memory. */
static bool put_str(json_t *obj, const char *key, const char *value)
{
    json_t *v = value != NULL ? json_string(value) : json_null();

    return json_object_set_new(obj, key, v) == 0;
}

static bool put_int(json_t *obj, const char *key, long long value)
{
    return json_object_set_new(obj, key, json_integer((json_int_t)value)) == 0;
}

static bool put_bool(json_t *obj, const char *key, bool value)
{
    return json_object_set_new(obj, key, json_boolean(value)) == 0;
}

/*
 * Serialises obj (members in the order added) and frees it. Returns NULL
 * when ok is false (a member could not be added) or out of memory.
 */
static char *dump(json_t *obj, bool ok)
{
    char *text = NULL;
    char *copy;

    if (ok)
        text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (text == NULL)
        return NULL;
    /* jansson allocates with malloc; callers free with mem_free(). */
    copy = mem_strdup(text);
    free(text);
    return copy;
}

static const char *describe(enum sim_codes_table table, const char *code)
{
    const char *text = sim_codes_text(table, code);

    return text != NULL ? text : "General Failure";
}

char *sim_body_error(const char *message)
{
    json_t *obj = json_object();
    bool ok = obj != NULL && put_str(obj, "status", "error") &&
              put_str(obj, "message", message);

    return dump(obj, ok);
}

char *sim_body_error_about(const char *prefix, const char *name)
{
    char message[128];

    snprintf(message, sizeof(message), "%s%s", prefix, name);
    return sim_body_error(message);
}

char *sim_body_pay_pending(const struct sim_txn *txn)
{
    json_t *obj = json_object();
    bool ok = obj != NULL && put_str(obj, "status", "Pending") &&
              put_str(obj, "requesttransactionid", txn->id) &&
              put_bool(obj, "success", true) &&
              put_str(obj, "responsecode", SIM_CODE_PENDING) &&
              put_int(obj, "transactionid", txn->provider_id) &&
              put_str(obj, "message", "Transaction Pending");

    return dump(obj, ok);
}

char *sim_body_pay_failed(const char *id, const char *code)
{
    json_t *obj = json_object();
    bool ok = obj != NULL && put_str(obj, "status", "Failed") &&
              put_str(obj, "requesttransactionid", id) &&
              put_bool(obj, "success", false) &&
              put_str(obj, "responsecode", code) &&
              put_str(obj, "message", describe(SIM_CODES_PAY, code));

    return dump(obj, ok);
}

char *sim_body_deposit_success(const struct sim_txn *txn)
{
    json_t *obj = json_object();
    bool ok = obj != NULL && put_str(obj, "status", "success") &&
              put_str(obj, "message", "Deposit successful") &&
              put_str(obj, "transactionid", txn->id) &&
              put_str(obj, "responsecode", SIM_CODE_SUCCESS) &&
              put_bool(obj, "success", true) &&
              put_str(obj, "referenceno", txn->reference);

    return dump(obj, ok);
}

char *sim_body_deposit_failed(const char *id, const char *code)
{
    json_t *obj = json_object();
    bool ok = obj != NULL && put_str(obj, "status", "Failed") &&
              put_str(obj, "message", describe(SIM_CODES_DEPOSIT, code)) &&
              put_str(obj, "transactionid", id) &&
              put_str(obj, "responsecode", code) &&
              put_bool(obj, "success", false);

    return dump(obj, ok);
}

char *sim_body_balance(long long net, long long credits, long long debits)
{
    struct buf b;

    /* By hand: jansson would need doubles to print the ".0". */
    buf_init(&b, 512);
    if (buf_appendf(&b,
                    "{\"status\":\"success\","
                    "\"message\":\"Balance fetched successfully\","
                    "\"net_balance\":%lld.0,\"total_net_credits\":%lld.0,"
                    "\"total_net_debits\":%lld.0,\"currency\":\"RWF\"}",
                    net, credits, debits) != PAYQ_OK) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_take(&b);
}

/*
 * The final-status callback. The reference shows a pay's with the
 * caller's id as requesttransactionid and the provider's as
 * transactionid, and a deposit's the other way round (the provider's
 * "req_..." id first).
 */
static char *callback(const char *status, const char *request_id,
                      const char *txn_id, const struct sim_txn *txn,
                      const char *text)
{
    json_t *obj = json_object();
    bool ok = obj != NULL && put_str(obj, "status", status) &&
              put_str(obj, "requesttransactionid", request_id) &&
              put_str(obj, "transactionid", txn_id) &&
              put_str(obj, "responsecode", txn->code) &&
              put_str(obj, "statusdesc", text) &&
              put_str(obj, "referenceno", txn->reference);

    return dump(obj, ok);
}

char *sim_body_callback(const struct sim_txn *txn)
{
    const char *status = sim_ledger_status_name(txn->status);
    bool deposit = txn->kind == SIM_KIND_DEPOSIT;
    bool done = txn->status == SIM_STATUS_SUCCESS;
    enum sim_codes_table table = deposit ? SIM_CODES_DEPOSIT : SIM_CODES_PAY;
    const char *text = describe(table, txn->code);
    char provider[32];

    if (done)
        text = deposit ? DEPOSIT_DONE_TEXT : PAY_DONE_TEXT;
    if (deposit) {
        snprintf(provider, sizeof(provider), "req_%lld", txn->provider_id);
        return callback(status, provider, txn->id, txn, text);
    }
    snprintf(provider, sizeof(provider), "%lld", txn->provider_id);
    return callback(status, txn->id, provider, txn, text);
}
