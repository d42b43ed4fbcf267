/*
 * Unit tests for report/format (table, CSV, JSON) and the date check of
 * report/report. Output goes to memory (open_memstream); CSV is read back
 * with libcsv and JSON with jansson, so "parses back to the same figures"
 * is checked by parsers that are not ours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <csv.h>
#include <jansson.h>

#include "report/format.h"
#include "report/report.h"

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

/* A little result: NCOLS columns, cells as PostgreSQL sends them. */
enum { NCOLS = 5 };

static const struct report_column cols[NCOLS] = {
    { "school", REPORT_TYPE_TEXT },    { "job_count", REPORT_TYPE_NUMBER },
    { "amount", REPORT_TYPE_AMOUNT },  { "rate", REPORT_TYPE_NUMBER },
    { "closed", REPORT_TYPE_BOOLEAN },
};

/* e-grave as bytes: "Coll\xc3\xa8ge" is 7 characters in 8 bytes. */
static const char *const cells[][NCOLS] = {
    { "Coll\xc3\xa8ge, Huye", "12", "1234500", "66.7", "t" },
    { "Say \"hi\"\nline 2", "3", "-4500", NULL, "f" },
    { "", "0", "0", "NaN", NULL },
    { NULL, "1000", "5000000000", "100.0", "t" },
};

static const char *array_cell(const void *ctx, int row, int col)
{
    const char *const(*c)[NCOLS] = ctx;

    return c[row][col];
}

static const char *array_cell2(const void *ctx, int row, int col)
{
    const char *const(*c)[2] = ctx;

    return c[row][col];
}

static struct report_rows all_rows(int count)
{
    struct report_rows rows = { count, array_cell, cells };

    return rows;
}

/* Output captured in memory; the caller frees text. */
struct capture {
    char *text;
    size_t len;
    FILE *f;
};

static void capture_open(struct capture *c)
{
    c->text = NULL;
    c->len = 0;
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
}

static void capture_close(struct capture *c)
{
    assert_int_equal(fclose(c->f), 0);
    c->f = NULL;
}

static char *table_of(int count)
{
    struct report_rows rows = all_rows(count);
    struct capture c;

    capture_open(&c);
    assert_int_equal(report_table_write(c.f, cols, NCOLS, &rows), PAYQ_OK);
    capture_close(&c);
    return c.text;
}

static char *stream_of(enum report_format fmt, int count, int chunk)
{
    struct report_stream s;
    struct capture c;
    int done;

    capture_open(&c);
    report_stream_init(&s, fmt, c.f, cols, NCOLS);
    assert_int_equal(report_stream_begin(&s), PAYQ_OK);
    /* Rows in runs of chunk, as single-row mode delivers them. */
    for (done = 0; done < count; done += chunk) {
        int n = count - done < chunk ? count - done : chunk;
        struct report_rows rows = { n, array_cell, cells + done };

        assert_int_equal(report_stream_rows(&s, &rows), PAYQ_OK);
    }
    assert_int_equal(report_stream_end(&s), PAYQ_OK);
    assert_int_equal(s.rows, count);
    capture_close(&c);
    return c.text;
}

/* Aligned as psql aligns: centred headers, text left, numbers right. */
static void report_format_table_aligned(void **state)
{
    static const char want[] =
        "      school      | job_count |    amount     | rate  | closed\n"
        "------------------+-----------+---------------+-------+--------\n"
        " Coll\xc3\xa8ge, Huye    |        12 |     1,234,500 |  66.7 |"
        " true\n"
        " Say \"hi\"\\nline 2 |         3 |        -4,500 |       | false\n"
        "                  |         0 |             0 |   NaN | \n"
        "                  |      1000 | 5,000,000,000 | 100.0 | true\n"
        "(4 rows)\n";
    char *got = table_of(4);

    (void)state;
    assert_string_equal(got, want);
    free(got);
}

/*
 * Columns, not characters: a decomposed accent ("e" + U+0301) takes no
 * column and a wide character two, as psql counts them, so every row
 * lines up; a sequence cut off at the end of a cell counts one.
 */
static void report_format_table_counts_columns(void **state)
{
    static const struct report_column one[] = {
        { "name", REPORT_TYPE_TEXT },
        { "n", REPORT_TYPE_NUMBER },
    };
    static const char *const names[][2] = {
        { "Lyc\xc3\xa9"
          "e",
          "1" }, /* U+00E9: five columns */
        { "Lyce\xcc\x81"
          "e",
          "2" },                             /* e + U+0301: five columns */
        { "\xe5\xad\xa6\xe6\xa0\xa1", "3" }, /* two wide: four */
        { "ab\xe5\xad", "4" },               /* cut off: three */
    };
    static const char want[] = " name  | n\n"
                               "-------+---\n"
                               " Lyc\xc3\xa9"
                               "e | 1\n"
                               " Lyce\xcc\x81"
                               "e | 2\n"
                               " \xe5\xad\xa6\xe6\xa0\xa1  | 3\n"
                               " ab\xe5\xad   | 4\n"
                               "(4 rows)\n";
    struct report_rows rows = { 4, array_cell2, names };
    struct capture c;

    (void)state;
    capture_open(&c);
    assert_int_equal(report_table_write(c.f, one, 2, &rows), PAYQ_OK);
    capture_close(&c);
    assert_string_equal(c.text, want);
    free(c.text);
}

/* Thousands separators on amounts only, and only in tables. */
static void report_format_separators_table_only(void **state)
{
    char *table = table_of(4);
    char *csv = stream_of(REPORT_FORMAT_CSV, 4, 4);
    char *json = stream_of(REPORT_FORMAT_JSON, 4, 4);

    (void)state;
    assert_non_null(strstr(table, "5,000,000,000"));
    assert_non_null(strstr(table, " 1000 ")); /* a count: no separator */
    assert_null(strstr(csv, "1,234,500"));
    assert_non_null(strstr(csv, ",1234500,"));
    assert_null(strstr(json, "1,234,500"));
    assert_non_null(strstr(json, "\"amount\": 1234500"));
    free(table);
    free(csv);
    free(json);
}

static void report_format_table_empty(void **state)
{
    static const char *const counts[1][NCOLS] = { { "12" } };
    struct report_rows rows = all_rows(0);
    struct capture c;

    (void)state;
    capture_open(&c);
    assert_int_equal(report_table_write(c.f, cols, 2, &rows), PAYQ_OK);
    capture_close(&c);
    assert_string_equal(c.text, " school | job_count\n"
                                "--------+-----------\n"
                                "(0 rows)\n");
    free(c.text);

    capture_open(&c);
    rows.count = 1;
    rows.ctx = counts;
    assert_int_equal(report_table_write(c.f, cols + 1, 1, &rows), PAYQ_OK);
    capture_close(&c);
    assert_string_equal(c.text, " job_count\n"
                                "-----------\n"
                                "        12\n"
                                "(1 row)\n");
    free(c.text);
}

/* The exact bytes: quoting, doubled quotes, CRLF, "" apart from null. */
static void report_format_csv_rfc4180(void **state)
{
    static const char want[] =
        "school,job_count,amount,rate,closed\r\n"
        "\"Coll\xc3\xa8ge, Huye\",12,1234500,66.7,true\r\n"
        "\"Say \"\"hi\"\"\nline 2\",3,-4500,,false\r\n"
        "\"\",0,0,NaN,\r\n"
        ",1000,5000000000,100.0,true\r\n";
    char *got = stream_of(REPORT_FORMAT_CSV, 4, 1);

    (void)state;
    assert_string_equal(got, want);
    free(got);
}

/* Rows read back by libcsv: fields, NULL for an unquoted empty field. */
struct csv_back {
    char *fields[8][NCOLS];
    int row;
    int col;
};

static void on_field(void *field, size_t len, void *data)
{
    struct csv_back *b = data;

    assert_true(b->row < 8 && b->col < NCOLS);
    b->fields[b->row][b->col++] = field != NULL ? strndup(field, len) : NULL;
}

static void on_row(int c, void *data)
{
    struct csv_back *b = data;

    (void)c;
    assert_int_equal(b->col, NCOLS);
    b->row++;
    b->col = 0;
}

static void csv_read_back(const char *text, struct csv_back *b)
{
    struct csv_parser p;

    memset(b, 0, sizeof(*b));
    assert_int_equal(csv_init(&p, CSV_STRICT | CSV_EMPTY_IS_NULL), 0);
    assert_int_equal(csv_parse(&p, text, strlen(text), on_field, on_row, b),
                     strlen(text));
    assert_int_equal(csv_fini(&p, on_field, on_row, b), 0);
    csv_free(&p);
}

static const char *bool_word(const char *cell)
{
    if (cell == NULL)
        return NULL;
    return strcmp(cell, "t") == 0 ? "true" : "false";
}

static void report_format_csv_parses_back(void **state)
{
    char *text = stream_of(REPORT_FORMAT_CSV, 4, 3);
    struct csv_back b;
    int r;
    int c;

    (void)state;
    csv_read_back(text, &b);
    assert_int_equal(b.row, 5);
    for (c = 0; c < NCOLS; c++)
        assert_string_equal(b.fields[0][c], cols[c].name);
    for (r = 0; r < 4; r++) {
        for (c = 0; c < NCOLS; c++) {
            const char *want = c == 4 ? bool_word(cells[r][c]) : cells[r][c];
            const char *got = b.fields[r + 1][c];

            if (want == NULL)
                assert_null(got);
            else
                assert_string_equal(got, want);
        }
    }
    for (r = 0; r < b.row; r++)
        for (c = 0; c < NCOLS; c++)
            free(b.fields[r][c]);
    free(text);
}

/* Numbers are JSON numbers, booleans and nulls JSON's, NaN a string. */
static void report_format_json_parses_back(void **state)
{
    char *text = stream_of(REPORT_FORMAT_JSON, 4, 1);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    json_t *row;

    (void)state;
    if (root == NULL)
        fail_msg("not JSON (%s): %s", jerr.text, text);
    assert_true(json_is_array(root));
    assert_int_equal(json_array_size(root), 4);

    row = json_array_get(root, 0);
    assert_int_equal(json_object_size(row), NCOLS);
    assert_string_equal(json_string_value(json_object_get(row, "school")),
                        "Coll\xc3\xa8ge, Huye");
    assert_true(json_is_integer(json_object_get(row, "job_count")));
    assert_int_equal(json_integer_value(json_object_get(row, "amount")),
                     1234500);
    assert_true(json_is_real(json_object_get(row, "rate")));
    assert_true(json_is_true(json_object_get(row, "closed")));

    row = json_array_get(root, 1);
    assert_string_equal(json_string_value(json_object_get(row, "school")),
                        "Say \"hi\"\nline 2");
    assert_int_equal(json_integer_value(json_object_get(row, "amount")), -4500);
    assert_true(json_is_null(json_object_get(row, "rate")));
    assert_true(json_is_false(json_object_get(row, "closed")));

    row = json_array_get(root, 2);
    assert_string_equal(json_string_value(json_object_get(row, "school")), "");
    assert_string_equal(json_string_value(json_object_get(row, "rate")), "NaN");
    assert_true(json_is_null(json_object_get(row, "closed")));

    row = json_array_get(root, 3);
    assert_true(json_is_null(json_object_get(row, "school")));
    assert_int_equal(json_integer_value(json_object_get(row, "amount")),
                     5000000000LL);
    json_decref(root);
    free(text);
}

static void report_format_json_empty(void **state)
{
    char *text = stream_of(REPORT_FORMAT_JSON, 0, 1);
    char *csv = stream_of(REPORT_FORMAT_CSV, 0, 1);

    (void)state;
    assert_string_equal(text, "[]\n");
    assert_string_equal(csv, "school,job_count,amount,rate,closed\r\n");
    free(text);
    free(csv);
}

/* Control characters never reach a JSON string raw. */
static void report_format_json_escapes(void **state)
{
    static const struct report_column one[1] = { { "t", REPORT_TYPE_TEXT } };
    static const char *const bad[1][NCOLS] = { { "a\x01\\b\tc" } };
    struct report_rows rows = { 1, array_cell, bad };
    struct report_stream s;
    struct capture c;

    (void)state;
    capture_open(&c);
    report_stream_init(&s, REPORT_FORMAT_JSON, c.f, one, 1);
    assert_int_equal(report_stream_begin(&s), PAYQ_OK);
    assert_int_equal(report_stream_rows(&s, &rows), PAYQ_OK);
    assert_int_equal(report_stream_end(&s), PAYQ_OK);
    capture_close(&c);
    assert_string_equal(c.text, "[\n  {\"t\": \"a\\u0001\\\\b\\tc\"}\n]\n");
    free(c.text);
}

static void report_format_names(void **state)
{
    enum report_format f = REPORT_FORMAT_TABLE;

    (void)state;
    assert_true(report_format_parse("csv", &f));
    assert_int_equal(f, REPORT_FORMAT_CSV);
    assert_true(report_format_parse("json", &f));
    assert_int_equal(f, REPORT_FORMAT_JSON);
    assert_true(report_format_parse("table", &f));
    assert_int_equal(f, REPORT_FORMAT_TABLE);
    assert_false(report_format_parse("CSV", &f));
    assert_false(report_format_parse("", &f));
    assert_false(report_format_parse("xml", &f));
}

/* --since and --until: real days as YYYY-MM-DD, nothing else. */
static void report_date_parse_cases(void **state)
{
    static const struct {
        const char *text;
        bool ok;
    } cases[] = {
        { "2026-01-31", true },
        { "2026-02-28", true },
        { "2024-02-29", true },
        { "2000-02-29", true },
        { "2026-12-31", true },
        { "0001-01-01", true },
        { "2026-02-29", false },
        { "1900-02-29", false },
        { "2026-04-31", false },
        { "2026-13-01", false },
        { "2026-00-10", false },
        { "2026-01-00", false },
        { "0000-01-01", false },
        { "2026-1-01", false },
        { "2026-01-011", false },
        { "2026/01/01", false },
        { "", false },
        { "yesterday", false },
        { "2026-01-0a", false },
        { " 2026-01-01", false },
        { "2026-01-01'; drop table jobs; --", false },
    };
    char out[REPORT_DATE_SIZE];
    size_t i;

    (void)state;
    for (i = 0; i < ROWS(cases); i++) {
        memset(out, 0, sizeof(out));
        if (report_date_parse(cases[i].text, out) != cases[i].ok)
            fail_msg("row %zu \"%s\": want %s", i, cases[i].text,
                     cases[i].ok ? "valid" : "refused");
        if (cases[i].ok)
            assert_string_equal(out, cases[i].text);
    }
}

/* The fixed list: every name and view name finds its report. */
static void report_list_lookup(void **state)
{
    size_t i;

    (void)state;
    assert_int_equal(report_count(), 7);
    for (i = 0; i < report_count(); i++) {
        const struct report_info *r = report_at(i);

        assert_ptr_equal(report_find(r->name), r);
        assert_ptr_equal(report_find(r->view), r);
        assert_int_equal(strncmp(r->view, "report_", 7), 0);
    }
    assert_null(report_at(report_count()));
    assert_null(report_find("jobs"));
    assert_null(report_find("report_batches; drop table jobs"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_format_table_aligned),
        cmocka_unit_test(report_format_table_counts_columns),
        cmocka_unit_test(report_format_separators_table_only),
        cmocka_unit_test(report_format_table_empty),
        cmocka_unit_test(report_format_csv_rfc4180),
        cmocka_unit_test(report_format_csv_parses_back),
        cmocka_unit_test(report_format_json_parses_back),
        cmocka_unit_test(report_format_json_empty),
        cmocka_unit_test(report_format_json_escapes),
        cmocka_unit_test(report_format_names),
        cmocka_unit_test(report_date_parse_cases),
        cmocka_unit_test(report_list_lookup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
