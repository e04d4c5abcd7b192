/* test_kafka_parts.c - the consumer's partition table: assign and revoke
 * (incremental), lag against the committed offset from librdkafka's
 * statistics, the newest record time, and statistics that do not parse. */
#include "engine/ingest/kafka_parts.h"

#include <criterion/criterion.h>
#include <string.h>

static int topic_of(void *arg, const char *name)
{
    (void)arg;
    return strcmp(name, "tsm.raw") == 0 ? 0 : -1;
}

/* The shape librdkafka's statistics have (abridged): partition -1 is its
 * internal unassigned entry; committed_offset -1001 is "none yet". */
static const char *const stats =
    "{\"name\":\"rdkafka#consumer-1\",\"topics\":{"
    "\"tsm.raw\":{\"topic\":\"tsm.raw\",\"partitions\":{"
    "\"0\":{\"partition\":0,\"committed_offset\":90,\"hi_offset\":100,\"lo_offset\":0},"
    "\"1\":{\"partition\":1,\"committed_offset\":-1001,\"hi_offset\":40,\"lo_offset\":10},"
    "\"2\":{\"partition\":2,\"committed_offset\":5,\"hi_offset\":7,\"lo_offset\":0},"
    "\"-1\":{\"partition\":-1,\"committed_offset\":-1001,\"hi_offset\":-1}}},"
    "\"other\":{\"partitions\":{\"0\":{\"partition\":0,\"committed_offset\":1,\"hi_offset\":9}}}}}";

Test(kafka_parts, lag_is_against_the_committed_offset)
{
    eng_kparts_t *kp = eng_kparts_new();
    eng_kparts_add(kp, 0, 1);
    eng_kparts_add(kp, 0, 0); /* kept sorted */
    eng_kparts_stats(kp, stats, topic_of, NULL);
    eng_kafka_part_t v[4];
    cr_assert_eq(eng_kparts_snapshot(kp, v, 4), 2);
    cr_assert_eq(v[0].partition, 0);
    cr_assert_eq(v[0].committed, 90);
    cr_assert_eq(v[0].high, 100);
    cr_assert_eq(v[0].lag, 10);
    cr_assert_eq(v[1].partition, 1);
    cr_assert_eq(v[1].committed, -1, "nothing committed yet");
    cr_assert_eq(v[1].lag, 30, "before any commit, everything from the low watermark");
    cr_assert_eq(v[1].newest_ts_ms, -1);
    eng_kparts_free(kp);
}

Test(kafka_parts, incremental_assign_and_revoke_keep_the_others)
{
    eng_kparts_t *kp = eng_kparts_new();
    for (int p = 0; p < 3; p++)
        eng_kparts_add(kp, 0, p);
    eng_kparts_stats(kp, stats, topic_of, NULL);
    eng_kparts_record(kp, 0, 2, 1700000000123);
    eng_kparts_record(kp, 0, 2, 1700000000100); /* older: the newest stays */
    eng_kparts_remove(kp, 0, 1);
    eng_kafka_part_t v[4];
    cr_assert_eq(eng_kparts_snapshot(kp, v, 4), 2);
    cr_assert_eq(v[0].partition, 0);
    cr_assert_eq(v[0].lag, 10, "a kept partition keeps its figures");
    cr_assert_eq(v[1].partition, 2);
    cr_assert_eq(v[1].lag, 2);
    cr_assert_eq(v[1].newest_ts_ms, 1700000000123);
    eng_kparts_add(kp, 0, 1);
    cr_assert_eq(eng_kparts_snapshot(kp, v, 1), 3, "the count even when cap is smaller");
    eng_kparts_clear(kp);
    cr_assert_eq(eng_kparts_snapshot(kp, v, 4), 0);
    eng_kparts_free(kp);
}

Test(kafka_parts, bad_statistics_change_nothing)
{
    eng_kparts_t *kp = eng_kparts_new();
    eng_kparts_add(kp, 0, 0);
    eng_kparts_stats(kp, "{not json", topic_of, NULL);
    eng_kparts_stats(kp, "{\"topics\":[1,2]}", topic_of, NULL);
    eng_kparts_stats(kp,
                     "{\"topics\":{\"tsm.raw\":{\"partitions\":{\"0\":{\"partition\":\"x\"}}}}}",
                     topic_of, NULL);
    eng_kafka_part_t v[1];
    cr_assert_eq(eng_kparts_snapshot(kp, v, 1), 1);
    cr_assert_eq(v[0].lag, -1);
    cr_assert_eq(v[0].committed, -1);
    eng_kparts_free(kp);
}
