/*
 * The simulator's ledger and its streamed listing, in process: what is
 * kept per id and per referenceid, and that a listing of far more ids
 * than any one buffer holds comes out whole, in order, as valid JSON,
 * however small the reads; and cut short, still valid, by a reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "sim/ledger.h"
#include "sim/listing.h"

/* More ids than the old 100,000 cap, twice over. */
#define MANY_IDS 200001

static struct sim_ledger_req deposit_req(const char *id, const char *ref,
                                         long long amount)
{
    return (struct sim_ledger_req){
        .id = id,
        .kind = SIM_KIND_DEPOSIT,
        .amount = amount,
        .charge = 10,
        .phone = "0781234567",
        .referenceid = ref,
    };
}

static struct sim_ledger_req pay_req(const char *id, long long amount)
{
    return (struct sim_ledger_req){
        .id = id,
        .kind = SIM_KIND_PAY,
        .amount = amount,
        .phone = "250781234567",
        .callback_url = "http://127.0.0.1:9/cb",
    };
}

/* One send of req that executes; fails the test otherwise. */
static void send_and_execute(struct sim_ledger *l,
                             const struct sim_ledger_req *req)
{
    struct sim_txn txn;
    unsigned attempt;

    assert_int_equal(sim_ledger_attempt(l, req, &attempt), SIM_LEDGER_OK);
    assert_int_equal(sim_ledger_execute(l, req, "01", &txn), SIM_LEDGER_OK);
}

/*
 * Reads the rest of the listing, read_size bytes at a time, after the
 * first n bytes already read into head, and parses it all.
 */
static json_t *read_rest(struct sim_listing *listing, const char *head,
                         size_t n_head, size_t read_size)
{
    struct buf text;
    char *chunk = malloc(read_size);
    json_error_t error;
    json_t *root;
    ssize_t n;

    assert_non_null(chunk);
    buf_init(&text, 512 * 1024 * 1024);
    assert_int_equal(buf_append(&text, head, n_head), PAYQ_OK);
    while ((n = sim_listing_read(listing, chunk, read_size)) > 0) {
        assert_true((size_t)n <= read_size);
        assert_int_equal(buf_append(&text, chunk, (size_t)n), PAYQ_OK);
    }
    assert_int_equal(n, 0);
    root = json_loadb(text.data, text.len, 0, &error);
    if (root == NULL)
        fail_msg("listing is not JSON: %s at %d", error.text, error.position);
    free(chunk);
    buf_cleanup(&text);
    return root;
}

static json_t *read_all(struct sim_listing *listing, size_t read_size)
{
    return read_rest(listing, "", 0, read_size);
}

static json_t *list(struct sim_ledger *l, const char *id, long from, long limit,
                    size_t read_size)
{
    struct sim_listing *listing = sim_listing_create(l, id, from, limit);
    json_t *root;

    assert_non_null(listing);
    root = read_all(listing, read_size);
    sim_listing_destroy(listing);
    return root;
}

static long long jint(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v))
        fail_msg("%s is not an integer", key);
    return json_integer_value(v);
}

static void sim_listing_lists_every_id(void **state)
{
    struct sim_ledger *l = sim_ledger_create(1000000000000LL, 3000000);
    json_t *root;
    json_t *txns;
    char id[32];
    size_t i;

    (void)state;
    assert_non_null(l);
    for (i = 0; i < MANY_IDS; i++) {
        struct sim_ledger_req req;

        snprintf(id, sizeof(id), "M-%zu", i);
        req = i % 2 == 0 ? pay_req(id, 100) : deposit_req(id, id, 100);
        send_and_execute(l, &req);
    }
    /* Odd reads, so that parts and reads never line up. */
    root = list(l, NULL, 0, -1, 1000);
    txns = json_object_get(root, "transactions");
    assert_int_equal(json_array_size(txns), MANY_IDS);
    assert_false(json_is_true(json_object_get(root, "truncated")));
    assert_int_equal(jint(json_object_get(root, "totals"), "transactions"),
                     MANY_IDS);
    assert_int_equal(jint(json_object_get(root, "totals"), "executed"),
                     MANY_IDS);
    for (i = 0; i < MANY_IDS; i += 997) {
        snprintf(id, sizeof(id), "M-%zu", i);
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(txns, i), "id")),
            id);
    }
    snprintf(id, sizeof(id), "M-%d", MANY_IDS - 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(txns, MANY_IDS - 1), "id")),
                        id);
    json_decref(root);
    sim_ledger_destroy(l);
}

static void sim_listing_pages_and_finds(void **state)
{
    struct sim_ledger *l = sim_ledger_create(1000000, 100);
    json_t *root;
    char id[32];
    int i;

    (void)state;
    for (i = 0; i < 10; i++) {
        struct sim_ledger_req req;

        snprintf(id, sizeof(id), "P-%d", i);
        req = pay_req(id, 100 + i);
        send_and_execute(l, &req);
    }
    root = list(l, NULL, 4, 3, 7);
    assert_int_equal(json_array_size(json_object_get(root, "transactions")), 3);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(root, "transactions"), 0), "id")),
        "P-4");
    assert_true(json_is_true(json_object_get(root, "truncated")));
    json_decref(root);

    root = list(l, NULL, 50, -1, 4096);
    assert_int_equal(json_array_size(json_object_get(root, "transactions")), 0);
    assert_false(json_is_true(json_object_get(root, "truncated")));
    json_decref(root);

    root = list(l, "P-7", 0, -1, 4096);
    assert_int_equal(json_array_size(json_object_get(root, "transactions")), 1);
    assert_int_equal(
        jint(json_array_get(json_object_get(root, "transactions"), 0),
             "amount"),
        107);
    json_decref(root);
    root = list(l, "P-70", 0, -1, 4096);
    assert_int_equal(json_array_size(json_object_get(root, "transactions")), 0);
    json_decref(root);
    sim_ledger_destroy(l);
}

/* A reset while a listing is read ends it early, as valid JSON. */
static void sim_listing_cut_short_by_reset(void **state)
{
    struct sim_ledger *l = sim_ledger_create(1000000000, 10000);
    struct sim_listing *listing;
    char chunk[512];
    char id[32];
    json_t *root;
    ssize_t got;
    int i;

    (void)state;
    for (i = 0; i < 2000; i++) {
        struct sim_ledger_req req;

        snprintf(id, sizeof(id), "R-%d", i);
        req = pay_req(id, 100);
        send_and_execute(l, &req);
    }
    listing = sim_listing_create(l, NULL, 0, -1);
    got = sim_listing_read(listing, chunk, sizeof(chunk));
    assert_int_equal(got, sizeof(chunk));
    sim_ledger_reset(l);
    root = read_rest(listing, chunk, (size_t)got, 4096);
    assert_true(json_is_true(json_object_get(root, "truncated")));
    assert_true(json_array_size(json_object_get(root, "transactions")) < 2000);
    json_decref(root);
    sim_listing_destroy(listing);
    sim_ledger_destroy(l);
}

/* Ids and referenceids with quotes, backslashes and accents survive. */
static void sim_listing_escapes_text(void **state)
{
    struct sim_ledger *l = sim_ledger_create(1000000, 10);
    struct sim_ledger_req req = deposit_req("Q\"uo\\te",
                                            "R\xc3\xa9"
                                            "f \"7\"\\",
                                            500);
    json_t *root;
    json_t *txn;

    (void)state;
    send_and_execute(l, &req);
    root = list(l, NULL, 0, -1, 3);
    txn = json_array_get(json_object_get(root, "transactions"), 0);
    assert_string_equal(json_string_value(json_object_get(txn, "id")),
                        "Q\"uo\\te");
    assert_string_equal(json_string_value(json_object_get(txn, "referenceid")),
                        "R\xc3\xa9"
                        "f \"7\"\\");
    json_decref(root);
    sim_ledger_destroy(l);
}

/*
 * Per id: sends, refused resends and mismatches; per referenceid: the
 * ids executed; unregistered ids keep what was asked.
 */
static void sim_ledger_counts_sends_and_references(void **state)
{
    struct sim_ledger *l = sim_ledger_create(1000000, 10);
    struct sim_ledger_req a = deposit_req("D-1", "REF-1", 1000);
    struct sim_ledger_req b = deposit_req("D-2", "REF-1", 1000);
    struct sim_ledger_req c = deposit_req("D-3", "REF-2", 700);
    struct sim_ledger_totals totals;
    struct sim_txn txn;
    unsigned attempt;

    (void)state;
    send_and_execute(l, &a);
    assert_int_equal(sim_ledger_attempt(l, &a, &attempt), SIM_LEDGER_DUPLICATE);
    assert_int_equal(attempt, 1);
    a.amount = 1001;
    assert_int_equal(sim_ledger_attempt(l, &a, &attempt), SIM_LEDGER_DUPLICATE);
    send_and_execute(l, &b);
    /* Seen and never registered, as after HTTP 500. */
    assert_int_equal(sim_ledger_attempt(l, &c, &attempt), SIM_LEDGER_OK);
    assert_int_equal(sim_ledger_attempt(l, &c, &attempt), SIM_LEDGER_OK);
    assert_int_equal(attempt, 1);

    assert_true(sim_ledger_find(l, "D-1", &txn));
    assert_int_equal(txn.sends, 3);
    assert_int_equal(txn.resends_refused, 2);
    assert_int_equal(txn.mismatches, 1);
    assert_int_equal(txn.executed, 1);
    assert_int_equal(txn.amount, 1000);
    assert_string_equal(txn.referenceid, "REF-1");
    assert_int_equal(txn.reference_executions, 2);
    assert_true(sim_ledger_find(l, "D-3", &txn));
    assert_int_equal(txn.status, SIM_STATUS_UNREGISTERED);
    assert_int_equal(txn.executed, 0);
    assert_int_equal(txn.amount, 700);
    assert_int_equal(txn.reference_executions, 0);
    assert_false(sim_ledger_find(l, "D-4", &txn));

    sim_ledger_note_event(l, SIM_EVENT_HTTP429);
    sim_ledger_totals(l, &totals);
    assert_int_equal(totals.transactions, 3);
    assert_int_equal(totals.sends, 6);
    assert_int_equal(totals.resends_refused, 2);
    assert_int_equal(totals.mismatches, 1);
    assert_int_equal(totals.executed, 2);
    assert_int_equal(totals.references_executed, 1);
    assert_int_equal(totals.references_executed_twice, 1);
    assert_int_equal(totals.deposit_charges, 20);
    assert_int_equal(totals.float_now, 1000000 - 2020);
    assert_int_equal(totals.events[SIM_EVENT_HTTP429], 1);

    sim_ledger_reset(l);
    sim_ledger_totals(l, &totals);
    assert_int_equal(totals.transactions, 0);
    assert_int_equal(totals.events[SIM_EVENT_HTTP429], 0);
    assert_int_equal(totals.float_now, 1000000);
    sim_ledger_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sim_ledger_counts_sends_and_references),
        cmocka_unit_test(sim_listing_pages_and_finds),
        cmocka_unit_test(sim_listing_escapes_text),
        cmocka_unit_test(sim_listing_cut_short_by_reset),
        cmocka_unit_test(sim_listing_lists_every_id),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
