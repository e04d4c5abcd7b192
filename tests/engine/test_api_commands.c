/* test_api_commands.c - POST and GET /things/{tuid}/commands with a fake
 * produce hook, against a real redis-server. */
#include "api_harness.h"

typedef struct fake_kafka_s {
    int calls;
    size_t n;
    char *payloads[4];
    int mode; /* 0: ack later, 1: fail later, 2: never answer, 3: refuse at once */
    uv_timer_t timer;
    void (*done)(void *ctx, int ok);
    void *ctx;
} fake_kafka_t;

static fake_kafka_t K;

static void on_ack(uv_timer_t *t)
{
    (void)t;
    K.done(K.ctx, K.mode == 0);
}

static int produce(void *arg, const char *tuid, const char *const *payloads, const size_t *lens,
                   size_t n, void (*done)(void *ctx, int ok), void *ctx)
{
    (void)arg;
    cr_assert_str_eq(tuid, "T1");
    K.calls++;
    K.n = n;
    for (size_t i = 0; i < n && i < 4; i++) {
        free(K.payloads[i]);
        K.payloads[i] = strndup(payloads[i], lens[i]);
    }
    if (K.mode == 3) return -1;
    K.done = done;
    K.ctx = ctx;
    if (K.mode != 2) uv_timer_start(&K.timer, on_ack, 5, 0);
    return 0;
}

static void setup(void)
{
    h_setup();
    memset(&K, 0, sizeof K);
    uv_timer_init(&H.loop, &K.timer);
    H.hooks.produce_commands = produce;
}

static void teardown(void)
{
    uv_close((uv_handle_t *)&K.timer, NULL);
    for (int i = 0; i < 4; i++)
        free(K.payloads[i]);
    h_teardown();
}

TestSuite(api_commands, .init = setup, .fini = teardown);

Test(api_commands, delivered_commands_are_answered_and_kept)
{
    h_start();
    h_resp_t r = h_request(HTTP_POST, "/things/T1/commands",
                           "[{\"tsmId\":1500,\"tsmEv\":30,\"transactionId\":99999,\"profileId\":0},"
                           "{\"tsmId\":12200,\"tsmEv\":31,\"x\":0.1}]");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(K.calls, 1);
    cr_assert_eq(K.n, 2);
    json_t *p0 = json_loads(K.payloads[0], 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(p0, "tsmDstTuid")), "T1");
    cr_assert(json_is_integer(json_object_get(p0, "tsmTs")));
    cr_assert_eq(json_integer_value(json_object_get(p0, "transactionId")), 99999);
    json_decref(p0);
    json_t *d = h_data(&r);
    cr_assert_str_eq(json_string_value(json_object_get(d, "responsible")), "tester");
    cr_assert_eq(json_array_size(json_object_get(d, "commands")), 2);
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/things/T1/commands", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    d = h_data(&r);
    cr_assert_eq(json_array_size(d), 2, "%s", r.body);
    json_t *first = json_array_get(d, 0);
    cr_assert_str_eq(json_string_value(json_object_get(first, "tuid")), "T1");
    cr_assert_str_eq(json_string_value(json_object_get(first, "responsible")), "tester");
    cr_assert(json_is_integer(json_object_get(first, "timestamp")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(first, "command"), "tsmId")),
                 1500);
    cr_assert(strstr(r.body, "\"x\":0.1") != NULL, "%s", r.body);
    h_resp_free(&r);
}

Test(api_commands, history_returns_the_newest_limit_oldest_first)
{
    h_start();
    for (int i = 0; i < 3; i++) {
        char body[64];
        snprintf(body, sizeof body, "[{\"tsmId\":1501,\"tsmEv\":%d}]", i);
        h_resp_t r = h_request(HTTP_POST, "/things/T1/commands", body);
        cr_assert_eq(r.status, 200, "%s", r.body);
        h_resp_free(&r);
    }
    h_resp_t r = h_request(HTTP_GET, "/things/T1/commands?limit=2", NULL);
    json_t *d = h_data(&r);
    cr_assert_eq(json_array_size(d), 2, "%s", r.body);
    cr_assert_eq(json_integer_value(
                     json_object_get(json_object_get(json_array_get(d, 0), "command"), "tsmEv")),
                 1);
    cr_assert_eq(json_integer_value(
                     json_object_get(json_object_get(json_array_get(d, 1), "command"), "tsmEv")),
                 2);
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/things/T1/commands?eventid=0,2&messageid=1501", NULL);
    cr_assert_eq(json_array_size(h_data(&r)), 2, "%s", r.body);
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/things/T2/commands", NULL);
    cr_assert_str_eq(r.body, "{\"data\":[]}");
    h_resp_free(&r);
}

Test(api_commands, any_invalid_command_rejects_the_whole_request)
{
    h_start();
    const char *bodies[] = {
        "[]",
        "{}",
        "[1]",
        "[{\"tsmId\":1500}]",
        "[{\"tsmEv\":1}]",
        "[{\"tsmId\":17110,\"tsmEv\":30}]",
        "[{\"tsmId\":1500,\"tsmEv\":1.5}]",
        "[{\"tsmId\":\"1500\",\"tsmEv\":1}]",
        "[{\"tsmId\":1500,\"tsmEv\":1},{\"tsmId\":9,\"tsmEv\":1}]",
        "not json",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        h_resp_t r = h_request(HTTP_POST, "/things/T1/commands", bodies[i]);
        h_assert_error(&r, 400);
        h_resp_free(&r);
    }
    /* 101 commands */
    char *big = malloc(101 * 40 + 8);
    strcpy(big, "[");
    for (int i = 0; i < 101; i++)
        strcat(big, i ? ",{\"tsmId\":1500,\"tsmEv\":1}" : "{\"tsmId\":1500,\"tsmEv\":1}");
    strcat(big, "]");
    h_resp_t r = h_request(HTTP_POST, "/things/T1/commands", big);
    h_assert_error(&r, 400);
    h_resp_free(&r);
    free(big);
    cr_assert_eq(K.calls, 0);
}

static void expect_503_nothing_kept(void)
{
    h_resp_t r = h_request(HTTP_POST, "/things/T1/commands", "[{\"tsmId\":1500,\"tsmEv\":1}]");
    h_assert_error(&r, 503);
    h_resp_free(&r);
    cr_assert_eq(K.calls, 1);
    redisReply *len = h_cmd("LLEN %s{T1}:cmds", H.prefix);
    cr_assert_eq(len->integer, 0);
    freeReplyObject(len);
}

Test(api_commands, failed_delivery_is_503_and_nothing_kept)
{
    K.mode = 1;
    h_start();
    expect_503_nothing_kept();
}

Test(api_commands, no_acknowledgement_in_time_is_503)
{
    K.mode = 2;
    h_start();
    H.api->cmd_timeout_ms = 30;
    expect_503_nothing_kept();
    K.done(K.ctx, 1); /* a late report finds its wait still valid */
    redisReply *len = h_cmd("LLEN %s{T1}:cmds", H.prefix);
    cr_assert_eq(len->integer, 0);
    freeReplyObject(len);
}

Test(api_commands, refused_at_once_is_503)
{
    K.mode = 3;
    h_start();
    expect_503_nothing_kept();
}
