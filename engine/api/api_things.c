/* api_things.c - GET /things/{tuid}: the thing's state from P{T}:thing.
 * 404 unless the hash exists (a thing heard from, or registered through an
 * installation status or a group); fields not known yet are null. */
#include "engine/api/internal.h"
#include "engine/base/log.h"

#include <string.h>

typedef struct thing_fields_s {
    redisReply *timestamp, *battery, *lat, *lon, *gateway, *version;
} thing_fields_t;

static json_t *number_or_null(redisReply *r)
{
    json_t *n = r ? eng_api_json_number(r->str, r->len) : NULL;
    return n ? n : json_null();
}

static json_t *string_or_null(redisReply *r)
{
    json_t *s = r ? json_stringn(r->str, r->len) : NULL;
    return s ? s : json_null();
}

static void on_thing(eng_api_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        eng_api_error(call, 404, "no such thing");
        return;
    }
    thing_fields_t f = {0};
    static const struct {
        const char *name;
        size_t off;
    } names[] = {{"timestamp", offsetof(thing_fields_t, timestamp)},
                 {"battery_level", offsetof(thing_fields_t, battery)},
                 {"lat", offsetof(thing_fields_t, lat)},
                 {"lon", offsetof(thing_fields_t, lon)},
                 {"gateway_tuid", offsetof(thing_fields_t, gateway)},
                 {"version", offsetof(thing_fields_t, version)}};
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        redisReply *k = reply->element[i], *v = reply->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        for (size_t j = 0; j < sizeof names / sizeof names[0]; j++)
            if (strlen(names[j].name) == k->len && memcmp(names[j].name, k->str, k->len) == 0)
                *(redisReply **)((char *)&f + names[j].off) = v;
    }
    json_t *ts = number_or_null(f.timestamp);
    if (json_is_real(ts)) { /* a thing's timestamp is whole seconds */
        json_t *i = json_integer((json_int_t)json_real_value(ts));
        json_decref(ts);
        ts = i;
    }
    json_t *lat = number_or_null(f.lat), *lon = number_or_null(f.lon);
    json_t *loc = json_null();
    if (!json_is_null(lat) && !json_is_null(lon)) {
        json_decref(loc);
        loc = json_pack("{s:O,s:O}", "lat", lat, "lon", lon);
    }
    json_decref(lat);
    json_decref(lon);
    eng_api_reply(call,
                  json_pack("{s:o,s:o,s:o,s:o,s:o}", "battery_level", number_or_null(f.battery),
                            "timestamp", ts, "location", loc, "gateway_tuid",
                            string_or_null(f.gateway), "version", string_or_null(f.version)));
}

void eng_api_things_get(eng_api_call_t *call)
{
    eng_api_redis(call, on_thing, "HGETALL %s{%s}:thing", call->prefix, call->match.tuid);
}
