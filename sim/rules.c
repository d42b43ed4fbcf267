/* Validation rules for amounts, phones, URLs and ids. */
#include "sim/rules.h"

#include <string.h>
#include <strings.h>

#include "core/utf8.h"
#include "sim/codes.h"

/* Beyond this many digits a long long could overflow. */
#define AMOUNT_DIGITS_MAX 15

/* Local mobile prefixes after the leading 0: MTN 78, 79; Airtel 72, 73. */
static const char *const networks[] = { "78", "79", "72", "73" };

bool sim_rules_parse_amount(const char *text, long long *amount)
{
    const char *p = text;
    long long value = 0;
    int sign = 1;
    int digits = 0;

    if (*p == '-' || *p == '+')
        sign = *p++ == '-' ? -1 : 1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (++digits > AMOUNT_DIGITS_MAX)
            return false;
        value = value * 10 + (*p - '0');
    }
    if (digits == 0)
        return false;
    if (*p == '.') {
        if (p[1] == '\0')
            return false;
        for (p++; *p == '0'; p++)
            ;
    }
    if (*p != '\0')
        return false;
    *amount = sign * value;
    return true;
}

const char *sim_rules_check_amount(const struct sim_config *cfg,
                                   long long amount)
{
    if (amount <= 0)
        return SIM_CODE_AMOUNT_ZERO;
    if (amount < cfg->min_amount)
        return SIM_CODE_AMOUNT_LOW;
    if (amount > cfg->max_amount)
        return SIM_CODE_AMOUNT_HIGH;
    return NULL;
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/*
 * The nine digits after the trunk 0 or the country code, or NULL when
 * phone has no accepted form.
 */
static const char *national_part(const char *phone, enum sim_phone_form form)
{
    size_t n = strlen(phone);

    if (n == 10 && phone[0] == '0')
        return phone + 1;
    if (n == 12 && strncmp(phone, "250", 3) == 0)
        return phone + 3;
    if (n == 9 && form == SIM_PHONE_DEPOSIT)
        return phone;
    return NULL;
}

const char *sim_rules_check_phone(const char *phone, enum sim_phone_form form)
{
    const char *national;
    size_t i;

    if (!all_digits(phone))
        return SIM_CODE_BAD_NUMBER;
    national = national_part(phone, form);
    if (national == NULL)
        return SIM_CODE_BAD_NUMBER;
    /* A 9-digit form must start with 7; otherwise it is not a number. */
    if (national == phone && phone[0] != '7')
        return SIM_CODE_BAD_NUMBER;
    for (i = 0; i < sizeof(networks) / sizeof(networks[0]); i++)
        if (strncmp(national, networks[i], 2) == 0)
            return NULL;
    return SIM_CODE_BAD_NETWORK;
}

bool sim_rules_valid_url(const char *url)
{
    size_t n = strlen(url);
    size_t scheme;

    if (strncasecmp(url, "http://", 7) == 0)
        scheme = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        scheme = 8;
    else
        return false;
    if (n <= scheme || n > SIM_URL_MAX)
        return false;
    for (; *url != '\0'; url++)
        if ((unsigned char)*url <= ' ' || (unsigned char)*url >= 0x7f)
            return false;
    return true;
}

bool sim_rules_valid_id(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > SIM_ID_MAX)
        return false;
    for (; *id != '\0'; id++)
        if ((unsigned char)*id < ' ' || (unsigned char)*id >= 0x7f)
            return false;
    return true;
}

bool sim_rules_valid_reference(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n = strlen(text);

    if (n == 0 || n > SIM_ID_MAX)
        return false;
    while (n > 0) {
        size_t len = utf8_sequence_len(p, n);

        if (len == 0 || *p < ' ' || *p == 0x7f)
            return false;
        p += len;
        n -= len;
    }
    return true;
}
