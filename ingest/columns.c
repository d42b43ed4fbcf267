/* Header mapping: known columns by name and alias, the rest metadata. */
#include "ingest/columns.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    const char *alias; /* NULL: none */
} known[INGEST_COL_COUNT] = {
    [INGEST_COL_KIND] = { "kind", NULL },
    [INGEST_COL_PHONE] = { "phone", "mobilephone" },
    [INGEST_COL_AMOUNT] = { "amount", NULL },
    [INGEST_COL_REFERENCE] = { "reference", NULL },
    [INGEST_COL_REASON] = { "reason", NULL },
    [INGEST_COL_NAME] = { "name", "deposit_ref_name" },
    [INGEST_COL_CHARGE] = { "withdrawcharge", NULL },
};

/* Columns each kind needs when the file has no kind column. */
static const enum ingest_col pay_required[] = {
    INGEST_COL_PHONE,
    INGEST_COL_AMOUNT,
    INGEST_COL_REFERENCE,
};
static const enum ingest_col deposit_required[] = {
    INGEST_COL_PHONE,  INGEST_COL_AMOUNT, INGEST_COL_REFERENCE,
    INGEST_COL_REASON, INGEST_COL_NAME,
};

const char *ingest_col_name(enum ingest_col col)
{
    return (unsigned)col < INGEST_COL_COUNT ? known[col].name : "?";
}

/*
 * Copies the field trimmed of spaces and tabs, cut to fit. The reader has
 * checked that it is UTF-8, and a cut falls before a character's first
 * byte, never inside it: the name becomes a JSON key in the metadata.
 */
static void trimmed_name(const char *text, size_t len, char *out, size_t size)
{
    while (len > 0 && (*text == ' ' || *text == '\t')) {
        text++;
        len--;
    }
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    if (len >= size) {
        len = size - 1;
        while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
            len--;
    }
    memcpy(out, text, len);
    out[len] = '\0';
}

static int known_column(const char *name)
{
    int c;

    for (c = 0; c < INGEST_COL_COUNT; c++)
        if (strcasecmp(name, known[c].name) == 0 ||
            (known[c].alias != NULL && strcasecmp(name, known[c].alias) == 0))
            return c;
    return -1;
}

/* Is name already among the first n header names? */
static bool seen_before(const struct ingest_columns *cols, size_t n,
                        const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcasecmp(cols->names[i], name) == 0)
            return true;
    return false;
}

static const char *map_field(struct ingest_columns *cols,
                             const struct ingest_row *header, size_t i,
                             const char **problem_name)
{
    char *name = cols->names[i];
    int col;

    trimmed_name(header->fields[i], header->lens[i], name,
                 sizeof(cols->names[i]));
    *problem_name = name;
    if (name[0] == '\0')
        return "column has no name";
    col = known_column(name);
    if (seen_before(cols, i, name) || (col >= 0 && cols->index[col] >= 0))
        return "column appears twice";
    if (col >= 0)
        cols->index[col] = (int)i;
    else
        cols->is_metadata[i] = true;
    return NULL;
}

static const char *check_required(const struct ingest_columns *cols,
                                  enum job_kind kind, const char **problem_name)
{
    const enum ingest_col *need = pay_required;
    size_t n = sizeof(pay_required) / sizeof(pay_required[0]);
    size_t i;

    /* With a kind column, deposit columns are checked row by row. */
    if (kind == JOB_KIND_DEPOSIT && cols->index[INGEST_COL_KIND] < 0) {
        need = deposit_required;
        n = sizeof(deposit_required) / sizeof(deposit_required[0]);
    }
    for (i = 0; i < n; i++) {
        if (cols->index[need[i]] < 0) {
            *problem_name = known[need[i]].name;
            return "required column is missing";
        }
    }
    return NULL;
}

const char *ingest_columns_map(struct ingest_columns *cols,
                               const struct ingest_row *header,
                               enum job_kind kind, const char **problem_name)
{
    const char *problem = NULL;
    size_t i;
    int c;

    memset(cols, 0, sizeof(*cols));
    for (c = 0; c < INGEST_COL_COUNT; c++)
        cols->index[c] = -1;
    cols->nfields = header->nfields;
    *problem_name = "";
    if (header->problem != NULL)
        return header->problem;
    for (i = 0; i < header->nfields && problem == NULL; i++)
        problem = map_field(cols, header, i, problem_name);
    if (problem == NULL)
        problem = check_required(cols, kind, problem_name);
    return problem;
}
