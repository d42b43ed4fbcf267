/*
 * Black-box tests of build/payq: help text, exit statuses, the schema
 * gate, and that no secret ever reaches its output at any log level.
 */
#include <fcntl.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/proc.h"
#include "tests/support/testdb.h"

#define EXIT_USAGE 64
#define EXIT_CONFIG 78

/* Distinctive secrets: any appearance in the output is a leak. */
#define SECRET_PASSWORD "pw-Zq81-never-logged"
#define SECRET_KEY "key-Hb42-never-logged"
#define SECRET_DB_PASSWORD "dbpw-Xr73-never-logged"

static int db_setup(void **state)
{
    static struct testdb db;

    testdb_create(&db);
    *state = &db;
    return 0;
}

static int db_teardown(void **state)
{
    testdb_drop(*state);
    return 0;
}

/* Runs payq with up to 6 arguments and the given environment changes. */
static void payq(struct proc_result *res, const char *const *env,
                 const char *a1, const char *a2, const char *a3,
                 const char *a4)
{
    const char *argv[] = { proc_payq_path(), a1, a2, a3, a4, NULL };

    proc_run(argv, env, res);
}

static void assert_contains(const struct buf *b, const char *needle)
{
    if (strstr(buf_str(b), needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, buf_str(b));
}

static void assert_lacks(const struct proc_result *res, const char *needle)
{
    if (strstr(buf_str(&res->out), needle) != NULL ||
        strstr(buf_str(&res->err), needle) != NULL)
        fail_msg("\"%s\" leaked into output:\n%s\n%s", needle,
                 buf_str(&res->out), buf_str(&res->err));
}

static void cli_help_lists_commands_and_settings(void **state)
{
    struct proc_result res;

    (void)state;
    payq(&res, NULL, "--help", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.out, "migrate");
    assert_contains(&res.out, "status");
    assert_contains(&res.out, "--database-url");
    assert_contains(&res.out, "DATABASE_URL");
    assert_contains(&res.out, "PAYQ_PASSWORD");
    assert_contains(&res.out, "PAYQ_LOG_LEVEL");
    assert_contains(&res.out, "64 usage error");
    assert_contains(&res.out, "78 configuration error");
    proc_result_cleanup(&res);

    payq(&res, NULL, "status", "--help", NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.out, "Usage: payq status");
    assert_contains(&res.out, "--credentials FILE");
    proc_result_cleanup(&res);

    payq(&res, NULL, "help", "migrate", NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.out, "Usage: payq migrate");
    assert_contains(&res.out, "--check");
    proc_result_cleanup(&res);

    payq(&res, NULL, "--version", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.out, "payq ");
    proc_result_cleanup(&res);
}

static void cli_usage_errors_exit_64(void **state)
{
    static const char *const cases[][2] = {
        { NULL, NULL },               /* no command */
        { "frobnicate", NULL },       /* unknown command */
        { "status", "--frobnicate" }, /* unknown option */
        { "status", "extra" },        /* stray argument */
        { "--nope", NULL },           /* unknown global option */
        { "help", "nope" },           /* help for an unknown command */
        { "migrate", "--database-url" }, /* option without its value */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct proc_result res;

        payq(&res, NULL, cases[i][0], cases[i][1], NULL, NULL);
        if (res.exit_code != EXIT_USAGE)
            fail_msg("case %zu: exit %d, stderr:\n%s", i, res.exit_code,
                     buf_str(&res.err));
        assert_int_equal(buf_str(&res.out)[0], '\0');
        assert_true(res.err.len > 0);
        proc_result_cleanup(&res);
    }
}

static void cli_config_errors_exit_78(void **state)
{
    static const char creds[] =
        "username=u\npassword=" SECRET_PASSWORD "\nkey=" SECRET_KEY "\n";
    char path[] = "/tmp/payq-cli-creds.XXXXXX";
    struct proc_result res;
    int fd;

    (void)state;
    payq(&res, NULL, "--log-level", "chatty", "status", NULL);
    assert_int_equal(res.exit_code, EXIT_CONFIG);
    assert_contains(&res.err, "invalid log level");
    proc_result_cleanup(&res);

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, creds, strlen(creds)), (ssize_t)strlen(creds));
    assert_int_equal(fchmod(fd, 0644), 0);
    close(fd);
    payq(&res, NULL, "status", "--credentials", path, NULL);
    assert_int_equal(res.exit_code, EXIT_CONFIG);
    assert_contains(&res.err, "chmod 600");
    assert_lacks(&res, SECRET_PASSWORD);
    proc_result_cleanup(&res);
    unlink(path);
}

static void cli_unreachable_database_exits_1(void **state)
{
    static const char *const env[] = {
        "DATABASE_URL=host=/nonexistent-payq-socket-dir dbname=x"
        " password=" SECRET_DB_PASSWORD,
        NULL,
    };
    struct proc_result res;

    (void)state;
    payq(&res, env, "status", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 1);
    assert_contains(&res.err, "cannot connect to the database");
    assert_contains(&res.err, "host=/nonexistent-payq-socket-dir");
    assert_lacks(&res, SECRET_DB_PASSWORD);
    proc_result_cleanup(&res);
}

static void cli_schema_gate_and_migrate(void **state)
{
    const struct testdb *db = *state;
    char url[128];
    const char *env[] = { url, NULL };
    struct proc_result res;

    snprintf(url, sizeof(url), "DATABASE_URL=%s", db->conninfo);
    payq(&res, env, "status", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, EXIT_CONFIG);
    assert_contains(&res.err, "run payq migrate");
    proc_result_cleanup(&res);

    payq(&res, env, "migrate", "--check", NULL, NULL);
    assert_int_equal(res.exit_code, EXIT_CONFIG);
    assert_contains(&res.out, "schema: not migrated");
    proc_result_cleanup(&res);

    payq(&res, env, "migrate", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.err, "msg=\"migration applied\" version=1");
    assert_contains(&res.out, "is current");
    proc_result_cleanup(&res);

    payq(&res, env, "migrate", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.out, "migrations applied: 0");
    proc_result_cleanup(&res);

    payq(&res, env, "status", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.out, "batches: 0");
    assert_contains(&res.out, "queued");
    assert_contains(&res.out, "workers: 0 live");
    proc_result_cleanup(&res);
}

static void cli_refuses_newer_database(void **state)
{
    const struct testdb *db = *state;
    char url[128];
    const char *env[] = { url, NULL };
    struct proc_result res;
    PGconn *conn;

    snprintf(url, sizeof(url), "DATABASE_URL=%s", db->conninfo);
    payq(&res, env, "migrate", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    proc_result_cleanup(&res);
    conn = testdb_connect(db);
    testdb_exec_ok(conn, "insert into schema_migrations (version, name,"
                         " checksum) values (9999, 'future',"
                         " repeat('f', 64))");
    PQfinish(conn);

    payq(&res, env, "status", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, EXIT_CONFIG);
    assert_contains(&res.err, "upgrade payq");
    proc_result_cleanup(&res);
    payq(&res, env, "migrate", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, EXIT_CONFIG);
    assert_contains(&res.err, "unknown_version=9999");
    proc_result_cleanup(&res);
}

/* Every secret source at once, debug logging, success and failure. */
static void cli_never_logs_secrets(void **state)
{
    const struct testdb *db = *state;
    char url[160];
    char bad_url[160];
    const char *env[] = { url, "PAYQ_USERNAME=school",
                          "PAYQ_PASSWORD=" SECRET_PASSWORD,
                          "PAYQ_KEY=" SECRET_KEY, "PAYQ_LOG_LEVEL=debug",
                          NULL };
    const char *bad_env[] = { bad_url, "PAYQ_PASSWORD=" SECRET_PASSWORD,
                              "PAYQ_KEY=" SECRET_KEY,
                              "PAYQ_LOG_LEVEL=debug", NULL };
    struct proc_result res;

    snprintf(url, sizeof(url), "DATABASE_URL=%s password=%s", db->conninfo,
             SECRET_DB_PASSWORD);
    payq(&res, env, "migrate", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.err, "level=debug");
    assert_lacks(&res, SECRET_PASSWORD);
    assert_lacks(&res, SECRET_KEY);
    assert_lacks(&res, SECRET_DB_PASSWORD);
    proc_result_cleanup(&res);

    /* libpq quotes a malformed string in its parse error: never shown. */
    snprintf(bad_url, sizeof(bad_url),
             "DATABASE_URL=host=x password %s", SECRET_DB_PASSWORD);
    payq(&res, bad_env, "status", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, EXIT_CONFIG);
    assert_contains(&res.err, "cannot parse the database URL");
    assert_lacks(&res, SECRET_DB_PASSWORD);
    assert_lacks(&res, SECRET_PASSWORD);
    proc_result_cleanup(&res);

    snprintf(bad_url, sizeof(bad_url),
             "DATABASE_URL=postgresql://u:%s@/db?host=/nonexistent%%zz",
             SECRET_DB_PASSWORD);
    payq(&res, bad_env, "status", NULL, NULL, NULL);
    assert_true(res.exit_code != 0);
    assert_lacks(&res, SECRET_DB_PASSWORD);
    proc_result_cleanup(&res);
}

/* Writes text to a new temporary file; returns its path (static). */
static const char *temp_csv(const char *text)
{
    static char path[2][64];
    static int next;
    char *p = path[next++ % 2];
    int fd;

    snprintf(p, sizeof(path[0]), "/tmp/payq-cli-csv.XXXXXX");
    fd = mkstemp(p);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return p;
}

static void cli_import_and_approve(void **state)
{
    const struct testdb *db = *state;
    char url[128];
    const char *env[] = { url, NULL };
    const char *good = temp_csv("reference,phone,amount\n"
                                "C1,0788123456,\"1,500\"\n"
                                "C2,0788123457,2000000\n");
    const char *bad = temp_csv("reference,phone,amount\n"
                               "B1,0788123456,0\n");
    struct proc_result res;

    snprintf(url, sizeof(url), "DATABASE_URL=%s", db->conninfo);
    payq(&res, env, "migrate", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    proc_result_cleanup(&res);

    /* Several options together, each applied. */
    payq(&res, env, "import", "--kind=pay", "--hold", good);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.out, ": batch 1 (held): 2 rows accepted, "
                              "0 duplicates skipped, 0 rejected, "
                              "2,001,500 RWF\n");
    proc_result_cleanup(&res);

    payq(&res, env, "import", good, NULL, NULL);
    assert_int_equal(res.exit_code, 65);
    assert_contains(&res.err, "already imported as batch 1");
    proc_result_cleanup(&res);

    payq(&res, env, "import", bad, NULL, NULL);
    assert_int_equal(res.exit_code, 65);
    assert_contains(&res.err, ":2: amount: must be positive (0)\n");
    proc_result_cleanup(&res);

    payq(&res, env, "approve", "1", NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.out, "batch 1 approved");
    proc_result_cleanup(&res);
    payq(&res, env, "approve", "77", NULL, NULL);
    assert_int_equal(res.exit_code, 1);
    proc_result_cleanup(&res);

    payq(&res, env, "import", "--kind=payout", good, NULL);
    assert_int_equal(res.exit_code, EXIT_USAGE);
    proc_result_cleanup(&res);
    payq(&res, env, "import", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, EXIT_USAGE);
    proc_result_cleanup(&res);
    payq(&res, env, "approve", "x1", NULL, NULL);
    assert_int_equal(res.exit_code, EXIT_USAGE);
    proc_result_cleanup(&res);
    unlink(good);
    unlink(bad);
}

/* payq import --watch imports a dropped file and stops on SIGTERM. */
static void cli_import_watch_inbox(void **state)
{
    const struct testdb *db = *state;
    char url[128];
    char dir[] = "/tmp/payq-cli-inbox.XXXXXX";
    char file[96];
    char done[128];
    char log[96];
    char cmd[256];
    const char *env[] = { url, NULL };
    const char *argv[] = { proc_payq_path(), "import", "--watch", dir,
                           "--settle", "0", NULL };
    struct proc_result res;
    FILE *f;
    int pid;
    int i;

    snprintf(url, sizeof(url), "DATABASE_URL=%s", db->conninfo);
    payq(&res, env, "migrate", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    proc_result_cleanup(&res);
    assert_non_null(mkdtemp(dir));
    snprintf(log, sizeof(log), "%s.log", dir);
    pid = proc_start(argv, env, log);

    snprintf(file, sizeof(file), "%s/drop.csv", dir);
    f = fopen(file, "w");
    assert_non_null(f);
    fputs("reference,phone,amount\nW1,0788123456,1000\n", f);
    fclose(f);
    snprintf(done, sizeof(done), "%s/imported/drop.csv", dir);
    for (i = 0; i < 100 && access(done, F_OK) != 0; i++) {
        struct timespec tenth = { 0, 100 * 1000 * 1000 };

        nanosleep(&tenth, NULL);
    }
    assert_int_equal(access(done, F_OK), 0);

    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(proc_wait(pid), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, log);
    assert_int_equal(system(cmd), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, db_setup, db_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cli_help_lists_commands_and_settings),
        cmocka_unit_test(cli_usage_errors_exit_64),
        cmocka_unit_test(cli_config_errors_exit_78),
        cmocka_unit_test(cli_unreachable_database_exits_1),
        T(cli_schema_gate_and_migrate),
        T(cli_refuses_newer_database),
        T(cli_never_logs_secrets),
        T(cli_import_and_approve),
        T(cli_import_watch_inbox),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
