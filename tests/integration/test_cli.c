/*
 * Black-box tests of build/payq: help text, exit statuses, the schema
 * gate, where the database settings come from (flag, DATABASE_URL, PG*),
 * application_name and connect timeout, and that no secret ever reaches
 * its output at any log level, provider credentials included.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "callback/token.h"
#include "core/config.h"
#include "core/log.h"
#include "db/conn.h"
#include "tests/support/proc.h"
#include "tests/support/sim.h"
#include "tests/support/testdb.h"
#include "tests/support/work.h"

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
                 const char *a1, const char *a2, const char *a3, const char *a4)
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
        { NULL, NULL },                  /* no command */
        { "frobnicate", NULL },          /* unknown command */
        { "status", "--frobnicate" },    /* unknown option */
        { "status", "extra" },           /* stray argument */
        { "--nope", NULL },              /* unknown global option */
        { "help", "nope" },              /* help for an unknown command */
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
    const char *env[] = { url,
                          "PAYQ_USERNAME=school",
                          "PAYQ_PASSWORD=" SECRET_PASSWORD,
                          "PAYQ_KEY=" SECRET_KEY,
                          "PAYQ_LOG_LEVEL=debug",
                          NULL };
    const char *bad_env[] = { bad_url, "PAYQ_PASSWORD=" SECRET_PASSWORD,
                              "PAYQ_KEY=" SECRET_KEY, "PAYQ_LOG_LEVEL=debug",
                              NULL };
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
    snprintf(bad_url, sizeof(bad_url), "DATABASE_URL=host=x password %s",
             SECRET_DB_PASSWORD);
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
                           "--settle",       "0",      NULL };
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

enum { ARGS_MAX = 12 };

/* Runs payq with the NULL-terminated args and the environment changes. */
static void run_payq(struct proc_result *res, const char *const *env,
                     const char *const *args)
{
    const char *argv[ARGS_MAX + 2] = { NULL };
    size_t n = 0;

    argv[n++] = proc_payq_path();
    for (; *args != NULL; args++) {
        assert_true(n <= ARGS_MAX);
        argv[n++] = *args;
    }
    argv[n] = NULL;
    proc_run(argv, env, res);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A new empty file under /tmp for a background payq's output. */
static void temp_log(char path[64])
{
    int fd;

    snprintf(path, 64, "/tmp/payq-cli-log.XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
}

/* Each subcommand with every option of its getopt table. */
struct help_case {
    const char *command;
    const char *options[20]; /* NULL-terminated */
};

static const struct help_case help_cases[] = {
    { "import",
      { "--kind", "--skip-invalid", "--dry-run", "--hold", "--force",
        "--delimiter", "--verbose", "--watch", "--settle", NULL } },
    { "approve", { NULL } },
    { "pause", { NULL } },
    { "resume", { NULL } },
    { "cancel", { "--job", NULL } },
    { "retry", { NULL } },
    { "resolve", { "--succeeded", "--failed", "--evidence", NULL } },
    { "status", { NULL } },
    { "work",
      { "--workers", "--rate", "--max-in-flight", "--listen", "--no-listen",
        "--poll", "--claim", "--lease", "--grace", "--max-probes",
        "--backoff-base", "--backoff-cap", "--callback-timeout", "--progress",
        "--inbox", "--inbox-kind", "--callbacks", "--callback-connections",
        NULL } },
    { "balance", { "--json", NULL } },
    { "callbacks",
      { "--listen", "--connections", "--max-clients", "--client-timeout",
        "--print-urls", NULL } },
    { "migrate", { "--check", NULL } },
    { "report", { "--batch", "--since", "--until", "--format", NULL } },
    { "show", { "--job", "--reference", "--format", NULL } },
};

/* Fails unless text has a line that starts by describing option. */
static void assert_option_line(const char *text, const char *command,
                               const char *option)
{
    char needle[64];
    const char *p = text;
    size_t len;

    len = (size_t)snprintf(needle, sizeof(needle), "\n  %s", option);
    while ((p = strstr(p, needle)) != NULL) {
        if (p[len] == ' ' || p[len] == '\n')
            return;
        p += len;
    }
    fail_msg("payq %s --help does not describe %s:\n%s", command, option, text);
}

/* What every help text says about the database and the global options. */
static void assert_global_help(const struct buf *out)
{
    char timeout[32];

    snprintf(timeout, sizeof(timeout), "give up after %d s",
             DB_CONNECT_TIMEOUT_S);
    assert_contains(out, "--database-url URL");
    assert_contains(out, "--log-level LEVEL");
    assert_contains(out, "--credentials FILE");
    assert_contains(out, "DATABASE_URL");
    assert_contains(out, "PGCONNECT_TIMEOUT");
    assert_contains(out, "PGAPPNAME");
    assert_contains(out, "application_name");
    assert_contains(out, timeout);
    assert_contains(out, "Exit status: 0 success");
}

static void cli_help_for_every_command(void **state)
{
    struct proc_result top;
    size_t i;

    (void)state;
    payq(&top, NULL, "--help", NULL, NULL, NULL);
    assert_int_equal(top.exit_code, 0);
    assert_global_help(&top.out);
    for (i = 0; i < sizeof(help_cases) / sizeof(help_cases[0]); i++) {
        const struct help_case *c = &help_cases[i];
        struct proc_result res;
        struct proc_result via_help;
        char usage[64];
        char listed[64];
        size_t j;

        snprintf(listed, sizeof(listed), "\n  %s ", c->command);
        assert_contains(&top.out, listed);
        payq(&res, NULL, c->command, "--help", NULL, NULL);
        if (res.exit_code != 0 || res.err.len != 0)
            fail_msg("payq %s --help: exit %d:\n%s", c->command, res.exit_code,
                     buf_str(&res.err));
        snprintf(usage, sizeof(usage), "Usage: payq %s", c->command);
        assert_true(strncmp(buf_str(&res.out), usage, strlen(usage)) == 0);
        for (j = 0; c->options[j] != NULL; j++)
            assert_option_line(buf_str(&res.out), c->command, c->options[j]);
        assert_global_help(&res.out);

        /* payq help CMD and -h print the very same text. */
        payq(&via_help, NULL, "help", c->command, NULL, NULL);
        assert_int_equal(via_help.exit_code, 0);
        assert_string_equal(buf_str(&via_help.out), buf_str(&res.out));
        proc_result_cleanup(&via_help);
        payq(&via_help, NULL, c->command, "-h", NULL, NULL);
        assert_int_equal(via_help.exit_code, 0);
        assert_string_equal(buf_str(&via_help.out), buf_str(&res.out));
        proc_result_cleanup(&via_help);
        proc_result_cleanup(&res);
    }
    proc_result_cleanup(&top);
}

/* Placeholder for the CSV file import is given in the gate's table. */
#define CSV_ARG "@csv"

/* Every command that uses the database, with arguments it accepts. */
static const char *const gate_commands[][8] = {
    { "import", CSV_ARG, NULL },
    { "approve", "1", NULL },
    { "pause", "1", NULL },
    { "resume", "1", NULL },
    { "cancel", "1", NULL },
    { "cancel", "--job", "1", NULL },
    { "retry", "1", NULL },
    { "resolve", "1", "--failed", "--evidence", "statement 7", NULL },
    { "status", NULL },
    { "report", "batches", NULL },
    { "show", "1", NULL },
    { "callbacks", "--listen", "127.0.0.1:0", NULL },
    { "work", "--workers", "1", NULL },
};

/* A schema state the gate refuses: how to make it, what payq says. */
struct gate_state {
    const char *name;
    const char *sql; /* run after migrating; NULL: leave unmigrated */
    const char *message;
};

static const struct gate_state gate_states[] = {
    { "unmigrated", NULL, "the database is not migrated: run payq migrate" },
    { "older", "delete from schema_migrations where version > 1",
      "the database schema is older than this payq: run payq migrate" },
    { "newer",
      "insert into schema_migrations (version, name, checksum) values"
      " (9999, 'future', repeat('f', 64))",
      "it was migrated by a newer payq; upgrade payq" },
};

#define GATE_STATES (sizeof(gate_states) / sizeof(gate_states[0]))

/* Runs one command on one refused schema: 78, the advice, no output. */
static void gate_check(const struct testdb *db, const struct gate_state *st,
                       const char *const *command, const char *csv)
{
    char url[128];
    const char *env[] = { url,
                          "PAYQ_USERNAME=u",
                          "PAYQ_PASSWORD=p",
                          "PAYQ_KEY=k",
                          "PAYQ_API_URL=http://127.0.0.1:9/",
                          "PAYQ_CALLBACK_URL=http://127.0.0.1:9/cb",
                          "PAYQ_CALLBACK_SECRET=" TESTWORK_CALLBACK_SECRET,
                          NULL };
    const char *args[8];
    struct proc_result res;
    size_t i;

    snprintf(url, sizeof(url), "DATABASE_URL=%s", db->conninfo);
    for (i = 0; command[i] != NULL; i++)
        args[i] = strcmp(command[i], CSV_ARG) == 0 ? csv : command[i];
    args[i] = NULL;
    run_payq(&res, env, args);
    if (res.exit_code != EXIT_CONFIG ||
        strstr(buf_str(&res.err), st->message) == NULL || res.out.len != 0)
        fail_msg("payq %s on an %s database: exit %d, stdout:\n%s\n"
                 "stderr:\n%s",
                 command[0], st->name, res.exit_code, buf_str(&res.out),
                 buf_str(&res.err));
    proc_result_cleanup(&res);
}

static void cli_schema_gate_for_every_command(void **state)
{
    struct testdb dbs[GATE_STATES];
    const char *csv = temp_csv("reference,phone,amount\n"
                               "G1,0788123456,1000\n");
    size_t s;
    size_t c;

    dbs[0] = *(const struct testdb *)*state;
    for (s = 1; s < GATE_STATES; s++) {
        PGconn *conn;

        testdb_create_migrated(&dbs[s]);
        conn = testdb_connect(&dbs[s]);
        testdb_exec_ok(conn, gate_states[s].sql);
        PQfinish(conn);
    }
    for (s = 0; s < GATE_STATES; s++)
        for (c = 0; c < sizeof(gate_commands) / sizeof(gate_commands[0]); c++)
            gate_check(&dbs[s], &gate_states[s], gate_commands[c], csv);

    /* Refused before acting: nothing imported, approved or registered. */
    for (s = 1; s < GATE_STATES; s++) {
        PGconn *conn = testdb_connect(&dbs[s]);

        assert_int_equal(testdb_scalar(conn, "select (select count(*) from"
                                             " batches) + (select count(*) from"
                                             " operator_actions) + (select"
                                             " count(*) from workers)"),
                         0);
        PQfinish(conn);
        testdb_drop(&dbs[s]);
    }
    unlink(csv);
}

/* Migrates db with payq migrate; fails the test unless it exits 0. */
static void migrate_db(const struct testdb *db)
{
    char url[128];
    const char *env[] = { url, NULL };
    struct proc_result res;

    snprintf(url, sizeof(url), "DATABASE_URL=%s", db->conninfo);
    payq(&res, env, "migrate", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    proc_result_cleanup(&res);
}

static void cli_database_url_flag_beats_environment(void **state)
{
    const struct testdb *db = *state;
    static const char bad_flag[] = "host=/nonexistent-payq-from-flag dbname=x";
    char good_env[128];
    char flag_eq[128];
    const char *env_bad[] = { "DATABASE_URL=host=/nonexistent-payq-from-env"
                              " dbname=x",
                              NULL };
    const char *env_good[] = { good_env, NULL };
    struct proc_result res;

    migrate_db(db);
    snprintf(good_env, sizeof(good_env), "DATABASE_URL=%s", db->conninfo);
    snprintf(flag_eq, sizeof(flag_eq), "--database-url=%s", db->conninfo);

    /* The flag wins over DATABASE_URL, before or after the command. */
    payq(&res, env_bad, "--database-url", db->conninfo, "status", NULL);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.out, "batches: 0");
    proc_result_cleanup(&res);
    payq(&res, env_bad, "status", "--database-url", db->conninfo, NULL);
    assert_int_equal(res.exit_code, 0);
    proc_result_cleanup(&res);
    payq(&res, env_bad, "status", flag_eq, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    proc_result_cleanup(&res);

    /* ... also when the flag is the one that is wrong. */
    payq(&res, env_good, "status", "--database-url", bad_flag, NULL);
    assert_int_equal(res.exit_code, 1);
    assert_contains(&res.err, "host=/nonexistent-payq-from-flag");
    proc_result_cleanup(&res);

    /* Without the flag, DATABASE_URL is used. */
    payq(&res, env_bad, "status", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 1);
    assert_contains(&res.err, "host=/nonexistent-payq-from-env");
    proc_result_cleanup(&res);
}

static void cli_uses_pg_variables_alone(void **state)
{
    const struct testdb *db = *state;
    const char *pghost = getenv("PGHOST");
    char pgdatabase[96];
    char logged_db[96];
    char logged_host[256];
    const char *env[] = { "DATABASE_URL", pgdatabase, "PAYQ_LOG_LEVEL=debug",
                          NULL };
    const char *env_missing[] = { "DATABASE_URL",
                                  "PGDATABASE=payq_cli_no_such_database",
                                  NULL };
    struct proc_result res;

    migrate_db(db);
    snprintf(pgdatabase, sizeof(pgdatabase), "PGDATABASE=%s", db->name);
    snprintf(logged_db, sizeof(logged_db), "database=%s", db->name);
    payq(&res, env, "status", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.err, "msg=\"connected to the database\"");
    assert_contains(&res.err, logged_db);
    if (pghost != NULL) {
        snprintf(logged_host, sizeof(logged_host), "host=%s", pghost);
        assert_contains(&res.err, logged_host);
    }
    proc_result_cleanup(&res);

    /* PGDATABASE is really what was used: a missing one fails. */
    payq(&res, env_missing, "status", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 1);
    assert_contains(&res.err, "database=payq_cli_no_such_database");
    proc_result_cleanup(&res);
}

/*
 * Runs `payq callbacks` on db with url and the extra environment entry
 * extra, and waits until its connections, and only they, carry name.
 */
static void expect_application_name(const struct testdb *db, const char *url,
                                    const char *extra, const char *name)
{
    char url_env[192];
    char log[64];
    char sql[512];
    char text[16384];
    const char *env[] = { url_env,
                          "PAYQ_CALLBACK_SECRET=" TESTWORK_CALLBACK_SECRET,
                          extra, NULL };
    const char *argv[] = {
        proc_payq_path(), "callbacks", "--listen", "127.0.0.1:0",
        "--connections",  "1",         NULL
    };
    PGconn *conn = testdb_connect(db);
    bool seen;
    int pid;

    snprintf(url_env, sizeof(url_env), "DATABASE_URL=%s", url);
    temp_log(log);
    pid = proc_start(argv, env, log);
    snprintf(sql, sizeof(sql),
             "select count(*) filter (where application_name = '%s') > 0"
             " and count(*) filter (where application_name <> '%s') = 0"
             " from pg_stat_activity where datname = '%s'"
             " and pid <> pg_backend_pid()",
             name, name, db->name);
    seen = testwork_wait_sql(conn, sql, 20000);
    /* SIGKILL: a SIGTERM could come before its handler is installed. */
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(proc_wait(pid), 128 + SIGKILL);
    proc_read_text(log, text, sizeof(text));
    unlink(log);
    PQfinish(conn);
    if (!seen)
        fail_msg("no connection named %s; payq callbacks said:\n%s", name,
                 text);
}

static void cli_sets_application_name(void **state)
{
    const struct testdb *db = *state;
    char url[160];

    migrate_db(db);
    expect_application_name(db, db->conninfo, "PGAPPNAME", "payq-callbacks");
    expect_application_name(db, db->conninfo, "PGAPPNAME=payq-cli-env-name",
                            "payq-cli-env-name");
    snprintf(url, sizeof(url), "%s application_name=payq-cli-url-name",
             db->conninfo);
    expect_application_name(db, url, "PGAPPNAME=payq-cli-env-name",
                            "payq-cli-url-name");
}

/* A value of the options the connection was made with, or "". */
static void conn_option(PGconn *conn, const char *key, char *out, size_t size)
{
    PQconninfoOption *opts = PQconninfo(conn);
    PQconninfoOption *o;

    assert_non_null(opts);
    out[0] = '\0';
    for (o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, key) == 0 && o->val != NULL)
            snprintf(out, size, "%s", o->val);
    PQconninfoFree(opts);
}

/* What db_conn_open() gives libpq, read back from a real connection. */
static void open_and_read(const char *url, char timeout[16], char app_name[64])
{
    struct config_flags flags = { .database_url = url };
    struct config cfg;
    PGconn *conn = NULL;

    config_init(&cfg);
    assert_int_equal(config_load(&cfg, &flags), PAYQ_OK);
    assert_int_equal(db_conn_open(&cfg, "status", &conn), PAYQ_OK);
    conn_option(conn, "connect_timeout", timeout, 16);
    snprintf(app_name, 64, "%s", PQparameterStatus(conn, "application_name"));
    db_conn_close(conn);
    config_cleanup(&cfg);
}

static void cli_connect_timeout_defaults_to_ten_seconds(void **state)
{
    const struct testdb *db = *state;
    char url[160];
    char timeout[16];
    char app_name[64];
    char ten[16];

    log_init(2, LOG_LEVEL_ERROR);
    snprintf(ten, sizeof(ten), "%d", DB_CONNECT_TIMEOUT_S);
    assert_string_equal(ten, "10");
    unsetenv("PGCONNECT_TIMEOUT");
    open_and_read(db->conninfo, timeout, app_name);
    assert_string_equal(timeout, ten);
    assert_string_equal(app_name, "payq-status");

    setenv("PGCONNECT_TIMEOUT", "3", 1);
    open_and_read(db->conninfo, timeout, app_name);
    assert_string_equal(timeout, "3");
    unsetenv("PGCONNECT_TIMEOUT");

    snprintf(url, sizeof(url), "%s connect_timeout=4", db->conninfo);
    open_and_read(url, timeout, app_name);
    assert_string_equal(timeout, "4");
}

/* A TCP port that accepts connections and never says a word. */
static int silent_listener(unsigned *port)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

/*
 * Waits for pid; fails unless it exits 1, timed out, after 1.5 to 8 s:
 * more than the 2 s asked for, well short of the default 10.
 */
static void expect_timed_out(int pid, const char *log, long long started,
                             const char *what)
{
    char text[16384];
    long long took;
    int status = proc_wait(pid);

    took = now_ms() - started;
    proc_read_text(log, text, sizeof(text));
    unlink(log);
    print_message("%s: exit %d after %lld ms\n", what, status, took);
    if (status != 1 || took < 1500 || took > 8000 ||
        strstr(text, "timeout expired") == NULL)
        fail_msg("%s: exit %d after %lld ms:\n%s", what, status, took, text);
}

static void cli_connect_timeout_is_honoured(void **state)
{
    char url[96];
    char url_timeout[128];
    char logs[3][64];
    const char *argv[] = { proc_payq_path(), "status", NULL };
    const char *env_pg[] = { url, "PGCONNECT_TIMEOUT=2", NULL };
    const char *env_url[] = { url_timeout, "PGCONNECT_TIMEOUT=60", NULL };
    const char *env_default[] = { url, "PGCONNECT_TIMEOUT", NULL };
    unsigned port;
    int fd = silent_listener(&port);
    long long started;
    int pids[3];
    int i;

    (void)state;
    snprintf(url, sizeof(url),
             "DATABASE_URL=host=127.0.0.1 port=%u"
             " dbname=x",
             port);
    snprintf(url_timeout, sizeof(url_timeout), "%s connect_timeout=2", url);
    for (i = 0; i < 3; i++)
        temp_log(logs[i]);
    started = now_ms();
    pids[0] = proc_start(argv, env_pg, logs[0]);
    pids[1] = proc_start(argv, env_url, logs[1]);
    pids[2] = proc_start(argv, env_default, logs[2]);

    expect_timed_out(pids[0], logs[0], started, "PGCONNECT_TIMEOUT=2");
    expect_timed_out(pids[1], logs[1], started, "connect_timeout=2");
    /* The default is longer: still waiting where the others gave up. */
    sleep_ms(1000);
    assert_int_equal(kill(pids[2], 0), 0);
    assert_int_equal(kill(pids[2], SIGKILL), 0);
    assert_int_equal(proc_wait(pids[2]), 128 + SIGKILL);
    unlink(logs[2]);
    close(fd);
}

/* Fails if text holds needle (a secret). */
static void assert_text_lacks(const char *text, const char *needle)
{
    if (strstr(text, needle) != NULL)
        fail_msg("\"%s\" leaked into the log:\n%s", needle, text);
}

/* payq balance, the only command whose main job is the credentials. */
static void balance_never_logs_secrets(const struct testsim *sim,
                                       const char *db_url)
{
    static const char creds[] =
        "username=" TESTSIM_USERNAME "\npassword=" TESTSIM_PASSWORD
        "\nkey=" TESTSIM_KEY "\n";
    char api[64];
    char path[] = "/tmp/payq-cli-creds.XXXXXX";
    const char *env[] = { db_url,
                          api,
                          "PAYQ_USERNAME=" TESTSIM_USERNAME,
                          "PAYQ_PASSWORD=" TESTSIM_PASSWORD,
                          "PAYQ_KEY=" TESTSIM_KEY,
                          "PAYQ_LOG_LEVEL=debug",
                          NULL };
    const char *env_wrong[] = { db_url,
                                api,
                                "PAYQ_USERNAME=" TESTSIM_USERNAME,
                                "PAYQ_PASSWORD=" SECRET_PASSWORD,
                                "PAYQ_KEY=" SECRET_KEY,
                                "PAYQ_LOG_LEVEL=debug",
                                NULL };
    const char *env_file[] = { db_url,
                               api,
                               "PAYQ_USERNAME",
                               "PAYQ_PASSWORD",
                               "PAYQ_KEY",
                               "PAYQ_LOG_LEVEL=debug",
                               NULL };
    struct proc_result res;
    int fd;

    snprintf(api, sizeof(api), "PAYQ_API_URL=http://127.0.0.1:%u/", sim->port);
    payq(&res, env, "balance", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_contains(&res.out, "net balance");
    assert_contains(&res.err, "level=debug");
    assert_lacks(&res, TESTSIM_PASSWORD);
    assert_lacks(&res, TESTSIM_KEY);
    proc_result_cleanup(&res);

    /* Refused credentials: the error path names neither of them. */
    payq(&res, env_wrong, "balance", NULL, NULL, NULL);
    assert_int_equal(res.exit_code, EXIT_CONFIG);
    assert_lacks(&res, SECRET_PASSWORD);
    assert_lacks(&res, SECRET_KEY);
    proc_result_cleanup(&res);

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, creds, strlen(creds)), (ssize_t)strlen(creds));
    close(fd);
    payq(&res, env_file, "balance", "--credentials", path, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_lacks(&res, TESTSIM_PASSWORD);
    assert_lacks(&res, TESTSIM_KEY);
    proc_result_cleanup(&res);
    unlink(path);
}

/* Every callback token payq made for this database's attempts. */
static void assert_no_token_logged(PGconn *conn, const char *text)
{
    char token[CALLBACK_TOKEN_LEN + 1];
    PGresult *res = PQexec(conn, "select request_txn_id from attempts");
    int i;

    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_true(PQntuples(res) > 0);
    for (i = 0; i < PQntuples(res); i++) {
        assert_int_equal(callback_token_pay(TESTWORK_CALLBACK_SECRET,
                                            PQgetvalue(res, i, 0), token),
                         PAYQ_OK);
        assert_text_lacks(text, token);
    }
    PQclear(res);
    assert_int_equal(callback_token_deposit(TESTWORK_CALLBACK_SECRET, token),
                     PAYQ_OK);
    assert_text_lacks(text, token);
}

/*
 * payq work sends real requests, with the credentials, to the simulator:
 * at debug level, neither they, the callback secret and tokens, nor the
 * database password reach its log, which does name host and database.
 */
static void cli_work_and_balance_never_log_secrets(void **state)
{
    const struct testdb *db = *state;
    const char *pghost = getenv("PGHOST");
    const char *wenv[] = { "PAYQ_LOG_LEVEL=debug", NULL };
    char url[160];
    char db_url[192];
    char logged[256];
    char text[1 << 20];
    struct testsim sim;
    struct testwork w = { 0 };
    struct testwork_ledger ledger;
    PGconn *conn;

    migrate_db(db);
    snprintf(url, sizeof(url), "%s password=%s", db->conninfo,
             SECRET_DB_PASSWORD);
    snprintf(db_url, sizeof(db_url), "DATABASE_URL=%s", url);
    testsim_start(&sim, NULL);
    balance_never_logs_secrets(&sim, db_url);

    conn = testdb_connect(db);
    testwork_seed(conn, "pay", 3, 100);
    testwork_seed(conn, "deposit", 3, 100);
    testwork_start(&w, url, &sim, NULL, wenv);
    if (!testwork_wait_sql(conn,
                           "select count(*) = 0 from jobs where state"
                           " in ('queued', 'running')",
                           20000)) {
        testwork_dump_log(&w);
        fail_msg("payq work left jobs unsent");
    }
    assert_int_equal(testwork_signal(&w, SIGTERM), 0);
    testwork_ledger(&sim, &ledger);
    assert_true(ledger.attempts >= 6);

    proc_read_text(w.log_path, text, sizeof(text));
    assert_non_null(strstr(text, "level=debug"));
    assert_text_lacks(text, TESTSIM_PASSWORD);
    assert_text_lacks(text, TESTSIM_KEY);
    assert_text_lacks(text, TESTWORK_CALLBACK_SECRET);
    assert_text_lacks(text, SECRET_DB_PASSWORD);
    assert_no_token_logged(conn, text);
    snprintf(logged, sizeof(logged), "database=%s", db->name);
    assert_non_null(strstr(text, logged));
    if (pghost != NULL) {
        snprintf(logged, sizeof(logged), "host=%s", pghost);
        assert_non_null(strstr(text, logged));
    }
    PQfinish(conn);
    testwork_cleanup(&w);
    testsim_stop(&sim);
    testsim_cleanup(&sim);
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
        cmocka_unit_test(cli_help_for_every_command),
        T(cli_schema_gate_for_every_command),
        T(cli_database_url_flag_beats_environment),
        T(cli_uses_pg_variables_alone),
        T(cli_sets_application_name),
        T(cli_connect_timeout_defaults_to_ten_seconds),
        cmocka_unit_test(cli_connect_timeout_is_honoured),
        T(cli_work_and_balance_never_log_secrets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
