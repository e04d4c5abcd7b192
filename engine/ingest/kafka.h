/* kafka.h - the Kafka side of tsmd: the consumer thread (poll, decode, push
 *           into the ring), the embedded broker, and the producer of alert
 *           events and API commands.
 * Threads: eng_kafka_new/start/stop/free and the producer calls on the loop
 *   thread; the consumer thread is internal. Records in the ring are read by
 *   the loop thread, which answers control records with eng_kafka_ctrl_done().
 *   eng_kafka_store_offsets() may be called from the loop thread.
 * Ownership: the kafka object owns its librdkafka handles and its thread;
 *   the ring is the caller's.
 * Errors: eng_kafka_new() returns NULL after logging when librdkafka refuses
 *   the configuration (a librdkafka.* setting, say). */
#ifndef ENG_KAFKA_H
#define ENG_KAFKA_H

#include "config/config.h"
#include "engine/base/ring.h"
#include "engine/ingest/kafka_parts.h"
#include "proto/msg.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* Kinds of ring records. */
enum eng_rec_kind {
    ENG_REC_MSG = 1,  /* one decoded message; its body follows the record */
    ENG_REC_SKIP,     /* a Kafka record with no valid message: only its offset */
    ENG_REC_ASSIGN,   /* partitions assigned: restore their things, then done */
    ENG_REC_REVOKE,   /* partitions revoked: ack all before, drop, then done */
    ENG_REC_CAUGHT_UP /* the consumer reached the end of (topic, partition) */
};

/* A topic-partition in control records. */
typedef struct eng_tp_s {
    uint16_t topic;
    int32_t partition;
} eng_tp_t;

/* The header of every ring record. */
typedef struct eng_rec_s {
    uint32_t kind;
    uint16_t topic; /* index into eng_kafka_topic_name() */
    int32_t partition;
    int64_t offset;
    int64_t done; /* >= 0: the offset to commit once this record and all
                     before it on the partition are acknowledged */
    int64_t kafka_ts_ms;
    uint32_t ver_off;         /* MSG: msg.ver is body + ver_off */
    uint32_t nparts;          /* ASSIGN/REVOKE: eng_tp_t entries that follow */
    int32_t topic_partitions; /* ASSIGN: partitions of the first raw topic (0: unknown) */
    proto_msg_t msg;          /* MSG: body and ver point into the ring after eng_kafka_rec_fix() */
} eng_rec_t;

/* Counters shared with the loop thread for /metrics. */
typedef struct eng_kafka_stats_s {
    _Atomic uint64_t consumed;                     /* Kafka records polled */
    _Atomic uint64_t messages;                     /* valid messages pushed */
    _Atomic uint64_t rejected[PROTO_REASON_COUNT]; /* by reason */
    _Atomic uint64_t committed;                    /* offsets committed */
    _Atomic uint64_t commit_errors;
    _Atomic int64_t lag;            /* sum over assigned partitions */
    _Atomic int paused;             /* ring full, partitions paused */
    _Atomic int assigned;           /* partitions assigned */
    _Atomic uint64_t alerts_failed; /* alert events not delivered */
    _Atomic uint64_t refetched;     /* delivered while paused, sought back */
} eng_kafka_stats_t;

typedef struct eng_kafka_s eng_kafka_t;

/* Creates the handles (and the embedded broker when kafka.brokers=embedded).
 * wake is sent whenever records were pushed. Returns NULL on a bad config. */
eng_kafka_t *eng_kafka_new(uv_loop_t *loop, const cfg_t *cfg, eng_ring_t *ring, uv_async_t *wake);
/* Starts the consumer thread and the producer poll timer. Returns 0. */
int eng_kafka_start(eng_kafka_t *kafka);
/* Asks the consumer thread to leave the group (revoking, which the loop must
 * keep serving) and stop; done_cb runs on the loop thread when it has. */
void eng_kafka_stop(eng_kafka_t *kafka, void (*done_cb)(void *arg), void *arg);
/* Waits up to timeout_ms for produced messages; delivery callbacks run. */
void eng_kafka_flush(eng_kafka_t *kafka, int timeout_ms);
/* Frees everything; after eng_kafka_stop() completed and the loop ran. */
void eng_kafka_free(eng_kafka_t *kafka);

/* Fixes msg.body/msg.ver of a MSG record peeked from the ring. Loop thread. */
void eng_kafka_rec_fix(eng_rec_t *rec);
/* Tells the consumer thread the loop has finished a control record. */
void eng_kafka_ctrl_done(eng_kafka_t *kafka);
/* Stores offsets (next offset to consume) once Redis acknowledged them. */
void eng_kafka_store_offsets(eng_kafka_t *kafka, const eng_tp_t *tps, const int64_t *next,
                             size_t n);

/* Returns the index of topic name among kafka.topic, or -1. Any thread. */
int eng_kafka_topic_index(const eng_kafka_t *kafka, const char *name);
/* Copies up to cap assigned partitions (committed offset, watermark, lag,
 * newest record time) into out; returns how many are assigned. Any thread. */
size_t eng_kafka_parts(const eng_kafka_t *kafka, eng_kafka_part_t *out, size_t cap);

/* Returns the name of topic index i. */
const char *eng_kafka_topic_name(const eng_kafka_t *kafka, uint16_t i);
const eng_kafka_stats_t *eng_kafka_stats(const eng_kafka_t *kafka);

/* Produces n payloads to topic keyed by key; done(ctx, ok) runs on the loop
 * thread once all were acknowledged (ok=1) or any failed or 10 s passed
 * (ok=0). Returns 0, or -1 (done is then never called). Loop thread. */
int eng_kafka_produce(eng_kafka_t *kafka, const char *topic, const char *key,
                      const char *const *payloads, const size_t *lens, size_t n,
                      void (*done)(void *ctx, int ok), void *ctx);
/* Records that an alert event could not be delivered (metrics). */
void eng_kafka_count_alert_failure(eng_kafka_t *kafka);

/* eng_kafka_produce() to kafka.commands_topic keyed by tuid. */
int eng_kafka_produce_commands(eng_kafka_t *kafka, const char *tuid, const char *const *payloads,
                               const size_t *lens, size_t n, void (*done)(void *ctx, int ok),
                               void *ctx);

#endif
