/* cluster.c - Redis Cluster routing on libuv; see cluster.h.
 *
 * Each node (connection) is DOWN (waiting for its reconnect time),
 * CONNECTING (TCP, then AUTH/SELECT) or READY. Batches live in the ledger
 * (cluster_ledger.h), which hands out each node's parts in order; this file
 * sends them, classifies the replies and keeps the routing table:
 *  - owner[slot] is the connection serving each slot. It changes only while
 *    nothing is in flight: a MOVED or a new map sets next_owner and stalls
 *    the ledger; once every node answered what it had, next_owner becomes
 *    owner and the ledger re-splits what is not yet acknowledged.
 *  - the map is read from CLUSTER SLOTS at start, after a MOVED or
 *    CLUSTERDOWN, and every second while a master is down or a slot unserved
 *    (a failover in progress). */
#include "engine/redis/cluster.h"

#include "engine/redis/cluster_ledger.h"
#include "engine/base/log.h"
#include "engine/redis/redis_uv.h"

#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define WATCHDOG_MS 100
#define IDLE_PING_MS 1000
#define REFRESH_MS 1000 /* map re-read period while degraded */

enum node_state { NODE_DOWN, NODE_CONNECTING, NODE_READY };

typedef struct cnode_s {
    eng_cluster_t *cluster;
    int index;
    char host[ENG_SLOT_HOST_MAX + 1];
    int port;
    redisAsyncContext *ctx;
    enum node_state state;
    uint64_t since, backoff_ms, retry_at;
    uint64_t outstanding, progress_ms; /* replies due on this connection; last progress */
    uint32_t setup_due;
    bool ever_ready, ping_sent, master;
    const char *failing; /* why its parts are being retried (for /readyz), or NULL */
    eng_cluster_node_stats_t stats;
} cnode_t;

/* A routed command (eng_cluster_command) until its final reply. */
typedef struct creq_s {
    eng_cluster_t *cluster;
    eng_cluster_reply_cb cb;
    void *privdata;
    char *cmd;
    size_t len;
    int slot;
    int ask;       /* node to send to with ASKING, or -1 */
    int redirects; /* MOVED / ASK / TRYAGAIN so far */
    uint64_t retry_at, created_ms;
    struct creq_s *next; /* on the waiting list */
} creq_t;

struct eng_cluster_s {
    uv_loop_t *loop;
    eng_cluster_opts_t opts;
    eng_cluster_ack_cb on_ack;
    void *arg;
    cnode_t nodes[ENG_LEDGER_MAX_NODES];
    int nnodes;
    eng_ledger_t ledger;
    int16_t owner[ENG_SLOTS], next_owner[ENG_SLOTS];
    bool next_pending; /* next_owner differs from owner: apply once settled */
    uint32_t served;
    eng_slotmap_t *map; /* scratch for CLUSTER SLOTS */
    bool refreshing, refresh_wanted;
    int refresh_prefer; /* node to read the map from (a MOVED's target), or -1 */
    uint64_t refresh_at;
    uint64_t map_changes;
    bool stopped, pumping;
    creq_t *waiting; /* routed commands to (re)send */
    uv_timer_t timer;
};

static void node_down(cnode_t *node, const char *why);
static void cluster_pump(eng_cluster_t *cluster);
static void req_send(creq_t *req);

static uint64_t now_ms(const eng_cluster_t *cluster)
{
    return uv_now(cluster->loop);
}

/* Returns the connection of host:port, made (DOWN) when new; -1 when full. */
static int node_get(eng_cluster_t *cluster, const char *host, int port)
{
    if (host[0] == 0) host = cluster->opts.host; /* an unknown endpoint is the seed's host */
    for (int i = 0; i < cluster->nnodes; i++)
        if (cluster->nodes[i].port == port && strcmp(cluster->nodes[i].host, host) == 0) return i;
    if (cluster->nnodes == ENG_LEDGER_MAX_NODES) return -1;
    cnode_t *node = &cluster->nodes[cluster->nnodes];
    memset(node, 0, sizeof *node);
    node->cluster = cluster;
    node->index = cluster->nnodes;
    snprintf(node->host, sizeof node->host, "%s", host);
    node->port = port;
    node->backoff_ms = BACKOFF_MIN_MS;
    node->state = NODE_DOWN;
    return cluster->nnodes++;
}

static void node_sent(cnode_t *node)
{
    if (node->outstanding++ == 0) node->progress_ms = now_ms(node->cluster);
}

static void node_replied(cnode_t *node)
{
    if (node->outstanding > 0) node->outstanding--;
    node->progress_ms = now_ms(node->cluster);
}

static uint64_t node_backoff(cnode_t *node)
{
    uint64_t delay = node->backoff_ms;
    node->retry_at = now_ms(node->cluster) + delay;
    node->backoff_ms =
        node->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : node->backoff_ms * 2;
    return delay;
}

/* ---- the slot map ---- */

static void refresh_due(eng_cluster_t *cluster)
{
    cluster->refresh_wanted = cluster->opts.cluster;
}

static void on_slots(redisAsyncContext *ctx, void *r, void *privdata)
{
    cnode_t *node = privdata;
    eng_cluster_t *cluster = node->cluster;
    (void)ctx;
    if (cluster->stopped) return;
    cluster->refreshing = false;
    if (r == NULL) return;
    node_replied(node);
    if (eng_slotmap_parse(cluster->map, r) != 0 || cluster->map->served == 0) {
        ENG_WARN("redis cluster map unusable", " node=%s:%d", node->host, node->port);
        return;
    }
    int16_t owner[ENG_SLOTS];
    for (int s = 0; s < ENG_SLOTS; s++) {
        int m = cluster->map->owner[s];
        owner[s] = m < 0 ? -1
                         : (int16_t)node_get(cluster, cluster->map->nodes[m].host,
                                             cluster->map->nodes[m].port);
    }
    const int16_t *cur = cluster->next_pending ? cluster->next_owner : cluster->owner;
    if (memcmp(owner, cur, sizeof owner) == 0) return;
    memcpy(cluster->next_owner, owner, sizeof owner);
    cluster->next_pending = true;
    eng_ledger_stall(&cluster->ledger);
    cluster_pump(cluster);
}

/* Sends CLUSTER SLOTS to node, or to any ready node when node is -1. */
static void cluster_refresh(eng_cluster_t *cluster, int prefer)
{
    if (!cluster->opts.cluster || cluster->refreshing || cluster->stopped) return;
    int pick = prefer >= 0 && cluster->nodes[prefer].state == NODE_READY ? prefer : -1;
    for (int i = 0; pick < 0 && i < cluster->nnodes; i++)
        if (cluster->nodes[i].state == NODE_READY) pick = i;
    if (pick < 0) return;
    cnode_t *node = &cluster->nodes[pick];
    if (redisAsyncCommand(node->ctx, on_slots, node, "CLUSTER SLOTS") != REDIS_OK) return;
    node_sent(node);
    cluster->refreshing = true;
    cluster->refresh_wanted = false;
    cluster->refresh_prefer = -1;
    cluster->refresh_at = now_ms(cluster) + REFRESH_MS;
}

/* Applies next_owner once nothing is in flight: the ledger re-splits. */
static void cluster_apply(eng_cluster_t *cluster)
{
    eng_ledger_t *ledger = &cluster->ledger;
    if (!eng_ledger_settled(ledger)) return;
    int needs = eng_ledger_needs(ledger);
    if (!cluster->next_pending && !(needs & ENG_LEDGER_NEED_REBUILD)) return;
    if (cluster->next_pending) {
        memcpy(cluster->owner, cluster->next_owner, sizeof cluster->owner);
        cluster->next_pending = false;
        cluster->map_changes++;
        cluster->served = 0;
        for (int i = 0; i < cluster->nnodes; i++) {
            cluster->nodes[i].master = false;
            cluster->nodes[i].failing = NULL; /* its parts are re-split: a new round */
        }
        for (int s = 0; s < ENG_SLOTS; s++)
            if (cluster->owner[s] >= 0) {
                cluster->served++;
                cluster->nodes[cluster->owner[s]].master = true;
            }
        ENG_INFO("redis cluster map applied", " served=%u nodes=%d changes=%llu", cluster->served,
                 cluster->nnodes, (unsigned long long)cluster->map_changes);
    }
    int16_t fallback = 0;
    for (int i = 0; i < cluster->nnodes; i++)
        if (cluster->nodes[i].master && cluster->nodes[i].state == NODE_READY)
            fallback = (int16_t)i;
    eng_ledger_rebuild(ledger, cluster->owner, fallback);
}

/* ---- batches ---- */

/* Returns what reply r of part says; counts it on node. */
static eng_ledger_result_t part_result(cnode_t *node, eng_ledger_part_t *part, redisReply *r,
                                       int *ask_node)
{
    eng_cluster_t *cluster = node->cluster;
    bool is_wait = part->replies == part->n; /* the replies before it are the commands' */
    if (r == NULL) return ENG_LEDGER_LOST;
    if (is_wait) {
        if (r->type == REDIS_REPLY_INTEGER && r->integer >= cluster->opts.wait_replicas)
            return ENG_LEDGER_OK;
        node->failing = "redis replicas behind";
        if (node->stats.errors++ % 1000 != 0) return ENG_LEDGER_ERROR; /* logged already */
        if (r->type == REDIS_REPLY_INTEGER)
            ENG_WARN("redis replicas behind", " node=%s:%d acked=%lld wanted=%d", node->host,
                     node->port, r->integer, cluster->opts.wait_replicas);
        else
            ENG_WARN("redis wait refused", " node=%s:%d error=\"%.*s\"", node->host, node->port,
                     r->type == REDIS_REPLY_ERROR ? (int)r->len : 0, r->str ? r->str : "");
        return ENG_LEDGER_ERROR;
    }
    if (r->type != REDIS_REPLY_ERROR) return ENG_LEDGER_OK;
    node->stats.errors++;
    eng_redirect_t red;
    if (eng_cluster_redirect_parse(r->str, r->len, &red) != 0) red.kind = ENG_REDIRECT_NONE;
    switch (red.kind) {
    case ENG_REDIRECT_MOVED:
    case ENG_REDIRECT_ASK: {
        node->stats.redirects++;
        int target = node_get(cluster, red.host[0] ? red.host : node->host, red.port);
        if (target < 0) return ENG_LEDGER_ERROR;
        eng_ledger_stall(&cluster->ledger);
        if (red.kind == ENG_REDIRECT_ASK) {
            *ask_node = target;
            return ENG_LEDGER_ASK;
        }
        if (!cluster->next_pending)
            memcpy(cluster->next_owner, cluster->owner, sizeof cluster->owner);
        cluster->next_owner[red.slot] = (int16_t)target;
        cluster->next_pending = true;
        refresh_due(cluster);
        cluster->refresh_prefer = target; /* it knows it owns the slot */
        return ENG_LEDGER_MOVED;
    }
    case ENG_REDIRECT_CLUSTERDOWN:
        refresh_due(cluster);
        /* fallthrough */
    default:
        node->failing = "redis refusing writes"; /* until one of its parts succeeds */
        if (node->stats.errors % 1000 == 1)
            ENG_WARN("redis error reply", " node=%s:%d error=\"%.*s\"", node->host, node->port,
                     (int)(r->len > 200 ? 200 : r->len), r->str);
        return ENG_LEDGER_ERROR;
    }
}

/* Acks the batches at the head of the ledger, in order. */
static void cluster_settle(eng_cluster_t *cluster)
{
    eng_batch_t *batch;
    while ((batch = eng_ledger_pop(&cluster->ledger)) != NULL)
        cluster->on_ack(cluster->arg, batch);
}

static void on_part_reply(redisAsyncContext *ctx, void *r, void *privdata)
{
    cnode_t *node = ctx->data;
    eng_ledger_part_t *part = privdata;
    if (node == NULL || node->cluster->stopped) return;
    eng_cluster_t *cluster = node->cluster;
    if (r != NULL) node_replied(node);
    int ask_node = -1;
    eng_ledger_result_t result = part_result(node, part, r, &ask_node);
    eng_ledger_reply(&cluster->ledger, part, result, ask_node);
    if (part->state == ENG_PART_DONE) {
        node->stats.writes += part->n;
        node->stats.parts++;
        node->stats.rtt_ms_sum += now_ms(cluster) - part->sent_ms;
        node->backoff_ms = BACKOFF_MIN_MS;
        node->failing = NULL;
    }
    if (result != ENG_LEDGER_OK && result != ENG_LEDGER_LOST &&
        eng_ledger_node_idle(&cluster->ledger, node->index))
        node_backoff(node);
    cluster_settle(cluster);
    cluster_pump(cluster);
}

/* Sends part on node's connection: its commands (ASKING before those that
 * need it) and its WAIT. A failed send takes the connection down; the
 * commands not queued count as lost. */
static void part_send(cnode_t *node, eng_ledger_part_t *part)
{
    eng_cluster_t *cluster = node->cluster;
    uint32_t due = part->n + (cluster->opts.wait_replicas > 0 ? 1u : 0u), queued = 0;
    int rc = REDIS_OK;
    part->sent_ms = now_ms(cluster);
    for (uint32_t i = 0; i < part->n && rc == REDIS_OK; i++) {
        const char *cmd;
        bool asking;
        size_t len = eng_ledger_part_cmd(part, i, &cmd, &asking);
        if (asking) rc = redisAsyncCommand(node->ctx, NULL, NULL, "ASKING");
        if (rc == REDIS_OK)
            rc = redisAsyncFormattedCommand(node->ctx, on_part_reply, part, cmd, len);
        if (rc == REDIS_OK) queued++, node_sent(node);
    }
    if (rc == REDIS_OK && due > part->n) {
        rc = redisAsyncCommand(node->ctx, on_part_reply, part, "WAIT %d %d",
                               cluster->opts.wait_replicas, cluster->opts.wait_timeout_ms);
        if (rc == REDIS_OK) queued++, node_sent(node);
    }
    if (rc == REDIS_OK) return;
    node->stats.errors++;
    for (uint32_t i = queued; i < due; i++)
        eng_ledger_reply(&cluster->ledger, part, ENG_LEDGER_LOST, -1);
    node_down(node, "send failed");
}

/* Sends what each ready node may send; applies a pending map change once
 * nothing is in flight; resends a failed node's parts after its backoff. */
static void cluster_pump(eng_cluster_t *cluster)
{
    if (cluster->pumping || cluster->stopped) return;
    cluster->pumping = true;
    eng_ledger_t *ledger = &cluster->ledger;
    cluster_apply(cluster);
    uint64_t now = now_ms(cluster);
    /* before the first map every command would be redirected: wait for it */
    for (int i = 0; cluster->served > 0 && i < cluster->nnodes; i++) {
        cnode_t *node = &cluster->nodes[i];
        /* a context hiredis is tearing down (EOF being handled) takes no command */
        if (node->state != NODE_READY ||
            (node->ctx->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)))
            continue;
        if (eng_ledger_node_failed(ledger, i) && eng_ledger_node_idle(ledger, i) &&
            now >= node->retry_at)
            eng_ledger_node_retry(ledger, i);
        eng_ledger_part_t *part;
        while (node->state == NODE_READY && (part = eng_ledger_next(ledger, i)) != NULL)
            part_send(node, part);
    }
    cluster->pumping = false;
    cluster_settle(cluster); /* batches without commands */
}

/* ---- connections ---- */

static void node_set_state(cnode_t *node, enum node_state state)
{
    node->state = state;
    node->since = now_ms(node->cluster);
}

/* Drops node's connection (its pending callbacks run with NULL: the ledger
 * counts them lost) and schedules a reconnect and a map refresh. */
static void node_down(cnode_t *node, const char *why)
{
    redisAsyncContext *ctx = node->ctx;
    eng_cluster_t *cluster = node->cluster;
    node->ctx = NULL;
    node->outstanding = 0;
    node->ping_sent = false;
    if (node->state != NODE_DOWN || ctx != NULL)
        ENG_WARN("redis node down", " node=%s:%d reason=\"%s\" retry_in_ms=%llu", node->host,
                 node->port, why, (unsigned long long)node_backoff(node));
    node_set_state(node, NODE_DOWN);
    refresh_due(cluster);
    /* its callbacks run with NULL replies; ctx->data still names the node,
     * so that the ledger counts the lost replies */
    if (ctx != NULL) redisAsyncFree(ctx);
}

static void on_socket_error(redisAsyncContext *ac)
{
    cnode_t *node = ac->data;
    if (node != NULL && node->ctx == ac)
        node_down(node, "socket error");
    else
        redisAsyncFree(ac);
}

static void on_ping_reply(redisAsyncContext *ctx, void *r, void *privdata)
{
    cnode_t *node = privdata;
    (void)ctx;
    if (r == NULL || node->cluster->stopped) return;
    node->ping_sent = false;
    node_replied(node);
}

static void on_setup_reply(redisAsyncContext *ctx, void *r, void *privdata)
{
    cnode_t *node = privdata;
    redisReply *reply = r;
    eng_cluster_t *cluster = node->cluster;
    if (reply == NULL || cluster->stopped || ctx != node->ctx) return;
    node_replied(node);
    if (reply->type == REDIS_REPLY_ERROR) {
        ENG_ERROR("redis setup failed", " node=%s:%d error=\"%s\"", node->host, node->port,
                  reply->str);
        node_down(node, "auth or select refused");
        return;
    }
    if (--node->setup_due > 0) return;
    node_set_state(node, NODE_READY);
    if (node->ever_ready) node->stats.reconnects++;
    node->ever_ready = true;
    ENG_INFO("redis node connected", " node=%s:%d", node->host, node->port);
    if (cluster->opts.cluster && (cluster->served == 0 || cluster->refresh_wanted))
        cluster_refresh(cluster, node->index);
    cluster_pump(cluster);
}

static void on_connect(const redisAsyncContext *c, int status)
{
    redisAsyncContext *ctx = (redisAsyncContext *)c;
    cnode_t *node = ctx->data;
    if (node == NULL || ctx != node->ctx) return;
    if (status != REDIS_OK) {
        node->ctx = NULL; /* hiredis frees it after a failed connect */
        ctx->data = NULL;
        node_down(node, ctx->errstr);
        return;
    }
    eng_cluster_t *cluster = node->cluster;
    node->setup_due = 0;
    if (cluster->opts.password != NULL && cluster->opts.password[0] != 0) {
        redisAsyncCommand(ctx, on_setup_reply, node, "AUTH %s", cluster->opts.password);
        node->setup_due++, node_sent(node);
    }
    if (cluster->opts.cluster)
        redisAsyncCommand(ctx, on_setup_reply, node, "PING");
    else
        redisAsyncCommand(ctx, on_setup_reply, node, "SELECT %d", cluster->opts.db);
    node->setup_due++, node_sent(node);
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
    redisAsyncContext *ctx = (redisAsyncContext *)c;
    cnode_t *node = ctx->data;
    (void)status;
    if (node == NULL || ctx != node->ctx) return;
    node->ctx = NULL; /* hiredis frees it after this callback */
    node_down(node, ctx->errstr[0] ? ctx->errstr : "connection closed");
}

static void node_connect(cnode_t *node)
{
    redisAsyncContext *ctx = redisAsyncConnect(node->host, node->port);
    if (ctx == NULL) ENG_OOM();
    if (ctx->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ctx->errstr);
        redisAsyncFree(ctx);
        node_down(node, why);
        return;
    }
    ctx->data = node;
    if (eng_redis_uv_attach(ctx, node->cluster->loop, on_socket_error) != 0) {
        redisAsyncFree(ctx);
        node_down(node, "cannot poll the socket");
        return;
    }
    redisAsyncSetConnectCallback(ctx, on_connect);
    redisAsyncSetDisconnectCallback(ctx, on_disconnect);
    node->ctx = ctx;
    node_set_state(node, NODE_CONNECTING);
}

/* Returns true when node has work: it serves slots, or batches wait on it. */
static bool node_wanted(const eng_cluster_t *cluster, const cnode_t *node)
{
    if (node->master || node->index == 0 || cluster->served == 0) return true;
    return eng_ledger_node_failed(&cluster->ledger, node->index);
}

static void node_watch(cnode_t *node, uint64_t now)
{
    eng_cluster_t *cluster = node->cluster;
    switch (node->state) {
    case NODE_DOWN:
        if (now >= node->retry_at && node_wanted(cluster, node)) node_connect(node);
        break;
    case NODE_CONNECTING:
        if (now - node->since > ENG_CLUSTER_CONNECT_TIMEOUT_MS) {
            node->stats.timeouts++;
            node_down(node, "connect timed out");
        }
        break;
    case NODE_READY:
        /* a WAIT may rightly take its whole timeout to answer */
        if (node->outstanding > 0 &&
            now - node->progress_ms >
                ENG_CLUSTER_REPLY_TIMEOUT_MS + (uint64_t)cluster->opts.wait_timeout_ms) {
            node->stats.timeouts++;
            node_down(node, "replies timed out");
        } else if (node->outstanding == 0 && now - node->progress_ms > IDLE_PING_MS &&
                   redisAsyncCommand(node->ctx, on_ping_reply, node, "PING") == REDIS_OK) {
            node->ping_sent = true;
            node_sent(node);
        }
        break;
    }
}

/* ---- routed commands ---- */

static void req_done(creq_t *req, redisReply *reply)
{
    req->cb(req->privdata, reply);
    free(req->cmd);
    free(req);
}

static void req_wait(creq_t *req, uint64_t delay_ms)
{
    eng_cluster_t *cluster = req->cluster;
    req->retry_at = now_ms(cluster) + delay_ms;
    req->next = cluster->waiting;
    cluster->waiting = req;
}

static void on_req_reply(redisAsyncContext *ctx, void *r, void *privdata)
{
    creq_t *req = privdata;
    cnode_t *node = ctx->data;
    redisReply *reply = r;
    eng_cluster_t *cluster = req->cluster;
    if (cluster->stopped || reply == NULL) {
        req_done(req, NULL);
        return;
    }
    node_replied(node);
    eng_redirect_t red = {.kind = ENG_REDIRECT_NONE};
    if (reply->type == REDIS_REPLY_ERROR && cluster->opts.cluster &&
        eng_cluster_redirect_parse(reply->str, reply->len, &red) != 0)
        red.kind = ENG_REDIRECT_NONE;
    if (red.kind == ENG_REDIRECT_NONE || req->redirects >= ENG_CLUSTER_MAX_REDIRECTS) {
        req_done(req, reply);
        return;
    }
    req->redirects++;
    req->ask = -1;
    if (red.kind == ENG_REDIRECT_MOVED || red.kind == ENG_REDIRECT_ASK) {
        node->stats.redirects++;
        int target = node_get(cluster, red.host[0] ? red.host : node->host, red.port);
        if (red.kind == ENG_REDIRECT_ASK) req->ask = target;
        if (red.kind == ENG_REDIRECT_MOVED) {
            refresh_due(cluster);
            cluster->refresh_prefer = target;
            if (target >= 0) req->ask = -2 - target; /* this once to the new owner, no ASKING */
        }
        req_wait(req, 0);
    } else {
        if (red.kind == ENG_REDIRECT_CLUSTERDOWN) refresh_due(cluster);
        req_wait(req, (uint64_t)BACKOFF_MIN_MS << (req->redirects > 5 ? 5 : req->redirects));
    }
}

/* Returns the node for req now, or -1 when none is ready. */
static int req_node(const creq_t *req)
{
    const eng_cluster_t *cluster = req->cluster;
    int n = req->ask >= 0 ? req->ask : req->ask <= -2 ? -2 - req->ask : -1;
    if (n < 0 && req->slot >= 0) n = cluster->owner[req->slot];
    if (n < 0)
        for (int i = 0; i < cluster->nnodes && n < 0; i++)
            if (cluster->nodes[i].state == NODE_READY && (cluster->nodes[i].master || i == 0))
                n = i;
    return n >= 0 && cluster->nodes[n].state == NODE_READY ? n : -1;
}

static void req_send(creq_t *req)
{
    int n = req_node(req);
    if (n < 0) {
        req_wait(req, BACKOFF_MIN_MS);
        return;
    }
    cnode_t *node = &req->cluster->nodes[n];
    if (req->ask >= 0 && redisAsyncCommand(node->ctx, NULL, NULL, "ASKING") != REDIS_OK) {
        req_wait(req, BACKOFF_MIN_MS);
        return;
    }
    if (redisAsyncFormattedCommand(node->ctx, on_req_reply, req, req->cmd, req->len) != REDIS_OK) {
        req_wait(req, BACKOFF_MIN_MS);
        return;
    }
    node_sent(node);
}

/* Sends the waiting routed commands that are due. */
static void cluster_resend(eng_cluster_t *cluster, uint64_t now)
{
    creq_t *list = cluster->waiting, *later = NULL;
    cluster->waiting = NULL;
    while (list != NULL) {
        creq_t *req = list;
        list = req->next;
        if (now - req->created_ms > 2 * ENG_CLUSTER_REPLY_TIMEOUT_MS) {
            req_done(req, NULL); /* no node took it in time */
        } else if (now >= req->retry_at) {
            req_send(req);
        } else {
            req->next = later;
            later = req;
        }
    }
    while (later != NULL) {
        creq_t *req = later;
        later = req->next;
        req->next = cluster->waiting;
        cluster->waiting = req;
    }
}

int eng_cluster_command(eng_cluster_t *cluster, eng_cluster_reply_cb cb, void *privdata, int argc,
                        const char **argv, const size_t *argvlen)
{
    int slot = eng_cluster_argv_slot(argc, argv, argvlen);
    if (slot < ENG_SLOT_ANY || cluster->stopped) return -1;
    char *cmd;
    long long len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0) ENG_OOM();
    creq_t *req = eng_calloc(1, sizeof *req);
    *req = (creq_t){.cluster = cluster,
                    .cb = cb,
                    .privdata = privdata,
                    .cmd = cmd,
                    .len = (size_t)len,
                    .slot = slot,
                    .ask = -1,
                    .created_ms = now_ms(cluster)};
    req_send(req);
    return 0;
}

/* ---- the client ---- */

static void on_timer(uv_timer_t *timer)
{
    eng_cluster_t *cluster = timer->data;
    uint64_t now = now_ms(cluster);
    for (int i = 0; i < cluster->nnodes; i++)
        node_watch(&cluster->nodes[i], now);
    bool degraded = cluster->served < ENG_SLOTS;
    for (int i = 0; i < cluster->nnodes; i++)
        degraded |= cluster->nodes[i].master && cluster->nodes[i].state != NODE_READY;
    if (cluster->refresh_wanted || (degraded && now >= cluster->refresh_at))
        cluster_refresh(cluster, cluster->refresh_prefer);
    cluster_resend(cluster, now);
    cluster_pump(cluster);
}

/* Adds the nodes of a seed list; until the first map every node connects,
 * so whichever answers first gives it. */
static void cluster_add_seeds(eng_cluster_t *cluster, const char *seeds)
{
    char host[ENG_SLOT_HOST_MAX + 1];
    int port, rc;
    const char *cur = seeds ? seeds : "";
    cluster->opts.seeds = NULL; /* not kept */
    while ((rc = eng_cluster_seed_next(&cur, host, &port)) != 0) {
        if (rc < 0) {
            ENG_WARN("redis seed list unreadable", " rest=\"%s\"", cur);
            return;
        }
        node_get(cluster, host, port);
    }
}

eng_cluster_t *eng_cluster_new(uv_loop_t *loop, const eng_cluster_opts_t *opts,
                               eng_cluster_ack_cb on_ack, void *arg)
{
    eng_cluster_t *cluster = eng_calloc(1, sizeof *cluster);
    cluster->loop = loop;
    cluster->opts = *opts;
    cluster->opts.host = eng_strdup(opts->host);
    cluster->opts.password = eng_strdup(opts->password ? opts->password : "");
    cluster->on_ack = on_ack;
    cluster->arg = arg;
    cluster->map = eng_calloc(1, sizeof *cluster->map);
    cluster->refresh_prefer = -1;
    eng_ledger_init(&cluster->ledger, opts->wait_replicas > 0);
    node_get(cluster, cluster->opts.host, opts->port); /* node 0: the seed */
    cluster_add_seeds(cluster, opts->cluster ? opts->seeds : NULL);
    /* one Redis serves every slot; a cluster's slots are unserved until its map is read */
    for (int s = 0; s < ENG_SLOTS; s++)
        cluster->owner[s] = opts->cluster ? -1 : 0;
    cluster->served = opts->cluster ? 0 : ENG_SLOTS;
    cluster->nodes[0].master = !opts->cluster;
    uv_timer_init(loop, &cluster->timer);
    cluster->timer.data = cluster;
    return cluster;
}

int eng_cluster_start(eng_cluster_t *cluster)
{
    node_connect(&cluster->nodes[0]);
    uv_timer_start(&cluster->timer, on_timer, WATCHDOG_MS, WATCHDOG_MS);
    return 0;
}

void eng_cluster_stop(eng_cluster_t *cluster)
{
    cluster->stopped = true;
    uv_timer_stop(&cluster->timer);
    for (int i = 0; i < cluster->nnodes; i++) {
        redisAsyncContext *ctx = cluster->nodes[i].ctx;
        cluster->nodes[i].ctx = NULL;
        if (ctx != NULL) redisAsyncFree(ctx);
    }
    eng_ledger_clear(&cluster->ledger);
    while (cluster->waiting != NULL) {
        creq_t *req = cluster->waiting;
        cluster->waiting = req->next;
        req_done(req, NULL);
    }
}

static void on_timer_closed(uv_handle_t *handle)
{
    eng_cluster_t *cluster = handle->data;
    eng_ledger_close(&cluster->ledger);
    free((char *)cluster->opts.host);
    free((char *)cluster->opts.password);
    free(cluster->map);
    free(cluster);
}

void eng_cluster_free(eng_cluster_t *cluster)
{
    uv_close((uv_handle_t *)&cluster->timer, on_timer_closed);
}

bool eng_cluster_busy(const eng_cluster_t *cluster)
{
    return eng_ledger_full(&cluster->ledger);
}

size_t eng_cluster_queued(const eng_cluster_t *cluster)
{
    return eng_ledger_count(&cluster->ledger);
}

void eng_cluster_send(eng_cluster_t *cluster, eng_batch_t *batch)
{
    int16_t fallback = 0;
    batch->attempts = batch->replies = batch->errors = 0;
    batch->sent_ms = now_ms(cluster);
    for (int i = 0; i < cluster->nnodes; i++)
        if (cluster->nodes[i].master && cluster->nodes[i].state == NODE_READY)
            fallback = (int16_t)i;
    eng_ledger_add(&cluster->ledger, batch, cluster->owner, fallback);
    cluster_pump(cluster);
}

const char *eng_cluster_not_ready(const eng_cluster_t *cluster)
{
    if (cluster->stopped) return "redis connection closed";
    if (cluster->nodes[0].state != NODE_READY && cluster->served == 0) return "redis not connected";
    if (cluster->served < ENG_SLOTS) return "redis cluster slots unserved";
    for (int i = 0; i < cluster->nnodes; i++) {
        const cnode_t *node = &cluster->nodes[i];
        if (node->master && node->state != NODE_READY) return "redis node not connected";
        if (node->failing != NULL) return node->failing;
    }
    return NULL;
}

int eng_cluster_nodes(const eng_cluster_t *cluster)
{
    return cluster->nnodes;
}

const eng_cluster_node_stats_t *eng_cluster_node(const eng_cluster_t *cluster, int i,
                                                 const char **host, int *port, bool *master)
{
    *host = cluster->nodes[i].host;
    *port = cluster->nodes[i].port;
    *master = cluster->nodes[i].master;
    return &cluster->nodes[i].stats;
}

uint64_t eng_cluster_map_changes(const eng_cluster_t *cluster)
{
    return cluster->map_changes;
}

int eng_cluster_slot_node(const eng_cluster_t *cluster, int slot)
{
    return slot >= 0 && slot < ENG_SLOTS ? cluster->owner[slot] : -1;
}
