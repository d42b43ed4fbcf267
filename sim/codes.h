/*
 * The provider's response codes and their descriptions, as the reference
 * tables spell them (its spelling "Successfull" included: clients match
 * on it).
 */
#ifndef PAYQ_SIM_CODES_H
#define PAYQ_SIM_CODES_H

#include <stdbool.h>

/* Codes the simulator itself answers with; see the reference's table. */
#define SIM_CODE_PENDING "1000"
#define SIM_CODE_SUCCESS "01"
#define SIM_CODE_NO_USERNAME "0002"
#define SIM_CODE_NO_PASSWORD "0003"
#define SIM_CODE_BAD_PASSWORD "0005"
#define SIM_CODE_NO_SUCH_USER "0007"
#define SIM_CODE_AMOUNT_ZERO "2100"
#define SIM_CODE_AMOUNT_LOW "2200"
#define SIM_CODE_AMOUNT_HIGH "2300"
#define SIM_CODE_DUPLICATE "2400"
#define SIM_CODE_NO_FUNDS "1005"
#define SIM_CODE_BAD_NUMBER "1200"
#define SIM_CODE_BAD_NETWORK "1100"

/* Which endpoint's table to read: deposit words 2700 differently. */
enum sim_codes_table {
    SIM_CODES_PAY,
    SIM_CODES_DEPOSIT,
};

/*
 * Returns the description of code in the given table, or NULL when the
 * reference does not list it. Static storage; any thread.
 */
const char *sim_codes_text(enum sim_codes_table table, const char *code);

/*
 * True when code may be injected with --decline: listed, and neither a
 * success (01), pending (1000) nor duplicate (2400, which only the ledger
 * decides).
 */
bool sim_codes_is_decline(const char *code);

#endif
