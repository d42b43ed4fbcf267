/*
 * The callback receiver: an HTTP server (libmicrohttpd) for the
 * provider's final-status callbacks, run inside `payq work --callbacks`
 * or alone as `payq callbacks`.
 *
 * Routes:
 *   POST /cb/<request transaction id>/<token>  a collection (pay_v2 sends
 *                                          the URL we gave it per request)
 *   POST /cb/deposit/<token>               a payout (the URL configured
 *                                          on the provider account)
 *   GET /healthz                           200 while the process serves
 *   GET /readyz                            200 when a database connection
 *                                          is open to store callbacks,
 *                                          else 503
 * The provider does not sign callbacks: the token in the path is the
 * proof (callback/token.h). Answers: 200 with
 * {"message":"success","success":true,"request_id":"<callbacks.id>"}
 * only after the callback is committed; 403 wrong token or source,
 * 401 basic auth missing or wrong, 404 unknown path, 405 not POST,
 * 413 body over 16 KiB, 400 neither JSON nor a form, 503 when it could
 * not be stored (the provider sends it again). Tokens, bodies and phone
 * numbers never reach a log.
 */
#ifndef PAYQ_CALLBACK_SERVER_H
#define PAYQ_CALLBACK_SERVER_H

#include "core/config.h"
#include "core/err.h"

#define CALLBACK_LISTEN_DEFAULT "127.0.0.1:8080"
#define CALLBACK_CONNECTIONS_MAX 1024 /* open client connections */
#define CALLBACK_TIMEOUT_S 15         /* idle time of a client connection */
/* Database connections: on a small server two committers, each
 * committing while the other gathers, beat more that contend. */
#define CALLBACK_COMMITTERS_DEFAULT 2

struct callback_settings {
    const char *listen;     /* ADDR:PORT; CALLBACK_LISTEN_DEFAULT */
    const char *secret;     /* PAYQ_CALLBACK_SECRET: tokens */
    const char *allow;      /* PAYQ_CALLBACK_ALLOW: CIDR list, or NULL */
    const char *basic_auth; /* PAYQ_CALLBACK_BASIC_AUTH user:password */
    int db_connections;     /* committers; CALLBACK_COMMITTERS_DEFAULT */
    int max_clients;        /* open client connections at once; 0:
                               CALLBACK_CONNECTIONS_MAX */
    int client_timeout_s;   /* idle seconds before a client connection
                               is closed; 0: CALLBACK_TIMEOUT_S */
};

/* Counters since start, for logs and tests. */
struct callback_counts {
    long long stored;  /* committed: applied, duplicate, unmatched... */
    long long refused; /* 401, 403 */
    long long bad;     /* 400, 404, 405, 413 */
    long long failed;  /* 503 */
};

struct callback_server;

/*
 * Fills s from the environment (PAYQ_CALLBACK_SECRET, _ALLOW,
 * _BASIC_AUTH) and defaults; the strings are borrowed from environ.
 */
void callback_settings_from_env(struct callback_settings *s);

/*
 * Starts the server on s->listen with s->db_connections committers on
 * the database of cfg (borrowed, must outlive the server).
 * PAYQ_ERR_CONFIG (logged) for a missing or short secret, a bad allow
 * list, basic auth without a colon, or a bad address; PAYQ_ERR_IO when
 * the port cannot be bound.
 */
PAYQ_MUST_USE enum payq_err
callback_server_start(const struct config *cfg,
                      const struct callback_settings *s,
                      struct callback_server **out);

/* The port bound (useful with port 0). */
unsigned callback_server_port(const struct callback_server *srv);

/* A snapshot of the counters. */
void callback_server_counts(struct callback_server *srv,
                            struct callback_counts *out);

/*
 * Stops accepting, waits for callbacks being stored, and frees the
 * server. NULL is allowed.
 */
void callback_server_stop(struct callback_server *srv);

#endif
