/* test_json.c - the record decoder on JSON records: every rule of CONTRACT.md
 * section 2 and every hostile class of issue 6, valid and invalid. */
#include "helpers.h"

#include <math.h>

#define BASE "\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"XXXX03X2Z74162459\""
#define MSG(extra) "{" BASE ",\"tsmTs\":1559638241" extra "}"

TestSuite(json, .init = setup, .fini = teardown);

/* ---- valid records ---- */

Test(json, object_gives_its_fields_and_body)
{
    cr_assert_eq(
        decode("{\"tsmId\":1110,\"tsmEv\":10,\"tsmTs\":1559638241,\"tsmTuid\":\"XXXXTUID\","
               "\"tsmGw\":\"XXXXGATEWAYTUID\",\"batl\":74}"),
        1);
    const proto_msg_t *msg = &got.msg[0];
    cr_assert_eq(msg->tsm_id, 1110);
    cr_assert_eq(msg->tsm_ev, 10);
    cr_assert_eq(msg->ts, 1559638241.0);
    cr_assert_eq(msg->ts_sec, 1559638241u);
    cr_assert_str_eq(msg->tuid, "XXXXTUID");
    cr_assert_eq(msg->tuid_len, 8);
    cr_assert_str_eq(msg->gw, "XXXXGATEWAYTUID");
    cr_assert_eq(msg->gw_len, 15);
    cr_assert_eq(msg->flags, PROTO_HAS_GW | PROTO_HAS_BATL);
    cr_assert_eq(msg->batl, 74.0);
    cr_assert_eq(msg->nfields, 6);
    assert_one_msg("{\"tsmId\":1110,\"tsmEv\":10,\"tsmTs\":1559638241,\"tsmTuid\":\"XXXXTUID\","
                   "\"tsmGw\":\"XXXXGATEWAYTUID\",\"batl\":74}");
}

Test(json, body_keeps_dynamic_fields_in_order_and_type)
{
    decode(MSG(",\"f\":5.0,\"g\":0.1,\"i\":-7,\"u\":18446744073709551615,\"s\":\"x\\\"y\","
               "\"b\":true,\"c\":false,\"n\":null,\"a\":[1,[2,{\"k\":[]}]],\"o\":{\"z\":{}}"));
    assert_one_msg("{" BASE ",\"tsmTs\":1559638241,\"f\":5.0,\"g\":0.1,\"i\":-7,"
                   "\"u\":18446744073709551615,\"s\":\"x\\\"y\",\"b\":true,\"c\":false,"
                   "\"n\":null,\"a\":[1,[2,{\"k\":[]}]],\"o\":{\"z\":{}}}");
    cr_assert_eq(got.msg[0].nfields, 14);
}

Test(json, leading_blanks_are_skipped)
{
    decode(" \t\r\n" MSG(""));
    assert_one_msg("{" BASE ",\"tsmTs\":1559638241}");
}

Test(json, optional_fields_are_extracted)
{
    decode(MSG(
        ",\"batl\":86.5,\"lat\":65.01,\"lon\":25.52,\"swVersion\":\"2019.11.15.2_ts_pod3wp34\""));
    cr_assert_eq(got.nmsg, 1);
    const proto_msg_t *msg = &got.msg[0];
    cr_assert_eq(msg->flags, PROTO_HAS_BATL | PROTO_HAS_LOC | PROTO_HAS_VER);
    cr_assert_eq(msg->batl, 86.5);
    cr_assert_eq(msg->lat, 65.01);
    cr_assert_eq(msg->lon, 25.52);
    cr_assert_eq(msg->ver_len, 24);
    cr_assert(memcmp(msg->ver, "2019.11.15.2_ts_pod3wp34", 24) == 0);
    cr_assert(msg->ver > (const char *)msg->body &&
              msg->ver + msg->ver_len <= (const char *)msg->body + msg->body_len);
}

Test(json, optional_fields_of_another_type_stay_in_the_body_only)
{
    decode(MSG(",\"batl\":\"86\",\"lat\":65.01,\"swVersion\":2019"));
    assert_one_msg("{" BASE
                   ",\"tsmTs\":1559638241,\"batl\":\"86\",\"lat\":65.01,\"swVersion\":2019}");
    cr_assert_eq(got.msg[0].flags, 0, "lat without lon is no location");
    cr_assert_null(got.msg[0].ver);
}

Test(json, null_gateway_is_no_gateway)
{
    decode(MSG(",\"tsmGw\":null"));
    cr_assert_eq(got.nmsg, 1);
    cr_assert_eq(got.msg[0].flags & PROTO_HAS_GW, 0);
    cr_assert_eq(got.msg[0].gw_len, 0);
}

Test(json, fraction_of_tsmTs_is_kept_and_dropped_for_the_second)
{
    decode("{" BASE ",\"tsmTs\":1559638241.75}");
    cr_assert_eq(got.nmsg, 1);
    cr_assert_eq(got.msg[0].ts, 1559638241.75);
    cr_assert_eq(got.msg[0].ts_sec, 1559638241u);
    cr_assert_str_eq(got.json[0], "{" BASE ",\"tsmTs\":1559638241.75}");
}

Test(json, missing_tsmTs_takes_the_kafka_timestamp_in_whole_seconds)
{
    decode("{\"tsmId\":12100,\"tsmEv\":18,\"tsmTuid\":\"XXXX03X2Z74162459\"}");
    cr_assert_eq(got.nmsg, 1);
    cr_assert_eq(got.msg[0].ts_sec, (uint32_t)(KAFKA_TS_MS / 1000));
    cr_assert_eq(got.msg[0].ts, (double)(KAFKA_TS_MS / 1000));
    cr_assert_eq(got.msg[0].flags, PROTO_TS_FROM_KAFKA);
    cr_assert_eq(got.msg[0].nfields, 4);
    cr_assert_str_eq(got.json[0], "{\"tsmId\":12100,\"tsmEv\":18,\"tsmTuid\":\"XXXX03X2Z74162459\","
                                  "\"tsmTs\":1700000000}");
}

Test(json, missing_tsmTs_without_a_kafka_timestamp_is_missing_field)
{
    const char *text = "{\"tsmId\":12100,\"tsmEv\":18,\"tsmTuid\":\"A\"}";
    got_reset();
    proto_decode(dec, text, strlen(text), -1, &got_sink);
    assert_rejected(PROTO_REASON_MISSING_FIELD);
}

Test(json, timestamps_ten_years_ahead_or_behind_are_accepted)
{
    decode("{" BASE ",\"tsmTs\":2000000000}"); /* 2033 */
    cr_assert_eq(got.nmsg, 1);
    decode("{" BASE ",\"tsmTs\":1200000000}"); /* 2008 */
    cr_assert_eq(got.nmsg, 1);
    decode("{" BASE ",\"tsmTs\":0}");
    cr_assert_eq(got.nmsg, 1);
    decode("{" BASE ",\"tsmTs\":4294967295.5}");
    cr_assert_eq(got.nmsg, 1);
    cr_assert_eq(got.msg[0].ts_sec, 4294967295u);
}

Test(json, bad_timestamps_are_rejected)
{
    const char *bad[] = {"-1", "-0.5", "4294967296", "4294967296.0", "1e10", "9223372036854775808"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[256];
        snprintf(text, sizeof text, "{" BASE ",\"tsmTs\":%s}", bad[i]);
        decode(text);
        assert_rejected(PROTO_REASON_BAD_TIMESTAMP);
    }
}

Test(json, array_elements_are_judged_alone_in_order)
{
    cr_assert_eq(decode("[" MSG("") ",{\"tsmId\":1,\"tsmEv\":1,\"tsmTuid\":\"bad tuid\"},3,"
                                    "{\"tsmId\":1100,\"tsmEv\":10,\"tsmTuid\":\"B\",\"tsmTs\":5}]"),
                 2);
    cr_assert_eq(got.nrej, 2);
    cr_assert_eq(got.rej[0], PROTO_REASON_BAD_TUID);
    cr_assert_eq(got.rej[1], PROTO_REASON_NOT_OBJECT);
    cr_assert(memcmp(got.order, (int[]){'m', 'r', 'r', 'm'}, 4 * sizeof(int)) == 0);
    cr_assert_str_eq(got.msg[1].tuid, "B");
}

Test(json, every_body_of_a_record_stays_valid_until_the_next_decode)
{
    decode("[" MSG(",\"k\":1") "," MSG(",\"k\":2") "," MSG(",\"k\":3") "]");
    cr_assert_eq(got.nmsg, 3);
    for (int i = 0; i < 3; i++) {
        proto_buf_t buf = PROTO_BUF_INIT;
        cr_assert_eq(proto_mpjson_append_pairs(&buf, got.msg[i].body, got.msg[i].body_len,
                                               got.msg[i].nfields),
                     0);
        proto_buf_putc(&buf, '\0');
        cr_assert_str_eq(buf.data, got.json[i]);
        proto_buf_free(&buf);
    }
}

Test(json, same_record_gives_the_same_body_bytes)
{
    const char *text = MSG(",\"x\":[1.5,\"y\"]");
    decode(text);
    uint8_t first[256];
    uint32_t len = got.msg[0].body_len;
    memcpy(first, got.msg[0].body, len);
    decode(text);
    cr_assert_eq(got.msg[0].body_len, len);
    cr_assert(memcmp(first, got.msg[0].body, len) == 0);
}

/* ---- empty, size, format ---- */

Test(json, null_and_empty_records_are_empty)
{
    decode_n(NULL, 10);
    assert_rejected(PROTO_REASON_EMPTY);
    decode_n("{}", 0);
    assert_rejected(PROTO_REASON_EMPTY);
    decode(" \r\n\t");
    assert_rejected(PROTO_REASON_EMPTY);
    decode("[]");
    assert_rejected(PROTO_REASON_EMPTY);
}

static char *padded_message(size_t size)
{
    /* {BASE,"tsmTs":1,"pad":"xxx...x"} of exactly size bytes. */
    const char *head = "{" BASE ",\"tsmTs\":1,\"pad\":\"";
    char *text = malloc(size + 1);
    size_t hl = strlen(head);
    memcpy(text, head, hl);
    memset(text + hl, 'x', size - hl - 2);
    memcpy(text + size - 2, "\"}", 3);
    return text;
}

Test(json, one_mebibyte_passes_one_byte_more_is_too_large)
{
    char *text = padded_message(PROTO_MAX_RECORD);
    cr_assert_eq(decode_n(text, PROTO_MAX_RECORD), 1);
    free(text);
    text = padded_message(PROTO_MAX_RECORD + 1);
    decode_n(text, PROTO_MAX_RECORD + 1);
    assert_rejected(PROTO_REASON_TOO_LARGE);
    free(text);
}

Test(json, other_first_bytes_are_bad_format)
{
    const char *bad[] = {"tsmId", "\"{}\"", "123", "null", "\xef\xbb\xbf{}", "<xml/>", "\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        decode(bad[i]);
        assert_rejected(PROTO_REASON_BAD_FORMAT);
    }
}

/* ---- syntax: the whole record goes, once ---- */

Test(json, syntax_errors_reject_the_whole_record_once)
{
    const char *bad[] = {
        "{tsmId:1}",                     /* not JSON */
        "{\"tsmId\":1110,\"tsmEv\":10,", /* truncated */
        "{\"tsmId\":1110",               /* truncated */
        "[" MSG("") "," MSG(""),         /* truncated array */
        MSG("") "x",                     /* trailing garbage */
        MSG("") MSG(""),                 /* two documents */
        "[" MSG("") "] ]",               /* trailing bracket */
        "{\"a\":NaN}",                   /* NaN */
        "{\"a\":Infinity}",
        "{\"a\":'x'}",                /* single quotes */
        "{\"a\":1,}",                 /* trailing comma */
        "{\"a\":\"\\ud800\"}",        /* lone surrogate */
        "{\"a\":\"\\udc00\\ud800\"}", /* reversed pair */
        "{\"a\":\"\\x41\"}",          /* bad escape */
        "{\"a\":\"tab\there\"}",      /* unescaped control character */
        "[" MSG("") ",{\"a\":tru}]",  /* one bad element in an array */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        decode(bad[i]);
        cr_assert_eq(got.nmsg, 0, "%s", bad[i]);
        cr_assert_eq(got.nrej, 1, "%s", bad[i]);
        cr_assert_eq(got.rej[0], PROTO_REASON_BAD_JSON, "%s: %s", bad[i],
                     proto_reason_name(got.rej[0]));
    }
}

Test(json, unrepresentable_numbers_are_bad_number)
{
    const char *bad[] = {
        MSG(",\"a\":1e999"),
        MSG(",\"a\":-1e999"),
        MSG(",\"a\":18446744073709551616"),
        MSG(",\"a\":-9223372036854775809"),
        "{\"tsmId\":18446744073709551616}",
        "[" MSG("") "," MSG(",\"a\":1e400") "]",
        /* simdjson's number errors also cover malformed numbers: */
        "{\"a\":-Infinity}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":-}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        decode(bad[i]);
        cr_assert_eq(got.nmsg, 0, "%s", bad[i]);
        cr_assert_eq(got.nrej, 1, "%s", bad[i]);
        cr_assert_eq(got.rej[0], PROTO_REASON_BAD_NUMBER, "%s: %s", bad[i],
                     proto_reason_name(got.rej[0]));
    }
}

Test(json, invalid_utf8_is_bad_utf8)
{
    const char *bad[] = {
        MSG(",\"a\":\"\xff\""),             /* never valid */
        MSG(",\"a\":\"\xc3\""),             /* truncated sequence */
        MSG(",\"a\":\"\xc0\xaf\""),         /* overlong '/' */
        MSG(",\"a\":\"\xed\xa0\x80\""),     /* encoded surrogate */
        MSG(",\"a\":\"\xf4\x90\x80\x80\""), /* above U+10FFFF */
        MSG(",\"\xfe\":1"),                 /* in a key */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        decode(bad[i]);
        assert_rejected(PROTO_REASON_BAD_UTF8);
    }
    decode(MSG(",\"a\":\"h\xc3\xa4m\xc3\xa4r\xc3\xa4 \xe2\x82\xac \xf0\x9f\x98\x80\""));
    cr_assert_eq(got.nmsg, 1, "valid UTF-8 passes");
}

/* ---- per message: structure ---- */

/* A message nested `levels` deep: the message object is level 1 (or 2 inside
 * a top-level array); each "d" adds one. */
static char *deep_message(int levels, char open, char close)
{
    size_t cap = 256 + (size_t)levels * 8;
    char *text = malloc(cap);
    size_t n = (size_t)snprintf(text, cap, "{" BASE ",\"tsmTs\":1");
    if (levels > 1) n += (size_t)snprintf(text + n, cap - n, ",\"d\":");
    for (int i = 2; i <= levels; i++) {
        if (open == '{')
            n += (size_t)snprintf(text + n, cap - n, i < levels ? "{\"d\":" : "{");
        else
            n += (size_t)snprintf(text + n, cap - n, "[");
    }
    for (int i = 2; i <= levels; i++)
        text[n++] = close;
    text[n++] = '}';
    text[n] = '\0';
    return text;
}

Test(json, sixteen_levels_pass_seventeen_are_too_deep)
{
    char *text = deep_message(16, '{', '}');
    cr_assert_eq(decode(text), 1, "%s", text);
    free(text);
    text = deep_message(17, '{', '}');
    decode(text);
    assert_rejected(PROTO_REASON_TOO_DEEP);
    free(text);
    text = deep_message(16, '[', ']');
    cr_assert_eq(decode(text), 1, "%s", text);
    free(text);
    text = deep_message(17, '[', ']');
    decode(text);
    assert_rejected(PROTO_REASON_TOO_DEEP);
    free(text);
}

Test(json, top_level_array_counts_as_level_one)
{
    char *deep15 = deep_message(15, '{', '}'), *deep16 = deep_message(16, '{', '}');
    char text[4096];
    snprintf(text, sizeof text, "[%s,%s," MSG("") "]", deep15, deep16);
    cr_assert_eq(decode(text), 2);
    cr_assert_eq(got.nrej, 1);
    cr_assert_eq(got.rej[0], PROTO_REASON_TOO_DEEP);
    cr_assert(memcmp(got.order, (int[]){'m', 'r', 'm'}, 3 * sizeof(int)) == 0);
    free(deep15);
    free(deep16);
}

Test(json, thousands_of_levels_are_too_deep)
{
    size_t levels = 100000;
    char *text = malloc(2 * levels + 1);
    memset(text, '[', levels);
    memset(text + levels, ']', levels);
    text[2 * levels] = '\0';
    decode(text);
    assert_rejected(PROTO_REASON_TOO_DEEP);
    free(text);
}

Test(json, duplicate_keys_are_rejected_at_every_depth)
{
    const char *bad[] = {
        "{" BASE ",\"tsmTs\":1,\"tsmTs\":2}",    "{" BASE ",\"tsmId\":1111}",
        MSG(",\"o\":{\"a\":1,\"b\":2,\"a\":3}"), MSG(",\"o\":[{\"x\":{\"a\":1,\"a\":1}}]"),
        MSG(",\"a\":1,\"\\u0061\":2"), /* the same key once unescaped */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        decode(bad[i]);
        assert_rejected(PROTO_REASON_DUPLICATE_KEY);
    }
    decode(MSG(",\"o\":{\"a\":1},\"p\":{\"a\":1},\"a\":{\"a\":{\"a\":1}}"));
    cr_assert_eq(got.nmsg, 1, "equal keys in different objects are fine");
}

/* An object of n keys k0..k(n-1) (plus the required ones), with key `dup`
 * repeated at the end when dup >= 0. */
static char *wide_message(int n, int dup, bool nested)
{
    size_t cap = 128 + (size_t)n * 24;
    char *text = malloc(cap);
    size_t len = (size_t)snprintf(text, cap, "{" BASE ",\"tsmTs\":1%s", nested ? ",\"o\":{" : "");
    for (int i = 0; i < n; i++)
        len +=
            (size_t)snprintf(text + len, cap - len, "%s\"k%d\":%d", i || !nested ? "," : "", i, i);
    if (dup >= 0) len += (size_t)snprintf(text + len, cap - len, ",\"k%d\":0", dup);
    snprintf(text + len, cap - len, "%s}", nested ? "}" : "");
    return text;
}

Test(json, duplicate_keys_in_large_objects_are_found)
{
    int sizes[] = {15, 16, 17, 100, 5000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        for (int nested = 0; nested < 2; nested++) {
            char *text = wide_message(sizes[s], -1, nested);
            cr_assert_eq(decode(text), 1, "%d keys, no duplicate", sizes[s]);
            free(text);
            int dups[] = {0, sizes[s] / 2, sizes[s] - 1};
            for (int d = 0; d < 3; d++) {
                text = wide_message(sizes[s], dups[d], nested);
                decode(text);
                assert_rejected(PROTO_REASON_DUPLICATE_KEY);
                free(text);
            }
        }
    }
}

Test(json, nul_in_a_string_or_key_is_nul_char)
{
    const char *bad[] = {
        MSG(",\"a\":\"x\\u0000y\""),
        MSG(",\"a\\u0000\":1"),
        MSG(",\"a\":[\"\\u0000\"]"),
        "{\"tsmId\":1,\"tsmEv\":1,\"tsmTuid\":\"ab\\u0000\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        decode(bad[i]);
        assert_rejected(PROTO_REASON_NUL_CHAR);
    }
    decode(MSG(",\"a\":\"\\u0001\""));
    assert_one_msg("{" BASE ",\"tsmTs\":1559638241,\"a\":\"\\u0001\"}");
}

Test(json, non_objects_are_not_object)
{
    decode("[1,\"x\",null,[" MSG("") "]]");
    cr_assert_eq(got.nmsg, 0);
    cr_assert_eq(got.nrej, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(got.rej[i], PROTO_REASON_NOT_OBJECT);
}

/* ---- per message: required fields ---- */

Test(json, missing_required_fields_are_missing_field)
{
    const char *bad[] = {
        "{\"tsmEv\":10,\"tsmTuid\":\"A\",\"tsmTs\":1}",
        "{\"tsmId\":1110,\"tsmTuid\":\"A\",\"tsmTs\":1}",
        "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTs\":1}",
        "{}",
        "{\"tsmid\":1110,\"tsmEv\":10,\"tsmTuid\":\"A\"}", /* names are case-sensitive */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        decode(bad[i]);
        assert_rejected(PROTO_REASON_MISSING_FIELD);
    }
}

Test(json, mistyped_required_fields_are_bad_field)
{
    const char *bad[] = {
        "{\"tsmId\":\"1110\",\"tsmEv\":10,\"tsmTuid\":\"A\"}",
        "{\"tsmId\":5.0,\"tsmEv\":10,\"tsmTuid\":\"A\"}",
        "{\"tsmId\":1110.5,\"tsmEv\":10,\"tsmTuid\":\"A\"}",
        "{\"tsmId\":11e2,\"tsmEv\":10,\"tsmTuid\":\"A\"}",
        "{\"tsmId\":9223372036854775808,\"tsmEv\":10,\"tsmTuid\":\"A\"}",
        "{\"tsmId\":1110,\"tsmEv\":null,\"tsmTuid\":\"A\"}",
        "{\"tsmId\":1110,\"tsmEv\":true,\"tsmTuid\":\"A\"}",
        "{\"tsmId\":1110,\"tsmEv\":[10],\"tsmTuid\":\"A\"}",
        "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":123}",
        "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":null}",
        "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"A\",\"tsmTs\":\"1559638241\"}",
        "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"A\",\"tsmTs\":null}",
        "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"A\",\"tsmGw\":42}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        decode(bad[i]);
        cr_assert_eq(got.nrej, 1, "%s", bad[i]);
        cr_assert_eq(got.rej[0], PROTO_REASON_BAD_FIELD, "%s: %s", bad[i],
                     proto_reason_name(got.rej[0]));
    }
    decode("{\"tsmId\":-1,\"tsmEv\":0,\"tsmTuid\":\"A\",\"tsmTs\":1}");
    cr_assert_eq(got.nmsg, 1, "negative and zero integers are integers");
    cr_assert_eq(got.msg[0].tsm_id, -1);
}

static const char *bad_tuids[] = {
    "",      "a b",
    "a\\rb", "a\\nb",
    "a:b",   "{a}",
    "a}",    "a*",
    "a/b",   "a\\u00e4",
    "a\\tb", "%",
    "a'b",   "12345678901234567890123456789012345678901234567890123456789012345", /* 65 */
};

Test(json, tuids_outside_the_rule_are_bad_tuid)
{
    for (size_t i = 0; i < sizeof bad_tuids / sizeof *bad_tuids; i++) {
        char text[256];
        snprintf(text, sizeof text, "{\"tsmId\":1,\"tsmEv\":1,\"tsmTuid\":\"%s\"}", bad_tuids[i]);
        decode(text);
        cr_assert_eq(got.nrej, 1, "%s", text);
        cr_assert_eq(got.rej[0], PROTO_REASON_BAD_TUID, "%s: %s", text,
                     proto_reason_name(got.rej[0]));
    }
}

Test(json, gateways_outside_the_rule_are_bad_gateway)
{
    for (size_t i = 0; i < sizeof bad_tuids / sizeof *bad_tuids; i++) {
        char text[256];
        snprintf(text, sizeof text, MSG(",\"tsmGw\":\"%s\""), bad_tuids[i]);
        decode(text);
        cr_assert_eq(got.nrej, 1, "%s", text);
        cr_assert_eq(got.rej[0], PROTO_REASON_BAD_GATEWAY, "%s", text);
    }
}

Test(json, tuids_inside_the_rule_pass)
{
    const char *good[] = {
        "a",
        "..",
        "a..b",
        "-",
        "_._",
        "XXXX03X2Z74162459",
        "TSGW-01.eu_north",
        "1234567890123456789012345678901234567890123456789012345678901234", /* 64 */
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"tsmId\":1,\"tsmEv\":1,\"tsmTuid\":\"%s\",\"tsmGw\":\"%s\",\"tsmTs\":1}",
                 good[i], good[i]);
        cr_assert_eq(decode(text), 1, "%s", text);
        cr_assert_str_eq(got.msg[0].tuid, good[i]);
        cr_assert_str_eq(got.msg[0].gw, good[i]);
        cr_assert_eq(got.msg[0].tuid_len, strlen(good[i]));
    }
}

/* ---- names ---- */

Test(json, reason_names_are_the_metric_labels)
{
    cr_assert_str_eq(proto_reason_name(PROTO_REASON_EMPTY), "empty");
    cr_assert_str_eq(proto_reason_name(PROTO_REASON_BAD_JSON), "bad_json");
    cr_assert_str_eq(proto_reason_name(PROTO_REASON_BAD_TIMESTAMP), "bad_timestamp");
    cr_assert_str_eq(proto_reason_name(PROTO_REASON_COUNT), "unknown");
    cr_assert_str_eq(proto_reason_name((proto_reason_t)-1), "unknown");
    for (int r = 0; r < PROTO_REASON_COUNT; r++) {
        const char *name = proto_reason_name((proto_reason_t)r);
        cr_assert(strlen(name) > 0 &&
                  strspn(name, "abcdefghijklmnopqrstuvwxyz_0123456789") == strlen(name));
    }
}

Test(json, tuid_valid_checks_length_and_alphabet)
{
    cr_assert(proto_tuid_valid("abc", 3));
    cr_assert(proto_tuid_valid("abc def", 3), "only the first len bytes count");
    cr_assert_not(proto_tuid_valid("abc", 0));
    cr_assert_not(proto_tuid_valid(NULL, 3));
    cr_assert_not(proto_tuid_valid("a\0b", 3));
    char long_tuid[66];
    memset(long_tuid, 'a', 65);
    cr_assert(proto_tuid_valid(long_tuid, 64));
    cr_assert_not(proto_tuid_valid(long_tuid, 65));
}
