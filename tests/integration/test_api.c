/* test_api.c - the REST API end to end: the real tsmd over TCP, the test
 * redis-server, tsm-broker in its own process (CONTRACT.md sections 4, 5).
 *
 * Every test starts its own tsm-broker (one partition per topic, so the
 * consumption order is the produce order) and tsmd with a unique
 * redis.prefix, `auth.bootstrap_client=apiclient:s3cret-api` and, for most,
 * `http.base_path=/prod/v1`. The tests that need things feed real telemetry
 * first (JSON on tsm.raw, tsmTs from about an hour ago, waited for with
 * h_wait_committed) and seed alert windows by producing a story that opens
 * and closes them in event-clock mode (heartbeat 600 s, gateway 300 s); no
 * Redis key is written by hand. The story, B a minute-aligned time about an
 * hour ago, G the clock gateway reporting every 60 s up to B+1740:
 *   S1 via G at B, silent, then B+1200 (batl 86), B+1260 (lat/lon),
 *      B+1320 (swVersion, tsmEv 11), B+1380.5 (temp): hb window [B, B+1200];
 *   S2 via G at B only: hb window [B, open), the only alerting thing;
 *   G2 at B (relaying S3), silent, then every 60 s from B+900: gw and hb
 *      windows [B, B+900];
 *   S3 via G2 at B, then via G every 60 s: no window;
 *   S4 via G at B+1680 (used for deploymentGroupId);
 *   S5 via G at B, B+720, then every 60 s from B+1440: hb windows
 *      [B, B+720] and [B+720, B+1440];
 *   TSSNAPIX0..4 via G at B only: open hb windows, alerting with S2.
 * Every error answer is checked for the shape the vendor's clients decode,
 * {"statusCode": N, "error": "<reason phrase>", "message": "..."}.
 * Checks of the API's answers are cr_expect (all failures get listed);
 * setup steps are cr_assert. */
#include "harness.h"

#include <jansson.h>
#include <netinet/tcp.h>
#include <stdbool.h>

#define CLIENT "apiclient"
#define SECRET "s3cret-api"
#define BASE "/prod/v1"
#define S1 "TSSNAPI0000001"
#define S2 "TSSNAPI0000002"
#define S3 "TSSNAPI0000003"
#define S4 "TSSNAPI0000004"
#define S5 "TSSNAPI0000005"
#define G1 "TSGWAPI0000001"
#define G2 "TSGWAPI0000002"
#define JSON_CT "Content-Type: application/json; charset=UTF-8\r\n"

/* ---- HTTP over a socket: raw bytes in, parsed answers out ---- */

typedef struct resp_s {
    int status;
    char head[16384];
    char body[262144];
    json_t *json; /* the body parsed, or NULL */
} resp_t;

static int tcp_connect(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect to %d: %s", port,
                 strerror(errno));
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t k = send(fd, data, len, MSG_NOSIGNAL);
        if (k <= 0) return; /* the server may close early (413, 431): read what it said */
        data += k, len -= (size_t)k;
    }
}

/* Reads until EOF, the receive timeout or cap; returns the bytes read. */
static size_t read_all(int fd, char *out, size_t cap)
{
    size_t got = 0;
    ssize_t k;
    while (got < cap - 1 && (k = recv(fd, out + got, cap - 1 - got, 0)) > 0) got += (size_t)k;
    out[got] = 0;
    return got;
}

/* Parses one answer at buf into r; returns the bytes it took, 0 if none. */
static size_t parse_one(const char *buf, size_t len, resp_t *r)
{
    if (r->json) json_decref(r->json), r->json = NULL;
    r->status = -1, r->head[0] = r->body[0] = 0;
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (len < 12 || end == NULL || sscanf(buf, "HTTP/1.1 %d", &r->status) != 1) return 0;
    size_t hlen = (size_t)(end - buf) + 2;
    snprintf(r->head, sizeof r->head, "%.*s", (int)hlen, buf);
    size_t blen = len - hlen - 2;
    const char *cl = strcasestr(r->head, "\r\nContent-Length:");
    if (cl) blen = (size_t)strtoul(cl + 17, NULL, 10);
    if (blen > len - hlen - 2) blen = len - hlen - 2;
    snprintf(r->body, sizeof r->body, "%.*s", (int)blen, end + 4);
    r->json = json_loadb(end + 4, blen, JSON_DECODE_ANY, NULL);
    return hlen + 2 + blen;
}

/* Copies the value of header name (case-insensitive) into out; false if none. */
static bool header(const resp_t *r, const char *name, char *out, size_t cap)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    const char *h = strcasestr(r->head, pat);
    if (h == NULL) return false;
    h += strlen(pat);
    while (*h == ' ') h++;
    snprintf(out, cap, "%.*s", (int)strcspn(h, "\r\n"), h);
    return true;
}

/* Sends raw bytes on a new connection, reads to EOF, parses the first answer. */
static int exchange(int port, const char *raw, size_t len, resp_t *r)
{
    static char buf[1 << 20];
    int fd = tcp_connect(port, 20000);
    send_all(fd, raw, len);
    size_t got = read_all(fd, buf, sizeof buf);
    close(fd);
    parse_one(buf, got, r);
    return r->status;
}

/* One request with Connection: close; headers are full lines or NULL. */
static int request(int port, resp_t *r, const char *method, const char *path, const char *token,
                   const char *headers, const char *body)
{
    static char raw[1 << 20];
    char auth[128] = "";
    if (token) snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    char length[64] = "";
    if (body) snprintf(length, sizeof length, "Content-Length: %zu\r\n", strlen(body));
    int n = snprintf(raw, sizeof raw, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s%s%s\r\n%s",
                     method, path, auth, headers ? headers : "", length, body ? body : "");
    cr_assert(n > 0 && (size_t)n < sizeof raw);
    return exchange(port, raw, (size_t)n, r);
}

/* ---- JSON ---- */

/* The value at a dotted path ("data.0.tuid"; numbers index arrays), or NULL. */
static json_t *jat(json_t *j, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok_r(buf, ".", &save); j && tok; tok = strtok_r(NULL, ".", &save))
        j = json_is_array(j) ? json_array_get(j, (size_t)atoi(tok)) : json_object_get(j, tok);
    return j;
}

static const char *jstr(json_t *j, const char *path)
{
    const char *s = json_string_value(jat(j, path));
    return s ? s : "<not a string>";
}

static long long jint(json_t *j, const char *path)
{
    json_t *v = jat(j, path);
    return json_is_integer(v) ? json_integer_value(v) : -999999;
}

/* The length of the array at path; 0 when there is none (checks that want
 * an empty array compare the body). */
static size_t jlen(json_t *j, const char *path)
{
    json_t *v = jat(j, path);
    return json_is_array(v) ? json_array_size(v) : 0;
}

static bool jnull(json_t *j, const char *path)
{
    return json_is_null(jat(j, path));
}

/* Checks an error answer: status, JSON body {statusCode, error, message}. */
static void expect_error(const resp_t *r, int status, const char *phrase, const char *what)
{
    cr_expect_eq(r->status, status, "%s: status %d, expected %d; body %s", what, r->status, status,
                 r->body);
    json_t *j = r->json;
    cr_expect(json_is_object(j), "%s: body is not a JSON object: %s", what, r->body);
    cr_expect_eq(jint(j, "statusCode"), status, "%s: statusCode in %s", what, r->body);
    cr_expect_str_eq(jstr(j, "error"), phrase, "%s: error in %s", what, r->body);
    const char *msg = json_string_value(json_object_get(j, "message"));
    cr_expect(msg && *msg, "%s: no message in %s", what, r->body);
    cr_expect_eq(json_object_size(j), 3, "%s: error body has other keys: %s", what, r->body);
    char ct[128] = "";
    header(r, "Content-Type", ct, sizeof ct);
    cr_expect(strncmp(ct, "application/json", 16) == 0, "%s: Content-Type \"%s\"", what, ct);
}

static void fmt_time(long ts, char *out, size_t cap)
{
    time_t t = (time_t)ts;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
}

/* ---- the world of one test: broker, tsmd, Redis, a token ---- */

typedef struct world_s {
    h_broker_t broker;
    h_tsmd_t tsmd;
    redisContext *redis;
    const char *base; /* http.base_path of this tsmd */
    char prefix[32], group[32];
    char token[128];
    long B; /* the story's base time */
    resp_t *r;
    int guard_fd; /* write end of the guard's pipe */
    pid_t guard;
} world_t;

/* A guard process kills the test's tsmd and broker if the test process dies
 * without stopping them (a crash, a timeout), so no orphan keeps running or
 * holds ctest's output pipe. It reads pids from a pipe (0 = forget them);
 * EOF means the test process is gone. */
static void guard_start(world_t *w)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    w->guard = fork();
    cr_assert(w->guard >= 0);
    if (w->guard == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0), dup2(null, 1), dup2(null, 2);
        for (int fd = 3; fd < 1024; fd++)
            if (fd != p[0]) close(fd);
        pid_t pids[16], pid;
        int n = 0;
        while (read(p[0], &pid, sizeof pid) == (ssize_t)sizeof pid) {
            if (pid == 0) n = 0;
            else if (n < 16) pids[n++] = pid;
        }
        for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
        _exit(0);
    }
    close(p[0]);
    w->guard_fd = p[1];
}

static void guard_watch(world_t *w, pid_t pid)
{
    cr_assert_eq(write(w->guard_fd, &pid, sizeof pid), (ssize_t)sizeof pid);
}

static void guard_stop(world_t *w)
{
    pid_t none = 0;
    cr_expect_eq(write(w->guard_fd, &none, sizeof none), (ssize_t)sizeof none);
    close(w->guard_fd);
    waitpid(w->guard, NULL, 0);
}

static void clean_prefix(redisContext *c, const char *prefix)
{
    freeReplyObject(redisCommand(c, "EVAL %s 0 %s",
                                 "for _,k in ipairs(redis.call('KEYS', ARGV[1]..'*')) do "
                                 "redis.call('DEL', k) end return 1",
                                 prefix));
}

/* Starts tsmd number `which` of the world (a second one shares Redis and
 * prefix); more is a NULL-terminated list of further settings. */
static void tsmd_start(world_t *w, h_tsmd_t *t, const char *group, const char *const *more)
{
    static char boot[96], grp[96], base[96];
    snprintf(boot, sizeof boot, "auth.bootstrap_client=%s:%s", CLIENT, SECRET);
    snprintf(grp, sizeof grp, "kafka.group_id=%s", group);
    snprintf(base, sizeof base, "http.base_path=%s", w->base);
    const char *extra[24] = {boot, grp, "detector.clock=event", "detector.heartbeat_timeout=600",
                             "detector.gateway_timeout=300"};
    int n = 5;
    if (*w->base) extra[n++] = base;
    for (int i = 0; more && more[i] && n < 22; i++) extra[n++] = more[i];
    extra[n] = NULL;
    char log[128];
    snprintf(log, sizeof log, "/tmp/tsmd-api-%s.log", group);
    unlink(log);
    h_tsmd_start(t, w->broker.bootstrap, h_redis_port(), w->prefix, log, extra);
    guard_watch(w, t->proc.pid);
    h_tsmd_wait_ready(t, 30);
}

/* Logs in on port; returns the HTTP status and copies the token. */
static int login(int port, const char *base, const char *id, const char *secret, resp_t *r,
                 char *token, size_t cap)
{
    char path[128], body[256];
    snprintf(path, sizeof path, "%s/auth/client-token", base);
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"client_secret\":\"%s\"}", id, secret);
    int status = request(port, r, "POST", path, NULL, JSON_CT, body);
    if (token) snprintf(token, cap, "%s", status == 200 ? jstr(r->json, "data.token") : "");
    return status;
}

static void world_start(world_t *w, const char *name, const char *base, const char *const *more)
{
    memset(w, 0, sizeof *w);
    w->r = calloc(1, sizeof *w->r);
    w->base = base;
    snprintf(w->prefix, sizeof w->prefix, "api-%s:", name);
    snprintf(w->group, sizeof w->group, "api-%s", name);
    w->redis = h_redis(h_redis_port());
    clean_prefix(w->redis, w->prefix);
    guard_start(w);
    h_broker_start(&w->broker, 1);
    guard_watch(w, w->broker.proc.pid);
    w->B = (long)time(NULL) / 60 * 60 - 3600;
    tsmd_start(w, &w->tsmd, w->group, more);
    cr_assert_eq(login(w->tsmd.http_port, base, CLIENT, SECRET, w->r, w->token, sizeof w->token),
                 200, "login: %s", w->r->body);
}

static void world_stop(world_t *w)
{
    if (w->tsmd.proc.pid > 0) h_stop(&w->tsmd.proc, SIGKILL);
    h_broker_stop(&w->broker);
    guard_stop(w);
    redisFree(w->redis);
    if (w->r->json) json_decref(w->r->json);
    free(w->r);
}

/* A request to the world's tsmd with its token, the path under the base path
 * (printf-style); a body goes with the vendor's Content-Type. */
static int call(world_t *w, const char *method, const char *body, const char *fmt, ...)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s", w->base);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path + n, sizeof path - (size_t)n, fmt, ap);
    va_end(ap);
    return request(w->tsmd.http_port, w->r, method, path, w->token, body ? JSON_CT : NULL, body);
}

/* ---- telemetry ---- */

static void tmsg(rd_kafka_t *rk, const char *tuid, const char *gw, const char *ts, int id, int ev,
                 const char *extra)
{
    char json[512], gwf[64] = "";
    if (gw) snprintf(gwf, sizeof gwf, ",\"tsmGw\":\"%s\"", gw);
    int n = snprintf(json, sizeof json, "{\"tsmId\":%d,\"tsmEv\":%d,\"tsmTuid\":\"%s\",\"tsmTs\":%s%s%s%s}",
                     id, ev, tuid, ts, gwf, extra ? "," : "", extra ? extra : "");
    h_produce(rk, "tsm.raw", tuid, json, (size_t)n);
}

/* Produces the story of the header comment in tsmTs order, waits until
 * tsmd has committed it all. */
static void feed_story(world_t *w)
{
    rd_kafka_t *rk = h_producer(w->broker.bootstrap);
    long B = w->B;
    char ts[32];
    for (long t = B; t <= B + 1740; t += 60) {
        snprintf(ts, sizeof ts, "%ld", t);
        tmsg(rk, G1, NULL, ts, 1110, 10, NULL);
        if (t == B) {
            tmsg(rk, S1, G1, ts, 1110, 10, "\"batl\":90");
            tmsg(rk, S2, G1, ts, 1110, 10, "\"batl\":70");
            tmsg(rk, G2, NULL, ts, 1110, 10, NULL);
            tmsg(rk, S3, G2, ts, 1110, 10, "\"batl\":60");
        } else {
            tmsg(rk, S3, G1, ts, 1110, 10, "\"batl\":60");
        }
        if (t >= B + 900) tmsg(rk, G2, NULL, ts, 1110, 10, NULL);
        if (t == B + 1200) tmsg(rk, S1, G1, ts, 1110, 10, "\"batl\":86");
        if (t == B + 1260) tmsg(rk, S1, G1, ts, 1210, 10, "\"lat\":65.01,\"lon\":25.52");
        if (t == B + 1320) tmsg(rk, S1, G1, ts, 1100, 11, "\"swVersion\":\"2019.11.15.2_ts_pod3wp34\"");
        if (t == B + 1380) {
            snprintf(ts, sizeof ts, "%ld.5", t);
            tmsg(rk, S1, G1, ts, 12100, 10, "\"temp\":21.5,\"hum\":40");
        }
        if (t == B + 1680) tmsg(rk, S4, G1, ts, 1110, 10, "\"batl\":50");
        if (t == B || t == B + 720 || t >= B + 1440) tmsg(rk, S5, G1, ts, 1110, 10, NULL);
        for (int i = 0; t == B && i < 5; i++) {
            char x[32];
            snprintf(x, sizeof x, "TSSNAPIX%d", 4 - i); /* produced in reverse order */
            tmsg(rk, x, G1, ts, 1110, 10, NULL);
        }
    }
    h_producer_close(rk);
    h_wait_committed(w->broker.bootstrap, w->group, "tsm.raw", 1, 60);
}

/* GET with the world's token and a Content-Type but no body, as the vendor's
 * clients send it. */
static int get_ct(world_t *w, const char *path)
{
    char full[1024];
    snprintf(full, sizeof full, "%s%s", w->base, path);
    return request(w->tsmd.http_port, w->r, "GET", full, w->token, JSON_CT, NULL);
}

/* ---- A: things, alerts, messages, operations routes, vendor quirks ---- */

static void expect_window(world_t *w, const char *tuid, const char *type, long from, long to,
                          const char *query)
{
    call(w, "GET", NULL, "/things/%s/alerts%s", tuid, query);
    cr_expect_eq(w->r->status, 200, "%s alerts%s: %d %s", tuid, query, w->r->status, w->r->body);
    json_t *found = NULL;
    for (size_t i = 0; i < jlen(w->r->json, "data"); i++) {
        json_t *e = json_array_get(json_object_get(w->r->json, "data"), i);
        if (strcmp(jstr(e, "alert_type"), type) == 0) found = e;
    }
    cr_expect_not_null(found, "%s alerts%s: no \"%s\" in %s", tuid, query, type, w->r->body);
    if (!found) return;
    cr_expect_str_eq(jstr(found, "tuid"), tuid);
    cr_expect_eq(json_object_size(found), 3, "tuid, alert_type, alerts: %s", w->r->body);
    cr_expect_eq(jlen(found, "alerts"), 1, "%s %s: %s", tuid, type, w->r->body);
    char want[32];
    fmt_time(from, want, sizeof want);
    cr_expect_str_eq(jstr(found, "alerts.0.from"), want, "%s %s from: %s", tuid, type, w->r->body);
    if (to < 0) {
        cr_expect(jnull(found, "alerts.0.to"), "%s %s open: to must be null: %s", tuid, type,
                  w->r->body);
    } else {
        fmt_time(to, want, sizeof want);
        cr_expect_str_eq(jstr(found, "alerts.0.to"), want, "%s %s to: %s", tuid, type, w->r->body);
    }
}

static void expect_no_windows(world_t *w, const char *tuid, const char *query)
{
    call(w, "GET", NULL, "/things/%s/alerts%s", tuid, query);
    cr_expect_eq(w->r->status, 200, "%s alerts%s: %d", tuid, query, w->r->status);
    cr_expect_str_eq(w->r->body, "{\"data\":[]}", "%s alerts%s", tuid, query);
}

/* S5's two windows, oldest first; the bounds select them inclusively. */
static void check_two_windows(world_t *w)
{
    long B = w->B;
    char a[32], b[32], c[32], want[256];
    fmt_time(B, a, sizeof a);
    fmt_time(B + 720, b, sizeof b);
    fmt_time(B + 1440, c, sizeof c);
    call(w, "GET", NULL, "/things/%s/alerts", S5);
    snprintf(want, sizeof want,
             "{\"data\":[{\"tuid\":\"%s\",\"alert_type\":\"heartbeat missed\",\"alerts\":["
             "{\"from\":\"%s\",\"to\":\"%s\"},{\"from\":\"%s\",\"to\":\"%s\"}]}]}",
             S5, a, b, b, c);
    cr_expect_str_eq(w->r->body, want, "two windows, oldest first");
    call(w, "GET", NULL, "/things/%s/alerts?to=%ld", S5, B + 720);
    cr_expect_eq(jlen(w->r->json, "data.0.alerts"), 2, "to=B+720 touches both: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/alerts?from=%ld", S5, B + 721);
    cr_expect(jlen(w->r->json, "data.0.alerts") == 1 &&
                  strcmp(jstr(w->r->json, "data.0.alerts.0.from"), b) == 0,
              "from=B+721: the second alone: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/alerts?from=%ld&to=%ld", S5, B + 200, B + 300);
    cr_expect_eq(jlen(w->r->json, "data.0.alerts"), 1, "inside the first: %s", w->r->body);
}

static void check_alerts(world_t *w)
{
    long B = w->B;
    cr_expect_eq(get_ct(w, "/things/alerts"), 200, "alerts: %s", w->r->body);
    cr_expect_str_eq(w->r->body,
                     "{\"data\":{\"alerting_tuids\":[\"" S2 "\",\"TSSNAPIX0\",\"TSSNAPIX1\","
                     "\"TSSNAPIX2\",\"TSSNAPIX3\",\"TSSNAPIX4\"]}}",
                     "alerting tuids, sorted");
    cr_expect_eq(call(w, "GET", NULL, "/things/alerts/count"), 200);
    cr_expect_str_eq(jstr(w->r->json, "data.alert_count"), "6", "count: %s", w->r->body);
    expect_window(w, G2, "gateway connection lost", B, B + 900, "");
    expect_window(w, G2, "heartbeat missed", B, B + 900, "");
    cr_expect_eq(jlen(w->r->json, "data"), 2, "G2: two alert types: %s", w->r->body);
    expect_window(w, S1, "heartbeat missed", B, B + 1200, "");
    cr_expect_eq(jlen(w->r->json, "data"), 1, "S1: one alert type: %s", w->r->body);
    char q[96];
    snprintf(q, sizeof q, "?from=%ld", B + 1200); /* both ends inclusive */
    expect_window(w, S1, "heartbeat missed", B, B + 1200, q);
    snprintf(q, sizeof q, "?from=%ld&to=%ld", B - 100, B);
    expect_window(w, S1, "heartbeat missed", B, B + 1200, q);
    snprintf(q, sizeof q, "?from=%ld", B + 1201);
    expect_no_windows(w, S1, q);
    snprintf(q, sizeof q, "?to=%ld", B - 1);
    expect_no_windows(w, S1, q);
    snprintf(q, sizeof q, "?from=%ld", B + 900000); /* an open window reaches to infinity */
    expect_window(w, S2, "heartbeat missed", B, -1, q);
    expect_no_windows(w, S3, "");
    check_two_windows(w);
    cr_expect_eq(call(w, "GET", NULL, "/things/%s/alerts?from=abc", S1), 400);
    expect_error(w->r, 400, "Bad Request", "alerts from=abc");
}

static void check_things(world_t *w)
{
    long B = w->B;
    cr_expect_eq(call(w, "GET", NULL, "/things/%s", S1), 200, "S1: %s", w->r->body);
    json_t *d = json_object_get(w->r->json, "data");
    cr_expect_eq(jint(d, "battery_level"), 86, "S1: %s", w->r->body);
    cr_expect_eq(jint(d, "timestamp"), B + 1380, "S1 timestamp: an integer, fraction dropped: %s",
                 w->r->body);
    cr_expect(json_is_real(jat(d, "location.lat")) &&
                  json_real_value(jat(d, "location.lat")) == 65.01 &&
                  json_real_value(jat(d, "location.lon")) == 25.52,
              "S1 location: %s", w->r->body);
    cr_expect_str_eq(jstr(d, "gateway_tuid"), G1);
    cr_expect_str_eq(jstr(d, "version"), "2019.11.15.2_ts_pod3wp34");
    cr_expect(json_object_size(d) == 5 && json_object_size(jat(d, "location")) == 2,
              "the reference's fields, no others: %s", w->r->body);
    cr_expect_eq(call(w, "GET", NULL, "/things/%s", S2), 200);
    d = json_object_get(w->r->json, "data");
    cr_expect(jint(d, "battery_level") == 70 && jint(d, "timestamp") == B &&
                  jnull(d, "location") && jnull(d, "version") &&
                  strcmp(jstr(d, "gateway_tuid"), G1) == 0,
              "S2: %s", w->r->body);
    cr_expect_eq(call(w, "GET", NULL, "/things/%s", G2), 200);
    d = json_object_get(w->r->json, "data");
    cr_expect(jnull(d, "battery_level") && jint(d, "timestamp") == B + 1740 &&
                  jnull(d, "location") && jnull(d, "version") && jnull(d, "gateway_tuid"),
              "G2: unknown fields null: %s", w->r->body);
    call(w, "GET", NULL, "/things/TSSNNEVERHEARD");
    expect_error(w->r, 404, "Not Found", "thing never heard from");
    cr_expect_eq(call(w, "GET", NULL, "/things/TSSNAPI%%30000001"), 200,
                 "a percent-encoded valid tuid is that tuid: %s", w->r->body);
    cr_expect_eq(jint(w->r->json, "data.timestamp"), B + 1380);
}

static void expect_msgs(world_t *w, const char *query, size_t n)
{
    call(w, "GET", NULL, "/things/%s/messages?%s", S1, query);
    cr_expect_eq(w->r->status, 200, "messages?%s: %d %s", query, w->r->status, w->r->body);
    cr_expect_eq(jlen(w->r->json, "data"), n, "messages?%s: %zu, expected %zu: %s", query,
                 jlen(w->r->json, "data"), n, w->r->body);
}

static void check_messages(world_t *w)
{
    long B = w->B;
    expect_msgs(w, "limit=10", 5);
    json_t *m = jat(w->r->json, "data.0");
    cr_expect(json_is_real(jat(m, "tsmTs")) && json_real_value(jat(m, "tsmTs")) == B + 1380.5,
              "newest first, tsmTs as it came: %s", w->r->body);
    cr_expect(jint(m, "tsmId") == 12100 && jint(m, "tsmEv") == 10 &&
                  strcmp(jstr(m, "tsmTuid"), S1) == 0 && strcmp(jstr(m, "tsmGw"), G1) == 0 &&
                  strcmp(jstr(m, "deploymentGroupId"), "unassigned") == 0 &&
                  jint(m, "hum") == 40 && json_real_value(jat(m, "temp")) == 21.5,
              "message with all its fields: %s", w->r->body);
    cr_expect(jint(w->r->json, "data.4.tsmTs") == B && jint(w->r->json, "data.4.batl") == 90,
              "oldest last: %s", w->r->body);
    expect_msgs(w, "limit=2", 2);
    cr_expect_eq(jint(w->r->json, "data.1.tsmTs"), B + 1320, "%s", w->r->body);
    expect_msgs(w, "messageid=1110&limit=10", 2);
    expect_msgs(w, "messageid=1110,1210&limit=10", 3);
    expect_msgs(w, "eventid=11&limit=10", 1);
    cr_expect_str_eq(jstr(w->r->json, "data.0.swVersion"), "2019.11.15.2_ts_pod3wp34");
    char q[96];
    snprintf(q, sizeof q, "from=%ld&to=%ld&limit=10", B + 1200, B + 1320);
    expect_msgs(w, q, 3);
    snprintf(q, sizeof q, "messageid=1110&eventid=10&to=%ld&limit=1", B + 1199);
    expect_msgs(w, q, 1);
    cr_expect_eq(jint(w->r->json, "data.0.tsmTs"), B, "%s", w->r->body);
    call(w, "GET", NULL, "/things/TSSNNOMESSAGES/messages?limit=5");
    cr_expect_str_eq(w->r->body, "{\"data\":[]}", "a thing with none: %s", w->r->body);
    const char *bad[] = {"", "limit=0", "limit=1001", "limit=abc", "limit=10&from=1.5",
                         "limit=10&to=x", "limit=10&messageid=1,,2", "limit=10&eventid=a"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        call(w, "GET", NULL, "/things/%s/messages?%s", S1, bad[i]);
        expect_error(w->r, 400, "Bad Request", bad[i]);
    }
}

/* /healthz, /readyz, /metrics at the root without a token; API routes only
 * under the base path; the token request with a stray Authorization. */
static void check_base_path(world_t *w)
{
    int port = w->tsmd.http_port;
    const char *ops[] = {"/healthz", "/readyz", "/metrics"};
    for (int i = 0; i < 3; i++)
        cr_expect_eq(request(port, w->r, "GET", ops[i], NULL, NULL, NULL), 200, "%s: %d", ops[i],
                     w->r->status);
    cr_expect(strstr(w->r->body, "tsmd_http_requests_total{") != NULL,
              "/metrics counts HTTP requests by route and status");
    request(port, w->r, "GET", "/healthz", NULL, NULL, NULL);
    cr_expect(json_is_object(w->r->json), "/healthz body is JSON: %s", w->r->body);
    request(port, w->r, "GET", "/things/alerts/count", w->token, NULL, NULL);
    expect_error(w->r, 404, "Not Found", "API route outside the base path, with a token");
    request(port, w->r, "GET", "/things/alerts/count", NULL, NULL, NULL);
    expect_error(w->r, 401, "Unauthorized", "API route outside the base path, without a token");
    cr_expect_eq(request(port, w->r, "POST", BASE "/auth/client-token", NULL,
                         JSON_CT "Authorization: Bearer not-a-token\r\n",
                         "{ \"client_id\": \"" CLIENT "\", \"client_secret\": \"" SECRET "\" }"),
                 200, "token request with an Authorization header: %s", w->r->body);
    cr_expect_eq(strlen(jstr(w->r->json, "data.token")), 43, "%s", w->r->body);
}

Test(api, things_alerts_messages_with_reference_shapes, .timeout = 90)
{
    world_t w;
    world_start(&w, "a", BASE, NULL);
    feed_story(&w);
    check_alerts(&w);
    check_things(&w);
    check_messages(&w);
    check_base_path(&w);
    world_stop(&w);
}

/* ---- B: commands ---- */

typedef struct kmsg_s {
    char key[64];
    char value[1024];
} kmsg_t;

/* Reads every record of topic (one partition) from the beginning with a
 * consumer group; stops after 3 s without a new record. */
static int read_topic(const char *bootstrap, const char *topic, kmsg_t *out, int max)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "api-test-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(rk, "consumer: %s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int n = 0;
    double idle_until = h_now() + 4;
    while (h_now() < idle_until && n < max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL) continue;
        if (!m->err) {
            snprintf(out[n].key, sizeof out[n].key, "%.*s", (int)m->key_len, (const char *)m->key);
            snprintf(out[n].value, sizeof out[n].value, "%.*s", (int)m->len,
                     (const char *)m->payload);
            n++;
            idle_until = h_now() + 3;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

/* The reference's example body (tsmId 17110, added to api.command_ids for
 * this tsmd), then two commands in one request. */
static void post_good_commands(world_t *w, long *t0, long *t1)
{
    *t0 = (long)time(NULL);
    cr_expect_eq(call(w, "POST",
                      "[ { \"tsmId\": 17110, \"tsmEv\": 30, \"transactionId\": 99999, \"profileId\": 0 } ]",
                      "/things/%s/commands", S1),
                 200, "reference body: %s", w->r->body);
    *t1 = (long)time(NULL);
    json_t *d = json_object_get(w->r->json, "data");
    cr_expect_str_eq(jstr(d, "responsible"), CLIENT, "%s", w->r->body);
    cr_expect_eq(jlen(d, "commands"), 1, "%s", w->r->body);
    json_t *c = jat(d, "commands.0");
    long long ts = jint(c, "tsmTs");
    cr_expect(jint(c, "tsmId") == 17110 && jint(c, "tsmEv") == 30 &&
                  jint(c, "transactionId") == 99999 && jint(c, "profileId") == 0 &&
                  strcmp(jstr(c, "tsmDstTuid"), S1) == 0 && ts >= *t0 && ts <= *t1 &&
                  json_object_size(c) == 6,
              "command as sent: %s", w->r->body);
    cr_expect_eq(call(w, "POST", "[{\"tsmId\":1500,\"tsmEv\":1},{\"tsmId\":1501,\"tsmEv\":2,\"note\":\"second\"}]",
                      "/things/%s/commands", S1),
                 200, "two commands: %s", w->r->body);
    cr_expect(jlen(w->r->json, "data.commands") == 2 &&
                  jint(w->r->json, "data.commands.1.tsmId") == 1501 &&
                  strcmp(jstr(w->r->json, "data.commands.1.note"), "second") == 0,
              "%s", w->r->body);
    *t1 = (long)time(NULL);
}

static void post_bad_commands(world_t *w)
{
    static char many[8192];
    strcpy(many, "[");
    for (int i = 0; i < 101; i++) strcat(many, i ? ",{\"tsmId\":1500,\"tsmEv\":1}" : "{\"tsmId\":1500,\"tsmEv\":1}");
    strcat(many, "]");
    const char *bad[] = {"[{\"tsmId\":9999,\"tsmEv\":1}]",
                         "[{\"tsmId\":1500,\"tsmEv\":1},{\"tsmId\":9999,\"tsmEv\":1}]",
                         "[]",
                         "{\"tsmId\":1500,\"tsmEv\":1}",
                         "[{\"tsmId\":1500}]",
                         "[{\"tsmEv\":1}]",
                         "[{\"tsmId\":\"1500\",\"tsmEv\":1}]",
                         "[{\"tsmId\":1500.5,\"tsmEv\":1}]",
                         "[{\"tsmId\":1500,\"tsmEv\":\"1\"}]",
                         "[1]",
                         "[{\"tsmId\":1500,\"tsmEv\":1}",
                         many};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        call(w, "POST", bad[i], "/things/%s/commands", S1);
        expect_error(w->r, 400, "Bad Request", i == 11 ? "101 commands" : bad[i]);
    }
}

static void check_command_history(world_t *w, long t0, long t1)
{
    cr_expect_eq(call(w, "GET", NULL, "/things/%s/commands", S1), 200, "%s", w->r->body);
    cr_expect_eq(jlen(w->r->json, "data"), 3, "history: %s", w->r->body);
    long long ids[] = {17110, 1500, 1501};
    for (int i = 0; i < 3; i++) {
        char p[32];
        snprintf(p, sizeof p, "data.%d", i);
        json_t *e = jat(w->r->json, p);
        long long ts = jint(e, "timestamp");
        cr_expect(strcmp(jstr(e, "tuid"), S1) == 0 && strcmp(jstr(e, "responsible"), CLIENT) == 0 &&
                      ts >= t0 && ts <= t1 && jint(e, "command.tsmId") == ids[i] &&
                      strcmp(jstr(e, "command.tsmDstTuid"), S1) == 0 &&
                      jint(e, "command.tsmTs") == ts,
                  "history entry %d (oldest first): %s", i, w->r->body);
    }
    call(w, "GET", NULL, "/things/%s/commands?limit=2", S1);
    cr_expect(jlen(w->r->json, "data") == 2 && jint(w->r->json, "data.0.command.tsmId") == 1500 &&
                  jint(w->r->json, "data.1.command.tsmId") == 1501,
              "the newest 2, oldest first: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/commands?messageid=1501,17110", S1);
    cr_expect_eq(jlen(w->r->json, "data"), 2, "messageid filter: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/commands?eventid=30", S1);
    cr_expect(jlen(w->r->json, "data") == 1 && jint(w->r->json, "data.0.command.tsmId") == 17110,
              "eventid filter: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/commands?from=%ld&to=%ld&limit=1000", S1, t0, t1);
    cr_expect_eq(jlen(w->r->json, "data"), 3, "from/to inclusive: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/commands?to=%ld", S1, t0 - 1);
    cr_expect_str_eq(w->r->body, "{\"data\":[]}");
    call(w, "GET", NULL, "/things/%s/commands", S2);
    cr_expect_str_eq(w->r->body, "{\"data\":[]}", "a thing without commands");
    call(w, "GET", NULL, "/things/%s/commands?limit=0", S1);
    expect_error(w->r, 400, "Bad Request", "commands limit=0");
}

static void check_commands_on_broker(world_t *w, long t0, long t1)
{
    static kmsg_t recs[32];
    int n = read_topic(w->broker.bootstrap, "tsm.commands", recs, 32);
    cr_expect_eq(n, 3, "tsm.commands holds %d records, expected 3 (none of the rejected)", n);
    long long ids[] = {17110, 1500, 1501};
    for (int i = 0; i < n && i < 3; i++) {
        json_t *j = json_loads(recs[i].value, 0, NULL);
        long long ts = jint(j, "tsmTs");
        cr_expect(strcmp(recs[i].key, S1) == 0 && jint(j, "tsmId") == ids[i] &&
                      strcmp(jstr(j, "tsmDstTuid"), S1) == 0 && ts >= t0 && ts <= t1,
                  "record %d key %s value %s", i, recs[i].key, recs[i].value);
        json_decref(j);
    }
}

Test(api, commands_are_produced_acked_and_kept, .timeout = 90)
{
    world_t w;
    const char *more[] = {"api.command_ids=1500,1501,12200,13200,17110", NULL};
    world_start(&w, "b", "", more);
    long t0, t1;
    post_good_commands(&w, &t0, &t1);
    post_bad_commands(&w);
    check_command_history(&w, t0, t1);
    check_commands_on_broker(&w, t0, t1);
    /* Tokens live in Redis: the same token works after a restart. */
    cr_expect_eq(h_stop(&w.tsmd.proc, SIGTERM), 0, "SIGTERM exits 0");
    tsmd_start(&w, &w.tsmd, w.group, more);
    cr_expect_eq(call(&w, "GET", NULL, "/things/%s/commands", S1), 200,
                 "the token after a restart of tsmd: %s", w.r->body);
    cr_expect_eq(jlen(w.r->json, "data"), 3, "history after the restart: %s", w.r->body);
    world_stop(&w);
}

/* ---- C: installations and groups ---- */

static void post_status(world_t *w, const char *tuid, const char *status)
{
    char body[96];
    snprintf(body, sizeof body, "{ \"installation_status\": \"%s\" }", status);
    cr_expect_eq(call(w, "POST", body, "/things/%s/installations", tuid), 200, "%s %s: %s", tuid,
                 status, w->r->body);
    cr_expect(strcmp(jstr(w->r->json, "data.tuid"), tuid) == 0 &&
                  strcmp(jstr(w->r->json, "data.installation_status"), status) == 0 &&
                  json_object_size(json_object_get(w->r->json, "data")) == 2,
              "%s", w->r->body);
}

static void check_installations(world_t *w)
{
    long t0 = (long)time(NULL);
    post_status(w, S3, "installed");
    post_status(w, S3, "quarantine");
    long t1 = (long)time(NULL);
    cr_expect_eq(call(w, "GET", NULL, "/things/%s/installations", S3), 200);
    cr_expect_eq(jlen(w->r->json, "data"), 2, "%s", w->r->body);
    const char *want[] = {"quarantine", "installed"}; /* newest first */
    for (int i = 0; i < 2; i++) {
        char p[16];
        snprintf(p, sizeof p, "data.%d", i);
        json_t *e = jat(w->r->json, p);
        long long ts = jint(e, "timestamp");
        cr_expect(strcmp(jstr(e, "tuid"), S3) == 0 &&
                      strcmp(jstr(e, "installation_status"), want[i]) == 0 && ts >= t0 &&
                      ts <= t1 && strcmp(jstr(e, "responsible"), CLIENT) == 0,
                  "installation %d: %s", i, w->r->body);
    }
    call(w, "GET", NULL, "/things/%s/installations?limit=1", S3);
    cr_expect(jlen(w->r->json, "data") == 1 &&
                  strcmp(jstr(w->r->json, "data.0.installation_status"), "quarantine") == 0,
              "limit=1: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/installations", S1);
    cr_expect_str_eq(w->r->body, "{\"data\":[]}", "a thing with none");
    const char *bad[] = {"{\"installation_status\":\"broken\"}", "{\"installation_status\":1}", "{}",
                         "{\"installation_status\":\"Installed\"}"};
    for (int i = 0; i < 4; i++) {
        call(w, "POST", bad[i], "/things/%s/installations", S3);
        expect_error(w->r, 400, "Bad Request", bad[i]);
    }
    /* Registered by an installation record alone: 200 with nulls. */
    post_status(w, "TSSNREGONLY01", "new");
    cr_expect_eq(call(w, "GET", NULL, "/things/TSSNREGONLY01"), 200, "%s", w->r->body);
    json_t *d = json_object_get(w->r->json, "data");
    cr_expect(jnull(d, "battery_level") && jnull(d, "timestamp") && jnull(d, "location") &&
                  jnull(d, "gateway_tuid") && jnull(d, "version"),
              "registered thing: %s", w->r->body);
}

/* Retiring the alerting S2 closes its window at once (wall clock). */
static void check_retire_closes_window(world_t *w)
{
    call(w, "GET", NULL, "/things/alerts/count");
    cr_expect_str_eq(jstr(w->r->json, "data.alert_count"), "6", "%s", w->r->body);
    long t0 = (long)time(NULL);
    post_status(w, S2, "retired");
    double until = h_now() + 5;
    do {
        call(w, "GET", NULL, "/things/alerts/count");
        if (strcmp(jstr(w->r->json, "data.alert_count"), "5") == 0) break;
        h_sleep_ms(100);
    } while (h_now() < until);
    cr_expect_str_eq(jstr(w->r->json, "data.alert_count"), "5", "retired S2 still alerting: %s",
                     w->r->body);
    call(w, "GET", NULL, "/things/alerts");
    cr_expect(strstr(w->r->body, S2) == NULL && jlen(w->r->json, "data.alerting_tuids") == 5,
              "S2 no longer alerting: %s", w->r->body);
    call(w, "GET", NULL, "/things/%s/alerts", S2);
    char from[32], lo[32];
    fmt_time(w->B, from, sizeof from);
    fmt_time(t0, lo, sizeof lo);
    const char *to = json_string_value(jat(w->r->json, "data.0.alerts.0.to"));
    cr_expect(strcmp(jstr(w->r->json, "data.0.alerts.0.from"), from) == 0 && to &&
                  strcmp(to, lo) >= 0,
              "S2's window closed at the status change (>= %s): %s", lo, w->r->body);
}

static void post_group(world_t *w, const char *body, int status, const char *what)
{
    call(w, "POST", body, "/groups");
    if (status == 200)
        cr_expect_eq(w->r->status, 200, "%s: %s", what, w->r->body);
    else
        expect_error(w->r, status, status == 409 ? "Conflict" : "Bad Request", what);
}

static void expect_groups(world_t *w, const char *query, const char *ids)
{
    call(w, "GET", NULL, "/groups%s", query);
    char got[512] = "";
    for (size_t i = 0; i < jlen(w->r->json, "data"); i++) {
        char p[48];
        snprintf(p, sizeof p, "data.%zu.group_id", i);
        if (i) strcat(got, " ");
        strncat(got, jstr(w->r->json, p), sizeof got - strlen(got) - 1);
    }
    cr_expect_eq(w->r->status, 200, "groups%s: %d", query, w->r->status);
    cr_expect_str_eq(got, ids, "groups%s: %s", query, w->r->body);
}

static void expect_thing_group(world_t *w, const char *tuid, const char *group)
{
    cr_expect_eq(call(w, "GET", NULL, "/things/%s/group", tuid), 200);
    cr_expect(strcmp(jstr(w->r->json, "data.group_id"), group) == 0 &&
                  strcmp(jstr(w->r->json, "data.tuid"), tuid) == 0,
              "%s group, expected %s: %s", tuid, group, w->r->body);
}

static void set_thing_group(world_t *w, const char *tuid, const char *group)
{
    char body[128];
    snprintf(body, sizeof body, "{ \"group_id\": \"%s\" }", group);
    cr_expect_eq(call(w, "POST", body, "/things/%s/group", tuid), 200, "%s", w->r->body);
    cr_expect(strcmp(jstr(w->r->json, "data.group_id"), group) == 0 &&
                  strcmp(jstr(w->r->json, "data.tuid"), tuid) == 0,
              "set %s group %s: %s", tuid, group, w->r->body);
}

static void check_group_create_and_list(world_t *w)
{
    post_group(w, "{ \"group_id\": \"testgroup1\", \"group_description\": \"This is a test group\" }",
               200, "reference body");
    cr_expect_str_eq(w->r->body,
                     "{\"data\":{\"group_id\":\"testgroup1\",\"group_description\":\"This is a test group\"}}");
    post_group(w, "{\"group_id\":\"testgroup1\"}", 409, "existing id");
    post_group(w, "{\"group_id\":\"zeta\",\"group_description\":\"Last one\"}", 200, "zeta");
    post_group(w, "{\"group_id\":\"Alpha\"}", 200, "Alpha");
    post_group(w, "{\"group_id\":\"nodesc\"}", 200, "no description");
    cr_expect_str_eq(jstr(w->r->json, "data.group_description"), "", "%s", w->r->body);
    const char *bad[] = {"{\"group_id\":\"unassigned\"}", "{\"group_id\":\"has space\"}",
                         "{\"group_id\":\"\"}", "{\"group_id\":\"tab\\there\"}",
                         "{\"group_id\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
                         "{\"group_description\":\"no id\"}", "{\"group_id\":5}",
                         "{\"group_id\":\"nb\\u00a0space\"}", "{\"group_id\":\"em\\u2003space\"}",
                         "{\"group_id\":\"ctl\\u0001x\"}", "{\"group_id\":\"nl\\nx\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) post_group(w, bad[i], 400, bad[i]);
    expect_groups(w, "/", "Alpha nodesc testgroup1 zeta");
    expect_groups(w, "", "Alpha nodesc testgroup1 zeta");
    cr_expect_str_eq(jstr(w->r->json, "data.1.group_description"), "");
    cr_expect_str_eq(jstr(w->r->json, "data.2.group_description"), "This is a test group");
    expect_groups(w, "/?q=TEST", "testgroup1");
    expect_groups(w, "?q=test%20group", "testgroup1");
    expect_groups(w, "?q=LAST", "zeta");
    expect_groups(w, "/?q=e&limit=2", "nodesc testgroup1");
    expect_groups(w, "?limit=1", "Alpha");
    expect_groups(w, "?q=nothing-like-it", "");
    call(w, "GET", NULL, "/groups?limit=0");
    expect_error(w->r, 400, "Bad Request", "groups limit=0");
}

/* S4's next message carries its group as deploymentGroupId. */
static void check_deployment_group(world_t *w)
{
    rd_kafka_t *rk = h_producer(w->broker.bootstrap);
    char ts[32];
    snprintf(ts, sizeof ts, "%ld", w->B + 1690);
    tmsg(rk, S4, G1, ts, 1110, 10, "\"batl\":49");
    h_producer_close(rk);
    h_wait_committed(w->broker.bootstrap, w->group, "tsm.raw", 1, 30);
    call(w, "GET", NULL, "/things/%s/messages?limit=5", S4);
    cr_expect(jlen(w->r->json, "data") == 2 &&
                  strcmp(jstr(w->r->json, "data.0.deploymentGroupId"), "testgroup1") == 0 &&
                  strcmp(jstr(w->r->json, "data.1.deploymentGroupId"), "unassigned") == 0,
              "deploymentGroupId = the group at ingest: %s", w->r->body);
}

/* A '/' and non-ASCII letters are allowed in a group id (no white space or
 * control characters); a thing with only a group is registered. */
static void check_odd_group_ids(world_t *w)
{
    post_group(w, "{\"group_id\":\"a/b\",\"group_description\":\"slash \\u00fc\"}", 200, "a/b");
    post_group(w, "{\"group_id\":\"gr\xc3\xbcppe\"}", 200, "UTF-8 id");
    set_thing_group(w, "TSSNGROUPONLY", "a/b");
    cr_expect_eq(call(w, "GET", NULL, "/groups/a%%2Fb/things"), 200, "%s", w->r->body);
    cr_expect_str_eq(w->r->body, "{\"data\":{\"group_id\":\"a/b\",\"tuids\":[\"TSSNGROUPONLY\"]}}");
    cr_expect_eq(call(w, "GET", NULL, "/things/TSSNGROUPONLY"), 200, "registered by a group: %s",
                 w->r->body);
    cr_expect(jnull(w->r->json, "data.timestamp") && jnull(w->r->json, "data.battery_level"),
              "%s", w->r->body);
    expect_groups(w, "?q=%C3%BC", "a/b gr\xc3\xbcppe");
}

static void check_thing_groups(world_t *w)
{
    expect_thing_group(w, S4, "unassigned");
    expect_thing_group(w, "TSSNNEVERSEEN", "unassigned");
    set_thing_group(w, S4, "testgroup1");
    set_thing_group(w, S3, "testgroup1");
    expect_thing_group(w, S4, "testgroup1");
    call(w, "POST", "{\"group_id\":\"nosuch\"}", "/things/%s/group", S1);
    expect_error(w->r, 404, "Not Found", "thing to a missing group");
    call(w, "POST", "{\"group\":\"testgroup1\"}", "/things/%s/group", S1);
    expect_error(w->r, 400, "Bad Request", "group body without group_id");
    cr_expect_eq(call(w, "GET", NULL, "/groups/testgroup1/things"), 200);
    cr_expect_str_eq(w->r->body,
                     "{\"data\":{\"group_id\":\"testgroup1\",\"tuids\":[\"" S3 "\",\"" S4 "\"]}}");
    check_deployment_group(w);
    set_thing_group(w, S3, "unassigned");
    expect_thing_group(w, S3, "unassigned");
    call(w, "GET", NULL, "/groups/testgroup1/things");
    cr_expect_str_eq(w->r->body, "{\"data\":{\"group_id\":\"testgroup1\",\"tuids\":[\"" S4 "\"]}}");
    call(w, "GET", NULL, "/groups/nosuch/things");
    expect_error(w->r, 404, "Not Found", "things of a missing group");
    check_odd_group_ids(w);
}

static void check_rename_delete(world_t *w)
{
    cr_expect_eq(call(w, "POST", "{ \"group_id\": \"newgroupname\" }", "/groups/testgroup1/rename"),
                 200, "%s", w->r->body);
    cr_expect_str_eq(w->r->body,
                     "{\"data\":{\"group_id\":\"newgroupname\",\"old\":\"testgroup1\",\"renamed\":true}}");
    expect_thing_group(w, S4, "newgroupname");
    call(w, "GET", NULL, "/groups/newgroupname/things");
    cr_expect_str_eq(jstr(w->r->json, "data.tuids.0"), S4, "%s", w->r->body);
    call(w, "GET", NULL, "/groups/testgroup1/things");
    expect_error(w->r, 404, "Not Found", "old name after rename");
    call(w, "POST", "{\"group_id\":\"newgroupname\"}", "/groups/zeta/rename");
    expect_error(w->r, 409, "Conflict", "rename onto an existing id");
    call(w, "POST", "{\"group_id\":\"other\"}", "/groups/nosuch/rename");
    expect_error(w->r, 404, "Not Found", "rename a missing group");
    call(w, "POST", "{\"group_id\":\"bad name\"}", "/groups/zeta/rename");
    expect_error(w->r, 400, "Bad Request", "rename to a name with a space");
    call(w, "POST", "{\"group_id\":\"unassigned\"}", "/groups/zeta/rename");
    expect_error(w->r, 400, "Bad Request", "rename to unassigned");
    cr_expect_eq(request(w->tsmd.http_port, w->r, "DELETE", BASE "/groups/newgroupname", w->token,
                         JSON_CT, NULL),
                 200, "DELETE with a Content-Type and no body: %s", w->r->body);
    cr_expect_str_eq(w->r->body, "{\"data\":{\"group_id\":\"newgroupname\",\"deleted\":true}}");
    expect_thing_group(w, S4, "unassigned");
    call(w, "DELETE", NULL, "/groups/newgroupname");
    expect_error(w->r, 404, "Not Found", "delete a missing group");
    expect_groups(w, "", "Alpha a/b gr\xc3\xbcppe nodesc zeta");
}

Test(api, installations_and_groups, .timeout = 90)
{
    world_t w;
    world_start(&w, "c", BASE, NULL);
    feed_story(&w);
    check_installations(&w);
    check_retire_closes_window(&w);
    check_group_create_and_list(&w);
    check_thing_groups(&w);
    check_rename_delete(&w);
    world_stop(&w);
}

/* ---- D: every error status of section 4 (503 in its own test) ---- */

static void check_401(world_t *w)
{
    int port = w->tsmd.http_port;
    request(port, w->r, "GET", "/things/alerts", NULL, NULL, NULL);
    expect_error(w->r, 401, "Unauthorized", "no token");
    request(port, w->r, "GET", "/things/alerts", "junk", NULL, NULL);
    expect_error(w->r, 401, "Unauthorized", "Bearer junk");
    request(port, w->r, "GET", "/things/alerts", NULL, "Authorization: Basic YTpi\r\n", NULL);
    expect_error(w->r, 401, "Unauthorized", "Basic credentials");
    request(port, w->r, "GET", "/no/such/path", NULL, NULL, NULL);
    expect_error(w->r, 401, "Unauthorized", "unknown path without a token");
    char wrong[1024], unknown[1024];
    login(port, "", CLIENT, "wrong-secret", w->r, NULL, 0);
    expect_error(w->r, 401, "Unauthorized", "wrong secret");
    snprintf(wrong, sizeof wrong, "%.1000s", w->r->body);
    login(port, "", "nosuchclient", "wrong-secret", w->r, NULL, 0);
    expect_error(w->r, 401, "Unauthorized", "unknown client id");
    snprintf(unknown, sizeof unknown, "%.1000s", w->r->body);
    cr_expect_str_eq(wrong, unknown, "unknown id and wrong secret answer the same");
    request(port, w->r, "POST", "/auth/client-token", NULL, JSON_CT, "{\"client_id\":\"" CLIENT "\"}");
    cr_expect(w->r->status == 400 || w->r->status == 401, "token request without a secret: %d",
              w->r->status);
    expect_error(w->r, w->r->status, w->r->status == 400 ? "Bad Request" : "Unauthorized",
                 "token request without a secret");
}

static void check_404_405_409_415(world_t *w)
{
    int port = w->tsmd.http_port;
    call(w, "GET", NULL, "/no/such/path");
    expect_error(w->r, 404, "Not Found", "unknown path with a token");
    call(w, "GET", NULL, "/things/%s/nothing", S1);
    expect_error(w->r, 404, "Not Found", "unknown sub-path");
    char allow[128] = "";
    call(w, "PUT", NULL, "/things/alerts");
    expect_error(w->r, 405, "Method Not Allowed", "PUT /things/alerts");
    cr_expect(header(w->r, "Allow", allow, sizeof allow) && strcmp(allow, "GET") == 0,
              "Allow \"%s\"", allow);
    call(w, "DELETE", NULL, "/things/%s/commands", S1);
    expect_error(w->r, 405, "Method Not Allowed", "DELETE commands");
    allow[0] = 0;
    cr_expect(header(w->r, "Allow", allow, sizeof allow) && strstr(allow, "GET") &&
                  strstr(allow, "POST") && !strstr(allow, "DELETE"),
              "Allow \"%s\"", allow);
    call(w, "GET", NULL, "/groups/zeta");
    expect_error(w->r, 405, "Method Not Allowed", "GET /groups/{id}");
    request(port, w->r, "POST", "/healthz", NULL, JSON_CT, "{}");
    expect_error(w->r, 405, "Method Not Allowed", "POST /healthz");
    call(w, "POST", "{\"group_id\":\"dup\"}", "/groups");
    cr_expect_eq(w->r->status, 200);
    call(w, "POST", "{\"group_id\":\"dup\"}", "/groups");
    expect_error(w->r, 409, "Conflict", "group twice");
    request(port, w->r, "POST", "/groups", w->token, "Content-Type: text/plain\r\n",
            "{\"group_id\":\"plain\"}");
    expect_error(w->r, 415, "Unsupported Media Type", "text/plain body");
    request(port, w->r, "POST", "/auth/client-token", NULL, "Content-Type: application/x-www-form-urlencoded\r\n",
            "client_id=" CLIENT "&client_secret=" SECRET);
    expect_error(w->r, 415, "Unsupported Media Type", "form body on the token request");
    request(port, w->r, "POST", "/groups", w->token, "Content-Type: Application/JSON\r\n",
            "{\"group_id\":\"mixedcase\"}");
    cr_expect_eq(w->r->status, 200, "media type is case-insensitive: %s", w->r->body);
}

/* 413 on an announced body over 1 MiB; 431 on a 9 KiB header or target;
 * invalid JSON 400. */
static void check_sizes_and_json(world_t *w)
{
    int port = w->tsmd.http_port;
    static char raw[16384], big[9300];
    int n = snprintf(raw, sizeof raw,
                     "POST /groups HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n" JSON_CT
                     "Content-Length: 2000000\r\n\r\n{\"group_id\":\"",
                     w->token);
    exchange(port, raw, (size_t)n, w->r);
    expect_error(w->r, 413, "Payload Too Large", "Content-Length 2000000");
    memset(big, 'a', 9216);
    big[9216] = 0;
    n = snprintf(raw, sizeof raw, "GET /things/alerts HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n", big);
    exchange(port, raw, (size_t)n, w->r);
    expect_error(w->r, 431, "Request Header Fields Too Large", "9 KiB header");
    n = snprintf(raw, sizeof raw, "GET /things/%s HTTP/1.1\r\nHost: t\r\n\r\n", big);
    exchange(port, raw, (size_t)n, w->r);
    expect_error(w->r, 431, "Request Header Fields Too Large", "9 KiB target");
    const char *framing[] = {
        "POST /groups HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        "POST /groups HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        "GET http://t/things/alerts HTTP/1.1\r\nHost: t\r\n\r\n",
        "BREW /things/alerts HTTP/1.1\r\nHost: t\r\n\r\n"};
    for (int i = 0; i < 4; i++) {
        exchange(port, framing[i], strlen(framing[i]), w->r);
        expect_error(w->r, 400, "Bad Request", framing[i]);
    }
    const char *bad[] = {"{\"group_id\":", "not json", "{\"group_id\":\"a\"} trailing",
                         "{\"group_id\":\"a\",\"group_id\":\"b\"}", "", "[\"group_id\"]",
                         "{\"group_id\":\"\\u0000x\"}"};
    for (int i = 0; i < 7; i++) {
        call(w, "POST", bad[i], "/groups");
        expect_error(w->r, 400, "Bad Request", bad[i]);
    }
    request(port, w->r, "POST", "/auth/client-token", NULL, JSON_CT, "{\"client_id\":");
    expect_error(w->r, 400, "Bad Request", "invalid JSON on the token request");
}

/* Path parameters outside the tuid rule: 400 with a JSON body (4xx for a
 * target the HTTP parser itself refuses). */
static void check_odd_tuids(world_t *w)
{
    char t65[80];
    memset(t65, 'A', 65);
    t65[65] = 0;
    const char *paths[] = {"/things/a%%2Fb", "/things/a%%20b", "/things/%%7Bx%%7D", "/things/%s",
                           "/things/a%%2Fb/messages?limit=1", "/things/%%20/alerts",
                           "/things/a%%00b", "/things/..%%2F..%%2Fx/group",
                           "/things/%%C3%%A4/installations"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        call(w, "GET", NULL, paths[i], t65);
        expect_error(w->r, 400, "Bad Request", paths[i]);
    }
    char t64[80];
    memset(t64, 'A', 64);
    t64[64] = 0;
    call(w, "GET", NULL, "/things/%s/alerts", t64);
    cr_expect_eq(w->r->status, 200, "a 64-character tuid is valid: %d", w->r->status);
    const char *raw_targets[] = {"/things/{x}", "/things/a b/alerts", "/things/%zz"};
    for (int i = 0; i < 3; i++) {
        char raw[512];
        int n = snprintf(raw, sizeof raw,
                         "GET %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n",
                         raw_targets[i], w->token);
        exchange(w->tsmd.http_port, raw, (size_t)n, w->r);
        cr_expect(w->r->status >= 400 && w->r->status < 500, "%s: %d", raw_targets[i],
                  w->r->status);
        expect_error(w->r, w->r->status, w->r->status == 404 ? "Not Found" : "Bad Request",
                     raw_targets[i]);
    }
    call(w, "GET", NULL, "/groups/has%%20space/things");
    expect_error(w->r, 400, "Bad Request", "group id with a space");
}

/* Ten failed logins for one id within 60 s, then 429 with Retry-After; the
 * tokens already given keep working. Two failed attempts came before. */
static void check_429(world_t *w)
{
    int port = w->tsmd.http_port;
    for (int attempt = 2; attempt <= 10; attempt++) {
        login(port, "", CLIENT, "guess", w->r, NULL, 0);
        expect_error(w->r, 401, "Unauthorized", "failed login under the limit");
    }
    login(port, "", CLIENT, "guess", w->r, NULL, 0);
    expect_error(w->r, 429, "Too Many Requests", "11th failed login within 60 s");
    char retry[32] = "";
    cr_expect(header(w->r, "Retry-After", retry, sizeof retry) && atoi(retry) >= 1 &&
                  atoi(retry) <= 60,
              "Retry-After \"%s\"", retry);
    login(port, "", CLIENT, SECRET, w->r, NULL, 0);
    expect_error(w->r, 429, "Too Many Requests", "right secret while limited");
    cr_expect_eq(call(w, "GET", NULL, "/things/alerts/count"), 200, "earlier token still valid");
    cr_expect_eq(login(port, "", "otherclient", "x", w->r, NULL, 0), 401,
                 "the limit is per client id");
}

Test(api, every_error_status_has_the_error_shape, .timeout = 90)
{
    world_t w;
    world_start(&w, "d", "", NULL);
    check_401(&w);
    check_404_405_409_415(&w);
    check_sizes_and_json(&w);
    check_odd_tuids(&w);
    check_429(&w);
    world_stop(&w);
}

/* ---- E: 503 when Kafka does not acknowledge commands ---- */

Test(api, commands_503_when_the_broker_is_down, .timeout = 90)
{
    world_t w;
    world_start(&w, "e", BASE, NULL);
    cr_expect_eq(call(&w, "POST", "[{\"tsmId\":1500,\"tsmEv\":1}]", "/things/%s/commands", S1), 200,
                 "broker up: %s", w.r->body);
    cr_assert_eq(h_broker_cmd(&w.broker, "down all"), 0);
    double t0 = h_now();
    call(&w, "POST", "[{\"tsmId\":1501,\"tsmEv\":2}]", "/things/%s/commands", S1);
    double took = h_now() - t0;
    expect_error(w.r, 503, "Service Unavailable", "commands with the broker down");
    cr_expect(took >= 9 && took < 16, "503 after %.1f s, expected about 10 s", took);
    cr_expect_eq(call(&w, "GET", NULL, "/things/%s/commands", S1), 200);
    cr_expect(jlen(w.r->json, "data") == 1 && jint(w.r->json, "data.0.command.tsmId") == 1500,
              "nothing recorded for the 503: %s", w.r->body);
    cr_expect_eq(call(&w, "GET", NULL, "/things/alerts/count"), 200, "other routes still answer");
    h_broker_cmd(&w.broker, "up all");
    world_stop(&w);
}

/* ---- F: tokens expire, several live at once, any instance accepts them ---- */

static int count_with(int port, const char *token, resp_t *r)
{
    return request(port, r, "GET", BASE "/things/alerts/count", token, NULL, NULL);
}

/* Redis holds a hash of the token, never its text, and an argon2id string
 * for the secret. */
static void check_stored_hashes(world_t *w, const char *token)
{
    redisReply *r = redisCommand(w->redis, "KEYS %stoken:*", w->prefix);
    cr_assert_not_null(r);
    cr_expect(r->elements >= 1, "no token keys under %stoken:", w->prefix);
    for (size_t i = 0; i < r->elements; i++) {
        cr_expect(strstr(r->element[i]->str, token) == NULL, "token text in key %s",
                  r->element[i]->str);
        redisReply *v = redisCommand(w->redis, "GET %s", r->element[i]->str);
        cr_expect(v && v->type == REDIS_REPLY_STRING && strcmp(v->str, CLIENT) == 0,
                  "token key value: the client id");
        freeReplyObject(v);
        long long ttl = h_redis_int(w->redis, "TTL %s", r->element[i]->str);
        cr_expect(ttl >= 1 && ttl <= 3, "token TTL %lld, auth.token_ttl is 3", ttl);
    }
    freeReplyObject(r);
    char key[96];
    snprintf(key, sizeof key, "%sclients", w->prefix);
    char *hash = h_redis_hget(w->redis, key, CLIENT);
    cr_expect(hash && strncmp(hash, "$argon2id$", 10) == 0 && strstr(hash, SECRET) == NULL,
              "secret stored as %s", hash ? hash : "(nothing)");
    free(hash);
}

Test(api, tokens_expire_coexist_and_are_shared, .timeout = 90)
{
    world_t w;
    const char *more[] = {"auth.token_ttl=3", NULL};
    world_start(&w, "f", BASE, more);
    h_tsmd_t second = {0};
    tsmd_start(&w, &second, "api-f2", more);
    int a = w.tsmd.http_port, b = second.http_port;
    char t1[128], t2[128], t3[128];
    double t0 = h_now();
    cr_assert_eq(login(a, BASE, CLIENT, SECRET, w.r, t1, sizeof t1), 200);
    cr_assert_eq(login(a, BASE, CLIENT, SECRET, w.r, t2, sizeof t2), 200);
    cr_assert_eq(login(b, BASE, CLIENT, SECRET, w.r, t3, sizeof t3), 200);
    cr_expect(strlen(t1) == 43 && strcmp(t1, t2) != 0 && strcmp(t1, t3) != 0, "%s %s %s", t1, t2,
              t3);
    cr_expect(strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43,
              "URL-safe base64: %s", t1);
    cr_expect_eq(count_with(a, t1, w.r), 200, "first token");
    cr_expect_eq(count_with(a, t2, w.r), 200, "second token, first still live");
    cr_expect_eq(count_with(b, t1, w.r), 200, "token of A on B");
    cr_expect_eq(count_with(a, t3, w.r), 200, "token of B on A");
    double used = h_now() - t0;
    cr_log_info("tokens checked %.1f s after the first login", used);
    cr_expect(used < 3, "the checks took %.1f s, over the TTL: the machine is too slow", used);
    h_sleep_ms((int)((3.0 - used) * 1000) + 1500);
    count_with(a, t1, w.r);
    expect_error(w.r, 401, "Unauthorized", "expired token on A");
    count_with(b, t2, w.r);
    expect_error(w.r, 401, "Unauthorized", "expired token on B");
    count_with(a, t3, w.r);
    expect_error(w.r, 401, "Unauthorized", "expired token of B on A");
    cr_expect_eq(login(b, BASE, CLIENT, SECRET, w.r, t3, sizeof t3), 200, "a new one after expiry");
    check_stored_hashes(&w, t3);
    cr_expect_eq(count_with(a, t3, w.r), 200);
    h_stop(&second.proc, SIGKILL);
    world_stop(&w);
}

/* ---- G: pipelining, slow clients, idle timeout ---- */

/* Ten requests in one send on one connection, each answer naming its
 * request, then an error answer and a close: all in order. */
static void check_pipelining(world_t *w)
{
    static char raw[16384], in[1 << 18];
    size_t n = 0;
    for (int i = 0; i < 10; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"group_id\":\"p%d\"}", i);
        cr_assert_eq(call(w, "POST", body, "/groups"), 200);
    }
    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(raw + n, sizeof raw - n,
                              "GET " BASE "/groups/p%d/things HTTP/1.1\r\nHost: t\r\n"
                              "Authorization: Bearer %s\r\n\r\n",
                              i, w->token);
    n += (size_t)snprintf(raw + n, sizeof raw - n,
                          "POST " BASE "/groups HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                          JSON_CT "Content-Length: 17\r\n\r\n{\"group_id\":\"p3\"}"
                          "GET " BASE "/things/alerts/count HTTP/1.1\r\nHost: t\r\n"
                          "Authorization: Bearer %s\r\nConnection: close\r\n\r\n",
                          w->token, w->token);
    int fd = tcp_connect(w->tsmd.http_port, 10000);
    send_all(fd, raw, n);
    size_t got = read_all(fd, in, sizeof in);
    close(fd);
    size_t at = 0;
    for (int i = 0; i < 12; i++) {
        size_t used = parse_one(in + at, got - at, w->r);
        cr_expect(used > 0, "answer %d missing; got %zu bytes: %.300s", i, got, in);
        if (used == 0) return;
        at += used;
        char want[32];
        snprintf(want, sizeof want, "p%d", i);
        if (i < 10)
            cr_expect(w->r->status == 200 && strcmp(jstr(w->r->json, "data.group_id"), want) == 0,
                      "answer %d out of order: %s", i, w->r->body);
        else if (i == 10)
            expect_error(w->r, 409, "Conflict", "pipelined POST of an existing group");
        else
            cr_expect(w->r->status == 200 && json_is_string(jat(w->r->json, "data.alert_count")),
                      "last pipelined answer: %s", w->r->body);
    }
    cr_expect_eq(at, got, "bytes after the answer to Connection: close: %s", in + at);
}

/* Sends the first half of a request on a new connection and leaves it. */
static int half_request(world_t *w)
{
    int fd = tcp_connect(w->tsmd.http_port, 10000);
    char raw[256];
    int n = snprintf(raw, sizeof raw, "GET " BASE "/things/alerts/count HTTP/1.1\r\nHost: t\r\nAuthor");
    send_all(fd, raw, (size_t)n);
    return fd;
}

/* Stalled clients do not hold up others; one that finishes late is
 * answered; one that never finishes is closed after http.idle_timeout. */
static void check_slow_clients(world_t *w)
{
    int slow[20];
    for (int i = 0; i < 20; i++) slow[i] = half_request(w);
    h_sleep_ms(200);
    for (int i = 0; i < 5; i++)
        cr_expect_eq(call(w, "GET", NULL, "/groups/p%d/things", i), 200,
                     "request %d while 20 clients stall: %d", i, w->r->status);
    char rest[256], in[4096];
    int n = snprintf(rest, sizeof rest, "ization: Bearer %s\r\nConnection: close\r\n\r\n", w->token);
    send_all(slow[0], rest, (size_t)n);
    size_t got = read_all(slow[0], in, sizeof in);
    parse_one(in, got, w->r);
    cr_expect_eq(w->r->status, 200, "the slow client's request, completed: %s", in);
    close(slow[0]);
    /* http.idle_timeout=2: the others are closed within it (plus slack). */
    double t0 = h_now();
    got = read_all(slow[1], in, sizeof in);
    double took = h_now() - t0;
    cr_log_info("stalled client closed after %.1f s more, with %zu bytes: %.80s", took, got, in);
    cr_expect(took < 6, "stalled client still open after %.1f s", took);
    cr_expect(got == 0 || strncmp(in, "HTTP/1.1 4", 10) == 0, "stalled client got: %s", in);
    if (got) {
        parse_one(in, got, w->r);
        cr_expect(json_is_object(w->r->json), "a timeout answer is JSON too: %s", w->r->body);
    }
    for (int i = 1; i < 20; i++) close(slow[i]);
    cr_expect_eq(call(w, "GET", NULL, "/things/alerts/count"), 200, "still serving");
}

Test(api, pipelining_and_slow_clients, .timeout = 90)
{
    world_t w;
    const char *more[] = {"http.idle_timeout=2", NULL};
    world_start(&w, "g", BASE, more);
    check_pipelining(&w);
    check_slow_clients(&w);
    world_stop(&w);
}
