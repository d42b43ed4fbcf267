/*
 * libFuzzer target for callback/parse: a callback body as the network
 * would deliver it.
 *
 * An input starting with byte 0x01 is sent as application/json, 0x02 as
 * application/x-www-form-urlencoded, 0x03 as text/plain, and that byte
 * is not part of the body; any other input is a body without a content
 * type, so seeds are plain bodies.
 *
 * The body is handed over in an exact-size heap copy, so AddressSanitizer
 * catches any read past len. Beyond the sanitizers, every result is
 * checked against the promises of callback/parse.h: a failure leaves the
 * fields empty; a success leaves every text terminated, within its size,
 * valid UTF-8 and free of control characters, and any amount in range;
 * parsing is repeatable; SUCCESS needs a success-like status or code
 * "01"; and no block stays allocated.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "callback/parse.h"
#include "core/mem.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_callback_parse: %s\n", what);
        abort();
    }
}

/* Terminated within size, valid UTF-8, no C0, DEL or C1. */
static void check_text(const char *text, size_t size)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strnlen(text, size);
    size_t i = 0;
    size_t step;

    check(n < size, "text not terminated within its field");
    while (i < n) {
        step = utf8_sequence_len(s + i, n - i);
        check(step != 0, "text is not valid UTF-8");
        check(step != 1 || (s[i] >= 0x20 && s[i] != 0x7F),
              "control character in text");
        check(step != 2 || s[i] != 0xC2 || s[i + 1] >= 0xA0,
              "C1 control character in text");
        i += step;
    }
}

static void check_fields(const struct callback_fields *f)
{
    check_text(f->request_txn_id, sizeof(f->request_txn_id));
    check_text(f->transaction_id, sizeof(f->transaction_id));
    check_text(f->status, sizeof(f->status));
    check_text(f->code, sizeof(f->code));
    check_text(f->reference_no, sizeof(f->reference_no));
    check_text(f->status_desc, sizeof(f->status_desc));
    check(!f->has_amount || (f->amount > 0 && f->amount < 10000000000000LL),
          "amount out of range");
    check(f->has_amount || f->amount == 0, "amount without has_amount");
}

static void check_empty(const struct callback_fields *f)
{
    static const struct callback_fields empty;

    check(memcmp(f, &empty, sizeof(*f)) == 0, "failure left fields set");
}

/* Field by field: struct copies need not carry padding bytes. */
static int same_fields(const struct callback_fields *a,
                       const struct callback_fields *b)
{
    return strcmp(a->request_txn_id, b->request_txn_id) == 0 &&
           strcmp(a->transaction_id, b->transaction_id) == 0 &&
           strcmp(a->status, b->status) == 0 && strcmp(a->code, b->code) == 0 &&
           strcmp(a->reference_no, b->reference_no) == 0 &&
           strcmp(a->status_desc, b->status_desc) == 0 &&
           a->has_amount == b->has_amount && a->amount == b->amount;
}

/* Unknown text is never success: it needs a known word or code 01. */
static void check_verdict(const struct callback_fields *f)
{
    enum callback_verdict v = callback_verdict_of(f);
    const char *s = f->status;

    check(v >= CALLBACK_SUCCESS && v <= CALLBACK_UNCLEAR, "verdict range");
    check(strcmp(callback_verdict_name(v), "unknown") != 0, "verdict name");
    if (v != CALLBACK_SUCCESS)
        return;
    check(strcasecmp(s, "successfull") == 0 ||
              strcasecmp(s, "successful") == 0 ||
              strcasecmp(s, "success") == 0 ||
              (s[0] == '\0' && strcmp(f->code, "01") == 0),
          "success from unknown status");
    check(f->code[0] == '\0' || strcmp(f->code, "01") == 0,
          "success with another code");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = { NULL, "application/json",
                                         "application/x-www-form-urlencoded",
                                         "text/plain" };
    const char *type = NULL;
    struct callback_fields f;
    struct callback_fields again;
    long live = mem_live_count();
    enum payq_err err;
    char *body;

    if (size > 0 && data[0] >= 1 && data[0] <= 3) {
        type = types[data[0]];
        data++;
        size--;
    }
    /* malloc(0) may return NULL; one byte keeps the pointer real. */
    body = malloc(size > 0 ? size : 1);
    check(body != NULL, "out of memory");
    if (size > 0)
        memcpy(body, data, size);

    err = callback_parse(body, size, type, &f);
    check(err == PAYQ_OK || err == PAYQ_ERR_DATA || err == PAYQ_ERR_TOO_LARGE,
          "unexpected error");
    check(err != PAYQ_ERR_TOO_LARGE || size > CALLBACK_BODY_MAX,
          "too large below the cap");
    if (err == PAYQ_OK)
        check_fields(&f);
    else
        check_empty(&f);
    check_verdict(&f);
    check(callback_parse(body, size, type, &again) == err &&
              same_fields(&f, &again),
          "parsing is not repeatable");
    free(body);
    check(mem_live_count() == live, "blocks left allocated");
    return 0;
}
