/*
 * Runs build/payq-sim as a child process for black-box tests: starts it
 * on free ports with known credentials, reads the ports from its
 * "payq-sim listening port=N admin_port=M" line, and stops it with
 * SIGTERM.
 */
#ifndef PAYQ_TESTS_SIM_H
#define PAYQ_TESTS_SIM_H

#include "core/buf.h"

/* The credentials every test simulator accepts. Distinctive, so that
 * any appearance in its log is a leak. */
#define TESTSIM_USERNAME "school-7"
#define TESTSIM_PASSWORD "pw-Kq93-sim-never-logged"
#define TESTSIM_KEY "key-Vt58-sim-never-logged"

/* Most extra arguments testsim_start() takes. */
#define TESTSIM_ARGS_MAX 64

struct testsim {
    int pid;             /* 0 when not running */
    unsigned port;       /* provider API */
    unsigned admin_port; /* /_sim/ledger, /_sim/reset */
    char log_path[64];   /* its stdout and stderr */
};

/*
 * Starts payq-sim with the test credentials, 127.0.0.1:0 for both ports,
 * and the extra arguments args (NULL-terminated; NULL for none). Waits
 * up to 10 s for the ports line; fails the test if it does not come.
 */
void testsim_start(struct testsim *sim, const char *const *args);

/*
 * Sends SIGTERM, waits, and returns the exit status (as proc_wait()
 * reports it). Leaves the log for testsim_read_log(). No-op returning -1
 * when not running.
 */
int testsim_stop(struct testsim *sim);

/* Reads everything the simulator has written so far into out. */
void testsim_read_log(const struct testsim *sim, struct buf *out);

/* Removes the log file. */
void testsim_cleanup(struct testsim *sim);

/* Path of the payq-sim binary under test (set by CMake). */
const char *testsim_path(void);

#endif
