/* kafka_parts.h - the consumer's partitions as /status and /metrics show
 *                 them: which are assigned, the committed offset, the high
 *                 watermark and the lag between them (from librdkafka's
 *                 statistics), and the Kafka timestamp of the newest record
 *                 consumed from each.
 * Threads: the consumer thread changes the table (rebalance, statistics,
 *   records); any thread reads a snapshot. A mutex guards the table; the
 *   newest timestamps are relaxed atomics, written once per record.
 * Ownership: the table owns its arrays.
 * Errors: statistics that do not parse are ignored (the values stay). */
#ifndef ENG_KAFKA_PARTS_H
#define ENG_KAFKA_PARTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define ENG_KPARTS_IDS (16u * 1024u) /* 16 topics of 1024 partitions */

/* One assigned partition. */
typedef struct eng_kafka_part_s {
    uint16_t topic; /* index into the raw topics (eng_kafka_topic_name) */
    int32_t partition;
    int64_t committed;    /* the group's committed offset; -1 while unknown */
    int64_t high;         /* high watermark; -1 while unknown */
    int64_t lag;          /* high - committed (high - low before any commit); -1 unknown */
    int64_t newest_ts_ms; /* Kafka timestamp of the newest record consumed; -1 none */
} eng_kafka_part_t;

typedef struct eng_kparts_s eng_kparts_t;

eng_kparts_t *eng_kparts_new(void);
void eng_kparts_free(eng_kparts_t *kp);

/* Rebalance: a partition was assigned, or let go. */
void eng_kparts_add(eng_kparts_t *kp, uint16_t topic, int32_t partition);
void eng_kparts_remove(eng_kparts_t *kp, uint16_t topic, int32_t partition);
/* Every partition let go (an eager revoke, or closing). */
void eng_kparts_clear(eng_kparts_t *kp);

/* A record of (topic, partition) with Kafka timestamp ts_ms was consumed. */
void eng_kparts_record(eng_kparts_t *kp, uint16_t topic, int32_t partition, int64_t ts_ms);

/* Takes committed offsets, watermarks and lag from librdkafka's statistics
 * JSON; topic_index maps a topic name to its index (-1: not a raw topic). */
void eng_kparts_stats(eng_kparts_t *kp, const char *json,
                      int (*topic_index)(void *arg, const char *name), void *arg);

/* Copies up to cap assigned partitions, ordered by topic and partition, into
 * out. Returns how many are assigned (may exceed cap). */
size_t eng_kparts_snapshot(eng_kparts_t *kp, eng_kafka_part_t *out, size_t cap);

#endif
