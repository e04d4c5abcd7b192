/* test_api_groups.c - deployment groups and a thing's group against a real
 * redis-server, with the on_group hook. */
#include "api_harness.h"

static int group_calls;
static char group_seen[80];

static void on_group(void *arg, const char *tuid, const char *group)
{
    (void)arg;
    snprintf(group_seen, sizeof group_seen, "%s=%s", tuid, group ? group : "(none)");
    group_calls++;
}

static void setup(void)
{
    h_setup();
    group_calls = 0;
    group_seen[0] = '\0';
    H.hooks.on_group = on_group;
}

TestSuite(api_groups, .init = setup, .fini = h_teardown);

static int post(const char *path, const char *body)
{
    h_resp_t r = h_request(HTTP_POST, path, body);
    int status = r.status;
    if (status != 200) h_assert_error(&r, status);
    h_resp_free(&r);
    return status;
}

Test(api_groups, create_checks_the_id_and_conflicts)
{
    h_start();
    h_resp_t r =
        h_request(HTTP_POST, "/groups",
                  "{\"group_id\":\"testgroup1\",\"group_description\":\"This is a test group\"}");
    cr_assert_str_eq(r.body,
                     "{\"data\":{\"group_id\":\"testgroup1\",\"group_description\":\"This is "
                     "a test group\"}}");
    h_resp_free(&r);
    cr_assert_eq(post("/groups", "{\"group_id\":\"testgroup1\"}"), 409);
    cr_assert_eq(post("/groups", "{\"group_id\":\"unassigned\"}"), 400);
    cr_assert_eq(post("/groups", "{\"group_id\":\"a b\"}"), 400);
    cr_assert_eq(post("/groups", "{\"group_id\":\"\"}"), 400);
    cr_assert_eq(post("/groups", "{\"group_id\":7}"), 400);
    cr_assert_eq(post("/groups", "{\"group_id\":\"g\",\"group_description\":5}"), 400);
    r = h_request(HTTP_POST, "/groups", "{\"group_id\":\"nodesc\"}");
    cr_assert_str_eq(json_string_value(json_object_get(h_data(&r), "group_description")), "");
    h_resp_free(&r);
}

Test(api_groups, list_is_sorted_filtered_and_limited)
{
    h_start();
    cr_assert_eq(post("/groups", "{\"group_id\":\"b\",\"group_description\":\"Oulu site\"}"), 200);
    cr_assert_eq(post("/groups", "{\"group_id\":\"a\",\"group_description\":\"x\"}"), 200);
    cr_assert_eq(post("/groups", "{\"group_id\":\"C-oulu\"}"), 200);
    h_resp_t r = h_request(HTTP_GET, "/groups/", NULL);
    cr_assert_str_eq(r.body, "{\"data\":[{\"group_id\":\"C-oulu\",\"group_description\":\"\"},"
                             "{\"group_id\":\"a\",\"group_description\":\"x\"},"
                             "{\"group_id\":\"b\",\"group_description\":\"Oulu site\"}]}");
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/groups?q=OULU", NULL);
    cr_assert_eq(json_array_size(h_data(&r)), 2, "%s", r.body);
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/groups?limit=1", NULL);
    cr_assert_eq(json_array_size(h_data(&r)), 1, "%s", r.body);
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/groups?limit=-1", NULL);
    h_assert_error(&r, 400);
    h_resp_free(&r);
}

Test(api_groups, thing_group_set_get_and_unassign)
{
    h_start();
    h_resp_t r = h_request(HTTP_GET, "/things/T1/group", NULL);
    cr_assert_str_eq(r.body, "{\"data\":{\"group_id\":\"unassigned\",\"tuid\":\"T1\"}}");
    h_resp_free(&r);
    cr_assert_eq(post("/things/T1/group", "{\"group_id\":\"missing\"}"), 404);
    cr_assert_eq(post("/groups", "{\"group_id\":\"g1\"}"), 200);
    cr_assert_eq(post("/things/T1/group", "{\"group_id\":\"g1\"}"), 200);
    cr_assert_str_eq(group_seen, "T1=g1");
    r = h_request(HTTP_GET, "/things/T1/group", NULL);
    cr_assert_str_eq(r.body, "{\"data\":{\"group_id\":\"g1\",\"tuid\":\"T1\"}}");
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/groups/g1/things", NULL);
    cr_assert_str_eq(r.body, "{\"data\":{\"group_id\":\"g1\",\"tuids\":[\"T1\"]}}");
    h_resp_free(&r);
    cr_assert_eq(post("/things/T1/group", "{\"group_id\":\"unassigned\"}"), 200);
    cr_assert_str_eq(group_seen, "T1=(none)");
    r = h_request(HTTP_GET, "/groups/g1/things", NULL);
    cr_assert_str_eq(r.body, "{\"data\":{\"group_id\":\"g1\",\"tuids\":[]}}");
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/groups/nope/things", NULL);
    h_assert_error(&r, 404);
    h_resp_free(&r);
}

Test(api_groups, rename_moves_the_things)
{
    h_start();
    cr_assert_eq(post("/groups", "{\"group_id\":\"old\",\"group_description\":\"d\"}"), 200);
    cr_assert_eq(post("/groups", "{\"group_id\":\"taken\"}"), 200);
    cr_assert_eq(post("/things/T2/group", "{\"group_id\":\"old\"}"), 200);
    cr_assert_eq(post("/things/T1/group", "{\"group_id\":\"old\"}"), 200);
    cr_assert_eq(post("/groups/old/rename", "{\"group_id\":\"taken\"}"), 409);
    cr_assert_eq(post("/groups/missing/rename", "{\"group_id\":\"new\"}"), 404);
    cr_assert_eq(post("/groups/old/rename", "{\"group_id\":\"unassigned\"}"), 400);
    h_resp_t r = h_request(HTTP_POST, "/groups/old/rename", "{\"group_id\":\"new\"}");
    cr_assert_str_eq(r.body, "{\"data\":{\"group_id\":\"new\",\"old\":\"old\",\"renamed\":true}}");
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/groups/new/things", NULL);
    cr_assert_str_eq(r.body, "{\"data\":{\"group_id\":\"new\",\"tuids\":[\"T1\",\"T2\"]}}");
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/things/T2/group", NULL);
    cr_assert_str_eq(json_string_value(json_object_get(h_data(&r), "group_id")), "new");
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/groups?q=new", NULL);
    cr_assert_str_eq(r.body, "{\"data\":[{\"group_id\":\"new\",\"group_description\":\"d\"}]}");
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/groups/old/things", NULL);
    h_assert_error(&r, 404);
    h_resp_free(&r);
}

Test(api_groups, delete_unassigns_the_things)
{
    h_start();
    cr_assert_eq(post("/groups", "{\"group_id\":\"g\"}"), 200);
    cr_assert_eq(post("/things/T1/group", "{\"group_id\":\"g\"}"), 200);
    h_resp_t r = h_request(HTTP_DELETE, "/groups/g", NULL);
    cr_assert_str_eq(r.body, "{\"data\":{\"group_id\":\"g\",\"deleted\":true}}");
    h_resp_free(&r);
    cr_assert_str_eq(group_seen, "T1=(none)");
    r = h_request(HTTP_GET, "/things/T1/group", NULL);
    cr_assert_str_eq(json_string_value(json_object_get(h_data(&r), "group_id")), "unassigned");
    h_resp_free(&r);
    r = h_request(HTTP_DELETE, "/groups/g", NULL);
    h_assert_error(&r, 404);
    h_resp_free(&r);
}

/* Reads one control message; returns its JSON. */
static json_t *next_control(redisContext *sub)
{
    void *msg = NULL;
    cr_assert_eq(redisGetReply(sub, &msg), REDIS_OK);
    redisReply *m = msg;
    json_t *j = json_loads(m->element[2]->str, 0, NULL);
    freeReplyObject(m);
    cr_assert_not_null(j);
    return j;
}

Test(api_groups, changes_are_published_on_the_control_channel)
{
    h_start();
    cr_assert_eq(post("/groups", "{\"group_id\":\"g\"}"), 200);
    redisContext *sub = redisConnect("127.0.0.1", h_redis_port());
    struct timeval tv = {2, 0};
    redisSetTimeout(sub, tv);
    freeReplyObject(redisCommand(sub, "SUBSCRIBE %scontrol", H.prefix));
    cr_assert_eq(post("/things/T1/group", "{\"group_id\":\"g\"}"), 200);
    cr_assert_eq(post("/groups/g/rename", "{\"group_id\":\"h\"}"), 200);
    h_resp_t r = h_request(HTTP_DELETE, "/groups/h", NULL);
    h_resp_free(&r);
    const char *want[] = {"g", "h", NULL};
    for (int i = 0; i < 3; i++) {
        json_t *j = next_control(sub);
        cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "group");
        cr_assert_str_eq(json_string_value(json_object_get(j, "tuid")), "T1");
        json_t *g = json_object_get(j, "group");
        if (want[i])
            cr_assert_str_eq(json_string_value(g), want[i]);
        else
            cr_assert(json_is_null(g));
        json_decref(j);
    }
    redisFree(sub);
}
