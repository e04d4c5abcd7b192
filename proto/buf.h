/* buf.h - a growable byte buffer and the MessagePack packing helpers.
 * Threads: a buffer belongs to whoever holds it; no shared state.
 * Ownership: the holder owns buf->data and frees it with proto_buf_free().
 * Errors: nothing fails; out of memory aborts with file and line. */
#ifndef PROTO_BUF_H
#define PROTO_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proto_buf_s {
    char *data;
    size_t len, cap;
} proto_buf_t;

#define PROTO_BUF_INIT                                                                             \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Makes room for n more bytes (capacity grows by doubling; aborts on OOM). */
void proto_buf_grow(proto_buf_t *buf, size_t n);
/* Frees the data and leaves an empty buffer. */
void proto_buf_free(proto_buf_t *buf);

static inline void proto_buf_reserve(proto_buf_t *buf, size_t n)
{
    if (buf->cap - buf->len < n) proto_buf_grow(buf, n);
}

static inline void proto_buf_append(proto_buf_t *buf, const void *p, size_t n)
{
    proto_buf_reserve(buf, n);
    if (n) memcpy(buf->data + buf->len, p, n);
    buf->len += n;
}

static inline void proto_buf_putc(proto_buf_t *buf, char c)
{
    proto_buf_reserve(buf, 1);
    buf->data[buf->len++] = c;
}

static inline void proto_buf_puts(proto_buf_t *buf, const char *s)
{
    proto_buf_append(buf, s, strlen(s));
}

/* MessagePack packers: each writes the shortest encoding of its value. */

/* A map header of n pairs (fixmap, map16 or map32). */
void proto_mp_put_map(proto_buf_t *buf, uint32_t n);
/* An array header of n elements. */
void proto_mp_put_array(proto_buf_t *buf, uint32_t n);
/* A str header and its bytes. */
void proto_mp_put_str(proto_buf_t *buf, const char *s, size_t len);
/* A key/value pair of two strings: what the engine appends as
 * deploymentGroupId. */
void proto_mp_put_str_pair(proto_buf_t *buf, const char *key, size_t key_len, const char *val,
                           size_t val_len);
void proto_mp_put_int(proto_buf_t *buf, int64_t v);
void proto_mp_put_uint(proto_buf_t *buf, uint64_t v);
/* Always float64, so that a float stays a float of the same precision. */
void proto_mp_put_double(proto_buf_t *buf, double v);
void proto_mp_put_bool(proto_buf_t *buf, int v);
void proto_mp_put_nil(proto_buf_t *buf);

#ifdef __cplusplus
}
#endif

#endif
