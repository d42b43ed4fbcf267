/*
 * The --listen endpoint over libmicrohttpd. Every answer is decided on the
 * first call of the handler, with the request headers only: no request
 * body is ever read, so queuing the answer then also refuses any upload.
 */
#include "worker/httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "core/buf.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/mem.h"

/* Cap on one exposition; far above what the bounded metrics can make. */
#define METRICS_BODY_MAX (1024 * 1024)

static const char METRICS_TYPE[] = "text/plain; version=0.0.4; charset=utf-8";
static const char TEXT_TYPE[] = "text/plain; charset=utf-8";
static const char ALLOWED[] = "GET, HEAD";
static const char NOT_ALLOWED[] = "method not allowed\n";

struct worker_httpd {
    struct MHD_Daemon *daemon;
    struct worker_metrics *metrics; /* borrowed */
    unsigned port;
};

enum route { ROUTE_NONE, ROUTE_METRICS, ROUTE_HEALTHZ, ROUTE_READYZ };

static enum route route_find(const char *url)
{
    if (strcmp(url, "/metrics") == 0)
        return ROUTE_METRICS;
    if (strcmp(url, "/healthz") == 0)
        return ROUTE_HEALTHZ;
    if (strcmp(url, "/readyz") == 0)
        return ROUTE_READYZ;
    return ROUTE_NONE;
}

/* A request announcing a body, whether by length or by chunks. */
static bool has_body(struct MHD_Connection *conn)
{
    const char *length = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *chunked = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);

    return chunked != NULL || (length != NULL && strcmp(length, "0") != 0);
}

/* Queues a copy of body with its type; allow (or NULL) for 405. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *type, const char *body, size_t len,
                             const char *allow)
{
    struct MHD_Response *response;
    enum MHD_Result result;

    response = MHD_create_response_from_buffer(len, (void *)body,
                                               MHD_RESPMEM_MUST_COPY);
    if (response == NULL)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    /* A cached health answer would hide the very change it reports. */
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL,
                            "no-store");
    if (allow != NULL)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
    result = MHD_queue_response(conn, status, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
                                  const char *text)
{
    return reply(conn, status, TEXT_TYPE, text, strlen(text), NULL);
}

static enum MHD_Result serve_metrics(struct worker_httpd *h,
                                     struct MHD_Connection *conn)
{
    enum MHD_Result result;
    enum payq_err err;
    struct buf body;

    buf_init(&body, METRICS_BODY_MAX);
    err = worker_metrics_render(h->metrics, &body);
    if (err != PAYQ_OK) {
        log_warn("cannot render metrics", LOG_ERR(err));
        result = reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "cannot render metrics\n");
    } else {
        result = reply(conn, MHD_HTTP_OK, METRICS_TYPE, buf_str(&body),
                       body.len, NULL);
    }
    buf_cleanup(&body);
    return result;
}

static enum MHD_Result serve_readyz(struct worker_httpd *h,
                                    struct MHD_Connection *conn)
{
    const char *reason = worker_metrics_unready_reason(h->metrics);
    char text[64];

    if (reason == NULL)
        return reply_text(conn, MHD_HTTP_OK, "ready\n");
    snprintf(text, sizeof(text), "%s\n", reason);
    return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text);
}

static enum MHD_Result serve_healthz(struct worker_httpd *h,
                                     struct MHD_Connection *conn)
{
    if (worker_metrics_alive(h->metrics, WORKER_METRICS_ALIVE_MS))
        return reply_text(conn, MHD_HTTP_OK, "ok\n");
    return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "stalled\n");
}

/* The access handler: called once per request, before any body. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct worker_httpd *h = cls;
    enum route route = route_find(url);

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    log_debug("metrics request", LOG_STR("method", method),
              LOG_STR("path", url));
    if (route == ROUTE_NONE)
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, TEXT_TYPE, NOT_ALLOWED,
                     sizeof(NOT_ALLOWED) - 1, ALLOWED);
    if (has_body(conn))
        return reply_text(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                          "request bodies are not accepted\n");
    if (route == ROUTE_METRICS)
        return serve_metrics(h, conn);
    if (route == ROUTE_HEALTHZ)
        return serve_healthz(h, conn);
    return serve_readyz(h, conn);
}

static struct MHD_Daemon *daemon_start(struct worker_httpd *h,
                                       const struct sockaddr_in *addr)
{
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;

    /* The logger comes first so that it hears about the other options. */
    return MHD_start_daemon(
        flags, 0, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER,
        listen_log_mhd, (void *)"metrics", MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)WORKER_HTTPD_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)WORKER_HTTPD_TIMEOUT_S, MHD_OPTION_END);
}

static unsigned daemon_port(struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);

    return info != NULL ? info->port : 0;
}

enum payq_err worker_httpd_start(const char *listen, struct worker_metrics *m,
                                 struct worker_httpd **out)
{
    struct worker_httpd *h = NULL;
    enum payq_err err = PAYQ_ERR_CONFIG;
    struct sockaddr_in addr;
    char host[INET_ADDRSTRLEN];

    *out = NULL;
    if (!listen_parse(listen, &addr)) {
        log_error("cannot listen: expected ADDR:PORT, ADDR an IPv4 "
                  "address or localhost",
                  LOG_STR("listen", listen != NULL ? listen : ""));
        goto out;
    }
    err = PAYQ_ERR_NOMEM;
    h = mem_calloc(1, sizeof(*h));
    if (h == NULL)
        goto out;
    h->metrics = m;

    err = PAYQ_ERR_IO;
    h->daemon = daemon_start(h, &addr);
    if (h->daemon == NULL) {
        log_error("cannot listen: address in use or not permitted",
                  LOG_STR("listen", listen));
        goto out;
    }
    h->port = daemon_port(h->daemon);
    inet_ntop(AF_INET, &addr.sin_addr, host, sizeof(host));
    log_info("metrics endpoint listening", LOG_STR("addr", host),
             LOG_INT("port", h->port));
    *out = h;
    h = NULL;
    err = PAYQ_OK;
out:
    worker_httpd_stop(h);
    return err;
}

unsigned worker_httpd_port(const struct worker_httpd *h)
{
    return h->port;
}

void worker_httpd_stop(struct worker_httpd *h)
{
    if (h == NULL)
        return;
    if (h->daemon != NULL)
        MHD_stop_daemon(h->daemon);
    mem_free(h);
}
