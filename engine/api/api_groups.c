/* api_groups.c - deployment groups: POST/GET /groups, POST
 * /groups/{groupid}/rename, GET /groups/{groupid}/things, DELETE
 * /groups/{groupid}, and GET/POST /things/{tuid}/group.
 *
 * P groups (HASH id -> description), P group:G (SET of tuids) and the
 * thing's `group` field change together inside one Lua script each (atomic,
 * and the existence checks cannot race), which also publishes every thing's
 * change on P control; the detector hears of them through on_group too. */
#include "engine/api/internal.h"
#include "engine/base/log.h"

#include <stdio.h>
#include <string.h>

#define DESCRIPTION_MAX 1024
#define QUERY_MAX 256

static const char unassigned[] = "unassigned";

/* Reads body.group_id; answers 400 and returns NULL unless it follows the
 * group rule (or is "unassigned" when allowed). */
static const char *body_group_id(eng_api_call_t *call, bool allow_unassigned)
{
    json_t *body = eng_api_body(call);
    if (!body) return NULL;
    json_t *g = json_object_get(body, "group_id");
    const char *id = json_string_value(g);
    bool is_unassigned = id && strcmp(id, unassigned) == 0;
    if (!json_is_object(body) || !id || !eng_router_group_valid(id, json_string_length(g)) ||
        (is_unassigned && !allow_unassigned)) {
        eng_api_error(call, 400,
                      allow_unassigned ? "group_id must be 1 to 64 bytes without white space or "
                                         "control characters"
                                       : "group_id must be 1 to 64 bytes without white space or "
                                         "control characters, and not \"unassigned\"");
        return NULL;
    }
    return id;
}

/* Calls on_group for each tuid of a script's member list. */
static void tell_group(eng_api_t *api, redisReply *members, const char *group)
{
    if (!api->hooks.on_group || !members || members->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i < members->elements; i++) {
        redisReply *m = members->element[i];
        if (m->type != REDIS_REPLY_STRING) continue;
        char tuid[ENG_ROUTER_TUID_MAX + 1];
        if (m->len >= sizeof tuid) continue;
        memcpy(tuid, m->str, m->len);
        tuid[m->len] = '\0';
        api->hooks.on_group(api->hooks.arg, tuid, group);
    }
}

/* ---- a thing's group ---- */

static void on_thing_group(eng_api_call_t *call, redisReply *reply)
{
    const char *g = reply->type == REDIS_REPLY_STRING ? reply->str : unassigned;
    eng_api_reply(call, json_pack("{s:s,s:s}", "group_id", g, "tuid", call->match.tuid));
}

void eng_api_groups_thing_get(eng_api_call_t *call)
{
    eng_api_redis(call, on_thing_group, "HGET %s{%s}:thing group", call->prefix, call->match.tuid);
}

static void on_thing_group_set(eng_api_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        eng_api_error(call, 404, "no such group");
        return;
    }
    const char *g = json_string_value(json_object_get(call->body, "group_id"));
    bool none = strcmp(g, unassigned) == 0;
    eng_api_t *api = call->api;
    if (api->hooks.on_group) api->hooks.on_group(api->hooks.arg, call->match.tuid, none ? NULL : g);
    eng_api_reply(call, json_pack("{s:s,s:s}", "group_id", g, "tuid", call->match.tuid));
}

void eng_api_groups_thing_set(eng_api_call_t *call)
{
    const char *g = body_group_id(call, true);
    if (!g) return;
    if (strcmp(g, unassigned) == 0) g = "";
    static const char script[] =
        "if ARGV[1] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end "
        "local old = redis.call('HGET', KEYS[1], 'group') "
        "if old then redis.call('SREM', ARGV[2] .. 'group:' .. old, ARGV[3]) end "
        "local g = cjson.null "
        "if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'group') else "
        "  redis.call('HSET', KEYS[1], 'group', ARGV[1]) "
        "  redis.call('SADD', ARGV[2] .. 'group:' .. ARGV[1], ARGV[3]) g = ARGV[1] "
        "  if redis.call('HEXISTS', KEYS[1], 'timestamp') == 0 then "
        "    redis.call('SADD', ARGV[2] .. 'unheard', ARGV[3]) end end "
        "redis.call('PUBLISH', ARGV[2] .. 'control', "
        "  cjson.encode({type='group', tuid=ARGV[3], group=g})) "
        "return 1";
    const char *p = call->prefix, *t = call->match.tuid;
    eng_api_redis(call, on_thing_group_set, "EVAL %s 2 %s{%s}:thing %sgroups %s %s %s", script, p,
                  t, p, g, p, t);
}

/* ---- groups ---- */

static void on_created(eng_api_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        eng_api_error(call, 409, "a group with this id exists");
        return;
    }
    json_t *d = json_object_get(call->body, "group_description");
    eng_api_reply(call, json_pack("{s:O,s:s}", "group_id", json_object_get(call->body, "group_id"),
                                  "group_description", d ? json_string_value(d) : ""));
}

void eng_api_groups_create(eng_api_call_t *call)
{
    const char *g = body_group_id(call, false);
    if (!g) return;
    json_t *d = json_object_get(call->body, "group_description");
    if (d && (!json_is_string(d) || json_string_length(d) > DESCRIPTION_MAX)) {
        eng_api_error(call, 400, "group_description must be a string of at most 1024 bytes");
        return;
    }
    const char *desc = d ? json_string_value(d) : "";
    eng_api_redis(call, on_created, "HSETNX %sgroups %s %s", call->prefix, g, desc);
}

/* Case-insensitive (ASCII) substring test. */
static bool contains_ci(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    if (nlen == 0) return true;
    for (size_t i = 0; i + nlen <= hlen; i++) {
        size_t k = 0;
        while (k < nlen && (hay[i + k] | 0x20 * (hay[i + k] >= 'A' && hay[i + k] <= 'Z')) ==
                               (needle[k] | 0x20 * (needle[k] >= 'A' && needle[k] <= 'Z')))
            k++;
        if (k == nlen) return true;
    }
    return false;
}

static int cmp_pair(const void *a, const void *b)
{
    const redisReply *x = **(redisReply * *const *)a, *y = **(redisReply * *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void on_groups(eng_api_call_t *call, redisReply *reply)
{
    const char *q = json_string_value(call->scratch);
    size_t qlen = q ? strlen(q) : 0;
    size_t n = reply->type == REDIS_REPLY_ARRAY ? reply->elements / 2 : 0;
    redisReply ***pairs = eng_malloc((n + 1) * sizeof *pairs);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply **pair = &reply->element[2 * i];
        if (pair[0]->type != REDIS_REPLY_STRING || pair[1]->type != REDIS_REPLY_STRING) continue;
        if (contains_ci(pair[0]->str, pair[0]->len, q, qlen) ||
            contains_ci(pair[1]->str, pair[1]->len, q, qlen))
            pairs[k++] = pair;
    }
    qsort(pairs, k, sizeof *pairs, cmp_pair);
    json_t *out = json_array();
    for (size_t i = 0; i < k && (int64_t)i < call->n; i++) {
        json_t *g = json_stringn(pairs[i][0]->str, pairs[i][0]->len);
        json_t *d = json_stringn(pairs[i][1]->str, pairs[i][1]->len);
        json_array_append_new(out, json_pack("{s:o,s:o}", "group_id", g ? g : json_null(),
                                             "group_description", d ? d : json_string("")));
    }
    free(pairs);
    eng_api_reply(call, out);
}

void eng_api_groups_list(eng_api_call_t *call)
{
    char q[QUERY_MAX];
    call->n = 100;
    if (eng_api_query_int(call, "limit", 1, 1000, &call->n) < 0) return;
    int r = eng_router_query(call->req->query, "q", q, sizeof q);
    if (r < 0) {
        eng_api_error(call, 400, "q must be a URL-encoded string of at most 255 bytes");
        return;
    }
    call->scratch = json_string(r == 1 ? q : "");
    if (!call->scratch) call->scratch = json_string("");
    eng_api_redis(call, on_groups, "HGETALL %sgroups", call->prefix);
}

static void on_renamed(eng_api_call_t *call, redisReply *reply)
{
    long long code =
        reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 ? reply->element[0]->integer : 0;
    if (code != 200) {
        eng_api_error(call, code == 409 ? 409 : 404,
                      code == 409 ? "a group with the new id exists" : "no such group");
        return;
    }
    const char *g = json_string_value(json_object_get(call->body, "group_id"));
    tell_group(call->api, reply->elements > 1 ? reply->element[1] : NULL, g);
    eng_api_reply(
        call, json_pack("{s:s,s:s,s:b}", "group_id", g, "old", call->match.group, "renamed", 1));
}

void eng_api_groups_rename(eng_api_call_t *call)
{
    const char *g = body_group_id(call, false);
    if (!g) return;
    static const char script[] =
        "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {404} end "
        "if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return {409} end "
        "local d = redis.call('HGET', KEYS[1], ARGV[1]) "
        "redis.call('HDEL', KEYS[1], ARGV[1]) redis.call('HSET', KEYS[1], ARGV[2], d) "
        "local src = ARGV[3] .. 'group:' .. ARGV[1] "
        "local members = redis.call('SMEMBERS', src) "
        "for _, t in ipairs(members) do "
        "  redis.call('HSET', ARGV[3] .. '{' .. t .. '}:thing', 'group', ARGV[2]) "
        "  redis.call('PUBLISH', ARGV[3] .. 'control', "
        "    cjson.encode({type='group', tuid=t, group=ARGV[2]})) end "
        "if #members > 0 then redis.call('RENAME', src, ARGV[3] .. 'group:' .. ARGV[2]) end "
        "return {200, members}";
    eng_api_redis(call, on_renamed, "EVAL %s 1 %sgroups %s %s %s", script, call->prefix,
                  call->match.group, g, call->prefix);
}

static void on_group_things(eng_api_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER || reply->element[0]->integer != 1) {
        eng_api_error(call, 404, "no such group");
        return;
    }
    eng_api_reply(call, json_pack("{s:s,s:o}", "group_id", call->match.group, "tuids",
                                  eng_api_sorted_strings(reply->element[1])));
}

void eng_api_groups_things(eng_api_call_t *call)
{
    static const char script[] =
        "return {redis.call('HEXISTS', KEYS[1], ARGV[1]), redis.call('SMEMBERS', KEYS[2])}";
    const char *p = call->prefix, *g = call->match.group;
    eng_api_redis(call, on_group_things, "EVAL %s 2 %sgroups %sgroup:%s %s", script, p, p, g, g);
}

static void on_deleted(eng_api_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->integer != 200) {
        eng_api_error(call, 404, "no such group");
        return;
    }
    tell_group(call->api, reply->elements > 1 ? reply->element[1] : NULL, NULL);
    eng_api_reply(call, json_pack("{s:s,s:b}", "group_id", call->match.group, "deleted", 1));
}

void eng_api_groups_delete(eng_api_call_t *call)
{
    static const char script[] =
        "if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return {404} end "
        "local src = ARGV[2] .. 'group:' .. ARGV[1] "
        "local members = redis.call('SMEMBERS', src) "
        "for _, t in ipairs(members) do "
        "  redis.call('HDEL', ARGV[2] .. '{' .. t .. '}:thing', 'group') "
        "  redis.call('PUBLISH', ARGV[2] .. 'control', "
        "    cjson.encode({type='group', tuid=t, group=cjson.null})) end "
        "redis.call('DEL', src) "
        "return {200, members}";
    eng_api_redis(call, on_deleted, "EVAL %s 1 %sgroups %s %s", script, call->prefix,
                  call->match.group, call->prefix);
}
