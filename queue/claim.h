/*
 * Claiming jobs and recording what happened to them: the state machine
 * that keeps every job paid at most once.
 *
 * A worker claims a few ready jobs in one statement (one transaction)
 * that also commits, for each, the attempt it is about to send: a new
 * attempt with a new request transaction id (PREFIX-JOBID-N), or the
 * attempt still open from an earlier claim, which must be sent again
 * with the SAME id (a probe). That commit is the recovery point: whatever
 * happens after it, a later claim finds the open attempt and never mints
 * a new id while the old one may be live. No transaction is held across
 * an HTTP call.
 *
 * An open attempt is closed only on proof that it moved no money: a
 * definite answer (declined, or succeeded), or a systemic refusal or a
 * release of an attempt this very claim made, which was never sent
 * before. A systemic refusal of a probe proves nothing about the earlier
 * send, so that attempt stays open and is probed again, same id.
 *
 * Every later write is a guarded transition: it applies only while the
 * job is still running under this worker's lease, so a callback that got
 * there first, or another worker that took over an expired lease, is
 * never overwritten and no state moves backwards. Outcomes of many jobs
 * may be written in one statement (queue_record_batch()), each guarded
 * on its own: a result that is never written (the process died first)
 * leaves its job running under a lease that expires, and the next claim
 * probes its open attempt with the same id.
 *
 * A lost connection is returned as PAYQ_ERR_DB_CONNECT and logged at
 * debug only: the caller reports an outage once, not once per statement
 * and thread. Other statement failures are logged at error.
 *
 * Threads: every function takes the caller's own connection; one
 * connection per thread.
 */
#ifndef PAYQ_QUEUE_CLAIM_H
#define PAYQ_QUEUE_CLAIM_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "core/err.h"
#include "queue/job.h"

#define QUEUE_TXN_ID_MAX 64        /* bytes in a request transaction id */
#define QUEUE_PREFIX_MAX 24        /* bytes in PAYQ_TXN_PREFIX */
#define QUEUE_OWNER_MAX 64         /* bytes in a lease owner name */
#define QUEUE_TEXT_MAX 801         /* a reason or name: 200 chars UTF-8 */
#define QUEUE_CLAIM_MAX 64         /* jobs one claim may take */
#define QUEUE_RECORD_BATCH_MAX 256 /* outcomes one statement may write */

/* A claimed job and the attempt to send for it. */
struct queue_job {
    long long id;
    long long batch_id;
    enum job_kind kind;
    char phone[16];                      /* canonical 2507XXXXXXXX */
    long long amount;                    /* RWF */
    long long withdraw_charge;           /* RWF; deposits */
    char reference[65];                  /* the row's own reference */
    char reason[QUEUE_TEXT_MAX];         /* deposits; "" for pay */
    char depositor_name[QUEUE_TEXT_MAX]; /* deposits; "" for pay */
    long long attempt_id;
    int attempt_no;
    char txn_id[QUEUE_TXN_ID_MAX + 1]; /* the request transaction id */
    bool resend;      /* the attempt existed before this claim */
    bool live;        /* an earlier send of this id may have reached the
                       * provider (sent, or held by a worker that died):
                       * this send is a probe */
    int probe_count;  /* tries of this attempt without a definite answer,
                       * counted once it may be live */
    int unsent_count; /* tries in a row that never left this host */
};

/*
 * Where a claim stopped in the (run_at, id) order of ready jobs, for the
 * next to go on from: the jobs before it were just claimed, and their
 * index entries are not yet removed, so a scan from the start would step
 * over them all. Jobs that become ready before it (a batch approved or
 * resumed) are found by the next claim from the start.
 */
struct queue_cursor {
    char run_at[64]; /* the last job's run_at as text; "": the start */
    long long id;    /* the last job's id */
};

/* Which jobs a claim may take. */
struct queue_claim_opts {
    const char *owner;  /* this worker's lease name (host:pid:thread) */
    const char *prefix; /* PAYQ_TXN_PREFIX: keeps deployments' ids apart */
    int lease_s;        /* lease length; longer than any HTTP call */
    int max;            /* at most this many jobs, <= QUEUE_CLAIM_MAX */
    bool pay;           /* collections may be claimed */
    bool deposit;       /* payouts may be claimed */
    struct queue_cursor *cursor; /* NULL, or: take only jobs after it, and
                                  * receive where this claim stopped */
};

/*
 * Claims up to opts->max ready jobs (queued, run_at reached, batch
 * approved and not paused, kind allowed; in a cancelled batch only jobs
 * whose open attempt may have been sent, to probe it), oldest run_at
 * first, with FOR UPDATE SKIP LOCKED so concurrent workers take disjoint
 * jobs; marks them running under opts->owner's lease; and commits their
 * attempts, all in one statement: call it outside a transaction block.
 * Its cost follows the jobs taken, not the depth of the queue (ready
 * jobs are found in run_at order through jobs_claim_idx). jobs must hold
 * opts->max entries; *n receives how many. With opts->cursor, only jobs
 * after it are taken, and it moves to the last one taken (unchanged when
 * none was).
 */
PAYQ_MUST_USE enum payq_err queue_claim(PGconn *conn,
                                        const struct queue_claim_opts *opts,
                                        struct queue_job *jobs, int *n);

/* What became of one send (or of a claim not sent at all). */
enum queue_result_kind {
    QUEUE_RESULT_PENDING,      /* accepted: wait for the callback */
    QUEUE_RESULT_SUCCEEDED,    /* the provider says it is done */
    QUEUE_RESULT_FAILED,       /* declined: final, nothing moved */
    QUEUE_RESULT_RETRY,        /* not sent or ambiguous: same id later */
    QUEUE_RESULT_NOT_EXECUTED, /* systemic refusal: queued again; a new id
                                * later, but the same for a probe */
    QUEUE_RESULT_COLLISION,    /* 2400 to a first send: a person looks */
    QUEUE_RESULT_RELEASE,      /* claimed but never started: give back */
};

struct queue_result {
    enum queue_result_kind kind;
    bool sent;                   /* the request may have reached them */
    bool counts_as_probe;        /* RETRY not sent: uses up a probe all
                                  * the same (the id may be live) */
    int http_status;             /* 0 when there was none */
    const char *code;            /* provider response code, or NULL */
    const char *message;         /* provider message, or NULL */
    const char *provider_txn_id; /* or NULL */
    const char *reference_no;    /* or NULL */
    const char *body;            /* the answer, cut to 4096 bytes; or NULL */
    long long duration_ms;
    long long delay_ms;     /* RETRY, NOT_EXECUTED: not before this */
    int callback_timeout_s; /* PENDING: then unknown without callback */
    int max_probes;         /* RETRY: probes before giving up */
};

/* What queue_record() did to the job. */
enum queue_record_outcome {
    QUEUE_RECORDED,         /* the transition applied */
    QUEUE_RECORDED_UNKNOWN, /* RETRY past max_probes: now unknown. A
                             * RETRY counts as a probe when sent or
                             * counts_as_probe; one that does not (not
                             * sent) is retried without limit */
    QUEUE_RECORD_LOST,      /* no longer ours (callback, takeover): no-op */
};

/*
 * Records what happened to job, in one transaction, guarded by the lease
 * of owner: queue_record_batch() of one item. *out says whether it
 * applied. RELEASE or NOT_EXECUTED of an
 * attempt made by this very claim closes it as not executed (it never
 * left, or was refused before anything ran); of an attempt from an
 * earlier claim (job->resend), both leave it open, so that the next
 * claim probes it with the same id: an open attempt always means one
 * that may have been sent. A RETRY not sent adds one to the attempt's
 * unsent_count; anything sent resets it.
 */
PAYQ_MUST_USE enum payq_err queue_record(PGconn *conn, const char *owner,
                                         const struct queue_job *job,
                                         const struct queue_result *res,
                                         enum queue_record_outcome *out);

/* One outcome for queue_record_batch(); everything is borrowed. */
struct queue_record_item {
    const char *owner;           /* the lease the job was claimed under */
    const struct queue_job *job; /* as the claim returned it */
    const struct queue_result *res;
};

/*
 * Records items[0..n) (1 <= n <= QUEUE_RECORD_BATCH_MAX, each job at
 * most once) in one statement and so one transaction: each item as
 * queue_record() records it, guarded by its own owner's lease, so that
 * an item whose job is no longer ours changes nothing and the others
 * still apply. Jobs are locked in id order, job before attempt, as the
 * callback receiver locks them. outs[i] says what became of item i;
 * when the call fails nothing was written and every outs[i] is
 * QUEUE_RECORD_LOST. PAYQ_ERR_USAGE for a batch out of bounds or naming
 * a job twice. Call it outside a transaction block.
 */
PAYQ_MUST_USE enum payq_err
queue_record_batch(PGconn *conn, const struct queue_record_item *items, int n,
                   enum queue_record_outcome *outs);

/*
 * Renews the leases of n jobs (n <= QUEUE_RENEW_MAX) for lease_s seconds
 * from now, job ids[i] under owners[i]: for the jobs a pool holds while
 * they wait for a sender, so that a slow provider never lets them expire
 * there. kept[i] is false when job ids[i] is no longer running under
 * owners[i]. Rows are locked in id order, as everywhere else.
 */
#define QUEUE_RENEW_MAX 256
PAYQ_MUST_USE enum payq_err queue_lease_renew_many(PGconn *conn,
                                                   const long long *ids,
                                                   const char *const *owners,
                                                   int n, int lease_s,
                                                   bool *kept);

/*
 * Renews owner's lease on job for lease_s seconds from now, for a worker
 * about to send a job it has held for a while (waiting for its turn
 * under --rate or --max-in-flight). *kept is false when the job is no
 * longer running under owner (taken back, settled by a callback): the
 * caller must then not send it.
 */
PAYQ_MUST_USE enum payq_err queue_lease_renew(PGconn *conn, const char *owner,
                                              const struct queue_job *job,
                                              int lease_s, bool *kept);

/*
 * Returns to the queue every running job whose lease has expired (its
 * worker died), keeping its open attempt so the next claim probes it with
 * the same id. The dead worker's try counts as a probe without an answer
 * (it may have left), which also bounds a job that kills every worker
 * that takes it. *n receives how many.
 */
PAYQ_MUST_USE enum payq_err queue_reap_expired(PGconn *conn, int *n);

/*
 * Moves pending jobs whose callback deadline has passed to unknown, for
 * reconciliation; a late callback may still settle them. *n: how many.
 */
PAYQ_MUST_USE enum payq_err queue_expire_pending(PGconn *conn, int *n);

#endif
