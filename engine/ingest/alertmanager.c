/* alertmanager.c - windows to Prometheus Alertmanager; see alertmanager.h. */
#include "engine/ingest/alertmanager.h"

#include "engine/ingest/am_http.h"
#include "engine/ingest/am_payload.h"
#include "engine/ingest/am_queue.h"
#include "engine/redis/keys.h"
#include "engine/base/log.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_URLS 8
#define MAX_MARKED 4 /* batches in flight or being built that hold changes */

/* Copies the open window's alert (stored as "FROM|BODY" under "TUID|hb" or
 * "TUID|gw" in P{am}:open, written at the open) into every queue, ended at
 * TO; the body computed now is the fallback for a window opened before
 * Alertmanager was configured. KEYS: P{am}:open, the queues. ARGV: field,
 * fallback body, score, entry head, ends suffix, "FROM|". */
static const char close_script[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "local b = ARGV[2]\n"
    "if v and string.sub(v, 1, #ARGV[6]) == ARGV[6] then\n"
    "  b = string.sub(v, #ARGV[6] + 1)\n"
    "  redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "end\n"
    "for i = 2, #KEYS do redis.call('ZADD', KEYS[i], ARGV[3], ARGV[4] .. b .. ARGV[5]) end\n"
    "return 0\n";

typedef struct am_url_s {
    struct eng_am_s *am;
    char *base;     /* as configured, for the log */
    char *post_url; /* BASE/api/v2/alerts */
    char qkey[256]; /* P{am}:q:ID */
    eng_amq_t q;
    uv_timer_t timer;
    eng_am_buf_t body;
    bool refresh_post; /* the POST in flight is a refresh page */
    size_t post_alerts;
} am_url_t;

struct eng_am_s {
    uv_loop_t *loop;
    const cfg_t *cfg;
    eng_store_t *store;
    eng_detector_t *det;
    eng_things_t *things;
    eng_metrics_t *metrics;
    eng_am_http_t *http;
    eng_am_labels_t labels;
    am_url_t urls[MAX_URLS];
    size_t nurls;
    char open_key[256]; /* P{am}:open */
    uv_timer_t resend;
    const eng_batch_t *marked[MAX_MARKED];
    uint64_t last_score;
    bool stopping;
    int closing; /* handles still to close */
};

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pump(am_url_t *u);

/* ---- settings ---- */

/* Reads a secret file: its content without a final newline. */
static int read_secret(const char *key, const char *path, char **out)
{
    *out = NULL;
    if (path[0] == 0) return 0;
    FILE *f = fopen(path, "r");
    char buf[4096];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    int err = errno;
    if (f) fclose(f);
    if (!f) {
        ENG_ERROR("cannot read alertmanager secret", " key=%s path=\"%s\" error=\"%s\"", key, path,
                  strerror(err));
        return -1;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = 0;
    *out = eng_strdup(buf);
    return 0;
}

static uint64_t fnv64(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static void add_url(eng_am_t *am, const char *p, size_t len)
{
    while (len > 0 && p[len - 1] == '/')
        len--;
    am_url_t *u = &am->urls[am->nurls++];
    u->am = am;
    u->base = strndup(p, len);
    u->post_url = eng_malloc(len + 16);
    snprintf(u->post_url, len + 16, "%.*s/api/v2/alerts", (int)len, p);
    char id[32];
    snprintf(id, sizeof id, ":q:%016" PRIx64, fnv64(p, len));
    eng_key_format(u->qkey, sizeof u->qkey, am->cfg->redis_prefix, "am", 2, id);
    eng_amq_init(&u->q);
    uv_timer_init(am->loop, &u->timer);
    u->timer.data = u;
}

static int make_http(eng_am_t *am)
{
    const cfg_t *cfg = am->cfg;
    char *token = NULL, *password = NULL;
    if (read_secret("alertmanager.bearer_token_file", cfg->am_bearer_token_file, &token) != 0 ||
        read_secret("alertmanager.password_file", cfg->am_password_file, &password) != 0) {
        free(token);
        return -1;
    }
    eng_am_http_conf_t hc = {.bearer_token = token,
                             .username = cfg->am_username,
                             .password = password,
                             .ca_file = cfg->am_ca_file,
                             .timeout_ms = (long)cfg->am_timeout * 1000,
                             .connect_timeout_ms = (long)cfg->am_connect_timeout * 1000};
    am->http = eng_am_http_new(am->loop, &hc);
    if (token) sodium_memzero(token, strlen(token));
    if (password) sodium_memzero(password, strlen(password));
    free(token);
    free(password);
    return am->http ? 0 : -1;
}

int eng_am_new(eng_am_t **out, uv_loop_t *loop, const cfg_t *cfg, eng_store_t *store,
               eng_detector_t *det, eng_things_t *things, eng_metrics_t *metrics)
{
    *out = NULL;
    if (cfg->am_url[0] == 0) return 0;
    eng_am_t *am = eng_calloc(1, sizeof *am);
    am->loop = loop;
    am->cfg = cfg;
    am->store = store;
    am->det = det;
    am->things = things;
    am->metrics = metrics;
    char why[256];
    if (eng_am_labels_parse(&am->labels, cfg->am_labels, why, sizeof why) != 0 ||
        make_http(am) != 0) {
        eng_am_labels_free(&am->labels);
        free(am);
        return -1;
    }
    eng_key_format(am->open_key, sizeof am->open_key, cfg->redis_prefix, "am", 2, ":open");
    for (const char *p = cfg->am_url; *p && am->nurls < MAX_URLS;) {
        const char *comma = strchr(p, ',');
        add_url(am, p, comma ? (size_t)(comma - p) : strlen(p));
        if (!comma) break;
        p = comma + 1;
    }
    uv_timer_init(loop, &am->resend);
    am->resend.data = am;
    *out = am;
    return 0;
}

/* ---- lifetime ---- */

static void on_resend(uv_timer_t *timer)
{
    eng_am_t *am = timer->data;
    for (size_t i = 0; i < am->nurls; i++) {
        eng_amq_refresh(&am->urls[i].q);
        pump(&am->urls[i]);
    }
}

void eng_am_start(eng_am_t *am)
{
    uint64_t every = (uint64_t)am->cfg->am_resend_interval * 1000;
    uv_timer_start(&am->resend, on_resend, every, every);
    for (size_t i = 0; i < am->nurls; i++) {
        ENG_INFO("alertmanager", " url=\"%s\" queue=%s", am->urls[i].base, am->urls[i].qkey);
        pump(&am->urls[i]);
    }
}

void eng_am_reload(eng_am_t *am, const cfg_t *cfg)
{
    eng_am_labels_t labels;
    char why[256];
    if (eng_am_labels_parse(&labels, cfg->am_labels, why, sizeof why) == 0) {
        eng_am_labels_free(&am->labels);
        am->labels = labels; /* windows opened from now on carry them */
    }
    bool every_changed = cfg->am_resend_interval != am->cfg->am_resend_interval;
    am->cfg = cfg;
    if (every_changed && !am->stopping) {
        uint64_t every = (uint64_t)cfg->am_resend_interval * 1000;
        uv_timer_start(&am->resend, on_resend, every, every);
    }
}

void eng_am_stop(eng_am_t *am)
{
    if (am->stopping) return;
    am->stopping = true;
    uv_close((uv_handle_t *)&am->resend, NULL);
    for (size_t i = 0; i < am->nurls; i++)
        uv_close((uv_handle_t *)&am->urls[i].timer, NULL);
    eng_am_http_free(am->http);
    am->http = NULL;
}

void eng_am_free(eng_am_t *am)
{
    for (size_t i = 0; i < am->nurls; i++) {
        am_url_t *u = &am->urls[i];
        eng_amq_free(&u->q);
        eng_am_buf_free(&u->body);
        free(u->base);
        free(u->post_url);
    }
    eng_am_labels_free(&am->labels);
    free(am);
}

/* ---- writing changes (ingest's batch) ---- */

static void mark(eng_am_t *am, const eng_batch_t *batch)
{
    for (size_t i = 0; i < MAX_MARKED; i++)
        if (am->marked[i] == batch) return;
    for (size_t i = 0; i < MAX_MARKED; i++)
        if (am->marked[i] == NULL) {
            am->marked[i] = batch;
            return;
        }
    /* Every slot taken (cannot happen with ingest's three batches): the
     * next ack of any marks the queues dirty, which is always safe. */
    am->marked[0] = batch;
}

static void arg_buf(eng_batch_t *b, const eng_am_buf_t *buf)
{
    eng_batch_arg(b, buf->data, buf->len);
}

void eng_am_window(eng_am_t *am, eng_batch_t *b, const eng_window_t *win, const char *group,
                   const char *gateway, size_t gateway_len)
{
    bool gw = win->type == ENG_ALERT_GATEWAY;
    eng_am_alert_t alert = {win->tuid, win->tuid_len, gw, group, gateway, gateway_len, win->from};
    eng_am_buf_t body = {0}, value = {0};
    eng_am_alert_body(&body, &alert, &am->labels);
    char field[PROTO_TUID_MAX + 8], from[16], head[ENG_AM_HEAD_LEN];
    int flen =
        snprintf(field, sizeof field, "%.*s|%s", (int)win->tuid_len, win->tuid, gw ? "gw" : "hb");
    int fromlen = snprintf(from, sizeof from, "%" PRIu32 "|", win->from);
    uint64_t score = wall_ms();
    if (score <= am->last_score) score = am->last_score + 1;
    am->last_score = score;
    eng_am_entry_head(head, win->from, win->open, score);
    if (win->open) {
        eng_am_buf_put(&value, from, (size_t)fromlen);
        eng_am_buf_put(&value, body.data, body.len);
        eng_batch_cmd(b, 4);
        eng_batch_arg_str(b, "HSET");
        eng_batch_arg_str(b, am->open_key);
        eng_batch_arg(b, field, (size_t)flen);
        arg_buf(b, &value);
        value.len = 0;
        eng_am_buf_put(&value, head, sizeof head);
        eng_am_buf_put(&value, body.data, body.len);
        for (size_t i = 0; i < am->nurls; i++) {
            eng_batch_cmd(b, 4);
            eng_batch_arg_str(b, "ZADD");
            eng_batch_arg_str(b, am->urls[i].qkey);
            eng_batch_arg_i64(b, (int64_t)score);
            arg_buf(b, &value);
        }
    } else {
        char ends[48];
        int elen = eng_am_ends_suffix(ends, win->to);
        eng_batch_cmd(b, 3 + 1 + (int)am->nurls + 6);
        eng_batch_arg_str(b, "EVAL");
        eng_batch_arg_str(b, close_script);
        eng_batch_arg_i64(b, 1 + (int64_t)am->nurls);
        eng_batch_arg_str(b, am->open_key);
        for (size_t i = 0; i < am->nurls; i++)
            eng_batch_arg_str(b, am->urls[i].qkey);
        eng_batch_arg(b, field, (size_t)flen);
        arg_buf(b, &body);
        eng_batch_arg_i64(b, (int64_t)score);
        eng_batch_arg(b, head, sizeof head);
        eng_batch_arg(b, ends, (size_t)elen);
        eng_batch_arg(b, from, (size_t)fromlen);
    }
    eng_am_buf_free(&body);
    eng_am_buf_free(&value);
    mark(am, b);
}

void eng_am_acked(eng_am_t *am, const eng_batch_t *batch)
{
    bool had = false;
    for (size_t i = 0; i < MAX_MARKED; i++)
        if (am->marked[i] == batch) am->marked[i] = NULL, had = true;
    if (!had) return;
    for (size_t i = 0; i < am->nurls; i++) {
        eng_amq_changed(&am->urls[i].q);
        pump(&am->urls[i]);
    }
}

/* ---- sending ---- */

static void count_failure(eng_am_t *am, eng_metrics_amfail_t reason)
{
    if (am->metrics) eng_metrics_add(am->metrics, ENG_METRIC_AM_FAILURES, reason, 1);
}

static eng_metrics_amfail_t reason_of(const eng_am_http_result_t *res)
{
    static const char *const names[] = {"connect",  "timeout",  "tls",  "http_4xx",
                                        "http_5xx", "rejected", "other"};
    const char *r = eng_am_http_reason(res);
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(r, names[i]) == 0) return (eng_metrics_amfail_t)i;
    return ENG_METRICS_AMFAIL_OTHER;
}

static void on_post(void *arg, const eng_am_http_result_t *res)
{
    am_url_t *u = arg;
    eng_am_t *am = u->am;
    if (am->metrics) eng_metrics_observe(am->metrics, ENG_METRIC_AM_REQUEST_DURATION, res->seconds);
    bool ok = res->curl_code == 0 && res->status >= 200 && res->status < 300;
    if (!ok && res->curl_code == 0 && (res->status == 400 || res->status == 422) &&
        !u->refresh_post) {
        ENG_ERROR("alertmanager refused alerts",
                  " url=\"%s\" status=%ld alerts=%zu answer=\"%.120s\"", u->base, res->status,
                  u->post_alerts, res->err ? res->err : "");
        count_failure(am, ENG_METRICS_AMFAIL_REJECTED);
        eng_amq_post_rejected(&u->q);
        pump(u);
        return;
    }
    uint64_t now = wall_ms();
    int change = eng_amq_post_done(&u->q, ok, u->refresh_post, now);
    if (ok && am->metrics) {
        eng_metrics_add(am->metrics, ENG_METRIC_AM_ALERTS_SENT, 0, u->post_alerts);
        eng_metrics_inc(am->metrics, ENG_METRIC_AM_POSTS);
    }
    if (!ok) count_failure(am, reason_of(res));
    if (change < 0)
        ENG_WARN("alertmanager unreachable", " url=\"%s\" reason=%s status=%ld error=\"%.120s\"",
                 u->base, eng_am_http_reason(res), res->status, res->err ? res->err : "");
    else if (change > 0)
        ENG_INFO("alertmanager back", " url=\"%s\" down_s=%.1f", u->base,
                 (double)(now - u->q.down_since_ms) / 1000.0);
    if (!am->stopping) pump(u);
}

static void post(am_url_t *u, bool refresh)
{
    u->refresh_post = refresh;
    if (u->am->stopping || u->am->http == NULL) return;
    if (eng_am_http_post(u->am->http, u->post_url, u->body.data, u->body.len, on_post, u) != 0) {
        eng_am_http_result_t res = {.curl_code = -1, .err = "request not started"};
        on_post(u, &res);
    }
}

static uint32_t ends_open(const eng_am_t *am)
{
    return (uint32_t)(wall_ms() / 1000 + 4 * (uint64_t)am->cfg->am_resend_interval);
}

static void post_batch(am_url_t *u)
{
    u->body.len = 0;
    u->post_alerts = eng_am_post_body(&u->body, (const char *const *)u->q.entries, u->q.lens,
                                      u->q.n, ends_open(u->am));
    post(u, false);
}

/* ---- reads ---- */

static void on_zrange(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    am_url_t *u = privdata;
    redisReply *r = reply;
    if (u->am->stopping) return;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        eng_amq_read_failed(&u->q, wall_ms());
        pump(u);
        return;
    }
    const char *entries[ENG_AMQ_BATCH] = {0};
    size_t lens[ENG_AMQ_BATCH] = {0}, n = 0;
    for (size_t i = 0; i < r->elements && n < ENG_AMQ_BATCH; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) continue;
        entries[n] = r->element[i]->str;
        lens[n++] = r->element[i]->len;
    }
    eng_amq_read_done(&u->q, entries, lens, n, u->q.depth);
    /* A full batch means more wait behind it. */
    if (n == ENG_AMQ_BATCH) eng_amq_changed(&u->q);
    pump(u);
}

static void on_zcard(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    am_url_t *u = privdata;
    redisReply *r = reply;
    if (u->am->stopping || r == NULL || r->type != REDIS_REPLY_INTEGER) return;
    u->q.depth = (uint64_t)r->integer;
}

static void on_ignore(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac, (void)reply, (void)privdata;
}

/* ZREM of the delivered entries, ZRANGE of the next, ZCARD: pipelined on the
 * store's connection, so the read sees every batch acknowledged before it. */
static void read_next(am_url_t *u)
{
    eng_store_t *store = u->am->store;
    eng_amq_t *q = &u->q;
    int rc = 0;
    if (q->delivered && q->n > 0) {
        const char **argv = eng_malloc((q->n + 2) * sizeof *argv);
        size_t *lens = eng_malloc((q->n + 2) * sizeof *lens);
        argv[0] = "ZREM", lens[0] = 4;
        argv[1] = u->qkey, lens[1] = strlen(u->qkey);
        for (size_t i = 0; i < q->n; i++)
            argv[i + 2] = q->entries[i], lens[i + 2] = q->lens[i];
        rc = eng_store_read(store, on_ignore, NULL, (int)q->n + 2, argv, lens);
        free(argv);
        free(lens);
    }
    char stop[16];
    snprintf(stop, sizeof stop, "%d", ENG_AMQ_BATCH - 1);
    const char *zr[] = {"ZRANGE", u->qkey, "0", stop};
    size_t zrl[] = {6, strlen(u->qkey), 1, strlen(stop)};
    if (rc == 0) rc = eng_store_read(store, on_zrange, u, 4, zr, zrl);
    if (rc != 0) {
        /* Not connected: the delivered entries are removed at the next try. */
        eng_amq_read_failed(q, wall_ms());
        return;
    }
    const char *zc[] = {"ZCARD", u->qkey};
    size_t zcl[] = {5, strlen(u->qkey)};
    eng_store_read(store, on_zcard, u, 2, zc, zcl);
}

/* ---- refresh: re-sending the open windows ---- */

/* Appends one P{am}:open entry to the refresh body when this instance holds
 * the window open; returns true when it did. */
static bool refresh_one(am_url_t *u, const redisReply *f, const redisReply *v, uint32_t ends)
{
    eng_am_t *am = u->am;
    if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || f->len < 4) return false;
    const char *bar = f->str + f->len - 3;
    if (*bar != '|') return false;
    eng_alert_t type = strcmp(bar + 1, "gw") == 0 ? ENG_ALERT_GATEWAY : ENG_ALERT_HEARTBEAT;
    uint32_t idx = eng_things_get(am->things, f->str, (size_t)(bar - f->str));
    if (idx == ENG_THING_NONE || !eng_detector_is_open(am->det, idx, type)) return false;
    const char *body = memchr(v->str, '|', v->len);
    if (body == NULL) return false;
    body++;
    char suffix[48];
    int slen = eng_am_ends_suffix(suffix, ends);
    eng_am_buf_put(&u->body, u->post_alerts ? "," : "[", 1);
    eng_am_buf_put(&u->body, body, v->len - (size_t)(body - v->str));
    eng_am_buf_put(&u->body, suffix, (size_t)slen);
    u->post_alerts++;
    return true;
}

static void on_scan(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    am_url_t *u = privdata;
    redisReply *r = reply;
    if (u->am->stopping) return;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        eng_amq_scan_done(&u->q, "0");
        eng_amq_read_failed(&u->q, wall_ms());
        pump(u);
        return;
    }
    eng_amq_scan_done(&u->q, r->element[0]->str);
    const redisReply *kv = r->element[1];
    u->body.len = 0;
    u->post_alerts = 0;
    uint32_t ends = ends_open(u->am);
    for (size_t i = 0; i + 1 < kv->elements; i += 2)
        refresh_one(u, kv->element[i], kv->element[i + 1], ends);
    if (u->post_alerts == 0) {
        pump(u);
        return;
    }
    eng_am_buf_put(&u->body, "]", 1);
    u->q.busy = true; /* the refresh page's POST */
    post(u, true);
}

static void scan_next(am_url_t *u)
{
    char count[16];
    snprintf(count, sizeof count, "%d", ENG_AMQ_BATCH);
    const char *argv[] = {"HSCAN", u->am->open_key, u->q.cursor, "COUNT", count};
    size_t lens[] = {5, strlen(u->am->open_key), strlen(u->q.cursor), 5, strlen(count)};
    if (eng_store_read(u->am->store, on_scan, u, 5, argv, lens) != 0) {
        eng_amq_scan_done(&u->q, "0");
        eng_amq_read_failed(&u->q, wall_ms());
        eng_amq_refresh(&u->q);
    }
}

/* ---- the state machine's driver ---- */

static void on_timer(uv_timer_t *timer)
{
    pump(timer->data);
}

static void pump(am_url_t *u)
{
    if (u->am->stopping) return;
    for (int guard = 0; guard < 4; guard++) {
        uint64_t wait = 0;
        switch (eng_amq_next(&u->q, wall_ms(), &wait)) {
        case ENG_AMQ_NONE:
            return;
        case ENG_AMQ_WAIT:
            uv_timer_start(&u->timer, on_timer, wait, 0);
            return;
        case ENG_AMQ_READ:
            read_next(u);
            break;
        case ENG_AMQ_POST:
            post_batch(u);
            break;
        case ENG_AMQ_SCAN:
            scan_next(u);
            break;
        }
    }
}

void eng_am_sync_metrics(const eng_am_t *am, eng_metrics_t *m)
{
    uint64_t depth = 0, oldest = 0, now = wall_ms();
    int64_t up = 0;
    for (size_t i = 0; i < am->nurls; i++) {
        const eng_amq_t *q = &am->urls[i].q;
        depth += q->depth;
        up += q->up && q->ever_posted;
        if (q->holding && q->oldest_enq_ms && now > q->oldest_enq_ms &&
            now - q->oldest_enq_ms > oldest)
            oldest = now - q->oldest_enq_ms;
    }
    eng_metrics_set(m, ENG_METRIC_AM_QUEUE_DEPTH, 0, (int64_t)depth);
    eng_metrics_set(m, ENG_METRIC_AM_OLDEST_UNSENT, 0, (int64_t)(oldest / 1000));
    eng_metrics_set(m, ENG_METRIC_AM_UP, 0, up);
}
