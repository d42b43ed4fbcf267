/*
 * The ledger: entries in the order first seen, found through an
 * open-addressing hash table of their indexes.
 *
 * ledger->lock guards everything in struct sim_ledger: the entries, the
 * table, the float, the totals and the id counters. Each function takes
 * it once and never calls out while holding it.
 */
#include "sim/ledger.h"

#include <pthread.h>
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

struct entry {
    enum sim_kind kind;
    long long amount;
    long long charge;
    unsigned attempts; /* requests seen with this id */
    unsigned executed; /* times executed: 0 or 1, by design */
    enum sim_status status;
    char code[8];       /* last response code given */
    char final_code[8]; /* pay: the code its settlement gives */
    long long provider_id;
    char reference[48];
    char *callback_url;       /* owned; NULL when none */
    unsigned callbacks_sent;  /* delivery attempts made */
    unsigned callbacks_acked; /* attempts answered 200 */
    bool callback_lost;       /* dropped on purpose (--lose-callbacks) */
    char id[];                /* NUL-terminated */
};

/* Registered transactions by kind and status; unregistered ones apart. */
struct totals {
    long long count[2][4];
    long long amount[2][4];
    long long deposit_charges; /* charges of successful deposits */
};

struct sim_ledger {
    pthread_mutex_t lock;
    struct entry **entries; /* in the order first seen */
    long count;
    long cap;
    uint32_t *slots;   /* entry index + 1; 0 is empty */
    size_t slot_count; /* a power of two, over twice count */
    long max_entries;
    long long opening_float;
    long long balance; /* the float now */
    long long next_provider_id;
    long long next_deposit_ref;
    struct totals totals;
};

static uint64_t hash_id(const char *id)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *id != '\0'; id++) {
        h ^= (unsigned char)*id;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* The slot holding id, or the empty slot where it would go. */
static size_t find_slot(const struct sim_ledger *l, const char *id)
{
    size_t mask = l->slot_count - 1;
    size_t i = (size_t)hash_id(id) & mask;

    while (l->slots[i] != 0 && strcmp(l->entries[l->slots[i] - 1]->id, id) != 0)
        i = (i + 1) & mask;
    return i;
}

static struct entry *find(const struct sim_ledger *l, const char *id)
{
    size_t i = find_slot(l, id);

    return l->slots[i] != 0 ? l->entries[l->slots[i] - 1] : NULL;
}

/* Doubles the table and places every entry again. */
static bool grow_slots(struct sim_ledger *l)
{
    size_t count = l->slot_count * 2;
    uint32_t *slots = mem_calloc(count, sizeof(*slots));
    long i;

    if (slots == NULL)
        return false;
    mem_free(l->slots);
    l->slots = slots;
    l->slot_count = count;
    for (i = 0; i < l->count; i++)
        l->slots[find_slot(l, l->entries[i]->id)] = (uint32_t)(i + 1);
    return true;
}

static bool grow_entries(struct sim_ledger *l)
{
    long cap = l->cap > 0 ? l->cap * 2 : 1024;
    struct entry **entries;

    entries = mem_realloc(l->entries, (size_t)cap * sizeof(*entries));
    if (entries == NULL)
        return false;
    l->entries = entries;
    l->cap = cap;
    return true;
}

/* Adds an unregistered entry for id; NULL when out of memory. */
static struct entry *add_entry(struct sim_ledger *l, const char *id)
{
    size_t n = strlen(id);
    struct entry *e;

    if ((size_t)(l->count + 1) * 2 > l->slot_count && !grow_slots(l))
        return NULL;
    if (l->count == l->cap && !grow_entries(l))
        return NULL;
    e = mem_calloc(1, sizeof(*e) + n + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->id, id, n + 1);
    e->status = SIM_STATUS_UNREGISTERED;
    l->entries[l->count] = e;
    l->slots[find_slot(l, id)] = (uint32_t)(l->count + 1);
    l->count++;
    return e;
}

struct sim_ledger *sim_ledger_create(long long opening_float, long max_entries)
{
    struct sim_ledger *l = mem_calloc(1, sizeof(*l));

    if (l == NULL)
        return NULL;
    l->slots = mem_calloc(SLOTS_MIN, sizeof(*l->slots));
    if (l->slots == NULL) {
        mem_free(l);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    l->slot_count = SLOTS_MIN;
    l->max_entries = max_entries;
    l->opening_float = opening_float;
    l->balance = opening_float;
    l->next_provider_id = PROVIDER_ID_FIRST;
    l->next_deposit_ref = 1;
    return l;
}

static void free_entries(struct sim_ledger *l)
{
    while (l->count > 0) {
        struct entry *e = l->entries[--l->count];

        mem_free(e->callback_url);
        mem_free(e);
    }
    memset(l->slots, 0, l->slot_count * sizeof(*l->slots));
}

void sim_ledger_destroy(struct sim_ledger *ledger)
{
    if (ledger == NULL)
        return;
    free_entries(ledger);
    mem_free(ledger->entries);
    mem_free(ledger->slots);
    pthread_mutex_destroy(&ledger->lock);
    mem_free(ledger);
}

/* Moves e to status, keeping the totals right. */
static void set_status(struct sim_ledger *l, struct entry *e,
                       enum sim_status status)
{
    struct totals *t = &l->totals;

    if (e->status != SIM_STATUS_UNREGISTERED) {
        t->count[e->kind][e->status]--;
        t->amount[e->kind][e->status] -= e->amount;
    }
    e->status = status;
    t->count[e->kind][status]++;
    t->amount[e->kind][status] += e->amount;
}

static void copy_out(const struct entry *e, struct sim_txn *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", e->id);
    out->kind = e->kind;
    out->amount = e->amount;
    out->charge = e->charge;
    out->status = e->status;
    snprintf(out->code, sizeof(out->code), "%s", e->code);
    out->provider_id = e->provider_id;
    snprintf(out->reference, sizeof(out->reference), "%s", e->reference);
    out->lose_callback = e->callback_lost;
    if (e->callback_url != NULL)
        snprintf(out->callback_url, sizeof(out->callback_url), "%s",
                 e->callback_url);
}

enum sim_ledger_result sim_ledger_attempt(struct sim_ledger *ledger,
                                          const char *id, unsigned *attempt)
{
    enum sim_ledger_result result = SIM_LEDGER_OK;
    struct entry *e;

    pthread_mutex_lock(&ledger->lock);
    e = find(ledger, id);
    if (e == NULL && ledger->count >= ledger->max_entries) {
        result = SIM_LEDGER_FULL;
        goto out;
    }
    if (e == NULL)
        e = add_entry(ledger, id);
    if (e == NULL) {
        result = SIM_LEDGER_NOMEM;
        goto out;
    }
    if (e->status != SIM_STATUS_UNREGISTERED)
        result = SIM_LEDGER_DUPLICATE;
    *attempt = e->attempts++;
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
    e->kind = req->kind;
    e->amount = req->amount;
    e->charge = req->charge;
    e->callback_lost = req->lose_callback;
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
    e->executed++;
    deposit_reference(l, e);
    snprintf(e->code, sizeof(e->code), "%s", SIM_CODE_SUCCESS);
    set_status(l, e, SIM_STATUS_SUCCESS);
    return SIM_LEDGER_OK;
}

static void execute_pay(struct sim_ledger *l, struct entry *e,
                        const char *final_code)
{
    e->executed++;
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
        if (acked)
            e->callbacks_acked++;
    }
    pthread_mutex_unlock(&ledger->lock);
}

void sim_ledger_balance(struct sim_ledger *ledger, long long *net,
                        long long *credits, long long *debits)
{
    const struct totals *t = &ledger->totals;

    pthread_mutex_lock(&ledger->lock);
    *credits =
        ledger->opening_float + t->amount[SIM_KIND_PAY][SIM_STATUS_SUCCESS];
    *debits =
        t->amount[SIM_KIND_DEPOSIT][SIM_STATUS_SUCCESS] + t->deposit_charges;
    *net = ledger->balance;
    pthread_mutex_unlock(&ledger->lock);
}

void sim_ledger_reset(struct sim_ledger *ledger)
{
    pthread_mutex_lock(&ledger->lock);
    free_entries(ledger);
    memset(&ledger->totals, 0, sizeof(ledger->totals));
    ledger->balance = ledger->opening_float;
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

static const char *kind_name(enum sim_kind kind)
{
    return kind == SIM_KIND_DEPOSIT ? "deposit" : "pay";
}

/* Sets obj[key] to an integer; failures only shorten the listing. */
static void put_int(json_t *obj, const char *key, long long value)
{
    json_object_set_new(obj, key, json_integer((json_int_t)value));
}

static void put_str(json_t *obj, const char *key, const char *value)
{
    json_object_set_new(obj, key,
                        value != NULL ? json_string(value) : json_null());
}

static json_t *entry_json(const struct entry *e)
{
    bool registered = e->status != SIM_STATUS_UNREGISTERED;
    json_t *obj = json_object();
    char provider[24] = "";

    if (obj == NULL)
        return NULL;
    if (registered)
        snprintf(provider, sizeof(provider), "%lld", e->provider_id);
    put_str(obj, "id", e->id);
    put_str(obj, "kind", registered ? kind_name(e->kind) : NULL);
    put_int(obj, "amount", e->amount);
    put_int(obj, "withdrawcharge", e->charge);
    put_int(obj, "attempts", e->attempts);
    put_int(obj, "executed", e->executed);
    put_str(obj, "status", sim_ledger_status_name(e->status));
    put_str(obj, "responsecode", e->code);
    put_str(obj, "provider_id", provider);
    put_str(obj, "referenceno", e->reference);
    put_int(obj, "callbacks_sent", e->callbacks_sent);
    put_int(obj, "callbacks_acked", e->callbacks_acked);
    json_object_set_new(obj, "callback_lost", json_boolean(e->callback_lost));
    return obj;
}

static json_t *kind_totals_json(const struct totals *t, enum sim_kind k)
{
    json_t *obj = json_object();

    if (obj == NULL)
        return NULL;
    put_int(obj, "succeeded", t->count[k][SIM_STATUS_SUCCESS]);
    put_int(obj, "succeeded_amount", t->amount[k][SIM_STATUS_SUCCESS]);
    put_int(obj, "pending", t->count[k][SIM_STATUS_PENDING]);
    put_int(obj, "failed", t->count[k][SIM_STATUS_FAILED]);
    if (k == SIM_KIND_DEPOSIT)
        put_int(obj, "charges", t->deposit_charges);
    return obj;
}

/* Totals and float; caller holds the lock. */
static json_t *totals_json(const struct sim_ledger *l)
{
    json_t *obj = json_object();

    if (obj == NULL)
        return NULL;
    put_int(obj, "float", l->balance);
    put_int(obj, "opening_float", l->opening_float);
    put_int(obj, "transactions", l->count);
    json_object_set_new(obj, "pay", kind_totals_json(&l->totals, SIM_KIND_PAY));
    json_object_set_new(obj, "deposit",
                        kind_totals_json(&l->totals, SIM_KIND_DEPOSIT));
    return obj;
}

/* Appends the listed entries to list; returns true if some were left. */
static bool list_entries(const struct sim_ledger *l, const char *id, long limit,
                         json_t *list)
{
    long i;

    if (id != NULL) {
        const struct entry *e = find(l, id);

        if (e != NULL)
            json_array_append_new(list, entry_json(e));
        return false;
    }
    for (i = 0; i < l->count && i < limit; i++)
        json_array_append_new(list, entry_json(l->entries[i]));
    return l->count > limit;
}

json_t *sim_ledger_to_json(struct sim_ledger *ledger, const char *id,
                           long limit)
{
    json_t *root = NULL;
    json_t *list = json_array();
    bool truncated;

    if (list == NULL)
        return NULL;
    pthread_mutex_lock(&ledger->lock);
    truncated = list_entries(ledger, id, limit, list);
    root = json_pack("{s:o, s:b, s:o}", "totals", totals_json(ledger),
                     "truncated", truncated, "transactions", list);
    pthread_mutex_unlock(&ledger->lock);
    return root;
}
