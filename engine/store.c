/* store.c - Redis write connection with watchdog and reconnect; see store.h.
 *
 * States: DOWN (waiting for the reconnect timer) -> CONNECTING (TCP connect,
 * then AUTH/SELECT) -> READY. Any failure goes back to DOWN with a backoff of
 * 100 ms doubling to 5 s. The batch in flight survives all of it and is sent
 * again once READY. */
#include "engine/store.h"

#include "engine/log.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

enum store_state { STORE_DOWN, STORE_CONNECTING, STORE_READY, STORE_STOPPED };

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define WATCHDOG_MS 250

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
    uint64_t retry_at;  /* loop ms of the next connect or resend */
    bool ever_ready;
    eng_batch_t *inflight;
    bool inflight_sent;    /* sent on the current connection */
    bool inflight_retry;   /* error replies: resend at retry_at */
    uint32_t setup_replies; /* AUTH/SELECT replies still due */
    uv_timer_t timer;
    eng_store_stats_t stats;
};

static void store_connect(eng_store_t *store);
static void store_send_inflight(eng_store_t *store);

static void store_set_state(eng_store_t *store, enum store_state state)
{
    store->state = state;
    store->state_since = uv_now(store->loop);
}

/* Drops the connection (if any) and schedules a reconnect after the backoff. */
static void store_down(eng_store_t *store, const char *why)
{
    redisAsyncContext *ctx = store->ctx;
    if (store->state == STORE_STOPPED) return;
    store->ctx = NULL;
    store_set_state(store, STORE_DOWN);
    store->inflight_sent = false;
    store->retry_at = uv_now(store->loop) + store->backoff_ms;
    ENG_WARN("redis down", " reason=\"%s\" retry_in_ms=%llu", why,
             (unsigned long long)store->backoff_ms);
    store->backoff_ms *= 2;
    if (store->backoff_ms > BACKOFF_MAX_MS) store->backoff_ms = BACKOFF_MAX_MS;
    /* Frees the context; its pending callbacks run now with NULL replies and
     * see ctx != store->ctx, so they only count. */
    if (ctx != NULL) redisAsyncFree(ctx);
}

static void store_batch_done(eng_store_t *store)
{
    eng_batch_t *batch = store->inflight;
    if (batch->errors == 0) {
        store->stats.writes += batch->ncmds;
        store->inflight = NULL;
        store->backoff_ms = BACKOFF_MIN_MS;
        store->on_ack(store->arg, batch);
        return;
    }
    ENG_WARN("redis write failed", " commands=%u errors=%u attempt=%u", batch->ncmds,
             batch->errors, batch->attempts);
    store->inflight_sent = false;
    store->inflight_retry = true;
    store->retry_at = uv_now(store->loop) + store->backoff_ms;
    store->backoff_ms *= 2;
    if (store->backoff_ms > BACKOFF_MAX_MS) store->backoff_ms = BACKOFF_MAX_MS;
}

static void on_batch_reply(redisAsyncContext *ctx, void *r, void *privdata)
{
    eng_store_t *store = ctx->data;
    redisReply *reply = r;
    eng_batch_t *batch = privdata;
    if (store == NULL || batch != store->inflight || ctx != store->ctx) return;
    if (reply == NULL) return; /* the connection is going away: resent later */
    if (reply->type == REDIS_REPLY_ERROR) {
        if (batch->errors == 0)
            ENG_WARN("redis error reply", " error=\"%.*s\"", (int)(reply->len > 200 ? 200 : reply->len),
                     reply->str);
        batch->errors++;
        store->stats.errors++;
    }
    if (++batch->replies == batch->ncmds) store_batch_done(store);
}

static void store_send_inflight(eng_store_t *store)
{
    eng_batch_t *batch = store->inflight;
    batch->replies = 0;
    batch->errors = 0;
    batch->attempts++;
    batch->sent_ms = uv_now(store->loop);
    store->inflight_sent = true;
    store->inflight_retry = false;
    for (uint32_t i = 0; i < batch->ncmds; i++) {
        const char *cmd;
        size_t len = eng_batch_get_cmd(batch, i, &cmd);
        if (redisAsyncFormattedCommand(store->ctx, on_batch_reply, batch, cmd, len) != REDIS_OK) {
            store->stats.errors++;
            store_down(store, "send failed");
            return;
        }
    }
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
    if (store->ever_ready) store->stats.reconnects++;
    store->ever_ready = true;
    ENG_INFO("redis connected", " host=%s port=%lld", store->cfg->redis_host,
             (long long)store->cfg->redis_port);
    if (store->on_ready) store->on_ready(store->arg);
    if (store->state == STORE_READY && store->inflight && !store->inflight_sent)
        store_send_inflight(store);
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
    if (store->cfg->redis_password[0] != 0) {
        store->setup_replies++;
        redisAsyncCommand(ctx, on_setup_reply, NULL, "AUTH %s", store->cfg->redis_password);
    }
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
    redisLibuvAttach(ctx, store->loop);
    redisAsyncSetConnectCallback(ctx, on_connect);
    redisAsyncSetDisconnectCallback(ctx, on_disconnect);
    store->ctx = ctx;
    store_set_state(store, STORE_CONNECTING);
}

/* The watchdog: connects when due, resends after error backoff, and closes a
 * connection whose connect or oldest reply is late. */
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
        if (store->inflight && store->inflight_sent &&
            now - store->inflight->sent_ms > ENG_STORE_REPLY_TIMEOUT_MS) {
            store->stats.timeouts++;
            store_down(store, "replies timed out");
        } else if (store->inflight && store->inflight_retry && now >= store->retry_at) {
            store_send_inflight(store);
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
    store->inflight = NULL;
    uv_timer_stop(&store->timer);
    if (ctx != NULL) redisAsyncFree(ctx);
}

void eng_store_free(eng_store_t *store)
{
    uv_close((uv_handle_t *)&store->timer, on_timer_closed);
}

bool eng_store_busy(const eng_store_t *store)
{
    return store->inflight != NULL;
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
    if (store->inflight != NULL) abort();
    store->inflight = batch;
    store->inflight_sent = false;
    store->inflight_retry = false;
    batch->attempts = 0;
    if (batch->ncmds == 0) {
        store->inflight = NULL;
        store->on_ack(store->arg, batch);
        return;
    }
    if (store->state == STORE_READY) store_send_inflight(store);
}

int eng_store_read(eng_store_t *store, redisCallbackFn *cb, void *privdata, int argc,
                   const char **argv, const size_t *argvlen)
{
    if (store->state != STORE_READY) return -1;
    return redisAsyncCommandArgv(store->ctx, cb, privdata, argc, argv, argvlen) == REDIS_OK ? 0
                                                                                          : -1;
}
