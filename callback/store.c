/*
 * Group commit of callbacks: the whole batch goes to
 * payq_apply_callbacks() as one statement whose parameters are binary
 * arrays, one per column (db/array.h). Run outside any transaction, the
 * statement is its own transaction: libpq hands back its rows only after
 * the server's ReadyForQuery, which follows the commit, and with
 * synchronous_commit on the commit's WAL flush. A batch so costs one
 * round trip, one plan and one commit. A failed batch falls back to one
 * statement per item.
 */
#include "callback/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "db/array.h"
#include "db/conn.h"

enum {
    APPLY_NPARAMS = 11,
    REASON_MAX = 256, /* bytes kept of a server error message */
    /* Encoded bytes one column may take: every body at its cap, with
     * room for the element lengths and the header. */
    COLUMN_MAX = CALLBACK_STORE_BATCH_MAX * (16384 + 8) + 64,
};

static const char APPLY_SQL[] =
    "select item, callback_id, effect from payq_apply_callbacks("
    "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/* The element type of each column, in parameter order. */
static const unsigned column_types[APPLY_NPARAMS] = {
    DB_OID_TEXT, DB_OID_BYTEA, DB_OID_TEXT, DB_OID_TEXT,
    DB_OID_TEXT, DB_OID_TEXT,  DB_OID_TEXT, DB_OID_TEXT,
    DB_OID_TEXT, DB_OID_INT8,  DB_OID_TEXT,
};

/* One batch's parameters: a binary array per column. */
struct columns {
    struct db_array col[APPLY_NPARAMS];
    Oid types[APPLY_NPARAMS];
    const char *values[APPLY_NPARAMS];
    int lengths[APPLY_NPARAMS];
    int formats[APPLY_NPARAMS];
};

/* What one statement came to. */
struct run {
    enum payq_err err;       /* PAYQ_OK only when committed */
    char sqlstate[6];        /* of the error; "" if none */
    char reason[REASON_MAX]; /* first line of the error */
};

static void columns_init(struct columns *c)
{
    int k;

    memset(c, 0, sizeof(*c));
    for (k = 0; k < APPLY_NPARAMS; k++) {
        db_array_init(&c->col[k], column_types[k], COLUMN_MAX);
        c->types[k] = column_types[k] == DB_OID_TEXT    ? DB_OID_TEXT_ARRAY
                      : column_types[k] == DB_OID_BYTEA ? DB_OID_BYTEA_ARRAY
                                                        : DB_OID_INT8_ARRAY;
        c->formats[k] = 1;
    }
}

static void columns_cleanup(struct columns *c)
{
    int k;

    for (k = 0; k < APPLY_NPARAMS; k++)
        db_array_cleanup(&c->col[k]);
}

/* Appends one item's arguments, one element to each column. */
static enum payq_err columns_add(struct columns *c,
                                 const struct callback_item *it)
{
    const char *body = it->body != NULL ? it->body : "";
    size_t body_len = it->body != NULL ? it->body_len : 0;
    enum payq_err err = db_array_add_str(&c->col[0], it->endpoint);

    if (err == PAYQ_OK)
        err = db_array_add(&c->col[1], body, body_len);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[2], it->source);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[3], it->txn_id);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[4], it->body_txn_id);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[5], it->provider_txn_id);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[6], it->status);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[7], it->code);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[8], it->reference_no);
    if (err == PAYQ_OK)
        err =
            db_array_add_int8(&c->col[9], it->has_amount ? &it->amount : NULL);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[10], it->verdict);
    return err;
}

/* Fills the columns with items[0..n) and points the parameters at them. */
static enum payq_err columns_fill(struct columns *c,
                                  const struct callback_item *items, int n)
{
    enum payq_err err = PAYQ_OK;
    int i;
    int k;

    for (i = 0; i < n && err == PAYQ_OK; i++)
        err = columns_add(c, &items[i]);
    for (k = 0; k < APPLY_NPARAMS && err == PAYQ_OK; k++) {
        c->values[k] = db_array_param(&c->col[k], &c->lengths[k]);
        if (c->values[k] == NULL)
            err = PAYQ_ERR_TOO_LARGE;
    }
    return err;
}

static void outputs_clear(struct callback_item *items, int n, enum payq_err err)
{
    int i;

    for (i = 0; i < n; i++) {
        items[i].err = err;
        items[i].callback_id = 0;
        items[i].effect[0] = '\0';
    }
}

/* Only now, after the commit, is anything reported stored. */
static void mark_stored(struct callback_item *items, int n)
{
    int i;

    for (i = 0; i < n; i++)
        items[i].err = PAYQ_OK;
}

static void run_fail(struct run *run, PGconn *conn, const PGresult *res,
                     enum payq_err err)
{
    const char *msg =
        res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn);

    run->err = err != PAYQ_OK                    ? err
               : PQstatus(conn) == CONNECTION_OK ? PAYQ_ERR_DB
                                                 : PAYQ_ERR_DB_CONNECT;
    snprintf(run->sqlstate, sizeof(run->sqlstate), "%s", db_sqlstate(res));
    snprintf(run->reason, sizeof(run->reason), "%.*s", (int)strcspn(msg, "\n"),
             msg);
}

/* Copies each row's outputs to its item; false if the rows are wrong. */
static bool take_outputs(const PGresult *res, struct callback_item *items,
                         int n)
{
    int r;

    if (PQntuples(res) != n || PQnfields(res) != 3)
        return false;
    for (r = 0; r < n; r++) {
        long item = strtol(PQgetvalue(res, r, 0), NULL, 10);
        struct callback_item *it;

        if (item < 1 || item > n)
            return false;
        it = &items[item - 1];
        it->callback_id = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        snprintf(it->effect, sizeof(it->effect), "%s", PQgetvalue(res, r, 2));
    }
    return true;
}

/* One statement, one transaction, over items[0..n). */
static void transact(PGconn *conn, struct callback_item *items, int n,
                     struct run *run)
{
    struct columns c;
    PGresult *res = NULL;
    enum payq_err err;

    memset(run, 0, sizeof(*run));
    outputs_clear(items, n, PAYQ_ERR_DB);
    columns_init(&c);
    err = columns_fill(&c, items, n);
    if (err != PAYQ_OK) {
        run_fail(run, conn, NULL, err);
        goto out;
    }
    res = PQexecParams(conn, APPLY_SQL, APPLY_NPARAMS, c.types, c.values,
                       c.lengths, c.formats, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        run_fail(run, conn, res, PAYQ_OK);
        goto out;
    }
    /* Committed: whatever the rows say, every item is stored. */
    if (!take_outputs(res, items, n))
        log_error("payq_apply_callbacks answered rows that do not match "
                  "the batch",
                  LOG_INT("size", n), LOG_INT("rows", PQntuples(res)));
    mark_stored(items, n);

out:
    if (run->err != PAYQ_OK)
        outputs_clear(items, n, run->err);
    PQclear(res);
    columns_cleanup(&c);
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

static void log_batch_failure(int n, const struct run *run)
{
    log_warn("a callback batch failed; storing its items one by one",
             LOG_INT("size", n), LOG_STR("sqlstate", run->sqlstate),
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

enum payq_err callback_store_batch(PGconn *conn, struct callback_item *items,
                                   int n)
{
    struct run run;
    enum payq_err err;

    if (n <= 0)
        return n == 0 ? PAYQ_OK : PAYQ_ERR_USAGE;
    err = n > CALLBACK_STORE_BATCH_MAX ? PAYQ_ERR_USAGE : conn_check(conn);
    if (err != PAYQ_OK) {
        outputs_clear(items, n, err);
        log_error("cannot store callbacks", LOG_INT("size", n), LOG_ERR(err));
        return err;
    }

    transact(conn, items, n, &run);
    if (run.err == PAYQ_OK)
        return PAYQ_OK;
    if (run.err == PAYQ_ERR_DB_CONNECT) {
        log_error("cannot store callbacks: the database connection is "
                  "lost",
                  LOG_INT("size", n), LOG_STR("reason", run.reason));
        return run.err;
    }
    log_batch_failure(n, &run);
    return store_each(conn, items, n);
}
