/*
 * Integration tests for callback/store and payq_apply_callbacks() against
 * a real PostgreSQL: every reconciliation rule (settle, duplicate,
 * conflict, unknown status, unmatched, rejected), callbacks racing the
 * worker's own record, a poisoned item inside a batch, and batches of
 * the same callbacks stored concurrently. Jobs reach their states
 * through queue_claim() and queue_record(), as a worker brings them.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "callback/store.h"
#include "core/log.h"
#include "queue/claim.h"
#include "queue/ops.h"
#include "tests/support/claim.h"
#include "tests/support/testdb.h"

#define SAMPLE_BODY "{\"status\":\"Successfull\"}"
#define MANY 200 /* jobs of the batch tests */
#define RACERS 4 /* threads of the concurrency test */
#define RACE_JOBS 100
#define RACE_BATCH 20

struct fixture {
    struct testdb db;
    PGconn *conn;
    int jobs_added; /* keeps references unique */
};

static int fx_setup(void **state)
{
    static struct fixture fx;

    log_init(2, LOG_LEVEL_ERROR);
    memset(&fx, 0, sizeof(fx));
    testdb_create_migrated(&fx.db);
    fx.conn = testdb_connect(&fx.db);
    testdb_exec_ok(fx.conn,
                   "insert into batches (file_name, file_size, file_sha256,"
                   " kind, approved_at, approved_by) values ('a', 1,"
                   " repeat('a', 64), 'mixed', now(), 't')");
    *state = &fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *fx = *state;

    PQfinish(fx->conn);
    testdb_drop(&fx->db);
    return 0;
}

/* Adds n queued jobs of kind, amount 1000 RWF each, due now. */
static void add_jobs(struct fixture *fx, const char *kind, int n)
{
    bool deposit = strcmp(kind, "deposit") == 0;
    char sql[512];

    snprintf(sql, sizeof(sql),
             "insert into jobs (batch_id, kind, phone, amount, reason,"
             " depositor_name, reference, run_at) select 1, '%s',"
             " '250788000001', 1000, %s, %s, 'R-' || (%d + g),"
             " now() - interval '1 minute' from generate_series(1, %d) g",
             kind, deposit ? "'refund'" : "null", deposit ? "'School'" : "null",
             fx->jobs_added, n);
    testdb_exec_ok(fx->conn, sql);
    fx->jobs_added += n;
}

/* Claims up to max due jobs for owner into jobs; returns how many. */
static int claim(struct fixture *fx, const char *owner, int max,
                 struct queue_job *jobs)
{
    struct queue_claim_opts o = testclaim_opts(owner, max);
    int n = 0;

    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    return n;
}

static enum queue_record_outcome
record(struct fixture *fx, const struct queue_job *job, struct queue_result r)
{
    enum queue_record_outcome out;

    assert_int_equal(queue_record(fx->conn, "w1", job, &r, &out), PAYQ_OK);
    return out;
}

static const struct queue_result PENDING = {
    .kind = QUEUE_RESULT_PENDING,
    .sent = true,
    .http_status = 200,
    .code = "1000",
    .message = "Transaction Pending",
    .callback_timeout_s = 3600,
};

/* A new job of kind, claimed by w1 and, unless "running", recorded so
 * that it is in state: pending, unknown, queued (a probe is due later),
 * succeeded or failed. */
static struct queue_job job_in(struct fixture *fx, const char *kind,
                               const char *state)
{
    struct queue_result r = PENDING;
    struct queue_job job;
    int n = -1;

    add_jobs(fx, kind, 1);
    assert_int_equal(claim(fx, "w1", 1, &job), 1);
    if (strcmp(state, "running") == 0)
        return job;
    if (strcmp(state, "queued") == 0) {
        r.kind = QUEUE_RESULT_RETRY;
        r.delay_ms = 3600000;
        r.max_probes = 5;
    } else if (strcmp(state, "succeeded") == 0) {
        r.kind = QUEUE_RESULT_SUCCEEDED;
        r.code = "01";
    } else if (strcmp(state, "failed") == 0) {
        r.kind = QUEUE_RESULT_FAILED;
        r.code = "1002";
    }
    assert_int_equal(record(fx, &job, r), QUEUE_RECORDED);
    if (strcmp(state, "unknown") == 0) {
        /* No callback in time: the deadline passes. */
        testdb_exec_ok(fx->conn, "update jobs set callback_deadline ="
                                 " now() - interval '1 second' where"
                                 " state = 'pending'");
        assert_int_equal(queue_expire_pending(fx->conn, &n), PAYQ_OK);
        assert_int_equal(n, 1);
    }
    return job;
}

static const char *status_text(const char *verdict)
{
    if (strcmp(verdict, "success") == 0)
        return "Successfull";
    if (strcmp(verdict, "failure") == 0)
        return "Failed";
    if (strcmp(verdict, "pending") == 0)
        return "Pending";
    return "Processed?";
}

/* A callback on endpoint for txn, as the parser would hand it over. */
static struct callback_item callback(const char *endpoint, const char *txn,
                                     const char *verdict, const char *code)
{
    struct callback_item it = {
        .endpoint = endpoint,
        .body = SAMPLE_BODY,
        .body_len = strlen(SAMPLE_BODY),
        .source = "127.0.0.1",
        .txn_id = txn,
        .body_txn_id = strcmp(endpoint, "pay") == 0 ? txn : NULL,
        .provider_txn_id = "P-77",
        .status = status_text(verdict),
        .code = code,
        .reference_no = "REF-9",
        .verdict = verdict,
        .err = PAYQ_ERR_IO,
        .callback_id = -1,
    };

    return it;
}

/* Stores it alone; returns its effect. */
static const char *store1(struct fixture *fx, struct callback_item *it)
{
    assert_int_equal(callback_store_batch(fx->conn, it, 1), PAYQ_OK);
    assert_int_equal(it->err, PAYQ_OK);
    assert_true(it->callback_id > 0);
    return it->effect;
}

/* The one value sql returns, as text (valid until the next call). */
static const char *text1(struct fixture *fx, const char *sql)
{
    static char value[512];
    PGresult *res = PQexec(fx->conn, sql);

    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), 1);
    snprintf(value, sizeof(value), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return value;
}

/* "state" or "state review" of job id. */
static const char *job_state(struct fixture *fx, long long id)
{
    char sql[160];

    snprintf(sql, sizeof(sql),
             "select state || case when needs_review then ' review'"
             " else '' end from jobs where id = %lld",
             id);
    return text1(fx, sql);
}

static const char *attempt_outcome(struct fixture *fx, long long id)
{
    char sql[96];

    snprintf(sql, sizeof(sql),
             "select outcome from attempts where id ="
             " %lld",
             id);
    return text1(fx, sql);
}

static long long count(struct fixture *fx, const char *sql)
{
    return testdb_scalar(fx->conn, sql);
}

static void reconcile_success_settles_pending_job(void **state)
{
    static const char body[] = "{\"status\":\"Successfull\"}\0\xff";
    struct fixture *fx = *state;
    struct queue_job job = job_in(fx, "pay", "pending");
    struct callback_item it = callback("pay", job.txn_id, "success", "01");
    char sql[512];

    it.body = body;
    it.body_len = sizeof(body) - 1;
    it.has_amount = true;
    it.amount = 1000;
    assert_string_equal(store1(fx, &it), "applied");
    assert_string_equal(job_state(fx, job.id), "succeeded");
    assert_string_equal(attempt_outcome(fx, job.attempt_id), "succeeded");
    snprintf(sql, sizeof(sql),
             "select count(*) from jobs where id = %lld and finished_at is"
             " not null and provider_txn_id = 'P-77' and"
             " provider_reference = 'REF-9' and last_code = '01' and"
             " last_message = 'Successfull' and lease_owner is null",
             job.id);
    assert_int_equal(count(fx, sql), 1);
    /* The row keeps the body byte for byte and what was parsed. */
    snprintf(sql, sizeof(sql),
             "select count(*) from callbacks where id = %lld and body ="
             " '\\x7b22737461747573223a225375636365737366756c6c227d00ff'"
             " and source_addr = '127.0.0.1' and endpoint = 'pay' and"
             " request_txn_id = '%s' and provider_txn_id = 'P-77' and"
             " status_text = 'Successfull' and response_code = '01' and"
             " reference_no = 'REF-9' and amount = 1000 and attempt_id ="
             " %lld and job_id = %lld and effect = 'applied' and note is"
             " not null",
             it.callback_id, job.txn_id, job.attempt_id, job.id);
    assert_int_equal(count(fx, sql), 1);
}

static void reconcile_documented_failure_fails_job(void **state)
{
    static const struct {
        const char *kind;
        const char *code;
        const char *description;
    } cases[] = {
        { "pay", "1002", "Mobile number not registered on mobile money" },
        { "pay", "1300",
          "Failed to Complete Transaction, Unknown"
          " Exception" },
        { "deposit", "2700", "Failed to Complete Deposit" },
        { "deposit", "1005", "Failed Due to Insufficient Funds" },
    };
    struct fixture *fx = *state;
    char sql[320];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct queue_job job = job_in(fx, cases[i].kind, "pending");
        struct callback_item it =
            callback(cases[i].kind, job.txn_id, "failure", cases[i].code);

        assert_string_equal(store1(fx, &it), "applied");
        assert_string_equal(job_state(fx, job.id), "failed");
        assert_string_equal(attempt_outcome(fx, job.attempt_id), "failed");
        snprintf(sql, sizeof(sql),
                 "select count(*) from jobs j join attempts a on a.job_id"
                 " = j.id where j.id = %lld and j.last_code = '%s' and"
                 " j.last_message = '%s' and a.response_code = '%s' and"
                 " j.finished_at is not null and a.finished_at is not"
                 " null",
                 job.id, cases[i].code, cases[i].description, cases[i].code);
        assert_int_equal(count(fx, sql), 1);
    }
}

/* A failure without a code that proves nothing moved changes nothing,
 * and a person is asked to look. */
static void reconcile_undocumented_code_flags_job(void **state)
{
    static const char *const codes[] = { "9999", NULL, "01", "1000", "2400" };
    struct fixture *fx = *state;
    char sql[256];
    size_t i;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        struct queue_job job = job_in(fx, "pay", "pending");
        struct callback_item it =
            callback("pay", job.txn_id, "failure", codes[i]);

        assert_string_equal(store1(fx, &it), "unknown_status");
        assert_string_equal(job_state(fx, job.id), "pending review");
        assert_string_equal(attempt_outcome(fx, job.attempt_id), "pending");
        snprintf(sql, sizeof(sql),
                 "select count(*) from jobs where id = %lld and"
                 " review_reason like 'callback %lld: %%'",
                 job.id, it.callback_id);
        assert_int_equal(count(fx, sql), 1);
    }
}

static void reconcile_pending_changes_nothing(void **state)
{
    struct fixture *fx = *state;
    struct queue_job job = job_in(fx, "pay", "pending");
    struct callback_item it = callback("pay", job.txn_id, "pending", "1000");

    assert_string_equal(store1(fx, &it), "unknown_status");
    assert_string_equal(job_state(fx, job.id), "pending");
    assert_string_equal(attempt_outcome(fx, job.attempt_id), "pending");
}

static void reconcile_unclear_flags_job(void **state)
{
    struct fixture *fx = *state;
    struct queue_job job = job_in(fx, "deposit", "pending");
    struct callback_item it = callback("deposit", job.txn_id, "unclear", "01");

    assert_string_equal(store1(fx, &it), "unknown_status");
    assert_string_equal(job_state(fx, job.id), "pending review");
    assert_string_equal(attempt_outcome(fx, job.attempt_id), "pending");
}

/* The provider sends the same callback again: one change, then
 * duplicates, each still stored and answered. */
static void reconcile_repeat_is_duplicate(void **state)
{
    struct fixture *fx = *state;
    struct queue_job ok = job_in(fx, "pay", "pending");
    struct queue_job no = job_in(fx, "pay", "pending");
    struct callback_item it = callback("pay", ok.txn_id, "success", "01");
    struct callback_item fail = callback("pay", no.txn_id, "failure", "1002");
    char sql[160];
    char stamp[512]; /* as long as text1()'s answer */

    assert_string_equal(store1(fx, &it), "applied");
    snprintf(sql, sizeof(sql),
             "select updated_at::text from jobs where id"
             " = %lld",
             ok.id);
    snprintf(stamp, sizeof(stamp), "%s", text1(fx, sql));
    assert_string_equal(store1(fx, &it), "duplicate");
    assert_string_equal(store1(fx, &it), "duplicate");
    assert_string_equal(text1(fx, sql), stamp); /* not touched */
    assert_string_equal(job_state(fx, ok.id), "succeeded");

    assert_string_equal(store1(fx, &fail), "applied");
    assert_string_equal(store1(fx, &fail), "duplicate");
    assert_string_equal(job_state(fx, no.id), "failed");
    assert_int_equal(count(fx, "select count(*) from callbacks"), 5);
    assert_int_equal(count(fx, "select count(*) from callbacks where"
                               " effect = 'applied'"),
                     2);
}

/* Repeats inside one batch are decided in order, each seeing the one
 * before: the first settles, the repeat is a duplicate, a contradiction
 * after them is a conflict; other jobs of the batch apply alongside. */
static void reconcile_repeats_in_one_batch(void **state)
{
    struct fixture *fx = *state;
    struct queue_job a = job_in(fx, "pay", "pending");
    struct queue_job b = job_in(fx, "pay", "pending");
    struct callback_item items[5];
    int i;

    items[0] = callback("pay", a.txn_id, "success", "01");
    items[1] = callback("pay", b.txn_id, "failure", "1002");
    items[2] = callback("pay", a.txn_id, "success", "01");
    items[3] = callback("pay", a.txn_id, "failure", "1002");
    items[4] = callback("pay", "TEST-999-1", "success", "01");
    assert_int_equal(callback_store_batch(fx->conn, items, 5), PAYQ_OK);
    for (i = 0; i < 5; i++) {
        assert_int_equal(items[i].err, PAYQ_OK);
        assert_true(items[i].callback_id > 0);
    }
    assert_string_equal(items[0].effect, "applied");
    assert_string_equal(items[1].effect, "applied");
    assert_string_equal(items[2].effect, "duplicate");
    assert_string_equal(items[3].effect, "conflict");
    assert_string_equal(items[4].effect, "unmatched");
    assert_string_equal(job_state(fx, a.id), "succeeded review");
    assert_string_equal(job_state(fx, b.id), "failed");
    /* Each item got its own row, and one transaction wrote them all. */
    assert_int_equal(count(fx, "select count(distinct id) from callbacks"), 5);
    assert_int_equal(count(fx, "select count(distinct xmin::text) from"
                               " callbacks"),
                     1);
    assert_true(items[0].callback_id < items[2].callback_id);
}

/* The callback beats the worker's record of its own request: the
 * callback stands, and the worker's late write is lost. */
static void reconcile_early_callback_beats_worker(void **state)
{
    struct fixture *fx = *state;
    struct queue_job ok = job_in(fx, "pay", "running");
    struct queue_job no = job_in(fx, "deposit", "running");
    struct queue_result succeeded = { .kind = QUEUE_RESULT_SUCCEEDED,
                                      .sent = true,
                                      .code = "01" };
    struct callback_item it = callback("pay", ok.txn_id, "success", "01");
    struct callback_item fail =
        callback("deposit", no.txn_id, "failure", "1002");

    assert_string_equal(store1(fx, &it), "applied");
    assert_string_equal(store1(fx, &fail), "applied");
    assert_int_equal(count(fx, "select count(*) from jobs where"
                               " lease_owner is null and lease_expires_at"
                               " is null"),
                     2);
    assert_int_equal(record(fx, &ok, PENDING), QUEUE_RECORD_LOST);
    assert_int_equal(record(fx, &no, succeeded), QUEUE_RECORD_LOST);
    assert_string_equal(job_state(fx, ok.id), "succeeded");
    assert_string_equal(attempt_outcome(fx, ok.attempt_id), "succeeded");
    assert_string_equal(job_state(fx, no.id), "failed");
    assert_string_equal(attempt_outcome(fx, no.attempt_id), "failed");
}

static void reconcile_unmatched_is_stored(void **state)
{
    struct fixture *fx = *state;
    struct callback_item it = callback("pay", "TEST-404-1", "success", "01");

    assert_string_equal(store1(fx, &it), "unmatched");
    assert_int_equal(count(fx, "select count(*) from callbacks where"
                               " effect = 'unmatched' and job_id is null"
                               " and attempt_id is null and"
                               " request_txn_id = 'TEST-404-1'"),
                     1);
}

static void reconcile_wrong_endpoint_is_rejected(void **state)
{
    struct fixture *fx = *state;
    struct queue_job pay = job_in(fx, "pay", "pending");
    struct queue_job dep = job_in(fx, "deposit", "pending");
    struct callback_item a = callback("deposit", pay.txn_id, "success", "01");
    struct callback_item b = callback("pay", dep.txn_id, "success", "01");

    assert_string_equal(store1(fx, &a), "rejected");
    assert_string_equal(store1(fx, &b), "rejected");
    assert_string_equal(job_state(fx, pay.id), "pending");
    assert_string_equal(job_state(fx, dep.id), "pending");
}

/* The URL's id is the authenticated one; a body naming another id, or
 * none, is not believed. */
static void reconcile_body_id_must_match_url(void **state)
{
    struct fixture *fx = *state;
    struct queue_job job = job_in(fx, "pay", "pending");
    struct callback_item other = callback("pay", job.txn_id, "success", "01");
    struct callback_item none = callback("pay", job.txn_id, "success", "01");
    struct callback_item no_id = callback("pay", NULL, "success", "01");

    other.body_txn_id = "TEST-1-9";
    none.body_txn_id = NULL;
    assert_string_equal(store1(fx, &other), "rejected");
    assert_string_equal(store1(fx, &none), "rejected");
    assert_string_equal(store1(fx, &no_id), "rejected");
    assert_string_equal(job_state(fx, job.id), "pending");
    assert_int_equal(count(fx, "select count(*) from callbacks where"
                               " effect = 'rejected'"),
                     3);
}

/* What contradicts a final state is kept and flagged, never applied. */
static void reconcile_contradiction_is_flagged(void **state)
{
    struct fixture *fx = *state;
    struct queue_job won = job_in(fx, "pay", "succeeded");
    struct queue_job lost = job_in(fx, "pay", "failed");
    struct queue_job gone;
    struct queue_result release = { .kind = QUEUE_RESULT_RELEASE };
    struct queue_ops_result res;
    struct callback_item a = callback("pay", won.txn_id, "failure", "1002");
    struct callback_item b = callback("pay", lost.txn_id, "success", "01");
    struct callback_item c;
    struct callback_item d;
    char sql[200];

    /* Cancelled: claimed, released unsent, then cancelled. */
    add_jobs(fx, "pay", 1);
    assert_int_equal(claim(fx, "w1", 1, &gone), 1);
    assert_int_equal(record(fx, &gone, release), QUEUE_RECORDED);
    assert_int_equal(queue_ops_cancel_job(fx->conn, gone.id, "ops", &res),
                     PAYQ_OK);
    assert_int_equal(res.outcome, QUEUE_OPS_CHANGED);
    c = callback("pay", gone.txn_id, "success", "01");
    d = callback("pay", gone.txn_id, "failure", "1002");

    assert_string_equal(store1(fx, &a), "conflict");
    assert_string_equal(store1(fx, &b), "conflict");
    assert_string_equal(store1(fx, &c), "conflict");
    assert_string_equal(store1(fx, &d), "conflict");
    assert_string_equal(job_state(fx, won.id), "succeeded review");
    assert_string_equal(job_state(fx, lost.id), "failed review");
    assert_string_equal(job_state(fx, gone.id), "cancelled review");
    assert_string_equal(attempt_outcome(fx, lost.attempt_id), "failed");
    snprintf(sql, sizeof(sql),
             "select count(*) from jobs where id = %lld and last_code ="
             " '01' and review_reason like 'callback %lld: %%'",
             won.id, a.callback_id);
    assert_int_equal(count(fx, sql), 1);
}

/* Attempt 1 failed and a retry made attempt 2: attempt 1's callback may
 * confirm its failure, but its success contradicts what was done. */
static void reconcile_replaced_attempt_conflicts(void **state)
{
    struct fixture *fx = *state;
    struct queue_job first = job_in(fx, "pay", "failed");
    struct queue_job second;
    struct queue_ops_result res;
    struct callback_item agree =
        callback("pay", first.txn_id, "failure", "1002");
    struct callback_item stale =
        callback("pay", first.txn_id, "pending", "1000");
    struct callback_item late = callback("pay", first.txn_id, "success", "01");

    assert_int_equal(queue_ops_retry(fx->conn, first.id, "ops", &res), PAYQ_OK);
    assert_int_equal(res.outcome, QUEUE_OPS_CHANGED);
    assert_int_equal(claim(fx, "w1", 1, &second), 1);
    assert_int_equal(second.attempt_no, 2);
    assert_int_equal(record(fx, &second, PENDING), QUEUE_RECORDED);

    assert_string_equal(store1(fx, &agree), "duplicate");
    assert_string_equal(job_state(fx, first.id), "pending");
    /* Still pending at the provider: it may yet move money twice. */
    assert_string_equal(store1(fx, &stale), "conflict");
    assert_string_equal(job_state(fx, first.id), "pending review");
    assert_string_equal(store1(fx, &late), "conflict");
    assert_string_equal(job_state(fx, first.id), "pending review");
    assert_string_equal(attempt_outcome(fx, first.attempt_id), "failed");
    assert_string_equal(attempt_outcome(fx, second.attempt_id), "pending");
}

/* A systemic refusal closed attempt 1 as not executed: a success for it
 * means money moved that we believed never left. */
static void reconcile_success_for_closed_attempt_conflicts(void **state)
{
    struct fixture *fx = *state;
    struct queue_result refused = { .kind = QUEUE_RESULT_NOT_EXECUTED,
                                    .sent = true,
                                    .code = "0005",
                                    .delay_ms = 3600000 };
    struct queue_job job;
    struct callback_item it;

    add_jobs(fx, "pay", 1);
    assert_int_equal(claim(fx, "w1", 1, &job), 1);
    assert_int_equal(record(fx, &job, refused), QUEUE_RECORDED);
    it = callback("pay", job.txn_id, "success", "01");
    assert_string_equal(store1(fx, &it), "conflict");
    assert_string_equal(job_state(fx, job.id), "queued review");
    assert_string_equal(attempt_outcome(fx, job.attempt_id), "not_executed");
}

static void reconcile_amount_mismatch_conflicts(void **state)
{
    struct fixture *fx = *state;
    struct queue_job job = job_in(fx, "pay", "pending");
    struct callback_item wrong = callback("pay", job.txn_id, "success", "01");
    struct callback_item right = callback("pay", job.txn_id, "success", "01");

    wrong.has_amount = true;
    wrong.amount = 999;
    right.has_amount = true;
    right.amount = 1000;
    assert_string_equal(store1(fx, &wrong), "conflict");
    assert_string_equal(job_state(fx, job.id), "pending review");
    assert_string_equal(attempt_outcome(fx, job.attempt_id), "pending");
    assert_string_equal(store1(fx, &right), "applied");
    assert_string_equal(job_state(fx, job.id), "succeeded review");
}

/* No callback in time made them unknown; a late one still settles. */
static void reconcile_late_callback_resolves_unknown(void **state)
{
    struct fixture *fx = *state;
    struct queue_job ok = job_in(fx, "pay", "unknown");
    struct queue_job no = job_in(fx, "deposit", "unknown");
    struct callback_item a = callback("pay", ok.txn_id, "success", "01");
    struct callback_item b = callback("deposit", no.txn_id, "failure", "1002");

    assert_string_equal(attempt_outcome(fx, ok.attempt_id), "unknown");
    assert_string_equal(store1(fx, &a), "applied");
    assert_string_equal(store1(fx, &b), "applied");
    assert_string_equal(job_state(fx, ok.id), "succeeded");
    assert_string_equal(attempt_outcome(fx, ok.attempt_id), "succeeded");
    assert_string_equal(job_state(fx, no.id), "failed");
    assert_string_equal(attempt_outcome(fx, no.attempt_id), "failed");
}

/* Queued with its attempt open, waiting to be probed: settled, and the
 * probe is no longer due. */
static void reconcile_settles_job_awaiting_probe(void **state)
{
    struct fixture *fx = *state;
    struct queue_job job = job_in(fx, "pay", "queued");
    struct callback_item it = callback("pay", job.txn_id, "success", "01");

    assert_string_equal(attempt_outcome(fx, job.attempt_id), "open");
    assert_string_equal(store1(fx, &it), "applied");
    assert_string_equal(job_state(fx, job.id), "succeeded");
    testdb_exec_ok(fx->conn, "update jobs set run_at = now()");
    assert_int_equal(claim(fx, "w1", 1, &job), 0);
}

/* Deposits are matched by the body's transactionid; the body's
 * requesttransactionid is the provider's. */
static void reconcile_deposit_matches_body_txn(void **state)
{
    struct fixture *fx = *state;
    struct queue_job job = job_in(fx, "deposit", "pending");
    struct callback_item it = callback("deposit", job.txn_id, "success", "01");
    char sql[160];

    it.provider_txn_id = "req_66b07f35025c42.26469791";
    assert_string_equal(store1(fx, &it), "applied");
    snprintf(sql, sizeof(sql),
             "select count(*) from jobs where id = %lld and state ="
             " 'succeeded' and provider_txn_id = '%s'",
             job.id, it.provider_txn_id);
    assert_int_equal(count(fx, sql), 1);
}

/* n pending pay jobs, claimed and recorded as the workers would. */
static void pending_jobs(struct fixture *fx, struct queue_job *jobs, int n)
{
    int done = 0;
    int i;

    add_jobs(fx, "pay", n);
    while (done < n) {
        int got = claim(fx, "w1", QUEUE_CLAIM_MAX, jobs + done);

        assert_true(got > 0);
        for (i = done; i < done + got; i++)
            assert_int_equal(record(fx, &jobs[i], PENDING), QUEUE_RECORDED);
        done += got;
    }
}

/* One item the table refuses (a body past 16384 bytes) fails alone; the
 * other 199 of its batch are stored. */
static void reconcile_batch_isolates_poisoned_item(void **state)
{
    enum { POISON = 77 };
    struct fixture *fx = *state;
    struct queue_job *jobs = calloc(MANY, sizeof(*jobs));
    struct callback_item *items = calloc(MANY, sizeof(*items));
    char *big = calloc(1, 16385);
    int i;

    assert_non_null(jobs);
    assert_non_null(items);
    assert_non_null(big);
    memset(big, 'x', 16385);
    pending_jobs(fx, jobs, MANY);
    for (i = 0; i < MANY; i++)
        items[i] = callback("pay", jobs[i].txn_id, "success", "01");
    items[POISON].body = big;
    items[POISON].body_len = 16385;

    assert_int_equal(callback_store_batch(fx->conn, items, MANY), PAYQ_ERR_DB);
    for (i = 0; i < MANY; i++) {
        assert_int_equal(items[i].err, i == POISON ? PAYQ_ERR_DB : PAYQ_OK);
        assert_string_equal(items[i].effect, i == POISON ? "" : "applied");
    }
    assert_int_equal(count(fx, "select count(*) from callbacks"), MANY - 1);
    assert_int_equal(count(fx, "select count(*) from jobs where state ="
                               " 'succeeded'"),
                     MANY - 1);
    assert_string_equal(job_state(fx, jobs[POISON].id), "pending");
    free(big);
    free(items);
    free(jobs);
}

/* Without poison the whole batch is one transaction: one commit. */
static void reconcile_batch_commits_once(void **state)
{
    struct fixture *fx = *state;
    struct queue_job *jobs = calloc(MANY, sizeof(*jobs));
    struct callback_item *items = calloc(MANY, sizeof(*items));
    int i;

    assert_non_null(jobs);
    assert_non_null(items);
    pending_jobs(fx, jobs, MANY);
    for (i = 0; i < MANY; i++)
        items[i] = callback("pay", jobs[i].txn_id, "success", "01");
    assert_int_equal(callback_store_batch(fx->conn, items, MANY), PAYQ_OK);
    /* One xmin for every row: they were written by one transaction. */
    assert_int_equal(count(fx, "select count(distinct xmin::text) from"
                               " callbacks"),
                     1);
    assert_int_equal(count(fx, "select count(*) from callbacks where"
                               " effect = 'applied'"),
                     MANY);
    for (i = 0; i < MANY; i++)
        assert_int_equal(items[i].err, PAYQ_OK);
    free(items);
    free(jobs);
}

/* A job row locked elsewhere past lock_timeout fails only its own item;
 * sent again once the lock is gone, it applies. */
static void reconcile_locked_row_fails_only_its_item(void **state)
{
    struct fixture *fx = *state;
    struct queue_job jobs[5];
    struct callback_item items[5];
    PGconn *holder = testdb_connect(&fx->db);
    char sql[96];
    int i;

    pending_jobs(fx, jobs, 5);
    for (i = 0; i < 5; i++)
        items[i] = callback("pay", jobs[i].txn_id, "success", "01");
    testdb_exec_ok(holder, "begin");
    snprintf(sql, sizeof(sql),
             "select 1 from jobs where id = %lld for"
             " update",
             jobs[2].id);
    testdb_exec_ok(holder, sql);
    testdb_exec_ok(fx->conn, "set lock_timeout = '200ms'");

    assert_int_equal(callback_store_batch(fx->conn, items, 5), PAYQ_ERR_DB);
    for (i = 0; i < 5; i++)
        assert_int_equal(items[i].err, i == 2 ? PAYQ_ERR_DB : PAYQ_OK);
    assert_int_equal(count(fx, "select count(*) from callbacks"), 4);
    testdb_exec_ok(holder, "rollback");
    assert_string_equal(store1(fx, &items[2]), "applied");
    assert_string_equal(job_state(fx, jobs[2].id), "succeeded");
    PQfinish(holder);
}

static void reconcile_needs_idle_connection(void **state)
{
    struct fixture *fx = *state;
    struct queue_job job = job_in(fx, "pay", "pending");
    struct callback_item it = callback("pay", job.txn_id, "success", "01");

    assert_int_equal(callback_store_batch(fx->conn, &it, 0), PAYQ_OK);
    testdb_exec_ok(fx->conn, "begin");
    assert_int_equal(callback_store_batch(fx->conn, &it, 1), PAYQ_ERR_USAGE);
    assert_int_equal(it.err, PAYQ_ERR_USAGE);
    testdb_exec_ok(fx->conn, "rollback");
    assert_int_equal(count(fx, "select count(*) from callbacks"), 0);
}

struct racer {
    const struct testdb *db;
    const struct queue_job *jobs;
    int first_batch; /* racers start at different batches */
    enum payq_err err;
    int stored;
};

static int by_txn(const void *a, const void *b)
{
    const struct callback_item *x = a;
    const struct callback_item *y = b;

    return strcmp(x->txn_id, y->txn_id);
}

/* Stores a success for every job, RACE_BATCH per batch, in txn order. */
static void *race(void *arg)
{
    struct racer *r = arg;
    PGconn *conn = PQconnectdb(r->db->conninfo);
    struct callback_item items[RACE_BATCH];
    int b;
    int i;

    for (b = 0; b < RACE_JOBS / RACE_BATCH; b++) {
        int base = (b + r->first_batch) % (RACE_JOBS / RACE_BATCH);

        for (i = 0; i < RACE_BATCH; i++)
            items[i] = callback("pay", r->jobs[base * RACE_BATCH + i].txn_id,
                                "success", "01");
        qsort(items, RACE_BATCH, sizeof(items[0]), by_txn);
        if (callback_store_batch(conn, items, RACE_BATCH) != PAYQ_OK &&
            r->err == PAYQ_OK)
            r->err = PAYQ_ERR_DB;
        for (i = 0; i < RACE_BATCH; i++)
            r->stored += items[i].err == PAYQ_OK;
    }
    PQfinish(conn);
    return NULL;
}

/* The same callbacks from four connections at once: each job is settled
 * by exactly one of them, and the rest see it done. */
static void reconcile_concurrent_batches_apply_once(void **state)
{
    struct fixture *fx = *state;
    struct queue_job jobs[RACE_JOBS];
    struct racer racers[RACERS];
    pthread_t threads[RACERS];
    FILE *log = tmpfile();
    char line[LOG_LINE_MAX];
    int i;

    assert_non_null(log);
    pending_jobs(fx, jobs, RACE_JOBS);
    /* Batches lock rows in txn order under the job lock: none may fail
     * and fall back, which would only hide a lost race. */
    log_init(fileno(log), LOG_LEVEL_WARN);
    for (i = 0; i < RACERS; i++) {
        racers[i] =
            (struct racer){ .db = &fx->db, .jobs = jobs, .first_batch = i % 2 };
        assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]),
                         0);
    }
    for (i = 0; i < RACERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(racers[i].err, PAYQ_OK);
        assert_int_equal(racers[i].stored, RACE_JOBS);
    }
    log_init(2, LOG_LEVEL_ERROR);
    rewind(log);
    while (fgets(line, sizeof(line), log) != NULL) {
        fputs(line, stderr);
        assert_null(strstr(line, "batch failed"));
    }
    fclose(log);
    assert_int_equal(count(fx, "select count(*) from callbacks"),
                     RACERS * RACE_JOBS);
    assert_int_equal(count(fx, "select count(*) from (select job_id from"
                               " callbacks group by job_id having"
                               " count(*) filter (where effect ="
                               " 'applied') = 1 and count(*) filter"
                               " (where effect = 'duplicate') = 3) ok"),
                     RACE_JOBS);
    assert_int_equal(count(fx, "select count(*) from jobs where state ="
                               " 'succeeded' and not needs_review"),
                     RACE_JOBS);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(reconcile_success_settles_pending_job),
        T(reconcile_documented_failure_fails_job),
        T(reconcile_undocumented_code_flags_job),
        T(reconcile_pending_changes_nothing),
        T(reconcile_unclear_flags_job),
        T(reconcile_repeat_is_duplicate),
        T(reconcile_repeats_in_one_batch),
        T(reconcile_early_callback_beats_worker),
        T(reconcile_unmatched_is_stored),
        T(reconcile_wrong_endpoint_is_rejected),
        T(reconcile_body_id_must_match_url),
        T(reconcile_contradiction_is_flagged),
        T(reconcile_replaced_attempt_conflicts),
        T(reconcile_success_for_closed_attempt_conflicts),
        T(reconcile_amount_mismatch_conflicts),
        T(reconcile_late_callback_resolves_unknown),
        T(reconcile_settles_job_awaiting_probe),
        T(reconcile_deposit_matches_body_txn),
        T(reconcile_batch_isolates_poisoned_item),
        T(reconcile_batch_commits_once),
        T(reconcile_locked_row_fails_only_its_item),
        T(reconcile_needs_idle_connection),
        T(reconcile_concurrent_batches_apply_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
