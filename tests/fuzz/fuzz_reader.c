/*
 * libFuzzer target for ingest/reader.
 *
 * An input starting with ',' or ';' is read with that delimiter given,
 * and the rest is the file; any other input is a file whose delimiter is
 * detected, so seeds are plain CSV files.
 *
 * The file is read twice, by the memory reader and by the fd reader over
 * a temporary file, and both must return the same rows, problems, offsets
 * and end. scripts/fuzz builds the reader with a tiny read chunk
 * (INGEST_READER_CHUNK), so the fd reader meets chunk boundaries all over
 * small inputs. Beyond the sanitizers, every row is checked against the
 * promises of ingest/reader.h, and the reader's allocations against
 * mem_live_count().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "ingest/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_reader: %s\n", what);
        abort();
    }
}

/* One temporary file, rewritten for every input. */
static int input_file(const char *data, size_t len)
{
    static int fd = -1;
    char path[] = "/tmp/payq-fuzz-reader.XXXXXX";

    if (fd < 0) {
        fd = mkstemp(path);
        check(fd >= 0, "cannot create a temporary file");
        unlink(path);
    }
    check(ftruncate(fd, 0) == 0, "ftruncate");
    check(len == 0 || pwrite(fd, data, len, 0) == (ssize_t)len, "pwrite");
    check(lseek(fd, 0, SEEK_SET) == 0, "lseek");
    return fd;
}

/* What ingest/reader.h promises about any row. */
static void check_row(const struct ingest_row *row, long last_line)
{
    size_t i;

    check(row->line > last_line, "row lines must increase");
    check(row->nfields >= 1 && row->nfields <= INGEST_COLUMNS_MAX,
          "nfields out of range");
    for (i = 0; i < row->nfields; i++) {
        check(row->lens[i] <= INGEST_FIELD_MAX, "field too long");
        check(row->fields[i][row->lens[i]] == '\0', "field unterminated");
    }
    check(row->raw_len <= INGEST_RAW_MAX, "raw too long");
    check(row->raw[row->raw_len] == '\0', "raw unterminated");
    check(row->problem == NULL || row->problem_field <= row->nfields,
          "problem_field out of range");
    for (i = 0; row->problem == NULL && i < row->nfields; i++)
        check(memchr(row->fields[i], '\0', row->lens[i]) == NULL,
              "NUL byte in a row without a problem");
}

static int same_row(const struct ingest_row *a, const struct ingest_row *b)
{
    size_t i;

    if (a->line != b->line || a->nfields != b->nfields ||
        a->raw_len != b->raw_len || a->problem_field != b->problem_field ||
        memcmp(a->raw, b->raw, a->raw_len) != 0)
        return 0;
    if ((a->problem == NULL) != (b->problem == NULL) ||
        (a->problem != NULL && strcmp(a->problem, b->problem) != 0))
        return 0;
    for (i = 0; i < a->nfields; i++)
        if (a->lens[i] != b->lens[i] ||
            memcmp(a->fields[i], b->fields[i], a->lens[i]) != 0)
            return 0;
    return 1;
}

/* Reads both to the end in step. */
static void compare(struct ingest_reader *m, struct ingest_reader *f,
                    size_t size)
{
    struct ingest_row a;
    struct ingest_row b;
    enum payq_err ea;
    enum payq_err eb;
    long last_line = 0;

    do {
        ea = ingest_reader_next(m, &a);
        eb = ingest_reader_next(f, &b);
        check(ea == eb, "the readers end differently");
        check(ingest_reader_offset(m) == ingest_reader_offset(f),
              "the readers' offsets differ");
        check(ingest_reader_offset(m) <= size, "offset past the end");
        if (ea == PAYQ_OK) {
            check_row(&a, last_line);
            check(same_row(&a, &b), "the readers' rows differ");
            last_line = a.line;
        }
    } while (ea == PAYQ_OK);

    check(ea == PAYQ_ERR_NOT_FOUND || ea == PAYQ_ERR_DATA, "unexpected error");
    check(ea != PAYQ_ERR_NOT_FOUND || ingest_reader_offset(m) == size,
          "input left unread");
    check(ea != PAYQ_ERR_DATA ||
              (strcmp(ingest_reader_error(m), ingest_reader_error(f)) == 0 &&
               ingest_reader_error_line(m) == ingest_reader_error_line(f)),
          "the readers' errors differ");
    check(ingest_reader_next(m, &a) == ea, "the end is not sticky");
    check(ingest_reader_delimiter(m) == ingest_reader_delimiter(f),
          "the readers' delimiters differ");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    long live = mem_live_count();
    struct ingest_reader *m = NULL;
    struct ingest_reader *f = NULL;
    char delim = 0;

    if (size > 0 && (data[0] == ',' || data[0] == ';')) {
        delim = (char)data[0];
        text++;
        size--;
    }

    check(ingest_reader_create_mem(text, size, delim, &m) == PAYQ_OK,
          "create_mem");
    check(ingest_reader_create_fd(input_file(text, size), delim, &f) == PAYQ_OK,
          "create_fd");
    compare(m, f, size);
    ingest_reader_destroy(m);
    ingest_reader_destroy(f);
    check(mem_live_count() == live, "blocks left allocated");
    return 0;
}
