/*
 * Runs a program (normally build/payq) as a child process and captures
 * what it writes, for black-box tests of the command line.
 */
#ifndef PAYQ_TESTS_PROC_H
#define PAYQ_TESTS_PROC_H

#include <stddef.h>

#include "core/buf.h"

/* Most output captured from each stream; more fails the test. */
#define PROC_OUTPUT_MAX (1024 * 1024)

struct proc_result {
    int exit_code;  /* exit status, or 128 + signal number */
    struct buf out; /* standard output */
    struct buf err; /* standard error */
};

/*
 * Runs argv[0] with arguments argv (NULL-terminated). env lists changes to
 * this process's environment for the child: "NAME=value" sets, "NAME"
 * alone unsets; NULL-terminated, or NULL for none. Standard input is
 * /dev/null. Fails the test if the program cannot be started.
 */
void proc_run(const char *const *argv, const char *const *env,
              struct proc_result *res);

/*
 * Starts argv[0] in the background with the same environment changes as
 * proc_run(); its output goes to log_path (created or truncated). Returns
 * its pid; fails the test if it cannot be started.
 */
int proc_start(const char *const *argv, const char *const *env,
               const char *log_path);

/* Waits for pid to exit; returns its status as proc_run() reports it. */
int proc_wait(int pid);

/* Frees the captured output. */
void proc_result_cleanup(struct proc_result *res);

/*
 * Reads a small file (a log a child wrote) whole into out, cut to
 * size - 1 bytes and NUL-terminated; fails the test if it cannot.
 */
void proc_read_text(const char *path, char *out, size_t size);

/* Path of the payq binary under test (set by CMake). */
const char *proc_payq_path(void);

#endif
