/* test_history.c - message history end to end with the real tsmd: full
 * histories stay within their cap and in Redis's compact listpack encoding
 * (before and after a restart), and the newest store.messages_per_thing
 * members read back as exactly the messages sent, newest first. */
#include "harness.h"

#include "proto/member.h"
#include "proto/mpjson.h"

#define THINGS 4
#define PER_THING 300 /* first run; the second sends AGAIN more */
#define AGAIN 60
#define KEEP 100
#define BASE_TS 1700000000

static void message(char *buf, size_t cap, int thing, int i)
{
    snprintf(buf, cap,
             "{\"tsmId\":12100,\"tsmEv\":10,\"tsmTuid\":\"TSSN%013d\",\"tsmGw\":"
             "\"TSGW%013d\",\"tsmTs\":%d,\"temp\":%d.%d,\"hum\":81.8,\"lux\":%d}",
             thing, thing % 2, BASE_TS + i, i % 40 - 10, i % 10, i * 7);
}

static void produce(const char *bootstrap, int from, int to)
{
    rd_kafka_t *rk = h_producer(bootstrap);
    char json[256], key[32];
    for (int i = from; i < to; i++)
        for (int t = 0; t < THINGS; t++) {
            message(json, sizeof json, t, i);
            snprintf(key, sizeof key, "TSSN%013d", t);
            h_produce(rk, "tsm.raw", key, json, strlen(json));
        }
    h_producer_close(rk);
}

/* Each history: at most KEEP + 15 members, a listpack, and its newest KEEP
 * members are the last KEEP messages sent (up to `sent`), as JSON. */
static void check_histories(redisContext *c, const char *prefix, int sent)
{
    for (int t = 0; t < THINGS; t++) {
        char key[96], tuid[32];
        snprintf(tuid, sizeof tuid, "TSSN%013d", t);
        snprintf(key, sizeof key, "%s{%s}:msgs", prefix, tuid);
        long long n = h_redis_int(c, "ZCARD %s", key);
        cr_assert(n >= KEEP && n <= KEEP + 15, "%s holds %lld members", key, n);
        redisReply *r = redisCommand(c, "OBJECT ENCODING %s", key);
        cr_assert_str_eq(r->str, "listpack", "%s", key);
        freeReplyObject(r);
        r = redisCommand(c, "ZREVRANGE %s 0 %d", key, KEEP - 1);
        cr_assert_eq(r->elements, KEEP);
        for (size_t i = 0; i < r->elements; i++) {
            proto_buf_t map = PROTO_BUF_INIT, json = PROTO_BUF_INIT;
            cr_assert_leq(r->element[i]->len, 64, "%s: a member of %zu bytes", key,
                          r->element[i]->len);
            cr_assert_eq(proto_member_to_msgpack(&map, r->element[i]->str, r->element[i]->len, tuid,
                                                 strlen(tuid)),
                         0);
            cr_assert_eq(proto_mpjson_append(&json, map.data, map.len), 0);
            proto_buf_putc(&json, 0);
            char want[320];
            message(want, sizeof want - 40, t, sent - 1 - (int)i);
            strcpy(want + strlen(want) - 1, ",\"deploymentGroupId\":\"unassigned\"}");
            cr_assert_str_eq(json.data, want);
            proto_buf_free(&map);
            proto_buf_free(&json);
        }
        freeReplyObject(r);
    }
}

Test(history, full_histories_stay_capped_compact_and_exact, .timeout = 150)
{
    h_broker_t broker;
    h_broker_start(&broker, 4);
    redisContext *c = h_redis(h_redis_port());
    const char *prefix = "ih1:";
    redisReply *r = redisCommand(c, "EVAL %s 0 %s",
                                 "for _,k in ipairs(redis.call('KEYS', ARGV[1]..'*')) do "
                                 "redis.call('DEL', k) end return 1",
                                 prefix);
    freeReplyObject(r);
    /* Preloaded: the first batches hold many messages of each thing. */
    produce(broker.bootstrap, 0, PER_THING);
    const char *extra[] = {"kafka.group_id=ih1", NULL};
    h_tsmd_t tsmd = {0};
    h_tsmd_start(&tsmd, broker.bootstrap, h_redis_port(), prefix, "/tmp/tsmd-ih1.log", extra);
    h_wait_committed(broker.bootstrap, "ih1", "tsm.raw", 4, 60);
    check_histories(c, prefix, PER_THING);
    cr_assert_eq(h_stop(&tsmd.proc, SIGTERM), 0);
    /* Restarted: the histories are restored full, and stay capped. */
    produce(broker.bootstrap, PER_THING, PER_THING + AGAIN);
    h_tsmd_start(&tsmd, broker.bootstrap, h_redis_port(), prefix, "/tmp/tsmd-ih1.log", extra);
    h_wait_committed(broker.bootstrap, "ih1", "tsm.raw", 4, 60);
    check_histories(c, prefix, PER_THING + AGAIN);
    cr_assert_eq(h_stop(&tsmd.proc, SIGTERM), 0);
    redisFree(c);
    h_broker_stop(&broker);
}
