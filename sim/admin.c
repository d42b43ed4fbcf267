/* The admin port: the ledger as streamed JSON, and a reset. */
#include "sim/admin.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "core/log.h"
#include "core/mem.h"
#include "sim/http.h"
#include "sim/listing.h"

struct sim_admin {
    struct MHD_Daemon *daemon;
    struct sim_ledger *ledger;
    unsigned port;
};

/* Marks a request whose headers have been seen; bodies are ignored. */
static int request_seen;

/* Bytes of listing handed to libmicrohttpd per read. */
#define LISTING_BLOCK (64 * 1024)

/*
 * Reads a whole number query argument into *value (fallback when
 * absent); false when it is there but not a number from 0 to 10^12.
 */
static bool read_number(struct MHD_Connection *conn, const char *name,
                        long fallback, long *value)
{
    const char *text =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    char *end;
    long long n;

    *value = fallback;
    if (text == NULL)
        return true;
    if (text[0] < '0' || text[0] > '9')
        return false;
    n = strtoll(text, &end, 10);
    if (*end != '\0' || n > 1000000000000LL)
        return false;
    *value = (long)n;
    return true;
}

static ssize_t read_listing(void *cls, uint64_t pos, char *out, size_t max)
{
    ssize_t n = sim_listing_read(cls, out, max);

    (void)pos;
    if (n > 0)
        return n;
    return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                  : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void free_listing(void *cls)
{
    sim_listing_destroy(cls);
}

/* The listing is streamed: it may be far larger than memory allows. */
static enum MHD_Result send_ledger(struct sim_admin *admin,
                                   struct MHD_Connection *conn)
{
    const char *id =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "id");
    struct sim_listing *listing;
    struct MHD_Response *response;
    enum MHD_Result result;
    long from;
    long limit;

    if (!read_number(conn, "from", 0, &from) ||
        !read_number(conn, "limit", -1, &limit))
        return sim_http_reply(conn, MHD_HTTP_BAD_REQUEST,
                              "{\"status\":\"error\",\"message\":"
                              "\"from and limit are whole numbers\"}");
    listing = sim_listing_create(admin->ledger, id, from, limit);
    if (listing == NULL)
        return sim_http_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
    response = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, LISTING_BLOCK, read_listing, listing, free_listing);
    if (response == NULL) {
        sim_listing_destroy(listing);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
    result = MHD_queue_response(conn, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
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
