/*
 * Row validation and COPY encoding. A row is validated completely before
 * a byte of it is written, so an invalid row never half-reaches the
 * staging stream.
 */
#include "ingest/stage.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ingest/fields.h"

/* The validated values of one row, pointing into the row's fields. */
struct staged {
    enum job_kind kind;
    char phone[INGEST_PHONE_SIZE];
    long long amount;
    long long charge;
    const char *reason; /* NULL for pay */
    const char *name;   /* NULL for pay */
    const char *reference;
    size_t reference_len;
};

static const char *field(const struct ingest_row *row,
                         const struct ingest_columns *cols, enum ingest_col col)
{
    int i = cols->index[col];

    return i >= 0 && (size_t)i < row->nfields ? row->fields[i] : "";
}

static void set_problem(struct ingest_problem *p,
                        const struct ingest_columns *cols,
                        const struct ingest_row *row, int index,
                        const char *problem)
{
    p->problem = problem;
    if (index < 0 || (size_t)index >= row->nfields ||
        (size_t)index >= cols->nfields) {
        p->column = "-";
        p->value = "";
        p->value_len = 0;
        return;
    }
    p->column = cols->names[index];
    p->value = row->fields[index];
    p->value_len = row->lens[index];
}

/* Validates one known column with check; NULL when it passes. */
#define CHECK(col, expr)                                                       \
    do {                                                                       \
        const char *why_ = (expr);                                             \
        if (why_ != NULL) {                                                    \
            set_problem(p, cols, row, cols->index[col], why_);                 \
            return PAYQ_ERR_DATA;                                              \
        }                                                                      \
    } while (0)

static const char *parse_kind(const char *text, enum job_kind dflt,
                              enum job_kind *kind)
{
    char word[16];
    size_t start = strspn(text, " \t");
    size_t len = strcspn(text + start, " \t");

    if (text[start + len + strspn(text + start + len, " \t")] != '\0' ||
        len >= sizeof(word))
        return "must be pay or deposit";
    if (len == 0) {
        *kind = dflt;
        return NULL;
    }
    memcpy(word, text + start, len);
    word[len] = '\0';
    if (strcasecmp(word, "pay") == 0)
        *kind = JOB_KIND_PAY;
    else if (strcasecmp(word, "deposit") == 0)
        *kind = JOB_KIND_DEPOSIT;
    else
        return "must be pay or deposit";
    return NULL;
}

static enum payq_err validate_deposit(const struct ingest_columns *cols,
                                      const struct ingest_row *row,
                                      const struct ingest_stage_opts *opts,
                                      struct staged *s,
                                      struct ingest_problem *p)
{
    if (cols->index[INGEST_COL_REASON] < 0 ||
        cols->index[INGEST_COL_NAME] < 0) {
        set_problem(p, cols, row, -1,
                    "deposit rows need reason and name columns");
        return PAYQ_ERR_DATA;
    }
    s->reason = field(row, cols, INGEST_COL_REASON);
    s->name = field(row, cols, INGEST_COL_NAME);
    CHECK(INGEST_COL_REASON,
          ingest_required_text_check(s->reason, INGEST_TEXT_MAX_CHARS));
    CHECK(INGEST_COL_NAME,
          ingest_required_text_check(s->name, INGEST_TEXT_MAX_CHARS));
    CHECK(INGEST_COL_CHARGE,
          ingest_charge_parse(field(row, cols, INGEST_COL_CHARGE),
                              opts->max_amount, &s->charge));
    return PAYQ_OK;
}

static enum payq_err validate(const struct ingest_columns *cols,
                              const struct ingest_row *row,
                              const struct ingest_stage_opts *opts,
                              struct staged *s, struct ingest_problem *p)
{
    size_t start = 0;

    memset(s, 0, sizeof(*s));
    if (row->problem != NULL) {
        set_problem(p, cols, row, (int)row->problem_field, row->problem);
        return PAYQ_ERR_DATA;
    }
    CHECK(INGEST_COL_KIND, parse_kind(field(row, cols, INGEST_COL_KIND),
                                      opts->default_kind, &s->kind));
    CHECK(INGEST_COL_REFERENCE,
          ingest_reference_check(field(row, cols, INGEST_COL_REFERENCE), &start,
                                 &s->reference_len));
    s->reference = field(row, cols, INGEST_COL_REFERENCE) + start;
    CHECK(INGEST_COL_PHONE,
          ingest_phone_parse(field(row, cols, INGEST_COL_PHONE), s->phone));
    CHECK(INGEST_COL_AMOUNT,
          ingest_amount_parse(field(row, cols, INGEST_COL_AMOUNT),
                              opts->min_amount, opts->max_amount, &s->amount));
    if (s->kind == JOB_KIND_DEPOSIT)
        return validate_deposit(cols, row, opts, s, p);
    return PAYQ_OK;
}

enum payq_err ingest_copy_escape(struct buf *out, const char *text, size_t len)
{
    enum payq_err err = PAYQ_OK;
    size_t run = 0;
    size_t i;

    /* Copy plain runs in one go; escape the four special bytes. */
    for (i = 0; i < len && err == PAYQ_OK; i++) {
        const char *esc = NULL;

        switch (text[i]) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            continue;
        }
        err = buf_append(out, text + run, i - run);
        if (err == PAYQ_OK)
            err = buf_append(out, esc, 2);
        run = i + 1;
    }
    if (err == PAYQ_OK)
        err = buf_append(out, text + run, len - run);
    return err;
}

/*
 * Appends s as a JSON string (quotes included) already escaped for COPY
 * text: every backslash of a JSON escape is doubled, so the JSON goes
 * straight into the stream without a second pass.
 */
static enum payq_err json_string(struct buf *out, const char *s, size_t len)
{
    enum payq_err err = buf_append_byte(out, '"');
    size_t run = 0;
    size_t i;

    /* Plain runs go in one piece; only '"', '\\' and controls escape. */
    for (i = 0; i < len && err == PAYQ_OK; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        err = buf_append(out, s + run, i - run);
        if (err == PAYQ_OK && c == '"')
            err = buf_append(out, "\\\\\"", 3);
        else if (err == PAYQ_OK && c == '\\')
            err = buf_append(out, "\\\\\\\\", 4);
        else if (err == PAYQ_OK)
            err = buf_appendf(out, "\\\\u%04x", c);
        run = i + 1;
    }
    if (err == PAYQ_OK)
        err = buf_append(out, s + run, len - run);
    if (err == PAYQ_OK)
        err = buf_append_byte(out, '"');
    return err;
}

/* Trims spaces and tabs: the span of text worth keeping. */
static const char *trim_span(const char *text, size_t *len)
{
    while (*len > 0 && (*text == ' ' || *text == '\t')) {
        text++;
        (*len)--;
    }
    while (*len > 0 && (text[*len - 1] == ' ' || text[*len - 1] == '\t'))
        (*len)--;
    return text;
}

/*
 * The extra columns as a JSON object, COPY-escaped. An empty cell is kept
 * as "": the key says the file had the column, so report_by_school lists
 * a payment whose school or term cell is blank instead of dropping it
 * from the file's totals.
 */
static enum payq_err metadata_json(const struct ingest_columns *cols,
                                   const struct ingest_row *row,
                                   struct buf *json)
{
    enum payq_err err = buf_append_byte(json, '{');
    bool first = true;
    size_t i;

    for (i = 0; i < row->nfields && err == PAYQ_OK; i++) {
        size_t len = row->lens[i];
        const char *v = trim_span(row->fields[i], &len);

        if (!cols->is_metadata[i])
            continue;
        if (!first)
            err = buf_append_byte(json, ',');
        first = false;
        if (err == PAYQ_OK)
            err = json_string(json, cols->names[i], strlen(cols->names[i]));
        if (err == PAYQ_OK)
            err = buf_append_byte(json, ':');
        if (err == PAYQ_OK)
            err = json_string(json, v, len);
    }
    if (err == PAYQ_OK)
        err = buf_append_byte(json, '}');
    return err;
}

/*
 * len less a character cut short at the end. A valid row's raw text is
 * UTF-8 (its fields are, and the rest is quotes, delimiters and line
 * breaks) except where the reader cut it at INGEST_RAW_MAX.
 */
static size_t whole_chars(const char *s, size_t len)
{
    size_t start = len;
    unsigned char lead;
    size_t need;

    while (start > 0 && len - start < 3 &&
           ((unsigned char)s[start - 1] & 0xc0) == 0x80)
        start--;
    if (start == 0)
        return 0;
    lead = (unsigned char)s[start - 1];
    need = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
    return len - (start - 1) < need ? start - 1 : len;
}

/* Appends a text column and its tab; NULL becomes \N. */
static enum payq_err put_text(struct buf *out, const char *text, size_t len,
                              char sep)
{
    enum payq_err err = text != NULL ? ingest_copy_escape(out, text, len)
                                     : buf_append(out, "\\N", 2);

    return err == PAYQ_OK ? buf_append_byte(out, sep) : err;
}

/*
 * Appends n in decimal and then sep: printf's cost, twice per call in
 * buf_appendf(), is most of the client's time on a large file.
 */
static enum payq_err put_int(struct buf *out, long long n, char sep)
{
    char digits[24];
    size_t i = sizeof(digits);
    unsigned long long u =
        n < 0 ? 0 - (unsigned long long)n : (unsigned long long)n;

    digits[--i] = sep;
    do {
        digits[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (n < 0)
        digits[--i] = '-';
    return buf_append(out, digits + i, sizeof(digits) - i);
}

/* The fixed columns: line, kind, phone, amount, withdraw charge. */
static enum payq_err encode_fixed(const struct ingest_row *row,
                                  const struct staged *s, struct buf *out)
{
    enum payq_err err = put_int(out, row->line, '\t');

    if (err == PAYQ_OK)
        err = put_text(out, job_kind_name(s->kind),
                       strlen(job_kind_name(s->kind)), '\t');
    if (err == PAYQ_OK)
        err = put_text(out, s->phone, strlen(s->phone), '\t');
    if (err == PAYQ_OK)
        err = put_int(out, s->amount, '\t');
    if (err == PAYQ_OK)
        err = put_int(out, s->charge, '\t');
    return err;
}

static enum payq_err encode(const struct ingest_columns *cols,
                            const struct ingest_row *row,
                            const struct ingest_stage_opts *opts,
                            const struct staged *s, struct buf *out)
{
    enum payq_err err;
    size_t len;
    const char *text;

    err = encode_fixed(row, s, out);
    len = s->reason != NULL ? strlen(s->reason) : 0;
    text = s->reason != NULL ? trim_span(s->reason, &len) : NULL;
    if (err == PAYQ_OK)
        err = put_text(out, text, len, '\t');
    len = s->name != NULL ? strlen(s->name) : 0;
    text = s->name != NULL ? trim_span(s->name, &len) : NULL;
    if (err == PAYQ_OK)
        err = put_text(out, text, len, '\t');
    if (err == PAYQ_OK)
        err = put_text(out, s->reference, s->reference_len, '\t');

    if (err == PAYQ_OK)
        err = metadata_json(cols, row, out);
    if (err == PAYQ_OK)
        err = buf_append_byte(out, '\t');
    if (err == PAYQ_OK)
        err = put_text(out, opts->keep_raw ? row->raw : NULL,
                       whole_chars(row->raw, row->raw_len), '\n');
    return err;
}

enum payq_err ingest_stage_row(const struct ingest_columns *cols,
                               const struct ingest_row *row,
                               const struct ingest_stage_opts *opts,
                               struct buf *out, struct ingest_problem *p,
                               long long *amount, enum job_kind *kind)
{
    size_t mark = out->len;
    struct staged s;
    enum payq_err err = validate(cols, row, opts, &s, p);

    if (err != PAYQ_OK)
        return err;
    err = encode(cols, row, opts, &s, out);
    if (err != PAYQ_OK) {
        out->len = mark; /* never half a line in the stream */
        if (out->data != NULL)
            out->data[mark] = '\0';
        return err;
    }
    *amount = s.amount;
    *kind = s.kind;
    return PAYQ_OK;
}
