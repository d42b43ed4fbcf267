/*
 * payq-sim: a stand-in for the SchoolDream+ Payment API, for tests,
 * benchmarks, the demo, and rehearsing a batch before real money moves.
 *
 * main() reads like a table of contents: settings from the environment
 * and flags, the ledger, the callback senders, the endpoints, the two
 * HTTP servers, one line on stdout with the ports, then wait for SIGTERM
 * or SIGINT and take everything down in reverse.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/log.h"
#include "sim/admin.h"
#include "sim/api.h"
#include "sim/callbacks.h"
#include "sim/config.h"
#include "sim/ledger.h"
#include "sim/rules.h"
#include "sim/server.h"

/* getopt_long ids, grouped: server, amounts, faults, callbacks. */
enum {
    OPT_LISTEN = 256,
    OPT_ADMIN_LISTEN,
    OPT_USERNAME,
    OPT_PASSWORD,
    OPT_KEY,
    OPT_MAX_TRANSACTIONS,
    OPT_SERVER_THREADS,
    OPT_SHUTDOWN_GRACE,
    OPT_LOG_LEVEL,
    OPT_VERSION,
    OPT_MIN_AMOUNT = 300,
    OPT_MAX_AMOUNT,
    OPT_FLOAT,
    OPT_SEED = 400,
    OPT_LATENCY,
    OPT_LATENCY_DIST,
    OPT_DECLINE,
    OPT_HTTP500,
    OPT_DROP,
    OPT_SLOW,
    OPT_SLOW_MS,
    OPT_HTTP429,
    OPT_HTTP503,
    OPT_RETRY_AFTER,
    OPT_DUPLICATE,
    OPT_EARLY,
    OPT_REORDER,
    OPT_REORDER_WINDOW,
    OPT_LOSE,
    OPT_LATE_FAILURE,
    OPT_CALLBACK_DELAY = 500,
    OPT_CALLBACK_RETRIES,
    OPT_CALLBACK_BACKOFF,
    OPT_CALLBACK_TIMEOUT,
    OPT_CALLBACK_THREADS,
    OPT_DEPOSIT_CALLBACK_URL,
};

static const struct option longopts[] = {
    { "listen", required_argument, NULL, OPT_LISTEN },
    { "admin-listen", required_argument, NULL, OPT_ADMIN_LISTEN },
    { "username", required_argument, NULL, OPT_USERNAME },
    { "password", required_argument, NULL, OPT_PASSWORD },
    { "key", required_argument, NULL, OPT_KEY },
    { "max-transactions", required_argument, NULL, OPT_MAX_TRANSACTIONS },
    { "server-threads", required_argument, NULL, OPT_SERVER_THREADS },
    { "shutdown-grace-ms", required_argument, NULL, OPT_SHUTDOWN_GRACE },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "version", no_argument, NULL, OPT_VERSION },
    { "help", no_argument, NULL, 'h' },
    { "min-amount", required_argument, NULL, OPT_MIN_AMOUNT },
    { "max-amount", required_argument, NULL, OPT_MAX_AMOUNT },
    { "float", required_argument, NULL, OPT_FLOAT },
    { "seed", required_argument, NULL, OPT_SEED },
    { "latency-ms", required_argument, NULL, OPT_LATENCY },
    { "latency-dist", required_argument, NULL, OPT_LATENCY_DIST },
    { "decline", required_argument, NULL, OPT_DECLINE },
    { "http500", required_argument, NULL, OPT_HTTP500 },
    { "drop-after-execute", required_argument, NULL, OPT_DROP },
    { "slow", required_argument, NULL, OPT_SLOW },
    { "slow-ms", required_argument, NULL, OPT_SLOW_MS },
    { "http429", required_argument, NULL, OPT_HTTP429 },
    { "http503", required_argument, NULL, OPT_HTTP503 },
    { "retry-after", required_argument, NULL, OPT_RETRY_AFTER },
    { "duplicate-callbacks", required_argument, NULL, OPT_DUPLICATE },
    { "early-callbacks", required_argument, NULL, OPT_EARLY },
    { "reorder-callbacks", no_argument, NULL, OPT_REORDER },
    { "reorder-window-ms", required_argument, NULL, OPT_REORDER_WINDOW },
    { "lose-callbacks", required_argument, NULL, OPT_LOSE },
    { "late-failure", required_argument, NULL, OPT_LATE_FAILURE },
    { "callback-delay-ms", required_argument, NULL, OPT_CALLBACK_DELAY },
    { "callback-retries", required_argument, NULL, OPT_CALLBACK_RETRIES },
    { "callback-backoff-ms", required_argument, NULL, OPT_CALLBACK_BACKOFF },
    { "callback-timeout-ms", required_argument, NULL, OPT_CALLBACK_TIMEOUT },
    { "callback-threads", required_argument, NULL, OPT_CALLBACK_THREADS },
    { "deposit-callback-url", required_argument, NULL,
      OPT_DEPOSIT_CALLBACK_URL },
    { NULL, 0, NULL, 0 },
};

/* What main() builds, in order; torn down in reverse. */
struct sim {
    struct sim_config cfg;
    struct sim_ledger *ledger;
    struct sim_callbacks *callbacks;
    struct sim_api *api;
    struct sim_server *server;
    struct sim_admin *admin;
};

static void write_help_server(FILE *out)
{
    fprintf(out, "payq-sim %s: simulator of the SchoolDream+ Payment API\n",
            PAYQ_VERSION);
    fputs("\n"
          "Usage: payq-sim [OPTIONS]\n"
          "\n"
          "Serves POST /pay_v2, /deposit, /balance and their /test/\n"
          "twins as the provider's reference documents them, with JSON\n"
          "or form bodies. Prints one line on stdout,\n"
          "  payq-sim listening port=N admin_port=M\n"
          "then runs until SIGTERM or SIGINT. A PERCENT takes up to two\n"
          "decimals: 2, 0.5, 12.25.\n"
          "\n"
          "Server:\n"
          "  --listen ADDR:PORT     provider API [127.0.0.1:0, any port]\n"
          "  --admin-listen ADDR:PORT\n"
          "                         loopback only: GET /_sim/ledger\n"
          "                         [?id=ID | ?from=N&limit=M], every\n"
          "                         id streamed, with totals; POST\n"
          "                         /_sim/reset [127.0.0.1:0]\n"
          "  --username NAME        [env PAYQ_SIM_USERNAME]\n"
          "  --password TEXT        [env PAYQ_SIM_PASSWORD]\n"
          "  --key TEXT             API key [env PAYQ_SIM_KEY]\n"
          "                         (argv shows in ps: for anything but\n"
          "                         test secrets, prefer the environment)\n"
          "  --max-transactions N   ids kept; a new id beyond answers\n"
          "                         HTTP 500 [2000000]\n"
          "  --server-threads N     N threads polling every connection,\n"
          "                         or 0 for a thread per connection\n"
          "                         [2 when no request sleeps or blocks\n"
          "                         (latency, slow, early callbacks),\n"
          "                         else 0]\n"
          "  --shutdown-grace-ms N  on SIGTERM, callbacks due within N\n"
          "                         ms are still sent [2000]\n"
          "  --log-level LEVEL      error, warn, info, or debug for a\n"
          "                         line per request [env PAYQ_LOG_LEVEL;\n"
          "                         info]\n"
          "  --help, --version\n",
          out);
}

static void write_help_amounts(FILE *out)
{
    fputs("\n"
          "Amounts (whole RWF):\n"
          "  --min-amount N         below it: 2200 [100]\n"
          "  --max-amount N         above it: 2300 [5000000]\n"
          "  --float N              opening float; a successful pay adds\n"
          "                         to it, a deposit takes amount and\n"
          "                         withdrawcharge, or answers 1005 when\n"
          "                         they exceed it [10000000]\n",
          out);
}

static void write_help_faults(FILE *out)
{
    fputs("\n"
          "Faults, for valid requests with new ids; each is drawn from\n"
          "the seed, the transaction id and its attempt number, so runs\n"
          "repeat exactly:\n"
          "  --seed N               [1]\n"
          "  --latency-ms MIN-MAX   added before executing [0-0]\n"
          "  --latency-dist uniform|exp\n"
          "                         uniform from MIN to MAX, or MIN plus\n"
          "                         an exponential draw of mean\n"
          "                         (MAX-MIN)/4, cut at MAX: most quick,\n"
          "                         a long tail of slow ones [uniform]\n"
          "  --decline CODE=PERCENT decline with CODE, execute nothing;\n"
          "                         repeatable: --decline 1002=2\n"
          "  --http500 PERCENT      answer HTTP 500, execute nothing\n"
          "  --drop-after-execute PERCENT\n"
          "                         execute, then close the connection\n"
          "                         without an answer\n"
          "  --slow PERCENT         execute, answer after --slow-ms\n"
          "  --slow-ms N            [5000]\n"
          "  --http429 PERCENT      answer HTTP 429 Too Many Requests at\n"
          "                         once, execute nothing (throttling)\n"
          "  --http503 PERCENT      answer HTTP 503 Service Unavailable\n"
          "                         at once, execute nothing\n"
          "  --retry-after SECONDS  Retry-After of those answers [1]\n"
          "  --duplicate-callbacks PERCENT\n"
          "                         deliver the callback twice\n"
          "  --early-callbacks PERCENT\n"
          "                         callback before the answer\n"
          "  --reorder-callbacks    delay each callback by a random time\n"
          "                         below --reorder-window-ms\n"
          "  --reorder-window-ms N  [1000]\n"
          "  --lose-callbacks PERCENT\n"
          "                         settle, but never call back\n"
          "  --late-failure PERCENT pay answers Pending, then calls back\n"
          "                         1005 Failed Due to Insufficient Funds\n"
          "Declines, --http500, --drop-after-execute, --slow, --http429\n"
          "and --http503 share one draw per request: together at most\n"
          "100.\n",
          out);
}

static void write_help_callbacks(FILE *out)
{
    fputs("\n"
          "Callbacks (JSON POSTs; only HTTP 200 acknowledges):\n"
          "  --callback-delay-ms N  after the answer [200]\n"
          "  --callback-retries N   retries after the first attempt [5]\n"
          "  --callback-backoff-ms N\n"
          "                         first retry's wait, then doubling [500]\n"
          "  --callback-timeout-ms N\n"
          "                         longest attempt [2000]\n"
          "  --callback-threads N   sender threads [4]\n"
          "  --deposit-callback-url URL\n"
          "                         where deposit callbacks go [none]\n"
          "\n"
          "Exit status: 0 after SIGTERM or SIGINT, 1 runtime failure\n"
          "(port in use), 64 usage error, 78 configuration error.\n",
          out);
}

static void write_help(FILE *out)
{
    write_help_server(out);
    write_help_amounts(out);
    write_help_faults(out);
    write_help_callbacks(out);
}

static int usage_error(const char *flag, const char *value)
{
    fprintf(stderr, "payq-sim: invalid value for %s: '%s'\n", flag, value);
    fputs("Try 'payq-sim --help' for more information.\n", stderr);
    return payq_err_exit_code(PAYQ_ERR_USAGE);
}

/* Parses a number into an int-sized setting. */
static enum payq_err set_int(const char *arg, long long min, long long max,
                             int *out)
{
    long long v = 0;
    enum payq_err err = sim_config_parse_number(arg, min, max, &v);

    *out = (int)v;
    return err;
}

static enum payq_err set_long(const char *arg, long long min, long long max,
                              long *out)
{
    long long v = 0;
    enum payq_err err = sim_config_parse_number(arg, min, max, &v);

    *out = (long)v;
    return err;
}

static enum payq_err server_flag(struct sim_config *cfg, int opt,
                                 const char *arg)
{
    switch (opt) {
    case OPT_LISTEN:
        return sim_config_parse_listen(arg, &cfg->listen);
    case OPT_ADMIN_LISTEN:
        return sim_config_parse_listen(arg, &cfg->admin);
    case OPT_USERNAME:
        cfg->username = arg;
        return PAYQ_OK;
    case OPT_PASSWORD:
        cfg->password = arg;
        return PAYQ_OK;
    case OPT_KEY:
        cfg->key = arg;
        return PAYQ_OK;
    case OPT_MAX_TRANSACTIONS:
        return set_long(arg, 1, 20000000, &cfg->max_transactions);
    case OPT_SERVER_THREADS:
        return set_int(arg, 0, 64, &cfg->server_threads);
    case OPT_SHUTDOWN_GRACE:
        return set_long(arg, 0, 60000, &cfg->shutdown_grace_ms);
    case OPT_LOG_LEVEL:
        return log_level_parse(arg, &cfg->log_level) == PAYQ_OK
                   ? PAYQ_OK
                   : PAYQ_ERR_USAGE;
    default:
        return PAYQ_ERR_USAGE;
    }
}

static enum payq_err amount_flag(struct sim_config *cfg, int opt,
                                 const char *arg)
{
    const long long most = 999999999999999LL;

    switch (opt) {
    case OPT_MIN_AMOUNT:
        return sim_config_parse_number(arg, 1, most, &cfg->min_amount);
    case OPT_MAX_AMOUNT:
        return sim_config_parse_number(arg, 1, most, &cfg->max_amount);
    case OPT_FLOAT:
        return sim_config_parse_number(arg, 0, most, &cfg->opening_float);
    default:
        return PAYQ_ERR_USAGE;
    }
}

static enum payq_err fault_flag(struct sim_config *cfg, int opt,
                                const char *arg)
{
    long long seed = 0;

    switch (opt) {
    case OPT_SEED:
        if (sim_config_parse_number(arg, 0, 999999999999999LL, &seed) !=
            PAYQ_OK)
            return PAYQ_ERR_USAGE;
        cfg->seed = (unsigned long long)seed;
        return PAYQ_OK;
    case OPT_LATENCY:
        return sim_config_parse_latency(arg, cfg);
    case OPT_LATENCY_DIST:
        return sim_config_parse_latency_dist(arg, cfg);
    case OPT_DECLINE:
        return sim_config_add_decline(arg, cfg);
    case OPT_HTTP500:
        return sim_config_parse_percent(arg, &cfg->http500_bp);
    case OPT_DROP:
        return sim_config_parse_percent(arg, &cfg->drop_bp);
    case OPT_SLOW:
        return sim_config_parse_percent(arg, &cfg->slow_bp);
    case OPT_SLOW_MS:
        return set_long(arg, 0, 600000, &cfg->slow_ms);
    case OPT_HTTP429:
        return sim_config_parse_percent(arg, &cfg->http429_bp);
    case OPT_HTTP503:
        return sim_config_parse_percent(arg, &cfg->http503_bp);
    case OPT_RETRY_AFTER:
        return set_long(arg, 0, 86400, &cfg->retry_after_s);
    default:
        return PAYQ_ERR_USAGE;
    }
}

static enum payq_err callback_fault_flag(struct sim_config *cfg, int opt,
                                         const char *arg)
{
    switch (opt) {
    case OPT_DUPLICATE:
        return sim_config_parse_percent(arg, &cfg->duplicate_bp);
    case OPT_EARLY:
        return sim_config_parse_percent(arg, &cfg->early_bp);
    case OPT_REORDER:
        cfg->reorder = true;
        return PAYQ_OK;
    case OPT_REORDER_WINDOW:
        return set_long(arg, 1, 600000, &cfg->reorder_window_ms);
    case OPT_LOSE:
        return sim_config_parse_percent(arg, &cfg->lose_bp);
    case OPT_LATE_FAILURE:
        return sim_config_parse_percent(arg, &cfg->late_failure_bp);
    default:
        return PAYQ_ERR_USAGE;
    }
}

static enum payq_err callback_flag(struct sim_config *cfg, int opt,
                                   const char *arg)
{
    switch (opt) {
    case OPT_CALLBACK_DELAY:
        return set_long(arg, 0, 600000, &cfg->callback_delay_ms);
    case OPT_CALLBACK_RETRIES:
        return set_int(arg, 0, 30, &cfg->callback_retries);
    case OPT_CALLBACK_BACKOFF:
        return set_long(arg, 1, 600000, &cfg->callback_backoff_ms);
    case OPT_CALLBACK_TIMEOUT:
        return set_long(arg, 100, 600000, &cfg->callback_timeout_ms);
    case OPT_CALLBACK_THREADS:
        return set_int(arg, 1, 64, &cfg->callback_threads);
    case OPT_DEPOSIT_CALLBACK_URL:
        cfg->deposit_callback_url = arg;
        return sim_rules_valid_url(arg) ? PAYQ_OK : PAYQ_ERR_USAGE;
    default:
        return PAYQ_ERR_USAGE;
    }
}

/* Sends a flag to the parser of its group (see the option ids). */
static enum payq_err apply_flag(struct sim_config *cfg, int opt,
                                const char *arg)
{
    if (opt >= OPT_CALLBACK_DELAY)
        return callback_flag(cfg, opt, arg);
    if (opt >= OPT_DUPLICATE)
        return callback_fault_flag(cfg, opt, arg);
    if (opt >= OPT_SEED)
        return fault_flag(cfg, opt, arg);
    if (opt >= OPT_MIN_AMOUNT)
        return amount_flag(cfg, opt, arg);
    return server_flag(cfg, opt, arg);
}

/* Name of the flag with id opt, for messages. */
static const char *flag_name(int opt)
{
    const struct option *o;

    for (o = longopts; o->name != NULL; o++)
        if (o->val == opt)
            return o->name;
    return "?";
}

static const char *env_nonempty(const char *name)
{
    const char *value = getenv(name);

    return value != NULL && value[0] != '\0' ? value : NULL;
}

/* Environment first, so that flags override it. */
static void read_environment(struct sim_config *cfg)
{
    const char *level = env_nonempty("PAYQ_LOG_LEVEL");

    cfg->username = env_nonempty("PAYQ_SIM_USERNAME");
    cfg->password = env_nonempty("PAYQ_SIM_PASSWORD");
    cfg->key = env_nonempty("PAYQ_SIM_KEY");
    if (level != NULL && log_level_parse(level, &cfg->log_level) != PAYQ_OK)
        log_warn("ignoring an invalid PAYQ_LOG_LEVEL");
}

/* Returns -1 to go on, or the exit status to leave with. */
static int read_flags(struct sim_config *cfg, int argc, char **argv)
{
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (opt == 'h') {
            write_help(stdout);
            return 0;
        }
        if (opt == OPT_VERSION) {
            printf("payq-sim %s\n", PAYQ_VERSION);
            return 0;
        }
        if (opt == '?')
            return usage_error("an option", argv[optind - 1]);
        if (apply_flag(cfg, opt, optarg) != PAYQ_OK) {
            char flag[48];

            snprintf(flag, sizeof(flag), "--%s", flag_name(opt));
            return usage_error(flag, optarg != NULL ? optarg : "");
        }
    }
    if (optind < argc)
        return usage_error("arguments", argv[optind]);
    return -1;
}

static int check_config(const struct sim_config *cfg)
{
    const char *why;

    if (sim_config_check(cfg, &why) == PAYQ_OK)
        return -1;
    fprintf(stderr, "payq-sim: %s\n", why);
    return payq_err_exit_code(PAYQ_ERR_CONFIG);
}

/* Signals are taken by sigwait() in main; every thread inherits this. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static enum payq_err start_parts(struct sim *sim)
{
    const struct sim_config *cfg = &sim->cfg;
    struct sim_callbacks_hooks hooks;
    struct sim_callbacks_settings settings = {
        .threads = cfg->callback_threads,
        .retries = cfg->callback_retries,
        .backoff_ms = cfg->callback_backoff_ms,
        .timeout_ms = cfg->callback_timeout_ms,
    };
    enum payq_err err;

    sim->ledger = sim_ledger_create(cfg->opening_float, cfg->max_transactions);
    if (sim->ledger == NULL)
        return PAYQ_ERR_NOMEM;
    hooks = sim_api_callback_hooks(sim->ledger);
    err = sim_callbacks_create(&settings, &hooks, &sim->callbacks);
    if (err != PAYQ_OK)
        return err;
    sim->api = sim_api_create(cfg, sim->ledger, sim->callbacks);
    if (sim->api == NULL)
        return PAYQ_ERR_NOMEM;
    err = sim_server_start(cfg, sim->api, &sim->server);
    if (err != PAYQ_OK)
        return err;
    return sim_admin_start(cfg, sim->ledger, &sim->admin);
}

/*
 * Reverse order, except that sleeping requests are woken first and the
 * callbacks drain after the API stops taking requests.
 */
static void stop_parts(struct sim *sim)
{
    if (sim->api != NULL)
        sim_api_stop(sim->api);
    sim_admin_stop(sim->admin);
    sim_server_stop(sim->server);
    if (sim->callbacks != NULL)
        sim_callbacks_destroy(sim->callbacks, sim->cfg.shutdown_grace_ms);
    sim_api_destroy(sim->api);
    sim_ledger_destroy(sim->ledger);
}

static void announce(const struct sim *sim)
{
    const struct sim_config *cfg = &sim->cfg;
    unsigned port = sim_server_port(sim->server);
    unsigned admin_port = sim_admin_port(sim->admin);

    printf("payq-sim listening port=%u admin_port=%u\n", port, admin_port);
    fflush(stdout);
    log_info("payq-sim started", LOG_STR("version", PAYQ_VERSION),
             LOG_STR("host", cfg->listen.host), LOG_INT("port", port),
             LOG_INT("admin_port", admin_port),
             LOG_STR("username", cfg->username),
             LOG_INT("seed", (long long)cfg->seed),
             LOG_INT("float", cfg->opening_float));
}

static int wait_for_signal(const sigset_t *set)
{
    int sig = 0;

    while (sigwait(set, &sig) != 0)
        ;
    log_info("payq-sim stopping",
             LOG_STR("signal", sig == SIGINT ? "INT" : "TERM"));
    return sig;
}

int main(int argc, char **argv)
{
    struct sim sim = { .ledger = NULL };
    enum payq_err err;
    sigset_t signals;
    int exit_code;

    log_init(2, LOG_LEVEL_INFO);
    sim_config_init(&sim.cfg);
    read_environment(&sim.cfg);
    exit_code = read_flags(&sim.cfg, argc, argv);
    if (exit_code < 0)
        exit_code = check_config(&sim.cfg);
    if (exit_code >= 0)
        return exit_code;
    log_set_level(sim.cfg.log_level);
    log_secret_add(sim.cfg.password);
    log_secret_add(sim.cfg.key);

    block_signals(&signals);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    err = start_parts(&sim);
    if (err == PAYQ_OK) {
        announce(&sim);
        wait_for_signal(&signals);
    } else {
        log_error("cannot start payq-sim", LOG_ERR(err));
    }
    stop_parts(&sim);
    curl_global_cleanup();
    log_info("payq-sim stopped");
    log_secret_clear();
    return err == PAYQ_OK ? 0 : payq_err_exit_code(err);
}
