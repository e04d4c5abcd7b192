/* peers.c - the pub/sub subscriber; see peers.h. */
#include "engine/ingest/peers.h"

#include "engine/base/log.h"
#include "engine/redis/redis_auth.h"
#include "engine/redis/redis_uv.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECONNECT_MS 1000

struct eng_peers_s {
    uv_loop_t *loop;
    const cfg_t *cfg;
    eng_ingest_t *ingest;
    redisAsyncContext *ctx;
    uv_timer_t timer;
    bool stopped;
    char ch_alerts[128], ch_relay[128], ch_control[128];
};

int eng_peers_parse_time(const char *s, uint32_t *t)
{
    struct tm tm = {0};
    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t v = timegm(&tm);
    if (v < 0 || v > (time_t)UINT32_MAX) return -1;
    *t = (uint32_t)v;
    return 0;
}

/* {"tuid","alert_type","from","to","state"} from the owner of a gateway. */
static void on_alert(eng_peers_t *peers, const char *data, size_t len)
{
    json_t *ev = json_loadb(data, len, 0, NULL);
    const char *tuid = json_string_value(json_object_get(ev, "tuid"));
    const char *type = json_string_value(json_object_get(ev, "alert_type"));
    const char *state = json_string_value(json_object_get(ev, "state"));
    uint32_t from = 0, to = 0;
    if (tuid && type && state && strcmp(type, "gateway connection lost") == 0 &&
        proto_tuid_valid(tuid, strlen(tuid)) &&
        eng_peers_parse_time(json_string_value(json_object_get(ev, "from")), &from) == 0) {
        bool open = strcmp(state, "open") == 0;
        if (!open) eng_peers_parse_time(json_string_value(json_object_get(ev, "to")), &to);
        eng_detector_remote_gateway(eng_ingest_detector(peers->ingest), tuid, strlen(tuid), open,
                                    from, to);
    }
    json_decref(ev);
}

/* One line of P relay: "TUID FROM [TO]" (relays of a gateway, no gap of
 * gateway_timeout between FROM and TO), or "@ TOPIC PARTITION ETIME live|behind"
 * (how far the sender has consumed a partition it holds). */
static void on_relay_line(eng_peers_t *peers, const char *line, size_t len)
{
    char word[5][PROTO_TUID_MAX + 2];
    size_t n = 0, i = 0;
    while (i < len && n < 5) {
        while (i < len && line[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && line[i] != ' ')
            i++;
        if (i == start) break;
        if (i - start > PROTO_TUID_MAX) return;
        memcpy(word[n], line + start, i - start);
        word[n++][i - start] = 0;
    }
    char *end;
    if (n == 5 && strcmp(word[0], "@") == 0) {
        long partition = strtol(word[2], &end, 10);
        unsigned long etime = strtoul(word[3], &end, 10);
        if (partition < 0 || partition > 1023 || *end || etime > UINT32_MAX) return;
        eng_ingest_remote_part(peers->ingest, word[1], (int32_t)partition, (uint32_t)etime,
                               strcmp(word[4], "live") == 0);
        return;
    }
    if ((n != 2 && n != 3) || !proto_tuid_valid(word[0], strlen(word[0]))) return;
    unsigned long from = strtoul(word[1], &end, 10);
    unsigned long to = n == 3 ? strtoul(word[2], &end, 10) : from;
    if (from == 0 || from > UINT32_MAX || to > UINT32_MAX || to < from) return;
    eng_detector_relay(eng_ingest_detector(peers->ingest), word[0], strlen(word[0]), (uint32_t)from,
                       (uint32_t)to);
}

static void on_relay(eng_peers_t *peers, const char *data, size_t len)
{
    const char *end = data + len;
    while (data < end) {
        const char *nl = memchr(data, '\n', (size_t)(end - data));
        const char *line_end = nl ? nl : end;
        on_relay_line(peers, data, (size_t)(line_end - data));
        data = line_end + 1;
    }
    eng_ingest_drain(peers->ingest);
}

/* {"type":"status","tuid","status","at"} or {"type":"group","tuid","group"}. */
static void on_control(eng_peers_t *peers, const char *data, size_t len)
{
    json_t *msg = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));
    const char *tuid = json_string_value(json_object_get(msg, "tuid"));
    if (type && tuid && proto_tuid_valid(tuid, strlen(tuid))) {
        if (strcmp(type, "status") == 0) {
            const char *status = json_string_value(json_object_get(msg, "status"));
            json_int_t at = json_integer_value(json_object_get(msg, "at"));
            if (status && at > 0 && at <= UINT32_MAX)
                eng_ingest_set_status(peers->ingest, tuid, status, (uint32_t)at);
        } else if (strcmp(type, "group") == 0) {
            eng_ingest_set_group(peers->ingest, tuid,
                                 json_string_value(json_object_get(msg, "group")));
        }
    }
    json_decref(msg);
}

static void on_message(redisAsyncContext *ctx, void *r, void *privdata)
{
    eng_peers_t *peers = privdata;
    redisReply *reply = r;
    (void)ctx;
    if (reply == NULL || peers->stopped || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != 3 || strcmp(reply->element[0]->str, "message") != 0)
        return;
    const char *channel = reply->element[1]->str;
    const redisReply *data = reply->element[2];
    if (strcmp(channel, peers->ch_alerts) == 0)
        on_alert(peers, data->str, data->len);
    else if (strcmp(channel, peers->ch_relay) == 0)
        on_relay(peers, data->str, data->len);
    else if (strcmp(channel, peers->ch_control) == 0)
        on_control(peers, data->str, data->len);
}

static void peers_connect(eng_peers_t *peers);

static void on_timer(uv_timer_t *timer)
{
    peers_connect(timer->data);
}

static void schedule_reconnect(eng_peers_t *peers)
{
    if (!peers->stopped) uv_timer_start(&peers->timer, on_timer, RECONNECT_MS, 0);
}

static void on_connect(const redisAsyncContext *c, int status)
{
    eng_peers_t *peers = c->data;
    if (peers == NULL || status == REDIS_OK) return;
    peers->ctx = NULL;
    schedule_reconnect(peers);
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
    eng_peers_t *peers = c->data;
    (void)status;
    if (peers == NULL) return;
    peers->ctx = NULL;
    if (!peers->stopped) ENG_WARN("peers subscriber lost", " retry_in_ms=%d", RECONNECT_MS);
    schedule_reconnect(peers);
}

static void peers_connect(eng_peers_t *peers)
{
    redisAsyncContext *ctx = redisAsyncConnect(peers->cfg->redis_host, (int)peers->cfg->redis_port);
    if (ctx == NULL) ENG_OOM();
    if (ctx->err) {
        redisAsyncFree(ctx);
        schedule_reconnect(peers);
        return;
    }
    ctx->data = peers;
    if (eng_redis_uv_attach(ctx, peers->loop, NULL) != 0) {
        redisAsyncFree(ctx);
        schedule_reconnect(peers);
        return;
    }
    redisAsyncSetConnectCallback(ctx, on_connect);
    redisAsyncSetDisconnectCallback(ctx, on_disconnect);
    peers->ctx = ctx;
    eng_redis_auth_async(ctx, peers->cfg, NULL, NULL);
    redisAsyncCommand(ctx, on_message, peers, "SUBSCRIBE %s %s %s", peers->ch_alerts,
                      peers->ch_relay, peers->ch_control);
}

eng_peers_t *eng_peers_new(uv_loop_t *loop, const cfg_t *cfg, eng_ingest_t *ingest)
{
    eng_peers_t *peers = eng_calloc(1, sizeof *peers);
    peers->loop = loop;
    peers->cfg = cfg;
    peers->ingest = ingest;
    snprintf(peers->ch_alerts, sizeof peers->ch_alerts, "%salerts", cfg->redis_prefix);
    snprintf(peers->ch_relay, sizeof peers->ch_relay, "%srelay", cfg->redis_prefix);
    snprintf(peers->ch_control, sizeof peers->ch_control, "%scontrol", cfg->redis_prefix);
    uv_timer_init(loop, &peers->timer);
    peers->timer.data = peers;
    return peers;
}

int eng_peers_start(eng_peers_t *peers)
{
    peers_connect(peers);
    return 0;
}

static void on_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void eng_peers_stop(eng_peers_t *peers)
{
    peers->stopped = true;
    redisAsyncContext *ctx = peers->ctx;
    peers->ctx = NULL;
    if (ctx) {
        ctx->data = NULL;
        redisAsyncFree(ctx);
    }
    uv_timer_stop(&peers->timer);
    uv_close((uv_handle_t *)&peers->timer, on_closed);
}
