/* mpjson.c - MessagePack to JSON text: exact integers, shortest round-trip
 * floats, escaped strings. */
#include "proto/mpjson.h"
#include "proto/mphead.h"
#include "proto/utf8.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void proto_json_put_str(proto_buf_t *buf, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    proto_buf_reserve(buf, len + 2);
    proto_buf_putc(buf, '"');
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        proto_buf_append(buf, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        proto_buf_append(buf, esc, n);
    }
    proto_buf_append(buf, s + run, len - run);
    proto_buf_putc(buf, '"');
}

/* Prints v with the fewest significant digits (from min to max) that read
 * back as the same value; float32 values read back through strtof. */
static void put_float(proto_buf_t *buf, double v, int min, int max, bool single)
{
    if (!isfinite(v)) {
        proto_buf_puts(buf, "null");
        return;
    }
    char tmp[40];
    int len = 0;
    for (int prec = min; prec <= max; prec++) {
        len = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (single ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v) break;
    }
    proto_buf_append(buf, tmp, (size_t)len);
    if (strpbrk(tmp, ".e") == NULL) proto_buf_append(buf, ".0", 2);
}

void proto_json_put_double(proto_buf_t *buf, double d)
{
    put_float(buf, d, 15, 17, false);
}

void proto_json_put_int(proto_buf_t *buf, int64_t v)
{
    char tmp[24];
    int len = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    proto_buf_append(buf, tmp, (size_t)len);
}

void proto_json_put_uint(proto_buf_t *buf, uint64_t v)
{
    char tmp[24];
    int len = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    proto_buf_append(buf, tmp, (size_t)len);
}

typedef struct mpjson_s {
    proto_buf_t *buf;
    const uint8_t *p, *end;
} mpjson_t;

static int put_value(mpjson_t *m, int depth);

static int put_str(mpjson_t *m, const proto_mp_head_t *h)
{
    const char *s = (const char *)m->p + h->size;
    m->p += h->size + h->n;
    if (!proto_utf8_valid(s, (size_t)h->n)) return -1;
    proto_json_put_str(m->buf, s, (size_t)h->n);
    return 0;
}

static int put_pairs(mpjson_t *m, uint64_t n, int depth)
{
    proto_buf_putc(m->buf, '{');
    for (uint64_t i = 0; i < n; i++) {
        proto_mp_head_t h;
        if (m->p >= m->end || !proto__mp_head(m->p, m->end, &h)) return -1;
        if (h.type != PROTO_MP_STR) return -1;
        if (i) proto_buf_putc(m->buf, ',');
        if (put_str(m, &h) < 0) return -1;
        proto_buf_putc(m->buf, ':');
        if (put_value(m, depth) < 0) return -1;
    }
    proto_buf_putc(m->buf, '}');
    return 0;
}

static int put_value(mpjson_t *m, int depth)
{
    proto_mp_head_t h;
    if (m->p >= m->end || !proto__mp_head(m->p, m->end, &h)) return -1;
    switch (h.type) {
    case PROTO_MP_STR:
        return put_str(m, &h);
    case PROTO_MP_BIN:
    case PROTO_MP_EXT:
        return -1;
    case PROTO_MP_ARRAY:
        if (depth + 1 > PROTO_MPJSON_MAX_DEPTH) return -1;
        m->p += h.size;
        proto_buf_putc(m->buf, '[');
        for (uint64_t i = 0; i < h.n; i++) {
            if (i) proto_buf_putc(m->buf, ',');
            if (put_value(m, depth + 1) < 0) return -1;
        }
        proto_buf_putc(m->buf, ']');
        return 0;
    case PROTO_MP_MAP:
        if (depth + 1 > PROTO_MPJSON_MAX_DEPTH) return -1;
        m->p += h.size;
        return put_pairs(m, h.n, depth + 1);
    case PROTO_MP_NIL:
        proto_buf_puts(m->buf, "null");
        break;
    case PROTO_MP_BOOL:
        proto_buf_puts(m->buf, h.n ? "true" : "false");
        break;
    case PROTO_MP_UINT:
        proto_json_put_uint(m->buf, h.n);
        break;
    case PROTO_MP_INT:
        proto_json_put_int(m->buf, h.i);
        break;
    case PROTO_MP_F32:
        put_float(m->buf, h.d, 6, 9, true);
        break;
    case PROTO_MP_F64:
        proto_json_put_double(m->buf, h.d);
        break;
    }
    m->p += h.size;
    return 0;
}

int proto_mpjson_append(proto_buf_t *buf, const void *mp, size_t len)
{
    size_t mark = buf->len;
    mpjson_t m = {buf, mp, (const uint8_t *)mp + len};
    if (mp == NULL || put_value(&m, 0) < 0 || m.p != m.end) {
        buf->len = mark;
        return -1;
    }
    return 0;
}

int proto_mpjson_append_pairs(proto_buf_t *buf, const void *mp, size_t len, uint32_t npairs)
{
    size_t mark = buf->len;
    mpjson_t m = {buf, mp, (const uint8_t *)mp + len};
    if ((mp == NULL && len > 0) || put_pairs(&m, npairs, 1) < 0 || m.p != m.end) {
        buf->len = mark;
        return -1;
    }
    return 0;
}
