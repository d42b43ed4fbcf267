/*
 * Group commit of callbacks: BEGIN, one payq_apply_callback() per item
 * and COMMIT, queued in libpq's pipeline mode and sent with one sync, so
 * a batch costs one round trip and one commit. A failed batch falls back
 * to one transaction per item.
 *
 * Results come back in the order the statements were sent: query 0 is
 * BEGIN, 1..n the items, n + 1 COMMIT. After the first error the server
 * skips the rest up to the sync (libpq reports them as aborted), so an
 * explicit transaction is left failed and is rolled back here.
 */
#include "callback/store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "db/conn.h"

enum {
    APPLY_NPARAMS = 11,
    REASON_MAX = 256,     /* bytes kept of a server error message */
};

/* Built-in type OIDs; pg_type fixes them for every database. */
enum { OID_INT8 = 20, OID_TEXT = 25, OID_BYTEA = 17, OID_INET = 869 };

/* Stores one callback and applies it; the function decides everything. */
static const char APPLY_SQL[] =
    "select callback_id, effect from payq_apply_callback("
    "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

static const Oid apply_types[APPLY_NPARAMS] = {
    OID_TEXT, OID_BYTEA, OID_INET, OID_TEXT, OID_TEXT, OID_TEXT,
    OID_TEXT, OID_TEXT, OID_TEXT, OID_INT8, OID_TEXT,
};

/* One item's statement parameters; only the body is sent as binary. */
struct apply_params {
    const char *values[APPLY_NPARAMS];
    int lengths[APPLY_NPARAMS];
    int formats[APPLY_NPARAMS];
    char amount[24];
};

/* What one pipelined transaction came to. */
struct run {
    enum payq_err err;      /* PAYQ_OK only when COMMIT was answered */
    int failed_item;        /* index of the item that failed, or -1 */
    char sqlstate[6];       /* of the first error; "" if none */
    char reason[REASON_MAX]; /* first line of the first error */
};

static void params_fill(const struct callback_item *it,
                        struct apply_params *p)
{
    memset(p, 0, sizeof(*p));
    p->values[0] = it->endpoint;
    p->values[1] = it->body != NULL ? it->body : "";
    /* Past INT_MAX is far past what the table accepts: still refused. */
    p->lengths[1] = it->body == NULL ? 0
                    : it->body_len > INT_MAX ? INT_MAX
                                             : (int)it->body_len;
    p->formats[1] = 1;
    p->values[2] = it->source;
    p->values[3] = it->txn_id;
    p->values[4] = it->body_txn_id;
    p->values[5] = it->provider_txn_id;
    p->values[6] = it->status;
    p->values[7] = it->code;
    p->values[8] = it->reference_no;
    if (it->has_amount) {
        snprintf(p->amount, sizeof(p->amount), "%lld", it->amount);
        p->values[9] = p->amount;
    }
    p->values[10] = it->verdict;
}

static void outputs_clear(struct callback_item *items, int n,
                          enum payq_err err)
{
    int i;

    for (i = 0; i < n; i++) {
        items[i].err = err;
        items[i].callback_id = 0;
        items[i].effect[0] = '\0';
    }
}

/* Only now, after the COMMIT was answered, is anything reported stored. */
static void mark_stored(struct callback_item *items, int n)
{
    int i;

    for (i = 0; i < n; i++)
        items[i].err = PAYQ_OK;
}

static bool send_plain(PGconn *conn, const char *sql)
{
    return PQsendQueryParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0) == 1;
}

/* Queues the whole transaction and a sync; returns statements queued. */
static int batch_send(PGconn *conn, const struct callback_item *items,
                      int n)
{
    struct apply_params p;
    int sent = 0;
    int i;

    if (!send_plain(conn, "begin"))
        goto sync;
    sent++;
    for (i = 0; i < n; i++) {
        params_fill(&items[i], &p);
        if (PQsendQueryParams(conn, APPLY_SQL, APPLY_NPARAMS, apply_types,
                              p.values, p.lengths, p.formats, 0) != 1)
            goto sync;
        sent++;
    }
    if (send_plain(conn, "commit"))
        sent++;

sync:
    /* Even a part sent must end at a sync to be read back. */
    if (PQpipelineSync(conn) != 1)
        sent = -1;
    return sent;
}

/* The first result of the next statement; the rest of it is dropped. */
static PGresult *next_result(PGconn *conn)
{
    PGresult *first = PQgetResult(conn);
    PGresult *more;

    if (first == NULL)
        return NULL;
    while ((more = PQgetResult(conn)) != NULL)
        PQclear(more);
    return first;
}

/* Keeps the first error of a run: the one that says what went wrong. */
static void run_fail(struct run *run, PGconn *conn, const PGresult *res,
                     int item)
{
    const char *msg = res != NULL ? PQresultErrorMessage(res)
                                  : PQerrorMessage(conn);

    if (run->err != PAYQ_OK)
        return;
    run->err = PQstatus(conn) == CONNECTION_OK ? PAYQ_ERR_DB
                                               : PAYQ_ERR_DB_CONNECT;
    run->failed_item = item;
    snprintf(run->sqlstate, sizeof(run->sqlstate), "%s", db_sqlstate(res));
    snprintf(run->reason, sizeof(run->reason), "%.*s",
             (int)strcspn(msg, "\n"), msg);
}

static void take_outputs(const PGresult *res, struct callback_item *it)
{
    it->callback_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(it->effect, sizeof(it->effect), "%s", PQgetvalue(res, 0, 1));
}

/* Checks statement k's result; fills its item's outputs. */
static void read_one(PGconn *conn, struct callback_item *items, int n,
                     int k, struct run *run)
{
    PGresult *res = next_result(conn);
    ExecStatusType st = res != NULL ? PQresultStatus(res)
                                    : PGRES_FATAL_ERROR;
    bool item = k >= 1 && k <= n;

    if (item && st == PGRES_TUPLES_OK && PQntuples(res) == 1)
        take_outputs(res, &items[k - 1]);
    else if (k == 0 && st == PGRES_COMMAND_OK)
        ;
    /* A COMMIT of a failed transaction would say ROLLBACK. */
    else if (k == n + 1 && st == PGRES_COMMAND_OK &&
             strcmp(PQcmdStatus(res), "COMMIT") == 0)
        ;
    else
        run_fail(run, conn, st == PGRES_PIPELINE_ABORTED ? NULL : res,
                 item ? k - 1 : -1);
    PQclear(res);
}

/* Reads every answer up to the sync and leaves pipeline mode. */
static void batch_read(PGconn *conn, struct callback_item *items, int n,
                       int sent, struct run *run)
{
    PGresult *sync;
    int k;

    for (k = 0; k < sent && PQstatus(conn) == CONNECTION_OK; k++)
        read_one(conn, items, n, k, run);
    if (sent < n + 2)
        run_fail(run, conn, NULL, -1);
    if (PQstatus(conn) != CONNECTION_OK)
        return;
    sync = PQgetResult(conn);
    if (sync == NULL || PQresultStatus(sync) != PGRES_PIPELINE_SYNC)
        run_fail(run, conn, sync, -1);
    PQclear(sync);
    if (PQexitPipelineMode(conn) != 1)
        run_fail(run, conn, NULL, -1);
}

/* One transaction over items[0..n); run says how it ended. */
static void transact(PGconn *conn, struct callback_item *items, int n,
                     struct run *run)
{
    int sent;

    memset(run, 0, sizeof(*run));
    run->failed_item = -1;
    outputs_clear(items, n, PAYQ_ERR_DB);
    if (PQenterPipelineMode(conn) != 1) {
        run_fail(run, conn, NULL, -1);
        return;
    }
    sent = batch_send(conn, items, n);
    if (sent < 0) {
        run_fail(run, conn, NULL, -1);
        return;
    }
    batch_read(conn, items, n, sent, run);
    /* The error left the explicit transaction open and failed. */
    if (PQstatus(conn) == CONNECTION_OK &&
        PQpipelineStatus(conn) == PQ_PIPELINE_OFF &&
        PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "rollback"));
    if (run->err == PAYQ_OK)
        mark_stored(items, n);
    else
        outputs_clear(items, n, run->err);
}

/* One item in its own transaction. What fails here is answered as
 * failed, and the provider sends it again later. */
static enum payq_err store_item(PGconn *conn, struct callback_item *it)
{
    struct run run;

    transact(conn, it, 1, &run);
    if (run.err != PAYQ_OK)
        log_error("cannot store a callback", LOG_STR("txn", it->txn_id),
                  LOG_STR("endpoint", it->endpoint),
                  LOG_STR("sqlstate", run.sqlstate),
                  LOG_STR("reason", run.reason), LOG_ERR(run.err));
    return run.err;
}

/* The fallback: each item alone, so one bad item fails only itself. */
static enum payq_err store_each(PGconn *conn, struct callback_item *items,
                                int n)
{
    enum payq_err first = PAYQ_OK;
    enum payq_err err = PAYQ_OK;
    int i;

    for (i = 0; i < n && err != PAYQ_ERR_DB_CONNECT; i++) {
        err = store_item(conn, &items[i]);
        if (first == PAYQ_OK)
            first = err;
    }
    /* Without a connection the rest cannot be stored either. */
    outputs_clear(items + i, n - i, PAYQ_ERR_DB_CONNECT);
    return first;
}

static void log_batch_failure(const struct callback_item *items, int n,
                              const struct run *run)
{
    const char *txn = run->failed_item >= 0
                          ? items[run->failed_item].txn_id
                          : NULL;

    log_warn("a callback batch failed; storing its items one by one",
             LOG_INT("size", n), LOG_STR("txn", txn),
             LOG_STR("sqlstate", run->sqlstate),
             LOG_STR("reason", run->reason));
}

/* The caller's connection must be free for a transaction of ours. */
static enum payq_err conn_check(PGconn *conn)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return PAYQ_ERR_DB_CONNECT;
    if (PQtransactionStatus(conn) != PQTRANS_IDLE ||
        PQpipelineStatus(conn) != PQ_PIPELINE_OFF)
        return PAYQ_ERR_USAGE;
    return PAYQ_OK;
}

enum payq_err callback_store_batch(PGconn *conn,
                                   struct callback_item *items, int n)
{
    struct run run;
    enum payq_err err;

    if (n <= 0)
        return n == 0 ? PAYQ_OK : PAYQ_ERR_USAGE;
    err = n > CALLBACK_STORE_BATCH_MAX ? PAYQ_ERR_USAGE : conn_check(conn);
    if (err != PAYQ_OK) {
        outputs_clear(items, n, err);
        log_error("cannot store callbacks", LOG_INT("size", n),
                  LOG_ERR(err));
        return err;
    }

    transact(conn, items, n, &run);
    if (run.err == PAYQ_OK)
        return PAYQ_OK;
    if (run.err == PAYQ_ERR_DB_CONNECT) {
        log_error("cannot store callbacks: the database connection is "
                  "lost", LOG_INT("size", n),
                  LOG_STR("reason", run.reason));
        return run.err;
    }
    log_batch_failure(items, n, &run);
    return store_each(conn, items, n);
}
