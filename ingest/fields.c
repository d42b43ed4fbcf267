/*
 * Validators for the values of one CSV row. The files come from
 * spreadsheets that people type into, so the rules accept the forms
 * spreadsheets produce (grouped thousands, a ".00" tail, a dropped leading
 * zero) and refuse anything whose meaning is not certain: a value is read
 * exactly or refused with a reason, never guessed at. Amounts are
 * integers from the first digit to the last; no floating point.
 */
#include "ingest/fields.h"

#include <stdbool.h>
#include <string.h>

static const char EMPTY[] = "is empty";
static const char NOT_PHONE[] = "is not a phone number";
static const char NOT_MOBILE[] =
    "is not a Rwandan mobile number (078, 079, 072, 073)";
static const char NOT_WHOLE[] = "is not a whole number of francs";
static const char NEGATIVE[] = "is negative";
static const char FRACTION[] = "has a fraction of a franc";
static const char NOT_POSITIVE[] = "must be positive";
static const char BELOW_MIN[] = "is below the minimum";
static const char ABOVE_MAX[] = "is above the maximum";
static const char TOO_LARGE[] = "is too large";
static const char REFERENCE_TOO_LONG[] = "is longer than 64 characters";
static const char TOO_LONG[] = "is too long";
static const char CONTROL[] = "contains a control character";
static const char NUL_BYTE[] = "contains a NUL byte";
static const char NOT_UTF8[] = "is not valid UTF-8";

_Static_assert(INGEST_REFERENCE_MAX == 64,
               "REFERENCE_TOO_LONG spells out the maximum");

enum {
    PHONE_NSN_LEN = 9,     /* national number after 0 or 250: 7XXXXXXXX */
    PHONE_DIGITS_MAX = 17, /* "00" and the 15 digits E.164 allows */
    E164_DIGITS_MIN = 8,   /* shorter than any country's full number */
    E164_DIGITS_MAX = 15,
    AMOUNT_DIGITS_MAX = 18, /* 10^18 - 1 fits a long long with room */
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Digits in a row at s, stopping at end. */
static size_t digit_run(const char *s, const char *end)
{
    size_t n = 0;

    while (s + n < end && is_digit(s[n]))
        n++;
    return n;
}

/*
 * Byte length of a no-break space (U+00A0) or narrow no-break space
 * (U+202F) at s, else 0: French-locale spreadsheets group digits with
 * them.
 */
static size_t wide_space_len(const char *s, const char *end)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t left = (size_t)(end - s);

    if (left >= 2 && u[0] == 0xc2 && u[1] == 0xa0)
        return 2;
    if (left >= 3 && u[0] == 0xe2 && u[1] == 0x80 && u[2] == 0xaf)
        return 3;
    return 0;
}

/* Narrows [*s, *end) past surrounding ASCII spaces and tabs. */
static void trim(const char **s, const char **end)
{
    while (*s < *end && is_blank(**s))
        (*s)++;
    while (*end > *s && is_blank((*end)[-1]))
        (*end)--;
}

/* ---- Phone numbers ---- */

/* A phone number's digits, once the separators are gone. */
struct phone_digits {
    char d[PHONE_DIGITS_MAX];
    size_t n;  /* digits seen; past PHONE_DIGITS_MAX only counted */
    bool plus; /* written with a leading '+' */
};

/* Byte length of a separator people write inside numbers, else 0. */
static size_t phone_separator_len(const char *s, const char *end)
{
    if (*s == ' ' || *s == '-' || *s == '.' || *s == '(' || *s == ')')
        return 1;
    return wide_space_len(s, end);
}

/*
 * Collects the digits of [s, end). A '+' may come once, before any digit
 * ("(+250) 788..." is a common way to write it); anything else that is
 * neither a digit nor a separator makes the text no phone number.
 */
static const char *phone_digits_collect(const char *s, const char *end,
                                        struct phone_digits *pd)
{
    while (s < end) {
        size_t sep = phone_separator_len(s, end);

        if (sep > 0) {
            s += sep;
        } else if (*s == '+' && !pd->plus && pd->n == 0) {
            pd->plus = true;
            s++;
        } else if (is_digit(*s)) {
            if (pd->n < PHONE_DIGITS_MAX)
                pd->d[pd->n] = *s;
            pd->n++;
            s++;
        } else {
            return NOT_PHONE;
        }
    }
    return pd->n == 0 && !pd->plus ? EMPTY : NULL;
}

/*
 * Finds the national number in international digits (after '+' or "00").
 * Another country's number is a phone number, just not one we can pay.
 */
static const char *phone_from_international(const char *d, size_t n,
                                            const char **nsn)
{
    if (n >= 3 && memcmp(d, "250", 3) == 0) {
        if (n != 3 + PHONE_NSN_LEN)
            return NOT_PHONE;
        *nsn = d + 3;
        return NULL;
    }
    if (n >= E164_DIGITS_MIN && n <= E164_DIGITS_MAX && d[0] != '0')
        return NOT_MOBILE;
    return NOT_PHONE;
}

/*
 * Points *nsn at the nine-digit national number. A twelve-digit "250..."
 * is taken as international: spreadsheets drop the '+' as they drop the
 * leading 0 of "07...".
 */
static const char *phone_national(const struct phone_digits *pd,
                                  const char **nsn)
{
    const char *d = pd->d;
    size_t n = pd->n;

    if (n > PHONE_DIGITS_MAX)
        return NOT_PHONE;
    if (pd->plus)
        return phone_from_international(d, n, nsn);
    if (n > 2 && d[0] == '0' && d[1] == '0')
        return phone_from_international(d + 2, n - 2, nsn);
    if (n == 3 + PHONE_NSN_LEN && memcmp(d, "250", 3) == 0)
        *nsn = d + 3;
    else if (n == 1 + PHONE_NSN_LEN && d[0] == '0')
        *nsn = d + 1;
    else if (n == PHONE_NSN_LEN && d[0] != '0')
        *nsn = d;
    else
        return NOT_PHONE;
    return NULL;
}

/* MTN (78, 79) and Airtel (72, 73) are the networks we can pay. */
static bool phone_is_mobile(const char *nsn)
{
    return nsn[0] == '7' &&
           (nsn[1] == '8' || nsn[1] == '9' || nsn[1] == '2' || nsn[1] == '3');
}

const char *ingest_phone_parse(const char *text, char out[INGEST_PHONE_SIZE])
{
    struct phone_digits pd = { .n = 0, .plus = false };
    const char *nsn = NULL;
    const char *problem;

    out[0] = '\0';
    problem = phone_digits_collect(text, text + strlen(text), &pd);
    if (problem == NULL)
        problem = phone_national(&pd, &nsn);
    if (problem != NULL)
        return problem;
    if (!phone_is_mobile(nsn))
        return NOT_MOBILE;

    memcpy(out, "250", 3);
    memcpy(out + 3, nsn, PHONE_NSN_LEN);
    out[3 + PHONE_NSN_LEN] = '\0';
    return NULL;
}

/* ---- Amounts ---- */

/* What the text of an amount says, before any bound is applied. */
struct amount {
    unsigned long long value; /* whole francs, when !too_large */
    bool negative;
    bool fraction;  /* a nonzero decimal part */
    bool too_large; /* more than AMOUNT_DIGITS_MAX significant digits */
};

/* The thousands separators; a value may use only one of them. */
enum group_sep { SEP_NONE, SEP_COMMA, SEP_SPACE, SEP_NBSP, SEP_NNBSP };

static enum group_sep group_sep_at(const char *s, const char *end, size_t *len)
{
    size_t wide = wide_space_len(s, end);

    *len = 1;
    if (*s == ',')
        return SEP_COMMA;
    if (*s == ' ')
        return SEP_SPACE;
    *len = wide;
    if (wide == 2)
        return SEP_NBSP;
    return wide == 3 ? SEP_NNBSP : SEP_NONE;
}

/*
 * Returns the end of the integer part at s (s itself if there is none):
 * plain digits, or a first group of one to three digits followed by
 * groups of exactly three, all behind the same separator, returned in
 * *sep. A grouped value may not start with '0': "0,500" is more likely a
 * European half than five hundred. Scanning stops before anything that
 * does not continue the grouping, for the caller to judge.
 */
static const char *amount_integer_end(const char *s, const char *end,
                                      enum group_sep *sep)
{
    size_t first = digit_run(s, end);
    const char *p = s + first;

    *sep = SEP_NONE;
    if (first == 0)
        return s;
    while (p < end) {
        size_t len;
        enum group_sep kind = group_sep_at(p, end, &len);

        if (kind == SEP_NONE || (*sep != SEP_NONE && kind != *sep))
            break;
        if (digit_run(p + len, end) != 3)
            break;
        if (*sep == SEP_NONE && (first > 3 || *s == '0'))
            break;
        *sep = kind;
        p += len + 3;
    }
    return p;
}

/*
 * Checks what follows the integer part: nothing, or a decimal point ('.',
 * or ',' unless ',' groups thousands) and one or two digits ending the
 * text. Three digits are refused even after '.': "1.000" is a thousand
 * in much of Europe, and reading it as one franc would pay the wrong sum.
 */
static bool amount_decimal_ok(const char *s, const char *end,
                              enum group_sep sep, struct amount *a)
{
    size_t n;

    if (s == end)
        return true;
    if (*s != '.' && (*s != ',' || sep == SEP_COMMA))
        return false;
    n = digit_run(s + 1, end);
    if (n < 1 || n > 2 || s + 1 + n != end)
        return false;
    a->fraction = s[1] != '0' || (n == 2 && s[2] != '0');
    return true;
}

/*
 * Adds up the digits of [s, end), skipping separators and leading zeros.
 * Counting significant digits first keeps the sum below 10^18, so it can
 * never overflow.
 */
static void amount_accumulate(const char *s, const char *end, struct amount *a)
{
    size_t digits = 0;

    for (; s < end; s++) {
        if (!is_digit(*s) || (digits == 0 && *s == '0'))
            continue;
        if (++digits > AMOUNT_DIGITS_MAX) {
            a->too_large = true;
            return;
        }
        a->value = a->value * 10 + (unsigned)(*s - '0');
    }
}

/* Reads the trimmed, non-empty text [s, end) of an amount or charge. */
static const char *amount_scan(const char *s, const char *end, struct amount *a)
{
    enum group_sep sep;
    const char *int_end;

    memset(a, 0, sizeof(*a));
    if (s < end && *s == '-') {
        a->negative = true;
        s++;
    }
    int_end = amount_integer_end(s, end, &sep);
    if (int_end == s || !amount_decimal_ok(int_end, end, sep, a))
        return NOT_WHOLE;
    amount_accumulate(s, int_end, a);

    if (a->negative)
        return NEGATIVE;
    if (a->fraction)
        return FRACTION;
    return a->too_large ? TOO_LARGE : NULL;
}

const char *ingest_amount_parse(const char *text, long long min, long long max,
                                long long *out)
{
    const char *end = text + strlen(text);
    const char *problem;
    struct amount a;
    long long value;

    *out = 0;
    trim(&text, &end);
    if (text == end)
        return EMPTY;
    problem = amount_scan(text, end, &a);
    if (problem != NULL)
        return problem;

    value = (long long)a.value;
    if (value == 0)
        return NOT_POSITIVE;
    if (value < min)
        return BELOW_MIN;
    if (value > max)
        return ABOVE_MAX;
    *out = value;
    return NULL;
}

const char *ingest_charge_parse(const char *text, long long max, long long *out)
{
    const char *end = text + strlen(text);
    const char *problem;
    struct amount a;

    *out = 0;
    trim(&text, &end);
    if (text == end)
        return NULL;
    problem = amount_scan(text, end, &a);
    if (problem != NULL)
        return problem;
    if ((long long)a.value > max)
        return ABOVE_MAX;
    *out = (long long)a.value;
    return NULL;
}

/* ---- Text ---- */

/* Characters in valid UTF-8: each starts at a non-continuation byte. */
static size_t utf8_count(const char *s, const char *end)
{
    size_t n = 0;

    for (; s < end; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/*
 * True if [s, end) holds a C0 control, DEL or a C1 control (U+0080 to
 * U+009F, the trace of text decoded with the wrong code page). Byte by
 * byte is safe: 0xC2 never occurs inside another character.
 */
static bool has_control(const char *s, const char *end)
{
    const unsigned char *u = (const unsigned char *)s;
    const unsigned char *e = (const unsigned char *)end;

    for (; u < e; u++) {
        if (*u < 0x20 || *u == 0x7f)
            return true;
        if (*u == 0xc2 && u + 1 < e && u[1] >= 0x80 && u[1] <= 0x9f)
            return true;
    }
    return false;
}

/* The checks shared by references and required text, after trimming. */
static const char *text_span_check(const char *s, const char *end,
                                   size_t max_chars, const char *too_long)
{
    if (s == end)
        return EMPTY;
    if (has_control(s, end))
        return CONTROL;
    if (utf8_count(s, end) > max_chars)
        return too_long;
    return NULL;
}

const char *ingest_reference_check(const char *text, size_t *start, size_t *len)
{
    const char *s = text;
    const char *end = text + strlen(text);

    trim(&s, &end);
    *start = (size_t)(s - text);
    *len = (size_t)(end - s);
    return text_span_check(s, end, INGEST_REFERENCE_MAX, REFERENCE_TOO_LONG);
}

const char *ingest_required_text_check(const char *text, size_t max_chars)
{
    const char *s = text;
    const char *end = text + strlen(text);

    trim(&s, &end);
    return text_span_check(s, end, max_chars, TOO_LONG);
}

/* Length of the UTF-8 sequence a lead byte starts, or 0 if none. */
static size_t utf8_lead_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c < 0xc2) /* a continuation byte, or C0/C1: always overlong */
        return 0;
    if (c < 0xe0)
        return 2;
    if (c < 0xf0)
        return 3;
    return c < 0xf5 ? 4 : 0; /* F5..FF would pass U+10FFFF */
}

/*
 * The range of the byte after lead c (RFC 3629). Narrowing it is what
 * refuses overlong forms (E0, F0), surrogates (ED) and code points past
 * U+10FFFF (F4).
 */
static void utf8_second_range(unsigned char c, unsigned char *lo,
                              unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (c == 0xe0)
        *lo = 0xa0;
    else if (c == 0xed)
        *hi = 0x9f;
    else if (c == 0xf0)
        *lo = 0x90;
    else if (c == 0xf4)
        *hi = 0x8f;
}

/* Length of the well-formed sequence at s (left bytes remain), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t left)
{
    size_t len = utf8_lead_len(s[0]);
    unsigned char lo;
    unsigned char hi;
    size_t i;

    if (len == 0 || left < len)
        return 0;
    if (len == 1)
        return 1;
    utf8_second_range(s[0], &lo, &hi);
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

const char *ingest_text_check(const char *bytes, size_t len)
{
    const unsigned char *u = (const unsigned char *)bytes;
    size_t i = 0;

    while (i < len) {
        size_t n;

        if (u[i] == 0)
            return NUL_BYTE;
        n = utf8_seq_len(u + i, len - i);
        if (n == 0)
            return NOT_UTF8;
        i += n;
    }
    return NULL;
}
