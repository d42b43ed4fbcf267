/*
 * Unit tests for callback/token: known answers computed apart from payq,
 * token comparison, refused secrets and URL building.
 *
 * The expected tokens were computed with the OpenSSL command line, not
 * with this code:
 *
 *   printf '%s' 'pay:TXN98765432' |
 *       openssl dgst -sha256 -hmac 'payq-test-secret-0123456789' -binary |
 *       base64 -w0 | tr '+/' '-_' | tr -d '='
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "callback/token.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define SECRET "payq-test-secret-0123456789"
/* HMAC-SHA256(SECRET, "pay:TXN98765432"), base64url. */
#define PAY_TOKEN "FanvahHPCrSBoYu1P5qRAtdANAK9zV2Kulw1Lyk5VH0"
/* HMAC-SHA256(SECRET, "pay:TXN98765433"). */
#define PAY_TOKEN_NEXT "AwLSdYaZlGQrYQnQdXuTCo112RmQ6dxATEkUZ8VPyL0"
/* HMAC-SHA256(SECRET, "deposit"). */
#define DEPOSIT_TOKEN "8_0A_Bx3X3q8ijsU5AErrt-v6288FKoPUEUfHcTnCpo"
/* HMAC-SHA256(SECRET, "pay:deposit"): what a txn id "deposit" would get. */
#define PAY_DEPOSIT_TOKEN "NFhtO0xRMGvai3gS_ZfQVc9o-UW-tk5HmFG4RjHv2Qg"

static void token_pay_known_answer(void **state)
{
    char token[CALLBACK_TOKEN_LEN + 1];

    (void)state;
    assert_int_equal(callback_token_pay(SECRET, "TXN98765432", token), PAYQ_OK);
    assert_string_equal(token, PAY_TOKEN);
    assert_int_equal(strlen(token), CALLBACK_TOKEN_LEN);
    assert_int_equal(callback_token_pay(SECRET, "TXN98765433", token), PAYQ_OK);
    assert_string_equal(token, PAY_TOKEN_NEXT);
}

static void token_pay_differs_per_id_and_secret(void **state)
{
    static const char *const ids[] = { "TXN1",  "TXN2",    "txn1",
                                       "TXN10", "prod:42", "prod:43" };
    char tokens[COUNT(ids)][CALLBACK_TOKEN_LEN + 1];
    char other[CALLBACK_TOKEN_LEN + 1];
    size_t i;
    size_t j;

    (void)state;
    for (i = 0; i < COUNT(ids); i++) {
        assert_int_equal(callback_token_pay(SECRET, ids[i], tokens[i]),
                         PAYQ_OK);
        for (j = 0; j < i; j++)
            if (strcmp(tokens[i], tokens[j]) == 0)
                fail_msg("%s and %s share a token", ids[i], ids[j]);
    }
    assert_int_equal(
        callback_token_pay("another-secret-of-enough-bytes", "TXN1", other),
        PAYQ_OK);
    assert_string_not_equal(other, tokens[0]);
}

static void token_deposit_known_answer(void **state)
{
    char token[CALLBACK_TOKEN_LEN + 1];
    char pay[CALLBACK_TOKEN_LEN + 1];

    (void)state;
    assert_int_equal(callback_token_deposit(SECRET, token), PAYQ_OK);
    assert_string_equal(token, DEPOSIT_TOKEN);
    /* The "pay:" prefix keeps a txn id "deposit" from sharing it. */
    assert_int_equal(callback_token_pay(SECRET, "deposit", pay), PAYQ_OK);
    assert_string_equal(pay, PAY_DEPOSIT_TOKEN);
    assert_string_not_equal(pay, token);
}

static void token_refuses_short_secret(void **state)
{
    static const char *const secrets[] = { NULL, "", "short",
                                           "fifteen-bytes!!" };
    char token[CALLBACK_TOKEN_LEN + 1];
    size_t i;

    (void)state;
    assert_int_equal(strlen("fifteen-bytes!!"), CALLBACK_SECRET_MIN - 1);
    for (i = 0; i < COUNT(secrets); i++) {
        memcpy(token, "stale", 6);
        assert_int_equal(callback_token_pay(secrets[i], "TXN1", token),
                         PAYQ_ERR_CONFIG);
        assert_string_equal(token, "");
        assert_int_equal(callback_token_deposit(secrets[i], token),
                         PAYQ_ERR_CONFIG);
        assert_string_equal(token, "");
    }
    /* Exactly the minimum is enough. */
    assert_int_equal(callback_token_deposit("sixteen-bytes!!!", token),
                     PAYQ_OK);
}

static void token_pay_refuses_missing_id(void **state)
{
    char token[CALLBACK_TOKEN_LEN + 1];

    (void)state;
    assert_int_equal(callback_token_pay(SECRET, NULL, token), PAYQ_ERR_DATA);
    assert_int_equal(callback_token_pay(SECRET, "", token), PAYQ_ERR_DATA);
    assert_string_equal(token, "");
}

static void token_equal_cases(void **state)
{
    static const struct {
        const char *expected;
        const char *presented;
        bool equal;
    } cases[] = {
        { PAY_TOKEN, PAY_TOKEN, true },
        { PAY_TOKEN, NULL, false },
        { PAY_TOKEN, "", false },
        /* a prefix, one byte short, one byte more */
        { PAY_TOKEN, "FanvahHPCrSBoYu1P5qRAtdANAK9zV2Kulw1Lyk5VH", false },
        { PAY_TOKEN, "FanvahHPCr", false },
        { PAY_TOKEN, PAY_TOKEN "0", false },
        { PAY_TOKEN, PAY_TOKEN PAY_TOKEN, false },
        /* the first byte, a middle byte, the last byte differ */
        { PAY_TOKEN, "GanvahHPCrSBoYu1P5qRAtdANAK9zV2Kulw1Lyk5VH0", false },
        { PAY_TOKEN, "FanvahHPCrSBoYu1P5qRAtdANAk9zV2Kulw1Lyk5VH0", false },
        { PAY_TOKEN, "FanvahHPCrSBoYu1P5qRAtdANAK9zV2Kulw1Lyk5VH1", false },
        { PAY_TOKEN, PAY_TOKEN_NEXT, false },
        /* an unset expectation matches nothing, not even itself */
        { "", "", false },
        { NULL, PAY_TOKEN, false },
        { NULL, NULL, false },
        /* not only tokens: the server compares credentials with it */
        { "user:pass", "user:pass", true },
        { "user:pass", "user:pasS", false },
    };
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++)
        if (callback_token_equal(cases[i].expected, cases[i].presented) !=
            cases[i].equal)
            fail_msg("row %zu: '%s' vs '%s'", i,
                     cases[i].expected ? cases[i].expected : "(null)",
                     cases[i].presented ? cases[i].presented : "(null)");
}

static void url_pay_and_deposit(void **state)
{
    static const struct {
        const char *base;
        const char *pay;
        const char *deposit;
    } cases[] = {
        { "https://payq.example.org",
          "https://payq.example.org/cb/TXN98765432/" PAY_TOKEN,
          "https://payq.example.org/cb/deposit/" DEPOSIT_TOKEN },
        { "https://payq.example.org/",
          "https://payq.example.org/cb/TXN98765432/" PAY_TOKEN,
          "https://payq.example.org/cb/deposit/" DEPOSIT_TOKEN },
        { "https://payq.example.org//",
          "https://payq.example.org/cb/TXN98765432/" PAY_TOKEN,
          "https://payq.example.org/cb/deposit/" DEPOSIT_TOKEN },
        { "http://10.0.0.5:8080/payq/",
          "http://10.0.0.5:8080/payq/cb/TXN98765432/" PAY_TOKEN,
          "http://10.0.0.5:8080/payq/cb/deposit/" DEPOSIT_TOKEN },
    };
    char url[256];
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        assert_int_equal(callback_url_pay(cases[i].base, SECRET, "TXN98765432",
                                          url, sizeof(url)),
                         PAYQ_OK);
        assert_string_equal(url, cases[i].pay);
        assert_int_equal(
            callback_url_deposit(cases[i].base, SECRET, url, sizeof(url)),
            PAYQ_OK);
        assert_string_equal(url, cases[i].deposit);
    }
}

static void url_too_small_buffer(void **state)
{
    const char *base = "https://payq.example.org";
    const char *want = "https://payq.example.org/cb/TXN98765432/" PAY_TOKEN;
    char url[128];
    size_t fit = strlen(want) + 1;

    (void)state;
    assert_int_equal(callback_url_pay(base, SECRET, "TXN98765432", url, fit),
                     PAYQ_OK);
    assert_string_equal(url, want);
    memset(url, 'x', sizeof(url));
    assert_int_equal(
        callback_url_pay(base, SECRET, "TXN98765432", url, fit - 1),
        PAYQ_ERR_TOO_LARGE);
    /* Nothing of the token is left behind in a cut URL. */
    assert_string_equal(url, "");
    assert_int_equal(url[fit - 2], '\0');
    assert_int_equal(url[fit - 1], 'x');
    assert_int_equal(callback_url_deposit(base, SECRET, url, 10),
                     PAYQ_ERR_TOO_LARGE);
    assert_string_equal(url, "");
    assert_int_equal(callback_url_deposit(base, SECRET, NULL, 0),
                     PAYQ_ERR_TOO_LARGE);
}

static void url_refuses_bad_input(void **state)
{
    static const struct {
        const char *base;
        const char *secret;
        const char *txn_id;
        enum payq_err err;
    } cases[] = {
        { NULL, SECRET, "TXN1", PAYQ_ERR_CONFIG },
        { "", SECRET, "TXN1", PAYQ_ERR_CONFIG },
        { "/", SECRET, "TXN1", PAYQ_ERR_CONFIG },
        { "payq.example.org", SECRET, "TXN1", PAYQ_ERR_CONFIG },
        { "ftp://payq.example.org", SECRET, "TXN1", PAYQ_ERR_CONFIG },
        { "https://", SECRET, "TXN1", PAYQ_ERR_CONFIG },
        { "https://h/?a=1", SECRET, "TXN1", PAYQ_ERR_CONFIG },
        { "https://h/#top", SECRET, "TXN1", PAYQ_ERR_CONFIG },
        { "https://h /x", SECRET, "TXN1", PAYQ_ERR_CONFIG },
        { "https://h", "short", "TXN1", PAYQ_ERR_CONFIG },
        { "https://h", SECRET, "", PAYQ_ERR_DATA },
        { "https://h", SECRET, NULL, PAYQ_ERR_DATA },
        { "https://h", SECRET, "a/b", PAYQ_ERR_DATA },
        { "https://h", SECRET, "a b", PAYQ_ERR_DATA },
        { "https://h", SECRET, "a?b", PAYQ_ERR_DATA },
        { "https://h", SECRET, "deposit", PAYQ_ERR_DATA },
        { "https://h", SECRET,
          "12345678901234567890123456789012345678901234567890123456789012345",
          PAYQ_ERR_DATA },
        { "HTTPS://h", SECRET, "prod:TXN-1_a.b", PAYQ_OK },
        { "https://h", SECRET,
          "1234567890123456789012345678901234567890123456789012345678901234",
          PAYQ_OK },
    };
    char url[256];
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(cases); i++) {
        memcpy(url, "stale", 6);
        if (callback_url_pay(cases[i].base, cases[i].secret, cases[i].txn_id,
                             url, sizeof(url)) != cases[i].err)
            fail_msg("row %zu: %s %s", i,
                     cases[i].base ? cases[i].base : "(null)",
                     cases[i].txn_id ? cases[i].txn_id : "(null)");
        if (cases[i].err != PAYQ_OK)
            assert_string_equal(url, "");
    }
    assert_int_equal(
        callback_url_deposit("https://h", "short", url, sizeof(url)),
        PAYQ_ERR_CONFIG);
    assert_int_equal(callback_url_deposit(NULL, SECRET, url, sizeof(url)),
                     PAYQ_ERR_CONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_pay_known_answer),
        cmocka_unit_test(token_pay_differs_per_id_and_secret),
        cmocka_unit_test(token_deposit_known_answer),
        cmocka_unit_test(token_refuses_short_secret),
        cmocka_unit_test(token_pay_refuses_missing_id),
        cmocka_unit_test(token_equal_cases),
        cmocka_unit_test(url_pay_and_deposit),
        cmocka_unit_test(url_too_small_buffer),
        cmocka_unit_test(url_refuses_bad_input),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
