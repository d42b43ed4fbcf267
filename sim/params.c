/* JSON and form-encoded bodies into one list of parameters. */
#include "sim/params.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "core/mem.h"

static enum payq_err add_param(struct sim_params *p, const char *name,
                               size_t name_len, const char *value,
                               size_t value_len)
{
    struct sim_param *item;

    if (p->count == SIM_PARAMS_MAX || name_len > SIM_PARAM_VALUE_MAX ||
        value_len > SIM_PARAM_VALUE_MAX)
        return PAYQ_ERR_TOO_LARGE;
    item = &p->items[p->count];
    item->name = mem_strndup(name, name_len);
    item->value = mem_strndup(value, value_len);
    if (item->name == NULL || item->value == NULL) {
        mem_free(item->name);
        mem_free(item->value);
        return PAYQ_ERR_NOMEM;
    }
    p->count++;
    return PAYQ_OK;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Decodes n bytes of a form component ('+' is a space, %XX a byte) into
 * out; returns the decoded length, or -1 when malformed or too long.
 */
static long form_decode(const char *s, size_t n, char *out, size_t size)
{
    size_t in = 0;
    size_t len = 0;

    while (in < n) {
        int hi;
        int lo;

        if (len + 1 >= size)
            return -1;
        if (s[in] != '%') {
            out[len++] = s[in] == '+' ? ' ' : s[in];
            in++;
            continue;
        }
        hi = in + 2 < n ? hex_value(s[in + 1]) : -1;
        lo = in + 2 < n ? hex_value(s[in + 2]) : -1;
        if (hi < 0 || lo < 0)
            return -1;
        out[len++] = (char)(hi * 16 + lo);
        in += 3;
    }
    out[len] = '\0';
    return (long)len;
}

/* One "name=value" (or bare "name") pair of a form body. */
static enum payq_err parse_form_pair(struct sim_params *p, const char *s,
                                     size_t n)
{
    char name[SIM_PARAM_VALUE_MAX + 1];
    char value[SIM_PARAM_VALUE_MAX + 1];
    const char *eq = memchr(s, '=', n);
    size_t name_n = eq != NULL ? (size_t)(eq - s) : n;
    long name_len = form_decode(s, name_n, name, sizeof(name));
    long value_len = 0;
    enum payq_err err;

    value[0] = '\0';
    if (eq != NULL)
        value_len = form_decode(eq + 1, n - name_n - 1, value, sizeof(value));
    if (name_len <= 0 || value_len < 0)
        return PAYQ_ERR_DATA;
    err = add_param(p, name, (size_t)name_len, value, (size_t)value_len);
    OPENSSL_cleanse(value, sizeof(value));
    return err;
}

static enum payq_err parse_form(struct sim_params *p, const char *body,
                                size_t len)
{
    size_t start = 0;

    while (start < len) {
        const char *amp = memchr(body + start, '&', len - start);
        size_t end = amp != NULL ? (size_t)(amp - body) : len;
        enum payq_err err = PAYQ_OK;

        if (end > start)
            err = parse_form_pair(p, body + start, end - start);
        if (err != PAYQ_OK)
            return err;
        start = end + 1;
    }
    return PAYQ_OK;
}

/* One JSON member as text; null is left out, as if absent. */
static enum payq_err add_json_member(struct sim_params *p, const char *name,
                                     json_t *value)
{
    char number[32];
    char *dumped;
    enum payq_err err;

    switch (json_typeof(value)) {
    case JSON_NULL:
        return PAYQ_OK;
    case JSON_STRING:
        return add_param(p, name, strlen(name), json_string_value(value),
                         json_string_length(value));
    case JSON_INTEGER:
        snprintf(number, sizeof(number), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(value));
        return add_param(p, name, strlen(name), number, strlen(number));
    default:
        /* Reals, booleans, objects: jansson's own text, judged later. */
        dumped = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
        if (dumped == NULL)
            return PAYQ_ERR_NOMEM;
        err = add_param(p, name, strlen(name), dumped, strlen(dumped));
        free(dumped);
        return err;
    }
}

static enum payq_err parse_json(struct sim_params *p, const char *body,
                                size_t len)
{
    enum payq_err err = PAYQ_ERR_DATA;
    json_error_t error;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
    const char *name;
    json_t *value;

    if (root == NULL || !json_is_object(root))
        goto out;
    err = PAYQ_OK;
    json_object_foreach(root, name, value)
    {
        err = add_json_member(p, name, value);
        if (err != PAYQ_OK)
            break;
    }
out:
    json_decref(root);
    return err;
}

static bool has_prefix(const char *text, const char *prefix)
{
    return strncasecmp(text, prefix, strlen(prefix)) == 0;
}

/* JSON by its type, or by a leading '{' when the type says nothing. */
static bool looks_like_json(const char *type, const char *body, size_t len)
{
    size_t i = 0;

    if (type != NULL && has_prefix(type, "application/json"))
        return true;
    if (type != NULL && has_prefix(type, "application/x-www-form-urlencoded"))
        return false;
    while (i < len && isspace((unsigned char)body[i]))
        i++;
    return i < len && body[i] == '{';
}

enum payq_err sim_params_parse(struct sim_params *p, const char *content_type,
                               const char *body, size_t len)
{
    if (content_type != NULL && has_prefix(content_type, "multipart/"))
        return PAYQ_ERR_DATA;
    if (looks_like_json(content_type, body, len))
        return parse_json(p, body, len);
    return parse_form(p, body, len);
}

static bool is_blank(const char *s)
{
    for (; *s != '\0'; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

const char *sim_params_get(const struct sim_params *p, const char *name)
{
    size_t i = p->count;

    while (i-- > 0) {
        if (strcmp(p->items[i].name, name) == 0)
            return is_blank(p->items[i].value) ? NULL : p->items[i].value;
    }
    return NULL;
}

void sim_params_cleanup(struct sim_params *p)
{
    while (p->count > 0) {
        p->count--;
        mem_free(p->items[p->count].name);
        mem_free_secret(p->items[p->count].value);
    }
}
