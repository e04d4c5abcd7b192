/* decode.c - the record decoder: the decoder's life, format dispatch and the
 * record limits; the codecs (codec.h) do the rest. */
#include "proto/codec.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const reason_names[] = {
#define PROTO_REASON_NAME(id, name) name,
    PROTO_REASONS(PROTO_REASON_NAME)
#undef PROTO_REASON_NAME
};

const char *proto_reason_name(proto_reason_t reason)
{
    if ((unsigned)reason >= PROTO_REASON_COUNT) return "unknown";
    return reason_names[reason];
}

proto_decoder_t *proto_decoder_new(void)
{
    proto_decoder_t *dec = calloc(1, sizeof *dec);
    if (dec == NULL) {
        fprintf(stderr, "%s:%d: out of memory\n", __FILE__, __LINE__);
        abort();
    }
    dec->json = proto__json_new();
    return dec;
}

void proto_decoder_free(proto_decoder_t *dec)
{
    if (dec == NULL) return;
    proto__json_free(dec->json);
    proto_buf_free(&dec->body);
    free(dec->keys);
    free(dec);
}

/* ---- dispatch ---- */

static bool is_json_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_msgpack_start(uint8_t c)
{
    return (c >= 0x80 && c <= 0x9f) || c == 0xde || c == 0xdf || c == 0xdc || c == 0xdd;
}

int proto_decode(proto_decoder_t *dec, const void *buf, size_t len, int64_t kafka_ts_ms,
                 const proto_sink_t *sink)
{
    assert(dec != NULL && sink != NULL);
    const uint8_t *p = buf;
    if (p == NULL || len == 0) {
        proto__reject(sink, PROTO_REASON_EMPTY);
        return 0;
    }
    if (len > PROTO_MAX_RECORD) {
        proto__reject(sink, PROTO_REASON_TOO_LARGE);
        return 0;
    }
    /* Every body of the record stays valid until the next call, so the scratch
     * must not move while the record is decoded: reserve the worst case up
     * front (a float grows from 4 input bytes to 9, a float32 from 5 to 9, an
     * added tsmTs is smaller than the required fields' text; 3x covers all). */
    dec->body.len = 0;
    dec->nkeys = 0;
    proto_buf_reserve(&dec->body, 3 * len + 64);
    const char *data_before = dec->body.data;
    (void)data_before;

    int n;
    size_t i = 0;
    while (i < len && is_json_blank(p[i]))
        i++;
    if (i == len) {
        proto__reject(sink, PROTO_REASON_EMPTY);
        n = 0;
    } else if (p[i] == '{' || p[i] == '[') {
        n = proto__json_decode(dec, (const char *)p, len, kafka_ts_ms, sink);
    } else if (is_msgpack_start(p[0])) {
        n = proto__mp_decode(dec, p, len, kafka_ts_ms, sink);
    } else {
        proto__reject(sink, PROTO_REASON_BAD_FORMAT);
        n = 0;
    }
    assert(dec->body.data == data_before && "body scratch moved during a record");
    return n;
}
