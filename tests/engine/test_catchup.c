/* test_catchup.c - the partition clocks and relay runs of engine/catchup.c on
 * their own: a partition's state and clock, the gateways' horizon over local
 * and reported partitions (and the ones nobody reported), and the merging of
 * a gateway's relays beyond the horizon into runs. */
#include "engine/model/catchup.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The runs of g as "FROM-TO FROM-TO", read by popping a copy's runs: adds the
 * same runs to a scratch gateway entry so that g itself is not changed. */
static const char *runs(eng_catchup_t *cu, uint32_t g)
{
    static char out[512];
    out[0] = '\0';
    uint32_t from, to, scratch = 1000;
    while (eng_catchup_run_first(cu, g, &from, &to)) {
        size_t n = strlen(out);
        snprintf(out + n, sizeof out - n, "%s%u-%u", n ? " " : "", from, to);
        eng_catchup_run_add(cu, scratch, from, to, 0);
        eng_catchup_run_pop(cu, g);
    }
    while (eng_catchup_run_first(cu, scratch, &from, &to)) {
        eng_catchup_run_add(cu, g, from, to, 0);
        eng_catchup_run_pop(cu, scratch);
    }
    return out;
}

Test(catchup, runs_merge_relays_closer_than_the_timeout)
{
    eng_catchup_t *cu = eng_catchup_new();
    const uint32_t g = 7, to = 10;
    eng_catchup_run_add(cu, g, 100, 100, to);
    eng_catchup_run_add(cu, g, 105, 105, to); /* 5 apart: one run */
    cr_assert_str_eq(runs(cu, g), "100-105");
    eng_catchup_run_add(cu, g, 115, 115, to); /* exactly the timeout apart: a gap */
    eng_catchup_run_add(cu, g, 130, 140, to);
    cr_assert_str_eq(runs(cu, g), "100-105 115-115 130-140");
    eng_catchup_run_add(cu, g, 50, 60, to); /* before every run */
    cr_assert_str_eq(runs(cu, g), "50-60 100-105 115-115 130-140");
    eng_catchup_run_add(cu, g, 108, 122, to); /* bridges three runs */
    cr_assert_str_eq(runs(cu, g), "50-60 100-140");
    eng_catchup_run_add(cu, g, 70, 90, to); /* 10 after 60 and 10 before 100 */
    cr_assert_str_eq(runs(cu, g), "50-60 70-90 100-140");
    eng_catchup_run_add(cu, g, 95, 95, to); /* joins 70-90 and 100-140 */
    cr_assert_str_eq(runs(cu, g), "50-60 70-140");
    eng_catchup_run_add(cu, g, 110, 120, to); /* inside a run: nothing changes */
    eng_catchup_run_add(cu, g, 70, 70, to);   /* a duplicate relay */
    cr_assert_str_eq(runs(cu, g), "50-60 70-140");
    eng_catchup_run_add(cu, g, 141, 200, to); /* extends the last run */
    eng_catchup_run_add(cu, g, 40, 41, to);   /* 9 before 50: extends the first */
    cr_assert_str_eq(runs(cu, g), "40-60 70-200");
    /* Another gateway's runs are its own. */
    cr_assert(!eng_catchup_run_first(cu, 3, &(uint32_t){0}, &(uint32_t){0}));
    eng_catchup_run_add(cu, 3, 1, 2, to);
    cr_assert_str_eq(runs(cu, 3), "1-2");
    cr_assert_str_eq(runs(cu, g), "40-60 70-200");
    /* First and pop go in order; clear forgets. */
    uint32_t from, end;
    cr_assert(eng_catchup_run_first(cu, g, &from, &end));
    cr_assert_eq(from, 40);
    cr_assert_eq(end, 60);
    eng_catchup_run_pop(cu, g);
    cr_assert(eng_catchup_run_first(cu, g, &from, &end));
    cr_assert_eq(from, 70);
    eng_catchup_run_clear(cu, g);
    cr_assert(!eng_catchup_run_first(cu, g, &from, &end));
    cr_assert_str_eq(runs(cu, 3), "1-2");
    /* Near the end of time the window arithmetic saturates (no wrap). */
    eng_catchup_run_add(cu, 5, UINT32_MAX - 3, UINT32_MAX - 3, to);
    eng_catchup_run_add(cu, 5, UINT32_MAX - 1, UINT32_MAX - 1, to);
    eng_catchup_run_add(cu, 5, 2, 2, to);
    cr_assert_eq(strcmp(runs(cu, 5), "2-2 4294967292-4294967294"), 0, "%s", runs(cu, 5));
    eng_catchup_free(cu);
}

Test(catchup, partition_clock_is_its_event_time_while_behind)
{
    eng_catchup_t *cu = eng_catchup_new();
    const uint32_t now = 5000;
    cr_assert_eq(eng_catchup_state(cu, 4), ENG_PART_UNTRACKED);
    cr_assert_eq(eng_catchup_clock(cu, 4, now), now, "not assigned here: the wall clock");
    cr_assert(!eng_catchup_set_live(cu, 4, true), "untracked partitions do not change");
    eng_catchup_assign(cu, 4);
    cr_assert_eq(eng_catchup_state(cu, 4), ENG_PART_BEHIND);
    cr_assert_eq(eng_catchup_clock(cu, 4, now), 0, "no record read yet");
    cr_assert(eng_catchup_observe(cu, 4, 1200, 0), "the horizon may move");
    cr_assert(!eng_catchup_observe(cu, 4, 1100, 0), "older records move nothing");
    cr_assert_eq(eng_catchup_clock(cu, 4, now), 1200);
    eng_catchup_observe(cu, 4, 9000, 1200);
    cr_assert_eq(eng_catchup_clock(cu, 4, now), now, "never ahead of now");
    cr_assert(eng_catchup_set_live(cu, 4, true));
    cr_assert(!eng_catchup_set_live(cu, 4, true));
    cr_assert_eq(eng_catchup_state(cu, 4), ENG_PART_LIVE);
    cr_assert_eq(eng_catchup_clock(cu, 4, now), now);
    eng_catchup_assign(cu, 9);
    cr_assert_eq(eng_catchup_all_behind(cu), 1, "9 was behind already");
    cr_assert_eq(eng_catchup_state(cu, 4), ENG_PART_BEHIND);
    /* A reassignment starts over. */
    eng_catchup_assign(cu, 4);
    cr_assert_eq(eng_catchup_etime(cu, 4), 0);
    const uint16_t *local;
    cr_assert_eq(eng_catchup_local(cu, &local), 2);
    eng_catchup_drop(cu, 4);
    cr_assert_eq(eng_catchup_state(cu, 4), ENG_PART_UNTRACKED);
    cr_assert_eq(eng_catchup_local(cu, &local), 1);
    cr_assert_eq(local[0], 9);
    eng_catchup_free(cu);
}

Test(catchup, horizon_is_the_least_clock_of_every_partition_of_the_group)
{
    eng_catchup_t *cu = eng_catchup_new();
    const uint32_t now = 5000, wall = 5000;
    cr_assert_eq(eng_catchup_horizon(cu, now, wall), now, "nothing behind");
    eng_catchup_assign(cu, 1);
    eng_catchup_observe(cu, 1, 3000, 0);
    cr_assert_eq(eng_catchup_horizon(cu, now, wall), 3000);
    /* The topic has 4 partitions; 0, 2, 3 are held elsewhere and have not
     * been reported: they may hold relays older than anything read here. */
    eng_catchup_set_partitions(cu, 4);
    cr_assert_eq(eng_catchup_horizon(cu, now, wall), 0);
    eng_catchup_remote(cu, 0, 2500, false, wall);
    eng_catchup_remote(cu, 2, 100, true, wall); /* caught up: its time is now */
    cr_assert_eq(eng_catchup_horizon(cu, now, wall), 0, "3 still unknown");
    eng_catchup_remote(cu, 3, 4000, false, wall);
    cr_assert_eq(eng_catchup_horizon(cu, now, wall), 2500);
    eng_catchup_set_live(cu, 1, true);
    eng_catchup_remote(cu, 0, 4500, false, wall);
    cr_assert_eq(eng_catchup_horizon(cu, now, wall), 4000);
    /* Reports count for ENG_CATCHUP_REMOTE_TTL seconds: an instance that
     * stopped reporting holds the horizon back. */
    cr_assert_eq(eng_catchup_horizon(cu, now, wall + ENG_CATCHUP_REMOTE_TTL), 4000);
    cr_assert_eq(eng_catchup_horizon(cu, now, wall + ENG_CATCHUP_REMOTE_TTL + 1), 0);
    /* A partition of another topic counts while its report is fresh. */
    eng_catchup_remote(cu, (1u << 10) | 5, 1000, false, wall);
    cr_assert_eq(eng_catchup_horizon(cu, now, wall), 1000);
    cr_assert_eq(eng_catchup_horizon(cu, now, wall + ENG_CATCHUP_REMOTE_TTL + 1), 0);
    eng_catchup_remote(cu, (1u << 10) | 5, 0, true, wall);
    cr_assert_eq(eng_catchup_horizon(cu, now, wall), 4000);
    eng_catchup_free(cu);
}
