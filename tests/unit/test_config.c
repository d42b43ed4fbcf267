/* Unit tests for core/config: precedence and the credentials file. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/mem.h"

static const char *const ENV_VARS[] = {
    "DATABASE_URL",  "PAYQ_LOG_LEVEL", "PAYQ_USERNAME",
    "PAYQ_PASSWORD", "PAYQ_KEY",
};

static int clean_env(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ENV_VARS) / sizeof(ENV_VARS[0]); i++)
        unsetenv(ENV_VARS[i]);
    /* Errors are expected in several tests: keep the output quiet. */
    log_init(2, LOG_LEVEL_ERROR);
    return 0;
}

/* Writes text to a new temporary file with the given mode. */
static void write_file(char *path, const char *text, mode_t mode)
{
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void config_defaults_apply(void **state)
{
    struct config cfg;

    (void)state;
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, NULL), PAYQ_OK);
    assert_null(cfg.database_url);
    assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
    assert_null(cfg.credentials.password);
    assert_int_equal(config_require_credentials(&cfg), PAYQ_ERR_CONFIG);
    config_cleanup(&cfg);
}

static void config_env_beats_default(void **state)
{
    struct config cfg;

    (void)state;
    setenv("DATABASE_URL", "dbname=from_env", 1);
    setenv("PAYQ_LOG_LEVEL", "debug", 1);
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, NULL), PAYQ_OK);
    assert_string_equal(cfg.database_url, "dbname=from_env");
    assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
    config_cleanup(&cfg);
}

static void config_flag_beats_env(void **state)
{
    struct config_flags flags = {
        .database_url = "dbname=from_flag",
        .log_level = "warn",
    };
    struct config cfg;

    (void)state;
    setenv("DATABASE_URL", "dbname=from_env", 1);
    setenv("PAYQ_LOG_LEVEL", "debug", 1);
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, &flags), PAYQ_OK);
    assert_string_equal(cfg.database_url, "dbname=from_flag");
    assert_int_equal(cfg.log_level, LOG_LEVEL_WARN);
    config_cleanup(&cfg);
}

static void config_bad_log_level_is_config_error(void **state)
{
    struct config_flags flags = { .log_level = "loud" };
    struct config cfg;

    (void)state;
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, &flags), PAYQ_ERR_CONFIG);
    config_cleanup(&cfg);
    setenv("PAYQ_LOG_LEVEL", "verbose", 1);
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, NULL), PAYQ_ERR_CONFIG);
    config_cleanup(&cfg);
}

static void config_credentials_from_env(void **state)
{
    struct config cfg;

    (void)state;
    setenv("PAYQ_USERNAME", "school", 1);
    setenv("PAYQ_PASSWORD", "env-password", 1);
    setenv("PAYQ_KEY", "env-key", 1);
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, NULL), PAYQ_OK);
    assert_string_equal(cfg.credentials.username, "school");
    assert_string_equal(cfg.credentials.password, "env-password");
    assert_string_equal(cfg.credentials.key, "env-key");
    assert_string_equal(cfg.credentials_source, "environment");
    assert_int_equal(config_require_credentials(&cfg), PAYQ_OK);
    config_cleanup(&cfg);
    log_secret_clear();
}

static void config_partial_env_credentials_incomplete(void **state)
{
    struct config cfg;

    (void)state;
    setenv("PAYQ_USERNAME", "school", 1);
    setenv("PAYQ_KEY", "env-key", 1);
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, NULL), PAYQ_OK);
    assert_int_equal(config_require_credentials(&cfg), PAYQ_ERR_CONFIG);
    config_cleanup(&cfg);
    log_secret_clear();
}

static void config_credentials_file_beats_env(void **state)
{
    char path[] = "/tmp/payq-creds.XXXXXX";
    struct config_flags flags = { .credentials_file = path };
    struct config cfg;

    (void)state;
    write_file(path,
               "# provider account\n"
               "username = file-user\r\n"
               "\n"
               "PAYQ_PASSWORD=file pass word\n"
               "key=file-key",
               0600);
    setenv("PAYQ_USERNAME", "env-user", 1);
    setenv("PAYQ_PASSWORD", "env-password", 1);
    setenv("PAYQ_KEY", "env-key", 1);
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, &flags), PAYQ_OK);
    assert_string_equal(cfg.credentials.username, "file-user");
    assert_string_equal(cfg.credentials.password, "file pass word");
    assert_string_equal(cfg.credentials.key, "file-key");
    assert_string_equal(cfg.credentials_source, path);
    config_cleanup(&cfg);
    log_secret_clear();
    unlink(path);
}

/* Every mode that lets group or others in is refused. */
static void config_credentials_loose_mode_refused(void **state)
{
    static const mode_t modes[] = { 0640, 0604, 0644, 0660, 0620,
                                    0602, 0610, 0601, 0777 };
    struct config_credentials creds = { NULL, NULL, NULL };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        char path[] = "/tmp/payq-creds.XXXXXX";

        write_file(path, "username=u\npassword=ppp\nkey=kkk\n", modes[i]);
        assert_int_equal(config_read_credentials(&creds, path),
                         PAYQ_ERR_CONFIG);
        assert_null(creds.password);
        unlink(path);
    }
    for (i = 0; i < 2; i++) {
        char path[] = "/tmp/payq-creds.XXXXXX";

        write_file(path, "username=u\npassword=ppp\nkey=kkk\n",
                   i == 0 ? 0600 : 0400);
        assert_int_equal(config_read_credentials(&creds, path), PAYQ_OK);
        config_credentials_cleanup(&creds);
        unlink(path);
    }
}

static void config_credentials_bad_files_refused(void **state)
{
    static const char *const bodies[] = {
        "username=u\npassword=p\n",                 /* key missing */
        "username=u\npassword=p\nkey=\n",           /* key empty */
        "username=u\npassword=p\nkey=k\ntoken=t\n", /* unknown name */
        "username=u\npassword p\nkey=k\n",          /* not name=value */
        "",                                         /* empty */
    };
    struct config_credentials creds = { NULL, NULL, NULL };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char path[] = "/tmp/payq-creds.XXXXXX";

        write_file(path, bodies[i], 0600);
        assert_int_equal(config_read_credentials(&creds, path),
                         PAYQ_ERR_CONFIG);
        assert_null(creds.username);
        unlink(path);
    }
    assert_int_equal(config_read_credentials(&creds, "/nonexistent/creds"),
                     PAYQ_ERR_CONFIG);
    assert_int_equal(config_read_credentials(&creds, "/tmp"), PAYQ_ERR_CONFIG);
}

static void config_credentials_size_and_nul_limits(void **state)
{
    static const char nul_body[] = "username=u\0x\npassword=p\nkey=k\n";
    char big[CONFIG_CREDENTIALS_MAX + 100];
    char path[] = "/tmp/payq-creds.XXXXXX";
    char nul_path[] = "/tmp/payq-creds.XXXXXX";
    struct config_credentials creds = { NULL, NULL, NULL };
    int fd;

    (void)state;
    memset(big, '#', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    write_file(path, big, 0600);
    assert_int_equal(config_read_credentials(&creds, path), PAYQ_ERR_CONFIG);
    unlink(path);

    fd = mkstemp(nul_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, nul_body, sizeof(nul_body) - 1),
                     (ssize_t)sizeof(nul_body) - 1);
    close(fd);
    assert_int_equal(config_read_credentials(&creds, nul_path),
                     PAYQ_ERR_CONFIG);
    unlink(nul_path);
}

static void config_cleanup_frees_everything(void **state)
{
    long before = mem_live_count();
    struct config_flags flags = { .database_url = "dbname=x" };
    struct config cfg;

    (void)state;
    setenv("PAYQ_USERNAME", "u", 1);
    setenv("PAYQ_PASSWORD", "leak-check-password", 1);
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, &flags), PAYQ_OK);
    config_cleanup(&cfg);
    log_secret_clear();
    assert_int_equal(mem_live_count(), before);
}

#define T(f) cmocka_unit_test_setup(f, clean_env)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(config_defaults_apply),
        T(config_env_beats_default),
        T(config_flag_beats_env),
        T(config_bad_log_level_is_config_error),
        T(config_credentials_from_env),
        T(config_partial_env_credentials_incomplete),
        T(config_credentials_file_beats_env),
        T(config_credentials_loose_mode_refused),
        T(config_credentials_bad_files_refused),
        T(config_credentials_size_and_nul_limits),
        T(config_cleanup_frees_everything),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
