/* Table, CSV and JSON writers for report results; see format.h. */
#include "report/format.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/fmt.h"
#include "core/mem.h"

/* Room for a cell rendered for a table: an amount or a boolean. */
enum { RENDER_MAX = FMT_THOUSANDS_SIZE };

bool report_format_parse(const char *name, enum report_format *out)
{
    static const char *const names[] = {
        [REPORT_FORMAT_TABLE] = "table",
        [REPORT_FORMAT_CSV] = "csv",
        [REPORT_FORMAT_JSON] = "json",
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum report_format)i;
            return true;
        }
    }
    return false;
}

/* PostgreSQL's boolean text, or NULL when text is not one. */
static const char *boolean_word(const char *text)
{
    if (strcmp(text, "t") == 0)
        return "true";
    if (strcmp(text, "f") == 0)
        return "false";
    return NULL;
}

/* Parses a whole decimal integer; false unless all of text is one. */
static bool parse_integer(const char *text, long long *value)
{
    char *end = NULL;

    if (text[0] == '\0')
        return false;
    *value = strtoll(text, &end, 10);
    return *end == '\0';
}

/*
 * The text a table shows for a non-null cell: amounts with separators,
 * booleans as words, anything else as it came. May use scratch.
 */
static const char *table_text(enum report_type type, const char *text,
                              char scratch[RENDER_MAX])
{
    long long value;
    const char *word;

    if (type == REPORT_TYPE_AMOUNT && parse_integer(text, &value)) {
        fmt_thousands(value, scratch);
        return scratch;
    }
    if (type == REPORT_TYPE_BOOLEAN && (word = boolean_word(text)) != NULL)
        return word;
    return text;
}

/* Bytes of the UTF-8 character at p, never past the end of the string. */
static size_t char_bytes(const char *p, int utf8, bool *whole)
{
    int want = PQmblen(p, utf8);
    int n = 1;

    while (n < want && p[n] != '\0')
        n++;
    *whole = n == want;
    return (size_t)n;
}

/*
 * Columns a table needs for text, control characters escaped. As in
 * psql (the same libpq function measures each character), a combining
 * accent takes none and an East Asian wide character two, so a name
 * written "e" + U+0301 lines up with one written with U+00E9.
 */
static size_t display_width(const char *text)
{
    int utf8 = pg_char_to_encoding("UTF8");
    const char *p = text;
    size_t width = 0;

    while (*p != '\0') {
        unsigned char c = (unsigned char)*p;
        bool whole;
        size_t n = 1;
        int w;

        if (c == '\n' || c == '\t' || c == '\r') {
            width += 2;
        } else if (c < 0x20 || c == 0x7f) {
            width += 4;
        } else {
            n = char_bytes(p, utf8, &whole);
            /* A cut-off sequence is not read past its end. */
            w = whole ? PQdsplen(p, utf8) : 1;
            width += w > 0 ? (size_t)w : 0;
        }
        p += n;
    }
    return width;
}

/* Writes text for a table, escaping control characters. */
static void write_escaped(FILE *out, const char *text)
{
    const unsigned char *p;

    for (p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p == '\r')
            fputs("\\r", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
}

static void write_spaces(FILE *out, size_t n)
{
    while (n-- > 0)
        fputc(' ', out);
}

/* Widths of every column: the widest of its header and cells. */
static void table_widths(const struct report_column *cols, int ncols,
                         const struct report_rows *rows, size_t *widths)
{
    char scratch[RENDER_MAX];
    int r;
    int c;

    for (c = 0; c < ncols; c++)
        widths[c] = display_width(cols[c].name);
    for (r = 0; r < rows->count; r++) {
        for (c = 0; c < ncols; c++) {
            const char *text = rows->cell(rows->ctx, r, c);
            size_t w;

            if (text == NULL)
                continue;
            w = display_width(table_text(cols[c].type, text, scratch));
            if (w > widths[c])
                widths[c] = w;
        }
    }
}

/*
 * One cell between its separators. left_pad and width are in characters;
 * the last column drops its trailing spaces, as psql does.
 */
static void table_cell(FILE *out, const char *text, size_t left_pad,
                       size_t width, bool last)
{
    size_t used = left_pad + display_width(text);

    fputc(' ', out);
    write_spaces(out, left_pad);
    write_escaped(out, text);
    if (!last) {
        write_spaces(out, width > used ? width - used : 0);
        fputc(' ', out);
    }
}

static void table_header(FILE *out, const struct report_column *cols, int ncols,
                         const size_t *widths)
{
    int c;
    size_t i;

    for (c = 0; c < ncols; c++) {
        size_t w = display_width(cols[c].name);

        if (c > 0)
            fputc('|', out);
        table_cell(out, cols[c].name, (widths[c] - w) / 2, widths[c],
                   c == ncols - 1);
    }
    fputc('\n', out);
    for (c = 0; c < ncols; c++) {
        if (c > 0)
            fputc('+', out);
        for (i = 0; i < widths[c] + 2; i++)
            fputc('-', out);
    }
    fputc('\n', out);
}

static void table_row(FILE *out, const struct report_column *cols, int ncols,
                      const size_t *widths, const struct report_rows *rows,
                      int r)
{
    char scratch[RENDER_MAX];
    int c;

    for (c = 0; c < ncols; c++) {
        const char *cell = rows->cell(rows->ctx, r, c);
        const char *text =
            cell != NULL ? table_text(cols[c].type, cell, scratch) : "";
        size_t w = display_width(text);
        bool right = cols[c].type == REPORT_TYPE_NUMBER ||
                     cols[c].type == REPORT_TYPE_AMOUNT;

        if (c > 0)
            fputc('|', out);
        table_cell(out, text, right && widths[c] > w ? widths[c] - w : 0,
                   widths[c], c == ncols - 1);
    }
    fputc('\n', out);
}

enum payq_err report_table_write(FILE *out, const struct report_column *cols,
                                 int ncols, const struct report_rows *rows)
{
    size_t *widths = mem_calloc(ncols > 0 ? (size_t)ncols : 1, sizeof(*widths));
    int r;

    if (widths == NULL)
        return PAYQ_ERR_NOMEM;
    table_widths(cols, ncols, rows, widths);
    table_header(out, cols, ncols, widths);
    for (r = 0; r < rows->count; r++)
        table_row(out, cols, ncols, widths, rows, r);
    fprintf(out, "(%d %s)\n", rows->count, rows->count == 1 ? "row" : "rows");
    mem_free(widths);
    return fflush(out) == 0 && !ferror(out) ? PAYQ_OK : PAYQ_ERR_IO;
}

void report_stream_init(struct report_stream *s, enum report_format format,
                        FILE *out, const struct report_column *cols, int ncols)
{
    s->format = format;
    s->out = out;
    s->cols = cols;
    s->ncols = ncols;
    s->rows = 0;
}

/* RFC 4180: quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *out, const char *text)
{
    const char *p;

    if (text == NULL)
        return;
    /* An empty string is quoted so that it reads back apart from null. */
    if (text[0] != '\0' && strpbrk(text, ",\"\r\n") == NULL) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    for (p = text; *p != '\0'; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

static void json_string(FILE *out, const char *text)
{
    const unsigned char *p;

    fputc('"', out);
    for (p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\r')
            fputs("\\r", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static bool skip_digits(const char **p)
{
    const char *start = *p;

    while (**p >= '0' && **p <= '9')
        (*p)++;
    return *p > start;
}

/* Is text a number by JSON's grammar? numeric's NaN and Infinity are not. */
static bool json_number_ok(const char *text)
{
    const char *p = text;

    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (!skip_digits(&p))
        return false;
    if (*p == '.') {
        p++;
        if (!skip_digits(&p))
            return false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!skip_digits(&p))
            return false;
    }
    return *p == '\0';
}

static void json_value(FILE *out, enum report_type type, const char *text)
{
    const char *word;

    if (text == NULL)
        fputs("null", out);
    else if ((type == REPORT_TYPE_NUMBER || type == REPORT_TYPE_AMOUNT) &&
             json_number_ok(text))
        fputs(text, out);
    else if (type == REPORT_TYPE_BOOLEAN && (word = boolean_word(text)) != NULL)
        fputs(word, out);
    else
        json_string(out, text);
}

static void csv_row(struct report_stream *s, const struct report_rows *rows,
                    int r)
{
    int c;

    for (c = 0; c < s->ncols; c++) {
        const char *text = rows->cell(rows->ctx, r, c);
        const char *word;

        if (c > 0)
            fputc(',', s->out);
        if (text != NULL && s->cols[c].type == REPORT_TYPE_BOOLEAN &&
            (word = boolean_word(text)) != NULL)
            text = word;
        csv_field(s->out, text);
    }
    fputs("\r\n", s->out);
}

static void json_row(struct report_stream *s, const struct report_rows *rows,
                     int r)
{
    int c;

    fputs(s->rows > 0 ? ",\n  {" : "\n  {", s->out);
    for (c = 0; c < s->ncols; c++) {
        if (c > 0)
            fputs(", ", s->out);
        json_string(s->out, s->cols[c].name);
        fputs(": ", s->out);
        json_value(s->out, s->cols[c].type, rows->cell(rows->ctx, r, c));
    }
    fputc('}', s->out);
}

enum payq_err report_stream_begin(struct report_stream *s)
{
    int c;

    if (s->format == REPORT_FORMAT_JSON) {
        fputc('[', s->out);
    } else {
        for (c = 0; c < s->ncols; c++) {
            if (c > 0)
                fputc(',', s->out);
            csv_field(s->out, s->cols[c].name);
        }
        fputs("\r\n", s->out);
    }
    return ferror(s->out) ? PAYQ_ERR_IO : PAYQ_OK;
}

enum payq_err report_stream_rows(struct report_stream *s,
                                 const struct report_rows *rows)
{
    int r;

    for (r = 0; r < rows->count; r++) {
        if (s->format == REPORT_FORMAT_JSON)
            json_row(s, rows, r);
        else
            csv_row(s, rows, r);
        s->rows++;
    }
    return ferror(s->out) ? PAYQ_ERR_IO : PAYQ_OK;
}

enum payq_err report_stream_end(struct report_stream *s)
{
    if (s->format == REPORT_FORMAT_JSON)
        fputs(s->rows > 0 ? "\n]\n" : "]\n", s->out);
    return fflush(s->out) == 0 && !ferror(s->out) ? PAYQ_OK : PAYQ_ERR_IO;
}
