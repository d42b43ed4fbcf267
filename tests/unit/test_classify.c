/*
 * Unit tests for upstream/classify: every documented code for both kinds,
 * 2400 on first and repeated sends, transport failures with and without
 * bytes sent, HTTP statuses, unreadable and contradictory answers. Each
 * row is (kind, resend, transport, HTTP status, body) -> class, pause.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "upstream/classify.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define PAY JOB_KIND_PAY
#define DEP JOB_KIND_DEPOSIT
#define ACCEPTED UPSTREAM_CLASS_ACCEPTED
#define SUCCEEDED UPSTREAM_CLASS_SUCCEEDED
#define DECLINED UPSTREAM_CLASS_DECLINED
#define NOT_SENT UPSTREAM_CLASS_NOT_SENT
#define AMBIGUOUS UPSTREAM_CLASS_AMBIGUOUS
#define DUPLICATE_ID UPSTREAM_CLASS_DUPLICATE_ID
#define SYSTEMIC UPSTREAM_CLASS_SYSTEMIC
#define THROTTLED UPSTREAM_CLASS_THROTTLED
#define NONE UPSTREAM_PAUSE_NONE
#define KIND UPSTREAM_PAUSE_KIND
#define ALL UPSTREAM_PAUSE_ALL

/* A body that says what a failure answer of the provider says. */
#define FAILED_BODY(code)                                                      \
    "{\"status\":\"Failed\",\"success\":false,\"responsecode\":\"" code "\"}"

struct row {
    enum job_kind kind;
    bool resend;
    int curl_code;
    long long bytes_sent;
    long http_status;
    const char *body; /* NULL: no body was read */
    enum upstream_class cls;
    enum upstream_pause pause;
};

static struct upstream_result classify_row(const struct row *r,
                                           long long retry_after_s)
{
    struct upstream_transport t = { r->curl_code, r->bytes_sent };
    struct upstream_response resp;

    upstream_response_init(&resp);
    resp.retry_after_s = retry_after_s;
    if (r->body != NULL)
        upstream_response_parse(r->body, strlen(r->body), &resp);
    return upstream_classify(r->kind, r->resend, &t, r->http_status,
                             r->body != NULL ? &resp : NULL);
}

static void check_rows(const struct row *rows, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        struct upstream_result got = classify_row(&rows[i], -1);

        if (got.cls != rows[i].cls || got.pause != rows[i].pause)
            fail_msg("row %zu (curl %d, http %ld, %s): got %s/%s (%s), "
                     "want %s/%s",
                     i, rows[i].curl_code, rows[i].http_status,
                     rows[i].body != NULL ? rows[i].body : "no body",
                     upstream_class_name(got.cls),
                     upstream_pause_name(got.pause), got.reason,
                     upstream_class_name(rows[i].cls),
                     upstream_pause_name(rows[i].pause));
        assert_non_null(got.reason);
    }
}

static void classify_documented_codes_pay(void **state)
{
    static const struct row rows[] = {
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Pending\",\"success\":true,"
          "\"responsecode\":\"1000\",\"transactionid\":1425}",
          ACCEPTED, NONE },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Successfull\",\"responsecode\":\"01\"}", SUCCEEDED,
          NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("0002"), SYSTEMIC, ALL },
        { PAY, false, 0, 300, 200, FAILED_BODY("0003"), SYSTEMIC, ALL },
        { PAY, false, 0, 300, 200, FAILED_BODY("0004"), SYSTEMIC, ALL },
        { PAY, false, 0, 300, 200, FAILED_BODY("0005"), SYSTEMIC, ALL },
        { PAY, false, 0, 300, 200, FAILED_BODY("0006"), SYSTEMIC, ALL },
        { PAY, false, 0, 300, 200, FAILED_BODY("0007"), SYSTEMIC, ALL },
        { PAY, false, 0, 300, 200, FAILED_BODY("0008"), SYSTEMIC, ALL },
        { PAY, false, 0, 300, 200, FAILED_BODY("2100"), DECLINED, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("2200"), DECLINED, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("2300"), DECLINED, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("2400"), DUPLICATE_ID, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("2500"), DECLINED, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("2600"), DECLINED, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("2700"), AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("1005"), DECLINED, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("1002"), DECLINED, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("1008"), AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("1200"), DECLINED, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("1100"), DECLINED, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("1300"), AMBIGUOUS, NONE },
    };

    (void)state;
    check_rows(rows, COUNT(rows));
}

static void classify_documented_codes_deposit(void **state)
{
    static const struct row rows[] = {
        { DEP, false, 0, 300, 200,
          "{\"status\":\"Pending\",\"responsecode\":\"1000\"}", ACCEPTED,
          NONE },
        { DEP, false, 0, 300, 200,
          "{\"status\":\"success\",\"message\":\"Deposit successful\","
          "\"transactionid\":\"DEP000123456\",\"responsecode\":\"01\","
          "\"success\":true,\"referenceno\":\"INTREF202506160001\"}",
          SUCCEEDED, NONE },
        { DEP, false, 0, 300, 200, FAILED_BODY("0002"), SYSTEMIC, ALL },
        { DEP, false, 0, 300, 200, FAILED_BODY("0003"), SYSTEMIC, ALL },
        { DEP, false, 0, 300, 200, FAILED_BODY("0004"), SYSTEMIC, ALL },
        { DEP, false, 0, 300, 200, FAILED_BODY("0005"), SYSTEMIC, ALL },
        { DEP, false, 0, 300, 200, FAILED_BODY("0006"), SYSTEMIC, ALL },
        { DEP, false, 0, 300, 200, FAILED_BODY("0007"), SYSTEMIC, ALL },
        { DEP, false, 0, 300, 200, FAILED_BODY("0008"), SYSTEMIC, ALL },
        { DEP, false, 0, 300, 200, FAILED_BODY("2100"), DECLINED, NONE },
        { DEP, false, 0, 300, 200, FAILED_BODY("2200"), DECLINED, NONE },
        { DEP, false, 0, 300, 200, FAILED_BODY("2300"), DECLINED, NONE },
        { DEP, false, 0, 300, 200, FAILED_BODY("2400"), DUPLICATE_ID, NONE },
        { DEP, false, 0, 300, 200, FAILED_BODY("2500"), DECLINED, NONE },
        { DEP, false, 0, 300, 200, FAILED_BODY("2600"), DECLINED, NONE },
        { DEP, false, 0, 300, 200, FAILED_BODY("2700"), AMBIGUOUS, NONE },
        /* Our own float is short: pause payouts, spend no attempt. */
        { DEP, false, 0, 300, 200, FAILED_BODY("1005"), SYSTEMIC, KIND },
        { DEP, false, 0, 300, 200, FAILED_BODY("1002"), DECLINED, NONE },
        { DEP, false, 0, 300, 200, FAILED_BODY("1008"), AMBIGUOUS, NONE },
        { DEP, false, 0, 300, 200, FAILED_BODY("1200"), DECLINED, NONE },
        { DEP, false, 0, 300, 200, FAILED_BODY("1100"), DECLINED, NONE },
        { DEP, false, 0, 300, 200, FAILED_BODY("1300"), AMBIGUOUS, NONE },
    };

    (void)state;
    check_rows(rows, COUNT(rows));
}

static void classify_duplicate_depends_on_resend(void **state)
{
    static const struct row rows[] = {
        { PAY, false, 0, 300, 200, FAILED_BODY("2400"), DUPLICATE_ID, NONE },
        { PAY, true, 0, 300, 200, FAILED_BODY("2400"), ACCEPTED, NONE },
        { DEP, false, 0, 300, 200, FAILED_BODY("2400"), DUPLICATE_ID, NONE },
        { DEP, true, 0, 300, 200, FAILED_BODY("2400"), ACCEPTED, NONE },
        /* A resend changes nothing for other codes. */
        { PAY, true, 0, 300, 200, FAILED_BODY("2100"), DECLINED, NONE },
        { PAY, true, 0, 300, 200, FAILED_BODY("1008"), AMBIGUOUS, NONE },
    };
    struct upstream_result r;

    (void)state;
    check_rows(rows, COUNT(rows));
    r = classify_row(&rows[1], -1);
    assert_true(r.duplicate);
    assert_string_equal(r.code, "2400");
    r = classify_row(&rows[0], -1);
    assert_true(r.duplicate);
    r = classify_row(&rows[4], -1);
    assert_false(r.duplicate);
}

static void classify_transport_errors(void **state)
{
    static const struct row rows[] = {
        /* Failures that happen before the request: not sent... */
        { PAY, false, CURLE_COULDNT_RESOLVE_HOST, 0, 0, NULL, NOT_SENT, NONE },
        { PAY, false, CURLE_COULDNT_CONNECT, 0, 0, NULL, NOT_SENT, NONE },
        { PAY, false, CURLE_SSL_CONNECT_ERROR, 0, 0, NULL, NOT_SENT, NONE },
        { PAY, false, CURLE_PEER_FAILED_VERIFICATION, 0, 0, NULL, NOT_SENT,
          NONE },
        { PAY, false, CURLE_SSL_CACERT_BADFILE, 0, 0, NULL, NOT_SENT, NONE },
        { DEP, false, CURLE_COULDNT_RESOLVE_PROXY, 0, 0, NULL, NOT_SENT, NONE },
        { DEP, false, CURLE_OPERATION_TIMEDOUT, 0, 0, NULL, NOT_SENT, NONE },
        { DEP, false, CURLE_SEND_ERROR, 0, 0, NULL, NOT_SENT, NONE },
        /* ...but never once a request byte has left. */
        { PAY, false, CURLE_COULDNT_CONNECT, 1, 0, NULL, AMBIGUOUS, NONE },
        { PAY, false, CURLE_SSL_CONNECT_ERROR, 120, 0, NULL, AMBIGUOUS, NONE },
        { PAY, false, CURLE_OPERATION_TIMEDOUT, 350, 0, NULL, AMBIGUOUS, NONE },
        { PAY, false, CURLE_SEND_ERROR, 40, 0, NULL, AMBIGUOUS, NONE },
        /* Failures that only happen after sending. */
        { PAY, false, CURLE_GOT_NOTHING, 350, 0, NULL, AMBIGUOUS, NONE },
        { PAY, false, CURLE_RECV_ERROR, 350, 0, NULL, AMBIGUOUS, NONE },
        { PAY, false, CURLE_SEND_FAIL_REWIND, 350, 0, NULL, AMBIGUOUS, NONE },
        { PAY, false, CURLE_PARTIAL_FILE, 350, 200, NULL, AMBIGUOUS, NONE },
        { DEP, false, CURLE_WRITE_ERROR, 350, 200, NULL, AMBIGUOUS, NONE },
        /* Unproven even with no byte counted: unknown codes. */
        { PAY, false, CURLE_GOT_NOTHING, 0, 0, NULL, AMBIGUOUS, NONE },
        { PAY, false, CURLE_RECV_ERROR, 0, 0, NULL, AMBIGUOUS, NONE },
        { PAY, false, CURLE_WEIRD_SERVER_REPLY, 0, 0, NULL, AMBIGUOUS, NONE },
        { PAY, false, 9999, 0, 0, NULL, AMBIGUOUS, NONE },
        /* A transport failure outranks a half-read status. */
        { PAY, false, CURLE_RECV_ERROR, 350, 429, NULL, AMBIGUOUS, NONE },
    };

    (void)state;
    check_rows(rows, COUNT(rows));
}

static void classify_http_statuses(void **state)
{
    static const struct row rows[] = {
        { PAY, false, 0, 300, 401, "", SYSTEMIC, ALL },
        { PAY, false, 0, 300, 403,
          "{\"status\":\"error\",\"message\":"
          "\"IP address not allowed\"}",
          SYSTEMIC, ALL },
        { DEP, false, 0, 300, 401, FAILED_BODY("01"), SYSTEMIC, ALL },
        { PAY, false, 0, 300, 429, "", THROTTLED, NONE },
        { PAY, false, 0, 300, 503, "<html>busy</html>", THROTTLED, NONE },
        { PAY, false, 0, 300, 500, "", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 500, FAILED_BODY("2100"), AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 502, "<html>bad gateway</html>", AMBIGUOUS,
          NONE },
        { DEP, false, 0, 300, 504, "", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 301, "", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 0, "", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 100, "", AMBIGUOUS, NONE },
        /* Refusals to read the request: nothing executed. */
        { PAY, false, 0, 300, 400, "Bad Request", SYSTEMIC, KIND },
        { PAY, false, 0, 300, 404, "<html>Not Found</html>", SYSTEMIC, KIND },
        { DEP, false, 0, 300, 405, "", SYSTEMIC, KIND },
        { DEP, false, 0, 300, 415, "", SYSTEMIC, KIND },
        { DEP, false, 0, 300, 422, "", SYSTEMIC, KIND },
        /* Other 4xx prove nothing either way. */
        { PAY, false, 0, 300, 408, "", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 409, "", AMBIGUOUS, NONE },
        /* A documented code on a 4xx still counts, if it is bad news. */
        { PAY, false, 0, 300, 400, FAILED_BODY("2100"), DECLINED, NONE },
        { PAY, false, 0, 300, 422, FAILED_BODY("0003"), SYSTEMIC, ALL },
        /* Good news never comes with a 4xx. */
        { PAY, false, 0, 300, 400,
          "{\"status\":\"Successfull\",\"responsecode\":\"01\"}", AMBIGUOUS,
          NONE },
        { PAY, false, 0, 300, 404,
          "{\"status\":\"Pending\",\"responsecode\":\"1000\"}", AMBIGUOUS,
          NONE },
        { PAY, false, 0, 300, 201,
          "{\"status\":\"Pending\",\"responsecode\":\"1000\"}", ACCEPTED,
          NONE },
    };

    (void)state;
    check_rows(rows, COUNT(rows));
}

static void classify_throttle_carries_retry_after(void **state)
{
    static const struct row throttled[] = {
        { PAY, false, 0, 300, 429, "", THROTTLED, NONE },
        { DEP, true, 0, 300, 503, "", THROTTLED, NONE },
    };
    /* Any other class leaves retry_after_s at -1. */
    static const struct row others[] = {
        { PAY, false, 0, 300, 500, "", AMBIGUOUS, NONE },
    };
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(throttled); i++) {
        assert_int_equal(classify_row(&throttled[i], 7).retry_after_s, 7);
        assert_int_equal(classify_row(&throttled[i], -1).retry_after_s, -1);
    }
    assert_int_equal(classify_row(&others[0], 7).retry_after_s, -1);
}

static void classify_unreadable_bodies(void **state)
{
    static const struct row rows[] = {
        { PAY, false, 0, 300, 200, "", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200, "   \n", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200, "<html>ok</html>", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200, "{\"responsecode\":\"01\"", AMBIGUOUS,
          NONE },
        { PAY, false, 0, 300, 200, "[\"01\"]", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200, "\"1000\"", AMBIGUOUS, NONE },
        { DEP, false, 0, 300, 200, "{}", AMBIGUOUS, NONE },
        { DEP, false, 0, 300, 200, "{\"status\":\"success\"}", AMBIGUOUS,
          NONE },
        { DEP, false, 0, 300, 200, "{\"success\":true}", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200,
          "{\"responsecode\":\"2100\",\"responsecode\":\"01\"}", AMBIGUOUS,
          NONE },
        { PAY, false, 0, 300, 200, NULL, AMBIGUOUS, NONE },
    };
    struct upstream_transport t = { 0, 300 };
    struct upstream_response resp;
    struct upstream_result r;

    (void)state;
    check_rows(rows, COUNT(rows));
    /* The client's cap stopped a body: unreadable, whatever it held. */
    upstream_response_init(&resp);
    resp.body = UPSTREAM_BODY_TOO_LARGE;
    r = upstream_classify(JOB_KIND_PAY, false, &t, 200, &resp);
    assert_int_equal(r.cls, UPSTREAM_CLASS_AMBIGUOUS);
    assert_string_equal(r.reason, "answer is over 64 KiB");
    r = upstream_classify(JOB_KIND_PAY, false, &t, 429, &resp);
    assert_int_equal(r.cls, UPSTREAM_CLASS_THROTTLED);
}

static void classify_unknown_codes_are_ambiguous(void **state)
{
    static const struct row rows[] = {
        { PAY, false, 0, 300, 200, FAILED_BODY("9999"), AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("1"), AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("001"), AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200, FAILED_BODY("ERR"), AMBIGUOUS, NONE },
        { DEP, false, 0, 300, 200, "{\"responsecode\":1000.5}", AMBIGUOUS,
          NONE },
        { DEP, false, 0, 300, 200, "{\"responsecode\":[\"01\"]}", AMBIGUOUS,
          NONE },
        { PAY, false, 0, 300, 200, "{\"responsecode\":\"\"}", AMBIGUOUS, NONE },
        /* A number that pads to no documented code. */
        { PAY, false, 0, 300, 200, "{\"responsecode\":9}", AMBIGUOUS, NONE },
    };

    (void)state;
    check_rows(rows, COUNT(rows));
}

static void classify_numeric_codes(void **state)
{
    static const struct row rows[] = {
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Pending\",\"responsecode\":1000}", ACCEPTED, NONE },
        { PAY, false, 0, 300, 200, "{\"responsecode\":2100}", DECLINED, NONE },
        { DEP, true, 0, 300, 200, "{\"responsecode\":2400}", ACCEPTED, NONE },
        /* 5 lost the zeros of "0005": restored, and it is systemic. */
        { PAY, false, 0, 300, 200, "{\"responsecode\":5}", SYSTEMIC, ALL },
        { PAY, false, 0, 300, 200, "{\"responsecode\":8.0}", SYSTEMIC, ALL },
        /* 1 is "01" only when the answer says success too. */
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Successfull\",\"responsecode\":1}", SUCCEEDED, NONE },
        { DEP, false, 0, 300, 200, "{\"success\":true,\"responsecode\":1}",
          SUCCEEDED, NONE },
        { PAY, false, 0, 300, 200, "{\"responsecode\":1}", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Processing\",\"success\":true,"
          "\"responsecode\":1}",
          AMBIGUOUS, NONE },
    };
    struct upstream_result r;

    (void)state;
    check_rows(rows, COUNT(rows));
    r = classify_row(&rows[3], -1);
    assert_string_equal(r.code, "0005");
    r = classify_row(&rows[5], -1);
    assert_string_equal(r.code, "01");
    r = classify_row(&rows[0], -1);
    assert_string_equal(r.code, "1000");
}

static void classify_status_spellings(void **state)
{
    static const struct row rows[] = {
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Successfull\",\"responsecode\":\"01\"}", SUCCEEDED,
          NONE },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Successful\",\"responsecode\":\"01\"}", SUCCEEDED,
          NONE },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"SUCCESSFUL\",\"responsecode\":\"01\"}", SUCCEEDED,
          NONE },
        { DEP, false, 0, 300, 200,
          "{\"status\":\"success\",\"responsecode\":\"01\"}", SUCCEEDED, NONE },
        { DEP, false, 0, 300, 200, "{\"responsecode\":\"01\"}", SUCCEEDED,
          NONE },
        /* An unknown status text is never read as success. */
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Successfully\",\"responsecode\":\"01\"}", AMBIGUOUS,
          NONE },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Done\",\"success\":true,\"responsecode\":\"01\"}",
          AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"PENDING\",\"responsecode\":\"1000\"}", ACCEPTED,
          NONE },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Queued\",\"responsecode\":\"1000\"}", ACCEPTED, NONE },
    };

    (void)state;
    check_rows(rows, COUNT(rows));
}

static void classify_contradictions_are_ambiguous(void **state)
{
    static const struct row rows[] = {
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Failed\",\"responsecode\":\"01\"}", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200,
          "{\"success\":false,\"responsecode\":\"01\"}", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Pending\",\"responsecode\":\"01\"}", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"error\",\"responsecode\":\"1000\"}", AMBIGUOUS, NONE },
        { DEP, false, 0, 300, 200,
          "{\"success\":false,\"responsecode\":\"1000\"}", AMBIGUOUS, NONE },
        /* A decline that also claims success must not start a new id. */
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Successfull\",\"responsecode\":\"2100\"}", AMBIGUOUS,
          NONE },
        { DEP, false, 0, 300, 200,
          "{\"success\":true,\"responsecode\":\"1002\"}", AMBIGUOUS, NONE },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Pending\",\"responsecode\":\"1200\"}", AMBIGUOUS,
          NONE },
        /* An unknown status is no claim of success for a decline. */
        { PAY, false, 0, 300, 200,
          "{\"status\":\"Rejected\",\"responsecode\":\"1200\"}", DECLINED,
          NONE },
    };

    (void)state;
    check_rows(rows, COUNT(rows));
}

static void classify_error_messages(void **state)
{
    static const struct row rows[] = {
        { PAY, false, 0, 300, 200,
          "{\"status\":\"error\",\"message\":\"Unauthorized API access\"}",
          SYSTEMIC, ALL },
        { DEP, false, 0, 300, 400,
          "{\"status\":\"error\",\"message\":\"unauthorized api access\"}",
          SYSTEMIC, ALL },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"error\",\"message\":\"Missing parameter: phone\"}",
          SYSTEMIC, KIND },
        { DEP, false, 0, 300, 422,
          "{\"status\":\"error\",\"message\":\"Missing parameter: "
          "deposit_ref_name\"}",
          SYSTEMIC, KIND },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"error\",\"message\":\"Invalid payment method "
          "selected\"}",
          SYSTEMIC, KIND },
        { PAY, false, 0, 300, 200,
          "{\"status\":\"error\",\"message\":\"Transaction declined by "
          "payment provider\"}",
          DECLINED, NONE },
        { DEP, false, 0, 300, 200,
          "{\"status\":\"error\",\"message\":\"Invalid API key\"}", SYSTEMIC,
          ALL },
        /* An error nobody documented proves nothing. */
        { PAY, false, 0, 300, 200,
          "{\"status\":\"error\",\"message\":\"Something went wrong\"}",
          AMBIGUOUS, NONE },
        /* A 4xx with an unknown message is still a refusal to read. */
        { PAY, false, 0, 300, 400,
          "{\"status\":\"error\",\"message\":\"Invalid JSON\"}", SYSTEMIC,
          KIND },
        /* A documented code outranks the message. */
        { PAY, false, 0, 300, 200,
          "{\"status\":\"error\",\"responsecode\":\"2300\","
          "\"message\":\"Unauthorized API access\"}",
          DECLINED, NONE },
    };

    (void)state;
    check_rows(rows, COUNT(rows));
}

static void classify_result_carries_answer(void **state)
{
    static const struct row row = {
        PAY,
        false,
        0,
        300,
        200,
        "{\"status\":\"Pending\",\"requesttransactionid\":\"4522233\","
        "\"success\":true,\"responsecode\":\"1000\",\"transactionid\":1425,"
        "\"message\":\"Transaction Pending\",\"referenceno\":\"R-9\"}",
        ACCEPTED,
        NONE
    };
    static const struct row failed[] = {
        { PAY, false, CURLE_COULDNT_CONNECT, 0, 0, NULL, NOT_SENT, NONE },
    };
    struct upstream_result r = classify_row(&row, -1);

    (void)state;
    assert_int_equal(r.cls, UPSTREAM_CLASS_ACCEPTED);
    assert_string_equal(r.code, "1000");
    assert_string_equal(r.message, "Transaction Pending");
    assert_string_equal(r.provider_txn_id, "1425");
    assert_string_equal(r.reference_no, "R-9");
    assert_int_equal(r.http_status, 200);
    assert_int_equal(r.curl_code, 0);
    assert_false(r.duplicate);
    assert_int_equal(r.retry_after_s, -1);

    r = classify_row(&failed[0], -1);
    assert_int_equal(r.curl_code, CURLE_COULDNT_CONNECT);
    assert_string_equal(r.code, "");
    assert_string_equal(r.reason, "cannot connect: refused or unreachable");
}

static void classify_class_names(void **state)
{
    static const char *const want[UPSTREAM_CLASS_COUNT] = {
        "accepted",  "succeeded",    "declined", "not_sent",
        "ambiguous", "duplicate_id", "systemic", "throttled",
    };
    int i;

    (void)state;
    for (i = 0; i < UPSTREAM_CLASS_COUNT; i++)
        assert_string_equal(upstream_class_name((enum upstream_class)i),
                            want[i]);
    assert_string_equal(upstream_class_name(UPSTREAM_CLASS_COUNT), "unknown");
    assert_string_equal(upstream_class_name((enum upstream_class) - 1),
                        "unknown");
    assert_string_equal(upstream_pause_name(UPSTREAM_PAUSE_ALL), "all");
    assert_string_equal(upstream_pause_name(UPSTREAM_PAUSE_KIND), "kind");
    assert_string_equal(upstream_pause_name(UPSTREAM_PAUSE_NONE), "none");
}

/* Balance rows reuse struct row; kind and resend are ignored. */
static void classify_balance_answers(void **state)
{
    static const struct row rows[] = {
        { PAY, false, 0, 80, 200,
          "{\"status\":\"success\",\"message\":\"Balance fetched "
          "successfully\",\"net_balance\":37500.0,"
          "\"total_net_credits\":50000.0,\"total_net_debits\":12500.0,"
          "\"currency\":\"RWF\"}",
          SUCCEEDED, NONE },
        { PAY, false, 0, 80, 200,
          "{\"net_balance\":37500.5,\"total_net_credits\":50000.0,"
          "\"total_net_debits\":12500.0}",
          AMBIGUOUS, NONE },
        { PAY, false, 0, 80, 200,
          "{\"status\":\"error\",\"net_balance\":1,"
          "\"total_net_credits\":1,\"total_net_debits\":0}",
          AMBIGUOUS, NONE },
        { PAY, false, 0, 80, 401,
          "{\"status\":\"error\",\"message\":\"Invalid API key\"}", SYSTEMIC,
          ALL },
        { PAY, false, 0, 80, 200,
          "{\"status\":\"error\",\"message\":\"Invalid API key\"}", SYSTEMIC,
          ALL },
        { PAY, false, 0, 80, 403, "", SYSTEMIC, ALL },
        { PAY, false, 0, 80, 200, FAILED_BODY("0005"), SYSTEMIC, ALL },
        { PAY, false, 0, 80, 422, "", SYSTEMIC, KIND },
        { PAY, false, 0, 80, 500, "", AMBIGUOUS, NONE },
        { PAY, false, 0, 80, 429, "", THROTTLED, NONE },
        { PAY, false, 0, 80, 200, "not json", AMBIGUOUS, NONE },
        { PAY, false, CURLE_COULDNT_RESOLVE_HOST, 0, 0, NULL, NOT_SENT, NONE },
    };
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(rows); i++) {
        struct upstream_transport t = { rows[i].curl_code, rows[i].bytes_sent };
        struct upstream_response resp;
        struct upstream_result r;

        upstream_response_init(&resp);
        if (rows[i].body != NULL)
            upstream_response_parse(rows[i].body, strlen(rows[i].body), &resp);
        r = upstream_classify_balance(&t, rows[i].http_status, &resp);
        if (r.cls != rows[i].cls || r.pause != rows[i].pause)
            fail_msg("row %zu: got %s/%s (%s)", i, upstream_class_name(r.cls),
                     upstream_pause_name(r.pause), r.reason);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify_documented_codes_pay),
        cmocka_unit_test(classify_documented_codes_deposit),
        cmocka_unit_test(classify_duplicate_depends_on_resend),
        cmocka_unit_test(classify_transport_errors),
        cmocka_unit_test(classify_http_statuses),
        cmocka_unit_test(classify_throttle_carries_retry_after),
        cmocka_unit_test(classify_unreadable_bodies),
        cmocka_unit_test(classify_unknown_codes_are_ambiguous),
        cmocka_unit_test(classify_numeric_codes),
        cmocka_unit_test(classify_status_spellings),
        cmocka_unit_test(classify_contradictions_are_ambiguous),
        cmocka_unit_test(classify_error_messages),
        cmocka_unit_test(classify_result_carries_answer),
        cmocka_unit_test(classify_class_names),
        cmocka_unit_test(classify_balance_answers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
