/*
 * Unit tests for upstream/response: every field in each type the
 * provider may send, status spellings, error bodies, unreadable bodies
 * and Retry-After. One row per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "upstream/response.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void parse(const char *text, struct upstream_response *resp)
{
    upstream_response_init(resp);
    upstream_response_parse(text, text != NULL ? strlen(text) : 0, resp);
}

static void response_code_as_string_or_number(void **state)
{
    static const struct {
        const char *body;
        enum upstream_field field;
        const char *code;
        bool from_number;
    } cases[] = {
        { "{\"responsecode\":\"01\"}", UPSTREAM_FIELD_OK, "01", false },
        { "{\"responsecode\":\"1000\"}", UPSTREAM_FIELD_OK, "1000", false },
        { "{\"responsecode\":\"0002\"}", UPSTREAM_FIELD_OK, "0002", false },
        { "{\"responsecode\":\" 2400 \"}", UPSTREAM_FIELD_OK, "2400", false },
        { "{\"responsecode\":1000}", UPSTREAM_FIELD_OK, "1000", true },
        { "{\"responsecode\":1}", UPSTREAM_FIELD_OK, "1", true },
        { "{\"responsecode\":2}", UPSTREAM_FIELD_OK, "2", true },
        { "{\"responsecode\":1000.0}", UPSTREAM_FIELD_OK, "1000", true },
        { "{\"responsecode\":1000.5}", UPSTREAM_FIELD_INVALID, "", false },
        { "{\"responsecode\":-1}", UPSTREAM_FIELD_INVALID, "", false },
        { "{\"responsecode\":true}", UPSTREAM_FIELD_INVALID, "", false },
        { "{\"responsecode\":null}", UPSTREAM_FIELD_INVALID, "", false },
        { "{\"responsecode\":{\"a\":1}}", UPSTREAM_FIELD_INVALID, "", false },
        { "{\"responsecode\":\"\"}", UPSTREAM_FIELD_INVALID, "", false },
        { "{\"responsecode\":\"1234567890123456\"}", UPSTREAM_FIELD_INVALID, "",
          false },
        { "{\"status\":\"error\"}", UPSTREAM_FIELD_ABSENT, "", false },
    };
    struct upstream_response resp;
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        parse(cases[i].body, &resp);
        assert_int_equal(resp.body, UPSTREAM_BODY_OBJECT);
        if (resp.code_field != cases[i].field)
            fail_msg("row %zu: %s", i, cases[i].body);
        assert_string_equal(resp.code, cases[i].code);
        assert_int_equal(resp.code_from_number, cases[i].from_number);
    }
}

static void response_transactionid_as_string_or_number(void **state)
{
    static const struct {
        const char *body;
        const char *provider_txn_id;
    } cases[] = {
        { "{\"transactionid\":1425}", "1425" },
        { "{\"transactionid\":\"6004994884\"}", "6004994884" },
        { "{\"transactionid\":\"DEP000123456\"}", "DEP000123456" },
        { "{\"transactionid\":6004994884}", "6004994884" },
        { "{\"transactionid\":1425.5}", "" },
        { "{\"transactionid\":[1]}", "" },
        { "{\"transactionid\":\"1234567890123456789012345678901234567890"
          "12345678901234567890123456\"}",
          "" }, /* 66 bytes: dropped */
        { "{}", "" },
    };
    struct upstream_response resp;
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        parse(cases[i].body, &resp);
        assert_string_equal(resp.provider_txn_id, cases[i].provider_txn_id);
    }
}

static void response_status_spellings(void **state)
{
    static const struct {
        const char *status;
        enum upstream_status_word word;
    } cases[] = {
        { "\"Successfull\"", UPSTREAM_STATUS_SUCCESS },
        { "\"Successful\"", UPSTREAM_STATUS_SUCCESS },
        { "\"SUCCESSFULL\"", UPSTREAM_STATUS_SUCCESS },
        { "\"successful\"", UPSTREAM_STATUS_SUCCESS },
        { "\"success\"", UPSTREAM_STATUS_SUCCESS },
        { "\" Success \"", UPSTREAM_STATUS_SUCCESS },
        { "\"Pending\"", UPSTREAM_STATUS_PENDING },
        { "\"PENDING\"", UPSTREAM_STATUS_PENDING },
        { "\"error\"", UPSTREAM_STATUS_FAILURE },
        { "\"Failed\"", UPSTREAM_STATUS_FAILURE },
        { "\"FAILURE\"", UPSTREAM_STATUS_FAILURE },
        { "\"Successfully\"", UPSTREAM_STATUS_OTHER },
        { "\"Succes\"", UPSTREAM_STATUS_OTHER },
        { "\"Processing\"", UPSTREAM_STATUS_OTHER },
        { "\"\"", UPSTREAM_STATUS_OTHER },
        { "true", UPSTREAM_STATUS_OTHER },
        { "1", UPSTREAM_STATUS_OTHER },
    };
    struct upstream_response resp;
    char body[128];
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        snprintf(body, sizeof(body), "{\"status\":%s}", cases[i].status);
        parse(body, &resp);
        if (resp.status_word != cases[i].word)
            fail_msg("row %zu: %s read as %s", i, body,
                     upstream_status_word_name(resp.status_word));
    }
    parse("{}", &resp);
    assert_int_equal(resp.status_word, UPSTREAM_STATUS_ABSENT);
}

static void response_success_flag(void **state)
{
    static const struct {
        const char *body;
        enum upstream_field field;
        bool value;
    } cases[] = {
        { "{\"success\":true}", UPSTREAM_FIELD_OK, true },
        { "{\"success\":false}", UPSTREAM_FIELD_OK, false },
        { "{\"success\":\"true\"}", UPSTREAM_FIELD_INVALID, false },
        { "{\"success\":1}", UPSTREAM_FIELD_INVALID, false },
        { "{\"success\":null}", UPSTREAM_FIELD_INVALID, false },
        { "{}", UPSTREAM_FIELD_ABSENT, false },
    };
    struct upstream_response resp;
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        parse(cases[i].body, &resp);
        assert_int_equal(resp.success_field, cases[i].field);
        assert_int_equal(resp.success, cases[i].value);
    }
}

static void response_documented_examples(void **state)
{
    struct upstream_response resp;

    (void)state;
    parse("{ \"status\": \"Pending\", \"requesttransactionid\": \"4522233\", "
          "\"success\": true, \"responsecode\": \"1000\", "
          "\"transactionid\": 1425, \"message\": \"Transaction Pending\" }",
          &resp);
    assert_int_equal(resp.body, UPSTREAM_BODY_OBJECT);
    assert_string_equal(resp.code, "1000");
    assert_int_equal(resp.status_word, UPSTREAM_STATUS_PENDING);
    assert_string_equal(resp.status, "Pending");
    assert_true(resp.success);
    assert_string_equal(resp.provider_txn_id, "1425");
    assert_string_equal(resp.request_txn_id, "4522233");
    assert_string_equal(resp.message, "Transaction Pending");

    /* A callback: statusdesc stands in for message. */
    parse("{ \"status\": \"Successfull\", \"requesttransactionid\": "
          "\"4522233\", \"transactionid\": \"6004994884\", "
          "\"responsecode\": \"01\", \"statusdesc\": \"Successfully "
          "Processed Transaction\", \"referenceno\": \"312333883\" }",
          &resp);
    assert_string_equal(resp.code, "01");
    assert_int_equal(resp.status_word, UPSTREAM_STATUS_SUCCESS);
    assert_string_equal(resp.message, "Successfully Processed Transaction");
    assert_string_equal(resp.reference_no, "312333883");
    assert_int_equal(resp.success_field, UPSTREAM_FIELD_ABSENT);
}

static void response_error_bodies(void **state)
{
    static const char *const messages[] = {
        "Missing parameter: phone",
        "Invalid payment method selected",
        "Transaction declined by payment provider",
        "Unauthorized API access",
    };
    struct upstream_response resp;
    char body[128];
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(messages); i++) {
        snprintf(body, sizeof(body),
                 "{ \"status\": \"error\", \"message\": \"%s\" }", messages[i]);
        parse(body, &resp);
        assert_int_equal(resp.body, UPSTREAM_BODY_OBJECT);
        assert_int_equal(resp.code_field, UPSTREAM_FIELD_ABSENT);
        assert_int_equal(resp.status_word, UPSTREAM_STATUS_FAILURE);
        assert_string_equal(resp.message, messages[i]);
    }
    /* message wins over statusdesc; a non-string message is skipped. */
    parse("{\"message\":\"m\",\"statusdesc\":\"d\"}", &resp);
    assert_string_equal(resp.message, "m");
    parse("{\"message\":5,\"statusdesc\":\"d\"}", &resp);
    assert_string_equal(resp.message, "d");
}

static void response_unreadable_bodies(void **state)
{
    static const struct {
        const char *body;
        enum upstream_body kind;
    } cases[] = {
        { "", UPSTREAM_BODY_EMPTY },
        { " \r\n\t ", UPSTREAM_BODY_EMPTY },
        { "\xEF\xBB\xBF", UPSTREAM_BODY_EMPTY },
        { "<html><body>502 Bad Gateway</body></html>", UPSTREAM_BODY_NOT_JSON },
        { "{\"responsecode\":\"01\"", UPSTREAM_BODY_NOT_JSON },
        { "{\"responsecode\":\"01\"}<br />Notice: x", UPSTREAM_BODY_NOT_JSON },
        { "<br />Warning: y{\"responsecode\":\"01\"}", UPSTREAM_BODY_NOT_JSON },
        { "{\"responsecode\":\"2100\",\"responsecode\":\"01\"}",
          UPSTREAM_BODY_NOT_JSON },
        { "{\"message\":\"a\\u0000b\"}", UPSTREAM_BODY_NOT_JSON },
        { "{\"a\":\"\xff\xfe\"}", UPSTREAM_BODY_NOT_JSON },
        { "[]", UPSTREAM_BODY_NOT_OBJECT },
        { "\"01\"", UPSTREAM_BODY_NOT_OBJECT },
        { "1000", UPSTREAM_BODY_NOT_OBJECT },
        { "null", UPSTREAM_BODY_NOT_OBJECT },
        { "\xEF\xBB\xBF {\"responsecode\":\"01\"} \n", UPSTREAM_BODY_OBJECT },
    };
    struct upstream_response resp;
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        parse(cases[i].body, &resp);
        if (resp.body != cases[i].kind)
            fail_msg("row %zu: got %d", i, (int)resp.body);
    }
    upstream_response_init(&resp);
    upstream_response_parse(NULL, 0, &resp);
    assert_int_equal(resp.body, UPSTREAM_BODY_EMPTY);
}

/* A JSON object padded with spaces to exactly len bytes. */
static char *padded_object(size_t len)
{
    static const char head[] = "{\"responsecode\":\"01\"}";
    char *text = malloc(len + 1);

    assert_non_null(text);
    memset(text, ' ', len);
    memcpy(text, head, sizeof(head) - 1);
    text[len] = '\0';
    return text;
}

static void response_huge_body_is_too_large(void **state)
{
    struct upstream_response resp;
    char *at_max = padded_object(UPSTREAM_BODY_MAX);
    char *over = padded_object(UPSTREAM_BODY_MAX + 1);

    (void)state;
    upstream_response_init(&resp);
    upstream_response_parse(at_max, UPSTREAM_BODY_MAX, &resp);
    assert_int_equal(resp.body, UPSTREAM_BODY_OBJECT);
    assert_string_equal(resp.code, "01");
    upstream_response_parse(over, UPSTREAM_BODY_MAX + 1, &resp);
    assert_int_equal(resp.body, UPSTREAM_BODY_TOO_LARGE);
    assert_int_equal(resp.code_field, UPSTREAM_FIELD_ABSENT);
    free(at_max);
    free(over);
}

static void response_long_text_is_cut_on_a_character(void **state)
{
    struct upstream_response resp;
    char body[1024];
    size_t n;

    (void)state;
    /* 200 two-byte characters: 255 bytes would split the 128th. */
    n = (size_t)snprintf(body, sizeof(body), "{\"message\":\"");
    while (n < 12 + 400) {
        memcpy(body + n, "\xC3\xA9", 2);
        n += 2;
    }
    memcpy(body + n, "\"}", 3);
    parse(body, &resp);
    n = strlen(resp.message);
    assert_true(n < UPSTREAM_MESSAGE_SIZE);
    assert_int_equal(n, UPSTREAM_MESSAGE_SIZE - 2);
    assert_int_equal((unsigned char)resp.message[n - 1], 0xA9);
}

static void response_balance_amounts_are_exact(void **state)
{
    static const struct {
        const char *net;
        bool ok;
        long long value;
    } cases[] = {
        { "37500.0", true, 37500 },
        { "37500", true, 37500 },
        { "-1200.0", true, -1200 },
        { "0.0", true, 0 },
        { "9007199254740992.0", true, 9007199254740992LL },
        { "37500.5", false, 0 },
        { "0.01", false, 0 },
        { "1e20", false, 0 },
        { "\"37500\"", false, 0 },
        { "null", false, 0 },
    };
    struct upstream_response resp;
    char body[256];
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        snprintf(body, sizeof(body),
                 "{\"status\":\"success\",\"net_balance\":%s,"
                 "\"total_net_credits\":50000.0,"
                 "\"total_net_debits\":12500.0,\"currency\":\"RWF\"}",
                 cases[i].net);
        parse(body, &resp);
        if (resp.balance_ok != cases[i].ok)
            fail_msg("row %zu: net_balance %s", i, cases[i].net);
        if (!cases[i].ok)
            continue;
        assert_int_equal(resp.net_balance, cases[i].value);
        assert_int_equal(resp.total_credits, 50000);
        assert_int_equal(resp.total_debits, 12500);
    }
}

static void response_balance_currency(void **state)
{
    static const struct {
        const char *currency; /* NULL: no currency field */
        bool ok;
        const char *stored;
    } cases[] = {
        { "\"RWF\"", true, "RWF" },
        { "\"rwf\"", true, "RWF" }, /* case is not worth a failure */
        { NULL, true, "RWF" },      /* the reference: always RWF */
        { "\"RW\"", false, "" },    /* too short */
        { "\"R1F\"", false, "" },   /* not letters */
        { "5", false, "" },         /* not a string */
    };
    struct upstream_response resp;
    char body[256];
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        snprintf(body, sizeof(body),
                 "{\"net_balance\":1,\"total_net_credits\":1,"
                 "\"total_net_debits\":0%s%s}",
                 cases[i].currency != NULL ? ",\"currency\":" : "",
                 cases[i].currency != NULL ? cases[i].currency : "");
        parse(body, &resp);
        assert_int_equal(resp.balance_ok, cases[i].ok);
        if (cases[i].ok)
            assert_string_equal(resp.currency, cases[i].stored);
    }
    parse("{\"net_balance\":1,\"total_net_credits\":1}", &resp);
    assert_false(resp.balance_ok);
}

static void response_parse_keeps_retry_after(void **state)
{
    struct upstream_response resp;

    (void)state;
    upstream_response_init(&resp);
    assert_int_equal(resp.retry_after_s, -1);
    resp.retry_after_s = 7;
    upstream_response_parse("{}", 2, &resp);
    assert_int_equal(resp.retry_after_s, 7);
}

static void response_retry_after_values(void **state)
{
    /* Sun, 06 Nov 1994 08:49:37 GMT, the RFC's own example. */
    static const time_t now = 784111777;
    static const struct {
        const char *value;
        long long seconds;
    } cases[] = {
        { "7", 7 },
        { " 7 ", 7 },
        { "0", 0 },
        { "3600", 3600 },
        { "3601", 3600 },
        { "99999999999999999999999", 3600 },
        { "Sun, 06 Nov 1994 08:50:07 GMT", 30 },
        { "Sunday, 06-Nov-94 08:50:07 GMT", 30 },
        { "Sun Nov  6 08:50:07 1994", 30 },
        { "Sun, 06 Nov 1994 08:49:00 GMT", 0 },
        { "Mon, 07 Nov 1994 08:49:37 GMT", 3600 },
        { "-5", -1 },
        { "+5", -1 },
        { "5s", -1 },
        { "1.5", -1 },
        { "soon", -1 },
        { "", -1 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        long long got = upstream_retry_after_parse(cases[i].value, now);

        if (got != cases[i].seconds)
            fail_msg("row %zu: \"%s\" gave %lld", i, cases[i].value, got);
    }
    assert_int_equal(upstream_retry_after_parse(NULL, now), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(response_code_as_string_or_number),
        cmocka_unit_test(response_transactionid_as_string_or_number),
        cmocka_unit_test(response_status_spellings),
        cmocka_unit_test(response_success_flag),
        cmocka_unit_test(response_documented_examples),
        cmocka_unit_test(response_error_bodies),
        cmocka_unit_test(response_unreadable_bodies),
        cmocka_unit_test(response_huge_body_is_too_large),
        cmocka_unit_test(response_long_text_is_cut_on_a_character),
        cmocka_unit_test(response_balance_amounts_are_exact),
        cmocka_unit_test(response_balance_currency),
        cmocka_unit_test(response_parse_keeps_retry_after),
        cmocka_unit_test(response_retry_after_values),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
