/* payq-sim as a child process, via proc_start() and its log file. */
#include "tests/support/sim.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/proc.h"

/* How long the simulator may take to print its ports line. */
#define START_TIMEOUT_MS 10000

/* The line payq-sim prints on stdout once both ports are open. */
static const char READY[] = "payq-sim listening port=";

const char *testsim_path(void)
{
    return PAYQ_SIM_BINARY;
}

void testsim_read_log(const struct testsim *sim, struct buf *out)
{
    char chunk[4096];
    ssize_t got;
    int fd = open(sim->log_path, O_RDONLY);

    buf_init(out, PROC_OUTPUT_MAX);
    if (fd < 0)
        return;
    while ((got = read(fd, chunk, sizeof(chunk))) > 0)
        assert_int_equal(buf_append(out, chunk, (size_t)got), PAYQ_OK);
    close(fd);
}

/* Parses the ports line if the log has it yet. */
static int find_ports(struct testsim *sim)
{
    struct buf log;
    const char *line;
    int found = 0;

    testsim_read_log(sim, &log);
    line = strstr(buf_str(&log), READY);
    if (line != NULL && strchr(line, '\n') != NULL)
        found = sscanf(line, "payq-sim listening port=%u admin_port=%u",
                       &sim->port, &sim->admin_port) == 2;
    buf_cleanup(&log);
    return found;
}

static void fail_with_log(struct testsim *sim, const char *why)
{
    struct buf log;

    testsim_read_log(sim, &log);
    fail_msg("payq-sim %s; its output:\n%s", why, buf_str(&log));
}

/* Arguments every test simulator gets, before the test's own. */
enum { FIXED_ARGS = 10 };
static const char *const fixed_args[FIXED_ARGS] = {
    "--username",     TESTSIM_USERNAME, "--password", TESTSIM_PASSWORD,
    "--key",          TESTSIM_KEY,      "--listen",   "127.0.0.1:0",
    "--admin-listen", "127.0.0.1:0"
};

static void spawn(struct testsim *sim, const char *const *args)
{
    const char *argv[1 + FIXED_ARGS + TESTSIM_ARGS_MAX + 1];
    size_t n = 0;
    int fd;

    argv[n++] = testsim_path();
    memcpy(&argv[n], fixed_args, sizeof(fixed_args));
    n += FIXED_ARGS;
    for (; args != NULL && *args != NULL; args++) {
        assert_true(n < 1 + FIXED_ARGS + TESTSIM_ARGS_MAX);
        argv[n++] = *args;
    }
    argv[n] = NULL;

    snprintf(sim->log_path, sizeof(sim->log_path), "/tmp/payq-test-sim.XXXXXX");
    fd = mkstemp(sim->log_path);
    assert_true(fd >= 0);
    close(fd);
    sim->pid = proc_start(argv, NULL, sim->log_path);
}

void testsim_start(struct testsim *sim, const char *const *args)
{
    int waited;

    spawn(sim, args);
    for (waited = 0; !find_ports(sim); waited += 10) {
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        int status;

        if (waitpid((pid_t)sim->pid, &status, WNOHANG) == sim->pid) {
            sim->pid = 0;
            fail_with_log(sim, "exited before listening");
        }
        if (waited >= START_TIMEOUT_MS)
            fail_with_log(sim, "did not print its ports");
        nanosleep(&pause, NULL);
    }
}

int testsim_stop(struct testsim *sim)
{
    int status;

    if (sim->pid <= 0)
        return -1;
    assert_int_equal(kill((pid_t)sim->pid, SIGTERM), 0);
    status = proc_wait(sim->pid);
    sim->pid = 0;
    return status;
}

void testsim_cleanup(struct testsim *sim)
{
    if (sim->log_path[0] != '\0')
        unlink(sim->log_path);
    sim->log_path[0] = '\0';
}
