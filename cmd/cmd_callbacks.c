/*
 * payq callbacks: the callback receiver alone (see callback/server.h),
 * to run apart from the workers, for instance several behind a load
 * balancer; and --print-urls, the URLs to give the provider.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "callback/committer.h"
#include "callback/server.h"
#include "callback/token.h"
#include "cmd/commands.h"
#include "core/log.h"
#include "core/sdnotify.h"
#include "db/conn.h"

enum {
    OPT_LISTEN = CLI_OPT_VERSION + 1,
    OPT_CONNECTIONS,
    OPT_MAX_CLIENTS,
    OPT_CLIENT_TIMEOUT,
    OPT_PRINT_URLS,
};

static void write_help(FILE *out)
{
    fputs("Usage: payq callbacks [OPTIONS] [GLOBAL OPTIONS]\n"
          "\n"
          "Receives the provider's final-status callbacks and applies each\n"
          "to its job, answering 200 only once it is committed, until\n"
          "SIGTERM or SIGINT. `payq work --callbacks ADDR:PORT` runs the\n"
          "same receiver inside the worker pool. A database that cannot\n"
          "be reached at start is waited for, with backoff. GET /healthz\n"
          "answers while it serves, GET /readyz while it can also store.\n"
          "\n"
          "Options:\n"
          "  --listen ADDR:PORT    where to listen [127.0.0.1:8080]\n"
          "  --connections N       database connections, 1-32 [2]\n"
          "  --max-clients N       client connections open at once,\n"
          "                        1-1024 [1024]\n"
          "  --client-timeout S    seconds before an idle client\n"
          "                        connection is closed, 1-3600 [15]\n"
          "  --print-urls          print the payout callback URL to set on\n"
          "                        the provider account, and the form of\n"
          "                        the collection URLs, then exit\n"
          "\n"
          "Environment:\n"
          "  PAYQ_CALLBACK_SECRET      key of the URL tokens, at least 16\n"
          "                            bytes (required; keep it secret)\n"
          "  PAYQ_CALLBACK_URL         the public base URL of this\n"
          "                            receiver, for --print-urls\n"
          "  PAYQ_CALLBACK_ALLOW       source addresses allowed, CIDR\n"
          "                            list [any]\n"
          "  PAYQ_CALLBACK_BASIC_AUTH  user:password required, if set\n"
          "\n",
          out);
    cli_write_global_help(out);
    fputc('\n', out);
    cli_write_exit_help(out);
}

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct callbacks_args {
    struct callback_settings settings;
    bool print_urls;
};

static enum payq_err print_urls(const struct callback_settings *s)
{
    const char *base = getenv("PAYQ_CALLBACK_URL");
    char url[2048];
    enum payq_err err;

    if (base == NULL || base[0] == '\0' || s->secret == NULL) {
        log_error("set PAYQ_CALLBACK_URL and PAYQ_CALLBACK_SECRET first");
        return PAYQ_ERR_CONFIG;
    }
    err = callback_url_deposit(base, s->secret, url, sizeof(url));
    if (err != PAYQ_OK)
        return err;
    printf("payouts (set once on the provider account):\n  %s\n", url);
    err = callback_url_pay(base, s->secret, "TXNID", url, sizeof(url));
    if (err == PAYQ_OK)
        printf("collections (sent with each request; for TXNID):\n  %s\n", url);
    return err;
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Serves until a signal, telling systemd's watchdog we are alive. */
static void wait_for_signal(void)
{
    struct timespec tick = { 0, 200 * 1000 * 1000 };
    long long watchdog_ms = sdnotify_watchdog_usec() / 2000;
    long long since_ping_ms = 0;

    while (!stop_requested) {
        nanosleep(&tick, NULL);
        since_ping_ms += 200;
        if (watchdog_ms > 0 && since_ping_ms >= watchdog_ms) {
            since_ping_ms = 0;
            if (sdnotify_send("WATCHDOG=1") != PAYQ_OK)
                log_debug("systemd watchdog not pinged");
        }
    }
}

/*
 * The receiver's life: the database, waited for as long as it takes (a
 * signal meanwhile is a clean stop), then the server until a signal.
 */
static enum payq_err serve(const struct cli *cli, const struct config *cfg,
                           struct callbacks_args *a)
{
    struct callback_server *srv = NULL;
    struct callback_counts counts;
    PGconn *conn = NULL;
    enum payq_err err;

    install_signals();
    err =
        cli_connect_wait(cli, cfg, CLI_SCHEMA_CURRENT, &stop_requested, &conn);
    /* The schema is checked; the committers open their own. */
    db_conn_close(conn);
    if (err == PAYQ_ERR_INTERRUPTED) {
        log_info("stopped while waiting for the database");
        return PAYQ_OK;
    }
    if (err == PAYQ_OK)
        err = callback_server_start(cfg, &a->settings, &srv);
    if (err != PAYQ_OK)
        return err;
    if (sdnotify_send("READY=1") != PAYQ_OK)
        log_debug("systemd not told of readiness");
    wait_for_signal();
    if (sdnotify_send("STOPPING=1") != PAYQ_OK)
        log_debug("systemd not told of stopping");
    callback_server_counts(srv, &counts);
    callback_server_stop(srv);
    log_info("callback receiver stopped", LOG_INT("stored", counts.stored),
             LOG_INT("refused", counts.refused), LOG_INT("bad", counts.bad),
             LOG_INT("failed", counts.failed));
    return PAYQ_OK;
}

static bool parse_int(const char *text, long min, long max, int *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);

    if (end == text || *end != '\0' || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

/* One receiver option; false with *bad naming its rule. */
static bool callbacks_option(struct callbacks_args *a, int opt, const char *arg,
                             const char **bad)
{
    struct callback_settings *s = &a->settings;

    switch (opt) {
    case OPT_LISTEN:
        s->listen = arg;
        return true;
    case OPT_CONNECTIONS:
        *bad = "--connections takes 1 to 32";
        return parse_int(arg, 1, CALLBACK_COMMITTERS_MAX, &s->db_connections);
    case OPT_MAX_CLIENTS:
        *bad = "--max-clients takes 1 to 1024";
        return parse_int(arg, 1, CALLBACK_CONNECTIONS_MAX, &s->max_clients);
    case OPT_CLIENT_TIMEOUT:
        *bad = "--client-timeout takes 1 to 3600 seconds";
        return parse_int(arg, 1, 3600, &s->client_timeout_s);
    case OPT_PRINT_URLS:
        a->print_urls = true;
        return true;
    }
    *bad = "invalid option";
    return false;
}

int cmd_callbacks(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "connections", required_argument, NULL, OPT_CONNECTIONS },
        { "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
        { "client-timeout", required_argument, NULL, OPT_CLIENT_TIMEOUT },
        { "print-urls", no_argument, NULL, OPT_PRINT_URLS },
        { NULL, 0, NULL, 0 },
    };
    struct callbacks_args a;
    struct config cfg;
    enum payq_err err;
    int opt;

    memset(&a, 0, sizeof(a));
    callback_settings_from_env(&a.settings);
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        const char *bad = NULL;

        if (cli_global_option(cli, opt, optarg))
            continue;
        if (!callbacks_option(&a, opt, optarg, &bad))
            return cli_usage_error(cli, "%s", bad);
    }
    if (cli->help) {
        write_help(stdout);
        return 0;
    }
    if (optind < argc)
        return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
    if (a.print_urls)
        return cli_exit_code(print_urls(&a.settings));
    err = cli_configure(cli, &cfg);
    if (err == PAYQ_OK)
        err = serve(cli, &cfg, &a);
    config_cleanup(&cfg);
    return cli_exit_code(err);
}
