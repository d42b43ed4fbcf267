/*
 * Operator commands after import: pause, resume and cancel a batch;
 * cancel, retry and resolve one job.
 *
 * Each command is one transaction that locks what it decides on, checks
 * the state under that lock, changes it and writes its operator_actions
 * row (actor, and evidence for a resolution), so the audit trail and the
 * change can never disagree. Running a command twice is safe: the second
 * run finds the work done, reports QUEUE_OPS_UNCHANGED and writes no
 * audit row.
 *
 * Money safety: a job is cancelled only while it is queued and has no
 * attempt that may have moved money (outcome open, pending, unknown or
 * succeeded). An open attempt counts even when it was never recorded as
 * sent: a worker commits the attempt before sending and may have died
 * after the request left but before it wrote send_count, so only a probe
 * with the same transaction id can tell. Such jobs are left to finish.
 *
 * Locking order, to stay clear of deadlocks: the batch row first (FOR NO
 * KEY UPDATE, or FOR SHARE for retry; never a lock that blocks the
 * foreign-key checks of audit rows), then job rows in id order, then
 * attempts. Claims take job rows with SKIP LOCKED, so a job being
 * claimed in the same instant as a cancel is either claimed (and left
 * running) or cancelled, never both.
 *
 * Threads: every function takes the caller's own connection, which must
 * not be inside a transaction; one connection per thread.
 */
#ifndef PAYQ_QUEUE_OPS_H
#define PAYQ_QUEUE_OPS_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "core/err.h"
#include "queue/job.h"

/* Most bytes of resolution evidence (operator_actions.evidence). */
#define QUEUE_OPS_EVIDENCE_MAX 1000

/* What a command did; every refusal leaves the database unchanged. */
enum queue_ops_outcome {
    QUEUE_OPS_CHANGED,           /* the command took effect */
    QUEUE_OPS_UNCHANGED,         /* it already had: nothing to do */
    QUEUE_OPS_REFUSED_STATE,     /* the job's state forbids it: .state */
    QUEUE_OPS_REFUSED_CANCELLED, /* the batch is cancelled */
    QUEUE_OPS_REFUSED_SENT,      /* it may already be with the provider */
    QUEUE_OPS_REFUSED_REVIEW,    /* flagged for review: a person looks */
};

/* The result of one command. */
struct queue_ops_result {
    enum queue_ops_outcome outcome;
    long long batch_id;       /* the batch, or the job's batch */
    enum job_state state;     /* job commands: the state found */
    long long jobs_cancelled; /* cancel: jobs this run cancelled */
    long long jobs_left;      /* cancel: jobs not final that are left */
};

/*
 * Pauses a batch: workers claim none of its jobs until it is resumed;
 * jobs already running finish. Records actor. UNCHANGED when already
 * paused, REFUSED_CANCELLED for a cancelled batch. Returns
 * PAYQ_ERR_NOT_FOUND when there is no such batch.
 */
PAYQ_MUST_USE enum payq_err queue_ops_pause(PGconn *conn, long long batch_id,
                                            const char *actor,
                                            struct queue_ops_result *res);

/*
 * Resumes a paused batch and NOTIFYs QUEUE_NOTIFY_CHANNEL with the batch
 * id so idle workers wake. UNCHANGED when not paused, REFUSED_CANCELLED
 * for a cancelled batch. PAYQ_ERR_NOT_FOUND when there is no such batch.
 */
PAYQ_MUST_USE enum payq_err queue_ops_resume(PGconn *conn, long long batch_id,
                                             const char *actor,
                                             struct queue_ops_result *res);

/*
 * Cancels a batch: no job of it is claimed again, and every job of it
 * that is queued and was never sent becomes cancelled. Jobs that may be
 * with the provider (running, pending, unknown, or queued with a live
 * attempt) are left and counted in jobs_left; they finish normally:
 * queue_claim() still takes a job of a cancelled batch whose attempt is
 * open, to probe it with the same id, and nothing else of it. An
 * already cancelled batch gives UNCHANGED, but what has become
 * cancellable since (a job queued again after a systemic refusal) is
 * still cancelled and counted, with an audit row when there is any.
 * PAYQ_ERR_NOT_FOUND when there is no such batch.
 */
PAYQ_MUST_USE enum payq_err queue_ops_cancel(PGconn *conn, long long batch_id,
                                             const char *actor,
                                             struct queue_ops_result *res);

/*
 * Cancels one job if it is queued and was never sent. UNCHANGED when it
 * is already cancelled, REFUSED_SENT when queued with a live attempt,
 * REFUSED_STATE otherwise. PAYQ_ERR_NOT_FOUND when there is no such job.
 */
PAYQ_MUST_USE enum payq_err queue_ops_cancel_job(PGconn *conn, long long job_id,
                                                 const char *actor,
                                                 struct queue_ops_result *res);

/*
 * Queues a failed job again, due now, and NOTIFYs the workers with its
 * batch id. Its failed attempt stays as history; having none open, the
 * next claim mints attempt attempt_count + 1 with a new transaction id.
 * The provider fields of the failed attempt (code, message, ids) are
 * cleared from the job and kept in the audit row's detail. Refused:
 * REFUSED_STATE unless failed, REFUSED_REVIEW when flagged for review (a
 * callback contradicted the failure: money may have moved),
 * REFUSED_CANCELLED in a cancelled batch, REFUSED_SENT when an attempt
 * is still live. PAYQ_ERR_NOT_FOUND when there is no such job.
 */
PAYQ_MUST_USE enum payq_err queue_ops_retry(PGconn *conn, long long job_id,
                                            const char *actor,
                                            struct queue_ops_result *res);

/*
 * Settles an unknown job as succeeded (money moved) or failed (it did
 * not) on a person's evidence: the job becomes final and leaves review,
 * its live attempt takes the same outcome, and the audit row
 * (resolve_succeeded or resolve_failed) keeps evidence and actor.
 * UNCHANGED when the job already has that final state, REFUSED_STATE for
 * any other state. Returns PAYQ_ERR_DATA, writing nothing, when evidence
 * fails queue_ops_evidence_check(); PAYQ_ERR_NOT_FOUND when there is no
 * such job.
 */
PAYQ_MUST_USE enum payq_err queue_ops_resolve(PGconn *conn, long long job_id,
                                              bool succeeded,
                                              const char *evidence,
                                              const char *actor,
                                              struct queue_ops_result *res);

/*
 * Checks resolution evidence: present, not only white space, at most
 * QUEUE_OPS_EVIDENCE_MAX bytes, valid UTF-8. Returns PAYQ_OK, or
 * PAYQ_ERR_DATA with *problem set to a static sentence saying why.
 */
PAYQ_MUST_USE enum payq_err queue_ops_evidence_check(const char *evidence,
                                                     const char **problem);

#endif
