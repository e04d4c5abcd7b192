/* outbox.c - at-least-once alert events; see outbox.h. */
#include "engine/ingest/outbox.h"

#include "engine/base/log.h"
#include "engine/redis/keys.h"

#include <stdlib.h>
#include <string.h>

#define RETRY_MS 1000

/* One event on its way to Kafka: "ID\0JSON". */
typedef struct outbox_ev_s {
    eng_outbox_t *outbox;
    struct outbox_ev_s *next; /* in the retry list */
    size_t id_len, json_len;
    char data[];
} outbox_ev_t;

struct eng_outbox_s {
    uv_loop_t *loop;
    const cfg_t *cfg;
    eng_kafka_t *kafka;
    void (*kick)(void *arg);
    void *arg;
    char *done; /* delivered ids, "ID\0ID\0..." */
    size_t done_len, done_cap;
    size_t ndone, inflight;
    outbox_ev_t *retry;
    uv_timer_t timer;
};

static void produce(eng_outbox_t *outbox, outbox_ev_t *ev);

static void on_retry(uv_timer_t *timer)
{
    eng_outbox_t *outbox = timer->data;
    outbox_ev_t *ev = outbox->retry;
    outbox->retry = NULL;
    while (ev) {
        outbox_ev_t *next = ev->next;
        produce(outbox, ev);
        ev = next;
    }
}

static void on_delivered(void *ctx, int ok)
{
    outbox_ev_t *ev = ctx;
    eng_outbox_t *outbox = ev->outbox;
    outbox->inflight--;
    if (!ok) {
        eng_kafka_count_alert_failure(outbox->kafka);
        ev->next = outbox->retry;
        outbox->retry = ev;
        if (!uv_is_active((uv_handle_t *)&outbox->timer))
            uv_timer_start(&outbox->timer, on_retry, RETRY_MS, 0);
        return;
    }
    size_t need = outbox->done_len + ev->id_len + 1;
    if (need > outbox->done_cap) {
        outbox->done_cap = need * 2;
        outbox->done = eng_realloc(outbox->done, outbox->done_cap);
    }
    memcpy(outbox->done + outbox->done_len, ev->data, ev->id_len + 1);
    outbox->done_len = need;
    outbox->ndone++;
    free(ev);
    outbox->kick(outbox->arg);
}

static void produce(eng_outbox_t *outbox, outbox_ev_t *ev)
{
    char key[PROTO_TUID_MAX + 1];
    size_t klen = strcspn(ev->data, "|");
    if (klen > PROTO_TUID_MAX) klen = PROTO_TUID_MAX;
    memcpy(key, ev->data, klen);
    key[klen] = 0;
    const char *payload = ev->data + ev->id_len + 1;
    outbox->inflight++;
    if (eng_kafka_produce(outbox->kafka, outbox->cfg->kafka_alerts_topic, key, &payload,
                          &ev->json_len, 1, on_delivered, ev) != 0)
        on_delivered(ev, 0);
}

static void produce_copy(eng_outbox_t *outbox, const char *id, size_t id_len, const char *json,
                         size_t json_len)
{
    outbox_ev_t *ev = eng_malloc(sizeof *ev + id_len + json_len + 2);
    ev->outbox = outbox;
    ev->next = NULL;
    ev->id_len = id_len;
    ev->json_len = json_len;
    memcpy(ev->data, id, id_len);
    ev->data[id_len] = 0;
    memcpy(ev->data + id_len + 1, json, json_len);
    ev->data[id_len + 1 + json_len] = 0;
    produce(outbox, ev);
}

eng_outbox_t *eng_outbox_new(uv_loop_t *loop, const cfg_t *cfg, eng_kafka_t *kafka,
                             void (*kick)(void *arg), void *arg)
{
    eng_outbox_t *outbox = eng_calloc(1, sizeof *outbox);
    outbox->loop = loop;
    outbox->cfg = cfg;
    outbox->kafka = kafka;
    outbox->kick = kick;
    outbox->arg = arg;
    uv_timer_init(loop, &outbox->timer);
    outbox->timer.data = outbox;
    return outbox;
}

static void on_timer_closed(uv_handle_t *handle)
{
    eng_outbox_t *outbox = handle->data;
    while (outbox->retry) {
        outbox_ev_t *next = outbox->retry->next;
        free(outbox->retry);
        outbox->retry = next;
    }
    free(outbox->done);
    free(outbox);
}

void eng_outbox_free(eng_outbox_t *outbox)
{
    uv_close((uv_handle_t *)&outbox->timer, on_timer_closed);
}

bool eng_outbox_enabled(const eng_outbox_t *outbox)
{
    return outbox->cfg->kafka_alerts_topic[0] != 0;
}

void eng_outbox_add(eng_outbox_t *outbox, eng_batch_t *batch, const char *id, const char *json,
                    size_t len)
{
    if (!eng_outbox_enabled(outbox)) return;
    eng_batch_cmd(batch, 4);
    eng_batch_arg_str(batch, "HSET");
    eng_key_global(batch, outbox->cfg->redis_prefix, "outbox");
    eng_batch_arg_str(batch, id);
    eng_batch_arg(batch, json, len);
    eng_batch_event(batch, id, json, len);
}

void eng_outbox_acked(eng_outbox_t *outbox, const eng_batch_t *batch)
{
    for (size_t off = 0, i = 0; i < batch->nevents; i++) {
        const char *id = batch->events + off;
        size_t id_len = strlen(id);
        const char *json = id + id_len + 1;
        size_t json_len = strlen(json);
        off += id_len + json_len + 2;
        produce_copy(outbox, id, id_len, json, json_len);
    }
}

bool eng_outbox_flush(eng_outbox_t *outbox, eng_batch_t *batch)
{
    if (outbox->ndone == 0) return false;
    eng_batch_cmd(batch, 2 + (int)outbox->ndone);
    eng_batch_arg_str(batch, "HDEL");
    eng_key_global(batch, outbox->cfg->redis_prefix, "outbox");
    for (size_t off = 0; off < outbox->done_len;) {
        size_t n = strlen(outbox->done + off);
        eng_batch_arg(batch, outbox->done + off, n);
        off += n + 1;
    }
    outbox->done_len = 0;
    outbox->ndone = 0;
    return true;
}

void eng_outbox_resend(eng_outbox_t *outbox, const redisReply *reply)
{
    if (!eng_outbox_enabled(outbox) || reply->type != REDIS_REPLY_ARRAY) return;
    size_t n = 0;
    for (size_t i = 0; i + 1 < reply->elements; i += 2, n++)
        produce_copy(outbox, reply->element[i]->str, reply->element[i]->len,
                     reply->element[i + 1]->str, reply->element[i + 1]->len);
    if (n) ENG_INFO("alert events resent", " count=%zu", n);
}

size_t eng_outbox_inflight(const eng_outbox_t *outbox)
{
    return outbox->inflight;
}

size_t eng_outbox_depth(const eng_outbox_t *outbox)
{
    size_t n = outbox->inflight + outbox->ndone;
    for (const outbox_ev_t *ev = outbox->retry; ev; ev = ev->next)
        n++;
    return n;
}
