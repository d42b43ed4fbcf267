/*
 * The callback receiver over libmicrohttpd.
 *
 * A request is judged on its headers first (method, path, source, basic
 * auth, token, announced length) and refused before any body is read.
 * An accepted body is parsed, handed to the committer, and the
 * connection is suspended until the committer has committed it (or
 * failed to): only then is the answer queued. So the provider never sees
 * 200 for a callback that is not in the database.
 */
#include "callback/server.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "callback/allow.h"
#include "callback/committer.h"
#include "callback/parse.h"
#include "callback/token.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/mem.h"

enum {
    POLL_THREADS = 2,
    REFUSAL_LOG_EVERY_S = 60, /* one warning per minute, with a count */
    CONTENT_TYPE_MAX = 128,
    SOURCE_MAX = 64,
};

static const char PATH_PREFIX[] = "/cb/";
static const char DEPOSIT_SEGMENT[] = "deposit";

struct callback_server {
    struct MHD_Daemon *daemon;
    struct callback_committer *committer;
    struct callback_allow allow;
    char secret[256];
    char basic_auth[256]; /* "" when not required */
    char deposit_token[CALLBACK_TOKEN_LEN + 1];
    unsigned port;
    pthread_mutex_t lock; /* stopping and the refusal log */
    bool stopping;
    long long refusals_unlogged;
    time_t refusal_logged_at;
    atomic_llong stored, refused, bad, failed;
};

enum route { ROUTE_PAY, ROUTE_DEPOSIT };

/* One request, from its first header to its answer. */
struct request {
    struct callback_server *srv;
    struct MHD_Connection *conn;
    enum route route;
    char txn_id[CALLBACK_FIELD_MAX + 1]; /* ROUTE_PAY: from the path */
    char content_type[CONTENT_TYPE_MAX];
    char source[SOURCE_MAX];
    bool too_large;
    bool unreadable;      /* stored, then answered 400 */
    atomic_bool finished; /* the committer is done */
    size_t len;
    struct callback_fields fields;
    struct callback_job job;
    char body[CALLBACK_BODY_MAX];
};

void callback_settings_from_env(struct callback_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->listen = CALLBACK_LISTEN_DEFAULT;
    s->secret = getenv("PAYQ_CALLBACK_SECRET");
    s->allow = getenv("PAYQ_CALLBACK_ALLOW");
    s->basic_auth = getenv("PAYQ_CALLBACK_BASIC_AUTH");
    s->db_connections = CALLBACK_COMMITTERS_DEFAULT;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status,
                              const char *type, const char *text)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
    if (status == MHD_HTTP_UNAUTHORIZED)
        rc = MHD_queue_basic_auth_fail_response(conn, "payq callbacks", resp);
    else
        rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result fail(struct callback_server *srv,
                            struct MHD_Connection *conn, unsigned status,
                            const char *why)
{
    char text[160];

    atomic_fetch_add(status == MHD_HTTP_FORBIDDEN ||
                             status == MHD_HTTP_UNAUTHORIZED
                         ? &srv->refused
                     : status == MHD_HTTP_SERVICE_UNAVAILABLE ? &srv->failed
                                                              : &srv->bad,
                     1);
    snprintf(text, sizeof(text), "{\"message\":\"%s\",\"success\":false}", why);
    return answer(conn, status, "application/json", text);
}

/* A wrong token or source: counted, and warned of once a minute. */
static enum MHD_Result refuse(struct callback_server *srv,
                              struct MHD_Connection *conn, const char *source,
                              const char *why)
{
    time_t now = time(NULL);
    long long count = 0;

    pthread_mutex_lock(&srv->lock);
    srv->refusals_unlogged++;
    if (now - srv->refusal_logged_at >= REFUSAL_LOG_EVERY_S) {
        count = srv->refusals_unlogged;
        srv->refusals_unlogged = 0;
        srv->refusal_logged_at = now;
    }
    pthread_mutex_unlock(&srv->lock);
    if (count > 0)
        log_warn("callbacks refused", LOG_STR("why", why),
                 LOG_STR("last_source", source),
                 LOG_INT("since_last_warning", count));
    return fail(srv, conn, MHD_HTTP_FORBIDDEN, "forbidden");
}

static bool txn_id_valid(const char *id, size_t len)
{
    static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz"
                                  "0123456789_.:-";
    size_t i;

    if (len == 0 || len > CALLBACK_FIELD_MAX)
        return false;
    for (i = 0; i < len; i++)
        if (id[i] == '\0' || strchr(allowed, id[i]) == NULL)
            return false;
    return true;
}

/*
 * Splits "/cb/A/B" into route, id and token. false (404) for anything
 * else. "/cb/A" and "/cb/A/" are callback routes with an empty token,
 * which the token check then refuses (403): a callback without its proof
 * is a forbidden callback, not a missing page. The token is only located,
 * never copied or logged.
 */
static bool route_of(const char *url, struct request *req, const char **token)
{
    const char *first;
    const char *slash;
    size_t len;

    if (strncmp(url, PATH_PREFIX, sizeof(PATH_PREFIX) - 1) != 0)
        return false;
    first = url + sizeof(PATH_PREFIX) - 1;
    slash = strchr(first, '/');
    if (slash != NULL && strchr(slash + 1, '/') != NULL)
        return false;
    len = slash != NULL ? (size_t)(slash - first) : strlen(first);
    *token = slash != NULL ? slash + 1 : "";
    if (len == sizeof(DEPOSIT_SEGMENT) - 1 &&
        memcmp(first, DEPOSIT_SEGMENT, len) == 0) {
        req->route = ROUTE_DEPOSIT;
        return true;
    }
    if (!txn_id_valid(first, len))
        return false;
    req->route = ROUTE_PAY;
    memcpy(req->txn_id, first, len);
    req->txn_id[len] = '\0';
    return true;
}

static bool token_ok(struct callback_server *srv, const struct request *req,
                     const char *token)
{
    char expected[CALLBACK_TOKEN_LEN + 1];

    if (req->route == ROUTE_DEPOSIT)
        return callback_token_equal(srv->deposit_token, token);
    if (callback_token_pay(srv->secret, req->txn_id, expected) != PAYQ_OK)
        return false;
    return callback_token_equal(expected, token);
}

static bool basic_auth_ok(struct callback_server *srv,
                          struct MHD_Connection *conn)
{
    char *password = NULL;
    char *user;
    char given[512];
    bool ok;

    if (srv->basic_auth[0] == '\0')
        return true;
    user = MHD_basic_auth_get_username_password(conn, &password);
    snprintf(given, sizeof(given), "%s:%s", user != NULL ? user : "",
             password != NULL ? password : "");
    ok = user != NULL && password != NULL &&
         callback_token_equal(srv->basic_auth, given);
    MHD_free(user);
    MHD_free(password);
    return ok;
}

static const struct sockaddr *peer_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    return info != NULL ? info->client_addr : NULL;
}

static void source_text(const struct sockaddr *sa, char *out, size_t size)
{
    const void *addr = NULL;

    out[0] = '\0';
    if (sa != NULL && sa->sa_family == AF_INET)
        addr = &((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa != NULL && sa->sa_family == AF_INET6)
        addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (addr == NULL ||
        inet_ntop(sa->sa_family, addr, out, (socklen_t)size) == NULL)
        out[0] = '\0';
}

static bool announced_too_large(struct MHD_Connection *conn)
{
    const char *length = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

    return length != NULL && strtoull(length, NULL, 10) > CALLBACK_BODY_MAX;
}

/*
 * GET /healthz: the process serves. GET /readyz: it can also store, a
 * committer holding a database connection, for a load balancer to send
 * callbacks elsewhere meanwhile. false for any other request.
 */
static bool health_route(struct callback_server *srv,
                         struct MHD_Connection *conn, const char *url,
                         const char *method, enum MHD_Result *rc)
{
    bool ready;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return false;
    if (strcmp(url, "/healthz") == 0) {
        *rc = answer(conn, MHD_HTTP_OK, "text/plain", "ok\n");
        return true;
    }
    if (strcmp(url, "/readyz") != 0)
        return false;
    pthread_mutex_lock(&srv->lock);
    ready = !srv->stopping && callback_committer_connected(srv->committer) > 0;
    pthread_mutex_unlock(&srv->lock);
    *rc = ready ? answer(conn, MHD_HTTP_OK, "text/plain", "ready\n")
                : answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                         "not ready: no database connection\n");
    return true;
}

/*
 * The first call: headers only. Returns NULL with *rc set when the
 * request is answered already (refused), else the request's state.
 */
static struct request *begin(struct callback_server *srv,
                             struct MHD_Connection *conn, const char *url,
                             const char *method, enum MHD_Result *rc)
{
    struct request *req = mem_calloc(1, sizeof(*req));
    const struct sockaddr *peer = peer_of(conn);
    const char *token = NULL;
    const char *type;

    *rc = MHD_NO;
    if (req == NULL)
        return NULL;
    source_text(peer, req->source, sizeof(req->source));
    if (health_route(srv, conn, url, method, rc))
        ;
    else if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        *rc = fail(srv, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    else if (!route_of(url, req, &token))
        *rc = fail(srv, conn, MHD_HTTP_NOT_FOUND, "not found");
    else if (!callback_allow_check(&srv->allow, peer))
        *rc = refuse(srv, conn, req->source, "source not allowed");
    else if (!basic_auth_ok(srv, conn))
        *rc = fail(srv, conn, MHD_HTTP_UNAUTHORIZED, "unauthorized");
    else if (!token_ok(srv, req, token))
        *rc = refuse(srv, conn, req->source, "wrong token");
    else if (announced_too_large(conn))
        *rc = fail(srv, conn, MHD_HTTP_CONTENT_TOO_LARGE, "too large");
    else {
        req->srv = srv;
        req->conn = conn;
        type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                           MHD_HTTP_HEADER_CONTENT_TYPE);
        snprintf(req->content_type, sizeof(req->content_type), "%s",
                 type != NULL ? type : "");
        return req;
    }
    mem_free(req);
    return NULL;
}

static void take_body(struct request *req, const char *data, size_t size)
{
    if (req->too_large || size > sizeof(req->body) - req->len) {
        req->too_large = true;
        return;
    }
    memcpy(req->body + req->len, data, size);
    req->len += size;
}

/* Called by a committer thread once the callback is committed or not. */
static void on_stored(struct callback_job *job, void *arg)
{
    struct request *req = arg;

    (void)job;
    atomic_store(&req->finished, true);
    MHD_resume_connection(req->conn);
}

static const char *or_null(const char *s)
{
    return s[0] != '\0' ? s : NULL;
}

/* The parsed callback as the store's item. */
static void fill_item(struct request *req)
{
    struct callback_item *it = &req->job.item;
    const struct callback_fields *f = &req->fields;
    bool pay = req->route == ROUTE_PAY;

    memset(it, 0, sizeof(*it));
    it->endpoint = pay ? "pay" : "deposit";
    it->body = req->body;
    it->body_len = req->len;
    it->source = or_null(req->source);
    /* Our id: the authenticated path for pay, the body for deposit,
     * whose "requesttransactionid" is the provider's own. */
    it->txn_id = pay ? req->txn_id : or_null(f->transaction_id);
    it->body_txn_id = pay ? or_null(f->request_txn_id) : NULL;
    it->provider_txn_id =
        pay ? or_null(f->transaction_id) : or_null(f->request_txn_id);
    it->status = or_null(f->status);
    it->code = or_null(f->code);
    it->reference_no = or_null(f->reference_no);
    it->has_amount = f->has_amount;
    it->amount = f->amount;
    it->verdict = req->unreadable
                      ? "unreadable"
                      : callback_verdict_name(callback_verdict_of(f));
    req->job.done = on_stored;
    req->job.arg = req;
}

/* Hands the callback over and suspends; false when stopping. */
static bool submit(struct request *req)
{
    struct callback_server *srv = req->srv;
    bool ok;

    pthread_mutex_lock(&srv->lock);
    ok = !srv->stopping;
    if (ok) {
        MHD_suspend_connection(req->conn);
        callback_committer_submit(srv->committer, &req->job);
    }
    pthread_mutex_unlock(&srv->lock);
    return ok;
}

static void log_effect(const struct request *req)
{
    const struct callback_item *it = &req->job.item;

    if (strcmp(it->effect, "conflict") == 0)
        log_error("callback contradicts a final payment; flagged for "
                  "review",
                  LOG_INT("callback", it->callback_id),
                  LOG_STR("txn", it->txn_id));
    else if (strcmp(it->effect, "applied") != 0 &&
             strcmp(it->effect, "duplicate") != 0)
        log_warn(
            "callback stored but not applied", LOG_STR("effect", it->effect),
            LOG_INT("callback", it->callback_id), LOG_STR("txn", it->txn_id));
    else
        log_debug("callback", LOG_STR("effect", it->effect),
                  LOG_INT("callback", it->callback_id),
                  LOG_STR("txn", it->txn_id));
}

/* The answer once the committer is done. */
static enum MHD_Result finish(struct request *req)
{
    struct callback_server *srv = req->srv;
    char text[128];

    if (req->job.item.err != PAYQ_OK)
        return fail(srv, req->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                    "not stored; send it again");
    atomic_fetch_add(&srv->stored, 1);
    log_effect(req);
    if (req->unreadable)
        return fail(srv, req->conn, MHD_HTTP_BAD_REQUEST,
                    "neither a JSON object nor a form");
    if (req->job.item.txn_id == NULL)
        return fail(srv, req->conn, MHD_HTTP_BAD_REQUEST, "no transactionid");
    snprintf(text, sizeof(text),
             "{\"message\":\"success\",\"success\":true,"
             "\"request_id\":\"%lld\"}",
             req->job.item.callback_id);
    return answer(req->conn, MHD_HTTP_OK, "application/json", text);
}

/* The last call of a request whose body is complete. */
static enum MHD_Result complete(struct request *req)
{
    struct callback_server *srv = req->srv;

    if (atomic_load(&req->finished))
        return finish(req);
    if (req->too_large)
        return fail(srv, req->conn, MHD_HTTP_CONTENT_TOO_LARGE, "too large");
    /* A genuine callback we cannot read is still kept, as rejected: it
     * is the provider's word on a payment, and a person may read it. */
    if (callback_parse(req->body, req->len, req->content_type, &req->fields) !=
        PAYQ_OK) {
        memset(&req->fields, 0, sizeof(req->fields));
        req->unreadable = true;
    }
    fill_item(req);
    if (!submit(req))
        return fail(srv, req->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                    "stopping; send it again");
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
    struct callback_server *srv = cls;
    struct request *req = *req_cls;
    enum MHD_Result rc;

    (void)version;
    if (req == NULL) {
        req = begin(srv, conn, url, method, &rc);
        *req_cls = req;
        return req != NULL ? MHD_YES : rc;
    }
    if (*upload_size != 0) {
        take_body(req, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return complete(req);
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    mem_free(*req_cls);
    *req_cls = NULL;
}

static enum payq_err check_settings(struct callback_server *srv,
                                    const struct callback_settings *s)
{
    if (s->secret == NULL || strlen(s->secret) < CALLBACK_SECRET_MIN ||
        strlen(s->secret) >= sizeof(srv->secret)) {
        log_error("PAYQ_CALLBACK_SECRET must be set, 16 to 255 bytes "
                  "(openssl rand -base64 32 makes a good one)");
        return PAYQ_ERR_CONFIG;
    }
    if (s->basic_auth != NULL && s->basic_auth[0] != '\0' &&
        (strchr(s->basic_auth, ':') == NULL ||
         strlen(s->basic_auth) >= sizeof(srv->basic_auth))) {
        log_error("PAYQ_CALLBACK_BASIC_AUTH takes user:password");
        return PAYQ_ERR_CONFIG;
    }
    snprintf(srv->secret, sizeof(srv->secret), "%s", s->secret);
    snprintf(srv->basic_auth, sizeof(srv->basic_auth), "%s",
             s->basic_auth != NULL ? s->basic_auth : "");
    log_secret_add(srv->secret);
    if (srv->basic_auth[0] != '\0')
        log_secret_add(strchr(srv->basic_auth, ':') + 1);
    if (callback_token_deposit(srv->secret, srv->deposit_token) != PAYQ_OK)
        return PAYQ_ERR_CONFIG;
    log_secret_add(srv->deposit_token);
    return callback_allow_parse(s->allow, &srv->allow);
}

static struct MHD_Daemon *daemon_start(struct callback_server *srv,
                                       const struct callback_settings *s,
                                       const struct sockaddr_in *addr)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    unsigned clients = s->max_clients > 0 ? (unsigned)s->max_clients
                                          : CALLBACK_CONNECTIONS_MAX;
    unsigned timeout = s->client_timeout_s > 0 ? (unsigned)s->client_timeout_s
                                               : CALLBACK_TIMEOUT_S;
    /* The daemon splits the client limit among its threads: a limit
     * below the thread count gets fewer threads, so it stays exact. */
    unsigned threads = clients < POLL_THREADS ? clients : POLL_THREADS;

    return MHD_start_daemon(
        flags, 0, NULL, NULL, handle, srv, MHD_OPTION_EXTERNAL_LOGGER,
        listen_log_mhd, (void *)"callbacks", MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, clients, MHD_OPTION_CONNECTION_TIMEOUT,
        timeout, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
}

static enum payq_err listen_on(struct callback_server *srv,
                               const struct callback_settings *s)
{
    const char *listen =
        s->listen != NULL ? s->listen : CALLBACK_LISTEN_DEFAULT;
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;
    char host[INET_ADDRSTRLEN];

    if (!listen_parse(listen, &addr)) {
        log_error("cannot listen for callbacks: expected ADDR:PORT",
                  LOG_STR("listen", listen));
        return PAYQ_ERR_CONFIG;
    }
    srv->daemon = daemon_start(srv, s, &addr);
    if (srv->daemon == NULL) {
        log_error("cannot listen for callbacks: address in use or not "
                  "permitted",
                  LOG_STR("listen", listen));
        return PAYQ_ERR_IO;
    }
    info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info != NULL ? info->port : 0;
    inet_ntop(AF_INET, &addr.sin_addr, host, sizeof(host));
    log_info("callback receiver listening", LOG_STR("addr", host),
             LOG_INT("port", srv->port));
    return PAYQ_OK;
}

enum payq_err callback_server_start(const struct config *cfg,
                                    const struct callback_settings *s,
                                    struct callback_server **out)
{
    struct callback_server *srv = mem_calloc(1, sizeof(*srv));
    enum payq_err err = PAYQ_ERR_NOMEM;

    *out = NULL;
    if (srv == NULL)
        return err;
    pthread_mutex_init(&srv->lock, NULL);
    err = check_settings(srv, s);
    if (err == PAYQ_OK)
        err =
            callback_committer_create(cfg, s->db_connections, &srv->committer);
    if (err == PAYQ_OK)
        err = listen_on(srv, s);
    if (err != PAYQ_OK) {
        callback_server_stop(srv);
        return err;
    }
    *out = srv;
    return PAYQ_OK;
}

unsigned callback_server_port(const struct callback_server *srv)
{
    return srv->port;
}

void callback_server_counts(struct callback_server *srv,
                            struct callback_counts *out)
{
    out->stored = atomic_load(&srv->stored);
    out->refused = atomic_load(&srv->refused);
    out->bad = atomic_load(&srv->bad);
    out->failed = atomic_load(&srv->failed);
}

void callback_server_stop(struct callback_server *srv)
{
    if (srv == NULL)
        return;
    /* New callbacks get 503; queued ones are stored (or failed) and
     * their connections resumed, as the daemon requires before stop. */
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    pthread_mutex_unlock(&srv->lock);
    callback_committer_destroy(srv->committer);
    if (srv->daemon != NULL)
        MHD_stop_daemon(srv->daemon);
    pthread_mutex_destroy(&srv->lock);
    mem_free(srv);
}
