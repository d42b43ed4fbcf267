/*
 * The admin port, for tests and people watching a rehearsal; never for
 * the payq client. Bind it to loopback.
 *
 *   GET  /_sim/ledger            totals and every transaction, in the
 *                                order first seen (sim/listing.h)
 *   GET  /_sim/ledger?id=ID      totals and that one transaction
 *   GET  /_sim/ledger?from=N&limit=M
 *                                totals and M transactions from the
 *                                N-th (0 is the first)
 *   POST /_sim/reset             forget every transaction, refill float
 *
 * It listens on loopback only (sim_config_check() refuses other
 * addresses): it can reset the ledger, and it shows phone numbers.
 *
 * One polling thread serves it; handlers only take the ledger's lock,
 * and a listing holds it for one part at a time.
 */
#ifndef PAYQ_SIM_ADMIN_H
#define PAYQ_SIM_ADMIN_H

#include "core/err.h"
#include "sim/config.h"
#include "sim/ledger.h"

struct sim_admin;

/*
 * Listens on cfg->admin and serves ledger, which must outlive the admin
 * server. Returns PAYQ_OK with *out set, or PAYQ_ERR_IO (logged) /
 * PAYQ_ERR_NOMEM. The caller stops it with sim_admin_stop().
 */
PAYQ_MUST_USE enum payq_err sim_admin_start(const struct sim_config *cfg,
                                            struct sim_ledger *ledger,
                                            struct sim_admin **out);

/* Returns the port listened on. */
unsigned sim_admin_port(const struct sim_admin *admin);

/* Stops the admin server and frees it. */
void sim_admin_stop(struct sim_admin *admin);

#endif
