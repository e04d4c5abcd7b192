/* kafka.c - consumer thread, embedded broker and producer; see kafka.h.
 *
 * The consumer thread polls, decodes each record into the ring and wakes the
 * loop. Offsets are stored (enable.auto.offset.store=false) by the loop only
 * after Redis acknowledged the writes of every message up to them, and
 * librdkafka's auto-commit commits what was stored; on revoke and on close the
 * thread first waits until the loop acknowledged everything it pushed.
 *
 * Rebalancing is cooperative by default (partition.assignment.strategy =
 * cooperative-sticky): a rebalance hands over only the partitions that move,
 * so the assign and revoke control records name just those, the loop restores
 * only what was added and lets go only what was lost, and the other
 * partitions keep flowing. An eager strategy set through librdkafka.* still
 * works (revoke all, assign all). */
#include "engine/ingest/kafka.h"

#include "engine/base/log.h"
#include "engine/ingest/kafka_conf.h"
#include "engine/ingest/kafka_parts.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_TOPICS 16
#define PAUSE_AFTER_MS 500 /* ring full this long: pause the partitions */
#define LAG_EVERY_MS 1000
#define REJECT_LOG_EVERY_MS 1000
#define COMMAND_TIMEOUT_MS 10000

/* A request of the commands API waiting for its delivery reports. */
typedef struct cmd_req_s {
    size_t pending;
    int ok;
    void (*done)(void *ctx, int ok);
    void *ctx;
} cmd_req_t;

struct eng_kafka_s {
    uv_loop_t *loop;
    const cfg_t *cfg;
    eng_ring_t *ring;
    uv_async_t *wake;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_t *mock_host; /* embedded broker: the handle hosting the cluster */
    rd_kafka_mock_cluster_t *mock;
    char *topics[MAX_TOPICS];
    size_t ntopics;
    uv_thread_t thread;
    _Atomic int stop;
    uv_sem_t ctrl_sem;      /* posted by the loop after a control record */
    uv_async_t thread_done; /* consumer thread -> loop: it has left */
    void (*stop_cb)(void *);
    void *stop_arg;
    uv_timer_t producer_timer;
    proto_decoder_t *decoder;
    eng_kafka_stats_t stats;
    /* consumer thread only */
    const rd_kafka_message_t *cur; /* record being decoded */
    bool polling;                  /* inside consumer_poll: no nested poll */
    bool drop_cur;                 /* cur's partitions were revoked while waiting */
    bool cur_revoked;              /* a revoke named cur's partition */
    eng_kparts_t *parts;           /* assigned partitions for /status and /metrics */
    eng_rec_t *held;               /* last decoded message, not yet committed */
    size_t held_len;
    uint64_t last_reject_log_ms;
    uint64_t last_lag_ms;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nap_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static int topic_index(const eng_kafka_t *kafka, const char *name)
{
    for (size_t i = 0; i < kafka->ntopics; i++)
        if (strcmp(kafka->topics[i], name) == 0) return (int)i;
    return -1;
}

int eng_kafka_topic_index(const eng_kafka_t *kafka, const char *name)
{
    return topic_index(kafka, name);
}

const char *eng_kafka_topic_name(const eng_kafka_t *kafka, uint16_t i)
{
    return i < kafka->ntopics ? kafka->topics[i] : "?";
}

const eng_kafka_stats_t *eng_kafka_stats(const eng_kafka_t *kafka)
{
    return &kafka->stats;
}

/* ---- ring pushes (consumer thread) ---- */

static void pause_all(eng_kafka_t *kafka, bool pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(kafka->consumer, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (pause)
        rd_kafka_pause_partitions(kafka->consumer, parts);
    else
        rd_kafka_resume_partitions(kafka->consumer, parts);
    int count = parts->cnt;
    rd_kafka_topic_partition_list_destroy(parts);
    atomic_store(&kafka->stats.paused, pause);
    if (pause)
        ENG_WARN("consumption paused", " reason=\"ring full: redis slow or away\" partitions=%d",
                 count);
    else
        ENG_INFO("consumption resumed", "%s", "");
}

/* Polls while the ring is full and the partitions are paused, so that the
 * consumer stays in its group however long Redis is away (librdkafka leaves
 * the group when the application has not polled for max.poll.interval.ms).
 * Paused partitions deliver nothing; a record that comes anyway (a partition
 * assigned and not yet paused) is sought back to be fetched again. A
 * rebalance may run in here: its control record waits for ring space without
 * polling again. Consumer thread, outside a poll. */
static void poll_paused(eng_kafka_t *kafka, int timeout_ms)
{
    kafka->polling = true;
    rd_kafka_message_t *km = rd_kafka_consumer_poll(kafka->consumer, timeout_ms);
    kafka->polling = false;
    if (km == NULL) return;
    if (km->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_seek(km->rkt, km->partition, km->offset, 0);
        atomic_fetch_add(&kafka->stats.refetched, 1);
    } else if (km->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        ENG_WARN("kafka consumer error", " error=\"%s\"", rd_kafka_message_errstr(km));
    }
    rd_kafka_message_destroy(km);
}

/* Returns space for a record of len bytes, waiting while the ring is full and
 * pausing the partitions if that lasts. NULL only when stopping for good.
 * When a revocation of the record's own partition ran while it waited,
 * kafka->drop_cur tells the caller to drop the record being decoded: its
 * partition is refetched from the committed offset by whoever owns it now
 * (a cooperative revoke of other partitions leaves it alone). */
static void *ring_wait(eng_kafka_t *kafka, size_t len)
{
    void *p = eng_ring_reserve(kafka->ring, len);
    if (p != NULL) return p;
    uint64_t since = mono_ms();
    bool paused = false;
    long nap = 20;
    while ((p = eng_ring_reserve(kafka->ring, len)) == NULL) {
        uv_async_send(kafka->wake);
        if (!paused && mono_ms() - since > PAUSE_AFTER_MS) {
            pause_all(kafka, true);
            paused = true;
        }
        if (paused && !kafka->polling && kafka->cur != NULL) {
            poll_paused(kafka, 10);
            continue;
        }
        nap_us(nap);
        if (nap < 2000) nap *= 2;
    }
    if (paused) pause_all(kafka, false);
    if (kafka->cur_revoked && kafka->cur != NULL) kafka->drop_cur = true;
    kafka->cur_revoked = false;
    return p;
}

static void commit_held(eng_kafka_t *kafka)
{
    if (kafka->held == NULL) return;
    eng_ring_commit(kafka->ring, kafka->held_len);
    kafka->held = NULL;
}

static void on_decoded(void *arg, const proto_msg_t *msg)
{
    eng_kafka_t *kafka = arg;
    const rd_kafka_message_t *km = kafka->cur;
    if (kafka->drop_cur) return;
    size_t len = sizeof(eng_rec_t) + msg->body_len;
    if (len > eng_ring_max_record(kafka->ring)) {
        atomic_fetch_add(&kafka->stats.rejected[PROTO_REASON_TOO_LARGE], 1);
        return;
    }
    commit_held(kafka);
    eng_rec_t *rec = ring_wait(kafka, len);
    if (kafka->drop_cur) return;
    rec->kind = ENG_REC_MSG;
    rec->topic = (uint16_t)topic_index(kafka, rd_kafka_topic_name(km->rkt));
    rec->partition = km->partition;
    rec->offset = km->offset;
    rec->done = -1;
    rec->kafka_ts_ms = rd_kafka_message_timestamp(km, NULL);
    rec->ver_off = msg->ver ? (uint32_t)((const uint8_t *)msg->ver - msg->body) : 0;
    rec->nparts = 0;
    rec->msg = *msg;
    memcpy(rec + 1, msg->body, msg->body_len);
    kafka->held = rec;
    kafka->held_len = len;
    atomic_fetch_add_explicit(&kafka->stats.messages, 1, memory_order_relaxed);
}

static void on_rejected(void *arg, proto_reason_t reason)
{
    eng_kafka_t *kafka = arg;
    const rd_kafka_message_t *km = kafka->cur;
    atomic_fetch_add_explicit(&kafka->stats.rejected[reason], 1, memory_order_relaxed);
    uint64_t now = mono_ms();
    if (now - kafka->last_reject_log_ms < REJECT_LOG_EVERY_MS) return;
    kafka->last_reject_log_ms = now;
    ENG_WARN("message rejected", " reason=%s topic=%s partition=%d offset=%lld",
             proto_reason_name(reason), rd_kafka_topic_name(km->rkt), (int)km->partition,
             (long long)km->offset);
}

/* Pushes the offset of a record with nothing valid in it: it still has to be
 * committed in order. Nothing is pushed when a revoke ran meanwhile. */
static void push_skip(eng_kafka_t *kafka, const rd_kafka_message_t *km)
{
    eng_rec_t *rec = ring_wait(kafka, sizeof *rec);
    if (kafka->drop_cur) return;
    memset(rec, 0, sizeof *rec);
    rec->kind = ENG_REC_SKIP;
    rec->topic = (uint16_t)topic_index(kafka, rd_kafka_topic_name(km->rkt));
    rec->partition = km->partition;
    rec->offset = km->offset;
    rec->done = km->offset + 1;
    eng_ring_commit(kafka->ring, sizeof *rec);
}

static void push_record(eng_kafka_t *kafka, const rd_kafka_message_t *km)
{
    static const proto_sink_t sink_proto = {on_decoded, on_rejected, NULL};
    proto_sink_t sink = sink_proto;
    sink.arg = kafka;
    kafka->cur = km;
    kafka->cur_revoked = false;
    int64_t ts = rd_kafka_message_timestamp(km, NULL);
    atomic_fetch_add_explicit(&kafka->stats.consumed, 1, memory_order_relaxed);
    int t = topic_index(kafka, rd_kafka_topic_name(km->rkt));
    if (t >= 0) eng_kparts_record(kafka->parts, (uint16_t)t, km->partition, ts);
    proto_decode(kafka->decoder, km->payload, km->len, ts, &sink);
    if (!kafka->drop_cur && kafka->held != NULL) {
        kafka->held->done = km->offset + 1;
        commit_held(kafka);
    } else if (!kafka->drop_cur) {
        push_skip(kafka, km);
    }
    if (kafka->drop_cur) {
        /* held is NULL: ring_wait runs only after the last one was committed */
        ENG_INFO("record dropped after revoke", " topic=%s partition=%d offset=%lld",
                 rd_kafka_topic_name(km->rkt), (int)km->partition, (long long)km->offset);
        kafka->drop_cur = false;
    }
    kafka->cur = NULL;
}

void eng_kafka_rec_fix(eng_rec_t *rec)
{
    rec->msg.body = (const uint8_t *)(rec + 1);
    rec->msg.ver =
        (rec->msg.flags & PROTO_HAS_VER) ? (const char *)rec->msg.body + rec->ver_off : NULL;
}

/* ---- rebalance (consumer thread) ---- */

/* Returns the partition count of the first raw topic from the cluster's
 * metadata (0 when it cannot be read): the engine needs it to know which
 * gateways it owns (docs/SCALING.md). Consumer thread. */
static int32_t topic_partitions(eng_kafka_t *kafka)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(kafka->consumer, kafka->topics[0], NULL);
    const struct rd_kafka_metadata *md = NULL;
    int32_t n = 0;
    if (rkt &&
        rd_kafka_metadata(kafka->consumer, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == 0) n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    if (rkt) rd_kafka_topic_destroy(rkt);
    return n;
}

/* Pushes a control record and waits until the loop has handled it. */
static void ctrl_push(eng_kafka_t *kafka, uint32_t kind,
                      const rd_kafka_topic_partition_list_t *parts)
{
    int32_t total = kind == ENG_REC_ASSIGN ? topic_partitions(kafka) : 0;
    size_t n = 0;
    for (int i = 0; i < parts->cnt; i++)
        if (topic_index(kafka, parts->elems[i].topic) >= 0) n++;
    size_t len = sizeof(eng_rec_t) + n * sizeof(eng_tp_t);
    eng_rec_t *rec = ring_wait(kafka, len);
    memset(rec, 0, sizeof *rec);
    rec->kind = kind;
    rec->done = -1;
    rec->nparts = (uint32_t)n;
    rec->topic_partitions = total;
    eng_tp_t *tps = (eng_tp_t *)(rec + 1);
    for (int i = 0, j = 0; i < parts->cnt; i++) {
        int t = topic_index(kafka, parts->elems[i].topic);
        if (t >= 0) tps[j++] = (eng_tp_t){(uint16_t)t, parts->elems[i].partition};
    }
    eng_ring_commit(kafka->ring, len);
    uv_async_send(kafka->wake);
    uv_sem_wait(&kafka->ctrl_sem);
}

void eng_kafka_ctrl_done(eng_kafka_t *kafka)
{
    uv_sem_post(&kafka->ctrl_sem);
}

/* Adds (assign) or removes the partitions of parts in the /status table. */
static void track_parts(eng_kafka_t *kafka, const rd_kafka_topic_partition_list_t *parts, bool add)
{
    for (int i = 0; i < parts->cnt; i++) {
        int t = topic_index(kafka, parts->elems[i].topic);
        if (t < 0) continue;
        if (add)
            eng_kparts_add(kafka->parts, (uint16_t)t, parts->elems[i].partition);
        else
            eng_kparts_remove(kafka->parts, (uint16_t)t, parts->elems[i].partition);
        const rd_kafka_message_t *km = kafka->cur;
        if (!add && km && km->partition == parts->elems[i].partition &&
            strcmp(rd_kafka_topic_name(km->rkt), parts->elems[i].topic) == 0)
            kafka->cur_revoked = true;
    }
}

static void on_assign(eng_kafka_t *kafka, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                      bool coop)
{
    ENG_INFO("partitions assigned", " count=%d incremental=%s", parts->cnt, coop ? "yes" : "no");
    if (parts->cnt > 0) ctrl_push(kafka, ENG_REC_ASSIGN, parts);
    rd_kafka_error_t *e = NULL;
    if (coop)
        e = rd_kafka_incremental_assign(rk, parts);
    else
        rd_kafka_assign(rk, parts);
    if (e) {
        ENG_ERROR("incremental assign failed", " error=%s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    if (!coop) eng_kparts_clear(kafka->parts);
    track_parts(kafka, parts, true);
    atomic_store(&kafka->stats.assigned,
                 coop ? atomic_load(&kafka->stats.assigned) + parts->cnt : parts->cnt);
    /* librdkafka keeps a partition's pause across an incremental unassign
     * and assign: one paused here, revoked, then given back would never
     * deliver again. So each assigned partition is set as the ring says. */
    if (parts->cnt > 0) {
        if (atomic_load(&kafka->stats.paused))
            rd_kafka_pause_partitions(rk, parts);
        else
            rd_kafka_resume_partitions(rk, parts);
    }
}

static void on_revoke(eng_kafka_t *kafka, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                      bool coop)
{
    bool lost = rd_kafka_assignment_lost(rk);
    ENG_INFO("partitions revoked", " count=%d incremental=%s lost=%s", parts->cnt,
             coop ? "yes" : "no", lost ? "yes" : "no");
    if (parts->cnt > 0) {
        track_parts(kafka, parts, false);
        /* Everything pushed before now must be in Redis before we let go. */
        ctrl_push(kafka, ENG_REC_REVOKE, parts);
        /* Lost partitions belong to someone else already: no commit. */
        rd_kafka_resp_err_t cerr = lost ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_commit(rk, NULL, 0);
        if (cerr != RD_KAFKA_RESP_ERR_NO_ERROR && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
            ENG_WARN("commit on revoke failed", " error=\"%s\"", rd_kafka_err2str(cerr));
    }
    if (coop) {
        if (parts->cnt > 0) rd_kafka_resume_partitions(rk, parts); /* see on_assign */
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e) {
            ENG_ERROR("incremental unassign failed", " error=%s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        int left = atomic_load(&kafka->stats.assigned) - parts->cnt;
        atomic_store(&kafka->stats.assigned, left > 0 ? left : 0);
    } else {
        rd_kafka_assign(rk, NULL);
        eng_kparts_clear(kafka->parts);
        atomic_store(&kafka->stats.assigned, 0);
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    eng_kafka_t *kafka = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        on_assign(kafka, rk, parts, coop);
    else
        on_revoke(kafka, rk, parts, coop);
}

static int stats_topic_index(void *arg, const char *name)
{
    return topic_index(arg, name);
}

/* librdkafka's statistics (statistics.interval.ms): per-partition committed
 * offsets and watermarks. Consumer thread, inside a poll. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    eng_kafka_t *kafka = opaque;
    (void)rk;
    (void)len;
    eng_kparts_stats(kafka->parts, json, stats_topic_index, kafka);
    return 0; /* librdkafka frees json */
}

size_t eng_kafka_parts(const eng_kafka_t *kafka, eng_kafka_part_t *out, size_t cap)
{
    return eng_kparts_snapshot(kafka->parts, out, cap);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    eng_kafka_t *kafka = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_fetch_add(&kafka->stats.commit_errors, 1);
        ENG_WARN("offset commit failed", " error=\"%s\"", rd_kafka_err2str(err));
        return;
    }
    for (int i = 0; offsets && i < offsets->cnt; i++)
        if (offsets->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && offsets->elems[i].offset >= 0)
            atomic_fetch_add(&kafka->stats.committed, 1);
}

/* Tells the loop that the consumer has reached the end of a partition:
 * every record of it before this one is in the ring, so the loop may judge
 * its things on the wall clock from here on. Skipped when the ring is full
 * (the next check sends it). Consumer thread. */
static void push_caught_up(eng_kafka_t *kafka, const char *topic, int32_t partition)
{
    int t = topic_index(kafka, topic);
    if (t < 0 || atomic_load(&kafka->stats.paused)) return;
    eng_rec_t *rec = eng_ring_reserve(kafka->ring, sizeof *rec);
    if (rec == NULL) return;
    memset(rec, 0, sizeof *rec);
    rec->kind = ENG_REC_CAUGHT_UP;
    rec->topic = (uint16_t)t;
    rec->partition = partition;
    rec->done = -1;
    eng_ring_commit(kafka->ring, sizeof *rec);
    uv_async_send(kafka->wake);
}

static void update_lag(eng_kafka_t *kafka)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(kafka->consumer, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    rd_kafka_position(kafka->consumer, parts);
    int64_t lag = 0;
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(kafka->consumer, parts->elems[i].topic,
                                           parts->elems[i].partition, &lo, &hi) != 0)
            continue;
        int64_t pos = parts->elems[i].offset >= 0 ? parts->elems[i].offset : lo;
        if (hi > pos) lag += hi - pos;
        /* A quiet partition gives no end-of-partition event again. */
        if (hi >= 0 && parts->elems[i].offset >= 0 && pos >= hi)
            push_caught_up(kafka, parts->elems[i].topic, parts->elems[i].partition);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    atomic_store(&kafka->stats.lag, lag);
}

static void consumer_main(void *arg)
{
    eng_kafka_t *kafka = arg;
    unsigned since_clock = 0;
    while (!atomic_load(&kafka->stop)) {
        rd_kafka_message_t *km = rd_kafka_consumer_poll(kafka->consumer, 100);
        /* The clock is read when idle and every 1024 records (a read per
         * record was a tenth of this thread's time). */
        if (km == NULL || ++since_clock == 1024) {
            since_clock = 0;
            uint64_t now = mono_ms();
            if (now - kafka->last_lag_ms > LAG_EVERY_MS) {
                kafka->last_lag_ms = now;
                update_lag(kafka);
            }
        }
        if (km == NULL) continue;
        if (km->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            push_record(kafka, km);
            uv_async_send(kafka->wake);
        } else if (km->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            push_caught_up(kafka, rd_kafka_topic_name(km->rkt), km->partition);
        } else {
            ENG_WARN("kafka consumer error", " error=\"%s\"", rd_kafka_message_errstr(km));
        }
        rd_kafka_message_destroy(km);
    }
    /* Leaving the group revokes (and so flushes and commits) everything. */
    rd_kafka_consumer_close(kafka->consumer);
    ENG_INFO("consumer closed", "%s", "");
    uv_async_send(&kafka->thread_done);
}

/* ---- setup ---- */

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        ENG_ERROR("kafka setting refused", " key=%s error=\"%s\"", key, err);
        return -1;
    }
    return 0;
}

static int start_embedded(eng_kafka_t *kafka, char *bootstrap, size_t cap)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    eng_kafka_conf_log(conf);
    kafka->mock_host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (kafka->mock_host == NULL) {
        ENG_ERROR("embedded kafka failed", " error=\"%s\"", err);
        return -1;
    }
    kafka->mock = rd_kafka_mock_cluster_new(kafka->mock_host, 1);
    const char *extra[] = {kafka->cfg->kafka_commands_topic, kafka->cfg->kafka_alerts_topic};
    for (size_t i = 0; i < kafka->ntopics; i++)
        rd_kafka_mock_topic_create(kafka->mock, kafka->topics[i],
                                   (int)kafka->cfg->kafka_embedded_partitions, 1);
    for (size_t i = 0; i < 2; i++)
        if (extra[i][0])
            rd_kafka_mock_topic_create(kafka->mock, extra[i],
                                       (int)kafka->cfg->kafka_embedded_partitions, 1);
    snprintf(bootstrap, cap, "%s", rd_kafka_mock_cluster_bootstraps(kafka->mock));
    ENG_INFO("embedded kafka", " bootstrap=%s partitions=%lld", bootstrap,
             (long long)kafka->cfg->kafka_embedded_partitions);
    const char *file = kafka->cfg->kafka_embedded_bootstrap_file;
    if (file[0]) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", file);
        FILE *f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "%s\n", bootstrap) < 0 || fclose(f) != 0 ||
            rename(tmp, file) != 0) {
            ENG_ERROR("cannot write bootstrap file", " path=%s error=\"%s\"", file,
                      strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Applies the bootstrap list and the librdkafka.* pass-through settings. */
static int conf_apply(eng_kafka_t *kafka, rd_kafka_conf_t *conf, const char *bootstrap)
{
    if (conf_set(conf, "bootstrap.servers", bootstrap) != 0) return -1;
    for (size_t i = 0; i < kafka->cfg->librdkafka_len; i++)
        if (conf_set(conf, kafka->cfg->librdkafka[i].key, kafka->cfg->librdkafka[i].value) != 0)
            return -1;
    return 0;
}

static rd_kafka_t *new_consumer(eng_kafka_t *kafka, const char *bootstrap)
{
    /* tsmd's defaults; a librdkafka.* setting of the same name wins. */
    static const char *const defaults[][2] = {
        {"auto.commit.interval.ms", "1000"},
        {"auto.offset.reset", "earliest"},
        {"queued.min.messages", "1000000"},
        {"session.timeout.ms", "6000"},
        {"heartbeat.interval.ms", "1000"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"statistics.interval.ms", "1000"},
    };
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    eng_kafka_conf_log(conf);
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (conf_set(conf, defaults[i][0], defaults[i][1]) != 0) goto fail;
    if (conf_apply(kafka, conf, bootstrap) != 0) goto fail;
    /* The delivery guarantee rests on these: not overridable. */
    if (conf_set(conf, "enable.auto.offset.store", "false") != 0 ||
        conf_set(conf, "enable.auto.commit", "true") != 0 ||
        conf_set(conf, "enable.partition.eof", "true") != 0 ||
        conf_set(conf, "group.id", kafka->cfg->kafka_group_id) != 0)
        goto fail;
    rd_kafka_conf_set_opaque(conf, kafka);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL) {
        ENG_ERROR("kafka consumer refused", " error=\"%s\"", err);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *km, void *opaque)
{
    cmd_req_t *req = km->_private;
    (void)rk;
    (void)opaque;
    if (km->err) {
        req->ok = 0;
        ENG_WARN("message not delivered", " topic=%s error=\"%s\"", rd_kafka_topic_name(km->rkt),
                 rd_kafka_err2str(km->err));
    }
    if (--req->pending == 0) {
        req->done(req->ctx, req->ok);
        free(req);
    }
}

static rd_kafka_t *new_producer(eng_kafka_t *kafka, const char *bootstrap)
{
    char err[256], timeout[32];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    eng_kafka_conf_log(conf);
    snprintf(timeout, sizeof timeout, "%d", COMMAND_TIMEOUT_MS);
    if (conf_set(conf, "linger.ms", "2") != 0 || conf_apply(kafka, conf, bootstrap) != 0 ||
        conf_set(conf, "message.timeout.ms", timeout) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, kafka);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == NULL) ENG_ERROR("kafka producer refused", " error=\"%s\"", err);
    return rk;
}

static void split_topics(eng_kafka_t *kafka)
{
    const char *s = kafka->cfg->kafka_topic;
    while (*s && kafka->ntopics < MAX_TOPICS) {
        size_t n = strcspn(s, ",");
        while (n > 0 && s[0] == ' ')
            s++, n--;
        if (n > 0) kafka->topics[kafka->ntopics++] = strndup(s, n);
        s += n;
        if (*s == ',') s++;
    }
}

eng_kafka_t *eng_kafka_new(uv_loop_t *loop, const cfg_t *cfg, eng_ring_t *ring, uv_async_t *wake)
{
    eng_kafka_t *kafka = eng_calloc(1, sizeof *kafka);
    char bootstrap[1024];
    kafka->loop = loop;
    kafka->cfg = cfg;
    kafka->ring = ring;
    kafka->wake = wake;
    split_topics(kafka);
    kafka->parts = eng_kparts_new();
    snprintf(bootstrap, sizeof bootstrap, "%s", cfg->kafka_brokers);
    if (strcmp(cfg->kafka_brokers, "embedded") == 0 &&
        start_embedded(kafka, bootstrap, sizeof bootstrap) != 0)
        goto fail;
    kafka->consumer = new_consumer(kafka, bootstrap);
    if (kafka->consumer == NULL) goto fail;
    kafka->producer = new_producer(kafka, bootstrap);
    if (kafka->producer == NULL) goto fail;
    kafka->decoder = proto_decoder_new();
    uv_sem_init(&kafka->ctrl_sem, 0);
    return kafka;
fail:
    eng_kafka_free(kafka);
    return NULL;
}

static void on_producer_timer(uv_timer_t *timer)
{
    eng_kafka_t *kafka = timer->data;
    rd_kafka_poll(kafka->producer, 0);
}

static void on_thread_done(uv_async_t *async)
{
    eng_kafka_t *kafka = async->data;
    uv_thread_join(&kafka->thread);
    uv_close((uv_handle_t *)&kafka->thread_done, NULL);
    /* Delivery reports from here on are served by eng_kafka_free's flush. */
    uv_timer_stop(&kafka->producer_timer);
    if (kafka->stop_cb) kafka->stop_cb(kafka->stop_arg);
}

int eng_kafka_start(eng_kafka_t *kafka)
{
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)kafka->ntopics);
    for (size_t i = 0; i < kafka->ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, kafka->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(kafka->consumer, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        ENG_ERROR("kafka subscribe failed", " error=\"%s\"", rd_kafka_err2str(err));
        return -1;
    }
    uv_async_init(kafka->loop, &kafka->thread_done, on_thread_done);
    kafka->thread_done.data = kafka;
    uv_timer_init(kafka->loop, &kafka->producer_timer);
    kafka->producer_timer.data = kafka;
    uv_timer_start(&kafka->producer_timer, on_producer_timer, 20, 20);
    return uv_thread_create(&kafka->thread, consumer_main, kafka);
}

void eng_kafka_stop(eng_kafka_t *kafka, void (*done_cb)(void *arg), void *arg)
{
    kafka->stop_cb = done_cb;
    kafka->stop_arg = arg;
    atomic_store(&kafka->stop, 1);
}

void eng_kafka_flush(eng_kafka_t *kafka, int timeout_ms)
{
    if (kafka->producer == NULL) return;
    rd_kafka_flush(kafka->producer, timeout_ms);
    rd_kafka_poll(kafka->producer, 0);
}

void eng_kafka_free(eng_kafka_t *kafka)
{
    if (kafka->producer) {
        uv_timer_stop(&kafka->producer_timer);
        uv_close((uv_handle_t *)&kafka->producer_timer, NULL);
        rd_kafka_destroy(kafka->producer);
    }
    if (kafka->consumer) rd_kafka_destroy(kafka->consumer);
    if (kafka->mock) rd_kafka_mock_cluster_destroy(kafka->mock);
    if (kafka->mock_host) rd_kafka_destroy(kafka->mock_host);
    if (kafka->decoder) {
        proto_decoder_free(kafka->decoder);
        uv_sem_destroy(&kafka->ctrl_sem);
    }
    for (size_t i = 0; i < kafka->ntopics; i++)
        free(kafka->topics[i]);
    eng_kparts_free(kafka->parts);
    free(kafka);
}

void eng_kafka_store_offsets(eng_kafka_t *kafka, const eng_tp_t *tps, const int64_t *next, size_t n)
{
    if (n == 0) return;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, eng_kafka_topic_name(kafka, tps[i].topic),
                                          tps[i].partition)
            ->offset = next[i];
    /* Partitions revoked meanwhile answer with an error: their new owner
     * redoes those messages, which is harmless (idempotent writes). */
    rd_kafka_offsets_store(kafka->consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
}

int eng_kafka_produce(eng_kafka_t *kafka, const char *topic, const char *key,
                      const char *const *payloads, const size_t *lens, size_t n,
                      void (*done)(void *ctx, int ok), void *ctx)
{
    if (n == 0 || topic[0] == 0) return -1;
    cmd_req_t *req = eng_calloc(1, sizeof *req);
    req->ok = 1;
    req->done = done;
    req->ctx = ctx;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            kafka->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)payloads[i], lens[i]),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(req), RD_KAFKA_V_END);
        if (err) {
            ENG_WARN("produce failed", " topic=%s error=\"%s\"", topic, rd_kafka_err2str(err));
            req->ok = 0;
            if (i == 0) {
                free(req);
                return -1;
            }
            break;
        }
        req->pending++;
    }
    return 0;
}

int eng_kafka_produce_commands(eng_kafka_t *kafka, const char *tuid, const char *const *payloads,
                               const size_t *lens, size_t n, void (*done)(void *ctx, int ok),
                               void *ctx)
{
    return eng_kafka_produce(kafka, kafka->cfg->kafka_commands_topic, tuid, payloads, lens, n, done,
                             ctx);
}

void eng_kafka_count_alert_failure(eng_kafka_t *kafka)
{
    atomic_fetch_add(&kafka->stats.alerts_failed, 1);
}
