/* api.c - the API's life cycle, its Redis connection, request dispatch
 * (authentication, routing, 415) and the helpers the handlers share; see api.h and internal.h. */
#include "engine/api/internal.h"
#include "engine/base/log.h"
#include "engine/redis/redis_auth.h"
#include "engine/redis/redis_uv.h"

#include <hiredis/async.h>
#include <http_parser.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define REDIS_TICK_MS 250
#define REDIS_REPLY_TIMEOUT_MS 5000
#define REDIS_CONNECT_TIMEOUT_MS 2000
#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 5000

/* ---- Redis connection ---- */

static void redis_connect(eng_api_t *api);
static void on_stop_part(eng_api_t *api);

static void redis_schedule(eng_api_t *api)
{
    api->retry_at_ms = uv_now(api->loop) + api->backoff_ms;
    api->backoff_ms =
        api->backoff_ms * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS : api->backoff_ms * 2;
}

static void on_redis_connect(const redisAsyncContext *ac, int status)
{
    eng_api_t *api = ac->data;
    if (status != REDIS_OK) {
        ENG_WARN("api redis connect failed", " err=\"%s\"", ac->errstr);
        if (api->ac == ac) api->ac = NULL; /* hiredis frees it */
        redis_schedule(api);
        return;
    }
    /* Usable once the setup commands (AUTH, SELECT) and a PING answered. */
}

/* Setup replies: AUTH and SELECT (an error spoils the connection), then PING. */
static void on_redis_setup(redisAsyncContext *ac, void *r, void *priv)
{
    eng_api_t *api = ac->data;
    redisReply *reply = r;
    bool ping = priv != NULL;
    if (!reply || api->ac != ac) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        ENG_WARN("api redis setup failed", " err=\"%.*s\"", (int)reply->len, reply->str);
        api->setup_failed = true; /* the connect deadline drops it and retries */
        return;
    }
    if (!ping || api->setup_failed) return;
    api->redis_up = true;
    api->backoff_ms = REDIS_BACKOFF_MIN_MS;
    ENG_INFO("api redis connected", " host=%s port=%lld", api->cfg->redis_host,
             (long long)api->cfg->redis_port);
}

static void on_redis_disconnect(const redisAsyncContext *ac, int status)
{
    eng_api_t *api = ac->data;
    if (status != REDIS_OK) ENG_WARN("api redis disconnected", " err=\"%s\"", ac->errstr);
    if (api->ac == ac) api->ac = NULL;
    api->redis_up = false;
    if (api->stop_redis) {
        api->stop_redis = false;
        on_stop_part(api);
        return;
    }
    if (!api->stopping) redis_schedule(api);
}

static void redis_connect(eng_api_t *api)
{
    redisAsyncContext *ac = redisAsyncConnect(api->cfg->redis_host, (int)api->cfg->redis_port);
    if (!ac || ac->err) {
        ENG_WARN("api redis connect failed", " err=\"%s\"", ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        redis_schedule(api);
        return;
    }
    ac->data = api;
    if (eng_redis_uv_attach(ac, api->loop, NULL) != 0) {
        redisAsyncFree(ac);
        redis_schedule(api);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_redis_connect);
    redisAsyncSetDisconnectCallback(ac, on_redis_disconnect);
    api->setup_failed = false;
    eng_redis_auth_async(ac, api->cfg, on_redis_setup, NULL);
    if (api->cfg->redis_db)
        redisAsyncCommand(ac, on_redis_setup, NULL, "SELECT %lld", (long long)api->cfg->redis_db);
    redisAsyncCommand(ac, on_redis_setup, api, "PING");
    api->ac = ac;
    api->progress_ms = api->connect_ms = uv_now(api->loop);
}

/* Reconnects after the backoff; drops a connection whose replies stall
 * (hiredis 0.14 has no timeouts), which answers its calls 503. */
static void on_redis_tick(uv_timer_t *timer)
{
    eng_api_t *api = timer->data;
    uint64_t now = uv_now(api->loop);
    if (!api->ac && !api->stopping && now >= api->retry_at_ms) redis_connect(api);
    /* hiredis 0.14 has no connect timeout: a connect to a host that never
     * answers (SYN dropped) would wait for the kernel's minutes of retries,
     * so a connect has its own deadline. */
    bool connect_late =
        api->ac && !api->redis_up && now - api->connect_ms > REDIS_CONNECT_TIMEOUT_MS;
    bool reply_late =
        api->ac && api->inflight > 0 && now - api->progress_ms > REDIS_REPLY_TIMEOUT_MS;
    if (connect_late || reply_late) {
        ENG_WARN(connect_late ? "api redis connect timeout" : "api redis reply timeout",
                 " inflight=%llu", (unsigned long long)api->inflight);
        redisAsyncContext *ac = api->ac;
        api->ac = NULL;
        api->redis_up = false;
        redisAsyncFree(ac);
        redis_schedule(api);
    }
}

bool eng_api_redis_up(const eng_api_t *api)
{
    return api->redis_up && api->ac;
}

static void on_redis_reply(redisAsyncContext *ac, void *r, void *priv)
{
    eng_api_t *api = ac->data;
    eng_api_call_t *call = priv;
    redisReply *reply = r;
    api->inflight--;
    api->progress_ms = uv_now(api->loop);
    eng_api_reply_fn fn = call->redis_fn;
    call->redis_fn = NULL;
    if (call->redis_soft && (!reply || reply->type == REDIS_REPLY_ERROR)) {
        fn(call, NULL);
        return;
    }
    if (!reply) {
        eng_api_error(call, 503, "Redis is unavailable");
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        ENG_WARN("api redis error", " err=\"%.*s\"", (int)reply->len, reply->str);
        eng_api_error(call, 503, "Redis refused the request");
        return;
    }
    fn(call, reply);
}

static int redis_sent(eng_api_call_t *call, eng_api_reply_fn fn, int rc)
{
    if (rc != REDIS_OK) {
        call->redis_fn = NULL;
        if (call->redis_soft && fn) {
            fn(call, NULL);
        } else {
            eng_api_error(call, 503, "Redis is unavailable");
        }
        return -1;
    }
    if (fn) {
        if (call->api->inflight++ == 0) call->api->progress_ms = uv_now(call->api->loop);
    }
    return 0;
}

int eng_api_redis(eng_api_call_t *call, eng_api_reply_fn fn, const char *fmt, ...)
{
    eng_api_t *api = call->api;
    assert(call->redis_fn == NULL);
    if (!eng_api_redis_up(api)) return redis_sent(call, fn, REDIS_ERR); /* fail fast */
    call->redis_fn = fn;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(api->ac, fn ? on_redis_reply : NULL, fn ? call : NULL, fmt, ap);
    va_end(ap);
    return redis_sent(call, fn, rc);
}

int eng_api_redis_argv(eng_api_call_t *call, eng_api_reply_fn fn, int argc, const char **argv,
                       const size_t *lens)
{
    eng_api_t *api = call->api;
    assert(call->redis_fn == NULL);
    if (!eng_api_redis_up(api)) return redis_sent(call, fn, REDIS_ERR);
    call->redis_fn = fn;
    int rc = redisAsyncCommandArgv(api->ac, fn ? on_redis_reply : NULL, fn ? call : NULL, argc,
                                   argv, lens);
    return redis_sent(call, fn, rc);
}

/* ---- life cycle ---- */

eng_api_t *eng_api_new(uv_loop_t *loop, const cfg_t *cfg, const eng_api_hooks_t *hooks)
{
    eng_api_t *api = eng_calloc(1, sizeof *api);
    api->loop = loop;
    api->cfg = cfg;
    if (hooks) api->hooks = *hooks;
    api->backoff_ms = REDIS_BACKOFF_MIN_MS;
    api->cmd_timeout_ms = 10000;
    size_t n;
    eng_api_routes(&n);
    api->nroutes = n + 1; /* the last row counts unmatched requests */
    api->counts = eng_calloc(api->nroutes, sizeof *api->counts);
    api->hist = eng_calloc(api->nroutes, sizeof *api->hist);
    api->sum = eng_calloc(api->nroutes, sizeof *api->sum);
    api->auth = eng_api_auth_new(api);
    return api;
}

int eng_api_connect(eng_api_t *api)
{
    if (api->timer_init) return 0;
    uv_timer_init(api->loop, &api->redis_timer);
    api->redis_timer.data = api;
    api->timer_init = true;
    uv_timer_start(&api->redis_timer, on_redis_tick, REDIS_TICK_MS, REDIS_TICK_MS);
    redis_connect(api);
    return 0;
}

static void api_handle_cb(void *arg, eng_http_req_t *req)
{
    eng_api_handle(arg, req);
}

int eng_api_start(eng_api_t *api)
{
    eng_api_connect(api);
    eng_http_limits_t limits = {
        .max_body = (size_t)api->cfg->http_max_body_bytes,
        .idle_ms = (uint64_t)api->cfg->http_idle_timeout * 1000,
        .max_conns = ENG_HTTP_MAX_CONNS,
    };
    api->http = eng_http_server_new(api->loop, &limits, api_handle_cb, api);
    char bound[96] = "";
    int rc = eng_http_server_listen(api->http, api->cfg->http_listen, bound, sizeof bound);
    if (rc) {
        ENG_ERROR("listen failed", " addr=%s err=\"%s\"", api->cfg->http_listen, uv_strerror(rc));
        return rc;
    }
    ENG_INFO("listening", " addr=%s", bound);
    return 0;
}

static void stop_check(eng_api_t *api)
{
    if (api->stop_parts > 0 || !api->stop_done) return;
    void (*done)(void *) = api->stop_done;
    api->stop_done = NULL;
    api->stopped = true;
    done(api->stop_arg);
}

static void on_stop_part(eng_api_t *api)
{
    api->stop_parts--;
    stop_check(api);
}

static void on_timer_closed(uv_handle_t *handle)
{
    on_stop_part(handle->data);
}

static void on_http_stopped(void *arg)
{
    eng_api_t *api = arg;
    /* Every HTTP request is answered; now Redis can go. */
    if (api->ac && api->redis_up) {
        api->stop_parts++;
        api->stop_redis = true;
        redisAsyncDisconnect(api->ac); /* on_redis_disconnect counts the part */
    } else if (api->ac) {
        redisAsyncContext *ac = api->ac; /* still connecting: no disconnect callback */
        api->ac = NULL;
        redisAsyncFree(ac);
    }
    if (api->timer_init) {
        api->stop_parts++;
        uv_close((uv_handle_t *)&api->redis_timer, on_timer_closed);
    }
    on_stop_part(api);
}

void eng_api_auth_idle(eng_api_t *api)
{
    if (api->stopping) on_stop_part(api);
}

void eng_api_stop(eng_api_t *api, void (*done)(void *arg), void *arg)
{
    api->stopping = true;
    api->stop_done = done;
    api->stop_arg = arg;
    api->stop_parts = 1 + (int)eng_api_auth_stop(api->auth);
    eng_api_commands_stop(api);
    if (api->http) {
        eng_http_server_stop(api->http, on_http_stopped, api);
    } else {
        on_http_stopped(api);
    }
}

static void on_free_stopped(void *arg)
{
    *(bool *)arg = true;
}

void eng_api_free(eng_api_t *api)
{
    if (!api) return;
    if (!api->stopped && (api->timer_init || api->http)) {
        /* Started and not stopped: close everything before the memory goes. */
        bool done = false;
        if (!api->stopping)
            eng_api_stop(api, on_free_stopped, &done);
        else
            api->stop_done = on_free_stopped, api->stop_arg = &done;
        while (!done)
            uv_run(api->loop, UV_RUN_ONCE);
    }
    if (api->ac) redisAsyncFree(api->ac);
    eng_http_server_free(api->http);
    eng_api_auth_free(api->auth);
    free(api->counts);
    free(api->hist);
    free(api->sum);
    free(api);
}

/* ---- answers ---- */

static void call_free(eng_api_call_t *call)
{
    json_decref(call->body);
    json_decref(call->scratch);
    free(call->filter.ids);
    free(call->filter.evs);
    free(call);
}

static void respond_full(eng_api_call_t *call, int status, const char *content_type,
                         const char *headers, const char *body, size_t len)
{
    eng_http_req_t *req = call->req;
    assert(call->redis_fn == NULL);
    int route = call->match.index >= 0 ? call->match.index : (int)call->api->nroutes - 1;
    eng_api_metrics_record(call->api, route, status, uv_hrtime() - req->start_ns);
    call_free(call);
    req->user = NULL;
    eng_http_resp_t resp = {status, content_type, headers, body, len};
    eng_http_respond(req, &resp);
}

void eng_api_respond(eng_api_call_t *call, int status, const char *content_type, const char *body,
                     size_t len)
{
    respond_full(call, status, content_type, NULL, body, len);
}

void eng_api_error_hdr(eng_api_call_t *call, int status, const char *message,
                       const char *extra_headers)
{
    json_t *j = json_pack("{s:i,s:s,s:s}", "statusCode", status, "error", eng_http_reason(status),
                          "message", message ? message : "");
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) s = eng_strdup("{\"statusCode\":500,\"error\":\"Internal Server Error\"}");
    respond_full(call, status, NULL, extra_headers, s, strlen(s));
    free(s);
}

void eng_api_error(eng_api_call_t *call, int status, const char *message)
{
    eng_api_error_hdr(call, status, message, NULL);
}

void eng_api_reply(eng_api_call_t *call, json_t *data)
{
    json_t *root = data ? json_pack("{s:o}", "data", data) : NULL;
    char *s = root ? json_dumps(root, ENG_API_JSON_FLAGS) : NULL;
    json_decref(root);
    if (!s) {
        eng_api_error(call, 500, "the answer could not be encoded as JSON");
        return;
    }
    respond_full(call, 200, NULL, NULL, s, strlen(s));
    free(s);
}

/* ---- dispatch ---- */

/* Returns true when a body's Content-Type is present and not application/json. */
static bool unsupported_media(const eng_http_req_t *req)
{
    if (req->body_len == 0 || !req->content_type) return false;
    const char *s = req->content_type;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strcspn(s, ";");
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return !(n == 16 && strncasecmp(s, "application/json", 16) == 0);
}

static void dispatch(eng_api_call_t *call)
{
    eng_route_match_t *m = &call->match;
    if (m->status == 405) {
        char hdr[128];
        snprintf(hdr, sizeof hdr, "Allow: %s\r\n", m->allow);
        eng_api_error_hdr(call, 405, m->message, hdr);
        return;
    }
    if (m->status) {
        eng_api_error(call, m->status, m->message);
        return;
    }
    if (unsupported_media(call->req)) {
        eng_api_error(call, 415, "the body must be application/json");
        return;
    }
    size_t n;
    const eng_api_route_t *table = eng_api_routes(&n);
    table[m->index].handler(call);
}

void eng_api_handle(eng_api_t *api, eng_http_req_t *req)
{
    eng_api_call_t *call = eng_calloc(1, sizeof *call);
    call->api = api;
    call->cfg = api->cfg;
    call->req = req;
    call->prefix = api->cfg->redis_prefix;
    call->filter.from = INT64_MIN;
    call->filter.to = INT64_MAX;
    req->user = call;
    eng_api_route_match(api->cfg->http_base_path, req->method, req->path, req->path_len,
                        &call->match);
    if (api->stopping) {
        eng_api_error(call, 503, "shutting down");
        return;
    }
    if (call->match.open) {
        dispatch(call);
    } else {
        eng_api_auth_check(call, dispatch);
    }
}

/* ---- request helpers ---- */

json_t *eng_api_body(eng_api_call_t *call)
{
    const eng_http_req_t *req = call->req;
    if (!req->body || req->body_len == 0) {
        eng_api_error(call, 400, "a JSON body is required");
        return NULL;
    }
    json_error_t err;
    json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        char msg[200];
        snprintf(msg, sizeof msg, "invalid JSON: %s", err.text);
        eng_api_error(call, 400, msg);
        return NULL;
    }
    call->body = j;
    return j;
}

bool eng_api_parse_i64(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 20) return false;
    size_t i = 0;
    bool neg = s[0] == '-';
    if (neg || s[0] == '+') i++;
    if (i == len) return false;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX) return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

int eng_api_query_int(eng_api_call_t *call, const char *name, int64_t min, int64_t max,
                      int64_t *out)
{
    char buf[32], msg[160];
    int r = eng_router_query(call->req->query, name, buf, sizeof buf);
    if (r == 0) return 0;
    int64_t v;
    if (r < 0 || !eng_api_parse_i64(buf, strlen(buf), &v) || v < min || v > max) {
        snprintf(msg, sizeof msg, "%s must be an integer from %lld to %lld", name, (long long)min,
                 (long long)max);
        eng_api_error(call, 400, msg);
        return -1;
    }
    *out = v;
    return 1;
}

/* Parses a comma list of integers into a new array. Returns the count, -1 bad. */
static long parse_list(const char *s, int64_t **out)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    int64_t *v = eng_malloc(cap * sizeof *v);
    size_t n = 0;
    for (const char *p = s;;) {
        size_t len = strcspn(p, ",");
        if (!eng_api_parse_i64(p, len, &v[n])) {
            free(v);
            return -1;
        }
        n++;
        if (!p[len]) break;
        p += len + 1;
    }
    *out = v;
    return (long)n;
}

static int query_list(eng_api_call_t *call, const char *name, int64_t **ids, size_t *n)
{
    char buf[ENG_HTTP_MAX_HEAD], msg[128];
    int r = eng_router_query(call->req->query, name, buf, sizeof buf);
    if (r == 0) return 0;
    long k = r < 0 ? -1 : parse_list(buf, ids);
    if (k < 0) {
        snprintf(msg, sizeof msg, "%s must be a comma-separated list of integers", name);
        eng_api_error(call, 400, msg);
        return -1;
    }
    *n = (size_t)k;
    return 1;
}

int eng_api_query_filter(eng_api_call_t *call)
{
    eng_api_filter_t *f = &call->filter;
    const int64_t lim = INT64_C(1) << 40;
    if (eng_api_query_int(call, "from", -lim, lim, &f->from) < 0) return -1;
    if (eng_api_query_int(call, "to", -lim, lim, &f->to) < 0) return -1;
    if (query_list(call, "messageid", &f->ids, &f->nids) < 0) return -1;
    if (query_list(call, "eventid", &f->evs, &f->nevs) < 0) return -1;
    return 0;
}

static bool in_list(const int64_t *v, size_t n, int64_t x)
{
    if (!v) return true;
    for (size_t i = 0; i < n; i++)
        if (v[i] == x) return true;
    return false;
}

bool eng_api_filter_pass(const eng_api_filter_t *f, int64_t id, int64_t ev, double ts)
{
    double sec = floor(ts);
    return in_list(f->ids, f->nids, id) && in_list(f->evs, f->nevs, ev) && sec >= (double)f->from &&
           sec <= (double)f->to;
}

void eng_api_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(out, 32, "1970-01-01T00:00:00");
}

uint32_t eng_api_now(void)
{
    return (uint32_t)time(NULL);
}

json_t *eng_api_json_number(const char *s, size_t len)
{
    int64_t i;
    if (eng_api_parse_i64(s, len, &i)) return json_integer(i);
    char buf[64];
    if (len == 0 || len >= sizeof buf) return NULL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    double d = strtod(buf, &end);
    if (*end || !isfinite(d)) return NULL;
    return json_real(d);
}

static int cmp_reply_str(const void *a, const void *b)
{
    const redisReply *x = *(redisReply *const *)a, *y = *(redisReply *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

json_t *eng_api_sorted_strings(redisReply *reply)
{
    json_t *arr = json_array();
    if (reply->type != REDIS_REPLY_ARRAY) return arr;
    redisReply **v = eng_malloc((reply->elements + 1) * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < reply->elements; i++)
        if (reply->element[i]->type == REDIS_REPLY_STRING) v[n++] = reply->element[i];
    qsort(v, n, sizeof *v, cmp_reply_str);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_stringn(v[i]->str, v[i]->len);
        if (s) json_array_append_new(arr, s);
    }
    free(v);
    return arr;
}
