/* Bounded growable buffers: growth doubles, capped at the buffer's max. */
#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"

enum { BUF_MIN_CAP = 64 };

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_cleanup(struct buf *b)
{
    mem_free(b->data);
    buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

/* Makes room for extra more bytes plus the terminator. */
static enum payq_err buf_reserve(struct buf *b, size_t extra)
{
    size_t need;
    size_t cap;
    char *grown;

    if (extra > b->max - b->len)
        return PAYQ_ERR_TOO_LARGE;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return PAYQ_OK;

    cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;

    grown = mem_realloc(b->data, cap);
    if (grown == NULL)
        return PAYQ_ERR_NOMEM;
    b->data = grown;
    b->cap = cap;
    return PAYQ_OK;
}

enum payq_err buf_append(struct buf *b, const void *p, size_t n)
{
    enum payq_err err = buf_reserve(b, n);

    if (err != PAYQ_OK)
        return err;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return PAYQ_OK;
}

enum payq_err buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

enum payq_err buf_append_byte(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

enum payq_err buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
    va_list again;
    int n;
    enum payq_err err;

    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0) {
        err = PAYQ_ERR_DATA;
        goto out;
    }
    err = buf_reserve(b, (size_t)n);
    if (err != PAYQ_OK)
        goto out;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    b->len += (size_t)n;

out:
    va_end(again);
    return err;
}

enum payq_err buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    enum payq_err err;

    va_start(ap, fmt);
    err = buf_vappendf(b, fmt, ap);
    va_end(ap);
    return err;
}

const char *buf_str(const struct buf *b)
{
    return b->data != NULL ? b->data : "";
}

char *buf_take(struct buf *b)
{
    char *data = b->data;

    if (data == NULL)
        data = mem_strdup("");
    buf_init(b, b->max);
    return data;
}
