/*
 * Schema migrations.
 *
 * migrations/NNNN_name.sql are compiled into the binary (see
 * cmake/embed-migrations.cmake) and applied in version order, each in its
 * own transaction together with its row in schema_migrations, which also
 * records the file's SHA-256 so that an edited migration is noticed.
 *
 * Concurrent `payq migrate` runs serialize on a session advisory lock: one
 * applies, the others wait and then find nothing left to do. Because the
 * lock is held by the session, migrate needs a direct connection, not a
 * PgBouncer pool in transaction mode.
 */
#ifndef PAYQ_DB_MIGRATE_H
#define PAYQ_DB_MIGRATE_H

#include <stddef.h>

#include <libpq-fe.h>

#include "core/err.h"

/* One embedded migration file. */
struct db_migration {
    int version;      /* NNNN from the file name */
    const char *name; /* the file name's part after the version */
    const char *sql;  /* the file's bytes, NUL-terminated */
    size_t size;      /* bytes in sql, without the terminator */
};

/* Every migration this binary knows, in ascending version order. */
extern const struct db_migration db_migrations[];
extern const size_t db_migrations_count;

/* The two halves of the advisory lock key that serializes migrations. */
#define DB_MIGRATE_LOCK_CLASS 1885434225 /* 0x70617971, "payq" */
#define DB_MIGRATE_LOCK_OBJECT 1

enum db_schema_state {
    DB_SCHEMA_CURRENT,  /* every known migration applied, nothing else */
    DB_SCHEMA_EMPTY,    /* never migrated: no schema_migrations table */
    DB_SCHEMA_BEHIND,   /* some known migrations are not applied yet */
    DB_SCHEMA_AHEAD,    /* holds a migration this binary does not know */
    DB_SCHEMA_MODIFIED, /* an applied migration differs from the binary's */
};

/* What the database holds compared with the binary. */
struct db_schema_info {
    enum db_schema_state state;
    int db_version;     /* highest version applied; 0 when none */
    int binary_version; /* highest version the binary knows */
    int pending;        /* known migrations not yet applied */
    int odd_version;    /* the unknown or modified version, if any */
};

/*
 * Applies every pending migration. *applied receives how many were
 * applied (0 when the schema was current). Refuses, with PAYQ_ERR_SCHEMA
 * and an error line saying what to do, a database that is AHEAD or
 * MODIFIED. Waits for a concurrent migrate to finish first.
 */
PAYQ_MUST_USE enum payq_err db_migrate_apply(PGconn *conn, int *applied);

/* Reads the schema's state without changing anything. */
PAYQ_MUST_USE enum payq_err db_schema_inspect(PGconn *conn,
                                              struct db_schema_info *info);

/*
 * Returns PAYQ_OK when the schema is current; otherwise logs what to do
 * ("run payq migrate", "upgrade payq") and returns PAYQ_ERR_SCHEMA. Every
 * subcommand but migrate calls this before touching any table.
 */
PAYQ_MUST_USE enum payq_err db_schema_require_current(PGconn *conn);

/* Returns a short description of state, for status output. */
const char *db_schema_state_name(enum db_schema_state state);

#endif
