/*
 * Migration runner. The order of work matters: take the advisory lock,
 * make sure schema_migrations exists, compare it with the embedded list,
 * then apply what is missing one transaction per file.
 */
#include "db/migrate.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/log.h"
#include "core/mem.h"
#include "db/conn.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define LOCK_ARGS STR(DB_MIGRATE_LOCK_CLASS) ", " STR(DB_MIGRATE_LOCK_OBJECT)

/* The ledger of applied migrations; created by the runner, not a file. */
static const char CREATE_LEDGER_SQL[] =
    "create table schema_migrations ("
    " version integer primary key check (version > 0),"
    " name text not null,"
    " checksum text not null check (checksum ~ '^[0-9a-f]{64}$'),"
    " applied_at timestamptz not null default now());"
    "comment on table schema_migrations is"
    " 'Schema changes applied to this database by payq migrate, one row"
    " per migration file, with the SHA-256 of the file as applied.';";

const char *db_schema_state_name(enum db_schema_state state)
{
    switch (state) {
    case DB_SCHEMA_CURRENT:
        return "current";
    case DB_SCHEMA_EMPTY:
        return "not migrated";
    case DB_SCHEMA_BEHIND:
        return "migrations pending";
    case DB_SCHEMA_AHEAD:
        return "newer than this payq";
    case DB_SCHEMA_MODIFIED:
        return "applied migration modified";
    }
    return "unknown";
}

static const struct db_migration *find_known(int version, size_t *index)
{
    size_t i;

    for (i = 0; i < db_migrations_count; i++) {
        if (db_migrations[i].version == version) {
            *index = i;
            return &db_migrations[i];
        }
    }
    return NULL;
}

static enum payq_err migration_checksum(const struct db_migration *m,
                                        char hex[DIGEST_SHA256_HEX_SIZE])
{
    return digest_sha256_hex(m->sql, m->size, hex);
}

/* Folds one applied row into info; marks it in applied[]. */
static enum payq_err compare_row(int version, const char *checksum,
                                 struct db_schema_info *info, bool *applied)
{
    char hex[DIGEST_SHA256_HEX_SIZE];
    const struct db_migration *m;
    size_t index = 0;

    if (version > info->db_version)
        info->db_version = version;
    m = find_known(version, &index);
    if (m == NULL) {
        info->state = DB_SCHEMA_AHEAD;
        info->odd_version = version;
        return PAYQ_OK;
    }
    applied[index] = true;
    if (migration_checksum(m, hex) != PAYQ_OK)
        return PAYQ_ERR_NOMEM;
    if (strcmp(hex, checksum) != 0 && info->state != DB_SCHEMA_AHEAD) {
        info->state = DB_SCHEMA_MODIFIED;
        info->odd_version = version;
    }
    return PAYQ_OK;
}

static enum payq_err ledger_exists(PGconn *conn, bool *exists)
{
    PGresult *res = PQexec(conn, "select to_regclass('schema_migrations')"
                                 " is not null");
    enum payq_err err = db_result_check(conn, res, "look for the schema");

    if (err == PAYQ_OK)
        *exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return err;
}

/* Fills info and applied[] (one flag per embedded migration). */
static enum payq_err schema_compare(PGconn *conn, struct db_schema_info *info,
                                    bool *applied)
{
    PGresult *res = NULL;
    bool exists = false;
    enum payq_err err;
    int i;
    size_t k;

    memset(info, 0, sizeof(*info));
    info->state = DB_SCHEMA_CURRENT;
    info->binary_version = db_migrations[db_migrations_count - 1].version;
    err = ledger_exists(conn, &exists);
    if (err != PAYQ_OK || !exists)
        goto count;

    res = PQexec(conn, "select version, checksum from schema_migrations"
                       " order by version");
    err = db_result_check(conn, res, "read schema_migrations");
    for (i = 0; err == PAYQ_OK && i < PQntuples(res); i++)
        err = compare_row((int)strtol(PQgetvalue(res, i, 0), NULL, 10),
                          PQgetvalue(res, i, 1), info, applied);

count:
    for (k = 0; err == PAYQ_OK && k < db_migrations_count; k++)
        if (!applied[k])
            info->pending++;
    if (err == PAYQ_OK && !exists)
        info->state = DB_SCHEMA_EMPTY;
    else if (err == PAYQ_OK && info->state == DB_SCHEMA_CURRENT &&
             info->pending > 0)
        info->state = DB_SCHEMA_BEHIND;
    PQclear(res);
    return err;
}

enum payq_err db_schema_inspect(PGconn *conn, struct db_schema_info *info)
{
    bool *applied = mem_calloc(db_migrations_count, sizeof(bool));
    enum payq_err err;

    if (applied == NULL)
        return PAYQ_ERR_NOMEM;
    err = schema_compare(conn, info, applied);
    mem_free(applied);
    return err;
}

/* Logs why a schema cannot be used and what the operator should do. */
static void log_schema_problem(const struct db_schema_info *info)
{
    switch (info->state) {
    case DB_SCHEMA_EMPTY:
        log_error("the database is not migrated: run payq migrate",
                  LOG_INT("schema_version", info->binary_version));
        break;
    case DB_SCHEMA_BEHIND:
        log_error("the database schema is older than this payq: "
                  "run payq migrate",
                  LOG_INT("database_version", info->db_version),
                  LOG_INT("pending", info->pending));
        break;
    case DB_SCHEMA_AHEAD:
        log_error("the database holds a migration this payq does not "
                  "know: it was migrated by a newer payq; upgrade payq",
                  LOG_INT("unknown_version", info->odd_version),
                  LOG_INT("known_version", info->binary_version));
        break;
    case DB_SCHEMA_MODIFIED:
        log_error("an applied migration differs from this payq's copy: "
                  "the file was edited after it was applied; restore it",
                  LOG_INT("version", info->odd_version));
        break;
    case DB_SCHEMA_CURRENT:
        break;
    }
}

enum payq_err db_schema_require_current(PGconn *conn)
{
    struct db_schema_info info;
    enum payq_err err = db_schema_inspect(conn, &info);

    if (err != PAYQ_OK)
        return err;
    if (info.state == DB_SCHEMA_CURRENT)
        return PAYQ_OK;
    log_schema_problem(&info);
    return PAYQ_ERR_SCHEMA;
}

/* Takes the migration lock, saying so when another run holds it. */
static enum payq_err take_lock(PGconn *conn)
{
    PGresult *res = PQexec(conn, "select pg_try_advisory_lock(" LOCK_ARGS ")");
    enum payq_err err = db_result_check(conn, res, "take the migration lock");
    bool got = err == PAYQ_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

    PQclear(res);
    if (err != PAYQ_OK || got)
        return err;
    log_info("another payq migrate is running; waiting for it");
    return db_exec(conn, "select pg_advisory_lock(" LOCK_ARGS ")",
                   "wait for the migration lock");
}

static enum payq_err record_migration(PGconn *conn,
                                      const struct db_migration *m)
{
    char version[16];
    char hex[DIGEST_SHA256_HEX_SIZE];
    const char *params[3];
    PGresult *res;
    enum payq_err err;

    if (migration_checksum(m, hex) != PAYQ_OK)
        return PAYQ_ERR_NOMEM;
    snprintf(version, sizeof(version), "%d", m->version);
    params[0] = version;
    params[1] = m->name;
    params[2] = hex;
    res = PQexecParams(conn,
                       "insert into schema_migrations"
                       " (version, name, checksum) values ($1, $2, $3)",
                       3, NULL, params, NULL, NULL, 0);
    err = db_result_check(conn, res, "record the migration");
    PQclear(res);
    return err;
}

/* Applies one file and its ledger row in one transaction. */
static enum payq_err apply_one(PGconn *conn, const struct db_migration *m)
{
    enum payq_err err = db_exec(conn, "begin", "begin a migration");

    if (err != PAYQ_OK)
        return err;
    err = db_exec(conn, m->sql, "apply a migration");
    if (err == PAYQ_OK)
        err = record_migration(conn, m);
    if (err == PAYQ_OK)
        err = db_exec(conn, "commit", "commit a migration");
    if (err != PAYQ_OK) {
        log_error("migration failed and was rolled back",
                  LOG_INT("version", m->version), LOG_STR("name", m->name));
        PQclear(PQexec(conn, "rollback"));
        return err;
    }
    log_info("migration applied", LOG_INT("version", m->version),
             LOG_STR("name", m->name));
    return PAYQ_OK;
}

static enum payq_err apply_pending(PGconn *conn, int *applied)
{
    struct db_schema_info info;
    bool *done = mem_calloc(db_migrations_count, sizeof(bool));
    enum payq_err err;
    size_t i;

    if (done == NULL)
        return PAYQ_ERR_NOMEM;
    err = schema_compare(conn, &info, done);
    if (err == PAYQ_OK &&
        (info.state == DB_SCHEMA_AHEAD || info.state == DB_SCHEMA_MODIFIED)) {
        log_schema_problem(&info);
        err = PAYQ_ERR_SCHEMA;
    }
    for (i = 0; err == PAYQ_OK && i < db_migrations_count; i++) {
        if (done[i])
            continue;
        err = apply_one(conn, &db_migrations[i]);
        if (err == PAYQ_OK)
            (*applied)++;
    }
    mem_free(done);
    return err;
}

enum payq_err db_migrate_apply(PGconn *conn, int *applied)
{
    bool exists = false;
    enum payq_err err;

    *applied = 0;
    err = take_lock(conn);
    if (err != PAYQ_OK)
        return err;
    err = ledger_exists(conn, &exists);
    if (err == PAYQ_OK && !exists)
        err = db_exec(conn, CREATE_LEDGER_SQL, "create schema_migrations");
    if (err == PAYQ_OK)
        err = apply_pending(conn, applied);

    /* Closing the session would release the lock too; say so explicitly. */
    if (PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "select pg_advisory_unlock(" LOCK_ARGS ")"));
    return err;
}
