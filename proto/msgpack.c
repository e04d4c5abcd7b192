/* msgpack.c - the MessagePack codec: a strict walker over the bytes. A record
 * that is not well-formed (truncated, the never-used byte 0xc1, bytes after the
 * top object) is rejected whole as bad_msgpack, found by a skim that needs no
 * recursion; each message is then walked, rejected alone for what is wrong
 * inside it, and re-packed in shortest form as the body (floats as float64).
 * A lone map is walked first and skimmed only when the walk fails; an array is
 * skimmed first, as no message may be delivered from a broken record.
 * No allocation, no msgpack_zone. */
#include "proto/internal.h"

#include <math.h>
#include <string.h>

/* The headers 0xc4..0xdf: type, total header bytes, and how many bytes of
 * value (number, length or count, big-endian) follow the first. */
typedef struct mp_long_s {
    uint8_t type, size, width;
} mp_long_t;

static const mp_long_t long_heads[0xe0 - 0xc4] = {
    {PROTO_MP_BIN, 2, 1},   {PROTO_MP_BIN, 3, 2},   {PROTO_MP_BIN, 5, 4},  /* c4-c6 */
    {PROTO_MP_EXT, 3, 1},   {PROTO_MP_EXT, 4, 2},   {PROTO_MP_EXT, 6, 4},  /* c7-c9 + type */
    {PROTO_MP_F32, 5, 4},   {PROTO_MP_F64, 9, 8},                          /* ca-cb */
    {PROTO_MP_UINT, 2, 1},  {PROTO_MP_UINT, 3, 2},  {PROTO_MP_UINT, 5, 4}, /* cc-ce */
    {PROTO_MP_UINT, 9, 8},  {PROTO_MP_INT, 2, 1},   {PROTO_MP_INT, 3, 2},  /* cf-d1 */
    {PROTO_MP_INT, 5, 4},   {PROTO_MP_INT, 9, 8},                          /* d2-d3 */
    {PROTO_MP_EXT, 2, 0},   {PROTO_MP_EXT, 2, 0},   {PROTO_MP_EXT, 2, 0},  /* d4-d6 fixext */
    {PROTO_MP_EXT, 2, 0},   {PROTO_MP_EXT, 2, 0},                          /* d7-d8 fixext */
    {PROTO_MP_STR, 2, 1},   {PROTO_MP_STR, 3, 2},   {PROTO_MP_STR, 5, 4},  /* d9-db */
    {PROTO_MP_ARRAY, 3, 2}, {PROTO_MP_ARRAY, 5, 4},                        /* dc-dd */
    {PROTO_MP_MAP, 3, 2},   {PROTO_MP_MAP, 5, 4},                          /* de-df */
};

static inline uint64_t rd_be(const uint8_t *v, unsigned width)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < width; i++)
        x = x << 8 | v[i];
    return x;
}

/* The headers 0xc4..0xdf; p has at least h->size bytes. */
static inline void long_head(const uint8_t *p, const mp_long_t *l, proto_mp_head_t *h)
{
    uint64_t x = rd_be(p + 1, l->width);
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

static inline bool mp_head(const uint8_t *p, const uint8_t *end, proto_mp_head_t *h)
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
        const mp_long_t *l = &long_heads[c - 0xc4];
        h->type = (proto_mp_type_t)l->type;
        h->size = l->size;
        if ((size_t)(end - p) < h->size) return false;
        long_head(p, l, h);
    }
    if (h->type == PROTO_MP_STR || h->type == PROTO_MP_BIN || h->type == PROTO_MP_EXT)
        if ((uint64_t)(end - p - h->size) < h->n) return false;
    return true;
}

bool proto__mp_head(const uint8_t *p, const uint8_t *end, proto_mp_head_t *h)
{
    return mp_head(p, end, h);
}

/* Returns the end of the one object at p, or NULL when it is truncated or holds
 * 0xc1. Iterative: a record of a million nested arrays costs no stack. */
static const uint8_t *mp_skim(const uint8_t *p, const uint8_t *end)
{
    uint64_t pending = 1; /* objects still to read */
    while (pending > 0) {
        proto_mp_head_t h;
        if (p >= end || !mp_head(p, end, &h)) return NULL;
        pending--;
        p += h.size;
        if (h.type == PROTO_MP_STR || h.type == PROTO_MP_BIN || h.type == PROTO_MP_EXT)
            p += h.n;
        else if (h.type == PROTO_MP_ARRAY)
            pending += h.n;
        else if (h.type == PROTO_MP_MAP)
            pending += 2 * h.n;
        /* Each pending object needs a byte at least: stop a hostile count early. */
        if (pending > (uint64_t)(end - p)) return NULL;
    }
    return p;
}

const uint8_t *proto__mp_skim(const uint8_t *p, const uint8_t *end)
{
    return mp_skim(p, end);
}

typedef struct mp_walk_s {
    proto_decoder_t *dec;
    const uint8_t *p, *end;
} mp_walk_t;

/* Reads the next header; false when the record ends (or 0xc1) there. */
static inline bool walk_head(mp_walk_t *w, proto_mp_head_t *h)
{
    return w->p < w->end && mp_head(w->p, w->end, h);
}

static proto_reason_t walk_value(mp_walk_t *w, int level, proto_value_t *top);

static proto_reason_t walk_str(mp_walk_t *w, const proto_mp_head_t *h, proto_value_t *v)
{
    const char *s = (const char *)w->p + h->size;
    size_t len = (size_t)h->n;
    w->p += h->size + len;
    proto_reason_t reason = proto__str_check(s, len);
    if (reason != PROTO_OK) return reason;
    proto_mp_put_str(&w->dec->body, s, len);
    v->kind = PROTO_V_STR;
    v->s = s;
    v->len = len;
    v->body_off = w->dec->body.len - len;
    return PROTO_OK;
}

/* Walks n pairs of a map at `level`; for a message, applies the field rules. */
static proto_reason_t walk_pairs(mp_walk_t *w, uint64_t n, int level, proto_build_t *build)
{
    proto_decoder_t *dec = w->dec;
    size_t base = proto__keys_open(dec);
    proto_reason_t reason = PROTO_OK;
    for (uint64_t i = 0; i < n && reason == PROTO_OK; i++) {
        proto_mp_head_t h;
        proto_value_t key, value;
        if (!walk_head(w, &h)) {
            reason = PROTO_REASON_BAD_MSGPACK;
        } else if (h.type != PROTO_MP_STR) {
            reason = PROTO_REASON_BAD_KEY;
        } else if ((reason = walk_str(w, &h, &key)) != PROTO_OK) {
        } else if (!proto__keys_add(dec, base, key.s, key.len)) {
            reason = PROTO_REASON_DUPLICATE_KEY;
        } else if ((reason = walk_value(w, level, &value)) == PROTO_OK && build) {
            proto__build_field(build, key.s, key.len, &value);
        }
    }
    if (reason != PROTO_OK) {
        dec->nkeys = base;
        return reason;
    }
    return proto__keys_close(dec, base) ? PROTO_OK : PROTO_REASON_DUPLICATE_KEY;
}

/* Walks an array or a map of nesting level `level`, at w->p. */
static proto_reason_t walk_container(mp_walk_t *w, const proto_mp_head_t *h, int level)
{
    if (level > PROTO_MAX_DEPTH) return PROTO_REASON_TOO_DEEP;
    w->p += h->size;
    if (h->type == PROTO_MP_MAP) {
        proto_mp_put_map(&w->dec->body, (uint32_t)h->n);
        return walk_pairs(w, h->n, level, NULL);
    }
    proto_mp_put_array(&w->dec->body, (uint32_t)h->n);
    for (uint64_t i = 0; i < h->n; i++) {
        proto_value_t child;
        proto_reason_t reason = walk_value(w, level, &child);
        if (reason != PROTO_OK) return reason;
    }
    return PROTO_OK;
}

/* Walks one value found inside a container of level `level`. */
static proto_reason_t walk_value(mp_walk_t *w, int level, proto_value_t *v)
{
    proto_buf_t *body = &w->dec->body;
    proto_mp_head_t h = {0};
    if (!walk_head(w, &h)) return PROTO_REASON_BAD_MSGPACK;
    v->kind = PROTO_V_OTHER;
    switch (h.type) {
    case PROTO_MP_NIL:
        v->kind = PROTO_V_NULL;
        proto_mp_put_nil(body);
        break;
    case PROTO_MP_BOOL:
        proto_mp_put_bool(body, (int)h.n);
        break;
    case PROTO_MP_UINT:
        if (h.n <= INT64_MAX) {
            v->kind = PROTO_V_INT;
            v->i = (int64_t)h.n;
            proto_mp_put_int(body, v->i);
        } else {
            v->kind = PROTO_V_UINT;
            v->u = h.n;
            proto_mp_put_uint(body, h.n);
        }
        break;
    case PROTO_MP_INT:
        v->kind = PROTO_V_INT;
        v->i = h.i;
        proto_mp_put_int(body, h.i);
        break;
    case PROTO_MP_F32:
    case PROTO_MP_F64:
        if (!isfinite(h.d)) return PROTO_REASON_BAD_NUMBER;
        v->kind = PROTO_V_DOUBLE;
        v->d = h.d;
        proto_mp_put_double(body, h.d);
        break;
    case PROTO_MP_STR:
        return walk_str(w, &h, v);
    case PROTO_MP_BIN:
    case PROTO_MP_EXT:
        return PROTO_REASON_BAD_MSGPACK; /* no JSON form for the API */
    case PROTO_MP_ARRAY:
    case PROTO_MP_MAP:
        return walk_container(w, &h, level + 1);
    }
    w->p += h.size;
    return PROTO_OK;
}

/* Walks one message, a map at `level` (1 alone, 2 inside a top array), from
 * w->p; on PROTO_OK w->p is its end. */
static proto_reason_t walk_message(mp_walk_t *w, int level, proto_build_t *build)
{
    proto_mp_head_t h;
    if (!walk_head(w, &h)) return PROTO_REASON_BAD_MSGPACK;
    if (h.type != PROTO_MP_MAP) return PROTO_REASON_NOT_OBJECT;
    w->p += h.size;
    return walk_pairs(w, h.n, level, build);
}

int proto__mp_decode(proto_decoder_t *dec, const uint8_t *buf, size_t len, int64_t kafka_ts_ms,
                     const proto_sink_t *sink)
{
    const uint8_t *end = buf + len;
    proto_build_t build;
    mp_walk_t w = {dec, buf, end};
    proto_mp_head_t h;
    if (!mp_head(buf, end, &h)) h.type = PROTO_MP_NIL; /* truncated header: the skim says so */
    if (h.type == PROTO_MP_MAP) {
        /* One message: walk it at once; only when it fails does the skim tell a
         * broken record (bad_msgpack) from a broken message. */
        proto__build_start(dec, &build);
        proto_reason_t reason = walk_message(&w, 1, &build);
        if (reason == PROTO_OK && w.p != end) reason = PROTO_REASON_BAD_MSGPACK; /* trailing */
        if (reason != PROTO_OK && mp_skim(buf, end) != end) reason = PROTO_REASON_BAD_MSGPACK;
        return proto__build_finish(dec, &build, reason, kafka_ts_ms, sink);
    }
    /* An array: nothing may be delivered before the whole record is known to
     * be well-formed, so skim it first. */
    if (mp_skim(buf, end) != end) {
        proto__reject(sink, PROTO_REASON_BAD_MSGPACK); /* truncated, 0xc1 or trailing bytes */
        return 0;
    }
    if (h.n == 0) {
        proto__reject(sink, PROTO_REASON_EMPTY); /* a record that holds no message */
        return 0;
    }
    int n = 0;
    w.p = buf + h.size;
    for (uint64_t i = 0; i < h.n; i++) {
        const uint8_t *start = w.p;
        proto__build_start(dec, &build);
        proto_reason_t reason = walk_message(&w, 2, &build);
        n += proto__build_finish(dec, &build, reason, kafka_ts_ms, sink);
        if (reason != PROTO_OK) w.p = mp_skim(start, end); /* the walk stopped inside it */
    }
    return n;
}
