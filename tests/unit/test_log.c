/* Unit tests for core/log: format, levels, journald, masking, secrets. */
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

#include "core/log.h"

/* Each test logs into a fresh temporary file and reads it back. */
struct capture {
    int fd;
    char text[8192];
};

static int capture_setup(void **state)
{
    static struct capture cap;
    char path[] = "/tmp/payq-test-log.XXXXXX";

    cap.fd = mkstemp(path);
    if (cap.fd < 0)
        return -1;
    unlink(path);
    unsetenv("JOURNAL_STREAM");
    log_init(cap.fd, LOG_LEVEL_DEBUG);
    *state = &cap;
    return 0;
}

static int capture_teardown(void **state)
{
    struct capture *cap = *state;

    log_secret_clear();
    log_init(2, LOG_LEVEL_INFO);
    close(cap->fd);
    return 0;
}

/* Everything logged so far. */
static const char *captured(struct capture *cap)
{
    ssize_t n = pread(cap->fd, cap->text, sizeof(cap->text) - 1, 0);

    assert_true(n >= 0);
    cap->text[n] = '\0';
    return cap->text;
}

static void log_line_is_logfmt(void **state)
{
    struct capture *cap = *state;
    const char *text;

    log_info("batch imported", LOG_STR("file", "fees term 1.csv"),
             LOG_INT("rows", 1500), LOG_STR("empty", ""),
             LOG_STR("plain", "abc"));
    text = captured(cap);
    assert_memory_equal(text, "ts=20", 5);
    assert_non_null(strstr(text, "Z level=info msg=\"batch imported\" "
                                 "file=\"fees term 1.csv\" rows=1500 "
                                 "empty=\"\" plain=abc\n"));
    assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text));
}

static void log_line_without_fields(void **state)
{
    struct capture *cap = *state;

    log_warn("degraded");
    assert_non_null(strstr(captured(cap), "level=warn msg=\"degraded\"\n"));
}

static void log_level_filters_lines(void **state)
{
    struct capture *cap = *state;

    log_set_level(LOG_LEVEL_WARN);
    log_debug("hidden debug");
    log_info("hidden info");
    log_warn("shown warn");
    log_error("shown error");
    assert_null(strstr(captured(cap), "hidden"));
    assert_non_null(strstr(cap->text, "level=warn msg=\"shown warn\""));
    assert_non_null(strstr(cap->text, "level=error msg=\"shown error\""));
    assert_false(log_enabled(LOG_LEVEL_INFO));
    assert_true(log_enabled(LOG_LEVEL_ERROR));
}

static void log_values_are_escaped(void **state)
{
    struct capture *cap = *state;

    log_info("a \"quoted\" msg", LOG_STR("v", "x=1 \"y\"\\z\nnext\001"));
    assert_non_null(strstr(captured(cap),
                           "msg=\"a \\\"quoted\\\" msg\" "
                           "v=\"x=1 \\\"y\\\"\\\\z\\nnext\\x01\"\n"));
    /* The newline inside the value did not split the line. */
    assert_int_equal(strchr(cap->text, '\n') - cap->text + 1,
                     (long)strlen(cap->text));
}

static void log_phone_mask_table(void **state)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        { "0788123467", "0788****67" },
        { "250788123467", "0788****67" },
        { "+250 788 123 467", "0788****67" },
        { "788123467", "0788****67" },
        { "(078) 812-3467", "0788****67" },
        { "0721234599", "0721****99" },
        { "12345", "****" },
        { "", "****" },
        { "abcdefghij", "ab****ij" },
    };
    char out[32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        log_phone_mask(cases[i].in, out, sizeof(out));
        assert_string_equal(out, cases[i].out);
    }
    log_phone_mask(NULL, out, sizeof(out));
    assert_string_equal(out, "");
}

static void log_phone_field_is_masked(void **state)
{
    struct capture *cap = *state;

    log_info("job sent", LOG_PHONE("phone", "250788123467"));
    assert_non_null(strstr(captured(cap), "phone=0788****67\n"));
    assert_null(strstr(cap->text, "123467"));
}

static void log_secrets_are_redacted(void **state)
{
    struct capture *cap = *state;

    log_secret_add("Pa55-w0rd!");
    log_secret_add("k3y-abcdef");
    log_error("failed with Pa55-w0rd! inside",
              LOG_STR("reason", "auth k3y-abcdef rejected"),
              LOG_STR("conninfo", "host=x password=Pa55-w0rd!"));
    captured(cap);
    assert_null(strstr(cap->text, "Pa55-w0rd!"));
    assert_null(strstr(cap->text, "k3y-abcdef"));
    assert_non_null(strstr(cap->text, "failed with [REDACTED] inside"));
    assert_non_null(strstr(cap->text, "auth [REDACTED] rejected"));
}

static void log_short_secrets_are_ignored(void **state)
{
    struct capture *cap = *state;

    log_secret_add("ab");
    log_info("tab and cab");
    assert_non_null(strstr(captured(cap), "msg=\"tab and cab\""));
}

static void log_long_line_is_cut(void **state)
{
    struct capture *cap = *state;
    char big[5000];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_info("big", LOG_STR("value", big), LOG_INT("after", 1));
    captured(cap);
    assert_true(strlen(cap->text) <= LOG_LINE_MAX);
    assert_non_null(strstr(cap->text, " truncated=true\n"));
    assert_int_equal(strchr(cap->text, '\n') - cap->text + 1,
                     (long)strlen(cap->text));
}

static void log_journal_stream_gets_priorities(void **state)
{
    struct capture *cap = *state;
    struct stat st;
    char stream[64];

    assert_int_equal(fstat(cap->fd, &st), 0);
    snprintf(stream, sizeof(stream), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", stream, 1);
    log_init(cap->fd, LOG_LEVEL_DEBUG);
    log_info("to journal");
    log_error("bad");
    captured(cap);
    assert_memory_equal(cap->text, "<6>level=info msg=\"to journal\"\n", 31);
    assert_non_null(strstr(cap->text, "\n<3>level=error msg=\"bad\"\n"));
    assert_null(strstr(cap->text, "ts="));

    /* Another file's identity is not the journal. */
    setenv("JOURNAL_STREAM", "1:2", 1);
    log_init(cap->fd, LOG_LEVEL_DEBUG);
    log_info("plain again");
    assert_non_null(strstr(captured(cap), "ts="));
}

static void log_level_parse_table(void **state)
{
    static const struct {
        const char *text;
        enum payq_err err;
        enum log_level level;
    } cases[] = {
        { "error", PAYQ_OK, LOG_LEVEL_ERROR },
        { "WARN", PAYQ_OK, LOG_LEVEL_WARN },
        { "Info", PAYQ_OK, LOG_LEVEL_INFO },
        { "debug", PAYQ_OK, LOG_LEVEL_DEBUG },
        { "warning", PAYQ_ERR_CONFIG, LOG_LEVEL_INFO },
        { "", PAYQ_ERR_CONFIG, LOG_LEVEL_INFO },
        { "trace", PAYQ_ERR_CONFIG, LOG_LEVEL_INFO },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum log_level level = LOG_LEVEL_INFO;

        assert_int_equal(log_level_parse(cases[i].text, &level), cases[i].err);
        assert_int_equal(level, cases[i].level);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, capture_setup, capture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(log_line_is_logfmt),
        T(log_line_without_fields),
        T(log_level_filters_lines),
        T(log_values_are_escaped),
        cmocka_unit_test(log_phone_mask_table),
        T(log_phone_field_is_masked),
        T(log_secrets_are_redacted),
        T(log_short_secrets_are_ignored),
        T(log_long_line_is_cut),
        T(log_journal_stream_gets_priorities),
        cmocka_unit_test(log_level_parse_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
