/* ingest.h - the loop side of the pipeline: drains the ring, keeps per-thing
 *            state and the detector current, and turns it into batches of
 *            Redis writes whose acknowledgement stores the Kafka offsets.
 * Threads: loop thread only.
 * Ownership: ingest borrows the ring, kafka, store, things and detector from
 *   the app; it owns its batches.
 * Errors: none surface; Redis failures are retried by the store and stall the
 *   pipeline (the ring fills, the consumer pauses) until Redis is back. */
#ifndef ENG_INGEST_H
#define ENG_INGEST_H

#include "config/config.h"
#include "engine/base/ring.h"
#include "engine/ingest/alertmanager.h"
#include "engine/ingest/kafka.h"
#include "engine/ingest/store.h"
#include "engine/model/detector.h"
#include "engine/model/things.h"

#include <stdbool.h>
#include <uv.h>

typedef struct eng_ingest_s eng_ingest_t;

/* Counters for /metrics (loop thread). */
typedef struct eng_ingest_stats_s {
    uint64_t batches;
    uint64_t messages_acked;
    uint64_t latency_sum_ms;
    uint64_t latency_count;
} eng_ingest_stats_t;

/* Latency observer: called with each acknowledged message's ingest latency
 * in seconds (Kafka record timestamp to Redis ack). May be NULL. */
typedef void (*eng_ingest_latency_cb)(void *arg, double seconds);

eng_ingest_t *eng_ingest_new(uv_loop_t *loop, const cfg_t *cfg, eng_ring_t *ring,
                             eng_kafka_t *kafka, eng_things_t *things);
/* Closes the handles ingest owns (run the loop afterwards), then free. */
void eng_ingest_close(eng_ingest_t *ingest);
void eng_ingest_free(eng_ingest_t *ingest);

/* Wires the store (created with eng_ingest_on_ack/on_ready as callbacks). */
void eng_ingest_set_store(eng_ingest_t *ingest, eng_store_t *store);
/* Wires the Alertmanager sender (NULL: none); see alertmanager.h. */
void eng_ingest_set_am(eng_ingest_t *ingest, eng_am_t *am);
/* Wires the detector (created with eng_ingest_on_window as its callback). */
void eng_ingest_set_detector(eng_ingest_t *ingest, eng_detector_t *det);
void eng_ingest_set_latency_cb(eng_ingest_t *ingest, eng_ingest_latency_cb cb, void *arg);

/* The ring's wake-up: drains records and flushes when Redis is idle. */
void eng_ingest_drain(eng_ingest_t *ingest);
/* Store callbacks. */
void eng_ingest_on_ack(void *arg, eng_batch_t *batch);
void eng_ingest_on_ready(void *arg);
/* Detector callback: a window opened or closed. */
void eng_ingest_on_window(void *arg, const eng_window_t *win);
/* Wall-clock tick (once a second): lets the detector fire due deadlines. */
void eng_ingest_tick(eng_ingest_t *ingest);

/* Installation status or group change from the API (this or another instance). */
void eng_ingest_set_status(eng_ingest_t *ingest, const char *tuid, const char *status, uint32_t at);
void eng_ingest_set_group(eng_ingest_t *ingest, const char *tuid, const char *group);

/* Shutting down: control records still waiting are released at once (their
 * offsets were stored only if acknowledged, so nothing is lost). */
void eng_ingest_abandon(eng_ingest_t *ingest);

/* Another instance reports how far it has consumed (topic, partition) (the
 * peers subscriber). */
void eng_ingest_remote_part(eng_ingest_t *ingest, const char *topic, int32_t partition,
                            uint32_t etime, bool live);

bool eng_ingest_restoring(const eng_ingest_t *ingest);
/* Returns true while the partition's things are being restored (its assign
 * is in progress, waiting for earlier writes or reading Redis). */
bool eng_ingest_part_restoring(const eng_ingest_t *ingest, uint16_t topic, int32_t partition);
/* Returns the alert events in P outbox not yet deleted (eng_outbox_depth). */
size_t eng_ingest_outbox_depth(const eng_ingest_t *ingest);
/* Returns true when this instance decides the window of gateway tuid. */
bool eng_ingest_owns_gateway(const eng_ingest_t *ingest, const char *tuid, size_t len);
/* Returns the detector (for the peers subscriber). */
eng_detector_t *eng_ingest_detector(eng_ingest_t *ingest);
/* Returns the number of things with an open window (metrics). */
uint64_t eng_ingest_alerting(const eng_ingest_t *ingest);
const eng_ingest_stats_t *eng_ingest_stats(const eng_ingest_t *ingest);

#endif
