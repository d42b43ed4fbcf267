/*
 * Unit tests for ingest/fields: phone numbers, amounts, charges,
 * references and free text. Each table row is one input and the exact
 * result expected of it; rows sit on both sides of every boundary.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/fields.h"

/* The problems, as the module words them. */
#define EMPTY "is empty"
#define NOT_PHONE "is not a phone number"
#define NOT_MOBILE "is not a Rwandan mobile number (078, 079, 072, 073)"
#define NOT_WHOLE "is not a whole number of francs"
#define NEGATIVE "is negative"
#define FRACTION "has a fraction of a franc"
#define NOT_POSITIVE "must be positive"
#define BELOW_MIN "is below the minimum"
#define ABOVE_MAX "is above the maximum"
#define TOO_LARGE "is too large"
#define REF_TOO_LONG "is longer than 64 characters"
#define TOO_LONG "is too long"
#define CONTROL "contains a control character"
#define NUL_BYTE "contains a NUL byte"
#define NOT_UTF8 "is not valid UTF-8"

/* Separators and characters written as bytes; split literals after them
 * where a hex digit follows, or the escape would swallow it. */
#define NBSP "\xc2\xa0"
#define NNBSP "\xe2\x80\xaf"
#define E_ACUTE "\xc3\xa9"
#define EURO "\xe2\x82\xac"
#define EMOJI "\xf0\x9f\x98\x80"

#define X8 "xxxxxxxx"
#define X64 X8 X8 X8 X8 X8 X8 X8 X8
#define X63 "xxxxxxx" X8 X8 X8 X8 X8 X8 X8
#define E8 E_ACUTE E_ACUTE E_ACUTE E_ACUTE E_ACUTE E_ACUTE E_ACUTE E_ACUTE
#define E64 E8 E8 E8 E8 E8 E8 E8 E8

#define DMIN INGEST_AMOUNT_MIN_DEFAULT
#define DMAX INGEST_AMOUNT_MAX_DEFAULT

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

/* Fails naming the row unless got is the wanted problem (NULL: valid). */
static void check_problem(size_t row, const char *input, const char *got,
                          const char *want)
{
    if (got == want || (got != NULL && want != NULL && strcmp(got, want) == 0))
        return;
    print_error("row %zu \"%s\": got \"%s\", want \"%s\"\n", row, input,
                got != NULL ? got : "(valid)", want != NULL ? want : "(valid)");
    fail();
}

struct phone_row {
    const char *in;
    const char *problem;
    const char *out; /* canonical form, "" when refused */
};

static void run_phone_rows(const struct phone_row *rows, size_t n)
{
    char out[INGEST_PHONE_SIZE];
    size_t i;

    for (i = 0; i < n; i++) {
        memset(out, 'z', sizeof(out));
        check_problem(i, rows[i].in, ingest_phone_parse(rows[i].in, out),
                      rows[i].problem);
        assert_string_equal(out, rows[i].out);
    }
}

static void fields_phone_forms_become_canonical(void **state)
{
    static const struct phone_row rows[] = {
        { "0788123456", NULL, "250788123456" },
        { "0798123456", NULL, "250798123456" },
        { "0728123456", NULL, "250728123456" },
        { "0738123456", NULL, "250738123456" },
        { "788123456", NULL, "250788123456" },
        { "798123456", NULL, "250798123456" },
        { "722123456", NULL, "250722123456" },
        { "732123456", NULL, "250732123456" },
        { "250788123456", NULL, "250788123456" },
        { "250722123456", NULL, "250722123456" },
        { "+250788123456", NULL, "250788123456" },
        { "+250739000001", NULL, "250739000001" },
        { "00250788123456", NULL, "250788123456" },
        { "00250799999999", NULL, "250799999999" },
        { "+250 788 123 456", NULL, "250788123456" },
        { "078-812-3456", NULL, "250788123456" },
        { "(078) 812.3456", NULL, "250788123456" },
        { "(+250) 788 123 456", NULL, "250788123456" },
        { "  0788 123 456  ", NULL, "250788123456" },
        { "0788" NBSP "123" NBSP "456", NULL, "250788123456" },
        { "0788" NNBSP "123456", NULL, "250788123456" },
        { "+250-72-312-3456", NULL, "250723123456" },
        { "00 250 78.812.3456", NULL, "250788123456" },
    };

    (void)state;
    run_phone_rows(rows, ROWS(rows));
}

static void fields_phone_refusals_name_the_problem(void **state)
{
    static const struct phone_row rows[] = {
        { "", EMPTY, "" },
        { "    ", EMPTY, "" },
        { " - ( ) . ", EMPTY, "" },
        /* Each accepted length, one digit short and one over. */
        { "78812345", NOT_PHONE, "" },
        { "078812345", NOT_PHONE, "" },
        { "7881234567", NOT_PHONE, "" },
        { "07881234567", NOT_PHONE, "" },
        { "25078812345", NOT_PHONE, "" },
        { "2507881234567", NOT_PHONE, "" },
        { "+25078812345", NOT_PHONE, "" },
        { "+2507881234567", NOT_PHONE, "" },
        { "0025078812345", NOT_PHONE, "" },
        { "002507881234567", NOT_PHONE, "" },
        { "123456789012345678", NOT_PHONE, "" },
        /* Characters that have no place in a number. */
        { "7.88E+08", NOT_PHONE, "" },
        { "0788l23456", NOT_PHONE, "" },
        { "0788\t123456", NOT_PHONE, "" },
        { "0788_123456", NOT_PHONE, "" },
        { "0788123456/7", NOT_PHONE, "" },
        { "0788+123456", NOT_PHONE, "" },
        { "250+788123456", NOT_PHONE, "" },
        { "++250788123456", NOT_PHONE, "" },
        { "+", NOT_PHONE, "" },
        { "+0788123456", NOT_PHONE, "" },
        { "+250 0788 123 456", NOT_PHONE, "" },
        { "00 250 (0)78.812.3456", NOT_PHONE, "" },
        /* Numbers, but not ones on a network we can pay. */
        { "0748123456", NOT_MOBILE, "" },
        { "0758123456", NOT_MOBILE, "" },
        { "0712345678", NOT_MOBILE, "" },
        { "0888123456", NOT_MOBILE, "" },
        { "0252123456", NOT_MOBILE, "" },
        { "748123456", NOT_MOBILE, "" },
        { "250748123456", NOT_MOBILE, "" },
        { "+250252123456", NOT_MOBILE, "" },
        { "00250758123456", NOT_MOBILE, "" },
        { "+254712345678", NOT_MOBILE, "" },
        { "00256772123456", NOT_MOBILE, "" },
    };

    (void)state;
    run_phone_rows(rows, ROWS(rows));
}

struct amount_row {
    const char *in;
    long long min;
    long long max;
    const char *problem;
    long long value; /* 0 when refused */
};

static void run_amount_rows(const struct amount_row *rows, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        long long value = -1;
        const char *got =
            ingest_amount_parse(rows[i].in, rows[i].min, rows[i].max, &value);

        check_problem(i, rows[i].in, got, rows[i].problem);
        assert_int_equal(value, rows[i].value);
    }
}

static void fields_amount_forms_are_read_exactly(void **state)
{
    static const struct amount_row rows[] = {
        { "1500", DMIN, DMAX, NULL, 1500 },
        { "1,500", DMIN, DMAX, NULL, 1500 },
        { "1 500", DMIN, DMAX, NULL, 1500 },
        { "1" NBSP "500", DMIN, DMAX, NULL, 1500 },
        { "1" NNBSP "500", DMIN, DMAX, NULL, 1500 },
        { "1500.00", DMIN, DMAX, NULL, 1500 },
        { "1500.0", DMIN, DMAX, NULL, 1500 },
        { "1500,00", DMIN, DMAX, NULL, 1500 },
        { "1500,0", DMIN, DMAX, NULL, 1500 },
        { "1 500,00", DMIN, DMAX, NULL, 1500 },
        { "1,500.00", DMIN, DMAX, NULL, 1500 },
        { "1 500.00", DMIN, DMAX, NULL, 1500 },
        { "1" NBSP "500,00", DMIN, DMAX, NULL, 1500 },
        { "001500", DMIN, DMAX, NULL, 1500 },
        { "  1500  ", DMIN, DMAX, NULL, 1500 },
        { "\t1 500\t", DMIN, DMAX, NULL, 1500 },
        { "1,234,567", DMIN, DMAX, NULL, 1234567 },
        { "1 000 000", DMIN, DMAX, NULL, 1000000 },
        { "12,345", DMIN, DMAX, NULL, 12345 },
        { "123" NNBSP "456", DMIN, DMAX, NULL, 123456 },
        { "1234567", DMIN, DMAX, NULL, 1234567 },
        { "7", DMIN, DMAX, NULL, 7 },
    };

    (void)state;
    run_amount_rows(rows, ROWS(rows));
}

static void fields_amount_refusals_name_the_problem(void **state)
{
    static const struct amount_row rows[] = {
        { "", DMIN, DMAX, EMPTY, 0 },
        { "   ", DMIN, DMAX, EMPTY, 0 },
        { "\t \t", DMIN, DMAX, EMPTY, 0 },
        { "abc", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1e3", DMIN, DMAX, NOT_WHOLE, 0 },
        { "+1500", DMIN, DMAX, NOT_WHOLE, 0 },
        { "--5", DMIN, DMAX, NOT_WHOLE, 0 },
        { "-", DMIN, DMAX, NOT_WHOLE, 0 },
        { "- 1500", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1500-", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1500 RWF", DMIN, DMAX, NOT_WHOLE, 0 },
        { "RWF 1500", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1_500", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1'500", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1\t500", DMIN, DMAX, NOT_WHOLE, 0 },
        /* Grouping: first group 1-3 digits, then exactly 3, one kind. */
        { "1,50,0", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1,5000", DMIN, DMAX, NOT_WHOLE, 0 },
        { "15,00,000", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1234,567", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1234 567", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1,,500", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1  500", DMIN, DMAX, NOT_WHOLE, 0 },
        { ",500", DMIN, DMAX, NOT_WHOLE, 0 },
        { "0,500", DMIN, DMAX, NOT_WHOLE, 0 },
        { "01,500", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1,500 000", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1 500" NBSP "000", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1" NBSP "500" NNBSP "000", DMIN, DMAX, NOT_WHOLE, 0 },
        /* Decimal part: one or two digits, ending the value. */
        { ".5", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1500.", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1500,", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1.000", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1500.000", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1.500,00", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1,500,00", DMIN, DMAX, NOT_WHOLE, 0 },
        { "1500.0.0", DMIN, DMAX, NOT_WHOLE, 0 },
        /* Signs and fractions. */
        { "-1500", DMIN, DMAX, NEGATIVE, 0 },
        { "-1,500.00", DMIN, DMAX, NEGATIVE, 0 },
        { "-1.5", DMIN, DMAX, NEGATIVE, 0 },
        { "-0", DMIN, DMAX, NEGATIVE, 0 },
        { "1500.50", DMIN, DMAX, FRACTION, 0 },
        { "1500.01", DMIN, DMAX, FRACTION, 0 },
        { "1500.5", DMIN, DMAX, FRACTION, 0 },
        { "1,50", DMIN, DMAX, FRACTION, 0 },
        { "1,5", DMIN, DMAX, FRACTION, 0 },
        { "1500,05", DMIN, DMAX, FRACTION, 0 },
        { "1 500 000,5", DMIN, DMAX, FRACTION, 0 },
        { "0.50", DMIN, DMAX, FRACTION, 0 },
        /* Zero. */
        { "0", DMIN, DMAX, NOT_POSITIVE, 0 },
        { "000", DMIN, DMAX, NOT_POSITIVE, 0 },
        { "0.00", DMIN, DMAX, NOT_POSITIVE, 0 },
        { "0,0", DMIN, DMAX, NOT_POSITIVE, 0 },
    };

    (void)state;
    run_amount_rows(rows, ROWS(rows));
}

static void fields_amount_bounds_are_inclusive(void **state)
{
    static const struct amount_row rows[] = {
        { "0", DMIN, DMAX, NOT_POSITIVE, 0 },
        { "1", DMIN, DMAX, NULL, 1 },
        { "2", DMIN, DMAX, NULL, 2 },
        { "4999999", DMIN, DMAX, NULL, 4999999 },
        { "5000000", DMIN, DMAX, NULL, 5000000 },
        { "5,000,000.00", DMIN, DMAX, NULL, 5000000 },
        { "5000001", DMIN, DMAX, ABOVE_MAX, 0 },
        { "5 000 001", DMIN, DMAX, ABOVE_MAX, 0 },
        { "99", 100, 1000, BELOW_MIN, 0 },
        { "100", 100, 1000, NULL, 100 },
        { "1000", 100, 1000, NULL, 1000 },
        { "1001", 100, 1000, ABOVE_MAX, 0 },
        { "0", 100, 1000, NOT_POSITIVE, 0 },
        { "500", 500, 500, NULL, 500 },
        { "499", 500, 500, BELOW_MIN, 0 },
        { "501", 500, 500, ABOVE_MAX, 0 },
    };

    (void)state;
    run_amount_rows(rows, ROWS(rows));
}

static void fields_amount_never_overflows(void **state)
{
    static const struct amount_row rows[] = {
        { "999999999999999999", 1, LLONG_MAX, NULL, 999999999999999999LL },
        { "999,999,999,999,999,999", 1, LLONG_MAX, NULL, 999999999999999999LL },
        { "1000000000000000000", 1, LLONG_MAX, TOO_LARGE, 0 },
        { "1,000,000,000,000,000,000", 1, LLONG_MAX, TOO_LARGE, 0 },
        { "9223372036854775807", 1, LLONG_MAX, TOO_LARGE, 0 },
        { "9223372036854775808", 1, LLONG_MAX, TOO_LARGE, 0 },
        { "18446744073709551616", 1, LLONG_MAX, TOO_LARGE, 0 },
        { "99999999999999999999999999999999", 1, LLONG_MAX, TOO_LARGE, 0 },
        { "00000000000000000000000001500", DMIN, DMAX, NULL, 1500 },
        { "999999999999999999", DMIN, DMAX, ABOVE_MAX, 0 },
        { "-99999999999999999999", DMIN, DMAX, NEGATIVE, 0 },
        { "99999999999999999999.50", DMIN, DMAX, FRACTION, 0 },
    };

    (void)state;
    run_amount_rows(rows, ROWS(rows));
}

static void fields_charge_is_zero_or_an_amount(void **state)
{
    static const struct {
        const char *in;
        long long max;
        const char *problem;
        long long value;
    } rows[] = {
        { "", DMAX, NULL, 0 },
        { "   ", DMAX, NULL, 0 },
        { "\t", DMAX, NULL, 0 },
        { "0", DMAX, NULL, 0 },
        { "0.00", DMAX, NULL, 0 },
        { "500", DMAX, NULL, 500 },
        { " 1,000 ", DMAX, NULL, 1000 },
        { "1" NBSP "000,00", DMAX, NULL, 1000 },
        { "5000000", DMAX, NULL, 5000000 },
        { "5000001", DMAX, ABOVE_MAX, 0 },
        { "0", 0, NULL, 0 },
        { "1", 0, ABOVE_MAX, 0 },
        { "-100", DMAX, NEGATIVE, 0 },
        { "-0", DMAX, NEGATIVE, 0 },
        { "12.50", DMAX, FRACTION, 0 },
        { "abc", DMAX, NOT_WHOLE, 0 },
        { "1e2", DMAX, NOT_WHOLE, 0 },
        { "1,50,0", DMAX, NOT_WHOLE, 0 },
        { "99999999999999999999", LLONG_MAX, TOO_LARGE, 0 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ROWS(rows); i++) {
        long long value = -1;
        const char *got = ingest_charge_parse(rows[i].in, rows[i].max, &value);

        check_problem(i, rows[i].in, got, rows[i].problem);
        assert_int_equal(value, rows[i].value);
    }
}

static void fields_reference_is_trimmed_and_bounded(void **state)
{
    static const struct {
        const char *in;
        const char *problem;
        size_t start;
        size_t len;
    } rows[] = {
        { "INV-2026-0001", NULL, 0, 13 },
        { "  INV-1  ", NULL, 2, 5 },
        { "\tA\t", NULL, 1, 1 },
        { "a b", NULL, 0, 3 },
        { "R" E_ACUTE "f " EURO " " EMOJI, NULL, 0, 13 },
        { "a" NBSP "b", NULL, 0, 4 },
        { "", EMPTY, 0, 0 },
        { "   ", EMPTY, 3, 0 },
        { " \t ", EMPTY, 3, 0 },
        /* 64 characters pass, 65 do not, however many bytes each. */
        { X64, NULL, 0, 64 },
        { X64 "x", REF_TOO_LONG, 0, 65 },
        { "  " X64 "  ", NULL, 2, 64 },
        { E64, NULL, 0, 128 },
        { E64 E_ACUTE, REF_TOO_LONG, 0, 130 },
        { X63 EURO, NULL, 0, 66 },
        { X63 EMOJI, NULL, 0, 67 },
        { X64 EMOJI, REF_TOO_LONG, 0, 68 },
        /* Control characters: C0, DEL, C1; a tab inside the value. */
        { "ref\x01", CONTROL, 0, 4 },
        { "a\nb", CONTROL, 0, 3 },
        { "a\rb", CONTROL, 0, 3 },
        { "a\tb", CONTROL, 0, 3 },
        { "a\x1b[0m", CONTROL, 0, 5 },
        { "a\x7f", CONTROL, 0, 2 },
        { "a\xc2\x80", CONTROL, 0, 3 },
        { "a\xc2\x85", CONTROL, 0, 3 },
        { "\xc2\x9f", CONTROL, 0, 2 },
        { X64 "\n", CONTROL, 0, 65 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ROWS(rows); i++) {
        size_t start = 99;
        size_t len = 99;
        const char *got = ingest_reference_check(rows[i].in, &start, &len);

        check_problem(i, rows[i].in, got, rows[i].problem);
        assert_int_equal(start, rows[i].start);
        assert_int_equal(len, rows[i].len);
    }
}

struct bytes_row {
    const char *bytes;
    size_t len;
    const char *problem;
};

/* A literal and its length, NUL bytes included. */
#define B(s) s, sizeof(s) - 1

static void run_bytes_rows(const struct bytes_row *rows, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        check_problem(i, "(bytes)",
                      ingest_text_check(rows[i].bytes, rows[i].len),
                      rows[i].problem);
}

static void fields_text_check_accepts_utf8(void **state)
{
    static const struct bytes_row rows[] = {
        { B(""), NULL },
        { B("plain ASCII, with \x7f and \t"), NULL },
        { B(E_ACUTE), NULL },
        { B(EURO), NULL },
        { B(EMOJI), NULL },
        { B("\xc2\x80"), NULL },         /* U+0080, first of two bytes */
        { B("\xdf\xbf"), NULL },         /* U+07FF, last of two bytes */
        { B("\xe0\xa0\x80"), NULL },     /* U+0800, first of three */
        { B("\xed\x9f\xbf"), NULL },     /* U+D7FF, below the surrogates */
        { B("\xee\x80\x80"), NULL },     /* U+E000, above them */
        { B("\xef\xbf\xbf"), NULL },     /* U+FFFF, last of three */
        { B("\xf0\x90\x80\x80"), NULL }, /* U+10000, first of four */
        { B("\xf4\x8f\xbf\xbf"), NULL }, /* U+10FFFF, the last */
        { B("Mukamana " E_ACUTE "lise"), NULL },
    };

    (void)state;
    run_bytes_rows(rows, ROWS(rows));
}

static void fields_text_check_refuses_bad_bytes(void **state)
{
    static const struct bytes_row rows[] = {
        { B("\0"), NUL_BYTE },
        { B("ab\0cd"), NUL_BYTE },
        { B(E_ACUTE "\0"), NUL_BYTE },
        { B("\0\xff"), NUL_BYTE },
        { B("\xff\0"), NOT_UTF8 },
        /* Overlong forms. */
        { B("\xc0\x80"), NOT_UTF8 },
        { B("\xc1\xbf"), NOT_UTF8 },
        { B("\xe0\x80\x80"), NOT_UTF8 },
        { B("\xe0\x9f\xbf"), NOT_UTF8 },
        { B("\xf0\x80\x80\x80"), NOT_UTF8 },
        { B("\xf0\x8f\xbf\xbf"), NOT_UTF8 },
        /* Surrogates. */
        { B("\xed\xa0\x80"), NOT_UTF8 },
        { B("\xed\xbf\xbf"), NOT_UTF8 },
        /* Past U+10FFFF, and lead bytes that never occur. */
        { B("\xf4\x90\x80\x80"), NOT_UTF8 },
        { B("\xf5\x80\x80\x80"), NOT_UTF8 },
        { B("\xf8\x88\x80\x80\x80"), NOT_UTF8 },
        { B("\xfe"), NOT_UTF8 },
        { B("\xff"), NOT_UTF8 },
        /* Stray continuation bytes. */
        { B("\x80"), NOT_UTF8 },
        { B("a\xbf"), NOT_UTF8 },
        { B(E_ACUTE "\xa9"), NOT_UTF8 },
        /* Sequences cut short, at the end and inside. */
        { B("\xc3"), NOT_UTF8 },
        { B("a\xe2\x82"), NOT_UTF8 },
        { B("\xf0\x9f\x98"), NOT_UTF8 },
        { B("\xc3"
            "a"),
          NOT_UTF8 },
        { B("\xe2\x82"
            "a"),
          NOT_UTF8 },
        { B("\xf0\x9f"
            "ab"),
          NOT_UTF8 },
        /* Latin-1, the usual culprit. */
        { B("caf\xe9"), NOT_UTF8 },
    };

    (void)state;
    run_bytes_rows(rows, ROWS(rows));
}

static void fields_required_text_is_checked(void **state)
{
    static const struct {
        const char *in;
        size_t max;
        const char *problem;
    } rows[] = {
        { "Salary March", 64, NULL },
        { "  x  ", 1, NULL },
        { "Jean" NBSP "Claude", 64, NULL },
        { "", 64, EMPTY },
        { " \t ", 64, EMPTY },
        { "abc", 3, NULL },
        { "abcd", 3, TOO_LONG },
        { " abc ", 3, NULL },
        { E_ACUTE E_ACUTE E_ACUTE, 3, NULL },
        { E_ACUTE E_ACUTE E_ACUTE E_ACUTE, 3, TOO_LONG },
        { "a\nb", 64, CONTROL },
        { "a\rb", 64, CONTROL },
        { "a\x1b", 64, CONTROL },
        { "x\x7f", 64, CONTROL },
        { "\xc2\x80", 64, CONTROL },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ROWS(rows); i++)
        check_problem(i, rows[i].in,
                      ingest_required_text_check(rows[i].in, rows[i].max),
                      rows[i].problem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fields_phone_forms_become_canonical),
        cmocka_unit_test(fields_phone_refusals_name_the_problem),
        cmocka_unit_test(fields_amount_forms_are_read_exactly),
        cmocka_unit_test(fields_amount_refusals_name_the_problem),
        cmocka_unit_test(fields_amount_bounds_are_inclusive),
        cmocka_unit_test(fields_amount_never_overflows),
        cmocka_unit_test(fields_charge_is_zero_or_an_amount),
        cmocka_unit_test(fields_reference_is_trimmed_and_bounded),
        cmocka_unit_test(fields_text_check_accepts_utf8),
        cmocka_unit_test(fields_text_check_refuses_bad_bytes),
        cmocka_unit_test(fields_required_text_is_checked),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
