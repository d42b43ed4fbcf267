/*
 * Runs `payq work` as a child process against a test database and a
 * test simulator, and reads back what happened: its log, the jobs, and
 * the simulator's ledger. Shared by the worker pool's integration tests.
 */
#ifndef PAYQ_TESTS_WORK_H
#define PAYQ_TESTS_WORK_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "tests/support/sim.h"

/* The key of callback URL tokens every test worker gets. */
#define TESTWORK_CALLBACK_SECRET "test-callback-secret-0123456789"

/* Most extra arguments or environment entries testwork_start() takes. */
#define TESTWORK_EXTRA_MAX 24

struct testwork {
    int pid;           /* 0 when not running */
    char log_path[64]; /* its stdout and stderr */
};

/*
 * Starts `payq work` on database_url (a libpq connection string) against
 * sim, with test credentials, PAYQ_TXN_PREFIX=T, 1 s request timeouts,
 * fast backoff (100ms base, 1s cap), a 12 s lease and a 200 ms poll;
 * args (NULL-terminated, or NULL) come after those and may override
 * them; env entries ("NAME=value", NULL-terminated, or NULL) too.
 */
void testwork_start(struct testwork *w, const char *database_url,
                    const struct testsim *sim, const char *const *args,
                    const char *const *env);

/* Sends sig and waits; returns the exit status as proc_wait() does. */
int testwork_signal(struct testwork *w, int sig);

/* Waits for it to exit by itself; returns the exit status. */
int testwork_wait(struct testwork *w);

/* Kills it (SIGKILL) if running, and removes the log. */
void testwork_cleanup(struct testwork *w);

/* How many lines of its log contain needle. */
int testwork_log_count(const struct testwork *w, const char *needle);

/* How many lines of its log contain both a and b. */
int testwork_log_count2(const struct testwork *w, const char *a, const char *b);

/* Prints its log to stderr, to explain a failing test. */
void testwork_dump_log(const struct testwork *w);

/*
 * Polls sql (one boolean cell) every 50 ms until it is true or timeout_ms
 * passes; returns whether it became true.
 */
bool testwork_wait_sql(PGconn *conn, const char *sql, int timeout_ms);

/* Adds an approved batch of n jobs of kind, amount RWF each; its id. */
long long testwork_seed(PGconn *conn, const char *kind, int n,
                        long long amount);

/* The simulator's ledger, for checks of what it executed. */
struct testwork_ledger {
    int transactions; /* distinct ids it has seen */
    int executed;     /* ids executed at least once */
    int max_executed; /* most executions of one id: never above 1 */
    int attempts;     /* requests over all ids */
};

/* Reads the simulator's whole ledger; fails on error. */
void testwork_ledger(const struct testsim *sim, struct testwork_ledger *l);

/* What testwork_wait_ledger() counts. */
enum testwork_count {
    TESTWORK_REQUESTS, /* requests received (attempts) */
    TESTWORK_EXECUTED, /* ids executed */
};

/*
 * Waits, for 10 s at most, until the simulator's ledger counts n or
 * more of what; then dumps w's log (w may be NULL) and fails the test.
 */
void testwork_wait_ledger(const struct testsim *sim, const struct testwork *w,
                          enum testwork_count what, int n);

/*
 * Copies the simulator's ledger into the temporary table sim_ledger
 * (txn text primary key, executed int, status text, amount bigint,
 * callbacks_acked int: callbacks the receiver answered 200) of conn,
 * replacing an earlier copy, for checks that join it with attempts.
 */
void testwork_ledger_load(const struct testsim *sim, PGconn *conn);

/*
 * The check that matters for money: after testwork_ledger_load(), no job
 * has two attempts whose ids the simulator executed and did not fail (a
 * job paid twice), and no such id belongs to a job recorded as failed or
 * cancelled, or to an attempt closed as failed or not executed. Returns
 * how many jobs the ledger shows paid; fails the test on a violation.
 */
long long testwork_assert_paid_at_most_once(PGconn *conn);

/* A free loopback TCP port (nothing listens on it when returned). */
unsigned testwork_free_port(void);

#endif
