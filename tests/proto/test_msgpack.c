/* test_msgpack.c - the record decoder on MessagePack records (built with
 * msgpack-c's own packer, so the encoder under test is not the reference). */
#include "helpers.h"

#include <math.h>
#include <msgpack.h>

static msgpack_sbuffer sbuf;
static msgpack_packer pk;

static void mp_reset(void)
{
    msgpack_sbuffer_destroy(&sbuf);
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
}

static void mp_str(const char *s)
{
    msgpack_pack_str(&pk, strlen(s));
    msgpack_pack_str_body(&pk, s, strlen(s));
}

static void mp_kv_int(const char *key, int64_t v)
{
    mp_str(key);
    msgpack_pack_int64(&pk, v);
}

static void mp_kv_str(const char *key, const char *v)
{
    mp_str(key);
    mp_str(v);
}

/* The three required fields and tsmTs: 4 pairs. */
static void mp_base(void)
{
    mp_kv_int("tsmId", 1110);
    mp_kv_int("tsmEv", 10);
    mp_kv_str("tsmTuid", "XXXX03X2Z74162459");
    mp_kv_int("tsmTs", 1559638241);
}

#define BASE_JSON                                                                                  \
    "\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"XXXX03X2Z74162459\",\"tsmTs\":1559638241"

static int mp_decode(void)
{
    return decode_n(sbuf.data, sbuf.size);
}

static void mp_init(void)
{
    setup();
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
}

static void mp_fini(void)
{
    msgpack_sbuffer_destroy(&sbuf);
    teardown();
}

TestSuite(msgpack_rules, .init = mp_init, .fini = mp_fini);

/* ---- valid ---- */

Test(msgpack_rules, map_gives_its_fields_and_body)
{
    msgpack_pack_map(&pk, 7);
    mp_base();
    mp_kv_str("tsmGw", "XXXX00X1O73360355");
    mp_str("lat");
    msgpack_pack_double(&pk, 65.01);
    mp_str("lon");
    msgpack_pack_double(&pk, 25.52);
    cr_assert_eq(mp_decode(), 1);
    const proto_msg_t *msg = &got.msg[0];
    cr_assert_eq(msg->tsm_id, 1110);
    cr_assert_eq(msg->tsm_ev, 10);
    cr_assert_eq(msg->ts_sec, 1559638241u);
    cr_assert_str_eq(msg->tuid, "XXXX03X2Z74162459");
    cr_assert_str_eq(msg->gw, "XXXX00X1O73360355");
    cr_assert_eq(msg->flags, PROTO_HAS_GW | PROTO_HAS_LOC);
    cr_assert_eq(msg->lat, 65.01);
    cr_assert_eq(msg->lon, 25.52);
    assert_one_msg("{" BASE_JSON ",\"tsmGw\":\"XXXX00X1O73360355\",\"lat\":65.01,\"lon\":25.52}");
}

Test(msgpack_rules, body_is_repacked_in_shortest_form_with_float64)
{
    msgpack_pack_map(&pk, 9);
    mp_base();
    /* A str8 key shorter than 32 bytes, as old packers write them. */
    const uint8_t str8_key[] = {0xd9, 0x01, 'k'};
    msgpack_sbuffer_write(&sbuf, (const char *)str8_key, sizeof str8_key);
    msgpack_pack_fix_int64(&pk, 5); /* 9 bytes for a 1-byte value */
    mp_str("f");
    msgpack_pack_float(&pk, 0.5f); /* float32 becomes float64 */
    mp_str("u");
    msgpack_pack_uint64(&pk, UINT64_MAX);
    mp_str("a");
    msgpack_pack_array(&pk, 3);
    msgpack_pack_nil(&pk);
    msgpack_pack_true(&pk);
    msgpack_pack_map(&pk, 0);
    mp_str("big");
    msgpack_pack_int64(&pk, INT64_MIN);
    cr_assert_eq(mp_decode(), 1);
    assert_one_msg("{" BASE_JSON ",\"k\":5,\"f\":0.5,\"u\":18446744073709551615,"
                   "\"a\":[null,true,{}],\"big\":-9223372036854775808}");
    const uint8_t *body = got.msg[0].body;
    const uint8_t *k = memmem(body, got.msg[0].body_len, "\xa1k\x05", 3);
    cr_assert_not_null(k, "str8 key repacked as fixstr, int as fixint");
    cr_assert_not_null(memmem(body, got.msg[0].body_len,
                              "\xa1"
                              "f\xcb\x3f\xe0",
                              4),
                       "float32 repacked as float64");
}

Test(msgpack_rules, same_message_as_json_gives_the_same_body)
{
    const char *json = "{\"tsmId\":1210,\"tsmEv\":10,\"tsmTuid\":\"TSGW01\",\"tsmTs\":1559638241.5,"
                       "\"lat\":65.01,\"lon\":25,\"tags\":[\"a\",{\"b\":null}],\"ok\":false}";
    decode(json);
    cr_assert_eq(got.nmsg, 1);
    uint8_t from_json[512];
    uint32_t len = got.msg[0].body_len;
    memcpy(from_json, got.msg[0].body, len);
    msgpack_pack_map(&pk, 8);
    mp_kv_int("tsmId", 1210);
    mp_kv_int("tsmEv", 10);
    mp_kv_str("tsmTuid", "TSGW01");
    mp_str("tsmTs");
    msgpack_pack_double(&pk, 1559638241.5);
    mp_str("lat");
    msgpack_pack_double(&pk, 65.01);
    mp_kv_int("lon", 25);
    mp_str("tags");
    msgpack_pack_array(&pk, 2);
    mp_str("a");
    msgpack_pack_map(&pk, 1);
    mp_str("b");
    msgpack_pack_nil(&pk);
    mp_str("ok");
    msgpack_pack_false(&pk);
    cr_assert_eq(mp_decode(), 1);
    cr_assert_eq(got.msg[0].body_len, len);
    cr_assert(memcmp(got.msg[0].body, from_json, len) == 0);
    cr_assert_eq(got.msg[0].ts, 1559638241.5);
    cr_assert_eq(got.msg[0].flags, PROTO_HAS_LOC);
}

Test(msgpack_rules, big_headers_are_accepted)
{
    /* map16 and array32 where a fixmap would do: legal, if wasteful. */
    const uint8_t map16[] = {0xde, 0x00, 0x03};
    msgpack_sbuffer_write(&sbuf, (const char *)map16, 3);
    mp_kv_int("tsmId", 1);
    mp_kv_int("tsmEv", 2);
    mp_kv_str("tsmTuid", "A");
    cr_assert_eq(mp_decode(), 1);
    mp_reset();
    const uint8_t array32[] = {0xdd, 0x00, 0x00, 0x00, 0x02};
    msgpack_sbuffer_write(&sbuf, (const char *)array32, 5);
    for (int i = 0; i < 2; i++) {
        msgpack_pack_map(&pk, 3);
        mp_kv_int("tsmId", 1);
        mp_kv_int("tsmEv", i);
        mp_kv_str("tsmTuid", "A");
    }
    cr_assert_eq(mp_decode(), 2);
    cr_assert_eq(got.msg[1].tsm_ev, 1);
    cr_assert_eq(got.msg[1].flags, PROTO_TS_FROM_KAFKA);
    cr_assert_str_eq(got.json[1],
                     "{\"tsmId\":1,\"tsmEv\":1,\"tsmTuid\":\"A\",\"tsmTs\":1700000000}");
}

Test(msgpack_rules, array_elements_are_judged_alone)
{
    msgpack_pack_array(&pk, 4);
    msgpack_pack_map(&pk, 4);
    mp_base();
    msgpack_pack_map(&pk, 5);
    mp_base();
    mp_str("x");
    msgpack_pack_double(&pk, NAN);
    msgpack_pack_int(&pk, 7);
    msgpack_pack_map(&pk, 4);
    mp_base();
    cr_assert_eq(mp_decode(), 2);
    cr_assert_eq(got.nrej, 2);
    cr_assert_eq(got.rej[0], PROTO_REASON_BAD_NUMBER);
    cr_assert_eq(got.rej[1], PROTO_REASON_NOT_OBJECT);
    cr_assert(memcmp(got.order, (int[]){'m', 'r', 'r', 'm'}, 4 * sizeof(int)) == 0);
}

Test(msgpack_rules, empty_array_is_empty)
{
    msgpack_pack_array(&pk, 0);
    mp_decode();
    assert_rejected(PROTO_REASON_EMPTY);
}

/* ---- the whole record ---- */

Test(msgpack_rules, every_truncation_is_bad_msgpack)
{
    msgpack_pack_array(&pk, 2);
    for (int i = 0; i < 2; i++) {
        msgpack_pack_map(&pk, 5);
        mp_base();
        mp_str("blob");
        mp_str("a string longer than thirty-one bytes, so str8");
    }
    for (size_t len = 1; len < sbuf.size; len++) {
        decode_n(sbuf.data, len);
        cr_assert_eq(got.nmsg, 0, "prefix of %zu bytes", len);
        cr_assert_eq(got.nrej, 1);
        cr_assert_eq(got.rej[0], PROTO_REASON_BAD_MSGPACK, "prefix of %zu: %s", len,
                     proto_reason_name(got.rej[0]));
    }
    cr_assert_eq(decode_n(sbuf.data, sbuf.size), 2);
}

Test(msgpack_rules, trailing_bytes_are_bad_msgpack)
{
    msgpack_pack_map(&pk, 4);
    mp_base();
    msgpack_pack_nil(&pk);
    mp_decode();
    assert_rejected(PROTO_REASON_BAD_MSGPACK);
}

Test(msgpack_rules, never_used_byte_is_bad_msgpack)
{
    msgpack_pack_map(&pk, 5);
    mp_base();
    mp_str("x");
    msgpack_sbuffer_write(&sbuf, "\xc1", 1);
    mp_decode();
    assert_rejected(PROTO_REASON_BAD_MSGPACK);
}

Test(msgpack_rules, hostile_counts_are_bad_msgpack_at_once)
{
    const uint8_t huge[][5] = {
        {0xdd, 0xff, 0xff, 0xff, 0xff}, /* array32 of 4G elements */
        {0xdf, 0xff, 0xff, 0xff, 0xff}, /* map32 of 4G pairs */
    };
    for (int i = 0; i < 2; i++) {
        decode_n(huge[i], 5);
        assert_rejected(PROTO_REASON_BAD_MSGPACK);
    }
    const uint8_t str32[] = {0x81, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    decode_n(str32, sizeof str32);
    assert_rejected(PROTO_REASON_BAD_MSGPACK);
}

Test(msgpack_rules, other_first_bytes_are_bad_format)
{
    const uint8_t bad[] = {0xa1, 0xc0, 0xc3, 0xcb, 0xd9, 0x7f, 0xe0, 0xc4, 0xc7, 0xc1};
    for (size_t i = 0; i < sizeof bad; i++) {
        uint8_t rec[2] = {bad[i], 0};
        decode_n(rec, sizeof rec);
        assert_rejected(PROTO_REASON_BAD_FORMAT);
    }
}

/* ---- per message ---- */

Test(msgpack_rules, non_string_keys_are_bad_key)
{
    msgpack_pack_map(&pk, 5);
    mp_base();
    msgpack_pack_int(&pk, 1);
    msgpack_pack_int(&pk, 2);
    mp_decode();
    assert_rejected(PROTO_REASON_BAD_KEY);
    mp_reset();
    msgpack_pack_map(&pk, 5);
    mp_base();
    msgpack_pack_bin(&pk, 1);
    msgpack_pack_bin_body(&pk, "k", 1);
    msgpack_pack_int(&pk, 2);
    mp_decode();
    assert_rejected(PROTO_REASON_BAD_KEY);
    mp_reset();
    msgpack_pack_map(&pk, 5);
    mp_base();
    mp_str("o");
    msgpack_pack_map(&pk, 1);
    msgpack_pack_nil(&pk);
    msgpack_pack_nil(&pk);
    mp_decode();
    assert_rejected(PROTO_REASON_BAD_KEY);
}

static void pack_str_bytes(const char *s, size_t len)
{
    msgpack_pack_str(&pk, len);
    msgpack_pack_str_body(&pk, s, len);
}

Test(msgpack_rules, invalid_utf8_is_bad_utf8)
{
    const char *bad[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        for (int in_key = 0; in_key < 2; in_key++) {
            mp_reset();
            msgpack_pack_map(&pk, 5);
            mp_base();
            if (in_key) {
                pack_str_bytes(bad[i], strlen(bad[i]));
                msgpack_pack_int(&pk, 1);
            } else {
                mp_str("s");
                pack_str_bytes(bad[i], strlen(bad[i]));
            }
            mp_decode();
            assert_rejected(PROTO_REASON_BAD_UTF8);
        }
    }
}

Test(msgpack_rules, nan_and_infinity_are_bad_number)
{
    for (int i = 0; i < 4; i++) {
        mp_reset();
        msgpack_pack_map(&pk, 5);
        mp_base();
        mp_str("x");
        if (i == 0) msgpack_pack_double(&pk, NAN);
        if (i == 1) msgpack_pack_double(&pk, -INFINITY);
        if (i == 2) msgpack_pack_float(&pk, NAN);
        if (i == 3) msgpack_pack_float(&pk, INFINITY);
        mp_decode();
        assert_rejected(PROTO_REASON_BAD_NUMBER);
    }
    mp_reset();
    msgpack_pack_map(&pk, 4);
    mp_kv_int("tsmId", 1110);
    mp_kv_int("tsmEv", 10);
    mp_kv_str("tsmTuid", "A");
    mp_str("tsmTs");
    msgpack_pack_double(&pk, NAN);
    mp_decode();
    assert_rejected(PROTO_REASON_BAD_NUMBER);
}

Test(msgpack_rules, nul_in_a_string_or_key_is_nul_char)
{
    for (int in_key = 0; in_key < 2; in_key++) {
        mp_reset();
        msgpack_pack_map(&pk, 5);
        mp_base();
        if (in_key) {
            pack_str_bytes("a\0b", 3);
            msgpack_pack_int(&pk, 1);
        } else {
            mp_str("s");
            pack_str_bytes("a\0b", 3);
        }
        mp_decode();
        assert_rejected(PROTO_REASON_NUL_CHAR);
    }
}

Test(msgpack_rules, ext_and_bin_values_are_bad_msgpack)
{
    for (int i = 0; i < 3; i++) {
        mp_reset();
        msgpack_pack_map(&pk, 5);
        mp_base();
        mp_str("x");
        if (i == 0) {
            msgpack_pack_ext(&pk, 4, -1); /* the timestamp extension */
            msgpack_pack_ext_body(&pk, "\0\0\0\1", 4);
        } else if (i == 1) {
            msgpack_pack_ext(&pk, 100, 5);
            char body[100] = {0};
            msgpack_pack_ext_body(&pk, body, 100);
        } else {
            msgpack_pack_bin(&pk, 2);
            msgpack_pack_bin_body(&pk, "ab", 2);
        }
        mp_decode();
        assert_rejected(PROTO_REASON_BAD_MSGPACK);
    }
}

/* A message whose "d" nests down to `levels` in total (maps or arrays). */
static void pack_deep(int levels, bool maps)
{
    msgpack_pack_map(&pk, levels > 1 ? 5 : 4);
    mp_base();
    if (levels > 1) mp_str("d");
    for (int i = 2; i <= levels; i++) {
        if (maps) {
            msgpack_pack_map(&pk, i < levels ? 1 : 0);
            if (i < levels) mp_str("d");
        } else {
            msgpack_pack_array(&pk, i < levels ? 1 : 0);
        }
    }
}

Test(msgpack_rules, sixteen_levels_pass_seventeen_are_too_deep)
{
    for (int maps = 0; maps < 2; maps++) {
        mp_reset();
        pack_deep(16, maps);
        cr_assert_eq(mp_decode(), 1);
        mp_reset();
        pack_deep(17, maps);
        mp_decode();
        assert_rejected(PROTO_REASON_TOO_DEEP);
    }
    mp_reset();
    msgpack_pack_array(&pk, 2);
    pack_deep(15, true); /* 16 with the array */
    pack_deep(16, true); /* 17 with the array */
    cr_assert_eq(mp_decode(), 1);
    cr_assert_eq(got.nrej, 1);
    cr_assert_eq(got.rej[0], PROTO_REASON_TOO_DEEP);
}

Test(msgpack_rules, a_million_levels_cost_no_stack)
{
    size_t levels = 1000000;
    uint8_t *rec = malloc(levels + 1);
    memset(rec, 0x91, levels); /* [[[[...nil]]]] */
    rec[levels] = 0xc0;
    decode_n(rec, levels + 1);
    cr_assert_eq(got.nrej, 1);
    cr_assert_eq(got.rej[0], PROTO_REASON_NOT_OBJECT, "%s", proto_reason_name(got.rej[0]));
    rec[0] = 0x81; /* {"": [[[...]]]} once the map has a key */
    rec[1] = 0xa0;
    decode_n(rec, levels + 1);
    assert_rejected(PROTO_REASON_TOO_DEEP);
    free(rec);
}

Test(msgpack_rules, duplicate_keys_are_rejected)
{
    msgpack_pack_map(&pk, 5);
    mp_base();
    mp_kv_int("tsmId", 1);
    mp_decode();
    assert_rejected(PROTO_REASON_DUPLICATE_KEY);
    for (int n = 10; n <= 2000; n *= 10) {
        for (int nested = 0; nested < 2; nested++) {
            mp_reset();
            msgpack_pack_map(&pk, nested ? 5 : 4 + (uint32_t)n + 1);
            mp_base();
            if (nested) {
                mp_str("o");
                msgpack_pack_map(&pk, (uint32_t)n + 1);
            }
            char key[16];
            for (int i = 0; i < n; i++) {
                snprintf(key, sizeof key, "k%d", i);
                mp_kv_int(key, i);
            }
            mp_kv_int("k3", 0);
            mp_decode();
            assert_rejected(PROTO_REASON_DUPLICATE_KEY);
        }
    }
}

Test(msgpack_rules, uint64_above_int64_max_is_bad_field_for_required_ints)
{
    msgpack_pack_map(&pk, 3);
    mp_str("tsmId");
    msgpack_pack_uint64(&pk, (uint64_t)INT64_MAX + 1);
    mp_kv_int("tsmEv", 10);
    mp_kv_str("tsmTuid", "A");
    mp_decode();
    assert_rejected(PROTO_REASON_BAD_FIELD);
    mp_reset();
    msgpack_pack_map(&pk, 3);
    mp_str("tsmId");
    msgpack_pack_uint64(&pk, INT64_MAX);
    mp_kv_int("tsmEv", 10);
    mp_kv_str("tsmTuid", "A");
    cr_assert_eq(mp_decode(), 1);
    cr_assert_eq(got.msg[0].tsm_id, INT64_MAX);
}

Test(msgpack_rules, field_rules_match_json)
{
    struct {
        const char *key;
        int kind; /* 0 int, 1 double, 2 str, 3 nil, 4 bin */
        double v;
        const char *s;
        proto_reason_t want;
    } cases[] = {
        {"tsmId", 1, 5.0, NULL, PROTO_REASON_BAD_FIELD},
        {"tsmEv", 2, 0, "10", PROTO_REASON_BAD_FIELD},
        {"tsmTuid", 0, 7, NULL, PROTO_REASON_BAD_FIELD},
        {"tsmTuid", 2, 0, "a b", PROTO_REASON_BAD_TUID},
        {"tsmTuid", 2, 0, "", PROTO_REASON_BAD_TUID},
        {"tsmGw", 2, 0, "gw:1", PROTO_REASON_BAD_GATEWAY},
        {"tsmGw", 0, 1, NULL, PROTO_REASON_BAD_FIELD},
        {"tsmTs", 0, -1, NULL, PROTO_REASON_BAD_TIMESTAMP},
        {"tsmTs", 1, 4294967296.0, NULL, PROTO_REASON_BAD_TIMESTAMP},
        {"tsmTs", 2, 0, "1559638241", PROTO_REASON_BAD_FIELD},
        {"tsmTs", 3, 0, NULL, PROTO_REASON_BAD_FIELD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mp_reset();
        msgpack_pack_map(&pk, 4);
        const char *keys[] = {"tsmId", "tsmEv", "tsmTuid", "tsmTs"};
        bool replaced = false;
        for (int k = 0; k < 4; k++) {
            if (strcmp(keys[k], cases[i].key) != 0) {
                if (k == 2)
                    mp_kv_str("tsmTuid", "A");
                else
                    mp_kv_int(keys[k], 1);
                continue;
            }
            replaced = true;
        }
        if (!replaced) { /* tsmGw: an extra pair */
            sbuf.data[0] = (char)0x85;
        }
        mp_str(cases[i].key);
        switch (cases[i].kind) {
        case 0:
            msgpack_pack_int64(&pk, (int64_t)cases[i].v);
            break;
        case 1:
            msgpack_pack_double(&pk, cases[i].v);
            break;
        case 2:
            mp_str(cases[i].s);
            break;
        default:
            msgpack_pack_nil(&pk);
        }
        mp_decode();
        cr_assert_eq(got.nrej, 1, "case %zu", i);
        cr_assert_eq(got.rej[0], cases[i].want, "case %zu: %s", i, proto_reason_name(got.rej[0]));
    }
}

Test(msgpack_rules, one_mebibyte_passes_one_byte_more_is_too_large)
{
    for (size_t size = PROTO_MAX_RECORD; size <= PROTO_MAX_RECORD + 1; size++) {
        mp_reset();
        msgpack_pack_map(&pk, 5);
        mp_base();
        mp_str("pad");
        size_t pad = size - sbuf.size - 5; /* a str32 header is 5 bytes */
        char *bytes = malloc(pad);
        memset(bytes, 'x', pad);
        msgpack_pack_str(&pk, pad);
        msgpack_pack_str_body(&pk, bytes, pad);
        free(bytes);
        cr_assert_eq(sbuf.size, size);
        mp_decode();
        if (size == PROTO_MAX_RECORD) {
            cr_assert_eq(got.nmsg, 1);
        } else {
            assert_rejected(PROTO_REASON_TOO_LARGE);
        }
    }
}
