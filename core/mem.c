/*
 * Allocation wrappers with a live-block counter. The counter is atomic so
 * worker threads may allocate freely; tests compare it before and after.
 */
#include "core/mem.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long live_blocks;

void *mem_alloc(size_t size)
{
    void *p = malloc(size == 0 ? 1 : size);

    if (p != NULL)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

void *mem_calloc(size_t count, size_t size)
{
    void *p;

    if (count == 0 || size == 0)
        count = size = 1;
    p = calloc(count, size);
    if (p != NULL)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

void *mem_realloc(void *ptr, size_t size)
{
    void *p;

    if (ptr == NULL)
        return mem_alloc(size);
    p = realloc(ptr, size == 0 ? 1 : size);
    return p;
}

char *mem_strndup(const char *s, size_t n)
{
    size_t len;
    char *copy;

    if (s == NULL)
        return NULL;
    len = strnlen(s, n);
    copy = mem_alloc(len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *mem_strdup(const char *s)
{
    if (s == NULL)
        return NULL;
    return mem_strndup(s, strlen(s));
}

void mem_free(void *ptr)
{
    if (ptr == NULL)
        return;
    atomic_fetch_sub(&live_blocks, 1);
    free(ptr);
}

void mem_free_secret(char *ptr)
{
    if (ptr == NULL)
        return;
    OPENSSL_cleanse(ptr, strlen(ptr));
    mem_free(ptr);
}

long mem_live_count(void)
{
    return atomic_load(&live_blocks);
}
