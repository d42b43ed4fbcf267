/*
 * Settings of the provider API client, read from the environment.
 *
 *   PAYQ_API_URL             base URL; default
 *                            https://payment.schooldream.co.rw/
 *   PAYQ_CA_FILE             PEM bundle to verify the provider with;
 *                            default: the system store
 *   PAYQ_CALLBACK_URL        sent as callbackurl with every collection
 *   PAYQ_CONNECT_TIMEOUT_MS  connect timeout; default 5000
 *   PAYQ_TIMEOUT_MS          whole-request timeout; default 30000
 *   PAYQ_DEPOSIT_PHONE_FORMAT  mobilephone form for payouts: local10
 *                            (0781234567, default), local9 (781234567)
 *                            or intl (250781234567)
 *
 * The base URL must be https. Plain http is accepted only to a loopback
 * address (127.0.0.0/8, ::1, localhost), where the simulator listens:
 * the request body carries the password and key, so it never crosses a
 * network in clear text. Everything else is refused here, at start-up,
 * rather than when the first payment is sent.
 */
#ifndef PAYQ_UPSTREAM_CONFIG_H
#define PAYQ_UPSTREAM_CONFIG_H

#include <stdbool.h>

#include "core/err.h"

#define UPSTREAM_DEFAULT_URL "https://payment.schooldream.co.rw/"
#define UPSTREAM_CONNECT_TIMEOUT_DEFAULT_MS 5000
#define UPSTREAM_TIMEOUT_DEFAULT_MS 30000
/* Largest timeout accepted, in milliseconds (ten minutes). */
#define UPSTREAM_TIMEOUT_MAX_MS 600000
/* Longest URL accepted, base or callback. */
#define UPSTREAM_URL_MAX 1024

/* How a phone number is written in a request. */
enum upstream_phone_form {
    UPSTREAM_PHONE_LOCAL10, /* 0781234567: the reference's examples */
    UPSTREAM_PHONE_LOCAL9,  /* 781234567: the deposit field table */
    UPSTREAM_PHONE_INTL,    /* 250781234567: the stored form */
};

/* A plain value; strings are owned and freed by upstream_config_cleanup. */
struct upstream_config {
    char *base_url;          /* validated, always ends in '/' */
    bool plain_http;         /* base_url is http to a loopback address */
    char *ca_file;           /* NULL: libcurl's default CA store */
    char *callback_url;      /* NULL when unset; may hold a token: never
                              * log it */
    long connect_timeout_ms; /* 1..UPSTREAM_TIMEOUT_MAX_MS */
    long timeout_ms;         /* connect_timeout_ms..UPSTREAM_TIMEOUT_MAX_MS */
    enum upstream_phone_form deposit_phone; /* mobilephone of payouts */
};

/* Fills cfg with the defaults above. Allocates nothing. */
void upstream_config_init(struct upstream_config *cfg);

/*
 * Applies the environment over the defaults in cfg. On failure logs what
 * is wrong, naming the variable, and returns PAYQ_ERR_CONFIG (or
 * PAYQ_ERR_NOMEM); cfg must still be released with
 * upstream_config_cleanup(). Start-up only: reads getenv().
 */
PAYQ_MUST_USE enum payq_err upstream_config_load(struct upstream_config *cfg);

/*
 * Validates url as a base URL (rules in the file comment) and stores a
 * copy ending in '/'. On failure logs why under the name origin (such as
 * "PAYQ_API_URL") and leaves cfg unchanged: PAYQ_ERR_CONFIG or
 * PAYQ_ERR_NOMEM.
 */
PAYQ_MUST_USE enum payq_err upstream_config_set_url(struct upstream_config *cfg,
                                                    const char *url,
                                                    const char *origin);

/* Returns the name of form as PAYQ_DEPOSIT_PHONE_FORMAT spells it. */
const char *upstream_phone_form_name(enum upstream_phone_form form);

/* Frees the strings; cfg returns to the defaults. */
void upstream_config_cleanup(struct upstream_config *cfg);

#endif
