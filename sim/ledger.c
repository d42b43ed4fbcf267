/*
 * The ledger: entries in the order first seen, found through an
 * open-addressing hash table of their indexes; deposit referenceids in a
 * second table of the same kind.
 *
 * ledger->lock guards everything in struct sim_ledger but the event
 * counters: the entries, the references, both tables, the float, the
 * totals and the id counters. Each function takes it once and never
 * calls out while holding it.
 */
#include "sim/ledger.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"
#include "sim/codes.h"

/* First provider id handed out; ten digits, like the reference's. */
#define PROVIDER_ID_FIRST 6000000001LL

/* Smallest table, in slots; a power of two. */
#define SLOTS_MIN 1024

/* A deposit referenceid and how many ids executed for it. */
struct ref {
    unsigned executed;
    char text[]; /* NUL-terminated */
};

struct entry {
    enum sim_kind kind;
    long long amount;
    long long charge;
    unsigned sends;           /* requests that carried the id */
    unsigned resends_refused; /* of them, answered 2400 */
    unsigned mismatches;      /* sends unlike the first */
    unsigned executed;        /* times executed: 0 or 1, by design */
    enum sim_status status;
    char code[8];       /* last response code given */
    char final_code[8]; /* pay: the code its settlement gives */
    long long provider_id;
    char reference[48];
    char phone[SIM_PHONE_SIZE];
    long latency_ms;
    struct ref *ref;          /* deposits: its referenceid; not owned */
    char *callback_url;       /* owned; NULL when none */
    unsigned callbacks_sent;  /* delivery attempts made */
    unsigned callbacks_acked; /* attempts answered 200 */
    bool callback_lost;       /* dropped on purpose (--lose-callbacks) */
    char id[];                /* NUL-terminated */
};

/*
 * A hash table of indexes into an array of keyed items: slot values are
 * index + 1, 0 is empty; slot_count is a power of two over twice the
 * items.
 */
struct table {
    uint32_t *slots;
    size_t slot_count;
};

/* Where a table's keys come from: item i's key is key_of(items, i). */
typedef const char *(*key_fn)(void *const *items, uint32_t i);

struct sim_ledger {
    pthread_mutex_t lock;
    struct entry **entries; /* in the order first seen */
    long count;
    long cap;
    struct table ids;  /* over entries */
    struct ref **refs; /* deposit referenceids, in the order first seen */
    long ref_count;
    long ref_cap;
    struct table ref_table; /* over refs */
    long max_entries;
    unsigned long generation; /* bumped by every reset */
    long long opening_float;
    long long balance; /* the float now */
    long long next_provider_id;
    long long next_deposit_ref;
    struct sim_ledger_totals totals; /* but float and the events */
    atomic_llong events[SIM_EVENT_COUNT];
};

static uint64_t hash_key(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *key != '\0'; key++) {
        h ^= (unsigned char)*key;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t table_slot(const struct table *t, void *const *items,
                         key_fn key_of, const char *key)
{
    size_t mask = t->slot_count - 1;
    size_t i = (size_t)hash_key(key) & mask;

    while (t->slots[i] != 0 && strcmp(key_of(items, t->slots[i] - 1), key) != 0)
        i = (i + 1) & mask;
    return i;
}

static bool table_init(struct table *t)
{
    t->slots = mem_calloc(SLOTS_MIN, sizeof(*t->slots));
    t->slot_count = SLOTS_MIN;
    return t->slots != NULL;
}

/* Makes room for count + 1 items: doubles and places every item again. */
static bool table_reserve(struct table *t, void *const *items, key_fn key_of,
                          long count)
{
    size_t slot_count = t->slot_count * 2;
    uint32_t *slots;
    long i;

    if ((size_t)(count + 1) * 2 <= t->slot_count)
        return true;
    slots = mem_calloc(slot_count, sizeof(*slots));
    if (slots == NULL)
        return false;
    mem_free(t->slots);
    t->slots = slots;
    t->slot_count = slot_count;
    for (i = 0; i < count; i++)
        t->slots[table_slot(t, items, key_of, key_of(items, (uint32_t)i))] =
            (uint32_t)(i + 1);
    return true;
}

static const char *entry_key(void *const *items, uint32_t i)
{
    return ((struct entry *const *)items)[i]->id;
}

static const char *ref_key(void *const *items, uint32_t i)
{
    return ((struct ref *const *)items)[i]->text;
}

static struct entry *find(const struct sim_ledger *l, const char *id)
{
    size_t i = table_slot(&l->ids, (void *const *)l->entries, entry_key, id);

    return l->ids.slots[i] != 0 ? l->entries[l->ids.slots[i] - 1] : NULL;
}

/* Doubles an array of pointers; false when out of memory. */
static bool grow_array(void ***items, long *cap)
{
    long more = *cap > 0 ? *cap * 2 : 1024;
    void **grown = mem_realloc(*items, (size_t)more * sizeof(**items));

    if (grown == NULL)
        return false;
    *items = grown;
    *cap = more;
    return true;
}

/* Adds an unregistered entry for id; NULL when out of memory. */
static struct entry *add_entry(struct sim_ledger *l, const char *id)
{
    size_t n = strlen(id);
    struct entry *e;

    if (!table_reserve(&l->ids, (void *const *)l->entries, entry_key, l->count))
        return NULL;
    if (l->count == l->cap && !grow_array((void ***)&l->entries, &l->cap))
        return NULL;
    e = mem_calloc(1, sizeof(*e) + n + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->id, id, n + 1);
    e->status = SIM_STATUS_UNREGISTERED;
    l->entries[l->count] = e;
    l->ids
        .slots[table_slot(&l->ids, (void *const *)l->entries, entry_key, id)] =
        (uint32_t)(l->count + 1);
    l->count++;
    l->totals.transactions++;
    return e;
}

/* The record of referenceid text, added when new; NULL out of memory. */
static struct ref *find_ref(struct sim_ledger *l, const char *text)
{
    size_t n = strlen(text);
    size_t i;
    struct ref *r;

    if (!table_reserve(&l->ref_table, (void *const *)l->refs, ref_key,
                       l->ref_count))
        return NULL;
    i = table_slot(&l->ref_table, (void *const *)l->refs, ref_key, text);
    if (l->ref_table.slots[i] != 0)
        return l->refs[l->ref_table.slots[i] - 1];
    if (l->ref_count == l->ref_cap &&
        !grow_array((void ***)&l->refs, &l->ref_cap))
        return NULL;
    r = mem_calloc(1, sizeof(*r) + n + 1);
    if (r == NULL)
        return NULL;
    memcpy(r->text, text, n + 1);
    l->refs[l->ref_count] = r;
    l->ref_table.slots[i] = (uint32_t)(l->ref_count + 1);
    l->ref_count++;
    return r;
}

struct sim_ledger *sim_ledger_create(long long opening_float, long max_entries)
{
    struct sim_ledger *l = mem_calloc(1, sizeof(*l));
    int i;

    if (l == NULL)
        return NULL;
    if (!table_init(&l->ids) || !table_init(&l->ref_table)) {
        mem_free(l->ids.slots);
        mem_free(l->ref_table.slots);
        mem_free(l);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    l->max_entries = max_entries;
    l->opening_float = opening_float;
    l->balance = opening_float;
    l->next_provider_id = PROVIDER_ID_FIRST;
    l->next_deposit_ref = 1;
    for (i = 0; i < SIM_EVENT_COUNT; i++)
        atomic_init(&l->events[i], 0);
    return l;
}

static void free_entries(struct sim_ledger *l)
{
    while (l->count > 0) {
        struct entry *e = l->entries[--l->count];

        mem_free(e->callback_url);
        mem_free(e);
    }
    while (l->ref_count > 0)
        mem_free(l->refs[--l->ref_count]);
    memset(l->ids.slots, 0, l->ids.slot_count * sizeof(*l->ids.slots));
    memset(l->ref_table.slots, 0,
           l->ref_table.slot_count * sizeof(*l->ref_table.slots));
}

void sim_ledger_destroy(struct sim_ledger *ledger)
{
    if (ledger == NULL)
        return;
    free_entries(ledger);
    mem_free(ledger->entries);
    mem_free(ledger->refs);
    mem_free(ledger->ids.slots);
    mem_free(ledger->ref_table.slots);
    pthread_mutex_destroy(&ledger->lock);
    mem_free(ledger);
}

/* Moves e to status, keeping the totals right. */
static void set_status(struct sim_ledger *l, struct entry *e,
                       enum sim_status status)
{
    struct sim_kind_totals *t = &l->totals.kind[e->kind];

    if (e->status != SIM_STATUS_UNREGISTERED) {
        t->count[e->status]--;
        t->amount[e->status] -= e->amount;
    }
    e->status = status;
    t->count[status]++;
    t->amount[status] += e->amount;
}

static void copy_out(const struct entry *e, struct sim_txn *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", e->id);
    out->kind = e->kind;
    snprintf(out->phone, sizeof(out->phone), "%s", e->phone);
    if (e->ref != NULL) {
        snprintf(out->referenceid, sizeof(out->referenceid), "%s",
                 e->ref->text);
        out->reference_executions = e->ref->executed;
    }
    out->amount = e->amount;
    out->charge = e->charge;
    out->status = e->status;
    snprintf(out->code, sizeof(out->code), "%s", e->code);
    out->provider_id = e->provider_id;
    snprintf(out->reference, sizeof(out->reference), "%s", e->reference);
    out->lose_callback = e->callback_lost;
    out->sends = e->sends;
    out->resends_refused = e->resends_refused;
    out->mismatches = e->mismatches;
    out->executed = e->executed;
    out->latency_ms = e->latency_ms;
    out->callbacks_sent = e->callbacks_sent;
    out->callbacks_acked = e->callbacks_acked;
}

static bool same_text(const char *kept, const char *sent)
{
    return strcmp(kept, sent != NULL ? sent : "") == 0;
}

/* Does req ask for the payment e keeps? Caller holds the lock. */
static bool same_payment(const struct entry *e,
                         const struct sim_ledger_req *req)
{
    const char *ref = e->ref != NULL ? e->ref->text : "";

    return e->kind == req->kind && e->amount == req->amount &&
           e->charge == req->charge && same_text(e->phone, req->phone) &&
           same_text(ref, req->referenceid);
}

/*
 * Keeps req's payment in e, as its kind, amount, phone and referenceid.
 * Caller holds the lock. False when out of memory.
 */
static bool keep_payment(struct sim_ledger *l, struct entry *e,
                         const struct sim_ledger_req *req)
{
    e->kind = req->kind;
    e->amount = req->amount;
    e->charge = req->charge;
    snprintf(e->phone, sizeof(e->phone), "%s",
             req->phone != NULL ? req->phone : "");
    e->ref = NULL;
    if (req->referenceid != NULL)
        e->ref = find_ref(l, req->referenceid);
    return req->referenceid == NULL || e->ref != NULL;
}

/* Finds or adds req's entry for a send; caller holds the lock. */
static enum sim_ledger_result entry_for_send(struct sim_ledger *l,
                                             const struct sim_ledger_req *req,
                                             struct entry **found)
{
    struct entry *e = find(l, req->id);

    *found = e;
    if (e != NULL)
        return SIM_LEDGER_OK;
    if (l->count >= l->max_entries)
        return SIM_LEDGER_FULL;
    e = add_entry(l, req->id);
    if (e == NULL || !keep_payment(l, e, req))
        return SIM_LEDGER_NOMEM;
    *found = e;
    return SIM_LEDGER_OK;
}

enum sim_ledger_result sim_ledger_attempt(struct sim_ledger *ledger,
                                          const struct sim_ledger_req *req,
                                          unsigned *attempt)
{
    enum sim_ledger_result result;
    struct entry *e;

    pthread_mutex_lock(&ledger->lock);
    result = entry_for_send(ledger, req, &e);
    if (result != SIM_LEDGER_OK)
        goto out;
    if (e->sends > 0 && !same_payment(e, req)) {
        e->mismatches++;
        ledger->totals.mismatches++;
    }
    if (e->status != SIM_STATUS_UNREGISTERED) {
        result = SIM_LEDGER_DUPLICATE;
        e->resends_refused++;
        ledger->totals.resends_refused++;
    }
    *attempt = e->sends++;
    ledger->totals.sends++;
out:
    pthread_mutex_unlock(&ledger->lock);
    return result;
}

/*
 * Fills a newly registered entry from req, with a provider id. Caller
 * holds the lock and has checked that e is unregistered.
 */
static bool register_entry(struct sim_ledger *l, struct entry *e,
                           const struct sim_ledger_req *req)
{
    if (req->callback_url != NULL) {
        e->callback_url = mem_strdup(req->callback_url);
        if (e->callback_url == NULL)
            return false;
    }
    if (!keep_payment(l, e, req))
        return false;
    e->callback_lost = req->lose_callback;
    e->latency_ms = req->latency_ms;
    e->provider_id = l->next_provider_id++;
    return true;
}

/*
 * Finds req's entry for registering it: SIM_LEDGER_OK with *found set,
 * or why not. Caller holds the lock.
 */
static enum sim_ledger_result claim(struct sim_ledger *l,
                                    const struct sim_ledger_req *req,
                                    struct entry **found)
{
    struct entry *e = find(l, req->id);

    *found = NULL;
    if (e == NULL)
        return SIM_LEDGER_UNKNOWN;
    if (e->status != SIM_STATUS_UNREGISTERED)
        return SIM_LEDGER_DUPLICATE;
    if (!register_entry(l, e, req))
        return SIM_LEDGER_NOMEM;
    *found = e;
    return SIM_LEDGER_OK;
}

enum sim_ledger_result sim_ledger_decline(struct sim_ledger *ledger,
                                          const struct sim_ledger_req *req,
                                          const char *code)
{
    enum sim_ledger_result result;
    struct entry *e;

    pthread_mutex_lock(&ledger->lock);
    result = claim(ledger, req, &e);
    if (result == SIM_LEDGER_OK) {
        snprintf(e->code, sizeof(e->code), "%s", code);
        set_status(ledger, e, SIM_STATUS_FAILED);
    }
    pthread_mutex_unlock(&ledger->lock);
    return result;
}

/* Pay references are digits, like the reference's "312333883". */
static void pay_reference(struct entry *e)
{
    snprintf(e->reference, sizeof(e->reference), "31%07lld",
             e->provider_id % 10000000);
}

/* Deposit references look like "INTREF202506160001": date, sequence. */
static void deposit_reference(struct sim_ledger *l, struct entry *e)
{
    time_t now = time(NULL);
    struct tm tm;
    char date[16];

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y%m%d", &tm);
    snprintf(e->reference, sizeof(e->reference), "INTREF%s%04lld", date,
             l->next_deposit_ref++);
}

/* Counts one execution of e, and of its referenceid; caller locks. */
static void count_execution(struct sim_ledger *l, struct entry *e)
{
    struct sim_ledger_totals *t = &l->totals;

    e->executed++;
    t->executed++;
    if (e->executed == 2)
        t->ids_executed_twice++;
    if (e->ref == NULL)
        return;
    e->ref->executed++;
    if (e->ref->executed == 1)
        t->references_executed++;
    else if (e->ref->executed == 2)
        t->references_executed_twice++;
}

static enum sim_ledger_result execute_deposit(struct sim_ledger *l,
                                              struct entry *e)
{
    if (e->amount + e->charge > l->balance) {
        snprintf(e->code, sizeof(e->code), "%s", SIM_CODE_NO_FUNDS);
        set_status(l, e, SIM_STATUS_FAILED);
        return SIM_LEDGER_NO_FUNDS;
    }
    l->balance -= e->amount + e->charge;
    l->totals.deposit_charges += e->charge;
    count_execution(l, e);
    deposit_reference(l, e);
    snprintf(e->code, sizeof(e->code), "%s", SIM_CODE_SUCCESS);
    set_status(l, e, SIM_STATUS_SUCCESS);
    return SIM_LEDGER_OK;
}

static void execute_pay(struct sim_ledger *l, struct entry *e,
                        const char *final_code)
{
    count_execution(l, e);
    pay_reference(e);
    snprintf(e->code, sizeof(e->code), "%s", SIM_CODE_PENDING);
    snprintf(e->final_code, sizeof(e->final_code), "%s", final_code);
    set_status(l, e, SIM_STATUS_PENDING);
}

enum sim_ledger_result sim_ledger_execute(struct sim_ledger *ledger,
                                          const struct sim_ledger_req *req,
                                          const char *final_code,
                                          struct sim_txn *out)
{
    enum sim_ledger_result result;
    struct entry *e;

    pthread_mutex_lock(&ledger->lock);
    result = claim(ledger, req, &e);
    if (result != SIM_LEDGER_OK)
        goto out;
    if (req->kind == SIM_KIND_DEPOSIT)
        result = execute_deposit(ledger, e);
    else
        execute_pay(ledger, e, final_code);
    copy_out(e, out);
out:
    pthread_mutex_unlock(&ledger->lock);
    return result;
}

enum sim_ledger_result sim_ledger_settle(struct sim_ledger *ledger,
                                         const char *id, struct sim_txn *out)
{
    enum sim_ledger_result result = SIM_LEDGER_UNKNOWN;
    struct entry *e;

    pthread_mutex_lock(&ledger->lock);
    e = find(ledger, id);
    if (e == NULL || e->status == SIM_STATUS_UNREGISTERED)
        goto out;
    if (e->status == SIM_STATUS_PENDING) {
        bool ok = strcmp(e->final_code, SIM_CODE_SUCCESS) == 0;

        snprintf(e->code, sizeof(e->code), "%s", e->final_code);
        set_status(ledger, e, ok ? SIM_STATUS_SUCCESS : SIM_STATUS_FAILED);
        if (ok)
            ledger->balance += e->amount;
    }
    copy_out(e, out);
    result = SIM_LEDGER_OK;
out:
    pthread_mutex_unlock(&ledger->lock);
    return result;
}

void sim_ledger_note_callback(struct sim_ledger *ledger, const char *id,
                              bool acked)
{
    struct entry *e;

    pthread_mutex_lock(&ledger->lock);
    e = find(ledger, id);
    if (e != NULL) {
        e->callbacks_sent++;
        ledger->totals.callbacks_sent++;
        if (acked) {
            e->callbacks_acked++;
            ledger->totals.callbacks_acked++;
        }
    }
    pthread_mutex_unlock(&ledger->lock);
}

void sim_ledger_note_event(struct sim_ledger *ledger, enum sim_event event)
{
    atomic_fetch_add_explicit(&ledger->events[event], 1, memory_order_relaxed);
}

void sim_ledger_balance(struct sim_ledger *ledger, long long *net,
                        long long *credits, long long *debits)
{
    const struct sim_ledger_totals *t = &ledger->totals;

    pthread_mutex_lock(&ledger->lock);
    *credits = ledger->opening_float +
               t->kind[SIM_KIND_PAY].amount[SIM_STATUS_SUCCESS];
    *debits = t->kind[SIM_KIND_DEPOSIT].amount[SIM_STATUS_SUCCESS] +
              t->deposit_charges;
    *net = ledger->balance;
    pthread_mutex_unlock(&ledger->lock);
}

void sim_ledger_totals(struct sim_ledger *ledger, struct sim_ledger_totals *out)
{
    int i;

    pthread_mutex_lock(&ledger->lock);
    *out = ledger->totals;
    out->generation = ledger->generation;
    out->float_now = ledger->balance;
    out->opening_float = ledger->opening_float;
    pthread_mutex_unlock(&ledger->lock);
    for (i = 0; i < SIM_EVENT_COUNT; i++)
        out->events[i] =
            atomic_load_explicit(&ledger->events[i], memory_order_relaxed);
}

size_t sim_ledger_copy(struct sim_ledger *ledger, long from, size_t n,
                       struct sim_txn *out, unsigned long *generation)
{
    size_t copied = 0;

    pthread_mutex_lock(&ledger->lock);
    *generation = ledger->generation;
    for (; from >= 0 && from < ledger->count && copied < n; from++)
        copy_out(ledger->entries[from], &out[copied++]);
    pthread_mutex_unlock(&ledger->lock);
    return copied;
}

bool sim_ledger_find(struct sim_ledger *ledger, const char *id,
                     struct sim_txn *out)
{
    struct entry *e;

    pthread_mutex_lock(&ledger->lock);
    e = find(ledger, id);
    if (e != NULL)
        copy_out(e, out);
    pthread_mutex_unlock(&ledger->lock);
    return e != NULL;
}

void sim_ledger_reset(struct sim_ledger *ledger)
{
    int i;

    pthread_mutex_lock(&ledger->lock);
    free_entries(ledger);
    memset(&ledger->totals, 0, sizeof(ledger->totals));
    ledger->balance = ledger->opening_float;
    ledger->generation++;
    for (i = 0; i < SIM_EVENT_COUNT; i++)
        atomic_store(&ledger->events[i], 0);
    pthread_mutex_unlock(&ledger->lock);
}

const char *sim_ledger_status_name(enum sim_status status)
{
    switch (status) {
    case SIM_STATUS_PENDING:
        return "Pending";
    case SIM_STATUS_SUCCESS:
        return "Successfull";
    case SIM_STATUS_FAILED:
        return "Failed";
    default:
        return "Unregistered";
    }
}

const char *sim_ledger_kind_name(enum sim_kind kind)
{
    return kind == SIM_KIND_DEPOSIT ? "deposit" : "pay";
}

const char *sim_ledger_event_name(enum sim_event event)
{
    static const char *const names[SIM_EVENT_COUNT] = {
        [SIM_EVENT_DECLINED] = "declined",
        [SIM_EVENT_HTTP500] = "http500",
        [SIM_EVENT_DROPPED] = "dropped",
        [SIM_EVENT_SLOW] = "slow",
        [SIM_EVENT_HTTP429] = "http429",
        [SIM_EVENT_HTTP503] = "http503",
        [SIM_EVENT_NO_FUNDS] = "no_funds",
        [SIM_EVENT_LATE_FAILURE] = "late_failure",
        [SIM_EVENT_LOST_CALLBACK] = "lost_callback",
        [SIM_EVENT_DUPLICATE_CALLBACK] = "duplicate_callback",
        [SIM_EVENT_EARLY_CALLBACK] = "early_callback",
    };

    return (unsigned)event < SIM_EVENT_COUNT ? names[event] : "?";
}
