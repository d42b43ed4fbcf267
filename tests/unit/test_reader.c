/*
 * Unit tests for ingest/reader: rows, line numbers, problems, limits,
 * chunk boundaries and memory.
 *
 * Most tests render what a reader returns as text (see dump_rows) and
 * compare it with the expected text of a table row, running each input
 * through both the memory and the fd reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/mem.h"
#include "ingest/reader.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DUMP_MAX (64u * 1024 * 1024)
#define CHUNK 65536 /* the reader's read size */

enum { DUMP_PLAIN = 0, DUMP_RAW = 1, DUMP_OFFSET = 2 };

/* ---- helpers --------------------------------------------------------- */

static void put(struct buf *out, const char *s)
{
    assert_int_equal(buf_append_str(out, s), PAYQ_OK);
}

/* Bytes as readable text: controls, '\\' and non-ASCII escaped. */
static void put_escaped(struct buf *out, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\n')
            put(out, "\\n");
        else if (c == '\r')
            put(out, "\\r");
        else if (c == '\0')
            put(out, "\\0");
        else if (c == '\\')
            put(out, "\\\\");
        else if (c < 0x20 || c >= 0x7f)
            assert_int_equal(buf_appendf(out, "\\x%02x", c), PAYQ_OK);
        else
            assert_int_equal(buf_append_byte(out, (char)c), PAYQ_OK);
    }
}

/* Checks what the header promises about every row. */
static void check_row_shape(const struct ingest_row *row)
{
    size_t i;

    assert_true(row->line >= 1);
    assert_true(row->nfields >= 1);
    assert_true(row->nfields <= INGEST_COLUMNS_MAX);
    for (i = 0; i < row->nfields; i++) {
        assert_true(row->lens[i] <= INGEST_FIELD_MAX);
        assert_int_equal(row->fields[i][row->lens[i]], '\0');
    }
    assert_true(row->raw_len <= INGEST_RAW_MAX);
    assert_int_equal(row->raw[row->raw_len], '\0');
    if (row->problem != NULL)
        assert_true(row->problem_field <= row->nfields);
}

/* "LINE [field][field] !problem@index {raw} @offset" */
static void dump_row(const struct ingest_reader *r,
                     const struct ingest_row *row, int flags, struct buf *out)
{
    size_t i;

    check_row_shape(row);
    assert_int_equal(buf_appendf(out, "%ld ", row->line), PAYQ_OK);
    for (i = 0; i < row->nfields; i++) {
        put(out, "[");
        put_escaped(out, row->fields[i], row->lens[i]);
        put(out, "]");
    }
    if (row->problem != NULL)
        assert_int_equal(
            buf_appendf(out, " !%s@%zu", row->problem, row->problem_field),
            PAYQ_OK);
    if (flags & DUMP_RAW) {
        put(out, " {");
        put_escaped(out, row->raw, row->raw_len);
        put(out, "}");
    }
    if (flags & DUMP_OFFSET)
        assert_int_equal(buf_appendf(out, " @%llu", ingest_reader_offset(r)),
                         PAYQ_OK);
    put(out, "\n");
}

/* Every row, then "fatal LINE: why" or "error: what" if it did not end. */
static void dump_rows(struct ingest_reader *r, int flags, struct buf *out)
{
    struct ingest_row row;
    enum payq_err err;
    long last_line = 0;

    while ((err = ingest_reader_next(r, &row)) == PAYQ_OK) {
        assert_true(row.line > last_line);
        last_line = row.line;
        dump_row(r, &row, flags, out);
    }
    if (err == PAYQ_ERR_DATA)
        assert_int_equal(buf_appendf(out, "fatal %ld: %s\n",
                                     ingest_reader_error_line(r),
                                     ingest_reader_error(r)),
                         PAYQ_OK);
    else if (err != PAYQ_ERR_NOT_FOUND)
        assert_int_equal(buf_appendf(out, "error: %s\n", payq_err_str(err)),
                         PAYQ_OK);
    /* The end, or the failure, is sticky. */
    assert_int_equal(ingest_reader_next(r, &row), err);
}

/* An unlinked temporary file holding the bytes, positioned at 0. */
static int temp_file(const char *data, size_t len)
{
    char path[] = "/tmp/payq-test-reader.XXXXXX";
    int fd = mkstemp(path);
    size_t done = 0;

    assert_true(fd >= 0);
    unlink(path);
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);

        assert_true(n > 0);
        done += (size_t)n;
    }
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static void dump_mem(const char *data, size_t len, char delim, int flags,
                     struct buf *out)
{
    struct ingest_reader *r;

    assert_int_equal(ingest_reader_create_mem(data, len, delim, &r), PAYQ_OK);
    dump_rows(r, flags, out);
    ingest_reader_destroy(r);
}

static void dump_fd(int fd, char delim, int flags, struct buf *out)
{
    struct ingest_reader *r;

    assert_int_equal(ingest_reader_create_fd(fd, delim, &r), PAYQ_OK);
    dump_rows(r, flags, out);
    ingest_reader_destroy(r);
}

static void dump_file(const char *data, size_t len, char delim, int flags,
                      struct buf *out)
{
    int fd = temp_file(data, len);

    dump_fd(fd, delim, flags, out);
    close(fd);
}

/* Writes data into a pipe in small pieces from a child process. */
static void dump_pipe(const char *data, size_t len, char delim, int flags,
                      struct buf *out)
{
    int fds[2];
    pid_t pid;
    int status;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        size_t done = 0;
        size_t piece = 1;

        close(fds[0]);
        while (done < len) {
            size_t n = len - done < piece ? len - done : piece;
            ssize_t w = write(fds[1], data + done, n);

            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && errno == EPIPE)
                _exit(0); /* the reader stopped early, on a fatal error */
            if (w <= 0)
                _exit(1);
            done += (size_t)w;
            piece = piece % 97 + 7;
        }
        _exit(0);
    }
    close(fds[1]);
    dump_fd(fds[0], delim, flags, out);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void expect_text(const char *name, const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("case \"%s\":\n--- got:\n%s--- want:\n%s", name, got, want);
}

/* Runs one input through the memory and the fd reader. */
static void expect_dump(const char *name, const char *data, size_t len,
                        char delim, int flags, const char *want)
{
    struct buf out;

    buf_init(&out, DUMP_MAX);
    dump_mem(data, len, delim, flags, &out);
    expect_text(name, buf_str(&out), want);
    buf_reset(&out);
    dump_file(data, len, delim, flags, &out);
    expect_text(name, buf_str(&out), want);
    buf_cleanup(&out);
}

static void append_repeat(struct buf *b, char c, size_t n)
{
    while (n-- > 0)
        assert_int_equal(buf_append_byte(b, c), PAYQ_OK);
}

/* ---- rows ------------------------------------------------------------ */

struct dump_case {
    const char *name;
    const char *input;
    size_t len; /* 0: strlen(input) */
    char delimiter;
    const char *want;
};

static void run_dump_cases(const struct dump_case *cases, size_t n, int flags)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const struct dump_case *c = &cases[i];
        size_t len = c->len != 0 ? c->len : strlen(c->input);

        expect_dump(c->name, c->input, len, c->delimiter, flags, c->want);
    }
}

static void reader_rows_table(void **state)
{
    static const struct dump_case cases[] = {
        { "LF file", "name,amount\nalice,100\nbob,200\n", 0, 0,
          "1 [name][amount]\n2 [alice][100]\n3 [bob][200]\n" },
        { "CRLF file", "name,amount\r\nalice,100\r\nbob,200\r\n", 0, 0,
          "1 [name][amount]\n2 [alice][100]\n3 [bob][200]\n" },
        { "mixed line ends", "a,b\r\n1,2\n3,4\r\n", 0, 0,
          "1 [a][b]\n2 [1][2]\n3 [3][4]\n" },
        { "final line without newline", "a,b\n1,2", 0, 0,
          "1 [a][b]\n2 [1][2]\n" },
        { "final CRLF line without newline", "a,b\r\n1,2", 0, 0,
          "1 [a][b]\n2 [1][2]\n" },
        { "single column", "name\nx\n", 0, 0, "1 [name]\n2 [x]\n" },
        { "quoted delimiter", "a,b\n\"x,y\",z\n", 0, 0,
          "1 [a][b]\n2 [x,y][z]\n" },
        { "doubled quote", "a,b\n\"say \"\"hi\"\"\",z\n", 0, 0,
          "1 [a][b]\n2 [say \"hi\"][z]\n" },
        { "quoted LF", "a,b\n\"one\ntwo\",z\n3,4\n", 0, 0,
          "1 [a][b]\n2 [one\\ntwo][z]\n4 [3][4]\n" },
        { "quoted CRLF", "a,b\r\n\"one\r\ntwo\",z\r\n3,4\r\n", 0, 0,
          "1 [a][b]\n2 [one\\r\\ntwo][z]\n4 [3][4]\n" },
        { "quoted blank lines", "a,b\n\"x\n\n\ny\",z\nq,r\n", 0, 0,
          "1 [a][b]\n2 [x\\n\\n\\ny][z]\n6 [q][r]\n" },
        { "quoted newline in second field", "a,b\n1,\"x\ny\"\n2,3\n", 0, 0,
          "1 [a][b]\n2 [1][x\\ny]\n4 [2][3]\n" },
        { "quoted empty and spaces", "a,b\n\"\",\" y \"\n", 0, 0,
          "1 [a][b]\n2 [][ y ]\n" },
        { "unquoted spaces trimmed", "a,b\n  x  , y\t\n", 0, 0,
          "1 [a][b]\n2 [x][y]\n" },
        { "spaces around quotes", "a,b\n  \"x,y\"  ,z\n", 0, 0,
          "1 [a][b]\n2 [x,y][z]\n" },
        { "stray quote kept", "a,b\nsay \"hi\",5\" disk\n", 0, 0,
          "1 [a][b]\n2 [say \"hi\"][5\" disk]\n" },
        { "BOM", "\xef\xbb\xbfname,amount\n1,2\n", 0, 0,
          "1 [name][amount]\n2 [1][2]\n" },
        { "BOM only at the start", "a,b\n\xef\xbb\xbfx,y\n", 0, 0,
          "1 [a][b]\n2 [\\xef\\xbb\\xbfx][y]\n" },
        { "semicolon detected", "name;amount\nx;1,5\n", 0, 0,
          "1 [name][amount]\n2 [x][1,5]\n" },
        { "semicolon after BOM",
          "\xef\xbb\xbf"
          "a;b\n1;2\n",
          0, 0, "1 [a][b]\n2 [1][2]\n" },
        { "tie goes to comma", "a;b,c\n1;2,3\n", 0, 0,
          "1 [a;b][c]\n2 [1;2][3]\n" },
        { "quoted commas not counted", "\"a,b,c\";d;e\n1;2;3\n", 0, 0,
          "1 [a,b,c][d][e]\n2 [1][2][3]\n" },
        { "only the header line counts", "a;b\n1,2,3,4,5\n", 0, 0,
          "1 [a][b]\n2 [1,2,3,4,5] !has 1 field, the header has 2@1\n" },
        { "detection skips blank lines", "\n  \na;b\n1;2\n", 0, 0,
          "3 [a][b]\n4 [1][2]\n" },
        { "explicit comma", "a;b;c\n1;2;3\n", 0, ',',
          "1 [a;b;c]\n2 [1;2;3]\n" },
        { "explicit semicolon", "a,b;c\n1,5;2\n", 0, ';',
          "1 [a,b][c]\n2 [1,5][2]\n" },
        { "blank lines skipped", "a,b\n\n1,2\n   \n\t\n3,4\n\n", 0, 0,
          "1 [a][b]\n3 [1][2]\n6 [3][4]\n" },
        { "blank CRLF lines skipped", "a,b\r\n\r\n1,2\r\n \r\n3,4\r\n", 0, 0,
          "1 [a][b]\n3 [1][2]\n5 [3][4]\n" },
        { "empty rows skipped",
          "a,b,c\n1,2,3\n,,\n , ,\n\"\",\" \",\"\t\"\n4,5,6\n,,,,\n", 0, 0,
          "1 [a][b][c]\n2 [1][2][3]\n6 [4][5][6]\n" },
        { "blank header kept", ",,\n1,2,3\n", 0, 0, "1 [][][]\n2 [1][2][3]\n" },
        { "header after blank lines", "\n\n  \na,b\n1,2\n", 0, 0,
          "4 [a][b]\n5 [1][2]\n" },
        { "bare CR ends rows", "a,b\r1,2\r3,4\r", 0, 0,
          "1 [a][b]\n2 [1][2]\n3 [3][4]\n" },
        { "bare CR blank lines", "a\r\rb\r", 0, 0, "1 [a]\n3 [b]\n" },
        { "CR LF counted once", "a\r\n\r\nb\n", 0, 0, "1 [a]\n3 [b]\n" },
        { "NUL byte", "a,b\nx\0y,z\n", 10, 0,
          "1 [a][b]\n2 [x\\0y][z] !contains a NUL byte@0\n" },
        { "NUL in second field", "a,b\nx,\0\n", 8, 0,
          "1 [a][b]\n2 [x][\\0] !contains a NUL byte@1\n" },
        { "invalid UTF-8", "a,b\n1,caf\xe9\n", 0, 0,
          "1 [a][b]\n2 [1][caf\\xe9] !is not valid UTF-8@1\n" },
        { "valid UTF-8", "a,b\ncaf\xc3\xa9,\xe2\x82\xac\n", 0, 0,
          "1 [a][b]\n2 [caf\\xc3\\xa9][\\xe2\\x82\\xac]\n" },
        { "problem in the header", "a\xff,b\n1,2\n", 0, 0,
          "1 [a\\xff][b] !is not valid UTF-8@0\n2 [1][2]\n" },
        { "more fields than the header", "a,b\n1,2,3\n4,5\n", 0, 0,
          "1 [a][b]\n2 [1][2][3] !has 3 fields, the header has 2@3\n"
          "3 [4][5]\n" },
        { "fewer fields than the header", "a,b,c\n1,2\n", 0, 0,
          "1 [a][b][c]\n2 [1][2] !has 2 fields, the header has 3@2\n" },
        { "trailing delimiter is a field", "a,b\n1,2,\n", 0, 0,
          "1 [a][b]\n2 [1][2][] !has 3 fields, the header has 2@3\n" },
        { "first problem only", "a,b,c\n\xff,x\0,1,2\n", 15, 0,
          "1 [a][b][c]\n2 [\\xff][x\\0][1][2] !is not valid UTF-8@0\n" },
        { "unterminated quote", "a,b\n1,\"open\n2,3\n", 0, 0,
          "1 [a][b]\nfatal 2: quoted field is never closed\n" },
        { "unterminated quote at EOF", "a,b\n1,2\n3,\"open", 0, 0,
          "1 [a][b]\n2 [1][2]\nfatal 3: quoted field is never closed\n" },
        { "unterminated quote after doubled quote", "a\n\"x\"\"", 0, 0,
          "1 [a]\nfatal 2: quoted field is never closed\n" },
        { "unterminated quote starts on a later line",
          "a,b\n1,\"x\ny\",\"open\nmore\n", 0, 0,
          "1 [a][b]\nfatal 3: quoted field is never closed\n" },
        { "closing quote at EOF", "a,b\n1,\"x\"", 0, 0,
          "1 [a][b]\n2 [1][x]\n" },
        { "empty input", "", 0, 0, "" },
        { "only blank lines", "\n\r\n  \n\t\r\n", 0, 0, "" },
        { "only a BOM", "\xef\xbb\xbf", 0, 0, "" },
        { "BOM and blanks", "\xef\xbb\xbf \n\n", 0, 0, "" },
        { "partial BOM is data", "\xef\xbb,x\n", 0, 0,
          "1 [\\xef\\xbb][x] !is not valid UTF-8@0\n" },
    };

    (void)state;
    run_dump_cases(cases, ARRAY_LEN(cases), DUMP_PLAIN);
}

static void reader_raw_table(void **state)
{
    static const struct dump_case cases[] = {
        { "LF", "a,b\n1,2\n", 0, 0, "1 [a][b] {a,b}\n2 [1][2] {1,2}\n" },
        { "CRLF", "a,b\r\n1,2\r\n", 0, 0, "1 [a][b] {a,b}\n2 [1][2] {1,2}\n" },
        { "no final newline", "a\nb", 0, 0, "1 [a] {a}\n2 [b] {b}\n" },
        { "spaces kept", "a,b\n  1 , 2  \n", 0, 0,
          "1 [a][b] {a,b}\n2 [1][2] {  1 , 2  }\n" },
        { "quoted lines joined", "a,b\n\"x\r\ny\",z\r\nq,r\n", 0, 0,
          "1 [a][b] {a,b}\n2 [x\\r\\ny][z] {\"x\\r\\ny\",z}\n"
          "4 [q][r] {q,r}\n" },
        { "blank lines left out", "a\n\n  \nb\n", 0, 0,
          "1 [a] {a}\n4 [b] {b}\n" },
        { "skipped row left out", "a,b\n,\n c,d\n", 0, 0,
          "1 [a][b] {a,b}\n3 [c][d] { c,d}\n" },
        { "bare CR", "a\rb\r\n", 0, 0, "1 [a] {a}\n2 [b] {b}\n" },
        { "BOM left out", "\xef\xbb\xbfh\nx\n", 0, 0,
          "1 [h] {h}\n2 [x] {x}\n" },
        { "quote closed at EOF", "h\n\"x\"", 0, 0,
          "1 [h] {h}\n2 [x] {\"x\"}\n" },
        { "quoted CR before LF", "h\n\"x\r\"\n", 0, 0,
          "1 [h] {h}\n2 [x\\r] {\"x\\r\"}\n" },
    };

    (void)state;
    run_dump_cases(cases, ARRAY_LEN(cases), DUMP_RAW);
}

static void reader_offset_table(void **state)
{
    static const struct dump_case cases[] = {
        { "BOM, CRLF, blank, no final newline",
          "\xef\xbb\xbf"
          "a,b\r\n1,2\n\n3,4",
          0, 0, "1 [a][b] @7\n2 [1][2] @12\n4 [3][4] @16\n" },
        { "quoted newline", "h\n\"a\nb\"\n", 0, 0, "1 [h] @2\n2 [a\\nb] @8\n" },
    };

    (void)state;
    run_dump_cases(cases, ARRAY_LEN(cases), DUMP_OFFSET);
}

static void reader_utf8_table(void **state)
{
    static const struct {
        const char *bytes;
        bool valid;
    } cases[] = {
        { "plain", true },
        { "caf\xc3\xa9", true },
        { "\xe2\x82\xac", true },      /* euro sign */
        { "\xf0\x9f\x98\x80", true },  /* emoji */
        { "\xed\x9f\xbf", true },      /* U+D7FF, below surrogates */
        { "\xee\x80\x80", true },      /* U+E000, above them */
        { "\xf4\x8f\xbf\xbf", true },  /* U+10FFFF */
        { "\xef\xbb\xbf", true },      /* U+FEFF inside a field */
        { "\xc0\x80", false },         /* overlong NUL */
        { "\xc1\xbf", false },         /* overlong 2-byte */
        { "\xe0\x80\xaf", false },     /* overlong 3-byte */
        { "\xf0\x8f\xbf\xbf", false }, /* overlong 4-byte */
        { "\xed\xa0\x80", false },     /* surrogate D800 */
        { "\xed\xbf\xbf", false },     /* surrogate DFFF */
        { "\xf4\x90\x80\x80", false }, /* U+110000 */
        { "\xf5\x80\x80\x80", false }, /* lead past F4 */
        { "\xff", false },
        { "\x80", false }, /* lone continuation */
        { "x\xbfy", false },
        { "\xe2\x28\xa1", false }, /* bad continuation */
        { "\xc3(", false },
        { "x\xe2\x82", false }, /* truncated at the end */
        { "\xf0\x9f\x98", false },
        { "\xc3", false },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct ingest_reader *r;
        struct ingest_row row;
        struct buf in;

        buf_init(&in, 64);
        put(&in, "h\n");
        put(&in, cases[i].bytes);
        put(&in, "\n");
        assert_int_equal(ingest_reader_create_mem(in.data, in.len, 0, &r),
                         PAYQ_OK);
        assert_int_equal(ingest_reader_next(r, &row), PAYQ_OK);
        assert_int_equal(ingest_reader_next(r, &row), PAYQ_OK);
        if (cases[i].valid) {
            assert_null(row.problem);
        } else {
            assert_non_null(row.problem);
            assert_string_equal(row.problem, "is not valid UTF-8");
        }
        assert_string_equal(row.fields[0], cases[i].bytes);
        ingest_reader_destroy(r);
        buf_cleanup(&in);
    }
}

/* ---- limits ---------------------------------------------------------- */

enum length_result { LEN_OK, LEN_PROBLEM };

static void reader_field_length_table(void **state)
{
    static const struct {
        size_t len;
        bool quoted;
        bool newline;
        enum length_result want;
    } cases[] = {
        { 1024, false, true, LEN_OK },
        { 1025, false, true, LEN_PROBLEM },
        { 1024, true, true, LEN_OK },
        { 1025, true, true, LEN_PROBLEM },
        { 65536, false, true, LEN_PROBLEM },
        { 65537, false, true, LEN_PROBLEM },
        { 65536, true, true, LEN_PROBLEM },
        { 65537, true, true, LEN_PROBLEM },
        { 65536, false, false, LEN_PROBLEM },
        { 65537, false, false, LEN_PROBLEM },
        { 65538, false, false, LEN_PROBLEM },
        { 65536, true, false, LEN_PROBLEM },
        { 65537, true, false, LEN_PROBLEM },
        { 65538, true, false, LEN_PROBLEM },
        { 200000, false, true, LEN_PROBLEM },
        { 200000, true, true, LEN_PROBLEM },
    };
    size_t i;
    int kind;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct buf in;
        struct buf out;
        struct buf want;

        buf_init(&in, 256 * 1024);
        buf_init(&out, DUMP_MAX);
        buf_init(&want, 4096);
        put(&in, "h\n");
        put(&in, cases[i].quoted ? "\"" : "");
        append_repeat(&in, 'x', cases[i].len);
        put(&in, cases[i].quoted ? "\"" : "");
        put(&in, cases[i].newline ? "\nnext\n" : "");

        put(&want, "1 [h]\n");
        if (cases[i].want == LEN_OK) {
            put(&want, "2 [");
            append_repeat(&want, 'x', cases[i].len);
            put(&want, "]\n");
        } else {
            put(&want, "2 [] !field longer than 1024 bytes@0\n");
        }
        if (cases[i].newline)
            put(&want, "3 [next]\n");

        for (kind = 0; kind < 2; kind++) {
            buf_reset(&out);
            if (kind == 0)
                dump_mem(in.data, in.len, 0, DUMP_PLAIN, &out);
            else
                dump_file(in.data, in.len, 0, DUMP_PLAIN, &out);
            if (strcmp(buf_str(&out), buf_str(&want)) != 0)
                fail_msg("len %zu quoted %d newline %d reader %d: got "
                         "%.200s",
                         cases[i].len, cases[i].quoted, cases[i].newline, kind,
                         buf_str(&out));
        }
        buf_cleanup(&in);
        buf_cleanup(&out);
        buf_cleanup(&want);
    }
}

/*
 * An unclosed quote swallowing the file is read to the end (the field is
 * skipped once past the parser's cap), then stops at the field's line.
 */
static void reader_runaway_quote_is_fatal(void **state)
{
    struct buf in;
    struct buf out;
    int i;

    (void)state;
    buf_init(&in, 1024 * 1024);
    buf_init(&out, DUMP_MAX);
    put(&in, "a,b\n1,2\n3,\"oops\n");
    for (i = 0; i < 6000; i++)
        assert_int_equal(buf_appendf(&in, "%d,row %d\n", i, i), PAYQ_OK);
    dump_mem(in.data, in.len, 0, DUMP_PLAIN, &out);
    expect_text("runaway mem", buf_str(&out),
                "1 [a][b]\n2 [1][2]\nfatal 3: quoted field is never "
                "closed\n");
    buf_reset(&out);
    dump_pipe(in.data, in.len, 0, DUMP_PLAIN, &out);
    expect_text("runaway pipe", buf_str(&out),
                "1 [a][b]\n2 [1][2]\nfatal 3: quoted field is never "
                "closed\n");
    buf_cleanup(&in);
    buf_cleanup(&out);
}

/*
 * A field past the parser's cap makes the reader skip the rest of its row
 * by itself. Where that row ends must be where libcsv would end it: each
 * case is read twice, with the field 100,000 bytes long and 3 bytes
 * long, and everything after the row must come out the same.
 */
static void reader_long_field_row_ends_where_libcsv_ends_it(void **state)
{
    static const struct {
        const char *before; /* the row up to the field */
        bool quoted;        /* the field is quoted */
        const char *after;  /* the rest of the row, its line end too */
    } cases[] = {
        { "", false, ",b,c\n" },
        { "", true, ",b,c\n" },
        { "a,", false, ",c\r\n" },
        { "a,", true, "\"\"x\",c\n" },   /* an escaped quote */
        { "a,", true, "\nmore\",c\n" },  /* a line break inside */
        { "", false, ",\"b\nb\",c\n" },  /* a later quoted newline */
        { "a,", true, " ,c\n" },         /* spaces after the quote */
        { "a,", true, " \"x\ny\",c\n" }, /* a stray quote after them */
        { "a,", true, "x\",c\n" },       /* text after the quote */
        { "a,b,", false, "\r" },         /* a bare CR ends the row */
        { "a,b,", true, "\n" },          /* and so does LF */
        { "a,b,", false, "" },           /* the end of the input */
        { "a,b,", true, "" },
    };
    size_t i;
    int len;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct buf in[2];
        struct buf out[2];
        const char *tail[2];

        for (len = 0; len < 2; len++) {
            buf_init(&in[len], 256 * 1024);
            buf_init(&out[len], DUMP_MAX);
            put(&in[len], "h1,h2,h3\n");
            put(&in[len], cases[i].before);
            put(&in[len], cases[i].quoted ? "\"" : "");
            append_repeat(&in[len], 'x', len == 0 ? 100000 : 3);
            put(&in[len], cases[i].quoted ? "\"" : "");
            put(&in[len], cases[i].after);
            put(&in[len], cases[i].after[0] != '\0' ? "n1,n2,n3\n" : "");
            dump_mem(in[len].data, in[len].len, 0, DUMP_PLAIN, &out[len]);
            /* Past the header and the row with the field. */
            tail[len] = strchr(strchr(buf_str(&out[len]), '\n') + 1, '\n');
            assert_non_null(tail[len]);
        }
        if (strstr(buf_str(&out[0]), " !field longer than 1024 bytes@") ==
                NULL ||
            strcmp(tail[0], tail[1]) != 0)
            fail_msg("case %zu: long:\n%s--- short:\n%s", i, buf_str(&out[0]),
                     buf_str(&out[1]));
        buf_reset(&out[0]);
        dump_pipe(in[0].data, in[0].len, 0, DUMP_PLAIN, &out[0]);
        tail[0] = strchr(strchr(buf_str(&out[0]), '\n') + 1, '\n');
        assert_non_null(tail[0]);
        assert_string_equal(tail[0], tail[1]);
        for (len = 0; len < 2; len++) {
            buf_cleanup(&in[len]);
            buf_cleanup(&out[len]);
        }
    }
}

/* Builds a row of n fields "f0,f1,...". */
static void put_fields(struct buf *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        assert_int_equal(buf_appendf(b, "%sf%zu", i > 0 ? "," : "", i),
                         PAYQ_OK);
    put(b, "\n");
}

static void reader_column_limit_table(void **state)
{
    static const struct {
        size_t header;
        size_t row;
        const char *problem;
        size_t field;
    } cases[] = {
        { 256, 256, NULL, 0 },
        { 256, 257, "has more than 256 fields", 256 },
        { 256, 1000, "has more than 256 fields", 256 },
        { 257, 256, "has 256 fields, the header has 257", 256 },
        { 257, 257, "has more than 256 fields", 256 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct ingest_reader *r;
        struct ingest_row row;
        struct buf in;

        buf_init(&in, 1024 * 1024);
        put_fields(&in, cases[i].header);
        put_fields(&in, cases[i].row);
        assert_int_equal(ingest_reader_create_mem(in.data, in.len, 0, &r),
                         PAYQ_OK);
        assert_int_equal(ingest_reader_next(r, &row), PAYQ_OK);
        assert_int_equal(row.nfields,
                         cases[i].header > 256 ? 256 : cases[i].header);
        assert_int_equal(ingest_reader_next(r, &row), PAYQ_OK);
        check_row_shape(&row);
        assert_int_equal(row.nfields, 256);
        assert_string_equal(row.fields[255], "f255");
        if (cases[i].problem == NULL) {
            assert_null(row.problem);
        } else {
            assert_non_null(row.problem);
            assert_string_equal(row.problem, cases[i].problem);
            assert_int_equal(row.problem_field, cases[i].field);
        }
        assert_int_equal(ingest_reader_next(r, &row), PAYQ_ERR_NOT_FOUND);
        ingest_reader_destroy(r);
        buf_cleanup(&in);
    }
}

/* 100 fields of 1000 bytes: a valid row whose raw text is cut. */
static void reader_raw_is_capped(void **state)
{
    struct ingest_reader *r;
    struct ingest_row row;
    struct buf in;
    size_t start;
    int i;

    (void)state;
    buf_init(&in, 1024 * 1024);
    put_fields(&in, 100);
    start = in.len;
    for (i = 0; i < 100; i++) {
        put(&in, i > 0 ? "," : "");
        append_repeat(&in, (char)('a' + i % 26), 1000);
    }
    put(&in, "\nlast");
    put_fields(&in, 99);
    assert_int_equal(ingest_reader_create_mem(in.data, in.len, 0, &r), PAYQ_OK);
    assert_int_equal(ingest_reader_next(r, &row), PAYQ_OK);
    assert_int_equal(ingest_reader_next(r, &row), PAYQ_OK);
    assert_null(row.problem);
    assert_int_equal(row.nfields, 100);
    assert_int_equal(row.raw_len, INGEST_RAW_MAX);
    assert_memory_equal(row.raw, in.data + start, INGEST_RAW_MAX);
    assert_int_equal(row.raw[row.raw_len], '\0');
    /* The next row's raw text starts clean. */
    assert_int_equal(ingest_reader_next(r, &row), PAYQ_OK);
    assert_int_equal(row.line, 3);
    assert_memory_equal(row.raw, "lastf0,f1,", 10);
    ingest_reader_destroy(r);
    buf_cleanup(&in);
}

/* ---- arguments, errors, accessors ------------------------------------ */

static void reader_rejects_bad_arguments(void **state)
{
    struct ingest_reader *r = (struct ingest_reader *)&r;
    struct ingest_row row;

    (void)state;
    assert_int_equal(ingest_reader_create_mem("a\n", 2, '\t', &r),
                     PAYQ_ERR_USAGE);
    assert_null(r);
    assert_int_equal(ingest_reader_create_fd(0, '|', &r), PAYQ_ERR_USAGE);
    assert_null(r);
    assert_int_equal(ingest_reader_create_fd(-1, 0, &r), PAYQ_ERR_USAGE);
    assert_null(r);
    assert_int_equal(ingest_reader_create_mem(NULL, 3, 0, &r), PAYQ_ERR_USAGE);
    assert_null(r);
    assert_int_equal(ingest_reader_create_mem(NULL, 0, 0, &r), PAYQ_OK);
    assert_int_equal(ingest_reader_next(r, &row), PAYQ_ERR_NOT_FOUND);
    assert_int_equal(ingest_reader_offset(r), 0);
    ingest_reader_destroy(r);
    ingest_reader_destroy(NULL);
}

static void reader_read_error_is_io(void **state)
{
    struct ingest_reader *r;
    struct ingest_row row;
    int fd = open("/", O_RDONLY);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(ingest_reader_create_fd(fd, ',', &r), PAYQ_OK);
    assert_int_equal(ingest_reader_next(r, &row), PAYQ_ERR_IO);
    assert_non_null(strstr(ingest_reader_error(r), "cannot read: "));
    assert_int_equal(ingest_reader_next(r, &row), PAYQ_ERR_IO);
    ingest_reader_destroy(r);
    close(fd);
}

static void reader_delimiter_is_reported(void **state)
{
    static const struct {
        const char *input;
        char given;
        char before;
        char after;
    } cases[] = {
        { "a;b\n", 0, 0, ';' },     { "a,b\n", 0, 0, ',' },
        { "a\n", 0, 0, ',' },       { "", 0, 0, ',' },
        { "a;b\n", ',', ',', ',' }, { "a,b\n", ';', ';', ';' },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct ingest_reader *r;
        struct ingest_row row;
        enum payq_err err;

        assert_int_equal(ingest_reader_create_mem(cases[i].input,
                                                  strlen(cases[i].input),
                                                  cases[i].given, &r),
                         PAYQ_OK);
        assert_int_equal(ingest_reader_delimiter(r), cases[i].before);
        err = ingest_reader_next(r, &row);
        assert_true(err == PAYQ_OK || err == PAYQ_ERR_NOT_FOUND);
        assert_int_equal(ingest_reader_delimiter(r), cases[i].after);
        ingest_reader_destroy(r);
    }
}

/* ---- chunk boundaries ------------------------------------------------ */

static unsigned long rng_state;

static unsigned long rng(unsigned long n)
{
    rng_state = rng_state * 6364136223846793005UL + 1442695040888963407UL;
    return (rng_state >> 33) % n;
}

static void put_random_field(struct buf *b)
{
    static const char *const pieces[] = {
        "x", "ab", "1 500", "caf\xc3\xa9", "\xe2\x82\xac", " ", "0788123456",
    };
    unsigned long kind = rng(20);
    unsigned long n = rng(6);

    if (kind == 0) {
        append_repeat(b, 'L', 1000 + rng(100)); /* near the field limit */
    } else if (kind < 4) {
        put(b, "\"");
        while (n-- > 0) {
            static const char *const quoted[] = { "q", "\"\"", "\n", "\r\n",
                                                  ",", ";",    "  " };

            put(b, quoted[rng(ARRAY_LEN(quoted))]);
        }
        put(b, "\"");
    } else if (kind == 4) {
        assert_int_equal(buf_append_byte(b, rng(2) ? '\xff' : '\0'), PAYQ_OK);
    } else {
        while (n-- > 0)
            put(b, pieces[rng(ARRAY_LEN(pieces))]);
    }
}

static void put_random_line_end(struct buf *b)
{
    static const char *const ends[] = { "\n", "\r\n", "\n", "\r\n", "\r" };

    put(b, ends[rng(ARRAY_LEN(ends))]);
}

/* Rows of every kind, with lines of all lengths across chunk ends. */
static void make_random_csv(struct buf *b, unsigned long seed, char delim,
                            size_t size)
{
    char sep[2] = { delim, '\0' };

    rng_state = seed;
    if (seed % 2 == 0)
        put(b, "\xef\xbb\xbf");
    assert_int_equal(buf_appendf(b, "phone%samount%sreference\n", sep, sep),
                     PAYQ_OK);
    while (b->len < size) {
        unsigned long kind = rng(30);
        unsigned long nfields = 3;
        unsigned long i;

        if (kind == 0) {
            put(b, rng(2) ? "" : " \t ");
        } else if (kind == 1) {
            put(b, rng(2) ? ",," : " ; ; ");
        } else {
            if (kind == 2)
                nfields = 2 + rng(3);
            for (i = 0; i < nfields; i++) {
                if (i > 0)
                    put(b, sep);
                put_random_field(b);
            }
        }
        put_random_line_end(b);
    }
}

/* Pads with a row of 'p' so that the next byte lands at target. */
static void pad_to(struct buf *b, size_t target)
{
    assert_true(b->len + 2 <= target);
    append_repeat(b, 'p', target - b->len - 1);
    put(b, "\n");
}

static void expect_readers_agree(const char *name, const char *data, size_t len,
                                 char delim, bool pipe_too)
{
    struct buf mem;
    struct buf other;
    int flags = DUMP_RAW | DUMP_OFFSET;

    buf_init(&mem, DUMP_MAX);
    buf_init(&other, DUMP_MAX);
    dump_mem(data, len, delim, flags, &mem);
    assert_true(mem.len > 0);
    dump_file(data, len, delim, flags, &other);
    expect_text(name, buf_str(&other), buf_str(&mem));
    if (pipe_too) {
        buf_reset(&other);
        dump_pipe(data, len, delim, flags, &other);
        expect_text(name, buf_str(&other), buf_str(&mem));
    }
    buf_cleanup(&mem);
    buf_cleanup(&other);
}

static void reader_random_inputs_agree_across_chunks(void **state)
{
    static const struct {
        unsigned long seed;
        char delim;
        char given;
    } cases[] = {
        { 1, ',', 0 },   { 2, ';', 0 }, { 3, ',', ',' },
        { 4, ';', ';' }, { 5, ',', 0 }, { 6, ',', 0 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct buf in;
        char name[32];

        buf_init(&in, 1024 * 1024);
        make_random_csv(&in, cases[i].seed, cases[i].delim, 3 * CHUNK + 77);
        snprintf(name, sizeof(name), "seed %lu", cases[i].seed);
        expect_readers_agree(name, in.data, in.len, cases[i].given, i < 2);
        buf_cleanup(&in);
    }
}

/* Line ends, quotes and multi-byte characters cut by a chunk's end. */
static void reader_chunk_boundary_table(void **state)
{
    static const struct {
        const char *name;
        size_t at; /* where tail starts, relative to the chunk's end */
        const char *tail;
        const char *want_last; /* the dump of the row after the cut */
    } cases[] = {
        { "CR LF split", 2, "x\r\nnext\n", "5 [next]" },
        { "CR LF split, bare CR", 2, "x\r\rnext\n", "6 [next]" },
        { "LF first in chunk", 1, "x\nnext\n", "5 [next]" },
        { "quote first in chunk", 0, "\"a\"\"b\",next\n", "4 [a\"b][next]" },
        { "doubled quote split", 3, "\"a\"\"b\",c\n", "4 [a\"b][c]" },
        { "quoted CRLF split", 3, "\"a\r\nb\",c\n", "4 [a\\r\\nb][c]" },
        { "UTF-8 split", 1, "\xc3\xa9,c\n", "4 [\\xc3\\xa9][c]" },
        { "blank line split", 1, "  \n x,y\n", "5 [x][y]" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct buf in;
        struct buf out;

        buf_init(&in, 4 * CHUNK);
        buf_init(&out, DUMP_MAX);
        put(&in, "h,i\n1,2\n");
        pad_to(&in, CHUNK - cases[i].at);
        put(&in, cases[i].tail);
        expect_readers_agree(cases[i].name, in.data, in.len, 0, true);
        dump_mem(in.data, in.len, 0, DUMP_PLAIN, &out);
        if (strstr(buf_str(&out), cases[i].want_last) == NULL)
            fail_msg("%s: no \"%s\" in ...%s", cases[i].name,
                     cases[i].want_last, buf_str(&out) + out.len - 200);
        buf_cleanup(&in);
        buf_cleanup(&out);
    }
}

/* The delimiter is found even if the header arrives a byte at a time. */
static void reader_header_split_by_reads(void **state)
{
    static const char input[] = "\xef\xbb\xbf\"x,y\";a;b\n1;2;3\n";
    struct buf out;

    (void)state;
    buf_init(&out, DUMP_MAX);
    dump_pipe(input, sizeof(input) - 1, 0, DUMP_PLAIN, &out);
    expect_text("pipe header", buf_str(&out), "1 [x,y][a][b]\n2 [1][2][3]\n");
    buf_cleanup(&out);
}

/* ---- memory ---------------------------------------------------------- */

enum { BIG_ROWS = 200000 };

static void make_big_csv(struct buf *b)
{
    int i;

    put(b, "phone,amount,reference\r\n");
    for (i = 0; i < BIG_ROWS; i++)
        assert_int_equal(buf_appendf(b, "25078%07d,%d,\"fees, term %d\"\r\n", i,
                                     100 + i % 9000, i % 3 + 1),
                         PAYQ_OK);
}

/* Reads every row; the live block count must not move after the first. */
static void read_all_stable(struct ingest_reader *r)
{
    struct ingest_row row;
    enum payq_err err;
    long rows = 0;
    long live = 0;
    long line = 0;

    while ((err = ingest_reader_next(r, &row)) == PAYQ_OK) {
        rows++;
        line = row.line;
        if (rows == 2)
            live = mem_live_count();
        else if (rows % 10000 == 0)
            assert_int_equal(mem_live_count(), live);
        assert_null(row.problem);
    }
    assert_int_equal(err, PAYQ_ERR_NOT_FOUND);
    assert_int_equal(rows, BIG_ROWS + 1);
    assert_int_equal(line, BIG_ROWS + 1);
    assert_int_equal(mem_live_count(), live);
}

static void reader_memory_is_stable(void **state)
{
    struct ingest_reader *r;
    struct buf in;
    long before;
    int fd;

    (void)state;
    buf_init(&in, 64u * 1024 * 1024);
    make_big_csv(&in);

    before = mem_live_count();
    assert_int_equal(ingest_reader_create_mem(in.data, in.len, 0, &r), PAYQ_OK);
    read_all_stable(r);
    assert_int_equal(ingest_reader_offset(r), in.len);
    ingest_reader_destroy(r);
    assert_int_equal(mem_live_count(), before);

    fd = temp_file(in.data, in.len);
    assert_int_equal(ingest_reader_create_fd(fd, 0, &r), PAYQ_OK);
    read_all_stable(r);
    assert_int_equal(ingest_reader_offset(r), in.len);
    ingest_reader_destroy(r);
    assert_int_equal(mem_live_count(), before);
    close(fd);
    buf_cleanup(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_rows_table),
        cmocka_unit_test(reader_raw_table),
        cmocka_unit_test(reader_offset_table),
        cmocka_unit_test(reader_utf8_table),
        cmocka_unit_test(reader_field_length_table),
        cmocka_unit_test(reader_runaway_quote_is_fatal),
        cmocka_unit_test(reader_long_field_row_ends_where_libcsv_ends_it),
        cmocka_unit_test(reader_column_limit_table),
        cmocka_unit_test(reader_raw_is_capped),
        cmocka_unit_test(reader_rejects_bad_arguments),
        cmocka_unit_test(reader_read_error_is_io),
        cmocka_unit_test(reader_delimiter_is_reported),
        cmocka_unit_test(reader_random_inputs_agree_across_chunks),
        cmocka_unit_test(reader_chunk_boundary_table),
        cmocka_unit_test(reader_header_split_by_reads),
        cmocka_unit_test(reader_memory_is_stable),
    };

    /* A failing test must not die of SIGPIPE from a pipe writer. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
