/* Unit tests for core/err: every code has a text and a sysexits status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"

static void err_exit_codes_follow_sysexits(void **state)
{
    static const struct {
        enum payq_err err;
        int exit_code;
    } cases[] = {
        { PAYQ_OK, 0 },
        { PAYQ_ERR_USAGE, 64 },
        { PAYQ_ERR_DATA, 65 },
        { PAYQ_ERR_CONFIG, 78 },
        { PAYQ_ERR_SCHEMA, 78 },
        { PAYQ_ERR_NOMEM, 1 },
        { PAYQ_ERR_IO, 1 },
        { PAYQ_ERR_DB, 1 },
        { PAYQ_ERR_DB_CONNECT, 1 },
        { PAYQ_ERR_NOT_FOUND, 1 },
        { PAYQ_ERR_INTERRUPTED, 1 },
        { PAYQ_ERR_DB_BUSY, 1 },
        { (enum payq_err)999, 1 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(payq_err_exit_code(cases[i].err), cases[i].exit_code);
}

static void err_every_code_has_text(void **state)
{
    int e;

    (void)state;
    for (e = PAYQ_OK; e <= PAYQ_ERR_INTERRUPTED; e++)
        assert_string_not_equal(payq_err_str((enum payq_err)e),
                                "unknown error");
    assert_string_equal(payq_err_str((enum payq_err) - 1), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(err_exit_codes_follow_sysexits),
        cmocka_unit_test(err_every_code_has_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
