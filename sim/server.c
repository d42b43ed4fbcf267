/*
 * HTTP plumbing of the provider port. libmicrohttpd calls on_request()
 * once with the headers, then once per chunk of body, then once more at
 * the end; the per-request state (struct exchange) lives in *req_cls from
 * the first call to on_completed(). Errors found early (unknown path,
 * wrong method, oversized body) are only noted, and answered at the end
 * once the body is consumed: answering mid-upload is legal but leaves the
 * connection in a state clients report confusingly.
 */
#include "sim/server.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "sim/http.h"
#include "sim/params.h"

struct sim_server {
    struct MHD_Daemon *daemon;
    struct sim_api *api;
    unsigned port;
};

/* One request in progress; only its connection's thread touches it. */
struct exchange {
    enum sim_endpoint endpoint;
    unsigned refusal; /* 404, 405 or 413 decided from the headers; or 0 */
    struct buf body;  /* may hold credentials: wiped when freed */
    bool too_large;
};

static const struct {
    const char *path;
    enum sim_endpoint endpoint;
} routes[] = {
    { "/pay_v2", SIM_ENDPOINT_PAY },
    { "/test/pay_v2", SIM_ENDPOINT_PAY },
    { "/deposit", SIM_ENDPOINT_DEPOSIT },
    { "/test/deposit", SIM_ENDPOINT_DEPOSIT },
    { "/balance", SIM_ENDPOINT_BALANCE },
    { "/test/balance", SIM_ENDPOINT_BALANCE },
};

static bool find_route(const char *path, enum sim_endpoint *endpoint)
{
    size_t i;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(routes[i].path, path) == 0) {
            *endpoint = routes[i].endpoint;
            return true;
        }
    }
    return false;
}

/* A Content-Length above the cap is refused before reading a byte. */
static bool declared_too_large(struct MHD_Connection *conn)
{
    const char *length = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    size_t digits;

    if (length == NULL)
        return false;
    digits = strspn(length, "0123456789");
    if (digits > 9)
        return true;
    return strtoul(length, NULL, 10) > SIM_SERVER_BODY_MAX;
}

/* First call: route the request and set up its state. */
static enum MHD_Result begin(struct MHD_Connection *conn, const char *path,
                             const char *method, void **req_cls)
{
    struct exchange *ex = mem_calloc(1, sizeof(*ex));

    if (ex == NULL)
        return MHD_NO;
    buf_init(&ex->body, SIM_SERVER_BODY_MAX);
    if (!find_route(path, &ex->endpoint))
        ex->refusal = MHD_HTTP_NOT_FOUND;
    else if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        ex->refusal = MHD_HTTP_METHOD_NOT_ALLOWED;
    else if (declared_too_large(conn))
        ex->refusal = MHD_HTTP_CONTENT_TOO_LARGE;
    *req_cls = ex;
    return MHD_YES;
}

/* Keeps a chunk of body; past the cap, drops it and remembers that. */
static void take_chunk(struct exchange *ex, const char *data, size_t n)
{
    if (ex->refusal != 0 || ex->too_large)
        return;
    if (buf_append(&ex->body, data, n) != PAYQ_OK)
        ex->too_large = true;
}

static enum MHD_Result refuse(struct MHD_Connection *conn, unsigned status,
                              const char *path)
{
    struct sim_answer answer;
    enum MHD_Result result;
    const char *message = "Invalid JSON or malformed request";

    if (status == MHD_HTTP_NOT_FOUND)
        message = "Route Not Found";
    else if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        message = "Method Not Allowed";
    else if (status == MHD_HTTP_CONTENT_TOO_LARGE)
        message = "Request body too large";
    log_debug("request refused", LOG_STR("path", path),
              LOG_INT("status", status));
    sim_answer_error(&answer, status, message);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        result = sim_http_reply_not_allowed(conn, "POST", answer.body);
    else
        result = sim_http_reply(conn, status, answer.body);
    sim_answer_cleanup(&answer);
    return result;
}

/* Last call: parse, hand to the api, answer (or drop the connection). */
static enum MHD_Result finish(struct sim_server *server,
                              struct MHD_Connection *conn, const char *path,
                              struct exchange *ex)
{
    struct sim_params params = { .count = 0 };
    struct sim_answer answer;
    enum MHD_Result result;
    const char *type = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

    if (ex->refusal != 0)
        return refuse(conn, ex->refusal, path);
    if (ex->too_large)
        return refuse(conn, MHD_HTTP_CONTENT_TOO_LARGE, path);
    if (sim_params_parse(&params, type,
                         ex->body.data != NULL ? ex->body.data : "",
                         ex->body.len) != PAYQ_OK) {
        sim_params_cleanup(&params);
        return refuse(conn, MHD_HTTP_BAD_REQUEST, path);
    }
    sim_api_handle(server->api, ex->endpoint, &params, &answer);
    sim_params_cleanup(&params);
    /* MHD_NO without a queued answer: libmicrohttpd closes the socket. */
    result = MHD_NO;
    if (!answer.drop) {
        result = sim_http_reply_owned(conn, answer.status, answer.body,
                                      answer.retry_after_s);
        answer.body = NULL; /* handed over */
    }
    sim_answer_cleanup(&answer);
    return result;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *path, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **req_cls)
{
    struct exchange *ex = *req_cls;

    (void)version;
    if (ex == NULL)
        return begin(conn, path, method, req_cls);
    if (*data_size > 0) {
        take_chunk(ex, data, *data_size);
        *data_size = 0;
        return MHD_YES;
    }
    return finish(cls, conn, path, ex);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode why)
{
    struct exchange *ex = *req_cls;

    (void)cls;
    (void)conn;
    (void)why;
    if (ex == NULL)
        return;
    if (ex->body.data != NULL)
        OPENSSL_cleanse(ex->body.data, ex->body.len);
    buf_cleanup(&ex->body);
    mem_free(ex);
    *req_cls = NULL;
}

/*
 * --server-threads, or by default: a pool of SIM_SERVER_POOL_THREADS
 * threads polling many connections each when no request ever sleeps
 * (the fast path of benchmarks), else a thread per connection, so that
 * a sleeping request holds up no other.
 */
static void pick_threads(const struct sim_config *cfg,
                         struct sim_http_spec *spec)
{
    int n = cfg->server_threads;

    if (n < 0)
        n = sim_config_requests_block(cfg) ? 0 : SIM_SERVER_POOL_THREADS;
    spec->threads = n > 0 ? SIM_HTTP_POOL : SIM_HTTP_PER_CONNECTION;
    spec->pool_size = (unsigned)n;
}

enum payq_err sim_server_start(const struct sim_config *cfg,
                               struct sim_api *api, struct sim_server **out)
{
    struct sim_server *server = mem_calloc(1, sizeof(*server));
    struct sim_http_spec spec = {
        .name = "api",
        .listen = &cfg->listen,
        .connection_limit = SIM_SERVER_CONNECTIONS_MAX,
        .handler = on_request,
        .handler_ctx = server,
        .completed = on_completed,
    };

    *out = NULL;
    pick_threads(cfg, &spec);
    if (server == NULL)
        return PAYQ_ERR_NOMEM;
    server->api = api;
    server->daemon = sim_http_start(&spec);
    if (server->daemon == NULL) {
        mem_free(server);
        return PAYQ_ERR_IO;
    }
    server->port = sim_http_port(server->daemon);
    *out = server;
    return PAYQ_OK;
}

unsigned sim_server_port(const struct sim_server *server)
{
    return server->port;
}

void sim_server_stop(struct sim_server *server)
{
    if (server == NULL)
        return;
    MHD_stop_daemon(server->daemon);
    mem_free(server);
}
