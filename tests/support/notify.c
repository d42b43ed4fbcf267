/* A stand-in for systemd's notification socket (tests/support/notify.h). */
#include "tests/support/notify.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

void testnotify_open(struct testnotify *ns)
{
    struct sockaddr_un addr;
    struct timeval tv = { 10, 0 };

    snprintf(ns->dir, sizeof(ns->dir), "/tmp/payq-test-notify.XXXXXX");
    assert_non_null(mkdtemp(ns->dir));
    snprintf(ns->path, sizeof(ns->path), "%s/notify", ns->dir);
    ns->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(ns->fd >= 0);
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", ns->path);
    assert_int_equal(bind(ns->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(
        setsockopt(ns->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
}

void testnotify_expect(struct testnotify *ns, const char *want)
{
    char msg[512];
    ssize_t got;

    for (;;) {
        got = recv(ns->fd, msg, sizeof(msg) - 1, 0);
        if (got < 0) {
            /* cmocka's fail_msg() is not declared noreturn. */
            fail_msg("no \"%s\" on the notify socket", want);
            return;
        }
        msg[got] = '\0';
        if (strstr(msg, want) != NULL)
            return;
    }
}

void testnotify_close(struct testnotify *ns)
{
    close(ns->fd);
    unlink(ns->path);
    rmdir(ns->dir);
}
