/* api_messages.c - GET /things/{tuid}/messages: the newest `limit` stored
 * messages matching messageid/eventid/from/to, newest first.
 *
 * History is the ZSET P{T}:msgs (score tsmTs, member a compact form of the
 * message, proto/member.h; members of the earlier format are MessagePack
 * maps). The newest store.messages_per_thing members are the kept history;
 * filters (ids, from/to in whole seconds) are applied here to those, without
 * filters only `limit` members are read. Each member is rebuilt as the
 * MessagePack map of every field plus deploymentGroupId and turned into JSON
 * text by proto/mpjson (shortest doubles, the fields as they came). */
#include "engine/api/internal.h"
#include "engine/base/log.h"

#include "proto/member.h"
#include "proto/mpjson.h"

#include <msgpack.h>
#include <stdio.h>
#include <string.h>

/* Reads tsmId, tsmEv and tsmTs of a stored message (a MessagePack map).
 * Returns false when it is not a map. */
static bool message_fields(const char *data, size_t len, int64_t *id, int64_t *ev, double *ts)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    bool ok = msgpack_unpack_next(&up, data, len, &off) == MSGPACK_UNPACK_SUCCESS &&
              up.data.type == MSGPACK_OBJECT_MAP;
    *id = *ev = INT64_MIN;
    *ts = 0;
    for (uint32_t i = 0; ok && i < up.data.via.map.size; i++) {
        const msgpack_object *k = &up.data.via.map.ptr[i].key, *v = &up.data.via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != 5) continue;
        bool is_int = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
                      v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
        if (memcmp(k->via.str.ptr, "tsmId", 5) == 0 && is_int) *id = v->via.i64;
        if (memcmp(k->via.str.ptr, "tsmEv", 5) == 0 && is_int) *ev = v->via.i64;
        if (memcmp(k->via.str.ptr, "tsmTs", 5) == 0)
            *ts = is_int ? (double)v->via.i64
                  : (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32)
                      ? v->via.f64
                      : 0;
    }
    msgpack_unpacked_destroy(&up);
    return ok;
}

/* Writes {"data":[...]} straight from the stored MessagePack (proto/mpjson). */
static void on_messages(eng_api_call_t *call, redisReply *reply)
{
    const eng_api_filter_t *f = &call->filter;
    bool filtered = f->ids || f->evs || f->from != INT64_MIN || f->to != INT64_MAX;
    const char *tuid = call->match.tuid;
    proto_buf_t out = PROTO_BUF_INIT, map = PROTO_BUF_INIT;
    proto_buf_puts(&out, "{\"data\":[");
    int64_t n = 0;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements && n < f->limit;
         i++) {
        redisReply *m = reply->element[i];
        if (m->type != REDIS_REPLY_STRING) continue;
        map.len = 0;
        if (proto_member_to_msgpack(&map, m->str, m->len, tuid, strlen(tuid)) < 0) continue;
        int64_t id, ev;
        double ts;
        if (filtered && (!message_fields(map.data, map.len, &id, &ev, &ts) ||
                         !eng_api_filter_pass(f, id, ev, ts)))
            continue;
        size_t mark = out.len;
        if (n > 0) proto_buf_putc(&out, ',');
        if (proto_mpjson_append(&out, map.data, map.len) < 0) {
            out.len = mark; /* a malformed member is left out */
            continue;
        }
        n++;
    }
    proto_buf_puts(&out, "]}");
    eng_api_respond(call, 200, NULL, out.data, out.len);
    proto_buf_free(&out);
    proto_buf_free(&map);
}

void eng_api_messages_list(eng_api_call_t *call)
{
    eng_api_filter_t *f = &call->filter;
    int r = eng_api_query_int(call, "limit", 1, 1000, &f->limit);
    if (r < 0) return;
    if (r == 0) {
        eng_api_error(call, 400, "limit is required (1 to 1000)");
        return;
    }
    if (eng_api_query_filter(call) < 0) return;
    /* Ingest trims history lazily (docs/REDIS.md), so a thing may hold a few
     * more than store.messages_per_thing members for a while: only the newest
     * N count as kept. Without filters that is simply the newest min(limit,
     * N); with filters the newest N are read and filtered here. */
    long long keep = (long long)call->cfg->store_messages_per_thing;
    if (keep == 0) {
        eng_api_reply(call, json_array());
        return;
    }
    const char *p = call->prefix, *t = call->match.tuid;
    bool filtered = f->ids || f->evs || f->from != INT64_MIN || f->to != INT64_MAX;
    long long n = filtered || f->limit > keep ? keep : f->limit;
    eng_api_redis(call, on_messages, "ZREVRANGE %s{%s}:msgs 0 %lld", p, t, n - 1);
}
