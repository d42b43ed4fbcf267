/*
 * Request bodies built with jansson, so that escaping a depositor's name
 * is jansson's job, and serialised with json_dumpb() straight into the
 * caller's bounded buffer.
 */
#include "upstream/request.h"

#include <string.h>

#include <jansson.h>

/* The schema's rule for request transaction ids. */
static bool txn_id_valid(const char *id)
{
    size_t n;

    if (id == NULL)
        return false;
    n = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789_.:-");
    return n >= 1 && n <= 64 && id[n] == '\0';
}

static bool text_present(const char *s)
{
    return s != NULL && s[strspn(s, " \t")] != '\0';
}

enum payq_err upstream_phone_format(const char *canonical,
                                    enum upstream_phone_form form,
                                    char out[UPSTREAM_PHONE_SIZE])
{
    /* "2507" + 8 digits: the subscriber part starts at index 3 ("7..."). */
    if (canonical == NULL || strlen(canonical) != 12 ||
        strncmp(canonical, "2507", 4) != 0 ||
        strspn(canonical, "0123456789") != 12)
        return PAYQ_ERR_DATA;
    switch (form) {
    case UPSTREAM_PHONE_LOCAL10:
        out[0] = '0';
        memcpy(out + 1, canonical + 3, 10);
        return PAYQ_OK;
    case UPSTREAM_PHONE_LOCAL9:
        memcpy(out, canonical + 3, 10);
        return PAYQ_OK;
    case UPSTREAM_PHONE_INTL:
        memcpy(out, canonical, 13);
        return PAYQ_OK;
    }
    return PAYQ_ERR_DATA;
}

/*
 * Sets key to a copy of s. json_string() fails both on invalid UTF-8 and
 * on a failed allocation; the unchecked variant tells them apart, so bad
 * text is reported as bad data, never as lack of memory.
 */
static enum payq_err set_str(json_t *obj, const char *key, const char *s)
{
    json_t *v = json_string(s);

    if (v == NULL) {
        v = json_string_nocheck(s);
        json_decref(v);
        return v != NULL ? PAYQ_ERR_DATA : PAYQ_ERR_NOMEM;
    }
    return json_object_set_new(obj, key, v) == 0 ? PAYQ_OK : PAYQ_ERR_NOMEM;
}

static enum payq_err set_int(json_t *obj, const char *key, long long n)
{
    json_t *v = json_integer(n);

    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        return PAYQ_ERR_NOMEM;
    return PAYQ_OK;
}

/* Sets each of the n fields in turn; stops at the first failure. */
struct field {
    const char *key;
    const char *str; /* NULL: the field is the integer num */
    long long num;
};

static enum payq_err set_fields(json_t *obj, const struct field *f, size_t n)
{
    enum payq_err err = PAYQ_OK;
    size_t i;

    for (i = 0; i < n && err == PAYQ_OK; i++)
        err = f[i].str != NULL ? set_str(obj, f[i].key, f[i].str)
                               : set_int(obj, f[i].key, f[i].num);
    return err;
}

#define FIELD_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static enum payq_err set_credentials(json_t *obj,
                                     const struct config_credentials *creds)
{
    const struct field f[] = {
        { "username", creds->username, 0 },
        { "password", creds->password, 0 },
        { "key", creds->key, 0 },
    };

    if (creds->username == NULL || creds->password == NULL ||
        creds->key == NULL)
        return PAYQ_ERR_DATA;
    return set_fields(obj, f, FIELD_COUNT(f));
}

static enum payq_err set_pay(json_t *obj, const struct upstream_payment *pay)
{
    char phone[UPSTREAM_PHONE_SIZE];
    const struct field f[] = {
        { "phone", phone, 0 },
        { "amount", NULL, pay->amount },
        { "requesttransactionid", pay->request_txn_id, 0 },
        { "callbackurl", pay->callback_url, 0 },
    };

    if (!text_present(pay->callback_url) ||
        upstream_phone_format(pay->phone, UPSTREAM_PHONE_LOCAL10, phone) !=
            PAYQ_OK)
        return PAYQ_ERR_DATA;
    return set_fields(obj, f, FIELD_COUNT(f));
}

static enum payq_err set_deposit(json_t *obj,
                                 const struct upstream_payment *pay,
                                 enum upstream_phone_form form)
{
    char phone[UPSTREAM_PHONE_SIZE];
    const struct field f[] = {
        { "transactionid", pay->request_txn_id, 0 },
        { "referenceid", pay->reference, 0 },
        { "amount", NULL, pay->amount },
        { "withdrawcharge", NULL, pay->withdraw_charge },
        { "reason", pay->reason, 0 },
        { "deposit_ref_name", pay->depositor_name, 0 },
        { "mobilephone", phone, 0 },
    };

    if (!text_present(pay->reference) || !text_present(pay->reason) ||
        !text_present(pay->depositor_name) || pay->withdraw_charge < 0 ||
        upstream_phone_format(pay->phone, form, phone) != PAYQ_OK)
        return PAYQ_ERR_DATA;
    return set_fields(obj, f, FIELD_COUNT(f));
}

/* Serialises obj into out; json_dumpb() reports the size it needed. */
static enum payq_err dump(const json_t *obj, char *out, size_t size,
                          size_t *len)
{
    size_t n = json_dumpb(obj, out, size, JSON_COMPACT);

    if (n == 0)
        return PAYQ_ERR_NOMEM;
    if (n >= size)
        return PAYQ_ERR_TOO_LARGE;
    out[n] = '\0';
    *len = n;
    return PAYQ_OK;
}

enum payq_err upstream_request_payment(const struct upstream_payment *pay,
                                       const struct config_credentials *creds,
                                       enum upstream_phone_form deposit_form,
                                       char *out, size_t size, size_t *len)
{
    json_t *obj = json_object();
    enum payq_err err = PAYQ_ERR_NOMEM;

    if (obj == NULL)
        goto out;
    err = PAYQ_ERR_DATA;
    if (!txn_id_valid(pay->request_txn_id) || pay->amount <= 0)
        goto out;
    err = set_credentials(obj, creds);
    if (err != PAYQ_OK)
        goto out;
    if (pay->kind == JOB_KIND_PAY)
        err = set_pay(obj, pay);
    else if (pay->kind == JOB_KIND_DEPOSIT)
        err = set_deposit(obj, pay, deposit_form);
    else
        err = PAYQ_ERR_DATA;
    if (err == PAYQ_OK)
        err = dump(obj, out, size, len);

out:
    json_decref(obj);
    return err;
}

enum payq_err upstream_request_balance(const struct config_credentials *creds,
                                       char *out, size_t size, size_t *len)
{
    json_t *obj = json_object();
    enum payq_err err = PAYQ_ERR_NOMEM;

    if (obj != NULL)
        err = set_credentials(obj, creds);
    if (err == PAYQ_OK)
        err = dump(obj, out, size, len);
    json_decref(obj);
    return err;
}
