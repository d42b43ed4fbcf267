/* Thousands separators, built right to left without locale tricks. */
#include "core/fmt.h"

#include <string.h>

void fmt_thousands(long long value, char out[FMT_THOUSANDS_SIZE])
{
    char tmp[FMT_THOUSANDS_SIZE];
    /* Negate as unsigned so LLONG_MIN does not overflow. */
    unsigned long long v = value < 0 ? 0ULL - (unsigned long long)value
                                     : (unsigned long long)value;
    size_t n = 0;
    int digits = 0;

    do {
        if (digits > 0 && digits % 3 == 0)
            tmp[n++] = ',';
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
        digits++;
    } while (v > 0);
    if (value < 0)
        tmp[n++] = '-';
    for (digits = 0; n > 0; digits++)
        out[digits] = tmp[--n];
    out[digits] = '\0';
}
