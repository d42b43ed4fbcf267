/*
 * payq work: the long-lived worker pool that drains the queue (see
 * worker/pool.h), with, optionally, an inbox directory imported as files
 * arrive (see ingest/inbox.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "callback/committer.h"
#include "callback/server.h"
#include "callback/token.h"
#include "cmd/commands.h"
#include "core/log.h"
#include "db/conn.h"
#include "ingest/inbox.h"
#include "upstream/client.h"
#include "worker/pool.h"

enum {
    OPT_WORKERS = CLI_OPT_VERSION + 1,
    OPT_RATE,
    OPT_MAX_IN_FLIGHT,
    OPT_LISTEN,
    OPT_NO_LISTEN,
    OPT_POLL,
    OPT_LEASE,
    OPT_GRACE,
    OPT_CLAIM,
    OPT_MAX_PROBES,
    OPT_BACKOFF_BASE,
    OPT_BACKOFF_CAP,
    OPT_CALLBACK_TIMEOUT,
    OPT_INBOX,
    OPT_INBOX_KIND,
    OPT_CALLBACKS,
    OPT_CALLBACK_CONNECTIONS,
    OPT_PROGRESS,
};

static void write_help(FILE *out)
{
    fputs("Usage: payq work [OPTIONS] [GLOBAL OPTIONS]\n"
          "\n"
          "Claims ready jobs and sends them to the provider, collections\n"
          "through pay_v2 and payouts through deposit, until SIGTERM or\n"
          "SIGINT. Each job is paid at most once: its transaction id is\n"
          "committed before the request leaves, and a request whose fate\n"
          "is unclear is sent again with the same id, never a new one.\n"
          "Several `payq work` processes may share one database.\n"
          "\n"
          "Options (DURATION: 250ms, 5s, 15m, 2h; a bare number is s):\n"
          "  --workers N           sender threads [8]\n"
          "  --rate R              requests per second, whole pool\n"
          "                        [0: unlimited]\n"
          "  --max-in-flight M     requests in flight at once [workers]\n"
          "  --listen ADDR:PORT    serve /metrics, /healthz, /readyz\n"
          "  --no-listen           poll only, no LISTEN/NOTIFY (for\n"
          "                        PgBouncer in transaction mode)\n"
          "  --poll DURATION       idle poll interval [1s]\n"
          "  --claim N             most jobs one claim takes, 1-64\n"
          "                        [64; at most 4 per request in flight]\n"
          "  --lease DURATION      how long a claim is held [120s]\n"
          "  --grace DURATION      time for requests in flight at\n"
          "                        shutdown [30s]\n"
          "  --max-probes N        resends of an unclear request before\n"
          "                        the job is unknown [8]\n"
          "  --backoff-base DURATION  first retry's ceiling [5s]\n"
          "  --backoff-cap DURATION   longest retry wait [15m]\n"
          "  --callback-timeout DURATION\n"
          "                        pending longer: unknown [30m]\n"
          "  --progress DURATION   interval of the progress line [10s]\n"
          "  --inbox DIR           also import CSV files dropped in DIR\n"
          "                        (as payq import --watch DIR does)\n"
          "  --inbox-kind KIND     pay or deposit, for inbox files with\n"
          "                        no kind column [pay]\n"
          "  --callbacks ADDR:PORT also receive the provider's callbacks\n"
          "                        here (as payq callbacks does)\n"
          "  --callback-connections N\n"
          "                        database connections of the receiver\n"
          "                        [2]\n"
          "\n"
          "Environment: PAYQ_TXN_PREFIX (transaction id prefix, so test\n"
          "and production never share ids) [payq]; PAYQ_CALLBACK_URL\n"
          "(public base URL of the callback receiver) and\n"
          "PAYQ_CALLBACK_SECRET (key of its URL tokens, 16 bytes or more,\n"
          "required); PAYQ_API_URL, PAYQ_CA_FILE, PAYQ_CONNECT_TIMEOUT_MS,\n"
          "PAYQ_TIMEOUT_MS as for payq balance; PAYQ_CALLBACK_ALLOW and\n"
          "PAYQ_CALLBACK_BASIC_AUTH as for payq callbacks.\n"
          "\n"
          "A first SIGTERM or SIGINT stops claiming, lets requests in\n"
          "flight finish within --grace, puts back jobs not started and\n"
          "exits 0. A second exits at once (status 1); jobs it held are\n"
          "taken back when their lease expires and probed, never paid\n"
          "twice. Under systemd (Type=notify) it reports READY, STOPPING\n"
          "and WATCHDOG. A database that cannot be reached, at start as\n"
          "later, is waited for with backoff.\n"
          "\n",
          out);
    cli_write_global_help(out);
    fputc('\n', out);
    cli_write_exit_help(out);
}

static volatile sig_atomic_t stop_level;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (stop_level < 2)
        stop_level++;
}

/* 250ms, 5s, 15m, 2h, or bare seconds; within [min_ms, max_ms]. */
static bool parse_duration_ms(const char *text, long long min_ms,
                              long long max_ms, long long *out)
{
    static const struct {
        const char *unit;
        long long ms;
    } units[] = { { "", 1000 },
                  { "ms", 1 },
                  { "s", 1000 },
                  { "m", 60000 },
                  { "h", 3600000 } };
    char *end = NULL;
    long long v;
    size_t i;

    errno = 0;
    v = strtoll(text, &end, 10);
    if (end == text || errno != 0 || v < 0 || v > 1000000000LL)
        return false;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            *out = v * units[i].ms;
            return *out >= min_ms && *out <= max_ms;
        }
    }
    return false;
}

static bool parse_count(const char *text, long long min, long long max,
                        long long *out)
{
    char *end = NULL;

    errno = 0;
    *out = strtoll(text, &end, 10);
    return end != text && *end == '\0' && errno == 0 && *out >= min &&
           *out <= max;
}

/* What the command line asked for. */
struct work_args {
    struct worker_settings settings;
    const char *inbox_dir;
    enum job_kind inbox_kind;
    struct callback_settings callbacks;
    bool receive_callbacks;
};

/* Counts and rates; false with *bad naming the flag. */
static bool number_option(struct worker_settings *s, int opt, const char *arg,
                          const char **bad)
{
    long long v = 0;

    switch (opt) {
    case OPT_WORKERS:
        *bad = "--workers takes 1 to 256";
        if (!parse_count(arg, 1, WORKER_THREADS_MAX, &v))
            return false;
        s->workers = (int)v;
        return true;
    case OPT_RATE:
        *bad = "--rate takes requests per second, 0 to 100000";
        return parse_count(arg, 0, 100000, &s->rate);
    case OPT_MAX_IN_FLIGHT:
        *bad = "--max-in-flight takes 1 to 256";
        if (!parse_count(arg, 1, WORKER_THREADS_MAX, &v))
            return false;
        s->max_in_flight = (int)v;
        return true;
    case OPT_CLAIM:
        *bad = "--claim takes 1 to 64";
        if (!parse_count(arg, 1, QUEUE_CLAIM_MAX, &v))
            return false;
        s->claim_max = (int)v;
        return true;
    case OPT_MAX_PROBES:
        *bad = "--max-probes takes 0 to 1000";
        if (!parse_count(arg, 0, 1000, &v))
            return false;
        s->policy.max_probes = (int)v;
        return true;
    }
    return false;
}

/* Durations; false with *bad naming the flag. */
static bool duration_option(struct worker_settings *s, int opt, const char *arg,
                            const char **bad)
{
    long long ms = 0;
    bool ok;

    switch (opt) {
    case OPT_POLL:
        *bad = "--poll takes 10ms to 1h";
        ok = parse_duration_ms(arg, 10, 3600000, &ms);
        s->poll_ms = (int)ms;
        return ok;
    case OPT_LEASE:
        *bad = "--lease takes 1s to 24h";
        ok = parse_duration_ms(arg, 1000, 86400000, &ms);
        s->lease_s = (int)(ms / 1000);
        return ok;
    case OPT_GRACE:
        *bad = "--grace takes 0s to 1h";
        ok = parse_duration_ms(arg, 0, 3600000, &ms);
        s->grace_s = (int)(ms / 1000);
        return ok;
    case OPT_BACKOFF_BASE:
        *bad = "--backoff-base takes 10ms to 1h";
        return parse_duration_ms(arg, 10, 3600000, &s->policy.backoff_base_ms);
    case OPT_BACKOFF_CAP:
        *bad = "--backoff-cap takes 10ms to 24h";
        return parse_duration_ms(arg, 10, 86400000, &s->policy.backoff_cap_ms);
    case OPT_CALLBACK_TIMEOUT:
        *bad = "--callback-timeout takes 1s to 30 days";
        ok = parse_duration_ms(arg, 1000, 2592000000LL, &ms);
        s->policy.callback_timeout_s = (int)(ms / 1000);
        return ok;
    case OPT_PROGRESS:
        *bad = "--progress takes 100ms to 1h";
        ok = parse_duration_ms(arg, 100, 3600000, &ms);
        s->progress_ms = (int)ms;
        return ok;
    }
    return false;
}

static bool work_option(struct work_args *a, int opt, const char *arg,
                        const char **bad)
{
    long long v = 0;

    switch (opt) {
    case OPT_LISTEN:
        a->settings.http_listen = arg;
        return true;
    case OPT_NO_LISTEN:
        a->settings.notify = false;
        return true;
    case OPT_INBOX:
        a->inbox_dir = arg;
        return true;
    case OPT_INBOX_KIND:
        *bad = "--inbox-kind takes pay or deposit";
        return job_kind_parse(arg, &a->inbox_kind) == PAYQ_OK;
    case OPT_CALLBACKS:
        a->callbacks.listen = arg;
        a->receive_callbacks = true;
        return true;
    case OPT_CALLBACK_CONNECTIONS:
        *bad = "--callback-connections takes 1 to 32";
        if (!parse_count(arg, 1, CALLBACK_COMMITTERS_MAX, &v))
            return false;
        a->callbacks.db_connections = (int)v;
        return true;
    }
    return number_option(&a->settings, opt, arg, bad) ||
           duration_option(&a->settings, opt, arg, bad);
}

/* Collections carry callback URLs with tokens: the secret is needed. */
static enum payq_err load_callback_secret(struct work_args *a)
{
    const char *secret = a->callbacks.secret;

    if (secret == NULL || strlen(secret) < CALLBACK_SECRET_MIN) {
        log_error("PAYQ_CALLBACK_SECRET must be set, 16 bytes or more: it "
                  "keys the tokens that prove callbacks genuine");
        return PAYQ_ERR_CONFIG;
    }
    log_secret_add(secret);
    a->settings.callback_secret = secret;
    return PAYQ_OK;
}

/* PAYQ_TXN_PREFIX: what the attempts id check allows, and short. */
static enum payq_err load_prefix(struct worker_settings *s)
{
    const char *prefix = getenv("PAYQ_TXN_PREFIX");
    size_t n;

    if (prefix == NULL || prefix[0] == '\0')
        return PAYQ_OK;
    n = strlen(prefix);
    if (n > QUEUE_PREFIX_MAX ||
        strspn(prefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789_.:") != n) {
        log_error("PAYQ_TXN_PREFIX takes 1 to 24 of A-Z a-z 0-9 _ . :",
                  LOG_STR("prefix", prefix));
        return PAYQ_ERR_CONFIG;
    }
    memcpy(s->txn_prefix, prefix, n + 1);
    return PAYQ_OK;
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* The inbox runs in a thread of its own on the command's connection. */
struct inbox_run {
    struct inbox *box;
    PGconn *conn;
    pthread_t thread;
    bool started;
};

static void *inbox_main(void *arg)
{
    struct inbox_run *run = arg;

    if (inbox_watch(run->box, run->conn, &stop_level) != PAYQ_OK)
        log_error("the inbox stopped; the workers go on");
    return NULL;
}

static enum payq_err inbox_start(struct inbox_run *run,
                                 const struct work_args *a, PGconn *conn,
                                 const struct config *cfg)
{
    struct ingest_options o;
    enum payq_err err;

    ingest_options_init(&o);
    o.kind = a->inbox_kind;
    o.min_amount = cfg->min_amount;
    o.max_amount = cfg->max_amount;
    o.actor = cli_actor();
    err = inbox_create(a->inbox_dir, &o, INBOX_SETTLE_S_DEFAULT, &run->box);
    if (err != PAYQ_OK)
        return err;
    run->conn = conn;
    if (pthread_create(&run->thread, NULL, inbox_main, run) != 0)
        return PAYQ_ERR_NOMEM;
    run->started = true;
    return PAYQ_OK;
}

static void inbox_stop(struct inbox_run *run)
{
    if (run->started)
        pthread_join(run->thread, NULL);
    inbox_destroy(run->box);
}

/* Fails fast on settings a sender would only discover later. */
static enum payq_err check_provider(const struct config *cfg,
                                    const struct upstream_config *ucfg)
{
    struct upstream_client *client = NULL;
    enum payq_err err =
        upstream_client_create(ucfg, &cfg->credentials, &client);

    if (err != PAYQ_OK)
        log_error("cannot make a provider client", LOG_ERR(err));
    upstream_client_destroy(client);
    return err;
}

/*
 * Collections carry PAYQ_CALLBACK_URL/cb/<id>/<token>: refuse at start a
 * base that cannot carry it (upstream/config.c has checked the URL; this
 * builds one of the longest ids with the real secret, as a sender will).
 */
static enum payq_err check_callback_url(const struct upstream_config *ucfg,
                                        const char *secret)
{
    char url[UPSTREAM_URL_MAX + 128];
    char id[QUEUE_TXN_ID_MAX + 1];
    enum payq_err err;

    if (ucfg->callback_url == NULL) {
        log_warn("PAYQ_CALLBACK_URL is not set: collections will not be "
                 "sent (they pause); payouts go on");
        return PAYQ_OK;
    }
    memset(id, '9', QUEUE_TXN_ID_MAX);
    id[QUEUE_TXN_ID_MAX] = '\0';
    err = callback_url_pay(ucfg->callback_url, secret, id, url, sizeof(url));
    OPENSSL_cleanse(url, sizeof(url));
    if (err != PAYQ_OK) {
        log_error("PAYQ_CALLBACK_URL cannot carry callback tokens; "
                  "collections would be sent without one",
                  LOG_ERR(err));
        return PAYQ_ERR_CONFIG;
    }
    return PAYQ_OK;
}

/* Everything start-up can check without the database. */
static enum payq_err load_settings(const struct config *cfg,
                                   struct work_args *a,
                                   struct upstream_config *ucfg)
{
    enum payq_err err = config_require_credentials(cfg);

    if (err == PAYQ_OK)
        err = load_prefix(&a->settings);
    if (err == PAYQ_OK)
        err = load_callback_secret(a);
    if (err == PAYQ_OK)
        err = upstream_config_load(ucfg);
    if (err == PAYQ_OK)
        err = check_callback_url(ucfg, a->settings.callback_secret);
    if (err == PAYQ_OK)
        err = upstream_global_init();
    if (err == PAYQ_OK)
        err = check_provider(cfg, ucfg);
    return err;
}

static enum payq_err run_pool(struct worker_pool *pool,
                              const struct config *cfg,
                              const struct work_args *a)
{
    struct callback_server *receiver = NULL;
    enum payq_err err = PAYQ_OK;

    if (a->receive_callbacks)
        err = callback_server_start(cfg, &a->callbacks, &receiver);
    if (err == PAYQ_OK)
        err = worker_pool_run(pool, &stop_level);
    /* Callbacks in flight are committed before the receiver goes. */
    if (err != PAYQ_ERR_INTERRUPTED)
        callback_server_stop(receiver);
    if (err == PAYQ_ERR_INTERRUPTED)
        _exit(1); /* threads still run: leases recover their jobs */
    return err;
}

/*
 * The command's life: settings, the pool, then the database, waited for
 * as long as it takes (a signal meanwhile is a clean stop), the inbox,
 * and the pool's run until a signal.
 */
static enum payq_err work(const struct cli *cli, const struct config *cfg,
                          struct work_args *a)
{
    struct upstream_config ucfg;
    struct worker_pool *pool = NULL;
    struct inbox_run inbox = { 0 };
    PGconn *conn = NULL;
    enum payq_err err;

    upstream_config_init(&ucfg);
    err = load_settings(cfg, a, &ucfg);
    if (err == PAYQ_OK)
        err = worker_pool_create(cfg, &ucfg, &a->settings, &pool);
    install_signals();
    if (err == PAYQ_OK)
        err =
            cli_connect_wait(cli, cfg, CLI_SCHEMA_CURRENT, &stop_level, &conn);
    if (err == PAYQ_ERR_INTERRUPTED) {
        log_info("stopped while waiting for the database; nothing claimed");
        err = PAYQ_OK;
        goto out;
    }
    if (err == PAYQ_OK && a->inbox_dir != NULL)
        err = inbox_start(&inbox, a, conn, cfg);
    if (err == PAYQ_OK)
        err = run_pool(pool, cfg, a);

out:
    if (stop_level == 0)
        stop_level = 1; /* the pool failed: the inbox stops too */
    inbox_stop(&inbox);
    worker_pool_destroy(pool);
    db_conn_close(conn);
    upstream_global_cleanup();
    upstream_config_cleanup(&ucfg);
    return err;
}

int cmd_work(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        { "workers", required_argument, NULL, OPT_WORKERS },
        { "rate", required_argument, NULL, OPT_RATE },
        { "max-in-flight", required_argument, NULL, OPT_MAX_IN_FLIGHT },
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "no-listen", no_argument, NULL, OPT_NO_LISTEN },
        { "poll", required_argument, NULL, OPT_POLL },
        { "claim", required_argument, NULL, OPT_CLAIM },
        { "lease", required_argument, NULL, OPT_LEASE },
        { "grace", required_argument, NULL, OPT_GRACE },
        { "max-probes", required_argument, NULL, OPT_MAX_PROBES },
        { "backoff-base", required_argument, NULL, OPT_BACKOFF_BASE },
        { "backoff-cap", required_argument, NULL, OPT_BACKOFF_CAP },
        { "callback-timeout", required_argument, NULL, OPT_CALLBACK_TIMEOUT },
        { "inbox", required_argument, NULL, OPT_INBOX },
        { "inbox-kind", required_argument, NULL, OPT_INBOX_KIND },
        { "callbacks", required_argument, NULL, OPT_CALLBACKS },
        { "callback-connections", required_argument, NULL,
          OPT_CALLBACK_CONNECTIONS },
        { "progress", required_argument, NULL, OPT_PROGRESS },
        { NULL, 0, NULL, 0 },
    };
    struct work_args a;
    struct config cfg;
    const char *bad = NULL;
    enum payq_err err;
    int opt;

    memset(&a, 0, sizeof(a));
    a.inbox_kind = JOB_KIND_PAY;
    callback_settings_from_env(&a.callbacks);
    worker_settings_init(&a.settings);
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (cli_global_option(cli, opt, optarg))
            continue;
        bad = "invalid option";
        if (!work_option(&a, opt, optarg, &bad))
            return cli_usage_error(cli, "%s", bad);
    }
    if (cli->help) {
        write_help(stdout);
        return 0;
    }
    if (optind < argc)
        return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
    if (a.settings.policy.backoff_cap_ms < a.settings.policy.backoff_base_ms)
        return cli_usage_error(cli, "--backoff-cap is below --backoff-base");
    err = cli_configure(cli, &cfg);
    if (err == PAYQ_OK)
        err = work(cli, &cfg, &a);
    config_cleanup(&cfg);
    return cli_exit_code(err);
}
