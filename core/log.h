/*
 * The one logging module: logfmt lines on stderr.
 *
 *   ts=2026-12-03T19:22:01.123Z level=info msg="migrations applied" count=1
 *
 * Levels have fixed meanings:
 *   error  an operation failed and a person must act;
 *   warn   degraded but going on;
 *   info   lifecycle, operator actions, one line per file or per interval;
 *   debug  per job and per request.
 *
 * Under systemd, when stderr is the journal (JOURNAL_STREAM names it), each
 * line starts with the journald priority ("<6>") and carries no timestamp,
 * since the journal adds its own.
 *
 * Secrets: callers never pass a secret as a field. As a second line of
 * defence, every string registered with log_secret_add() is replaced by
 * [REDACTED] wherever it would appear in a line, whatever its origin (a
 * library's error text, say). Phone numbers given as LOG_PHONE fields are
 * always masked ("0788****67").
 *
 * Threads: log_emit() may be called from any thread; each line is written
 * with a single write(2). log_init(), log_set_level() and log_secret_add()
 * are for start-up, before threads exist.
 */
#ifndef PAYQ_CORE_LOG_H
#define PAYQ_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
};

enum log_field_type {
    LOG_FIELD_SKIP, /* placeholder; writes nothing */
    LOG_FIELD_STR,
    LOG_FIELD_INT,
    LOG_FIELD_PHONE,
};

/* One key=value pair of a line. Build them with the LOG_* macros below. */
struct log_field {
    const char *key; /* bare word: letters, digits, '_' */
    enum log_field_type type;
    long long num;   /* LOG_FIELD_INT */
    const char *str; /* LOG_FIELD_STR and LOG_FIELD_PHONE */
};

#define LOG_STR(k, v)                                                          \
    ((struct log_field){ .key = (k), .type = LOG_FIELD_STR, .str = (v) })
#define LOG_INT(k, v)                                                          \
    ((struct log_field){                                                       \
        .key = (k), .type = LOG_FIELD_INT, .num = (long long)(v) })
#define LOG_PHONE(k, v)                                                        \
    ((struct log_field){ .key = (k), .type = LOG_FIELD_PHONE, .str = (v) })
#define LOG_ERR(e) LOG_STR("error", payq_err_str(e))

/*
 * log_error(msg, fields...) and friends. The fields are evaluated only when
 * the level is enabled. The leading zero field lets a line have no fields.
 */
#define LOG_AT_(level, msg, ...)                                               \
    do {                                                                       \
        if (log_enabled(level))                                                \
            log_emit(                                                          \
                (level), (msg),                                                \
                (const struct log_field[]){ { 0 }, __VA_ARGS__ },              \
                sizeof((const struct log_field[]){ { 0 }, __VA_ARGS__ }) /     \
                    sizeof(struct log_field));                                 \
    } while (0)

#define log_error(...) LOG_AT_(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) LOG_AT_(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) LOG_AT_(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT_(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Longest line written, newline included; longer lines are cut short. */
#define LOG_LINE_MAX 2048

/*
 * Directs logging to fd (normally 2) at the given level, and detects the
 * journal from the JOURNAL_STREAM environment variable.
 */
void log_init(int fd, enum log_level level);

/* Changes the level. */
void log_set_level(enum log_level level);

/* Returns true when lines at level are written. Any thread. */
bool log_enabled(enum log_level level);

/* Parses "error", "warn", "info" or "debug" (any case). */
PAYQ_MUST_USE enum payq_err log_level_parse(const char *text,
                                            enum log_level *level);

/* Returns the level's name as written in lines. */
const char *log_level_name(enum log_level level);

/*
 * Registers a secret to be redacted from every line. The text is copied.
 * Secrets shorter than 3 bytes are ignored: redacting them would garble
 * ordinary text, and no real credential is that short.
 */
void log_secret_add(const char *secret);

/* Forgets every registered secret, wiping the copies. */
void log_secret_clear(void);

/*
 * Writes one line. fields[0] is ignored (see LOG_AT_); n counts it. Use the
 * log_error()... macros rather than calling this directly.
 */
void log_emit(enum log_level level, const char *msg,
              const struct log_field *fields, size_t n);

/*
 * Writes a masked form of phone into out: a Rwandan number in any of its
 * forms becomes "0788****67" (local form, first four and last two digits
 * kept); anything else keeps only its first and last two characters, or
 * nothing when shorter than eight. Always NUL-terminates when size > 0.
 */
void log_phone_mask(const char *phone, char *out, size_t size);

#endif
