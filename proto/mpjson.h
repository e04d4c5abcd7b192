/* mpjson.h - MessagePack to JSON text, for the API's answers from stored
 *   messages (a message in Redis is a MessagePack map, see docs/DECODER.md).
 * Threads: any; no shared state.
 * Ownership: the caller owns the buffer; functions only append to it.
 * Errors: the converters return 0, or -1 for malformed input (truncated,
 *   trailing bytes, 0xc1, a map key that is not a str, bin or ext, a str that
 *   is not UTF-8, deeper than PROTO_MPJSON_MAX_DEPTH); on -1 buf->len is back
 *   where it was. Out of memory aborts. */
#ifndef PROTO_MPJSON_H
#define PROTO_MPJSON_H

#include "proto/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Deeper than what proto_decode() accepts, so every stored message converts. */
#define PROTO_MPJSON_MAX_DEPTH 32

/* Appends the JSON form of the one MessagePack object in mp[0..len) (a map
 * as stored in Redis, or any other value). Returns 0 or -1. */
int proto_mpjson_append(proto_buf_t *buf, const void *mp, size_t len);

/* Appends a JSON object made of npairs MessagePack key/value pairs without a
 * map header (a proto_msg_t body). Returns 0 or -1. */
int proto_mpjson_append_pairs(proto_buf_t *buf, const void *mp, size_t len, uint32_t npairs);

/* Appends s[0..len) as a quoted JSON string: '"', '\\' and control characters
 * escaped, other bytes as they are (the caller passes UTF-8). */
void proto_json_put_str(proto_buf_t *buf, const char *s, size_t len);

/* Appends the shortest text that reads back as exactly d ("0.1", "1e+300"),
 * with ".0" added to integral values so that a float stays a float; null for
 * NaN and infinities, which JSON cannot carry. */
void proto_json_put_double(proto_buf_t *buf, double d);

void proto_json_put_int(proto_buf_t *buf, int64_t v);
void proto_json_put_uint(proto_buf_t *buf, uint64_t v);

#ifdef __cplusplus
}
#endif

#endif
