/* Binary one-dimensional array parameters (db/array.h). */
#include "db/array.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum {
    HEADER_LEN = 20, /* ndim, flags, element type, length, lower bound */
    OFF_FLAGS = 4,
    OFF_COUNT = 12,
    NULL_LEN = -1, /* the element length that stands for NULL */
};

static void put_be32(char *out, uint32_t v)
{
    unsigned char *p = (unsigned char *)out;

    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

void db_array_init(struct db_array *a, unsigned elem_oid, size_t max)
{
    buf_init(&a->buf, max);
    a->elem_oid = elem_oid;
    a->count = 0;
}

void db_array_cleanup(struct db_array *a)
{
    buf_cleanup(&a->buf);
    a->count = 0;
}

void db_array_reset(struct db_array *a)
{
    buf_reset(&a->buf);
    a->count = 0;
}

/* The header goes first; its count and null flag are set at the end. */
static enum payq_err reserve_header(struct db_array *a)
{
    static const char zeros[HEADER_LEN];

    if (a->buf.len > 0)
        return PAYQ_OK;
    return buf_append(&a->buf, zeros, sizeof(zeros));
}

static enum payq_err append_len(struct db_array *a, int32_t len)
{
    char be[4];

    put_be32(be, (uint32_t)len);
    return buf_append(&a->buf, be, sizeof(be));
}

enum payq_err db_array_add(struct db_array *a, const void *p, size_t n)
{
    enum payq_err err = reserve_header(a);
    size_t before = a->buf.len;

    if (err == PAYQ_OK && p != NULL && n > INT32_MAX)
        err = PAYQ_ERR_TOO_LARGE;
    if (err == PAYQ_OK)
        err = append_len(a, p != NULL ? (int32_t)n : NULL_LEN);
    if (err == PAYQ_OK && p != NULL)
        err = buf_append(&a->buf, p, n);
    if (err == PAYQ_OK)
        a->count++;
    else if (a->buf.len > before) {
        /* A length without its bytes would corrupt the array. */
        a->buf.len = before;
        a->buf.data[before] = '\0';
    }
    return err;
}

enum payq_err db_array_add_str(struct db_array *a, const char *s)
{
    return db_array_add(a, s, s != NULL ? strlen(s) : 0);
}

enum payq_err db_array_add_int8(struct db_array *a, const long long *v)
{
    uint64_t u;
    char be[8];

    if (v == NULL)
        return db_array_add(a, NULL, 0);
    u = (uint64_t)*v;
    put_be32(be, (uint32_t)(u >> 32));
    put_be32(be + 4, (uint32_t)u);
    return db_array_add(a, be, sizeof(be));
}

/* True when some element is NULL: the header's flag says so. */
static bool has_null(const struct db_array *a)
{
    size_t off = HEADER_LEN;
    int i;

    for (i = 0; i < a->count; i++) {
        const unsigned char *p = (const unsigned char *)a->buf.data + off;
        int32_t len = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                                (uint32_t)p[2] << 8 | (uint32_t)p[3]);

        if (len == NULL_LEN)
            return true;
        off += 4 + (size_t)len;
    }
    return false;
}

const char *db_array_param(struct db_array *a, int *len)
{
    char *h = a->buf.data;

    *len = 0;
    if (a->count == 0 || h == NULL || a->buf.len > INT32_MAX)
        return NULL;
    put_be32(h, 1);
    put_be32(h + OFF_FLAGS, has_null(a) ? 1 : 0);
    put_be32(h + 8, a->elem_oid);
    put_be32(h + OFF_COUNT, (uint32_t)a->count);
    put_be32(h + 16, 1);
    *len = (int)a->buf.len;
    return h;
}
