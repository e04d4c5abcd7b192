/* sim_encode.h - tsm-sim's writer of JSON or MessagePack values into a
 * growing buffer (an encoder only; tsmd never parses with this).
 * Threads: one buffer belongs to one thread.
 * Ownership: the buffer owns p; whoever embeds it frees p.
 * Errors: none; out of memory aborts (eng_realloc). */
#ifndef BENCH_SIM_ENCODE_H
#define BENCH_SIM_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/base/log.h"

typedef struct sim_out_s {
    uint8_t *p;
    size_t len, cap;
    bool mp;
    uint32_t nkeys;
} sim_out_t;

static inline void out_need(sim_out_t *o, size_t n)
{
    if (o->len + n <= o->cap) return;
    while (o->cap < o->len + n)
        o->cap = o->cap ? o->cap * 2 : 4096;
    o->p = eng_realloc(o->p, o->cap);
}

static inline void out_bytes(sim_out_t *o, const void *b, size_t n)
{
    out_need(o, n);
    memcpy(o->p + o->len, b, n);
    o->len += n;
}

static inline void out_byte(sim_out_t *o, uint8_t b)
{
    out_need(o, 1);
    o->p[o->len++] = b;
}

static inline void out_be(sim_out_t *o, uint64_t v, int n)
{
    out_need(o, (size_t)n);
    for (int i = n - 1; i >= 0; i--)
        o->p[o->len++] = (uint8_t)(v >> (8 * i));
}

/* Appends the decimal digits of v. */
static inline void out_u64_text(sim_out_t *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_need(o, (size_t)n);
    while (n)
        o->p[o->len++] = (uint8_t)tmp[--n];
}

static inline void out_sep(sim_out_t *o)
{
    if (!o->mp && o->len && o->p[o->len - 1] != '{' && o->p[o->len - 1] != '[') out_byte(o, ',');
}

static inline void out_str(sim_out_t *o, const char *s, size_t n)
{
    if (!o->mp) {
        out_byte(o, '"');
        out_bytes(o, s, n);
        out_byte(o, '"');
        return;
    }
    if (n < 32) {
        out_byte(o, (uint8_t)(0xa0 | n));
    } else {
        out_byte(o, 0xd9);
        out_byte(o, (uint8_t)n);
    }
    out_bytes(o, s, n);
}

static inline void out_key(sim_out_t *o, const char *k)
{
    out_sep(o);
    out_str(o, k, strlen(k));
    if (!o->mp) out_byte(o, ':');
    o->nkeys++;
}

static inline void out_int(sim_out_t *o, int64_t v)
{
    if (!o->mp) {
        if (v < 0) out_byte(o, '-');
        out_u64_text(o, v < 0 ? (uint64_t)-v : (uint64_t)v);
    } else if (v >= 0 && v < 128) {
        out_byte(o, (uint8_t)v);
    } else if (v < 0 && v >= -32) {
        out_byte(o, (uint8_t)(int8_t)v);
    } else if (v >= 0) {
        out_byte(o, 0xcf);
        out_be(o, (uint64_t)v, 8);
    } else {
        out_byte(o, 0xd3);
        out_be(o, (uint64_t)v, 8);
    }
}

static const int64_t sim_pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000};

/* A decimal number given as v / 10^dec: exact text in JSON, float64 in
 * MessagePack. */
static inline void out_fixed(sim_out_t *o, int64_t v, int dec)
{
    if (o->mp) {
        double d = (double)v / (double)sim_pow10[dec];
        uint64_t bits;
        memcpy(&bits, &d, 8);
        out_byte(o, 0xcb);
        out_be(o, bits, 8);
        return;
    }
    uint64_t a = v < 0 ? (uint64_t)-v : (uint64_t)v;
    if (v < 0) out_byte(o, '-');
    out_u64_text(o, a / (uint64_t)sim_pow10[dec]);
    if (dec == 0) return;
    char frac[8];
    uint64_t f = a % (uint64_t)sim_pow10[dec];
    for (int i = dec - 1; i >= 0; i--, f /= 10)
        frac[i] = (char)('0' + f % 10);
    out_byte(o, '.');
    out_bytes(o, frac, (size_t)dec);
}

/* tsmTs: whole seconds as an integer, otherwise seconds with milliseconds. */
static inline void out_ts(sim_out_t *o, int64_t ms)
{
    if (ms % 1000 == 0)
        out_int(o, ms / 1000);
    else
        out_fixed(o, ms, 3);
}

/* Opens a map; fixmap headers are patched by out_map_end (at most 15 keys). */
static inline size_t out_map(sim_out_t *o)
{
    out_sep(o);
    size_t at = o->len;
    out_byte(o, o->mp ? 0x80 : '{');
    o->nkeys = 0;
    return at;
}

static inline void out_map_end(sim_out_t *o, size_t at)
{
    if (o->mp)
        o->p[at] = (uint8_t)(0x80 | o->nkeys);
    else
        out_byte(o, '}');
}

/* One key and its value, in the order given. */
static inline void out_kv_int(sim_out_t *o, const char *k, int64_t v)
{
    out_key(o, k);
    out_int(o, v);
}

static inline void out_kv_fixed(sim_out_t *o, const char *k, int64_t v, int dec)
{
    out_key(o, k);
    out_fixed(o, v, dec);
}

static inline void out_kv_str(sim_out_t *o, const char *k, const char *v)
{
    out_key(o, k);
    out_str(o, v, strlen(v));
}

#endif
