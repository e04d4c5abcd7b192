/* mphead.h - the MessagePack header reader the codec and the MessagePack to
 *   JSON converter share. Not for use outside proto/.
 * Threads: any; pure functions over a read-only table (mphead.c).
 * Ownership: nothing is kept; a header points at nothing.
 * Errors: proto__mp_head() returns false for a malformed header. */
#ifndef PROTO_MPHEAD_H
#define PROTO_MPHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A MessagePack header, as read by proto__mp_head(). */
typedef enum proto_mp_type_e {
    PROTO_MP_NIL,
    PROTO_MP_BOOL,
    PROTO_MP_UINT,
    PROTO_MP_INT,
    PROTO_MP_F32,
    PROTO_MP_F64,
    PROTO_MP_STR,
    PROTO_MP_BIN,
    PROTO_MP_EXT,
    PROTO_MP_ARRAY,
    PROTO_MP_MAP,
} proto_mp_type_t;

typedef struct proto_mp_head_s {
    proto_mp_type_t type;
    size_t size; /* bytes of the header, including a number's value */
    uint64_t n;  /* STR/BIN/EXT: payload bytes; ARRAY/MAP: count; UINT/BOOL: value */
    int64_t i;   /* INT: value */
    double d;    /* F32/F64: value */
} proto_mp_head_t;

/* The headers 0xc4..0xdf: type, total header bytes, and how many bytes of
 * value (number, length or count, big-endian) follow the first. */
typedef struct proto_mp_long_s {
    uint8_t type, size, width;
} proto_mp_long_t;

extern const proto_mp_long_t proto__mp_long_heads[0xe0 - 0xc4];

static inline uint64_t proto__mp_be(const uint8_t *v, unsigned width)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < width; i++)
        x = x << 8 | v[i];
    return x;
}

/* The headers 0xc4..0xdf; p has at least h->size bytes. */
static inline void proto__mp_long_head(const uint8_t *p, const proto_mp_long_t *l,
                                       proto_mp_head_t *h)
{
    uint64_t x = proto__mp_be(p + 1, l->width);
    switch (l->type) {
    case PROTO_MP_F32: {
        uint32_t bits = (uint32_t)x;
        float f;
        memcpy(&f, &bits, sizeof f);
        h->d = f;
        break;
    }
    case PROTO_MP_F64:
        memcpy(&h->d, &x, sizeof h->d);
        break;
    case PROTO_MP_INT:
        h->i = l->width == 1   ? (int8_t)x
               : l->width == 2 ? (int16_t)x
               : l->width == 4 ? (int32_t)x
                               : (int64_t)x;
        break;
    case PROTO_MP_EXT:
        h->n = l->width ? x : 1u << (p[0] - 0xd4);
        break;
    default:
        h->n = x;
    }
}

/* Reads the header at p (p < end); returns false when it is 0xc1 or it, or
 * its str/bin/ext payload, runs past end. Inline: the codec reads one per
 * value. */
static inline bool proto__mp_head(const uint8_t *p, const uint8_t *end, proto_mp_head_t *h)
{
    uint8_t c = *p;
    h->size = 1;
    h->n = 0;
    if (c <= 0x7f) {
        h->type = PROTO_MP_UINT;
        h->n = c;
    } else if (c <= 0x8f) {
        h->type = PROTO_MP_MAP;
        h->n = c & 0x0f;
    } else if (c <= 0x9f) {
        h->type = PROTO_MP_ARRAY;
        h->n = c & 0x0f;
    } else if (c <= 0xbf) {
        h->type = PROTO_MP_STR;
        h->n = c & 0x1f;
    } else if (c >= 0xe0) {
        h->type = PROTO_MP_INT;
        h->i = (int8_t)c;
    } else if (c <= 0xc3) {
        if (c == 0xc1) return false;
        h->type = c == 0xc0 ? PROTO_MP_NIL : PROTO_MP_BOOL;
        h->n = c == 0xc3;
    } else {
        const proto_mp_long_t *l = &proto__mp_long_heads[c - 0xc4];
        h->type = (proto_mp_type_t)l->type;
        h->size = l->size;
        if ((size_t)(end - p) < h->size) return false;
        proto__mp_long_head(p, l, h);
    }
    if (h->type == PROTO_MP_STR || h->type == PROTO_MP_BIN || h->type == PROTO_MP_EXT)
        if ((uint64_t)(end - p - h->size) < h->n) return false;
    return true;
}

#ifdef __cplusplus
}
#endif

/* Returns the end of the one MessagePack object at p, or NULL when it is
 * truncated or holds 0xc1. Iterative (no recursion, any depth); defined in
 * msgpack.c. */
const uint8_t *proto__mp_skim(const uint8_t *p, const uint8_t *end);

#endif
