/* Number formatting for people: amounts with thousands separators. */
#ifndef PAYQ_CORE_FMT_H
#define PAYQ_CORE_FMT_H

#include <stddef.h>

/* Enough for any long long with separators and the terminator. */
#define FMT_THOUSANDS_SIZE 32

/* Writes value with ',' between groups of three digits ("1,234,500"). */
void fmt_thousands(long long value, char out[FMT_THOUSANDS_SIZE]);

#endif
