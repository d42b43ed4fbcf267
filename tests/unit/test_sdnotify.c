/*
 * Unit tests for core/sdnotify: datagrams to a real socket bound the way
 * systemd binds it (a path in a private directory, or an abstract name),
 * failures, and the watchdog variables.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/sdnotify.h"

/* Longest datagram a test expects to receive. */
enum { DGRAM_MAX = 512 };

struct fixture {
    char dir[64];   /* private directory for the socket */
    char path[128]; /* the socket's path in dir */
    int fd;         /* the bound socket; -1 when none */
};

static int fixture_setup(void **state)
{
    static struct fixture fx;

    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/payq-test-sdnotify.XXXXXX");
    if (mkdtemp(fx.dir) == NULL)
        return -1;
    snprintf(fx.path, sizeof(fx.path), "%s/notify", fx.dir);
    fx.fd = -1;
    *state = &fx;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *fx = *state;

    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    if (fx->fd >= 0)
        close(fx->fd);
    unlink(fx->path);
    return rmdir(fx->dir);
}

/* Binds a datagram socket to name, in NOTIFY_SOCKET's notation. */
static int bind_notify_socket(const char *name)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    size_t n = strlen(name);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    int fd;

    assert_true(n < sizeof(addr.sun_path));
    memcpy(addr.sun_path, name, n);
    if (name[0] == '@')
        addr.sun_path[0] = '\0';
    else
        len++; /* the terminator, as systemd binds a path */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, len), 0);
    return fd;
}

/* Receives one datagram, waiting at most a few seconds for it. */
static void expect_datagram(int fd, const char *expected)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char got[DGRAM_MAX];
    ssize_t n;

    assert_int_equal(poll(&pfd, 1, 5000), 1);
    n = recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT);
    assert_true(n >= 0);
    got[n] = '\0';
    assert_string_equal(got, expected);
}

static void sdnotify_unset_is_noop(void **state)
{
    (void)state;
    assert_int_equal(sdnotify_send("READY=1"), PAYQ_OK);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(sdnotify_send("READY=1"), PAYQ_OK);
}

static void sdnotify_sends_to_path(void **state)
{
    struct fixture *fx = *state;

    fx->fd = bind_notify_socket(fx->path);
    setenv("NOTIFY_SOCKET", fx->path, 1);
    assert_int_equal(sdnotify_send("READY=1"), PAYQ_OK);
    expect_datagram(fx->fd, "READY=1");
    assert_int_equal(sdnotify_send("STOPPING=1\nSTATUS=draining"), PAYQ_OK);
    expect_datagram(fx->fd, "STOPPING=1\nSTATUS=draining");
}

static void sdnotify_sends_to_abstract_name(void **state)
{
    struct fixture *fx = *state;
    struct timespec ts;
    char name[80];

    (void)fx;
    /* Abstract names are shared by the whole network namespace. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(name, sizeof(name), "@payq-test-sdnotify-%ld-%lld-%ld",
             (long)getpid(), (long long)ts.tv_sec, (long)ts.tv_nsec);
    fx->fd = bind_notify_socket(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(sdnotify_send("WATCHDOG=1"), PAYQ_OK);
    expect_datagram(fx->fd, "WATCHDOG=1");
}

/* A name of n bytes: prefix, then 'x' up to the length. */
static void make_name(char *out, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);

    memcpy(out, prefix, p);
    memset(out + p, 'x', n - p);
    out[n] = '\0';
}

static int count_lines(const char *text)
{
    int lines = 0;

    for (; *text != '\0'; text++)
        lines += *text == '\n';
    return lines;
}

/*
 * Every failure in one test, because only the first in the process is
 * logged. A path may take 107 bytes (one more for its terminator), an
 * abstract name the whole 108 of sun_path.
 */
static void sdnotify_failures_are_reported_once(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        const char *prefix;
        size_t len;
        enum payq_err expect;
    } cases[] = {
        { "/nonexistent/payq-notify", 0, PAYQ_ERR_IO },
        { "/nonexistent/", 107, PAYQ_ERR_IO },
        { "/nonexistent/", 108, PAYQ_ERR_CONFIG },
        { "@payq-test-sdnotify-none-", 108, PAYQ_ERR_IO },
        { "@payq-test-sdnotify-none-", 109, PAYQ_ERR_CONFIG },
        { "relative/notify", 0, PAYQ_ERR_CONFIG },
        { "@", 0, PAYQ_ERR_CONFIG },
        { "/", 0, PAYQ_ERR_CONFIG },
    };
    char log_path[] = "/tmp/payq-test-sdnotify-log.XXXXXX";
    char name[256];
    char text[4096];
    ssize_t n;
    size_t i;
    int log_fd = mkstemp(log_path);

    assert_true(log_fd >= 0);
    unlink(log_path);
    unsetenv("JOURNAL_STREAM");
    log_init(log_fd, LOG_LEVEL_DEBUG);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len;

        if (len == 0)
            len = strlen(cases[i].prefix);
        make_name(name, len, cases[i].prefix);
        setenv("NOTIFY_SOCKET", name, 1);
        assert_int_equal(sdnotify_send("READY=1"), cases[i].expect);
    }
    /* Nobody listening on a path that exists is a failure too. */
    fx->fd = bind_notify_socket(fx->path);
    close(fx->fd);
    fx->fd = -1;
    setenv("NOTIFY_SOCKET", fx->path, 1);
    assert_int_equal(sdnotify_send("READY=1"), PAYQ_ERR_IO);

    log_init(2, LOG_LEVEL_INFO);
    n = pread(log_fd, text, sizeof(text) - 1, 0);
    close(log_fd);
    assert_true(n > 0);
    text[n] = '\0';
    assert_non_null(strstr(text, "level=warn"));
    assert_non_null(strstr(text, "cannot notify systemd"));
    assert_non_null(strstr(text, "socket=/nonexistent/payq-notify"));
    assert_int_equal(count_lines(text), 1);
}

enum pid_kind { PID_UNSET, PID_SELF, PID_OTHER, PID_TEXT };

static void sdnotify_watchdog_reads_environment(void **state)
{
    static const struct {
        const char *usec; /* WATCHDOG_USEC; NULL unsets it */
        enum pid_kind pid;
        const char *pid_text; /* WATCHDOG_PID for PID_TEXT */
        long long expect;
    } cases[] = {
        { "30000000", PID_UNSET, NULL, 30000000 },
        { "30000000", PID_SELF, NULL, 30000000 },
        { "30000000", PID_OTHER, NULL, 0 },
        { "30000000", PID_TEXT, "garbage", 0 },
        { "30000000", PID_TEXT, "", 0 },
        { "30000000", PID_TEXT, "-1", 0 },
        { NULL, PID_UNSET, NULL, 0 },
        { NULL, PID_SELF, NULL, 0 },
        { "", PID_UNSET, NULL, 0 },
        { "garbage", PID_SELF, NULL, 0 },
        { "30s", PID_UNSET, NULL, 0 },
        { "0", PID_UNSET, NULL, 0 },
        { "-5", PID_UNSET, NULL, 0 },
        { " 5", PID_UNSET, NULL, 0 },
        { "99999999999999999999999", PID_UNSET, NULL, 0 },
        { "1", PID_UNSET, NULL, 1 },
    };
    char pid[32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].usec == NULL)
            unsetenv("WATCHDOG_USEC");
        else
            setenv("WATCHDOG_USEC", cases[i].usec, 1);
        switch (cases[i].pid) {
        case PID_UNSET:
            unsetenv("WATCHDOG_PID");
            break;
        case PID_SELF:
        case PID_OTHER:
            snprintf(pid, sizeof(pid), "%ld",
                     (long)getpid() + (cases[i].pid == PID_OTHER));
            setenv("WATCHDOG_PID", pid, 1);
            break;
        case PID_TEXT:
            setenv("WATCHDOG_PID", cases[i].pid_text, 1);
            break;
        }
        assert_int_equal(sdnotify_watchdog_usec(), cases[i].expect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sdnotify_unset_is_noop, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(sdnotify_sends_to_path, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(sdnotify_sends_to_abstract_name,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(sdnotify_failures_are_reported_once,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(sdnotify_watchdog_reads_environment,
                                        fixture_setup, fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
