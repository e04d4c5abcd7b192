/* test_things.c - the tuid table: lookups, the newest-state merge (issue 2's
 * out-of-order rule), deletion with index reuse, gateway side table. */
#include "engine/base/heap.h"
#include "engine/model/things.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static proto_msg_t make_msg(const char *tuid, uint32_t ts, const char *gw, uint32_t flags)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.tuid_len = (uint8_t)strlen(tuid);
    memcpy(msg.tuid, tuid, msg.tuid_len);
    if (gw) {
        msg.gw_len = (uint8_t)strlen(gw);
        memcpy(msg.gw, gw, msg.gw_len);
        flags |= PROTO_HAS_GW;
    }
    msg.flags = flags;
    msg.ts = ts;
    msg.ts_sec = ts;
    return msg;
}

static uint32_t add(eng_things_t *things, const char *tuid)
{
    return eng_things_add(things, tuid, strlen(tuid), 0, NULL);
}

Test(things, add_then_get_returns_same_index_and_tuid)
{
    eng_things_t *things = eng_things_new();
    bool added;
    uint32_t a = eng_things_add(things, "TSSN0000000000001", 17, 4, &added);
    cr_assert(added);
    uint32_t b = eng_things_add(things, "TSSN0000000000001", 17, ENG_PART_NONE, &added);
    cr_assert(!added);
    cr_assert_eq(a, b);
    cr_assert_eq(eng_things_at(things, a)->part, 4, "ENG_PART_NONE keeps the partition");
    cr_assert_eq(eng_things_get(things, "TSSN0000000000001", 17), a);
    cr_assert_eq(eng_things_get(things, "TSSN000000000000", 16), ENG_THING_NONE);
    cr_assert_eq(eng_things_get(things, "TSSN0000000000002", 17), ENG_THING_NONE);
    size_t len;
    const char *tuid = eng_things_tuid(things, a, &len);
    cr_assert_eq(len, 17);
    cr_assert(memcmp(tuid, "TSSN0000000000001", 17) == 0);
    const eng_thing_t *th = eng_things_at(things, a);
    cr_assert_eq(th->parent, ENG_THING_NONE);
    cr_assert_eq(th->link, ENG_HEAP_NONE);
    cr_assert_eq(th->status, ENG_STATUS_NONE);
    eng_things_free(things);
}

Test(things, record_is_one_cache_line)
{
    /* docs/DETECTOR.md's bytes-per-thing figure depends on it. */
    cr_assert_eq(sizeof(eng_thing_t), 64);
    cr_assert_eq(sizeof(eng_gateway_t), 16);
}

Test(things, many_things_all_found_after_growth)
{
    eng_things_t *things = eng_things_new();
    char tuid[32];
    const uint32_t n = 300000;
    for (uint32_t i = 0; i < n; i++) {
        int len = snprintf(tuid, sizeof tuid, "T%u", i * 7919u);
        cr_assert_eq(eng_things_add(things, tuid, (size_t)len, 0, NULL), i);
    }
    cr_assert_eq(eng_things_count(things), n);
    for (uint32_t i = 0; i < n; i++) {
        int len = snprintf(tuid, sizeof tuid, "T%u", i * 7919u);
        cr_assert_eq(eng_things_get(things, tuid, (size_t)len), i);
        size_t l;
        cr_assert(memcmp(eng_things_tuid(things, i, &l), tuid, (size_t)len) == 0);
    }
    cr_assert_eq(eng_things_get(things, "T1", 2), ENG_THING_NONE);
    eng_things_free(things);
}

Test(things, merge_keeps_newest_state_with_out_of_order_messages)
{
    eng_things_t *things = eng_things_new();
    uint32_t s = add(things, "S1");
    proto_msg_t m = make_msg("S1", 100, "G1", PROTO_HAS_BATL | PROTO_HAS_LOC | PROTO_HAS_VER);
    cr_assert_eq(eng_things_merge(things, s, &m), ENG_CHANGED_TS | ENG_CHANGED_GW |
                                                      ENG_CHANGED_BATL | ENG_CHANGED_LOC |
                                                      ENG_CHANGED_VER);
    uint32_t g1 = eng_things_get(things, "G1", 2);
    cr_assert_neq(g1, ENG_THING_NONE, "tsmGw adds the gateway");
    cr_assert_eq(eng_things_at(things, g1)->part, ENG_PART_NONE);
    cr_assert_eq(eng_things_at(things, s)->parent, g1);

    /* A late, older message with every field: nothing moves. */
    m = make_msg("S1", 90, "G2", PROTO_HAS_BATL | PROTO_HAS_LOC | PROTO_HAS_VER);
    cr_assert_eq(eng_things_merge(things, s, &m), 0);
    cr_assert_eq(eng_things_at(things, s)->parent, g1);
    cr_assert_eq(eng_things_at(things, s)->heard, 100);

    /* Newer with battery only: the other fields keep their times. */
    m = make_msg("S1", 200, NULL, PROTO_HAS_BATL);
    cr_assert_eq(eng_things_merge(things, s, &m), ENG_CHANGED_TS | ENG_CHANGED_BATL);
    /* Older than the battery but newer than the location: location moves,
     * battery does not, timestamp does not. */
    m = make_msg("S1", 150, "G3", PROTO_HAS_BATL | PROTO_HAS_LOC);
    cr_assert_eq(eng_things_merge(things, s, &m), ENG_CHANGED_GW | ENG_CHANGED_LOC);
    const eng_thing_t *th = eng_things_at(things, s);
    cr_assert_eq(th->heard, 200);
    cr_assert_eq(th->t_batl, 200);
    cr_assert_eq(th->t_loc, 150);
    cr_assert_eq(th->t_ver, 100);
    cr_assert_eq(th->t_gw, 150);
    cr_assert_eq(th->parent, eng_things_get(things, "G3", 2));
    cr_assert_eq(th->dirty, ENG_CHANGED_TS | ENG_CHANGED_GW | ENG_CHANGED_BATL | ENG_CHANGED_LOC |
                                ENG_CHANGED_VER);
    eng_things_free(things);
}

Test(things, merge_equal_times_later_arrival_wins)
{
    eng_things_t *things = eng_things_new();
    uint32_t s = add(things, "S1");
    proto_msg_t m = make_msg("S1", 100, "G1", PROTO_HAS_VER);
    eng_things_merge(things, s, &m);
    m = make_msg("S1", 100, "G2", PROTO_HAS_VER);
    /* Same second: the timestamp value is unchanged, the fields are rewritten. */
    cr_assert_eq(eng_things_merge(things, s, &m), ENG_CHANGED_GW | ENG_CHANGED_VER);
    cr_assert_eq(eng_things_at(things, s)->parent, eng_things_get(things, "G2", 2));
    eng_things_free(things);
}

Test(things, merge_at_uses_given_time)
{
    eng_things_t *things = eng_things_new();
    uint32_t s = add(things, "S1");
    proto_msg_t m = make_msg("S1", 4000000000u, NULL, PROTO_HAS_BATL);
    cr_assert_eq(eng_things_merge_at(things, s, &m, 500, ENG_THING_NONE),
                 ENG_CHANGED_TS | ENG_CHANGED_BATL);
    cr_assert_eq(eng_things_at(things, s)->heard, 500);
    cr_assert_eq(eng_things_at(things, s)->t_batl, 500);
    eng_things_free(things);
}

Test(things, remove_frees_tuid_and_reuses_index)
{
    eng_things_t *things = eng_things_new();
    char tuid[32];
    const uint32_t n = 50000;
    for (uint32_t i = 0; i < n; i++) {
        int len = snprintf(tuid, sizeof tuid, "THING-%u", i);
        eng_things_add(things, tuid, (size_t)len, (uint16_t)(i % 3), NULL);
    }
    /* Remove every third: probe runs must stay intact (backward shift). */
    for (uint32_t i = 0; i < n; i += 3)
        eng_things_remove(things, i);
    cr_assert_eq(eng_things_count(things), n - (n + 2) / 3);
    for (uint32_t i = 0; i < n; i++) {
        int len = snprintf(tuid, sizeof tuid, "THING-%u", i);
        uint32_t idx = eng_things_get(things, tuid, (size_t)len);
        if (i % 3 == 0)
            cr_assert_eq(idx, ENG_THING_NONE, "%s still found", tuid);
        else
            cr_assert_eq(idx, i, "%s lost", tuid);
    }
    cr_assert(eng_things_at(things, 1) != NULL);
    cr_assert(eng_things_base(things)[0].flags & ENG_THING_DEAD);
    /* New things take the freed indexes, not new ones. */
    uint32_t slots = eng_things_slots(things);
    uint32_t idx = add(things, "NEWCOMER");
    cr_assert_lt(idx, slots);
    cr_assert_eq(idx % 3, 0);
    cr_assert_eq(eng_things_slots(things), slots);
    cr_assert_eq(eng_things_get(things, "NEWCOMER", 8), idx);
    eng_things_free(things);
}

Test(things, removing_most_things_compacts_the_arena)
{
    eng_things_t *things = eng_things_new();
    char tuid[80];
    const uint32_t n = 60000;
    memset(tuid, 'x', sizeof tuid);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(tuid, 12, "%011u", i);
        tuid[11] = 'x';
        eng_things_add(things, tuid, 60, 0, NULL);
    }
    size_t before = eng_things_bytes(things);
    for (uint32_t i = 0; i < n; i++)
        if (i % 10) eng_things_remove(things, i);
    cr_assert_lt(eng_things_bytes(things), before);
    for (uint32_t i = 0; i < n; i += 10) {
        snprintf(tuid, 12, "%011u", i);
        tuid[11] = 'x';
        cr_assert_eq(eng_things_get(things, tuid, 60), i);
    }
    eng_things_free(things);
}

Test(things, gateway_side_table)
{
    eng_things_t *things = eng_things_new();
    uint32_t g = add(things, "G1");
    uint32_t s = add(things, "S1");
    cr_assert_eq(eng_things_gateway(things, g), ENG_THING_NONE);
    uint32_t e = eng_things_make_gateway(things, g);
    cr_assert_eq(eng_things_make_gateway(things, g), e);
    cr_assert_eq(eng_things_gateway(things, g), e);
    cr_assert_eq(eng_things_gw(things, e)->thing, g);
    cr_assert_eq(eng_things_gw(things, e)->hpos, ENG_HEAP_NONE);
    cr_assert(eng_things_at(things, g)->flags & ENG_THING_GATEWAY);
    cr_assert_eq(eng_things_gateway(things, s), ENG_THING_NONE);
    char tuid[16];
    for (int i = 0; i < 500; i++) {
        int len = snprintf(tuid, sizeof tuid, "GW%d", i);
        eng_things_make_gateway(things, eng_things_add(things, tuid, (size_t)len, 0, NULL));
    }
    eng_things_remove(things, g);
    cr_assert_eq(
        eng_things_gw(things, eng_things_gateway(things, eng_things_get(things, "GW7", 3)))->thing,
        eng_things_get(things, "GW7", 3));
    uint32_t g2 = add(things, "G2");
    cr_assert_eq(eng_things_make_gateway(things, g2), e, "the freed gateway entry is reused");
    eng_things_free(things);
}

Test(things, status_names_round_trip)
{
    const char *names[] = {"new", "installed", "uninstalled", "quarantine", "retired"};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(eng_status_parse(names[i], strlen(names[i])), i + 1);
        cr_assert_str_eq(eng_status_name((eng_status_t)(i + 1)), names[i]);
    }
    cr_assert_eq(eng_status_parse("install", 7), -1);
    cr_assert_eq(eng_status_parse("", 0), -1);
}

Test(things, long_tuids_live_in_the_arena)
{
    eng_things_t *things = eng_things_new();
    char tuid[PROTO_TUID_MAX + 1];
    for (size_t len = 1; len <= PROTO_TUID_MAX; len++) {
        memset(tuid, 'a' + (int)(len % 26), len);
        tuid[0] = 'L';
        uint32_t idx = eng_things_add(things, tuid, len, 0, NULL);
        size_t got;
        const char *name = eng_things_tuid(things, idx, &got);
        cr_assert_eq(got, len);
        cr_assert(memcmp(name, tuid, len) == 0, "tuid of length %zu", len);
    }
    for (size_t len = 1; len <= PROTO_TUID_MAX; len++) {
        memset(tuid, 'a' + (int)(len % 26), len);
        tuid[0] = 'L';
        cr_assert_eq(eng_things_get(things, tuid, len), len - 1);
    }
    cr_assert_eq(eng_things_count(things), PROTO_TUID_MAX);
    eng_things_free(things);
}
