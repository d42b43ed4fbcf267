/* Unit tests for callback/allow: parsing CIDR lists and matching. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "callback/allow.h"
#include "core/log.h"

static bool allowed(const struct callback_allow *a, const char *text)
{
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;

    memset(&v4, 0, sizeof(v4));
    memset(&v6, 0, sizeof(v6));
    if (inet_pton(AF_INET, text, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        return callback_allow_check(a, (struct sockaddr *)&v4);
    }
    assert_int_equal(inet_pton(AF_INET6, text, &v6.sin6_addr), 1);
    v6.sin6_family = AF_INET6;
    return callback_allow_check(a, (struct sockaddr *)&v6);
}

static void allow_empty_list_allows_everyone(void **state)
{
    struct callback_allow a;

    (void)state;
    assert_int_equal(callback_allow_parse(NULL, &a), PAYQ_OK);
    assert_true(allowed(&a, "203.0.113.9"));
    assert_int_equal(callback_allow_parse("", &a), PAYQ_OK);
    assert_true(allowed(&a, "2001:db8::1"));
    assert_true(callback_allow_check(&a, NULL));
}

static void allow_matches_blocks_and_addresses(void **state)
{
    struct callback_allow a;

    (void)state;
    assert_int_equal(callback_allow_parse("196.12.0.0/16, 10.1.2.3,"
                                          "2001:db8::/32,192.0.2.128/25",
                                          &a),
                     PAYQ_OK);
    assert_int_equal(a.count, 4);
    assert_true(allowed(&a, "196.12.200.7"));
    assert_false(allowed(&a, "196.13.0.1"));
    assert_true(allowed(&a, "10.1.2.3"));
    assert_false(allowed(&a, "10.1.2.4"));
    assert_true(allowed(&a, "192.0.2.200"));
    assert_false(allowed(&a, "192.0.2.127"));
    assert_true(allowed(&a, "2001:db8:ffff::9"));
    assert_false(allowed(&a, "2001:db9::1"));
    /* An IPv4-mapped IPv6 source is its IPv4 address. */
    assert_true(allowed(&a, "::ffff:10.1.2.3"));
    assert_false(allowed(&a, "::ffff:10.1.2.4"));
    assert_false(callback_allow_check(&a, NULL));
}

static void allow_zero_prefix_matches_family(void **state)
{
    struct callback_allow a;

    (void)state;
    assert_int_equal(callback_allow_parse("0.0.0.0/0", &a), PAYQ_OK);
    assert_true(allowed(&a, "8.8.8.8"));
    assert_false(allowed(&a, "2001:db8::1"));
}

static void allow_refuses_bad_entries(void **state)
{
    static const char *const bad[] = {
        "10.0.0.0/33", "10.0.0.0/",      "10.0.0.0/-1", "10.0.0/8",
        "example.com", "2001:db8::/129", "10.0.0.1/8x", "10.0.0.1 10.0.0.2",
        ",",           "1.2.3.4/ 8",
    };
    struct callback_allow a;
    char many[(CALLBACK_ALLOW_MAX + 1) * 9 + 1];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(callback_allow_parse(bad[i], &a), PAYQ_ERR_CONFIG);
    for (i = 0; i < CALLBACK_ALLOW_MAX + 1; i++)
        memcpy(many + i * 9, "10.0.0.1,", 9);
    many[(CALLBACK_ALLOW_MAX + 1) * 9] = '\0';
    assert_int_equal(callback_allow_parse(many, &a), PAYQ_ERR_CONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allow_empty_list_allows_everyone),
        cmocka_unit_test(allow_matches_blocks_and_addresses),
        cmocka_unit_test(allow_zero_prefix_matches_family),
        cmocka_unit_test(allow_refuses_bad_entries),
    };

    log_init(2, LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
