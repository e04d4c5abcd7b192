/* msgpack.c - the MessagePack codec: a strict walker over the bytes. A record
 * that is not well-formed (truncated, the never-used byte 0xc1, bytes after the
 * top object) is rejected whole as bad_msgpack, found by a skim that needs no
 * recursion; each message is then walked, rejected alone for what is wrong
 * inside it, and re-packed in shortest form as the body (floats as float64).
 * A lone map is walked first and skimmed only when the walk fails; an array is
 * skimmed first, as no message may be delivered from a broken record.
 * No allocation, no msgpack_zone. */
#include "proto/build.h"
#include "proto/codec.h"
#include "proto/mphead.h"
#include "proto/utf8.h"

#include <math.h>
#include <string.h>

/* Returns the end of the one object at p, or NULL when it is truncated or holds
 * 0xc1. Iterative: a record of a million nested arrays costs no stack. */
static const uint8_t *mp_skim(const uint8_t *p, const uint8_t *end)
{
    uint64_t pending = 1; /* objects still to read */
    while (pending > 0) {
        proto_mp_head_t h;
        if (p >= end || !proto__mp_head(p, end, &h)) return NULL;
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
    return w->p < w->end && proto__mp_head(w->p, w->end, h);
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
    if (!proto__mp_head(buf, end, &h))
        h.type = PROTO_MP_NIL; /* truncated header: the skim says so */
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
