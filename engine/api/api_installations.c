/* api_installations.c - GET and POST /things/{tuid}/installations.
 *
 * POST stores the status in P{T}:thing (status, status_ts), pushes the
 * record onto P{T}:inst (newest first, 1000 kept), adds the tuid to
 * P unheard when it was never heard from, and publishes the change on
 * P control, all in one script; then tells the detector through on_status. */
#include "engine/api/internal.h"
#include "engine/base/log.h"

#include <stdio.h>
#include <string.h>

#define INSTALLATIONS_KEPT 1000

static const char *const statuses[] = {"new", "installed", "uninstalled", "quarantine", "retired"};

static void on_list(eng_api_call_t *call, redisReply *reply)
{
    json_t *out = json_array();
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        redisReply *e = reply->element[i];
        json_t *rec = e->type == REDIS_REPLY_STRING ? json_loadb(e->str, e->len, 0, NULL) : NULL;
        if (rec) json_array_append_new(out, rec);
    }
    eng_api_reply(call, out);
}

void eng_api_installations_list(eng_api_call_t *call)
{
    int64_t limit = 100;
    if (eng_api_query_int(call, "limit", 1, INSTALLATIONS_KEPT, &limit) < 0) return;
    eng_api_redis(call, on_list, "LRANGE %s{%s}:inst 0 %lld", call->prefix, call->match.tuid,
                  (long long)limit - 1);
}

static void on_stored(eng_api_call_t *call, redisReply *reply)
{
    (void)reply;
    eng_api_t *api = call->api;
    const char *status = json_string_value(json_object_get(call->body, "installation_status"));
    if (api->hooks.on_status)
        api->hooks.on_status(api->hooks.arg, call->match.tuid, status, (uint32_t)call->n);
    eng_api_reply(call,
                  json_pack("{s:s,s:s}", "tuid", call->match.tuid, "installation_status", status));
}

void eng_api_installations_set(eng_api_call_t *call)
{
    json_t *body = eng_api_body(call);
    if (!body) return;
    const char *status = json_string_value(json_object_get(body, "installation_status"));
    bool known = false;
    for (size_t i = 0; status && i < sizeof statuses / sizeof statuses[0]; i++)
        known = known || strcmp(status, statuses[i]) == 0;
    if (!json_is_object(body) || !known) {
        eng_api_error(call, 400,
                      "installation_status must be one of new, installed, "
                      "uninstalled, quarantine, retired");
        return;
    }
    uint32_t now = eng_api_now();
    call->n = now;
    json_t *rec = json_pack("{s:s,s:s,s:I,s:s}", "tuid", call->match.tuid, "installation_status",
                            status, "timestamp", (json_int_t)now, "responsible", call->client);
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    static const char script[] =
        "redis.call('HSET', KEYS[1], 'status', ARGV[1], 'status_ts', ARGV[2]) "
        "redis.call('LPUSH', KEYS[2], ARGV[3]) "
        "redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1) "
        "if redis.call('HEXISTS', KEYS[1], 'timestamp') == 0 then "
        "  redis.call('SADD', KEYS[3], ARGV[4]) end "
        "redis.call('PUBLISH', ARGV[5], cjson.encode({type='status', tuid=ARGV[4], "
        "  status=ARGV[1], at=tonumber(ARGV[2])})) "
        "return 1";
    const char *p = call->prefix, *t = call->match.tuid;
    eng_api_redis(call, on_stored,
                  "EVAL %s 3 %s{%s}:thing %s{%s}:inst %sunheard %s %u %s %s %scontrol %d", script,
                  p, t, p, t, p, status, now, text, t, p, INSTALLATIONS_KEPT);
    free(text);
}
