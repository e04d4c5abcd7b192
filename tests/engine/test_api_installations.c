/* test_api_installations.c - GET and POST /things/{tuid}/installations
 * against a real redis-server, with the on_status hook. */
#include "api_harness.h"

static int status_calls;
static char status_seen[32];

static void on_status(void *arg, const char *tuid, const char *status, uint32_t at)
{
    (void)arg;
    cr_assert_str_eq(tuid, "T1");
    cr_assert_gt(at, 1600000000u);
    snprintf(status_seen, sizeof status_seen, "%s", status);
    status_calls++;
}

static void setup(void)
{
    h_setup();
    status_calls = 0;
    status_seen[0] = '\0';
    H.hooks.on_status = on_status;
}

TestSuite(api_installations, .init = setup, .fini = h_teardown);

Test(api_installations, status_is_recorded_and_told_to_the_detector)
{
    h_start();
    h_resp_t r =
        h_request(HTTP_POST, "/things/T1/installations", "{\"installation_status\":\"installed\"}");
    cr_assert_str_eq(r.body, "{\"data\":{\"tuid\":\"T1\",\"installation_status\":\"installed\"}}");
    h_resp_free(&r);
    cr_assert_eq(status_calls, 1);
    cr_assert_str_eq(status_seen, "installed");
    redisReply *st = h_cmd("HGET %s{T1}:thing status", H.prefix);
    cr_assert_str_eq(st->str, "installed");
    freeReplyObject(st);
    redisReply *u = h_cmd("SISMEMBER %sunheard T1", H.prefix);
    cr_assert_eq(u->integer, 1); /* never heard from */
    freeReplyObject(u);
    /* A registered thing answers GET /things/{tuid}. */
    r = h_request(HTTP_GET, "/things/T1", NULL);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
}

Test(api_installations, history_is_newest_first_with_limit)
{
    h_start();
    h_cmd_free("HSET %s{T1}:thing timestamp 5", H.prefix);
    const char *seq[] = {"new", "installed", "retired"};
    for (int i = 0; i < 3; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"installation_status\":\"%s\"}", seq[i]);
        h_resp_t r = h_request(HTTP_POST, "/things/T1/installations", body);
        cr_assert_eq(r.status, 200, "%s", r.body);
        h_resp_free(&r);
    }
    redisReply *u = h_cmd("SISMEMBER %sunheard T1", H.prefix);
    cr_assert_eq(u->integer, 0); /* heard from: not in unheard */
    freeReplyObject(u);
    h_resp_t r = h_request(HTTP_GET, "/things/T1/installations?limit=2", NULL);
    json_t *d = h_data(&r);
    cr_assert_eq(json_array_size(d), 2, "%s", r.body);
    json_t *e = json_array_get(d, 0);
    cr_assert_str_eq(json_string_value(json_object_get(e, "installation_status")), "retired");
    cr_assert_str_eq(json_string_value(json_object_get(e, "tuid")), "T1");
    cr_assert_str_eq(json_string_value(json_object_get(e, "responsible")), "tester");
    cr_assert(json_is_integer(json_object_get(e, "timestamp")));
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/things/T9/installations", NULL);
    cr_assert_str_eq(r.body, "{\"data\":[]}");
    h_resp_free(&r);
}

Test(api_installations, unknown_status_is_400_and_changes_nothing)
{
    h_start();
    const char *bodies[] = {"{\"installation_status\":\"broken\"}", "{\"installation_status\":1}",
                            "{}", "[\"installed\"]", "{\"installation_status\":\"Installed\"}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        h_resp_t r = h_request(HTTP_POST, "/things/T1/installations", bodies[i]);
        h_assert_error(&r, 400);
        h_resp_free(&r);
    }
    h_resp_t r = h_request(HTTP_GET, "/things/T1/installations?limit=0", NULL);
    h_assert_error(&r, 400);
    h_resp_free(&r);
    cr_assert_eq(status_calls, 0);
}

Test(api_installations, change_is_published_on_the_control_channel)
{
    h_start();
    redisContext *sub = redisConnect("127.0.0.1", h_redis_port());
    cr_assert(sub && !sub->err);
    redisReply *r = redisCommand(sub, "SUBSCRIBE %scontrol", H.prefix);
    freeReplyObject(r);
    h_resp_t resp = h_request(HTTP_POST, "/things/T1/installations",
                              "{\"installation_status\":\"quarantine\"}");
    cr_assert_eq(resp.status, 200);
    h_resp_free(&resp);
    struct timeval tv = {2, 0};
    redisSetTimeout(sub, tv);
    void *msg = NULL;
    cr_assert_eq(redisGetReply(sub, &msg), REDIS_OK);
    redisReply *m = msg;
    cr_assert_eq(m->elements, 3);
    json_t *j = json_loads(m->element[2]->str, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "status");
    cr_assert_str_eq(json_string_value(json_object_get(j, "tuid")), "T1");
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "quarantine");
    cr_assert(json_is_integer(json_object_get(j, "at")), "%s", m->element[2]->str);
    json_decref(j);
    freeReplyObject(m);
    redisFree(sub);
}
