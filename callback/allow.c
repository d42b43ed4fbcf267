/* The source-address allowlist; see allow.h. */
#include "callback/allow.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

enum { ENTRY_TEXT_MAX = 64 };

/* "addr" or "addr/prefix" into e; false when it is neither. */
static bool parse_entry(const char *text, struct callback_allow_entry *e)
{
    char addr[ENTRY_TEXT_MAX];
    const char *slash = strchr(text, '/');
    size_t len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    int max;
    char *end = NULL;

    if (len == 0 || len >= sizeof(addr))
        return false;
    memcpy(addr, text, len);
    addr[len] = '\0';
    memset(e, 0, sizeof(*e));
    if (inet_pton(AF_INET, addr, e->addr) == 1)
        e->family = AF_INET;
    else if (inet_pton(AF_INET6, addr, e->addr) == 1)
        e->family = AF_INET6;
    else
        return false;
    max = e->family == AF_INET ? 32 : 128;
    e->prefix = max;
    if (slash == NULL)
        return true;
    if (slash[1] < '0' || slash[1] > '9')
        return false;
    e->prefix = (int)strtol(slash + 1, &end, 10);
    return *end == '\0' && e->prefix >= 0 && e->prefix <= max;
}

/* entry without the spaces around it, in place. */
static char *trim(char *entry)
{
    size_t len;

    entry += strspn(entry, " ");
    len = strlen(entry);
    while (len > 0 && entry[len - 1] == ' ')
        entry[--len] = '\0';
    return entry;
}

enum payq_err callback_allow_parse(const char *text, struct callback_allow *out)
{
    const char *p = text;

    memset(out, 0, sizeof(*out));
    while (p != NULL && *p != '\0') {
        char entry[ENTRY_TEXT_MAX];
        size_t len = strcspn(p, ",");

        if (len >= sizeof(entry) || out->count == CALLBACK_ALLOW_MAX) {
            log_error("PAYQ_CALLBACK_ALLOW: too many or too long entries");
            return PAYQ_ERR_CONFIG;
        }
        memcpy(entry, p, len);
        entry[len] = '\0';
        if (!parse_entry(trim(entry), &out->entries[out->count])) {
            log_error("PAYQ_CALLBACK_ALLOW: not an address or CIDR block",
                      LOG_STR("entry", trim(entry)));
            return PAYQ_ERR_CONFIG;
        }
        out->count++;
        p += len + (p[len] == ',');
    }
    return PAYQ_OK;
}

static bool prefix_matches(const unsigned char *a, const unsigned char *b,
                           int bits)
{
    int full = bits / 8;
    int rest = bits % 8;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));

    if (memcmp(a, b, (size_t)full) != 0)
        return false;
    return rest == 0 || ((a[full] ^ b[full]) & mask) == 0;
}

/* The family and bytes of sa; a v4-mapped v6 address becomes v4. */
static int source_of(const struct sockaddr *sa, unsigned char *out)
{
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0,    0,
                                              0, 0, 0, 0, 0xff, 0xff };

    if (sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa->sa_family != AF_INET6)
        return 0;
    memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    if (memcmp(out, mapped, sizeof(mapped)) == 0) {
        memmove(out, out + 12, 4);
        return AF_INET;
    }
    return AF_INET6;
}

bool callback_allow_check(const struct callback_allow *allow,
                          const struct sockaddr *sa)
{
    unsigned char addr[16];
    int family;
    int i;

    if (allow->count == 0)
        return true;
    if (sa == NULL || (family = source_of(sa, addr)) == 0)
        return false;
    for (i = 0; i < allow->count; i++) {
        const struct callback_allow_entry *e = &allow->entries[i];

        if (e->family == family && prefix_matches(e->addr, addr, e->prefix))
            return true;
    }
    return false;
}
