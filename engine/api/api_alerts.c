/* api_alerts.c - GET /things/alerts, /things/alerts/count and
 * /things/{tuid}/alerts (alert windows overlapping [from, to]).
 *
 * The alerting SET is the detector's public contract (SCARD is the count);
 * windows are ZSETs P{T}:w:gw and P{T}:w:hb, score = from, member
 * "FROM:TO" ("FROM:" while open). */
#include "engine/api/internal.h"
#include "engine/base/log.h"

#include <stdlib.h>
#include <string.h>

static void on_alerting(eng_api_call_t *call, redisReply *reply)
{
    eng_api_reply(call, json_pack("{s:o}", "alerting_tuids", eng_api_sorted_strings(reply)));
}

void eng_api_alerts_list(eng_api_call_t *call)
{
    eng_api_redis(call, on_alerting, "SMEMBERS %salerting", call->prefix);
}

static void on_count(eng_api_call_t *call, redisReply *reply)
{
    char n[24];
    snprintf(n, sizeof n, "%lld", reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0LL);
    eng_api_reply(call, json_pack("{s:s}", "alert_count", n));
}

void eng_api_alerts_count(eng_api_call_t *call)
{
    eng_api_redis(call, on_count, "SCARD %salerting", call->prefix);
}

/* Adds the windows of one ZSET reply that overlap the query to a new
 * {"tuid","alert_type","alerts"} object in out (nothing when none does). */
static void add_windows(eng_api_call_t *call, json_t *out, const char *type, redisReply *zset)
{
    const eng_api_filter_t *f = &call->filter;
    json_t *alerts = json_array();
    for (size_t i = 0; zset->type == REDIS_REPLY_ARRAY && i < zset->elements; i++) {
        redisReply *m = zset->element[i];
        if (m->type != REDIS_REPLY_STRING) continue;
        const char *colon = memchr(m->str, ':', m->len);
        int64_t from, to = INT64_MAX;
        if (!colon || !eng_api_parse_i64(m->str, (size_t)(colon - m->str), &from)) continue;
        size_t tlen = m->len - (size_t)(colon - m->str) - 1;
        bool open = tlen == 0;
        if (!open && !eng_api_parse_i64(colon + 1, tlen, &to)) continue;
        if (from > f->to || to < f->from) continue;
        char tf[32], tt[32];
        eng_api_time(from, tf);
        if (!open) eng_api_time(to, tt);
        json_array_append_new(alerts, json_pack("{s:s,s:s?}", "from", tf, "to", open ? NULL : tt));
    }
    if (json_array_size(alerts) == 0) {
        json_decref(alerts);
        return;
    }
    json_array_append_new(out, json_pack("{s:s,s:s,s:o}", "tuid", call->match.tuid, "alert_type",
                                         type, "alerts", alerts));
}

static void on_windows(eng_api_call_t *call, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        eng_api_error(call, 503, "unexpected Redis reply");
        return;
    }
    json_t *out = json_array();
    add_windows(call, out, "gateway connection lost", reply->element[0]);
    add_windows(call, out, "heartbeat missed", reply->element[1]);
    eng_api_reply(call, out);
}

void eng_api_alerts_thing(eng_api_call_t *call)
{
    const int64_t lim = INT64_C(1) << 40;
    eng_api_filter_t *f = &call->filter;
    if (eng_api_query_int(call, "from", -lim, lim, &f->from) < 0) return;
    if (eng_api_query_int(call, "to", -lim, lim, &f->to) < 0) return;
    char max[24] = "+inf";
    if (f->to != INT64_MAX) snprintf(max, sizeof max, "%lld", (long long)f->to);
    /* One script, not MULTI: nothing half-sent can be left on the shared connection. */
    static const char script[] = "return {redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]), "
                                 "redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])}";
    const char *p = call->prefix, *t = call->match.tuid;
    eng_api_redis(call, on_windows, "EVAL %s 2 %s{%s}:w:gw %s{%s}:w:hb %s", script, p, t, p, t,
                  max);
}
