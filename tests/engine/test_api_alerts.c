/* test_api_alerts.c - GET /things/alerts, /things/alerts/count and
 * /things/{tuid}/alerts, against a real redis-server. */
#include "api_harness.h"

TestSuite(api_alerts, .init = h_setup, .fini = h_teardown);

Test(api_alerts, count_is_a_string_and_list_is_sorted)
{
    h_start();
    h_resp_t r = h_request(HTTP_GET, "/things/alerts/count", NULL);
    cr_assert_str_eq(r.body, "{\"data\":{\"alert_count\":\"0\"}}");
    h_resp_free(&r);
    h_cmd_free("SADD %salerting b a c", H.prefix);
    r = h_request(HTTP_GET, "/things/alerts/count", NULL);
    cr_assert_str_eq(r.body, "{\"data\":{\"alert_count\":\"3\"}}");
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/things/alerts", NULL);
    cr_assert_str_eq(r.body, "{\"data\":{\"alerting_tuids\":[\"a\",\"b\",\"c\"]}}");
    h_resp_free(&r);
}

Test(api_alerts, thing_without_windows_is_empty)
{
    h_start();
    h_resp_t r = h_request(HTTP_GET, "/things/T1/alerts", NULL);
    cr_assert_str_eq(r.body, "{\"data\":[]}");
    h_resp_free(&r);
}

static void windows(void)
{
    /* 2019-12-03T07:22:19 = 1575357739 */
    h_cmd_free("ZADD %s{T1}:w:gw 1575357739 1575357739:1575358339", H.prefix);
    h_cmd_free("ZADD %s{T1}:w:hb 0 0:1574403153 1575000000 1575000000:", H.prefix);
}

Test(api_alerts, windows_grouped_per_type_with_open_to_null)
{
    h_start();
    windows();
    h_resp_t r = h_request(HTTP_GET, "/things/T1/alerts", NULL);
    cr_assert_str_eq(
        r.body, "{\"data\":[{\"tuid\":\"T1\",\"alert_type\":\"gateway connection lost\","
                "\"alerts\":[{\"from\":\"2019-12-03T07:22:19\",\"to\":\"2019-12-03T07:32:19\"}]},"
                "{\"tuid\":\"T1\",\"alert_type\":\"heartbeat missed\",\"alerts\":["
                "{\"from\":\"1970-01-01T00:00:00\",\"to\":\"2019-11-22T06:12:33\"},"
                "{\"from\":\"2019-11-29T04:00:00\",\"to\":null}]}]}");
    h_resp_free(&r);
}

Test(api_alerts, overlap_filter_is_inclusive_and_drops_empty_types)
{
    h_start();
    windows();
    /* Only the open heartbeat window reaches past the gateway window's end. */
    h_resp_t r = h_request(HTTP_GET, "/things/T1/alerts?from=1575358340", NULL);
    json_t *d = h_data(&r);
    cr_assert_eq(json_array_size(d), 1, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "alert_type")),
                     "heartbeat missed");
    cr_assert_eq(json_array_size(json_object_get(json_array_get(d, 0), "alerts")), 1);
    h_resp_free(&r);
    /* Both ends inclusive: to == a window's from, from == a window's to. */
    r = h_request(HTTP_GET, "/things/T1/alerts?from=1575358339&to=1575358339", NULL);
    cr_assert_eq(json_array_size(h_data(&r)), 2, "%s", r.body);
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/things/T1/alerts?to=0", NULL);
    cr_assert_eq(json_array_size(h_data(&r)), 1, "%s", r.body);
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/things/T1/alerts?to=-1", NULL);
    cr_assert_str_eq(r.body, "{\"data\":[]}");
    h_resp_free(&r);
}

Test(api_alerts, non_integer_bounds_are_400)
{
    h_start();
    const char *q[] = {"?from=abc", "?to=1.5", "?from=", "?to=99999999999999999999"};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/things/T1/alerts%s", q[i]);
        h_resp_t r = h_request(HTTP_GET, path, NULL);
        h_assert_error(&r, 400);
        h_resp_free(&r);
    }
}
