/*
 * The ledger listing as streamed JSON, written by hand: jansson would
 * build every transaction as a tree first, some kilobytes each.
 *
 * A listing moves through its phases (head, rows, tail) one part at a
 * time; each part is rendered into text and handed out in as many reads
 * as the reader's buffer needs.
 */
#include "sim/listing.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "sim/json.h"

/* Transactions copied from the ledger under one hold of its lock. */
#define PART_ROWS 256

/* Most text one part may render: PART_ROWS rows with room to spare. */
#define PART_TEXT_MAX (4 * 1024 * 1024)

enum phase {
    PHASE_HEAD, /* totals and the opening of the list */
    PHASE_ROWS, /* PART_ROWS transactions at a time */
    PHASE_TAIL, /* the end of the list and "truncated" */
    PHASE_DONE,
};

struct sim_listing {
    struct sim_ledger *ledger;
    enum phase phase;
    bool one; /* only the transaction id */
    char id[SIM_ID_MAX + 1];
    long from;  /* first transaction listed */
    long limit; /* most listed; -1 for all */
    long next;  /* next transaction to copy */
    long end;   /* past the last one to list */
    bool truncated;
    unsigned long generation; /* the ledger's, when the totals were taken */
    size_t rows_written;
    struct buf text; /* the part rendered, not yet all read */
    size_t taken;    /* bytes of text already read */
    struct sim_txn rows[PART_ROWS];
};

/* "key":"text" preceded by a comma, or "key":null for an empty text. */
static enum payq_err put_field(struct buf *b, const char *key, const char *text)
{
    enum payq_err err = buf_appendf(b, ",\"%s\":", key);

    if (err != PAYQ_OK)
        return err;
    if (text[0] == '\0')
        return buf_append_str(b, "null");
    return sim_json_put_string(b, text);
}

static enum payq_err put_kind_totals(struct buf *b, const char *name,
                                     const struct sim_kind_totals *t)
{
    return buf_appendf(
        b,
        ",\"%s\":{\"succeeded\":%lld,\"succeeded_amount\":%lld,"
        "\"pending\":%lld,\"pending_amount\":%lld,\"failed\":%lld,"
        "\"failed_amount\":%lld",
        name, t->count[SIM_STATUS_SUCCESS], t->amount[SIM_STATUS_SUCCESS],
        t->count[SIM_STATUS_PENDING], t->amount[SIM_STATUS_PENDING],
        t->count[SIM_STATUS_FAILED], t->amount[SIM_STATUS_FAILED]);
}

static enum payq_err put_events(struct buf *b,
                                const struct sim_ledger_totals *t)
{
    enum payq_err err = buf_append_str(b, ",\"faults\":{");
    int i;

    for (i = 0; i < SIM_EVENT_COUNT && err == PAYQ_OK; i++)
        err =
            buf_appendf(b, "%s\"%s\":%lld", i > 0 ? "," : "",
                        sim_ledger_event_name((enum sim_event)i), t->events[i]);
    return err != PAYQ_OK ? err : buf_append_byte(b, '}');
}

static enum payq_err put_totals(struct buf *b,
                                const struct sim_ledger_totals *t)
{
    enum payq_err err = buf_appendf(
        b,
        "{\"totals\":{\"float\":%lld,\"opening_float\":%lld,"
        "\"transactions\":%lld,\"sends\":%lld,\"resends_refused\":%lld,"
        "\"mismatched_sends\":%lld,\"executed\":%lld,"
        "\"ids_executed_twice\":%lld,\"callbacks_sent\":%lld,"
        "\"callbacks_acked\":%lld",
        t->float_now, t->opening_float, t->transactions, t->sends,
        t->resends_refused, t->mismatches, t->executed, t->ids_executed_twice,
        t->callbacks_sent, t->callbacks_acked);

    if (err == PAYQ_OK)
        err = put_kind_totals(b, "pay", &t->kind[SIM_KIND_PAY]);
    if (err == PAYQ_OK)
        err = buf_append_byte(b, '}');
    if (err == PAYQ_OK)
        err = put_kind_totals(b, "deposit", &t->kind[SIM_KIND_DEPOSIT]);
    if (err == PAYQ_OK)
        err = buf_appendf(b,
                          ",\"charges\":%lld,\"references_executed\":%lld,"
                          "\"references_executed_twice\":%lld}",
                          t->deposit_charges, t->references_executed,
                          t->references_executed_twice);
    if (err == PAYQ_OK)
        err = put_events(b, t);
    return err != PAYQ_OK ? err : buf_append_str(b, "},\"transactions\":[");
}

/* The fields after the id, up to the amounts. */
static enum payq_err put_request(struct buf *b, const struct sim_txn *t)
{
    enum payq_err err =
        buf_appendf(b, ",\"kind\":\"%s\"", sim_ledger_kind_name(t->kind));

    if (err == PAYQ_OK)
        err = put_field(b, "referenceid", t->referenceid);
    if (err == PAYQ_OK)
        err = put_field(b, "phone", t->phone);
    if (err == PAYQ_OK)
        err = buf_appendf(b,
                          ",\"amount\":%lld,\"withdrawcharge\":%lld,"
                          "\"sends\":%u,\"attempts\":%u,"
                          "\"resends_refused\":%u,\"mismatched_sends\":%u,"
                          "\"executed\":%u",
                          t->amount, t->charge, t->sends, t->sends,
                          t->resends_refused, t->mismatches, t->executed);
    return err;
}

/* The fields of what became of it. */
static enum payq_err put_outcome(struct buf *b, const struct sim_txn *t)
{
    enum payq_err err =
        buf_appendf(b, ",\"status\":\"%s\"", sim_ledger_status_name(t->status));

    if (err == PAYQ_OK)
        err = put_field(b, "responsecode", t->code);
    if (err == PAYQ_OK && t->provider_id > 0)
        err = buf_appendf(b, ",\"provider_id\":\"%lld\"", t->provider_id);
    else if (err == PAYQ_OK)
        err = buf_append_str(b, ",\"provider_id\":null");
    if (err == PAYQ_OK)
        err = put_field(b, "referenceno", t->reference);
    if (err == PAYQ_OK)
        err = buf_appendf(b,
                          ",\"reference_executions\":%u,\"latency_ms\":%ld,"
                          "\"callbacks_sent\":%u,\"callbacks_acked\":%u,"
                          "\"callback_lost\":%s}",
                          t->reference_executions, t->latency_ms,
                          t->callbacks_sent, t->callbacks_acked,
                          t->lose_callback ? "true" : "false");
    return err;
}

static enum payq_err put_row(struct sim_listing *l, const struct sim_txn *t)
{
    enum payq_err err = buf_append_str(
        &l->text, l->rows_written > 0 ? ",{\"id\":" : "{\"id\":");

    if (err == PAYQ_OK)
        err = sim_json_put_string(&l->text, t->id);
    if (err == PAYQ_OK)
        err = put_request(&l->text, t);
    if (err == PAYQ_OK)
        err = put_outcome(&l->text, t);
    l->rows_written++;
    return err;
}

/* Head: the totals, and where the list ends. */
static enum payq_err render_head(struct sim_listing *l)
{
    struct sim_ledger_totals totals;

    sim_ledger_totals(l->ledger, &totals);
    l->generation = totals.generation;
    l->next = l->from;
    l->end = totals.transactions;
    if (l->limit >= 0 && l->from + l->limit < l->end) {
        l->end = l->from + l->limit;
        l->truncated = true;
    }
    l->phase = l->one ? PHASE_TAIL : PHASE_ROWS;
    return put_totals(&l->text, &totals);
}

static enum payq_err render_one(struct sim_listing *l)
{
    if (!sim_ledger_find(l->ledger, l->id, &l->rows[0]))
        return PAYQ_OK;
    return put_row(l, &l->rows[0]);
}

/* Rows: the next part of the list, or on to the tail. */
static enum payq_err render_rows(struct sim_listing *l)
{
    unsigned long generation;
    size_t want = PART_ROWS;
    size_t got;
    size_t i;
    enum payq_err err = PAYQ_OK;

    if (l->next >= l->end)
        want = 0;
    else if (l->end - l->next < (long)want)
        want = (size_t)(l->end - l->next);
    got = want > 0
              ? sim_ledger_copy(l->ledger, l->next, want, l->rows, &generation)
              : 0;
    if (got == 0 || generation != l->generation) {
        l->truncated |= got > 0 || l->next < l->end;
        l->phase = PHASE_TAIL;
        return PAYQ_OK;
    }
    for (i = 0; i < got && err == PAYQ_OK; i++)
        err = put_row(l, &l->rows[i]);
    l->next += (long)got;
    return err;
}

static enum payq_err render_tail(struct sim_listing *l)
{
    enum payq_err err = l->one ? render_one(l) : PAYQ_OK;

    l->phase = PHASE_DONE;
    if (err != PAYQ_OK)
        return err;
    return buf_appendf(&l->text, "],\"truncated\":%s}",
                       l->truncated ? "true" : "false");
}

/* Renders the next part into l->text, emptied first. */
static enum payq_err render(struct sim_listing *l)
{
    buf_reset(&l->text);
    l->taken = 0;
    switch (l->phase) {
    case PHASE_HEAD:
        return render_head(l);
    case PHASE_ROWS:
        return render_rows(l);
    case PHASE_TAIL:
        return render_tail(l);
    default:
        return PAYQ_OK;
    }
}

struct sim_listing *sim_listing_create(struct sim_ledger *ledger,
                                       const char *id, long from, long limit)
{
    struct sim_listing *l = mem_calloc(1, sizeof(*l));

    if (l == NULL)
        return NULL;
    l->ledger = ledger;
    l->phase = PHASE_HEAD;
    l->one = id != NULL;
    if (id != NULL)
        snprintf(l->id, sizeof(l->id), "%s", id);
    l->from = from > 0 ? from : 0;
    l->limit = limit;
    buf_init(&l->text, PART_TEXT_MAX);
    return l;
}

ssize_t sim_listing_read(struct sim_listing *l, char *out, size_t size)
{
    size_t n;

    while (l->taken == l->text.len && l->phase != PHASE_DONE)
        if (render(l) != PAYQ_OK)
            return -1;
    n = l->text.len - l->taken;
    if (n > size)
        n = size;
    if (n > 0)
        memcpy(out, l->text.data + l->taken, n);
    l->taken += n;
    return (ssize_t)n;
}

void sim_listing_destroy(struct sim_listing *l)
{
    if (l == NULL)
        return;
    buf_cleanup(&l->text);
    mem_free(l);
}
