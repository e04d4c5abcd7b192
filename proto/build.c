/* build.c - the duplicate-key check and the field rules (the tuid alphabet
 * among them) shared by the JSON and MessagePack codecs; see build.h. */
#include "proto/build.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_LIMIT 4294967296.0 /* 2^32: the first second that is not a u32 */

/* The tuid alphabet, as a table so the check is one load per byte. */
static const uint8_t tuid_chars[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1,
    ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,
    ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1,
    ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1,
    ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1,
    ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,
    ['z'] = 1,
};

bool proto_tuid_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > PROTO_TUID_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if (!tuid_chars[(uint8_t)s[i]]) return false;
    return true;
}

/* ---- duplicate keys ---- */

static int key_cmp(const void *a, const void *b)
{
    const proto_key_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->p, y->p, n) : 0;
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

static inline uint64_t key_tag(const char *p, size_t len)
{
    if (len == 0) return 0;
    const uint8_t *u = (const uint8_t *)p;
    return (uint64_t)len << 32 | (uint64_t)u[0] << 16 | (uint64_t)u[len / 2] << 8 | u[len - 1];
}

bool proto__keys_add(proto_decoder_t *dec, size_t base, const char *p, size_t len)
{
    size_t n = dec->nkeys - base;
    uint64_t tag = key_tag(p, len);
    if (n < PROTO_KEYS_LINEAR) {
        for (size_t i = base; i < dec->nkeys; i++)
            if (dec->keys[i].tag == tag && memcmp(dec->keys[i].p, p, len) == 0) return false;
    }
    if (dec->nkeys == dec->keys_cap) {
        size_t cap = dec->keys_cap ? dec->keys_cap * 2 : 64;
        proto_key_t *keys = realloc(dec->keys, cap * sizeof *keys);
        if (keys == NULL) {
            fprintf(stderr, "%s:%d: out of memory\n", __FILE__, __LINE__);
            abort();
        }
        dec->keys = keys;
        dec->keys_cap = cap;
    }
    dec->keys[dec->nkeys].p = p;
    dec->keys[dec->nkeys].len = len;
    dec->keys[dec->nkeys].tag = tag;
    dec->nkeys++;
    return true;
}

bool proto__keys_close(proto_decoder_t *dec, size_t base)
{
    size_t n = dec->nkeys - base;
    bool unique = true;
    if (n > PROTO_KEYS_LINEAR) {
        /* The first PROTO_KEYS_LINEAR keys were compared pairwise as they came;
         * the rest were not: sort the whole object and compare neighbours. */
        proto_key_t *keys = dec->keys + base;
        qsort(keys, n, sizeof *keys, key_cmp);
        for (size_t i = 1; i < n && unique; i++)
            if (key_cmp(&keys[i - 1], &keys[i]) == 0) unique = false;
    }
    dec->nkeys = base;
    return unique;
}

/* ---- the message builder: the field rules ---- */

enum {
    SEEN_ID = 1 << 0,
    SEEN_EV = 1 << 1,
    SEEN_TUID = 1 << 2,
    SEEN_TS = 1 << 3,
    SEEN_LAT = 1 << 4,
    SEEN_LON = 1 << 5,
};

void proto__build_start(proto_decoder_t *dec, proto_build_t *build)
{
    memset(&build->msg, 0, offsetof(proto_msg_t, tuid));
    build->msg.tuid[0] = build->msg.gw[0] = '\0';
    build->msg.ver = NULL;
    build->msg.ver_len = 0;
    build->msg.nfields = 0;
    build->start = dec->body.len;
    build->ver_off = 0;
    build->seen = 0;
    build->bad = PROTO_OK;
}

static void bad(proto_build_t *build, proto_reason_t reason)
{
    if (build->bad == PROTO_OK) build->bad = reason;
}

static bool is_number(const proto_value_t *v, double *d)
{
    switch (v->kind) {
    case PROTO_V_INT:
        *d = (double)v->i;
        return true;
    case PROTO_V_UINT:
        *d = (double)v->u;
        return true;
    case PROTO_V_DOUBLE:
        *d = v->d;
        return true;
    default:
        return false;
    }
}

static void field_int(proto_build_t *build, const proto_value_t *v, int64_t *out, uint32_t seen)
{
    build->seen |= seen;
    if (v->kind == PROTO_V_INT)
        *out = v->i;
    else
        bad(build, PROTO_REASON_BAD_FIELD); /* a fraction, an exponent, > INT64_MAX */
}

static void field_ts(proto_build_t *build, const proto_value_t *v)
{
    build->seen |= SEEN_TS;
    double d;
    if (!is_number(v, &d)) {
        bad(build, PROTO_REASON_BAD_FIELD);
    } else if (v->kind == PROTO_V_INT ? (v->i < 0 || v->i >= (int64_t)TS_LIMIT)
                                      : !(d >= 0 && d < TS_LIMIT)) {
        bad(build, PROTO_REASON_BAD_TIMESTAMP);
    } else {
        build->msg.ts = d;
        build->msg.ts_sec = v->kind == PROTO_V_INT ? (uint32_t)v->i : (uint32_t)floor(d);
    }
}

/* tsmTuid and tsmGw: a string of the tuid alphabet, copied NUL-terminated. */
static void field_tuid(proto_build_t *build, const proto_value_t *v, char *out, uint8_t *out_len,
                       proto_reason_t reason)
{
    if (v->kind != PROTO_V_STR) {
        bad(build, PROTO_REASON_BAD_FIELD);
    } else if (!proto_tuid_valid(v->s, v->len)) {
        bad(build, reason);
    } else {
        memcpy(out, v->s, v->len);
        out[v->len] = '\0';
        *out_len = (uint8_t)v->len;
    }
}

#define KEY_IS(lit) (key_len == sizeof(lit) - 1 && memcmp(key, lit, sizeof(lit) - 1) == 0)

void proto__build_field(proto_build_t *build, const char *key, size_t key_len,
                        const proto_value_t *v)
{
    proto_msg_t *msg = &build->msg;
    msg->nfields++;
    if (key_len < 3 || key_len > 9) return;
    if (KEY_IS("tsmId")) {
        field_int(build, v, &msg->tsm_id, SEEN_ID);
    } else if (KEY_IS("tsmEv")) {
        field_int(build, v, &msg->tsm_ev, SEEN_EV);
    } else if (KEY_IS("tsmTs")) {
        field_ts(build, v);
    } else if (KEY_IS("tsmTuid")) {
        build->seen |= SEEN_TUID;
        field_tuid(build, v, msg->tuid, &msg->tuid_len, PROTO_REASON_BAD_TUID);
    } else if (KEY_IS("tsmGw")) {
        /* null is taken as "no gateway": a device that relays nothing may say so. */
        if (v->kind == PROTO_V_NULL) return;
        field_tuid(build, v, msg->gw, &msg->gw_len, PROTO_REASON_BAD_GATEWAY);
        if (msg->gw_len) msg->flags |= PROTO_HAS_GW;
    } else if (KEY_IS("batl")) {
        if (is_number(v, &msg->batl)) msg->flags |= PROTO_HAS_BATL;
    } else if (KEY_IS("lat")) {
        if (is_number(v, &msg->lat)) build->seen |= SEEN_LAT;
    } else if (KEY_IS("lon")) {
        if (is_number(v, &msg->lon)) build->seen |= SEEN_LON;
    } else if (KEY_IS("swVersion")) {
        if (v->kind != PROTO_V_STR) return;
        msg->flags |= PROTO_HAS_VER;
        build->ver_off = v->body_off;
        msg->ver_len = (uint32_t)v->len;
    }
}

/* The message had no tsmTs: take the Kafka record's, in whole seconds. */
static proto_reason_t ts_from_kafka(proto_decoder_t *dec, proto_build_t *build, int64_t kafka_ts_ms)
{
    if (kafka_ts_ms < 0) return PROTO_REASON_MISSING_FIELD; /* the record has none either */
    int64_t sec = kafka_ts_ms / 1000;
    if (sec >= (int64_t)TS_LIMIT) return PROTO_REASON_BAD_TIMESTAMP;
    build->msg.ts_sec = (uint32_t)sec;
    build->msg.ts = (double)sec;
    build->msg.flags |= PROTO_TS_FROM_KAFKA;
    proto_mp_put_str(&dec->body, "tsmTs", 5);
    proto_mp_put_int(&dec->body, sec);
    build->msg.nfields++;
    return PROTO_OK;
}

static proto_reason_t check(proto_decoder_t *dec, proto_build_t *build, int64_t kafka_ts_ms)
{
    const uint32_t required = SEEN_ID | SEEN_EV | SEEN_TUID;
    if ((build->seen & required) != required) return PROTO_REASON_MISSING_FIELD;
    if (build->bad != PROTO_OK) return build->bad;
    if ((build->seen & (SEEN_LAT | SEEN_LON)) == (SEEN_LAT | SEEN_LON))
        build->msg.flags |= PROTO_HAS_LOC;
    if (!(build->seen & SEEN_TS)) return ts_from_kafka(dec, build, kafka_ts_ms);
    return PROTO_OK;
}

int proto__build_finish(proto_decoder_t *dec, proto_build_t *build, proto_reason_t reason,
                        int64_t kafka_ts_ms, const proto_sink_t *sink)
{
    if (reason == PROTO_OK) reason = check(dec, build, kafka_ts_ms);
    if (reason != PROTO_OK) {
        dec->body.len = build->start;
        proto__reject(sink, reason);
        return 0;
    }
    proto_msg_t *msg = &build->msg;
    msg->body = (const uint8_t *)dec->body.data + build->start;
    msg->body_len = (uint32_t)(dec->body.len - build->start);
    msg->ver = msg->flags & PROTO_HAS_VER ? dec->body.data + build->ver_off : NULL;
    if (!(msg->flags & PROTO_HAS_LOC)) msg->lat = msg->lon = 0;
    if (sink->on_msg) sink->on_msg(sink->arg, msg);
    return 1;
}

void proto__reject(const proto_sink_t *sink, proto_reason_t reason)
{
    if (sink->on_reject) sink->on_reject(sink->arg, reason);
}
