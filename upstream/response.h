/*
 * Defensive reading of the provider's answers.
 *
 * The parser never fails: whatever bytes arrive are described in a
 * struct upstream_response, down to "this was not JSON". Deciding what an
 * answer means is upstream/classify's job; this module only records what
 * the answer says, with every field's type checked:
 *
 *   responsecode   a string ("01", "1000") or an integer (1000), kept as
 *                  text; a number loses its leading zeros, so from_number
 *                  is set and classify restores the documented form.
 *   transactionid  a string or an integer, kept as text.
 *   status         any spelling; see enum upstream_status_word.
 *   success        true or false; anything else counts as absent.
 *   message        "message", else "statusdesc" (callbacks use that).
 *
 * The same fields appear in callbacks, so a callback receiver may use
 * upstream_response_parse() too.
 *
 * Threads: every function is safe to call from any thread.
 */
#ifndef PAYQ_UPSTREAM_RESPONSE_H
#define PAYQ_UPSTREAM_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Largest answer read; a longer body is unreadable, never a crash. */
#define UPSTREAM_BODY_MAX (64 * 1024)
/* Longest Retry-After honoured, in seconds (one hour). */
#define UPSTREAM_RETRY_AFTER_MAX 3600

/* Field sizes, terminator included. */
#define UPSTREAM_CODE_SIZE 16
#define UPSTREAM_STATUS_SIZE 32
#define UPSTREAM_MESSAGE_SIZE 256
#define UPSTREAM_ID_SIZE 65 /* ids up to 64 bytes, as attempts store them */
#define UPSTREAM_CURRENCY_SIZE 8

/* What the body as a whole turned out to be. */
enum upstream_body {
    UPSTREAM_BODY_OBJECT,     /* a JSON object; the fields are filled */
    UPSTREAM_BODY_EMPTY,      /* no bytes, or only white space */
    UPSTREAM_BODY_NOT_JSON,   /* not JSON (HTML, truncated, a PHP notice) */
    UPSTREAM_BODY_NOT_OBJECT, /* JSON, but not an object */
    UPSTREAM_BODY_TOO_LARGE,  /* more than UPSTREAM_BODY_MAX bytes */
};

/* A field that may be missing or of the wrong type. */
enum upstream_field {
    UPSTREAM_FIELD_ABSENT,
    UPSTREAM_FIELD_OK,
    UPSTREAM_FIELD_INVALID, /* present, but of a type or size not allowed */
};

/* The status text, reduced to what it claims. Case is ignored. */
enum upstream_status_word {
    UPSTREAM_STATUS_ABSENT,
    UPSTREAM_STATUS_SUCCESS, /* Successfull, Successful, success */
    UPSTREAM_STATUS_PENDING, /* Pending */
    UPSTREAM_STATUS_FAILURE, /* error, failed, failure, fail */
    UPSTREAM_STATUS_OTHER,   /* anything else: never read as success */
};

/* One answer, as a plain value: no pointers, nothing to free. */
struct upstream_response {
    enum upstream_body body;
    enum upstream_field code_field; /* responsecode */
    char code[UPSTREAM_CODE_SIZE];  /* as text; "" unless FIELD_OK */
    bool code_from_number;          /* code was a JSON number */
    enum upstream_status_word status_word;
    char status[UPSTREAM_STATUS_SIZE];      /* as sent, cut short if long */
    enum upstream_field success_field;      /* success */
    bool success;                           /* its value when FIELD_OK */
    char message[UPSTREAM_MESSAGE_SIZE];    /* cut at a character boundary */
    char provider_txn_id[UPSTREAM_ID_SIZE]; /* transactionid */
    char request_txn_id[UPSTREAM_ID_SIZE];  /* requesttransactionid */
    char reference_no[UPSTREAM_ID_SIZE];    /* referenceno */
    /*
     * The balance endpoint's amounts, whole RWF. balance_ok is set only
     * when all three are integers, or reals with no fraction, within
     * +-2^53 (where every whole franc is exact), and the currency, if
     * given, is three capital letters.
     */
    bool balance_ok;
    long long net_balance;                 /* net_balance */
    long long total_credits;               /* total_net_credits */
    long long total_debits;                /* total_net_debits */
    char currency[UPSTREAM_CURRENCY_SIZE]; /* "RWF" when not given */
    long long retry_after_s; /* Retry-After header, set by the client;
                              * -1 when absent or unreadable */
};

/* Empties resp: body EMPTY, every field absent, retry_after_s -1. */
void upstream_response_init(struct upstream_response *resp);

/*
 * Reads len bytes of body (need not be NUL-terminated; NULL when len is
 * 0) into resp, replacing what it held except retry_after_s. A UTF-8 byte
 * order mark and surrounding white space are ignored. Duplicate keys make
 * a body NOT_JSON: a second "responsecode" must not silently win.
 */
void upstream_response_parse(const char *body, size_t len,
                             struct upstream_response *resp);

/*
 * Reads a Retry-After header value: delay-seconds or an HTTP-date, judged
 * against now. Returns seconds to wait, 0 for a date in the past, capped
 * at UPSTREAM_RETRY_AFTER_MAX; -1 when value is NULL or unreadable.
 */
long long upstream_retry_after_parse(const char *value, time_t now);

/* Returns the name of word for logs ("success", "other"...). */
const char *upstream_status_word_name(enum upstream_status_word word);

#endif
