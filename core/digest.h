/* SHA-256 digests as lowercase hex, for file and migration fingerprints. */
#ifndef PAYQ_CORE_DIGEST_H
#define PAYQ_CORE_DIGEST_H

#include <stddef.h>

#include "core/err.h"

/* Hex digest length plus the terminator. */
#define DIGEST_SHA256_HEX_SIZE 65

/* Writes the SHA-256 of data as 64 hex digits and a NUL into hex. */
PAYQ_MUST_USE enum payq_err digest_sha256_hex(const void *data, size_t len,
                                              char hex[DIGEST_SHA256_HEX_SIZE]);

/*
 * Writes the SHA-256 of everything readable from fd, from its current
 * offset to the end, into hex, and the byte count into *size. Leaves fd
 * at its end. PAYQ_ERR_IO when reading fails.
 */
PAYQ_MUST_USE enum payq_err digest_sha256_fd(int fd,
                                             char hex[DIGEST_SHA256_HEX_SIZE],
                                             unsigned long long *size);

#endif
