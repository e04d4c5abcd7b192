/* outbox.h - alert events delivered at least once to kafka.alerts_topic.
 *            An event is written to the Redis hash P outbox in the same batch
 *            as its window (so it is as durable as the window), produced to
 *            Kafka once that batch is acknowledged, and deleted from the hash
 *            once Kafka acknowledged it. Whatever a crash left in the hash is
 *            produced again at the next start.
 * Threads: loop thread only.
 * Ownership: the outbox owns copies of events in flight to Kafka.
 * Errors: a failed delivery is retried after a second; events stay in
 *   P outbox until delivered. */
#ifndef ENG_OUTBOX_H
#define ENG_OUTBOX_H

#include "config/config.h"
#include "engine/ingest/kafka.h"
#include "engine/redis/batch.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <uv.h>

typedef struct eng_outbox_s eng_outbox_t;

/* kick(arg) asks the owner to flush soon (deletes are waiting). */
eng_outbox_t *eng_outbox_new(uv_loop_t *loop, const cfg_t *cfg, eng_kafka_t *kafka,
                             void (*kick)(void *arg), void *arg);
void eng_outbox_free(eng_outbox_t *outbox);

/* Returns false when alert events are off (kafka.alerts_topic empty). */
bool eng_outbox_enabled(const eng_outbox_t *outbox);

/* Adds one event: HSET P outbox ID JSON into batch, produced after its ack.
 * id is "TUID|TYPE|FROM|STATE" (unique per event); the Kafka key is TUID. */
void eng_outbox_add(eng_outbox_t *outbox, eng_batch_t *batch, const char *id, const char *json,
                    size_t len);
/* batch was acknowledged: produces its events. */
void eng_outbox_acked(eng_outbox_t *outbox, const eng_batch_t *batch);
/* Writes one HDEL of the events Kafka acknowledged into batch. Returns true
 * when it wrote one. */
bool eng_outbox_flush(eng_outbox_t *outbox, eng_batch_t *batch);
/* Produces every event of an HGETALL P outbox reply (after a restart). */
void eng_outbox_resend(eng_outbox_t *outbox, const redisReply *reply);
/* Events produced and not yet acknowledged by Kafka. */
size_t eng_outbox_inflight(const eng_outbox_t *outbox);
/* Events in P outbox as this instance knows them: produced and waiting for
 * Kafka, waiting for a retry, or delivered and waiting for their HDEL. */
size_t eng_outbox_depth(const eng_outbox_t *outbox);

#endif
