/* test_member.c - the compact history member: what it reads back is the
 * earlier format's map byte for byte, it stays under Redis's listpack limit,
 * the same message gives the same member, and earlier members still read. */
#include "helpers.h"

#include "proto/member.h"

static proto_buf_t out, member, map;

static void init(void)
{
    setup();
}

static void fini(void)
{
    proto_buf_free(&out);
    proto_buf_free(&member);
    proto_buf_free(&map);
    teardown();
}

TestSuite(member, .init = init, .fini = fini);

/* The earlier format of msg: its map, plus deploymentGroupId = group. */
static void earlier_form(proto_buf_t *buf, const proto_msg_t *msg, const char *group)
{
    buf->len = 0;
    proto_mp_put_map(buf, msg->nfields + 1);
    proto_buf_append(buf, msg->body, msg->body_len);
    proto_mp_put_str_pair(buf, "deploymentGroupId", 17, group, strlen(group));
}

/* Decodes text (one message), encodes it with group into member and checks
 * that reading it back gives the earlier format exactly. */
static void round_trip(const char *text, const char *group)
{
    cr_assert_eq(decode(text), 1, "%s", text);
    const proto_msg_t *msg = &got.msg[0];
    member.len = 0;
    proto_member_encode(&member, msg, group, strlen(group));
    earlier_form(&map, msg, group);
    out.len = 0;
    cr_assert_eq(proto_member_to_msgpack(&out, member.data, member.len, msg->tuid, msg->tuid_len),
                 0, "%s", text);
    cr_assert_eq(out.len, map.len, "%s: %zu bytes back, %zu stored before", text, out.len, map.len);
    cr_assert_eq(memcmp(out.data, map.data, map.len), 0, "%s", text);
    cr_assert_leq(member.len, map.len, "%s: %zu bytes, the map is %zu", text, member.len, map.len);
}

static const char *const messages[] = {
    /* the fleet's kinds: environment, gateway, location, version, heartbeat */
    "{\"tsmId\":12100,\"tsmEv\":10,\"tsmTuid\":\"TSSN0000000016919\",\"tsmGw\":"
    "\"TSGW0000000000067\",\"tsmTs\":1796313756,\"temp\":4.8,\"hum\":81.8,\"pres\":1038.6,"
    "\"lux\":11429}",
    "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"TSGW0000000000299\",\"tsmTs\":1796313733,"
    "\"uptime\":5,\"load\":2.66,\"rssi\":-49,\"memFree\":455282}",
    "{\"tsmId\":1210,\"tsmEv\":10,\"tsmTuid\":\"TSGW0000000000001\",\"tsmTs\":1796313733,"
    "\"lat\":52.520008,\"lon\":-13.404954}",
    "{\"tsmId\":1100,\"tsmEv\":10,\"tsmTuid\":\"X\",\"tsmTs\":1,\"swVersion\":\"2.14.0\"}",
    "{\"tsmId\":1110,\"tsmEv\":11,\"tsmTuid\":\"TSSN0000000000042\",\"tsmGw\":"
    "\"TSGW0000000000002\",\"tsmTs\":1795640000,\"batl\":86}",
    /* tsmTs with a fraction, and missing (the record's time is added) */
    "{\"tsmId\":1,\"tsmEv\":2,\"tsmTuid\":\"a.b-c_9\",\"tsmTs\":1767225600.123}",
    "{\"tsmEv\":18,\"tsmId\":1,\"tsmTuid\":\"TSSN0000000000001\"}",
    /* floats the scaled form must not take or must take exactly */
    "{\"tsmId\":1,\"tsmEv\":1,\"tsmTuid\":\"T\",\"a\":-0.0,\"b\":0.1,\"c\":1e300,\"d\":1e-300,"
    "\"e\":0.30000000000000004,\"f\":-2.5e-9,\"g\":123456789.123456789,\"h\":1.0,\"i\":-7.0,"
    "\"j\":281474976710655.0,\"k\":2.2250738585072014e-308,\"l\":0.000001}",
    /* strings with digits: tuid-like, short runs, long runs, no prefix, UTF-8 */
    "{\"tsmId\":1,\"tsmEv\":1,\"tsmTuid\":\"T\",\"s1\":\"1.2.3\",\"s2\":\"0000\",\"s3\":"
    "\"12345678901234567890\",\"s4\":\"9999999999999999999\",\"s5\":\"\xc3\xa9t\xc3\xa9-0042\","
    "\"s6\":\"abcdefghijklmnop1234\",\"s7\":\"\",\"s8\":\"x0123\",\"s9\":\"18446744073709551615\"}",
    /* nested values, other types, names of every length class */
    "{\"tsmId\":-5,\"tsmEv\":99999999999,\"tsmTuid\":\"T\",\"arr\":[1,\"TSGW0000000000001\",4.8,"
    "{\"k\":[null,true]}],\"obj\":{\"lat\":1.5},\"n\":null,\"t\":true,\"f\":false,"
    "\"u\":18446744073709551615,\"neg\":-9223372036854775808,\"\":1}",
    /* the message's own deploymentGroupId, and the tuid under another name */
    "{\"tsmId\":1,\"tsmEv\":1,\"tsmTuid\":\"TSSN1\",\"deploymentGroupId\":\"g\",\"copy\":\"TSSN1\","
    "\"batl\":\"low\",\"lat\":\"n/a\"}",
};

Test(member, reads_back_as_the_earlier_map_byte_for_byte)
{
    const char *groups[] = {"unassigned", "fleet-a", "", "Gruppe \xc3\xa4 0001"};
    for (size_t i = 0; i < sizeof messages / sizeof *messages; i++)
        for (size_t g = 0; g < sizeof groups / sizeof *groups; g++)
            round_trip(messages[i], groups[g]);
}

/* Names of every length class: in the dictionary, short (0..95 bytes) and
 * longer. */
Test(member, names_of_any_length_read_back)
{
    size_t lens[] = {0, 1, 31, 32, 95, 96, 255, 256, 300};
    char text[2048];
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        char name[301];
        memset(name, 'n', lens[i]);
        name[lens[i]] = 0;
        snprintf(text, sizeof text, "{\"tsmId\":1,\"tsmEv\":1,\"tsmTuid\":\"T\",\"%s\":\"v\"}",
                 name);
        round_trip(text, "unassigned");
    }
}

Test(member, api_json_is_the_same_as_from_the_earlier_format)
{
    round_trip(messages[0], "unassigned");
    proto_buf_t a = PROTO_BUF_INIT, b = PROTO_BUF_INIT;
    cr_assert_eq(proto_mpjson_append(&a, out.data, out.len), 0);
    cr_assert_eq(proto_mpjson_append(&b, map.data, map.len), 0);
    proto_buf_putc(&a, 0);
    proto_buf_putc(&b, 0);
    cr_assert_str_eq(a.data, b.data);
    cr_assert_str_eq(a.data,
                     "{\"tsmId\":12100,\"tsmEv\":10,\"tsmTuid\":\"TSSN0000000016919\",\"tsmGw\":"
                     "\"TSGW0000000000067\",\"tsmTs\":1796313756,\"temp\":4.8,\"hum\":81.8,"
                     "\"pres\":1038.6,\"lux\":11429,\"deploymentGroupId\":\"unassigned\"}");
    proto_buf_free(&a);
    proto_buf_free(&b);
}

/* Redis keeps a ZSET in its compact listpack encoding only while every
 * member is at most zset-max-listpack-value (64) bytes. */
Test(member, the_fleet_messages_fit_the_listpack_limit)
{
    for (size_t i = 0; i < 5; i++) {
        round_trip(messages[i], "unassigned");
        cr_assert_leq(member.len, 64, "%s: %zu bytes", messages[i], member.len);
    }
    round_trip(messages[0], "unassigned");
    cr_assert_leq(member.len, 56, "environment message: %zu bytes (156 as a map)", member.len);
}

Test(member, earlier_members_read_as_they_are)
{
    cr_assert_eq(decode(messages[0]), 1);
    earlier_form(&map, &got.msg[0], "fleet-a");
    out.len = 0;
    cr_assert_eq(proto_member_to_msgpack(&out, map.data, map.len, "TSSN0000000016919", 17), 0);
    cr_assert_eq(out.len, map.len);
    cr_assert_eq(memcmp(out.data, map.data, map.len), 0);
    /* a map of 16 fields or more starts with map16 */
    proto_buf_t big = PROTO_BUF_INIT;
    proto_mp_put_map(&big, 16);
    for (int i = 0; i < 16; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        proto_mp_put_str(&big, k, strlen(k));
        proto_mp_put_int(&big, i);
    }
    out.len = 0;
    cr_assert_eq(proto_member_to_msgpack(&out, big.data, big.len, "T", 1), 0);
    cr_assert_eq(out.len, big.len);
    proto_buf_free(&big);
}

static void encode_text(proto_buf_t *buf, const char *text, const char *group)
{
    cr_assert_eq(decode(text), 1, "%s", text);
    buf->len = 0;
    proto_member_encode(buf, &got.msg[0], group, strlen(group));
}

static bool same(const proto_buf_t *a, const proto_buf_t *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* ZADD keeps one member per distinct byte string: the same message must
 * give the same bytes, and messages that differ in anything (the time only,
 * the group, the order of the fields) different ones. */
Test(member, same_message_same_member_and_only_then)
{
    proto_buf_t a = PROTO_BUF_INIT, b = PROTO_BUF_INIT;
    encode_text(&a, messages[1], "unassigned");
    encode_text(&b, messages[1], "unassigned");
    cr_assert(same(&a, &b));
    encode_text(&b,
                "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"TSGW0000000000299\",\"tsmTs\":"
                "1796313793,\"uptime\":5,\"load\":2.66,\"rssi\":-49,\"memFree\":455282}",
                "unassigned");
    cr_assert(!same(&a, &b), "only tsmTs differs");
    encode_text(&b, messages[1], "fleet-a");
    cr_assert(!same(&a, &b), "only the group differs");
    encode_text(&b,
                "{\"tsmEv\":10,\"tsmId\":1110,\"tsmTuid\":\"TSGW0000000000299\",\"tsmTs\":"
                "1796313733,\"uptime\":5,\"load\":2.66,\"rssi\":-49,\"memFree\":455282}",
                "unassigned");
    cr_assert(!same(&a, &b), "only the order differs");
    encode_text(&b,
                "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"TSGW0000000000299\",\"tsmTs\":"
                "1796313733,\"uptime\":5,\"load\":2.660000001,\"rssi\":-49,\"memFree\":455282}",
                "unassigned");
    cr_assert(!same(&a, &b), "a float differs in its last digits");
    proto_buf_free(&a);
    proto_buf_free(&b);
}

/* Every order of six fields (720) reads back in that order. */
Test(member, every_field_order_reads_back_in_its_order)
{
    const char *fields[] = {"\"tsmId\":1110",
                            "\"tsmEv\":10",
                            "\"tsmTuid\":\"TSGW01234\"",
                            "\"tsmTs\":17.5",
                            "\"tsmGw\":\"TSGW0000000000067\"",
                            "\"x\":-3.25"};
    int idx[6] = {0, 1, 2, 3, 4, 5};
    int c[6] = {0};
    int n = 0;
    for (int i = 0; i < 6;) { /* Heap's algorithm */
        char text[256] = "{";
        for (int k = 0; k < 6; k++) {
            if (k) strcat(text, ",");
            strcat(text, fields[idx[k]]);
        }
        strcat(text, "}");
        round_trip(text, n % 2 ? "g1" : "unassigned");
        n++;
        while (i < 6 && c[i] >= i)
            c[i++] = 0;
        if (i == 6) break;
        int j = i % 2 ? c[i] : 0, t = idx[j];
        idx[j] = idx[i], idx[i] = t;
        c[i]++;
        i = 0;
    }
    cr_assert_eq(n, 720);
}

Test(member, malformed_members_are_refused_and_leave_the_buffer)
{
    round_trip(messages[0], "fleet-a");
    proto_buf_puts(&out, "kept");
    size_t before = out.len;
    /* every truncation of a compact member that cuts an entry is refused */
    size_t refused = 0;
    for (size_t len = 1; len < member.len; len++) {
        int r = proto_member_to_msgpack(&out, member.data, len, "TSSN0000000016919", 17);
        if (r < 0) {
            refused++;
            cr_assert_eq(out.len, before, "truncated at %zu", len);
        } else {
            out.len = before;
        }
    }
    cr_assert_gt(refused, member.len / 2, "%zu of %zu truncations refused", refused, member.len);
    const struct {
        const char *bytes;
        size_t len;
        const char *what;
    } bad[] = {
        {"", 0, "empty"},
        {"\x02\x00\x01", 3, "unknown version"},
        {"\x01\x11\xa1g\x00\x01", 6, "an entry after the group"},
        {"\x01\x0e\x01", 3, "a name code outside the dictionary"},
        {"\x01\x80\x01", 3, "a name code past the short names"},
        {"\x01\x25"
         "ab",
         4, "a short name running past the end"},
        {"\x01\x00\xc4\xff\xff", 5, "a scaled float whose number does not end"},
        {"\x01\x00\xd8\x10T\x80\xad\xe2\x04", 9, "more digits than the code says"},
        {"\x01\x00\xc1", 3, "0xc1"},
        {"\x81\xa1k", 3, "an earlier map cut short"},
        {"\x81\xa1k\x01\x02", 5, "an earlier map with trailing bytes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(proto_member_to_msgpack(&out, bad[i].bytes, bad[i].len, "T", 1), -1, "%s",
                     bad[i].what);
        cr_assert_eq(out.len, before, "%s", bad[i].what);
    }
}
