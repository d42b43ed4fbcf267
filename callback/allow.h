/*
 * The source-address allowlist of the callback receiver
 * (PAYQ_CALLBACK_ALLOW): a comma-separated list of IPv4 or IPv6
 * addresses and CIDR blocks, "196.12.0.0/16,2001:db8::/32,10.1.2.3".
 * Behind a load balancer the source is the balancer: allow it, and let
 * the balancer filter.
 */
#ifndef PAYQ_CALLBACK_ALLOW_H
#define PAYQ_CALLBACK_ALLOW_H

#include <stdbool.h>
#include <sys/socket.h>

#include "core/err.h"

#define CALLBACK_ALLOW_MAX 64 /* entries */

struct callback_allow_entry {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network byte order */
    int prefix;             /* bits that must match */
};

struct callback_allow {
    struct callback_allow_entry entries[CALLBACK_ALLOW_MAX];
    int count; /* 0: every source is allowed */
};

/*
 * Parses text (NULL or "" allows everyone). PAYQ_ERR_CONFIG, logged
 * with the bad entry, for anything that is not an address or CIDR block
 * or for more than CALLBACK_ALLOW_MAX entries.
 */
PAYQ_MUST_USE enum payq_err callback_allow_parse(const char *text,
                                                 struct callback_allow *out);

/* Whether sa may send callbacks. An IPv4-mapped IPv6 address counts as
 * the IPv4 address it maps. A NULL or unknown-family sa: no, unless the
 * list is empty. */
bool callback_allow_check(const struct callback_allow *allow,
                          const struct sockaddr *sa);

#endif
