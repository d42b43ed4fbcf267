/*
 * Outcome classification: five tables, tried in the order the header
 * gives, and the checks that keep a row from applying to an answer that
 * contradicts it. A row names the class, what a systemic class pauses and
 * the reason logged with it.
 */
#include "upstream/classify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum { KIND_PAY = 1 << JOB_KIND_PAY, KIND_DEPOSIT = 1 << JOB_KIND_DEPOSIT };
#define KIND_BOTH (KIND_PAY | KIND_DEPOSIT)

static const char *const class_names[UPSTREAM_CLASS_COUNT] = {
    [UPSTREAM_CLASS_ACCEPTED] = "accepted",
    [UPSTREAM_CLASS_SUCCEEDED] = "succeeded",
    [UPSTREAM_CLASS_DECLINED] = "declined",
    [UPSTREAM_CLASS_NOT_SENT] = "not_sent",
    [UPSTREAM_CLASS_AMBIGUOUS] = "ambiguous",
    [UPSTREAM_CLASS_DUPLICATE_ID] = "duplicate_id",
    [UPSTREAM_CLASS_SYSTEMIC] = "systemic",
    [UPSTREAM_CLASS_THROTTLED] = "throttled",
};

/*
 * libcurl results. A row with an unsent reason is a failure that can
 * happen before the request is written; it counts as NOT_SENT only when
 * libcurl also reports that no request byte left, since the same code
 * can come later (a timeout while waiting for the answer). Every code not
 * listed, and every listed one after bytes left, is AMBIGUOUS.
 */
static const struct curl_rule {
    int code;
    const char *unsent; /* reason when no byte left; NULL: never unsent */
    const char *sent;   /* reason when bytes left; NULL: the generic one */
} curl_rules[] = {
    { CURLE_UNSUPPORTED_PROTOCOL, "protocol not allowed", NULL },
    { CURLE_FAILED_INIT, "libcurl set-up failed", NULL },
    { CURLE_URL_MALFORMAT, "malformed URL", NULL },
    { CURLE_COULDNT_RESOLVE_PROXY, "cannot resolve proxy", NULL },
    { CURLE_COULDNT_RESOLVE_HOST, "cannot resolve the provider's host", NULL },
    { CURLE_COULDNT_CONNECT, "cannot connect: refused or unreachable", NULL },
    { CURLE_OUT_OF_MEMORY, "out of memory before sending", NULL },
    { CURLE_OPERATION_TIMEDOUT, "timed out before sending",
      "timed out after sending" },
    { CURLE_SSL_CONNECT_ERROR, "TLS handshake failed", NULL },
    { CURLE_PEER_FAILED_VERIFICATION, "provider certificate not trusted",
      NULL },
    { CURLE_SSL_CERTPROBLEM, "TLS client certificate unusable", NULL },
    { CURLE_SSL_CIPHER, "TLS cipher unusable", NULL },
    { CURLE_SSL_CACERT_BADFILE, "CA file unusable", NULL },
    { CURLE_SSL_ENGINE_NOTFOUND, "TLS engine unusable", NULL },
    { CURLE_SSL_ENGINE_SETFAILED, "TLS engine unusable", NULL },
    { CURLE_SSL_ENGINE_INITFAILED, "TLS engine unusable", NULL },
    { CURLE_SSL_CRL_BADFILE, "TLS CRL file unusable", NULL },
    { CURLE_SSL_ISSUER_ERROR, "provider certificate issuer refused", NULL },
    { CURLE_SSL_PINNEDPUBKEYNOTMATCH, "provider key does not match pin", NULL },
    { CURLE_SSL_INVALIDCERTSTATUS, "provider certificate status invalid",
      NULL },
    { CURLE_SSL_CLIENTCERT, "TLS client certificate refused", NULL },
    { CURLE_SEND_ERROR, "send failed before any byte left",
      "send failed mid-request" },
    { CURLE_GOT_NOTHING, NULL, "connection closed without an answer" },
    { CURLE_RECV_ERROR, NULL, "connection reset while awaiting the answer" },
    { CURLE_SEND_FAIL_REWIND, NULL,
      "connection lost after sending; libcurl not allowed to resend" },
    { CURLE_PARTIAL_FILE, NULL, "answer cut short" },
};

/* HTTP statuses that decide the class whatever the body says. */
static const struct status_rule {
    long lo;
    long hi;
    enum upstream_class cls;
    enum upstream_pause pause;
    const char *reason;
} status_rules[] = {
    { 429, 429, UPSTREAM_CLASS_THROTTLED, UPSTREAM_PAUSE_NONE,
      "rate limited (HTTP 429)" },
    { 503, 503, UPSTREAM_CLASS_THROTTLED, UPSTREAM_PAUSE_NONE,
      "service unavailable (HTTP 503)" },
    { 401, 401, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_ALL,
      "authentication refused (HTTP 401)" },
    { 403, 403, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_ALL,
      "access refused (HTTP 403): address or client not allowed" },
    /* A gateway may answer 5xx after the request went through. */
    { 500, 599, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
      "server error (HTTP 5xx)" },
    /* Redirects are not followed: where would the money have gone? */
    { 0, 199, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
      "no usable HTTP status" },
    { 300, 399, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
      "redirect not followed (HTTP 3xx)" },
    { 600, 2147483647L, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
      "no usable HTTP status" },
};

/*
 * The documented response codes, as in migrations' response_codes
 * table. 1005 is the customer's empty wallet on a collection, but our
 * own short float on a payout: no payout can succeed until it is topped
 * up, so payouts pause instead of failing one by one.
 */
static const struct code_rule {
    const char *code;
    unsigned kinds;
    enum upstream_class cls;
    enum upstream_pause pause;
    const char *reason;
} code_rules[] = {
    { "1000", KIND_BOTH, UPSTREAM_CLASS_ACCEPTED, UPSTREAM_PAUSE_NONE,
      "1000 pending: wait for the callback" },
    { "01", KIND_BOTH, UPSTREAM_CLASS_SUCCEEDED, UPSTREAM_PAUSE_NONE,
      "01 successfully processed" },
    { "0002", KIND_BOTH, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_ALL,
      "0002 missing username information" },
    { "0003", KIND_BOTH, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_ALL,
      "0003 missing password information" },
    { "0004", KIND_BOTH, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_ALL,
      "0004 missing date information" },
    { "0005", KIND_BOTH, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_ALL,
      "0005 invalid password" },
    { "0006", KIND_BOTH, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_ALL,
      "0006 user has no intouchPay account" },
    { "0007", KIND_BOTH, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_ALL,
      "0007 no such user" },
    { "0008", KIND_BOTH, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_ALL,
      "0008 failed to authenticate" },
    { "2100", KIND_BOTH, UPSTREAM_CLASS_DECLINED, UPSTREAM_PAUSE_NONE,
      "2100 amount should be greater than 0" },
    { "2200", KIND_BOTH, UPSTREAM_CLASS_DECLINED, UPSTREAM_PAUSE_NONE,
      "2200 amount below minimum" },
    { "2300", KIND_BOTH, UPSTREAM_CLASS_DECLINED, UPSTREAM_PAUSE_NONE,
      "2300 amount above maximum" },
    { "2400", KIND_BOTH, UPSTREAM_CLASS_DUPLICATE_ID, UPSTREAM_PAUSE_NONE,
      "2400 duplicate transaction id on a first send" },
    { "2500", KIND_BOTH, UPSTREAM_CLASS_DECLINED, UPSTREAM_PAUSE_NONE,
      "2500 route not found" },
    { "2600", KIND_BOTH, UPSTREAM_CLASS_DECLINED, UPSTREAM_PAUSE_NONE,
      "2600 operation not allowed" },
    { "2700", KIND_BOTH, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
      "2700 failed to complete: debit not ruled out" },
    { "1005", KIND_PAY, UPSTREAM_CLASS_DECLINED, UPSTREAM_PAUSE_NONE,
      "1005 customer has insufficient funds" },
    { "1005", KIND_DEPOSIT, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_KIND,
      "1005 our float is short: payouts paused" },
    { "1002", KIND_BOTH, UPSTREAM_CLASS_DECLINED, UPSTREAM_PAUSE_NONE,
      "1002 number not registered on mobile money" },
    { "1008", KIND_BOTH, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
      "1008 general failure: debit not ruled out" },
    { "1200", KIND_BOTH, UPSTREAM_CLASS_DECLINED, UPSTREAM_PAUSE_NONE,
      "1200 invalid number" },
    { "1100", KIND_BOTH, UPSTREAM_CLASS_DECLINED, UPSTREAM_PAUSE_NONE,
      "1100 number not supported on this network" },
    { "1300", KIND_BOTH, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
      "1300 unknown exception: debit not ruled out" },
};

/*
 * Error bodies without a response code ({"status":"error","message":
 * ...}), matched ignoring case. A missing parameter or an unknown
 * payment method is our request's fault and repeats for every job, so it
 * pauses the kind for a person rather than failing each payment.
 */
static const struct message_rule {
    const char *text;
    bool prefix; /* text need only start the message */
    enum upstream_class cls;
    enum upstream_pause pause;
    const char *reason;
} message_rules[] = {
    { "Unauthorized API access", false, UPSTREAM_CLASS_SYSTEMIC,
      UPSTREAM_PAUSE_ALL, "unauthorized API access" },
    { "Invalid API key", false, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_ALL,
      "invalid API key" },
    { "Missing parameter", true, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_KIND,
      "request lacks a parameter" },
    { "Invalid payment method selected", false, UPSTREAM_CLASS_SYSTEMIC,
      UPSTREAM_PAUSE_KIND, "payment method refused" },
    { "Transaction declined by payment provider", false,
      UPSTREAM_CLASS_DECLINED, UPSTREAM_PAUSE_NONE,
      "declined by the payment provider" },
};

/*
 * 4xx answers that neither a code nor a message explained: the provider
 * refused to read the request, so nothing executed, and the same
 * request would be refused again. Other 4xx (408, 409...) stay ambiguous.
 */
static const struct status_rule refusal_rules[] = {
    { 400, 400, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_KIND,
      "request refused as malformed (HTTP 400)" },
    { 404, 405, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_KIND,
      "endpoint not found (HTTP 404/405): check PAYQ_API_URL" },
    { 411, 415, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_KIND,
      "request refused (HTTP 411-415)" },
    { 422, 422, UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_KIND,
      "request refused: missing parameters (HTTP 422)" },
};

/* Reasons of an AMBIGUOUS outcome that no table row explains. */
static const char *const body_reasons[] = {
    [UPSTREAM_BODY_OBJECT] = "answer has no response code",
    [UPSTREAM_BODY_EMPTY] = "answer is empty",
    [UPSTREAM_BODY_NOT_JSON] = "answer is not JSON",
    [UPSTREAM_BODY_NOT_OBJECT] = "answer is not a JSON object",
    [UPSTREAM_BODY_TOO_LARGE] = "answer is over 64 KiB",
};

const char *upstream_class_name(enum upstream_class cls)
{
    if ((size_t)cls >= COUNT(class_names))
        return "unknown";
    return class_names[cls];
}

const char *upstream_pause_name(enum upstream_pause pause)
{
    switch (pause) {
    case UPSTREAM_PAUSE_NONE:
        return "none";
    case UPSTREAM_PAUSE_KIND:
        return "kind";
    case UPSTREAM_PAUSE_ALL:
        return "all";
    }
    return "unknown";
}

static void decide(struct upstream_result *r, enum upstream_class cls,
                   enum upstream_pause pause, const char *reason)
{
    r->cls = cls;
    r->pause = cls == UPSTREAM_CLASS_SYSTEMIC ? pause : UPSTREAM_PAUSE_NONE;
    r->reason = reason;
}

/* A result that copies what the answer said, still ambiguous. */
static struct upstream_result
result_start(const struct upstream_transport *transport, long http_status,
             const struct upstream_response *resp)
{
    struct upstream_result r;

    memset(&r, 0, sizeof(r));
    decide(&r, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
           "outcome unknown");
    r.http_status = http_status;
    r.curl_code = transport != NULL ? transport->curl_code : CURLE_OK;
    r.retry_after_s = -1;
    if (resp == NULL)
        return r;
    memcpy(r.code, resp->code, sizeof(r.code));
    memcpy(r.message, resp->message, sizeof(r.message));
    memcpy(r.provider_txn_id, resp->provider_txn_id, sizeof(r.provider_txn_id));
    memcpy(r.reference_no, resp->reference_no, sizeof(r.reference_no));
    return r;
}

static bool classify_transport(struct upstream_result *r,
                               const struct upstream_transport *t)
{
    bool unsent;
    size_t i;

    if (t == NULL || t->curl_code == CURLE_OK)
        return false;
    unsent = t->bytes_sent == 0;
    decide(r, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
           "transport failed after request bytes left");
    for (i = 0; i < COUNT(curl_rules); i++) {
        const struct curl_rule *rule = &curl_rules[i];

        if (rule->code != t->curl_code)
            continue;
        if (unsent && rule->unsent != NULL)
            decide(r, UPSTREAM_CLASS_NOT_SENT, UPSTREAM_PAUSE_NONE,
                   rule->unsent);
        else if (rule->sent != NULL)
            r->reason = rule->sent;
        break;
    }
    return true;
}

static const struct status_rule *
find_status_rule(const struct status_rule *rules, size_t n, long status)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (status >= rules[i].lo && status <= rules[i].hi)
            return &rules[i];
    return NULL;
}

static bool classify_http(struct upstream_result *r,
                          const struct upstream_response *resp)
{
    const struct status_rule *rule =
        find_status_rule(status_rules, COUNT(status_rules), r->http_status);

    if (rule == NULL)
        return false;
    decide(r, rule->cls, rule->pause, rule->reason);
    if (rule->cls == UPSTREAM_CLASS_THROTTLED && resp != NULL)
        r->retry_after_s = resp->retry_after_s;
    return true;
}

static const struct code_rule *find_code_rule(unsigned kinds, const char *code)
{
    size_t i;

    for (i = 0; i < COUNT(code_rules); i++)
        if ((code_rules[i].kinds & kinds) != 0 &&
            strcmp(code_rules[i].code, code) == 0)
            return &code_rules[i];
    return NULL;
}

/*
 * Looks the code up. A code sent as a JSON number has lost its leading
 * zeros (1 for "01", 5 for "0005"): when the digits alone match nothing,
 * the documented 2- and 4-digit forms are tried, and the one that
 * matches is written back into r->code.
 */
static const struct code_rule *lookup_code(struct upstream_result *r,
                                           unsigned kinds,
                                           const struct upstream_response *resp)
{
    static const int widths[] = { 2, 4 };
    const struct code_rule *rule = find_code_rule(kinds, resp->code);
    char padded[UPSTREAM_CODE_SIZE];
    size_t i;

    for (i = 0; rule == NULL && resp->code_from_number && i < COUNT(widths);
         i++) {
        snprintf(padded, sizeof(padded), "%0*d", widths[i],
                 (int)strtol(resp->code, NULL, 10));
        rule = find_code_rule(kinds, padded);
        if (rule != NULL)
            memcpy(r->code, padded, sizeof(r->code));
    }
    return rule;
}

static bool says_failure(const struct upstream_response *resp)
{
    return resp->status_word == UPSTREAM_STATUS_FAILURE ||
           (resp->success_field == UPSTREAM_FIELD_OK && !resp->success);
}

static bool says_success(const struct upstream_response *resp)
{
    return resp->status_word == UPSTREAM_STATUS_SUCCESS ||
           resp->status_word == UPSTREAM_STATUS_PENDING ||
           (resp->success_field == UPSTREAM_FIELD_OK && resp->success);
}

/*
 * Whether the rest of the answer backs a 01. An unknown status text, a
 * pending one or a failure flag leaves success unproven; so does a bare
 * number 1, unless the answer also says success in words or flag.
 */
static bool success_backed(const struct upstream_response *resp)
{
    enum upstream_status_word word = resp->status_word;
    bool flag = resp->success_field == UPSTREAM_FIELD_OK && resp->success;

    if (says_failure(resp))
        return false;
    if (resp->code_from_number)
        return word == UPSTREAM_STATUS_SUCCESS ||
               (word == UPSTREAM_STATUS_ABSENT && flag);
    return word == UPSTREAM_STATUS_ABSENT || word == UPSTREAM_STATUS_SUCCESS;
}

/*
 * Whether the rest of the answer agrees with the code's row. Good news
 * needs a 2xx; a decline must not be trusted when the answer also claims
 * success, since starting a new id would then pay twice.
 */
static bool answer_agrees(const struct code_rule *rule,
                          const struct upstream_response *resp,
                          long http_status)
{
    bool ok_http = http_status >= 200 && http_status <= 299;

    switch (rule->cls) {
    case UPSTREAM_CLASS_SUCCEEDED:
        return ok_http && success_backed(resp);
    case UPSTREAM_CLASS_ACCEPTED:
        return ok_http && !says_failure(resp);
    case UPSTREAM_CLASS_DECLINED:
        return !says_success(resp);
    default:
        return true;
    }
}

static void apply_code_rule(struct upstream_result *r,
                            const struct code_rule *rule, bool is_resend)
{
    decide(r, rule->cls, rule->pause, rule->reason);
    if (rule->cls != UPSTREAM_CLASS_DUPLICATE_ID)
        return;
    r->duplicate = true;
    /* A resent id that is known proves the earlier send registered. */
    if (is_resend)
        decide(r, UPSTREAM_CLASS_ACCEPTED, UPSTREAM_PAUSE_NONE,
               "2400 on a resend: the earlier send registered; wait for "
               "the callback");
}

static bool classify_code(struct upstream_result *r, unsigned kinds,
                          bool is_resend, const struct upstream_response *resp)
{
    const struct code_rule *rule;

    if (resp == NULL || resp->body != UPSTREAM_BODY_OBJECT ||
        resp->code_field == UPSTREAM_FIELD_ABSENT)
        return false;
    if (resp->code_field == UPSTREAM_FIELD_INVALID) {
        decide(r, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
               "responsecode of an unexpected type or size");
        return true;
    }
    rule = lookup_code(r, kinds, resp);
    if (rule == NULL)
        decide(r, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
               "unknown response code");
    else if (!answer_agrees(rule, resp, r->http_status))
        decide(r, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
               "answer contradicts its response code");
    else
        apply_code_rule(r, rule, is_resend);
    return true;
}

static bool message_matches(const struct message_rule *rule,
                            const char *message)
{
    size_t n = strlen(rule->text);

    if (rule->prefix)
        return strncasecmp(message, rule->text, n) == 0;
    return strcasecmp(message, rule->text) == 0;
}

static bool classify_message(struct upstream_result *r,
                             const struct upstream_response *resp)
{
    size_t i;

    if (resp == NULL || resp->body != UPSTREAM_BODY_OBJECT ||
        resp->message[0] == '\0')
        return false;
    for (i = 0; i < COUNT(message_rules); i++) {
        if (message_matches(&message_rules[i], resp->message)) {
            decide(r, message_rules[i].cls, message_rules[i].pause,
                   message_rules[i].reason);
            return true;
        }
    }
    return false;
}

static bool classify_refusal(struct upstream_result *r)
{
    const struct status_rule *rule =
        find_status_rule(refusal_rules, COUNT(refusal_rules), r->http_status);

    if (rule == NULL)
        return false;
    decide(r, rule->cls, rule->pause, rule->reason);
    return true;
}

/* Whatever no rule explained: never a guess in either direction. */
static void classify_rest(struct upstream_result *r,
                          const struct upstream_response *resp)
{
    const char *reason = body_reasons[UPSTREAM_BODY_EMPTY];

    if (resp != NULL && (size_t)resp->body < COUNT(body_reasons))
        reason = body_reasons[resp->body];
    if (resp != NULL && resp->body == UPSTREAM_BODY_OBJECT &&
        says_failure(resp))
        reason = "error answer without a known code or message";
    if (r->http_status >= 400 && r->http_status <= 499)
        reason = "refused with an unexplained HTTP 4xx";
    decide(r, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE, reason);
}

struct upstream_result
upstream_classify(enum job_kind kind, bool is_resend,
                  const struct upstream_transport *transport, long http_status,
                  const struct upstream_response *resp)
{
    struct upstream_result r = result_start(transport, http_status, resp);
    unsigned kinds = (unsigned)kind < JOB_KIND_COUNT ? 1u << kind : 0;

    if (!classify_transport(&r, transport) && !classify_http(&r, resp) &&
        !classify_code(&r, kinds, is_resend, resp) &&
        !classify_message(&r, resp) && !classify_refusal(&r))
        classify_rest(&r, resp);
    return r;
}

/*
 * A balance answer carries no response code when it succeeds; one that
 * does is read only for the systemic codes (a refused login).
 */
static bool classify_balance_code(struct upstream_result *r,
                                  const struct upstream_response *resp)
{
    const struct code_rule *rule;

    if (resp == NULL || resp->body != UPSTREAM_BODY_OBJECT ||
        resp->code_field != UPSTREAM_FIELD_OK)
        return false;
    rule = lookup_code(r, KIND_BOTH, resp);
    if (rule == NULL || rule->cls != UPSTREAM_CLASS_SYSTEMIC)
        return false;
    decide(r, rule->cls, UPSTREAM_PAUSE_ALL, rule->reason);
    return true;
}

static bool balance_readable(const struct upstream_result *r,
                             const struct upstream_response *resp)
{
    return resp != NULL && resp->body == UPSTREAM_BODY_OBJECT &&
           resp->balance_ok && !says_failure(resp) && r->http_status >= 200 &&
           r->http_status <= 299;
}

struct upstream_result
upstream_classify_balance(const struct upstream_transport *transport,
                          long http_status,
                          const struct upstream_response *resp)
{
    struct upstream_result r = result_start(transport, http_status, resp);

    if (classify_transport(&r, transport) || classify_http(&r, resp) ||
        classify_balance_code(&r, resp) || classify_message(&r, resp) ||
        classify_refusal(&r))
        return r;
    if (balance_readable(&r, resp))
        decide(&r, UPSTREAM_CLASS_SUCCEEDED, UPSTREAM_PAUSE_NONE,
               "balance read");
    else if (resp != NULL && resp->body == UPSTREAM_BODY_OBJECT)
        decide(&r, UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE,
               "balance answer lacks whole-franc amounts");
    else
        classify_rest(&r, resp);
    return r;
}
