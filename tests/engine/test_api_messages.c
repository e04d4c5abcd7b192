/* test_api_messages.c - GET /things/{tuid}/messages against a real
 * redis-server holding MessagePack members. */
#include "api_harness.h"

#include <msgpack.h>

/* Stores one message {tsmId, tsmEv, tsmTs, tsmTuid, deploymentGroupId, batl}. */
static void store(int64_t id, int64_t ev, double ts, bool frac)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    msgpack_pack_str_with_body(&pk, "tsmId", 5);
    msgpack_pack_int64(&pk, id);
    msgpack_pack_str_with_body(&pk, "tsmEv", 5);
    msgpack_pack_int64(&pk, ev);
    msgpack_pack_str_with_body(&pk, "tsmTs", 5);
    if (frac)
        msgpack_pack_double(&pk, ts);
    else
        msgpack_pack_int64(&pk, (int64_t)ts);
    msgpack_pack_str_with_body(&pk, "tsmTuid", 7);
    msgpack_pack_str_with_body(&pk, "T1", 2);
    msgpack_pack_str_with_body(&pk, "deploymentGroupId", 17);
    msgpack_pack_str_with_body(&pk, "unassigned", 10);
    msgpack_pack_str_with_body(&pk, "batl", 4);
    msgpack_pack_double(&pk, 74.5);
    h_cmd_free("ZADD %s{T1}:msgs %f %b", H.prefix, ts, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static void fleet(void)
{
    store(1110, 10, 100, false);
    store(1110, 11, 200, false);
    store(1111, 10, 300, false);
    store(1112, 12, 400.75, true);
}

TestSuite(api_messages, .init = h_setup, .fini = h_teardown);

Test(api_messages, limit_is_required_and_bounded)
{
    h_start();
    const char *q[] = {"", "?limit=0", "?limit=1001", "?limit=x", "?limit=1.0"};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/things/T1/messages%s", q[i]);
        h_resp_t r = h_request(HTTP_GET, path, NULL);
        h_assert_error(&r, 400);
        h_resp_free(&r);
    }
}

Test(api_messages, thing_without_messages_is_empty)
{
    h_start();
    h_resp_t r = h_request(HTTP_GET, "/things/T1/messages?limit=10", NULL);
    cr_assert_str_eq(r.body, "{\"data\":[]}");
    h_resp_free(&r);
}

Test(api_messages, newest_first_with_every_field)
{
    h_start();
    fleet();
    h_resp_t r = h_request(HTTP_GET, "/things/T1/messages?limit=2", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body, "{\"data\":[{\"tsmId\":1112,\"tsmEv\":12,\"tsmTs\":400.75,"
                             "\"tsmTuid\":\"T1\",\"deploymentGroupId\":\"unassigned\","
                             "\"batl\":74.5},{\"tsmId\":1111,\"tsmEv\":10,\"tsmTs\":300,"
                             "\"tsmTuid\":\"T1\",\"deploymentGroupId\":\"unassigned\","
                             "\"batl\":74.5}]}");
    h_resp_free(&r);
}

static size_t count(const char *query, int64_t first_ts)
{
    char path[128];
    snprintf(path, sizeof path, "/things/T1/messages?%s", query);
    h_resp_t r = h_request(HTTP_GET, path, NULL);
    cr_assert_eq(r.status, 200, "%s: %s", query, r.body);
    size_t n = json_array_size(h_data(&r));
    if (n && first_ts >= 0)
        cr_assert_eq(
            (int64_t)json_number_value(json_object_get(json_array_get(h_data(&r), 0), "tsmTs")),
            first_ts, "%s: %s", query, r.body);
    h_resp_free(&r);
    return n;
}

Test(api_messages, filters_are_applied_before_the_limit)
{
    h_start();
    fleet();
    cr_assert_eq(count("limit=10&messageid=1110", 200), 2);
    cr_assert_eq(count("limit=1&messageid=1110", 200), 1);
    cr_assert_eq(count("limit=10&eventid=10", 300), 2);
    cr_assert_eq(count("limit=10&messageid=1110,1111&eventid=10", 300), 2);
    cr_assert_eq(count("limit=10&messageid=9", -1), 0);
    /* from/to inclusive, in whole seconds (400.75 is in second 400). */
    cr_assert_eq(count("limit=10&from=200&to=300", 300), 2);
    cr_assert_eq(count("limit=10&from=400", 400), 1);
    cr_assert_eq(count("limit=10&to=400", 400), 4);
    cr_assert_eq(count("limit=10&to=399", 300), 3);
}

Test(api_messages, bad_lists_and_bounds_are_400)
{
    h_start();
    const char *q[] = {"messageid=a", "messageid=1,,2", "eventid=1,", "from=x", "to=1e3"};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/things/T1/messages?limit=5&%s", q[i]);
        h_resp_t r = h_request(HTTP_GET, path, NULL);
        h_assert_error(&r, 400);
        h_resp_free(&r);
    }
}
