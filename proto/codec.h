/* codec.h - the two codecs the record decoder (decode.c) dispatches to:
 *   JSON (json.cpp) and MessagePack (msgpack.c). Not for use outside proto/.
 * Threads: the thread that owns the decoder.
 * Ownership: the JSON parser state belongs to the decoder (proto__json_new()
 *   / proto__json_free()).
 * Errors: through the sink, as proto_decode(). */
#ifndef PROTO_CODEC_H
#define PROTO_CODEC_H

#include "proto/build.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The codecs. Each takes a non-empty record of at most PROTO_MAX_RECORD bytes
 * whose first (JSON: first non-blank) byte selected it, reports through the
 * sink and returns the number of valid messages. */
proto_json_t *proto__json_new(void);
void proto__json_free(proto_json_t *json);
int proto__json_decode(proto_decoder_t *dec, const char *buf, size_t len, int64_t kafka_ts_ms,
                       const proto_sink_t *sink);
int proto__mp_decode(proto_decoder_t *dec, const uint8_t *buf, size_t len, int64_t kafka_ts_ms,
                     const proto_sink_t *sink);

#ifdef __cplusplus
}
#endif

#endif
