/*
 * Unit tests for ingest/columns: the header row mapped to known columns
 * and metadata. Each table row is one header (read by the real reader,
 * as a file's first line) and what it must map to, or the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "ingest/columns.h"
#include "ingest/reader.h"

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

#define P JOB_KIND_PAY
#define D JOB_KIND_DEPOSIT

#define E_ACUTE "\xc3\xa9"
#define X8 "xxxxxxxx"
#define X63 "xxxxxxx" X8 X8 X8 X8 X8 X8 X8
#define X127 X63 X8 X8 X8 X8 X8 X8 X8 X8

struct header_row {
    const char *header;  /* the file's first line */
    enum job_kind kind;  /* --kind */
    const char *problem; /* NULL: maps */
    const char *name;    /* the column the problem names ("" if none) */
    /* When it maps: the field of each known column, -1 absent. */
    int index[INGEST_COL_COUNT];
    const char *metadata; /* the metadata columns' names, '|' between */
};

/* kind, phone, amount, reference, reason, name, withdrawcharge */
static const struct header_row rows[] = {
    { "phone,amount,reference", P, NULL, "", { -1, 0, 1, 2, -1, -1, -1 }, "" },
    /* Any case, spaces around, any order; the rest is metadata. */
    { " Reference ,PHONE,\tAmount\t,Student,School",
      P,
      NULL,
      "",
      { -1, 1, 2, 0, -1, -1, -1 },
      "Student|School" },
    /* Aliases. */
    { "MobilePhone,amount,reference,reason,Deposit_Ref_Name",
      D,
      NULL,
      "",
      { -1, 0, 1, 2, 3, 4, -1 },
      "" },
    { "phone,amount,reference,reason,name,WithdrawCharge",
      D,
      NULL,
      "",
      { -1, 0, 1, 2, 3, 4, 5 },
      "" },
    /* A kind column: deposit columns are checked row by row. */
    { "kind,phone,amount,reference",
      D,
      NULL,
      "",
      { 0, 1, 2, 3, -1, -1, -1 },
      "" },
    { "kind,phone,amount,reference,term",
      P,
      NULL,
      "",
      { 0, 1, 2, 3, -1, -1, -1 },
      "term" },
    /* Pay files need phone, amount and reference. */
    { "amount,reference",
      P,
      "required column is missing",
      "phone",
      { 0 },
      NULL },
    { "phone,reference",
      P,
      "required column is missing",
      "amount",
      { 0 },
      NULL },
    { "phone,amount,ref",
      P,
      "required column is missing",
      "reference",
      { 0 },
      NULL },
    /* Pay files need no deposit columns... */
    { "phone,amount,reference,name",
      P,
      NULL,
      "",
      { -1, 0, 1, 2, -1, 3, -1 },
      "" },
    /* ...deposit files without a kind column do. */
    { "phone,amount,reference,name",
      D,
      "required column is missing",
      "reason",
      { 0 },
      NULL },
    { "phone,amount,reference,reason",
      D,
      "required column is missing",
      "name",
      { 0 },
      NULL },
    /* Twice, by name or by alias, in any case. */
    { "phone,amount,reference,Phone",
      P,
      "column appears twice",
      "Phone",
      { 0 },
      NULL },
    { "phone,amount,reference,mobilephone",
      P,
      "column appears twice",
      "mobilephone",
      { 0 },
      NULL },
    { "phone,amount,reference,term,TERM ",
      P,
      "column appears twice",
      "TERM",
      { 0 },
      NULL },
    { "phone,,amount,reference", P, "column has no name", "", { 0 }, NULL },
    { "phone,amount,reference,  ", P, "column has no name", "", { 0 }, NULL },
    /* The reader's problem with the header is the header's problem. */
    { "phone,amount,reference,caf\xe9",
      P,
      "is not valid UTF-8",
      "",
      { 0 },
      NULL },
    /* A name of 128 bytes is kept whole... */
    { "phone,amount,reference," X127 "y",
      P,
      NULL,
      "",
      { -1, 0, 1, 2, -1, -1, -1 },
      X127 "y" },
    /* ...a longer one is cut before a character, never inside it. */
    { "phone,amount,reference," X127 E_ACUTE,
      P,
      NULL,
      "",
      { -1, 0, 1, 2, -1, -1, -1 },
      X127 },
    { "phone,amount,reference," X63 E_ACUTE,
      P,
      NULL,
      "",
      { -1, 0, 1, 2, -1, -1, -1 },
      X63 E_ACUTE },
    /* Names alike up to the cut are one column. */
    { "phone,amount,reference," X127 "ab," X127 "ac",
      P,
      "column appears twice",
      X127 "a",
      { 0 },
      NULL },
};

/* The metadata columns' names joined by '|'. */
static void metadata_names(const struct ingest_columns *cols, struct buf *out)
{
    size_t i;

    for (i = 0; i < cols->nfields; i++) {
        if (!cols->is_metadata[i])
            continue;
        if (out->len > 0)
            assert_int_equal(buf_append_byte(out, '|'), PAYQ_OK);
        assert_int_equal(buf_append_str(out, cols->names[i]), PAYQ_OK);
    }
}

static void check_row(size_t i, const struct header_row *want)
{
    struct ingest_reader *r = NULL;
    struct ingest_columns cols;
    struct ingest_row header;
    const char *name = NULL;
    const char *problem;
    struct buf meta;
    int c;

    assert_int_equal(
        ingest_reader_create_mem(want->header, strlen(want->header), ',', &r),
        PAYQ_OK);
    assert_int_equal(ingest_reader_next(r, &header), PAYQ_OK);
    problem = ingest_columns_map(&cols, &header, want->kind, &name);
    if ((problem == NULL) != (want->problem == NULL) ||
        (problem != NULL && (strcmp(problem, want->problem) != 0 ||
                             strcmp(name, want->name) != 0)))
        fail_msg("row %zu: got \"%s\" (%s), want \"%s\" (%s)", i,
                 problem != NULL ? problem : "maps", name,
                 want->problem != NULL ? want->problem : "maps", want->name);
    if (problem == NULL) {
        for (c = 0; c < INGEST_COL_COUNT; c++)
            if (cols.index[c] != want->index[c])
                fail_msg("row %zu: %s at %d, want %d", i,
                         ingest_col_name((enum ingest_col)c), cols.index[c],
                         want->index[c]);
        buf_init(&meta, 4096);
        metadata_names(&cols, &meta);
        if (strcmp(buf_str(&meta), want->metadata) != 0)
            fail_msg("row %zu: metadata \"%s\", want \"%s\"", i, buf_str(&meta),
                     want->metadata);
        buf_cleanup(&meta);
    }
    ingest_reader_destroy(r);
}

static void columns_map_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ROWS(rows); i++)
        check_row(i, &rows[i]);
}

/* Every kept name is whole UTF-8: its last character is complete. */
static void columns_cut_names_end_on_a_character(void **state)
{
    static const char *const tails[] = {
        E_ACUTE,
        "\xe2\x82\xac",
        "\xf0\x9f\x98\x80",
    };
    char header[512];
    size_t pad;
    size_t t;

    (void)state;
    for (t = 0; t < ROWS(tails); t++) {
        for (pad = 118; pad < 128; pad++) {
            struct ingest_reader *r = NULL;
            struct ingest_columns cols;
            struct ingest_row row;
            const char *name = NULL;
            const char *kept;
            size_t n;
            size_t len;

            n = (size_t)snprintf(header, sizeof(header),
                                 "phone,amount,reference,");
            memset(header + n, 'x', pad);
            snprintf(header + n + pad, sizeof(header) - n - pad, "%s%s",
                     tails[t], tails[t]);
            assert_int_equal(
                ingest_reader_create_mem(header, strlen(header), ',', &r),
                PAYQ_OK);
            assert_int_equal(ingest_reader_next(r, &row), PAYQ_OK);
            assert_null(ingest_columns_map(&cols, &row, P, &name));
            kept = cols.names[3];
            len = strlen(kept);
            assert_true(len <= INGEST_COLUMN_NAME_MAX);
            /* A prefix of the name that ends where a character does. */
            assert_memory_equal(kept, header + n, len);
            if (len != pad && len != pad + strlen(tails[t]) &&
                len != pad + 2 * strlen(tails[t]))
                fail_msg("tail %zu pad %zu: kept %zu bytes", t, pad, len);
            ingest_reader_destroy(r);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(columns_map_table),
        cmocka_unit_test(columns_cut_names_end_on_a_character),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
