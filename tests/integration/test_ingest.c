/* test_ingest.c - ingest end to end with the real tsmd, a real redis-server
 * and tsm-broker in its own process: the right state and history, rejected
 * records counted, offsets committed to the end; a SIGKILL mid-stream loses
 * and duplicates nothing; a Redis outage loses nothing and memory stays
 * bounded. */
#include "harness.h"

#define THINGS 300
#define GATEWAYS 5
#define MESSAGES 3000
#define BASE_TS 1700000000

/* What the test expects of one thing, computed while producing. */
typedef struct expect_s {
    long ts, t_batl, t_ver, t_gw;
    int batl;
    char ver[32];
    char gw[32];
    int unique; /* distinct messages sent */
} expect_t;

static expect_t expect[THINGS];

static unsigned rnd_state = 12345;
static unsigned rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) & 0x7fff;
}

/* Builds message i: its thing, JSON text and updates the expectation. */
static int make_msg(int i, int *thing, char *json, size_t cap, int record_expect)
{
    int t = (int)(rnd() % THINGS);
    long ts = BASE_TS + (long)(rnd() % 100000); /* out of order on purpose */
    int gw = (int)(rnd() % GATEWAYS);
    int kind = i % 4;
    char extra[96];
    if (kind == 0)
        snprintf(extra, sizeof extra, "\"batl\":%d", (int)(rnd() % 100));
    else if (kind == 1)
        snprintf(extra, sizeof extra, "\"swVersion\":\"v%d\"", (int)(rnd() % 1000));
    else if (kind == 2)
        snprintf(extra, sizeof extra, "\"temp\":%d.5,\"seq\":%d", (int)(rnd() % 40), i);
    else
        snprintf(extra, sizeof extra, "\"seq\":%d", i);
    int ids[] = {1110, 1100, 12100, 1};
    int n = snprintf(json, cap,
                     "{\"tsmId\":%d,\"tsmEv\":10,\"tsmTuid\":\"TSSN%013d\",\"tsmTs\":%ld,"
                     "\"tsmGw\":\"TSGW%013d\",%s}",
                     ids[kind], t, ts, gw, extra);
    *thing = t;
    if (record_expect) {
        expect_t *e = &expect[t];
        e->unique++;
        if (ts >= e->ts) e->ts = ts;
        if (ts >= e->t_gw) e->t_gw = ts, snprintf(e->gw, sizeof e->gw, "TSGW%013d", gw);
        if (kind == 0 && ts >= e->t_batl) e->t_batl = ts, sscanf(extra, "\"batl\":%d", &e->batl);
        if (kind == 1 && ts >= e->t_ver)
            e->t_ver = ts, sscanf(extra, "\"swVersion\":\"%31[^\"]", e->ver);
    }
    return n;
}

static const char *const malformed[] = {
    "not json at all",
    "{\"tsmId\":1,\"tsmEv\":1,\"tsmTuid\":\"BAD TUID\",\"tsmTs\":1}",
    "{\"tsmId\":1,\"tsmEv\":1,\"tsmTs\":1}",
    "{\"tsmId\":1e999,\"tsmEv\":1,\"tsmTuid\":\"X\",\"tsmTs\":1}",
    "{\"tsmId\":1,\"tsmId\":2,\"tsmEv\":1,\"tsmTuid\":\"X\",\"tsmTs\":1}",
    "{\"tsmId\":1,\"tsmEv\":1,\"tsmTuid\":\"X\",\"tsmTs\":1} trailing",
    "",
    "{\"tsmId\":\"1\",\"tsmEv\":1,\"tsmTuid\":\"X\",\"tsmTs\":1}",
};

static void check_state(redisContext *c, const char *prefix)
{
    char key[128];
    for (int t = 0; t < THINGS; t++) {
        const expect_t *e = &expect[t];
        if (e->unique == 0) continue;
        snprintf(key, sizeof key, "%s{TSSN%013d}:thing", prefix, t);
        char *ts = h_redis_hget(c, key, "timestamp");
        cr_assert_not_null(ts, "%s has no state", key);
        cr_assert_eq(atol(ts), e->ts, "%s timestamp %s, expected %ld", key, ts, e->ts);
        free(ts);
        char *gw = h_redis_hget(c, key, "gateway_tuid");
        cr_assert_str_eq(gw, e->gw, "%s gateway %s, expected %s", key, gw, e->gw);
        free(gw);
        if (e->t_batl) {
            char *b = h_redis_hget(c, key, "battery_level");
            cr_assert_eq(atoi(b), e->batl, "%s battery %s, expected %d", key, b, e->batl);
            free(b);
        }
        if (e->t_ver) {
            char *v = h_redis_hget(c, key, "version");
            cr_assert_str_eq(v, e->ver, "%s version %s, expected %s", key, v, e->ver);
            free(v);
        }
        snprintf(key, sizeof key, "%s{TSSN%013d}:msgs", prefix, t);
        long long n = h_redis_int(c, "ZCARD %s", key);
        cr_assert_eq(n, e->unique, "%s holds %lld messages, %d were sent", key, n, e->unique);
    }
}

/* Produces the stream: MESSAGES messages, every tenth sent twice, and the
 * malformed records spread through it. Returns the number of rejects. */
static int produce_stream(rd_kafka_t *rk, int from, int to)
{
    char json[512];
    int rejects = 0;
    rnd_state = 12345u + (unsigned)from;
    for (int i = from; i < to; i++) {
        int thing;
        int n = make_msg(i, &thing, json, sizeof json, 1);
        char key[32];
        snprintf(key, sizeof key, "TSSN%013d", thing);
        h_produce(rk, "tsm.raw", key, json, (size_t)n);
        if (i % 10 == 0) h_produce(rk, "tsm.raw", key, json, (size_t)n);
        if (i % 100 == 0) {
            const char *bad = malformed[(i / 100) % (sizeof malformed / sizeof *malformed)];
            h_produce(rk, "tsm.raw", "bad", bad, strlen(bad));
            rejects++;
        }
    }
    return rejects;
}

static void flush_prefix(redisContext *c, const char *prefix)
{
    redisReply *r = redisCommand(c, "EVAL %s 0 %s",
                                 "for _,k in ipairs(redis.call('KEYS', ARGV[1]..'*')) do "
                                 "redis.call('DEL', k) end return 1",
                                 prefix);
    freeReplyObject(r);
}

Test(ingest, state_history_rejects_and_offsets, .timeout = 120)
{
    memset(expect, 0, sizeof expect);
    h_broker_t broker;
    h_broker_start(&broker, 4);
    redisContext *c = h_redis(h_redis_port());
    const char *prefix = "it1:";
    flush_prefix(c, prefix);
    rd_kafka_t *rk = h_producer(broker.bootstrap);
    int rejects = produce_stream(rk, 0, MESSAGES);
    h_producer_close(rk);

    h_tsmd_t tsmd = {0};
    const char *extra[] = {"kafka.group_id=it1", NULL};
    h_tsmd_start(&tsmd, broker.bootstrap, h_redis_port(), prefix, "/tmp/tsmd-it1.log", extra);
    h_wait_committed(broker.bootstrap, "it1", "tsm.raw", 4, 60);
    check_state(c, prefix);
    double rejected = h_metric_sum(&tsmd, "tsmd_messages_rejected_total");
    cr_assert_eq((int)rejected, rejects, "%d rejected counted, %d malformed sent", (int)rejected,
                 rejects);
    cr_assert_eq(h_stop(&tsmd.proc, SIGTERM), 0, "tsmd did not exit 0 on SIGTERM");
    redisFree(c);
    h_broker_stop(&broker);
}

Test(ingest, sigkill_mid_stream_loses_and_duplicates_nothing, .timeout = 180)
{
    memset(expect, 0, sizeof expect);
    h_broker_t broker;
    h_broker_start(&broker, 4);
    redisContext *c = h_redis(h_redis_port());
    const char *prefix = "it2:";
    flush_prefix(c, prefix);
    const char *extra[] = {"kafka.group_id=it2", NULL};
    h_tsmd_t tsmd = {0};
    h_tsmd_start(&tsmd, broker.bootstrap, h_redis_port(), prefix, "/tmp/tsmd-it2.log", extra);
    rd_kafka_t *rk = h_producer(broker.bootstrap);
    /* Three kills at different points of a stream produced while consuming. */
    for (int round = 0; round < 3; round++) {
        produce_stream(rk, round * 1000, round * 1000 + 1000);
        rd_kafka_flush(rk, 10000);
        h_sleep_ms(150 + round * 200);
        h_stop(&tsmd.proc, SIGKILL);
        h_tsmd_start(&tsmd, broker.bootstrap, h_redis_port(), prefix, "/tmp/tsmd-it2.log", extra);
    }
    h_producer_close(rk);
    h_wait_committed(broker.bootstrap, "it2", "tsm.raw", 4, 90);
    check_state(c, prefix);
    cr_assert_eq(h_stop(&tsmd.proc, SIGTERM), 0);
    redisFree(c);
    h_broker_stop(&broker);
}

Test(ingest, redis_outage_loses_nothing_and_memory_stays_bounded, .timeout = 180)
{
    memset(expect, 0, sizeof expect);
    char dir[] = "/tmp/tsmd-it3-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int port = h_free_port();
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "redis-server --port %d --dir %s --save '' --appendonly yes --daemonize yes "
             "--pidfile %s/redis.pid --logfile %s/redis.log",
             port, dir, dir, dir);
    cr_assert_eq(system(cmd), 0);
    h_sleep_ms(300);
    h_broker_t broker;
    h_broker_start(&broker, 4);
    const char *extra[] = {"kafka.group_id=it3", NULL};
    h_tsmd_t tsmd = {0};
    h_tsmd_start(&tsmd, broker.bootstrap, port, "it3:", "/tmp/tsmd-it3.log", extra);
    rd_kafka_t *rk = h_producer(broker.bootstrap);
    produce_stream(rk, 0, 1000);
    rd_kafka_flush(rk, 10000);
    h_sleep_ms(500);
    snprintf(cmd, sizeof cmd, "redis-cli -p %d shutdown >/dev/null 2>&1", port);
    system(cmd);
    produce_stream(rk, 1000, 3000);
    rd_kafka_flush(rk, 10000);
    h_sleep_ms(3000); /* tsmd consumes into a full pipeline while Redis is away */
    long rss_during = h_peak_rss_kb(tsmd.proc.pid);
    snprintf(cmd, sizeof cmd,
             "redis-server --port %d --dir %s --save '' --appendonly yes --daemonize yes "
             "--pidfile %s/redis.pid --logfile %s/redis.log",
             port, dir, dir, dir);
    cr_assert_eq(system(cmd), 0);
    h_producer_close(rk);
    h_wait_committed(broker.bootstrap, "it3", "tsm.raw", 4, 90);
    redisContext *c = h_redis(port);
    check_state(c, "it3:");
    long rss = h_peak_rss_kb(tsmd.proc.pid);
    /* The ring (32 MiB) and librdkafka's queues bound it; 400 MiB is far
     * above what a bounded pipeline needs and far below an unbounded one. */
    cr_assert(rss > 0 && rss < 400 * 1024, "peak RSS %ld KiB (during outage %ld)", rss, rss_during);
    cr_assert_eq(h_stop(&tsmd.proc, SIGTERM), 0);
    redisFree(c);
    snprintf(cmd, sizeof cmd, "redis-cli -p %d shutdown nosave >/dev/null 2>&1; rm -rf %s", port,
             dir);
    system(cmd);
    h_broker_stop(&broker);
}
