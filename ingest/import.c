/*
 * One file, one batch, one transaction. See import.h for the order of
 * work; each step below is one function, run in that order by
 * ingest_import_file(). Nothing holds a row in memory beyond the one
 * being read: valid rows go to the COPY stream in 64 KiB pieces, rejected
 * ones to a temporary file that is copied into import_errors at the end.
 *
 * Where the time goes, for a million rows: reading and validating here,
 * and the COPY into staging, run side by side; then the INSERT ... SELECT
 * is the server's, once per row: the heap, four indexes, the checks. So
 * that statement does no more than it must: no ON CONFLICT (its
 * speculative insertion costs a third more), a NOT EXISTS instead, made
 * safe by the importers' lock; no sort; the batch checked once per
 * statement, not per row (see migrations/0001_schema.sql).
 */
#include "ingest/import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/digest.h"
#include "core/log.h"
#include "core/utf8.h"
#include "db/conn.h"
#include "db/migrate.h"
#include "ingest/columns.h"
#include "ingest/fields.h"
#include "ingest/progress.h"
#include "ingest/reader.h"
#include "ingest/stage.h"

enum {
    COPY_FLUSH_AT = 64 * 1024,  /* bytes gathered before PQputCopyData */
    COPY_BUF_MAX = 1024 * 1024, /* one row can never come near this */
    VALUE_SHOWN_MAX = 40,       /* bytes of a bad value echoed back */
    RAW_STORED_MAX = 65536,     /* import_errors_raw_text_size, in bytes */
    MESSAGE_SHOWN_MAX = 300,    /* bytes of a database message echoed */
};

/*
 * The advisory lock importers take turns under to insert jobs: the
 * two-key form, in payq's class (the migration runner holds object 1).
 */
#define STR_(x) #x
#define STR(x) STR_(x)
#define JOBS_LOCK_OBJECT 3
static const char JOBS_LOCK_SQL[] = "select pg_advisory_xact_lock(" STR(
    DB_MIGRATE_LOCK_CLASS) ", " STR(JOBS_LOCK_OBJECT) ")";

struct import {
    PGconn *conn;
    const char *path;
    const struct ingest_options *opts;
    struct ingest_result *res;
    int fd;
    char sha256[DIGEST_SHA256_HEX_SIZE];
    unsigned long long size;
    struct ingest_reader *reader;
    struct ingest_columns cols;
    struct ingest_stage_opts stage;
    struct buf copy;  /* COPY text not yet sent */
    FILE *rejects;    /* import_errors rows in COPY text */
    long long errors; /* problems found, shown or not */
    long long staged; /* rows sent to staging */
    struct ingest_progress progress;
    bool in_transaction;
};

/* A strict import that found a problem: it will roll back. */
static bool refused(const struct import *imp)
{
    return imp->errors > 0 && !imp->opts->skip_invalid;
}

/* ---- reporting ------------------------------------------------------ */

/* One byte as \xNN: for bytes a terminal should not be sent raw. */
static void show_byte(FILE *out, unsigned char c)
{
    fprintf(out, "\\x%02x", c);
}

/*
 * Appends a value for display, at most VALUE_SHOWN_MAX bytes of it and
 * never part of a character: UTF-8 text as it is, everything else a
 * terminal could take for a command (control characters, C1 controls,
 * bytes that are not UTF-8) escaped.
 */
static void show_value(FILE *out, const char *v, size_t len)
{
    const unsigned char *s = (const unsigned char *)v;
    size_t i = 0;

    while (i < len) {
        size_t n = utf8_sequence_len(s + i, len - i);
        size_t step = n > 0 ? n : 1;

        if (i + step > VALUE_SHOWN_MAX)
            break;
        if (n == 0 || s[i] < 0x20 || s[i] == 0x7f ||
            (s[i] == 0xc2 && s[i + 1] < 0xa0))
            while (step-- > 0)
                show_byte(out, s[i++]);
        else
            for (; step > 0; step--)
                fputc(s[i++], out);
    }
    if (i < len)
        fputs("...", out);
}

/* FILE:LINE: COLUMN: problem (value), the first INGEST_ERRORS_SHOWN. */
static void report(struct import *imp, long line, const char *column,
                   const char *problem, const char *value, size_t len)
{
    FILE *out = imp->opts->report;

    imp->errors++;
    if (out == NULL || imp->errors > imp->opts->errors_shown)
        return;
    fprintf(out, "%s:%ld: %s: %s (", imp->path, line, column, problem);
    show_value(out, value, len);
    fputs(")\n", out);
}

static void report_total(struct import *imp)
{
    if (imp->opts->report != NULL && imp->errors > imp->opts->errors_shown)
        fprintf(imp->opts->report, "%s: %lld more errors not shown\n",
                imp->path, imp->errors - imp->opts->errors_shown);
}

/* ---- rejected rows --------------------------------------------------- */

/*
 * Writes raw as COPY text that PostgreSQL will store in import_errors:
 * bytes that are not UTF-8 (or NUL) become the four characters \xNN, so
 * the rejected row is kept readably; what would pass RAW_STORED_MAX
 * stored bytes (import_errors_raw_text_size) is cut, marked "...".
 */
static void write_raw(FILE *out, const char *raw, size_t n)
{
    const unsigned char *s = (const unsigned char *)raw;
    size_t stored = 0;
    size_t i = 0;

    while (i < n) {
        size_t len = utf8_sequence_len(s + i, n - i);

        if (stored + (len == 0 ? 4 : len) > RAW_STORED_MAX - 3) {
            fputs("...", out);
            return;
        }
        if (len == 0) {
            fprintf(out, "\\\\x%02x", s[i]);
            stored += 4;
            len = 1;
        } else if (s[i] == '\\' || s[i] == '\t' || s[i] == '\n' ||
                   s[i] == '\r') {
            fputs(s[i] == '\\'   ? "\\\\"
                  : s[i] == '\t' ? "\\t"
                  : s[i] == '\n' ? "\\n"
                                 : "\\r",
                  out);
            stored++;
        } else {
            fwrite(s + i, 1, len, out);
            stored += len;
        }
        i += len;
    }
}

/* Queues one import_errors row (--skip-invalid only). */
static void reject(struct import *imp, long line, const char *column,
                   const char *raw, size_t raw_len, const char *reason)
{
    if (imp->rejects == NULL)
        return;
    fprintf(imp->rejects, "%lld\t%ld\t", imp->res->batch_id, line);
    write_raw(imp->rejects, column, strlen(column));
    fputc('\t', imp->rejects);
    write_raw(imp->rejects, raw, raw_len);
    fputc('\t', imp->rejects);
    write_raw(imp->rejects, reason, strlen(reason));
    fputc('\n', imp->rejects);
}

/* ---- database steps -------------------------------------------------- */

/*
 * SQLSTATE classes 22 (data exception) and 23 (integrity constraint) mean
 * the database refused what the file holds: a retry would fail the same
 * way. A unique violation is the exception: with the importers' lock, it
 * comes from a reference repeated in the file (looked for at once) or
 * from a writer other than an import, which a retry may not meet.
 */
static bool sqlstate_is_data(const char *state)
{
    return (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0) &&
           strcmp(state, "23505") != 0;
}

/* Checks a result; data the database refused is the file's problem. */
static enum payq_err check(struct import *imp, const PGresult *res,
                           const char *what)
{
    enum payq_err err = db_result_check(imp->conn, res, what);
    const char *state = db_sqlstate(res);
    const char *message;

    if (err != PAYQ_ERR_DB || !sqlstate_is_data(state))
        return err;
    message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (message == NULL)
        message = "";
    imp->errors++;
    if (imp->opts->report != NULL) {
        fprintf(imp->opts->report,
                "%s: the database refused the file: ", imp->path);
        show_value(imp->opts->report, message,
                   strnlen(message, MESSAGE_SHOWN_MAX + 1));
        fprintf(imp->opts->report, " (SQLSTATE %s)\n", state);
    }
    return PAYQ_ERR_DATA;
}

/* Runs sql with text parameters; the caller clears *out (may be NULL). */
static enum payq_err run(struct import *imp, const char *sql, int n,
                         const char *const *params, const char *what,
                         PGresult **out)
{
    PGresult *res =
        PQexecParams(imp->conn, sql, n, NULL, params, NULL, NULL, 0);
    enum payq_err err = check(imp, res, what);

    if (out != NULL && err == PAYQ_OK)
        *out = res;
    else
        PQclear(res);
    return err;
}

static long long value_ll(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/*
 * Begins the transaction (read committed whatever the server's default:
 * the insert relies on seeing what the previous importer committed) and,
 * under a lock on the file's digest, looks for an earlier batch of the
 * same file. A dry run only looks.
 */
static enum payq_err begin_and_check_repeat(struct import *imp)
{
    const char *params[2] = { imp->sha256, imp->path };
    PGresult *res = NULL;
    enum payq_err err;

    err = db_exec(imp->conn, "begin isolation level read committed",
                  "begin the import");
    if (err != PAYQ_OK)
        return err;
    imp->in_transaction = true;
    if (!imp->opts->dry_run)
        err = run(imp, "select pg_advisory_xact_lock(hashtextextended($1, 0))",
                  1, params, "lock the file's digest", NULL);
    if (err == PAYQ_OK)
        err = run(imp,
                  "select id, file_name = $2 from batches"
                  " where file_sha256 = $1 order by id limit 1",
                  2, params, "look for an earlier import", &res);
    if (err != PAYQ_OK)
        return err;
    if (PQntuples(res) == 1) {
        imp->res->earlier_batch = value_ll(res, 0, 0);
        imp->res->earlier_same_path = PQgetvalue(res, 0, 1)[0] == 't';
    }
    PQclear(res);
    if (imp->res->earlier_batch > 0 && !imp->opts->force) {
        if (imp->opts->report != NULL)
            fprintf(imp->opts->report,
                    "%s: already imported as batch %lld (same SHA-256); "
                    "use --force to import it again\n",
                    imp->path, imp->res->earlier_batch);
        return PAYQ_ERR_DATA;
    }
    return PAYQ_OK;
}

static const char *batch_kind(const struct import *imp)
{
    if (imp->cols.index[INGEST_COL_KIND] >= 0)
        return "mixed";
    return job_kind_name(imp->opts->kind);
}

/* The batch row; a dry run has none (batch id 0). */
static enum payq_err insert_batch(struct import *imp)
{
    char size[24];
    const char *params[6];
    PGresult *res = NULL;
    enum payq_err err;

    if (imp->opts->dry_run)
        return PAYQ_OK;
    snprintf(size, sizeof(size), "%llu", imp->size);
    params[0] = imp->path;
    params[1] = size;
    params[2] = imp->sha256;
    params[3] = batch_kind(imp);
    params[4] = imp->opts->force ? "t" : "f";
    params[5] = imp->opts->hold ? NULL : imp->opts->actor;
    err = run(imp,
              "insert into batches (file_name, file_size, file_sha256,"
              " kind, forced, approved_at, approved_by) values ($1, $2,"
              " $3, $4, $5, case when $6::text is null then null"
              " else now() end, $6) returning id",
              6, params, "create the batch", &res);
    if (err != PAYQ_OK)
        return err;
    imp->res->batch_id = value_ll(res, 0, 0);
    PQclear(res);
    return PAYQ_OK;
}

/*
 * Temporary: private to the session, never WAL-logged, dropped at the
 * end. The reference compares byte for byte, as jobs.reference does, so
 * the NOT EXISTS probe can use that column's unique index.
 */
static enum payq_err create_staging(struct import *imp)
{
    return db_exec(imp->conn,
                   "create temporary table import_staging ("
                   " line integer not null, kind text not null,"
                   " phone text not null, amount bigint not null,"
                   " withdraw_charge bigint not null, reason text,"
                   " depositor_name text,"
                   " reference text collate \"C\" not null,"
                   " metadata jsonb not null, raw text)"
                   " on commit drop",
                   "create the staging table");
}

/* ---- the file -------------------------------------------------------- */

static enum payq_err open_and_digest(struct import *imp)
{
    struct stat st;

    imp->fd = open(imp->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (imp->fd < 0 || fstat(imp->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (imp->opts->report != NULL)
            fprintf(imp->opts->report, "%s: cannot read: %s\n", imp->path,
                    imp->fd < 0 || errno != 0 ? strerror(errno)
                                              : "not a regular file");
        return PAYQ_ERR_IO;
    }
    if (digest_sha256_fd(imp->fd, imp->sha256, &imp->size) != PAYQ_OK ||
        lseek(imp->fd, 0, SEEK_SET) != 0) {
        if (imp->opts->report != NULL)
            fprintf(imp->opts->report, "%s: cannot read: %s\n", imp->path,
                    strerror(errno));
        return PAYQ_ERR_IO;
    }
    return PAYQ_OK;
}

/* Reports a fatal reader error, or an I/O failure, for the whole file. */
static enum payq_err reader_failed(struct import *imp, enum payq_err err)
{
    if (err == PAYQ_ERR_DATA)
        report(imp, ingest_reader_error_line(imp->reader), "-",
               ingest_reader_error(imp->reader), "", 0);
    else if (imp->opts->report != NULL)
        fprintf(imp->opts->report, "%s: cannot read: %s\n", imp->path,
                payq_err_str(err));
    return err == PAYQ_ERR_NOMEM ? err : PAYQ_ERR_DATA;
}

static enum payq_err read_header(struct import *imp)
{
    struct ingest_row header;
    const char *column = "";
    const char *problem;
    enum payq_err err;

    err = ingest_reader_create_fd(imp->fd, imp->opts->delimiter, &imp->reader);
    if (err != PAYQ_OK)
        return err;
    err = ingest_reader_next(imp->reader, &header);
    if (err == PAYQ_ERR_NOT_FOUND) {
        report(imp, 1, "-", "no header row: the file is empty", "", 0);
        return PAYQ_ERR_DATA;
    }
    if (err != PAYQ_OK)
        return reader_failed(imp, err);
    problem = ingest_columns_map(&imp->cols, &header, imp->opts->kind, &column);
    if (problem != NULL) {
        report(imp, header.line, column[0] != '\0' ? column : "-", problem,
               header.raw, header.raw_len);
        return PAYQ_ERR_DATA;
    }
    return PAYQ_OK;
}

/* ---- streaming rows into staging ------------------------------------- */

static enum payq_err copy_flush(struct import *imp)
{
    if (imp->copy.len == 0)
        return PAYQ_OK;
    if (PQputCopyData(imp->conn, imp->copy.data, (int)imp->copy.len) != 1) {
        log_error("cannot send rows to the database",
                  LOG_STR("file", imp->path),
                  LOG_STR("reason", PQerrorMessage(imp->conn)));
        return PAYQ_ERR_DB_CONNECT;
    }
    buf_reset(&imp->copy);
    return PAYQ_OK;
}

/*
 * Validates one data row and stages it, or reports and rejects it. A
 * strict import keeps staging valid rows after a problem, so that the
 * references they repeat are reported too.
 */
static enum payq_err take_row(struct import *imp, const struct ingest_row *row)
{
    struct ingest_problem p;
    long long amount = 0;
    enum job_kind kind;
    enum payq_err err;

    imp->res->rows++;
    err = ingest_stage_row(&imp->cols, row, &imp->stage, &imp->copy, &p,
                           &amount, &kind);
    if (err == PAYQ_ERR_DATA) {
        report(imp, row->line, p.column, p.problem, p.value, p.value_len);
        reject(imp, row->line, p.column, row->raw, row->raw_len, p.problem);
        imp->res->rejected++;
        return PAYQ_OK;
    }
    if (err != PAYQ_OK)
        return err;
    imp->staged++;
    if (imp->copy.len >= COPY_FLUSH_AT)
        return copy_flush(imp);
    return PAYQ_OK;
}

static enum payq_err copy_rows(struct import *imp)
{
    struct ingest_row row;
    enum payq_err err = PAYQ_OK;

    while (err == PAYQ_OK) {
        err = ingest_reader_next(imp->reader, &row);
        if (err == PAYQ_ERR_NOT_FOUND)
            return copy_flush(imp);
        if (err != PAYQ_OK)
            return reader_failed(imp, err);
        err = take_row(imp, &row);
        if (imp->opts->progress)
            ingest_progress_update(&imp->progress,
                                   ingest_reader_offset(imp->reader),
                                   imp->res->rows);
    }
    return err;
}

/* Ends the COPY: committed to staging, or abandoned on a failure. */
static enum payq_err copy_end(struct import *imp, enum payq_err err)
{
    const char *abandon = err != PAYQ_OK ? "payq import stopped" : NULL;
    PGresult *res;
    enum payq_err end_err;

    if (PQputCopyEnd(imp->conn, abandon) != 1)
        return PAYQ_ERR_DB_CONNECT;
    res = PQgetResult(imp->conn);
    end_err =
        abandon != NULL ? PAYQ_OK : check(imp, res, "copy rows to staging");
    PQclear(res);
    while ((res = PQgetResult(imp->conn)) != NULL)
        PQclear(res);
    return err != PAYQ_OK ? err : end_err;
}

static enum payq_err stream_rows(struct import *imp)
{
    PGresult *res;
    enum payq_err err;

    res = PQexec(imp->conn, "copy import_staging from stdin");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        err = check(imp, res, "start copying rows");
        PQclear(res);
        return err != PAYQ_OK ? err : PAYQ_ERR_DB;
    }
    PQclear(res);
    if (imp->opts->progress)
        ingest_progress_init(&imp->progress, imp->path, imp->size,
                             imp->opts->progress_ms);
    err = copy_rows(imp);
    if (imp->opts->progress)
        ingest_progress_finish(&imp->progress);
    return copy_end(imp, err);
}

/* ---- after staging --------------------------------------------------- */

/*
 * References repeated inside the file: every occurrence after the first
 * is a row error naming the first's line. With --skip-invalid they leave
 * the staging table before the insert (so the first is the one kept);
 * otherwise they are only listed, and the import fails.
 */
static const char REPEATS_DELETE_SQL[] =
    "with firsts as (select reference, min(line) as first_line"
    " from import_staging group by reference having count(*) > 1)"
    " delete from import_staging s using firsts f"
    " where s.reference = f.reference and s.line <> f.first_line"
    " returning s.line, f.first_line, s.reference, coalesce(s.raw, '')";

static const char REPEATS_SELECT_SQL[] =
    "with firsts as (select reference, min(line) as first_line"
    " from import_staging group by reference having count(*) > 1)"
    " select s.line, f.first_line, s.reference, ''"
    " from import_staging s join firsts f on s.reference = f.reference"
    " where s.line <> f.first_line order by s.line";

static enum payq_err find_repeats_in_file(struct import *imp, const char *sql)
{
    PGresult *res = NULL;
    char reason[64];
    enum payq_err err;
    int i;

    err = run(imp, sql, 0, NULL, "find references repeated in the file", &res);
    if (err != PAYQ_OK)
        return err;
    for (i = 0; i < PQntuples(res); i++) {
        const char *ref = PQgetvalue(res, i, 2);
        long line = strtol(PQgetvalue(res, i, 0), NULL, 10);

        snprintf(reason, sizeof(reason), "reference repeats line %s",
                 PQgetvalue(res, i, 1));
        report(imp, line, "reference", reason, ref, strlen(ref));
        reject(imp, line, "reference", PQgetvalue(res, i, 3),
               (size_t)PQgetlength(res, i, 3), reason);
    }
    imp->res->rejected += PQntuples(res);
    imp->staged -= PQntuples(res);
    PQclear(res);
    return PAYQ_OK;
}

/*
 * --skip-invalid: repeats leave staging, the first kept. A strict import
 * that already failed, or a dry run, lists them now; a clean strict
 * import leaves them to the insert, which meets them for nothing.
 */
static enum payq_err find_repeats(struct import *imp)
{
    enum payq_err err = PAYQ_OK;

    if (imp->opts->skip_invalid)
        err = find_repeats_in_file(imp, REPEATS_DELETE_SQL);
    else if (imp->errors > 0 || imp->opts->dry_run)
        err = find_repeats_in_file(imp, REPEATS_SELECT_SQL);
    if (err == PAYQ_OK && refused(imp))
        err = PAYQ_ERR_DATA;
    return err;
}

static const char INSERT_JOBS_SQL[] =
    "with ins as (insert into jobs (batch_id, kind, phone, amount,"
    " withdraw_charge, reason, depositor_name, reference, metadata)"
    " select $1, kind, phone, amount, withdraw_charge, reason,"
    " depositor_name, reference, metadata from import_staging s"
    " where not exists (select 1 from jobs j"
    " where j.reference = s.reference)"
    " returning amount)"
    " select count(*), coalesce(sum(amount), 0) from ins";

/* What the insert would create, for a dry run. */
static const char COUNT_NEW_SQL[] =
    "select count(*), coalesce(sum(amount), 0) from import_staging s"
    " where not exists (select 1 from jobs j"
    " where j.reference = s.reference)";

/*
 * A strict import's insert met a reference twice (a unique violation):
 * back to before it, and list the repeats. Finding none, the violation
 * came from another writer of jobs: a database error, worth a retry.
 */
static enum payq_err explain_unique_violation(struct import *imp)
{
    long long before = imp->errors;
    enum payq_err err;

    err = db_exec(imp->conn, "rollback to savepoint before_jobs",
                  "go back to before the jobs");
    if (err == PAYQ_OK)
        err = find_repeats_in_file(imp, REPEATS_SELECT_SQL);
    if (err != PAYQ_OK)
        return err;
    if (imp->errors > before)
        return PAYQ_ERR_DATA;
    log_error("cannot create the jobs: a reference was taken meanwhile",
              LOG_STR("file", imp->path), LOG_STR("sqlstate", "23505"));
    return PAYQ_ERR_DB;
}

/*
 * The insert itself. In strict mode a unique violation is the file's
 * repeat, most likely: explained, not logged as a database failure.
 */
static enum payq_err run_insert(struct import *imp, const char *batch,
                                PGresult **out)
{
    const char *params[1] = { batch };
    PGresult *res = PQexecParams(imp->conn, INSERT_JOBS_SQL, 1, NULL, params,
                                 NULL, NULL, 0);
    enum payq_err err;

    if (!imp->opts->skip_invalid && PQresultStatus(res) == PGRES_FATAL_ERROR &&
        strcmp(db_sqlstate(res), "23505") == 0) {
        PQclear(res);
        return explain_unique_violation(imp);
    }
    err = check(imp, res, "create the jobs");
    if (err == PAYQ_OK)
        *out = res;
    else
        PQclear(res);
    return err;
}

/*
 * The one INSERT ... SELECT, after waiting for our turn: a NOT EXISTS
 * sees every job committed before, and no job can be added meanwhile by
 * another import. A strict import keeps a savepoint, in case the file
 * repeats a reference.
 */
static enum payq_err insert_jobs(struct import *imp)
{
    char batch[24];
    PGresult *res = NULL;
    enum payq_err err;

    snprintf(batch, sizeof(batch), "%lld", imp->res->batch_id);
    if (imp->opts->dry_run) {
        err = run(imp, COUNT_NEW_SQL, 0, NULL, "count the new jobs", &res);
    } else {
        err = db_exec(imp->conn, JOBS_LOCK_SQL, "wait to insert jobs");
        if (err == PAYQ_OK && !imp->opts->skip_invalid)
            err =
                db_exec(imp->conn, "savepoint before_jobs", "mark a savepoint");
        if (err == PAYQ_OK)
            err = run_insert(imp, batch, &res);
    }
    if (err != PAYQ_OK)
        return err;
    imp->res->accepted = value_ll(res, 0, 0);
    imp->res->amount = value_ll(res, 0, 1);
    PQclear(res);
    return PAYQ_OK;
}

/*
 * Strict: a repeat inside the file whose reference an earlier batch has
 * makes the insert skip both rows, with no error. So the search (a full
 * grouping of the staging table) runs when fewer jobs were created than
 * rows staged; a clean file pays nothing for it. Any repeat found fails
 * the import, which then rolls back.
 */
static enum payq_err refuse_repeats(struct import *imp)
{
    if (imp->opts->skip_invalid || imp->opts->dry_run ||
        imp->res->accepted == imp->staged)
        return PAYQ_OK;
    return find_repeats_in_file(imp, REPEATS_SELECT_SQL);
}

/* Duplicates of earlier batches: staged rows the insert skipped. */
static enum payq_err count_duplicates(struct import *imp)
{
    imp->res->duplicates = imp->staged - imp->res->accepted;
    return refused(imp) ? PAYQ_ERR_DATA : PAYQ_OK;
}

/* Lists the rows skipped as duplicates of earlier batches (--verbose). */
static enum payq_err list_duplicates(struct import *imp)
{
    char batch[24];
    const char *params[1] = { batch };
    PGresult *res = NULL;
    enum payq_err err;
    int i;

    if (!imp->opts->verbose || imp->res->duplicates == 0 ||
        imp->opts->report == NULL)
        return PAYQ_OK;
    snprintf(batch, sizeof(batch), "%lld", imp->res->batch_id);
    err = run(imp,
              "select s.line, s.reference, j.batch_id from import_staging s"
              " join jobs j on j.reference = s.reference"
              " where j.batch_id <> $1 order by s.line",
              1, params, "list duplicate references", &res);
    if (err != PAYQ_OK)
        return err;
    for (i = 0; i < PQntuples(res); i++) {
        const char *ref = PQgetvalue(res, i, 1);

        fprintf(imp->opts->report,
                "%s:%s: reference: duplicate of batch %s, skipped (", imp->path,
                PQgetvalue(res, i, 0), PQgetvalue(res, i, 2));
        show_value(imp->opts->report, ref, strlen(ref));
        fputs(")\n", imp->opts->report);
    }
    PQclear(res);
    return PAYQ_OK;
}

/* Copies the queued rejected rows into import_errors. */
static enum payq_err record_rejects(struct import *imp)
{
    char chunk[16384];
    PGresult *res;
    size_t n;
    enum payq_err err = PAYQ_OK;

    if (imp->rejects == NULL || imp->res->rejected == 0 || imp->opts->dry_run)
        return PAYQ_OK;
    res = PQexec(imp->conn, "copy import_errors (batch_id, line_no,"
                            " column_name, raw_text, reason) from stdin");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        err = check(imp, res, "record rejected rows");
        PQclear(res);
        return err != PAYQ_OK ? err : PAYQ_ERR_DB;
    }
    PQclear(res);
    rewind(imp->rejects);
    while (err == PAYQ_OK &&
           (n = fread(chunk, 1, sizeof(chunk), imp->rejects)) > 0)
        if (PQputCopyData(imp->conn, chunk, (int)n) != 1)
            err = PAYQ_ERR_DB_CONNECT;
    if (PQputCopyEnd(imp->conn, err == PAYQ_OK ? NULL : "failed") != 1)
        return PAYQ_ERR_DB_CONNECT;
    res = PQgetResult(imp->conn);
    if (err == PAYQ_OK)
        err = check(imp, res, "record rejected rows");
    PQclear(res);
    while ((res = PQgetResult(imp->conn)) != NULL)
        PQclear(res);
    return err;
}

static enum payq_err finish_batch(struct import *imp)
{
    const struct ingest_result *r = imp->res;
    char v[6][24];
    const char *params[6];
    int i;

    if (imp->opts->dry_run)
        return PAYQ_OK;
    snprintf(v[0], sizeof(v[0]), "%lld", r->batch_id);
    snprintf(v[1], sizeof(v[1]), "%lld", r->rows);
    snprintf(v[2], sizeof(v[2]), "%lld", r->accepted);
    snprintf(v[3], sizeof(v[3]), "%lld", r->duplicates);
    snprintf(v[4], sizeof(v[4]), "%lld", r->rejected);
    snprintf(v[5], sizeof(v[5]), "%lld", r->amount);
    for (i = 0; i < 6; i++)
        params[i] = v[i];
    return run(imp,
               "update batches set rows_total = $2, rows_accepted = $3,"
               " rows_duplicate = $4, rows_rejected = $5,"
               " amount_total = $6 where id = $1",
               6, params, "record the batch's counts", NULL);
}

/* Wakes idle workers: delivered only if the transaction commits. */
static enum payq_err notify_workers(struct import *imp)
{
    char batch[24];
    const char *params[1] = { batch };

    if (imp->opts->hold || imp->opts->dry_run || imp->res->accepted == 0)
        return PAYQ_OK;
    snprintf(batch, sizeof(batch), "%lld", imp->res->batch_id);
    return run(imp, "select pg_notify('" QUEUE_NOTIFY_CHANNEL "', $1)", 1,
               params, "notify the workers", NULL);
}

/* ---- the whole import ------------------------------------------------ */

void ingest_options_init(struct ingest_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->kind = JOB_KIND_PAY;
    opts->min_amount = INGEST_AMOUNT_MIN_DEFAULT;
    opts->max_amount = INGEST_AMOUNT_MAX_DEFAULT;
    opts->actor = "payq";
    opts->report = stderr;
    opts->errors_shown = INGEST_ERRORS_SHOWN;
}

static enum payq_err import_prepare(struct import *imp)
{
    enum payq_err err = open_and_digest(imp);

    if (err == PAYQ_OK)
        err = read_header(imp);
    if (err == PAYQ_OK && imp->opts->skip_invalid) {
        imp->rejects = tmpfile();
        if (imp->rejects == NULL)
            err = PAYQ_ERR_IO;
    }
    imp->stage.default_kind = imp->opts->kind;
    imp->stage.min_amount = imp->opts->min_amount;
    imp->stage.max_amount = imp->opts->max_amount;
    imp->stage.keep_raw = imp->opts->skip_invalid;
    return err;
}

/* Runs one step and logs how long it took, at debug level. */
static enum payq_err timed(struct import *imp, const char *name,
                           enum payq_err (*step)(struct import *))
{
    struct timespec a;
    struct timespec b;
    enum payq_err err;

    clock_gettime(CLOCK_MONOTONIC, &a);
    err = step(imp);
    clock_gettime(CLOCK_MONOTONIC, &b);
    log_debug("import step done", LOG_STR("file", imp->path),
              LOG_STR("step", name),
              LOG_INT("ms", (b.tv_sec - a.tv_sec) * 1000 +
                                (b.tv_nsec - a.tv_nsec) / 1000000));
    return err;
}

/* Everything between BEGIN and the decision to commit, in order. */
static enum payq_err import_in_transaction(struct import *imp)
{
    static const struct {
        const char *name;
        enum payq_err (*run)(struct import *);
    } steps[] = {
        { "check_repeat", begin_and_check_repeat },
        { "insert_batch", insert_batch },
        { "create_staging", create_staging },
        { "stream_rows", stream_rows },
        { "find_repeats_in_file", find_repeats },
        { "insert_jobs", insert_jobs },
        { "refuse_repeats_in_file", refuse_repeats },
        { "count_duplicates", count_duplicates },
        { "list_duplicates", list_duplicates },
        { "record_rejects", record_rejects },
        { "finish_batch", finish_batch },
        { "notify_workers", notify_workers },
    };
    enum payq_err err = PAYQ_OK;
    size_t i;

    for (i = 0; err == PAYQ_OK && i < sizeof(steps) / sizeof(steps[0]); i++)
        err = timed(imp, steps[i].name, steps[i].run);
    if (err == PAYQ_OK && refused(imp))
        err = PAYQ_ERR_DATA;
    return err;
}

static enum payq_err import_end(struct import *imp, enum payq_err err)
{
    bool commit = err == PAYQ_OK && !imp->opts->dry_run;

    if (!imp->in_transaction)
        return err;
    if (commit) {
        err = db_exec(imp->conn, "commit", "commit the import");
    } else if (PQstatus(imp->conn) == CONNECTION_OK) {
        PQclear(PQexec(imp->conn, "rollback"));
    }
    if (!commit || err != PAYQ_OK)
        imp->res->batch_id = 0;
    return err;
}

enum payq_err ingest_import_file(PGconn *conn, const char *path,
                                 const struct ingest_options *opts,
                                 struct ingest_result *res)
{
    struct import imp = {
        .conn = conn,
        .path = path,
        .opts = opts,
        .res = res,
        .fd = -1,
    };
    enum payq_err err;

    memset(res, 0, sizeof(*res));
    buf_init(&imp.copy, COPY_BUF_MAX);
    err = import_prepare(&imp);
    if (err == PAYQ_OK)
        err = import_in_transaction(&imp);
    err = import_end(&imp, err);
    report_total(&imp);

    ingest_reader_destroy(imp.reader);
    buf_cleanup(&imp.copy);
    if (imp.rejects != NULL)
        fclose(imp.rejects);
    if (imp.fd >= 0)
        close(imp.fd);
    return err;
}
