/* The admin port: the ledger as JSON, and a reset. */
#include "sim/admin.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/log.h"
#include "core/mem.h"
#include "sim/http.h"

struct sim_admin {
    struct MHD_Daemon *daemon;
    struct sim_ledger *ledger;
    unsigned port;
};

/* Marks a request whose headers have been seen; bodies are ignored. */
static int request_seen;

static long read_limit(struct MHD_Connection *conn)
{
    const char *text =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
    char *end;
    long limit;

    if (text == NULL)
        return SIM_ADMIN_LIST_MAX;
    limit = strtol(text, &end, 10);
    if (end == text || *end != '\0' || limit < 0 || limit > SIM_ADMIN_LIST_MAX)
        return SIM_ADMIN_LIST_MAX;
    return limit;
}

static enum MHD_Result send_ledger(struct sim_admin *admin,
                                   struct MHD_Connection *conn)
{
    const char *id =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "id");
    json_t *root = sim_ledger_to_json(admin->ledger, id, read_limit(conn));
    char *text = NULL;
    enum MHD_Result result;

    if (root != NULL)
        text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (text == NULL)
        return sim_http_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
    result = sim_http_reply(conn, MHD_HTTP_OK, text);
    free(text); /* jansson's allocation */
    return result;
}

static enum MHD_Result send_reset(struct sim_admin *admin,
                                  struct MHD_Connection *conn)
{
    sim_ledger_reset(admin->ledger);
    log_info("ledger reset from the admin port");
    return sim_http_reply(conn, MHD_HTTP_OK, "{\"status\":\"reset\"}");
}

static enum MHD_Result route(struct sim_admin *admin,
                             struct MHD_Connection *conn, const char *path,
                             const char *method)
{
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

    if (strcmp(path, "/_sim/ledger") == 0)
        return get ? send_ledger(admin, conn)
                   : sim_http_reply_not_allowed(conn, "GET", NULL);
    if (strcmp(path, "/_sim/reset") == 0)
        return post ? send_reset(admin, conn)
                    : sim_http_reply_not_allowed(conn, "POST", NULL);
    return sim_http_reply(conn, MHD_HTTP_NOT_FOUND, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *path, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **req_cls)
{
    (void)version;
    (void)data;
    if (*req_cls == NULL) {
        *req_cls = &request_seen;
        return MHD_YES;
    }
    if (*data_size > 0) {
        *data_size = 0;
        return MHD_YES;
    }
    return route(cls, conn, path, method);
}

enum payq_err sim_admin_start(const struct sim_config *cfg,
                              struct sim_ledger *ledger, struct sim_admin **out)
{
    struct sim_admin *admin = mem_calloc(1, sizeof(*admin));
    struct sim_http_spec spec = {
        .name = "admin",
        .listen = &cfg->admin,
        .threads = SIM_HTTP_SINGLE,
        .connection_limit = 64,
        .handler = on_request,
        .handler_ctx = admin,
    };

    *out = NULL;
    if (admin == NULL)
        return PAYQ_ERR_NOMEM;
    admin->ledger = ledger;
    admin->daemon = sim_http_start(&spec);
    if (admin->daemon == NULL) {
        mem_free(admin);
        return PAYQ_ERR_IO;
    }
    admin->port = sim_http_port(admin->daemon);
    *out = admin;
    return PAYQ_OK;
}

unsigned sim_admin_port(const struct sim_admin *admin)
{
    return admin->port;
}

void sim_admin_stop(struct sim_admin *admin)
{
    if (admin == NULL)
        return;
    MHD_stop_daemon(admin->daemon);
    mem_free(admin);
}
