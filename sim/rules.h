/*
 * The provider's validation rules for one request's values: amounts,
 * phone numbers, callback URLs and transaction ids. Pure functions of
 * their arguments; any thread.
 */
#ifndef PAYQ_SIM_RULES_H
#define PAYQ_SIM_RULES_H

#include <stdbool.h>

#include "sim/config.h"

/* Longest transaction id accepted, in bytes. */
#define SIM_ID_MAX 64

/* Longest callback URL accepted, in bytes. */
#define SIM_URL_MAX 2048

/* Which phone forms an endpoint accepts. */
enum sim_phone_form {
    SIM_PHONE_PAY,     /* 07XXXXXXXX, 2507XXXXXXXX */
    SIM_PHONE_DEPOSIT, /* the same, and 7XXXXXXXX */
};

/*
 * Parses a whole number of francs: an optional sign, at most 15 digits,
 * and optionally '.' and zeros ("1500.0" from a JSON real). False for
 * anything else, such as "15.5" or "abc".
 */
bool sim_rules_parse_amount(const char *text, long long *amount);

/*
 * Returns the decline code for amount (2100 not positive, 2200 below
 * --min-amount, 2300 above --max-amount), or NULL when it is acceptable.
 */
const char *sim_rules_check_amount(const struct sim_config *cfg,
                                   long long amount);

/*
 * Returns the decline code for phone: 1200 when it is not a number of an
 * accepted form (digits only, right length), 1100 when it is one on a
 * network other than MTN (078, 079) or Airtel (072, 073); NULL when
 * acceptable.
 */
const char *sim_rules_check_phone(const char *phone, enum sim_phone_form form);

/* True for an absolute http:// or https:// URL of sane length. */
bool sim_rules_valid_url(const char *url);

/* True for a transaction id of 1 to SIM_ID_MAX printable ASCII bytes. */
bool sim_rules_valid_id(const char *id);

/*
 * True for a deposit referenceid of 1 to SIM_ID_MAX bytes of UTF-8
 * without control characters (a school's own reference may hold
 * accented letters).
 */
bool sim_rules_valid_reference(const char *text);

#endif
