/* test_detector.c - the detector end to end (real tsmd, Redis, tsm-broker,
 * event clock): a gateway outage with three sensors, checked in
 * P alerting, the stored windows and the events on the alerts topic; then the
 * same story across a SIGTERM restart and across a SIGKILL in the middle,
 * which must end with identical windows.
 *
 * The story (gateway timeout 600 s, heartbeat 3600 s, TSGW prefix 7200 s,
 * inhibition on), T = a base ten days ago so that the event clock stays
 * behind the wall clock:
 *   T .. T+3000     G, S1, S2, S3 report every 300 s, sensors through G;
 *   T+3300 ..       G, S1, S2 silent; S3 moves to G2; the clock thing keeps
 *                   reporting through G2 every 300 s;
 *   T+3600          G's "gateway connection lost" opens (from T+3000);
 *   T+6600          S1, S2 due, held back by G's open window;
 *   T+9000          G reports: its window closes; S1, S2 still silent, so
 *                   their "heartbeat missed" windows open (from T+3000);
 *   T+9300          S1 reports: its window closes;
 *   until T+10200   the clock runs on; S2 stays open. */
#include "harness.h"

#define STEP 300

static long base_ts(void)
{
    return (long)time(NULL) / 3600 * 3600 - 10 * 86400;
}

static void msg(rd_kafka_t *rk, const char *tuid, const char *gw, long ts)
{
    char json[256];
    int n;
    if (gw)
        n = snprintf(
            json, sizeof json,
            "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"%s\",\"tsmTs\":%ld,\"tsmGw\":\"%s\","
            "\"batl\":90}",
            tuid, ts, gw);
    else
        n = snprintf(json, sizeof json,
                     "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"%s\",\"tsmTs\":%ld}", tuid, ts);
    h_produce(rk, "tsm.raw", tuid, json, (size_t)n);
}

/* Produces the story's messages with T <= ts < until. */
static void story(rd_kafka_t *rk, long T, long from, long until)
{
    for (long t = T; t <= T + 10200; t += STEP) {
        if (t < from || t >= until) continue;
        bool outage = t > T + 3000 && t < T + 9000;
        if (!outage) msg(rk, "TSGW01", NULL, t);
        if (t <= T + 3000) {
            msg(rk, "TSSN01", "TSGW01", t);
            msg(rk, "TSSN02", "TSGW01", t);
        }
        if (t == T + 9300) msg(rk, "TSSN01", "TSGW01", t);
        msg(rk, "TSSN03", t <= T + 3000 ? "TSGW01" : "TSGW02", t);
        msg(rk, "TSSNCLOCK", "TSGW02", t);
    }
    rd_kafka_flush(rk, 10000);
}

static void expect_windows(redisContext *c, const char *prefix, long T)
{
    char got[512], want[128];
    h_windows(c, prefix, "TSGW01", "gw", got, sizeof got);
    snprintf(want, sizeof want, "%ld:%ld", T + 3000, T + 9000);
    cr_assert_str_eq(got, want, "gateway windows \"%s\", expected \"%s\"", got, want);
    h_windows(c, prefix, "TSSN01", "hb", got, sizeof got);
    snprintf(want, sizeof want, "%ld:%ld", T + 3000, T + 9300);
    cr_assert_str_eq(got, want, "S1 windows \"%s\", expected \"%s\"", got, want);
    h_windows(c, prefix, "TSSN02", "hb", got, sizeof got);
    snprintf(want, sizeof want, "%ld:", T + 3000);
    cr_assert_str_eq(got, want, "S2 windows \"%s\", expected \"%s\"", got, want);
    h_windows(c, prefix, "TSSN03", "hb", got, sizeof got);
    cr_assert_str_eq(got, "", "S3 moved gateways and kept reporting: no window, got \"%s\"", got);
    h_windows(c, prefix, "TSGW01", "hb", got, sizeof got);
    cr_assert_str_eq(got, "", "G's own heartbeat timeout (TSGW prefix) not reached: \"%s\"", got);
    redisReply *r = redisCommand(c, "SMEMBERS %salerting", prefix);
    cr_assert_eq(r->elements, 1, "alerting holds %zu tuids, expected TSSN02 alone", r->elements);
    cr_assert_str_eq(r->element[0]->str, "TSSN02");
    freeReplyObject(r);
}

static int count_events(char events[][192], int n, const char *tuid, const char *state)
{
    char t[64], s[32];
    snprintf(t, sizeof t, "\"tuid\":\"%s\"", tuid);
    snprintf(s, sizeof s, "\"state\":\"%s\"", state);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strstr(events[i], t) && strstr(events[i], s)) k++;
    return k;
}

static const char *const settings[] = {"detector.clock=event",
                                       "detector.gateway_timeout=600",
                                       "detector.heartbeat_timeout=3600",
                                       "detector.heartbeat_timeout.TSGW=7200",
                                       "detector.heartbeat_timeout.TSSNCLOCK=100000",
                                       NULL,
                                       NULL};

static void start(h_tsmd_t *t, h_broker_t *b, const char *prefix, const char *group)
{
    static char g[64];
    snprintf(g, sizeof g, "kafka.group_id=%s", group);
    const char *extra[8];
    int i = 0;
    for (; settings[i]; i++)
        extra[i] = settings[i];
    extra[i++] = g;
    extra[i] = NULL;
    h_tsmd_start(t, b->bootstrap, h_redis_port(), prefix, "/tmp/tsmd-det.log", extra);
}

Test(detector, gateway_outage_story, .timeout = 120)
{
    long T = base_ts();
    h_broker_t b;
    h_broker_start(&b, 1);
    redisContext *c = h_redis(h_redis_port());
    h_redis_clean(c, "dt1:");
    rd_kafka_t *rk = h_producer(b.bootstrap);
    story(rk, T, T, T + 20000);
    h_tsmd_t t = {0};
    start(&t, &b, "dt1:", "dt1");
    h_wait_committed(b.bootstrap, "dt1", "tsm.raw", 1, 60);
    expect_windows(c, "dt1:", T);
    static char events[64][192];
    int n = h_read_alerts(b.bootstrap, "tsm.alerts", 1, events, 64);
    for (int i = 0; i < n; i++)
        cr_log_info("event %s", events[i]);
    cr_assert_eq(count_events(events, n, "TSGW01", "open"), 1, "%d events", n);
    cr_assert_eq(count_events(events, n, "TSGW01", "closed"), 1);
    cr_assert_eq(count_events(events, n, "TSSN01", "open"), 1);
    cr_assert_eq(count_events(events, n, "TSSN01", "closed"), 1);
    cr_assert_eq(count_events(events, n, "TSSN02", "open"), 1);
    cr_assert_eq(count_events(events, n, "TSSN02", "closed"), 0);
    cr_assert_eq(n, 5, "%d events, expected 5", n);
    cr_assert_eq(h_stop(&t.proc, SIGTERM), 0);
    h_producer_close(rk);
    redisFree(c);
    h_broker_stop(&b);
}

Test(detector, same_windows_across_sigterm_restart, .timeout = 120)
{
    long T = base_ts();
    h_broker_t b;
    h_broker_start(&b, 1);
    redisContext *c = h_redis(h_redis_port());
    h_redis_clean(c, "dt2:");
    rd_kafka_t *rk = h_producer(b.bootstrap);
    h_tsmd_t t = {0};
    start(&t, &b, "dt2:", "dt2");
    /* Stop in the middle of the outage, with G's window open and S1, S2 held. */
    story(rk, T, T, T + 7000);
    h_wait_committed(b.bootstrap, "dt2", "tsm.raw", 1, 60);
    cr_assert_eq(h_stop(&t.proc, SIGTERM), 0);
    story(rk, T, T + 7000, T + 20000);
    start(&t, &b, "dt2:", "dt2");
    h_wait_committed(b.bootstrap, "dt2", "tsm.raw", 1, 60);
    expect_windows(c, "dt2:", T);
    cr_assert_eq(h_stop(&t.proc, SIGTERM), 0);
    h_producer_close(rk);
    redisFree(c);
    h_broker_stop(&b);
}

Test(detector, same_windows_across_sigkill, .timeout = 120)
{
    long T = base_ts();
    h_broker_t b;
    h_broker_start(&b, 1);
    redisContext *c = h_redis(h_redis_port());
    h_redis_clean(c, "dt3:");
    rd_kafka_t *rk = h_producer(b.bootstrap);
    h_tsmd_t t = {0};
    start(&t, &b, "dt3:", "dt3");
    h_tsmd_wait_ready(&t, 30);
    story(rk, T, T, T + 9150);
    h_sleep_ms(300);
    h_stop(&t.proc, SIGKILL);
    story(rk, T, T + 9150, T + 20000);
    start(&t, &b, "dt3:", "dt3");
    h_wait_committed(b.bootstrap, "dt3", "tsm.raw", 1, 60);
    expect_windows(c, "dt3:", T);
    cr_assert_eq(h_stop(&t.proc, SIGTERM), 0);
    h_producer_close(rk);
    redisFree(c);
    h_broker_stop(&b);
}

Test(detector, outbox_left_by_a_crash_is_delivered_at_start, .timeout = 60)
{
    /* A crash between Redis acknowledging a window and Kafka acknowledging
     * its event leaves the event in P outbox: the next start delivers it. */
    h_broker_t b;
    h_broker_start(&b, 1);
    redisContext *c = h_redis(h_redis_port());
    h_redis_clean(c, "dt4:");
    const char *ev = "{\"tuid\":\"TSSN09\",\"alert_type\":\"heartbeat missed\","
                     "\"from\":\"2026-01-01T00:00:00\",\"to\":null,\"state\":\"open\"}";
    freeReplyObject(redisCommand(c, "HSET dt4:outbox TSSN09|hb|1767225600|open %s", ev));
    h_tsmd_t t = {0};
    start(&t, &b, "dt4:", "dt4");
    h_tsmd_wait_ready(&t, 30);
    static char events[8][192];
    int n = h_read_alerts(b.bootstrap, "tsm.alerts", 1, events, 8);
    cr_assert_eq(n, 1, "%d events on the alerts topic, expected the one left in the outbox", n);
    cr_assert_str_eq(events[0], ev);
    double until = h_now() + 10;
    while (h_redis_int(c, "HLEN dt4:outbox") != 0 && h_now() < until)
        h_sleep_ms(100);
    cr_assert_eq(h_redis_int(c, "HLEN dt4:outbox"), 0, "delivered events leave the outbox");
    cr_assert_eq(h_stop(&t.proc, SIGTERM), 0);
    redisFree(c);
    h_broker_stop(&b);
}
