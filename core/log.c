/*
 * logfmt writer. A line is built in a fixed stack buffer, scrubbed of
 * registered secrets, then written with one write(2) so that lines from
 * concurrent threads never interleave.
 */
#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"

enum { LOG_SECRETS_MAX = 16, LOG_SECRET_MIN_LEN = 3 };

static const char REDACTED[] = "[REDACTED]";
static const char TRUNCATED[] = " truncated=true\n";

static const struct {
    const char *name;
    int journal_priority; /* syslog(3) priority, as journald reads it */
} level_table[] = {
    [LOG_LEVEL_ERROR] = { "error", 3 },
    [LOG_LEVEL_WARN] = { "warn", 4 },
    [LOG_LEVEL_INFO] = { "info", 6 },
    [LOG_LEVEL_DEBUG] = { "debug", 7 },
};

static int log_fd = 2;
static atomic_int log_threshold = LOG_LEVEL_INFO;
static bool log_to_journal;
static char *log_secrets[LOG_SECRETS_MAX];
static size_t log_secret_count;

/* A line under construction: writes past the end are dropped and noted. */
struct line {
    char text[LOG_LINE_MAX];
    size_t len;
    bool overflow;
};

static void line_put(struct line *ln, const char *s, size_t n)
{
    size_t room = sizeof(ln->text) - sizeof(TRUNCATED) - ln->len;

    if (n > room) {
        n = room;
        ln->overflow = true;
    }
    memcpy(ln->text + ln->len, s, n);
    ln->len += n;
}

static void line_puts(struct line *ln, const char *s)
{
    line_put(ln, s, strlen(s));
}

/* logfmt needs quotes around empty values and ones with these bytes. */
static bool value_needs_quotes(const char *s)
{
    if (*s == '\0')
        return true;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
            return true;
    }
    return false;
}

static void line_put_escaped(struct line *ln, const char *s)
{
    char esc[8];

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            line_put(ln, esc, 2);
        } else if (c == '\n') {
            line_puts(ln, "\\n");
        } else if (c < ' ' || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", c);
            line_puts(ln, esc);
        } else {
            line_put(ln, (const char *)&c, 1);
        }
    }
}

static void line_put_value(struct line *ln, const char *s)
{
    if (s == NULL)
        s = "";
    if (!value_needs_quotes(s)) {
        line_puts(ln, s);
        return;
    }
    line_puts(ln, "\"");
    line_put_escaped(ln, s);
    line_puts(ln, "\"");
}

static void line_put_timestamp(struct line *ln)
{
    struct timespec now;
    struct tm tm;
    char stamp[40];
    size_t n;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    n = strftime(stamp, sizeof(stamp), "ts=%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ ", now.tv_nsec / 1000000L);
    line_puts(ln, stamp);
}

static void line_put_field(struct line *ln, const struct log_field *f)
{
    char scratch[32];

    if (f->type == LOG_FIELD_SKIP || f->key == NULL)
        return;
    line_puts(ln, " ");
    line_puts(ln, f->key);
    line_puts(ln, "=");
    switch (f->type) {
    case LOG_FIELD_INT:
        snprintf(scratch, sizeof(scratch), "%lld", f->num);
        line_puts(ln, scratch);
        break;
    case LOG_FIELD_PHONE:
        log_phone_mask(f->str, scratch, sizeof(scratch));
        line_put_value(ln, scratch);
        break;
    default:
        line_put_value(ln, f->str);
        break;
    }
}

/* Copies src to dst replacing every registered secret; returns dst's len. */
static size_t redact(const char *src, size_t len, char *dst, size_t size)
{
    size_t in = 0;
    size_t out = 0;

    while (in < len && out + 1 < size) {
        size_t i;
        bool hit = false;

        for (i = 0; i < log_secret_count && !hit; i++) {
            size_t slen = strlen(log_secrets[i]);

            if (slen <= len - in &&
                memcmp(src + in, log_secrets[i], slen) == 0) {
                size_t r = sizeof(REDACTED) - 1;

                if (r > size - 1 - out)
                    r = size - 1 - out;
                memcpy(dst + out, REDACTED, r);
                out += r;
                in += slen;
                hit = true;
            }
        }
        if (!hit)
            dst[out++] = src[in++];
    }
    return out;
}

static void line_write(const struct line *ln)
{
    char clean[LOG_LINE_MAX + 64];
    const char *p = clean;
    size_t left = redact(ln->text, ln->len, clean, sizeof(clean));

    if (left > 0 && clean[left - 1] != '\n')
        clean[left - 1] = '\n';
    while (left > 0) {
        ssize_t n = write(log_fd, p, left);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to report a logging failure */
        p += n;
        left -= (size_t)n;
    }
}

void log_emit(enum log_level level, const char *msg,
              const struct log_field *fields, size_t n)
{
    struct line ln = { .len = 0, .overflow = false };
    char prio[8];
    size_t i;

    if ((size_t)level >= sizeof(level_table) / sizeof(level_table[0]))
        level = LOG_LEVEL_ERROR;
    if (log_to_journal) {
        snprintf(prio, sizeof(prio), "<%d>",
                 level_table[level].journal_priority);
        line_puts(&ln, prio);
    } else {
        line_put_timestamp(&ln);
    }
    line_puts(&ln, "level=");
    line_puts(&ln, level_table[level].name);
    line_puts(&ln, " msg=\"");
    line_put_escaped(&ln, msg != NULL ? msg : "");
    line_puts(&ln, "\"");
    for (i = 1; i < n; i++)
        line_put_field(&ln, &fields[i]);

    if (ln.overflow) {
        memcpy(ln.text + ln.len, TRUNCATED, sizeof(TRUNCATED) - 1);
        ln.len += sizeof(TRUNCATED) - 1;
    } else {
        ln.text[ln.len++] = '\n';
    }
    line_write(&ln);
}

/* JOURNAL_STREAM is "device:inode" of the journal's socket. */
static bool fd_is_journal(int fd)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev;
    unsigned long long ino;
    struct stat st;
    char tail;

    if (env == NULL)
        return false;
    if (sscanf(env, "%llu:%llu%c", &dev, &ino, &tail) != 2)
        return false;
    if (fstat(fd, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

void log_init(int fd, enum log_level level)
{
    log_fd = fd;
    log_set_level(level);
    log_to_journal = fd_is_journal(fd);
}

void log_set_level(enum log_level level)
{
    atomic_store(&log_threshold, (int)level);
}

bool log_enabled(enum log_level level)
{
    return (int)level <= atomic_load(&log_threshold);
}

enum payq_err log_level_parse(const char *text, enum log_level *level)
{
    size_t i;

    for (i = 0; i < sizeof(level_table) / sizeof(level_table[0]); i++) {
        if (strcasecmp(text, level_table[i].name) == 0) {
            *level = (enum log_level)i;
            return PAYQ_OK;
        }
    }
    return PAYQ_ERR_CONFIG;
}

const char *log_level_name(enum log_level level)
{
    if ((size_t)level >= sizeof(level_table) / sizeof(level_table[0]))
        return "unknown";
    return level_table[level].name;
}

void log_secret_add(const char *secret)
{
    size_t i;

    if (secret == NULL || strlen(secret) < LOG_SECRET_MIN_LEN)
        return;
    for (i = 0; i < log_secret_count; i++)
        if (strcmp(log_secrets[i], secret) == 0)
            return;
    if (log_secret_count == LOG_SECRETS_MAX)
        return;
    log_secrets[log_secret_count] = mem_strdup(secret);
    if (log_secrets[log_secret_count] != NULL)
        log_secret_count++;
}

void log_secret_clear(void)
{
    while (log_secret_count > 0) {
        log_secret_count--;
        mem_free_secret(log_secrets[log_secret_count]);
        log_secrets[log_secret_count] = NULL;
    }
}

/* Keeps only the digits of a phone number, at most size - 1 of them. */
static size_t phone_digits(const char *phone, char *digits, size_t size)
{
    size_t n = 0;

    for (; *phone != '\0' && n + 1 < size; phone++)
        if (isdigit((unsigned char)*phone))
            digits[n++] = *phone;
    digits[n] = '\0';
    return n;
}

/* The local ten-digit form 07XXXXXXXX of a Rwandan mobile, or NULL. */
static const char *phone_local(char *digits, size_t n)
{
    if (n == 12 && strncmp(digits, "2507", 4) == 0) {
        digits[2] = '0';
        return digits + 2;
    }
    if (n == 10 && strncmp(digits, "07", 2) == 0)
        return digits;
    if (n == 9 && digits[0] == '7') {
        memmove(digits + 1, digits, n + 1);
        digits[0] = '0';
        return digits;
    }
    return NULL;
}

void log_phone_mask(const char *phone, char *out, size_t size)
{
    char digits[24];
    const char *local;
    size_t len;

    if (size == 0)
        return;
    out[0] = '\0';
    if (phone == NULL)
        return;

    local = phone_local(digits, phone_digits(phone, digits, 14));
    if (local != NULL) {
        snprintf(out, size, "%.4s****%.2s", local, local + 8);
        return;
    }
    len = strlen(phone);
    if (len < 8)
        snprintf(out, size, "****");
    else
        snprintf(out, size, "%.2s****%.2s", phone, phone + len - 2);
}
