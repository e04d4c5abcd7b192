/* test_cluster_slot.c - what a cluster client computes without a server: the
 * slot of a key and of a command (the numbers are redis-server's own, from
 * CLUSTER KEYSLOT), the redirections of error replies, and the slot map read
 * from a CLUSTER SLOTS reply built here as hiredis would. */
#include "engine/redis/cluster_slot.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static uint16_t slot_of(const char *key)
{
    return eng_cluster_key_slot(key, strlen(key));
}

Test(cluster_slot, crc16_is_xmodem)
{
    cr_expect_eq(eng_crc16("123456789", 9), 0x31C3, "got 0x%04x", eng_crc16("123456789", 9));
    cr_expect_eq(eng_crc16("", 0), 0);
}

/* The bit-by-bit definition the lookup table must agree with. */
static uint16_t crc16_bitwise(const uint8_t *p, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

Test(cluster_slot, crc16_table_agrees_with_the_definition)
{
    uint8_t buf[64];
    uint32_t x = 12345;
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(round % 64);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
        cr_assert_eq(eng_crc16(buf, len), crc16_bitwise(buf, len), "round %d", round);
    }
    for (int b = 0; b < 256; b++) {
        uint8_t one = (uint8_t)b;
        cr_assert_eq(eng_crc16(&one, 1), crc16_bitwise(&one, 1), "byte %d", b);
    }
}

Test(cluster_slot, key_slots_match_redis_server)
{
    cr_expect_eq(slot_of("123456789"), 12739);
    cr_expect_eq(slot_of("foo"), 12182);
    cr_expect_eq(slot_of("bar"), 5061);
    cr_expect_eq(slot_of(""), 0);
    cr_expect_eq(slot_of("tsm:alerting"), 1446);
    cr_expect_eq(slot_of("tsm:{TSSN0001}:thing"), 7171);
}

Test(cluster_slot, hash_tags)
{
    /* the tag is what lies between the first { and the first } after it */
    cr_expect_eq(slot_of("{user1000}.following"), 3443);
    cr_expect_eq(slot_of("{user1000}.followers"), 3443);
    cr_expect_eq(slot_of("foo{bar}{zap}"), 5061); /* = "bar" */
    cr_expect_eq(slot_of("foo{{bar}}zap"), 4015); /* = "{bar" */
    cr_expect_eq(slot_of("{bar"), 4015);          /* no }: the whole key */
    cr_expect_eq(slot_of("foo{}{bar}"), 8363);    /* empty tag: the whole key */
    cr_expect_eq(slot_of("tsm:{TSSN0001}:msgs"), slot_of("tsm:{TSSN0001}:thing"));
    cr_expect_eq(slot_of("tsm:{TSSN0001}:w:hb"), slot_of("TSSN0001"));
}

static int argv_slot(int argc, const char **argv)
{
    size_t lens[16];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return eng_cluster_argv_slot(argc, argv, lens);
}

Test(cluster_slot, command_slots_follow_their_keys)
{
    const char *hset[] = {"HSET", "tsm:{T1}:thing", "a", "1"};
    cr_expect_eq(argv_slot(4, hset), slot_of("T1"));
    const char *lower[] = {"zadd", "tsm:{T1}:msgs", "1", "m"};
    cr_expect_eq(argv_slot(4, lower), slot_of("T1"));
    const char *pub[] = {"PUBLISH", "tsm:alerts", "{}"};
    cr_expect_eq(argv_slot(3, pub), ENG_SLOT_ANY);
    const char *wait[] = {"WAIT", "1", "1000"};
    cr_expect_eq(argv_slot(3, wait), ENG_SLOT_ANY);
    const char *eval[] = {"EVAL", "return 1", "2", "tsm:{T1}:w:gw", "tsm:{T1}:w:hb", "5"};
    cr_expect_eq(argv_slot(6, eval), slot_of("T1"));
    const char *eval0[] = {"EVAL", "return 1", "0", "x"};
    cr_expect_eq(argv_slot(4, eval0), ENG_SLOT_ANY);
    const char *evalbad[] = {"EVAL", "return 1", "3", "k"};
    cr_expect_eq(argv_slot(4, evalbad), ENG_SLOT_EPARSE);
    /* today's group script spans slots: a cluster would refuse it */
    const char *cross[] = {"EVAL", "s", "2", "tsm:{T1}:thing", "tsm:groups", "g"};
    cr_expect_eq(argv_slot(6, cross), ENG_SLOT_ECROSS);
    const char *del[] = {"DEL", "{a}1", "{a}2", "{b}3"};
    cr_expect_eq(argv_slot(4, del), ENG_SLOT_ECROSS);
    /* names in any case; a prefix or extension of a name is another command */
    const char *pub_lower[] = {"publish", "tsm:alerts", "{}"};
    cr_expect_eq(argv_slot(3, pub_lower), ENG_SLOT_ANY);
    const char *del_mixed[] = {"Del", "{a}1", "{b}2"};
    cr_expect_eq(argv_slot(3, del_mixed), ENG_SLOT_ECROSS);
    const char *evals[] = {"evalsha", "abc", "1", "{a}k"};
    cr_expect_eq(argv_slot(4, evals), slot_of("a"));
    const char *prefix[] = {"DE", "{a}1", "{b}2"};
    cr_expect_eq(argv_slot(3, prefix), slot_of("a"), "an unknown command: its first key");
    const char *longer[] = {"PINGX", "{a}1"};
    cr_expect_eq(argv_slot(2, longer), slot_of("a"));
    const char *first[] = {"ASKING"}, *last[] = {"WATCH", "{a}1", "{b}2"};
    cr_expect_eq(argv_slot(1, first), ENG_SLOT_ANY);
    cr_expect_eq(argv_slot(3, last), ENG_SLOT_ECROSS);
    const char *mset[] = {"MSET", "{a}1", "{b}v", "{a}2", "{c}v"};
    cr_expect_eq(argv_slot(5, mset), slot_of("a")); /* values are not keys */
}

Test(cluster_slot, resp_commands_as_the_batch_writes_them)
{
    const char cmd[] = "*4\r\n$4\r\nHSET\r\n$14\r\ntsm:{T1}:thing\r\n$1\r\na\r\n$1\r\n1\r\n";
    cr_expect_eq(eng_cluster_cmd_slot(cmd, sizeof cmd - 1), slot_of("T1"));
    const char pub[] = "*3\r\n$7\r\nPUBLISH\r\n$10\r\ntsm:alerts\r\n$2\r\n{}\r\n";
    cr_expect_eq(eng_cluster_cmd_slot(pub, sizeof pub - 1), ENG_SLOT_ANY);
    /* binary values with CRLF inside are read by their length */
    const char bin[] = "*3\r\n$4\r\nSADD\r\n$3\r\n{x}\r\n$4\r\n\r\n\r\n\r\n";
    cr_expect_eq(eng_cluster_cmd_slot(bin, sizeof bin - 1), slot_of("x"));
    const char *bad[] = {"",
                         "*",
                         "*0\r\n",
                         "*2\r\n$4\r\nHSET\r\n",
                         "*1\r\n$5\r\nHSET\r\n",
                         "*1\r\n$4\r\nHSET\r\nX",
                         "+OK\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(eng_cluster_cmd_slot(bad[i], strlen(bad[i])), ENG_SLOT_EPARSE, "%s", bad[i]);
}

static eng_redirect_t redirect(const char *err, int want_rc)
{
    eng_redirect_t r;
    memset(&r, 0x55, sizeof r);
    cr_assert_eq(eng_cluster_redirect_parse(err, strlen(err), &r), want_rc, "%s", err);
    return r;
}

Test(cluster_slot, redirections)
{
    eng_redirect_t r = redirect("MOVED 3999 127.0.0.1:6381", 0);
    cr_expect_eq(r.kind, ENG_REDIRECT_MOVED);
    cr_expect_eq(r.slot, 3999);
    cr_expect_str_eq(r.host, "127.0.0.1");
    cr_expect_eq(r.port, 6381);
    r = redirect("ASK 16383 redis-2.example:7000", 0);
    cr_expect_eq(r.kind, ENG_REDIRECT_ASK);
    cr_expect_eq(r.slot, 16383);
    cr_expect_str_eq(r.host, "redis-2.example");
    cr_expect_eq(r.port, 7000);
    r = redirect("MOVED 12 ::1:6380", 0); /* IPv6: the port follows the last colon */
    cr_expect_str_eq(r.host, "::1");
    cr_expect_eq(r.port, 6380);
    r = redirect("MOVED 12 :6380", 0); /* unknown endpoint: the answering node's host */
    cr_expect_str_eq(r.host, "");
    cr_expect_eq(r.port, 6380);
    r = redirect("TRYAGAIN Multiple keys request during rehashing of slot", 0);
    cr_expect_eq(r.kind, ENG_REDIRECT_TRYAGAIN);
    r = redirect("CLUSTERDOWN The cluster is down", 0);
    cr_expect_eq(r.kind, ENG_REDIRECT_CLUSTERDOWN);
    r = redirect("OOM command not allowed when used memory > 'maxmemory'.", 0);
    cr_expect_eq(r.kind, ENG_REDIRECT_NONE);
    r = redirect("MOVEDX 1 a:1", 0);
    cr_expect_eq(r.kind, ENG_REDIRECT_NONE);
    const char *bad[] = {"MOVED",     "MOVED 16384 a:1", "MOVED -1 a:1", "MOVED x a:1", "ASK 1 a",
                         "ASK 1 a:0", "ASK 1 a:70000",   "ASK 1 a:1x",   "MOVED 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        redirect(bad[i], ENG_SLOT_EPARSE);
}

/* ---- CLUSTER SLOTS replies, built as hiredis builds them ---- */

static redisReply *r_int(long long v)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    return r;
}

static redisReply *r_str(const char *s)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_STRING;
    r->len = strlen(s);
    r->str = strdup(s);
    return r;
}

static redisReply *r_arr(size_t n, ...)
{
    redisReply *r = calloc(1, sizeof *r);
    va_list ap;
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = calloc(n ? n : 1, sizeof *r->element);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        r->element[i] = va_arg(ap, redisReply *);
    va_end(ap);
    return r;
}

static redisReply *r_node(const char *host, int port, const char *id)
{
    return r_arr(3, r_str(host), r_int(port), r_str(id));
}

/* Three masters with a replica each, as redis-cli --cluster create makes them. */
static redisReply *three_masters(void)
{
    return r_arr(3,
                 r_arr(4, r_int(0), r_int(5460), r_node("127.0.0.1", 7000, "a"),
                       r_node("127.0.0.1", 7004, "ar")),
                 r_arr(4, r_int(5461), r_int(10922), r_node("127.0.0.1", 7001, "b"),
                       r_node("127.0.0.1", 7005, "br")),
                 r_arr(4, r_int(10923), r_int(16383), r_node("127.0.0.1", 7002, "c"),
                       r_node("127.0.0.1", 7003, "cr")));
}

Test(cluster_slot, slot_map_of_three_masters)
{
    static eng_slotmap_t map;
    redisReply *reply = three_masters();
    cr_assert_eq(eng_slotmap_parse(&map, reply), 0);
    freeReplyObject(reply);
    cr_expect_eq(map.nnodes, 6);
    cr_expect_eq(map.served, ENG_SLOTS);
    int a = eng_slotmap_find(&map, "127.0.0.1", 7000),
        b = eng_slotmap_find(&map, "127.0.0.1", 7001),
        c = eng_slotmap_find(&map, "127.0.0.1", 7002),
        cr = eng_slotmap_find(&map, "127.0.0.1", 7003);
    cr_expect(a >= 0 && b >= 0 && c >= 0 && cr >= 0);
    cr_expect_eq(map.owner[0], a);
    cr_expect_eq(map.owner[5460], a);
    cr_expect_eq(map.owner[5461], b);
    cr_expect_eq(map.owner[16383], c);
    cr_expect_eq(map.nodes[a].master, -1);
    cr_expect_eq(map.nodes[cr].master, c);
    cr_expect_str_eq(map.nodes[cr].id, "cr");
    cr_expect_eq(eng_slotmap_replicas(&map, b), 1);
    cr_expect_eq(eng_slotmap_find(&map, "127.0.0.1", 7009), -1);
}

Test(cluster_slot, slot_map_with_holes_and_split_ranges)
{
    static eng_slotmap_t map, other;
    /* one master serving two ranges, and slots 100..199 unserved (failover) */
    redisReply *reply = r_arr(2, r_arr(3, r_int(0), r_int(99), r_node("10.0.0.1", 6379, "a")),
                              r_arr(3, r_int(200), r_int(16383), r_node("10.0.0.1", 6379, "a")));
    cr_assert_eq(eng_slotmap_parse(&map, reply), 0);
    freeReplyObject(reply);
    cr_expect_eq(map.nnodes, 1);
    cr_expect_eq(map.served, ENG_SLOTS - 100);
    cr_expect_eq(map.owner[99], 0);
    cr_expect_eq(map.owner[100], -1);
    cr_expect_eq(map.owner[199], -1);
    cr_expect_eq(map.owner[200], 0);
    reply = three_masters();
    cr_assert_eq(eng_slotmap_parse(&other, reply), 0);
    cr_expect_not(eng_slotmap_same(&map, &other));
    cr_assert_eq(eng_slotmap_parse(&map, reply), 0);
    freeReplyObject(reply);
    cr_expect(eng_slotmap_same(&map, &other));
    /* one slot moved (a reshard) is a different map */
    reply = r_arr(4, r_arr(3, r_int(0), r_int(5459), r_node("127.0.0.1", 7000, "a")),
                  r_arr(3, r_int(5460), r_int(5460), r_node("127.0.0.1", 7001, "b")),
                  r_arr(3, r_int(5461), r_int(10922), r_node("127.0.0.1", 7001, "b")),
                  r_arr(3, r_int(10923), r_int(16383), r_node("127.0.0.1", 7002, "c")));
    cr_assert_eq(eng_slotmap_parse(&map, reply), 0);
    freeReplyObject(reply);
    cr_expect_not(eng_slotmap_same(&map, &other));
}

Test(cluster_slot, slot_map_rejects_other_shapes)
{
    static eng_slotmap_t map;
    redisReply *bad[] = {
        r_int(1),
        r_arr(1, r_int(1)),
        r_arr(1, r_arr(2, r_int(0), r_int(1))),
        r_arr(1, r_arr(3, r_int(5), r_int(1), r_node("h", 1, "a"))),     /* end < start */
        r_arr(1, r_arr(3, r_int(0), r_int(16384), r_node("h", 1, "a"))), /* past the last slot */
        r_arr(1, r_arr(3, r_int(0), r_int(1), r_arr(2, r_str("h"), r_str("1")))),
        r_arr(1, r_arr(3, r_int(0), r_int(1), r_node("h", 0, "a"))),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(eng_slotmap_parse(&map, bad[i]), ENG_SLOT_EMAP, "shape %zu", i);
        cr_expect_eq(map.served, 0);
        cr_expect_eq(map.owner[0], -1);
        freeReplyObject(bad[i]);
    }
    cr_expect_eq(eng_slotmap_parse(&map, NULL), ENG_SLOT_EMAP);
}

Test(cluster_slot, seed_lists)
{
    const char *list = "10.0.0.1:7000, redis-b:7001,,::1:7002", *cur = list;
    char host[ENG_SLOT_HOST_MAX + 1];
    int port;
    cr_assert_eq(eng_cluster_seed_next(&cur, host, &port), 1);
    cr_expect_str_eq(host, "10.0.0.1");
    cr_expect_eq(port, 7000);
    cr_assert_eq(eng_cluster_seed_next(&cur, host, &port), 1);
    cr_expect_str_eq(host, "redis-b");
    cr_expect_eq(port, 7001);
    cr_assert_eq(eng_cluster_seed_next(&cur, host, &port), 1);
    cr_expect_str_eq(host, "::1");
    cr_expect_eq(port, 7002);
    cr_expect_eq(eng_cluster_seed_next(&cur, host, &port), 0);
    cur = "";
    cr_expect_eq(eng_cluster_seed_next(&cur, host, &port), 0);
    const char *bad[] = {"host", ":7000", "h:", "h:0", "h:65536", "h:12x", "h:1234567"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cur = bad[i];
        cr_expect_eq(eng_cluster_seed_next(&cur, host, &port), ENG_SLOT_EPARSE, "%s", bad[i]);
    }
}
