/* api_messages.c - GET /things/{tuid}/messages: the newest `limit` stored
 * messages matching messageid/eventid/from/to, newest first.
 *
 * History is the ZSET P{T}:msgs (score tsmTs, member a MessagePack map with
 * every field plus deploymentGroupId). from/to pick whole seconds by score;
 * the id filters are applied here, so with them the whole range is read
 * (bounded by store.messages_per_thing), without them only `limit` members. */
#include "engine/api.h"
#include "engine/log.h"

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#define MP_MAX_DEPTH 32

static json_t *mp_to_json(const msgpack_object *o, int depth);

static json_t *mp_map_to_json(const msgpack_object_map *map, int depth)
{
    json_t *obj = json_object();
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *k = &map->ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR) continue;
        char key[256];
        if (k->via.str.size >= sizeof key || memchr(k->via.str.ptr, 0, k->via.str.size)) continue;
        memcpy(key, k->via.str.ptr, k->via.str.size);
        key[k->via.str.size] = '\0';
        json_t *v = mp_to_json(&map->ptr[i].val, depth + 1);
        if (json_object_set_new(obj, key, v ? v : json_null()) != 0) continue;
    }
    return obj;
}

/* Converts one MessagePack value; NULL for what JSON cannot hold. */
static json_t *mp_to_json(const msgpack_object *o, int depth)
{
    if (depth > MP_MAX_DEPTH) return NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 <= (uint64_t)INT64_MAX) return json_integer((json_int_t)o->via.u64);
        return json_real((double)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return isfinite(o->via.f64) ? json_real(o->via.f64) : NULL;
    case MSGPACK_OBJECT_STR: return json_stringn(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *arr = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            json_t *v = mp_to_json(&o->via.array.ptr[i], depth + 1);
            json_array_append_new(arr, v ? v : json_null());
        }
        return arr;
    }
    case MSGPACK_OBJECT_MAP: return mp_map_to_json(&o->via.map, depth);
    default: return NULL; /* bin, ext */
    }
}

/* One stored message as a JSON object; NULL when it is not a map. */
static json_t *message_json(const char *data, size_t len)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    json_t *j = NULL;
    if (msgpack_unpack_next(&up, data, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_MAP)
        j = mp_to_json(&up.data, 1);
    msgpack_unpacked_destroy(&up);
    return j;
}

static void on_messages(eng_api_call_t *call, redisReply *reply)
{
    json_t *out = json_array();
    const eng_api_filter_t *f = &call->filter;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        if ((int64_t)json_array_size(out) >= f->limit) break;
        redisReply *m = reply->element[i];
        if (m->type != REDIS_REPLY_STRING) continue;
        json_t *msg = message_json(m->str, m->len);
        if (!msg) continue;
        json_t *id = json_object_get(msg, "tsmId"), *ev = json_object_get(msg, "tsmEv");
        json_t *ts = json_object_get(msg, "tsmTs");
        if (!eng_api_filter_pass(f, json_integer_value(id), json_integer_value(ev),
                                 json_number_value(ts))) {
            json_decref(msg);
            continue;
        }
        json_array_append_new(out, msg);
    }
    eng_api_reply(call, out);
}

/* Writes the score bounds of [from, to] whole seconds: min, and max exclusive. */
static void score_range(const eng_api_filter_t *f, char min[32], char max[32])
{
    if (f->from == INT64_MIN)
        snprintf(min, 32, "-inf");
    else
        snprintf(min, 32, "%lld", (long long)f->from);
    if (f->to == INT64_MAX)
        snprintf(max, 32, "+inf");
    else
        snprintf(max, 32, "(%lld", (long long)f->to + 1);
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
    char min[32], max[32];
    score_range(f, min, max);
    const char *p = call->prefix, *t = call->match.tuid;
    if (f->ids || f->evs) {
        eng_api_redis(call, on_messages, "ZREVRANGEBYSCORE %s{%s}:msgs %s %s", p, t, max, min);
    } else {
        eng_api_redis(call, on_messages, "ZREVRANGEBYSCORE %s{%s}:msgs %s %s LIMIT 0 %lld", p, t,
                      max, min, (long long)f->limit);
    }
}
