/*
 * Streaming CSV reader over libcsv: rows from a file descriptor or a
 * memory block, with memory that does not grow with the input.
 *
 * Design note: how lines and rows are tracked.
 *
 * libcsv calls back when a field or a row ends, but never says where in
 * the input that was. So the input is handed to it in segments that end
 * just after a CR or LF (or at the end of the bytes at hand): a row can
 * only end on a segment's last byte, so after each segment we know whether
 * a row is complete, and at most one is. CR ends a segment too because
 * libcsv ends a row at a bare CR ("a\rb\n" is two rows). A line cut by the
 * end of a chunk needs no carrying over: libcsv keeps the unfinished field
 * itself.
 *
 * Lines: LF ends a line, and so does a CR that is not followed by LF (old
 * Mac files), which is only known at the next byte, possibly in the next
 * chunk (cr_pending).
 *
 * Outside a record libcsv skips spaces, tabs, CR and LF, and any other
 * byte starts one. The reader applies the same rule (in_record) to learn
 * the line a row starts on, even when its first field spans lines. Raw
 * text is gathered from the start of the current line, dropped at a line
 * end outside a record, and capped at INGEST_RAW_MAX; the row's final
 * line end is cut off when the row completes.
 *
 * A row is handed out when libcsv reports its end; its buffers are reset
 * at the next call, which keeps the caller's pointers valid until then. At
 * the end of the input a line end is fed to close a last line that lacks
 * one; a record still open after it has an unclosed quote.
 *
 * A field longer than libcsv's capped buffer makes it stop mid-segment.
 * The row is then a row with a problem, not the end of the file: the
 * reader skips the rest of the row itself (skip_byte() follows libcsv's
 * rules for quotes, delimiters and line ends from the state libcsv was
 * left in), then starts libcsv afresh on the next row.
 *
 * Memory: the read chunk (fd readers), the raw text, the field values and
 * libcsv's buffer, each with a fixed maximum and reused for every row.
 */
#include "ingest/reader.h"

#include <csv.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/mem.h"

/*
 * Bytes read at a time, and the most of the header line scanned for the
 * delimiter. The fuzz build makes it tiny so that chunk boundaries fall
 * everywhere in small inputs.
 */
#ifndef INGEST_READER_CHUNK
#define INGEST_READER_CHUNK 65536
#endif
_Static_assert(INGEST_READER_CHUNK >= 16, "a chunk must hold the BOM");

/*
 * libcsv's buffer may grow two bytes past INGEST_PARSE_MAX: it keeps a
 * quoted field's closing quote until the field ends, and it asks for room
 * one byte before it needs it. A field of INGEST_PARSE_MAX bytes still
 * fits; a longer one trips the cap (see parse_failed()), and either way
 * its row gets MSG_FIELD_LONG.
 */
#define PARSE_CAP (INGEST_PARSE_MAX + 2)
#define PARSE_BLOCK 4096 /* libcsv's growth step; it halves on refusal */

/* Room for every stored field and its terminator; never exceeded. */
#define VALUES_MAX (INGEST_COLUMNS_MAX * (INGEST_FIELD_MAX + 1))

static const char BOM[] = "\xef\xbb\xbf";
#define BOM_LEN (sizeof(BOM) - 1)

/* Problems, phrased to follow "LINE: COLUMN: ". */
static const char MSG_FIELD_LONG[] = "field longer than 1024 bytes";
static const char MSG_NUL[] = "contains a NUL byte";
static const char MSG_UTF8[] = "is not valid UTF-8";
static const char MSG_COLUMNS[] = "has more than 256 fields";
static const char MSG_UNCLOSED[] = "quoted field is never closed";
static const char MSG_NOMEM[] = "out of memory";

_Static_assert(INGEST_FIELD_MAX == 1024, "update MSG_FIELD_LONG");
_Static_assert(INGEST_COLUMNS_MAX == 256, "update MSG_COLUMNS");

struct ingest_reader {
    /* Input: a window of bytes, the whole of a memory input or a chunk. */
    int fd; /* -1 for a memory reader */
    const char *data;
    size_t len;              /* bytes in the window */
    size_t pos;              /* bytes of the window already parsed */
    char *chunk;             /* the fd reader's window */
    unsigned long long base; /* input offset of the window's first byte */
    bool eof;                /* nothing more to read */
    bool started;            /* BOM skipped, delimiter settled */
    bool finished;           /* the end of the input was handled */

    struct csv_parser parser;
    char delim;

    long line;       /* physical line being parsed */
    bool cr_pending; /* the last byte was CR: line end unsettled */
    bool in_record;  /* libcsv is inside a record */
    long field_line; /* line the field being parsed starts on */

    /* Skipping the rest of a row whose field outgrew libcsv's buffer. */
    bool skipping;
    struct skip {
        int state;   /* a libcsv state: ROW_NOT_BEGUN 0 ... see skip_byte */
        bool quoted; /* the field being skipped is quoted */
        bool spaces; /* spaces since a quote inside a quoted field */
    } skip;

    /* The row being built, then handed out. */
    bool row_ready;
    long row_line;
    size_t ntotal;     /* fields seen, stored or not */
    bool nonblank;     /* some field has more than spaces/tabs */
    struct buf values; /* stored fields, each NUL-terminated */
    size_t offs[INGEST_COLUMNS_MAX];
    size_t lens[INGEST_COLUMNS_MAX];
    const char *ptrs[INGEST_COLUMNS_MAX];
    struct buf raw;
    bool raw_cut; /* raw reached INGEST_RAW_MAX */
    const char *problem;
    size_t problem_field;
    char problem_text[64];

    bool have_header;
    size_t header_fields;

    enum payq_err failed; /* sticky: every later call returns it */
    const char *error;
    long error_line;
    char error_text[96];
};

/* ---- field checks ---------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n > 0 bytes left), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    size_t len;
    size_t i;

    if (s[0] < 0x80)
        return 1;
    /* 80..c1: a continuation byte or an overlong 2-byte form. */
    if (s[0] < 0xc2 || s[0] > 0xf4)
        return 0;
    len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    /* The second byte's range rules out the remaining bad forms. */
    if (s[0] == 0xe0)
        lo = 0xa0; /* overlong 3-byte form */
    else if (s[0] == 0xed)
        hi = 0x9f; /* UTF-16 surrogates */
    else if (s[0] == 0xf0)
        lo = 0x90; /* overlong 4-byte form */
    else if (s[0] == 0xf4)
        hi = 0x8f; /* past U+10FFFF */
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if (s[i] < lo || s[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xbf;
    }
    return len;
}

static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        size_t step = utf8_sequence(u + i, n - i);

        if (step == 0)
            return false;
        i += step;
    }
    return true;
}

static const char *field_problem(const char *s, size_t n)
{
    if (n > INGEST_FIELD_MAX)
        return MSG_FIELD_LONG;
    if (memchr(s, '\0', n) != NULL)
        return MSG_NUL;
    if (!utf8_valid(s, n))
        return MSG_UTF8;
    return NULL;
}

/* Spaces and tabs only: what spreadsheets leave in "empty" rows. */
static bool field_blank(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

/* ---- libcsv callbacks ------------------------------------------------ */

static enum payq_err fail(struct ingest_reader *r, enum payq_err err,
                          const char *why, long line)
{
    if (r->failed == PAYQ_OK) {
        r->failed = err;
        r->error = why;
        r->error_line = line;
    }
    return r->failed;
}

/* Only a row's first problem is kept: later ones are often its echoes. */
static void note_problem(struct ingest_reader *r, const char *problem,
                         size_t field)
{
    if (problem == NULL || r->problem != NULL)
        return;
    r->problem = problem;
    r->problem_field = field;
}

/* Stores by offset: the buffer may move as it grows. */
static void store_field(struct ingest_reader *r, size_t index, const char *s,
                        size_t n)
{
    r->offs[index] = r->values.len;
    r->lens[index] = n;
    if (buf_append(&r->values, s, n) != PAYQ_OK ||
        buf_append_byte(&r->values, '\0') != PAYQ_OK)
        fail(r, PAYQ_ERR_NOMEM, MSG_NOMEM, r->line);
}

static void on_field(void *bytes, size_t len, void *ctx)
{
    struct ingest_reader *r = ctx;
    const char *s = bytes;
    size_t index = r->ntotal;
    const char *problem;

    if (r->failed != PAYQ_OK)
        return;
    /* The delimiter just seen is on this line, so the next field too. */
    r->field_line = r->line;
    r->ntotal++;
    if (!field_blank(s, len))
        r->nonblank = true;
    if (index >= INGEST_COLUMNS_MAX) {
        note_problem(r, MSG_COLUMNS, INGEST_COLUMNS_MAX);
        return;
    }
    problem = field_problem(s, len);
    note_problem(r, problem, index);
    if (problem == MSG_FIELD_LONG)
        store_field(r, index, "", 0);
    else
        store_field(r, index, s, len);
}

/* c is the CR or LF that ended the row, the last byte fed, also in raw. */
static void on_row(int c, void *ctx)
{
    struct ingest_reader *r = ctx;
    struct buf *raw = &r->raw;

    r->row_ready = true;
    r->in_record = false;
    if (!r->raw_cut && raw->len > 0 &&
        (unsigned char)raw->data[raw->len - 1] == c) {
        raw->len--;
        raw->data[raw->len] = '\0';
    }
}

/*
 * libcsv's allocator. It takes no context pointer, so the cap is a
 * constant; refusing turns a runaway field (an unclosed quote swallowing
 * the file) into CSV_ENOMEM instead of unbounded growth.
 */
static void *parse_realloc(void *ptr, size_t size)
{
    if (size > PARSE_CAP)
        return NULL;
    return mem_realloc(ptr, size);
}

/* A fresh libcsv parser with the reader's settings. */
static enum payq_err parser_start(struct ingest_reader *r)
{
    if (csv_init(&r->parser, 0) != 0)
        return PAYQ_ERR_NOMEM;
    csv_set_realloc_func(&r->parser, parse_realloc);
    csv_set_free_func(&r->parser, mem_free);
    csv_set_blk_size(&r->parser, PARSE_BLOCK);
    if (r->delim != 0)
        csv_set_delim(&r->parser, (unsigned char)r->delim);
    return PAYQ_OK;
}

/* ---- skipping a row with a field too long for libcsv ----------------- */

/* libcsv's parser states (csv.c), which struct csv_parser exposes. */
enum {
    CSV_ROW_NOT_BEGUN,
    CSV_FIELD_NOT_BEGUN,
    CSV_FIELD_BEGUN,
    CSV_FIELD_MIGHT_HAVE_ENDED
};

/*
 * One byte of a skipped row, by libcsv's rules without strict mode (see
 * csv_parse()); returns true when c ends the row. Only where the row ends
 * matters, so nothing is stored.
 */
static bool skip_byte(struct skip *k, char c, char delim)
{
    bool space = (c == ' ' || c == '\t') && c != delim;
    bool term = c == '\r' || c == '\n';

    switch (k->state) {
    case CSV_FIELD_BEGUN:
        if (c == '"' && k->quoted)
            k->state = CSV_FIELD_MIGHT_HAVE_ENDED;
        else if (!k->quoted && (c == delim || term))
            k->state = CSV_FIELD_NOT_BEGUN;
        return !k->quoted && term;
    case CSV_FIELD_MIGHT_HAVE_ENDED:
        if (c == delim || term)
            k->state = CSV_FIELD_NOT_BEGUN;
        else if (space)
            k->spaces = true;
        else if (c != '"' || !k->spaces)
            k->state = CSV_FIELD_BEGUN;
        if (!space)
            k->spaces = false;
        return term;
    default: /* between fields */
        if (space || c == delim)
            return false;
        if (term)
            return true;
        k->state = CSV_FIELD_BEGUN;
        k->quoted = c == '"';
        return false;
    }
}

/* The row is complete: hand it out and start libcsv again. */
static enum payq_err skip_done(struct ingest_reader *r, char c)
{
    r->skipping = false;
    on_row((unsigned char)c, r);
    csv_free(&r->parser);
    if (parser_start(r) != PAYQ_OK)
        return fail(r, PAYQ_ERR_NOMEM, MSG_NOMEM, r->line);
    return PAYQ_OK;
}

/* Skips n bytes of the row being skipped; it may end on the last. */
static enum payq_err skip_bytes(struct ingest_reader *r, const char *s,
                                size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (skip_byte(&r->skip, s[i], r->delim))
            return skip_done(r, s[i]);
    return PAYQ_OK;
}

/*
 * libcsv stopped early. It halves its request down to one byte before
 * giving up, so a buffer short of the cap means memory really ran out;
 * at the cap, the field is too long: the row gets that problem and the
 * rest of it, from the byte libcsv did not take, is skipped.
 */
static enum payq_err parse_failed(struct ingest_reader *r, const char *rest,
                                  size_t n)
{
    size_t index = r->ntotal;

    if (r->failed != PAYQ_OK)
        return r->failed;
    if (csv_error(&r->parser) != CSV_ENOMEM ||
        csv_get_buffer_size(&r->parser) < PARSE_CAP)
        return fail(r, PAYQ_ERR_NOMEM, MSG_NOMEM, r->field_line);
    r->skipping = true;
    r->skip.state = r->parser.pstate;
    r->skip.quoted = r->parser.quoted != 0;
    r->skip.spaces = r->parser.spaces > 0;
    r->ntotal++;
    r->nonblank = true;
    if (index < INGEST_COLUMNS_MAX) {
        note_problem(r, MSG_FIELD_LONG, index);
        store_field(r, index, "", 0);
    } else {
        note_problem(r, MSG_COLUMNS, INGEST_COLUMNS_MAX);
    }
    return r->failed != PAYQ_OK ? r->failed : skip_bytes(r, rest, n);
}

/* Parses n bytes, or skips them while a row is being skipped. */
static enum payq_err parse_bytes(struct ingest_reader *r, const char *s,
                                 size_t n)
{
    size_t used;

    if (r->skipping)
        return skip_bytes(r, s, n);
    used = csv_parse(&r->parser, s, n, on_field, on_row, r);
    if (used < n)
        return parse_failed(r, s + used, n - used);
    return r->failed;
}

/* ---- segments -------------------------------------------------------- */

/* Bytes up to and including the first CR or LF, or all n (n > 0). */
static size_t segment_len(const char *s, size_t n)
{
    const char *lf = memchr(s, '\n', n);
    size_t end = lf != NULL ? (size_t)(lf - s) + 1 : n;
    const char *cr = memchr(s, '\r', end);

    return cr != NULL ? (size_t)(cr - s) + 1 : end;
}

/* True if libcsv would start a record on these bytes. */
static bool has_content(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return true;
    return false;
}

static enum payq_err raw_append(struct ingest_reader *r, const char *s,
                                size_t n)
{
    size_t room = r->raw.max - r->raw.len;

    if (n > room) {
        n = room;
        r->raw_cut = true;
    }
    if (n > 0 && buf_append(&r->raw, s, n) != PAYQ_OK)
        return fail(r, PAYQ_ERR_NOMEM, MSG_NOMEM, r->line);
    return PAYQ_OK;
}

static void raw_drop(struct ingest_reader *r)
{
    buf_reset(&r->raw);
    r->raw_cut = false;
}

/* A CR followed by anything but LF ended a line of its own. */
static void settle_cr(struct ingest_reader *r, char next)
{
    if (r->cr_pending && next != '\n')
        r->line++;
    r->cr_pending = false;
}

static void count_line_end(struct ingest_reader *r, char last)
{
    if (last == '\n')
        r->line++;
    else if (last == '\r')
        r->cr_pending = true;
    if ((last == '\n' || last == '\r') && !r->in_record && !r->row_ready)
        raw_drop(r);
}

static enum payq_err feed_segment(struct ingest_reader *r)
{
    const char *s = r->data + r->pos;
    size_t n = segment_len(s, r->len - r->pos);
    enum payq_err err;

    settle_cr(r, s[0]);
    if (!r->in_record && has_content(s, n)) {
        r->in_record = true;
        r->row_line = r->line;
        r->field_line = r->line;
    }
    err = raw_append(r, s, n);
    if (err == PAYQ_OK)
        err = parse_bytes(r, s, n);
    if (err != PAYQ_OK)
        return err;
    r->pos += n;
    count_line_end(r, s[n - 1]);
    return PAYQ_OK;
}

/* ---- input ----------------------------------------------------------- */

/* Appends what read(2) gives to the window. */
static enum payq_err read_more(struct ingest_reader *r)
{
    ssize_t n;

    do {
        n = read(r->fd, r->chunk + r->len, INGEST_READER_CHUNK - r->len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        snprintf(r->error_text, sizeof(r->error_text), "cannot read: %s",
                 strerror(errno));
        return fail(r, PAYQ_ERR_IO, r->error_text, r->line);
    }
    if (n == 0)
        r->eof = true;
    r->len += (size_t)n;
    return PAYQ_OK;
}

/* Replaces the fully parsed window with the next chunk. */
static enum payq_err read_chunk(struct ingest_reader *r)
{
    r->base += r->len;
    r->len = 0;
    r->pos = 0;
    return read_more(r);
}

/*
 * At the end of the input a record may still be open: its last line had
 * no line end, or a quote was never closed. A line end fed to libcsv ends
 * the first kind and not the second, which tells them apart; csv_fini()
 * would end both and quietly accept the unclosed quote.
 */
static enum payq_err finish_input(struct ingest_reader *r)
{
    enum payq_err err;

    r->finished = true;
    if (!r->in_record)
        return PAYQ_OK;
    err = parse_bytes(r, "\n", 1);
    if (err != PAYQ_OK)
        return err;
    if (!r->row_ready)
        return fail(r, PAYQ_ERR_DATA, MSG_UNCLOSED, r->field_line);
    return PAYQ_OK;
}

/* Feeds segments until a row is complete or the input is over. */
static enum payq_err parse_until_row(struct ingest_reader *r)
{
    enum payq_err err = PAYQ_OK;

    while (err == PAYQ_OK && !r->row_ready && !r->finished) {
        if (r->pos < r->len)
            err = feed_segment(r);
        else if (!r->eof)
            err = read_chunk(r);
        else
            err = finish_input(r);
    }
    return err;
}

/* ---- start: BOM and delimiter ---------------------------------------- */

enum scan_state { SCAN_START, SCAN_PLAIN, SCAN_QUOTED, SCAN_QUOTE };

/* Counts delimiters on the header line, following libcsv's quoting. */
struct scan {
    enum scan_state state;
    bool content; /* the line has more than blanks */
    size_t commas;
    size_t semicolons;
};

/* Takes one byte; returns true at the end of the header line. */
static bool scan_byte(struct scan *sc, char c)
{
    if (sc->state == SCAN_QUOTED) {
        if (c == '"')
            sc->state = SCAN_QUOTE;
        return false;
    }
    if (c == ',' || c == ';') {
        sc->commas += c == ',';
        sc->semicolons += c == ';';
        sc->state = SCAN_START;
        sc->content = true;
        return false;
    }
    /* Blank lines before the header are skipped, as libcsv does. */
    if (c == '\n' || c == '\r') {
        sc->state = SCAN_START;
        return sc->content;
    }
    if (c == ' ' || c == '\t')
        return false;
    sc->content = true;
    /* A quote opens a field only at its start; a quote in a closed one
       that is not doubled is literal and the field stays quoted. */
    if (c == '"')
        sc->state = sc->state == SCAN_PLAIN ? SCAN_PLAIN : SCAN_QUOTED;
    else
        sc->state = sc->state == SCAN_QUOTE ? SCAN_QUOTED : SCAN_PLAIN;
    return false;
}

/* Reads until the window holds n bytes or the input ends. */
static enum payq_err fill_to(struct ingest_reader *r, size_t n)
{
    enum payq_err err = PAYQ_OK;

    while (err == PAYQ_OK && r->len < n && !r->eof)
        err = read_more(r);
    return err;
}

/*
 * ';' only if strictly more frequent than ',' on the header line, or on
 * its first INGEST_READER_CHUNK bytes, the same for both kinds of reader.
 */
static enum payq_err detect_delimiter(struct ingest_reader *r)
{
    struct scan sc = { SCAN_START, false, 0, 0 };
    enum payq_err err = PAYQ_OK;
    size_t i = r->pos;
    bool done = false;

    while (err == PAYQ_OK && !done && i < INGEST_READER_CHUNK) {
        if (i < r->len)
            done = scan_byte(&sc, r->data[i++]);
        else if (!r->eof)
            err = read_more(r);
        else
            done = true;
    }
    r->delim = sc.semicolons > sc.commas ? ';' : ',';
    return err;
}

static enum payq_err start(struct ingest_reader *r)
{
    enum payq_err err = fill_to(r, BOM_LEN);

    if (err != PAYQ_OK)
        return err;
    if (r->len >= BOM_LEN && memcmp(r->data, BOM, BOM_LEN) == 0)
        r->pos = BOM_LEN;
    if (r->delim == 0)
        err = detect_delimiter(r);
    csv_set_delim(&r->parser, (unsigned char)r->delim);
    r->started = true;
    return err;
}

/* ---- rows ------------------------------------------------------------ */

static void row_reset(struct ingest_reader *r)
{
    r->row_ready = false;
    r->ntotal = 0;
    r->nonblank = false;
    buf_reset(&r->values);
    raw_drop(r);
    r->problem = NULL;
    r->problem_field = 0;
}

static size_t row_width(const struct ingest_reader *r)
{
    return r->ntotal < INGEST_COLUMNS_MAX ? r->ntotal : INGEST_COLUMNS_MAX;
}

/*
 * Whether the complete row goes to the caller. The header always does
 * and fixes the width; later blank rows are dropped, others checked.
 */
static bool row_wanted(struct ingest_reader *r)
{
    if (!r->have_header) {
        r->have_header = true;
        r->header_fields = r->ntotal;
        return true;
    }
    if (!r->nonblank)
        return false;
    if (r->ntotal != r->header_fields && r->problem == NULL) {
        snprintf(r->problem_text, sizeof(r->problem_text),
                 "has %zu field%s, the header has %zu", r->ntotal,
                 r->ntotal == 1 ? "" : "s", r->header_fields);
        note_problem(r, r->problem_text, row_width(r));
    }
    return true;
}

static void row_fill(struct ingest_reader *r, struct ingest_row *row)
{
    const char *base = buf_str(&r->values);
    size_t n = row_width(r);
    size_t i;

    for (i = 0; i < n; i++)
        r->ptrs[i] = base + r->offs[i];
    row->line = r->row_line;
    row->nfields = n;
    row->fields = r->ptrs;
    row->lens = r->lens;
    row->raw = buf_str(&r->raw);
    row->raw_len = r->raw.len;
    row->problem = r->problem;
    row->problem_field = r->problem_field;
}

/* ---- public ---------------------------------------------------------- */

static enum payq_err reader_create(char delimiter, struct ingest_reader **out)
{
    struct ingest_reader *r;

    *out = NULL;
    if (delimiter != 0 && delimiter != ',' && delimiter != ';')
        return PAYQ_ERR_USAGE;
    r = mem_calloc(1, sizeof(*r));
    if (r == NULL)
        return PAYQ_ERR_NOMEM;
    if (parser_start(r) != PAYQ_OK) {
        mem_free(r);
        return PAYQ_ERR_NOMEM;
    }
    buf_init(&r->values, VALUES_MAX);
    buf_init(&r->raw, INGEST_RAW_MAX);
    r->fd = -1;
    r->data = "";
    r->delim = delimiter;
    r->line = 1;
    r->error = "";
    *out = r;
    return PAYQ_OK;
}

enum payq_err ingest_reader_create_fd(int fd, char delimiter,
                                      struct ingest_reader **out)
{
    struct ingest_reader *r = NULL;
    enum payq_err err;

    *out = NULL;
    err = fd < 0 ? PAYQ_ERR_USAGE : reader_create(delimiter, &r);
    if (err != PAYQ_OK)
        goto out;
    r->chunk = mem_alloc(INGEST_READER_CHUNK);
    if (r->chunk == NULL) {
        err = PAYQ_ERR_NOMEM;
        goto out;
    }
    r->fd = fd;
    r->data = r->chunk;
    *out = r;
    r = NULL;

out:
    ingest_reader_destroy(r);
    return err;
}

enum payq_err ingest_reader_create_mem(const char *data, size_t len,
                                       char delimiter,
                                       struct ingest_reader **out)
{
    enum payq_err err;

    *out = NULL;
    if (data == NULL && len > 0)
        return PAYQ_ERR_USAGE;
    err = reader_create(delimiter, out);
    if (err != PAYQ_OK)
        return err;
    if (data != NULL)
        (*out)->data = data;
    (*out)->len = len;
    (*out)->eof = true;
    return PAYQ_OK;
}

enum payq_err ingest_reader_next(struct ingest_reader *r,
                                 struct ingest_row *row)
{
    enum payq_err err = r->failed;
    bool kept = false;

    if (err == PAYQ_OK && !r->started)
        err = start(r);
    while (err == PAYQ_OK && !kept) {
        row_reset(r);
        err = parse_until_row(r);
        if (err == PAYQ_OK && !r->row_ready)
            err = PAYQ_ERR_NOT_FOUND;
        if (err == PAYQ_OK)
            kept = row_wanted(r);
    }
    if (kept)
        row_fill(r, row);
    return err;
}

const char *ingest_reader_error(const struct ingest_reader *r)
{
    return r->error;
}

long ingest_reader_error_line(const struct ingest_reader *r)
{
    return r->error_line;
}

char ingest_reader_delimiter(const struct ingest_reader *r)
{
    return r->delim;
}

unsigned long long ingest_reader_offset(const struct ingest_reader *r)
{
    return r->base + r->pos;
}

void ingest_reader_destroy(struct ingest_reader *r)
{
    if (r == NULL)
        return;
    csv_free(&r->parser);
    buf_cleanup(&r->values);
    buf_cleanup(&r->raw);
    mem_free(r->chunk);
    mem_free(r);
}
