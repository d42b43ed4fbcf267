/* SHA-256 through OpenSSL's EVP interface (the low-level one is deprecated). */
#include "core/digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <unistd.h>

enum { DIGEST_CHUNK = 64 * 1024 };

static void to_hex(const unsigned char *md, unsigned int len, char *hex)
{
    unsigned int i;

    for (i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

enum payq_err digest_sha256_hex(const void *data, size_t len,
                                char hex[DIGEST_SHA256_HEX_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 ||
        md_len != 32)
        return PAYQ_ERR_NOMEM;
    to_hex(md, md_len, hex);
    return PAYQ_OK;
}

static enum payq_err digest_read_all(EVP_MD_CTX *ctx, int fd,
                                     unsigned long long *size)
{
    unsigned char chunk[DIGEST_CHUNK];
    ssize_t n;

    *size = 0;
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return PAYQ_ERR_IO;
        if (EVP_DigestUpdate(ctx, chunk, (size_t)n) != 1)
            return PAYQ_ERR_NOMEM;
        *size += (unsigned long long)n;
    }
    return PAYQ_OK;
}

enum payq_err digest_sha256_fd(int fd, char hex[DIGEST_SHA256_HEX_SIZE],
                               unsigned long long *size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    enum payq_err err = PAYQ_ERR_NOMEM;

    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        goto out;
    err = digest_read_all(ctx, fd, size);
    if (err != PAYQ_OK)
        goto out;
    if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 32) {
        err = PAYQ_ERR_NOMEM;
        goto out;
    }
    to_hex(md, md_len, hex);

out:
    EVP_MD_CTX_free(ctx);
    return err;
}
