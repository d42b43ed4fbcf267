/*
 * sd_notify(3) by hand: the protocol is one datagram to a named socket,
 * small enough that libsystemd is not worth the dependency. Each call
 * opens its own socket, so concurrent callers share nothing but the
 * "already warned" flag.
 */
#include "core/sdnotify.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"

/* Set by the first failure, so a broken socket does not flood the log. */
static atomic_bool sdnotify_warned;

static void sdnotify_warn(const char *socket_name, const char *reason)
{
    if (atomic_exchange(&sdnotify_warned, true))
        return;
    log_warn("cannot notify systemd", LOG_STR("socket", socket_name),
             LOG_STR("reason", reason));
}

/*
 * Fills addr for the socket named name. A path keeps its terminator in
 * the address; an abstract name ('@' becomes a leading NUL) is exactly
 * its bytes, with none, as systemd binds it.
 */
static enum payq_err sdnotify_address(const char *name,
                                      struct sockaddr_un *addr, socklen_t *len)
{
    size_t n = strlen(name);
    bool abstract = name[0] == '@';
    size_t room = sizeof(addr->sun_path) - (abstract ? 0 : 1);

    if ((name[0] != '/' && !abstract) || n < 2 || n > room)
        return PAYQ_ERR_CONFIG;

    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, name, n);
    if (abstract)
        addr->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                       (abstract ? 0 : 1));
    return PAYQ_OK;
}

/* Sends one datagram; returns 0 or the errno of the failure. */
static int sdnotify_sendto(const struct sockaddr_un *addr, socklen_t len,
                           const char *state)
{
    size_t n = strlen(state);
    ssize_t sent;
    int fd;
    int errnum = 0;

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    do {
        sent = sendto(fd, state, n, MSG_NOSIGNAL, (const struct sockaddr *)addr,
                      len);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0)
        errnum = errno;
    else if ((size_t)sent != n)
        errnum = EMSGSIZE; /* a datagram goes whole or not at all */
    close(fd);
    return errnum;
}

enum payq_err sdnotify_send(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr;
    socklen_t len;
    char reason[128];
    int errnum;

    if (name == NULL || name[0] == '\0')
        return PAYQ_OK;
    if (sdnotify_address(name, &addr, &len) != PAYQ_OK) {
        sdnotify_warn(name, "NOTIFY_SOCKET is too long or neither an "
                            "absolute path nor an @name");
        return PAYQ_ERR_CONFIG;
    }
    errnum = sdnotify_sendto(&addr, len, state);
    if (errnum != 0) {
        /* strerror() may share one buffer between threads; this may not. */
        if (strerror_r(errnum, reason, sizeof(reason)) != 0)
            snprintf(reason, sizeof(reason), "error %d", errnum);
        sdnotify_warn(name, reason);
        return PAYQ_ERR_IO;
    }
    return PAYQ_OK;
}

/* Parses a whole decimal number above zero; -1 for anything else. */
static long long parse_positive(const char *text)
{
    char *end;
    long long value;

    if (text == NULL || text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || value <= 0)
        return -1;
    return value;
}

long long sdnotify_watchdog_usec(void)
{
    const char *pid_text = getenv("WATCHDOG_PID");
    long long usec = parse_positive(getenv("WATCHDOG_USEC"));

    if (usec <= 0)
        return 0;
    if (pid_text != NULL && parse_positive(pid_text) != (long long)getpid())
        return 0;
    return usec;
}
