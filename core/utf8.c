/* UTF-8 validation by RFC 3629's byte ranges, and lossless escaping. */
#include "core/utf8.h"

#include <stdio.h>

size_t utf8_sequence_len(const unsigned char *s, size_t n)
{
    size_t len;
    size_t i;
    unsigned cp;

    if (n == 0 || s[0] == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

enum payq_err utf8_sanitize(struct buf *out, const char *text, size_t len,
                            size_t max)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t start = out->len;
    size_t i = 0;

    while (i < len) {
        size_t n = utf8_sequence_len(s + i, len - i);
        char esc[8];
        const char *piece = (const char *)s + i;
        size_t piece_len = n;

        if (n == 0) {
            snprintf(esc, sizeof(esc), "\\x%02x", s[i]);
            piece = esc;
            piece_len = 4;
            n = 1;
        }
        if (out->len - start + piece_len > max)
            break;
        if (buf_append(out, piece, piece_len) != PAYQ_OK)
            return PAYQ_ERR_NOMEM;
        i += n;
    }
    return PAYQ_OK;
}
