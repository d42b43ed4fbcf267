/*
 * payq balance: the provider account's balance, for people or, with
 * --json, for scripts. It needs no database, only the credentials.
 */
#include <stdio.h>

#include <jansson.h>

#include "cmd/commands.h"
#include "core/fmt.h"
#include "core/log.h"
#include "upstream/client.h"

enum { OPT_JSON = CLI_OPT_VERSION + 1 };

static void write_help(FILE *out)
{
    fputs("Usage: payq balance [--json] [GLOBAL OPTIONS]\n"
          "\n"
          "Asks the provider for the account's net balance, total credits\n"
          "and total debits, in whole francs.\n"
          "\n"
          "Options:\n"
          "  --json              print one JSON object instead of a table\n"
          "\n"
          "Provider settings (environment):\n"
          "  PAYQ_API_URL             base URL [default\n"
          "                           https://payment.schooldream.co.rw/];\n"
          "                           https only, or http to a loopback\n"
          "                           address\n"
          "  PAYQ_CA_FILE             extra CA bundle for the provider\n"
          "  PAYQ_CONNECT_TIMEOUT_MS  [default 5000]\n"
          "  PAYQ_TIMEOUT_MS          [default 30000]\n"
          "\n",
          out);
    cli_write_global_help(out);
    fputc('\n', out);
    fputs("Exit status: 0 success, 1 the provider could not be asked or\n"
          "gave no readable balance, 64 usage error, 78 configuration\n"
          "error (settings, missing credentials, or credentials or\n"
          "address refused by the provider).\n",
          out);
}

static void print_table(const struct upstream_balance *bal)
{
    char net[FMT_THOUSANDS_SIZE];
    char credits[FMT_THOUSANDS_SIZE];
    char debits[FMT_THOUSANDS_SIZE];

    fmt_thousands(bal->net_balance, net);
    fmt_thousands(bal->total_credits, credits);
    fmt_thousands(bal->total_debits, debits);
    printf("net balance    %16s %s\n", net, bal->currency);
    printf("total credits  %16s %s\n", credits, bal->currency);
    printf("total debits   %16s %s\n", debits, bal->currency);
}

/* Whole francs as JSON integers: no reader has to round anything. */
static enum payq_err print_json(const struct upstream_balance *bal)
{
    json_t *obj = json_pack(
        "{s:I, s:I, s:I, s:s}", "net_balance", (json_int_t)bal->net_balance,
        "total_credits", (json_int_t)bal->total_credits, "total_debits",
        (json_int_t)bal->total_debits, "currency", bal->currency);
    enum payq_err err = PAYQ_ERR_NOMEM;

    if (obj != NULL && json_dumpf(obj, stdout, JSON_COMPACT) == 0 &&
        fputc('\n', stdout) != EOF)
        err = PAYQ_OK;
    json_decref(obj);
    return err;
}

static void log_failure(const struct upstream_result *r)
{
    log_error("cannot read the provider balance",
              LOG_STR("class", upstream_class_name(r->cls)),
              LOG_STR("reason", r->reason),
              LOG_INT("http_status", r->http_status), LOG_STR("code", r->code),
              LOG_STR("message", r->message));
}

static enum payq_err fetch_balance(const struct config *cfg,
                                   struct upstream_balance *bal)
{
    struct upstream_config ucfg;
    struct upstream_client *client = NULL;
    struct upstream_result result;
    enum payq_err err;

    upstream_config_init(&ucfg);
    err = upstream_config_load(&ucfg);
    if (err == PAYQ_OK)
        err = upstream_client_create(&ucfg, &cfg->credentials, &client);
    if (err != PAYQ_OK)
        goto out;
    err = upstream_client_balance(client, bal, &result);
    if (err == PAYQ_ERR_CONFIG || err == PAYQ_ERR_IO)
        log_failure(&result);

out:
    upstream_client_destroy(client);
    upstream_config_cleanup(&ucfg);
    return err;
}

static enum payq_err show_balance(const struct config *cfg, bool json)
{
    struct upstream_balance bal;
    enum payq_err err = upstream_global_init();

    if (err == PAYQ_OK)
        err = fetch_balance(cfg, &bal);
    if (err == PAYQ_OK && json)
        err = print_json(&bal);
    else if (err == PAYQ_OK)
        print_table(&bal);
    upstream_global_cleanup();
    return err;
}

int cmd_balance(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        { "json", no_argument, NULL, OPT_JSON },
        { NULL, 0, NULL, 0 },
    };
    struct config cfg;
    bool json = false;
    enum payq_err err;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (opt == OPT_JSON)
            json = true;
        else if (!cli_global_option(cli, opt, optarg))
            return cli_usage_error(cli, "invalid option");
    }
    if (cli->help) {
        write_help(stdout);
        return 0;
    }
    if (optind < argc)
        return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);

    err = cli_configure(cli, &cfg);
    if (err == PAYQ_OK)
        err = config_require_credentials(&cfg);
    if (err == PAYQ_OK)
        err = show_balance(&cfg, json);

    config_cleanup(&cfg);
    /* Only the three documented statuses: never 65 for a bad answer. */
    if (err != PAYQ_OK && err != PAYQ_ERR_CONFIG)
        err = PAYQ_ERR_IO;
    return cli_exit_code(err);
}
