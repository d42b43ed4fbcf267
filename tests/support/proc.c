/* Child processes with captured output, via posix_spawn and poll. */
#include "tests/support/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

enum { ENV_MAX = 512 };

const char *proc_payq_path(void)
{
    return PAYQ_TEST_BINARY;
}

/* Does entry ("NAME=..." or "NAME") name the variable in var? */
static int same_name(const char *entry, const char *var)
{
    size_t n = strcspn(entry, "=");

    return strncmp(entry, var, n) == 0 && (var[n] == '=' || var[n] == '\0');
}

/* Builds the child's environment: ours, less and plus the changes. */
static void build_env(const char *const *changes, char **env)
{
    size_t n = 0;
    size_t i;

    for (i = 0; environ[i] != NULL && n < ENV_MAX - 64; i++) {
        const char *const *c;
        int changed = 0;

        for (c = changes; c != NULL && *c != NULL; c++)
            changed |= same_name(*c, environ[i]);
        if (!changed)
            env[n++] = environ[i];
    }
    for (i = 0; changes != NULL && changes[i] != NULL && n < ENV_MAX - 1; i++)
        if (strchr(changes[i], '=') != NULL)
            env[n++] = (char *)changes[i];
    env[n] = NULL;
}

static void drain(int *fds, struct proc_result *res)
{
    struct buf *bufs[2] = { &res->out, &res->err };
    char chunk[4096];

    while (fds[0] >= 0 || fds[1] >= 0) {
        struct pollfd p[2] = { { fds[0], POLLIN, 0 }, { fds[1], POLLIN, 0 } };
        int i;

        if (poll(p, 2, -1) < 0 && errno != EINTR)
            fail_msg("poll: %s", strerror(errno));
        for (i = 0; i < 2; i++) {
            ssize_t got;

            if (fds[i] < 0 || p[i].revents == 0)
                continue;
            got = read(fds[i], chunk, sizeof(chunk));
            if (got > 0) {
                assert_int_equal(buf_append(bufs[i], chunk, (size_t)got),
                                 PAYQ_OK);
            } else if (got == 0 || errno != EINTR) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
    }
}

void proc_run(const char *const *argv, const char *const *env,
              struct proc_result *res)
{
    posix_spawn_file_actions_t actions;
    char *child_env[ENV_MAX];
    int out_pipe[2];
    int err_pipe[2];
    int fds[2];
    int status = 0;
    pid_t pid;
    int rc;

    buf_init(&res->out, PROC_OUTPUT_MAX);
    buf_init(&res->err, PROC_OUTPUT_MAX);
    assert_int_equal(pipe(out_pipe), 0);
    assert_int_equal(pipe(err_pipe), 0);
    build_env(env, child_env);

    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
    posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
    rc = posix_spawn(&pid, argv[0], &actions, NULL, (char *const *)argv,
                     child_env);
    posix_spawn_file_actions_destroy(&actions);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0)
        fail_msg("cannot start %s: %s", argv[0], strerror(rc));

    fds[0] = out_pipe[0];
    fds[1] = err_pipe[0];
    drain(fds, res);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    res->exit_code =
        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int proc_start(const char *const *argv, const char *const *env,
               const char *log_path)
{
    posix_spawn_file_actions_t actions;
    char *child_env[ENV_MAX];
    pid_t pid;
    int rc;

    build_env(env, child_env);
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    rc = posix_spawn(&pid, argv[0], &actions, NULL, (char *const *)argv,
                     child_env);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        fail_msg("cannot start %s: %s", argv[0], strerror(rc));
    return (int)pid;
}

int proc_wait(int pid)
{
    int status = 0;

    while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void proc_result_cleanup(struct proc_result *res)
{
    buf_cleanup(&res->out);
    buf_cleanup(&res->err);
}

void proc_read_text(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
}
