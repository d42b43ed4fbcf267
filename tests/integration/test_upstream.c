/*
 * The provider API client against real HTTP servers.
 *
 * Part one uses a stub server inside the test (libmicrohttpd, plain or
 * TLS with a certificate made on the spot) that answers each request as
 * the test says: a status, a body, a Retry-After header, a delay, or a
 * dropped connection. It covers what only a real socket shows: request
 * bodies on the wire, timeouts, resets, huge bodies, connection reuse,
 * TLS verification, and that libcurl never resends a request by itself.
 * Every test logs at debug into a file that is checked for the password
 * and key afterwards, with the secrets deliberately not registered for
 * redaction: a leak shows up instead of being masked.
 *
 * Part two runs build/payq balance against the stub, and part three the
 * provider simulator build/payq-sim (tests/support/sim.h). Each is
 * skipped, loudly, when its binary is missing or lacks the command.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/log.h"
#include "tests/support/proc.h"
#include "tests/support/sim.h"
#include "upstream/client.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Distinctive secrets: any appearance in a log is a leak. */
#define USERNAME "school-a"
#define SECRET_PASSWORD "pw-Up71-never-logged"
#define SECRET_KEY "key-Up93-never-logged"
#define CALLBACK_URL "https://payq.example/cb/tok-never-logged"

enum { STUB_BODY_MAX = 8192, HUGE_BODY = 70 * 1024 };

/* A plain answer: status and body, no header, delay or drop. */
#define ANSWER(status, body)                                                   \
    {                                                                          \
        (status), (body), 0, NULL, 0, false                                    \
    }

/* ------------------------------------------------------------------ */
/* The stub server                                                      */
/* ------------------------------------------------------------------ */

/* How the stub answers; a test sets it before sending. */
struct canned {
    unsigned status;
    const char *body;        /* NULL: empty */
    size_t size;             /* bytes of body; 0: strlen(body) */
    const char *retry_after; /* NULL: no header */
    int delay_ms;            /* sleep before answering */
    bool drop;               /* read the request, close without answer */
};

struct stub {
    struct MHD_Daemon *daemon;
    unsigned short port;
    pthread_mutex_t lock; /* guards every field below */
    struct canned answer;
    int requests;    /* complete requests read */
    int connections; /* connections accepted */
    char method[16];
    char path[256];
    char content_type[128];
    char body[STUB_BODY_MAX + 1]; /* the last request's body */
    size_t body_len;
};

/* One request's upload, collected across handler calls. */
struct upload {
    char data[STUB_BODY_MAX + 1];
    size_t len;
};

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void stub_record(struct stub *s, struct MHD_Connection *conn,
                        const char *url, const char *method,
                        const struct upload *up, struct canned *answer)
{
    const char *type =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");

    pthread_mutex_lock(&s->lock);
    s->requests++;
    snprintf(s->method, sizeof(s->method), "%s", method);
    snprintf(s->path, sizeof(s->path), "%s", url);
    snprintf(s->content_type, sizeof(s->content_type), "%s",
             type != NULL ? type : "");
    memcpy(s->body, up->data, up->len + 1);
    s->body_len = up->len;
    *answer = s->answer;
    pthread_mutex_unlock(&s->lock);
}

static enum MHD_Result stub_answer(struct MHD_Connection *conn,
                                   const struct canned *a)
{
    size_t size =
        a->size != 0 ? a->size : (a->body != NULL ? strlen(a->body) : 0);
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (a->delay_ms > 0)
        sleep_ms(a->delay_ms);
    if (a->drop)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(size, (void *)a->body,
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (a->retry_after != NULL)
        MHD_add_response_header(resp, "Retry-After", a->retry_after);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(conn, a->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result stub_handler(void *cls, struct MHD_Connection *conn,
                                    const char *url, const char *method,
                                    const char *version, const char *data,
                                    size_t *size, void **req_cls)
{
    struct upload *up = *req_cls;
    struct canned answer;

    (void)version;
    if (up == NULL) {
        up = calloc(1, sizeof(*up));
        *req_cls = up;
        return up != NULL ? MHD_YES : MHD_NO;
    }
    if (*size > 0) {
        size_t room = STUB_BODY_MAX - up->len;
        size_t n = *size < room ? *size : room;

        memcpy(up->data + up->len, data, n);
        up->len += n;
        *size = 0;
        return MHD_YES;
    }
    stub_record(cls, conn, url, method, up, &answer);
    return stub_answer(conn, &answer);
}

static void stub_completed(void *cls, struct MHD_Connection *conn,
                           void **req_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)conn;
    (void)t;
    free(*req_cls);
    *req_cls = NULL;
}

static void stub_connection(void *cls, struct MHD_Connection *conn,
                            void **socket_ctx,
                            enum MHD_ConnectionNotificationCode code)
{
    struct stub *s = cls;

    (void)conn;
    (void)socket_ctx;
    if (code != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    pthread_mutex_lock(&s->lock);
    s->connections++;
    pthread_mutex_unlock(&s->lock);
}

/* Starts s on 127.0.0.1 and a free port; TLS when key_pem is given. */
static void stub_start(struct stub *s, const char *key_pem,
                       const char *cert_pem)
{
    struct sockaddr_in addr;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->answer.status = 200;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (key_pem == NULL)
        s->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, stub_handler, s, MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
            stub_completed, s, MHD_OPTION_NOTIFY_CONNECTION, stub_connection, s,
            MHD_OPTION_END);
    else
        s->daemon = MHD_start_daemon(
            flags | MHD_USE_TLS, 0, NULL, NULL, stub_handler, s,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
            MHD_OPTION_NOTIFY_COMPLETED, stub_completed, s,
            MHD_OPTION_NOTIFY_CONNECTION, stub_connection, s,
            MHD_OPTION_HTTPS_MEM_KEY, key_pem, MHD_OPTION_HTTPS_MEM_CERT,
            cert_pem, MHD_OPTION_END);
    assert_non_null(s->daemon);
    s->port = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    assert_true(s->port > 0);
}

static void stub_stop(struct stub *s)
{
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    pthread_mutex_destroy(&s->lock);
}

static void stub_set(struct stub *s, const struct canned *answer)
{
    pthread_mutex_lock(&s->lock);
    s->answer = *answer;
    pthread_mutex_unlock(&s->lock);
}

static int stub_count(struct stub *s, const int *field)
{
    int n;

    pthread_mutex_lock(&s->lock);
    n = *field;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* The last request body as JSON; the caller json_decref()s it. */
static json_t *stub_last_json(struct stub *s)
{
    json_error_t error;
    json_t *obj;

    pthread_mutex_lock(&s->lock);
    obj = json_loadb(s->body, s->body_len, 0, &error);
    pthread_mutex_unlock(&s->lock);
    if (obj == NULL)
        fail_msg("request body is not JSON: %s", error.text);
    return obj;
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                             */
/* ------------------------------------------------------------------ */

static char cred_user[] = USERNAME;
static char cred_password[] = SECRET_PASSWORD;
static char cred_key[] = SECRET_KEY;
static const struct config_credentials creds = { cred_user, cred_password,
                                                 cred_key };

/* A certificate for 127.0.0.1 made for this run; see make_certificate. */
static char *tls_key_pem;
static char *tls_cert_pem;
static char tls_ca_path[64];

/* What each test works with; made by test_setup. */
struct fixture {
    struct stub stub;
    struct upstream_config cfg;
    struct upstream_client *client;
    int log_fd;
};

static const char *const ENV_VARS[] = {
    "PAYQ_API_URL",      "PAYQ_CA_FILE",
    "PAYQ_CALLBACK_URL", "PAYQ_CONNECT_TIMEOUT_MS",
    "PAYQ_TIMEOUT_MS",   "PAYQ_DEPOSIT_PHONE_FORMAT",
};

static void clear_env(void)
{
    size_t i;

    for (i = 0; i < COUNT(ENV_VARS); i++)
        unsetenv(ENV_VARS[i]);
}

static struct upstream_payment pay_fixture(const char *txn)
{
    struct upstream_payment p = {
        .kind = JOB_KIND_PAY,
        .request_txn_id = txn,
        .phone = "250781234567",
        .amount = 1500,
        .callback_url = NULL, /* the configured one */
    };

    return p;
}

static struct upstream_payment deposit_fixture(const char *txn)
{
    struct upstream_payment p = {
        .kind = JOB_KIND_DEPOSIT,
        .request_txn_id = txn,
        .phone = "250781234567",
        .amount = 2500,
        .reference = "REF000123456",
        .withdraw_charge = 100,
        .reason = "Group savings deposit",
        .depositor_name = "Alain Serge",
    };

    return p;
}

/*
 * Replaces f's client with one for url, configured through the
 * environment like payq itself. Settings a test has already put in the
 * environment win over these defaults.
 */
static void client_for_creds(struct fixture *f, const char *url,
                             const struct config_credentials *c)
{
    upstream_client_destroy(f->client);
    f->client = NULL;
    upstream_config_cleanup(&f->cfg);
    setenv("PAYQ_API_URL", url, 1);
    setenv("PAYQ_CALLBACK_URL", CALLBACK_URL, 0);
    setenv("PAYQ_CONNECT_TIMEOUT_MS", "2000", 0);
    setenv("PAYQ_TIMEOUT_MS", "5000", 0);
    assert_int_equal(upstream_config_load(&f->cfg), PAYQ_OK);
    assert_int_equal(upstream_client_create(&f->cfg, c, &f->client), PAYQ_OK);
}

static void client_for(struct fixture *f, const char *url)
{
    client_for_creds(f, url, &creds);
}

/* A client for f's own stub, plain http, under path. */
static void client_for_stub(struct fixture *f, const char *path)
{
    char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", f->stub.port, path);
    client_for(f, url);
}

/* Everything logged so far in this test, NUL-terminated. */
static void read_log(int fd, struct buf *out)
{
    char chunk[4096];
    off_t at = 0;
    ssize_t n;

    buf_reset(out);
    while ((n = pread(fd, chunk, sizeof(chunk), at)) > 0) {
        assert_int_equal(buf_append(out, chunk, (size_t)n), PAYQ_OK);
        at += n;
    }
}

static void assert_no_secret(const char *text)
{
    static const char *const secrets[] = {
        SECRET_PASSWORD,
        SECRET_KEY,
        CALLBACK_URL,
        "tok-never-logged",
    };
    size_t i;

    for (i = 0; i < COUNT(secrets); i++)
        if (strstr(text, secrets[i]) != NULL)
            fail_msg("secret \"%s\" leaked into:\n%s", secrets[i], text);
}

static int test_setup(void **state)
{
    static struct fixture f;
    char path[] = "/tmp/payq-test-upstream-log.XXXXXX";

    memset(&f, 0, sizeof(f));
    clear_env();
    f.log_fd = mkstemp(path);
    if (f.log_fd < 0)
        return -1;
    unlink(path);
    unsetenv("JOURNAL_STREAM");
    /* Debug, so libcurl's trace is on in every client made here. */
    log_init(f.log_fd, LOG_LEVEL_DEBUG);
    stub_start(&f.stub, NULL, NULL);
    upstream_config_init(&f.cfg);
    *state = &f;
    return 0;
}

static int test_teardown(void **state)
{
    struct fixture *f = *state;
    struct buf text;

    upstream_client_destroy(f->client);
    upstream_config_cleanup(&f->cfg);
    stub_stop(&f->stub);
    buf_init(&text, 64 * 1024 * 1024);
    read_log(f->log_fd, &text);
    assert_no_secret(buf_str(&text));
    buf_cleanup(&text);
    log_init(2, LOG_LEVEL_ERROR);
    close(f->log_fd);
    clear_env();
    return 0;
}

/* Sends p through f's client, which must accept the call. */
static struct upstream_result
send_ok(struct fixture *f, const struct upstream_payment *p, bool resend)
{
    struct upstream_result r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(upstream_client_send(f->client, p, resend, &r), PAYQ_OK);
    return r;
}

static void assert_class(const struct upstream_result *r,
                         enum upstream_class want)
{
    if (r->cls != want)
        fail_msg("got %s (%s, curl %d, http %ld), want %s",
                 upstream_class_name(r->cls), r->reason, r->curl_code,
                 r->http_status, upstream_class_name(want));
}

/* ------------------------------------------------------------------ */
/* TLS material                                                         */
/* ------------------------------------------------------------------ */

static char *bio_text(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *copy = malloc((size_t)n + 1);

    assert_non_null(copy);
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    return copy;
}

static void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A self-signed P-256 certificate for IP 127.0.0.1, valid one hour. */
static void make_certificate(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *kb = BIO_new(BIO_s_mem());
    BIO *cb = BIO_new(BIO_s_mem());
    X509_NAME *name;

    assert_true(key != NULL && x != NULL && kb != NULL && cb != NULL);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"127.0.0.1", -1, -1, 0);
    X509_set_issuer_name(x, name);
    add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, NID_subject_alt_name, "IP:127.0.0.1");
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    assert_int_equal(
        PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(PEM_write_bio_X509(cb, x), 1);
    tls_key_pem = bio_text(kb);
    tls_cert_pem = bio_text(cb);
    BIO_free(kb);
    BIO_free(cb);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void write_ca_file(void)
{
    int fd;

    snprintf(tls_ca_path, sizeof(tls_ca_path), "/tmp/payq-test-ca.XXXXXX");
    fd = mkstemp(tls_ca_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, tls_cert_pem, strlen(tls_cert_pem)),
                     (ssize_t)strlen(tls_cert_pem));
    close(fd);
}

static int group_setup(void **state)
{
    (void)state;
    /* A dropped connection must not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (upstream_global_init() != PAYQ_OK)
        return -1;
    make_certificate();
    write_ca_file();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(tls_ca_path);
    free(tls_key_pem);
    free(tls_cert_pem);
    upstream_global_cleanup();
    return 0;
}

/* ------------------------------------------------------------------ */
/* Settings                                                             */
/* ------------------------------------------------------------------ */

static void upstream_config_defaults(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(upstream_config_load(&f->cfg), PAYQ_OK);
    assert_string_equal(f->cfg.base_url, UPSTREAM_DEFAULT_URL);
    assert_false(f->cfg.plain_http);
    assert_null(f->cfg.ca_file);
    assert_null(f->cfg.callback_url);
    assert_int_equal(f->cfg.connect_timeout_ms, 5000);
    assert_int_equal(f->cfg.timeout_ms, 30000);
    assert_int_equal(f->cfg.deposit_phone, UPSTREAM_PHONE_LOCAL10);
}

static void upstream_config_reads_environment(void **state)
{
    struct fixture *f = *state;

    setenv("PAYQ_API_URL", "https://payment.schooldream.co.rw/test", 1);
    setenv("PAYQ_CA_FILE", tls_ca_path, 1);
    setenv("PAYQ_CALLBACK_URL", CALLBACK_URL, 1);
    setenv("PAYQ_CONNECT_TIMEOUT_MS", "250", 1);
    setenv("PAYQ_TIMEOUT_MS", "900", 1);
    setenv("PAYQ_DEPOSIT_PHONE_FORMAT", "LOCAL9", 1);
    assert_int_equal(upstream_config_load(&f->cfg), PAYQ_OK);
    /* The endpoint name is appended: the base gains its '/'. */
    assert_string_equal(f->cfg.base_url,
                        "https://payment.schooldream.co.rw/test/");
    assert_string_equal(f->cfg.ca_file, tls_ca_path);
    assert_string_equal(f->cfg.callback_url, CALLBACK_URL);
    assert_int_equal(f->cfg.connect_timeout_ms, 250);
    assert_int_equal(f->cfg.timeout_ms, 900);
    assert_int_equal(f->cfg.deposit_phone, UPSTREAM_PHONE_LOCAL9);
    assert_string_equal(upstream_phone_form_name(f->cfg.deposit_phone),
                        "local9");
}

static void upstream_config_url_rules(void **state)
{
    static const struct {
        const char *url;
        enum payq_err err;
        bool plain_http;
    } cases[] = {
        { "https://payment.schooldream.co.rw/", PAYQ_OK, false },
        { "https://payment.schooldream.co.rw/test/", PAYQ_OK, false },
        { "HTTPS://example.com:8443/api", PAYQ_OK, false },
        { "http://127.0.0.1:8080/", PAYQ_OK, true },
        { "http://127.45.6.7/", PAYQ_OK, true },
        { "http://[::1]:9000/", PAYQ_OK, true },
        { "http://localhost:9000/test/", PAYQ_OK, true },
        { "http://LOCALHOST/", PAYQ_OK, true },
        { "http://payment.schooldream.co.rw/", PAYQ_ERR_CONFIG, false },
        { "http://10.0.0.1/", PAYQ_ERR_CONFIG, false },
        { "http://128.0.0.1/", PAYQ_ERR_CONFIG, false },
        { "http://127.0.0.1.nip.io/", PAYQ_ERR_CONFIG, false },
        { "http://[::2]/", PAYQ_ERR_CONFIG, false },
        { "http://[::ffff:127.0.0.1]/", PAYQ_ERR_CONFIG, false },
        { "http://localhost.example.com/", PAYQ_ERR_CONFIG, false },
        { "http://127.0.0.1@evil.example/", PAYQ_ERR_CONFIG, false },
        { "https://user:pw@payment.schooldream.co.rw/", PAYQ_ERR_CONFIG,
          false },
        { "https://payment.schooldream.co.rw/?x=1", PAYQ_ERR_CONFIG, false },
        { "https://payment.schooldream.co.rw/#f", PAYQ_ERR_CONFIG, false },
        { "ftp://payment.schooldream.co.rw/", PAYQ_ERR_CONFIG, false },
        { "file:///etc/passwd", PAYQ_ERR_CONFIG, false },
        { "payment.schooldream.co.rw/", PAYQ_ERR_CONFIG, false },
        { "", PAYQ_ERR_CONFIG, false },
    };
    struct fixture *f = *state;
    struct buf text;
    size_t i;

    buf_init(&text, 1024 * 1024);
    for (i = 0; i < COUNT(cases); i++) {
        struct upstream_config cfg;
        enum payq_err err;

        upstream_config_init(&cfg);
        err = upstream_config_set_url(&cfg, cases[i].url, "PAYQ_API_URL");
        if (err != cases[i].err)
            fail_msg("row %zu: %s gave %s", i, cases[i].url, payq_err_str(err));
        assert_int_equal(cfg.plain_http, cases[i].plain_http);
        if (err == PAYQ_OK)
            assert_int_equal(cfg.base_url[strlen(cfg.base_url) - 1], '/');
        else
            assert_null(cfg.base_url);
        upstream_config_cleanup(&cfg);
    }
    /* The refusal names the setting and never echoes a password. */
    read_log(f->log_fd, &text);
    assert_non_null(strstr(buf_str(&text), "plain http is allowed only to "
                                           "a loopback address"));
    assert_non_null(strstr(buf_str(&text), "setting=PAYQ_API_URL"));
    assert_null(strstr(buf_str(&text), "user:pw"));
    buf_cleanup(&text);
}

static void upstream_config_refuses_bad_values(void **state)
{
    static const struct {
        const char *name;
        const char *value;
    } cases[] = {
        { "PAYQ_API_URL", "http://example.com/" },
        { "PAYQ_CONNECT_TIMEOUT_MS", "0" },
        { "PAYQ_CONNECT_TIMEOUT_MS", "5s" },
        { "PAYQ_TIMEOUT_MS", "600001" },
        { "PAYQ_TIMEOUT_MS", "-1" },
        { "PAYQ_TIMEOUT_MS", "100" }, /* below the connect timeout */
        { "PAYQ_DEPOSIT_PHONE_FORMAT", "e164" },
        { "PAYQ_CA_FILE", "/nonexistent/ca.pem" },
        { "PAYQ_CALLBACK_URL", "not a url" },
        { "PAYQ_CALLBACK_URL", "ftp://payq.example/cb" },
    };
    struct fixture *f = *state;
    size_t i;

    (void)f;
    for (i = 0; i < COUNT(cases); i++) {
        struct upstream_config cfg;

        clear_env();
        setenv(cases[i].name, cases[i].value, 1);
        upstream_config_init(&cfg);
        if (upstream_config_load(&cfg) != PAYQ_ERR_CONFIG)
            fail_msg("row %zu: %s=%s accepted", i, cases[i].name,
                     cases[i].value);
        upstream_config_cleanup(&cfg);
    }
}

/* ------------------------------------------------------------------ */
/* Requests on the wire                                                 */
/* ------------------------------------------------------------------ */

/* Asserts obj has exactly the keys listed (NULL-terminated). */
static void assert_keys(json_t *obj, const char *const *keys)
{
    size_t n = 0;

    for (; keys[n] != NULL; n++)
        if (json_object_get(obj, keys[n]) == NULL)
            fail_msg("request lacks \"%s\"", keys[n]);
    assert_int_equal(json_object_size(obj), n);
}

static const char *jstr(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    if (s == NULL)
        fail_msg("\"%s\" is not a string", key);
    return s;
}

static const struct canned pending_answer = ANSWER(
    200, "{\"status\":\"Pending\",\"requesttransactionid\":\"4522233\","
         "\"success\":true,\"responsecode\":\"1000\",\"transactionid\":1425,"
         "\"message\":\"Transaction Pending\"}");

static void upstream_pay_request_has_documented_fields(void **state)
{
    static const char *const keys[] = {
        "username",    "password", "key",
        "phone",       "amount",   "requesttransactionid",
        "callbackurl", NULL,
    };
    struct fixture *f = *state;
    struct upstream_payment p = pay_fixture("PQ-T1-000001-1");
    struct upstream_result r;
    json_t *body;

    client_for_stub(f, "/");
    stub_set(&f->stub, &pending_answer);
    r = send_ok(f, &p, false);
    assert_class(&r, UPSTREAM_CLASS_ACCEPTED);
    assert_string_equal(r.provider_txn_id, "1425");
    assert_string_equal(r.code, "1000");

    assert_string_equal(f->stub.method, "POST");
    assert_string_equal(f->stub.path, "/pay_v2");
    assert_string_equal(f->stub.content_type, "application/json");
    body = stub_last_json(&f->stub);
    assert_keys(body, keys);
    assert_string_equal(jstr(body, "username"), USERNAME);
    assert_string_equal(jstr(body, "password"), SECRET_PASSWORD);
    assert_string_equal(jstr(body, "key"), SECRET_KEY);
    assert_string_equal(jstr(body, "phone"), "0781234567");
    assert_true(json_is_integer(json_object_get(body, "amount")));
    assert_int_equal(json_integer_value(json_object_get(body, "amount")), 1500);
    assert_string_equal(jstr(body, "requesttransactionid"), "PQ-T1-000001-1");
    assert_string_equal(jstr(body, "callbackurl"), CALLBACK_URL);
    json_decref(body);
}

static void upstream_deposit_request_has_documented_fields(void **state)
{
    static const char *const keys[] = {
        "username",       "password",    "key",
        "transactionid",  "referenceid", "amount",
        "withdrawcharge", "reason",      "deposit_ref_name",
        "mobilephone",    NULL,
    };
    static const struct {
        const char *form; /* PAYQ_DEPOSIT_PHONE_FORMAT; NULL: default */
        const char *phone;
    } forms[] = {
        { NULL, "0781234567" },
        { "local10", "0781234567" },
        { "local9", "781234567" },
        { "intl", "250781234567" },
    };
    struct fixture *f = *state;
    struct upstream_payment p = deposit_fixture("PQ-T1-000002-1");
    size_t i;

    stub_set(&f->stub, &pending_answer);
    for (i = 0; i < COUNT(forms); i++) {
        json_t *body;

        unsetenv("PAYQ_DEPOSIT_PHONE_FORMAT");
        if (forms[i].form != NULL)
            setenv("PAYQ_DEPOSIT_PHONE_FORMAT", forms[i].form, 1);
        client_for_stub(f, "/");
        assert_int_equal(send_ok(f, &p, false).cls, UPSTREAM_CLASS_ACCEPTED);
        assert_string_equal(f->stub.path, "/deposit");
        body = stub_last_json(&f->stub);
        assert_keys(body, keys);
        assert_string_equal(jstr(body, "mobilephone"), forms[i].phone);
        assert_string_equal(jstr(body, "transactionid"), "PQ-T1-000002-1");
        assert_string_equal(jstr(body, "referenceid"), "REF000123456");
        assert_string_equal(jstr(body, "reason"), "Group savings deposit");
        assert_string_equal(jstr(body, "deposit_ref_name"), "Alain Serge");
        assert_int_equal(json_integer_value(json_object_get(body, "amount")),
                         2500);
        assert_true(json_is_integer(json_object_get(body, "withdrawcharge")));
        assert_int_equal(
            json_integer_value(json_object_get(body, "withdrawcharge")), 100);
        json_decref(body);
    }
}

static void upstream_test_base_url_is_honoured(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment pay = pay_fixture("PQ-T1-000003-1");
    struct upstream_payment dep = deposit_fixture("PQ-T1-000004-1");

    stub_set(&f->stub, &pending_answer);
    client_for_stub(f, "/test"); /* no trailing slash on purpose */
    send_ok(f, &pay, false);
    assert_string_equal(f->stub.path, "/test/pay_v2");
    send_ok(f, &dep, false);
    assert_string_equal(f->stub.path, "/test/deposit");
}

static void upstream_balance_on_the_wire(void **state)
{
    static const char *const keys[] = { "username", "password", "key", NULL };
    static const struct canned ok = ANSWER(
        200, "{ \"status\": \"success\", \"message\": \"Balance fetched "
             "successfully\", \"net_balance\": 37500.0, \"total_net_credits\": "
             "50000.0, \"total_net_debits\": 12500.0, \"currency\": \"RWF\" }");
    static const struct {
        struct canned answer;
        enum payq_err err;
        enum upstream_class cls;
    } refusals[] = {
        { ANSWER(401, "{\"status\":\"error\",\"message\":\"Invalid API key\"}"),
          PAYQ_ERR_CONFIG, UPSTREAM_CLASS_SYSTEMIC },
        { ANSWER(403, ""), PAYQ_ERR_CONFIG, UPSTREAM_CLASS_SYSTEMIC },
        { ANSWER(500, ""), PAYQ_ERR_IO, UPSTREAM_CLASS_AMBIGUOUS },
        { ANSWER(200, "{\"net_balance\":37500.5,\"total_net_credits\":1,"
                      "\"total_net_debits\":0}"),
          PAYQ_ERR_IO, UPSTREAM_CLASS_AMBIGUOUS },
    };
    struct fixture *f = *state;
    struct upstream_balance bal;
    struct upstream_result r;
    json_t *body;
    size_t i;

    client_for_stub(f, "/");
    stub_set(&f->stub, &ok);
    assert_int_equal(upstream_client_balance(f->client, &bal, &r), PAYQ_OK);
    assert_int_equal(r.cls, UPSTREAM_CLASS_SUCCEEDED);
    assert_int_equal(bal.net_balance, 37500);
    assert_int_equal(bal.total_credits, 50000);
    assert_int_equal(bal.total_debits, 12500);
    assert_string_equal(bal.currency, "RWF");
    assert_string_equal(f->stub.path, "/balance");
    body = stub_last_json(&f->stub);
    assert_keys(body, keys);
    json_decref(body);

    for (i = 0; i < COUNT(refusals); i++) {
        stub_set(&f->stub, &refusals[i].answer);
        assert_int_equal(upstream_client_balance(f->client, &bal, &r),
                         refusals[i].err);
        assert_class(&r, refusals[i].cls);
    }
}

static void upstream_answers_are_classified(void **state)
{
    static const struct {
        enum job_kind kind;
        bool resend;
        struct canned answer;
        enum upstream_class cls;
        const char *code;
    } cases[] = {
        { JOB_KIND_PAY, false,
          ANSWER(200, "{\"status\":\"Successfull\","
                      "\"responsecode\":\"01\"}"),
          UPSTREAM_CLASS_SUCCEEDED, "01" },
        { JOB_KIND_PAY, false,
          ANSWER(200, "{\"status\":\"Failed\","
                      "\"responsecode\":\"1002\"}"),
          UPSTREAM_CLASS_DECLINED, "1002" },
        { JOB_KIND_DEPOSIT, false, ANSWER(200, "{\"responsecode\":\"1005\"}"),
          UPSTREAM_CLASS_SYSTEMIC, "1005" },
        { JOB_KIND_PAY, false, ANSWER(200, "{\"responsecode\":2400}"),
          UPSTREAM_CLASS_DUPLICATE_ID, "2400" },
        { JOB_KIND_PAY, true, ANSWER(200, "{\"responsecode\":\"2400\"}"),
          UPSTREAM_CLASS_ACCEPTED, "2400" },
        { JOB_KIND_PAY, false, ANSWER(200, "{\"responsecode\":\"1008\"}"),
          UPSTREAM_CLASS_AMBIGUOUS, "1008" },
        { JOB_KIND_PAY, false,
          ANSWER(200, "{\"status\":\"error\",\"message\":"
                      "\"Unauthorized API access\"}"),
          UPSTREAM_CLASS_SYSTEMIC, "" },
        { JOB_KIND_PAY, false, ANSWER(401, ""), UPSTREAM_CLASS_SYSTEMIC, "" },
        { JOB_KIND_DEPOSIT, false, ANSWER(403, "Forbidden"),
          UPSTREAM_CLASS_SYSTEMIC, "" },
        { JOB_KIND_PAY, false, ANSWER(500, ""), UPSTREAM_CLASS_AMBIGUOUS, "" },
        { JOB_KIND_PAY, false, ANSWER(502, "<html>Bad Gateway</html>"),
          UPSTREAM_CLASS_AMBIGUOUS, "" },
        { JOB_KIND_PAY, false, ANSWER(404, "<html>Not Found</html>"),
          UPSTREAM_CLASS_SYSTEMIC, "" },
        { JOB_KIND_PAY, false, ANSWER(200, ""), UPSTREAM_CLASS_AMBIGUOUS, "" },
        { JOB_KIND_PAY, false, ANSWER(200, "<br />Notice: oops"),
          UPSTREAM_CLASS_AMBIGUOUS, "" },
        { JOB_KIND_PAY, false, ANSWER(302, ""), UPSTREAM_CLASS_AMBIGUOUS, "" },
    };
    struct fixture *f = *state;
    size_t i;

    client_for_stub(f, "/");
    for (i = 0; i < COUNT(cases); i++) {
        struct upstream_payment p = cases[i].kind == JOB_KIND_PAY
                                        ? pay_fixture("PQ-T1-000005-1")
                                        : deposit_fixture("PQ-T1-000005-1");
        struct upstream_result r;

        stub_set(&f->stub, &cases[i].answer);
        r = send_ok(f, &p, cases[i].resend);
        if (r.cls != cases[i].cls)
            fail_msg("row %zu: got %s (%s)", i, upstream_class_name(r.cls),
                     r.reason);
        assert_string_equal(r.code, cases[i].code);
        assert_int_equal(r.http_status, (long)cases[i].answer.status);
        assert_true(r.duration_ms >= 0);
    }
}

static void upstream_retry_after_is_exposed(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment p = pay_fixture("PQ-T1-000006-1");
    struct canned seconds = { 429, "", 0, "7", 0, false };
    struct canned date = ANSWER(503, "busy");
    struct canned none = ANSWER(429, "");
    struct upstream_result r;
    char when[64];
    struct tm tm;
    time_t t = time(NULL) + 30;

    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    date.retry_after = when;
    client_for_stub(f, "/");

    stub_set(&f->stub, &seconds);
    r = send_ok(f, &p, false);
    assert_class(&r, UPSTREAM_CLASS_THROTTLED);
    assert_int_equal(r.retry_after_s, 7);

    stub_set(&f->stub, &date);
    r = send_ok(f, &p, false);
    assert_class(&r, UPSTREAM_CLASS_THROTTLED);
    assert_in_range(r.retry_after_s, 27, 31);

    stub_set(&f->stub, &none);
    r = send_ok(f, &p, false);
    assert_class(&r, UPSTREAM_CLASS_THROTTLED);
    assert_int_equal(r.retry_after_s, -1);
}

static void upstream_connection_is_reused(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment p = pay_fixture("PQ-T1-000007-1");
    int i;

    client_for_stub(f, "/");
    stub_set(&f->stub, &pending_answer);
    for (i = 0; i < 5; i++)
        assert_int_equal(send_ok(f, &p, i > 0).cls, UPSTREAM_CLASS_ACCEPTED);
    assert_int_equal(stub_count(&f->stub, &f->stub.requests), 5);
    assert_int_equal(stub_count(&f->stub, &f->stub.connections), 1);
}

/* ------------------------------------------------------------------ */
/* Failures on the wire                                                 */
/* ------------------------------------------------------------------ */

static void upstream_timeout_after_send_is_ambiguous(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment p = pay_fixture("PQ-T1-000008-1");
    struct canned slow = pending_answer;
    struct upstream_result r;

    slow.delay_ms = 1500;
    setenv("PAYQ_CONNECT_TIMEOUT_MS", "200", 1);
    setenv("PAYQ_TIMEOUT_MS", "300", 1);
    client_for_stub(f, "/");
    stub_set(&f->stub, &slow);
    r = send_ok(f, &p, false);
    assert_class(&r, UPSTREAM_CLASS_AMBIGUOUS);
    assert_int_equal(r.curl_code, CURLE_OPERATION_TIMEDOUT);
    assert_string_equal(r.reason, "timed out after sending");
    /* It was sent, and would have executed: hence ambiguous. */
    assert_int_equal(stub_count(&f->stub, &f->stub.requests), 1);
}

static void upstream_dropped_connection_is_ambiguous(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment p = deposit_fixture("PQ-T1-000009-1");
    struct canned drop = { 200, NULL, 0, NULL, 0, true };
    struct upstream_result r;

    client_for_stub(f, "/");
    stub_set(&f->stub, &drop);
    r = send_ok(f, &p, false);
    assert_class(&r, UPSTREAM_CLASS_AMBIGUOUS);
    assert_int_equal(r.http_status, 0);
    assert_int_equal(stub_count(&f->stub, &f->stub.requests), 1);
}

/*
 * The stub reads a request on a kept-alive connection, then closes it
 * unanswered. libcurl's habit is to resend such a request on a fresh
 * connection; the client must refuse, so the stub sees it exactly once.
 */
static void upstream_never_resends_by_itself(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment first = pay_fixture("PQ-T1-000010-1");
    struct upstream_payment second = pay_fixture("PQ-T1-000011-1");
    struct canned drop = { 200, NULL, 0, NULL, 0, true };
    struct upstream_result r;

    client_for_stub(f, "/");
    stub_set(&f->stub, &pending_answer);
    assert_int_equal(send_ok(f, &first, false).cls, UPSTREAM_CLASS_ACCEPTED);
    stub_set(&f->stub, &drop);
    r = send_ok(f, &second, false);
    assert_class(&r, UPSTREAM_CLASS_AMBIGUOUS);
    assert_int_equal(stub_count(&f->stub, &f->stub.requests), 2);
    assert_int_equal(r.curl_code, CURLE_SEND_FAIL_REWIND);
}

/*
 * Connection refused after an earlier success on the same handle: the
 * byte count must start again from zero, or the failure would read as
 * "sent".
 */
static void upstream_refused_connection_is_not_sent(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment p = pay_fixture("PQ-T1-000012-1");
    struct upstream_result r;

    client_for_stub(f, "/");
    stub_set(&f->stub, &pending_answer);
    assert_int_equal(send_ok(f, &p, false).cls, UPSTREAM_CLASS_ACCEPTED);
    stub_stop(&f->stub);
    r = send_ok(f, &p, true);
    assert_class(&r, UPSTREAM_CLASS_NOT_SENT);
    assert_int_equal(r.curl_code, CURLE_COULDNT_CONNECT);
    stub_start(&f->stub, NULL, NULL); /* for the teardown */
}

static void upstream_unresolvable_host_is_not_sent(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment p = pay_fixture("PQ-T1-000013-1");
    struct upstream_result r;

    client_for(f, "https://no-such-host.invalid/");
    r = send_ok(f, &p, false);
    assert_class(&r, UPSTREAM_CLASS_NOT_SENT);
    assert_int_equal(r.curl_code, CURLE_COULDNT_RESOLVE_HOST);
}

/* A listener that accepts TCP but never speaks: TLS never completes. */
static void upstream_tls_handshake_timeout_is_not_sent(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment p = pay_fixture("PQ-T1-000014-1");
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    struct upstream_result r;
    char url[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/",
             (unsigned)ntohs(addr.sin_port));
    setenv("PAYQ_CONNECT_TIMEOUT_MS", "300", 1);
    setenv("PAYQ_TIMEOUT_MS", "400", 1);
    client_for(f, url);
    r = send_ok(f, &p, false);
    close(fd);
    assert_class(&r, UPSTREAM_CLASS_NOT_SENT);
    assert_int_equal(r.curl_code, CURLE_OPERATION_TIMEDOUT);
    assert_string_equal(r.reason, "timed out before sending");
}

static void upstream_plain_server_on_https_is_not_sent(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment p = pay_fixture("PQ-T1-000015-1");
    struct upstream_result r;
    char url[64];

    snprintf(url, sizeof(url), "https://127.0.0.1:%u/", f->stub.port);
    client_for(f, url);
    r = send_ok(f, &p, false);
    assert_class(&r, UPSTREAM_CLASS_NOT_SENT);
    assert_int_equal(r.curl_code, CURLE_SSL_CONNECT_ERROR);
    assert_int_equal(stub_count(&f->stub, &f->stub.requests), 0);
}

/* Verification stays on: a self-signed provider is refused until
 * PAYQ_CA_FILE names its certificate. */
static void upstream_tls_is_verified(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment p = pay_fixture("PQ-T1-000016-1");
    struct upstream_result r;
    struct stub tls;
    char url[64];

    stub_start(&tls, tls_key_pem, tls_cert_pem);
    stub_set(&tls, &pending_answer);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/", tls.port);
    client_for(f, url);
    r = send_ok(f, &p, false);
    assert_class(&r, UPSTREAM_CLASS_NOT_SENT);
    assert_int_equal(r.curl_code, CURLE_PEER_FAILED_VERIFICATION);
    assert_int_equal(stub_count(&tls, &tls.requests), 0);

    setenv("PAYQ_CA_FILE", tls_ca_path, 1);
    client_for(f, url);
    r = send_ok(f, &p, false);
    assert_class(&r, UPSTREAM_CLASS_ACCEPTED);
    assert_int_equal(stub_count(&tls, &tls.requests), 1);
    stub_stop(&tls);
}

static void upstream_huge_body_is_ambiguous(void **state)
{
    static char huge[HUGE_BODY];
    struct fixture *f = *state;
    struct upstream_payment p = pay_fixture("PQ-T1-000017-1");
    struct canned big = { 200, huge, sizeof(huge), NULL, 0, false };
    struct upstream_result r;
    size_t len = 0;

    memset(huge, ' ', sizeof(huge));
    memcpy(huge, "{\"responsecode\":\"01\"}", 21);
    client_for_stub(f, "/");
    stub_set(&f->stub, &big);
    r = send_ok(f, &p, false);
    assert_class(&r, UPSTREAM_CLASS_AMBIGUOUS);
    assert_string_equal(r.reason, "answer is over 64 KiB");
    assert_int_equal(r.curl_code, 0);
    assert_int_equal(r.http_status, 200);
    upstream_client_last_body(f->client, &len);
    assert_true(len <= UPSTREAM_BODY_MAX);

    /* The client is still usable afterwards. */
    stub_set(&f->stub, &pending_answer);
    assert_int_equal(send_ok(f, &p, true).cls, UPSTREAM_CLASS_ACCEPTED);
    assert_non_null(
        strstr(upstream_client_last_body(f->client, &len), "\"1000\""));
}

static void upstream_bad_payment_is_never_sent(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment cases[7];
    struct upstream_result r;
    struct upstream_config cfg;
    struct upstream_client *bare = NULL;
    struct upstream_payment pay = pay_fixture("PQ-T1-000018-1");
    char url[64];
    size_t i;

    for (i = 0; i < COUNT(cases); i++)
        cases[i] = i % 2 == 0 ? pay_fixture("PQ-T1-000018-1")
                              : deposit_fixture("PQ-T1-000018-1");
    cases[0].phone = "0781234567"; /* not the canonical form */
    cases[1].amount = 0;
    cases[2].request_txn_id = "bad id!";
    cases[3].reason = " ";
    cases[4].kind = JOB_KIND_COUNT;
    cases[5].withdraw_charge = -1;
    cases[6].phone = "25078123456"; /* a digit short */
    client_for_stub(f, "/");
    for (i = 0; i < COUNT(cases); i++)
        assert_int_equal(upstream_client_send(f->client, &cases[i], false, &r),
                         PAYQ_ERR_DATA);
    assert_int_equal(stub_count(&f->stub, &f->stub.requests), 0);

    /* No callback URL anywhere: a collection cannot be sent. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", f->stub.port);
    upstream_config_init(&cfg);
    assert_int_equal(upstream_config_set_url(&cfg, url, "test"), PAYQ_OK);
    assert_int_equal(upstream_client_create(&cfg, &creds, &bare), PAYQ_OK);
    assert_int_equal(upstream_client_send(bare, &pay, false, &r),
                     PAYQ_ERR_CONFIG);
    assert_int_equal(stub_count(&f->stub, &f->stub.requests), 0);
    upstream_client_destroy(bare);
    upstream_config_cleanup(&cfg);
}

/*
 * At debug level libcurl's trace is on. The secrets are deliberately not
 * registered with log_secret_add() here, so a leak would show instead of
 * being redacted. (Every test's teardown checks the same; this one makes
 * sure the trace was really there to leak through.)
 */
static void upstream_secrets_never_logged_at_debug(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment pay = pay_fixture("PQ-T1-000019-1");
    struct upstream_payment dep = deposit_fixture("PQ-T1-000020-1");
    struct canned drop = { 200, NULL, 0, NULL, 0, true };
    struct canned refused = ANSWER(401, "{\"status\":\"error\",\"message\":"
                                        "\"Unauthorized API access\"}");
    struct upstream_balance bal;
    struct upstream_result r;
    struct buf text;

    client_for_stub(f, "/");
    stub_set(&f->stub, &pending_answer);
    send_ok(f, &pay, false);
    send_ok(f, &dep, false);
    assert_int_equal(upstream_client_balance(f->client, &bal, &r), PAYQ_ERR_IO);
    stub_set(&f->stub, &drop);
    send_ok(f, &pay, true);
    stub_set(&f->stub, &refused);
    send_ok(f, &dep, true);

    buf_init(&text, 64 * 1024 * 1024);
    read_log(f->log_fd, &text);
    assert_non_null(strstr(buf_str(&text), "msg=\"libcurl trace\""));
    assert_non_null(strstr(buf_str(&text), "\"POST /pay_v2 HTTP/1.1\""));
    assert_non_null(strstr(buf_str(&text), "msg=\"sending to provider\""));
    assert_non_null(strstr(buf_str(&text), "phone=0781****67"));
    assert_null(strstr(buf_str(&text), "0781234567"));
    assert_no_secret(buf_str(&text));
    buf_cleanup(&text);
}

/* ------------------------------------------------------------------ */
/* payq balance, against the stub                                       */
/* ------------------------------------------------------------------ */

/* True when build/payq has the balance command; says so when not. */
static bool payq_has_balance(void)
{
    const char *argv[] = { proc_payq_path(), "balance", "--help", NULL };
    struct proc_result res;
    bool has;

    proc_run(argv, NULL, &res);
    has =
        res.exit_code == 0 && strstr(buf_str(&res.out), "payq balance") != NULL;
    proc_result_cleanup(&res);
    if (!has)
        print_message("SKIPPED: %s has no balance command yet (register "
                      "cmd_balance in cmd/main.c)\n",
                      proc_payq_path());
    return has;
}

static void run_balance(const struct fixture *f, const char *flag,
                        bool with_creds, struct proc_result *res)
{
    char url[96];
    const char *argv[] = { proc_payq_path(), "balance", flag, NULL };
    const char *env[] = {
        url,
        "PAYQ_LOG_LEVEL=debug",
        with_creds ? "PAYQ_USERNAME=" USERNAME : "PAYQ_USERNAME",
        with_creds ? "PAYQ_PASSWORD=" SECRET_PASSWORD : "PAYQ_PASSWORD",
        with_creds ? "PAYQ_KEY=" SECRET_KEY : "PAYQ_KEY",
        NULL
    };

    snprintf(url, sizeof(url), "PAYQ_API_URL=http://127.0.0.1:%u/",
             f->stub.port);
    proc_run(argv, env, res);
    assert_no_secret(buf_str(&res->err));
    assert_no_secret(buf_str(&res->out));
}

static void upstream_cli_balance(void **state)
{
    static const struct canned ok = ANSWER(
        200, "{\"status\":\"success\",\"net_balance\":1237500.0,"
             "\"total_net_credits\":1250000.0,\"total_net_debits\":12500.0,"
             "\"currency\":\"RWF\"}");
    struct fixture *f = *state;
    struct proc_result res;
    json_error_t error;
    json_t *obj;

    if (!payq_has_balance())
        skip();
    stub_set(&f->stub, &ok);
    run_balance(f, NULL, true, &res);
    assert_int_equal(res.exit_code, 0);
    assert_non_null(strstr(buf_str(&res.out), "1,237,500 RWF"));
    assert_non_null(strstr(buf_str(&res.out), "1,250,000 RWF"));
    assert_non_null(strstr(buf_str(&res.out), "12,500 RWF"));
    proc_result_cleanup(&res);

    run_balance(f, "--json", true, &res);
    assert_int_equal(res.exit_code, 0);
    obj = json_loads(buf_str(&res.out), 0, &error);
    assert_non_null(obj);
    assert_int_equal(json_integer_value(json_object_get(obj, "net_balance")),
                     1237500);
    assert_true(json_is_integer(json_object_get(obj, "total_debits")));
    assert_string_equal(jstr(obj, "currency"), "RWF");
    json_decref(obj);
    proc_result_cleanup(&res);
}

static void upstream_cli_balance_exit_statuses(void **state)
{
    static const struct {
        struct canned answer;
        bool with_creds;
        int exit_code;
    } cases[] = {
        { ANSWER(401, "{\"status\":\"error\",\"message\":\"Invalid API key\"}"),
          true, 78 },
        { ANSWER(403, ""), true, 78 },
        { ANSWER(500, ""), true, 1 },
        { ANSWER(200, "not json"), true, 1 },
        { ANSWER(200, "{}"), false, 78 },
    };
    struct fixture *f = *state;
    size_t i;

    if (!payq_has_balance())
        skip();
    for (i = 0; i < COUNT(cases); i++) {
        struct proc_result res;

        stub_set(&f->stub, &cases[i].answer);
        run_balance(f, NULL, cases[i].with_creds, &res);
        if (res.exit_code != cases[i].exit_code)
            fail_msg("row %zu: exit %d, stderr:\n%s", i, res.exit_code,
                     buf_str(&res.err));
        proc_result_cleanup(&res);
    }
}

static void upstream_cli_balance_refuses_clear_text(void **state)
{
    const char *argv[] = { proc_payq_path(), "balance", NULL };
    const char *env[] = { "PAYQ_API_URL=http://payment.schooldream.co.rw/",
                          "PAYQ_USERNAME=" USERNAME,
                          "PAYQ_PASSWORD=" SECRET_PASSWORD,
                          "PAYQ_KEY=" SECRET_KEY, NULL };
    struct proc_result res;

    (void)state;
    if (!payq_has_balance())
        skip();
    proc_run(argv, env, &res);
    assert_int_equal(res.exit_code, 78);
    assert_non_null(strstr(buf_str(&res.err), "loopback"));
    proc_result_cleanup(&res);
}

/* ------------------------------------------------------------------ */
/* Against payq-sim                                                     */
/* ------------------------------------------------------------------ */

/* The simulator's own credentials (tests/support/sim.h). */
static char sim_user[] = TESTSIM_USERNAME;
static char sim_password[] = TESTSIM_PASSWORD;
static char sim_key[] = TESTSIM_KEY;
static const struct config_credentials sim_creds = { sim_user, sim_password,
                                                     sim_key };

/*
 * build/payq-sim is a build dependency of this test, so a missing one is
 * a broken build: fail rather than skip, so it can never pass unnoticed.
 */
static bool sim_available(void)
{
    if (access(testsim_path(), X_OK) != 0)
        fail_msg("%s is not built", testsim_path());
    return true;
}

/*
 * Starts the simulator with extra flags (NULL-terminated). Callbacks are
 * switched off: these tests are about the synchronous answers, and the
 * callback URL here leads nowhere.
 */
static void sim_start(struct testsim *sim, const char *const *extra)
{
    const char *args[TESTSIM_ARGS_MAX] = { "--seed", "1", "--lose-callbacks",
                                           "100" };
    size_t n = 4;

    while (extra != NULL && *extra != NULL && n < TESTSIM_ARGS_MAX - 1)
        args[n++] = *extra++;
    args[n] = NULL;
    memset(sim, 0, sizeof(*sim));
    testsim_start(sim, args);
}

static void sim_stop(struct testsim *sim)
{
    testsim_stop(sim);
    testsim_cleanup(sim);
}

static size_t on_ledger(char *data, size_t size, size_t n, void *arg)
{
    return buf_append(arg, data, size * n) == PAYQ_OK ? size * n : 0;
}

/* The body of GET path on the simulator's admin port, as JSON. */
static json_t *sim_admin_get(const struct testsim *sim, const char *path)
{
    CURL *easy = curl_easy_init();
    struct buf text;
    json_error_t error;
    json_t *root;
    char url[160];
    long status = 0;

    assert_non_null(easy);
    buf_init(&text, 16 * 1024 * 1024);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", sim->admin_port, path);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_ledger);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &text);
    assert_int_equal(curl_easy_perform(easy), CURLE_OK);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 200);
    root = json_loads(buf_str(&text), 0, &error);
    if (root == NULL)
        fail_msg("ledger is not JSON: %s", error.text);
    curl_easy_cleanup(easy);
    buf_cleanup(&text);
    return root;
}

/*
 * txn's record in the simulator's ledger, or NULL when it has none. The
 * caller json_decref()s it.
 */
static json_t *sim_ledger_txn(const struct testsim *sim, const char *txn)
{
    char path[128];
    json_t *root;
    json_t *entry;

    snprintf(path, sizeof(path), "/_sim/ledger?id=%s", txn);
    root = sim_admin_get(sim, path);
    entry = json_array_get(json_object_get(root, "transactions"), 0);
    json_incref(entry);
    json_decref(root);
    return entry;
}

/* Times txn was executed by the simulator: 0 when it is not there. */
static int sim_executed(const struct testsim *sim, const char *txn)
{
    json_t *entry = sim_ledger_txn(sim, txn);
    int executed = 0;

    if (entry != NULL) {
        assert_true(json_is_integer(json_object_get(entry, "executed")));
        executed = (int)json_integer_value(json_object_get(entry, "executed"));
    }
    json_decref(entry);
    return executed;
}

static void client_for_sim(struct fixture *f, const struct testsim *sim,
                           const struct config_credentials *c)
{
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", sim->port);
    client_for_creds(f, url, c);
}

/* Checks the balance the client reads from the simulator. */
static void expect_balance(struct fixture *f, long long net, long long credits,
                           long long debits)
{
    struct upstream_balance bal;
    struct upstream_result r;

    assert_int_equal(upstream_client_balance(f->client, &bal, &r), PAYQ_OK);
    assert_class(&r, UPSTREAM_CLASS_SUCCEEDED);
    assert_int_equal(bal.net_balance, net);
    assert_int_equal(bal.total_credits, credits);
    assert_int_equal(bal.total_debits, debits);
    assert_string_equal(bal.currency, "RWF");
}

/*
 * A pay is accepted (1000 Pending, a provider id), a deposit succeeds
 * (01 with its reference), and the balance moves by the deposit and its
 * charge; the pay's callback is held back so it stays pending.
 */
static void sim_pay_and_deposit_are_accepted(void **state)
{
    static const char *const flags[] = { "--float", "1000000",
                                         "--callback-delay-ms", "600000",
                                         NULL };
    struct fixture *f = *state;
    struct upstream_payment pay = pay_fixture("PQ-SIM-000001-1");
    struct upstream_payment dep = deposit_fixture("PQ-SIM-000002-1");
    char provider[UPSTREAM_ID_SIZE];
    struct upstream_result r;
    struct testsim sim;
    json_t *entry;

    sim_available();
    sim_start(&sim, flags);
    client_for_sim(f, &sim, &sim_creds);
    expect_balance(f, 1000000, 1000000, 0);
    r = send_ok(f, &pay, false);
    assert_class(&r, UPSTREAM_CLASS_ACCEPTED);
    assert_string_equal(r.code, "1000");
    assert_false(r.duplicate);
    assert_true(strlen(r.provider_txn_id) == 10);
    snprintf(provider, sizeof(provider), "%s", r.provider_txn_id);
    r = send_ok(f, &dep, false);
    assert_class(&r, UPSTREAM_CLASS_SUCCEEDED);
    assert_string_equal(r.code, "01");
    assert_true(strncmp(r.reference_no, "INTREF", 6) == 0);
    /* The deposit of 2,500 and its charge of 100 are debited. */
    expect_balance(f, 1000000 - 2600, 1000000, 2600);

    /* The simulator executed exactly what the client asked for. */
    entry = sim_ledger_txn(&sim, "PQ-SIM-000001-1");
    assert_non_null(entry);
    assert_int_equal(json_integer_value(json_object_get(entry, "executed")), 1);
    assert_int_equal(json_integer_value(json_object_get(entry, "amount")),
                     1500);
    assert_string_equal(
        json_string_value(json_object_get(entry, "provider_id")), provider);
    json_decref(entry);
    entry = sim_ledger_txn(&sim, "PQ-SIM-000002-1");
    assert_non_null(entry);
    assert_string_equal(
        json_string_value(json_object_get(entry, "referenceid")),
        "REF000123456");
    assert_string_equal(
        json_string_value(json_object_get(entry, "referenceno")),
        r.reference_no);
    assert_int_equal(
        json_integer_value(json_object_get(entry, "withdrawcharge")), 100);
    json_decref(entry);

    /* A resend of a registered id is a duplicate that means "accepted". */
    r = send_ok(f, &pay, true);
    assert_class(&r, UPSTREAM_CLASS_ACCEPTED);
    assert_true(r.duplicate);
    assert_int_equal(sim_executed(&sim, "PQ-SIM-000001-1"), 1);
    sim_stop(&sim);
}

static void sim_refusals_are_classified(void **state)
{
    static const char *const decline[] = { "--decline", "1002=100", NULL };
    static const char *const broke[] = { "--float", "0", NULL };
    static const char *const http500[] = { "--http500", "100", NULL };
    struct fixture *f = *state;
    struct upstream_payment pay = pay_fixture("PQ-SIM-000003-1");
    struct upstream_payment dep = deposit_fixture("PQ-SIM-000004-1");
    struct upstream_result r;
    struct testsim sim;

    sim_available();
    sim_start(&sim, decline);
    client_for_sim(f, &sim, &sim_creds);
    r = send_ok(f, &pay, false);
    assert_class(&r, UPSTREAM_CLASS_DECLINED);
    assert_string_equal(r.code, "1002");
    sim_stop(&sim);

    sim_start(&sim, broke);
    client_for_sim(f, &sim, &sim_creds);
    r = send_ok(f, &dep, false);
    assert_class(&r, UPSTREAM_CLASS_SYSTEMIC);
    assert_int_equal(r.pause, UPSTREAM_PAUSE_KIND);
    sim_stop(&sim);

    sim_start(&sim, http500);
    client_for_sim(f, &sim, &sim_creds);
    assert_int_equal(send_ok(f, &pay, false).cls, UPSTREAM_CLASS_AMBIGUOUS);
    sim_stop(&sim);
}

static void sim_wrong_credentials_are_systemic(void **state)
{
    static char bad_password[] = "not-the-password";
    static char bad_key[] = "not-the-key";
    const struct config_credentials wrong_password = { sim_user, bad_password,
                                                       sim_key };
    const struct config_credentials wrong_key = { sim_user, sim_password,
                                                  bad_key };
    struct fixture *f = *state;
    struct upstream_payment pay = pay_fixture("PQ-SIM-000005-1");
    struct upstream_balance bal;
    struct upstream_result r;
    struct testsim sim;

    sim_available();
    sim_start(&sim, NULL);
    client_for_sim(f, &sim, &wrong_password);
    r = send_ok(f, &pay, false);
    assert_class(&r, UPSTREAM_CLASS_SYSTEMIC);
    assert_int_equal(r.pause, UPSTREAM_PAUSE_ALL);
    client_for_sim(f, &sim, &wrong_key);
    r = send_ok(f, &pay, false);
    assert_class(&r, UPSTREAM_CLASS_SYSTEMIC);
    assert_int_equal(r.pause, UPSTREAM_PAUSE_ALL);
    assert_int_equal(upstream_client_balance(f->client, &bal, &r),
                     PAYQ_ERR_CONFIG);
    assert_null(sim_ledger_txn(&sim, "PQ-SIM-000005-1"));
    sim_stop(&sim);
}

/* Every documented code, as the simulator answers it, for both kinds. */
static void sim_every_documented_code_is_classified(void **state)
{
    static const struct {
        const char *code;
        enum upstream_class pay;
        enum upstream_class deposit;
        enum upstream_pause deposit_pause;
    } cases[] = {
        { "0002", UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_CLASS_SYSTEMIC,
          UPSTREAM_PAUSE_ALL },
        { "0003", UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_CLASS_SYSTEMIC,
          UPSTREAM_PAUSE_ALL },
        { "0004", UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_CLASS_SYSTEMIC,
          UPSTREAM_PAUSE_ALL },
        { "0005", UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_CLASS_SYSTEMIC,
          UPSTREAM_PAUSE_ALL },
        { "0006", UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_CLASS_SYSTEMIC,
          UPSTREAM_PAUSE_ALL },
        { "0007", UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_CLASS_SYSTEMIC,
          UPSTREAM_PAUSE_ALL },
        { "0008", UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_CLASS_SYSTEMIC,
          UPSTREAM_PAUSE_ALL },
        { "2100", UPSTREAM_CLASS_DECLINED, UPSTREAM_CLASS_DECLINED,
          UPSTREAM_PAUSE_NONE },
        { "2200", UPSTREAM_CLASS_DECLINED, UPSTREAM_CLASS_DECLINED,
          UPSTREAM_PAUSE_NONE },
        { "2300", UPSTREAM_CLASS_DECLINED, UPSTREAM_CLASS_DECLINED,
          UPSTREAM_PAUSE_NONE },
        { "2500", UPSTREAM_CLASS_DECLINED, UPSTREAM_CLASS_DECLINED,
          UPSTREAM_PAUSE_NONE },
        { "2600", UPSTREAM_CLASS_DECLINED, UPSTREAM_CLASS_DECLINED,
          UPSTREAM_PAUSE_NONE },
        { "2700", UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_CLASS_AMBIGUOUS,
          UPSTREAM_PAUSE_NONE },
        { "1005", UPSTREAM_CLASS_DECLINED, UPSTREAM_CLASS_SYSTEMIC,
          UPSTREAM_PAUSE_KIND },
        { "1002", UPSTREAM_CLASS_DECLINED, UPSTREAM_CLASS_DECLINED,
          UPSTREAM_PAUSE_NONE },
        { "1008", UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_CLASS_AMBIGUOUS,
          UPSTREAM_PAUSE_NONE },
        { "1200", UPSTREAM_CLASS_DECLINED, UPSTREAM_CLASS_DECLINED,
          UPSTREAM_PAUSE_NONE },
        { "1100", UPSTREAM_CLASS_DECLINED, UPSTREAM_CLASS_DECLINED,
          UPSTREAM_PAUSE_NONE },
        { "1300", UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_CLASS_AMBIGUOUS,
          UPSTREAM_PAUSE_NONE },
    };
    struct fixture *f = *state;
    char rule[16];
    char txn[2][32];
    size_t i;

    sim_available();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *flags[] = { "--decline", rule, NULL };
        struct upstream_payment pay;
        struct upstream_payment dep;
        struct upstream_result r;
        struct testsim sim;

        snprintf(rule, sizeof(rule), "%s=100", cases[i].code);
        snprintf(txn[0], sizeof(txn[0]), "PQ-CODE-%s-P", cases[i].code);
        snprintf(txn[1], sizeof(txn[1]), "PQ-CODE-%s-D", cases[i].code);
        pay = pay_fixture(txn[0]);
        dep = deposit_fixture(txn[1]);
        sim_start(&sim, flags);
        client_for_sim(f, &sim, &sim_creds);
        r = send_ok(f, &pay, false);
        assert_class(&r, cases[i].pay);
        assert_string_equal(r.code, cases[i].code);
        r = send_ok(f, &dep, false);
        assert_class(&r, cases[i].deposit);
        assert_string_equal(r.code, cases[i].code);
        assert_int_equal(r.pause, cases[i].deposit_pause);
        sim_stop(&sim);
    }
}

/* 2400 to a first send is an id collision, to a resend an acceptance. */
static void sim_duplicate_id_depends_on_resend(void **state)
{
    struct fixture *f = *state;
    struct upstream_payment pay = pay_fixture("PQ-SIM-000009-1");
    struct upstream_result r;
    struct testsim sim;

    sim_available();
    sim_start(&sim, NULL);
    client_for_sim(f, &sim, &sim_creds);
    r = send_ok(f, &pay, false);
    assert_class(&r, UPSTREAM_CLASS_ACCEPTED);
    r = send_ok(f, &pay, false);
    assert_class(&r, UPSTREAM_CLASS_DUPLICATE_ID);
    assert_string_equal(r.code, "2400");
    r = send_ok(f, &pay, true);
    assert_class(&r, UPSTREAM_CLASS_ACCEPTED);
    assert_true(r.duplicate);
    assert_int_equal(sim_executed(&sim, "PQ-SIM-000009-1"), 1);
    sim_stop(&sim);
}

/* The answer is lost after the payment executed: probing with the same
 * id must find it, and the ledger must hold it once. */
static void sim_lost_answer_is_probed_not_repaid(void **state)
{
    static const char *const flags[] = { "--drop-after-execute", "100", NULL };
    struct fixture *f = *state;
    struct upstream_payment pay = pay_fixture("PQ-SIM-000006-1");
    struct upstream_result r;
    struct testsim sim;

    sim_available();
    sim_start(&sim, flags);
    client_for_sim(f, &sim, &sim_creds);
    r = send_ok(f, &pay, false);
    assert_class(&r, UPSTREAM_CLASS_AMBIGUOUS);
    r = send_ok(f, &pay, true);
    assert_class(&r, UPSTREAM_CLASS_ACCEPTED);
    assert_true(r.duplicate);
    assert_int_equal(sim_executed(&sim, "PQ-SIM-000006-1"), 1);
    sim_stop(&sim);
}

static void sim_slow_answer_times_out_ambiguous(void **state)
{
    static const char *const flags[] = { "--slow", "100", "--slow-ms", "1500",
                                         NULL };
    struct fixture *f = *state;
    struct upstream_payment pay = pay_fixture("PQ-SIM-000007-1");
    struct testsim sim;

    sim_available();
    sim_start(&sim, flags);
    setenv("PAYQ_CONNECT_TIMEOUT_MS", "300", 1);
    setenv("PAYQ_TIMEOUT_MS", "500", 1);
    client_for_sim(f, &sim, &sim_creds);
    assert_int_equal(send_ok(f, &pay, false).cls, UPSTREAM_CLASS_AMBIGUOUS);
    sim_stop(&sim);
}

/*
 * The simulator's throttling answers: 429 and 503 with Retry-After are
 * THROTTLED with the seconds asked, for both kinds, and nothing ran.
 */
static void sim_throttling_is_classified(void **state)
{
    static const struct {
        const char *flag;
        const char *retry_after; /* NULL: the default, 1 s */
        long status;
        long long seconds;
    } cases[] = {
        { "--http429", "7", 429, 7 },
        { "--http503", "120", 503, 120 },
        { "--http429", NULL, 429, 1 },
        { "--http503", NULL, 503, 1 },
    };
    struct fixture *f = *state;
    size_t i;

    sim_available();
    for (i = 0; i < COUNT(cases); i++) {
        const char *flags[] = { cases[i].flag, "100", "--retry-after",
                                cases[i].retry_after, NULL };
        char txn[2][32];
        struct upstream_payment p[2];
        struct upstream_result r;
        struct testsim sim;
        int k;

        if (cases[i].retry_after == NULL)
            flags[2] = NULL;
        snprintf(txn[0], sizeof(txn[0]), "PQ-THR-%zu-P", i);
        snprintf(txn[1], sizeof(txn[1]), "PQ-THR-%zu-D", i);
        p[0] = pay_fixture(txn[0]);
        p[1] = deposit_fixture(txn[1]);
        sim_start(&sim, flags);
        client_for_sim(f, &sim, &sim_creds);
        for (k = 0; k < 2; k++) {
            r = send_ok(f, &p[k], k == 1);
            assert_class(&r, UPSTREAM_CLASS_THROTTLED);
            assert_int_equal(r.http_status, cases[i].status);
            assert_int_equal(r.retry_after_s, cases[i].seconds);
            assert_int_equal(sim_executed(&sim, txn[k]), 0);
        }
        sim_stop(&sim);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(upstream_config_defaults),
        T(upstream_config_reads_environment),
        T(upstream_config_url_rules),
        T(upstream_config_refuses_bad_values),
        T(upstream_pay_request_has_documented_fields),
        T(upstream_deposit_request_has_documented_fields),
        T(upstream_test_base_url_is_honoured),
        T(upstream_balance_on_the_wire),
        T(upstream_answers_are_classified),
        T(upstream_retry_after_is_exposed),
        T(upstream_connection_is_reused),
        T(upstream_timeout_after_send_is_ambiguous),
        T(upstream_dropped_connection_is_ambiguous),
        T(upstream_never_resends_by_itself),
        T(upstream_refused_connection_is_not_sent),
        T(upstream_unresolvable_host_is_not_sent),
        T(upstream_tls_handshake_timeout_is_not_sent),
        T(upstream_plain_server_on_https_is_not_sent),
        T(upstream_tls_is_verified),
        T(upstream_huge_body_is_ambiguous),
        T(upstream_bad_payment_is_never_sent),
        T(upstream_secrets_never_logged_at_debug),
        T(upstream_cli_balance),
        T(upstream_cli_balance_exit_statuses),
        T(upstream_cli_balance_refuses_clear_text),
        T(sim_pay_and_deposit_are_accepted),
        T(sim_refusals_are_classified),
        T(sim_wrong_credentials_are_systemic),
        T(sim_every_documented_code_is_classified),
        T(sim_duplicate_id_depends_on_resend),
        T(sim_lost_answer_is_probed_not_repaid),
        T(sim_slow_answer_times_out_ambiguous),
        T(sim_throttling_is_classified),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
