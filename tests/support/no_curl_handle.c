/*
 * A library for tests to preload (LD_PRELOAD) into a payq process:
 * curl_easy_init() there returns NULL, as libcurl's does when it cannot
 * allocate a handle, once the first PAYQ_TEST_CURL_HANDLES calls (0 when
 * unset) have had real handles. It lets a test see what a process does
 * when its provider clients cannot be made, which nothing else provokes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <curl/curl.h>

static atomic_long calls;

CURL *curl_easy_init(void)
{
    const char *allowed = getenv("PAYQ_TEST_CURL_HANDLES");
    long n = atomic_fetch_add(&calls, 1);
    CURL *(*real)(void);

    if (allowed == NULL || n >= strtol(allowed, NULL, 10))
        return NULL;
    *(void **)&real = dlsym(RTLD_NEXT, "curl_easy_init");
    return real != NULL ? real() : NULL;
}
