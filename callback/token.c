/*
 * Callback tokens: HMAC-SHA256 through OpenSSL's EVP_MAC interface (the
 * HMAC_CTX one is deprecated in OpenSSL 3), encoded as base64url.
 */
#include "callback/token.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* SHA-256 output; 43 base64url characters encode it exactly. */
#define MAC_LEN 32
/* Longest transaction id, as the attempts table allows. */
#define TXN_ID_MAX 64

#define PAY_PREFIX "pay:"
#define DEPOSIT_MESSAGE "deposit"
#define DEPOSIT_SEGMENT "deposit"

static const char b64url_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_";

/* Writes n bytes as unpadded base64url and a NUL into out. */
static void base64url(const unsigned char *in, size_t n, char *out)
{
    unsigned long v;
    size_t i;

    for (i = 0; i + 3 <= n; i += 3) {
        v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 |
            in[i + 2];
        *out++ = b64url_chars[(v >> 18) & 63];
        *out++ = b64url_chars[(v >> 12) & 63];
        *out++ = b64url_chars[(v >> 6) & 63];
        *out++ = b64url_chars[v & 63];
    }
    if (n - i >= 1) {
        v = (unsigned long)in[i] << 16;
        if (n - i == 2)
            v |= (unsigned long)in[i + 1] << 8;
        *out++ = b64url_chars[(v >> 18) & 63];
        *out++ = b64url_chars[(v >> 12) & 63];
        if (n - i == 2)
            *out++ = b64url_chars[(v >> 6) & 63];
    }
    *out = '\0';
}

/* HMAC-SHA256(secret, part1 + part2); part2 may be NULL. */
static enum payq_err hmac_sha256(const char *secret, const char *part1,
                                 const char *part2,
                                 unsigned char mac_out[MAC_LEN])
{
    OSSL_PARAM params[2];
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = NULL;
    size_t len = 0;
    enum payq_err err = PAYQ_ERR_NOMEM;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (mac == NULL || (ctx = EVP_MAC_CTX_new(mac)) == NULL)
        goto out;
    if (EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret),
                     params) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)part1, strlen(part1)) != 1 ||
        (part2 != NULL && EVP_MAC_update(ctx, (const unsigned char *)part2,
                                         strlen(part2)) != 1) ||
        EVP_MAC_final(ctx, mac_out, &len, MAC_LEN) != 1 || len != MAC_LEN)
        goto out;
    err = PAYQ_OK;

out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return err;
}

/* The token for part1 + part2, after the secret's length is checked. */
static enum payq_err token_of(const char *secret, const char *part1,
                              const char *part2,
                              char out[CALLBACK_TOKEN_LEN + 1])
{
    unsigned char mac[MAC_LEN];
    enum payq_err err = PAYQ_ERR_CONFIG;

    out[0] = '\0';
    if (secret == NULL || strlen(secret) < CALLBACK_SECRET_MIN)
        goto out;
    err = hmac_sha256(secret, part1, part2, mac);
    if (err == PAYQ_OK)
        base64url(mac, MAC_LEN, out);

out:
    OPENSSL_cleanse(mac, sizeof(mac));
    return err;
}

enum payq_err callback_token_pay(const char *secret, const char *txn_id,
                                 char out[CALLBACK_TOKEN_LEN + 1])
{
    if (txn_id == NULL || txn_id[0] == '\0') {
        out[0] = '\0';
        /* A bad secret is the operator's problem: report it first. */
        if (secret == NULL || strlen(secret) < CALLBACK_SECRET_MIN)
            return PAYQ_ERR_CONFIG;
        return PAYQ_ERR_DATA;
    }
    return token_of(secret, PAY_PREFIX, txn_id, out);
}

enum payq_err callback_token_deposit(const char *secret,
                                     char out[CALLBACK_TOKEN_LEN + 1])
{
    return token_of(secret, DEPOSIT_MESSAGE, NULL, out);
}

bool callback_token_equal(const char *expected, const char *presented)
{
    size_t elen;
    size_t plen;
    const char *other;
    size_t diff;

    if (expected == NULL || expected[0] == '\0' || presented == NULL)
        return false;
    elen = strlen(expected);
    plen = strlen(presented);
    /*
     * Compare all of expected against something of its length: the
     * presented token when the lengths agree, else expected itself, so
     * the work done never depends on the bytes. The length difference
     * is folded into the result rather than returned early.
     */
    other = plen == elen ? presented : expected;
    diff = (size_t)(CRYPTO_memcmp(expected, other, elen) != 0);
    diff |= elen ^ plen;
    return diff == 0;
}

/*
 * An absolute http(s) URL that a path can be appended to: no query or
 * fragment, nothing that would need escaping.
 */
static bool base_url_ok(const char *base, size_t n)
{
    size_t i;

    if (!(n > 7 && strncasecmp(base, "http://", 7) == 0) &&
        !(n > 8 && strncasecmp(base, "https://", 8) == 0))
        return false;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)base[i];

        if (c <= 0x20 || c >= 0x7F || c == '?' || c == '#')
            return false;
    }
    return true;
}

/* The ids attempts store (request_txn_id_format in the schema). */
static bool txn_id_ok(const char *id)
{
    static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz"
                                  "0123456789_.:-";
    size_t n = strlen(id);

    if (n == 0 || n > TXN_ID_MAX || strspn(id, allowed) != n)
        return false;
    /* The server would route this one as a payout callback. */
    return strcmp(id, DEPOSIT_SEGMENT) != 0;
}

/* Writes base + "/cb/" + segment + "/" + token into out. */
static enum payq_err url_join(const char *base, const char *segment,
                              const char *token, char *out, size_t size)
{
    size_t n = strlen(base);
    int written;

    while (n > 0 && base[n - 1] == '/')
        n--;
    if (!base_url_ok(base, n))
        return PAYQ_ERR_CONFIG;
    if (n >= size)
        return PAYQ_ERR_TOO_LARGE;
    written =
        snprintf(out, size, "%.*s/cb/%s/%s", (int)n, base, segment, token);
    if (written < 0 || (size_t)written >= size)
        return PAYQ_ERR_TOO_LARGE;
    return PAYQ_OK;
}

/* Builds the URL for segment once its token is known, or fails. */
static enum payq_err url_finish(enum payq_err err, const char *base_url,
                                const char *segment, char *token, char *out,
                                size_t size)
{
    if (err == PAYQ_OK && base_url == NULL)
        err = PAYQ_ERR_CONFIG;
    if (err == PAYQ_OK)
        err = url_join(base_url, segment, token, out, size);
    if (err != PAYQ_OK && size > 0) {
        /* A URL cut short may still hold most of the token. */
        OPENSSL_cleanse(out, size);
        out[0] = '\0';
    }
    OPENSSL_cleanse(token, CALLBACK_TOKEN_LEN + 1);
    return err;
}

enum payq_err callback_url_pay(const char *base_url, const char *secret,
                               const char *txn_id, char *out, size_t size)
{
    char token[CALLBACK_TOKEN_LEN + 1] = "";
    enum payq_err err = callback_token_pay(secret, txn_id, token);

    if (err == PAYQ_OK && !txn_id_ok(txn_id))
        err = PAYQ_ERR_DATA;
    return url_finish(err, base_url, txn_id, token, out, size);
}

enum payq_err callback_url_deposit(const char *base_url, const char *secret,
                                   char *out, size_t size)
{
    char token[CALLBACK_TOKEN_LEN + 1] = "";
    enum payq_err err = callback_token_deposit(secret, token);

    return url_finish(err, base_url, DEPOSIT_SEGMENT, token, out, size);
}
