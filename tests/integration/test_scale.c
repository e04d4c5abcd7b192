/* test_scale.c - several tsmd instances in one consumer group give the same
 * answers as one (issue 7): one Redis, one broker with 8 partitions, the
 * event clock, the same input consumed once by one instance and once by
 * three; and a rebalance mid-stream (one instance joins, one is SIGKILLed).
 *
 * The story, in simulated minutes from T (ten days ago), produced paced so
 * that consumption keeps up (the event clock of each instance follows the
 * stream): gateway timeout 15 min, heartbeat 40 min, inhibition on.
 *   0..30    G1 and S1..S6 (through G1) report every minute; G2 and S7..S9
 *            (through G2) report every minute until 120;
 *   31..89   G1 and S1..S6 silent: G1's window opens at 45 (from 30); the
 *            sensors, due at 70, are held back, whichever instance has them;
 *   90       G1 reports: its window closes; S1..S6 open (from 30);
 *   95..120  S1..S3 report again (their windows close at 95); S4..S6 stay
 *            silent and open.
 * The sensors' tuids spread over the partitions, so over the instances. */
#include "harness.h"

#define MINUTES 120
#define NSENS 9

static const char *const sensors[NSENS] = {"TSSNA1", "TSSNB2", "TSSNC3", "TSSND4", "TSSNE5",
                                           "TSSNF6", "TSSNG7", "TSSNH8", "TSSNI9"};

static void msg(rd_kafka_t *rk, const char *tuid, const char *gw, long ts)
{
    char json[256];
    int n =
        gw ? snprintf(json, sizeof json,
                      "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"%s\",\"tsmTs\":%ld,"
                      "\"tsmGw\":\"%s\",\"batl\":%ld}",
                      tuid, ts, gw, ts % 100)
           : snprintf(json, sizeof json,
                      "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"%s\",\"tsmTs\":%ld}", tuid, ts);
    h_produce(rk, "tsm.raw", tuid, json, (size_t)n);
}

/* Produces minutes [from, to) of the story, one simulated minute per
 * 100 ms of real time. */
static void story(rd_kafka_t *rk, long T, int from, int to)
{
    for (int m = from; m < to && m <= MINUTES; m++) {
        long ts = T + m * 60L;
        bool g1_up = m <= 30 || m >= 90;
        if (g1_up) msg(rk, "TSGW01", NULL, ts);
        msg(rk, "TSGW02", NULL, ts);
        for (int i = 0; i < NSENS; i++) {
            bool up = i >= 6 || m <= 30 || (i < 3 && m >= 95);
            if (up) msg(rk, sensors[i], i < 6 ? "TSGW01" : "TSGW02", ts);
        }
        rd_kafka_flush(rk, 5000);
        h_sleep_ms(100);
    }
}

static const char *const settings[] = {"detector.clock=event", "detector.gateway_timeout=900",
                                       "detector.heartbeat_timeout=2400",
                                       "store.messages_per_thing=1000", NULL};

static void start(h_tsmd_t *t, h_broker_t *b, const char *prefix, const char *group, int n)
{
    static char g[8][64];
    snprintf(g[n], sizeof g[n], "kafka.group_id=%s", group);
    const char *extra[] = {settings[0], settings[1], settings[2], settings[3], g[n], NULL};
    char log[64];
    snprintf(log, sizeof log, "/tmp/tsmd-scale-%s-%d.log", prefix, n);
    h_tsmd_start(t, b->bootstrap, h_redis_port(), prefix, log, extra);
}

static void expect_story(redisContext *c, const char *prefix, long T)
{
    char got[512], want[128];
    h_windows(c, prefix, "TSGW01", "gw", got, sizeof got);
    snprintf(want, sizeof want, "%ld:%ld", T + 1800, T + 5400);
    cr_assert_str_eq(got, want, "%s G1: \"%s\", expected \"%s\"", prefix, got, want);
    h_windows(c, prefix, "TSGW02", "gw", got, sizeof got);
    cr_assert_str_eq(got, "", "%s G2 never silent: \"%s\"", prefix, got);
    for (int i = 0; i < NSENS; i++) {
        h_windows(c, prefix, sensors[i], "hb", got, sizeof got);
        if (i < 3)
            snprintf(want, sizeof want, "%ld:%ld", T + 1800, T + 5700);
        else if (i < 6)
            snprintf(want, sizeof want, "%ld:", T + 1800);
        else
            want[0] = 0;
        cr_assert_str_eq(got, want, "%s %s: \"%s\", expected \"%s\"", prefix, sensors[i], got,
                         want);
    }
    redisReply *r = redisCommand(c, "SORT %salerting ALPHA", prefix);
    cr_assert_eq(r->elements, 3, "%s alerting holds %zu tuids, expected S4..S6", prefix,
                 r->elements);
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq(r->element[i]->str, sensors[3 + i]);
    freeReplyObject(r);
}

/* Thing state and history must be the same under both prefixes. */
static void expect_same_state(redisContext *c, const char *p1, const char *p2)
{
    const char *all[NSENS + 2];
    for (int i = 0; i < NSENS; i++)
        all[i] = sensors[i];
    all[NSENS] = "TSGW01";
    all[NSENS + 1] = "TSGW02";
    for (int i = 0; i < NSENS + 2; i++) {
        static const char *const fields[] = {"timestamp", "gateway_tuid", "battery_level"};
        char k1[128], k2[128];
        snprintf(k1, sizeof k1, "%s{%s}:thing", p1, all[i]);
        snprintf(k2, sizeof k2, "%s{%s}:thing", p2, all[i]);
        for (int f = 0; f < 3; f++) {
            char *a = h_redis_hget(c, k1, fields[f]), *b = h_redis_hget(c, k2, fields[f]);
            cr_assert((a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0),
                      "%s %s: %s vs %s", all[i], fields[f], a ? a : "(nil)", b ? b : "(nil)");
            free(a);
            free(b);
        }
        long long n1 = h_redis_int(c, "ZCARD %s{%s}:msgs", p1, all[i]);
        long long n2 = h_redis_int(c, "ZCARD %s{%s}:msgs", p2, all[i]);
        cr_assert_eq(n1, n2, "%s history: %lld vs %lld messages", all[i], n1, n2);
    }
}

/* Every instance ready (partitions assigned, state restored). */
static void wait_group(h_tsmd_t *t, int n)
{
    for (int i = 0; i < n; i++)
        h_tsmd_wait_ready(&t[i], 30);
    h_sleep_ms(1500); /* a joining member triggers one more rebalance */
    for (int i = 0; i < n; i++)
        h_tsmd_wait_ready(&t[i], 30);
}

Test(scale, three_instances_answer_as_one, .timeout = 180)
{
    long T = (long)time(NULL) / 3600 * 3600 - 10 * 86400;
    h_broker_t b;
    h_broker_start(&b, 8);
    redisContext *c = h_redis(h_redis_port());
    h_redis_clean(c, "sc1:");
    h_redis_clean(c, "sc3:");
    h_tsmd_t one[1], three[3];
    memset(one, 0, sizeof one);
    memset(three, 0, sizeof three);
    start(&one[0], &b, "sc1:", "sc1", 0);
    for (int i = 0; i < 3; i++)
        start(&three[i], &b, "sc3:", "sc3", i + 1);
    wait_group(one, 1);
    wait_group(three, 3);
    rd_kafka_t *rk = h_producer(b.bootstrap);
    story(rk, T, 0, MINUTES + 1);
    h_wait_committed(b.bootstrap, "sc1", "tsm.raw", 8, 60);
    h_wait_committed(b.bootstrap, "sc3", "tsm.raw", 8, 60);
    h_sleep_ms(500);
    expect_story(c, "sc1:", T);
    expect_story(c, "sc3:", T);
    expect_same_state(c, "sc1:", "sc3:");
    cr_assert_eq(h_stop(&one[0].proc, SIGTERM), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(h_stop(&three[i].proc, SIGTERM), 0);
    h_producer_close(rk);
    redisFree(c);
    h_broker_stop(&b);
}

Test(scale, rebalance_mid_stream_loses_nothing, .timeout = 180)
{
    long T = (long)time(NULL) / 3600 * 3600 - 10 * 86400;
    h_broker_t b;
    h_broker_start(&b, 8);
    redisContext *c = h_redis(h_redis_port());
    h_redis_clean(c, "sr:");
    h_tsmd_t t[3];
    memset(t, 0, sizeof t);
    start(&t[0], &b, "sr:", "sr", 0);
    start(&t[1], &b, "sr:", "sr", 1);
    wait_group(t, 2);
    rd_kafka_t *rk = h_producer(b.bootstrap);
    story(rk, T, 0, 20);
    /* Mid-stream: a third instance joins and the first is killed. The stream
     * waits for the group to settle, so event time stands still meanwhile. */
    start(&t[2], &b, "sr:", "sr", 2);
    h_sleep_ms(300);
    h_stop(&t[0].proc, SIGKILL);
    h_wait_committed(b.bootstrap, "sr", "tsm.raw", 8, 60);
    h_sleep_ms(8000); /* the killed member's session (6 s) expires: rebalance */
    h_tsmd_wait_ready(&t[1], 30);
    h_tsmd_wait_ready(&t[2], 30);
    story(rk, T, 20, MINUTES + 1);
    h_wait_committed(b.bootstrap, "sr", "tsm.raw", 8, 60);
    h_sleep_ms(500);
    expect_story(c, "sr:", T);
    for (int i = 0; i < NSENS; i++) {
        /* Every minute a sensor reported is in its history exactly once. */
        int sent = 0;
        for (int m = 0; m <= MINUTES; m++)
            if (i >= 6 || m <= 30 || (i < 3 && m >= 95)) sent++;
        long long n = h_redis_int(c, "ZCARD sr:{%s}:msgs", sensors[i]);
        cr_assert_eq(n, sent, "%s: %lld messages stored, %d sent", sensors[i], n, sent);
    }
    cr_assert_eq(h_stop(&t[1].proc, SIGTERM), 0);
    cr_assert_eq(h_stop(&t[2].proc, SIGTERM), 0);
    h_producer_close(rk);
    redisFree(c);
    h_broker_stop(&b);
}
