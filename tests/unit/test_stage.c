/*
 * Unit tests for ingest/stage: a data row validated against its header
 * and encoded as one line of COPY text. Table rows give a header, a row,
 * --kind, and either the problem (column and text) or the columns the
 * COPY line must carry. Metadata is also parsed back as JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "ingest/columns.h"
#include "ingest/reader.h"
#include "ingest/stage.h"

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))
#define P JOB_KIND_PAY
#define D JOB_KIND_DEPOSIT

#define MIXED "kind,reference,phone,amount,reason,name,withdrawcharge"
#define MIXED_BARE "kind,reference,phone,amount"
#define PAYOUT "reference,phone,amount,reason,name,withdrawcharge"

#define X50 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define X200 X50 X50 X50 X50

/* The staging columns of a valid row, in COPY order (see stage.h). */
enum {
    C_LINE,
    C_KIND,
    C_PHONE,
    C_AMOUNT,
    C_CHARGE,
    C_REASON,
    C_NAME,
    C_REFERENCE,
    C_METADATA,
    C_RAW,
    C_COUNT
};

struct stage_row {
    const char *header;
    const char *row;
    enum job_kind kind; /* --kind */
    const char *column; /* the problem's column; NULL: valid */
    const char *problem;
    /* When valid: kind, amount, charge, reason, name ("\\N": none). */
    const char *want[5];
};

static const struct stage_row rows[] = {
    /* The kind column: either word, any case, spaces around. */
    { MIXED,
      "pay,R1,0788123456,100,,,",
      P,
      NULL,
      NULL,
      { "pay", "100", "0", "\\N", "\\N" } },
    { MIXED,
      " PAY ,R1,0788123456,100,,,",
      D,
      NULL,
      NULL,
      { "pay", "100", "0", "\\N", "\\N" } },
    { MIXED,
      "Deposit,R1,0788123456,100,Refund,Ange,",
      P,
      NULL,
      NULL,
      { "deposit", "100", "0", "Refund", "Ange" } },
    /* Empty: --kind decides. */
    { MIXED,
      ",R1,0788123456,100,,,",
      P,
      NULL,
      NULL,
      { "pay", "100", "0", "\\N", "\\N" } },
    { MIXED,
      ",R1,0788123456,100,Refund,Ange,",
      D,
      NULL,
      NULL,
      { "deposit", "100", "0", "Refund", "Ange" } },
    { MIXED,
      "payout,R1,0788123456,100,,,",
      P,
      "kind",
      "must be pay or deposit",
      { NULL } },
    { MIXED,
      "pay deposit,R1,0788123456,100,,,",
      P,
      "kind",
      "must be pay or deposit",
      { NULL } },
    { MIXED,
      "p,R1,0788123456,100,,,",
      P,
      "kind",
      "must be pay or deposit",
      { NULL } },
    { MIXED,
      "depositdepositdeposit,R1,0788123456,100,,,",
      P,
      "kind",
      "must be pay or deposit",
      { NULL } },
    /* A deposit row in a file without reason and name columns. */
    { MIXED_BARE,
      "deposit,R1,0788123456,100",
      P,
      "-",
      "deposit rows need reason and name columns",
      { NULL } },
    { MIXED_BARE,
      "pay,R1,0788123456,100",
      P,
      NULL,
      NULL,
      { "pay", "100", "0", "\\N", "\\N" } },
    /* Deposit checks: reason and name required, trimmed, bounded. */
    { PAYOUT, "R1,0788123456,100,,Ange,", D, "reason", "is empty", { NULL } },
    { PAYOUT, "R1,0788123456,100,  ,Ange,", D, "reason", "is empty", { NULL } },
    { PAYOUT, "R1,0788123456,100,Refund,,", D, "name", "is empty", { NULL } },
    { PAYOUT,
      "R1,0788123456,100,Refund,\" \t\",",
      D,
      "name",
      "is empty",
      { NULL } },
    { PAYOUT,
      "R1,0788123456,100,\"Re\x01"
      "fund\",Ange,",
      D,
      "reason",
      "contains a control character",
      { NULL } },
    { PAYOUT,
      "R1,0788123456,100,Refund," X200 ",",
      D,
      NULL,
      NULL,
      { "deposit", "100", "0", "Refund", X200 } },
    { PAYOUT,
      "R1,0788123456,100,Refund," X200 "y,",
      D,
      "name",
      "is too long",
      { NULL } },
    { PAYOUT,
      "R1,0788123456,100,\" Refund \",\" Ange \",",
      D,
      NULL,
      NULL,
      { "deposit", "100", "0", "Refund", "Ange" } },
    { PAYOUT,
      "R1,0788123456,100,\"Re\tfund\",Ange,",
      D,
      "reason",
      "contains a control character",
      { NULL } },
    /* A backslash travels escaped for COPY. */
    { PAYOUT,
      "R1,0788123456,100,Re\\fund,Ange,",
      D,
      NULL,
      NULL,
      { "deposit", "100", "0", "Re\\\\fund", "Ange" } },
    /* The withdraw charge: empty is 0, else a whole number >= 0. */
    { PAYOUT,
      "R1,0788123456,100,Refund,Ange,",
      D,
      NULL,
      NULL,
      { "deposit", "100", "0", "Refund", "Ange" } },
    { PAYOUT,
      "R1,0788123456,100,Refund,Ange,  ",
      D,
      NULL,
      NULL,
      { "deposit", "100", "0", "Refund", "Ange" } },
    { PAYOUT,
      "R1,0788123456,100,Refund,Ange,0",
      D,
      NULL,
      NULL,
      { "deposit", "100", "0", "Refund", "Ange" } },
    { PAYOUT,
      "R1,0788123456,100,Refund,Ange,\"1,500\"",
      D,
      NULL,
      NULL,
      { "deposit", "100", "1500", "Refund", "Ange" } },
    { PAYOUT,
      "R1,0788123456,100,Refund,Ange,-1",
      D,
      "withdrawcharge",
      "is negative",
      { NULL } },
    { PAYOUT,
      "R1,0788123456,100,Refund,Ange,1.5",
      D,
      "withdrawcharge",
      "has a fraction of a franc",
      { NULL } },
    { PAYOUT,
      "R1,0788123456,100,Refund,Ange,5000001",
      D,
      "withdrawcharge",
      "is above the maximum",
      { NULL } },
    { PAYOUT,
      "R1,0788123456,100,Refund,Ange,5000000",
      D,
      NULL,
      NULL,
      { "deposit", "100", "5000000", "Refund", "Ange" } },
    /* A pay row carries no charge, whatever the column holds. */
    { MIXED,
      "pay,R1,0788123456,100,,,250",
      P,
      NULL,
      NULL,
      { "pay", "100", "0", "\\N", "\\N" } },
    /* Order of checks: kind, reference, phone, amount, then deposit. */
    { MIXED, "bad,,bad,bad,,,", P, "kind", "must be pay or deposit", { NULL } },
    { MIXED, "pay,,bad,bad,,,", P, "reference", "is empty", { NULL } },
    { MIXED,
      "pay,R1,bad,bad,,,",
      P,
      "phone",
      "is not a phone number",
      { NULL } },
    { MIXED,
      "deposit,R1,0788123456,bad,,,",
      P,
      "amount",
      "is not a whole number of francs",
      { NULL } },
    /* The reader's own problem comes first. */
    { MIXED,
      "pay,R1,0788123456,100,,",
      P,
      "-",
      "has 6 fields, the header has 7",
      { NULL } },
};

/* Splits a COPY line into its C_COUNT columns (in place). */
static void split_line(char *line, char **col)
{
    size_t n = 0;
    char *p = line;

    for (n = 0; n < C_COUNT; n++) {
        char *tab = strpbrk(p, "\t\n");

        col[n] = p;
        assert_non_null(tab);
        assert_true(n + 1 < C_COUNT ? *tab == '\t' : *tab == '\n');
        *tab = '\0';
        p = tab + 1;
    }
    assert_int_equal(*p, '\0');
}

/* Undoes COPY text escapes (\\ \t \n \r) in place. */
static void copy_unescape(char *s)
{
    char *out = s;

    for (; *s != '\0'; s++) {
        if (*s != '\\') {
            *out++ = *s;
            continue;
        }
        s++;
        assert_true(*s != '\0');
        *out++ = *s == 't' ? '\t' : *s == 'n' ? '\n' : *s == 'r' ? '\r' : *s;
    }
    *out = '\0';
}

/* A problem, copied out before the row and header it points into go. */
struct problem_copy {
    char column[256];
    char problem[128];
};

/* Stages text's second row against its first, with the given options. */
static enum payq_err stage_text(const char *text, enum job_kind kind,
                                bool keep_raw, struct buf *out,
                                struct problem_copy *pc)
{
    struct ingest_problem p;
    struct ingest_stage_opts opts = {
        .default_kind = kind,
        .min_amount = 1,
        .max_amount = 5000000,
        .keep_raw = keep_raw,
    };
    struct ingest_reader *r = NULL;
    struct ingest_columns cols;
    struct ingest_row header;
    struct ingest_row row;
    const char *name = NULL;
    enum job_kind got_kind;
    long long amount = 0;
    enum payq_err err;

    assert_int_equal(ingest_reader_create_mem(text, strlen(text), ',', &r),
                     PAYQ_OK);
    assert_int_equal(ingest_reader_next(r, &header), PAYQ_OK);
    assert_null(ingest_columns_map(&cols, &header, kind, &name));
    assert_int_equal(ingest_reader_next(r, &row), PAYQ_OK);
    err = ingest_stage_row(&cols, &row, &opts, out, &p, &amount, &got_kind);
    if (err == PAYQ_ERR_DATA) {
        snprintf(pc->column, sizeof(pc->column), "%s", p.column);
        snprintf(pc->problem, sizeof(pc->problem), "%s", p.problem);
    }
    ingest_reader_destroy(r);
    return err;
}

static void check_row(size_t i, const struct stage_row *want)
{
    char text[1024];
    char *col[C_COUNT];
    struct problem_copy p;
    struct buf out;
    enum payq_err err;
    size_t c;

    snprintf(text, sizeof(text), "%s\n%s\n", want->header, want->row);
    buf_init(&out, 64 * 1024);
    err = stage_text(text, want->kind, false, &out, &p);
    if (want->column != NULL) {
        if (err != PAYQ_ERR_DATA || strcmp(p.column, want->column) != 0 ||
            strcmp(p.problem, want->problem) != 0)
            fail_msg("row %zu: got %s, want %s: %s", i,
                     err == PAYQ_OK ? "valid" : p.problem, want->column,
                     want->problem);
        assert_int_equal(out.len, 0); /* nothing written */
    } else {
        if (err != PAYQ_OK)
            fail_msg("row %zu: refused: %s: %s", i, p.column, p.problem);
        split_line(out.data, col);
        assert_string_equal(col[C_LINE], "2");
        assert_string_equal(col[C_PHONE], "250788123456");
        assert_string_equal(col[C_REFERENCE], "R1");
        assert_string_equal(col[C_RAW], "\\N");
        for (c = 0; c < 5; c++) {
            static const int which[5] = { C_KIND, C_AMOUNT, C_CHARGE, C_REASON,
                                          C_NAME };

            if (strcmp(col[which[c]], want->want[c]) != 0)
                fail_msg("row %zu: column %d is \"%s\", want \"%s\"", i,
                         which[c], col[which[c]], want->want[c]);
        }
    }
    buf_cleanup(&out);
}

static void stage_rows_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ROWS(rows); i++)
        check_row(i, &rows[i]);
}

/*
 * The metadata column parses back, as JSON, to an object of the extra
 * columns with their trimmed values; an empty one is kept as "".
 */
static void stage_metadata_is_valid_json(void **state)
{
    static const char text[] =
        "reference,phone,amount,Student,\"Sch\"\"ool\",Note,Empty,"
        "\"Caf\xc3\xa9 \\\\ x\"\n"
        "R1,0788123456,100, Ange ,\"Green \"\"Hills\"\"\","
        "\"tab\there\nline \\\\ back\x01slash\",  ,\xe2\x82\xac\n";
    char *col[C_COUNT];
    struct problem_copy p;
    json_error_t jerr;
    json_t *meta;
    struct buf out;

    (void)state;
    buf_init(&out, 64 * 1024);
    assert_int_equal(stage_text(text, P, false, &out, &p), PAYQ_OK);
    split_line(out.data, col);
    copy_unescape(col[C_METADATA]);
    meta = json_loads(col[C_METADATA], JSON_REJECT_DUPLICATES, &jerr);
    if (meta == NULL)
        fail_msg("metadata is not JSON (%s): %s", jerr.text, col[C_METADATA]);
    assert_true(json_is_object(meta));
    assert_int_equal(json_object_size(meta), 5);
    assert_string_equal(json_string_value(json_object_get(meta, "Student")),
                        "Ange");
    assert_string_equal(json_string_value(json_object_get(meta, "Sch\"ool")),
                        "Green \"Hills\"");
    assert_string_equal(json_string_value(json_object_get(meta, "Note")),
                        "tab\there\nline \\\\ back\x01slash");
    assert_string_equal(
        json_string_value(json_object_get(meta, "Caf\xc3\xa9 \\\\ x")),
        "\xe2\x82\xac");
    assert_string_equal(json_string_value(json_object_get(meta, "Empty")), "");
    json_decref(meta);
    buf_cleanup(&out);
}

/*
 * The raw text staged for --skip-invalid is the row as in the file, and
 * a raw text the reader cut inside a character loses that character: a
 * UTF8 database would refuse the COPY line otherwise.
 */
static void stage_raw_text_ends_on_a_character(void **state)
{
    static const char *const raws[][2] = {
        { "R1,0788123456,100", "R1,0788123456,100" },
        { "R1,0788123456,100,\xc3\xa9", "R1,0788123456,100,\xc3\xa9" },
        { "R1,0788123456,100,\xc3", "R1,0788123456,100," },
        { "R1,0788123456,100,\xe2\x82", "R1,0788123456,100," },
        { "R1,0788123456,100,\xf0\x9f\x98", "R1,0788123456,100," },
        { "R1,0788123456,100,\xf0\x9f\x98\x80",
          "R1,0788123456,100,\xf0\x9f\x98\x80" },
    };
    static const char *const fields[] = { "R1", "0788123456", "100" };
    static const size_t lens[] = { 2, 10, 3 };
    struct ingest_stage_opts opts = {
        .default_kind = P,
        .min_amount = 1,
        .max_amount = 5000000,
        .keep_raw = true,
    };
    struct ingest_reader *r = NULL;
    struct ingest_columns cols;
    struct ingest_row header;
    const char *name = NULL;
    size_t i;

    (void)state;
    assert_int_equal(
        ingest_reader_create_mem("reference,phone,amount\n", 23, ',', &r),
        PAYQ_OK);
    assert_int_equal(ingest_reader_next(r, &header), PAYQ_OK);
    assert_null(ingest_columns_map(&cols, &header, P, &name));
    for (i = 0; i < ROWS(raws); i++) {
        struct ingest_row row = {
            .line = 2,
            .nfields = 3,
            .fields = fields,
            .lens = lens,
            .raw = raws[i][0],
            .raw_len = strlen(raws[i][0]),
        };
        struct ingest_problem p;
        enum job_kind kind;
        long long amount;
        char *col[C_COUNT];
        struct buf out;

        buf_init(&out, 64 * 1024);
        assert_int_equal(
            ingest_stage_row(&cols, &row, &opts, &out, &p, &amount, &kind),
            PAYQ_OK);
        split_line(out.data, col);
        assert_string_equal(col[C_RAW], raws[i][1]);
        buf_cleanup(&out);
    }
    ingest_reader_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stage_rows_table),
        cmocka_unit_test(stage_metadata_is_valid_json),
        cmocka_unit_test(stage_raw_text_ends_on_a_character),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
