/* store.c - Redis write connection with watchdog and reconnect; see store.h.
 *
 * States: DOWN (waiting for the reconnect timer) -> CONNECTING (TCP connect,
 * then AUTH/SELECT) -> READY. Any failure goes back to DOWN with a backoff of
 * 100 ms doubling to 5 s. The batch in flight survives all of it and is sent
 * again once READY. */
#include "engine/store.h"

#include "engine/log.h"
#include "engine/redis_uv.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

enum store_state { STORE_DOWN, STORE_CONNECTING, STORE_READY, STORE_STOPPED };

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define WATCHDOG_MS 250
#define IDLE_PING_MS 1000 /* an idle connection is PINGed this often */

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
    eng_batch_t *inflight;
    bool inflight_sent;     /* sent on the current connection */
    bool inflight_retry;    /* error replies: resend at retry_at */
    uint32_t setup_replies; /* AUTH/SELECT replies still due */
    uint64_t outstanding;   /* commands sent on this connection, not yet answered */
    uint64_t progress_ms;   /* loop ms of the last reply, or of the first send while idle */
    bool ping_sent;         /* the idle-connection PING awaits its reply */
    uv_timer_t timer;
    eng_store_stats_t stats;
};

static void store_connect(eng_store_t *store);
static void store_send_inflight(eng_store_t *store);

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

/* Drops the connection (if any) and schedules a reconnect after the backoff. */
static void store_down(eng_store_t *store, const char *why)
{
    redisAsyncContext *ctx = store->ctx;
    if (store->state == STORE_STOPPED) return;
    store->ctx = NULL;
    store_set_state(store, STORE_DOWN);
    store->inflight_sent = false;
    store->outstanding = 0;
    store->ping_sent = false;
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
    ENG_WARN("redis write failed", " commands=%u errors=%u attempt=%u", batch->ncmds, batch->errors,
             batch->attempts);
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
    if (store == NULL || ctx != store->ctx) return;
    if (reply != NULL) store_replied(store);
    if (batch != store->inflight) return;
    if (reply == NULL) return; /* the connection is going away: resent later */
    if (reply->type == REDIS_REPLY_ERROR) {
        if (batch->errors == 0)
            ENG_WARN("redis error reply", " error=\"%.*s\"",
                     (int)(reply->len > 200 ? 200 : reply->len), reply->str);
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
        store_sent(store);
    }
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
            store_down(store, store->ping_sent && !store->inflight_sent ? "ping timed out"
                                                                        : "replies timed out");
        } else if (store->inflight && store->inflight_retry && now >= store->retry_at) {
            store_send_inflight(store);
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
    if (store->inflight != NULL && store->inflight_retry) return "redis refusing writes";
    if (store->outstanding > 0 && uv_now(store->loop) - store->progress_ms > ENG_STORE_SLOW_MS)
        return "redis not answering";
    return NULL;
}
