/*
 * The queue at a glance, for `payq status`: jobs and amounts by kind and
 * state, batches held or paused, the oldest ready job, pauses of the pool
 * and live workers. Read in one repeatable-read transaction so the figures
 * agree with each other.
 */
#ifndef PAYQ_QUEUE_STATUS_H
#define PAYQ_QUEUE_STATUS_H

#include <stdio.h>

#include <libpq-fe.h>

#include "core/err.h"
#include "queue/job.h"

#define QUEUE_STATUS_PAUSES_MAX 3 /* scopes: all, pay, deposit */

/* Seconds without a heartbeat after which a worker no longer counts. */
#define QUEUE_WORKER_LIVE_S 60

/* One scope paused by live workers (each process pauses on its own). */
struct queue_pause {
    char scope[16];    /* all, pay or deposit */
    char reason[200];  /* why, as the earliest of them recorded (cut) */
    long long age_s;   /* seconds since the earliest pause began */
    long long workers; /* live workers that have it paused */
};

struct queue_status {
    long long jobs[JOB_KIND_COUNT][JOB_STATE_COUNT];    /* counts */
    long long amounts[JOB_KIND_COUNT][JOB_STATE_COUNT]; /* RWF */
    long long batches;                                  /* all batches */
    long long batches_held;   /* waiting for payq approve */
    long long batches_paused; /* paused by an operator */
    long long oldest_ready_s; /* age of the oldest ready job; -1: none */
    long long live_workers;   /* heartbeat within QUEUE_WORKER_LIVE_S */
    long long unsent_jobs;    /* jobs whose last try never left payq */
    long long unsent_tries;   /* most such tries in a row of one job */
    struct queue_pause pauses[QUEUE_STATUS_PAUSES_MAX];
    int pause_count;
};

/*
 * Reads the status. The schema must be current. Pauses count only for
 * live workers: a process that stopped, or died, pauses nothing.
 */
PAYQ_MUST_USE enum payq_err queue_status_read(PGconn *conn,
                                              struct queue_status *st);

/* Writes st for a person: a table of jobs by kind and state, then notes. */
void queue_status_write(const struct queue_status *st, FILE *out);

#endif
