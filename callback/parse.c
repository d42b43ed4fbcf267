/*
 * Callback bodies, JSON (jansson) or form-encoded, read into a private
 * struct reading and copied out only when all of it checked out, so a
 * caller never sees half of a hostile body.
 *
 * Every known field is checked even when another one already settles
 * the verdict: a body with one bad field is refused as a whole rather
 * than read in part, since whoever made it is not the provider we know.
 */
#include "callback/parse.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/mem.h"
#include "core/utf8.h"

/* The wrapper and its object need 2; room for unknown extras. */
#define JSON_DEPTH_MAX 8
#define FORM_PAIRS_MAX 32
/* Amounts stay below 10^13 RWF: 13 digits at most. */
#define AMOUNT_LIMIT 10000000000000LL
#define AMOUNT_DIGITS_MAX 13
#define DESC_SIZE sizeof(((struct callback_fields *)0)->status_desc)
/* Entries in fields[] below. */
#define FIELD_COUNT 8

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum field_kind {
    FIELD_ID,     /* too long is an error: a cut id names another one */
    FIELD_CUT,    /* free text: cut at a character boundary */
    FIELD_AMOUNT, /* whole RWF */
};

/* One body being read; copied to the caller only when complete. */
struct reading {
    struct callback_fields f;
    char message[DESC_SIZE]; /* "message", used when statusdesc is not */
    bool seen[FIELD_COUNT];  /* form: names already met (first wins) */
};

static const struct field_spec {
    const char *name;
    enum field_kind kind;
    size_t offset; /* of the text in struct reading */
    size_t size;   /* of that text, terminator included */
} fields[] = {
#define TEXT(name, kind, member)                                               \
    {                                                                          \
        name, kind, offsetof(struct reading, member),                          \
            sizeof(((struct reading *)0)->member)                              \
    }
    TEXT("requesttransactionid", FIELD_ID, f.request_txn_id),
    TEXT("transactionid", FIELD_ID, f.transaction_id),
    TEXT("status", FIELD_ID, f.status),
    TEXT("responsecode", FIELD_ID, f.code),
    TEXT("referenceno", FIELD_ID, f.reference_no),
    TEXT("statusdesc", FIELD_CUT, f.status_desc),
    TEXT("message", FIELD_CUT, message),
    { "amount", FIELD_AMOUNT, 0, 0 },
#undef TEXT
};

_Static_assert(COUNT(fields) == FIELD_COUNT, "one seen flag per field");

static const struct field_spec *field_named(const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < COUNT(fields); i++)
        if (strlen(fields[i].name) == n && memcmp(fields[i].name, name, n) == 0)
            return &fields[i];
    return NULL;
}

/*
 * Valid UTF-8 (core/utf8 refuses NUL too) and no control character:
 * C0, DEL or C1, any of which could forge log lines or confuse a
 * terminal when the text is shown to an operator.
 */
static bool text_clean(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    size_t step;

    while (i < n) {
        step = utf8_sequence_len(s + i, n - i);
        if (step == 0)
            return false;
        if (step == 1 && (s[i] < 0x20 || s[i] == 0x7F))
            return false;
        if (step == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0)
            return false;
        i += step;
    }
    return true;
}

static enum payq_err amount_set(struct reading *r, long long value)
{
    if (value <= 0 || value >= AMOUNT_LIMIT)
        return PAYQ_ERR_DATA;
    r->f.has_amount = true;
    r->f.amount = value;
    return PAYQ_OK;
}

/* Digits, then nothing, ".0" or ".00". "" is an absent amount. */
static enum payq_err amount_from_text(struct reading *r, const char *s,
                                      size_t n)
{
    long long value = 0;
    size_t digits = 0;

    if (n == 0)
        return PAYQ_OK;
    while (digits < n && s[digits] >= '0' && s[digits] <= '9') {
        if (digits == AMOUNT_DIGITS_MAX)
            return PAYQ_ERR_DATA;
        value = value * 10 + (s[digits] - '0');
        digits++;
    }
    s += digits;
    n -= digits;
    if (digits == 0 || !(n == 0 || (n == 2 && memcmp(s, ".0", 2) == 0) ||
                         (n == 3 && memcmp(s, ".00", 3) == 0)))
        return PAYQ_ERR_DATA;
    return amount_set(r, value);
}

static enum payq_err amount_from_real(struct reading *r, double d)
{
    long long value;

    /* Written so that NaN fails too. */
    if (!(d > 0 && d < (double)AMOUNT_LIMIT))
        return PAYQ_ERR_DATA;
    value = (long long)d;
    if ((double)value != d)
        return PAYQ_ERR_DATA;
    return amount_set(r, value);
}

/* Stores n bytes of text as the field spec names, checking them first. */
static enum payq_err store_text(struct reading *r,
                                const struct field_spec *spec, const char *text,
                                size_t n)
{
    char *dst;

    if (spec->kind == FIELD_AMOUNT)
        return amount_from_text(r, text, n);
    if (!text_clean(text, n))
        return PAYQ_ERR_DATA;
    if (n >= spec->size) {
        if (spec->kind == FIELD_ID)
            return PAYQ_ERR_DATA;
        /* The text is valid UTF-8: back off to a character start. */
        n = spec->size - 1;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;
    }
    dst = (char *)r + spec->offset;
    memcpy(dst, text, n);
    dst[n] = '\0';
    return PAYQ_OK;
}

/* One JSON value: a string, an integer, an amount's real, or null. */
static enum payq_err store_json(struct reading *r,
                                const struct field_spec *spec, const json_t *v)
{
    char number[32];
    int n;

    if (v == NULL || json_is_null(v))
        return PAYQ_OK;
    if (json_is_string(v))
        return store_text(r, spec, json_string_value(v), json_string_length(v));
    if (json_is_real(v) && spec->kind == FIELD_AMOUNT)
        return amount_from_real(r, json_real_value(v));
    if (!json_is_integer(v))
        return PAYQ_ERR_DATA;
    if (spec->kind == FIELD_AMOUNT)
        return amount_set(r, json_integer_value(v));
    n = snprintf(number, sizeof(number), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
    return store_text(r, spec, number, (size_t)n);
}

/*
 * Nesting depth, counted before jansson sees the text, so that a body of
 * thousands of '[' is refused cheaply. Brackets inside strings do not
 * count; text jansson would refuse anyway need not be judged exactly.
 */
static bool json_depth_ok(const char *s, size_t n)
{
    size_t depth = 0;
    bool in_string = false;
    size_t i;

    for (i = 0; i < n; i++) {
        if (in_string) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_string = false;
        } else if (s[i] == '"') {
            in_string = true;
        } else if (s[i] == '{' || s[i] == '[') {
            if (++depth > JSON_DEPTH_MAX)
                return false;
        } else if ((s[i] == '}' || s[i] == ']') && depth > 0) {
            depth--;
        }
    }
    return true;
}

/* Skips a UTF-8 byte order mark, which jansson refuses. */
static const char *skip_bom(const char *s, size_t *n)
{
    if (*n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        *n -= 3;
        return s + 3;
    }
    return s;
}

/* Loads text as a JSON object into *root, or PAYQ_ERR_DATA. */
static enum payq_err json_load_object(const char *text, size_t n, json_t **root)
{
    json_error_t error;

    text = skip_bom(text, &n);
    *root = NULL;
    if (!json_depth_ok(text, n))
        return PAYQ_ERR_DATA;
    /* A second "status" must not silently win over the first. */
    *root =
        json_loadb(text, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
    if (json_is_object(*root))
        return PAYQ_OK;
    json_decref(*root);
    *root = NULL;
    return PAYQ_ERR_DATA;
}

/* True if obj carries any field we read. */
static bool has_known_field(const json_t *obj)
{
    size_t i;

    for (i = 0; i < COUNT(fields); i++)
        if (json_object_get(obj, fields[i].name) != NULL)
            return true;
    return false;
}

/*
 * Finds the object holding the fields: root itself, or what its
 * "jsonpayload" wraps. *inner owns a payload that was a string.
 */
static enum payq_err unwrap(const json_t *root, const json_t **obj,
                            json_t **inner)
{
    const json_t *payload = json_object_get(root, "jsonpayload");
    enum payq_err err;

    *obj = root;
    *inner = NULL;
    if (payload == NULL)
        return PAYQ_OK;
    /* Fields beside the payload would leave two answers to choose from. */
    if (has_known_field(root))
        return PAYQ_ERR_DATA;
    if (json_is_object(payload)) {
        *obj = payload;
        return PAYQ_OK;
    }
    if (!json_is_string(payload))
        return PAYQ_ERR_DATA;
    err = json_load_object(json_string_value(payload),
                           json_string_length(payload), inner);
    if (err == PAYQ_OK)
        *obj = *inner;
    return err;
}

static enum payq_err parse_json(const char *body, size_t len, struct reading *r)
{
    json_t *root = NULL;
    json_t *inner = NULL;
    const json_t *obj;
    enum payq_err err;
    size_t i;

    err = json_load_object(body, len, &root);
    if (err != PAYQ_OK)
        goto out;
    err = unwrap(root, &obj, &inner);
    for (i = 0; err == PAYQ_OK && i < COUNT(fields); i++)
        err = store_json(r, &fields[i], json_object_get(obj, fields[i].name));

out:
    json_decref(inner);
    json_decref(root);
    return err;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

/*
 * Bytes a form encoder may leave raw. Everything else (space, quotes,
 * braces, non-ASCII) it escapes, so meeting one means this is no form.
 */
static bool form_raw_ok(char c)
{
    return c > 0x20 && c < 0x7F && strchr("\"{}[]\\<>^`|#", c) == NULL;
}

/*
 * Checks the whole form before reading any of it: raw bytes, %XX escapes,
 * a '=' in every pair, the pair count. Empty pairs ("a=1&&b=2") are
 * skipped, as form readers commonly do.
 */
static bool form_syntax_ok(const char *s, size_t n)
{
    size_t pairs = 0;
    bool in_pair = false;
    bool has_eq = false;
    size_t i;

    for (i = 0; i <= n; i++) {
        if (i == n || s[i] == '&') {
            if (in_pair && (!has_eq || ++pairs > FORM_PAIRS_MAX))
                return false;
            in_pair = has_eq = false;
            continue;
        }
        in_pair = true;
        if (!form_raw_ok(s[i]))
            return false;
        if (s[i] == '=')
            has_eq = true;
        else if (s[i] == '%' &&
                 !(i + 2 < n && is_hex(s[i + 1]) && is_hex(s[i + 2])))
            return false;
    }
    return pairs > 0;
}

/* Decodes n syntax-checked bytes into out; returns the decoded length. */
static size_t form_decode(const char *s, size_t n, char *out)
{
    size_t i;
    size_t len = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[len++] = ' ';
        } else if (s[i] == '%') {
            out[len++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out[len++] = s[i];
        }
    }
    return len;
}

/* One name=value pair; scratch holds at least n bytes. */
static enum payq_err form_pair(struct reading *r, const char *pair, size_t n,
                               char *scratch)
{
    const char *eq = memchr(pair, '=', n);
    const struct field_spec *spec;
    size_t name_len = (size_t)(eq - pair);
    size_t len;

    len = form_decode(pair, name_len, scratch);
    spec = field_named(scratch, len);
    if (spec == NULL || r->seen[spec - fields])
        return PAYQ_OK;
    r->seen[spec - fields] = true;
    len = form_decode(eq + 1, n - name_len - 1, scratch);
    return store_text(r, spec, scratch, len);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static enum payq_err parse_form(const char *body, size_t len, struct reading *r)
{
    char *scratch = NULL;
    const char *end;
    const char *amp;
    enum payq_err err = PAYQ_ERR_DATA;

    while (len > 0 && is_space(body[0])) {
        body++;
        len--;
    }
    while (len > 0 && is_space(body[len - 1]))
        len--;
    if (!form_syntax_ok(body, len))
        goto out;
    err = PAYQ_ERR_NOMEM;
    scratch = mem_alloc(len);
    if (scratch == NULL)
        goto out;

    err = PAYQ_OK;
    end = body + len;
    for (; err == PAYQ_OK && body < end; body = amp + 1) {
        amp = memchr(body, '&', (size_t)(end - body));
        if (amp == NULL)
            amp = end;
        if (amp > body)
            err = form_pair(r, body, (size_t)(amp - body), scratch);
    }

out:
    mem_free(scratch);
    return err;
}

/* Case-insensitive equality of s[0..n) with the NUL-terminated word. */
static bool word_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/*
 * The form content_type declares, parameters ignored; false when it
 * declares neither (or is NULL).
 */
static bool declared_form(const char *content_type,
                          enum callback_body_form *form)
{
    size_t n;

    if (content_type == NULL)
        return false;
    while (is_space(*content_type))
        content_type++;
    n = strcspn(content_type, ";");
    while (n > 0 && is_space(content_type[n - 1]))
        n--;
    if (word_is(content_type, n, "application/json") ||
        word_is(content_type, n, "text/json") ||
        (n > 5 && word_is(content_type + n - 5, 5, "+json"))) {
        *form = CALLBACK_BODY_JSON;
        return true;
    }
    *form = CALLBACK_BODY_FORM;
    return word_is(content_type, n, "application/x-www-form-urlencoded");
}

/* The first byte after a byte order mark and white space, or 0. */
static char first_byte(const char *body, size_t len)
{
    body = skip_bom(body, &len);
    while (len > 0 && is_space(body[0])) {
        body++;
        len--;
    }
    return len > 0 ? body[0] : '\0';
}

/* Reads body as content_type says, or as JSON and then as a form. */
static enum payq_err parse_any(const char *body, size_t len,
                               const char *content_type, struct reading *r)
{
    enum callback_body_form form;
    enum payq_err err;

    if (declared_form(content_type, &form)) {
        if (form == CALLBACK_BODY_JSON || first_byte(body, len) == '{')
            return parse_json(body, len, r);
        return parse_form(body, len, r);
    }
    err = parse_json(body, len, r);
    if (err != PAYQ_ERR_DATA)
        return err;
    /* Nothing the JSON attempt stored may leak into the form's reading. */
    memset(r, 0, sizeof(*r));
    return parse_form(body, len, r);
}

enum payq_err callback_parse(const char *body, size_t len,
                             const char *content_type,
                             struct callback_fields *out)
{
    struct reading r;
    enum payq_err err = PAYQ_ERR_TOO_LARGE;

    memset(&r, 0, sizeof(r));
    memset(out, 0, sizeof(*out));
    if (len > CALLBACK_BODY_MAX)
        goto out;
    err = PAYQ_ERR_DATA;
    if (len == 0 || body == NULL)
        goto out;
    err = parse_any(body, len, content_type, &r);
    if (err != PAYQ_OK)
        goto out;
    if (r.f.status_desc[0] == '\0')
        memcpy(r.f.status_desc, r.message, sizeof(r.message));
    *out = r.f;

out:
    return err;
}

enum status_class { S_NONE, S_SUCCESS, S_PENDING, S_FAILURE, S_OTHER };
enum code_class { C_NONE, C_SUCCESS, C_PENDING, C_OTHER };

static enum status_class status_class_of(const char *status)
{
    static const char *const success[] = { "successfull", "successful",
                                           "success" };
    static const char *const failure[] = { "failed", "failure", "fail",
                                           "error" };
    size_t i;

    if (status[0] == '\0')
        return S_NONE;
    for (i = 0; i < COUNT(success); i++)
        if (strcasecmp(status, success[i]) == 0)
            return S_SUCCESS;
    for (i = 0; i < COUNT(failure); i++)
        if (strcasecmp(status, failure[i]) == 0)
            return S_FAILURE;
    if (strcasecmp(status, "pending") == 0)
        return S_PENDING;
    return S_OTHER;
}

static enum code_class code_class_of(const char *code)
{
    if (code[0] == '\0')
        return C_NONE;
    if (strcmp(code, "01") == 0)
        return C_SUCCESS;
    if (strcmp(code, "1000") == 0)
        return C_PENDING;
    return C_OTHER;
}

enum callback_verdict callback_verdict_of(const struct callback_fields *f)
{
    enum status_class s = status_class_of(f->status);
    enum code_class c = code_class_of(f->code);

    if ((s == S_SUCCESS && (c == C_SUCCESS || c == C_NONE)) ||
        (s == S_NONE && c == C_SUCCESS))
        return CALLBACK_SUCCESS;
    /* Status text we do not know settles nothing, whatever the code. */
    if (c == C_OTHER && (s == S_NONE || s == S_FAILURE))
        return CALLBACK_FAILURE;
    if ((c == C_PENDING && (s == S_NONE || s == S_PENDING)) ||
        (s == S_PENDING && c == C_NONE))
        return CALLBACK_PENDING;
    return CALLBACK_UNCLEAR;
}

const char *callback_verdict_name(enum callback_verdict v)
{
    static const char *const names[] = {
        [CALLBACK_SUCCESS] = "success",
        [CALLBACK_FAILURE] = "failure",
        [CALLBACK_PENDING] = "pending",
        [CALLBACK_UNCLEAR] = "unclear",
    };

    if ((size_t)v >= COUNT(names))
        return "unknown";
    return names[v];
}
