/* Unit tests for core/buf: growth, limits and ownership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/mem.h"

static void buf_append_grows_and_terminates(void **state)
{
    struct buf b;
    int i;

    (void)state;
    buf_init(&b, 10000);
    assert_string_equal(buf_str(&b), "");
    for (i = 0; i < 1000; i++)
        assert_int_equal(buf_append(&b, "abc", 3), PAYQ_OK);
    assert_int_equal(b.len, 3000);
    assert_int_equal(strlen(buf_str(&b)), 3000);
    assert_memory_equal(b.data + 2997, "abc", 4);
    buf_cleanup(&b);
}

static void buf_append_refuses_past_max(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_append_str(&b, "12345678"), PAYQ_OK);
    assert_int_equal(buf_append_byte(&b, '9'), PAYQ_ERR_TOO_LARGE);
    assert_string_equal(buf_str(&b), "12345678");
    buf_reset(&b);
    assert_int_equal(buf_append_str(&b, "123456789"), PAYQ_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    assert_true(b.cap <= 9);
    buf_cleanup(&b);
}

static void buf_appendf_formats_within_limit(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 16);
    assert_int_equal(buf_appendf(&b, "%s=%d", "n", 42), PAYQ_OK);
    assert_string_equal(buf_str(&b), "n=42");
    assert_int_equal(buf_appendf(&b, "%020d", 1), PAYQ_ERR_TOO_LARGE);
    assert_string_equal(buf_str(&b), "n=42");
    buf_cleanup(&b);
}

static void buf_take_hands_over_storage(void **state)
{
    long before = mem_live_count();
    struct buf b;
    char *s;

    (void)state;
    buf_init(&b, 100);
    assert_int_equal(buf_append_str(&b, "owned"), PAYQ_OK);
    s = buf_take(&b);
    assert_string_equal(s, "owned");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    mem_free(s);
    s = buf_take(&b);
    assert_string_equal(s, "");
    mem_free(s);
    assert_int_equal(mem_live_count(), before);
}

static void buf_binary_bytes_kept(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "a\0b", 3), PAYQ_OK);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);
    buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_append_grows_and_terminates),
        cmocka_unit_test(buf_append_refuses_past_max),
        cmocka_unit_test(buf_appendf_formats_within_limit),
        cmocka_unit_test(buf_take_hands_over_storage),
        cmocka_unit_test(buf_binary_bytes_kept),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
