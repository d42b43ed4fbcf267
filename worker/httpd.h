/*
 * The --listen endpoint of `payq work`: a small HTTP server for a
 * monitoring system and an orchestrator.
 *
 *   GET /metrics   the worker metrics, Prometheus text format 0.0.4
 *   GET /healthz   200 "ok" while the pool's main loop beats, else 503
 *   GET /readyz    200 "ready", or 503 and why not
 *
 * HEAD works wherever GET does; other methods get 405, unknown paths 404,
 * requests with a body 413. One libmicrohttpd polling thread serves every
 * connection: the handlers only copy counters, and a connection limit and
 * an idle timeout keep slow clients from holding it.
 */
#ifndef PAYQ_WORKER_HTTPD_H
#define PAYQ_WORKER_HTTPD_H

#include "core/err.h"
#include "worker/metrics.h"

/* Connections served at once; more wait in the kernel's backlog. */
#define WORKER_HTTPD_CONNECTIONS_MAX 32

/* Seconds a connection may sit idle (or trickle) before it is closed. */
#define WORKER_HTTPD_TIMEOUT_S 10

struct worker_httpd;

/*
 * Starts serving m on listen, "ADDR:PORT": ADDR an IPv4 dotted quad or
 * "localhost", PORT 0 to 65535, 0 for any free port. Logs the bound
 * address at info. m is borrowed and must outlive the server. The caller
 * stops it with worker_httpd_stop(). PAYQ_ERR_CONFIG (logged) when listen
 * is malformed, PAYQ_ERR_IO (logged) when it cannot be bound,
 * PAYQ_ERR_NOMEM.
 */
PAYQ_MUST_USE enum payq_err worker_httpd_start(const char *listen,
                                               struct worker_metrics *m,
                                               struct worker_httpd **out);

/* Returns the port the server listens on: the chosen one for port 0. */
unsigned worker_httpd_port(const struct worker_httpd *h);

/*
 * Stops serving, waiting for a request in progress, and frees h. NULL is
 * allowed. Call from the thread that started it.
 */
void worker_httpd_stop(struct worker_httpd *h);

#endif
