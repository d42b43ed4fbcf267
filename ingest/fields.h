/*
 * Validators for the values of one CSV row: phone numbers, amounts,
 * references and free text. Pure functions, no allocation, any thread.
 *
 * Each returns NULL when the value is valid (and writes the canonical
 * form), or a short static description of the problem, phrased to follow
 * "FILE:LINE: COLUMN: " in an error message ("is not a phone number").
 * Inputs are NUL-terminated and already checked to be UTF-8 without NUL
 * bytes (see ingest_text_check). "Spaces" below means ASCII spaces and
 * tabs; a "control character" is U+0000 to U+001F, DEL or U+0080 to
 * U+009F.
 */
#ifndef PAYQ_INGEST_FIELDS_H
#define PAYQ_INGEST_FIELDS_H

#include <stddef.h>

/* Canonical phone "2507XXXXXXXX": 12 digits and the terminator. */
#define INGEST_PHONE_SIZE 13

/* Longest reference, in characters (not bytes). */
#define INGEST_REFERENCE_MAX 64

/* Default amount bounds in RWF (PAYQ_MIN_AMOUNT, PAYQ_MAX_AMOUNT). */
#define INGEST_AMOUNT_MIN_DEFAULT 1
#define INGEST_AMOUNT_MAX_DEFAULT 5000000

/*
 * Phone: 07XXXXXXXX, 7XXXXXXXX, 2507XXXXXXXX, +2507XXXXXXXX or
 * 002507XXXXXXXX, with ASCII spaces, dashes, dots, parentheses, U+00A0
 * and U+202F ignored anywhere, and '+' at most once, before any digit;
 * must be an MTN (078, 079) or Airtel (072, 073) mobile. Writes the
 * canonical 2507XXXXXXXX into out, or "" on a problem: "is empty", "is
 * not a phone number" (other characters or length), "is not a Rwandan
 * mobile number (078, 079, 072, 073)" (another prefix or country).
 */
const char *ingest_phone_parse(const char *text, char out[INGEST_PHONE_SIZE]);

/*
 * Amount: a positive whole number of francs within [min, max]. Accepts
 * surrounding spaces; thousands grouped by one of ',', ' ', U+00A0 or
 * U+202F (a first group of one to three digits not starting with '0',
 * then groups of exactly three); a decimal part of one or two zeros
 * after '.', or after ',' when ',' does not group ("1 500,00"). Writes
 * the value into *out, or 0 on a problem: "is empty", "is not a whole
 * number of francs" (anything else, "1e3", "+5", "1.000"), "is negative"
 * (a leading '-'), "has a fraction of a franc", "is too large" (over 18
 * digits), "must be positive", "is below the minimum", "is above the
 * maximum". No floating point.
 */
const char *ingest_amount_parse(const char *text, long long min, long long max,
                                long long *out);

/*
 * Withdraw charge of a deposit: empty or spaces mean 0; otherwise a whole
 * number of francs >= 0 in the same forms as an amount, at most max
 * ("is above the maximum"); other problems as for an amount. *out is 0
 * on a problem.
 */
const char *ingest_charge_parse(const char *text, long long max,
                                long long *out);

/*
 * Reference: after trimming surrounding spaces, 1 to INGEST_REFERENCE_MAX
 * characters (code points, not bytes), none of them a control character.
 * *start and *len always receive the trimmed span within text. Problems:
 * "is empty", "contains a control character", "is longer than 64
 * characters".
 */
const char *ingest_reference_check(const char *text, size_t *start,
                                   size_t *len);

/*
 * Any field's bytes: refuses a NUL byte ("contains a NUL byte") and
 * invalid UTF-8 ("is not valid UTF-8": overlong forms, surrogates, code
 * points past U+10FFFF, truncated sequences).
 */
const char *ingest_text_check(const char *bytes, size_t len);

/*
 * Required free text (reason, depositor name): non-empty after trimming
 * spaces ("is empty"), no control characters ("contains a control
 * character"), at most max_chars characters ("is too long").
 */
const char *ingest_required_text_check(const char *text, size_t max_chars);

#endif
