/* JSON strings and members, escaped as RFC 8259 requires. */
#include "sim/json.h"

#include <string.h>

#include "core/utf8.h"

enum payq_err sim_json_put_string(struct buf *b, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n;
    enum payq_err err;

    if (text == NULL)
        return buf_append_str(b, "null");
    n = strlen(text);
    err = buf_append_byte(b, '"');
    while (n > 0 && err == PAYQ_OK) {
        size_t len = utf8_sequence_len(p, n);

        if (*p == '"' || *p == '\\') {
            err = buf_appendf(b, "\\%c", *p);
            len = 1;
        } else if (*p < 0x20 || len == 0) {
            err = buf_appendf(b, "\\u%04x", *p);
            len = 1;
        } else {
            err = buf_append(b, p, len);
        }
        p += len;
        n -= len;
    }
    return err != PAYQ_OK ? err : buf_append_byte(b, '"');
}

enum payq_err sim_json_put_member(struct buf *b, bool first, const char *key,
                                  const char *text)
{
    enum payq_err err = buf_appendf(b, "%s\"%s\":", first ? "" : ",", key);

    return err != PAYQ_OK ? err : sim_json_put_string(b, text);
}
