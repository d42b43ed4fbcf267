/* SHA-256 through OpenSSL's EVP interface (the low-level one is deprecated). */
#include "core/digest.h"

#include <openssl/evp.h>
#include <stdio.h>

enum payq_err digest_sha256_hex(const void *data, size_t len,
                                char hex[DIGEST_SHA256_HEX_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    unsigned int i;

    if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 ||
        md_len != 32)
        return PAYQ_ERR_NOMEM;
    for (i = 0; i < md_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return PAYQ_OK;
}
