/* utf8.c - strict UTF-8 validation (Unicode 15, table 3-7) with an ASCII fast
 * path: tsm strings are short and nearly always ASCII. */
#include "proto/internal.h"

#include <string.h>

bool proto_utf8_valid(const char *str, size_t len)
{
    const uint8_t *s = (const uint8_t *)str, *end = s + len;
    while (s < end) {
        if (end - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                s += 8;
                continue;
            }
        }
        uint8_t c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t n;
        uint8_t lo = 0x80, hi = 0xbf; /* the allowed range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            if (c == 0xe0) lo = 0xa0;      /* no overlongs */
            else if (c == 0xed) hi = 0x9f; /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            if (c == 0xf0) lo = 0x90;      /* no overlongs */
            else if (c == 0xf4) hi = 0x8f; /* nothing above U+10FFFF */
        } else {
            return false; /* a continuation byte, an overlong lead, or > 0xf4 */
        }
        if ((size_t)(end - s) < n) return false;
        if (s[1] < lo || s[1] > hi) return false;
        for (size_t i = 2; i < n; i++)
            if ((s[i] & 0xc0) != 0x80) return false;
        s += n;
    }
    return true;
}
