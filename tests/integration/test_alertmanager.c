/* test_alertmanager.c - windows pushed to a real Prometheus Alertmanager
 * (real tsmd, tsm-broker, Redis; event clock), checked through
 * Alertmanager's API v2: labels and startsAt, resolution on close, a
 * silence while tsmd keeps re-sending, an Alertmanager outage, an HA pair
 * with one member down, and a SIGKILL of tsmd before delivery.
 *
 * The story (gateway timeout 600 s, heartbeat 3600 s; GW* and CLK have no
 * heartbeat alert), T = a base two days ago, messages every 300 s:
 *   phase 1, T .. T+1200: GW1, GW2, CLK report; S1 through GW1, S2 through GW2;
 *   phase 2, .. T+6000: only GW2 and CLK: GW1's "gateway connection lost"
 *            opens (from T+1200); S2's "heartbeat missed" opens (from T+1200,
 *            gateway GW2); S1 is held back by GW1's window;
 *   phase 3, T+6300: GW1 and S2 report: GW1's and S2's windows close, S1's
 *            opens (from T+1200, gateway GW1). */
#include "am_harness.h"

#define STEP 300

static long T;

static void msg(rd_kafka_t *rk, const char *tuid, const char *gw, long ts)
{
    char json[256];
    int n =
        gw ? snprintf(json, sizeof json,
                      "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"%s\",\"tsmTs\":%ld,"
                      "\"tsmGw\":\"%s\"}",
                      tuid, ts, gw)
           : snprintf(json, sizeof json,
                      "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"%s\",\"tsmTs\":%ld}", tuid, ts);
    h_produce(rk, "tsm.raw", tuid, json, (size_t)n);
}

static void phase(rd_kafka_t *rk, int which)
{
    long from = which == 1 ? T : which == 2 ? T + 1500 : T + 6300;
    long until = which == 1 ? T + 1200 : which == 2 ? T + 6000 : T + 6600;
    for (long t = from; t <= until; t += STEP) {
        bool all = which == 1 || t == T + 6300;
        if (all) msg(rk, "GW1", NULL, t);
        msg(rk, "GW2", NULL, t);
        if (which == 1) msg(rk, "S1", "GW1", t);
        if (all) msg(rk, "S2", "GW2", t);
        msg(rk, "CLK", "GW2", t);
    }
    rd_kafka_flush(rk, 10000);
}

typedef struct world_s {
    h_broker_t broker;
    rd_kafka_t *rk;
    redisContext *redis;
    h_tsmd_t tsmd;
    char name[64];   /* the test label's value and the group id */
    char prefix[32]; /* redis.prefix */
    char urls[256];
} world_t;

static void world_open(world_t *w, const char *name)
{
    T = (long)time(NULL) / 3600 * 3600 - 2 * 86400;
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "%s-%d", name, (int)getpid());
    snprintf(w->prefix, sizeof w->prefix, "%s:", name);
    h_broker_start(&w->broker, 1);
    w->rk = h_producer(w->broker.bootstrap);
    w->redis = h_redis(h_redis_port());
    freeReplyObject(redisCommand(w->redis, "EVAL %s 0 %s",
                                 "for _,k in ipairs(redis.call('KEYS', ARGV[1]..'*')) do "
                                 "redis.call('DEL', k) end return 1",
                                 w->prefix));
}

static void tsmd_start(world_t *w)
{
    static char url[300], labels[128], group[96];
    snprintf(url, sizeof url, "alertmanager.url=%s", w->urls);
    snprintf(labels, sizeof labels, "alertmanager.labels=test=%s", w->name);
    snprintf(group, sizeof group, "kafka.group_id=%s", w->name);
    const char *extra[] = {"detector.clock=event",
                           "detector.gateway_timeout=600",
                           "detector.heartbeat_timeout=3600",
                           "detector.heartbeat_timeout.GW=100000",
                           "detector.heartbeat_timeout.CLK=100000",
                           "alertmanager.resend_interval=1",
                           "alertmanager.timeout=2",
                           "alertmanager.connect_timeout=1",
                           "auth.bootstrap_client=t:t-secret-1",
                           url,
                           labels,
                           group,
                           NULL};
    h_tsmd_start(&w->tsmd, w->broker.bootstrap, h_redis_port(), w->prefix, "/tmp/tsmd-test-am.log",
                 extra);
    h_tsmd_wait_ready(&w->tsmd, 30);
}

/* A world whose tsmd sends to the Alertmanager scripts/test started;
 * returns its port. */
static int world_shared(world_t *w, const char *name)
{
    world_open(w, name);
    int port = h_am_shared_port();
    snprintf(w->urls, sizeof w->urls, "http://127.0.0.1:%d", port);
    tsmd_start(w);
    return port;
}

static void wait_ingested(world_t *w)
{
    h_wait_committed(w->broker.bootstrap, w->name, "tsm.raw", 1, 60);
}

static void world_close(world_t *w)
{
    if (w->tsmd.proc.pid) cr_assert_eq(h_stop(&w->tsmd.proc, SIGTERM), 0);
    h_producer_close(w->rk);
    redisFree(w->redis);
    h_broker_stop(&w->broker);
}

/* Puts S2 into the deployment group named like the test, through the API. */
static void set_group(world_t *w)
{
    char body[512], auth[700];
    cr_assert_eq(h_http(w->tsmd.http_port, "POST", "/auth/client-token",
                        "Content-Type: application/json\r\n",
                        "{\"client_id\":\"t\",\"client_secret\":\"t-secret-1\"}", body,
                        sizeof body),
                 200, "%s", body);
    json_t *j = json_loads(body, 0, NULL);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             json_string_value(json_object_get(json_object_get(j, "data"), "token")));
    json_decref(j);
    char req[256];
    snprintf(req, sizeof req, "{\"group_id\":\"%s\"}", w->name);
    cr_assert_eq(h_http(w->tsmd.http_port, "POST", "/groups", auth, req, body, sizeof body), 200,
                 "%s", body);
    cr_assert_eq(
        h_http(w->tsmd.http_port, "POST", "/things/S2/group", auth, req, body, sizeof body), 200,
        "%s", body);
    h_sleep_ms(500); /* the change reaches ingest through Redis pub/sub */
}

static void rfc3339(char *buf, size_t cap, long t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

static void expect_starts(json_t *alert, long from)
{
    char want[40];
    rfc3339(want, sizeof want, from);
    cr_assert_str_eq(json_string_value(json_object_get(alert, "startsAt")), want);
}

Test(alertmanager, labels_starts_and_resolution, .timeout = 120)
{
    world_t w;
    int port = world_shared(&w, "am1");
    phase(w.rk, 1);
    wait_ingested(&w);
    set_group(&w);
    phase(w.rk, 2);
    h_am_wait_alerts(port, w.name, "GatewayConnectionLost/GW1 HeartbeatMissed/S2", 20);

    json_t *a = h_am_alerts(port, w.name);
    json_t *gw = h_am_find(a, "GatewayConnectionLost", "GW1");
    cr_assert_str_eq(h_am_label(gw, "alert_type"), "gateway connection lost");
    cr_assert_str_eq(h_am_label(gw, "group"), "unassigned");
    cr_assert_null(h_am_label(gw, "gateway"), "a gateway's own alert has no gateway label");
    cr_assert_str_eq(h_am_label(gw, "test"), w.name, "the static label");
    cr_assert_eq(json_object_size(json_object_get(gw, "labels")), 5);
    expect_starts(gw, T + 1200);
    json_t *s2 = h_am_find(a, "HeartbeatMissed", "S2");
    cr_assert_str_eq(h_am_label(s2, "alert_type"), "heartbeat missed");
    cr_assert_str_eq(h_am_label(s2, "group"), w.name);
    cr_assert_str_eq(h_am_label(s2, "gateway"), "GW2");
    cr_assert_eq(json_object_size(json_object_get(s2, "labels")), 6);
    expect_starts(s2, T + 1200);
    const char *summary =
        json_string_value(json_object_get(json_object_get(s2, "annotations"), "summary"));
    cr_assert(strstr(summary, "S2") && strstr(summary, "heartbeat"), "summary: %s", summary);
    json_decref(a);

    /* GW1 and S2 report: their alerts resolve; S1, held back until now, opens. */
    phase(w.rk, 3);
    h_am_wait_alerts(port, w.name, "HeartbeatMissed/S1", 20);
    a = h_am_alerts(port, w.name);
    json_t *s1 = h_am_find(a, "HeartbeatMissed", "S1");
    cr_assert_str_eq(h_am_label(s1, "gateway"), "GW1");
    cr_assert_str_eq(h_am_label(s1, "group"), "unassigned");
    expect_starts(s1, T + 1200);
    json_decref(a);
    world_close(&w);
}

Test(alertmanager, silence_suppresses_while_tsmd_keeps_sending, .timeout = 120)
{
    world_t w;
    int port = world_shared(&w, "am2");
    phase(w.rk, 1);
    phase(w.rk, 2);
    h_am_wait_alerts(port, w.name, "GatewayConnectionLost/GW1 HeartbeatMissed/S2", 30);

    char now[40], later[40], silence[768], body[512];
    rfc3339(now, sizeof now, (long)time(NULL) - 5);
    rfc3339(later, sizeof later, (long)time(NULL) + 3600);
    snprintf(silence, sizeof silence,
             "{\"matchers\":[{\"name\":\"tuid\",\"value\":\"S2\",\"isRegex\":false,"
             "\"isEqual\":true},{\"name\":\"test\",\"value\":\"%s\",\"isRegex\":false,"
             "\"isEqual\":true}],\"startsAt\":\"%s\",\"endsAt\":\"%s\",\"createdBy\":\"test\","
             "\"comment\":\"S2 in maintenance\"}",
             w.name, now, later);
    cr_assert_eq(h_http(port, "POST", "/api/v2/silences", "Content-Type: application/json\r\n",
                        silence, body, sizeof body),
                 200, "%s", body);

    double until = h_now() + 10;
    char ends_before[64] = "";
    double sent_before = 0;
    for (;;) {
        json_t *a = h_am_alerts(port, w.name);
        json_t *s2 = h_am_find(a, "HeartbeatMissed", "S2");
        json_t *st = json_object_get(s2, "status");
        bool silenced = json_array_size(json_object_get(st, "silencedBy")) == 1;
        if (silenced) {
            cr_assert_str_eq(json_string_value(json_object_get(st, "state")), "suppressed");
            snprintf(ends_before, sizeof ends_before, "%s",
                     json_string_value(json_object_get(s2, "endsAt")));
            json_t *gw = h_am_find(a, "GatewayConnectionLost", "GW1");
            cr_assert_str_eq(
                json_string_value(json_object_get(json_object_get(gw, "status"), "state")),
                "active", "the silence covers S2 alone");
        }
        json_decref(a);
        if (silenced) break;
        cr_assert(h_now() < until, "S2's alert not silenced after 10 s");
        h_sleep_ms(200);
    }
    sent_before = h_metric(&w.tsmd, "tsmd_alertmanager_alerts_sent_total");
    h_sleep_ms(2500);
    cr_assert_gt(h_metric(&w.tsmd, "tsmd_alertmanager_alerts_sent_total"), sent_before + 2,
                 "tsmd keeps re-sending the open windows");
    json_t *a = h_am_alerts(port, w.name);
    json_t *s2 = h_am_find(a, "HeartbeatMissed", "S2");
    cr_assert_not_null(s2, "the silenced alert is still there");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(s2, "status"), "state")),
                     "suppressed");
    cr_assert_gt(strcmp(json_string_value(json_object_get(s2, "endsAt")), ends_before), 0,
                 "re-sends move endsAt on (%s, before %s)",
                 json_string_value(json_object_get(s2, "endsAt")), ends_before);
    json_decref(a);
    world_close(&w);
}

/* Waits until S1's alert is there, then watches for 3 s more: GW1's and
 * S2's alerts (closed windows) must never show as active meanwhile. */
static void expect_only_s1(int port, const char *test, double timeout_s)
{
    double until = h_now() + timeout_s, settled = 0;
    for (;;) {
        json_t *a = h_am_alerts(port, test);
        bool s1 = a && h_am_find(a, "HeartbeatMissed", "S1");
        bool stale = a && (h_am_find(a, "GatewayConnectionLost", "GW1") ||
                           h_am_find(a, "HeartbeatMissed", "S2"));
        json_decref(a);
        cr_assert(!stale,
                  "a closed window is active in Alertmanager: a close came before its open");
        if (s1 && settled == 0) settled = h_now() + 3;
        if (settled && h_now() > settled) break;
        cr_assert(h_now() < until, "S1's alert did not arrive in %.0f s", timeout_s);
        h_sleep_ms(100);
    }
    h_am_wait_alerts(port, test, "HeartbeatMissed/S1", 1);
}

Test(alertmanager, outage_every_change_arrives_in_order, .timeout = 180)
{
    world_t w;
    world_open(&w, "am3");
    h_am_t am = {0};
    h_am_start(&am);
    snprintf(w.urls, sizeof w.urls, "http://127.0.0.1:%d", am.port);
    tsmd_start(&w);
    phase(w.rk, 1);
    wait_ingested(&w);
    h_am_stop(&am);

    /* While Alertmanager is away: GW1 and S2 open, GW1 and S2 close, S1 opens. */
    phase(w.rk, 2);
    phase(w.rk, 3);
    wait_ingested(&w); /* ingest went on */
    double waiting = h_metric(&w.tsmd, "tsmd_alertmanager_queue_depth");
    double failed = h_metric_sum(&w.tsmd, "tsmd_alertmanager_failures_total");
    cr_assert_gt(failed, 0, "POSTs failed while Alertmanager was away");

    h_am_start(&am);
    /* GW1's and S2's opens and closes arrive (as one alert with both ends
     * when they share a POST, else in order): neither is ever active. Had a
     * close come before its open, the alert would be active until its
     * endsAt (4 resend intervals). S1 is active. */
    expect_only_s1(am.port, w.name, 45);
    cr_assert_geq(h_am_metric(am.port, "alertmanager_alerts_received_total", "status=\"resolved\""),
                  2, "the closes of GW1 and S2 reached Alertmanager (queue held %.0f)", waiting);
    cr_assert_eq(h_metric(&w.tsmd, "tsmd_alertmanager_queue_depth"), 0);
    world_close(&w);
    h_am_done(&am);
}

Test(alertmanager, ha_pair_one_down_does_not_hold_the_other, .timeout = 180)
{
    world_t w;
    world_open(&w, "am4");
    h_am_t a = {0}, b = {0};
    h_am_start(&a);
    b.port = h_free_port(); /* b stays down for now */
    snprintf(w.urls, sizeof w.urls, "http://127.0.0.1:%d,http://127.0.0.1:%d/", a.port, b.port);
    tsmd_start(&w);
    phase(w.rk, 1);
    phase(w.rk, 2);
    h_am_wait_alerts(a.port, w.name, "GatewayConnectionLost/GW1 HeartbeatMissed/S2", 20);
    phase(w.rk, 3);
    h_am_wait_alerts(a.port, w.name, "HeartbeatMissed/S1", 20);
    h_am_start(&b);
    h_am_wait_alerts(b.port, w.name, "HeartbeatMissed/S1", 45);
    cr_assert_geq(h_am_metric(b.port, "alertmanager_alerts_received_total", "status=\"resolved\""),
                  2, "b got the closes too");
    /* Now a goes away: b keeps getting changes. */
    h_am_stop(&a);
    long t = T + 6900;
    msg(w.rk, "S1", "GW1", t);
    msg(w.rk, "CLK", "GW2", t);
    rd_kafka_flush(w.rk, 10000);
    h_am_wait_alerts(b.port, w.name, "", 20);
    world_close(&w);
    h_am_done(&a);
    h_am_done(&b);
}

Test(alertmanager, sigkill_before_delivery_is_delivered_after_restart, .timeout = 180)
{
    world_t w;
    world_open(&w, "am5");
    h_am_t am = {0};
    am.port = h_free_port(); /* down while the windows change */
    snprintf(w.urls, sizeof w.urls, "http://127.0.0.1:%d", am.port);
    tsmd_start(&w);
    phase(w.rk, 1);
    phase(w.rk, 2);
    phase(w.rk, 3);
    wait_ingested(&w);
    double until = h_now() + 10;
    while (h_metric(&w.tsmd, "tsmd_alertmanager_queue_depth") < 1 && h_now() < until)
        h_sleep_ms(100);
    cr_assert_geq(h_metric(&w.tsmd, "tsmd_alertmanager_queue_depth"), 1,
                  "the changes wait for Alertmanager");
    h_stop(&w.tsmd.proc, SIGKILL);
    h_am_start(&am);
    tsmd_start(&w);
    expect_only_s1(am.port, w.name, 30);
    cr_assert_geq(h_am_metric(am.port, "alertmanager_alerts_received_total", "status=\"resolved\""),
                  2, "the closes made before the SIGKILL arrived after the restart");
    world_close(&w);
    h_am_done(&am);
}

/* tsmd with alertmanager.labels in a config file (SIGHUP re-reads the file;
 * --set values would win over it). */
static void tsmd_start_conf(world_t *w, const char *conf)
{
    static char exe[512], brokers[600], rport[64], prefix[64], listen[64], url[300], group[96];
    snprintf(exe, sizeof exe, "%s/engine/tsmd", h_bin_dir());
    snprintf(brokers, sizeof brokers, "kafka.brokers=%s", w->broker.bootstrap);
    snprintf(rport, sizeof rport, "redis.port=%d", h_redis_port());
    snprintf(prefix, sizeof prefix, "redis.prefix=%s", w->prefix);
    w->tsmd.http_port = h_free_port();
    snprintf(listen, sizeof listen, "http.listen=127.0.0.1:%d", w->tsmd.http_port);
    snprintf(url, sizeof url, "alertmanager.url=%s", w->urls);
    snprintf(group, sizeof group, "kafka.group_id=%s", w->name);
    char *argv[] = {exe,
                    "--config",
                    (char *)conf,
                    "--set",
                    brokers,
                    "--set",
                    rport,
                    "--set",
                    prefix,
                    "--set",
                    listen,
                    "--set",
                    url,
                    "--set",
                    group,
                    "--set",
                    "detector.clock=event",
                    "--set",
                    "detector.gateway_timeout=600",
                    "--set",
                    "detector.heartbeat_timeout=3600",
                    "--set",
                    "detector.heartbeat_timeout.GW=100000",
                    "--set",
                    "detector.heartbeat_timeout.CLK=100000",
                    "--set",
                    "alertmanager.resend_interval=1",
                    NULL};
    w->tsmd.proc = h_spawn(argv, 0, 0, "/tmp/tsmd-test-am-hup.log");
    h_tsmd_wait_ready(&w->tsmd, 30);
}

/* Returns true once the log file holds needle (waits up to timeout_s). */
static bool log_says(const char *log, const char *needle, double timeout_s)
{
    double until = h_now() + timeout_s;
    do {
        FILE *f = fopen(log, "r");
        char line[4096];
        bool found = false;
        while (f && !found && fgets(line, sizeof line, f))
            found = strstr(line, needle) != NULL;
        if (f) fclose(f);
        if (found) return true;
        h_sleep_ms(100);
    } while (h_now() < until);
    return false;
}

static void write_labels(const char *path, const char *name, const char *stage)
{
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fprintf(f, "alertmanager.labels = test=%s,stage=%s\n", name, stage);
    fclose(f);
}

Test(alertmanager, sighup_gives_new_windows_the_new_labels, .timeout = 120)
{
    world_t w;
    world_open(&w, "am6");
    int port = h_am_shared_port();
    snprintf(w.urls, sizeof w.urls, "http://127.0.0.1:%d", port);
    char conf[128];
    snprintf(conf, sizeof conf, "/tmp/tsmd-test-am6-%d.conf", (int)getpid());
    write_labels(conf, w.name, "one");
    tsmd_start_conf(&w, conf);
    phase(w.rk, 1);
    phase(w.rk, 2);
    h_am_wait_alerts(port, w.name, "GatewayConnectionLost/GW1 HeartbeatMissed/S2", 20);
    json_t *a = h_am_alerts(port, w.name);
    cr_assert_str_eq(h_am_label(h_am_find(a, "GatewayConnectionLost", "GW1"), "stage"), "one");
    json_decref(a);

    write_labels(conf, w.name, "two");
    kill(w.tsmd.proc.pid, SIGHUP);
    cr_assert(log_says(w.tsmd.proc.log, "msg=\"setting changed\" key=\"alertmanager.labels\"", 10),
              "the reload of alertmanager.labels is not logged");
    /* S1 opens after the reload: it carries the new label. */
    phase(w.rk, 3);
    h_am_wait_alerts(port, w.name, "HeartbeatMissed/S1", 20);
    a = h_am_alerts(port, w.name);
    cr_assert_str_eq(h_am_label(h_am_find(a, "HeartbeatMissed", "S1"), "stage"), "two",
                     "a window opened after SIGHUP has the reloaded labels");
    json_decref(a);
    unlink(conf);
    world_close(&w);
}
