/* utf8.c - strict UTF-8 validation (Unicode 15, table 3-7) with an ASCII fast
 * path: tsm strings are short and nearly always ASCII. */
#include "proto/utf8.h"

#include <string.h>

/* Returns the reason, checking for NUL as well when nul is set. */
static inline proto_reason_t check(const char *str, size_t len, bool nul)
{
    const uint8_t *s = (const uint8_t *)str, *end = s + len;
    while (s < end) {
        if (end - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                if (nul && ((w - 0x0101010101010101ull) & 0x8080808080808080ull))
                    return PROTO_REASON_NUL_CHAR; /* exact: no byte of w has its high bit */
                s += 8;
                continue;
            }
        }
        uint8_t c = *s;
        if (c < 0x80) {
            if (nul && c == 0) return PROTO_REASON_NUL_CHAR;
            s++;
            continue;
        }
        size_t n;
        uint8_t lo = 0x80, hi = 0xbf; /* the allowed range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            if (c == 0xe0)
                lo = 0xa0; /* no overlongs */
            else if (c == 0xed)
                hi = 0x9f; /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            if (c == 0xf0)
                lo = 0x90; /* no overlongs */
            else if (c == 0xf4)
                hi = 0x8f; /* nothing above U+10FFFF */
        } else {
            return PROTO_REASON_BAD_UTF8; /* a continuation byte, an overlong lead, or > 0xf4 */
        }
        if ((size_t)(end - s) < n) return PROTO_REASON_BAD_UTF8;
        if (s[1] < lo || s[1] > hi) return PROTO_REASON_BAD_UTF8;
        for (size_t i = 2; i < n; i++)
            if ((s[i] & 0xc0) != 0x80) return PROTO_REASON_BAD_UTF8;
        s += n;
    }
    return PROTO_OK;
}

bool proto_utf8_valid(const char *str, size_t len)
{
    return check(str, len, false) == PROTO_OK;
}

proto_reason_t proto__str_check(const char *str, size_t len)
{
    return check(str, len, true);
}
