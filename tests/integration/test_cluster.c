/* test_cluster.c - the cluster client against the Redis Cluster of
 * scripts/test (3 masters, 3 replicas from TSMD_TEST_CLUSTER_PORT): batches
 * reach all three masters and are acknowledged whole; a slot moved behind
 * the client's back is followed (MOVED); a key being migrated is written
 * where it is (ASK); a manual failover loses none of the acknowledged
 * writes. Each test uses its own hash tags; the tests move slots and promote
 * replicas, so none assumes the layout it started with. */
#include "engine/redis/cluster.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct world_s {
    uv_loop_t loop;
    eng_cluster_t *cluster;
    int acked;
    eng_batch_t *last;
    int base;
} world_t;

static void on_ack(void *arg, eng_batch_t *batch)
{
    world_t *w = arg;
    w->acked++;
    w->last = batch;
}

/* Starts a client of the test cluster (cluster) or of the test's one Redis. */
static void world_open(world_t *w, bool cluster, int wait_replicas, int wait_timeout_ms)
{
    memset(w, 0, sizeof *w);
    const char *env = cluster ? "TSMD_TEST_CLUSTER_PORT" : "TSMD_TEST_REDIS_PORT";
    const char *p = getenv(env);
    cr_assert_not_null(p, "%s is not set: run through scripts/test", env);
    w->base = atoi(p);
    uv_loop_init(&w->loop);
    eng_cluster_opts_t opts = {.host = "127.0.0.1",
                               .port = w->base,
                               .cluster = cluster,
                               .wait_replicas = wait_replicas,
                               .wait_timeout_ms = wait_timeout_ms};
    w->cluster = eng_cluster_new(&w->loop, &opts, on_ack, w);
    eng_cluster_start(w->cluster);
}

static void world_start(world_t *w, int wait_replicas)
{
    world_open(w, true, wait_replicas, 1000);
}

static void world_stop(world_t *w)
{
    eng_cluster_stop(w->cluster);
    eng_cluster_free(w->cluster);
    uv_run(&w->loop, UV_RUN_NOWAIT);
    uv_loop_close(&w->loop);
}

/* Runs the loop until *acked reaches want, for 30 s at most. */
static void run_until(world_t *w, int want)
{
    time_t end = time(NULL) + 30;
    while (w->acked < want && time(NULL) < end)
        uv_run(&w->loop, UV_RUN_ONCE);
    cr_assert_eq(w->acked, want, "acked %d of %d batches", w->acked, want);
}

static void hset(eng_batch_t *b, const char *key, const char *field, long long v)
{
    eng_batch_cmd(b, 4);
    eng_batch_arg_str(b, "HSET");
    eng_batch_arg_str(b, key);
    eng_batch_arg_str(b, field);
    eng_batch_arg_i64(b, v);
}

static void hset_str(eng_batch_t *b, const char *key, const char *field, const char *v)
{
    eng_batch_cmd(b, 4);
    eng_batch_arg_str(b, "HSET");
    eng_batch_arg_str(b, key);
    eng_batch_arg_str(b, field);
    eng_batch_arg_str(b, v);
}

/* ---- looking at the cluster from outside, with redis-cli's rules ---- */

/* A connection with a 2 s timeout: a stopped node accepts TCP connections
 * (the kernel does) but answers nothing. */
static redisContext *connect_to(int port)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c != NULL && !c->err) redisSetTimeout(c, tv);
    return c;
}

static redisContext *at(int port)
{
    redisContext *c = connect_to(port);
    cr_assert(c != NULL && !c->err, "connect %d", port);
    return c;
}

static long long integer(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER, "%s: %s", fmt,
              r && r->type == REDIS_REPLY_ERROR ? r->str : "not an integer");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* Returns a connection to the first node of the cluster that answers (the
 * first port may be a node a test killed or stopped). */
static redisContext *any_node(int base)
{
    for (int i = 0; i < 6; i++) {
        redisContext *c = connect_to(base + i);
        redisReply *r = c != NULL && !c->err ? redisCommand(c, "PING") : NULL;
        bool up = r != NULL && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (up) return c;
        redisFree(c);
    }
    cr_assert_fail("no cluster node answers");
    return NULL;
}

/* Returns the port of the master of slot, and its node id in id. */
static int master_of(int base, int slot, char id[41])
{
    redisContext *c = any_node(base);
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    int port = -1;
    for (size_t i = 0; r && i < r->elements; i++) {
        redisReply *range = r->element[i];
        if (range->element[0]->integer <= slot && slot <= range->element[1]->integer) {
            port = (int)range->element[2]->element[1]->integer;
            snprintf(id, 41, "%s", range->element[2]->element[2]->str);
        }
    }
    freeReplyObject(r);
    redisFree(c);
    cr_assert(port > 0, "slot %d has no master", slot); /* (CLUSTER SLOTS lists served slots) */
    return port;
}

static int slot_of(const char *key)
{
    return eng_cluster_key_slot(key, strlen(key));
}

/* HGET key field on the master of its slot (ASKING first when asking). */
static long long hget(int base, const char *key, const char *field, bool asking, int port)
{
    char id[41];
    redisContext *c = at(port > 0 ? port : master_of(base, slot_of(key), id));
    if (asking) freeReplyObject(redisCommand(c, "ASKING"));
    redisReply *r = redisCommand(c, "HGET %s %s", key, field);
    cr_assert(r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL), "%s %s",
              key, r && r->type == REDIS_REPLY_ERROR ? r->str : "");
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void cmd_ok(int port, const char *fmt, ...)
{
    redisContext *c = at(port);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r ? r->str : "no reply");
    freeReplyObject(r);
    redisFree(c);
}

/* Finds a master port other than port. */
static int other_master(int base, int port, char id[41])
{
    for (int s = 0; s < ENG_SLOTS; s += 1000) {
        int p = master_of(base, s, id);
        if (p != port) return p;
    }
    cr_assert_fail("one master only");
    return -1;
}

Test(cluster, batches_reach_all_three_masters_and_are_acked_whole)
{
    world_t w;
    world_start(&w, 0);
    eng_batch_t b;
    eng_batch_init(&b);
    char key[64];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "tsm:{rt-%d}:thing", i);
        hset(&b, key, "v", i);
    }
    eng_batch_offset(&b, 0, 0, 300);
    eng_cluster_send(w.cluster, &b);
    run_until(&w, 1);
    cr_expect_eq(w.last, &b);
    int ports[8] = {0}, nports = 0;
    for (int i = 0; i < 300; i++) {
        char id[41];
        snprintf(key, sizeof key, "tsm:{rt-%d}:thing", i);
        int port = master_of(w.base, slot_of(key), id);
        cr_expect_eq(hget(w.base, key, "v", false, port), i, "%s", key);
        int k = 0;
        while (k < nports && ports[k] != port)
            k++;
        if (k == nports && nports < 8) ports[nports++] = port;
    }
    cr_expect_eq(nports, 3, "the keys live on %d masters", nports);
    int writers = 0;
    for (int i = 0; i < eng_cluster_nodes(w.cluster); i++) {
        const char *host;
        int port;
        bool master;
        const eng_cluster_node_stats_t *st = eng_cluster_node(w.cluster, i, &host, &port, &master);
        writers += st->writes > 0;
    }
    cr_expect_eq(writers, 3, "one connection per master took its part");
    cr_expect_null(eng_cluster_not_ready(w.cluster));
    world_stop(&w);
    eng_batch_close(&b);
}

/* Moves slot from its master to another one, all its keys included (what
 * redis-cli --cluster reshard does for each slot); stops after MIGRATE when finish is
 * false (the slot is then in migration: ASK). Returns the target's port. */
static int move_slot(int base, int slot, bool finish, int *src_port, char dst_id[41])
{
    char src_id[41];
    int src = master_of(base, slot, src_id);
    *src_port = src;
    int dst = other_master(base, src, dst_id);
    cmd_ok(dst, "CLUSTER SETSLOT %d IMPORTING %s", slot, src_id);
    cmd_ok(src, "CLUSTER SETSLOT %d MIGRATING %s", slot, dst_id);
    redisContext *c = at(src);
    redisReply *keys = redisCommand(c, "CLUSTER GETKEYSINSLOT %d 1000", slot);
    cr_assert(keys != NULL && keys->type == REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < keys->elements; i++)
        cmd_ok(src, "MIGRATE 127.0.0.1 %d %s 0 5000 KEYS %s", dst, "", keys->element[i]->str);
    freeReplyObject(keys);
    redisFree(c);
    if (finish) {
        cmd_ok(dst, "CLUSTER SETSLOT %d NODE %s", slot, dst_id);
        cmd_ok(src, "CLUSTER SETSLOT %d NODE %s", slot, dst_id);
    }
    return dst;
}

Test(cluster, follows_moved_after_a_slot_moved)
{
    world_t w;
    world_start(&w, 0);
    eng_batch_t b;
    eng_batch_init(&b);
    const char *key = "tsm:{mv-1}:thing";
    hset(&b, key, "v", 1);
    eng_cluster_send(w.cluster, &b);
    run_until(&w, 1);
    uint64_t changes = eng_cluster_map_changes(w.cluster);
    char dst[41];
    int src;
    int to = move_slot(w.base, slot_of(key), true, &src, dst);
    /* the client still has the old map: the old owner answers MOVED */
    eng_batch_reset(&b);
    hset(&b, key, "v", 2);
    hset(&b, "tsm:{mv-other}:thing", "v", 2);
    eng_cluster_send(w.cluster, &b);
    run_until(&w, 2);
    cr_expect_eq(hget(w.base, key, "v", false, to), 2);
    cr_expect_eq(hget(w.base, "tsm:{mv-other}:thing", "v", false, 0), 2);
    cr_expect_gt(eng_cluster_map_changes(w.cluster), changes, "the map was refreshed");
    const char *host;
    int port = 0;
    bool master;
    eng_cluster_node(w.cluster, eng_cluster_slot_node(w.cluster, slot_of(key)), &host, &port,
                     &master);
    cr_expect_eq(port, to, "the slot is routed to its new master");
    world_stop(&w);
    eng_batch_close(&b);
}

Test(cluster, writes_a_migrating_key_where_it_is_with_ask)
{
    world_t w;
    world_start(&w, 0);
    eng_batch_t b;
    eng_batch_init(&b);
    const char *moved = "tsm:{ask-1}:thing", *fresh = "tsm:{ask-1}:w:hb";
    int slot = slot_of(moved);
    char id[41];
    cmd_ok(master_of(w.base, slot, id), "DEL %s %s", moved, fresh); /* an earlier run's */
    hset(&b, moved, "v", 1);
    eng_cluster_send(w.cluster, &b);
    run_until(&w, 1);
    int node_before = eng_cluster_slot_node(w.cluster, slot);
    char dst[41];
    int from;
    int to = move_slot(w.base, slot, false, &from, dst);
    /* the source answers ASK for the migrated key and for one it never had */
    eng_batch_reset(&b);
    hset(&b, moved, "v", 2);
    hset(&b, fresh, "v", 3);
    eng_cluster_send(w.cluster, &b);
    run_until(&w, 2);
    cr_expect_eq(hget(w.base, moved, "v", true, to), 2);
    cr_expect_eq(hget(w.base, fresh, "v", true, to), 3);
    cr_expect_eq(eng_cluster_slot_node(w.cluster, slot), node_before,
                 "ASK leaves the map as it was");
    /* the migration ends: MOVED from now on */
    cmd_ok(to, "CLUSTER SETSLOT %d NODE %s", slot, dst);
    cmd_ok(from, "CLUSTER SETSLOT %d NODE %s", slot, dst);
    eng_batch_reset(&b);
    hset(&b, moved, "v", 4);
    eng_cluster_send(w.cluster, &b);
    run_until(&w, 3);
    cr_expect_eq(hget(w.base, moved, "v", false, to), 4);
    world_stop(&w);
    eng_batch_close(&b);
}

/* Returns the port of the first replica of slot's master, as the master
 * knows it (CLUSTER SLOTS leaves out replicas others have not heard from
 * lately). */
static int replica_of(int base, int slot)
{
    char id[41];
    redisContext *c = at(master_of(base, slot, id));
    redisReply *r = redisCommand(c, "CLUSTER REPLICAS %s", id);
    int port = -1;
    /* lines as CLUSTER NODES: "<id> <host>:<port>@<bus> slave ..." */
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        const char *colon = strchr(strchr(r->element[0]->str, ' '), ':');
        if (colon) port = atoi(colon + 1);
    }
    freeReplyObject(r);
    redisFree(c);
    cr_assert(port > 0, "slot %d has no replica", slot);
    return port;
}

#define FO_KEYS 30
#define FO_POOL 8

/* Makes b batch i: v=i on the things tsm:{TAG-k}:thing, k < n (all masters). */
static void things_batch(eng_batch_t *b, const char *tag, int n, int i)
{
    char key[64];
    eng_batch_reset(b);
    for (int k = 0; k < n; k++) {
        snprintf(key, sizeof key, "tsm:{%s-%d}:thing", tag, k);
        hset(b, key, "v", i);
    }
}

/* Expects every thing of things_batch(tag, n) to hold its last write, want. */
static void expect_last_writes(int base, const char *tag, int n, int want)
{
    char key[64];
    for (int k = 0; k < n; k++) {
        snprintf(key, sizeof key, "tsm:{%s-%d}:thing", tag, k);
        cr_expect_eq(hget(base, key, "v", false, 0), want, "%s: the last write", key);
    }
}

/* Batch i writes v=i on FO_KEYS things over all masters and field i of a
 * log hash: after the run the log must hold every acknowledged batch. */
static void fo_batch(eng_batch_t *b, int i)
{
    things_batch(b, "fo", FO_KEYS, i);
    char field[16];
    snprintf(field, sizeof field, "%d", i);
    hset(b, "tsm:{fo-0}:log", field, 1);
}

/* Sends batches (up to the client's limit) until *done says stop, then
 * until every batch sent was acknowledged; returns the batches sent. */
typedef bool (*fo_done_fn)(world_t *w, int sent, void *arg);

static int fo_run(world_t *w, eng_batch_t *pool, int sent, fo_done_fn done, void *arg)
{
    time_t end = time(NULL) + 30;
    bool stop = false;
    while ((!stop || w->acked < sent) && time(NULL) < end) {
        stop = stop || done(w, sent, arg);
        while (!stop && !eng_cluster_busy(w->cluster) && sent - w->acked < FO_POOL) {
            fo_batch(&pool[sent % FO_POOL], sent);
            eng_cluster_send(w->cluster, &pool[sent % FO_POOL]);
            sent++;
        }
        uv_run(&w->loop, UV_RUN_ONCE);
    }
    cr_assert_eq(w->acked, sent, "acked %d of %d", w->acked, sent);
    return sent;
}

static bool fo_count(world_t *w, int sent, void *arg)
{
    (void)w;
    return sent >= *(int *)arg;
}

/* Polls the cluster: true once arg's replica serves the slot. */
typedef struct fo_watch_s {
    int base, slot, replica, polls;
} fo_watch_t;

static bool fo_promoted(world_t *w, int sent, void *arg)
{
    fo_watch_t *fw = arg;
    char id[41];
    (void)w, (void)sent;
    if (++fw->polls % 20 != 0) return false;
    return master_of(fw->base, fw->slot, id) == fw->replica;
}

/* Checks that the master at port has every batch's log field and every
 * thing its last write, then stops the client. */
static void fo_finish(world_t *w, eng_batch_t *pool, int port, int sent)
{
    redisContext *c = at(port);
    cr_expect_eq(integer(c, "HLEN tsm:{fo-0}:log"), sent, "every acknowledged batch's write");
    redisFree(c);
    expect_last_writes(w->base, "fo", FO_KEYS, sent - 1);
    world_stop(w);
    for (int i = 0; i < FO_POOL; i++)
        eng_batch_close(&pool[i]);
}

/* Restarts the node of port (killed) with scripts/lib.sh, in the folder it
 * had, and waits until the whole cluster is healthy again. */
static void restart_node(int base, int port, const char *dir)
{
    const char *src = getenv("TSMD_SOURCE_DIR");
    cr_assert_not_null(src, "TSMD_SOURCE_DIR is not set: run through scripts/test");
    char cmd[1024];
    /* dir is the node's own folder, DIR/PORT */
    snprintf(cmd, sizeof cmd,
             "bash -c 'source %s/scripts/lib.sh && start_redis_cluster_node %s/.. %d && "
             "wait_redis_cluster %d' >/dev/null",
             src, dir, port, base);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* A killed master: once its replica was promoted, restart it (it rejoins as
 * the new master's replica, which WAIT needs) and say stop. */
typedef struct fo_kill_s {
    int base, slot, victim, polls;
    char pid[32], dir[512]; /* the victim's process and folder */
    bool waits;             /* wait_replicas > 0: nothing is acked without a replica */
} fo_kill_t;

static bool fo_promoted_restart(world_t *w, int sent, void *arg)
{
    fo_kill_t *fk = arg;
    char id[41];
    (void)sent;
    if (++fk->polls % 20 != 0 || master_of(fk->base, fk->slot, id) == fk->victim) return false;
    if (fk->waits)
        cr_expect_lt(w->acked, sent, "the promoted master has no replica: its parts wait");
    restart_node(fk->base, fk->victim, fk->dir);
    return true;
}

Test(cluster, manual_failover_loses_no_acknowledged_write, .timeout = 120)
{
    world_t w;
    world_start(&w, 1); /* and every part waits for one replica */
    eng_batch_t pool[FO_POOL];
    for (int i = 0; i < FO_POOL; i++)
        eng_batch_init(&pool[i]);
    char id[41];
    int slot = slot_of("tsm:{fo-0}:log");
    int old_master = master_of(w.base, slot, id), replica = replica_of(w.base, slot);
    redisContext *c = at(old_master);
    integer(c, "DEL tsm:{fo-0}:log"); /* from an earlier run */
    redisFree(c);
    int want = 40;
    int sent = fo_run(&w, pool, 0, fo_count, &want);
    uint64_t changes = eng_cluster_map_changes(w.cluster);
    /* ingest goes on while the replica takes over */
    cmd_ok(replica, "CLUSTER FAILOVER");
    fo_watch_t fw = {w.base, slot, replica, 0};
    sent = fo_run(&w, pool, sent, fo_promoted, &fw);
    want = sent + 40;
    sent = fo_run(&w, pool, sent, fo_count, &want);
    cr_expect_eq(master_of(w.base, slot, id), replica, "the replica was promoted");
    cr_expect_neq(replica, old_master);
    cr_expect_gt(eng_cluster_map_changes(w.cluster), changes, "the client followed it");
    cr_expect_gt(sent, 80, "batches were sent during the failover too");
    fo_finish(&w, pool, replica, sent);
}

/* ---- routed commands ---- */

typedef struct got_s {
    int n;
    int type;
    char str[64];
} got_t;

static void on_reply(void *privdata, redisReply *reply)
{
    got_t *got = privdata;
    got->n++;
    got->type = reply ? reply->type : -1;
    if (reply && reply->str) snprintf(got->str, sizeof got->str, "%s", reply->str);
}

static void command(world_t *w, got_t *got, int argc, const char **argv)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    memset(got, 0, sizeof *got);
    cr_assert_eq(eng_cluster_command(w->cluster, on_reply, got, argc, argv, lens), 0);
    time_t end = time(NULL) + 30;
    while (got->n == 0 && time(NULL) < end)
        uv_run(&w->loop, UV_RUN_ONCE);
    cr_assert_eq(got->n, 1, "one reply");
}

Test(cluster, routed_commands_follow_moved_and_ask)
{
    world_t w;
    world_start(&w, 0);
    const char *key = "tsm:{rc-1}:thing";
    int slot = slot_of(key);
    char id[41];
    cmd_ok(master_of(w.base, slot, id), "HSET %s v 7", key);
    got_t got;
    const char *hget_argv[] = {"HGET", key, "v"};
    command(&w, &got, 3, hget_argv);
    cr_expect_eq(got.type, REDIS_REPLY_STRING);
    cr_expect_str_eq(got.str, "7");
    /* in migration: ASK; moved: MOVED; the caller sees only the value */
    char dst[41];
    int from, to = move_slot(w.base, slot, false, &from, dst);
    command(&w, &got, 3, hget_argv);
    cr_expect_str_eq(got.str, "7", "read through ASK");
    cmd_ok(to, "CLUSTER SETSLOT %d NODE %s", slot, dst);
    cmd_ok(from, "CLUSTER SETSLOT %d NODE %s", slot, dst);
    command(&w, &got, 3, hget_argv);
    cr_expect_str_eq(got.str, "7", "read through MOVED");
    const char *ping[] = {"PING"};
    command(&w, &got, 1, ping);
    cr_expect_eq(got.type, REDIS_REPLY_STATUS);
    /* a script over two slots is refused before it is sent */
    const char *cross[] = {"EVAL", "return 1", "2", "tsm:{a}:thing", "tsm:groups"};
    size_t lens[5];
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(cross[i]);
    cr_expect_eq(eng_cluster_command(w.cluster, on_reply, &got, 5, cross, lens), -1);
    world_stop(&w);
}

/* ---- one Redis (cluster off) ---- */

Test(cluster, one_redis_takes_every_slot)
{
    world_t w;
    world_open(&w, false, 0, 100);
    eng_batch_t b;
    eng_batch_init(&b);
    char key[64];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "clt:{one-%d}:thing", i);
        hset(&b, key, "v", i);
    }
    eng_cluster_send(w.cluster, &b);
    run_until(&w, 1);
    cr_expect_eq(hget(w.base, "clt:{one-49}:thing", "v", false, w.base), 49);
    world_stop(&w);
    eng_batch_close(&b);
}

/* redis.wait_replicas=1 on a Redis without replicas: the writes are made but
 * never acknowledged (their offsets wait), and /readyz says why. */
Test(cluster, wait_replicas_holds_the_ack_until_replicas_have_it)
{
    world_t w;
    world_open(&w, false, 1, 100);
    eng_batch_t b;
    eng_batch_init(&b);
    hset(&b, "clt:{wait-1}:thing", "v", 5);
    eng_cluster_send(w.cluster, &b);
    time_t end = time(NULL) + 2;
    while (time(NULL) < end)
        uv_run(&w.loop, UV_RUN_NOWAIT), usleep(1000);
    cr_expect_eq(w.acked, 0, "no replica acknowledged it: no ack");
    cr_expect_eq(eng_cluster_queued(w.cluster), 1);
    cr_expect_eq(hget(w.base, "clt:{wait-1}:thing", "v", false, w.base), 5);
    cr_expect_str_eq(eng_cluster_not_ready(w.cluster), "redis replicas behind");
    const char *host;
    int port;
    bool master;
    cr_expect_gt(eng_cluster_node(w.cluster, 0, &host, &port, &master)->errors, 0);
    world_stop(&w);
    eng_batch_close(&b);
}

/* ---- a master killed ---- */

/* Returns the text of field name in INFO section of the node at port. */
static void info_field(int port, const char *section, const char *name, char *out, size_t cap)
{
    redisContext *c = at(port);
    redisReply *r = redisCommand(c, "INFO %s", section);
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING);
    const char *p = strstr(r->str, name);
    cr_assert_not_null(p, "INFO %s has no %s", section, name);
    p += strlen(name) + 1;
    size_t n = strcspn(p, "\r\n");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
    freeReplyObject(r);
    redisFree(c);
}

/* Returns the watchdog closings of the client's connection to port. */
static uint64_t node_timeouts(const world_t *w, int port)
{
    for (int i = 0; i < eng_cluster_nodes(w->cluster); i++) {
        const char *host;
        int p;
        bool master;
        const eng_cluster_node_stats_t *st = eng_cluster_node(w->cluster, i, &host, &p, &master);
        if (p == port) return st->timeouts;
    }
    return 0;
}

/* Picks the master of the log's slot as the victim (its process and
 * folder in fk) and empties the log. */
static void fo_victim(const world_t *w, fo_kill_t *fk, bool waits)
{
    char id[41];
    memset(fk, 0, sizeof *fk);
    fk->waits = waits;
    fk->base = w->base;
    fk->slot = slot_of("tsm:{fo-0}:log");
    fk->victim = master_of(w->base, fk->slot, id);
    redisContext *c = at(fk->victim);
    integer(c, "DEL tsm:{fo-0}:log");
    redisReply *r = redisCommand(c, "CONFIG GET dir");
    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    snprintf(fk->dir, sizeof fk->dir, "%s", r->element[1]->str);
    freeReplyObject(r);
    redisFree(c);
    info_field(fk->victim, "server", "process_id", fk->pid, sizeof fk->pid);
}

/* Ingests with wait_replicas=1 while sig hits the master of the log's slot:
 * 40 batches before, batches until during says stop (it undoes the fault
 * once the replica took over), 40 after; then no acknowledged write may be
 * missing on the promoted master. */
static void fo_fault(int sig, fo_done_fn during)
{
    world_t w;
    world_start(&w, 1);
    eng_batch_t pool[FO_POOL];
    for (int i = 0; i < FO_POOL; i++)
        eng_batch_init(&pool[i]);
    char id[41];
    fo_kill_t fk;
    fo_victim(&w, &fk, true);
    int want = 40;
    int sent = fo_run(&w, pool, 0, fo_count, &want);
    cr_assert_eq(kill(atoi(fk.pid), sig), 0);
    sent = fo_run(&w, pool, sent, during, &fk);
    want = sent + 40;
    sent = fo_run(&w, pool, sent, fo_count, &want);
    if (sig == SIGSTOP)
        cr_expect_gt(node_timeouts(&w, fk.victim), 0, "the watchdog closed its connection");
    int promoted = master_of(w.base, fk.slot, id);
    cr_expect_neq(promoted, fk.victim);
    fo_finish(&w, pool, promoted, sent);
}

/* The victim's parts wait until its replica is promoted, then until that one
 * has a replica again (WAIT 1): the restarted victim. */
Test(cluster, master_killed_with_wait_replicas_loses_no_acknowledged_write, .timeout = 120)
{
    fo_fault(SIGKILL, fo_promoted_restart);
}

/* ---- a master that stops answering ---- */

/* Once the stopped master's replica was promoted and the client's watchdog
 * gave up on the stopped one, let it go on (it rejoins as the new master's
 * replica, which WAIT 1 needs) and say stop. */
static bool fo_promoted_cont(world_t *w, int sent, void *arg)
{
    fo_kill_t *fk = arg;
    char id[41];
    (void)sent;
    if (node_timeouts(w, fk->victim) == 0 || ++fk->polls % 20 != 0 ||
        master_of(fk->base, fk->slot, id) == fk->victim)
        return false;
    cr_assert_eq(kill(atoi(fk->pid), SIGCONT), 0);
    return true;
}

/* Its connection takes commands and answers nothing: the pending map change
 * waits until the watchdog closes it; the promoted replica then takes its
 * parts. */
Test(cluster, stopped_master_is_left_behind_by_the_watchdog, .timeout = 120)
{
    fo_fault(SIGSTOP, fo_promoted_cont);
    const char *src = getenv("TSMD_SOURCE_DIR");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "bash -c 'source %s/scripts/lib.sh && wait_redis_cluster %d'", src,
             atoi(getenv("TSMD_TEST_CLUSTER_PORT")));
    cr_expect_eq(system(cmd), 0, "the cluster is whole again");
}

/* ---- a reshard under ingest ---- */

#define RS_KEYS 200

static bool rs_done(world_t *w, int sent, void *arg)
{
    pid_t *child = arg;
    int status;
    (void)w, (void)sent;
    if (waitpid(*child, &status, WNOHANG) != *child) return false;
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "redis-cli --cluster reshard failed");
    return true;
}

/* redis-cli --cluster reshard moves 300 slots of one master to another,
 * key by key (MIGRATE: ASK for keys already moved, then MOVED), while
 * batches keep coming: every thing ends with its last write. */
Test(cluster, reshard_under_ingest_keeps_every_last_write, .timeout = 120)
{
    world_t w;
    world_start(&w, 0);
    eng_batch_t pool[FO_POOL];
    for (int i = 0; i < FO_POOL; i++)
        eng_batch_init(&pool[i]);
    char from[41], to[41];
    int src = master_of(w.base, 0, from);
    other_master(w.base, src, to);
    int sent = 0;
    time_t end = time(NULL) + 60;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "redis-cli --cluster reshard 127.0.0.1:%d --cluster-from %s --cluster-to %s "
             "--cluster-slots 300 --cluster-yes >/dev/null 2>&1",
             src, from, to);
    pid_t child = 0;
    bool stop = false;
    while ((!stop || w.acked < sent) && time(NULL) < end) {
        if (sent == 20 && child == 0) {
            child = fork();
            if (child == 0) execl("/bin/sh", "sh", "-c", cmd, (char *)NULL), _exit(127);
        }
        if (child > 0 && !stop) stop = rs_done(&w, sent, &child) && sent > 40;
        while (!stop && !eng_cluster_busy(w.cluster) && sent - w.acked < FO_POOL) {
            things_batch(&pool[sent % FO_POOL], "rs", RS_KEYS, sent);
            eng_cluster_send(w.cluster, &pool[sent % FO_POOL]);
            sent++;
        }
        uv_run(&w.loop, UV_RUN_ONCE);
    }
    cr_assert(stop, "the reshard did not end in time");
    cr_assert_eq(w.acked, sent);
    uint64_t redirects = 0;
    for (int i = 0; i < eng_cluster_nodes(w.cluster); i++) {
        const char *host;
        int port;
        bool master;
        redirects += eng_cluster_node(w.cluster, i, &host, &port, &master)->redirects;
    }
    cr_expect_gt(redirects, 0, "some writes met the moving slots");
    cr_log_info("reshard: %d batches of %d writes, %llu redirects, %llu map changes", sent, RS_KEYS,
                (unsigned long long)redirects,
                (unsigned long long)eng_cluster_map_changes(w.cluster));
    char id[41];
    master_of(w.base, 0, id);
    cr_expect_str_eq(id, to, "slot 0 moved");
    expect_last_writes(w.base, "rs", RS_KEYS, sent - 1);
    world_stop(&w);
    for (int i = 0; i < FO_POOL; i++)
        eng_batch_close(&pool[i]);
}

/* ---- pub/sub ---- */

/* A PUBLISH in a batch goes to some master; the cluster bus carries it to
 * the subscribers of every node, so one subscription per instance (on any
 * node, a replica too) hears every window event. */
Test(cluster, publish_in_a_batch_reaches_subscribers_on_every_node)
{
    world_t w;
    world_start(&w, 0);
    redisContext *subs[6];
    for (int i = 0; i < 6; i++) {
        subs[i] = at(w.base + i);
        redisReply *r = redisCommand(subs[i], "SUBSCRIBE tsm:clt-alerts");
        cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY, "subscribe on %d", w.base + i);
        freeReplyObject(r);
    }
    eng_batch_t b;
    eng_batch_init(&b);
    hset(&b, "tsm:{ps-1}:w:hb", "v", 1);
    eng_batch_cmd(&b, 3);
    eng_batch_arg_str(&b, "PUBLISH");
    eng_batch_arg_str(&b, "tsm:clt-alerts");
    eng_batch_arg_str(&b, "{\"tuid\":\"ps-1\"}");
    eng_cluster_send(w.cluster, &b);
    run_until(&w, 1);
    for (int i = 0; i < 6; i++) {
        redisReply *m = NULL;
        cr_assert_eq(redisGetReply(subs[i], (void **)&m), REDIS_OK, "node %d heard nothing",
                     w.base + i);
        cr_assert(m->type == REDIS_REPLY_ARRAY && m->elements == 3);
        cr_expect_str_eq(m->element[2]->str, "{\"tuid\":\"ps-1\"}");
        freeReplyObject(m);
        redisFree(subs[i]);
    }
    world_stop(&w);
    eng_batch_close(&b);
}

/* The seed does not answer: a node of redis.seeds gives the map. */
Test(cluster, a_dead_seed_is_passed_over_for_the_next)
{
    world_t w;
    memset(&w, 0, sizeof w);
    w.base = atoi(getenv("TSMD_TEST_CLUSTER_PORT"));
    char seeds[64];
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d", w.base + 1);
    uv_loop_init(&w.loop);
    eng_cluster_opts_t opts = {.host = "127.0.0.1", .port = 1, .cluster = true, .seeds = seeds};
    w.cluster = eng_cluster_new(&w.loop, &opts, on_ack, &w);
    eng_cluster_start(w.cluster);
    eng_batch_t b;
    eng_batch_init(&b);
    hset(&b, "tsm:{seed-1}:thing", "v", 9);
    eng_cluster_send(w.cluster, &b);
    run_until(&w, 1);
    cr_expect_eq(hget(w.base, "tsm:{seed-1}:thing", "v", false, 0), 9);
    world_stop(&w);
    eng_batch_close(&b);
}

/* ---- why redis.wait_replicas exists ---- */

/* The master of the log's slot dies while its replica lags behind (stopped
 * for a second, as a busy or distant replica would be): the replica is
 * promoted without the last writes. Returns the number of acknowledged
 * batches whose write the promoted master does not have. */
static long long lagging_replica_failover(int wait_replicas)
{
    world_t w;
    world_start(&w, wait_replicas);
    eng_batch_t pool[FO_POOL];
    for (int i = 0; i < FO_POOL; i++)
        eng_batch_init(&pool[i]);
    char id[41], replica_pid[32];
    fo_kill_t fk;
    fo_victim(&w, &fk, wait_replicas > 0);
    int replica = replica_of(w.base, fk.slot);
    redisContext *c;
    info_field(replica, "server", "process_id", replica_pid, sizeof replica_pid);
    int want = 20;
    int sent = fo_run(&w, pool, 0, fo_count, &want);
    cr_assert_eq(kill(atoi(replica_pid), SIGSTOP), 0);
    /* a second of writes the replica does not get (under the 2 s node
     * timeout, so that it stays a healthy replica), more than the socket
     * buffers hold: the rest waits in the dying master's memory */
    static char pad[16384];
    memset(pad, 'x', sizeof pad - 1);
    uv_update_time(&w.loop);
    uint64_t until = uv_now(&w.loop) + 1000;
    while (uv_update_time(&w.loop), uv_now(&w.loop) < until) {
        while (!eng_cluster_busy(w.cluster) && sent - w.acked < FO_POOL) {
            fo_batch(&pool[sent % FO_POOL], sent);
            hset_str(&pool[sent % FO_POOL], "tsm:{fo-0}:pad", "p", pad);
            eng_cluster_send(w.cluster, &pool[sent % FO_POOL]);
            sent++;
        }
        uv_run(&w.loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    int acked_before = w.acked;
    cr_assert_eq(kill(atoi(fk.pid), SIGKILL), 0);
    cr_assert_eq(kill(atoi(replica_pid), SIGCONT), 0);
    sent = fo_run(&w, pool, sent, fo_promoted_restart, &fk);
    int promoted = master_of(w.base, fk.slot, id);
    cr_expect_eq(promoted, replica);
    c = at(promoted);
    long long have = integer(c, "HLEN tsm:{fo-0}:log");
    redisFree(c);
    cr_log_info("wait_replicas=%d: %d batches acked before the kill, %d sent, %lld on the "
                "promoted master",
                wait_replicas, acked_before, sent, have);
    world_stop(&w);
    for (int i = 0; i < FO_POOL; i++)
        eng_batch_close(&pool[i]);
    return sent - have;
}

Test(cluster, without_wait_a_lagging_replica_loses_acknowledged_writes, .timeout = 120)
{
    cr_expect_gt(lagging_replica_failover(0), 0, "the hazard the setting is for");
}

Test(cluster, with_wait_a_lagging_replica_loses_nothing, .timeout = 120)
{
    cr_expect_eq(lagging_replica_failover(1), 0);
}
