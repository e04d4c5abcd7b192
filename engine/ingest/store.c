/* store.c - Redis write connection with watchdog and reconnect; see store.h.
 *
 * States: DOWN (waiting for the reconnect timer) -> CONNECTING (TCP connect,
 * then AUTH/SELECT) -> READY. Any failure goes back to DOWN with a backoff of
 * 100 ms doubling to 5 s. The batches in flight survive all of it and are
 * sent again, in order, once READY.
 *
 * Up to STORE_QUEUE batches are in flight on the one connection, so that Redis
 * works on one while the loop reads the replies of the other and builds the
 * next. Redis answers in order, so batches complete in order and are acked in
 * order (the offsets they carry are stored in order). When a batch gets error
 * replies, nothing more is acked: once every sent batch has answered, the
 * whole queue is resent from its oldest batch after the backoff, so that a
 * later batch's writes land after an earlier one's again. */
#include "engine/ingest/store.h"

#include "engine/base/log.h"
#include "engine/redis/redis_auth.h"
#include "engine/redis/redis_uv.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

enum store_state { STORE_DOWN, STORE_CONNECTING, STORE_READY, STORE_STOPPED };

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define WATCHDOG_MS 250
#define IDLE_PING_MS 1000 /* an idle connection is PINGed this often */
#define STORE_QUEUE 2     /* batches in flight */

struct eng_store_s {
    uv_loop_t *loop;
    const cfg_t *cfg;
    eng_store_ack_cb on_ack;
    eng_store_ready_cb on_ready;
    void *arg;
    redisAsyncContext *ctx;
    enum store_state state;
    uint64_t state_since; /* loop ms when the state began */
    uint64_t backoff_ms;
    uint64_t retry_at; /* loop ms of the next connect or resend */
    bool ever_ready;
    eng_batch_t *queue[STORE_QUEUE]; /* in flight, oldest first */
    size_t nqueue;
    size_t nsent;           /* queue[0..nsent) sent on the current connection */
    bool retry;             /* error replies: resend the queue at retry_at */
    bool settling;          /* inside store_settle (acks may queue batches) */
    uint32_t setup_replies; /* AUTH/SELECT replies still due */
    uint64_t outstanding;   /* commands sent on this connection, not yet answered */
    uint64_t progress_ms;   /* loop ms of the last reply, or of the first send while idle */
    bool ping_sent;         /* the idle-connection PING awaits its reply */
    uv_timer_t timer;
    eng_store_stats_t stats;
    void (*rtt_cb)(void *arg, double seconds);
    void *rtt_arg;
};

void eng_store_set_rtt_cb(eng_store_t *store, void (*cb)(void *arg, double seconds), void *arg)
{
    store->rtt_cb = cb;
    store->rtt_arg = arg;
}

static void store_connect(eng_store_t *store);
static void store_send_pending(eng_store_t *store);

static void store_down(eng_store_t *store, const char *why);

/* A poll error hiredis did not turn into a disconnect (redis_uv.h). */
static void on_socket_error(redisAsyncContext *ac)
{
    eng_store_t *store = ac->data;
    if (store != NULL && store->ctx == ac)
        store_down(store, "socket error");
    else
        redisAsyncFree(ac);
}

static void store_set_state(eng_store_t *store, enum store_state state)
{
    store->state = state;
    store->state_since = uv_now(store->loop);
}

/* Counts a command sent on the current connection (the watchdog's clock
 * starts when it is the only one outstanding). */
static void store_sent(eng_store_t *store)
{
    if (store->outstanding++ == 0) store->progress_ms = uv_now(store->loop);
}

/* Counts a reply on the current connection. */
static void store_replied(eng_store_t *store)
{
    if (store->outstanding > 0) store->outstanding--;
    store->progress_ms = uv_now(store->loop);
}

/* Sets retry_at one backoff from now and doubles the next backoff (up to
 * BACKOFF_MAX_MS). Returns the delay set. */
static uint64_t store_backoff(eng_store_t *store)
{
    uint64_t delay = store->backoff_ms;
    store->retry_at = uv_now(store->loop) + delay;
    store->backoff_ms *= 2;
    if (store->backoff_ms > BACKOFF_MAX_MS) store->backoff_ms = BACKOFF_MAX_MS;
    return delay;
}

/* Drops the connection (if any) and schedules a reconnect after the backoff. */
static void store_down(eng_store_t *store, const char *why)
{
    redisAsyncContext *ctx = store->ctx;
    if (store->state == STORE_STOPPED) return;
    store->ctx = NULL;
    store_set_state(store, STORE_DOWN);
    store->nsent = 0;
    store->retry = false;
    store->outstanding = 0;
    store->ping_sent = false;
    ENG_WARN("redis down", " reason=\"%s\" retry_in_ms=%llu", why,
             (unsigned long long)store_backoff(store));
    /* Frees the context; its pending callbacks run now with NULL replies and
     * see ctx != store->ctx, so they only count. */
    if (ctx != NULL) redisAsyncFree(ctx);
}

/* Acks the completed batches at the head of the queue, in order. After error
 * replies, waits until every sent batch has answered, then schedules the
 * resend of the whole queue. */
static void store_settle(eng_store_t *store)
{
    store->settling = true;
    while (store->nqueue > 0 && !store->retry) {
        eng_batch_t *batch = store->queue[0];
        bool sent = store->nsent > 0;
        if (!(sent || batch->ncmds == 0) || batch->replies != batch->ncmds) break;
        if (batch->errors != 0) {
            ENG_WARN("redis write failed", " commands=%u errors=%u attempt=%u", batch->ncmds,
                     batch->errors, batch->attempts);
            store->retry = true;
            break;
        }
        memmove(store->queue, store->queue + 1, --store->nqueue * sizeof store->queue[0]);
        if (sent) store->nsent--;
        store->stats.writes += batch->ncmds;
        store->backoff_ms = BACKOFF_MIN_MS;
        store->on_ack(store->arg, batch); /* may queue and send the next batch */
    }
    store->settling = false;
    if (!store->retry || store->nsent == 0) return;
    for (size_t i = 0; i < store->nsent; i++)
        if (store->queue[i]->replies != store->queue[i]->ncmds) return;
    store->nsent = 0;
    store_backoff(store);
}

/* Returns true when batch is one of the queue's batches sent on this connection. */
static bool store_sent_batch(const eng_store_t *store, const eng_batch_t *batch)
{
    for (size_t i = 0; i < store->nsent; i++)
        if (store->queue[i] == batch) return true;
    return false;
}

static void on_batch_reply(redisAsyncContext *ctx, void *r, void *privdata)
{
    eng_store_t *store = ctx->data;
    redisReply *reply = r;
    eng_batch_t *batch = privdata;
    if (store == NULL || ctx != store->ctx) return;
    if (reply == NULL) return; /* the connection is going away: resent later */
    store_replied(store);
    if (!store_sent_batch(store, batch)) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        if (batch->errors == 0)
            ENG_WARN("redis error reply", " error=\"%.*s\"",
                     (int)(reply->len > 200 ? 200 : reply->len), reply->str);
        batch->errors++;
        store->stats.errors++;
    }
    if (++batch->replies == batch->ncmds) {
        if (store->rtt_cb)
            store->rtt_cb(store->rtt_arg, (double)(uv_hrtime() - batch->sent_ns) / 1e9);
        store_settle(store);
    }
}

/* Sends the next unsent batch of the queue. Returns 0, or -1 when the
 * connection failed (it is then down). */
static int store_send_next(eng_store_t *store)
{
    eng_batch_t *batch = store->queue[store->nsent];
    batch->replies = 0;
    batch->errors = 0;
    batch->attempts++;
    batch->sent_ms = uv_now(store->loop);
    batch->sent_ns = uv_hrtime();
    for (uint32_t i = 0; i < batch->ncmds; i++) {
        const char *cmd;
        size_t len = eng_batch_get_cmd(batch, i, &cmd);
        if (redisAsyncFormattedCommand(store->ctx, on_batch_reply, batch, cmd, len) != REDIS_OK) {
            store->stats.errors++;
            store_down(store, "send failed");
            return -1;
        }
        store_sent(store);
    }
    store->nsent++;
    return 0;
}

/* Sends what is queued and not yet sent, while the connection is ready. */
static void store_send_pending(eng_store_t *store)
{
    while (store->state == STORE_READY && !store->retry && store->nsent < store->nqueue)
        if (store_send_next(store) != 0) return;
    if (!store->settling) store_settle(store); /* batches without commands */
}

static void on_ping_reply(redisAsyncContext *ctx, void *r, void *privdata)
{
    eng_store_t *store = ctx->data;
    (void)privdata;
    if (store == NULL || ctx != store->ctx || r == NULL) return;
    store->ping_sent = false;
    store_replied(store);
}

/* PINGs an idle connection, so that a server that stopped answering (SIGSTOP,
 * a dead host) is noticed by the watchdog and /readyz before a write needs it. */
static void store_ping(eng_store_t *store)
{
    if (redisAsyncCommand(store->ctx, on_ping_reply, NULL, "PING") != REDIS_OK) {
        store->stats.errors++;
        store_down(store, "send failed");
        return;
    }
    store->ping_sent = true;
    store_sent(store);
}

static void on_setup_reply(redisAsyncContext *ctx, void *r, void *privdata)
{
    eng_store_t *store = ctx->data;
    redisReply *reply = r;
    (void)privdata;
    if (store == NULL || ctx != store->ctx || reply == NULL) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        ENG_ERROR("redis setup failed", " error=\"%s\"", reply->str);
        store_down(store, "auth or select refused");
        return;
    }
    if (--store->setup_replies > 0) return;
    store_set_state(store, STORE_READY);
    store->progress_ms = uv_now(store->loop);
    if (store->ever_ready) store->stats.reconnects++;
    store->ever_ready = true;
    ENG_INFO("redis connected", " host=%s port=%lld", store->cfg->redis_host,
             (long long)store->cfg->redis_port);
    if (store->on_ready) store->on_ready(store->arg);
    store_send_pending(store);
}

static void on_connect(const redisAsyncContext *c, int status)
{
    redisAsyncContext *ctx = (redisAsyncContext *)c;
    eng_store_t *store = ctx->data;
    if (store == NULL || ctx != store->ctx) return;
    if (status != REDIS_OK) {
        /* hiredis frees the context itself after a failed connect. */
        store->ctx = NULL;
        ctx->data = NULL;
        store_down(store, ctx->errstr);
        return;
    }
    store->setup_replies = 1;
    store->setup_replies += (uint32_t)eng_redis_auth_async(ctx, store->cfg, on_setup_reply, NULL);
    redisAsyncCommand(ctx, on_setup_reply, NULL, "SELECT %lld", (long long)store->cfg->redis_db);
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
    redisAsyncContext *ctx = (redisAsyncContext *)c;
    eng_store_t *store = ctx->data;
    (void)status;
    if (store == NULL || ctx != store->ctx) return;
    /* hiredis frees the context after this callback. */
    store->ctx = NULL;
    store_down(store, ctx->errstr[0] ? ctx->errstr : "connection closed");
}

static void store_connect(eng_store_t *store)
{
    redisAsyncContext *ctx = redisAsyncConnect(store->cfg->redis_host, (int)store->cfg->redis_port);
    if (ctx == NULL) ENG_OOM();
    if (ctx->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ctx->errstr);
        redisAsyncFree(ctx);
        store_down(store, why);
        return;
    }
    ctx->data = store;
    if (eng_redis_uv_attach(ctx, store->loop, on_socket_error) != 0) {
        redisAsyncFree(ctx);
        store_down(store, "cannot poll the socket");
        return;
    }
    redisAsyncSetConnectCallback(ctx, on_connect);
    redisAsyncSetDisconnectCallback(ctx, on_disconnect);
    store->ctx = ctx;
    store_set_state(store, STORE_CONNECTING);
}

/* The watchdog: connects when due, resends after error backoff, closes a
 * connection whose connect is late or that has not answered anything for
 * ENG_STORE_REPLY_TIMEOUT_MS while commands are outstanding (a slow but
 * progressing pipeline, e.g. a large restore, is not cut), and PINGs an idle
 * one. */
static void on_timer(uv_timer_t *timer)
{
    eng_store_t *store = timer->data;
    uint64_t now = uv_now(store->loop);
    switch (store->state) {
    case STORE_DOWN:
        if (now >= store->retry_at) store_connect(store);
        break;
    case STORE_CONNECTING:
        if (now - store->state_since > ENG_STORE_CONNECT_TIMEOUT_MS) {
            store->stats.timeouts++;
            store_down(store, "connect timed out");
        }
        break;
    case STORE_READY:
        if (store->outstanding > 0 && now - store->progress_ms > ENG_STORE_REPLY_TIMEOUT_MS) {
            store->stats.timeouts++;
            store_down(store, store->ping_sent && store->nsent == 0 ? "ping timed out"
                                                                    : "replies timed out");
        } else if (store->retry && store->nsent == 0 && now >= store->retry_at) {
            store->retry = false;
            store_send_pending(store);
        } else if (store->outstanding == 0 && now - store->progress_ms > IDLE_PING_MS) {
            store_ping(store);
        }
        break;
    case STORE_STOPPED:
        break;
    }
}

eng_store_t *eng_store_new(uv_loop_t *loop, const cfg_t *cfg, eng_store_ack_cb on_ack,
                           eng_store_ready_cb on_ready, void *arg)
{
    eng_store_t *store = eng_calloc(1, sizeof *store);
    store->loop = loop;
    store->cfg = cfg;
    store->on_ack = on_ack;
    store->on_ready = on_ready;
    store->arg = arg;
    store->backoff_ms = BACKOFF_MIN_MS;
    store->state = STORE_DOWN;
    uv_timer_init(loop, &store->timer);
    store->timer.data = store;
    return store;
}

int eng_store_start(eng_store_t *store)
{
    store_connect(store);
    uv_timer_start(&store->timer, on_timer, WATCHDOG_MS, WATCHDOG_MS);
    return 0;
}

static void on_timer_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void eng_store_stop(eng_store_t *store)
{
    redisAsyncContext *ctx = store->ctx;
    store->state = STORE_STOPPED;
    store->ctx = NULL;
    store->nqueue = store->nsent = 0;
    uv_timer_stop(&store->timer);
    if (ctx != NULL) redisAsyncFree(ctx);
}

void eng_store_free(eng_store_t *store)
{
    uv_close((uv_handle_t *)&store->timer, on_timer_closed);
}

bool eng_store_busy(const eng_store_t *store)
{
    return store->nqueue == STORE_QUEUE;
}

size_t eng_store_queued(const eng_store_t *store)
{
    return store->nqueue;
}

bool eng_store_connected(const eng_store_t *store)
{
    return store->state == STORE_READY;
}

const eng_store_stats_t *eng_store_stats(const eng_store_t *store)
{
    return &store->stats;
}

void eng_store_send(eng_store_t *store, eng_batch_t *batch)
{
    if (store->nqueue == STORE_QUEUE) abort();
    batch->attempts = 0;
    batch->replies = 0;
    batch->errors = 0;
    store->queue[store->nqueue++] = batch;
    store_send_pending(store);
}

/* A read's callback, wrapped so that its reply counts as progress. */
typedef struct store_read_s {
    redisCallbackFn *cb;
    void *privdata;
} store_read_t;

static void on_read_reply(redisAsyncContext *ctx, void *r, void *privdata)
{
    store_read_t *rd = privdata;
    eng_store_t *store = ctx->data;
    if (store != NULL && ctx == store->ctx && r != NULL) store_replied(store);
    rd->cb(ctx, r, rd->privdata);
    free(rd);
}

int eng_store_read(eng_store_t *store, redisCallbackFn *cb, void *privdata, int argc,
                   const char **argv, const size_t *argvlen)
{
    if (store->state != STORE_READY) return -1;
    store_read_t *rd = eng_malloc(sizeof *rd);
    rd->cb = cb;
    rd->privdata = privdata;
    if (redisAsyncCommandArgv(store->ctx, on_read_reply, rd, argc, argv, argvlen) != REDIS_OK) {
        free(rd);
        return -1;
    }
    store_sent(store);
    return 0;
}

const char *eng_store_not_ready(const eng_store_t *store)
{
    switch (store->state) {
    case STORE_DOWN:
        return "redis not connected";
    case STORE_CONNECTING:
        return "redis connecting";
    case STORE_STOPPED:
        return "redis connection closed";
    case STORE_READY:
        break;
    }
    if (store->retry) return "redis refusing writes";
    if (store->outstanding > 0 && uv_now(store->loop) - store->progress_ms > ENG_STORE_SLOW_MS)
        return "redis not answering";
    return NULL;
}
