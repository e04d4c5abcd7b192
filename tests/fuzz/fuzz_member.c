/* fuzz_member.c - libFuzzer target: the history member codec (proto/member).
 * The input is used twice:
 *   - as a Kafka record value: every message proto_decode() delivers is
 *     written as a member (with a group taken from the input's last bytes,
 *     or "unassigned") and read back; the result must be the earlier format's
 *     map byte for byte (map header of nfields + 1, body, deploymentGroupId);
 *   - as a member read from Redis: proto_member_to_msgpack() must not crash
 *     and must leave the buffer as it was on -1; what it gives on 0 goes
 *     through proto/mpjson as the API does (converted or refused).
 * Any violation aborts, which libFuzzer reports as a crash.
 *   build-fuzz/tests/fuzz/fuzz_member -max_len=4096 tests/fuzz/corpus/member */
#include "check.h"
#include "proto/member.h"
#include "proto/mpjson.h"
#include "proto/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fuzz_state_s {
    proto_buf_t member, back, map, json;
    const char *group;
    size_t group_len;
} fuzz_state_t;

static void on_msg(void *arg, const proto_msg_t *msg)
{
    fuzz_state_t *st = arg;
    st->member.len = st->back.len = st->map.len = 0;
    proto_member_encode(&st->member, msg, st->group, st->group_len);
    CHECK(proto_member_to_msgpack(&st->back, st->member.data, st->member.len, msg->tuid,
                                  msg->tuid_len) == 0);
    proto_mp_put_map(&st->map, msg->nfields + 1);
    proto_buf_append(&st->map, msg->body, msg->body_len);
    proto_mp_put_str_pair(&st->map, "deploymentGroupId", 17, st->group, st->group_len);
    CHECK(st->back.len == st->map.len);
    CHECK(memcmp(st->back.data, st->map.data, st->map.len) == 0);
    CHECK(st->member.len <= st->map.len);
}

static void on_reject(void *arg, proto_reason_t reason)
{
    (void)arg;
    (void)reason;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static proto_decoder_t *dec;
    static fuzz_state_t st;
    if (dec == NULL) dec = proto_decoder_new();
    /* a group: the text after the last '|' when there is one (1..64 bytes) */
    const uint8_t *bar = size ? memchr(data, '|', size) : NULL;
    size_t rec_len = size;
    st.group = "unassigned", st.group_len = 10;
    if (bar != NULL && (size_t)(data + size - bar - 1) >= 1 &&
        (size_t)(data + size - bar - 1) <= 64) {
        st.group = (const char *)bar + 1, st.group_len = (size_t)(data + size - bar - 1);
        rec_len = (size_t)(bar - data);
    }
    proto_sink_t sink = {on_msg, on_reject, &st};
    proto_decode(dec, data, rec_len, 1700000000000LL, &sink);

    st.back.len = 0;
    proto_buf_puts(&st.back, "x");
    int r = proto_member_to_msgpack(&st.back, data, size, "TSSN0000000000001", 17);
    if (r < 0) {
        CHECK(st.back.len == 1);
    } else {
        CHECK(r == 0 && st.back.len > 1);
        st.json.len = 0;
        (void)proto_mpjson_append(&st.json, st.back.data + 1, st.back.len - 1);
    }
    return 0;
}
