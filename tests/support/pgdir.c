/* A test's own PostgreSQL cluster, through scripts/pg-private. */
#include "tests/support/pgdir.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/proc.h"

static const char PG_PRIVATE[] = PAYQ_SOURCE_DIR "/scripts/pg-private";

/*
 * Output goes to a file, not a pipe: a server started here inherits it,
 * and a pipe would then never reach end of file.
 */
static void run_pg_private(const char *action, const char *dir)
{
    const char *argv[] = { PG_PRIVATE, action, dir, NULL };
    char log_path[128];
    int status;

    snprintf(log_path, sizeof(log_path), "%s.log", dir);
    status = proc_wait(proc_start(argv, NULL, log_path));
    if (status != 0)
        fail_msg("pg-private %s %s failed (%d); see %s", action, dir, status,
                 log_path);
}

void testpg_start_fresh(struct testpg *pg)
{
    const char *argv[] = { PG_PRIVATE, "env", pg->dir, NULL };
    static const char KEY[] = "DATABASE_URL='";
    struct proc_result res;
    const char *p;

    snprintf(pg->dir, sizeof(pg->dir), "/tmp/payq-test-pg.XXXXXX");
    assert_non_null(mkdtemp(pg->dir));
    run_pg_private("start", pg->dir);
    proc_run(argv, NULL, &res);
    p = strstr(buf_str(&res.out), KEY);
    assert_non_null(p);
    p += sizeof(KEY) - 1;
    snprintf(pg->url, sizeof(pg->url), "%.*s", (int)strcspn(p, "'"), p);
    proc_result_cleanup(&res);
}

void testpg_ctl(const struct testpg *pg, const char *action)
{
    run_pg_private(action, pg->dir);
}

void testpg_migrate(const struct testpg *pg)
{
    const char *argv[] = { proc_payq_path(), "migrate", NULL };
    char env_url[300];
    const char *env[] = { env_url, NULL };
    struct proc_result res;

    snprintf(env_url, sizeof(env_url), "DATABASE_URL=%s", pg->url);
    proc_run(argv, env, &res);
    if (res.exit_code != 0)
        fail_msg("payq migrate failed: %s", buf_str(&res.err));
    proc_result_cleanup(&res);
}

void testpg_remove(struct testpg *pg)
{
    const char *argv[] = { "/bin/rm", "-rf", pg->dir, NULL };
    char log_path[128];
    struct proc_result res;

    if (pg->dir[0] == '\0')
        return;
    run_pg_private("stop", pg->dir);
    proc_run(argv, NULL, &res);
    proc_result_cleanup(&res);
    snprintf(log_path, sizeof(log_path), "%s.log", pg->dir);
    unlink(log_path);
    pg->dir[0] = '\0';
}
