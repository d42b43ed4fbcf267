/*
 * libFuzzer target for the validators and the row stager: an input is a
 * CSV file, read with ingest/reader, its header mapped (kind pay unless
 * the first byte is 'D', which asks for deposit and is not part of the
 * file), and every row validated and encoded as COPY text.
 *
 * Beyond the sanitizers it checks what the stager promises: a valid row
 * gives exactly one COPY line with ten tab-separated columns, a canonical
 * phone and an amount within bounds, text columns that a UTF8 database
 * takes (valid UTF-8, no NUL) and metadata that parses as a JSON object
 * without duplicate keys or \u0000 (as jsonb requires); an invalid row
 * writes nothing. Each field is also run through every validator on its
 * own.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "ingest/columns.h"
#include "ingest/fields.h"
#include "ingest/reader.h"
#include "ingest/stage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_stage: %s\n", what);
        abort();
    }
}

static void check_phone(const char *phone)
{
    size_t i;

    check(strlen(phone) == 12, "canonical phone has 12 digits");
    check(strncmp(phone, "2507", 4) == 0, "canonical phone starts 2507");
    check(strchr("2389", phone[4]) != NULL, "mobile prefix 072/3/8/9");
    for (i = 0; i < 12; i++)
        check(phone[i] >= '0' && phone[i] <= '9', "phone is digits");
}

/* Every validator on one field's text. */
static void validate_alone(const char *text, size_t len)
{
    char phone[INGEST_PHONE_SIZE];
    long long amount = -1;
    size_t start = 0;
    size_t ref_len = 0;

    if (ingest_phone_parse(text, phone) == NULL)
        check_phone(phone);
    if (ingest_amount_parse(text, 1, 5000000, &amount) == NULL)
        check(amount >= 1 && amount <= 5000000, "amount within bounds");
    if (ingest_charge_parse(text, 5000000, &amount) == NULL)
        check(amount >= 0 && amount <= 5000000, "charge within bounds");
    if (ingest_reference_check(text, &start, &ref_len) == NULL)
        check(ref_len > 0 && start + ref_len <= len, "reference span");
    (void)ingest_text_check(text, len);
    (void)ingest_required_text_check(text, 200);
}

/*
 * One COPY text column, unescaped as PostgreSQL will (\\, \t, \n, \r;
 * \N is NULL). Returns the unescaped length; out has len + 1 bytes.
 */
static size_t copy_value(const char *s, size_t len, char *out, int *null)
{
    size_t n = 0;
    size_t i;

    *null = len == 2 && s[0] == '\\' && s[1] == 'N';
    for (i = 0; i < len && !*null; i++) {
        char c = s[i];

        if (c == '\\') {
            check(i + 1 < len, "COPY escape cut short");
            c = s[++i];
            check(strchr("\\tnr", c) != NULL, "unknown COPY escape");
            c = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return n;
}

/* What the database will do with a text column, and with the metadata. */
static void check_column(size_t index, const char *s, size_t len)
{
    char *value = malloc(len + 1);
    json_error_t jerr;
    json_t *meta;
    size_t n;
    int null;

    check(value != NULL, "out of memory");
    n = copy_value(s, len, value, &null);
    check(null || ingest_text_check(value, n) == NULL,
          "text column a UTF8 database refuses");
    if (index == 8) {
        check(!null, "metadata is never NULL");
        meta = json_loadb(value, n, JSON_REJECT_DUPLICATES, &jerr);
        check(meta != NULL, "metadata is not JSON");
        check(json_is_object(meta), "metadata is not an object");
        json_decref(meta);
    }
    free(value);
}

/* A staged line: one newline at the end, ten columns, nothing else. */
static void check_line(const char *line, size_t len)
{
    size_t tabs = 0;
    size_t start = 0;
    size_t i;

    check(len > 0 && line[len - 1] == '\n', "line ends with newline");
    for (i = 0; i + 1 < len; i++) {
        check(line[i] != '\n' && line[i] != '\r', "no raw line break");
        if (line[i] != '\t')
            continue;
        check_column(tabs, line + start, i - start);
        tabs++;
        start = i + 1;
    }
    check(tabs == 9, "ten columns");
    check_column(tabs, line + start, len - 1 - start);
}

static void stage_rows(struct ingest_reader *r,
                       const struct ingest_columns *cols,
                       const struct ingest_stage_opts *opts)
{
    struct ingest_row row;
    struct buf out;
    size_t i;

    buf_init(&out, 1024 * 1024);
    while (ingest_reader_next(r, &row) == PAYQ_OK) {
        struct ingest_problem p;
        long long amount = 0;
        enum job_kind kind;
        size_t before;
        enum payq_err err;

        buf_reset(&out);
        before = out.len;
        for (i = 0; i < row.nfields; i++)
            if (strlen(row.fields[i]) == row.lens[i])
                validate_alone(row.fields[i], row.lens[i]);
        err = ingest_stage_row(cols, &row, opts, &out, &p, &amount, &kind);
        if (err == PAYQ_OK) {
            check_line(out.data + before, out.len - before);
            check(amount >= opts->min_amount && amount <= opts->max_amount,
                  "staged amount within bounds");
        } else {
            check(out.len == before, "invalid row writes nothing");
            check(p.problem != NULL && p.column != NULL, "problem named");
        }
    }
    buf_cleanup(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ingest_stage_opts opts = {
        .default_kind = JOB_KIND_PAY,
        .min_amount = 1,
        .max_amount = 5000000,
        .keep_raw = true,
    };
    struct ingest_reader *r = NULL;
    struct ingest_columns *cols = malloc(sizeof(*cols));
    struct ingest_row header;
    const char *name = NULL;
    const char *text = (const char *)data;

    if (cols == NULL)
        return 0;
    if (size > 0 && text[0] == 'D') {
        opts.default_kind = JOB_KIND_DEPOSIT;
        text++;
        size--;
    }
    if (ingest_reader_create_mem(text, size, 0, &r) == PAYQ_OK &&
        ingest_reader_next(r, &header) == PAYQ_OK &&
        ingest_columns_map(cols, &header, opts.default_kind, &name) == NULL)
        stage_rows(r, cols, &opts);
    ingest_reader_destroy(r);
    free(cols);
    return 0;
}
