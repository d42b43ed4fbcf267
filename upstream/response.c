/*
 * Provider answers read with jansson. Each field is taken only when its
 * type is one the provider has been seen to send; anything else is left
 * absent or marked invalid, so a surprise in the body can make an answer
 * unclear but never make it say more than it does.
 */
#include "upstream/response.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

/* Every whole number up to 2^53 is exact in a double; past it, not. */
#define EXACT_DOUBLE_MAX 9007199254740992.0
/* Numeric response codes beyond this are not codes. */
#define CODE_NUMBER_MAX 99999999LL

static const struct {
    const char *text;
    enum upstream_status_word word;
} status_words[] = {
    { "successfull", UPSTREAM_STATUS_SUCCESS }, /* the reference's spelling */
    { "successful", UPSTREAM_STATUS_SUCCESS },
    { "success", UPSTREAM_STATUS_SUCCESS },
    { "pending", UPSTREAM_STATUS_PENDING },
    { "error", UPSTREAM_STATUS_FAILURE },
    { "failed", UPSTREAM_STATUS_FAILURE },
    { "failure", UPSTREAM_STATUS_FAILURE },
    { "fail", UPSTREAM_STATUS_FAILURE },
};

static const char *const status_word_names[] = {
    [UPSTREAM_STATUS_ABSENT] = "absent",
    [UPSTREAM_STATUS_SUCCESS] = "success",
    [UPSTREAM_STATUS_PENDING] = "pending",
    [UPSTREAM_STATUS_FAILURE] = "failure",
    [UPSTREAM_STATUS_OTHER] = "other",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

void upstream_response_init(struct upstream_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->body = UPSTREAM_BODY_EMPTY;
    memcpy(resp->currency, "RWF", 4);
    resp->retry_after_s = -1;
}

const char *upstream_status_word_name(enum upstream_status_word word)
{
    if ((size_t)word >= COUNT(status_word_names))
        return "unknown";
    return status_word_names[word];
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Copies n bytes of UTF-8 text into dst, cutting at a character boundary
 * when it does not fit: a half character would make the copy invalid
 * UTF-8, which PostgreSQL refuses to store.
 */
static void copy_text(char *dst, size_t size, const char *src, size_t n)
{
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Trims ASCII white space from both ends of s[0..*n). */
static const char *trim(const char *s, size_t *n)
{
    while (*n > 0 && is_space(s[0])) {
        s++;
        (*n)--;
    }
    while (*n > 0 && is_space(s[*n - 1]))
        (*n)--;
    return s;
}

/* A JSON integer, or a real with no fraction, in [lo, hi]. */
static bool read_whole(const json_t *v, long long lo, long long hi,
                       long long *out)
{
    double d;

    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return *out >= lo && *out <= hi;
    }
    if (!json_is_real(v))
        return false;
    d = json_real_value(v);
    /* Written so that NaN fails too. */
    if (!(d >= (double)lo && d <= (double)hi))
        return false;
    *out = (long long)d;
    return (double)*out == d;
}

static void read_code(struct upstream_response *resp, const json_t *v)
{
    long long number;
    const char *text;
    size_t n;

    if (v == NULL)
        return;
    resp->code_field = UPSTREAM_FIELD_INVALID;
    if (read_whole(v, 0, CODE_NUMBER_MAX, &number)) {
        snprintf(resp->code, sizeof(resp->code), "%lld", number);
        resp->code_from_number = true;
        resp->code_field = UPSTREAM_FIELD_OK;
        return;
    }
    if (!json_is_string(v))
        return;
    n = json_string_length(v);
    text = trim(json_string_value(v), &n);
    if (n == 0 || n >= sizeof(resp->code))
        return;
    copy_text(resp->code, sizeof(resp->code), text, n);
    resp->code_field = UPSTREAM_FIELD_OK;
}

/* An id as text: a string of 1 to 64 bytes, or an integer. */
static void read_id(char dst[UPSTREAM_ID_SIZE], const json_t *v)
{
    size_t n;

    if (json_is_integer(v)) {
        snprintf(dst, UPSTREAM_ID_SIZE, "%lld",
                 (long long)json_integer_value(v));
    } else if (json_is_string(v)) {
        /* A cut id would name another transaction: drop it instead. */
        n = json_string_length(v);
        if (n < UPSTREAM_ID_SIZE)
            copy_text(dst, UPSTREAM_ID_SIZE, json_string_value(v), n);
    }
}

static enum upstream_status_word status_word(const char *text, size_t n)
{
    size_t i;

    text = trim(text, &n);
    for (i = 0; i < COUNT(status_words); i++)
        if (strlen(status_words[i].text) == n &&
            strncasecmp(status_words[i].text, text, n) == 0)
            return status_words[i].word;
    return UPSTREAM_STATUS_OTHER;
}

static void read_status(struct upstream_response *resp, const json_t *v)
{
    if (v == NULL)
        return;
    resp->status_word = UPSTREAM_STATUS_OTHER;
    if (!json_is_string(v))
        return;
    copy_text(resp->status, sizeof(resp->status), json_string_value(v),
              json_string_length(v));
    resp->status_word =
        status_word(json_string_value(v), json_string_length(v));
}

static void read_success(struct upstream_response *resp, const json_t *v)
{
    if (v == NULL)
        return;
    resp->success_field = UPSTREAM_FIELD_INVALID;
    if (json_is_boolean(v)) {
        resp->success = json_is_true(v);
        resp->success_field = UPSTREAM_FIELD_OK;
    }
}

static void read_message(struct upstream_response *resp, const json_t *obj)
{
    const json_t *v = json_object_get(obj, "message");

    if (!json_is_string(v))
        v = json_object_get(obj, "statusdesc");
    if (json_is_string(v))
        copy_text(resp->message, sizeof(resp->message), json_string_value(v),
                  json_string_length(v));
}

/* Absent means RWF, the only currency the reference mentions. */
static bool read_currency(struct upstream_response *resp, const json_t *v)
{
    const char *text;
    size_t i;

    if (v == NULL)
        return true;
    if (!json_is_string(v) || json_string_length(v) != 3)
        return false;
    text = json_string_value(v);
    for (i = 0; i < 3; i++) {
        char c = text[i];

        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c < 'A' || c > 'Z')
            return false;
        resp->currency[i] = c;
    }
    resp->currency[3] = '\0';
    return true;
}

static void read_balance(struct upstream_response *resp, const json_t *obj)
{
    const long long lo = -(long long)EXACT_DOUBLE_MAX;
    const long long hi = (long long)EXACT_DOUBLE_MAX;

    resp->balance_ok = read_whole(json_object_get(obj, "net_balance"), lo, hi,
                                  &resp->net_balance) &&
                       read_whole(json_object_get(obj, "total_net_credits"), lo,
                                  hi, &resp->total_credits) &&
                       read_whole(json_object_get(obj, "total_net_debits"), lo,
                                  hi, &resp->total_debits) &&
                       read_currency(resp, json_object_get(obj, "currency"));
}

static void read_object(struct upstream_response *resp, const json_t *obj)
{
    resp->body = UPSTREAM_BODY_OBJECT;
    read_code(resp, json_object_get(obj, "responsecode"));
    read_status(resp, json_object_get(obj, "status"));
    read_success(resp, json_object_get(obj, "success"));
    read_message(resp, obj);
    read_id(resp->provider_txn_id, json_object_get(obj, "transactionid"));
    read_id(resp->request_txn_id, json_object_get(obj, "requesttransactionid"));
    read_id(resp->reference_no, json_object_get(obj, "referenceno"));
    read_balance(resp, obj);
}

void upstream_response_parse(const char *body, size_t len,
                             struct upstream_response *resp)
{
    long long retry_after_s = resp->retry_after_s;
    json_error_t error;
    json_t *root = NULL;

    upstream_response_init(resp);
    resp->retry_after_s = retry_after_s;
    if (len > UPSTREAM_BODY_MAX) {
        resp->body = UPSTREAM_BODY_TOO_LARGE;
        return;
    }
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) {
        body += 3;
        len -= 3;
    }
    body = trim(body, &len);
    if (len == 0)
        return;

    root =
        json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
    if (root == NULL)
        resp->body = UPSTREAM_BODY_NOT_JSON;
    else if (!json_is_object(root))
        resp->body = UPSTREAM_BODY_NOT_OBJECT;
    else
        read_object(resp, root);
    json_decref(root);
}

/* Delay-seconds: digits only. Returns -1 for anything else. */
static long long retry_after_seconds(const char *text, size_t n)
{
    long long value = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        if (value <= UPSTREAM_RETRY_AFTER_MAX)
            value = value * 10 + (text[i] - '0');
    }
    return value;
}

long long upstream_retry_after_parse(const char *value, time_t now)
{
    char text[64];
    size_t n;
    time_t when;
    long long delay;

    if (value == NULL)
        return -1;
    n = strlen(value);
    value = trim(value, &n);
    if (n == 0 || n >= sizeof(text))
        return -1;
    memcpy(text, value, n);
    text[n] = '\0';

    if (text[0] >= '0' && text[0] <= '9') {
        delay = retry_after_seconds(text, n);
    } else {
        /*
         * Every HTTP-date form starts with the day's name; demanding a
         * letter keeps curl_getdate()'s lenient parser from reading
         * "-5" or "+1" as a time zone.
         */
        if (!((text[0] >= 'A' && text[0] <= 'Z') ||
              (text[0] >= 'a' && text[0] <= 'z')))
            return -1;
        when = curl_getdate(text, &now);
        if (when == -1)
            return -1;
        delay = when > now ? (long long)(when - now) : 0;
    }
    if (delay > UPSTREAM_RETRY_AFTER_MAX)
        delay = UPSTREAM_RETRY_AFTER_MAX;
    return delay;
}
