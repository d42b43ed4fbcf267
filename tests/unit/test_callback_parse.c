/*
 * Unit tests for callback/parse: the reference's callbacks verbatim, the
 * jsonpayload wrapper, form bodies, field types, amounts, hostile bodies
 * and every verdict. One row per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "callback/parse.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define FORM "application/x-www-form-urlencoded"
#define JSON "application/json"

/* The reference's pay_v2 callback, as printed there. */
static const char pay_callback[] =
    "{ \"status\": \"Successfull\", \"requesttransactionid\": \"4522233\", "
    "\"transactionid\": \"6004994884\", \"responsecode\": \"01\", "
    "\"statusdesc\": \"Successfully Processed Transaction\", "
    "\"referenceno\": \"312333883\" }";

/* The reference's deposit callback. */
static const char deposit_callback[] =
    "{ \"status\": \"Successfull\", \"requesttransactionid\": "
    "\"req_66b07f35025c42.26469791\", \"transactionid\": \"DEP000123456\", "
    "\"responsecode\": \"01\", \"statusdesc\": \"Deposit processed "
    "successfully\", \"referenceno\": \"INTREF202506160001\" }";

/* The reference's pending answer: transactionid is a number there. */
static const char pending_answer[] =
    "{ \"status\": \"Pending\", \"requesttransactionid\": \"4522233\", "
    "\"success\": true, \"responsecode\": \"1000\", \"transactionid\": 1425, "
    "\"message\": \"Transaction Pending\" }";

/* What the PHP and Python examples would send for pay_callback. */
static const char pay_form[] =
    "status=Successfull&requesttransactionid=4522233"
    "&transactionid=6004994884&responsecode=01"
    "&statusdesc=Successfully+Processed+Transaction&referenceno=312333883";

static enum payq_err parse(const char *body, const char *content_type,
                           struct callback_fields *f)
{
    return callback_parse(body, strlen(body), content_type, f);
}

static void expect_pay_callback(const struct callback_fields *f)
{
    assert_string_equal(f->status, "Successfull");
    assert_string_equal(f->request_txn_id, "4522233");
    assert_string_equal(f->transaction_id, "6004994884");
    assert_string_equal(f->code, "01");
    assert_string_equal(f->status_desc, "Successfully Processed Transaction");
    assert_string_equal(f->reference_no, "312333883");
    assert_false(f->has_amount);
    assert_int_equal(callback_verdict_of(f), CALLBACK_SUCCESS);
}

static void callback_parse_reference_pay(void **state)
{
    static const char *const types[] = { NULL, JSON,
                                         "Application/JSON; charset=UTF-8",
                                         "text/plain", FORM };
    struct callback_fields f;
    size_t i;

    (void)state;
    /* FORM too: a form type with a '{' body is mislabelled JSON. */
    for (i = 0; i < COUNT(types); i++) {
        assert_int_equal(parse(pay_callback, types[i], &f), PAYQ_OK);
        expect_pay_callback(&f);
    }
}

static void callback_parse_reference_deposit(void **state)
{
    struct callback_fields f;

    (void)state;
    assert_int_equal(parse(deposit_callback, NULL, &f), PAYQ_OK);
    assert_string_equal(f.status, "Successfull");
    assert_string_equal(f.request_txn_id, "req_66b07f35025c42.26469791");
    assert_string_equal(f.transaction_id, "DEP000123456");
    assert_string_equal(f.code, "01");
    assert_string_equal(f.status_desc, "Deposit processed successfully");
    assert_string_equal(f.reference_no, "INTREF202506160001");
    assert_int_equal(callback_verdict_of(&f), CALLBACK_SUCCESS);
}

static void callback_parse_numbers_as_ids(void **state)
{
    struct callback_fields f;

    (void)state;
    assert_int_equal(parse(pending_answer, NULL, &f), PAYQ_OK);
    assert_string_equal(f.transaction_id, "1425");
    assert_string_equal(f.code, "1000");
    assert_string_equal(f.status_desc, "Transaction Pending");
    assert_int_equal(callback_verdict_of(&f), CALLBACK_PENDING);

    assert_int_equal(parse("{\"requesttransactionid\":4522233,"
                           "\"transactionid\":6004994884,"
                           "\"referenceno\":-7,\"responsecode\":1005}",
                           JSON, &f),
                     PAYQ_OK);
    assert_string_equal(f.request_txn_id, "4522233");
    assert_string_equal(f.transaction_id, "6004994884");
    assert_string_equal(f.reference_no, "-7");
    assert_string_equal(f.code, "1005");
    assert_int_equal(callback_verdict_of(&f), CALLBACK_FAILURE);

    /* A numeric 01 arrives as 1, which is not "01": never success. */
    assert_int_equal(
        parse("{\"status\":\"Successfull\",\"responsecode\":1}", NULL, &f),
        PAYQ_OK);
    assert_string_equal(f.code, "1");
    assert_int_equal(callback_verdict_of(&f), CALLBACK_UNCLEAR);
}

static void callback_parse_jsonpayload(void **state)
{
    static const struct {
        const char *body;
        enum payq_err err;
    } cases[] = {
        { "{\"jsonpayload\": { \"status\": \"Successfull\", "
          "\"requesttransactionid\": \"4522233\", \"transactionid\": "
          "\"6004994884\", \"responsecode\": \"01\", \"statusdesc\": "
          "\"Successfully Processed Transaction\", \"referenceno\": "
          "\"312333883\" }}",
          PAYQ_OK },
        { "{\"jsonpayload\":\"{ \\\"status\\\": \\\"Successfull\\\", "
          "\\\"requesttransactionid\\\": \\\"4522233\\\", "
          "\\\"transactionid\\\": \\\"6004994884\\\", \\\"responsecode\\\": "
          "\\\"01\\\", \\\"statusdesc\\\": \\\"Successfully Processed "
          "Transaction\\\", \\\"referenceno\\\": \\\"312333883\\\" }\"}",
          PAYQ_OK },
        /* unknown keys beside the payload are ignored */
        { "{\"jsonpayload\": { \"status\": \"Successfull\", "
          "\"requesttransactionid\": \"4522233\", \"transactionid\": "
          "\"6004994884\", \"responsecode\": \"01\", \"statusdesc\": "
          "\"Successfully Processed Transaction\", \"referenceno\": "
          "\"312333883\" }, \"sent\": \"2025-06-16\"}",
          PAYQ_OK },
        /* a known field beside the payload: two answers, refused */
        { "{\"jsonpayload\":{\"status\":\"Failed\"},"
          "\"status\":\"Successfull\"}",
          PAYQ_ERR_DATA },
        { "{\"jsonpayload\":42}", PAYQ_ERR_DATA },
        { "{\"jsonpayload\":[{\"status\":\"Successfull\"}]}", PAYQ_ERR_DATA },
        { "{\"jsonpayload\":\"[1]\"}", PAYQ_ERR_DATA },
        { "{\"jsonpayload\":\"{\\\"status\\\":\"}", PAYQ_ERR_DATA },
        { "{\"jsonpayload\":\"status=Successfull\"}", PAYQ_ERR_DATA },
        { "{\"jsonpayload\":\"{\\\"status\\\":[1]}\"}", PAYQ_ERR_DATA },
    };
    struct callback_fields f;
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        if (parse(cases[i].body, NULL, &f) != cases[i].err)
            fail_msg("row %zu: %s", i, cases[i].body);
        if (cases[i].err == PAYQ_OK)
            expect_pay_callback(&f);
    }

    /* Unwrapped once only: an inner wrapper is just an unknown key. */
    assert_int_equal(parse("{\"jsonpayload\":{\"jsonpayload\":"
                           "{\"status\":\"Successfull\"}}}",
                           NULL, &f),
                     PAYQ_OK);
    assert_string_equal(f.status, "");
    assert_int_equal(callback_verdict_of(&f), CALLBACK_UNCLEAR);
}

static void callback_parse_form(void **state)
{
    struct callback_fields f;

    (void)state;
    assert_int_equal(parse(pay_form, FORM, &f), PAYQ_OK);
    expect_pay_callback(&f);
    assert_int_equal(parse(pay_form, NULL, &f), PAYQ_OK);
    expect_pay_callback(&f);
    assert_int_equal(parse(pay_form, "text/plain", &f), PAYQ_OK);
    expect_pay_callback(&f);
    /* Declared JSON, it is read as JSON only. */
    assert_int_equal(parse(pay_form, JSON, &f), PAYQ_ERR_DATA);

    assert_int_equal(parse("st%61tus=Pending&statusdesc=d%C3%A9j%C3%A0%20vu"
                           "&amount=1500&x=%7B%7D&&responsecode=1000\r\n",
                           FORM "; charset=utf-8", &f),
                     PAYQ_OK);
    assert_string_equal(f.status, "Pending");
    assert_string_equal(f.status_desc, "d\xC3\xA9j\xC3\xA0 vu");
    assert_true(f.has_amount);
    assert_int_equal(f.amount, 1500);
    assert_int_equal(callback_verdict_of(&f), CALLBACK_PENDING);
}

static void callback_parse_form_rules(void **state)
{
    static const struct {
        const char *body;
        enum payq_err err;
        const char *status;
    } cases[] = {
        { "status=Failed&status=Successfull", PAYQ_OK, "Failed" },
        { "status=Failed&st%61tus=Successfull", PAYQ_OK, "Failed" },
        /* the ignored repeat is not even read */
        { "status=Failed&status=%FF", PAYQ_OK, "Failed" },
        { "unknown=1&status=Failed", PAYQ_OK, "Failed" },
        { "status=", PAYQ_OK, "" },
        { "=x&status=Failed", PAYQ_OK, "Failed" },
        { "status=Failed&", PAYQ_OK, "Failed" },
        { "status=a=b", PAYQ_OK, "a=b" },
        { "status=%2x", PAYQ_ERR_DATA, "" },
        { "status=%2", PAYQ_ERR_DATA, "" },
        { "status=%", PAYQ_ERR_DATA, "" },
        { "status=%00", PAYQ_ERR_DATA, "" },
        { "status=%0A", PAYQ_ERR_DATA, "" },
        { "status=%7F", PAYQ_ERR_DATA, "" },
        { "status=%C2%85", PAYQ_ERR_DATA, "" }, /* C1 NEL */
        { "status=%FF", PAYQ_ERR_DATA, "" },
        { "status=%C3", PAYQ_ERR_DATA, "" },
        { "status=a b", PAYQ_ERR_DATA, "" },
        { "status=\"x\"", PAYQ_ERR_DATA, "" },
        { "status=\xC3\xA9", PAYQ_ERR_DATA, "" }, /* raw non-ASCII */
        { "status", PAYQ_ERR_DATA, "" },
        { "status=Failed&flag", PAYQ_ERR_DATA, "" },
        { "hello", PAYQ_ERR_DATA, "" },
        { "&&&", PAYQ_ERR_DATA, "" },
        { "  \r\n", PAYQ_ERR_DATA, "" },
    };
    struct callback_fields f;
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        if (parse(cases[i].body, FORM, &f) != cases[i].err)
            fail_msg("row %zu: %s", i, cases[i].body);
        assert_string_equal(f.status, cases[i].status);
    }
}

static void callback_parse_form_pair_limit(void **state)
{
    char body[1024];
    struct callback_fields f;
    size_t len = 0;
    int i;

    (void)state;
    for (i = 0; i < 31; i++)
        len += (size_t)snprintf(body + len, sizeof(body) - len, "k%d=v&", i);
    len += (size_t)snprintf(body + len, sizeof(body) - len, "status=Failed");
    assert_int_equal(callback_parse(body, len, FORM, &f), PAYQ_OK);
    assert_string_equal(f.status, "Failed");
    snprintf(body + len, sizeof(body) - len, "&one=more");
    assert_int_equal(parse(body, FORM, &f), PAYQ_ERR_DATA);
}

static void callback_parse_amounts(void **state)
{
    static const struct {
        const char *json; /* the value of "amount" */
        enum payq_err err;
        bool has_amount;
        long long amount;
    } cases[] = {
        { "1500", PAYQ_OK, true, 1500 },
        { "\"1500\"", PAYQ_OK, true, 1500 },
        { "\"1500.0\"", PAYQ_OK, true, 1500 },
        { "\"1500.00\"", PAYQ_OK, true, 1500 },
        { "1500.0", PAYQ_OK, true, 1500 },
        { "1", PAYQ_OK, true, 1 },
        { "9999999999999", PAYQ_OK, true, 9999999999999LL },
        { "\"9999999999999\"", PAYQ_OK, true, 9999999999999LL },
        { "null", PAYQ_OK, false, 0 },
        { "\"\"", PAYQ_OK, false, 0 },
        { "\"15.5\"", PAYQ_ERR_DATA, false, 0 },
        { "15.5", PAYQ_ERR_DATA, false, 0 },
        { "\"1500.\"", PAYQ_ERR_DATA, false, 0 },
        { "\"1500.000\"", PAYQ_ERR_DATA, false, 0 },
        { "\"1500.01\"", PAYQ_ERR_DATA, false, 0 },
        { "\".0\"", PAYQ_ERR_DATA, false, 0 },
        { "0", PAYQ_ERR_DATA, false, 0 },
        { "\"0\"", PAYQ_ERR_DATA, false, 0 },
        { "-5", PAYQ_ERR_DATA, false, 0 },
        { "\"-5\"", PAYQ_ERR_DATA, false, 0 },
        { "\" 1500\"", PAYQ_ERR_DATA, false, 0 },
        { "\"1,500\"", PAYQ_ERR_DATA, false, 0 },
        { "\"1e3\"", PAYQ_ERR_DATA, false, 0 },
        { "1e3", PAYQ_OK, true, 1000 }, /* a JSON real, whole */
        { "10000000000000", PAYQ_ERR_DATA, false, 0 },
        { "\"10000000000000\"", PAYQ_ERR_DATA, false, 0 },
        { "\"00000000000001500\"", PAYQ_ERR_DATA, false, 0 },
        { "1e300", PAYQ_ERR_DATA, false, 0 },
        { "true", PAYQ_ERR_DATA, false, 0 },
        { "[1500]", PAYQ_ERR_DATA, false, 0 },
        { "{\"rwf\":1500}", PAYQ_ERR_DATA, false, 0 },
    };
    struct callback_fields f;
    char body[128];
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        snprintf(body, sizeof(body), "{\"status\":\"Failed\",\"amount\":%s}",
                 cases[i].json);
        if (parse(body, NULL, &f) != cases[i].err ||
            f.has_amount != cases[i].has_amount || f.amount != cases[i].amount)
            fail_msg("row %zu: amount %s", i, cases[i].json);
    }
    assert_int_equal(parse("amount=1500.00", FORM, &f), PAYQ_OK);
    assert_int_equal(f.amount, 1500);
    assert_int_equal(parse("amount=15.5", FORM, &f), PAYQ_ERR_DATA);
    assert_false(f.has_amount);
}

static void callback_parse_field_types(void **state)
{
    static const struct {
        const char *body;
        enum payq_err err;
    } cases[] = {
        { "{\"status\":null}", PAYQ_OK },
        { "{\"status\":\"\"}", PAYQ_OK },
        { "{}", PAYQ_OK },
        { "{\"other\":[{\"a\":[1,{}]}]}", PAYQ_OK }, /* unknown: ignored */
        { "{\"status\":[\"Successfull\"]}", PAYQ_ERR_DATA },
        { "{\"status\":{\"text\":\"Successfull\"}}", PAYQ_ERR_DATA },
        { "{\"status\":true}", PAYQ_ERR_DATA },
        { "{\"responsecode\":1.0}", PAYQ_ERR_DATA },
        { "{\"transactionid\":1425.5}", PAYQ_ERR_DATA },
        { "{\"transactionid\":[1425]}", PAYQ_ERR_DATA },
        { "{\"referenceno\":{}}", PAYQ_ERR_DATA },
        { "{\"statusdesc\":false}", PAYQ_ERR_DATA },
        { "{\"message\":[\"x\"]}", PAYQ_ERR_DATA },
        { "{\"requesttransactionid\":{\"id\":1}}", PAYQ_ERR_DATA },
    };
    struct callback_fields f;
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++)
        if (parse(cases[i].body, NULL, &f) != cases[i].err)
            fail_msg("row %zu: %s", i, cases[i].body);
}

static void callback_parse_description(void **state)
{
    char body[1024];
    struct callback_fields f;
    size_t len;
    int i;

    (void)state;
    assert_int_equal(
        parse("{\"statusdesc\":\"a\",\"message\":\"b\"}", NULL, &f), PAYQ_OK);
    assert_string_equal(f.status_desc, "a");
    assert_int_equal(parse("{\"statusdesc\":null,\"message\":\"b\"}", NULL, &f),
                     PAYQ_OK);
    assert_string_equal(f.status_desc, "b");
    assert_int_equal(parse("message=b&statusdesc=a", FORM, &f), PAYQ_OK);
    assert_string_equal(f.status_desc, "a");

    /* 300 two-byte characters: cut to 254 bytes, not mid-character. */
    len = (size_t)snprintf(body, sizeof(body), "{\"statusdesc\":\"");
    for (i = 0; i < 300; i++)
        len += (size_t)snprintf(body + len, sizeof(body) - len, "\xC3\xA9");
    snprintf(body + len, sizeof(body) - len, "\"}");
    assert_int_equal(parse(body, NULL, &f), PAYQ_OK);
    assert_int_equal(strlen(f.status_desc), 254);
    assert_int_equal((unsigned char)f.status_desc[253], 0xA9);
}

static void callback_parse_id_lengths(void **state)
{
    static const char id64[] =
        "1234567890123456789012345678901234567890123456789012345678901234";
    char body[256];
    struct callback_fields f;

    (void)state;
    snprintf(body, sizeof(body), "{\"transactionid\":\"%s\"}", id64);
    assert_int_equal(parse(body, NULL, &f), PAYQ_OK);
    assert_string_equal(f.transaction_id, id64);
    snprintf(body, sizeof(body), "{\"transactionid\":\"%s5\"}", id64);
    assert_int_equal(parse(body, NULL, &f), PAYQ_ERR_DATA);
    /* 70 characters, as the brief's hostile example. */
    snprintf(body, sizeof(body), "{\"requesttransactionid\":\"%s567890\"}",
             id64);
    assert_int_equal(parse(body, NULL, &f), PAYQ_ERR_DATA);
    snprintf(body, sizeof(body), "status=%s567890", id64);
    assert_int_equal(parse(body, FORM, &f), PAYQ_ERR_DATA);
    /* Counted after decoding: 64 escapes are 64 bytes. */
    snprintf(body, sizeof(body), "status=");
    while (strlen(body) < 7 + 64 * 3)
        snprintf(body + strlen(body), sizeof(body) - strlen(body), "%%41");
    assert_int_equal(parse(body, FORM, &f), PAYQ_OK);
    assert_int_equal(strlen(f.status), 64);
}

static void callback_parse_hostile(void **state)
{
    static const struct {
        const char *body;
        size_t len; /* 0: strlen(body) */
        enum payq_err err;
    } cases[] = {
        { "{\"status\":\"Successfull\",\"responsecode\":\"0", 0,
          PAYQ_ERR_DATA },
        { "{\"status\":\"Successfull\"", 0, PAYQ_ERR_DATA },
        { "{", 0, PAYQ_ERR_DATA },
        { "[{\"status\":\"Successfull\"}]", 0, PAYQ_ERR_DATA },
        { "\"Successfull\"", 0, PAYQ_ERR_DATA },
        { "42", 0, PAYQ_ERR_DATA },
        { "null", 0, PAYQ_ERR_DATA },
        { "<html>502 Bad Gateway</html>", 0, PAYQ_ERR_DATA },
        { "{\"status\":\"Failed\",\"status\":\"Successfull\"}", 0,
          PAYQ_ERR_DATA },
        { "{\"status\":\"Succ\xC3\x28ssfull\"}", 0, PAYQ_ERR_DATA },
        { "{\"status\":\"\xFF\xFE\"}", 0, PAYQ_ERR_DATA },
        { "{\"status\":\"\xED\xA0\x80\"}", 0, PAYQ_ERR_DATA }, /* surrogate */
        { "{\"status\":\"\\ud800\"}", 0, PAYQ_ERR_DATA },
        { "{\"status\":\"Success\\u0000full\"}", 0, PAYQ_ERR_DATA },
        { "{\"status\":\"Success\\u0007\"}", 0, PAYQ_ERR_DATA },
        { "{\"status\":\"Success\\n\"}", 0, PAYQ_ERR_DATA },
        { "{\"status\":\"Success\\u007f\"}", 0, PAYQ_ERR_DATA },
        { "{\"statusdesc\":\"a\\u009bb\"}", 0, PAYQ_ERR_DATA },
        { "{\"status\":\"Success\tx\"}", 0, PAYQ_ERR_DATA },
        /* NUL bytes inside the body, counted in len */
        { "{\"status\":\"Succ\0essfull\"}", 25, PAYQ_ERR_DATA },
        { "{\"status\":\"Successfull\"}\0", 25, PAYQ_ERR_DATA },
        { "\0{\"status\":\"Successfull\"}", 25, PAYQ_ERR_DATA },
        { "status=Succ\0essfull", 19, PAYQ_ERR_DATA },
        /* deep nesting, in an unknown field: 8 levels pass, 9 do not */
        { "{\"x\":[[[[[[{}]]]]]]}", 0, PAYQ_OK },
        { "{\"x\":[[[[[[[{}]]]]]]]}", 0, PAYQ_ERR_DATA },
        { "{\"x\":\"[[[[[[[[[[[[\"}", 0, PAYQ_OK }, /* only text */
        { "", 0, PAYQ_ERR_DATA },
        { "   ", 0, PAYQ_ERR_DATA },
        { "\xEF\xBB\xBF{\"status\":\"Failed\"}", 0, PAYQ_OK },
    };
    struct callback_fields f;
    size_t len;
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].body);
        if (callback_parse(cases[i].body, len, NULL, &f) != cases[i].err)
            fail_msg("row %zu: %s", i, cases[i].body);
    }
    assert_int_equal(callback_parse(NULL, 0, NULL, &f), PAYQ_ERR_DATA);
}

static void callback_parse_deep_nesting(void **state)
{
    enum { DEPTH = CALLBACK_BODY_MAX / 2 }; /* within the cap */
    char *body = malloc(2 * DEPTH);
    struct callback_fields f;

    (void)state;
    assert_non_null(body);
    memset(body, '[', DEPTH);
    memset(body + DEPTH, ']', DEPTH);
    assert_int_equal(callback_parse(body, 2 * DEPTH, NULL, &f), PAYQ_ERR_DATA);
    memset(body, '{', 2 * DEPTH);
    assert_int_equal(callback_parse(body, 2 * DEPTH, JSON, &f), PAYQ_ERR_DATA);
    free(body);
}

/* The cap: CALLBACK_BODY_MAX bytes are read, one more is refused. */
static void callback_parse_size_cap(void **state)
{
    const char *json = "{\"status\":\"Failed\"}";
    char *body = malloc(CALLBACK_BODY_MAX + 1);
    struct callback_fields f;

    (void)state;
    assert_non_null(body);
    memset(body, ' ', CALLBACK_BODY_MAX + 1);
    memcpy(body, json, strlen(json));
    assert_int_equal(callback_parse(body, CALLBACK_BODY_MAX, NULL, &f),
                     PAYQ_OK);
    assert_string_equal(f.status, "Failed");
    assert_int_equal(callback_parse(body, CALLBACK_BODY_MAX + 1, NULL, &f),
                     PAYQ_ERR_TOO_LARGE);
    assert_string_equal(f.status, "");
    free(body);
}

/* Exact-size heap copies: AddressSanitizer sees any read past len. */
static void callback_parse_reads_only_len(void **state)
{
    static const char *const bodies[] = { pay_callback, pay_form, "status=%4",
                                          "{\"status\":\"P", "amount=15" };
    struct callback_fields f;
    char *copy;
    size_t len;
    size_t i;
    enum payq_err err;

    (void)state;
    for (i = 0; i < COUNT(bodies); i++) {
        len = strlen(bodies[i]);
        copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, bodies[i], len);
        err = callback_parse(copy, len, NULL, &f);
        free(copy);
        assert_int_equal(err, i < 2 || i == 4 ? PAYQ_OK : PAYQ_ERR_DATA);
    }
    /* A valid prefix of a longer buffer is read as the prefix alone. */
    assert_int_equal(callback_parse("status=Failed&status=x", 13, FORM, &f),
                     PAYQ_OK);
    assert_string_equal(f.status, "Failed");
    assert_int_equal(
        callback_parse("{\"status\":\"Failed\"}junk", 19, NULL, &f), PAYQ_OK);
}

static void callback_parse_failure_empties_out(void **state)
{
    struct callback_fields f;

    (void)state;
    memset(&f, 'x', sizeof(f));
    /* status is good, the later amount is not: nothing is kept. */
    assert_int_equal(parse("{\"status\":\"Successfull\",\"responsecode\":"
                           "\"01\",\"amount\":\"15.5\"}",
                           NULL, &f),
                     PAYQ_ERR_DATA);
    assert_string_equal(f.status, "");
    assert_string_equal(f.code, "");
    assert_string_equal(f.status_desc, "");
    assert_false(f.has_amount);
    assert_int_equal(callback_verdict_of(&f), CALLBACK_UNCLEAR);
}

static void callback_verdict_cases(void **state)
{
    static const struct {
        const char *status;
        const char *code;
        enum callback_verdict verdict;
    } cases[] = {
        { "Successfull", "01", CALLBACK_SUCCESS },
        { "SUCCESSFULL", "01", CALLBACK_SUCCESS },
        { "successful", "01", CALLBACK_SUCCESS },
        { "Success", "01", CALLBACK_SUCCESS },
        { "Successfull", "", CALLBACK_SUCCESS },
        { "sUcCeSs", "", CALLBACK_SUCCESS },
        { "", "01", CALLBACK_SUCCESS },
        { "Success", "1005", CALLBACK_UNCLEAR },
        { "Successfull", "2700", CALLBACK_UNCLEAR },
        { "Successfull", "1000", CALLBACK_UNCLEAR },
        { "Successfull", "1", CALLBACK_UNCLEAR },
        { "Done", "", CALLBACK_UNCLEAR },
        { "Done", "01", CALLBACK_UNCLEAR },
        { "OK", "01", CALLBACK_UNCLEAR },
        { "Successfully", "01", CALLBACK_UNCLEAR },
        { "Succes", "", CALLBACK_UNCLEAR },
        { "Successfull ", "01", CALLBACK_UNCLEAR },
        { " Success", "", CALLBACK_UNCLEAR },
        { "Failed", "1005", CALLBACK_FAILURE },
        { "failed", "1002", CALLBACK_FAILURE },
        { "error", "2700", CALLBACK_FAILURE },
        { "FAILURE", "1008", CALLBACK_FAILURE },
        { "", "1005", CALLBACK_FAILURE },
        { "Declined", "1005", CALLBACK_UNCLEAR },
        { "Rejected", "1002", CALLBACK_UNCLEAR },
        { "Failed", "01", CALLBACK_UNCLEAR },
        { "Failed", "", CALLBACK_UNCLEAR },
        { "Failed", "1000", CALLBACK_UNCLEAR },
        { "Pending", "1000", CALLBACK_PENDING },
        { "PENDING", "", CALLBACK_PENDING },
        { "pending", "", CALLBACK_PENDING },
        { "", "1000", CALLBACK_PENDING },
        { "Processing", "1000", CALLBACK_UNCLEAR },
        { "Pending", "01", CALLBACK_UNCLEAR },
        { "Pending", "1005", CALLBACK_UNCLEAR },
        { "", "", CALLBACK_UNCLEAR },
    };
    struct callback_fields f;
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        memset(&f, 0, sizeof(f));
        snprintf(f.status, sizeof(f.status), "%s", cases[i].status);
        snprintf(f.code, sizeof(f.code), "%s", cases[i].code);
        if (callback_verdict_of(&f) != cases[i].verdict)
            fail_msg("row %zu: status '%s' code '%s' gave %s", i,
                     cases[i].status, cases[i].code,
                     callback_verdict_name(callback_verdict_of(&f)));
    }
}

static void callback_verdict_names(void **state)
{
    (void)state;
    assert_string_equal(callback_verdict_name(CALLBACK_SUCCESS), "success");
    assert_string_equal(callback_verdict_name(CALLBACK_FAILURE), "failure");
    assert_string_equal(callback_verdict_name(CALLBACK_PENDING), "pending");
    assert_string_equal(callback_verdict_name(CALLBACK_UNCLEAR), "unclear");
    assert_string_equal(callback_verdict_name((enum callback_verdict)99),
                        "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(callback_parse_reference_pay),
        cmocka_unit_test(callback_parse_reference_deposit),
        cmocka_unit_test(callback_parse_numbers_as_ids),
        cmocka_unit_test(callback_parse_jsonpayload),
        cmocka_unit_test(callback_parse_form),
        cmocka_unit_test(callback_parse_form_rules),
        cmocka_unit_test(callback_parse_form_pair_limit),
        cmocka_unit_test(callback_parse_amounts),
        cmocka_unit_test(callback_parse_field_types),
        cmocka_unit_test(callback_parse_description),
        cmocka_unit_test(callback_parse_id_lengths),
        cmocka_unit_test(callback_parse_hostile),
        cmocka_unit_test(callback_parse_deep_nesting),
        cmocka_unit_test(callback_parse_size_cap),
        cmocka_unit_test(callback_parse_reads_only_len),
        cmocka_unit_test(callback_parse_failure_empties_out),
        cmocka_unit_test(callback_verdict_cases),
        cmocka_unit_test(callback_verdict_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
