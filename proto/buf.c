/* buf.c - growable byte buffer and shortest-form MessagePack packers. */
#include "proto/buf.h"

#include <stdio.h>
#include <stdlib.h>

void proto_buf_grow(proto_buf_t *buf, size_t n)
{
    size_t need = buf->len + n;
    if (need < buf->len) abort(); /* size_t overflow: a caller bug */
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap *= 2;
    char *data = realloc(buf->data, cap);
    if (data == NULL) {
        fprintf(stderr, "%s:%d: out of memory (%zu bytes)\n", __FILE__, __LINE__, cap);
        abort();
    }
    buf->data = data;
    buf->cap = cap;
}

void proto_buf_free(proto_buf_t *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

static inline uint8_t *put(proto_buf_t *buf, size_t n)
{
    proto_buf_reserve(buf, n);
    uint8_t *p = (uint8_t *)buf->data + buf->len;
    buf->len += n;
    return p;
}

static inline void be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void be64(uint8_t *p, uint64_t v)
{
    be32(p, (uint32_t)(v >> 32));
    be32(p + 4, (uint32_t)v);
}

/* The header of a container: fix (4 bits), 16-bit or 32-bit count. */
static void put_container(proto_buf_t *buf, uint32_t n, uint8_t fix, uint8_t c16)
{
    if (n < 16) {
        *put(buf, 1) = (uint8_t)(fix | n);
    } else if (n <= 0xffff) {
        uint8_t *p = put(buf, 3);
        p[0] = c16;
        be16(p + 1, (uint16_t)n);
    } else {
        uint8_t *p = put(buf, 5);
        p[0] = (uint8_t)(c16 + 1);
        be32(p + 1, n);
    }
}

void proto_mp_put_map(proto_buf_t *buf, uint32_t n)
{
    put_container(buf, n, 0x80, 0xde);
}

void proto_mp_put_array(proto_buf_t *buf, uint32_t n)
{
    put_container(buf, n, 0x90, 0xdc);
}

void proto_mp_put_str(proto_buf_t *buf, const char *s, size_t len)
{
    uint8_t *p;
    if (len < 32) {
        p = put(buf, 1 + len);
        *p++ = (uint8_t)(0xa0 | len);
    } else if (len <= 0xff) {
        p = put(buf, 2 + len);
        *p++ = 0xd9;
        *p++ = (uint8_t)len;
    } else if (len <= 0xffff) {
        p = put(buf, 3 + len);
        *p++ = 0xda;
        be16(p, (uint16_t)len);
        p += 2;
    } else {
        p = put(buf, 5 + len);
        *p++ = 0xdb;
        be32(p, (uint32_t)len);
        p += 4;
    }
    if (len) memcpy(p, s, len);
}

void proto_mp_put_str_pair(proto_buf_t *buf, const char *key, size_t key_len, const char *val,
                           size_t val_len)
{
    proto_mp_put_str(buf, key, key_len);
    proto_mp_put_str(buf, val, val_len);
}

void proto_mp_put_uint(proto_buf_t *buf, uint64_t v)
{
    uint8_t *p;
    if (v < 128) {
        *put(buf, 1) = (uint8_t)v;
    } else if (v <= 0xff) {
        p = put(buf, 2);
        p[0] = 0xcc;
        p[1] = (uint8_t)v;
    } else if (v <= 0xffff) {
        p = put(buf, 3);
        p[0] = 0xcd;
        be16(p + 1, (uint16_t)v);
    } else if (v <= 0xffffffffu) {
        p = put(buf, 5);
        p[0] = 0xce;
        be32(p + 1, (uint32_t)v);
    } else {
        p = put(buf, 9);
        p[0] = 0xcf;
        be64(p + 1, v);
    }
}

void proto_mp_put_int(proto_buf_t *buf, int64_t v)
{
    if (v >= 0) {
        proto_mp_put_uint(buf, (uint64_t)v);
        return;
    }
    uint8_t *p;
    if (v >= -32) {
        *put(buf, 1) = (uint8_t)(int8_t)v;
    } else if (v >= INT8_MIN) {
        p = put(buf, 2);
        p[0] = 0xd0;
        p[1] = (uint8_t)(int8_t)v;
    } else if (v >= INT16_MIN) {
        p = put(buf, 3);
        p[0] = 0xd1;
        be16(p + 1, (uint16_t)(int16_t)v);
    } else if (v >= INT32_MIN) {
        p = put(buf, 5);
        p[0] = 0xd2;
        be32(p + 1, (uint32_t)(int32_t)v);
    } else {
        p = put(buf, 9);
        p[0] = 0xd3;
        be64(p + 1, (uint64_t)v);
    }
}

void proto_mp_put_double(proto_buf_t *buf, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint8_t *p = put(buf, 9);
    p[0] = 0xcb;
    be64(p + 1, bits);
}

void proto_mp_put_bool(proto_buf_t *buf, int v)
{
    *put(buf, 1) = v ? 0xc3 : 0xc2;
}

void proto_mp_put_nil(proto_buf_t *buf)
{
    *put(buf, 1) = 0xc0;
}
