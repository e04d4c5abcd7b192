/* fuzz_decode.c - libFuzzer target: bytes as a Kafka record value into
 * proto_decode(), JSON and MessagePack alike (the first byte picks, as in
 * production). Checks, for every message delivered:
 *   - the tuid (and gateway) obey the tuid rule and are NUL-terminated;
 *   - the body plus a map header of nfields is one well-formed MessagePack map
 *     of nfields pairs for msgpack-c, and converts to JSON;
 *   - that JSON decodes again to exactly the same body bytes;
 *   - the body is unchanged when proto_decode() returns (valid until the next
 *     call, even for the first message of an array);
 * and that proto_decode() returns the number of messages it delivered.
 * Any violation aborts, which libFuzzer reports as a crash.
 *   cmake -S . -B build-fuzz -DTSMD_FUZZ=ON -DCMAKE_C_COMPILER=clang \
 *     -DCMAKE_CXX_COMPILER=clang++ && cmake --build build-fuzz --target fuzz_decode
 *   build-fuzz/tests/fuzz/fuzz_decode -max_len=65536 tests/fuzz/corpus/decode */
#include "check.h"
#include "proto/mpjson.h"
#include "proto/msg.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEPT_MAX 256

typedef struct fuzz_state_s {
    proto_decoder_t *again; /* decodes the JSON form back */
    int nmsg;
    const uint8_t *body[KEPT_MAX]; /* where each body was delivered */
    uint8_t *copy[KEPT_MAX];       /* and what it held then */
    uint32_t len[KEPT_MAX];
    proto_buf_t buf;
    const uint8_t *roundtrip; /* the body the JSON form decoded to */
    uint32_t roundtrip_len;
    int roundtrip_n;
} fuzz_state_t;

static void check_tuid(const char *s, uint8_t len)
{
    CHECK(proto_tuid_valid(s, len));
    CHECK(s[len] == '\0');
}

/* msgpack-c must read map header + body as one map of nfields pairs. */
static void check_msgpack(fuzz_state_t *st, const proto_msg_t *msg)
{
    st->buf.len = 0;
    proto_mp_put_map(&st->buf, msg->nfields);
    proto_buf_append(&st->buf, msg->body, msg->body_len);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&up, st->buf.data, st->buf.len, &off) == MSGPACK_UNPACK_SUCCESS);
    CHECK(off == st->buf.len);
    CHECK(up.data.type == MSGPACK_OBJECT_MAP);
    CHECK(up.data.via.map.size == msg->nfields);
    for (uint32_t i = 0; i < msg->nfields; i++)
        CHECK(up.data.via.map.ptr[i].key.type == MSGPACK_OBJECT_STR);
    msgpack_unpacked_destroy(&up);
}

static void on_roundtrip(void *arg, const proto_msg_t *msg)
{
    fuzz_state_t *st = arg;
    st->roundtrip = msg->body;
    st->roundtrip_len = msg->body_len;
    st->roundtrip_n++;
}

static void on_roundtrip_reject(void *arg, proto_reason_t reason)
{
    (void)arg;
    fprintf(stderr, "JSON form rejected as %s\n", proto_reason_name(reason));
    CHECK(!"the JSON form of a valid message decodes again");
}

/* The JSON the API would print decodes to the same body. */
static void check_json(fuzz_state_t *st, const proto_msg_t *msg)
{
    st->buf.len = 0;
    CHECK(proto_mpjson_append_pairs(&st->buf, msg->body, msg->body_len, msg->nfields) == 0);
    if (st->buf.len > PROTO_MAX_RECORD) return; /* escapes can grow it past the limit */
    proto_sink_t sink = {on_roundtrip, on_roundtrip_reject, st};
    st->roundtrip_n = 0;
    CHECK(proto_decode(st->again, st->buf.data, st->buf.len, 0, &sink) == 1);
    CHECK(st->roundtrip_n == 1);
    CHECK(st->roundtrip_len == msg->body_len);
    CHECK(memcmp(st->roundtrip, msg->body, msg->body_len) == 0);
}

static void on_msg(void *arg, const proto_msg_t *msg)
{
    fuzz_state_t *st = arg;
    check_tuid(msg->tuid, msg->tuid_len);
    if (msg->flags & PROTO_HAS_GW) check_tuid(msg->gw, msg->gw_len);
    CHECK(msg->nfields >= 3 && msg->body_len > 0);
    CHECK(msg->ts >= 0 && msg->ts < 4294967296.0 && (double)msg->ts_sec <= msg->ts);
    if (msg->flags & PROTO_HAS_VER)
        CHECK((const uint8_t *)msg->ver >= msg->body &&
              (const uint8_t *)msg->ver + msg->ver_len <= msg->body + msg->body_len);
    check_msgpack(st, msg);
    check_json(st, msg);
    if (st->nmsg < KEPT_MAX) {
        st->body[st->nmsg] = msg->body;
        st->len[st->nmsg] = msg->body_len;
        st->copy[st->nmsg] = malloc(msg->body_len);
        memcpy(st->copy[st->nmsg], msg->body, msg->body_len);
    }
    st->nmsg++;
}

static void on_reject(void *arg, proto_reason_t reason)
{
    (void)arg;
    CHECK((unsigned)reason < PROTO_REASON_COUNT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static proto_decoder_t *dec;
    static fuzz_state_t st;
    if (dec == NULL) {
        dec = proto_decoder_new(); /* one per process, as in tsmd: reuse is what is fuzzed */
        st.again = proto_decoder_new();
    }
    st.nmsg = 0;
    proto_sink_t sink = {on_msg, on_reject, &st};
    int n = proto_decode(dec, data, size, 1700000000123LL, &sink);
    CHECK(n == st.nmsg);
    int kept = st.nmsg < KEPT_MAX ? st.nmsg : KEPT_MAX;
    for (int i = 0; i < kept; i++) {
        CHECK(memcmp(st.body[i], st.copy[i], st.len[i]) == 0);
        free(st.copy[i]);
    }
    return 0;
}
