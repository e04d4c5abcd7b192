/* ingest.c - ring -> state + detector -> Redis batches -> offsets; see ingest.h.
 *
 * Adaptive batching: while a batch is in flight, the next one is built from
 * whatever the ring holds (up to MAX_BATCH_MSGS); it is sent the moment the
 * previous one is acknowledged, or before that once it holds half as many
 * messages as the one in flight (at most two in flight: Redis works on one
 * while the loop reads the other's replies and builds the next). Under light
 * load a batch is one message and latency is one round trip; under heavy load
 * batches grow and the cost per message falls. State writes are coalesced per thing within a batch
 * (only the newest value of each field is written), history is one multi-member ZADD per thing, and
 * Kafka offsets are stored when the batch is acked. */
#include "engine/ingest/ingest.h"

#include "engine/base/log.h"
#include "engine/ingest/outbox.h"
#include "engine/ingest/restore.h"
#include "engine/model/catchup.h"
#include "engine/model/groups.h"
#include "engine/redis/keys.h"

#include "proto/member.h"

#include <assert.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_BATCH_MSGS 32768
#define MAX_BATCH_BYTES (16u << 20)
/* A second batch goes out while one is in flight once it holds this many
 * messages and half as many as the one in flight. */
#define SECOND_BATCH_MIN_MSGS 256
/* A record of a caught-up partition older than this (its Kafka timestamp)
 * means the consumer has fallen behind on it again. */
#define LATE_RECORD_MS 2000
/* How often this instance tells the others how far it has consumed its
 * partitions, when they are not all its own. */
#define ANNOUNCE_EVERY_S 1

/* One thing touched by the batch being built. */
typedef struct pend_s {
    uint32_t thing;
    uint32_t mask; /* ENG_CHANGED_* to write */
    uint32_t ts, t_gw, t_batl, t_loc, t_ver, relayed;
    uint32_t run_from, run_to; /* relays of this batch (gateways): the current run */
    double batl, lat, lon;
    uint32_t gw;                   /* thing index of the gateway */
    uint32_t ver_off, ver_len;     /* in strs */
    uint32_t hist_head, hist_tail; /* history entries, index + 1 */
    uint32_t nhist;
    int32_t new_part; /* >= 0: SADD to this partition's set */
    uint16_t new_topic;
    bool gw_moved; /* gateway_tuid differs from the one in Redis */
} pend_t;

typedef struct hist_s {
    double score;
    uint32_t off, len; /* member bytes in strs */
    uint32_t next;     /* index + 1 */
} hist_t;

struct eng_ingest_s {
    uv_loop_t *loop;
    const cfg_t *cfg;
    eng_ring_t *ring;
    eng_kafka_t *kafka;
    eng_store_t *store;
    eng_things_t *things;
    eng_detector_t *det;
    eng_restore_t *restore;
    eng_groups_t *groups;
    eng_outbox_t *outbox;
    eng_am_t *am; /* NULL without alertmanager.url */
    uint64_t alerting;
    /* Partitions of the first raw topic this instance holds, and how many the
     * topic has: a gateway is owned here when its tuid hashes to one of them. */
    uint8_t owned[1024];
    int32_t topic_partitions; /* things with an open window */
    eng_batch_t batches[3];   /* two in flight at most, one being built */
    size_t building_i;
    eng_batch_t *building;
    uint32_t sent_msgs; /* messages of the batch sent last */
    /* coalescing of the batch being built */
    pend_t *pends;
    size_t npends, pends_cap;
    uint32_t *slots; /* thing index -> pend index + 1, open addressing */
    size_t slots_mask;
    hist_t *hists;
    size_t nhists, hists_cap;
    char *runs; /* "TUID FROM TO\n" lines of closed relay runs of this batch */
    size_t runs_len, runs_cap;
    uint32_t announced; /* wall clock of the last partition report */
    bool announce_due;
    uint8_t *strs;
    size_t strs_len, strs_cap;
    /* ring cursors of the prefetches (eng_ring_peek_ahead) */
    size_t pf_slot, pf_rec;
    /* a control record waiting for the pipeline to be empty */
    const eng_rec_t *ctrl;
    bool ctrl_started;
    int64_t now_ms; /* wall clock at the start of this drain */
    eng_ingest_latency_cb latency_cb;
    void *latency_arg;
    eng_ingest_stats_t stats;
};

static void grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return;
    size_t cap2 = *cap ? *cap * 2 : 1024;
    while (cap2 < need)
        cap2 *= 2;
    *p = eng_realloc(*p, cap2 * elem);
    *cap = cap2;
}

static bool gateway_owned(void *arg, const char *tuid, size_t len);

static uint32_t wall_now(void)
{
    return (uint32_t)time(NULL);
}

eng_ingest_t *eng_ingest_new(uv_loop_t *loop, const cfg_t *cfg, eng_ring_t *ring,
                             eng_kafka_t *kafka, eng_things_t *things)
{
    eng_ingest_t *ingest = eng_calloc(1, sizeof *ingest);
    ingest->loop = loop;
    ingest->cfg = cfg;
    ingest->ring = ring;
    ingest->kafka = kafka;
    ingest->things = things;
    for (size_t i = 0; i < 3; i++)
        eng_batch_init(&ingest->batches[i]);
    ingest->building = &ingest->batches[0];
    ingest->slots_mask = 2 * MAX_BATCH_MSGS - 1;
    ingest->slots = eng_calloc(ingest->slots_mask + 1, sizeof *ingest->slots);
    ingest->groups = eng_groups_new();
    ingest->outbox = eng_outbox_new(loop, cfg, kafka, (void (*)(void *))eng_ingest_drain, ingest);
    return ingest;
}

void eng_ingest_close(eng_ingest_t *ingest)
{
    eng_outbox_free(ingest->outbox);
    ingest->outbox = NULL;
}

void eng_ingest_free(eng_ingest_t *ingest)
{
    for (size_t i = 0; i < 3; i++)
        eng_batch_close(&ingest->batches[i]);
    if (ingest->restore) eng_restore_free(ingest->restore);
    eng_groups_free(ingest->groups);
    free(ingest->pends);
    free(ingest->slots);
    free(ingest->hists);
    free(ingest->runs);
    free(ingest->strs);
    free(ingest);
}

void eng_ingest_set_store(eng_ingest_t *ingest, eng_store_t *store)
{
    ingest->store = store;
    ingest->restore = eng_restore_new(ingest->cfg, store, ingest->kafka, ingest->groups);
    eng_restore_set_outbox(ingest->restore, ingest->outbox);
}

void eng_ingest_set_am(eng_ingest_t *ingest, eng_am_t *am)
{
    ingest->am = am;
}

void eng_ingest_set_detector(eng_ingest_t *ingest, eng_detector_t *det)
{
    ingest->det = det;
    eng_detector_set_gateway_owner(det, gateway_owned, ingest);
    eng_restore_set_detector(ingest->restore, det);
}

void eng_ingest_set_latency_cb(eng_ingest_t *ingest, eng_ingest_latency_cb cb, void *arg)
{
    ingest->latency_cb = cb;
    ingest->latency_arg = arg;
}

const eng_ingest_stats_t *eng_ingest_stats(const eng_ingest_t *ingest)
{
    return &ingest->stats;
}

bool eng_ingest_restoring(const eng_ingest_t *ingest)
{
    return ingest->ctrl != NULL;
}

bool eng_ingest_part_restoring(const eng_ingest_t *ingest, uint16_t topic, int32_t partition)
{
    const eng_rec_t *rec = ingest->ctrl;
    if (rec == NULL || rec->kind != ENG_REC_ASSIGN) return false;
    const eng_tp_t *tps = (const eng_tp_t *)(rec + 1);
    for (uint32_t i = 0; i < rec->nparts; i++)
        if (tps[i].topic == topic && tps[i].partition == partition) return true;
    return false;
}

size_t eng_ingest_outbox_depth(const eng_ingest_t *ingest)
{
    return ingest->outbox ? eng_outbox_depth(ingest->outbox) : 0;
}

/* ---- gateway ownership (docs/SCALING.md) ---- */

/* The partition producers put tuid's records on: librdkafka's default
 * partitioner (consistent_random: CRC32 of the key). */
static int32_t key_partition(const char *tuid, size_t len, int32_t partitions)
{
    return rd_kafka_msg_partitioner_consistent(NULL, tuid, len, partitions, NULL, NULL);
}

static bool gateway_owned(void *arg, const char *tuid, size_t len)
{
    const eng_ingest_t *ingest = arg;
    if (ingest->topic_partitions <= 0) return true;
    return ingest->owned[key_partition(tuid, len, ingest->topic_partitions) & 1023] != 0;
}

bool eng_ingest_owns_gateway(const eng_ingest_t *ingest, const char *tuid, size_t len)
{
    return gateway_owned((void *)ingest, tuid, len);
}

static void set_owned(eng_ingest_t *ingest, const eng_rec_t *rec, bool own)
{
    const eng_tp_t *tps = (const eng_tp_t *)(rec + 1);
    if (rec->kind == ENG_REC_ASSIGN && rec->topic_partitions > 0)
        ingest->topic_partitions = rec->topic_partitions;
    for (uint32_t i = 0; i < rec->nparts; i++)
        if (tps[i].topic == 0 && tps[i].partition >= 0 && tps[i].partition < 1024)
            ingest->owned[tps[i].partition] = own;
}

/* ---- coalescing ---- */

static pend_t *pend_get(eng_ingest_t *ingest, uint32_t thing)
{
    size_t i = (thing * 2654435761u) & ingest->slots_mask;
    while (ingest->slots[i] != 0) {
        pend_t *p = &ingest->pends[ingest->slots[i] - 1];
        if (p->thing == thing) return p;
        i = (i + 1) & ingest->slots_mask;
    }
    grow((void **)&ingest->pends, &ingest->pends_cap, ingest->npends + 1, sizeof(pend_t));
    pend_t *p = &ingest->pends[ingest->npends++];
    memset(p, 0, sizeof *p);
    p->thing = thing;
    p->new_part = -1;
    ingest->slots[i] = (uint32_t)ingest->npends;
    return p;
}

static uint32_t strs_put(eng_ingest_t *ingest, const void *data, size_t len)
{
    grow((void **)&ingest->strs, &ingest->strs_cap, ingest->strs_len + len, 1);
    memcpy(ingest->strs + ingest->strs_len, data, len);
    ingest->strs_len += len;
    return (uint32_t)(ingest->strs_len - len);
}

/* The history member: the message in the compact format of proto/member.h,
 * with the group the thing is in now. */
static void add_history(eng_ingest_t *ingest, pend_t *p, const proto_msg_t *msg)
{
    const char *group = eng_groups_get(ingest->groups, p->thing);
    uint32_t off = (uint32_t)ingest->strs_len;
    proto_buf_t buf = {(char *)ingest->strs, ingest->strs_len, ingest->strs_cap};
    proto_member_encode(&buf, msg, group, strlen(group));
    ingest->strs = (uint8_t *)buf.data, ingest->strs_len = buf.len, ingest->strs_cap = buf.cap;
    grow((void **)&ingest->hists, &ingest->hists_cap, ingest->nhists + 1, sizeof(hist_t));
    hist_t *h = &ingest->hists[ingest->nhists++];
    *h = (hist_t){msg->ts, off, (uint32_t)ingest->strs_len - off, 0};
    if (p->hist_tail)
        ingest->hists[p->hist_tail - 1].next = (uint32_t)ingest->nhists;
    else
        p->hist_head = (uint32_t)ingest->nhists;
    p->hist_tail = (uint32_t)ingest->nhists;
    p->nhist++;
}

static void hist_fresh(eng_ingest_t *ingest, uint32_t thing);

/* Appends "TUID FROM TO\n" of g's current relay run to the batch's closed
 * runs, for the gateway's owner when that is another instance. */
static void run_close(eng_ingest_t *ingest, const pend_t *g)
{
    size_t tlen;
    const char *tuid = eng_things_tuid(ingest->things, g->thing, &tlen);
    if (gateway_owned(ingest, tuid, tlen)) return;
    grow((void **)&ingest->runs, &ingest->runs_cap, ingest->runs_len + tlen + 24, 1);
    ingest->runs_len += (size_t)sprintf(ingest->runs + ingest->runs_len, "%.*s %u %u\n", (int)tlen,
                                        tuid, g->run_from, g->run_to);
}

/* Gateway g was relayed at ts: relayed(G) of the batch, and its runs (a
 * gap of gateway_timeout between relays of one batch starts a new run, so
 * that the owner sees the gap: catching up, a batch spans much time). */
static void relay_note(eng_ingest_t *ingest, pend_t *g, uint32_t ts)
{
    uint32_t timeout = (uint32_t)ingest->cfg->detector_gateway_timeout;
    if (g->relayed == 0) {
        g->run_from = g->run_to = ts;
    } else if (ts + timeout > g->run_from && ts < g->run_to + timeout) {
        if (ts < g->run_from) g->run_from = ts;
        if (ts > g->run_to) g->run_to = ts;
    } else {
        run_close(ingest, g);
        g->run_from = g->run_to = ts;
    }
    if (ts > g->relayed) g->relayed = ts;
}

static void apply_msg(eng_ingest_t *ingest, const eng_rec_t *rec)
{
    const proto_msg_t *msg = &rec->msg;
    uint16_t part = eng_things_part_id(rec->topic, rec->partition);
    if (rec->kafka_ts_ms > 0 && rec->kafka_ts_ms + LATE_RECORD_MS < ingest->now_ms &&
        eng_catchup_state(eng_detector_catchup(ingest->det), part) == ENG_PART_LIVE)
        eng_detector_part_live(ingest->det, part, false);
    uint32_t known = eng_things_get(ingest->things, msg->tuid, msg->tuid_len);
    const eng_thing_t *old = known == ENG_THING_NONE ? NULL : eng_things_cat(ingest->things, known);
    uint16_t old_part = old ? old->part : ENG_PART_NONE;
    uint32_t old_parent = old ? old->parent : ENG_THING_NONE;
    eng_detector_obs_t obs;
    uint32_t thing = eng_detector_observe(ingest->det, msg, part, &obs);
    if (known == ENG_THING_NONE) hist_fresh(ingest, thing);
    pend_t *p = pend_get(ingest, thing);
    if (old_part != part) {
        p->new_part = rec->partition;
        p->new_topic = rec->topic;
    }
    unsigned mask = obs.changed;
    p->mask |= mask;
    if (mask & ENG_CHANGED_TS) p->ts = obs.ts;
    if (mask & ENG_CHANGED_GW) {
        /* Most messages name the gateway of the one before: then only t_gw
         * is written (Redis already holds gateway_tuid, restored or written). */
        if (obs.gw != old_parent) p->gw_moved = true;
        p->gw = obs.gw, p->t_gw = obs.ts;
    }
    if (mask & ENG_CHANGED_BATL) p->batl = msg->batl, p->t_batl = obs.ts;
    if (mask & ENG_CHANGED_LOC) p->lat = msg->lat, p->lon = msg->lon, p->t_loc = obs.ts;
    if (mask & ENG_CHANGED_VER) {
        p->ver_off = strs_put(ingest, msg->ver, msg->ver_len);
        p->ver_len = msg->ver_len;
        p->t_ver = obs.ts;
    }
    if (ingest->cfg->store_messages_per_thing > 0) add_history(ingest, p, msg);
    /* relayed(G) for the gateway named and for a gateway sending itself. */
    if (obs.gw != ENG_THING_NONE) {
        relay_note(ingest, pend_get(ingest, obs.gw), obs.ts);
        p = pend_get(ingest, thing); /* pend_get may have moved the array */
    }
    if (eng_things_gateway(ingest->things, thing) != ENG_THING_NONE && obs.gw != thing)
        relay_note(ingest, p, obs.ts);
    eng_batch_message(ingest->building, rec->kafka_ts_ms);
}

/* ---- writing the batch ---- */

static void write_state(eng_ingest_t *ingest, eng_batch_t *b, const pend_t *p, const char *tuid,
                        size_t tlen)
{
    const char *prefix = ingest->cfg->redis_prefix;
    uint32_t m = p->mask;
    int nargs =
        2 + 2 * ((m & ENG_CHANGED_TS ? 1 : 0) + (m & ENG_CHANGED_GW ? (p->gw_moved ? 2 : 1) : 0) +
                 (m & ENG_CHANGED_BATL ? 2 : 0) + (m & ENG_CHANGED_LOC ? 3 : 0) +
                 (m & ENG_CHANGED_VER ? 2 : 0) + (p->new_part >= 0 ? 1 : 0));
    if (nargs == 2) return;
    eng_batch_cmd(b, nargs);
    eng_batch_arg_str(b, "HSET");
    eng_key_thing(b, prefix, tuid, tlen, ENG_KEY_THING);
    if (m & ENG_CHANGED_TS) eng_batch_arg_str(b, "timestamp"), eng_batch_arg_i64(b, p->ts);
    if (m & ENG_CHANGED_GW) {
        if (p->gw_moved) {
            size_t glen;
            const char *gw = eng_things_tuid(ingest->things, p->gw, &glen);
            eng_batch_arg_str(b, "gateway_tuid"), eng_batch_arg(b, gw, glen);
        }
        eng_batch_arg_str(b, "t_gw"), eng_batch_arg_i64(b, p->t_gw);
    }
    if (m & ENG_CHANGED_BATL) {
        eng_batch_arg_str(b, "battery_level"), eng_batch_arg_f64(b, p->batl);
        eng_batch_arg_str(b, "t_batl"), eng_batch_arg_i64(b, p->t_batl);
    }
    if (m & ENG_CHANGED_LOC) {
        eng_batch_arg_str(b, "lat"), eng_batch_arg_f64(b, p->lat);
        eng_batch_arg_str(b, "lon"), eng_batch_arg_f64(b, p->lon);
        eng_batch_arg_str(b, "t_loc"), eng_batch_arg_i64(b, p->t_loc);
    }
    if (m & ENG_CHANGED_VER) {
        eng_batch_arg_str(b, "version"), eng_batch_arg(b, ingest->strs + p->ver_off, p->ver_len);
        eng_batch_arg_str(b, "t_ver"), eng_batch_arg_i64(b, p->t_ver);
    }
    if (p->new_part >= 0) {
        char part[96];
        int n = snprintf(part, sizeof part, "%s/%d",
                         eng_kafka_topic_name(ingest->kafka, p->new_topic), (int)p->new_part);
        eng_batch_arg_str(b, "part"), eng_batch_arg(b, part, (size_t)n);
    }
}

/* History is trimmed lazily, which saves a command per message: the thing
 * record keeps how many members may still be added before its ZSET could
 * hold more than store.messages_per_thing + TRIM_SLACK (TRIM_SLACK is 7, or
 * 0 for histories under 64), and the trim goes with the ZADD that would pass
 * it: about once every 8 messages of a thing once its history is full, never
 * before it fills. The API reads only the newest store.messages_per_thing, so
 * the few extra members are never seen. A thing restored or taken over is
 * trimmed at its first write (what its ZSET holds is not known); a thing seen
 * for the first time starts empty. The ZADDs of one thing go out in chunks of
 * HIST_CHUNK members, so a ZSET never holds more than
 * store.messages_per_thing + TRIM_SLACK + HIST_CHUNK members: 115 with the
 * default 100, under Redis's zset-max-listpack-entries (128), so that it keeps
 * the compact encoding (Redis never converts back). */
#define TRIM_PERIOD 8
#define HIST_CHUNK 8

static uint32_t trim_slack(const eng_ingest_t *ingest)
{
    return ingest->cfg->store_messages_per_thing < 8 * TRIM_PERIOD ? 0 : TRIM_PERIOD - 1;
}

/* A thing seen for the first time: its ZSET is empty. */
static void hist_fresh(eng_ingest_t *ingest, uint32_t thing)
{
    uint32_t room = (uint32_t)ingest->cfg->store_messages_per_thing + trim_slack(ingest);
    eng_things_at(ingest->things, thing)->hist_room = (uint8_t)(1 + (room < 254 ? room : 254));
}

/* Returns true when the ZADD of `added` members is to be followed by the
 * trim, and updates the record's count. */
static bool trim_due(const eng_ingest_t *ingest, eng_thing_t *rec, uint32_t added)
{
    if (rec->hist_room == 0 || rec->hist_room - 1u < added) {
        rec->hist_room = (uint8_t)(1 + trim_slack(ingest));
        return true;
    }
    rec->hist_room = (uint8_t)(rec->hist_room - added);
    return false;
}

static void write_history(eng_ingest_t *ingest, eng_batch_t *b, const pend_t *p, const char *tuid,
                          size_t tlen)
{
    const char *prefix = ingest->cfg->redis_prefix;
    eng_thing_t *rec = eng_things_at(ingest->things, p->thing);
    for (uint32_t h = p->hist_head, left = p->nhist; h != 0;) {
        uint32_t n = left < HIST_CHUNK ? left : HIST_CHUNK;
        left -= n;
        eng_batch_cmd(b, 2 + 2 * (int)n);
        eng_batch_arg_str(b, "ZADD");
        eng_key_thing(b, prefix, tuid, tlen, ENG_KEY_MSGS);
        for (uint32_t i = 0; i < n; i++, h = ingest->hists[h - 1].next) {
            const hist_t *e = &ingest->hists[h - 1];
            eng_batch_arg_f64(b, e->score);
            eng_batch_arg(b, ingest->strs + e->off, e->len);
        }
        if (!trim_due(ingest, rec, n)) continue;
        eng_batch_cmd(b, 4);
        eng_batch_arg_str(b, "ZREMRANGEBYRANK");
        eng_key_thing(b, prefix, tuid, tlen, ENG_KEY_MSGS);
        eng_batch_arg_i64(b, 0);
        eng_batch_arg_i64(b, -(ingest->cfg->store_messages_per_thing + 1));
    }
}

/* Appends "@ TOPIC PARTITION ETIME live|behind" for every partition held
 * here: the owners of gateways decide their windows no further than the
 * partitions that may still relay them have been consumed. */
static void announce_parts(eng_ingest_t *ingest)
{
    const eng_catchup_t *cu = eng_detector_catchup(ingest->det);
    const uint16_t *parts;
    size_t n = eng_catchup_local(cu, &parts);
    for (size_t i = 0; i < n; i++) {
        char line[320];
        int len = snprintf(line, sizeof line, "@ %s %d %u %s\n",
                           eng_kafka_topic_name(ingest->kafka, (uint16_t)(parts[i] >> 10)),
                           parts[i] & 0x3ff, eng_catchup_etime(cu, parts[i]),
                           eng_catchup_state(cu, parts[i]) == ENG_PART_LIVE ? "live" : "behind");
        strs_put(ingest, line, (size_t)len);
    }
    ingest->announced = wall_now();
    ingest->announce_due = false;
}

/* Tells the owners of the gateways this instance does not own what it saw,
 * and how far it has got: one PUBLISH P relay per batch with "TUID FROM TO"
 * lines (relay runs) and the partition report (docs/SCALING.md). */
static void write_relay(eng_ingest_t *ingest, eng_batch_t *b)
{
    size_t start = ingest->strs_len;
    if (ingest->runs_len) strs_put(ingest, ingest->runs, ingest->runs_len);
    for (size_t i = 0; i < ingest->npends; i++) {
        const pend_t *p = &ingest->pends[i];
        if (!p->relayed) continue;
        size_t tlen;
        const char *tuid = eng_things_tuid(ingest->things, p->thing, &tlen);
        if (gateway_owned(ingest, tuid, tlen)) continue;
        char line[96];
        int n =
            snprintf(line, sizeof line, "%.*s %u %u\n", (int)tlen, tuid, p->run_from, p->run_to);
        strs_put(ingest, line, (size_t)n);
    }
    if (ingest->strs_len == start && !ingest->announce_due) return;
    announce_parts(ingest);
    eng_batch_cmd(b, 3);
    eng_batch_arg_str(b, "PUBLISH");
    eng_key_global(b, ingest->cfg->redis_prefix, "relay");
    eng_batch_arg(b, ingest->strs + start, ingest->strs_len - start);
}

static void write_pends(eng_ingest_t *ingest, eng_batch_t *b)
{
    const char *prefix = ingest->cfg->redis_prefix;
    size_t ngw = 0;
    for (size_t i = 0; i < ingest->npends; i++) {
        const pend_t *p = &ingest->pends[i];
        size_t tlen;
        const char *tuid = eng_things_tuid(ingest->things, p->thing, &tlen);
        write_state(ingest, b, p, tuid, tlen);
        if (p->nhist) write_history(ingest, b, p, tuid, tlen);
        if (p->new_part >= 0) {
            eng_batch_cmd(b, 3);
            eng_batch_arg_str(b, "SADD");
            eng_key_part(b, prefix, eng_kafka_topic_name(ingest->kafka, p->new_topic), p->new_part);
            eng_batch_arg(b, tuid, tlen);
        }
        if (p->relayed) ngw++;
    }
    if (ngw == 0) return;
    /* Gateway liveness merges with ZADD GT: order-independent, so instances
     * that see the same gateway through different partitions agree. */
    eng_batch_cmd(b, 3 + 2 * (int)ngw);
    eng_batch_arg_str(b, "ZADD");
    eng_key_global(b, prefix, "relayed");
    eng_batch_arg_str(b, "GT");
    for (size_t i = 0; i < ingest->npends; i++) {
        const pend_t *p = &ingest->pends[i];
        if (!p->relayed) continue;
        size_t tlen;
        const char *tuid = eng_things_tuid(ingest->things, p->thing, &tlen);
        eng_batch_arg_i64(b, p->relayed);
        eng_batch_arg(b, tuid, tlen);
    }
}

static void pends_reset(eng_ingest_t *ingest)
{
    for (size_t i = 0; i < ingest->npends; i++) {
        size_t s = (ingest->pends[i].thing * 2654435761u) & ingest->slots_mask;
        while (ingest->slots[s] != 0) {
            ingest->slots[s] = 0;
            s = (s + 1) & ingest->slots_mask;
        }
    }
    ingest->npends = 0;
    ingest->nhists = 0;
    ingest->strs_len = 0;
    ingest->runs_len = 0;
}

static bool batch_full(const eng_ingest_t *ingest);

/* Sends the batch being built if there is something in it and either
 * nothing is in flight or it is big enough to go next to the one that is. */
static void flush(eng_ingest_t *ingest)
{
    eng_batch_t *b = ingest->building;
    size_t queued = eng_store_queued(ingest->store);
    if (eng_store_busy(ingest->store)) return;
    if (queued > 0 && !batch_full(ingest) &&
        (b->nmsgs < SECOND_BATCH_MIN_MSGS || b->nmsgs < ingest->sent_msgs / 2))
        return;
    eng_outbox_flush(ingest->outbox, b);
    write_relay(ingest, b);
    if (ingest->npends == 0 && b->ncmds == 0 && b->noffsets == 0) return;
    write_pends(ingest, b);
    pends_reset(ingest);
    /* The batches are used in turn; the one after next was acked (at most
     * two are in flight and acks come in order). */
    ingest->building_i = (ingest->building_i + 1) % 3;
    ingest->building = &ingest->batches[ingest->building_i];
    eng_batch_reset(ingest->building);
    ingest->sent_msgs = b->nmsgs;
    ingest->stats.batches++;
    eng_store_send(ingest->store, b);
}

static bool batch_full(const eng_ingest_t *ingest)
{
    const eng_batch_t *b = ingest->building;
    return b->nmsgs >= MAX_BATCH_MSGS || b->len + ingest->strs_len >= MAX_BATCH_BYTES;
}

/* ---- control records ---- */

static void recount_alerting(eng_ingest_t *ingest);

static void on_restored(void *arg)
{
    eng_ingest_t *ingest = arg;
    eng_detector_reown_gateways(ingest->det);
    recount_alerting(ingest);
    ingest->ctrl = NULL;
    ingest->ctrl_started = false;
    eng_ring_release(ingest->ring);
    eng_kafka_ctrl_done(ingest->kafka);
    eng_ingest_drain(ingest);
}

/* Runs a control record once everything before it is acknowledged. Returns
 * true when it completed at once. */
static bool run_ctrl(eng_ingest_t *ingest)
{
    const eng_rec_t *rec = ingest->ctrl;
    if (ingest->ctrl_started) return false;
    flush(ingest);
    if (eng_store_queued(ingest->store) || ingest->npends || ingest->building->ncmds) return false;
    const eng_tp_t *tps = (const eng_tp_t *)(rec + 1);
    ingest->ctrl_started = true;
    set_owned(ingest, rec, rec->kind == ENG_REC_ASSIGN);
    if (rec->kind == ENG_REC_REVOKE) {
        for (uint32_t i = 0; i < rec->nparts; i++)
            eng_detector_drop_partition(ingest->det,
                                        eng_things_part_id(tps[i].topic, tps[i].partition));
        on_restored(ingest);
        return true;
    }
    /* Catching up: the new partitions' things are judged on their own event
     * time until the consumer reaches each partition's end. */
    if (rec->topic_partitions > 0)
        eng_detector_set_partitions(ingest->det, (uint32_t)rec->topic_partitions);
    for (uint32_t i = 0; i < rec->nparts; i++)
        eng_detector_part_assign(ingest->det, eng_things_part_id(tps[i].topic, tps[i].partition));
    eng_restore_start(ingest->restore, tps, rec->nparts, on_restored, ingest);
    return ingest->ctrl == NULL;
}

/* The things-table lookup of a message is two cache misses (slot, record)
 * with a large fleet; the records a few places ahead in the ring are known,
 * so their slots are prefetched PF_SLOT_AHEAD records ahead and their records
 * PF_REC_AHEAD ahead (by then the slot is in cache). */
#define PF_SLOT_AHEAD 8
#define PF_REC_AHEAD 4

static void prefetch_one(eng_ingest_t *ingest, size_t *pos, bool rec_stage)
{
    size_t len;
    const eng_rec_t *r = eng_ring_peek_ahead(ingest->ring, pos, &len);
    if (r == NULL || r->kind != ENG_REC_MSG) return;
    void (*hint)(const eng_things_t *, const char *, size_t) =
        rec_stage ? eng_things_prefetch_rec : eng_things_prefetch_slot;
    hint(ingest->things, r->msg.tuid, r->msg.tuid_len);
    if (r->msg.gw_len) hint(ingest->things, r->msg.gw, r->msg.gw_len);
}

/* Keeps both cursors their distance ahead of the record at the ring's tail. */
static void prefetch(eng_ingest_t *ingest)
{
    size_t tail = atomic_load_explicit(&ingest->ring->tail, memory_order_relaxed);
    for (int n = ingest->pf_slot <= tail ? PF_SLOT_AHEAD + 1 : 1; n > 0; n--)
        prefetch_one(ingest, &ingest->pf_slot, false);
    for (int n = ingest->pf_rec <= tail ? PF_REC_AHEAD + 1 : 1; n > 0; n--)
        prefetch_one(ingest, &ingest->pf_rec, true);
}

void eng_ingest_drain(eng_ingest_t *ingest)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    ingest->now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    for (;;) {
        if (ingest->ctrl != NULL) {
            if (!run_ctrl(ingest)) return;
            continue;
        }
        if (batch_full(ingest)) break;
        size_t len;
        eng_rec_t *rec = (eng_rec_t *)eng_ring_peek(ingest->ring, &len);
        if (rec == NULL) break;
        if (rec->kind == ENG_REC_ASSIGN || rec->kind == ENG_REC_REVOKE) {
            ingest->ctrl = rec;
            continue;
        }
        if (rec->kind == ENG_REC_MSG) {
            prefetch(ingest);
            eng_kafka_rec_fix(rec);
            apply_msg(ingest, rec);
        } else if (rec->kind == ENG_REC_CAUGHT_UP) {
            eng_detector_part_live(ingest->det, eng_things_part_id(rec->topic, rec->partition),
                                   true);
        }
        if (rec->done >= 0)
            eng_batch_offset(ingest->building, rec->topic, rec->partition, rec->done);
        eng_ring_release(ingest->ring);
    }
    flush(ingest);
}

void eng_ingest_on_ack(void *arg, eng_batch_t *batch)
{
    eng_ingest_t *ingest = arg;
    eng_tp_t tps[64];
    int64_t next[64];
    size_t n = 0;
    for (size_t i = 0; i < batch->noffsets; i++) {
        tps[n] = (eng_tp_t){batch->offsets[i].topic, batch->offsets[i].partition};
        next[n++] = batch->offsets[i].next;
        if (n == 64) eng_kafka_store_offsets(ingest->kafka, tps, next, n), n = 0;
    }
    eng_kafka_store_offsets(ingest->kafka, tps, next, n);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    for (size_t i = 0; i < batch->nmsgs; i++) {
        int64_t d = now_ms - batch->kafka_ts[i];
        if (d < 0) d = 0;
        ingest->stats.latency_sum_ms += (uint64_t)d;
        if (ingest->latency_cb) ingest->latency_cb(ingest->latency_arg, (double)d / 1000.0);
    }
    ingest->stats.latency_count += batch->nmsgs;
    ingest->stats.messages_acked += batch->nmsgs;
    eng_outbox_acked(ingest->outbox, batch);
    if (ingest->am) eng_am_acked(ingest->am, batch);
    eng_ingest_drain(ingest);
}

void eng_ingest_on_ready(void *arg)
{
    eng_ingest_t *ingest = arg;
    eng_restore_on_ready(ingest->restore);
    eng_ingest_drain(ingest);
}

/* Returns true when partitions of the raw topics may be held by other
 * instances (not all of the first topic's are here, or there are more
 * topics). */
static bool others_may_hold(const eng_ingest_t *ingest)
{
    const uint16_t *parts;
    size_t n = eng_catchup_local(eng_detector_catchup(ingest->det), &parts), first = 0;
    for (size_t i = 0; i < n; i++)
        first += parts[i] >> 10 == 0;
    return eng_kafka_topic_name(ingest->kafka, 1)[0] != '?' || ingest->topic_partitions <= 0 ||
           first < (size_t)ingest->topic_partitions;
}

void eng_ingest_tick(eng_ingest_t *ingest)
{
    /* Paused: records wait in Kafka, so no partition is caught up. */
    if (atomic_load(&eng_kafka_stats(ingest->kafka)->paused)) eng_detector_all_behind(ingest->det);
    eng_detector_tick(ingest->det, wall_now());
    if (wall_now() >= ingest->announced + ANNOUNCE_EVERY_S && others_may_hold(ingest))
        ingest->announce_due = true;
    flush(ingest);
}

void eng_ingest_remote_part(eng_ingest_t *ingest, const char *topic, int32_t partition,
                            uint32_t etime, bool live)
{
    int t = eng_kafka_topic_index(ingest->kafka, topic);
    if (t < 0) return;
    eng_detector_remote_part(ingest->det, eng_things_part_id((uint16_t)t, partition), etime, live);
    flush(ingest);
}

void eng_ingest_abandon(eng_ingest_t *ingest)
{
    if (ingest->ctrl == NULL) return;
    eng_restore_cancel(ingest->restore);
    on_restored(ingest);
}

/* ---- windows, status and groups ---- */

static int fmt_time(char *buf, size_t cap, uint32_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    return (int)strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
}

/* The event of a window as JSON: {"tuid","alert_type","from","to","state"}. */
static size_t window_json(char *buf, size_t cap, const eng_window_t *win)
{
    char from[32], to[32] = "null";
    fmt_time(from, sizeof from, win->from);
    if (!win->open) {
        to[0] = '"';
        int n = fmt_time(to + 1, sizeof to - 2, win->to);
        to[n + 1] = '"';
        to[n + 2] = 0;
    }
    int n = snprintf(buf, cap,
                     "{\"tuid\":\"%.*s\",\"alert_type\":\"%s\",\"from\":\"%s\",\"to\":%s,"
                     "\"state\":\"%s\"}",
                     (int)win->tuid_len, win->tuid, eng_alert_name(win->type), from, to,
                     win->open ? "open" : "closed");
    return (size_t)n;
}

/* The window's alert for Alertmanager, with the thing's group and parent
 * gateway as they are now (they count at the open). */
static void am_window(eng_ingest_t *ingest, eng_batch_t *b, const eng_window_t *win)
{
    const char *group = eng_groups_get(ingest->groups, win->thing);
    uint32_t parent = eng_things_cat(ingest->things, win->thing)->parent;
    size_t glen = 0;
    const char *gw =
        parent == ENG_THING_NONE ? NULL : eng_things_tuid(ingest->things, parent, &glen);
    eng_am_window(ingest->am, b, win, group, gw, glen);
}

void eng_ingest_on_window(void *arg, const eng_window_t *win)
{
    eng_ingest_t *ingest = arg;
    eng_batch_t *b = ingest->building;
    const char *prefix = ingest->cfg->redis_prefix;
    const char *wkey = win->type == ENG_ALERT_HEARTBEAT ? ENG_KEY_WIN_HB : ENG_KEY_WIN_GW;
    const char *field = win->type == ENG_ALERT_HEARTBEAT ? "hb_from" : "gw_from";
    char open_member[16], member[32], json[512];
    int olen = snprintf(open_member, sizeof open_member, "%u:", win->from);
    if (win->open) {
        eng_batch_cmd(b, 4);
        eng_batch_arg_str(b, "ZADD");
        eng_key_thing(b, prefix, win->tuid, win->tuid_len, wkey);
        eng_batch_arg_i64(b, win->from);
        eng_batch_arg(b, open_member, (size_t)olen);
        eng_batch_cmd(b, 4);
        eng_batch_arg_str(b, "HSET");
        eng_key_thing(b, prefix, win->tuid, win->tuid_len, ENG_KEY_THING);
        eng_batch_arg_str(b, field);
        eng_batch_arg_i64(b, win->from);
        eng_batch_cmd(b, 4);
        eng_batch_arg_str(b, "ZREMRANGEBYRANK");
        eng_key_thing(b, prefix, win->tuid, win->tuid_len, wkey);
        eng_batch_arg_i64(b, 0);
        eng_batch_arg_i64(b, -(ingest->cfg->store_windows_per_thing + 1));
        if (!eng_detector_is_open(ingest->det, win->thing,
                                  win->type == ENG_ALERT_HEARTBEAT ? ENG_ALERT_GATEWAY
                                                                   : ENG_ALERT_HEARTBEAT))
            ingest->alerting++;
    } else {
        int mlen = snprintf(member, sizeof member, "%u:%u", win->from, win->to);
        eng_batch_cmd(b, 3);
        eng_batch_arg_str(b, "ZREM");
        eng_key_thing(b, prefix, win->tuid, win->tuid_len, wkey);
        eng_batch_arg(b, open_member, (size_t)olen);
        eng_batch_cmd(b, 4);
        eng_batch_arg_str(b, "ZADD");
        eng_key_thing(b, prefix, win->tuid, win->tuid_len, wkey);
        eng_batch_arg_i64(b, win->from);
        eng_batch_arg(b, member, (size_t)mlen);
        eng_batch_cmd(b, 3);
        eng_batch_arg_str(b, "HDEL");
        eng_key_thing(b, prefix, win->tuid, win->tuid_len, ENG_KEY_THING);
        eng_batch_arg_str(b, field);
        if (!win->alerting && ingest->alerting > 0) ingest->alerting--;
    }
    eng_batch_cmd(b, 3);
    eng_batch_arg_str(b, win->alerting ? "SADD" : "SREM");
    eng_key_global(b, prefix, "alerting");
    eng_batch_arg(b, win->tuid, win->tuid_len);
    size_t jlen = window_json(json, sizeof json, win);
    eng_batch_cmd(b, 3);
    eng_batch_arg_str(b, "PUBLISH");
    eng_key_global(b, prefix, "alerts");
    eng_batch_arg(b, json, jlen);
    char id[128];
    snprintf(id, sizeof id, "%.*s|%s|%u|%s", (int)win->tuid_len, win->tuid,
             win->type == ENG_ALERT_HEARTBEAT ? "hb" : "gw", win->from,
             win->open ? "open" : "closed");
    eng_outbox_add(ingest->outbox, b, id, json, jlen);
    if (ingest->am) am_window(ingest, b, win);
}

void eng_ingest_set_status(eng_ingest_t *ingest, const char *tuid, const char *status, uint32_t at)
{
    int st = eng_status_parse(status, strlen(status));
    size_t len = strlen(tuid);
    if (st < 0 || !proto_tuid_valid(tuid, len)) return;
    /* A thing never heard from is tracked from its first status on: installed
     * starts its clock (CONTRACT section 3). */
    uint32_t idx = eng_things_add(ingest->things, tuid, len, ENG_PART_NONE, NULL);
    eng_detector_set_status(ingest->det, idx, (eng_status_t)st, at);
    flush(ingest);
}

void eng_ingest_set_group(eng_ingest_t *ingest, const char *tuid, const char *group)
{
    size_t len = strlen(tuid);
    if (!proto_tuid_valid(tuid, len)) return;
    /* A thing never heard from is tracked from its group on, so that its
     * first messages are stored with it. */
    uint32_t idx = eng_things_add(ingest->things, tuid, len, ENG_PART_NONE, NULL);
    eng_groups_set(ingest->groups, idx, group);
}

uint64_t eng_ingest_alerting(const eng_ingest_t *ingest)
{
    return ingest->alerting;
}

/* Counts the things with an open window (after a restore or a drop). */
static void recount_alerting(eng_ingest_t *ingest)
{
    uint64_t n = 0;
    uint32_t slots = eng_things_slots(ingest->things);
    const eng_thing_t *base = eng_things_base(ingest->things);
    for (uint32_t i = 0; i < slots; i++)
        if (!(base[i].flags & ENG_THING_DEAD) &&
            (base[i].flags & (ENG_THING_HB_OPEN | ENG_THING_GW_OPEN)))
            n++;
    ingest->alerting = n;
}

eng_detector_t *eng_ingest_detector(eng_ingest_t *ingest)
{
    return ingest->det;
}
