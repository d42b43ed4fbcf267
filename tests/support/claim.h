/*
 * The claim settings the integration tests share: every kind allowed, a
 * lease of a minute and transaction ids TEST-JOBID-N, so that a test
 * names only who claims and how many.
 */
#ifndef PAYQ_TESTS_CLAIM_H
#define PAYQ_TESTS_CLAIM_H

#include "queue/claim.h"

static inline struct queue_claim_opts testclaim_opts(const char *owner, int max)
{
    struct queue_claim_opts o = {
        .owner = owner,
        .prefix = "TEST",
        .lease_s = 60,
        .max = max,
        .pay = true,
        .deposit = true,
    };

    return o;
}

#endif
