/* test_cluster_sync.c - blocking commands over the test cluster (what
 * `tsmd client ...` and the fault checker need): keys of every master are
 * written and read through one client, a SCAN of every master finds them
 * all, a slot moved behind the client's back is followed, a cross-slot
 * command is refused before it is sent, and with cluster off it is one
 * Redis with its database. */
#include "engine/redis/cluster_sync.h"

#include "engine/redis/cluster_slot.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int env_port(const char *name)
{
    const char *p = getenv(name);
    cr_assert_not_null(p, "%s is not set: run through scripts/test", name);
    return atoi(p);
}

static eng_csync_t *open_client(bool cluster, int db)
{
    char err[256] = "";
    eng_csync_opts_t opts = {
        .host = "127.0.0.1",
        .port = env_port(cluster ? "TSMD_TEST_CLUSTER_PORT" : "TSMD_TEST_REDIS_PORT"),
        .cluster = cluster,
        .db = db,
        .timeout_ms = 2000};
    eng_csync_t *cs = eng_csync_connect(&opts, err, sizeof err);
    cr_assert_not_null(cs, "%s", err);
    return cs;
}

static void expect_ok(redisReply *r, const char *what)
{
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", what, r ? r->str : "no reply");
    freeReplyObject(r);
}

static void expect_str(redisReply *r, const char *want)
{
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING, "want %s", want);
    cr_expect_str_eq(r->str, want);
    freeReplyObject(r);
}

Test(cluster_sync, writes_reads_and_scans_every_master)
{
    eng_csync_t *cs = open_client(true, 0);
    cr_expect_eq(eng_csync_masters(cs), 3);
    char key[64], val[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "csync:token:%d", i);
        expect_ok(eng_csync_command(cs, "SET %s %d", key, i), key);
    }
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "csync:token:%d", i);
        snprintf(val, sizeof val, "%d", i);
        expect_str(eng_csync_command(cs, "GET %s", key), val);
    }
    /* the CLI's token scan: each master in turn */
    int found = 0, masters_with_keys = 0;
    for (int m = 0; m < eng_csync_masters(cs); m++) {
        char cursor[32] = "0";
        int here = 0;
        do {
            redisReply *r =
                eng_csync_on_master(cs, m, "SCAN %s MATCH csync:token:* COUNT 1000", cursor);
            cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
            here += (int)r->element[1]->elements;
            freeReplyObject(r);
        } while (strcmp(cursor, "0") != 0);
        found += here;
        masters_with_keys += here > 0;
    }
    cr_expect_eq(found, 100);
    cr_expect_eq(masters_with_keys, 3);
    redisReply *r = eng_csync_command(cs, "MGET csync:token:1 csync:token:2");
    cr_expect_null(r, "keys of two slots are refused");
    cr_expect(strstr(eng_csync_error(cs), "several slots") != NULL);
    eng_csync_free(cs);
}

/* Moves slot to another master with CLUSTER SETSLOT (it must hold no key). */
static void move_empty_slot(eng_csync_t *cs, int slot)
{
    char src_id[64] = "", dst_id[64] = "";
    int src = -1;
    redisReply *owner = eng_csync_on_master(cs, 0, "CLUSTER SLOTS");
    for (size_t i = 0; i < owner->elements; i++) {
        redisReply *range = owner->element[i];
        if (range->element[0]->integer <= slot && slot <= range->element[1]->integer)
            snprintf(src_id, sizeof src_id, "%s", range->element[2]->element[2]->str);
    }
    for (size_t i = 0; i < owner->elements && dst_id[0] == 0; i++) {
        const char *id = owner->element[i]->element[2]->element[2]->str;
        if (strcmp(id, src_id) != 0) snprintf(dst_id, sizeof dst_id, "%s", id);
    }
    freeReplyObject(owner);
    for (int m = 0; m < eng_csync_masters(cs); m++) {
        redisReply *me = eng_csync_on_master(cs, m, "CLUSTER MYID");
        if (strcmp(me->str, src_id) == 0) src = m;
        freeReplyObject(me);
    }
    cr_assert(src >= 0 && dst_id[0]);
    for (int m = 0; m < eng_csync_masters(cs); m++)
        expect_ok(eng_csync_on_master(cs, m, "CLUSTER SETSLOT %d NODE %s", slot, dst_id),
                  "SETSLOT NODE");
}

Test(cluster_sync, follows_a_moved_slot)
{
    eng_csync_t *cs = open_client(true, 0);
    const char *key = "csync:{moved}";
    int slot = eng_cluster_key_slot(key, strlen(key));
    expect_ok(eng_csync_command(cs, "DEL %s", key), "DEL");
    move_empty_slot(cs, slot);
    /* the client's map is stale: MOVED, then the new owner */
    expect_ok(eng_csync_command(cs, "SET %s here", key), "SET after the move");
    expect_str(eng_csync_command(cs, "GET %s", key), "here");
    eng_csync_free(cs);
}

Test(cluster_sync, one_redis_with_its_database)
{
    eng_csync_t *cs = open_client(false, 3);
    cr_expect_eq(eng_csync_masters(cs), 1);
    expect_ok(eng_csync_command(cs, "SET csync:db three"), "SET");
    redisReply *r = eng_csync_command(cs, "GET csync:db");
    expect_str(r, "three");
    eng_csync_free(cs);
    cs = open_client(false, 0);
    r = eng_csync_command(cs, "EXISTS csync:db");
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    cr_expect_eq(r->integer, 0, "written in db 3, not 0");
    freeReplyObject(r);
    eng_csync_free(cs);
}

Test(cluster_sync, a_dead_seed_is_passed_over_for_the_next)
{
    char err[256] = "", seeds[64];
    snprintf(seeds, sizeof seeds, "127.0.0.1:1, 127.0.0.1:%d", env_port("TSMD_TEST_CLUSTER_PORT"));
    eng_csync_opts_t opts = {
        .host = "127.0.0.1", .port = 1, .cluster = true, .seeds = seeds, .timeout_ms = 2000};
    eng_csync_t *cs = eng_csync_connect(&opts, err, sizeof err);
    cr_assert_not_null(cs, "%s", err);
    expect_ok(eng_csync_command(cs, "SET csync:{seed} 1"), "SET");
    cr_expect_eq(eng_csync_masters(cs), 3);
    eng_csync_free(cs);
    opts.seeds = "127.0.0.1:1";
    cr_expect_null(eng_csync_connect(&opts, err, sizeof err), "no seed answers");
    cr_expect(strstr(err, "cannot connect") != NULL, "%s", err);
}
