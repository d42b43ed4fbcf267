/*
 * The one place that decides what an exchange with the provider means.
 *
 * Every send of a request transaction id ends in exactly one class. The
 * rules are tables in classify.c, tried in this order:
 *
 *   1. the transport: libcurl's result and how many request bytes left;
 *   2. the HTTP status: 429 and 503 throttle, 401 and 403 are systemic,
 *      other 5xx and 1xx/3xx are ambiguous;
 *   3. the documented response code, per kind (1005 differs), checked
 *      against the status text, success flag and HTTP status;
 *   4. known error messages of bodies without a code;
 *   5. other 4xx refusals; then anything left is ambiguous.
 *
 * The safety rule behind every row: a class that lets the worker start a
 * new transaction id (declined) needs proof that nothing moved, and a
 * class that records money as moved (succeeded) needs proof that it did.
 * Whatever proves neither is ambiguous, and ambiguity is settled only by
 * resending the same id, never a new one.
 */
#ifndef PAYQ_UPSTREAM_CLASSIFY_H
#define PAYQ_UPSTREAM_CLASSIFY_H

#include <stdbool.h>

#include "queue/job.h"
#include "upstream/response.h"

enum upstream_class {
    /* 1000 Pending, or 2400 on a resend: wait for the callback. */
    UPSTREAM_CLASS_ACCEPTED,
    /* 01: the money moved. */
    UPSTREAM_CLASS_SUCCEEDED,
    /* A definitive refusal; nothing moved: this attempt failed. */
    UPSTREAM_CLASS_DECLINED,
    /* No request byte left this host: send the same id again. */
    UPSTREAM_CLASS_NOT_SENT,
    /* It may have executed: resend the same id to probe, never a new. */
    UPSTREAM_CLASS_AMBIGUOUS,
    /* 2400 on a first send: the id is someone else's. Stop and alert. */
    UPSTREAM_CLASS_DUPLICATE_ID,
    /* Our setup or float is wrong; nothing executed: pause the work. */
    UPSTREAM_CLASS_SYSTEMIC,
    /* 429 or 503: slow down for retry_after_s, then send the same id. */
    UPSTREAM_CLASS_THROTTLED,
    UPSTREAM_CLASS_COUNT,
};

/* What a systemic outcome pauses (the scopes of table pool_pauses). */
enum upstream_pause {
    UPSTREAM_PAUSE_NONE, /* the class is not systemic */
    UPSTREAM_PAUSE_KIND, /* this kind only, e.g. payouts on a short float */
    UPSTREAM_PAUSE_ALL,  /* everything: credentials or access refused */
};

/* How the request fared on the wire, as the client observed it. */
struct upstream_transport {
    int curl_code;        /* CURLcode; 0 when an HTTP answer arrived */
    long long bytes_sent; /* request bytes handed to the socket */
};

/* One classified outcome. A plain value; reason points to static text. */
struct upstream_result {
    enum upstream_class cls;
    enum upstream_pause pause;     /* SYSTEMIC only */
    bool duplicate;                /* the answer was 2400, on any send */
    const char *reason;            /* short text for logs, never NULL */
    long http_status;              /* 0 when no HTTP answer */
    int curl_code;                 /* the transport's CURLcode */
    char code[UPSTREAM_CODE_SIZE]; /* responsecode, documented form */
    char message[UPSTREAM_MESSAGE_SIZE];
    char provider_txn_id[UPSTREAM_ID_SIZE];
    char reference_no[UPSTREAM_ID_SIZE];
    long long retry_after_s; /* THROTTLED: seconds asked; -1 none */
    long long duration_ms;   /* set by the client: request time */
};

/*
 * Classifies one send of a pay_v2 or deposit request. is_resend: this id
 * was handed to the transport before and that earlier send may have
 * reached the provider (it was classified anything but NOT_SENT). It
 * decides what 2400 means. http_status is 0 when none arrived; resp may
 * be NULL when no body was read. Pure: any thread.
 */
struct upstream_result
upstream_classify(enum job_kind kind, bool is_resend,
                  const struct upstream_transport *transport, long http_status,
                  const struct upstream_response *resp);

/*
 * Classifies an answer of the balance endpoint with the same transport,
 * HTTP and message rules. SUCCEEDED means resp holds a balance
 * (resp->balance_ok); SYSTEMIC means access was refused.
 */
struct upstream_result
upstream_classify_balance(const struct upstream_transport *transport,
                          long http_status,
                          const struct upstream_response *resp);

/* Returns the class's name for logs and metrics ("not_sent"...). */
const char *upstream_class_name(enum upstream_class cls);

/* Returns "none", "kind" or "all". */
const char *upstream_pause_name(enum upstream_pause pause);

#endif
