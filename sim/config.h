/*
 * The simulator's settings: one plain struct, filled once by payq-sim's
 * main() from flags and the environment, then passed as
 * `const struct sim_config *` to every module. Nothing changes it after
 * start-up, so threads read it without a lock.
 *
 * Shares ("percentages") are kept in basis points, hundredths of a
 * percent: "2" is 200 and "0.25" is 25. They are parsed from text without
 * floating point, like amounts.
 */
#ifndef PAYQ_SIM_CONFIG_H
#define PAYQ_SIM_CONFIG_H

#include <stdbool.h>

#include "core/err.h"
#include "core/log.h"

/* 100 % in basis points. */
#define SIM_BP_ALL 10000

/* Most --decline flags. */
#define SIM_DECLINES_MAX 16

/* Longest host part of --listen and --admin-listen. */
#define SIM_HOST_MAX 64

/* One --decline CODE=PERCENT. */
struct sim_decline {
    char code[8]; /* a response code of the reference, e.g. "1002" */
    int bp;       /* share of pay/deposit requests, basis points */
};

/* How --latency-ms MIN-MAX is drawn (--latency-dist). */
enum sim_latency_dist {
    SIM_LATENCY_UNIFORM, /* any value from MIN to MAX alike */
    SIM_LATENCY_EXP,     /* MIN plus an exponential draw of mean
                          * (MAX - MIN) / 4, cut at MAX: a long tail */
};

/* An address to listen on; the host is a numeric IPv4 or IPv6 address. */
struct sim_listen {
    char host[SIM_HOST_MAX]; /* "127.0.0.1", "::1"... */
    unsigned port;           /* 0: let the kernel choose */
};

struct sim_config {
    /* Server. */
    struct sim_listen listen; /* --listen; 127.0.0.1:0 */
    struct sim_listen admin;  /* --admin-listen; 127.0.0.1:0 */
    const char *username;     /* --username; borrowed, not owned */
    const char *password;     /* --password; secret, borrowed */
    const char *key;          /* --key; secret, borrowed */
    long max_transactions;    /* --max-transactions; 2,000,000 */
    int server_threads;       /* --server-threads; -1: auto (below) */
    long shutdown_grace_ms;   /* --shutdown-grace-ms; 2000 */
    enum log_level log_level; /* --log-level; info */

    /* Amounts, in whole RWF. */
    long long min_amount;    /* --min-amount; 100 */
    long long max_amount;    /* --max-amount; 5,000,000 */
    long long opening_float; /* --float; 10,000,000 */

    /* Faults of the initiation request. */
    unsigned long long seed; /* --seed; 1 */
    long latency_min_ms;     /* --latency-ms MIN-MAX; 0-0 */
    long latency_max_ms;
    enum sim_latency_dist latency_dist;            /* --latency-dist; uniform */
    struct sim_decline declines[SIM_DECLINES_MAX]; /* --decline */
    int decline_count;
    int http500_bp;     /* --http500 */
    int drop_bp;        /* --drop-after-execute */
    int slow_bp;        /* --slow */
    long slow_ms;       /* --slow-ms; 5000 */
    int http429_bp;     /* --http429 */
    int http503_bp;     /* --http503 */
    long retry_after_s; /* --retry-after; 1: their Retry-After header */

    /* Faults of the callback. */
    int duplicate_bp;       /* --duplicate-callbacks */
    int early_bp;           /* --early-callbacks */
    bool reorder;           /* --reorder-callbacks */
    long reorder_window_ms; /* --reorder-window-ms; 1000 */
    int lose_bp;            /* --lose-callbacks */
    int late_failure_bp;    /* --late-failure */

    /* Callback delivery. */
    long callback_delay_ms;           /* --callback-delay-ms; 200 */
    int callback_retries;             /* --callback-retries; 5 */
    long callback_backoff_ms;         /* --callback-backoff-ms; 500 */
    long callback_timeout_ms;         /* --callback-timeout-ms; 2000 */
    int callback_threads;             /* --callback-threads; 4 */
    const char *deposit_callback_url; /* --deposit-callback-url; NULL */
};

/* Fills cfg with the defaults listed beside each field. */
void sim_config_init(struct sim_config *cfg);

/*
 * Parses a share of requests: "2", "2.5" or "0.25" percent, at most two
 * decimals, 0 to 100. Writes basis points into *bp. PAYQ_ERR_USAGE when
 * text is not one.
 */
PAYQ_MUST_USE enum payq_err sim_config_parse_percent(const char *text, int *bp);

/*
 * Parses a whole number from min to max, digits only, into *value.
 * PAYQ_ERR_USAGE when text is not one.
 */
PAYQ_MUST_USE enum payq_err sim_config_parse_number(const char *text,
                                                    long long min,
                                                    long long max,
                                                    long long *value);

/* Parses "uniform" or "exp" into cfg->latency_dist. */
PAYQ_MUST_USE enum payq_err
sim_config_parse_latency_dist(const char *text, struct sim_config *cfg);

/* Parses "MIN-MAX" or "N" milliseconds (N-N) into cfg's latency range. */
PAYQ_MUST_USE enum payq_err sim_config_parse_latency(const char *text,
                                                     struct sim_config *cfg);

/*
 * Parses "CODE=PERCENT" and appends it to cfg->declines. The code must be
 * a failure code of the reference (not 1000, 01 or 2400).
 */
PAYQ_MUST_USE enum payq_err sim_config_add_decline(const char *text,
                                                   struct sim_config *cfg);

/* Parses "HOST:PORT" or "[HOST]:PORT" with a numeric host into *out. */
PAYQ_MUST_USE enum payq_err sim_config_parse_listen(const char *text,
                                                    struct sim_listen *out);

/*
 * True when a request may sleep or block in its thread: --latency-ms,
 * --slow, or --early-callbacks (a POST made before answering).
 */
bool sim_config_requests_block(const struct sim_config *cfg);

/* True for a numeric loopback address: 127.0.0.0/8, ::1, ::ffff:127.x. */
bool sim_config_is_loopback(const char *host);

/*
 * Checks the settings as a whole: credentials present, the admin port on
 * loopback, amount bounds in order, and the shares that decide a
 * request's outcome (declines, --http500, --drop-after-execute, --slow,
 * --http429, --http503) adding up to 100 % or less. Writes what is wrong to
 * *why (static text) and returns PAYQ_ERR_CONFIG.
 */
PAYQ_MUST_USE enum payq_err sim_config_check(const struct sim_config *cfg,
                                             const char **why);

#endif
