/* utf8.h - strict UTF-8 validation and the NUL scan the codecs and the
 *   MessagePack to JSON converter share. Not for use outside proto/.
 * Threads: any; pure functions.
 * Ownership: nothing is kept.
 * Errors: reported as proto_reason_t values; PROTO_OK means "fine". */
#ifndef PROTO_UTF8_H
#define PROTO_UTF8_H

#include "proto/msg.h"

#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_OK PROTO_REASON_COUNT

/* Returns true when s[0..len) is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool proto_utf8_valid(const char *s, size_t len);
/* Returns PROTO_OK for well-formed UTF-8 without NUL, else PROTO_REASON_BAD_UTF8
 * or PROTO_REASON_NUL_CHAR: the check of every MessagePack str. */
proto_reason_t proto__str_check(const char *s, size_t len);

/* Returns true when s[0..len) holds a NUL byte; inline and branch-light, as
 * tsm strings are short (memchr's call costs more than the scan). */
static inline bool proto__has_nul(const char *s, size_t len)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if ((w - ones) & ~w & highs) return true;
    }
    for (; i < len; i++)
        if (s[i] == '\0') return true;
    return false;
}

#ifdef __cplusplus
}
#endif

#endif
