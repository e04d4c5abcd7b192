/* test_mpjson.c - MessagePack to JSON for the API, the packing helpers the
 * engine uses to add deploymentGroupId, and the stored-message round trip. */
#include "helpers.h"

#include <float.h>
#include <math.h>
#include <msgpack.h>

static proto_buf_t out;
static msgpack_sbuffer sbuf;
static msgpack_packer pk;

static void init(void)
{
    setup();
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
}

static void fini(void)
{
    proto_buf_free(&out);
    msgpack_sbuffer_destroy(&sbuf);
    teardown();
}

TestSuite(mpjson, .init = init, .fini = fini);

/* Converts what pk packed; returns the JSON text (NUL-terminated) or NULL. */
static const char *convert(void)
{
    out.len = 0;
    if (proto_mpjson_append(&out, sbuf.data, sbuf.size) < 0) return NULL;
    proto_buf_putc(&out, '\0');
    return out.data;
}

static void mp_str(const char *s)
{
    msgpack_pack_str(&pk, strlen(s));
    msgpack_pack_str_body(&pk, s, strlen(s));
}

static const char *double_text(double d)
{
    out.len = 0;
    proto_json_put_double(&out, d);
    proto_buf_putc(&out, '\0');
    return out.data;
}

Test(mpjson, map_of_every_type)
{
    msgpack_pack_map(&pk, 9);
    mp_str("i");
    msgpack_pack_int64(&pk, INT64_MIN);
    mp_str("j");
    msgpack_pack_int64(&pk, INT64_MAX);
    mp_str("u");
    msgpack_pack_uint64(&pk, UINT64_MAX);
    mp_str("f");
    msgpack_pack_double(&pk, 74.0);
    mp_str("g");
    msgpack_pack_float(&pk, 0.1f);
    mp_str("s");
    mp_str("h\xc3\xa4");
    mp_str("n");
    msgpack_pack_nil(&pk);
    mp_str("a");
    msgpack_pack_array(&pk, 3);
    msgpack_pack_true(&pk);
    msgpack_pack_false(&pk);
    msgpack_pack_array(&pk, 0);
    mp_str("o");
    msgpack_pack_map(&pk, 1);
    mp_str("");
    msgpack_pack_map(&pk, 0);
    cr_assert_str_eq(convert(), "{\"i\":-9223372036854775808,\"j\":9223372036854775807,"
                                "\"u\":18446744073709551615,\"f\":74.0,\"g\":0.1,"
                                "\"s\":\"h\xc3\xa4\",\"n\":null,\"a\":[true,false,[]],"
                                "\"o\":{\"\":{}}}");
}

Test(mpjson, strings_are_escaped)
{
    out.len = 0;
    proto_json_put_str(&out, "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f\xe2\x82\xac", 17);
    proto_buf_putc(&out, '\0');
    cr_assert_str_eq(out.data, "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\xe2\x82\xac\"");
    out.len = 0;
    proto_json_put_str(&out, "", 0);
    cr_assert_eq(out.len, 2);
    cr_assert(memcmp(out.data, "\"\"", 2) == 0);
}

Test(mpjson, doubles_print_shortest_and_stay_floats)
{
    cr_assert_str_eq(double_text(0.1), "0.1");
    cr_assert_str_eq(double_text(65.01), "65.01");
    cr_assert_str_eq(double_text(1559638241.75), "1559638241.75");
    cr_assert_str_eq(double_text(5.0), "5.0");
    cr_assert_str_eq(double_text(-0.0), "-0.0");
    cr_assert_str_eq(double_text(1e300), "1e+300");
    cr_assert_str_eq(double_text(1.0 / 3), "0.3333333333333333");
    cr_assert_str_eq(double_text(0.1 + 0.2), "0.30000000000000004");
    cr_assert_str_eq(double_text(DBL_MAX), "1.7976931348623157e+308");
    cr_assert_str_eq(double_text(NAN), "null");
    cr_assert_str_eq(double_text(-INFINITY), "null");
}

Test(mpjson, doubles_read_back_exactly)
{
    uint64_t x = 88172645463325252ull; /* xorshift64: a fixed sequence of bit patterns */
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d)) continue;
        const char *text = double_text(d);
        cr_assert_eq(strtod(text, NULL), d, "%s", text);
    }
}

Test(mpjson, malformed_input_is_refused_and_leaves_the_buffer_alone)
{
    proto_buf_puts(&out, "prefix");
    const char *bad[][2] = {
        {"\x81\xa1k", "truncated map"},
        {"\x81\x01\x02", "integer key"},
        {"\x81\xa1k\xd4\x01\x00", "ext"},
        {"\x81\xa1k\xc4\x01x", "bin"},
        {"\x81\xa1k\xa1\xff", "invalid UTF-8"},
        {"\x80\xc0", "trailing byte"},
        {"\xc1", "never used byte"},
        {"", "nothing"},
    };
    size_t lens[] = {3, 3, 6, 6, 5, 2, 1, 0};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        cr_assert_eq(proto_mpjson_append(&out, bad[i][0], lens[i]), -1, "%s", bad[i][1]);
        cr_assert_eq(out.len, 6, "%s", bad[i][1]);
    }
    uint8_t deep[PROTO_MPJSON_MAX_DEPTH + 2];
    memset(deep, 0x91, sizeof deep - 1);
    deep[sizeof deep - 1] = 0xc0;
    cr_assert_eq(proto_mpjson_append(&out, deep, sizeof deep), -1, "too deep");
    cr_assert_eq(proto_mpjson_append(&out, deep + 2, sizeof deep - 2), 0, "deep enough");
}

Test(mpjson, packers_use_the_shortest_headers)
{
    struct {
        uint32_t n;
        size_t len;
    } cases[] = {{0, 1}, {15, 1}, {16, 3}, {65535, 3}, {65536, 5}};
    for (size_t i = 0; i < 5; i++) {
        out.len = 0;
        proto_mp_put_map(&out, cases[i].n);
        cr_assert_eq(out.len, cases[i].len, "map of %u", cases[i].n);
        out.len = 0;
        proto_mp_put_array(&out, cases[i].n);
        cr_assert_eq(out.len, cases[i].len, "array of %u", cases[i].n);
    }
    size_t str_lens[][2] = {{0, 1}, {31, 32}, {32, 34}, {255, 257}, {256, 259}, {65536, 65541}};
    char *s = calloc(1, 65536);
    memset(s, 'a', 65536);
    for (size_t i = 0; i < 6; i++) {
        out.len = 0;
        proto_mp_put_str(&out, s, str_lens[i][0]);
        cr_assert_eq(out.len, str_lens[i][1], "str of %zu", str_lens[i][0]);
        proto_buf_t json = PROTO_BUF_INIT;
        cr_assert_eq(proto_mpjson_append(&json, out.data, out.len), 0);
        cr_assert_eq(json.len, str_lens[i][0] + 2);
        proto_buf_free(&json);
    }
    free(s);
    int64_t ints[] = {0,  127, 128, 255,  256,  65535,  65536,  4294967295LL, 4294967296LL,
                      -1, -32, -33, -128, -129, -32768, -32769, INT64_MIN,    INT64_MAX};
    size_t int_lens[] = {1, 1, 2, 2, 3, 3, 5, 5, 9, 1, 1, 2, 2, 3, 3, 5, 9, 9};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        out.len = 0;
        proto_mp_put_int(&out, ints[i]);
        cr_assert_eq(out.len, int_lens[i], "int %lld", (long long)ints[i]);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        cr_assert_eq(msgpack_unpack_next(&up, out.data, out.len, NULL), MSGPACK_UNPACK_SUCCESS);
        int64_t back = up.data.type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)up.data.via.u64
                                                                       : up.data.via.i64;
        cr_assert_eq(back, ints[i], "msgpack-c reads back %lld", (long long)ints[i]);
        msgpack_unpacked_destroy(&up);
    }
}

/* The engine's path: body from the decoder, a map header of nfields + 1, the
 * body, the deploymentGroupId pair; stored, read back and printed. */
Test(mpjson, stored_message_prints_with_all_its_fields)
{
    decode("{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"XXXXTUID\",\"tsmGw\":\"XXXXGATEWAYTUID\","
           "\"batl\":74,\"temp\":21.5,\"note\":\"line\\nbreak\"}");
    cr_assert_eq(got.nmsg, 1);
    const proto_msg_t *msg = &got.msg[0];
    proto_buf_t stored = PROTO_BUF_INIT;
    proto_mp_put_map(&stored, msg->nfields + 1);
    proto_buf_append(&stored, msg->body, msg->body_len);
    proto_mp_put_str_pair(&stored, "deploymentGroupId", 17, "unassigned", 10);

    msgpack_unpacked up; /* msgpack-c agrees it is one well-formed map */
    msgpack_unpacked_init(&up);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&up, stored.data, stored.len, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, stored.len);
    cr_assert_eq(up.data.type, MSGPACK_OBJECT_MAP);
    cr_assert_eq(up.data.via.map.size, 9);
    msgpack_unpacked_destroy(&up);

    out.len = 0;
    cr_assert_eq(proto_mpjson_append(&out, stored.data, stored.len), 0);
    proto_buf_putc(&out, '\0');
    cr_assert_str_eq(out.data, "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"XXXXTUID\","
                               "\"tsmGw\":\"XXXXGATEWAYTUID\",\"batl\":74,\"temp\":21.5,"
                               "\"note\":\"line\\nbreak\",\"tsmTs\":1700000000,"
                               "\"deploymentGroupId\":\"unassigned\"}");
    proto_buf_free(&stored);
}

Test(mpjson, json_output_decodes_back_to_the_same_body)
{
    const char *text = "{\"tsmId\":12100,\"tsmEv\":10,\"tsmTuid\":\"A\",\"tsmTs\":1559638241.5,"
                       "\"temp\":-3.25,\"hum\":40,\"x\":[0.1,1e-7,\"\\u001f\"],\"y\":{\"z\":null}}";
    decode(text);
    cr_assert_eq(got.nmsg, 1);
    uint8_t first[512];
    uint32_t len = got.msg[0].body_len;
    memcpy(first, got.msg[0].body, len);
    char *again = strdup(got.json[0]);
    decode(again);
    cr_assert_eq(got.nmsg, 1);
    cr_assert_eq(got.msg[0].body_len, len);
    cr_assert(memcmp(got.msg[0].body, first, len) == 0, "%s", again);
    free(again);
}

Test(mpjson, pairs_need_exactly_their_bytes)
{
    decode("{\"tsmId\":1,\"tsmEv\":2,\"tsmTuid\":\"A\",\"tsmTs\":3}");
    const proto_msg_t *msg = &got.msg[0];
    cr_assert_eq(proto_mpjson_append_pairs(&out, msg->body, msg->body_len, msg->nfields), 0);
    cr_assert_eq(proto_mpjson_append_pairs(&out, msg->body, msg->body_len, msg->nfields - 1), -1,
                 "a pair left over");
    cr_assert_eq(proto_mpjson_append_pairs(&out, msg->body, msg->body_len, msg->nfields + 1), -1,
                 "a pair missing");
    cr_assert_eq(proto_mpjson_append_pairs(&out, NULL, 0, 0), 0);
}
