/* Batch actions: guarded updates with their audit rows. */
#include "queue/batch.h"

#include <stdio.h>
#include <string.h>

#include "db/conn.h"
#include "queue/job.h"

static enum payq_err batch_state(PGconn *conn, const char *id,
                                 enum queue_batch_outcome *outcome)
{
    const char *params[1] = { id };
    PGresult *res = PQexecParams(conn,
                                 "select cancelled_at is not null"
                                 " from batches where id = $1",
                                 1, NULL, params, NULL, NULL, 0);
    enum payq_err err = db_result_check(conn, res, "look up the batch");

    if (err == PAYQ_OK && PQntuples(res) == 0)
        err = PAYQ_ERR_NOT_FOUND;
    else if (err == PAYQ_OK)
        *outcome = strcmp(PQgetvalue(res, 0, 0), "t") == 0
                       ? QUEUE_BATCH_CANCELLED
                       : QUEUE_BATCH_UNCHANGED;
    PQclear(res);
    return err;
}

static enum payq_err approve_in_tx(PGconn *conn, const char *id,
                                   const char *actor,
                                   enum queue_batch_outcome *outcome)
{
    const char *params[2] = { id, actor };
    PGresult *res;
    enum payq_err err;

    res = PQexecParams(conn,
                       "with done as (update batches set approved_at ="
                       " now(), approved_by = $2 where id = $1 and"
                       " approved_at is null and cancelled_at is null"
                       " returning id)"
                       " insert into operator_actions (actor, action,"
                       " batch_id) select $2, 'approve', id from done"
                       " returning batch_id",
                       2, NULL, params, NULL, NULL, 0);
    err = db_result_check(conn, res, "approve the batch");
    if (err == PAYQ_OK && PQntuples(res) == 1)
        *outcome = QUEUE_BATCH_CHANGED;
    PQclear(res);
    if (err != PAYQ_OK || *outcome != QUEUE_BATCH_CHANGED)
        return err;
    res = PQexecParams(conn, "select pg_notify('" QUEUE_NOTIFY_CHANNEL "', $1)",
                       1, NULL, params, NULL, NULL, 0);
    err = db_result_check(conn, res, "notify the workers");
    PQclear(res);
    return err;
}

enum payq_err queue_batch_approve(PGconn *conn, long long batch_id,
                                  const char *actor,
                                  enum queue_batch_outcome *outcome)
{
    char id[24];
    enum payq_err err;

    snprintf(id, sizeof(id), "%lld", batch_id);
    err = batch_state(conn, id, outcome);
    if (err != PAYQ_OK || *outcome == QUEUE_BATCH_CANCELLED)
        return err;
    err = db_exec(conn, "begin", "begin approving");
    if (err != PAYQ_OK)
        return err;
    err = approve_in_tx(conn, id, actor, outcome);
    if (err == PAYQ_OK)
        return db_exec(conn, "commit", "commit the approval");
    PQclear(PQexec(conn, "rollback"));
    return err;
}
