/* test_api_things.c - GET /things/{tuid} and the thing's alerts, against a
 * real redis-server. */
#include "api_harness.h"

TestSuite(api_things, .init = h_setup, .fini = h_teardown);

Test(api_things, unknown_thing_is_404)
{
    h_start();
    h_resp_t r = h_request(HTTP_GET, "/things/NOPE", NULL);
    h_assert_error(&r, 404);
    h_resp_free(&r);
}

Test(api_things, known_thing_has_the_reference_shape)
{
    h_start();
    h_cmd_free("HSET %s{T1}:thing timestamp 1586952604 battery_level 86 lat 65.01 lon 25.52 "
               "gateway_tuid GW1 version 2019.11.15.2 t_gw 1586952604 hb_from 5",
               H.prefix);
    h_resp_t r = h_request(HTTP_GET, "/things/T1", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body, "{\"data\":{\"battery_level\":86,\"timestamp\":1586952604,"
                             "\"location\":{\"lat\":65.01,\"lon\":25.52},\"gateway_tuid\":\"GW1\","
                             "\"version\":\"2019.11.15.2\"}}");
    h_resp_free(&r);
}

Test(api_things, registered_thing_has_nulls)
{
    h_start();
    h_cmd_free("HSET %s{T2}:thing status installed status_ts 100", H.prefix);
    h_cmd_free("HSET %s{T3}:thing lat 1.5", H.prefix); /* lat without lon: no location */
    h_resp_t r = h_request(HTTP_GET, "/things/T2", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body, "{\"data\":{\"battery_level\":null,\"timestamp\":null,"
                             "\"location\":null,\"gateway_tuid\":null,\"version\":null}}");
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/things/T3", NULL);
    cr_assert(json_is_null(json_object_get(h_data(&r), "location")), "%s", r.body);
    h_resp_free(&r);
}

Test(api_things, base_path_serves_the_api_under_it)
{
    h_set_cfg("http.base_path", "/prod/v1");
    h_start();
    h_cmd_free("HSET %s{T1}:thing timestamp 5", H.prefix);
    h_resp_t r = h_request(HTTP_GET, "/prod/v1/things/T1", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/things/T1", NULL);
    h_assert_error(&r, 404);
    h_resp_free(&r);
    r = h_request_raw(HTTP_GET, "/healthz", NULL, NULL, NULL);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
}

Test(api_things, content_type_on_get_without_body_is_accepted)
{
    h_start();
    h_cmd_free("HSET %s{T1}:thing timestamp 5", H.prefix);
    char auth[96];
    snprintf(auth, sizeof auth, "Bearer %s", H.token);
    h_resp_t r = h_request_raw(HTTP_GET, "/things/T1", "text/html", auth, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    h_resp_free(&r);
}
