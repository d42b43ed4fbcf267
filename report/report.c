/*
 * Running the report views: the fixed list, the SELECT built from it with
 * bound filters, and the trip from libpq's results to report/format.
 *
 * A table needs every row before its first line (the widths), so it is
 * read in one result; CSV and JSON are read in single-row mode and
 * written as they come, so a long history costs no more memory than one
 * row.
 */
#include "report/report.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/fmt.h"
#include "core/log.h"
#include "core/mem.h"
#include "db/conn.h"

/* Longest SELECT built here: a view, three conditions and an order. */
enum { SQL_MAX = 1024 };

/* Types of libpq's result columns (pg_type oids) that are numbers. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700,
};

/* Events of one instant in the order they happen (report_job_history). */
#define HISTORY_ORDER                                                          \
    "at, case event when 'import' then 0 when 'batch_action' then 1"           \
    " when 'attempt' then 2 when 'callback' then 3 else 4 end, event_id"

/* A report of the list and how to select from its view. */
struct report_def {
    struct report_info info;
    const char *day_sql;  /* the Kigali day --since/--until compare */
    const char *order_by; /* a stable order for the rows */
};

static const struct report_def defs[] = {
    { { "batches", "report_batches", REPORT_FILTER_BATCH | REPORT_FILTER_DAYS,
        "per batch: amounts by state, charges, success rate, closed",
        "the import day" },
      "(imported_at at time zone 'Africa/Kigali')::date",
      "batch_id" },
    { { "control_totals", "report_control_totals", REPORT_FILTER_BATCH,
        "requested = the sum over the states, per batch and in total", NULL },
      NULL,
      "level, batch_id" },
    { { "daily", "report_daily", REPORT_FILTER_DAYS,
        "per Kigali day, kind and state: count and amount", "the day" },
      "day",
      "day, kind, state" },
    { { "by_school", "report_by_school", 0,
        "per school and term of the imported files", NULL },
      NULL,
      "school nulls last, term nulls last, kind" },
    { { "failures", "report_failures", 0,
        "failed payments per response code, with examples", NULL },
      NULL,
      "kind, job_count desc, response_code nulls last" },
    { { "exceptions", "report_exceptions",
        REPORT_FILTER_BATCH | REPORT_FILTER_DAYS,
        "everything a person must look at", "the day the item arose" },
      "(since at time zone 'Africa/Kigali')::date",
      "category, since, job_id" },
    { { "job_history", "report_job_history",
        REPORT_FILTER_BATCH | REPORT_FILTER_DAYS,
        "every event of every payment (payq show: one payment)",
        "the day of the event" },
      "(at at time zone 'Africa/Kigali')::date",
      "job_id, " HISTORY_ORDER },
};

#define DEF_COUNT (sizeof(defs) / sizeof(defs[0]))

size_t report_count(void)
{
    return DEF_COUNT;
}

const struct report_info *report_at(size_t i)
{
    return i < DEF_COUNT ? &defs[i].info : NULL;
}

const struct report_info *report_find(const char *name)
{
    size_t i;

    for (i = 0; i < DEF_COUNT; i++)
        if (strcmp(defs[i].info.name, name) == 0 ||
            strcmp(defs[i].info.view, name) == 0)
            return &defs[i].info;
    return NULL;
}

static const struct report_def *def_of(const struct report_info *r)
{
    /* info is the first member: the list's own entries only. */
    return (const struct report_def *)r;
}

static bool leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Parses exactly n digits at p. */
static bool digits(const char *p, int n, int *value)
{
    int i;

    *value = 0;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        *value = *value * 10 + (p[i] - '0');
    }
    return true;
}

bool report_date_parse(const char *text, char out[REPORT_DATE_SIZE])
{
    static const int month_days[12] = { 31, 29, 31, 30, 31, 30,
                                        31, 31, 30, 31, 30, 31 };
    int y;
    int m;
    int d;

    if (strlen(text) != REPORT_DATE_SIZE - 1 || text[4] != '-' ||
        text[7] != '-' || !digits(text, 4, &y) || !digits(text + 5, 2, &m) ||
        !digits(text + 8, 2, &d))
        return false;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > month_days[m - 1] ||
        (m == 2 && d == 29 && !leap_year(y)))
        return false;
    memcpy(out, text, REPORT_DATE_SIZE);
    return true;
}

/* Reads in one snapshot, in Kigali time, as UTF-8. */
static enum payq_err tx_begin(PGconn *conn)
{
    enum payq_err err;

    if (PQsetClientEncoding(conn, "UTF8") != 0)
        return db_result_check(conn, NULL, "set the client encoding");
    err = db_exec(conn, "begin isolation level repeatable read read only",
                  "begin a report");
    if (err == PAYQ_OK)
        err = db_exec(conn, "set local timezone = 'Africa/Kigali'",
                      "set the report's time zone");
    return err;
}

/* Ends the report's transaction; it wrote nothing, so either way. */
static void tx_end(PGconn *conn)
{
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "rollback"));
}

/* How a result column is written: by its type and, for money, name. */
static enum report_type column_type(const PGresult *res, int col)
{
    const char *name = PQfname(res, col);
    size_t len = strlen(name);
    bool money = strcmp(name, "amount") == 0 ||
                 (len > 7 && strcmp(name + len - 7, "_amount") == 0);

    switch (PQftype(res, col)) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        return money ? REPORT_TYPE_AMOUNT : REPORT_TYPE_NUMBER;
    case OID_NUMERIC:
    case OID_FLOAT4:
    case OID_FLOAT8:
        return REPORT_TYPE_NUMBER;
    case OID_BOOL:
        return REPORT_TYPE_BOOLEAN;
    default:
        return REPORT_TYPE_TEXT;
    }
}

/* A result's columns, with their names copied out of it. */
struct columns {
    struct report_column *cols;
    int n;
};

static void columns_cleanup(struct columns *c)
{
    int i;

    for (i = 0; c->cols != NULL && i < c->n; i++)
        mem_free((char *)c->cols[i].name);
    mem_free(c->cols);
    c->cols = NULL;
    c->n = 0;
}

static enum payq_err columns_init(struct columns *c, const PGresult *res)
{
    int n = PQnfields(res);
    int i;

    c->n = 0;
    c->cols = mem_calloc(n > 0 ? (size_t)n : 1, sizeof(*c->cols));
    if (c->cols == NULL)
        return PAYQ_ERR_NOMEM;
    for (i = 0; i < n; i++) {
        c->cols[i].name = mem_strdup(PQfname(res, i));
        c->cols[i].type = column_type(res, i);
        if (c->cols[i].name == NULL) {
            columns_cleanup(c);
            return PAYQ_ERR_NOMEM;
        }
        c->n++;
    }
    return PAYQ_OK;
}

static const char *result_cell(const void *ctx, int row, int col)
{
    const PGresult *res = ctx;

    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* Runs sql and prints every row of it as a table. */
static enum payq_err print_table(PGconn *conn, const char *sql, int n,
                                 const char *const *params, FILE *out)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    enum payq_err err = db_result_check(conn, res, "read the report");
    struct columns c = { NULL, 0 };
    struct report_rows rows;

    if (err == PAYQ_OK)
        err = columns_init(&c, res);
    if (err == PAYQ_OK) {
        rows.count = PQntuples(res);
        rows.cell = result_cell;
        rows.ctx = res;
        err = report_table_write(out, c.cols, c.n, &rows);
    }
    columns_cleanup(&c);
    PQclear(res);
    return err;
}

/* One result of single-row mode: a row, or the end carrying the columns. */
static enum payq_err stream_result(PGconn *conn, const PGresult *res,
                                   struct report_stream *s,
                                   enum report_format fmt, FILE *out,
                                   struct columns *c)
{
    ExecStatusType st = PQresultStatus(res);
    struct report_rows rows = { PQntuples(res), result_cell, res };
    enum payq_err err = PAYQ_OK;

    if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK)
        return db_result_check(conn, res, "read the report");
    if (c->cols == NULL) {
        err = columns_init(c, res);
        if (err == PAYQ_OK) {
            report_stream_init(s, fmt, out, c->cols, c->n);
            err = report_stream_begin(s);
        }
    }
    if (err == PAYQ_OK)
        err = report_stream_rows(s, &rows);
    return err;
}

/* Runs sql and writes its rows as CSV or JSON while they arrive. */
static enum payq_err print_stream(PGconn *conn, const char *sql, int n,
                                  const char *const *params,
                                  enum report_format fmt, FILE *out)
{
    struct columns c = { NULL, 0 };
    struct report_stream s;
    enum payq_err err = PAYQ_OK;
    PGresult *res;

    if (!PQsendQueryParams(conn, sql, n, NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(conn))
        err = db_result_check(conn, NULL, "read the report");
    /* Every result is taken, even after a failure, to free the line. */
    while ((res = PQgetResult(conn)) != NULL) {
        if (err == PAYQ_OK)
            err = stream_result(conn, res, &s, fmt, out, &c);
        PQclear(res);
    }
    if (err == PAYQ_OK && c.cols == NULL)
        err = db_result_check(conn, NULL, "read the report");
    if (err == PAYQ_OK)
        err = report_stream_end(&s);
    columns_cleanup(&c);
    return err;
}

static enum payq_err print_query(PGconn *conn, const char *sql, int n,
                                 const char *const *params,
                                 enum report_format fmt, FILE *out)
{
    if (fmt == REPORT_FORMAT_TABLE)
        return print_table(conn, sql, n, params, out);
    return print_stream(conn, sql, n, params, fmt, out);
}

/*
 * Appends " and EXPR OP $N::TYPE" and binds value as parameter N. expr,
 * op and type come from this file, never from the command line.
 */
static enum payq_err add_condition(struct buf *sql, const char *expr,
                                   const char *op, const char *type,
                                   const char *value, const char **params,
                                   int *n)
{
    enum payq_err err = buf_append_str(sql, " and ");

    if (err == PAYQ_OK)
        err = buf_append_str(sql, expr);
    if (err == PAYQ_OK)
        err = buf_appendf(sql, " %s $%d::%s", op, *n + 1, type);
    if (err == PAYQ_OK)
        params[(*n)++] = value;
    return err;
}

/* The SELECT of def under f: conditions in a fixed order, values bound. */
static enum payq_err build_select(const struct report_def *def,
                                  const struct report_filter *f,
                                  const char *batch, struct buf *sql,
                                  const char **params, int *n)
{
    enum payq_err err =
        buf_appendf(sql, "select * from %s where true", def->info.view);

    *n = 0;
    if (err == PAYQ_OK && f->batch_id > 0)
        err = add_condition(sql, "batch_id", "=", "bigint", batch, params, n);
    if (err == PAYQ_OK && f->since[0] != '\0')
        err =
            add_condition(sql, def->day_sql, ">=", "date", f->since, params, n);
    if (err == PAYQ_OK && f->until[0] != '\0')
        err =
            add_condition(sql, def->day_sql, "<=", "date", f->until, params, n);
    if (err == PAYQ_OK)
        err = buf_appendf(sql, " order by %s", def->order_by);
    return err;
}

/* Whether f uses only what r accepts. */
static bool filter_allowed(const struct report_info *r,
                           const struct report_filter *f)
{
    bool days = f->since[0] != '\0' || f->until[0] != '\0';

    return (f->batch_id <= 0 || (r->filters & REPORT_FILTER_BATCH)) &&
           (!days || (r->filters & REPORT_FILTER_DAYS));
}

enum payq_err report_run(PGconn *conn, const struct report_info *r,
                         const struct report_filter *f, enum report_format fmt,
                         FILE *out)
{
    const struct report_def *def = def_of(r);
    const char *params[3];
    char batch[24];
    struct buf sql;
    enum payq_err err;
    int n = 0;

    if (!filter_allowed(r, f))
        return PAYQ_ERR_USAGE;
    snprintf(batch, sizeof(batch), "%lld", f->batch_id);
    buf_init(&sql, SQL_MAX);
    err = build_select(def, f, batch, &sql, params, &n);
    if (err == PAYQ_OK)
        err = tx_begin(conn);
    if (err == PAYQ_OK)
        err = print_query(conn, buf_str(&sql), n, params, fmt, out);
    tx_end(conn);
    buf_cleanup(&sql);
    return err;
}

/* The payment named by key ($1 a job id, $2 a reference; either null). */
static const char SHOW_FIND_SQL[] =
    "select job_id, reference, batch_id, kind, job_state, amount"
    " from report_job_history where event = 'import'"
    " and (job_id = $1::bigint or reference = $2) order by job_id";

/* One payment's events, for a person. */
static const char SHOW_TABLE_SQL[] =
    "select at, event, event_id, attempt_no, request_txn_id, send_count,"
    " response_code, result, duration_ms, amount, actor, evidence, detail"
    " from report_job_history where job_id = $1::bigint"
    " order by " HISTORY_ORDER;

/* One payment's events, every column, for programs. */
static const char SHOW_ALL_SQL[] =
    "select * from report_job_history where job_id = $1::bigint"
    " order by " HISTORY_ORDER;

/* Finds the one payment key names; *found is its row of res. */
static enum payq_err show_find(PGconn *conn, const struct report_job_key *key,
                               PGresult **found)
{
    char id[24];
    const char *params[2] = { NULL, key->reference };
    enum payq_err err;

    snprintf(id, sizeof(id), "%lld", key->job_id);
    if (key->job_id > 0)
        params[0] = id;
    *found = PQexecParams(conn, SHOW_FIND_SQL, 2, NULL, params, NULL, NULL, 0);
    err = db_result_check(conn, *found, "find the payment");
    if (err == PAYQ_OK && PQntuples(*found) == 0)
        err = PAYQ_ERR_NOT_FOUND;
    if (err == PAYQ_OK && PQntuples(*found) > 1) {
        log_error("the argument is both a job id and another job's"
                  " reference: give --job or --reference",
                  LOG_STR("job", PQgetvalue(*found, 0, 0)),
                  LOG_STR("reference_of_job", PQgetvalue(*found, 1, 0)));
        err = PAYQ_ERR_USAGE;
    }
    return err;
}

/* "job 17, reference R, batch 2: collection of 1,500 RWF, now failed" */
static void show_heading(FILE *out, const PGresult *found)
{
    char amount[FMT_THOUSANDS_SIZE];

    fmt_thousands(strtoll(PQgetvalue(found, 0, 5), NULL, 10), amount);
    fprintf(out, "job %s, reference %s, batch %s: %s of %s RWF, now %s\n\n",
            PQgetvalue(found, 0, 0), PQgetvalue(found, 0, 1),
            PQgetvalue(found, 0, 2),
            strcmp(PQgetvalue(found, 0, 3), "pay") == 0 ? "collection"
                                                        : "payout",
            amount, PQgetvalue(found, 0, 4));
}

enum payq_err report_show(PGconn *conn, const struct report_job_key *key,
                          enum report_format fmt, FILE *out)
{
    PGresult *found = NULL;
    const char *params[1];
    enum payq_err err = tx_begin(conn);

    if (err == PAYQ_OK)
        err = show_find(conn, key, &found);
    if (err == PAYQ_OK) {
        params[0] = PQgetvalue(found, 0, 0);
        if (fmt == REPORT_FORMAT_TABLE)
            show_heading(out, found);
        err = print_query(
            conn, fmt == REPORT_FORMAT_TABLE ? SHOW_TABLE_SQL : SHOW_ALL_SQL, 1,
            params, fmt, out);
    }
    tx_end(conn);
    PQclear(found);
    return err;
}
