/* restore.c - state restore on assignment; see restore.h.
 *
 * Steps, all pipelined on the store's connection:
 *   1. SMEMBERS P part:TOPIC:N for each partition (and, the first time,
 *      ZRANGE P relayed 0 -1 WITHSCORES and SMEMBERS P unheard);
 *   2. HGETALL P{T}:thing for every tuid they name;
 *   3. done() when no reply is outstanding.
 * A generation number tells replies of an abandoned attempt from the current
 * one's. */
#include "engine/ingest/restore.h"

#include "engine/base/log.h"
#include "engine/ingest/outbox.h"
#include "engine/redis/keys.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTS 1024

struct eng_restore_s {
    const cfg_t *cfg;
    eng_store_t *store;
    eng_kafka_t *kafka;
    eng_groups_t *groups;
    eng_detector_t *det;
    eng_outbox_t *outbox;
    eng_tp_t tps[MAX_PARTS];
    size_t ntps;
    void (*done)(void *arg);
    void *arg;
    bool active;
    bool gateways_loaded; /* P relayed and P unheard: once per process */
    bool load_gateways;   /* this attempt loads them */
    uint64_t generation;
    size_t outstanding;
    size_t loaded;
    bool failed;
};

/* privdata of every read: the restore and the attempt it belongs to. */
typedef struct read_ctx_s {
    eng_restore_t *restore;
    uint64_t generation;
    uint32_t relayed; /* HGETALL of a gateway: its relayed time */
    uint16_t part;    /* SMEMBERS of a partition set: the partition's id */
} read_ctx_t;

static void restore_finish_if_idle(eng_restore_t *restore);
static void on_outbox(redisAsyncContext *ac, void *r, void *privdata);

static int send_read(eng_restore_t *restore, redisCallbackFn *cb, uint16_t part, int argc,
                     const char **argv, const size_t *lens)
{
    read_ctx_t *ctx = eng_malloc(sizeof *ctx);
    *ctx = (read_ctx_t){restore, restore->generation, 0, part};
    if (eng_store_read(restore->store, cb, ctx, argc, argv, lens) != 0) {
        free(ctx);
        restore->failed = true;
        return -1;
    }
    restore->outstanding++;
    return 0;
}

/* Returns the restore if the reply belongs to the current attempt. */
static eng_restore_t *reply_owner(void *privdata, redisReply *reply)
{
    read_ctx_t *ctx = privdata;
    eng_restore_t *restore = ctx->restore;
    if (restore == NULL || ctx->generation != restore->generation) return NULL;
    restore->outstanding--;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ENG_WARN("restore read failed", " error=\"%s\"", reply ? reply->str : "connection lost");
        restore->failed = true;
        return NULL;
    }
    return restore;
}

static void copy_str(char *dst, size_t cap, const redisReply *r)
{
    size_t n = r->len < cap - 1 ? r->len : cap - 1;
    memcpy(dst, r->str, n);
    dst[n] = 0;
}

int eng_snapshot_parse(eng_snapshot_t *snap, const redisReply *reply)
{
    memset(snap, 0, sizeof *snap);
    snap->hb_from = snap->gw_from = -1;
    if (reply->type != REDIS_REPLY_ARRAY) return 0;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *k = reply->element[i], *v = reply->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        const char *key = k->str;
        long long n = strtoll(v->str, NULL, 10);
        uint32_t u = n < 0 ? 0 : n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
        if (strcmp(key, "timestamp") == 0)
            snap->heard = u;
        else if (strcmp(key, "t_gw") == 0)
            snap->t_gw = u;
        else if (strcmp(key, "t_batl") == 0)
            snap->t_batl = u;
        else if (strcmp(key, "t_loc") == 0)
            snap->t_loc = u;
        else if (strcmp(key, "t_ver") == 0)
            snap->t_ver = u;
        else if (strcmp(key, "hb_from") == 0)
            snap->hb_from = n;
        else if (strcmp(key, "gw_from") == 0)
            snap->gw_from = n;
        else if (strcmp(key, "status_ts") == 0)
            snap->status_ts = n;
        else if (strcmp(key, "gateway_tuid") == 0)
            copy_str(snap->gateway, sizeof snap->gateway, v);
        else if (strcmp(key, "status") == 0)
            copy_str(snap->status, sizeof snap->status, v);
        else if (strcmp(key, "group") == 0)
            copy_str(snap->group, sizeof snap->group, v);
    }
    return 0;
}

/* Hands one thing's snapshot to the detector and the group table. */
static void restore_apply(eng_restore_t *restore, const char *tuid, size_t len, uint16_t part,
                          const eng_snapshot_t *snap)
{
    int status = eng_status_parse(snap->status, strlen(snap->status));
    eng_detector_restore_t rec = {
        .tuid = tuid,
        .len = len,
        .part = part,
        .heard = snap->heard != 0,
        .timestamp = snap->heard,
        .t_gw = snap->t_gw,
        .t_batl = snap->t_batl,
        .t_loc = snap->t_loc,
        .t_ver = snap->t_ver,
        .gateway = snap->gateway[0] && proto_tuid_valid(snap->gateway, strlen(snap->gateway))
                       ? snap->gateway
                       : NULL,
        .gateway_len = strlen(snap->gateway),
        .status = status < 0 ? ENG_STATUS_NONE : (eng_status_t)status,
        .status_at = snap->status_ts > 0 ? (uint32_t)snap->status_ts : 0,
        .hb_open = snap->hb_from >= 0,
        .hb_from = snap->hb_from >= 0 ? (uint32_t)snap->hb_from : 0,
    };
    uint32_t idx = ENG_THING_NONE;
    /* A gateway read from P relayed alone (not from one of our partitions)
     * brings only its gateway state: its own heartbeat belongs to the
     * instance holding its partition. */
    bool gateway_only = part == ENG_PART_NONE && snap->relayed > 0;
    /* A thing never heard from with only a group (from P unheard) is tracked
     * too: its first messages are stored with that group. */
    if (!gateway_only &&
        (rec.heard || rec.status != ENG_STATUS_NONE || rec.hb_open || snap->group[0]))
        idx = eng_detector_restore_thing(restore->det, &rec);
    if (snap->relayed > 0 || snap->gw_from >= 0)
        idx = eng_detector_restore_gateway(restore->det, tuid, len, part, snap->relayed,
                                           snap->gw_from >= 0,
                                           snap->gw_from >= 0 ? (uint32_t)snap->gw_from : 0);
    if (idx != ENG_THING_NONE && snap->group[0]) eng_groups_set(restore->groups, idx, snap->group);
}

/* The tuid of an HGETALL is needed with its reply; hiredis passes only
 * privdata, so the tuid travels in a context of its own. */
typedef struct thing_ctx_s {
    read_ctx_t base;
    uint16_t part;
    uint8_t len;
    char tuid[PROTO_TUID_MAX + 1];
} thing_ctx_t;

static void on_thing_hash(redisAsyncContext *ac, void *r, void *privdata)
{
    thing_ctx_t *ctx = privdata;
    (void)ac;
    eng_restore_t *restore = reply_owner(&ctx->base, r);
    if (restore != NULL) {
        eng_snapshot_t snap;
        eng_snapshot_parse(&snap, r);
        snap.relayed = ctx->base.relayed;
        restore_apply(restore, ctx->tuid, ctx->len, ctx->part, &snap);
        restore->loaded++;
    }
    free(ctx);
    if (restore) restore_finish_if_idle(restore);
}

static void send_thing(eng_restore_t *restore, const char *tuid, size_t len, uint16_t part,
                       uint32_t relayed)
{
    if (!proto_tuid_valid(tuid, len)) return; /* never build a key from bad data */
    char key[256];
    size_t klen =
        eng_key_format(key, sizeof key, restore->cfg->redis_prefix, tuid, len, ENG_KEY_THING);
    const char *argv[] = {"HGETALL", key};
    size_t lens[] = {7, klen};
    thing_ctx_t *ctx = eng_malloc(sizeof *ctx);
    ctx->base = (read_ctx_t){restore, restore->generation, relayed, part};
    ctx->part = part;
    ctx->len = (uint8_t)len;
    memcpy(ctx->tuid, tuid, len);
    ctx->tuid[len] = 0;
    if (eng_store_read(restore->store, on_thing_hash, ctx, 2, argv, lens) != 0) {
        free(ctx);
        restore->failed = true;
        return;
    }
    restore->outstanding++;
}

/* A SMEMBERS reply (partition set or P unheard): one HGETALL per member. */
static void on_members(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    eng_restore_t *restore = reply_owner(privdata, r);
    uint16_t part = ((read_ctx_t *)privdata)->part;
    free(privdata);
    if (restore == NULL) return;
    const redisReply *reply = r;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++)
        send_thing(restore, reply->element[i]->str, reply->element[i]->len, part, 0);
    restore_finish_if_idle(restore);
}

/* ZRANGE P relayed WITHSCORES: gateways with their relayed time. */
static void on_gateways(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    eng_restore_t *restore = reply_owner(privdata, r);
    free(privdata);
    if (restore == NULL) return;
    const redisReply *reply = r;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements; i += 2) {
        long long relayed = strtoll(reply->element[i + 1]->str, NULL, 10);
        send_thing(restore, reply->element[i]->str, reply->element[i]->len, ENG_PART_NONE,
                   relayed > 0 && relayed <= UINT32_MAX ? (uint32_t)relayed : 0);
    }
    restore_finish_if_idle(restore);
}

static void restore_begin(eng_restore_t *restore)
{
    char key[512];
    restore->generation++;
    restore->outstanding = 0;
    restore->loaded = 0;
    restore->failed = false;
    restore->load_gateways = !restore->gateways_loaded;
    if (!eng_store_connected(restore->store)) {
        restore->failed = true;
        return; /* eng_restore_on_ready() starts it */
    }
    ENG_INFO("restoring state", " partitions=%zu", restore->ntps);
    for (size_t i = 0; i < restore->ntps; i++) {
        int n = snprintf(key, sizeof key, "%spart:%s:%d", restore->cfg->redis_prefix,
                         eng_kafka_topic_name(restore->kafka, restore->tps[i].topic),
                         (int)restore->tps[i].partition);
        const char *argv[] = {"SMEMBERS", key};
        size_t lens[] = {8, (size_t)n};
        send_read(restore, on_members,
                  eng_things_part_id(restore->tps[i].topic, restore->tps[i].partition), 2, argv,
                  lens);
    }
    /* Gateways on every assignment: the windows of gateways this instance
     * now owns are decided here from now on. */
    int n = snprintf(key, sizeof key, "%srelayed", restore->cfg->redis_prefix);
    const char *zargv[] = {"ZRANGE", key, "0", "-1", "WITHSCORES"};
    size_t zlens[] = {6, (size_t)n, 1, 2, 10};
    send_read(restore, on_gateways, ENG_PART_NONE, 5, zargv, zlens);
    if (restore->load_gateways) {
        n = snprintf(key, sizeof key, "%sunheard", restore->cfg->redis_prefix);
        const char *sargv[] = {"SMEMBERS", key};
        size_t slens[] = {8, (size_t)n};
        send_read(restore, on_members, ENG_PART_NONE, 2, sargv, slens);
        n = snprintf(key, sizeof key, "%soutbox", restore->cfg->redis_prefix);
        const char *oargv[] = {"HGETALL", key};
        size_t olens[] = {7, (size_t)n};
        send_read(restore, on_outbox, ENG_PART_NONE, 2, oargv, olens);
    }
    restore_finish_if_idle(restore);
}

static void restore_finish_if_idle(eng_restore_t *restore)
{
    if (!restore->active || restore->outstanding > 0 || restore->failed) return;
    restore->active = false;
    if (restore->load_gateways) restore->gateways_loaded = true;
    ENG_INFO("state restored", " things=%zu", restore->loaded);
    restore->done(restore->arg);
}

eng_restore_t *eng_restore_new(const cfg_t *cfg, eng_store_t *store, eng_kafka_t *kafka,
                               eng_groups_t *groups)
{
    eng_restore_t *restore = eng_calloc(1, sizeof *restore);
    restore->cfg = cfg;
    restore->store = store;
    restore->kafka = kafka;
    restore->groups = groups;
    return restore;
}

void eng_restore_set_detector(eng_restore_t *restore, eng_detector_t *det)
{
    restore->det = det;
}

void eng_restore_set_outbox(eng_restore_t *restore, eng_outbox_t *outbox)
{
    restore->outbox = outbox;
}

/* HGETALL P outbox: events whose delivery a crash may have cut short. */
static void on_outbox(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    eng_restore_t *restore = reply_owner(privdata, r);
    free(privdata);
    if (restore == NULL) return;
    if (restore->outbox) eng_outbox_resend(restore->outbox, r);
    restore_finish_if_idle(restore);
}

void eng_restore_free(eng_restore_t *restore)
{
    free(restore);
}

void eng_restore_start(eng_restore_t *restore, const eng_tp_t *tps, size_t n,
                       void (*done)(void *arg), void *arg)
{
    restore->ntps = n < MAX_PARTS ? n : MAX_PARTS;
    memcpy(restore->tps, tps, restore->ntps * sizeof *tps);
    restore->done = done;
    restore->arg = arg;
    restore->active = true;
    restore_begin(restore);
}

void eng_restore_on_ready(eng_restore_t *restore)
{
    if (restore->active && restore->failed) restore_begin(restore);
}

void eng_restore_cancel(eng_restore_t *restore)
{
    restore->active = false;
    restore->generation++;
}
