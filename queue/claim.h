/*
 * Claiming jobs and recording what happened to them: the state machine
 * that keeps every job paid at most once.
 *
 * A worker claims a few ready jobs in one short transaction that also
 * commits, for each, the attempt it is about to send: a new attempt with
 * a new request transaction id (PREFIX-JOBID-N), or the attempt still
 * open from an earlier claim, which must be sent again with the SAME id
 * (a probe). That commit is the recovery point: whatever happens after
 * it, a later claim finds the open attempt and never mints a new id while
 * the old one may be live. No transaction is held across an HTTP call.
 *
 * Every later write is a guarded transition: it applies only while the
 * job is still running under this worker's lease, so a callback that got
 * there first, or another worker that took over an expired lease, is
 * never overwritten and no state moves backwards.
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

/* A claimed job and the attempt to send for it. */
struct queue_job {
    long long id;
    long long batch_id;
    enum job_kind kind;
    char phone[16];                     /* canonical 2507XXXXXXXX */
    long long amount;                   /* RWF */
    long long withdraw_charge;          /* RWF; deposits */
    char reference[65];                 /* the row's own reference */
    char reason[QUEUE_TEXT_MAX];        /* deposits; "" for pay */
    char depositor_name[QUEUE_TEXT_MAX]; /* deposits; "" for pay */
    long long attempt_id;
    int attempt_no;
    char txn_id[QUEUE_TXN_ID_MAX + 1];  /* the request transaction id */
    bool resend;     /* the attempt existed before this claim: a probe */
    int probe_count; /* probes of this attempt so far */
};

/* Which jobs a claim may take. */
struct queue_claim_opts {
    const char *owner;   /* this worker's lease name (host:pid:thread) */
    const char *prefix;  /* PAYQ_TXN_PREFIX: keeps deployments' ids apart */
    int lease_s;         /* lease length; longer than any HTTP call */
    int max;             /* at most this many jobs, <= QUEUE_CLAIM_MAX */
    bool pay;            /* collections may be claimed */
    bool deposit;        /* payouts may be claimed */
};

/*
 * Claims up to opts->max ready jobs (queued, run_at reached, batch
 * approved and not paused, kind allowed; in a cancelled batch only jobs
 * whose open attempt may have been sent, to probe it), oldest run_at
 * first, with FOR UPDATE SKIP LOCKED so concurrent workers take disjoint
 * jobs; marks them running under opts->owner's lease; and commits their
 * attempts. jobs must hold opts->max entries; *n receives how many.
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
    QUEUE_RESULT_NOT_EXECUTED, /* systemic refusal: a new id later */
    QUEUE_RESULT_COLLISION,    /* 2400 to a first send: a person looks */
    QUEUE_RESULT_RELEASE,      /* claimed but never started: give back */
};

struct queue_result {
    enum queue_result_kind kind;
    bool sent;                  /* the request may have reached them */
    int http_status;            /* 0 when there was none */
    const char *code;           /* provider response code, or NULL */
    const char *message;        /* provider message, or NULL */
    const char *provider_txn_id; /* or NULL */
    const char *reference_no;   /* or NULL */
    const char *body;           /* the answer, cut to 4096 bytes; or NULL */
    long long duration_ms;
    long long delay_ms;         /* RETRY, NOT_EXECUTED: not before this */
    int callback_timeout_s;     /* PENDING: then unknown without callback */
    int max_probes;             /* RETRY: probes before giving up */
};

/* What queue_record() did to the job. */
enum queue_record_outcome {
    QUEUE_RECORDED,          /* the transition applied */
    QUEUE_RECORDED_UNKNOWN,  /* RETRY past max_probes: now unknown */
    QUEUE_RECORD_LOST,       /* no longer ours (callback, takeover): no-op */
};

/*
 * Records what happened to job, in one transaction, guarded by the lease
 * of owner. *out says whether it applied. RELEASE of an attempt made by
 * this very claim closes it as not executed (it never left), so that an
 * open attempt always means one that may have been sent.
 */
PAYQ_MUST_USE enum payq_err queue_record(PGconn *conn, const char *owner,
                                         const struct queue_job *job,
                                         const struct queue_result *res,
                                         enum queue_record_outcome *out);

/*
 * Returns to the queue every running job whose lease has expired (its
 * worker died), keeping its open attempt so the next claim probes it with
 * the same id. *n receives how many.
 */
PAYQ_MUST_USE enum payq_err queue_reap_expired(PGconn *conn, int *n);

/*
 * Moves pending jobs whose callback deadline has passed to unknown, for
 * reconciliation; a late callback may still settle them. *n: how many.
 */
PAYQ_MUST_USE enum payq_err queue_expire_pending(PGconn *conn, int *n);

#endif
