/*
 * Allocation wrappers. Every heap allocation in payq goes through these so
 * that tests can count live blocks and find leaks in a module's own
 * bookkeeping, independently of the sanitizers.
 */
#ifndef PAYQ_CORE_MEM_H
#define PAYQ_CORE_MEM_H

#include <stddef.h>

/* Like malloc(3); returns NULL when out of memory. Any thread. */
void *mem_alloc(size_t size);

/* Like calloc(3), with overflow checking; NULL when out of memory. */
void *mem_calloc(size_t count, size_t size);

/* Like realloc(3); on failure returns NULL and ptr stays valid. */
void *mem_realloc(void *ptr, size_t size);

/* Copies s; the caller frees the result with mem_free(). NULL gives NULL. */
char *mem_strdup(const char *s);

/* Copies at most n bytes of s and terminates the copy. */
char *mem_strndup(const char *s, size_t n);

/* Frees a block from this module; NULL is allowed. */
void mem_free(void *ptr);

/*
 * Overwrites the string with zeros in a way the compiler cannot elide, then
 * frees. For buffers that held a secret.
 */
void mem_free_secret(char *ptr);

/* Returns how many blocks are allocated and not yet freed. */
long mem_live_count(void);

#endif
