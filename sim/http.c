/* libmicrohttpd daemons and JSON answers, shared by the two servers. */
#include "sim/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"

/* Idle keep-alive connections are closed after this many seconds. */
#define IDLE_TIMEOUT_S 60

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
    daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, spec->handler, spec->handler_ctx,
                         MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                         (void *)spec->name, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
                         spec->connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED,
                         spec->completed, spec->completed_ctx, MHD_OPTION_END);
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

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *body, const char *allow)
{
    struct MHD_Response *response;
    enum MHD_Result result;
    size_t len = body != NULL ? strlen(body) : 0;

    response = MHD_create_response_from_buffer(len, (void *)body,
                                               MHD_RESPMEM_MUST_COPY);
    if (response == NULL)
        return MHD_NO;
    if (len > 0)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json");
    if (allow != NULL)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
    result = MHD_queue_response(conn, status, response);
    MHD_destroy_response(response);
    return result;
}

enum MHD_Result sim_http_reply(struct MHD_Connection *conn, unsigned status,
                               const char *body)
{
    return reply(conn, status, body, NULL);
}

enum MHD_Result sim_http_reply_not_allowed(struct MHD_Connection *conn,
                                           const char *allow, const char *body)
{
    return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, body, allow);
}
