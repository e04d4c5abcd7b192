/* app_metrics.h - fills the metrics registry (metrics.h) from the counters
 *                 the modules keep themselves (kafka, store, ingest, detector)
 *                 and renders it for /metrics.
 * Threads: loop thread only (the Kafka counters are atomics the consumer
 *   thread updates; reading them here is safe).
 * Ownership: borrows every module it reads; owns the registry.
 * Errors: none. */
#ifndef ENG_APP_METRICS_H
#define ENG_APP_METRICS_H

#include "engine/api/api.h"
#include "engine/base/metrics.h"
#include "engine/base/ring.h"
#include "engine/http/http.h"
#include "engine/ingest/ingest.h"
#include "engine/ingest/kafka.h"
#include "engine/ingest/store.h"
#include "engine/model/detector.h"
#include "engine/model/things.h"

typedef struct eng_app_metrics_s {
    eng_metrics_t reg;
    const eng_ring_t *ring;
    const eng_kafka_t *kafka;
    const eng_store_t *store;
    const eng_ingest_t *ingest;
    const eng_detector_t *det;
    const eng_things_t *things;
    const eng_api_t *api; /* NULL until eng_app_metrics_set_api() */
    bool embedded;        /* kafka.brokers = embedded */
} eng_app_metrics_t;

void eng_app_metrics_init(eng_app_metrics_t *m, const eng_ring_t *ring, const eng_kafka_t *kafka,
                          const eng_store_t *store, const eng_ingest_t *ingest,
                          const eng_detector_t *det, const eng_things_t *things);
/* Adds the API (its Redis connection) and whether the broker is embedded. */
void eng_app_metrics_set_api(eng_app_metrics_t *m, const eng_api_t *api, bool embedded);
/* Records one Redis batch round trip. */
void eng_app_metrics_observe_rtt(eng_app_metrics_t *m, double seconds);
/* Records one message's Kafka-timestamp-to-Redis-ack latency. */
void eng_app_metrics_observe(eng_app_metrics_t *m, double seconds);
/* Appends the Prometheus text of every engine metric to out. */
void eng_app_metrics_render(eng_app_metrics_t *m, eng_http_buf_t *out);

#endif
