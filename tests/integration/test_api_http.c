/* test_api_http.c - the API's error answers and HTTP behaviour with the
 * real tsmd over TCP (CONTRACT.md section 4): every error status (400, 401,
 * 404, 405 with Allow, 409, 413, 415, 429 with Retry-After, 431, 503) with
 * the body {"statusCode","error","message"}; odd tuids, invalid JSON,
 * broken framing; token expiry, several tokens at once, a token shared by two
 * tsmd on one Redis and prefix; pipelining, slow and stalled clients.
 * Hostile input (the fault/hostile-input issue): 500 stalled clients at
 * once, 1000 wrong secrets for one client id, bodies over
 * http.max_body_bytes sent in full, smuggling shapes with a hidden request. */
#include "api_world.h"

#include <poll.h>
#include <sys/resource.h>

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
    request(port, w->r, "POST", "/auth/client-token", NULL, JSON_CT,
            "{\"client_id\":\"" CLIENT "\"}");
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
    request(port, w->r, "POST", "/auth/client-token", NULL,
            "Content-Type: application/x-www-form-urlencoded\r\n",
            "client_id=" CLIENT "&client_secret=" SECRET);
    expect_error(w->r, 415, "Unsupported Media Type", "form body on the token request");
    request(port, w->r, "POST", "/groups", w->token, "Content-Type: Application/JSON\r\n",
            "{\"group_id\":\"mixedcase\"}");
    cr_expect_eq(w->r->status, 200, "media type is case-insensitive: %s", w->r->body);
    request(port, w->r, "POST", "/groups", w->token, NULL, "{\"group_id\":\"noctype\"}");
    cr_expect_eq(w->r->status, 200, "a body without Content-Type is not 415: %s", w->r->body);
    request(port, w->r, "POST", "/groups", w->token,
            "Content-Type: application/json;charset=utf-8\r\n", "{\"group_id\":\"nospace\"}");
    cr_expect_eq(w->r->status, 200, "parameters without a space: %s", w->r->body);
    request(port, w->r, "POST", "/groups", w->token, "Content-Type: application/jsonx\r\n",
            "{\"group_id\":\"jsonx\"}");
    expect_error(w->r, 415, "Unsupported Media Type", "application/jsonx");
    request(port, w->r, "POST", "/things/" S1 "/commands", w->token, "Content-Type: text/plain\r\n",
            "[{\"tsmId\":1500,\"tsmEv\":1}]");
    expect_error(w->r, 415, "Unsupported Media Type", "commands as text/plain");
    call(w, "GET", NULL, "/things/%s/installations?limit=1001", S1);
    expect_error(w->r, 400, "Bad Request", "installations limit=1001");
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
    n = snprintf(raw, sizeof raw, "GET /things/alerts HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n",
                 big);
    exchange(port, raw, (size_t)n, w->r);
    expect_error(w->r, 431, "Request Header Fields Too Large", "9 KiB header");
    n = snprintf(raw, sizeof raw, "GET /things/%s HTTP/1.1\r\nHost: t\r\n\r\n", big);
    exchange(port, raw, (size_t)n, w->r);
    expect_error(w->r, 431, "Request Header Fields Too Large", "9 KiB target");
    const char *framing[] = {
        "POST /groups HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: "
        "3\r\n\r\n0\r\n\r\n",
        "POST /groups HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        "GET http://t/things/alerts HTTP/1.1\r\nHost: t\r\n\r\n",
        "BREW /things/alerts HTTP/1.1\r\nHost: t\r\n\r\n"};
    for (int i = 0; i < 4; i++) {
        exchange(port, framing[i], strlen(framing[i]), w->r);
        expect_error(w->r, 400, "Bad Request", framing[i]);
    }
    const char *bad[] = {"{\"group_id\":",
                         "not json",
                         "{\"group_id\":\"a\"} trailing",
                         "{\"group_id\":\"a\",\"group_id\":\"b\"}",
                         "",
                         "[\"group_id\"]",
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
    const char *paths[] = {"/things/a%%2Fb",
                           "/things/a%%20b",
                           "/things/%%7Bx%%7D",
                           "/things/%s",
                           "/things/a%%2Fb/messages?limit=1",
                           "/things/%%20/alerts",
                           "/things/a%%00b",
                           "/things/..%%2F..%%2Fx/group",
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
        int n = snprintf(
            raw, sizeof raw,
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

Test(api_http, every_error_status_has_the_error_shape, .timeout = 90)
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

Test(api_http, commands_503_when_the_broker_is_down, .timeout = 90)
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
        cr_expect(ttl >= 1 && ttl <= 5, "token TTL %lld, auth.token_ttl is 5", ttl);
    }
    freeReplyObject(r);
    char key[96];
    snprintf(key, sizeof key, "%sclients", w->prefix);
    char *hash = h_redis_hget(w->redis, key, CLIENT);
    cr_expect(hash && strncmp(hash, "$argon2id$", 10) == 0 && strstr(hash, SECRET) == NULL,
              "secret stored as %s", hash ? hash : "(nothing)");
    free(hash);
}

Test(api_http, tokens_expire_coexist_and_are_shared, .timeout = 90)
{
    world_t w;
    const char *more[] = {"auth.token_ttl=5", NULL};
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
    cr_expect(used < 5, "the checks took %.1f s, over the TTL: the machine is too slow", used);
    h_sleep_ms((int)((5.0 - used) * 1000) + 1500);
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
                          "POST " BASE
                          "/groups HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n" JSON_CT
                          "Content-Length: 17\r\n\r\n{\"group_id\":\"p3\"}"
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
    int n =
        snprintf(raw, sizeof raw, "GET " BASE "/things/alerts/count HTTP/1.1\r\nHost: t\r\nAuthor");
    send_all(fd, raw, (size_t)n);
    return fd;
}

/* Stalled clients do not hold up others; one that finishes late is
 * answered; one that never finishes is closed after http.idle_timeout. */
static void check_slow_clients(world_t *w)
{
    int slow[20];
    for (int i = 0; i < 20; i++)
        slow[i] = half_request(w);
    h_sleep_ms(200);
    for (int i = 0; i < 5; i++)
        cr_expect_eq(call(w, "GET", NULL, "/groups/p%d/things", i), 200,
                     "request %d while 20 clients stall: %d", i, w->r->status);
    char rest[256], in[4096];
    int n =
        snprintf(rest, sizeof rest, "ization: Bearer %s\r\nConnection: close\r\n\r\n", w->token);
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
    for (int i = 1; i < 20; i++)
        close(slow[i]);
    cr_expect_eq(call(w, "GET", NULL, "/things/alerts/count"), 200, "still serving");
}

Test(api_http, pipelining_and_slow_clients, .timeout = 90)
{
    world_t w;
    const char *more[] = {"http.idle_timeout=2", NULL};
    world_start(&w, "g", BASE, more);
    check_pipelining(&w);
    check_slow_clients(&w);
    world_stop(&w);
}

/* ---- H: 500 slow clients at once ---- */

#define SLOW_CLIENTS 500

typedef struct stalled_s {
    int fd;
    double sent, closed; /* h_now() after the half request went out, at EOF (0: open) */
    char got[64];        /* the first bytes tsmd sent, if any */
    size_t got_len;
} stalled_t;

/* Raises this process's soft limit on open files to at least want; tsmd,
 * started after, inherits it. */
static void raise_nofile(rlim_t want)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur >= want) return;
    cr_assert(rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want,
              "the hard limit on open files (%llu) is below %llu", (unsigned long long)rl.rlim_max,
              (unsigned long long)want);
    rl.rlim_cur = want;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s", strerror(errno));
}

/* Waits up to wait_ms for the stalled sockets; marks those tsmd closed (EOF
 * or reset) with the time, keeps the first bytes of anything it sent.
 * Returns how many are still open. */
static int stalled_poll(stalled_t *s, int n, int wait_ms)
{
    static struct pollfd pfd[SLOW_CLIENTS];
    static int map[SLOW_CLIENTS];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (s[i].closed == 0) pfd[k] = (struct pollfd){s[i].fd, POLLIN, 0}, map[k++] = i;
    if (k == 0 || poll(pfd, (nfds_t)k, wait_ms) <= 0) return k;
    int open = k;
    for (int j = 0; j < k; j++) {
        stalled_t *c = &s[map[j]];
        char scratch[4096];
        size_t room = sizeof c->got - 1 - c->got_len;
        ssize_t got = !pfd[j].revents ? -1
                      : room          ? recv(c->fd, c->got + c->got_len, room, MSG_DONTWAIT)
                                      : recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (got > 0 && room) c->got_len += (size_t)got;
        if (pfd[j].revents && (got == 0 || (got < 0 && errno != EAGAIN))) {
            c->closed = h_now();
            open--;
        }
    }
    return open;
}

/* While the stalled clients are open, a normal client is answered; tsmd
 * holds them all (the open-connections gauge). */
static void check_served_while_stalled(world_t *w, stalled_t *s)
{
    int port = w->tsmd.http_port;
    cr_expect_eq(request(port, w->r, "GET", "/healthz", NULL, NULL, NULL), 200,
                 "/healthz while %d clients stall: %s", SLOW_CLIENTS, w->r->body);
    cr_expect_eq(call(w, "GET", NULL, "/things/alerts/count"), 200,
                 "authenticated request while %d clients stall: %s", SLOW_CLIENTS, w->r->body);
    cr_expect(json_is_string(jat(w->r->json, "data.alert_count")), "%s", w->r->body);
    double gauge = h_metric(&w->tsmd, "tsmd_http_connections");
    double since = h_now() - s[0].sent;
    int open = stalled_poll(s, SLOW_CLIENTS, 0);
    cr_log_info("%d slow clients: answered %.2f s after the first stalled, %d still open, "
                "tsmd_http_connections %.0f",
                SLOW_CLIENTS, since, open, gauge);
    /* http.idle_timeout is 2 s: only a machine too slow to answer within
     * it may see some closed already. */
    cr_expect(since >= 1.5 || (open == SLOW_CLIENTS && gauge >= SLOW_CLIENTS),
              "answered %.2f s after the first stall with %d of %d open (gauge %.0f)", since, open,
              SLOW_CLIENTS, gauge);
}

/* Every stalled client is closed by tsmd, not before http.idle_timeout (2 s
 * after its last byte), with nothing or a JSON 4xx sent. */
static void check_stalled_closed(stalled_t *s)
{
    double until = s[SLOW_CLIENTS - 1].sent + 15;
    int open = SLOW_CLIENTS;
    while (open > 0 && h_now() < until)
        open = stalled_poll(s, SLOW_CLIENTS, 200);
    cr_expect_eq(open, 0, "%d of %d stalled clients still open 15 s after", open, SLOW_CLIENTS);
    double first = 1e9, last = 0;
    int answered = 0;
    for (int i = 0; i < SLOW_CLIENTS; i++) {
        if (s[i].closed == 0) continue;
        double after = s[i].closed - s[i].sent;
        first = after < first ? after : first;
        last = after > last ? after : last;
        answered += s[i].got_len > 0;
        cr_expect(s[i].got_len == 0 || strncmp(s[i].got, "HTTP/1.1 4", 10) == 0,
                  "stalled client %d got: %s", i, s[i].got);
    }
    cr_log_info("stalled clients closed %.2f to %.2f s after their last byte, %d with an answer",
                first, last, answered);
    cr_expect(first >= 1.5,
              "a stalled client was closed %.2f s after its last byte, before "
              "http.idle_timeout=2",
              first);
}

Test(api_http, five_hundred_slow_clients_at_once, .timeout = 60)
{
    raise_nofile(4 * SLOW_CLIENTS);
    world_t w;
    const char *more[] = {"http.idle_timeout=2", NULL};
    world_start(&w, "h", BASE, more);
    static stalled_t s[SLOW_CLIENTS];
    const char *timed_out = "tsmd_http_connections_total{outcome=\"timed_out\"}";
    double timed_out0 = h_metric(&w.tsmd, timed_out);
    long rss0 = h_rss_kb(w.tsmd.proc.pid);
    for (int i = 0; i < SLOW_CLIENTS; i++)
        s[i] = (stalled_t){.fd = half_request(&w), .sent = h_now()};
    h_sleep_ms(300); /* tsmd has read every half request */
    check_served_while_stalled(&w, s);
    long rss1 = h_rss_kb(w.tsmd.proc.pid);
    check_stalled_closed(s);
    long rss2 = h_rss_kb(w.tsmd.proc.pid);
    double closed = h_metric(&w.tsmd, timed_out) - timed_out0;
    cr_log_info("tsmd RSS: %ld KiB before, %ld KiB with %d stalled clients, %ld KiB after", rss0,
                rss1, SLOW_CLIENTS, rss2);
    cr_expect(closed >= SLOW_CLIENTS, "tsmd counted %.0f connections timed out", closed);
    /* A connection costs tsmd its struct (about 1 KiB with the parser) and
     * the head received so far (60 bytes here); every read lands in one
     * 64 KiB server-wide buffer. The bound, 4 MiB for 500, is 8 KiB each:
     * the largest head a client may send before 431. A read buffer per
     * connection (libuv suggests 64 KiB: 32 MiB) would break it. */
    cr_expect(rss0 > 0 && rss1 - rss0 < 4 * 1024, "RSS grew by %ld KiB with %d stalled clients",
              rss1 - rss0, SLOW_CLIENTS);
    for (int i = 0; i < SLOW_CLIENTS; i++)
        close(s[i].fd);
    cr_expect_eq(call(&w, "GET", NULL, "/things/alerts/count"), 200, "still serving");
    world_stop(&w);
}

/* ---- I: a thousand wrong secrets for one client id ---- */

#define WRONG_SECRETS 1000
#define LOGIN_BATCH 50 /* pipelined per write */
#define FAIL_WINDOW 3  /* auth.login_fail_window of this test */

/* Writes a login request into out; returns its length. */
static size_t login_raw(char *out, size_t cap, const char *id, const char *secret, bool close)
{
    char body[256];
    int blen =
        snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"client_secret\":\"%s\"}", id, secret);
    int n = snprintf(out, cap,
                     "POST /auth/client-token HTTP/1.1\r\nHost: t\r\n%s" JSON_CT
                     "Content-Length: %d\r\n\r\n%s",
                     close ? "Connection: close\r\n" : "", blen, body);
    cr_assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* The first 10 wrong secrets are 401, the 11th and later 429 with
 * Retry-After within the window; a window lets at most 10 through, so if
 * the run took longer than one window (a loaded machine) a few more 401
 * are right. */
static void check_wrong_secret_answers(const int *status, const int *retry, double took)
{
    int n401 = 0, n429 = 0;
    for (int i = 0; i < WRONG_SECRETS; i++) {
        n401 += status[i] == 401, n429 += status[i] == 429;
        if (i < 10) cr_expect_eq(status[i], 401, "wrong secret %d: %d", i + 1, status[i]);
    }
    cr_log_info("%d wrong secrets in %.2f s: %d x 401, %d x 429", WRONG_SECRETS, took, n401, n429);
    cr_expect_eq(status[10], 429, "the 11th wrong secret within the window: %d", status[10]);
    cr_expect(retry[10] >= 1 && retry[10] <= FAIL_WINDOW, "Retry-After %d, the window is %d s",
              retry[10], FAIL_WINDOW);
    cr_expect_eq(n401 + n429, WRONG_SECRETS, "answers other than 401 and 429");
    int windows = 1 + (int)(took / FAIL_WINDOW);
    cr_expect(n401 <= 10 * windows, "%d x 401 in %.2f s, at most 10 per %d s window", n401, took,
              FAIL_WINDOW);
}

/* Sends the wrong secrets in pipelined batches on one keep-alive connection;
 * returns the largest RSS of tsmd seen between batches. */
static long send_wrong_secrets(world_t *w, int *status, int *retry)
{
    static char batch[LOGIN_BATCH * 512];
    char one[512];
    size_t len = login_raw(one, sizeof one, CLIENT, "wrong-secret", false);
    for (int i = 0; i < LOGIN_BATCH; i++)
        memcpy(batch + (size_t)i * len, one, len);
    int fd = tcp_connect(w->tsmd.http_port, 20000);
    long peak = 0;
    int got = 0;
    for (int b = 0; b < WRONG_SECRETS / LOGIN_BATCH && got == b * LOGIN_BATCH; b++) {
        send_all(fd, batch, LOGIN_BATCH * len);
        got += read_answers(fd, w->r, LOGIN_BATCH, status + got, retry + got);
        long rss = h_rss_kb(w->tsmd.proc.pid);
        peak = rss > peak ? rss : peak;
    }
    close(fd);
    cr_assert_eq(got, WRONG_SECRETS, "%d answers to %d wrong secrets", got, WRONG_SECRETS);
    return peak;
}

/* A login with the right secret from a fresh connection bound to 127.0.0.2
 * (another source address than the attacker's 127.0.0.1). */
static int login_elsewhere(world_t *w, const char *secret)
{
    char raw[512];
    size_t len = login_raw(raw, sizeof raw, CLIENT, secret, true);
    return exchange_from(w->tsmd.http_port, "127.0.0.2", raw, len, w->r);
}

Test(api_http, a_thousand_wrong_secrets_for_one_client_id, .timeout = 60)
{
    world_t w;
    const char *more[] = {"auth.login_fail_window=3", NULL}; /* FAIL_WINDOW */
    world_start(&w, "i", "", more);
    static int status[WRONG_SECRETS], retry[WRONG_SECRETS];
    long rss0 = h_rss_kb(w.tsmd.proc.pid);
    double t0 = h_now();
    long peak = send_wrong_secrets(&w, status, retry);
    double took = h_now() - t0;
    long rss1 = h_rss_kb(w.tsmd.proc.pid), hwm = h_peak_rss_kb(w.tsmd.proc.pid);
    check_wrong_secret_answers(status, retry, took);
    cr_log_info("tsmd RSS: %ld KiB before, %ld KiB at most between batches, %ld KiB after, "
                "peak %ld KiB",
                rss0, peak, rss1, hwm);
    /* At most two verifications run at once (64 MiB each), whatever the
     * number of attempts queued: the peak stays below 2 x 64 MiB + 8 MiB. */
    cr_expect(hwm - rss0 < 136 * 1024, "peak RSS %ld KiB, %ld KiB before", hwm, rss0);
    /* A verification takes 64 MiB (argon2id) and gives it back; the 429s
     * verify nothing and keep nothing, so RSS ends where it began. 4 MiB
     * is 4 KiB per attempt: one request's buffers kept per attempt would
     * break it. */
    cr_expect(rss0 > 0 && labs(rss1 - rss0) < 4 * 1024, "RSS %ld KiB before, %ld KiB after", rss0,
              rss1);
    /* Still inside the window (it began with the first wrong secret): the
     * right secret is refused too, from anywhere. */
    bool inside = h_now() - t0 < FAIL_WINDOW;
    int st = login_elsewhere(&w, SECRET);
    char ra[16] = "";
    header(w.r, "Retry-After", ra, sizeof ra);
    if (inside)
        expect_error(w.r, 429, "Too Many Requests", "the right secret within the window");
    else
        cr_log_warn("the window had passed before the right secret was tried (%d)", st);
    h_sleep_ms(atoi(ra) * 1000 + 1200);
    char token[64]; /* 43 characters */
    cr_expect_eq(login_elsewhere(&w, SECRET), 200, "the right secret once the window passed: %s",
                 w.r->body);
    snprintf(token, sizeof token, "%s", jstr(w.r->json, "data.token"));
    cr_expect_eq(request(w.tsmd.http_port, w.r, "GET", "/things/alerts/count", token, NULL, NULL),
                 200, "the new token works: %s", w.r->body);
    world_stop(&w);
}

/* ---- J: bodies over http.max_body_bytes sent in full; smuggling shapes ---- */

#define MAX_BODY 4096 /* http.max_body_bytes of this test */

/* A POST /groups of group id whose JSON body is padded with spaces to len
 * bytes, with Content-Length or in 1 KiB chunks; returns its length. */
static size_t big_post(char *out, size_t cap, world_t *w, const char *id, size_t len, bool chunked)
{
    static char body[4 * MAX_BODY];
    cr_assert(len < sizeof body);
    int n = snprintf(body, sizeof body, "{\"group_id\":\"%s\"}", id);
    memset(body + n, ' ', len - (size_t)n);
    size_t at = (size_t)snprintf(
        out, cap, "POST /groups HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n" JSON_CT "%s",
        w->token, chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "");
    if (!chunked) at += (size_t)snprintf(out + at, cap - at, "Content-Length: %zu\r\n\r\n", len);
    for (size_t done = 0; done < len;) {
        size_t piece = chunked && len - done > 1024 ? 1024 : len - done;
        if (chunked) at += (size_t)snprintf(out + at, cap - at, "%zx\r\n", piece);
        cr_assert(at + piece + 8 < cap);
        memcpy(out + at, body + done, piece);
        at += piece, done += piece;
        if (chunked) at += (size_t)snprintf(out + at, cap - at, "\r\n");
    }
    if (chunked) at += (size_t)snprintf(out + at, cap - at, "0\r\n\r\n");
    return at;
}

/* A body of exactly the limit is taken; one byte more, twice the limit with
 * Content-Length, and twice the limit in chunks (only counted as it
 * arrives) are 413 with the error body, and the connection closes after it. */
static void check_bodies_over_the_limit(world_t *w)
{
    static char raw[4 * MAX_BODY], in[65536];
    int port = w->tsmd.http_port, status[2], retry[2];
    size_t n = big_post(raw, sizeof raw, w, "fits", MAX_BODY, false), got;
    n += (size_t)snprintf(raw + n, sizeof raw - n, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    int fd = tcp_connect(port, 10000);
    send_all(fd, raw, n);
    cr_expect_eq(read_answers(fd, w->r, 2, status, retry), 2);
    close(fd);
    cr_expect(status[0] == 200 && status[1] == 200,
              "a body of http.max_body_bytes, then a request on the same connection: %d %d",
              status[0], status[1]);
    bool closed;
    const struct {
        const char *id;
        size_t len;
        bool chunked;
    } over[] = {{"one_more", MAX_BODY + 1, false},
                {"twice", 2 * MAX_BODY, false},
                {"chunked", 2 * MAX_BODY, true}};
    for (int i = 0; i < 3; i++) {
        n = big_post(raw, sizeof raw, w, over[i].id, over[i].len, over[i].chunked);
        closed = exchange_to_close(port, raw, n, in, sizeof in, &got);
        size_t used = parse_one(in, got, w->r);
        expect_error(w->r, 413, "Payload Too Large", over[i].id);
        cr_expect(closed && used == got, "%s: closed %d, %zu bytes after the 413", over[i].id,
                  closed, got - used);
    }
}

/* Writes GET /healthz, then shape (may be ""), then an authenticated POST
 * /groups of group id, all for one connection; returns the length. */
static size_t behind(char *out, size_t cap, world_t *w, const char *shape, const char *id)
{
    char body[64];
    int blen = snprintf(body, sizeof body, "{\"group_id\":\"%s\"}", id);
    int n = snprintf(out, cap,
                     "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n%s"
                     "POST /groups HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n" JSON_CT
                     "Content-Length: %d\r\n\r\n%s",
                     shape, w->token, blen, body);
    cr_assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* A valid request, then a smuggling shape hiding a request in its body or
 * behind it, on one connection: 200, then 400 with the error body, then the
 * connection closes; the hidden request is never answered nor run (without
 * a shape in between it is: the control). Transfer-Encoding before
 * Content-Length and two different lengths are in check_sizes_and_json. */
static void check_smuggling(world_t *w)
{
    const char *shapes[] = {
        "POST /groups HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /groups HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
        "POST /groups HTTP/1.1\r\nHost: t\r\ntransfer-encoding: gzip, chunked\r\n"
        "content-length: 5\r\n\r\n0\r\n\r\n"};
    static char raw[4096], in[65536];
    int status[2], retry[2], fd = tcp_connect(w->tsmd.http_port, 10000);
    size_t n = behind(raw, sizeof raw, w, "", "control");
    send_all(fd, raw, n);
    cr_expect(read_answers(fd, w->r, 2, status, retry) == 2 && status[1] == 200,
              "control: the request behind is run: %d", status[1]);
    close(fd);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "hidden%d", i);
        n = behind(raw, sizeof raw, w, shapes[i], id);
        size_t got;
        bool closed = exchange_to_close(w->tsmd.http_port, raw, n, in, sizeof in, &got);
        size_t first = parse_one(in, got, w->r);
        cr_expect(first > 0 && w->r->status == 200, "shape %d: first answer %s", i, in);
        size_t second = parse_one(in + first, got - first, w->r);
        expect_error(w->r, 400, "Bad Request", shapes[i]);
        cr_expect(closed && first + second == got, "shape %d: closed %d, after the 400: %s", i,
                  closed, in + first + second);
    }
}

Test(api_http, bodies_over_the_limit_and_smuggling_over_tcp, .timeout = 60)
{
    world_t w;
    const char *more[] = {"http.max_body_bytes=4096", NULL}; /* MAX_BODY */
    world_start(&w, "j", "", more);
    static char in[8192];
    const char ping[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    int other = tcp_connect(w.tsmd.http_port, 10000); /* a bystander on keep-alive */
    send_all(other, ping, sizeof ping - 1);
    cr_expect(recv(other, in, sizeof in - 1, 0) > 0 && strncmp(in, "HTTP/1.1 200", 12) == 0,
              "bystander: %s", in);
    check_bodies_over_the_limit(&w);
    check_smuggling(&w);
    memset(in, 0, sizeof in);
    send_all(other, ping, sizeof ping - 1);
    cr_expect(recv(other, in, sizeof in - 1, 0) > 0 && strncmp(in, "HTTP/1.1 200", 12) == 0,
              "the bystander's connection still answers: %s", in);
    close(other);
    cr_expect_eq(call(&w, "GET", NULL, "/groups"), 200, "%s", w.r->body);
    cr_expect(strstr(w.r->body, "\"fits\"") && strstr(w.r->body, "\"control\"") &&
                  !strstr(w.r->body, "one_more") && !strstr(w.r->body, "twice") &&
                  !strstr(w.r->body, "chunked") && !strstr(w.r->body, "hidden"),
              "only the group within the limit and the control exist: %s", w.r->body);
    world_stop(&w);
}
