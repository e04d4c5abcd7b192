/* metrics.h - the engine's Prometheus metrics: counters, gauges and latency
 *             histograms declared in one table (ENG_METRICS), with fixed label
 *             sets, rendered as Prometheus text exposition format for /metrics.
 *             HTTP metrics are rendered by the HTTP module, not here.
 * Threads: a metric marked THREAD in the table may be updated from any
 *   thread (counters with a relaxed atomic add, so several threads may add;
 *   gauges with a relaxed store, so one writer at a time); a metric marked
 *   LOOP is updated by the loop thread only (relaxed load and store, no
 *   locked instruction). Rendering and reading may happen on any thread and
 *   see each value as of some recent moment.
 * Ownership: the caller owns the registry, usually embedded in the engine's
 *   context; nothing here allocates except eng_metrics_render_str().
 * Errors: updates cannot fail; a wrong kind or a label out of range is an
 *   assert. eng_metrics_render() returns 0 or -EIO when the stream failed. */
#ifndef ENG_METRICS_H
#define ENG_METRICS_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/msg.h"

/* Label sets: a metric has no label or one label with a fixed list of values,
 * chosen by index when updating. */
#define ENG_METRICS_LABELS_N_NONE 1
#define ENG_METRICS_LABELS_N_REASON PROTO_REASON_COUNT /* index: proto_reason_t */
#define ENG_METRICS_LABELS_N_WINDOW 2                  /* index: eng_metrics_window_t */
#define ENG_METRICS_LABELS_N_CONN 2                    /* index: eng_metrics_conn_t */
#define ENG_METRICS_LABELS_N_AMFAIL 7                  /* index: eng_metrics_amfail_t */

/* Why a POST to Alertmanager failed (reason="..."). */
typedef enum eng_metrics_amfail_e {
    ENG_METRICS_AMFAIL_CONNECT,  /* no connection (refused, name unknown) */
    ENG_METRICS_AMFAIL_TIMEOUT,  /* alertmanager.timeout or connect_timeout passed */
    ENG_METRICS_AMFAIL_TLS,      /* handshake or certificate */
    ENG_METRICS_AMFAIL_HTTP_4XX, /* 4xx answer (retried: auth, rate limit) */
    ENG_METRICS_AMFAIL_HTTP_5XX, /* 5xx answer (retried) */
    ENG_METRICS_AMFAIL_REJECTED, /* 400 or 422: malformed, dropped (logged) */
    ENG_METRICS_AMFAIL_OTHER
} eng_metrics_amfail_t;

typedef enum eng_metrics_window_e {
    ENG_METRICS_WINDOW_HEARTBEAT, /* type="heartbeat missed" */
    ENG_METRICS_WINDOW_GATEWAY    /* type="gateway connection lost" */
} eng_metrics_window_t;

typedef enum eng_metrics_conn_e {
    ENG_METRICS_CONN_WRITES, /* connection="writes": the ingest write connection */
    ENG_METRICS_CONN_API     /* connection="api": the API's connection */
} eng_metrics_conn_t;

/* The metrics: X(ID, name, KIND, THREAD|LOOP, LABELS, help). */
#define ENG_METRICS(X)                                                                             \
    X(KAFKA_RECORDS, "tsmd_kafka_records_total", COUNTER, THREAD, NONE,                            \
      "Kafka records polled from the raw telemetry topics.")                                       \
    X(MESSAGES_CONSUMED, "tsmd_messages_consumed_total", COUNTER, THREAD, NONE,                    \
      "Valid tsm messages decoded and handed to the loop (each valid element of an array "         \
      "record counts).")                                                                           \
    X(MESSAGES_REJECTED, "tsmd_messages_rejected_total", COUNTER, THREAD, REASON,                  \
      "Records or array elements skipped, by reason.")                                             \
    X(OFFSETS_COMMITTED, "tsmd_offsets_committed_total", COUNTER, THREAD, NONE,                    \
      "Partition offsets committed to Kafka.")                                                     \
    X(OFFSET_COMMIT_ERRORS, "tsmd_offset_commit_errors_total", COUNTER, THREAD, NONE,              \
      "Offset commits Kafka refused or that failed.")                                              \
    X(ALERT_EVENTS_FAILED, "tsmd_alert_events_failed_total", COUNTER, THREAD, NONE,                \
      "Alert window events that could not be delivered to kafka.alerts_topic.")                    \
    X(OUTBOX_DEPTH, "tsmd_alert_outbox_events", GAUGE, LOOP, NONE,                                 \
      "Alert events in the Redis outbox not yet delivered to Kafka and deleted.")                  \
    X(REDIS_WRITES, "tsmd_redis_writes_total", COUNTER, LOOP, NONE,                                \
      "Redis commands acknowledged.")                                                              \
    X(REDIS_ERRORS, "tsmd_redis_errors_total", COUNTER, LOOP, NONE,                                \
      "Redis error replies and commands that could not be sent.")                                  \
    X(REDIS_RECONNECTS, "tsmd_redis_reconnects_total", COUNTER, LOOP, NONE,                        \
      "Redis connections made after the first.")                                                   \
    X(REDIS_TIMEOUTS, "tsmd_redis_timeouts_total", COUNTER, LOOP, NONE,                            \
      "Redis connections closed because a reply took too long.")                                   \
    X(CONSUMER_LAG, "tsmd_consumer_lag", GAUGE, THREAD, NONE,                                      \
      "Messages between the consumer position and the end of the assigned partitions.")            \
    X(KAFKA_PAUSED, "tsmd_kafka_paused", GAUGE, THREAD, NONE,                                      \
      "1 while consumption is paused because the ring or Redis is behind, else 0.")                \
    X(KAFKA_REFETCHED, "tsmd_kafka_records_refetched_total", COUNTER, THREAD, NONE,                \
      "Records delivered while consumption was paused, sought back to be fetched again.")          \
    X(KAFKA_ASSIGNED, "tsmd_kafka_assigned_partitions", GAUGE, THREAD, NONE,                       \
      "Partitions assigned to this instance.")                                                     \
    X(RING_OCCUPANCY, "tsmd_ring_occupancy_bytes", GAUGE, LOOP, NONE,                              \
      "Bytes in use in the consumer-to-loop ring.")                                                \
    X(RING_CAPACITY, "tsmd_ring_capacity_bytes", GAUGE, LOOP, NONE,                                \
      "Size of the consumer-to-loop ring.")                                                        \
    X(REDIS_CONNECTED, "tsmd_redis_connected", GAUGE, LOOP, CONN,                                  \
      "1 while the Redis connection is ready, else 0, by connection.")                             \
    X(REDIS_ROUNDTRIP, "tsmd_redis_roundtrip_seconds", HISTOGRAM, LOOP, NONE,                      \
      "Seconds from sending a pipelined batch of Redis writes to its last reply.")                 \
    X(KAFKA_EMBEDDED, "tsmd_kafka_embedded", GAUGE, LOOP, NONE,                                    \
      "1 when the embedded development broker runs instead of a Kafka cluster, else 0.")           \
    X(TRACKED_THINGS, "tsmd_tracked_things", GAUGE, LOOP, NONE,                                    \
      "Things whose state this instance holds in memory.")                                         \
    X(ALERTING_THINGS, "tsmd_alerting_things", GAUGE, LOOP, NONE,                                  \
      "Things with at least one open alert window.")                                               \
    X(OPEN_WINDOWS, "tsmd_open_windows", GAUGE, LOOP, WINDOW, "Open alert windows, by type.")      \
    X(WINDOWS_OPENED, "tsmd_alert_windows_opened_total", COUNTER, LOOP, WINDOW,                    \
      "Alert windows opened by this instance's detector, by type.")                                \
    X(WINDOWS_CLOSED, "tsmd_alert_windows_closed_total", COUNTER, LOOP, WINDOW,                    \
      "Alert windows closed by this instance's detector, by type.")                                \
    X(INGEST_LATENCY, "tsmd_ingest_latency_seconds", HISTOGRAM, LOOP, NONE,                        \
      "Seconds from a Kafka record's timestamp to Redis acknowledging its writes.")                \
    X(AM_ALERTS_SENT, "tsmd_alertmanager_alerts_sent_total", COUNTER, LOOP, NONE,                  \
      "Alerts Alertmanager accepted, summed over alertmanager.url (re-sends of open windows "      \
      "included).")                                                                                \
    X(AM_POSTS, "tsmd_alertmanager_posts_total", COUNTER, LOOP, NONE,                              \
      "POSTs to /api/v2/alerts that Alertmanager accepted.")                                       \
    X(AM_FAILURES, "tsmd_alertmanager_failures_total", COUNTER, LOOP, AMFAIL,                      \
      "POSTs to Alertmanager that failed, by reason.")                                             \
    X(AM_QUEUE_DEPTH, "tsmd_alertmanager_queue_depth", GAUGE, LOOP, NONE,                          \
      "Window changes waiting to be sent, summed over alertmanager.url (as of the last read).")    \
    X(AM_OLDEST_UNSENT, "tsmd_alertmanager_oldest_unsent_seconds", GAUGE, LOOP, NONE,              \
      "Age of the oldest window change not yet accepted by every Alertmanager; 0 when none.")      \
    X(AM_UP, "tsmd_alertmanager_up", GAUGE, LOOP, NONE,                                            \
      "Alertmanager URLs whose last POST was accepted.")                                           \
    X(AM_REQUEST_DURATION, "tsmd_alertmanager_request_duration_seconds", HISTOGRAM, LOOP, NONE,    \
      "Seconds one POST to Alertmanager took, failed ones included.")

typedef enum eng_metric_e {
#define ENG_METRICS_ENUM(id, name, kind, thread, labels, help) ENG_METRIC_##id,
    ENG_METRICS(ENG_METRICS_ENUM)
#undef ENG_METRICS_ENUM
        ENG_METRIC_COUNT
} eng_metric_t;

typedef enum eng_metric_kind_e {
    ENG_METRIC_KIND_COUNTER,
    ENG_METRIC_KIND_GAUGE,
    ENG_METRIC_KIND_HISTOGRAM
} eng_metric_kind_t;

/* Histogram buckets in seconds, roughly log-spaced (1, 2.5, 5 per decade)
 * from 50 us to 10 s, plus +Inf; finer between 5 and 25 ms (7.5, 15, 20), where
 * the ingest latency target of 10 ms is decided. */
/* clang-format off */
#define ENG_METRICS_BUCKETS(X)                                                                     \
    X(0.00005, "0.00005") X(0.0001, "0.0001") X(0.00025, "0.00025") X(0.0005, "0.0005")           \
    X(0.001, "0.001")     X(0.0025, "0.0025") X(0.005, "0.005")     X(0.0075, "0.0075")           \
    X(0.01, "0.01")       X(0.015, "0.015")   X(0.02, "0.02")                                     \
    X(0.025, "0.025")     X(0.05, "0.05")     X(0.1, "0.1")         X(0.25, "0.25")               \
    X(0.5, "0.5")         X(1.0, "1")         X(2.5, "2.5")         X(5.0, "5")                   \
    X(10.0, "10")
/* clang-format on */
#define ENG_METRICS_COUNT_ONE(v, s) +1
#define ENG_METRICS_NBUCKETS (0 ENG_METRICS_BUCKETS(ENG_METRICS_COUNT_ONE))
#define ENG_METRICS_NSERIES_ONE(id, name, kind, thread, labels, help) +ENG_METRICS_LABELS_N_##labels
#define ENG_METRICS_NSERIES (0 ENG_METRICS(ENG_METRICS_NSERIES_ONE))
#define ENG_METRICS_HIST_ONE(id, name, kind, thread, labels, help) +ENG_METRICS_IS_HIST_##kind
#define ENG_METRICS_IS_HIST_COUNTER 0
#define ENG_METRICS_IS_HIST_GAUGE 0
#define ENG_METRICS_IS_HIST_HISTOGRAM 1
#define ENG_METRICS_NHIST (0 ENG_METRICS(ENG_METRICS_HIST_ONE))

typedef struct eng_metrics_hist_s {
    _Atomic uint64_t bucket[ENG_METRICS_NBUCKETS + 1]; /* not cumulative; last is +Inf */
    _Atomic uint64_t sum_ns;                           /* sum of observations in ns */
} eng_metrics_hist_t;

typedef struct eng_metrics_s {
    /* Values written off the loop thread sit on their own cache lines, apart
     * from the loop's, so that the consumer thread's adds do not keep
     * stealing the loop's lines. Gauges hold int64 values as uint64. */
    _Alignas(64) _Atomic uint64_t shared[ENG_METRICS_NSERIES];
    _Alignas(64) _Atomic uint64_t local[ENG_METRICS_NSERIES];
    _Alignas(64) eng_metrics_hist_t hist[ENG_METRICS_NHIST];
    _Atomic uint64_t *slot[ENG_METRIC_COUNT]; /* first series of each metric */
    uint16_t nlabels[ENG_METRIC_COUNT];
    uint8_t kind[ENG_METRIC_COUNT];
    uint8_t threaded[ENG_METRIC_COUNT];
    uint8_t hist_of[ENG_METRIC_COUNT];
} eng_metrics_t;

/* Registers every metric of ENG_METRICS at zero. Any thread, before the
 * registry is shared. Never fails, never allocates. */
void eng_metrics_init(eng_metrics_t *m);

/* Adds n to a counter's series (label: index into its label set, 0 for a
 * metric without labels). THREAD counters: any thread; LOOP: loop thread. */
static inline void eng_metrics_add(eng_metrics_t *m, eng_metric_t id, unsigned label, uint64_t n)
{
    assert(m->kind[id] == ENG_METRIC_KIND_COUNTER && label < m->nlabels[id]);
    _Atomic uint64_t *v = m->slot[id] + label;
    if (m->threaded[id]) {
        atomic_fetch_add_explicit(v, n, memory_order_relaxed);
    } else {
        uint64_t old = atomic_load_explicit(v, memory_order_relaxed);
        atomic_store_explicit(v, old + n, memory_order_relaxed);
    }
}

/* Adds one to a counter without labels. Same threads as eng_metrics_add(). */
static inline void eng_metrics_inc(eng_metrics_t *m, eng_metric_t id)
{
    eng_metrics_add(m, id, 0, 1);
}

/* Sets a gauge's series. One writer at a time: THREAD gauges from any one
 * thread, LOOP gauges from the loop thread. */
static inline void eng_metrics_set(eng_metrics_t *m, eng_metric_t id, unsigned label, int64_t v)
{
    assert(m->kind[id] == ENG_METRIC_KIND_GAUGE && label < m->nlabels[id]);
    atomic_store_explicit(m->slot[id] + label, (uint64_t)v, memory_order_relaxed);
}

/* Sets a counter to a count a module keeps itself (e.g. copied from
 * eng_kafka_stats_t just before rendering); the count must never go down.
 * Same threads as eng_metrics_set(). */
static inline void eng_metrics_set_counter(eng_metrics_t *m, eng_metric_t id, unsigned label,
                                           uint64_t v)
{
    assert(m->kind[id] == ENG_METRIC_KIND_COUNTER && label < m->nlabels[id]);
    atomic_store_explicit(m->slot[id] + label, v, memory_order_relaxed);
}

/* Records one observation in seconds (negative counts as 0) in a histogram.
 * Loop thread only. */
void eng_metrics_observe(eng_metrics_t *m, eng_metric_t id, double seconds);

/* Returns a counter's or gauge's current value (gauges as int64 in uint64),
 * or a histogram's observation count. Any thread. */
uint64_t eng_metrics_get(const eng_metrics_t *m, eng_metric_t id, unsigned label);

/* Writes every metric in Prometheus text exposition format 0.0.4 (# HELP and
 * # TYPE lines, histograms as cumulative _bucket, _sum, _count). Returns 0,
 * or -EIO when f reported an error. Any thread. */
int eng_metrics_render(const eng_metrics_t *m, FILE *f);

/* Renders into a new NUL-terminated buffer, which the caller frees; writes
 * its length to len. Aborts on out of memory. Any thread. */
char *eng_metrics_render_str(const eng_metrics_t *m, size_t *len);

/* Returns the static label value of a series ("bad_json", "heartbeat
 * missed"), or NULL for a metric without labels. */
const char *eng_metrics_label(eng_metric_t id, unsigned label);

#endif
