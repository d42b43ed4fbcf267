/* libmicrohttpd daemons and JSON answers, shared by the two servers. */
#include "sim/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/mem.h"

/* Idle keep-alive connections are closed after this many seconds. */
#define IDLE_TIMEOUT_S 60

/*
 * Memory of one connection (headers, read and write buffers); bodies are
 * kept apart by the handlers. libmicrohttpd wipes it for every request
 * on a kept-alive connection, so its 32 KiB default costs a 32 KiB
 * memset per request.
 */
#define CONNECTION_MEMORY 8192

/* Its note when a handler returns MHD_NO, as drop-after-execute does. */
static const char DROP_NOTE[] = "Application reported internal error";

/*
 * libmicrohttpd's error messages, as warnings of the log module; the
 * note of a deliberate drop only at debug, since it is no fault of ours.
 */
static void mhd_log(void *ctx, const char *fmt, va_list ap)
{
    char text[256];

    vsnprintf(text, sizeof(text), fmt, ap);
    text[strcspn(text, "\n")] = '\0';
    if (strncmp(text, DROP_NOTE, sizeof(DROP_NOTE) - 1) == 0)
        log_debug("libmicrohttpd", LOG_STR("server", ctx),
                  LOG_STR("detail", text));
    else
        log_warn("libmicrohttpd", LOG_STR("server", ctx),
                 LOG_STR("detail", text));
}

/* Fills addr from listen; returns its length, 0 for a bad address. */
static socklen_t make_addr(const struct sim_listen *listen,
                           struct sockaddr_storage *addr, bool *v6)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

    memset(addr, 0, sizeof(*addr));
    *v6 = false;
    if (inet_pton(AF_INET, listen->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((unsigned short)listen->port);
        return sizeof(*in4);
    }
    if (inet_pton(AF_INET6, listen->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((unsigned short)listen->port);
        *v6 = true;
        return sizeof(*in6);
    }
    return 0;
}

struct MHD_Daemon *sim_http_start(const struct sim_http_spec *spec)
{
    struct sockaddr_storage addr;
    struct MHD_Daemon *daemon;
    bool v6;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;

    if (make_addr(spec->listen, &addr, &v6) == 0) {
        log_error("cannot listen: bad address", LOG_STR("server", spec->name),
                  LOG_STR("host", spec->listen->host));
        return NULL;
    }
    if (spec->threads == SIM_HTTP_PER_CONNECTION)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    if (v6)
        flags |= MHD_USE_IPv6;
    /* The logger must come first to catch the other options' errors. */
    daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, spec->handler, spec->handler_ctx,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)spec->name,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, spec->connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_THREAD_POOL_SIZE,
        spec->threads == SIM_HTTP_POOL ? spec->pool_size : 0U,
        MHD_OPTION_NOTIFY_COMPLETED, spec->completed, spec->completed_ctx,
        MHD_OPTION_END);
    if (daemon == NULL)
        log_error("cannot listen: address in use or not permitted",
                  LOG_STR("server", spec->name),
                  LOG_STR("host", spec->listen->host),
                  LOG_INT("port", spec->listen->port));
    return daemon;
}

unsigned sim_http_port(struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);

    return info != NULL ? info->port : 0;
}

/* What one answer carries besides its status. */
struct answer {
    const char *body;   /* NULL: empty */
    bool owned;         /* body is ours to free with mem_free() */
    const char *allow;  /* an Allow header, or NULL */
    long retry_after_s; /* a Retry-After header, when 0 or more */
};

/* The response over a's body: handed over when owned, else copied. */
static struct MHD_Response *make_response(const struct answer *a, size_t len)
{
    struct MHD_Response *response;

    if (!a->owned)
        return MHD_create_response_from_buffer(len, (void *)a->body,
                                               MHD_RESPMEM_MUST_COPY);
    response = MHD_create_response_from_buffer_with_free_callback(
        len, (void *)a->body, mem_free);
    if (response == NULL)
        mem_free((void *)a->body);
    return response;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const struct answer *a)
{
    char seconds[24];
    struct MHD_Response *response;
    enum MHD_Result result;
    size_t len = a->body != NULL ? strlen(a->body) : 0;

    response = make_response(a, len);
    if (response == NULL)
        return MHD_NO;
    if (len > 0)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json");
    if (a->allow != NULL)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, a->allow);
    if (a->retry_after_s >= 0) {
        snprintf(seconds, sizeof(seconds), "%ld", a->retry_after_s);
        MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
    }
    result = MHD_queue_response(conn, status, response);
    MHD_destroy_response(response);
    return result;
}

enum MHD_Result sim_http_reply(struct MHD_Connection *conn, unsigned status,
                               const char *body)
{
    struct answer a = { .body = body, .retry_after_s = -1 };

    return reply(conn, status, &a);
}

enum MHD_Result sim_http_reply_owned(struct MHD_Connection *conn,
                                     unsigned status, char *body,
                                     long retry_after_s)
{
    struct answer a = { .body = body,
                        .owned = body != NULL,
                        .retry_after_s = retry_after_s };

    return reply(conn, status, &a);
}

enum MHD_Result sim_http_reply_not_allowed(struct MHD_Connection *conn,
                                           const char *allow, const char *body)
{
    struct answer a = { .body = body, .allow = allow, .retry_after_s = -1 };

    return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, &a);
}
