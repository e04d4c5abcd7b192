/* status.c - GET /status and the per-partition metrics; see status.h. */
#include "engine/app/status.h"

#include "engine/base/log.h"
#include "engine/base/version.h"
#include "engine/model/catchup.h"
#include "engine/model/things.h"

#include <stdlib.h>

/* Takes a snapshot of the assigned partitions; *n gets their number. */
static eng_kafka_part_t *parts_of(const eng_kafka_t *kafka, size_t *n)
{
    size_t cap = 64;
    for (;;) {
        eng_kafka_part_t *v = eng_malloc(cap * sizeof *v);
        size_t got = eng_kafka_parts(kafka, v, cap);
        if (got <= cap) {
            *n = got;
            return v;
        }
        free(v);
        cap = got + 16;
    }
}

static json_t *int_or_null(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

json_t *eng_app_status(const eng_status_src_t *src)
{
    const eng_kafka_stats_t *ks = eng_kafka_stats(src->kafka);
    bool paused = atomic_load(&ks->paused) != 0;
    size_t n;
    eng_kafka_part_t *v = parts_of(src->kafka, &n);
    const struct eng_catchup_s *cu = eng_detector_catchup(src->det);
    json_t *parts = json_array();
    int64_t lag = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t id = eng_things_part_id(v[i].topic, v[i].partition);
        json_t *p = json_pack(
            "{s:s,s:i,s:b,s:b,s:b,s:b}", "topic", eng_kafka_topic_name(src->kafka, v[i].topic),
            "partition", (json_int_t)v[i].partition, "assigned", 1, "restoring",
            eng_ingest_part_restoring(src->ingest, v[i].topic, v[i].partition), "catching_up",
            eng_catchup_state(cu, id) == ENG_PART_BEHIND, "paused", paused);
        json_object_set_new(p, "lag", int_or_null(v[i].lag));
        json_object_set_new(p, "committed", int_or_null(v[i].committed));
        json_object_set_new(p, "high_watermark", int_or_null(v[i].high));
        json_object_set_new(p, "newest_record_ms", int_or_null(v[i].newest_ts_ms));
        json_array_append_new(parts, p);
        if (v[i].lag > 0) lag += v[i].lag;
    }
    free(v);
    json_t *kafka = json_pack("{s:b,s:b,s:i,s:I}", "embedded", src->embedded, "paused", paused,
                              "assigned", (json_int_t)n, "lag", (json_int_t)lag);
    return json_pack("{s:s,s:s,s:b,s:b,s:o,s:o}", "version", TSMD_VERSION, "commit", TSMD_COMMIT,
                     "stopping", src->stopping, "redis_writes", eng_store_connected(src->store),
                     "kafka", kafka, "partitions", parts);
}

static void family(eng_http_buf_t *out, const char *name, const char *help)
{
    eng_http_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

void eng_app_status_metrics(const eng_status_src_t *src, eng_http_buf_t *out)
{
    size_t n;
    eng_kafka_part_t *v = parts_of(src->kafka, &n);
    const struct eng_catchup_s *cu = eng_detector_catchup(src->det);
    size_t restoring = 0, behind = 0;
    for (size_t i = 0; i < n; i++) {
        restoring += eng_ingest_part_restoring(src->ingest, v[i].topic, v[i].partition);
        behind += eng_catchup_state(cu, eng_things_part_id(v[i].topic, v[i].partition)) ==
                  ENG_PART_BEHIND;
    }
    family(out, "tsmd_kafka_partitions_restoring",
           "Partitions assigned here whose things are being restored from Redis.");
    eng_http_buf_printf(out, "tsmd_kafka_partitions_restoring %zu\n", restoring);
    family(out, "tsmd_kafka_partitions_catching_up",
           "Partitions assigned here not yet consumed to their end (judged on their own event "
           "time).");
    eng_http_buf_printf(out, "tsmd_kafka_partitions_catching_up %zu\n", behind);
    static const char *const names[] = {"tsmd_kafka_partition_lag",
                                        "tsmd_kafka_partition_committed_offset",
                                        "tsmd_kafka_partition_newest_record_timestamp_seconds"};
    static const char *const helps[] = {
        "Records between the group's committed offset and the high watermark, by partition "
        "assigned here.",
        "The group's committed offset, by partition assigned here.",
        "Kafka timestamp of the newest record consumed here, by partition (a silent feed "
        "stops moving it)."};
    for (int m = 0; m < 3; m++) {
        family(out, names[m], helps[m]);
        for (size_t i = 0; i < n; i++) {
            int64_t x = m == 0 ? v[i].lag : m == 1 ? v[i].committed : v[i].newest_ts_ms;
            if (x < 0) continue; /* not known yet */
            const char *topic = eng_kafka_topic_name(src->kafka, v[i].topic);
            if (m == 2)
                eng_http_buf_printf(out, "%s{topic=\"%s\",partition=\"%d\"} %lld.%03lld\n",
                                    names[m], topic, (int)v[i].partition, (long long)(x / 1000),
                                    (long long)(x % 1000));
            else
                eng_http_buf_printf(out, "%s{topic=\"%s\",partition=\"%d\"} %lld\n", names[m],
                                    topic, (int)v[i].partition, (long long)x);
        }
    }
    free(v);
}
