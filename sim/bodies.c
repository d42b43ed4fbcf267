/*
 * JSON bodies in the reference's shapes, written by hand (sim/json.h):
 * one bounded buffer per body, members in the reference's order,
 * compact, as jansson would print them.
 */
#include "sim/bodies.h"

#include <stdbool.h>
#include <stdio.h>

#include "core/buf.h"
#include "sim/codes.h"
#include "sim/json.h"

/* Callbacks of successes say these rather than the table's word. */
#define PAY_DONE_TEXT "Successfully Processed Transaction"
#define DEPOSIT_DONE_TEXT "Deposit processed successfully"

/* Longest body: ids, references and descriptions are all bounded. */
#define BODY_MAX 4096

/* A body under way; err keeps the first failure, later puts do nothing. */
struct body {
    struct buf b;
    enum payq_err err;
    bool first;
};

static void body_init(struct body *o)
{
    buf_init(&o->b, BODY_MAX);
    o->err = buf_append_byte(&o->b, '{');
    o->first = true;
}

static void put_str(struct body *o, const char *key, const char *value)
{
    if (o->err == PAYQ_OK)
        o->err = sim_json_put_member(&o->b, o->first, key, value);
    o->first = false;
}

/* A member whose value is raw JSON text: a number or a literal. */
static void put_raw(struct body *o, const char *key, const char *json)
{
    if (o->err == PAYQ_OK)
        o->err =
            buf_appendf(&o->b, "%s\"%s\":%s", o->first ? "" : ",", key, json);
    o->first = false;
}

static void put_bool(struct body *o, const char *key, bool value)
{
    put_raw(o, key, value ? "true" : "false");
}

/* Closes the object; returns the text, or NULL after any failure. */
static char *body_finish(struct body *o)
{
    if (o->err == PAYQ_OK)
        o->err = buf_append_byte(&o->b, '}');
    if (o->err != PAYQ_OK) {
        buf_cleanup(&o->b);
        return NULL;
    }
    return buf_take(&o->b);
}

static const char *describe(enum sim_codes_table table, const char *code)
{
    const char *text = sim_codes_text(table, code);

    return text != NULL ? text : "General Failure";
}

char *sim_body_error(const char *message)
{
    struct body o;

    body_init(&o);
    put_str(&o, "status", "error");
    put_str(&o, "message", message);
    return body_finish(&o);
}

char *sim_body_error_about(const char *prefix, const char *name)
{
    char message[128];

    snprintf(message, sizeof(message), "%s%s", prefix, name);
    return sim_body_error(message);
}

char *sim_body_pay_pending(const struct sim_txn *txn)
{
    char provider[24];
    struct body o;

    snprintf(provider, sizeof(provider), "%lld", txn->provider_id);
    body_init(&o);
    put_str(&o, "status", "Pending");
    put_str(&o, "requesttransactionid", txn->id);
    put_bool(&o, "success", true);
    put_str(&o, "responsecode", SIM_CODE_PENDING);
    put_raw(&o, "transactionid", provider);
    put_str(&o, "message", "Transaction Pending");
    return body_finish(&o);
}

char *sim_body_pay_failed(const char *id, const char *code)
{
    struct body o;

    body_init(&o);
    put_str(&o, "status", "Failed");
    put_str(&o, "requesttransactionid", id);
    put_bool(&o, "success", false);
    put_str(&o, "responsecode", code);
    put_str(&o, "message", describe(SIM_CODES_PAY, code));
    return body_finish(&o);
}

char *sim_body_deposit_success(const struct sim_txn *txn)
{
    struct body o;

    body_init(&o);
    put_str(&o, "status", "success");
    put_str(&o, "message", "Deposit successful");
    put_str(&o, "transactionid", txn->id);
    put_str(&o, "responsecode", SIM_CODE_SUCCESS);
    put_bool(&o, "success", true);
    put_str(&o, "referenceno", txn->reference);
    return body_finish(&o);
}

char *sim_body_deposit_failed(const char *id, const char *code)
{
    struct body o;

    body_init(&o);
    put_str(&o, "status", "Failed");
    put_str(&o, "message", describe(SIM_CODES_DEPOSIT, code));
    put_str(&o, "transactionid", id);
    put_str(&o, "responsecode", code);
    put_bool(&o, "success", false);
    return body_finish(&o);
}

char *sim_body_balance(long long net, long long credits, long long debits)
{
    char number[32];
    struct body o;

    /* Printed from whole francs with ".0", as the reference shows them. */
    body_init(&o);
    put_str(&o, "status", "success");
    put_str(&o, "message", "Balance fetched successfully");
    snprintf(number, sizeof(number), "%lld.0", net);
    put_raw(&o, "net_balance", number);
    snprintf(number, sizeof(number), "%lld.0", credits);
    put_raw(&o, "total_net_credits", number);
    snprintf(number, sizeof(number), "%lld.0", debits);
    put_raw(&o, "total_net_debits", number);
    put_str(&o, "currency", "RWF");
    return body_finish(&o);
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
    struct body o;

    body_init(&o);
    put_str(&o, "status", status);
    put_str(&o, "requesttransactionid", request_id);
    put_str(&o, "transactionid", txn_id);
    put_str(&o, "responsecode", txn->code);
    put_str(&o, "statusdesc", text);
    put_str(&o, "referenceno", txn->reference);
    return body_finish(&o);
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
