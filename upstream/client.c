/*
 * libcurl client for the provider. Design notes in upstream/README.md;
 * the two points that most shape this file:
 *
 * The request body is handed to libcurl through a read callback, not
 * CURLOPT_POSTFIELDS, together with a seek callback that refuses to
 * rewind. When a kept-alive connection dies after part of a body left,
 * libcurl would otherwise quietly send the whole request again on a new
 * connection, and the provider could see one transaction id twice
 * without us knowing. Refused the rewind, libcurl fails the transfer
 * instead (CURLE_SEND_FAIL_REWIND), which classifies as ambiguous: the
 * worker then resends knowingly, as a probe.
 *
 * Evidence for "not sent" is libcurl's count of request bytes written
 * (CURLINFO_REQUEST_SIZE plus the uploaded body), reset for every
 * transfer: classify trusts a pre-send failure only when it is zero.
 */
#include "upstream/client.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"

#ifndef PAYQ_VERSION
#define PAYQ_VERSION "dev"
#endif

/* Longest Retry-After value kept; real ones are under 40 bytes. */
#define RETRY_AFTER_SIZE 64
/* Longest libcurl trace line logged at debug. */
#define TRACE_LINE_SIZE 256

struct upstream_client {
    CURL *easy;
    struct curl_slist *headers;
    const struct config_credentials *creds; /* borrowed */
    char *url_pay;
    char *url_deposit;
    char *url_balance;
    char *callback_url; /* PAYQ_CALLBACK_URL or NULL; never logged */
    enum upstream_phone_form deposit_phone;
    struct buf answer; /* body of the last answer, capped */
    bool answer_overflow;
    char retry_after[RETRY_AFTER_SIZE];
    bool retry_after_seen;
    const char *upload; /* the request body during a transfer */
    size_t upload_len;
    size_t upload_pos;
    char errbuf[CURL_ERROR_SIZE];
};

/* What one transfer produced, before classification. */
struct exchange {
    struct upstream_transport transport;
    long http_status;
    long long duration_ms;
    struct upstream_response resp;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static enum payq_err global_err = PAYQ_OK;

static void global_init_once(void)
{
    /* Seeding before threads exist keeps jansson's lazy seeding out of
     * the workers' way. */
    json_object_seed(0);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        global_err = PAYQ_ERR_NOMEM;
}

enum payq_err upstream_global_init(void)
{
    pthread_once(&global_once, global_init_once);
    return global_err;
}

void upstream_global_cleanup(void)
{
    curl_global_cleanup();
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct upstream_client *c = arg;
    enum payq_err err = buf_append(&c->answer, data, size * n);

    if (err == PAYQ_ERR_TOO_LARGE)
        c->answer_overflow = true;
    /* Anything short of size * n makes libcurl stop reading. */
    return err == PAYQ_OK ? size * n : 0;
}

/* Keeps the Retry-After value of the final response's headers. */
static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    static const char name[] = "retry-after:";
    struct upstream_client *c = arg;
    size_t len = size * n;
    size_t skip = sizeof(name) - 1;

    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0)
        c->retry_after_seen = false;
    if (len <= skip || strncasecmp(line, name, skip) != 0)
        return len;
    while (skip < len && (line[skip] == ' ' || line[skip] == '\t'))
        skip++;
    len -= skip;
    while (len > 0 &&
           (line[skip + len - 1] == '\r' || line[skip + len - 1] == '\n' ||
            line[skip + len - 1] == ' '))
        len--;
    if (len < sizeof(c->retry_after)) {
        memcpy(c->retry_after, line + skip, len);
        c->retry_after[len] = '\0';
        c->retry_after_seen = true;
    }
    return size * n;
}

static size_t on_read(char *out, size_t size, size_t n, void *arg)
{
    struct upstream_client *c = arg;
    size_t room = size * n;
    size_t left = c->upload_len - c->upload_pos;

    if (room > left)
        room = left;
    memcpy(out, c->upload + c->upload_pos, room);
    c->upload_pos += room;
    return room;
}

/* Never rewind: see the file comment. */
static int on_seek(void *arg, curl_off_t offset, int origin)
{
    (void)arg;
    (void)offset;
    (void)origin;
    return CURL_SEEKFUNC_CANTSEEK;
}

/* Logs one line of data[0..size) without its line ending. */
static void trace_line(const char *what, const char *data, size_t size)
{
    char line[TRACE_LINE_SIZE];
    size_t n = 0;

    while (n < size && n + 1 < sizeof(line) && data[n] != '\r' &&
           data[n] != '\n') {
        line[n] = data[n];
        n++;
    }
    line[n] = '\0';
    if (n > 0)
        log_debug("libcurl trace", LOG_STR("type", what),
                  LOG_STR("line", line));
}

/*
 * libcurl's trace, at debug only. Bodies in either direction are
 * dropped, whatever their size: ours carry the password and key, the
 * provider's carry customers' phone numbers. Of our headers only the
 * request line is kept.
 */
static int on_trace(CURL *easy, curl_infotype type, char *data, size_t size,
                    void *arg)
{
    (void)easy;
    (void)arg;
    switch (type) {
    case CURLINFO_TEXT:
        trace_line("info", data, size);
        break;
    case CURLINFO_HEADER_IN:
        trace_line("header_in", data, size);
        break;
    case CURLINFO_HEADER_OUT:
        trace_line("request", data, size);
        break;
    default:
        break;
    }
    return 0;
}

static bool set_callbacks(struct upstream_client *c)
{
    CURL *e = c->easy;

    return curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_WRITEDATA, c) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_HEADERDATA, c) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_READDATA, c) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_SEEKDATA, c) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf) == CURLE_OK;
}

/*
 * Transport policy. HTTP/1.1 because a worker's handle carries one
 * request at a time, so HTTP/2 gains nothing, and one request per
 * connection keeps "what was sent" easy to reason about. Proxies from
 * the environment are ignored: the provider allows requests from
 * registered addresses only, and the body must not pass through a hop
 * nobody configured for payq.
 */
static bool set_transport(CURL *e, const struct upstream_config *cfg)
{
    const char *protocols = cfg->plain_http ? "http" : "https";

    return curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, protocols) ==
               CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                            (long)CURL_HTTP_VERSION_1_1) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                            cfg->connect_timeout_ms) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, cfg->timeout_ms) ==
               CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_USERAGENT, "payq/" PAYQ_VERSION) ==
               CURLE_OK;
}

/* Verification is never switched off; PAYQ_CA_FILE only adds trust. */
static bool set_tls(CURL *e, const struct upstream_config *cfg)
{
    return curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_SSLVERSION,
                            (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
           (cfg->ca_file == NULL ||
            curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file) == CURLE_OK);
}

/* "Expect:" stops libcurl from waiting for a 100 Continue. */
static bool set_headers(struct upstream_client *c)
{
    static const char *const lines[] = {
        "Content-Type: application/json",
        "Accept: application/json",
        "Expect:",
    };
    size_t i;

    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct curl_slist *grown = curl_slist_append(c->headers, lines[i]);

        if (grown == NULL)
            return false;
        c->headers = grown;
    }
    return curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers) ==
           CURLE_OK;
}

static bool set_trace(CURL *e)
{
    if (!log_enabled(LOG_LEVEL_DEBUG))
        return true;
    return curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_trace) == CURLE_OK &&
           curl_easy_setopt(e, CURLOPT_VERBOSE, 1L) == CURLE_OK;
}

/* base + name, e.g. ".../test/" + "pay_v2". */
static char *endpoint_url(const char *base, const char *name)
{
    struct buf b;

    buf_init(&b, UPSTREAM_URL_MAX + 16);
    if (buf_append_str(&b, base) != PAYQ_OK ||
        buf_append_str(&b, name) != PAYQ_OK) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_take(&b);
}

static enum payq_err client_copy_config(struct upstream_client *c,
                                        const struct upstream_config *cfg)
{
    c->deposit_phone = cfg->deposit_phone;
    c->url_pay = endpoint_url(cfg->base_url, "pay_v2");
    c->url_deposit = endpoint_url(cfg->base_url, "deposit");
    c->url_balance = endpoint_url(cfg->base_url, "balance");
    if (cfg->callback_url != NULL)
        c->callback_url = mem_strdup(cfg->callback_url);
    if (c->url_pay == NULL || c->url_deposit == NULL ||
        c->url_balance == NULL ||
        (cfg->callback_url != NULL && c->callback_url == NULL))
        return PAYQ_ERR_NOMEM;
    return PAYQ_OK;
}

enum payq_err upstream_client_create(const struct upstream_config *cfg,
                                     const struct config_credentials *creds,
                                     struct upstream_client **out)
{
    struct upstream_client *c = NULL;
    enum payq_err err = PAYQ_ERR_CONFIG;

    if (cfg->base_url == NULL) {
        log_error("API client settings were never loaded");
        goto out;
    }
    err = PAYQ_ERR_NOMEM;
    c = mem_calloc(1, sizeof(*c));
    if (c == NULL)
        goto out;
    c->creds = creds;
    buf_init(&c->answer, UPSTREAM_BODY_MAX);
    c->easy = curl_easy_init();
    if (c->easy == NULL)
        goto out;
    err = client_copy_config(c, cfg);
    if (err != PAYQ_OK)
        goto out;
    if (!set_callbacks(c) || !set_transport(c->easy, cfg) ||
        !set_tls(c->easy, cfg) || !set_headers(c) || !set_trace(c->easy)) {
        log_error(
            "libcurl refused a client setting; is it 7.85 or later?",
            LOG_STR("libcurl", curl_version_info(CURLVERSION_NOW)->version));
        err = PAYQ_ERR_CONFIG;
        goto out;
    }
    *out = c;
    c = NULL;

out:
    upstream_client_destroy(c);
    return err;
}

void upstream_client_destroy(struct upstream_client *client)
{
    if (client == NULL)
        return;
    if (client->easy != NULL)
        curl_easy_cleanup(client->easy);
    curl_slist_free_all(client->headers);
    mem_free(client->url_pay);
    mem_free(client->url_deposit);
    mem_free(client->url_balance);
    mem_free_secret(client->callback_url);
    buf_cleanup(&client->answer);
    mem_free(client);
}

const char *upstream_client_last_body(const struct upstream_client *client,
                                      size_t *len)
{
    *len = client->answer.len;
    return buf_str(&client->answer);
}

/* Reads what libcurl observed of the finished transfer into x. */
static void collect(struct upstream_client *c, CURLcode rc, struct exchange *x)
{
    long header_bytes = 0;
    curl_off_t body_bytes = 0;
    curl_off_t micros = 0;

    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &x->http_status);
    curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &header_bytes);
    curl_easy_getinfo(c->easy, CURLINFO_SIZE_UPLOAD_T, &body_bytes);
    curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME_T, &micros);
    x->transport.bytes_sent = (long long)header_bytes + body_bytes;
    x->duration_ms = micros / 1000;

    upstream_response_init(&x->resp);
    /* Our own cap stopped the transfer: an answer came, too long. */
    if (rc == CURLE_WRITE_ERROR && c->answer_overflow) {
        rc = CURLE_OK;
        x->resp.body = UPSTREAM_BODY_TOO_LARGE;
    } else if (rc == CURLE_OK) {
        upstream_response_parse(c->answer.data, c->answer.len, &x->resp);
    }
    x->transport.curl_code = (int)rc;
    x->resp.retry_after_s = upstream_retry_after_parse(
        c->retry_after_seen ? c->retry_after : NULL, time(NULL));
}

/* POSTs body to url and collects the outcome; never fails as a call. */
static void exchange(struct upstream_client *c, const char *url,
                     const char *body, size_t len, struct exchange *x)
{
    CURLcode rc;

    memset(x, 0, sizeof(*x));
    buf_reset(&c->answer);
    c->answer_overflow = false;
    c->retry_after_seen = false;
    c->errbuf[0] = '\0';
    c->upload = body;
    c->upload_len = len;
    c->upload_pos = 0;

    rc = curl_easy_setopt(c->easy, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                              (curl_off_t)len);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(c->easy);
    collect(c, rc, x);
    c->upload = NULL;
}

static const char *endpoint_name(enum job_kind kind)
{
    return kind == JOB_KIND_PAY ? "pay_v2" : "deposit";
}

static void log_outcome(const struct upstream_client *c, const char *endpoint,
                        const char *txn, const struct upstream_result *r)
{
    struct log_field txn_field = LOG_STR("txn", txn);

    if (txn == NULL)
        txn_field.type = LOG_FIELD_SKIP;
    log_debug("provider exchange done", LOG_STR("endpoint", endpoint),
              txn_field, LOG_STR("class", upstream_class_name(r->cls)),
              LOG_STR("reason", r->reason),
              LOG_INT("http_status", r->http_status), LOG_STR("code", r->code),
              LOG_INT("curl_code", r->curl_code),
              LOG_STR("curl_error", c->errbuf),
              LOG_INT("duration_ms", r->duration_ms));
}

/* The payment as it will be written, with the default callback URL. */
static enum payq_err resolve_payment(const struct upstream_client *c,
                                     const struct upstream_payment *pay,
                                     struct upstream_payment *out)
{
    *out = *pay;
    if (out->kind == JOB_KIND_PAY && out->callback_url == NULL)
        out->callback_url = c->callback_url;
    if (out->kind == JOB_KIND_PAY && out->callback_url == NULL) {
        /* Per job: the caller reports the condition once. */
        log_debug("cannot send a collection without a callback URL: set "
                  "PAYQ_CALLBACK_URL",
                  LOG_STR("txn", pay->request_txn_id));
        return PAYQ_ERR_CONFIG;
    }
    return PAYQ_OK;
}

enum payq_err upstream_client_send(struct upstream_client *client,
                                   const struct upstream_payment *pay,
                                   bool is_resend,
                                   struct upstream_result *result)
{
    char body[UPSTREAM_REQUEST_MAX];
    struct upstream_payment p;
    struct exchange x;
    size_t len = 0;
    enum payq_err err = resolve_payment(client, pay, &p);

    if (err == PAYQ_OK)
        err = upstream_request_payment(&p, client->creds, client->deposit_phone,
                                       body, sizeof(body), &len);
    if (err != PAYQ_OK) {
        log_debug("payment not sent: its request cannot be written",
                  LOG_STR("txn", pay->request_txn_id), LOG_ERR(err));
        goto out;
    }
    log_debug("sending to provider", LOG_STR("endpoint", endpoint_name(p.kind)),
              LOG_STR("txn", p.request_txn_id), LOG_INT("resend", is_resend),
              LOG_PHONE("phone", p.phone), LOG_INT("amount", p.amount));
    exchange(client,
             p.kind == JOB_KIND_PAY ? client->url_pay : client->url_deposit,
             body, len, &x);
    *result = upstream_classify(p.kind, is_resend, &x.transport, x.http_status,
                                &x.resp);
    result->duration_ms = x.duration_ms;
    log_outcome(client, endpoint_name(p.kind), p.request_txn_id, result);

out:
    OPENSSL_cleanse(body, sizeof(body));
    return err;
}

static void copy_balance(const struct upstream_response *resp,
                         struct upstream_balance *balance)
{
    balance->net_balance = resp->net_balance;
    balance->total_credits = resp->total_credits;
    balance->total_debits = resp->total_debits;
    memcpy(balance->currency, resp->currency, sizeof(balance->currency));
}

enum payq_err upstream_client_balance(struct upstream_client *client,
                                      struct upstream_balance *balance,
                                      struct upstream_result *result)
{
    char body[UPSTREAM_REQUEST_MAX];
    struct exchange x;
    size_t len = 0;
    enum payq_err err;

    err = upstream_request_balance(client->creds, body, sizeof(body), &len);
    if (err != PAYQ_OK) {
        /* Only the credentials go in: they are what is wrong. */
        if (err != PAYQ_ERR_NOMEM)
            err = PAYQ_ERR_CONFIG;
        log_error("cannot write the balance request: check the "
                  "credentials",
                  LOG_ERR(err));
        goto out;
    }
    exchange(client, client->url_balance, body, len, &x);
    *result = upstream_classify_balance(&x.transport, x.http_status, &x.resp);
    result->duration_ms = x.duration_ms;
    log_outcome(client, "balance", NULL, result);
    if (result->cls == UPSTREAM_CLASS_SUCCEEDED)
        copy_balance(&x.resp, balance);
    else
        err = result->cls == UPSTREAM_CLASS_SYSTEMIC ? PAYQ_ERR_CONFIG
                                                     : PAYQ_ERR_IO;

out:
    OPENSSL_cleanse(body, sizeof(body));
    return err;
}
