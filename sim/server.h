/*
 * The provider's HTTP port: POST /pay_v2, /deposit, /balance and their
 * /test/ twins, on libmicrohttpd. When a request may sleep (--latency-ms,
 * --slow-ms, early callbacks) each connection has its own thread, so
 * that a sleeping request holds up no other; when none may, a small pool
 * of threads polls them all with epoll, which costs far less per
 * request (--server-threads overrides the choice). Bodies are capped at
 * SIM_SERVER_BODY_MAX (413 beyond); an unknown path answers 404, another method
 * 405, an unreadable body 400.
 *
 * A request planned to be dropped after executing makes the handler
 * return MHD_NO, which closes the connection without any answer.
 */
#ifndef PAYQ_SIM_SERVER_H
#define PAYQ_SIM_SERVER_H

#include "core/err.h"
#include "sim/api.h"
#include "sim/config.h"

/* Largest request body accepted, in bytes. */
#define SIM_SERVER_BODY_MAX (64 * 1024)

/* Most connections served at once. */
#define SIM_SERVER_CONNECTIONS_MAX 1024

/* Threads of the polling pool, when nothing sleeps: one per core here. */
#define SIM_SERVER_POOL_THREADS 2

struct sim_server;

/*
 * Listens on cfg->listen and serves requests with api, which must
 * outlive the server. Returns PAYQ_OK with *out set, or PAYQ_ERR_IO
 * (logged) / PAYQ_ERR_NOMEM. The caller stops it with
 * sim_server_stop().
 */
PAYQ_MUST_USE enum payq_err sim_server_start(const struct sim_config *cfg,
                                             struct sim_api *api,
                                             struct sim_server **out);

/* Returns the port listened on. */
unsigned sim_server_port(const struct sim_server *server);

/*
 * Stops accepting, waits for the requests in progress (call
 * sim_api_stop() first so that none is asleep) and frees the server.
 */
void sim_server_stop(struct sim_server *server);

#endif
