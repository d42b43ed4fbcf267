/*
 * The admin port's GET /_sim/ledger body: the ledger's totals and its
 * transactions as one JSON object, written a part at a time so that a
 * ledger of millions of ids is listed without building it in memory.
 *
 *   {"totals":{...},"transactions":[{...},...],"truncated":false}
 *
 * The totals are taken when the listing is created, and the listing
 * covers the ids seen by then; each transaction is copied as it is when
 * its part is written (the ledger's lock is held for one part, never
 * between parts). "truncated" is true when a limit cut the list short,
 * or when the ledger was reset while it was being written.
 *
 * Threads: a listing belongs to the thread reading it; the ledger may be
 * used by others meanwhile.
 */
#ifndef PAYQ_SIM_LISTING_H
#define PAYQ_SIM_LISTING_H

#include <stddef.h>
#include <sys/types.h>

#include "sim/ledger.h"

struct sim_listing;

/*
 * Starts a listing of ledger, which must outlive it: of id's transaction
 * alone when id is not NULL, else of at most limit transactions (-1: all)
 * from the from-th one seen. NULL when out of memory. The caller frees
 * the result with sim_listing_destroy().
 */
struct sim_listing *sim_listing_create(struct sim_ledger *ledger,
                                       const char *id, long from, long limit);

/*
 * Writes the next bytes of the listing, at most size, to out. Returns how
 * many (more than 0 until the end), 0 at the end, -1 when out of memory.
 */
ssize_t sim_listing_read(struct sim_listing *listing, char *out, size_t size);

/* Frees the listing; NULL is allowed. */
void sim_listing_destroy(struct sim_listing *listing);

#endif
