/* api_world.h - what the API integration tests (test_api.c,
 * test_api_http.c) share: an HTTP/1.1 client over raw sockets that keeps the
 * status, head and body (parsed with jansson), from any loopback source
 * address, reading one answer, n pipelined ones, or until tsmd closes the
 * connection; JSON path helpers, the check
 * of the error body shape, and the "world" of one test: its own tsm-broker
 * (one partition per topic, so consumption follows produce order), tsmd with
 * a unique redis.prefix and `auth.bootstrap_client=apiclient:s3cret-api`, a
 * token, and a guard process that kills both if the test process dies.
 * Header-only like harness.h (each test_*.c is its own executable); every
 * function is static inline and runs on the test's thread; setup failures
 * are cr_assert, checks of the API's answers cr_expect.
 *
 * feed_story() produces real telemetry (JSON on tsm.raw, tsmTs from about an
 * hour ago) and waits until tsmd committed it; with the event clock
 * (heartbeat 600 s, gateway 300 s) it opens and closes alert windows, so no
 * Redis key is written by hand. B is a minute-aligned time about an hour
 * ago, G the clock gateway reporting every 60 s up to B+1740:
 *   S1 via G at B, silent, then B+1200 (batl 86), B+1260 (lat/lon),
 *      B+1320 (swVersion, tsmEv 11), B+1380.5 (temp): hb window [B, B+1200];
 *   S2 via G at B only: hb window [B, open);
 *   G2 at B (relaying S3), silent, then every 60 s from B+900: gw and hb
 *      windows [B, B+900];
 *   S3 via G2 at B, then via G every 60 s: no window;
 *   S4 via G at B+1680 (used for deploymentGroupId);
 *   S5 via G at B, B+720, then every 60 s from B+1440: hb windows
 *      [B, B+720] and [B+720, B+1440];
 *   TSSNAPIX0..4 via G at B only: open hb windows, alerting with S2. */
#ifndef TEST_API_WORLD_H
#define TEST_API_WORLD_H

#include "harness.h"

#include <arpa/inet.h>
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

/* Connects to 127.0.0.1:port from the source address src (an IPv4 address
 * such as "127.0.0.2", which loopback accepts; NULL: any), with a receive
 * timeout and TCP_NODELAY; returns the socket. */
static inline int tcp_connect_from(int port, const char *src, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (src) {
        struct sockaddr_in from = {.sin_family = AF_INET};
        cr_assert_eq(inet_pton(AF_INET, src, &from.sin_addr), 1, "source address %s", src);
        cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof from), 0, "bind to %s: %s", src,
                     strerror(errno));
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect to %d: %s", port,
                 strerror(errno));
    return fd;
}

static inline int tcp_connect(int port, int timeout_ms)
{
    return tcp_connect_from(port, NULL, timeout_ms);
}

static inline void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t k = send(fd, data, len, MSG_NOSIGNAL);
        if (k <= 0) return; /* the server may close early (413, 431): read what it said */
        data += k, len -= (size_t)k;
    }
}

/* Reads until EOF, the receive timeout or cap; returns the bytes read. */
static inline size_t read_all(int fd, char *out, size_t cap)
{
    size_t got = 0;
    ssize_t k;
    while (got < cap - 1 && (k = recv(fd, out + got, cap - 1 - got, 0)) > 0)
        got += (size_t)k;
    out[got] = 0;
    return got;
}

/* Parses one answer at buf into r; returns the bytes it took, 0 if none. */
static inline size_t parse_one(const char *buf, size_t len, resp_t *r)
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
static inline bool header(const resp_t *r, const char *name, char *out, size_t cap)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    const char *h = strcasestr(r->head, pat);
    if (h == NULL) return false;
    h += strlen(pat);
    while (*h == ' ')
        h++;
    snprintf(out, cap, "%.*s", (int)strcspn(h, "\r\n"), h);
    return true;
}

/* Sends raw bytes on a new connection from source address src (NULL: any),
 * reads to EOF, parses the first answer. */
static inline int exchange_from(int port, const char *src, const char *raw, size_t len, resp_t *r)
{
    static char buf[1 << 20];
    int fd = tcp_connect_from(port, src, 20000);
    send_all(fd, raw, len);
    size_t got = read_all(fd, buf, sizeof buf);
    close(fd);
    parse_one(buf, got, r);
    return r->status;
}

static inline int exchange(int port, const char *raw, size_t len, resp_t *r)
{
    return exchange_from(port, NULL, raw, len, r);
}

/* Returns the length of the whole answer at buf[0..len), 0 while part of it
 * has still to arrive. */
static inline size_t answer_len(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL) return 0;
    size_t head = (size_t)(end - buf) + 4;
    const char *cl = memmem(buf, head, "Content-Length: ", 16);
    size_t body = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
    return head + body <= len ? head + body : 0;
}

/* Reads n answers from fd, keeping each one's status and Retry-After (0 if
 * none); returns how many came before EOF or the receive timeout. */
static inline int read_answers(int fd, resp_t *r, int n, int *status, int *retry)
{
    static char buf[1 << 18];
    size_t have = 0;
    int done = 0;
    while (done < n) {
        size_t len = answer_len(buf, have);
        if (len == 0) {
            ssize_t k = recv(fd, buf + have, sizeof buf - 1 - have, 0);
            if (k <= 0) break;
            have += (size_t)k;
            continue;
        }
        parse_one(buf, len, r);
        char ra[16] = "0";
        header(r, "Retry-After", ra, sizeof ra);
        status[done] = r->status, retry[done++] = atoi(ra);
        memmove(buf, buf + len, have - len);
        have -= len;
    }
    return done;
}

/* Sends raw on a new connection and reads until tsmd closes it or 10 s
 * pass; returns whether tsmd closed it (EOF or reset), the bytes in buf. */
static inline bool exchange_to_close(int port, const char *raw, size_t len, char *buf, size_t cap,
                                     size_t *got)
{
    int fd = tcp_connect(port, 10000);
    send_all(fd, raw, len);
    ssize_t k = 0;
    for (*got = 0; *got < cap - 1 && (k = recv(fd, buf + *got, cap - 1 - *got, 0)) > 0;)
        *got += (size_t)k;
    bool closed = k == 0 || (k < 0 && errno == ECONNRESET);
    buf[*got] = 0;
    close(fd);
    return closed;
}

/* One request with Connection: close; headers are full lines or NULL. */
static inline int request(int port, resp_t *r, const char *method, const char *path,
                          const char *token, const char *headers, const char *body)
{
    static char raw[1 << 20];
    char auth[192] = ""; /* the token fits whatever its buffer */
    if (token) snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    char length[64] = "";
    if (body) snprintf(length, sizeof length, "Content-Length: %zu\r\n", strlen(body));
    int n =
        snprintf(raw, sizeof raw, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s%s%s\r\n%s",
                 method, path, auth, headers ? headers : "", length, body ? body : "");
    cr_assert(n > 0 && (size_t)n < sizeof raw);
    return exchange(port, raw, (size_t)n, r);
}

/* ---- JSON ---- */

/* The value at a dotted path ("data.0.tuid"; numbers index arrays), or NULL. */
static inline json_t *jat(json_t *j, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok_r(buf, ".", &save); j && tok; tok = strtok_r(NULL, ".", &save))
        j = json_is_array(j) ? json_array_get(j, (size_t)atoi(tok)) : json_object_get(j, tok);
    return j;
}

static inline const char *jstr(json_t *j, const char *path)
{
    const char *s = json_string_value(jat(j, path));
    return s ? s : "<not a string>";
}

static inline long long jint(json_t *j, const char *path)
{
    json_t *v = jat(j, path);
    return json_is_integer(v) ? json_integer_value(v) : -999999;
}

/* The length of the array at path; 0 when there is none (checks that want
 * an empty array compare the body). */
static inline size_t jlen(json_t *j, const char *path)
{
    json_t *v = jat(j, path);
    return json_is_array(v) ? json_array_size(v) : 0;
}

static inline bool jnull(json_t *j, const char *path)
{
    return json_is_null(jat(j, path));
}

/* Checks an error answer: status, JSON body {statusCode, error, message}. */
static inline void expect_error(const resp_t *r, int status, const char *phrase, const char *what)
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

static inline void fmt_time(long ts, char *out, size_t cap)
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
static inline void guard_start(world_t *w)
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
            if (pid == 0)
                n = 0;
            else if (n < 16)
                pids[n++] = pid;
        }
        for (int i = 0; i < n; i++)
            kill(pids[i], SIGKILL);
        _exit(0);
    }
    close(p[0]);
    w->guard_fd = p[1];
}

static inline void guard_watch(world_t *w, pid_t pid)
{
    cr_assert_eq(write(w->guard_fd, &pid, sizeof pid), (ssize_t)sizeof pid);
}

static inline void guard_stop(world_t *w)
{
    pid_t none = 0;
    cr_expect_eq(write(w->guard_fd, &none, sizeof none), (ssize_t)sizeof none);
    close(w->guard_fd);
    waitpid(w->guard, NULL, 0);
}

static inline void clean_prefix(redisContext *c, const char *prefix)
{
    freeReplyObject(redisCommand(c, "EVAL %s 0 %s",
                                 "for _,k in ipairs(redis.call('KEYS', ARGV[1]..'*')) do "
                                 "redis.call('DEL', k) end return 1",
                                 prefix));
}

/* Starts tsmd number `which` of the world (a second one shares Redis and
 * prefix); more is a NULL-terminated list of further settings. */
static inline void tsmd_start(world_t *w, h_tsmd_t *t, const char *group, const char *const *more)
{
    static char boot[96], grp[96], base[96];
    snprintf(boot, sizeof boot, "auth.bootstrap_client=%s:%s", CLIENT, SECRET);
    snprintf(grp, sizeof grp, "kafka.group_id=%s", group);
    snprintf(base, sizeof base, "http.base_path=%s", w->base);
    const char *extra[24] = {boot, grp, "detector.clock=event", "detector.heartbeat_timeout=600",
                             "detector.gateway_timeout=300"};
    int n = 5;
    if (*w->base) extra[n++] = base;
    for (int i = 0; more && more[i] && n < 22; i++)
        extra[n++] = more[i];
    extra[n] = NULL;
    char log[128];
    snprintf(log, sizeof log, "/tmp/tsmd-api-%s.log", group);
    unlink(log);
    h_tsmd_start(t, w->broker.bootstrap, h_redis_port(), w->prefix, log, extra);
    guard_watch(w, t->proc.pid);
    h_tsmd_wait_ready(t, 30);
}

/* Logs in on port; returns the HTTP status and copies the token. */
static inline int login(int port, const char *base, const char *id, const char *secret, resp_t *r,
                        char *token, size_t cap)
{
    char path[128], body[256];
    snprintf(path, sizeof path, "%s/auth/client-token", base);
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"client_secret\":\"%s\"}", id, secret);
    int status = request(port, r, "POST", path, NULL, JSON_CT, body);
    if (token) snprintf(token, cap, "%s", status == 200 ? jstr(r->json, "data.token") : "");
    return status;
}

static inline void world_start(world_t *w, const char *name, const char *base,
                               const char *const *more)
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

static inline void world_stop(world_t *w)
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
static inline int call(world_t *w, const char *method, const char *body, const char *fmt, ...)
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

static inline void tmsg(rd_kafka_t *rk, const char *tuid, const char *gw, const char *ts, int id,
                        int ev, const char *extra)
{
    char json[512], gwf[64] = "";
    if (gw) snprintf(gwf, sizeof gwf, ",\"tsmGw\":\"%s\"", gw);
    int n = snprintf(json, sizeof json,
                     "{\"tsmId\":%d,\"tsmEv\":%d,\"tsmTuid\":\"%s\",\"tsmTs\":%s%s%s%s}", id, ev,
                     tuid, ts, gwf, extra ? "," : "", extra ? extra : "");
    h_produce(rk, "tsm.raw", tuid, json, (size_t)n);
}

/* Produces the story of the header comment in tsmTs order, waits until
 * tsmd has committed it all. */
static inline void feed_story(world_t *w)
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
        if (t == B + 1320)
            tmsg(rk, S1, G1, ts, 1100, 11, "\"swVersion\":\"2019.11.15.2_ts_pod3wp34\"");
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
static inline int get_ct(world_t *w, const char *path)
{
    char full[1024];
    snprintf(full, sizeof full, "%s%s", w->base, path);
    return request(w->tsmd.http_port, w->r, "GET", full, w->token, JSON_CT, NULL);
}

#endif
