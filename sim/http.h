/*
 * What the simulator's two HTTP servers (the provider API and the admin
 * port) share over libmicrohttpd: starting a daemon on a configured
 * address, learning the port it got, and answering with JSON. libmicro-
 * httpd's own error messages go to the log module here, once.
 */
#ifndef PAYQ_SIM_HTTP_H
#define PAYQ_SIM_HTTP_H

#include <microhttpd.h>

#include "sim/config.h"

/* How a daemon runs its connections. */
enum sim_http_threads {
    SIM_HTTP_PER_CONNECTION, /* one thread per connection: may block */
    SIM_HTTP_SINGLE,         /* one polling thread: quick handlers only */
    SIM_HTTP_POOL,           /* pool_size polling threads (epoll) */
};

/* What a daemon is given; a value type. */
struct sim_http_spec {
    const char *name; /* for log lines: "api", "admin" */
    const struct sim_listen *listen;
    enum sim_http_threads threads;
    unsigned pool_size; /* SIM_HTTP_POOL: threads, at least 1 */
    unsigned connection_limit;
    MHD_AccessHandlerCallback handler;
    void *handler_ctx;
    MHD_RequestCompletedCallback completed; /* may be NULL */
    void *completed_ctx;
};

/*
 * Starts a daemon as spec says. Returns NULL (and logs why) when the
 * address cannot be bound. The caller stops it with MHD_stop_daemon().
 */
struct MHD_Daemon *sim_http_start(const struct sim_http_spec *spec);

/* Returns the port the daemon listens on (the chosen one for port 0). */
unsigned sim_http_port(struct MHD_Daemon *daemon);

/*
 * Queues an answer with a copy of body (NULL: empty) as
 * application/json. Returns what the handler should return.
 */
enum MHD_Result sim_http_reply(struct MHD_Connection *conn, unsigned status,
                               const char *body);

/*
 * As sim_http_reply(), without a copy: takes ownership of body (from
 * mem_alloc(); NULL: empty), also on failure. Adds a Retry-After header
 * of retry_after_s seconds when that is 0 or more.
 */
enum MHD_Result sim_http_reply_owned(struct MHD_Connection *conn,
                                     unsigned status, char *body,
                                     long retry_after_s);

/* As sim_http_reply(), with status 405 and an Allow header of allow. */
enum MHD_Result sim_http_reply_not_allowed(struct MHD_Connection *conn,
                                           const char *allow, const char *body);

#endif
