/* app_metrics.c - module counters -> registry -> Prometheus text; see
 * app_metrics.h. The modules count for themselves (plain fields on the loop
 * thread, atomics on the consumer thread); copying them into the registry at
 * render time keeps the hot paths free of the registry. */
#include "engine/app/app_metrics.h"

#include "engine/app/proc_metrics.h"

#include <stdlib.h>
#include <string.h>

void eng_app_metrics_init(eng_app_metrics_t *m, const eng_ring_t *ring, const eng_kafka_t *kafka,
                          const eng_store_t *store, const eng_ingest_t *ingest,
                          const eng_detector_t *det, const eng_things_t *things)
{
    memset(m, 0, sizeof *m);
    eng_metrics_init(&m->reg);
    m->ring = ring;
    m->kafka = kafka;
    m->store = store;
    m->ingest = ingest;
    m->det = det;
    m->things = things;
}

void eng_app_metrics_set_api(eng_app_metrics_t *m, const eng_api_t *api, bool embedded)
{
    m->api = api;
    m->embedded = embedded;
}

void eng_app_metrics_observe_rtt(eng_app_metrics_t *m, double seconds)
{
    eng_metrics_observe(&m->reg, ENG_METRIC_REDIS_ROUNDTRIP, seconds);
}

void eng_app_metrics_observe(eng_app_metrics_t *m, double seconds)
{
    eng_metrics_observe(&m->reg, ENG_METRIC_INGEST_LATENCY, seconds);
}

static void sync_kafka(eng_metrics_t *reg, const eng_kafka_stats_t *k)
{
    eng_metrics_set_counter(reg, ENG_METRIC_KAFKA_RECORDS, 0, atomic_load(&k->consumed));
    eng_metrics_set_counter(reg, ENG_METRIC_MESSAGES_CONSUMED, 0, atomic_load(&k->messages));
    for (unsigned r = 0; r < PROTO_REASON_COUNT; r++)
        eng_metrics_set_counter(reg, ENG_METRIC_MESSAGES_REJECTED, r, atomic_load(&k->rejected[r]));
    eng_metrics_set_counter(reg, ENG_METRIC_OFFSETS_COMMITTED, 0, atomic_load(&k->committed));
    eng_metrics_set_counter(reg, ENG_METRIC_OFFSET_COMMIT_ERRORS, 0,
                            atomic_load(&k->commit_errors));
    eng_metrics_set_counter(reg, ENG_METRIC_ALERT_EVENTS_FAILED, 0, atomic_load(&k->alerts_failed));
    eng_metrics_set(reg, ENG_METRIC_CONSUMER_LAG, 0, atomic_load(&k->lag));
    eng_metrics_set(reg, ENG_METRIC_KAFKA_PAUSED, 0, atomic_load(&k->paused));
    eng_metrics_set_counter(reg, ENG_METRIC_KAFKA_REFETCHED, 0, atomic_load(&k->refetched));
    eng_metrics_set(reg, ENG_METRIC_KAFKA_ASSIGNED, 0, atomic_load(&k->assigned));
}

void eng_app_metrics_render(eng_app_metrics_t *m, eng_http_buf_t *out)
{
    eng_metrics_t *reg = &m->reg;
    sync_kafka(reg, eng_kafka_stats(m->kafka));
    const eng_store_stats_t *s = eng_store_stats(m->store);
    eng_metrics_set_counter(reg, ENG_METRIC_REDIS_WRITES, 0, s->writes);
    eng_metrics_set_counter(reg, ENG_METRIC_REDIS_ERRORS, 0, s->errors);
    eng_metrics_set_counter(reg, ENG_METRIC_REDIS_RECONNECTS, 0, s->reconnects);
    eng_metrics_set_counter(reg, ENG_METRIC_REDIS_TIMEOUTS, 0, s->timeouts);
    eng_metrics_set(reg, ENG_METRIC_REDIS_CONNECTED, ENG_METRICS_CONN_WRITES,
                    eng_store_connected(m->store));
    eng_metrics_set(reg, ENG_METRIC_REDIS_CONNECTED, ENG_METRICS_CONN_API,
                    m->api && eng_api_redis_up(m->api));
    eng_metrics_set(reg, ENG_METRIC_KAFKA_EMBEDDED, 0, m->embedded);
    eng_metrics_set(reg, ENG_METRIC_OUTBOX_DEPTH, 0, (int64_t)eng_ingest_outbox_depth(m->ingest));
    static const eng_alert_t types[] = {ENG_ALERT_HEARTBEAT, ENG_ALERT_GATEWAY};
    static const unsigned labels[] = {ENG_METRICS_WINDOW_HEARTBEAT, ENG_METRICS_WINDOW_GATEWAY};
    for (size_t i = 0; i < 2; i++) {
        uint64_t opened, closed;
        eng_detector_window_counts(m->det, types[i], &opened, &closed);
        eng_metrics_set_counter(reg, ENG_METRIC_WINDOWS_OPENED, labels[i], opened);
        eng_metrics_set_counter(reg, ENG_METRIC_WINDOWS_CLOSED, labels[i], closed);
    }
    eng_metrics_set(reg, ENG_METRIC_RING_OCCUPANCY, 0, (int64_t)eng_ring_used(m->ring));
    eng_metrics_set(reg, ENG_METRIC_RING_CAPACITY, 0, (int64_t)m->ring->size);
    eng_metrics_set(reg, ENG_METRIC_TRACKED_THINGS, 0, eng_things_count(m->things));
    eng_metrics_set(reg, ENG_METRIC_OPEN_WINDOWS, ENG_METRICS_WINDOW_HEARTBEAT,
                    (int64_t)eng_detector_open_count(m->det, ENG_ALERT_HEARTBEAT));
    eng_metrics_set(reg, ENG_METRIC_OPEN_WINDOWS, ENG_METRICS_WINDOW_GATEWAY,
                    (int64_t)eng_detector_open_count(m->det, ENG_ALERT_GATEWAY));
    eng_metrics_set(reg, ENG_METRIC_ALERTING_THINGS, 0, (int64_t)eng_ingest_alerting(m->ingest));
    size_t len = 0;
    char *text = eng_metrics_render_str(reg, &len);
    eng_http_buf_append(out, text, len);
    free(text);
    eng_proc_metrics_write(out);
}
