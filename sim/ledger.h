/*
 * The simulator's books: every transaction id it has seen, what each
 * request carrying it asked for, what was done with it, and the float
 * that pays deposits out and takes collections in.
 *
 * Pay and deposit share one id space, as on the real service. An id is
 * "registered" once the provider has taken it (executed, or declined by
 * the network); a registered id answers 2400 Duplicate Transaction ID for
 * ever after and is never executed again: the execute calls check and
 * register under the same lock. Ids seen only by requests answered HTTP
 * 500, 429 or 503 stay unregistered, so the client may resend them.
 *
 * The ledger is also the evidence tests use against payq: per id it
 * keeps the payment asked for (kind, phone, amount, and a deposit's
 * referenceid), how many requests carried the id (sends, refused resends
 * included) and how many of those differed from the first, and how many
 * times it was executed. Per deposit referenceid it counts the ids
 * executed for it, so one payout paid under two ids shows.
 *
 * Growth is bounded: past max_entries ids the ledger refuses new ones
 * (SIM_LEDGER_FULL; the server answers HTTP 500).
 *
 * Threads: every function may be called from any thread; one mutex in
 * the ledger guards all of it, except the event counters, which are
 * atomic.
 */
#ifndef PAYQ_SIM_LEDGER_H
#define PAYQ_SIM_LEDGER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "sim/rules.h"

struct sim_ledger;

enum sim_kind {
    SIM_KIND_PAY,
    SIM_KIND_DEPOSIT,
};

enum sim_status {
    SIM_STATUS_UNREGISTERED, /* seen, answered 500/429/503: may resend */
    SIM_STATUS_PENDING,      /* pay taken, final status not yet known */
    SIM_STATUS_SUCCESS,      /* "Successfull" */
    SIM_STATUS_FAILED,       /* declined, refused or failed late */
    SIM_STATUS_COUNT,
};

/* What a ledger call found. */
enum sim_ledger_result {
    SIM_LEDGER_OK,
    SIM_LEDGER_DUPLICATE, /* the id is already registered */
    SIM_LEDGER_FULL,      /* max_entries reached */
    SIM_LEDGER_NO_FUNDS,  /* deposit above the float; registered, failed */
    SIM_LEDGER_UNKNOWN,   /* no such id (the ledger was reset) */
    SIM_LEDGER_NOMEM,
};

/* Faults and refusals counted for the totals, whatever the id. */
enum sim_event {
    SIM_EVENT_DECLINED,           /* --decline */
    SIM_EVENT_HTTP500,            /* --http500 */
    SIM_EVENT_DROPPED,            /* --drop-after-execute */
    SIM_EVENT_SLOW,               /* --slow */
    SIM_EVENT_HTTP429,            /* --http429 */
    SIM_EVENT_HTTP503,            /* --http503 */
    SIM_EVENT_NO_FUNDS,           /* deposit beyond the float: 1005 */
    SIM_EVENT_LATE_FAILURE,       /* --late-failure */
    SIM_EVENT_LOST_CALLBACK,      /* --lose-callbacks */
    SIM_EVENT_DUPLICATE_CALLBACK, /* --duplicate-callbacks */
    SIM_EVENT_EARLY_CALLBACK,     /* --early-callbacks */
    SIM_EVENT_COUNT,
};

/* Longest phone kept, terminator included; the rules allow 12 digits. */
#define SIM_PHONE_SIZE 16

/* A request for a transaction, as the endpoints describe it. */
struct sim_ledger_req {
    const char *id; /* requesttransactionid or transactionid */
    enum sim_kind kind;
    long long amount;         /* whole RWF */
    long long charge;         /* deposit's withdrawcharge; 0 for pay */
    const char *phone;        /* phone or mobilephone, as sent */
    const char *referenceid;  /* deposit's referenceid; NULL for pay */
    const char *callback_url; /* where callbacks go; may be NULL */
    bool lose_callback;       /* settle, but never send a callback */
    long latency_ms;          /* latency planned for this request */
};

/* A copy of one transaction's record. A value type. */
struct sim_txn {
    char id[SIM_ID_MAX + 1];
    enum sim_kind kind;               /* of the first request */
    char phone[SIM_PHONE_SIZE];       /* as the first request sent it */
    char referenceid[SIM_ID_MAX + 1]; /* deposits; "" for pay */
    long long amount;
    long long charge;
    enum sim_status status;
    char code[8];                  /* last response code given, "" if none */
    long long provider_id;         /* 0 until registered */
    char reference[48];            /* provider reference number, "" if none */
    bool lose_callback;            /* its callback is dropped on purpose */
    unsigned sends;                /* requests that carried the id */
    unsigned resends_refused;      /* of them, answered 2400 */
    unsigned mismatches;           /* sends unlike the first (amount...) */
    unsigned executed;             /* times executed */
    unsigned reference_executions; /* deposits: ids executed for the
                                    * referenceid, this one included */
    long latency_ms;               /* planned latency of the registering send */
    unsigned callbacks_sent;       /* delivery attempts made */
    unsigned callbacks_acked;      /* attempts answered 200 */
};

/* Counts over the ledger for one kind. A value type. */
struct sim_kind_totals {
    long long count[SIM_STATUS_COUNT];  /* ids by status */
    long long amount[SIM_STATUS_COUNT]; /* their amounts */
};

/* The ledger's totals at one moment. A value type. */
struct sim_ledger_totals {
    unsigned long generation; /* changed by every sim_ledger_reset() */
    long long float_now;
    long long opening_float;
    long long transactions;              /* ids seen */
    long long sends;                     /* requests that reached the ledger */
    long long resends_refused;           /* sends answered 2400 */
    long long mismatches;                /* sends unlike their id's first */
    long long executed;                  /* executions over all ids */
    long long ids_executed_twice;        /* ids executed more than once */
    long long deposit_charges;           /* charges of successful deposits */
    long long references_executed;       /* distinct referenceids */
    long long references_executed_twice; /* under two ids or more */
    long long callbacks_sent;
    long long callbacks_acked;
    struct sim_kind_totals kind[2]; /* by enum sim_kind */
    long long events[SIM_EVENT_COUNT];
};

/*
 * Creates an empty ledger holding opening_float RWF. Returns NULL when
 * out of memory. The caller frees it with sim_ledger_destroy().
 */
struct sim_ledger *sim_ledger_create(long long opening_float, long max_entries);

/* Frees the ledger. No other thread may still use it. */
void sim_ledger_destroy(struct sim_ledger *ledger);

/*
 * Counts a send of req->id before anything is decided for it, keeping
 * req's payment when the id is new and counting a mismatch when it
 * differs from the one kept. Returns SIM_LEDGER_DUPLICATE when the id is
 * registered (a refused resend), SIM_LEDGER_FULL when a new id does not
 * fit; otherwise SIM_LEDGER_OK with *attempt set to the number of
 * earlier sends (0 the first time).
 */
PAYQ_MUST_USE enum sim_ledger_result
sim_ledger_attempt(struct sim_ledger *ledger, const struct sim_ledger_req *req,
                   unsigned *attempt);

/*
 * Registers req as declined with code, executing nothing.
 * SIM_LEDGER_DUPLICATE when another request registered the id first.
 */
PAYQ_MUST_USE enum sim_ledger_result
sim_ledger_decline(struct sim_ledger *ledger, const struct sim_ledger_req *req,
                   const char *code);

/*
 * Registers and executes req; writes the record into *out. A pay becomes
 * Pending with final_code ("01" or a failure) kept for
 * sim_ledger_settle(). A deposit settles at once: it debits amount +
 * charge from the float, or, when they exceed it, is registered as failed
 * 1005 and SIM_LEDGER_NO_FUNDS returned. SIM_LEDGER_DUPLICATE when the id
 * is already registered; nothing is executed then.
 */
PAYQ_MUST_USE enum sim_ledger_result
sim_ledger_execute(struct sim_ledger *ledger, const struct sim_ledger_req *req,
                   const char *final_code, struct sim_txn *out);

/*
 * Gives a Pending pay its final status (crediting the float on success);
 * a settled transaction is left as it is. Writes the record into *out.
 * SIM_LEDGER_UNKNOWN when the id is gone.
 */
PAYQ_MUST_USE enum sim_ledger_result
sim_ledger_settle(struct sim_ledger *ledger, const char *id,
                  struct sim_txn *out);

/* Notes a callback for id: one attempt made, and whether it got 200. */
void sim_ledger_note_callback(struct sim_ledger *ledger, const char *id,
                              bool acked);

/* Counts one event for the totals. Lock-free. */
void sim_ledger_note_event(struct sim_ledger *ledger, enum sim_event event);

/*
 * Writes the balance: credits are the opening float plus successful
 * pays, debits are deposits with their charges, net is the difference
 * (the float).
 */
void sim_ledger_balance(struct sim_ledger *ledger, long long *net,
                        long long *credits, long long *debits);

/* Writes the totals as they are now into *out. */
void sim_ledger_totals(struct sim_ledger *ledger,
                       struct sim_ledger_totals *out);

/*
 * Copies up to n records, from the from-th id in the order first seen
 * (0 is the first), into out. Returns how many were copied (0 past the
 * end) and writes the ledger's generation, which sim_ledger_reset()
 * changes, to *generation.
 */
size_t sim_ledger_copy(struct sim_ledger *ledger, long from, size_t n,
                       struct sim_txn *out, unsigned long *generation);

/* Copies id's record into *out; false when the ledger has no such id. */
bool sim_ledger_find(struct sim_ledger *ledger, const char *id,
                     struct sim_txn *out);

/* Forgets every transaction and restores the opening float. */
void sim_ledger_reset(struct sim_ledger *ledger);

/* Returns the status as the ledger listing and callbacks spell it. */
const char *sim_ledger_status_name(enum sim_status status);

/* Returns "pay" or "deposit". */
const char *sim_ledger_kind_name(enum sim_kind kind);

/* Returns the event's name in the listing ("http429"...). */
const char *sim_ledger_event_name(enum sim_event event);

#endif
