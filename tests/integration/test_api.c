/* test_api.c - every route of the API reference end to end: the real tsmd
 * over TCP, the test redis-server and tsm-broker in its own process
 * (CONTRACT.md sections 4 and 5), with the reference's example bodies and
 * shapes. Things, alerts and messages come from real telemetry (the story in
 * api_world.h); commands are checked on the broker's tsm.commands topic;
 * installations and groups through their effects (a retired thing stops
 * alerting, deploymentGroupId of the next message). Most tests run under
 * http.base_path=/prod/v1 with the vendor clients' Content-Type. */
#include "api_world.h"

/* ---- A: things, alerts, messages, operations routes, vendor quirks ---- */

static void expect_window(world_t *w, const char *tuid, const char *type, long from, long to,
                          const char *query)
{
    call(w, "GET", NULL, "/things/%s/alerts%s", tuid, query);
    cr_expect_eq(w->r->status, 200, "%s alerts%s: %d %s", tuid, query, w->r->status, w->r->body);
    json_t *found = NULL;
    for (size_t i = 0; i < jlen(w->r->json, "data"); i++) {
        json_t *e = json_array_get(json_object_get(w->r->json, "data"), i);
        if (strcmp(jstr(e, "alert_type"), type) == 0) found = e;
    }
    cr_expect_not_null(found, "%s alerts%s: no \"%s\" in %s", tuid, query, type, w->r->body);
    if (!found) return;
    cr_expect_str_eq(jstr(found, "tuid"), tuid);
    cr_expect_eq(json_object_size(found), 3, "tuid, alert_type, alerts: %s", w->r->body);
    cr_expect_eq(jlen(found, "alerts"), 1, "%s %s: %s", tuid, type, w->r->body);
    char want[32];
    fmt_time(from, want, sizeof want);
    cr_expect_str_eq(jstr(found, "alerts.0.from"), want, "%s %s from: %s", tuid, type, w->r->body);
    if (to < 0) {
        cr_expect(jnull(found, "alerts.0.to"), "%s %s open: to must be null: %s", tuid, type,
                  w->r->body);
    } else {
        fmt_time(to, want, sizeof want);
        cr_expect_str_eq(jstr(found, "alerts.0.to"), want, "%s %s to: %s", tuid, type, w->r->body);
    }
}

static void expect_no_windows(world_t *w, const char *tuid, const char *query)
{
    call(w, "GET", NULL, "/things/%s/alerts%s", tuid, query);
    cr_expect_eq(w->r->status, 200, "%s alerts%s: %d", tuid, query, w->r->status);
    cr_expect_str_eq(w->r->body, "{\"data\":[]}", "%s alerts%s", tuid, query);
}

/* S5's two windows, oldest first; the bounds select them inclusively. */
static void check_two_windows(world_t *w)
{
    long B = w->B;
    char a[32], b[32], c[32], want[256];
    fmt_time(B, a, sizeof a);
    fmt_time(B + 720, b, sizeof b);
    fmt_time(B + 1440, c, sizeof c);
    call(w, "GET", NULL, "/things/%s/alerts", S5);
    snprintf(want, sizeof want,
             "{\"data\":[{\"tuid\":\"%s\",\"alert_type\":\"heartbeat missed\",\"alerts\":["
             "{\"from\":\"%s\",\"to\":\"%s\"},{\"from\":\"%s\",\"to\":\"%s\"}]}]}",
             S5, a, b, b, c);
    cr_expect_str_eq(w->r->body, want, "two windows, oldest first");
    call(w, "GET", NULL, "/things/%s/alerts?to=%ld", S5, B + 720);
    cr_expect_eq(jlen(w->r->json, "data.0.alerts"), 2, "to=B+720 touches both: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/alerts?from=%ld", S5, B + 721);
    cr_expect(jlen(w->r->json, "data.0.alerts") == 1 &&
                  strcmp(jstr(w->r->json, "data.0.alerts.0.from"), b) == 0,
              "from=B+721: the second alone: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/alerts?from=%ld&to=%ld", S5, B + 200, B + 300);
    cr_expect_eq(jlen(w->r->json, "data.0.alerts"), 1, "inside the first: %s", w->r->body);
}

static void check_alerts(world_t *w)
{
    long B = w->B;
    cr_expect_eq(get_ct(w, "/things/alerts"), 200, "alerts: %s", w->r->body);
    cr_expect_str_eq(w->r->body,
                     "{\"data\":{\"alerting_tuids\":[\"" S2 "\",\"TSSNAPIX0\",\"TSSNAPIX1\","
                     "\"TSSNAPIX2\",\"TSSNAPIX3\",\"TSSNAPIX4\"]}}",
                     "alerting tuids, sorted");
    cr_expect_eq(call(w, "GET", NULL, "/things/alerts/count"), 200);
    cr_expect_str_eq(jstr(w->r->json, "data.alert_count"), "6", "count: %s", w->r->body);
    expect_window(w, G2, "gateway connection lost", B, B + 900, "");
    expect_window(w, G2, "heartbeat missed", B, B + 900, "");
    cr_expect_eq(jlen(w->r->json, "data"), 2, "G2: two alert types: %s", w->r->body);
    expect_window(w, S1, "heartbeat missed", B, B + 1200, "");
    cr_expect_eq(jlen(w->r->json, "data"), 1, "S1: one alert type: %s", w->r->body);
    char q[96];
    snprintf(q, sizeof q, "?from=%ld", B + 1200); /* both ends inclusive */
    expect_window(w, S1, "heartbeat missed", B, B + 1200, q);
    snprintf(q, sizeof q, "?from=%ld&to=%ld", B - 100, B);
    expect_window(w, S1, "heartbeat missed", B, B + 1200, q);
    snprintf(q, sizeof q, "?from=%ld", B + 1201);
    expect_no_windows(w, S1, q);
    snprintf(q, sizeof q, "?to=%ld", B - 1);
    expect_no_windows(w, S1, q);
    snprintf(q, sizeof q, "?from=%ld", B + 900000); /* an open window reaches to infinity */
    expect_window(w, S2, "heartbeat missed", B, -1, q);
    expect_no_windows(w, S3, "");
    check_two_windows(w);
    cr_expect_eq(call(w, "GET", NULL, "/things/%s/alerts?from=abc", S1), 400);
    expect_error(w->r, 400, "Bad Request", "alerts from=abc");
}

static void check_things(world_t *w)
{
    long B = w->B;
    cr_expect_eq(call(w, "GET", NULL, "/things/%s", S1), 200, "S1: %s", w->r->body);
    json_t *d = json_object_get(w->r->json, "data");
    cr_expect_eq(jint(d, "battery_level"), 86, "S1: %s", w->r->body);
    cr_expect_eq(jint(d, "timestamp"), B + 1380, "S1 timestamp: an integer, fraction dropped: %s",
                 w->r->body);
    cr_expect(json_is_real(jat(d, "location.lat")) &&
                  json_real_value(jat(d, "location.lat")) == 65.01 &&
                  json_real_value(jat(d, "location.lon")) == 25.52,
              "S1 location: %s", w->r->body);
    cr_expect_str_eq(jstr(d, "gateway_tuid"), G1);
    cr_expect_str_eq(jstr(d, "version"), "2019.11.15.2_ts_pod3wp34");
    cr_expect(json_object_size(d) == 5 && json_object_size(jat(d, "location")) == 2,
              "the reference's fields, no others: %s", w->r->body);
    cr_expect_eq(call(w, "GET", NULL, "/things/%s", S2), 200);
    d = json_object_get(w->r->json, "data");
    cr_expect(jint(d, "battery_level") == 70 && jint(d, "timestamp") == B && jnull(d, "location") &&
                  jnull(d, "version") && strcmp(jstr(d, "gateway_tuid"), G1) == 0,
              "S2: %s", w->r->body);
    cr_expect_eq(call(w, "GET", NULL, "/things/%s", G2), 200);
    d = json_object_get(w->r->json, "data");
    cr_expect(jnull(d, "battery_level") && jint(d, "timestamp") == B + 1740 &&
                  jnull(d, "location") && jnull(d, "version") && jnull(d, "gateway_tuid"),
              "G2: unknown fields null: %s", w->r->body);
    call(w, "GET", NULL, "/things/TSSNNEVERHEARD");
    expect_error(w->r, 404, "Not Found", "thing never heard from");
    cr_expect_eq(call(w, "GET", NULL, "/things/TSSNAPI%%30000001"), 200,
                 "a percent-encoded valid tuid is that tuid: %s", w->r->body);
    cr_expect_eq(jint(w->r->json, "data.timestamp"), B + 1380);
}

static void expect_msgs(world_t *w, const char *query, size_t n)
{
    call(w, "GET", NULL, "/things/%s/messages?%s", S1, query);
    cr_expect_eq(w->r->status, 200, "messages?%s: %d %s", query, w->r->status, w->r->body);
    cr_expect_eq(jlen(w->r->json, "data"), n, "messages?%s: %zu, expected %zu: %s", query,
                 jlen(w->r->json, "data"), n, w->r->body);
}

static void check_messages(world_t *w)
{
    long B = w->B;
    expect_msgs(w, "limit=10", 5);
    json_t *m = jat(w->r->json, "data.0");
    cr_expect(json_is_real(jat(m, "tsmTs")) && json_real_value(jat(m, "tsmTs")) == B + 1380.5,
              "newest first, tsmTs as it came: %s", w->r->body);
    cr_expect(jint(m, "tsmId") == 12100 && jint(m, "tsmEv") == 10 &&
                  strcmp(jstr(m, "tsmTuid"), S1) == 0 && strcmp(jstr(m, "tsmGw"), G1) == 0 &&
                  strcmp(jstr(m, "deploymentGroupId"), "unassigned") == 0 && jint(m, "hum") == 40 &&
                  json_real_value(jat(m, "temp")) == 21.5,
              "message with all its fields: %s", w->r->body);
    cr_expect(jint(w->r->json, "data.4.tsmTs") == B && jint(w->r->json, "data.4.batl") == 90,
              "oldest last: %s", w->r->body);
    expect_msgs(w, "limit=2", 2);
    cr_expect_eq(jint(w->r->json, "data.1.tsmTs"), B + 1320, "%s", w->r->body);
    expect_msgs(w, "messageid=1110&limit=10", 2);
    expect_msgs(w, "messageid=1110,1210&limit=10", 3);
    expect_msgs(w, "eventid=11&limit=10", 1);
    cr_expect_str_eq(jstr(w->r->json, "data.0.swVersion"), "2019.11.15.2_ts_pod3wp34");
    char q[96];
    snprintf(q, sizeof q, "from=%ld&to=%ld&limit=10", B + 1200, B + 1320);
    expect_msgs(w, q, 3);
    snprintf(q, sizeof q, "messageid=1110&eventid=10&to=%ld&limit=1", B + 1199);
    expect_msgs(w, q, 1);
    cr_expect_eq(jint(w->r->json, "data.0.tsmTs"), B, "%s", w->r->body);
    call(w, "GET", NULL, "/things/TSSNNOMESSAGES/messages?limit=5");
    cr_expect_str_eq(w->r->body, "{\"data\":[]}", "a thing with none: %s", w->r->body);
    const char *bad[] = {"",
                         "limit=0",
                         "limit=1001",
                         "limit=abc",
                         "limit=10&from=1.5",
                         "limit=10&to=x",
                         "limit=10&messageid=1,,2",
                         "limit=10&eventid=a"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        call(w, "GET", NULL, "/things/%s/messages?%s", S1, bad[i]);
        expect_error(w->r, 400, "Bad Request", bad[i]);
    }
}

/* /healthz, /readyz, /metrics at the root without a token; API routes only
 * under the base path; the token request with a stray Authorization. */
static void check_base_path(world_t *w)
{
    int port = w->tsmd.http_port;
    const char *ops[] = {"/healthz", "/readyz", "/metrics"};
    for (int i = 0; i < 3; i++)
        cr_expect_eq(request(port, w->r, "GET", ops[i], NULL, NULL, NULL), 200, "%s: %d", ops[i],
                     w->r->status);
    cr_expect(strstr(w->r->body, "tsmd_http_requests_total{") != NULL,
              "/metrics counts HTTP requests by route and status");
    request(port, w->r, "GET", "/healthz", NULL, NULL, NULL);
    cr_expect(json_is_object(w->r->json), "/healthz body is JSON: %s", w->r->body);
    request(port, w->r, "GET", "/things/alerts/count", w->token, NULL, NULL);
    expect_error(w->r, 404, "Not Found", "API route outside the base path, with a token");
    request(port, w->r, "GET", "/things/alerts/count", NULL, NULL, NULL);
    expect_error(w->r, 401, "Unauthorized", "API route outside the base path, without a token");
    cr_expect_eq(request(port, w->r, "POST", BASE "/auth/client-token", NULL,
                         JSON_CT "Authorization: Bearer not-a-token\r\n",
                         "{ \"client_id\": \"" CLIENT "\", \"client_secret\": \"" SECRET "\" }"),
                 200, "token request with an Authorization header: %s", w->r->body);
    cr_expect_eq(strlen(jstr(w->r->json, "data.token")), 43, "%s", w->r->body);
}

Test(api, things_alerts_messages_with_reference_shapes, .timeout = 90)
{
    world_t w;
    world_start(&w, "a", BASE, NULL);
    feed_story(&w);
    check_alerts(&w);
    check_things(&w);
    check_messages(&w);
    check_base_path(&w);
    world_stop(&w);
}

/* ---- B: commands ---- */

typedef struct kmsg_s {
    char key[64];
    char value[1024];
} kmsg_t;

/* Reads every record of topic (one partition) from the beginning with a
 * consumer group; stops after 3 s without a new record. */
static int read_topic(const char *bootstrap, const char *topic, kmsg_t *out, int max)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "api-test-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(rk, "consumer: %s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int n = 0;
    double idle_until = h_now() + 4;
    while (h_now() < idle_until && n < max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL) continue;
        if (!m->err) {
            snprintf(out[n].key, sizeof out[n].key, "%.*s", (int)m->key_len, (const char *)m->key);
            snprintf(out[n].value, sizeof out[n].value, "%.*s", (int)m->len,
                     (const char *)m->payload);
            n++;
            idle_until = h_now() + 3;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

/* The reference's example body (tsmId 17110, added to api.command_ids for
 * this tsmd), then two commands in one request. */
static void post_good_commands(world_t *w, long *t0, long *t1)
{
    *t0 = (long)time(NULL);
    cr_expect_eq(
        call(w, "POST",
             "[ { \"tsmId\": 17110, \"tsmEv\": 30, \"transactionId\": 99999, \"profileId\": 0 } ]",
             "/things/%s/commands", S1),
        200, "reference body: %s", w->r->body);
    *t1 = (long)time(NULL);
    json_t *d = json_object_get(w->r->json, "data");
    cr_expect_str_eq(jstr(d, "responsible"), CLIENT, "%s", w->r->body);
    cr_expect_eq(jlen(d, "commands"), 1, "%s", w->r->body);
    json_t *c = jat(d, "commands.0");
    long long ts = jint(c, "tsmTs");
    cr_expect(jint(c, "tsmId") == 17110 && jint(c, "tsmEv") == 30 &&
                  jint(c, "transactionId") == 99999 && jint(c, "profileId") == 0 &&
                  strcmp(jstr(c, "tsmDstTuid"), S1) == 0 && ts >= *t0 && ts <= *t1 &&
                  json_object_size(c) == 6,
              "command as sent: %s", w->r->body);
    cr_expect_eq(
        call(w, "POST",
             "[{\"tsmId\":1500,\"tsmEv\":1},{\"tsmId\":1501,\"tsmEv\":2,\"note\":\"second\"}]",
             "/things/%s/commands", S1),
        200, "two commands: %s", w->r->body);
    cr_expect(jlen(w->r->json, "data.commands") == 2 &&
                  jint(w->r->json, "data.commands.1.tsmId") == 1501 &&
                  strcmp(jstr(w->r->json, "data.commands.1.note"), "second") == 0,
              "%s", w->r->body);
    *t1 = (long)time(NULL);
}

static void post_bad_commands(world_t *w)
{
    static char many[8192];
    strcpy(many, "[");
    for (int i = 0; i < 101; i++)
        strcat(many, i ? ",{\"tsmId\":1500,\"tsmEv\":1}" : "{\"tsmId\":1500,\"tsmEv\":1}");
    strcat(many, "]");
    const char *bad[] = {"[{\"tsmId\":9999,\"tsmEv\":1}]",
                         "[{\"tsmId\":1500,\"tsmEv\":1},{\"tsmId\":9999,\"tsmEv\":1}]",
                         "[]",
                         "{\"tsmId\":1500,\"tsmEv\":1}",
                         "[{\"tsmId\":1500}]",
                         "[{\"tsmEv\":1}]",
                         "[{\"tsmId\":\"1500\",\"tsmEv\":1}]",
                         "[{\"tsmId\":1500.5,\"tsmEv\":1}]",
                         "[{\"tsmId\":1500,\"tsmEv\":\"1\"}]",
                         "[1]",
                         "[{\"tsmId\":1500,\"tsmEv\":1}",
                         many};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        call(w, "POST", bad[i], "/things/%s/commands", S1);
        expect_error(w->r, 400, "Bad Request", i == 11 ? "101 commands" : bad[i]);
    }
}

static void check_command_history(world_t *w, long t0, long t1)
{
    cr_expect_eq(call(w, "GET", NULL, "/things/%s/commands", S1), 200, "%s", w->r->body);
    cr_expect_eq(jlen(w->r->json, "data"), 3, "history: %s", w->r->body);
    long long ids[] = {17110, 1500, 1501};
    for (int i = 0; i < 3; i++) {
        char p[32];
        snprintf(p, sizeof p, "data.%d", i);
        json_t *e = jat(w->r->json, p);
        long long ts = jint(e, "timestamp");
        cr_expect(strcmp(jstr(e, "tuid"), S1) == 0 && strcmp(jstr(e, "responsible"), CLIENT) == 0 &&
                      ts >= t0 && ts <= t1 && jint(e, "command.tsmId") == ids[i] &&
                      strcmp(jstr(e, "command.tsmDstTuid"), S1) == 0 &&
                      jint(e, "command.tsmTs") == ts,
                  "history entry %d (oldest first): %s", i, w->r->body);
    }
    call(w, "GET", NULL, "/things/%s/commands?limit=2", S1);
    cr_expect(jlen(w->r->json, "data") == 2 && jint(w->r->json, "data.0.command.tsmId") == 1500 &&
                  jint(w->r->json, "data.1.command.tsmId") == 1501,
              "the newest 2, oldest first: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/commands?messageid=1501,17110", S1);
    cr_expect_eq(jlen(w->r->json, "data"), 2, "messageid filter: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/commands?eventid=30", S1);
    cr_expect(jlen(w->r->json, "data") == 1 && jint(w->r->json, "data.0.command.tsmId") == 17110,
              "eventid filter: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/commands?from=%ld&to=%ld&limit=1000", S1, t0, t1);
    cr_expect_eq(jlen(w->r->json, "data"), 3, "from/to inclusive: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/commands?to=%ld", S1, t0 - 1);
    cr_expect_str_eq(w->r->body, "{\"data\":[]}");
    call(w, "GET", NULL, "/things/%s/commands", S2);
    cr_expect_str_eq(w->r->body, "{\"data\":[]}", "a thing without commands");
    call(w, "GET", NULL, "/things/%s/commands?limit=0", S1);
    expect_error(w->r, 400, "Bad Request", "commands limit=0");
}

static void check_commands_on_broker(world_t *w, long t0, long t1)
{
    static kmsg_t recs[32];
    int n = read_topic(w->broker.bootstrap, "tsm.commands", recs, 32);
    cr_expect_eq(n, 3, "tsm.commands holds %d records, expected 3 (none of the rejected)", n);
    long long ids[] = {17110, 1500, 1501};
    for (int i = 0; i < n && i < 3; i++) {
        json_t *j = json_loads(recs[i].value, 0, NULL);
        long long ts = jint(j, "tsmTs");
        cr_expect(strcmp(recs[i].key, S1) == 0 && jint(j, "tsmId") == ids[i] &&
                      strcmp(jstr(j, "tsmDstTuid"), S1) == 0 && ts >= t0 && ts <= t1,
                  "record %d key %s value %s", i, recs[i].key, recs[i].value);
        json_decref(j);
    }
}

Test(api, commands_are_produced_acked_and_kept, .timeout = 90)
{
    world_t w;
    const char *more[] = {"api.command_ids=1500,1501,12200,13200,17110", NULL};
    world_start(&w, "b", "", more);
    long t0, t1;
    post_good_commands(&w, &t0, &t1);
    post_bad_commands(&w);
    check_command_history(&w, t0, t1);
    check_commands_on_broker(&w, t0, t1);
    /* Tokens live in Redis: the same token works after a restart. */
    cr_expect_eq(h_stop(&w.tsmd.proc, SIGTERM), 0, "SIGTERM exits 0");
    tsmd_start(&w, &w.tsmd, w.group, more);
    cr_expect_eq(call(&w, "GET", NULL, "/things/%s/commands", S1), 200,
                 "the token after a restart of tsmd: %s", w.r->body);
    cr_expect_eq(jlen(w.r->json, "data"), 3, "history after the restart: %s", w.r->body);
    world_stop(&w);
}

/* ---- C: installations and groups ---- */

static void post_status(world_t *w, const char *tuid, const char *status)
{
    char body[96];
    snprintf(body, sizeof body, "{ \"installation_status\": \"%s\" }", status);
    cr_expect_eq(call(w, "POST", body, "/things/%s/installations", tuid), 200, "%s %s: %s", tuid,
                 status, w->r->body);
    cr_expect(strcmp(jstr(w->r->json, "data.tuid"), tuid) == 0 &&
                  strcmp(jstr(w->r->json, "data.installation_status"), status) == 0 &&
                  json_object_size(json_object_get(w->r->json, "data")) == 2,
              "%s", w->r->body);
}

static void check_installations(world_t *w)
{
    long t0 = (long)time(NULL);
    post_status(w, S3, "installed");
    post_status(w, S3, "quarantine");
    long t1 = (long)time(NULL);
    cr_expect_eq(call(w, "GET", NULL, "/things/%s/installations", S3), 200);
    cr_expect_eq(jlen(w->r->json, "data"), 2, "%s", w->r->body);
    const char *want[] = {"quarantine", "installed"}; /* newest first */
    for (int i = 0; i < 2; i++) {
        char p[16];
        snprintf(p, sizeof p, "data.%d", i);
        json_t *e = jat(w->r->json, p);
        long long ts = jint(e, "timestamp");
        cr_expect(strcmp(jstr(e, "tuid"), S3) == 0 &&
                      strcmp(jstr(e, "installation_status"), want[i]) == 0 && ts >= t0 &&
                      ts <= t1 && strcmp(jstr(e, "responsible"), CLIENT) == 0,
                  "installation %d: %s", i, w->r->body);
    }
    call(w, "GET", NULL, "/things/%s/installations?limit=1", S3);
    cr_expect(jlen(w->r->json, "data") == 1 &&
                  strcmp(jstr(w->r->json, "data.0.installation_status"), "quarantine") == 0,
              "limit=1: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/installations", S1);
    cr_expect_str_eq(w->r->body, "{\"data\":[]}", "a thing with none");
    const char *bad[] = {"{\"installation_status\":\"broken\"}", "{\"installation_status\":1}",
                         "{}", "{\"installation_status\":\"Installed\"}"};
    for (int i = 0; i < 4; i++) {
        call(w, "POST", bad[i], "/things/%s/installations", S3);
        expect_error(w->r, 400, "Bad Request", bad[i]);
    }
    /* Registered by an installation record alone: 200 with nulls. */
    post_status(w, "TSSNREGONLY01", "new");
    cr_expect_eq(call(w, "GET", NULL, "/things/TSSNREGONLY01"), 200, "%s", w->r->body);
    json_t *d = json_object_get(w->r->json, "data");
    cr_expect(jnull(d, "battery_level") && jnull(d, "timestamp") && jnull(d, "location") &&
                  jnull(d, "gateway_tuid") && jnull(d, "version"),
              "registered thing: %s", w->r->body);
}

/* Retiring the alerting S2 closes its window at once (wall clock). */
static void check_retire_closes_window(world_t *w)
{
    call(w, "GET", NULL, "/things/alerts/count");
    cr_expect_str_eq(jstr(w->r->json, "data.alert_count"), "6", "%s", w->r->body);
    long t0 = (long)time(NULL);
    post_status(w, S2, "retired");
    double until = h_now() + 5;
    do {
        call(w, "GET", NULL, "/things/alerts/count");
        if (strcmp(jstr(w->r->json, "data.alert_count"), "5") == 0) break;
        h_sleep_ms(100);
    } while (h_now() < until);
    cr_expect_str_eq(jstr(w->r->json, "data.alert_count"), "5", "retired S2 still alerting: %s",
                     w->r->body);
    call(w, "GET", NULL, "/things/alerts");
    cr_expect(strstr(w->r->body, S2) == NULL && jlen(w->r->json, "data.alerting_tuids") == 5,
              "S2 no longer alerting: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/alerts", S2);
    char from[32], lo[32];
    fmt_time(w->B, from, sizeof from);
    fmt_time(t0, lo, sizeof lo);
    const char *to = json_string_value(jat(w->r->json, "data.0.alerts.0.to"));
    cr_expect(strcmp(jstr(w->r->json, "data.0.alerts.0.from"), from) == 0 && to &&
                  strcmp(to, lo) >= 0,
              "S2's window closed at the status change (>= %s): %s", lo, w->r->body);
}

static void post_group(world_t *w, const char *body, int status, const char *what)
{
    call(w, "POST", body, "/groups");
    if (status == 200)
        cr_expect_eq(w->r->status, 200, "%s: %s", what, w->r->body);
    else
        expect_error(w->r, status, status == 409 ? "Conflict" : "Bad Request", what);
}

static void expect_groups(world_t *w, const char *query, const char *ids)
{
    call(w, "GET", NULL, "/groups%s", query);
    char got[512] = "";
    for (size_t i = 0; i < jlen(w->r->json, "data"); i++) {
        char p[48];
        snprintf(p, sizeof p, "data.%zu.group_id", i);
        if (i) strcat(got, " ");
        strncat(got, jstr(w->r->json, p), sizeof got - strlen(got) - 1);
    }
    cr_expect_eq(w->r->status, 200, "groups%s: %d", query, w->r->status);
    cr_expect_str_eq(got, ids, "groups%s: %s", query, w->r->body);
}

static void expect_thing_group(world_t *w, const char *tuid, const char *group)
{
    cr_expect_eq(call(w, "GET", NULL, "/things/%s/group", tuid), 200);
    cr_expect(strcmp(jstr(w->r->json, "data.group_id"), group) == 0 &&
                  strcmp(jstr(w->r->json, "data.tuid"), tuid) == 0,
              "%s group, expected %s: %s", tuid, group, w->r->body);
}

static void set_thing_group(world_t *w, const char *tuid, const char *group)
{
    char body[128];
    snprintf(body, sizeof body, "{ \"group_id\": \"%s\" }", group);
    cr_expect_eq(call(w, "POST", body, "/things/%s/group", tuid), 200, "%s", w->r->body);
    cr_expect(strcmp(jstr(w->r->json, "data.group_id"), group) == 0 &&
                  strcmp(jstr(w->r->json, "data.tuid"), tuid) == 0,
              "set %s group %s: %s", tuid, group, w->r->body);
}

static void check_group_create_and_list(world_t *w)
{
    post_group(w,
               "{ \"group_id\": \"testgroup1\", \"group_description\": \"This is a test group\" }",
               200, "reference body");
    cr_expect_str_eq(
        w->r->body,
        "{\"data\":{\"group_id\":\"testgroup1\",\"group_description\":\"This is a test group\"}}");
    post_group(w, "{\"group_id\":\"testgroup1\"}", 409, "existing id");
    post_group(w, "{\"group_id\":\"zeta\",\"group_description\":\"Last one\"}", 200, "zeta");
    post_group(w, "{\"group_id\":\"Alpha\"}", 200, "Alpha");
    post_group(w, "{\"group_id\":\"nodesc\"}", 200, "no description");
    cr_expect_str_eq(jstr(w->r->json, "data.group_description"), "", "%s", w->r->body);
    const char *bad[] = {
        "{\"group_id\":\"unassigned\"}",
        "{\"group_id\":\"has space\"}",
        "{\"group_id\":\"\"}",
        "{\"group_id\":\"tab\\there\"}",
        "{\"group_id\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
        "{\"group_description\":\"no id\"}",
        "{\"group_id\":5}",
        "{\"group_id\":\"nb\\u00a0space\"}",
        "{\"group_id\":\"em\\u2003space\"}",
        "{\"group_id\":\"ctl\\u0001x\"}",
        "{\"group_id\":\"nl\\nx\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        post_group(w, bad[i], 400, bad[i]);
    expect_groups(w, "/", "Alpha nodesc testgroup1 zeta");
    expect_groups(w, "", "Alpha nodesc testgroup1 zeta");
    cr_expect_str_eq(jstr(w->r->json, "data.1.group_description"), "");
    cr_expect_str_eq(jstr(w->r->json, "data.2.group_description"), "This is a test group");
    expect_groups(w, "/?q=TEST", "testgroup1");
    expect_groups(w, "?q=test%20group", "testgroup1");
    expect_groups(w, "?q=LAST", "zeta");
    expect_groups(w, "/?q=e&limit=2", "nodesc testgroup1");
    expect_groups(w, "?limit=1", "Alpha");
    expect_groups(w, "?q=nothing-like-it", "");
    call(w, "GET", NULL, "/groups?limit=0");
    expect_error(w->r, 400, "Bad Request", "groups limit=0");
}

/* S4's next message carries its group as deploymentGroupId. */
static void check_deployment_group(world_t *w)
{
    rd_kafka_t *rk = h_producer(w->broker.bootstrap);
    char ts[32];
    snprintf(ts, sizeof ts, "%ld", w->B + 1690);
    tmsg(rk, S4, G1, ts, 1110, 10, "\"batl\":49");
    h_producer_close(rk);
    h_wait_committed(w->broker.bootstrap, w->group, "tsm.raw", 1, 30);
    call(w, "GET", NULL, "/things/%s/messages?limit=5", S4);
    cr_expect(jlen(w->r->json, "data") == 2 &&
                  strcmp(jstr(w->r->json, "data.0.deploymentGroupId"), "testgroup1") == 0 &&
                  strcmp(jstr(w->r->json, "data.1.deploymentGroupId"), "unassigned") == 0,
              "deploymentGroupId = the group at ingest: %s", w->r->body);
}

/* A '/' and non-ASCII letters are allowed in a group id (no white space or
 * control characters); a thing with only a group is registered. */
static void check_odd_group_ids(world_t *w)
{
    post_group(w, "{\"group_id\":\"a/b\",\"group_description\":\"slash \\u00fc\"}", 200, "a/b");
    post_group(w, "{\"group_id\":\"gr\xc3\xbcppe\"}", 200, "UTF-8 id");
    set_thing_group(w, "TSSNGROUPONLY", "a/b");
    cr_expect_eq(call(w, "GET", NULL, "/groups/a%%2Fb/things"), 200, "%s", w->r->body);
    cr_expect_str_eq(w->r->body, "{\"data\":{\"group_id\":\"a/b\",\"tuids\":[\"TSSNGROUPONLY\"]}}");
    cr_expect_eq(call(w, "GET", NULL, "/things/TSSNGROUPONLY"), 200, "registered by a group: %s",
                 w->r->body);
    cr_expect(jnull(w->r->json, "data.timestamp") && jnull(w->r->json, "data.battery_level"), "%s",
              w->r->body);
    expect_groups(w, "?q=%C3%BC", "a/b gr\xc3\xbcppe");
    /* Its first message is stored with the group it was given before. */
    rd_kafka_t *rk = h_producer(w->broker.bootstrap);
    char ts[32];
    snprintf(ts, sizeof ts, "%ld", w->B + 1700);
    tmsg(rk, "TSSNGROUPONLY", G1, ts, 1110, 10, "\"batl\":77");
    h_producer_close(rk);
    h_wait_committed(w->broker.bootstrap, w->group, "tsm.raw", 1, 30);
    call(w, "GET", NULL, "/things/TSSNGROUPONLY/messages?limit=10");
    cr_expect(jlen(w->r->json, "data") == 1 &&
                  strcmp(jstr(w->r->json, "data.0.deploymentGroupId"), "a/b") == 0,
              "a group given before the first message is the group at ingest: %s", w->r->body);
}

static void check_thing_groups(world_t *w)
{
    expect_thing_group(w, S4, "unassigned");
    expect_thing_group(w, "TSSNNEVERSEEN", "unassigned");
    set_thing_group(w, S4, "testgroup1");
    set_thing_group(w, S3, "testgroup1");
    expect_thing_group(w, S4, "testgroup1");
    call(w, "POST", "{\"group_id\":\"nosuch\"}", "/things/%s/group", S1);
    expect_error(w->r, 404, "Not Found", "thing to a missing group");
    call(w, "POST", "{\"group\":\"testgroup1\"}", "/things/%s/group", S1);
    expect_error(w->r, 400, "Bad Request", "group body without group_id");
    cr_expect_eq(call(w, "GET", NULL, "/groups/testgroup1/things"), 200);
    cr_expect_str_eq(w->r->body,
                     "{\"data\":{\"group_id\":\"testgroup1\",\"tuids\":[\"" S3 "\",\"" S4 "\"]}}");
    check_deployment_group(w);
    set_thing_group(w, S3, "unassigned");
    expect_thing_group(w, S3, "unassigned");
    call(w, "GET", NULL, "/groups/testgroup1/things");
    cr_expect_str_eq(w->r->body, "{\"data\":{\"group_id\":\"testgroup1\",\"tuids\":[\"" S4 "\"]}}");
    call(w, "GET", NULL, "/groups/nosuch/things");
    expect_error(w->r, 404, "Not Found", "things of a missing group");
    check_odd_group_ids(w);
}

static void check_rename_delete(world_t *w)
{
    cr_expect_eq(call(w, "POST", "{ \"group_id\": \"newgroupname\" }", "/groups/testgroup1/rename"),
                 200, "%s", w->r->body);
    cr_expect_str_eq(
        w->r->body,
        "{\"data\":{\"group_id\":\"newgroupname\",\"old\":\"testgroup1\",\"renamed\":true}}");
    expect_thing_group(w, S4, "newgroupname");
    call(w, "GET", NULL, "/groups/newgroupname/things");
    cr_expect_str_eq(jstr(w->r->json, "data.tuids.0"), S4, "%s", w->r->body);
    call(w, "GET", NULL, "/groups/testgroup1/things");
    expect_error(w->r, 404, "Not Found", "old name after rename");
    call(w, "POST", "{\"group_id\":\"newgroupname\"}", "/groups/zeta/rename");
    expect_error(w->r, 409, "Conflict", "rename onto an existing id");
    call(w, "POST", "{\"group_id\":\"other\"}", "/groups/nosuch/rename");
    expect_error(w->r, 404, "Not Found", "rename a missing group");
    call(w, "POST", "{\"group_id\":\"bad name\"}", "/groups/zeta/rename");
    expect_error(w->r, 400, "Bad Request", "rename to a name with a space");
    call(w, "POST", "{\"group_id\":\"unassigned\"}", "/groups/zeta/rename");
    expect_error(w->r, 400, "Bad Request", "rename to unassigned");
    cr_expect_eq(request(w->tsmd.http_port, w->r, "DELETE", BASE "/groups/newgroupname", w->token,
                         JSON_CT, NULL),
                 200, "DELETE with a Content-Type and no body: %s", w->r->body);
    cr_expect_str_eq(w->r->body, "{\"data\":{\"group_id\":\"newgroupname\",\"deleted\":true}}");
    expect_thing_group(w, S4, "unassigned");
    call(w, "DELETE", NULL, "/groups/newgroupname");
    expect_error(w->r, 404, "Not Found", "delete a missing group");
    expect_groups(w, "", "Alpha a/b gr\xc3\xbcppe nodesc zeta");
}

Test(api, installations_and_groups, .timeout = 90)
{
    world_t w;
    world_start(&w, "c", BASE, NULL);
    feed_story(&w);
    check_installations(&w);
    check_retire_closes_window(&w);
    check_group_create_and_list(&w);
    check_thing_groups(&w);
    check_rename_delete(&w);
    world_stop(&w);
}
