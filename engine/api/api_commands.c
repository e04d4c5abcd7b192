/* api_commands.c - POST /things/{tuid}/commands (validate all, produce
 * through the engine's hook, answer once Kafka acknowledged, then keep them
 * in P{T}:cmds) and GET /things/{tuid}/commands.
 *
 * A delivery being waited for is a cmd_wait_t with a 10 s timer. Whichever
 * comes first answers: the delivery report (then the history is written and
 * 200 follows) or the timer (503, nothing recorded). The wait is freed once
 * both the report has come and the timer is closed, so a late report finds
 * valid memory. */
#include "engine/api/internal.h"
#include "engine/base/log.h"

#include <stdio.h>
#include <string.h>

#define COMMANDS_MAX 100

typedef struct cmd_wait_s {
    uv_timer_t timer;
    eng_api_t *api;
    eng_api_call_t *call; /* NULL once answered (or timed out) */
    uint32_t now;
    bool delivered, closed;
    struct cmd_wait_s *prev, *next;
} cmd_wait_t;

static void wait_maybe_free(cmd_wait_t *wait)
{
    if (wait->delivered && wait->closed) free(wait);
}

static void on_wait_closed(uv_handle_t *handle)
{
    cmd_wait_t *wait = handle->data;
    eng_api_t *api = wait->api;
    if (wait->prev)
        wait->prev->next = wait->next;
    else if (api->cmd_waits == wait)
        api->cmd_waits = wait->next;
    if (wait->next) wait->next->prev = wait->prev;
    wait->closed = true;
    wait_maybe_free(wait);
}

/* Detaches the call from its wait and closes the timer. */
static eng_api_call_t *wait_take_call(cmd_wait_t *wait)
{
    eng_api_call_t *call = wait->call;
    wait->call = NULL;
    if (call) call->wait = NULL;
    if (!uv_is_closing((uv_handle_t *)&wait->timer))
        uv_close((uv_handle_t *)&wait->timer, on_wait_closed);
    return call;
}

static void answer_sent(eng_api_call_t *call)
{
    eng_api_reply(call,
                  json_pack("{s:s,s:O}", "responsible", call->client, "commands", call->body));
}

/* The commands are in Kafka whatever happens now, so a failed history write
 * is logged and the answer is still 200 (a 503 would invite a resend). */
static void on_recorded(eng_api_call_t *call, redisReply *reply)
{
    call->redis_soft = false;
    int64_t keep = call->cfg->store_commands_per_thing;
    if (!reply) {
        ENG_WARN("command history not recorded", " tuid=%s", call->match.tuid);
    } else if (eng_api_redis(call, NULL, "LTRIM %s{%s}:cmds %lld -1", call->prefix,
                             call->match.tuid, (long long)-keep) < 0) {
        return;
    }
    answer_sent(call);
}

/* Appends the commands (request order) to the history, then answers. */
static void record_history(eng_api_call_t *call, uint32_t now)
{
    size_t n = json_array_size(call->body);
    if (call->cfg->store_commands_per_thing <= 0 || n == 0) {
        answer_sent(call);
        return;
    }
    const char **argv = eng_calloc(n + 2, sizeof *argv);
    size_t *lens = eng_calloc(n + 2, sizeof *lens);
    char key[512];
    snprintf(key, sizeof key, "%s{%s}:cmds", call->prefix, call->match.tuid);
    argv[0] = "RPUSH";
    argv[1] = key;
    for (size_t i = 0; i < n; i++) {
        json_t *rec =
            json_pack("{s:s,s:I,s:s,s:O}", "tuid", call->match.tuid, "timestamp", (json_int_t)now,
                      "responsible", call->client, "command", json_array_get(call->body, i));
        argv[i + 2] = json_dumps(rec, ENG_API_JSON_FLAGS);
        json_decref(rec);
    }
    for (size_t i = 0; i < n + 2; i++)
        lens[i] = argv[i] ? strlen(argv[i]) : 0;
    call->redis_soft = true;
    eng_api_redis_argv(call, on_recorded, (int)(n + 2), argv, lens);
    for (size_t i = 2; i < n + 2; i++)
        free((char *)argv[i]);
    free(argv);
    free(lens);
}

static void on_delivered(void *ctx, int ok)
{
    cmd_wait_t *wait = ctx;
    wait->delivered = true;
    eng_api_call_t *call = wait->call ? wait_take_call(wait) : NULL;
    if (call) {
        if (ok)
            record_history(call, wait->now);
        else
            eng_api_error(call, 503, "Kafka did not acknowledge the commands; nothing was kept");
    }
    wait_maybe_free(wait);
}

static void on_delivery_timeout(uv_timer_t *timer)
{
    cmd_wait_t *wait = timer->data;
    eng_api_call_t *call = wait_take_call(wait);
    if (call) eng_api_error(call, 503, "Kafka did not acknowledge the commands within 10 s");
}

void eng_api_commands_stop(eng_api_t *api)
{
    for (cmd_wait_t *wait = api->cmd_waits; wait; wait = wait->next) {
        eng_api_call_t *call = wait->call ? wait_take_call(wait) : NULL;
        if (call) eng_api_error(call, 503, "shutting down");
    }
}

static bool command_id_allowed(const cfg_t *cfg, json_int_t id)
{
    for (size_t i = 0; i < cfg->api_command_ids_len; i++)
        if (cfg->api_command_ids[i] == id) return true;
    return false;
}

/* Checks the whole array; answers 400 and returns false on the first fault. */
static bool commands_valid(eng_api_call_t *call, json_t *arr)
{
    char msg[160];
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0 || n > COMMANDS_MAX) {
        eng_api_error(call, 400, "the body must be an array of 1 to 100 command objects");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(arr, i);
        json_t *id = json_object_get(c, "tsmId"), *ev = json_object_get(c, "tsmEv");
        const char *fault = !json_is_object(c)     ? "is not an object"
                            : !json_is_integer(id) ? "has no integer tsmId"
                            : !command_id_allowed(call->cfg, json_integer_value(id))
                                ? "has a tsmId outside api.command_ids"
                            : !json_is_integer(ev) ? "has no integer tsmEv"
                                                   : NULL;
        if (fault) {
            snprintf(msg, sizeof msg, "command %zu %s; nothing was sent", i, fault);
            eng_api_error(call, 400, msg);
            return false;
        }
    }
    return true;
}

/* Hands the payloads to the hook and starts the 10 s wait. */
static void produce(eng_api_call_t *call, uint32_t now)
{
    eng_api_t *api = call->api;
    size_t n = json_array_size(call->body);
    char **payloads = eng_calloc(n, sizeof *payloads);
    size_t *lens = eng_calloc(n, sizeof *lens);
    for (size_t i = 0; i < n; i++) {
        payloads[i] = json_dumps(json_array_get(call->body, i), ENG_API_JSON_FLAGS);
        lens[i] = payloads[i] ? strlen(payloads[i]) : 0;
    }
    cmd_wait_t *wait = eng_calloc(1, sizeof *wait);
    wait->api = api;
    wait->call = call;
    wait->now = now;
    call->wait = wait;
    uv_timer_init(api->loop, &wait->timer);
    wait->timer.data = wait;
    wait->next = api->cmd_waits;
    if (wait->next) wait->next->prev = wait;
    api->cmd_waits = wait;
    int rc =
        api->hooks.produce_commands(api->hooks.arg, call->match.tuid, (const char *const *)payloads,
                                    lens, n, on_delivered, wait);
    for (size_t i = 0; i < n; i++)
        free(payloads[i]);
    free(payloads);
    free(lens);
    if (rc != 0) {
        wait->delivered = true; /* done will never come */
        call = wait_take_call(wait);
        if (call) eng_api_error(call, 503, "the commands could not be sent; nothing was kept");
        return;
    }
    if (wait->call) uv_timer_start(&wait->timer, on_delivery_timeout, api->cmd_timeout_ms, 0);
}

void eng_api_commands_send(eng_api_call_t *call)
{
    json_t *arr = eng_api_body(call);
    if (!arr || !commands_valid(call, arr)) return;
    if (!call->api->hooks.produce_commands) {
        eng_api_error(call, 503, "commands cannot be sent by this instance");
        return;
    }
    uint32_t now = eng_api_now();
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *c = json_array_get(arr, i);
        json_object_set_new(c, "tsmTs", json_integer(now));
        json_object_set_new(c, "tsmDstTuid", json_string(call->match.tuid));
    }
    produce(call, now);
}

/* ---- GET: newest `limit` matches, oldest first ---- */

static void on_history(eng_api_call_t *call, redisReply *reply)
{
    const eng_api_filter_t *f = &call->filter;
    json_t *picked = json_array();
    for (size_t k = reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0; k-- > 0;) {
        if ((int64_t)json_array_size(picked) >= f->limit) break;
        redisReply *e = reply->element[k];
        if (e->type != REDIS_REPLY_STRING) continue;
        json_t *rec = json_loadb(e->str, e->len, 0, NULL);
        json_t *cmd = json_object_get(rec, "command");
        if (!rec || !eng_api_filter_pass(f, json_integer_value(json_object_get(cmd, "tsmId")),
                                         json_integer_value(json_object_get(cmd, "tsmEv")),
                                         json_number_value(json_object_get(rec, "timestamp")))) {
            json_decref(rec);
            continue;
        }
        json_array_insert_new(picked, 0, rec);
    }
    eng_api_reply(call, picked);
}

void eng_api_commands_list(eng_api_call_t *call)
{
    call->filter.limit = 100;
    if (eng_api_query_int(call, "limit", 1, 1000, &call->filter.limit) < 0) return;
    if (eng_api_query_filter(call) < 0) return;
    eng_api_redis(call, on_history, "LRANGE %s{%s}:cmds 0 -1", call->prefix, call->match.tuid);
}
