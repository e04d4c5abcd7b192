/* status.h - what GET /status and the per-partition metrics show: the
 *            consumer's partitions (assigned, restoring, catching up,
 *            paused, lag against the committed offset, newest record time)
 *            and the state of the Redis connections and the broker.
 * Threads: the loop thread.
 * Ownership: eng_app_status() returns a new JSON object the caller owns.
 * Errors: none. */
#ifndef ENG_APP_STATUS_H
#define ENG_APP_STATUS_H

#include "engine/http/http.h"
#include "engine/ingest/ingest.h"
#include "engine/ingest/kafka.h"
#include "engine/ingest/store.h"
#include "engine/model/detector.h"

#include <jansson.h>
#include <stdbool.h>

/* The modules the status reads (borrowed). */
typedef struct eng_status_src_s {
    const eng_kafka_t *kafka;
    const eng_ingest_t *ingest;
    const eng_detector_t *det;
    const eng_store_t *store;
    bool embedded;
    bool stopping;
} eng_status_src_t;

/* Returns {"version","commit","stopping","redis_writes","kafka":{...},
 * "partitions":[{topic, partition, assigned, restoring, catching_up, paused,
 * lag, committed, high, newest_record_ts}]}. */
json_t *eng_app_status(const eng_status_src_t *src);

/* Appends tsmd_kafka_partitions_restoring and _catching_up (counts), and
 * tsmd_kafka_partition_lag, tsmd_kafka_partition_committed_offset and
 * tsmd_kafka_partition_newest_record_timestamp_seconds, each by
 * {topic, partition}, as Prometheus text. */
void eng_app_status_metrics(const eng_status_src_t *src, eng_http_buf_t *out);

#endif
