/*
 * A private PostgreSQL cluster of a test's own (scripts/pg-private), for
 * tests that stop and start the server under a running payq, which the
 * suite's shared server must never do.
 */
#ifndef PAYQ_TESTS_PGDIR_H
#define PAYQ_TESTS_PGDIR_H

struct testpg {
    char dir[64];  /* the cluster's directory, under /tmp */
    char url[256]; /* libpq connection string of its payq database */
};

/* Creates and starts a fresh cluster; fails the test if it cannot. */
void testpg_start_fresh(struct testpg *pg);

/* Runs scripts/pg-private ACTION ("stop", "start") on the cluster. */
void testpg_ctl(const struct testpg *pg, const char *action);

/* Runs `payq migrate` against it; fails the test unless it exits 0. */
void testpg_migrate(const struct testpg *pg);

/* Stops the cluster and removes its directory and log. */
void testpg_remove(struct testpg *pg);

#endif
