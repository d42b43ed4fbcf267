/*
 * Client settings from the environment. URLs are taken apart with
 * libcurl's own parser, so the host checked here is the host libcurl
 * will connect to: a hand-written parser could disagree with it about
 * "http://127.0.0.1@evil.example/" and let clear text leave the machine.
 */
#include "upstream/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"

static const char *const phone_form_names[] = {
    [UPSTREAM_PHONE_LOCAL10] = "local10",
    [UPSTREAM_PHONE_LOCAL9] = "local9",
    [UPSTREAM_PHONE_INTL] = "intl",
};

#define PHONE_FORM_COUNT                                                       \
    (sizeof(phone_form_names) / sizeof(phone_form_names[0]))

void upstream_config_init(struct upstream_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->connect_timeout_ms = UPSTREAM_CONNECT_TIMEOUT_DEFAULT_MS;
    cfg->timeout_ms = UPSTREAM_TIMEOUT_DEFAULT_MS;
    cfg->deposit_phone = UPSTREAM_PHONE_LOCAL10;
}

void upstream_config_cleanup(struct upstream_config *cfg)
{
    mem_free(cfg->base_url);
    mem_free(cfg->ca_file);
    mem_free_secret(cfg->callback_url);
    upstream_config_init(cfg);
}

const char *upstream_phone_form_name(enum upstream_phone_form form)
{
    if ((size_t)form >= PHONE_FORM_COUNT)
        return "unknown";
    return phone_form_names[form];
}

static const char *env_nonempty(const char *name)
{
    const char *value = getenv(name);

    return value != NULL && value[0] != '\0' ? value : NULL;
}

/* 127.0.0.0/8, ::1 or localhost (which libcurl never asks DNS about). */
static bool host_is_loopback(const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;
    char bare[64];
    size_t len = strlen(host);

    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    /* libcurl hands IPv6 hosts back in brackets. */
    if (len < 3 || len - 2 >= sizeof(bare) || host[0] != '[' ||
        host[len - 1] != ']')
        return false;
    memcpy(bare, host + 1, len - 2);
    bare[len - 2] = '\0';
    return inet_pton(AF_INET6, bare, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* True when part is present in u (the URL has a user, a query...). */
static bool url_has(CURLU *u, CURLUPart part)
{
    char *value = NULL;
    CURLUcode rc = curl_url_get(u, part, &value, 0);

    curl_free(value);
    return rc == CURLUE_OK;
}

/*
 * Checks the parts of a parsed base URL. Logs only scheme and host: a
 * refused URL may carry a password in its user part.
 */
static enum payq_err check_base_parts(CURLU *u, const char *origin,
                                      bool *plain_http)
{
    char *scheme = NULL;
    char *host = NULL;
    enum payq_err err = PAYQ_ERR_CONFIG;

    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        log_error("API URL has no scheme or host", LOG_STR("setting", origin));
        goto out;
    }
    if (url_has(u, CURLUPART_USER) || url_has(u, CURLUPART_PASSWORD) ||
        url_has(u, CURLUPART_QUERY) || url_has(u, CURLUPART_FRAGMENT)) {
        log_error("API URL must not carry a user, password, query or "
                  "fragment",
                  LOG_STR("setting", origin), LOG_STR("host", host));
        goto out;
    }
    *plain_http = strcasecmp(scheme, "http") == 0;
    if (strcasecmp(scheme, "https") != 0 &&
        !(*plain_http && host_is_loopback(host))) {
        log_error("API URL refused: use https; plain http is allowed "
                  "only to a loopback address (127.0.0.0/8, ::1, "
                  "localhost)",
                  LOG_STR("setting", origin), LOG_STR("scheme", scheme),
                  LOG_STR("host", host));
        goto out;
    }
    err = PAYQ_OK;

out:
    curl_free(scheme);
    curl_free(host);
    return err;
}

/* Copies libcurl's normalised form of u, with a trailing '/'. */
static enum payq_err base_url_copy(CURLU *u, char **out)
{
    char *text = NULL;
    struct buf b;
    enum payq_err err = PAYQ_ERR_NOMEM;

    buf_init(&b, UPSTREAM_URL_MAX + 1);
    if (curl_url_get(u, CURLUPART_URL, &text, 0) != CURLUE_OK)
        goto out;
    err = buf_append_str(&b, text);
    /* The endpoint name is appended: ".../test" must become ".../test/". */
    if (err == PAYQ_OK && b.len > 0 && b.data[b.len - 1] != '/')
        err = buf_append_byte(&b, '/');
    if (err != PAYQ_OK)
        goto out;
    *out = buf_take(&b);
    err = *out != NULL ? PAYQ_OK : PAYQ_ERR_NOMEM;

out:
    curl_free(text);
    buf_cleanup(&b);
    return err;
}

enum payq_err upstream_config_set_url(struct upstream_config *cfg,
                                      const char *url, const char *origin)
{
    CURLU *u = curl_url();
    char *copy = NULL;
    bool plain_http = false;
    enum payq_err err = PAYQ_ERR_NOMEM;

    if (u == NULL)
        goto out;
    err = PAYQ_ERR_CONFIG;
    if (strlen(url) > UPSTREAM_URL_MAX ||
        curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        log_error("API URL is not a valid absolute URL",
                  LOG_STR("setting", origin));
        goto out;
    }
    err = check_base_parts(u, origin, &plain_http);
    if (err == PAYQ_OK)
        err = base_url_copy(u, &copy);
    if (err != PAYQ_OK)
        goto out;
    mem_free(cfg->base_url);
    cfg->base_url = copy;
    cfg->plain_http = plain_http;

out:
    curl_url_cleanup(u);
    return err;
}

/* A whole number of milliseconds in 1..UPSTREAM_TIMEOUT_MAX_MS. */
static enum payq_err load_ms(const char *name, long *out)
{
    const char *text = env_nonempty(name);
    long value = 0;
    const char *p;

    if (text == NULL)
        return PAYQ_OK;
    for (p = text; *p >= '0' && *p <= '9' && value <= UPSTREAM_TIMEOUT_MAX_MS;
         p++)
        value = value * 10 + (*p - '0');
    if (*p != '\0' || value < 1 || value > UPSTREAM_TIMEOUT_MAX_MS) {
        log_error("invalid timeout: use whole milliseconds from 1 to "
                  "600000",
                  LOG_STR("setting", name), LOG_STR("value", text));
        return PAYQ_ERR_CONFIG;
    }
    *out = value;
    return PAYQ_OK;
}

static enum payq_err load_timeouts(struct upstream_config *cfg)
{
    enum payq_err err;

    err = load_ms("PAYQ_CONNECT_TIMEOUT_MS", &cfg->connect_timeout_ms);
    if (err == PAYQ_OK)
        err = load_ms("PAYQ_TIMEOUT_MS", &cfg->timeout_ms);
    if (err == PAYQ_OK && cfg->connect_timeout_ms > cfg->timeout_ms) {
        log_error("PAYQ_CONNECT_TIMEOUT_MS is above PAYQ_TIMEOUT_MS",
                  LOG_INT("connect_timeout_ms", cfg->connect_timeout_ms),
                  LOG_INT("timeout_ms", cfg->timeout_ms));
        err = PAYQ_ERR_CONFIG;
    }
    return err;
}

static enum payq_err load_phone_form(struct upstream_config *cfg)
{
    const char *text = env_nonempty("PAYQ_DEPOSIT_PHONE_FORMAT");
    size_t i;

    if (text == NULL)
        return PAYQ_OK;
    for (i = 0; i < PHONE_FORM_COUNT; i++) {
        if (strcasecmp(text, phone_form_names[i]) == 0) {
            cfg->deposit_phone = (enum upstream_phone_form)i;
            return PAYQ_OK;
        }
    }
    log_error("invalid deposit phone format: use local10, local9 or intl",
              LOG_STR("setting", "PAYQ_DEPOSIT_PHONE_FORMAT"),
              LOG_STR("value", text));
    return PAYQ_ERR_CONFIG;
}

static enum payq_err load_ca_file(struct upstream_config *cfg)
{
    const char *path = env_nonempty("PAYQ_CA_FILE");

    if (path == NULL)
        return PAYQ_OK;
    /* Caught here, a typo fails start-up instead of every request. */
    if (access(path, R_OK) != 0) {
        log_error("CA file is not readable", LOG_STR("setting", "PAYQ_CA_FILE"),
                  LOG_STR("file", path));
        return PAYQ_ERR_CONFIG;
    }
    mem_free(cfg->ca_file);
    cfg->ca_file = mem_strdup(path);
    return cfg->ca_file != NULL ? PAYQ_OK : PAYQ_ERR_NOMEM;
}

/*
 * Why url cannot be the base of callback URLs, or NULL when it can. The
 * receiver's path and token are appended to it (callback/token.h), so it
 * must be an absolute http or https URL with nothing after its path: a
 * query or fragment would swallow the token, and so would any character
 * that needs escaping.
 */
static const char *callback_url_problem(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL;
    const char *problem = "it is not an absolute http or https URL";
    size_t i;

    if (u == NULL || strlen(url) > UPSTREAM_URL_MAX ||
        curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, "http") != 0))
        goto out;
    problem = "it has a query or a fragment, which would hide the token "
              "appended to its path";
    if (url_has(u, CURLUPART_QUERY) || url_has(u, CURLUPART_FRAGMENT) ||
        strpbrk(url, "?#") != NULL)
        goto out;
    problem = "it holds a space, a control or a non-ASCII character";
    for (i = 0; url[i] != '\0'; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7F)
            goto out;
    problem = NULL;

out:
    curl_free(scheme);
    curl_url_cleanup(u);
    return problem;
}

/*
 * The callback URL is where the provider posts outcomes; it is ours, not
 * the provider's, so any http(s) host will do. Its value is never
 * logged: integrators put a secret token in it.
 */
static enum payq_err load_callback_url(struct upstream_config *cfg)
{
    const char *url = env_nonempty("PAYQ_CALLBACK_URL");
    const char *problem;

    if (url == NULL)
        return PAYQ_OK;
    problem = callback_url_problem(url);
    if (problem != NULL) {
        log_error("PAYQ_CALLBACK_URL cannot carry callback tokens",
                  LOG_STR("setting", "PAYQ_CALLBACK_URL"),
                  LOG_STR("reason", problem));
        return PAYQ_ERR_CONFIG;
    }
    mem_free_secret(cfg->callback_url);
    cfg->callback_url = mem_strdup(url);
    return cfg->callback_url != NULL ? PAYQ_OK : PAYQ_ERR_NOMEM;
}

enum payq_err upstream_config_load(struct upstream_config *cfg)
{
    const char *url = env_nonempty("PAYQ_API_URL");
    enum payq_err err;

    err = upstream_config_set_url(cfg, url != NULL ? url : UPSTREAM_DEFAULT_URL,
                                  "PAYQ_API_URL");
    if (err == PAYQ_OK)
        err = load_timeouts(cfg);
    if (err == PAYQ_OK)
        err = load_phone_form(cfg);
    if (err == PAYQ_OK)
        err = load_ca_file(cfg);
    if (err == PAYQ_OK)
        err = load_callback_url(cfg);
    if (err == PAYQ_ERR_NOMEM)
        log_error("cannot load the API client settings", LOG_ERR(err));
    return err;
}
