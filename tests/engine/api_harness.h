/* api_harness.h - drives the API in process for the test_api_*.c suites: a
 *   real redis-server (TSMD_TEST_REDIS_PORT, else 6391), a fresh
 *   redis.prefix per test, requests through eng_api_handle() and uv_run until
 *   the answer arrives. No sockets to tsmd itself.
 * Threads: the test's thread only.
 * Ownership: answers (h_resp_t) own their strings; h_resp_free() frees them.
 * Errors: setup failures fail the test through Criterion asserts. */
#ifndef TESTS_API_HARNESS_H
#define TESTS_API_HARNESS_H

#include "config/config.h"
#include "engine/api/internal.h"
#include "engine/http/http.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <http_parser.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Not every suite uses every helper. */
#pragma GCC diagnostic ignored "-Wunused-function"

typedef struct h_resp_s {
    bool done;
    int status;
    char *body;
    char *headers;
    char *content_type;
    json_t *json; /* the body parsed (NULL when it is not JSON) */
} h_resp_t;

typedef struct h_state_s {
    cfg_t cfg;
    uv_loop_t loop;
    eng_api_t *api;
    eng_api_hooks_t hooks;
    redisContext *redis; /* synchronous, for arranging and checking */
    char prefix[64];
    char token[64]; /* a valid token of client "tester" */
} h_state_t;

static h_state_t H;

static int h_redis_port(void)
{
    const char *p = getenv("TSMD_TEST_REDIS_PORT");
    return p && *p ? atoi(p) : 6391;
}

/* Runs a Redis command synchronously; returns the reply (caller frees). */
static redisReply *h_cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(H.redis, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "redis command failed: %s", H.redis->errstr);
    return r;
}

static void h_cmd_free(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(H.redis, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "redis command failed: %s", H.redis->errstr);
    freeReplyObject(r);
}

static void h_set_cfg(const char *key, const char *value)
{
    char err[CFG_ERR_MAX];
    cr_assert_eq(cfg_set(&H.cfg, key, value, err), 0, "%s", err);
}

/* Stores a token for client id directly (as a login would). */
static void h_make_token(const char *client, char out[64])
{
    unsigned char bin[32], h[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    randombytes_buf(bin, sizeof bin);
    sodium_bin2base64(out, 64, bin, sizeof bin, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_hash_sha256(h, (const unsigned char *)out, strlen(out));
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    h_cmd_free("SET %stoken:%s %s EX 600", H.prefix, hex, client);
}

static void h_setup(void)
{
    memset(&H, 0, sizeof H);
    cr_assert_eq(sodium_init() >= 0, 1);
    cfg_init_defaults(&H.cfg);
    char port[16];
    snprintf(port, sizeof port, "%d", h_redis_port());
    h_set_cfg("redis.port", port);
    unsigned r = randombytes_random();
    snprintf(H.prefix, sizeof H.prefix, "t%d_%08x:", (int)getpid(), r);
    h_set_cfg("redis.prefix", H.prefix);
    H.redis = redisConnect("127.0.0.1", h_redis_port());
    cr_assert(H.redis && !H.redis->err, "no redis-server on port %d", h_redis_port());
    h_make_token("tester", H.token);
    uv_loop_init(&H.loop);
}

/* Makes the API (after the test adjusted H.cfg and H.hooks). */
static void h_start(void)
{
    H.api = eng_api_new(&H.loop, &H.cfg, &H.hooks);
    eng_api_connect(H.api);
    /* Requests fail fast while Redis is not connected: wait for it (a test
     * that points at no server gives up after 3 s of loop time). */
    uint64_t t0 = uv_now(&H.loop);
    while (!eng_api_redis_up(H.api) && uv_now(&H.loop) - t0 < 3000)
        uv_run(&H.loop, UV_RUN_ONCE);
}

static void h_stopped(void *arg)
{
    *(bool *)arg = true;
}

static void h_teardown(void)
{
    if (H.api) {
        bool stopped = false;
        eng_api_stop(H.api, h_stopped, &stopped);
        while (!stopped)
            uv_run(&H.loop, UV_RUN_ONCE);
        eng_api_free(H.api);
    }
    uv_run(&H.loop, UV_RUN_NOWAIT);
    uv_loop_close(&H.loop);
    redisReply *keys = h_cmd("KEYS %s*", H.prefix);
    for (size_t i = 0; i < keys->elements; i++)
        h_cmd_free("DEL %s", keys->element[i]->str);
    freeReplyObject(keys);
    redisFree(H.redis);
    cfg_free(&H.cfg);
}

static void h_done(eng_http_req_t *req, const eng_http_resp_t *resp)
{
    h_resp_t *out = req->done_arg;
    out->done = true;
    out->status = resp->status;
    out->body = strndup(resp->body, resp->body_len);
    out->headers = strdup(resp->extra_headers ? resp->extra_headers : "");
    out->content_type = strdup(resp->content_type ? resp->content_type : "application/json");
    out->json = json_loadb(resp->body, resp->body_len, 0, NULL);
}

/* Sends one request with full control over the headers; waits for the answer. */
static h_resp_t h_request_raw(int method, const char *target, const char *ctype, const char *auth,
                              const char *body)
{
    h_resp_t out = {0};
    eng_http_req_t *req =
        eng_http_req_new(method, target, ctype, auth, body, body ? strlen(body) : 0);
    req->done = h_done;
    req->done_arg = &out;
    eng_api_handle(H.api, req);
    while (!out.done)
        uv_run(&H.loop, UV_RUN_ONCE);
    eng_http_req_free(req);
    return out;
}

/* Sends a request with the test token and a JSON Content-Type when there is a body. */
static h_resp_t h_request(int method, const char *target, const char *body)
{
    char auth[96];
    snprintf(auth, sizeof auth, "Bearer %s", H.token);
    return h_request_raw(method, target, body ? "application/json" : NULL, auth, body);
}

static void h_resp_free(h_resp_t *r)
{
    free(r->body);
    free(r->headers);
    free(r->content_type);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* Returns the "data" member of an answer. */
static json_t *h_data(const h_resp_t *r)
{
    return json_object_get(r->json, "data");
}

/* Asserts an error answer: status and the {"statusCode","error","message"} shape. */
static void h_assert_error(const h_resp_t *r, int status)
{
    cr_assert_eq(r->status, status, "status %d, expected %d: %s", r->status, status, r->body);
    cr_assert_eq(json_integer_value(json_object_get(r->json, "statusCode")), status);
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "error")), eng_http_reason(status));
    cr_assert(json_is_string(json_object_get(r->json, "message")));
}

#endif
