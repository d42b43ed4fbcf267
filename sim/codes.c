/* The reference's code tables, transcribed once. */
#include "sim/codes.h"

#include <stddef.h>
#include <string.h>

struct code_text {
    const char *code;
    const char *text;
};

/* pay_v2's table. */
static const struct code_text pay_codes[] = {
    { "1000", "Pending" },
    { "01", "Successfull" },
    { "0002", "Missing Username Information" },
    { "0003", "Missing Password Information" },
    { "0004", "Missing Date Information" },
    { "0005", "Invalid Password" },
    { "0006", "User Does not have an intouchPay Account" },
    { "0007", "No such user" },
    { "0008", "Failed to Authenticate" },
    { "2100", "Amount should be greater than 0" },
    { "2200", "Amount below minimum" },
    { "2300", "Amount above maximum" },
    { "2400", "Duplicate Transaction ID" },
    { "2500", "Route Not Found" },
    { "2600", "Operation Not Allowed" },
    { "2700", "Failed to Complete Transaction" },
    { "1005", "Failed Due to Insufficient Funds" },
    { "1002", "Mobile number not registered on mobile money" },
    { "1008", "General Failure" },
    { "1200", "Invalid Number" },
    { "1100", "Number not supported on this Mobile money network" },
    { "1300", "Failed to Complete Transaction, Unknown Exception" },
};

/* deposit's own table words these differently; the rest is shared. */
static const struct code_text deposit_codes[] = {
    { "2700", "Failed to Complete Deposit" },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *lookup(const struct code_text *table, size_t n,
                          const char *code)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(table[i].code, code) == 0)
            return table[i].text;
    return NULL;
}

const char *sim_codes_text(enum sim_codes_table table, const char *code)
{
    const char *text = NULL;

    if (code == NULL)
        return NULL;
    if (table == SIM_CODES_DEPOSIT)
        text = lookup(deposit_codes, COUNT(deposit_codes), code);
    if (text == NULL)
        text = lookup(pay_codes, COUNT(pay_codes), code);
    return text;
}

bool sim_codes_is_decline(const char *code)
{
    if (sim_codes_text(SIM_CODES_PAY, code) == NULL)
        return false;
    return strcmp(code, SIM_CODE_PENDING) != 0 &&
           strcmp(code, SIM_CODE_SUCCESS) != 0 &&
           strcmp(code, SIM_CODE_DUPLICATE) != 0;
}
