/*
 * Defaults and value parsers for the simulator's flags. Parsers only
 * judge text; payq-sim's main() names the offending flag in its message.
 */
#include "sim/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "sim/codes.h"

/* Longest number accepted: beyond this a long long could overflow. */
#define NUMBER_DIGITS_MAX 15

void sim_config_init(struct sim_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen.host, sizeof(cfg->listen.host), "127.0.0.1");
    snprintf(cfg->admin.host, sizeof(cfg->admin.host), "127.0.0.1");
    cfg->min_amount = 100;
    cfg->max_amount = 5000000;
    cfg->opening_float = 10000000;
    cfg->seed = 1;
    cfg->slow_ms = 5000;
    cfg->retry_after_s = 1;
    cfg->reorder_window_ms = 1000;
    cfg->callback_delay_ms = 200;
    cfg->callback_retries = 5;
    cfg->callback_backoff_ms = 500;
    cfg->callback_timeout_ms = 2000;
    cfg->callback_threads = 4;
    cfg->max_transactions = 2000000;
    cfg->server_threads = -1;
    cfg->shutdown_grace_ms = 2000;
    cfg->log_level = LOG_LEVEL_INFO;
}

/* Reads digits from *p into *value; returns how many were read. */
static int read_digits(const char **p, long long *value)
{
    int n = 0;

    *value = 0;
    while (**p >= '0' && **p <= '9' && n < NUMBER_DIGITS_MAX + 1) {
        *value = *value * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n;
}

enum payq_err sim_config_parse_number(const char *text, long long min,
                                      long long max, long long *value)
{
    const char *p = text;
    long long v;
    int n = read_digits(&p, &v);

    if (n == 0 || n > NUMBER_DIGITS_MAX || *p != '\0')
        return PAYQ_ERR_USAGE;
    if (v < min || v > max)
        return PAYQ_ERR_USAGE;
    *value = v;
    return PAYQ_OK;
}

enum payq_err sim_config_parse_percent(const char *text, int *bp)
{
    const char *p = text;
    long long whole;
    long long frac = 0;
    int n = read_digits(&p, &whole);
    int places = 0;

    if (n == 0 || n > 3)
        return PAYQ_ERR_USAGE;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9' && places < 3) {
            frac = frac * 10 + (*p++ - '0');
            places++;
        }
        if (places == 0 || places > 2)
            return PAYQ_ERR_USAGE;
        if (places == 1)
            frac *= 10;
    }
    if (*p != '\0' || whole * 100 + frac > SIM_BP_ALL)
        return PAYQ_ERR_USAGE;
    *bp = (int)(whole * 100 + frac);
    return PAYQ_OK;
}

enum payq_err sim_config_parse_latency(const char *text, struct sim_config *cfg)
{
    char low[16];
    const char *dash = strchr(text, '-');
    long long lo;
    long long hi;
    size_t n = dash != NULL ? (size_t)(dash - text) : strlen(text);

    if (n == 0 || n >= sizeof(low))
        return PAYQ_ERR_USAGE;
    memcpy(low, text, n);
    low[n] = '\0';
    if (sim_config_parse_number(low, 0, 600000, &lo) != PAYQ_OK)
        return PAYQ_ERR_USAGE;
    hi = lo;
    if (dash != NULL &&
        sim_config_parse_number(dash + 1, lo, 600000, &hi) != PAYQ_OK)
        return PAYQ_ERR_USAGE;
    cfg->latency_min_ms = (long)lo;
    cfg->latency_max_ms = (long)hi;
    return PAYQ_OK;
}

enum payq_err sim_config_parse_latency_dist(const char *text,
                                            struct sim_config *cfg)
{
    if (strcmp(text, "uniform") == 0)
        cfg->latency_dist = SIM_LATENCY_UNIFORM;
    else if (strcmp(text, "exp") == 0)
        cfg->latency_dist = SIM_LATENCY_EXP;
    else
        return PAYQ_ERR_USAGE;
    return PAYQ_OK;
}

enum payq_err sim_config_add_decline(const char *text, struct sim_config *cfg)
{
    struct sim_decline *d;
    const char *eq = strchr(text, '=');
    size_t n = eq != NULL ? (size_t)(eq - text) : 0;

    if (cfg->decline_count == SIM_DECLINES_MAX || n == 0 ||
        n >= sizeof(d->code))
        return PAYQ_ERR_USAGE;
    d = &cfg->declines[cfg->decline_count];
    memcpy(d->code, text, n);
    d->code[n] = '\0';
    if (!sim_codes_is_decline(d->code))
        return PAYQ_ERR_USAGE;
    if (sim_config_parse_percent(eq + 1, &d->bp) != PAYQ_OK)
        return PAYQ_ERR_USAGE;
    cfg->decline_count++;
    return PAYQ_OK;
}

/* Splits "HOST:PORT" or "[HOST]:PORT"; returns the port text or NULL. */
static const char *split_host(const char *text, char *host, size_t size)
{
    const char *end;
    const char *port;

    if (text[0] == '[') {
        end = strchr(text, ']');
        if (end == NULL || end[1] != ':')
            return NULL;
        text++;
        port = end + 2;
    } else {
        end = strrchr(text, ':');
        if (end == NULL)
            return NULL;
        port = end + 1;
    }
    if ((size_t)(end - text) >= size)
        return NULL;
    memcpy(host, text, (size_t)(end - text));
    host[end - text] = '\0';
    return port;
}

enum payq_err sim_config_parse_listen(const char *text, struct sim_listen *out)
{
    unsigned char addr[sizeof(struct in6_addr)];
    char host[SIM_HOST_MAX];
    const char *port = split_host(text, host, sizeof(host));
    long long number;

    if (port == NULL ||
        sim_config_parse_number(port, 0, 65535, &number) != PAYQ_OK)
        return PAYQ_ERR_USAGE;
    if (inet_pton(AF_INET, host, addr) != 1 &&
        inet_pton(AF_INET6, host, addr) != 1)
        return PAYQ_ERR_USAGE;
    memcpy(out->host, host, sizeof(host));
    out->port = (unsigned)number;
    return PAYQ_OK;
}

bool sim_config_requests_block(const struct sim_config *cfg)
{
    return cfg->latency_max_ms > 0 || cfg->slow_bp > 0 || cfg->early_bp > 0;
}

bool sim_config_is_loopback(const char *host)
{
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0,    0,
                                              0, 0, 0, 0, 0xff, 0xff };
    unsigned char addr[sizeof(struct in6_addr)];

    if (inet_pton(AF_INET, host, addr) == 1)
        return addr[0] == 127;
    if (inet_pton(AF_INET6, host, addr) != 1)
        return false;
    if (memcmp(addr, mapped, sizeof(mapped)) == 0)
        return addr[12] == 127;
    return memcmp(addr, &in6addr_loopback, sizeof(in6addr_loopback)) == 0;
}

/* The shares that pick one outcome per request, summed. */
static int outcome_bp(const struct sim_config *cfg)
{
    int sum = cfg->http500_bp + cfg->drop_bp + cfg->slow_bp + cfg->http429_bp +
              cfg->http503_bp;
    int i;

    for (i = 0; i < cfg->decline_count; i++)
        sum += cfg->declines[i].bp;
    return sum;
}

enum payq_err sim_config_check(const struct sim_config *cfg, const char **why)
{
    *why = NULL;
    if (cfg->username == NULL || cfg->username[0] == '\0')
        *why = "a username is required (--username, PAYQ_SIM_USERNAME)";
    else if (cfg->password == NULL || cfg->password[0] == '\0')
        *why = "a password is required (--password, PAYQ_SIM_PASSWORD)";
    else if (cfg->key == NULL || cfg->key[0] == '\0')
        *why = "an API key is required (--key, PAYQ_SIM_KEY)";
    else if (!sim_config_is_loopback(cfg->admin.host))
        *why = "--admin-listen must be a loopback address (127.0.0.0/8 or"
               " ::1): the admin port resets the ledger and shows phones";
    else if (cfg->min_amount > cfg->max_amount)
        *why = "--min-amount is above --max-amount";
    else if (outcome_bp(cfg) > SIM_BP_ALL)
        *why = "--decline, --http500, --drop-after-execute, --slow,"
               " --http429 and --http503 add up to more than 100 %";
    return *why == NULL ? PAYQ_OK : PAYQ_ERR_CONFIG;
}
