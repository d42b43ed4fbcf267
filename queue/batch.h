/*
 * Operator actions on whole batches. Each is one guarded UPDATE plus its
 * row in operator_actions, in one transaction, so the audit trail and the
 * change can never disagree.
 */
#ifndef PAYQ_QUEUE_BATCH_H
#define PAYQ_QUEUE_BATCH_H

#include <libpq-fe.h>

#include "core/err.h"

enum queue_batch_outcome {
    QUEUE_BATCH_CHANGED,   /* the action took effect */
    QUEUE_BATCH_UNCHANGED, /* it already had taken effect */
    QUEUE_BATCH_CANCELLED, /* the batch is cancelled: refused */
};

/*
 * Approves a held batch so its jobs may be sent, recording actor, and
 * wakes the workers. PAYQ_ERR_NOT_FOUND when there is no such batch.
 */
PAYQ_MUST_USE enum payq_err
queue_batch_approve(PGconn *conn, long long batch_id, const char *actor,
                    enum queue_batch_outcome *outcome);

#endif
