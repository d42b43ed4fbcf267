/*
 * Unit tests for db/array: the binary array encoding byte for byte, its
 * NULL elements and its bound. (test_reconcile sends such arrays to a
 * real server, which is the proof that the server reads them.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "db/array.h"

static void array_text_with_null_encodes(void **state)
{
    static const unsigned char expected[] = {
        0, 0, 0, 1,  /* one dimension */
        0, 0, 0, 1,  /* it holds a NULL */
        0, 0, 0, 25, /* of text */
        0, 0, 0, 2,  /* two elements */
        0, 0, 0, 1,  /* from index 1 */
        0, 0, 0, 2,  'a', 'b', 0xff, 0xff, 0xff, 0xff,
    };
    struct db_array a;
    const char *p;
    int len = -1;

    (void)state;
    db_array_init(&a, DB_OID_TEXT, 1024);
    assert_int_equal(db_array_add_str(&a, "ab"), PAYQ_OK);
    assert_int_equal(db_array_add_str(&a, NULL), PAYQ_OK);
    p = db_array_param(&a, &len);
    assert_non_null(p);
    assert_int_equal(len, sizeof(expected));
    assert_memory_equal(p, expected, sizeof(expected));
    db_array_cleanup(&a);
}

static void array_int8_encodes_big_endian(void **state)
{
    static const unsigned char expected[] = {
        0,  0, 0, 1,    0,    0,    0,    0,    0,    0,    0,
        20, 0, 0, 0,    2,    0,    0,    0,    1,    0,    0,
        0,  8, 0, 0,    0,    0,    0,    0,    0x05, 0xdc, 0,
        0,  0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    };
    const long long v1 = 1500;
    const long long v2 = -1;
    struct db_array a;
    const char *p;
    int len = -1;

    (void)state;
    db_array_init(&a, DB_OID_INT8, 1024);
    assert_int_equal(db_array_add_int8(&a, &v1), PAYQ_OK);
    assert_int_equal(db_array_add_int8(&a, &v2), PAYQ_OK);
    p = db_array_param(&a, &len);
    assert_int_equal(len, sizeof(expected));
    assert_memory_equal(p, expected, sizeof(expected));
    db_array_cleanup(&a);
}

/* A bytea element keeps NUL bytes; reset starts a new array. */
static void array_bytea_keeps_nul_and_resets(void **state)
{
    struct db_array a;
    const char *p;
    int len = -1;

    (void)state;
    db_array_init(&a, DB_OID_BYTEA, 1024);
    assert_int_equal(db_array_add(&a, "x\0y", 3), PAYQ_OK);
    p = db_array_param(&a, &len);
    assert_int_equal(len, 20 + 4 + 3);
    assert_memory_equal(p + 24, "x\0y", 3);
    assert_int_equal((unsigned char)p[7], 0); /* no NULL element */
    db_array_reset(&a);
    assert_null(db_array_param(&a, &len));
    assert_int_equal(len, 0);
    assert_int_equal(db_array_add(&a, "z", 1), PAYQ_OK);
    p = db_array_param(&a, &len);
    assert_int_equal(len, 25);
    assert_int_equal((unsigned char)p[15], 1); /* one element again */
    db_array_cleanup(&a);
}

/* Past its maximum an array refuses the element and keeps the rest. */
static void array_refuses_past_max(void **state)
{
    struct db_array a;
    const char *p;
    int len = -1;

    (void)state;
    db_array_init(&a, DB_OID_TEXT, 32);
    assert_int_equal(db_array_add_str(&a, "abcd"), PAYQ_OK);
    assert_int_equal(db_array_add_str(&a, "efgh"), PAYQ_ERR_TOO_LARGE);
    p = db_array_param(&a, &len);
    assert_non_null(p);
    assert_int_equal(len, 28);
    assert_int_equal((unsigned char)p[15], 1);
    db_array_cleanup(&a);
}

static void array_empty_has_no_param(void **state)
{
    struct db_array a;
    int len = -1;

    (void)state;
    db_array_init(&a, DB_OID_TEXT, 32);
    assert_null(db_array_param(&a, &len));
    assert_int_equal(len, 0);
    db_array_cleanup(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(array_text_with_null_encodes),
        cmocka_unit_test(array_int8_encodes_big_endian),
        cmocka_unit_test(array_bytea_keeps_nul_and_resets),
        cmocka_unit_test(array_refuses_past_max),
        cmocka_unit_test(array_empty_has_no_param),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
