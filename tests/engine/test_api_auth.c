/* test_api_auth.c - POST /auth/client-token and the token check, against a
 * real redis-server. */
#include "api_harness.h"

static void add_client(const char *id, const char *secret)
{
    char hash[crypto_pwhash_STRBYTES];
    cr_assert_eq(crypto_pwhash_str(hash, secret, strlen(secret), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                   crypto_pwhash_MEMLIMIT_INTERACTIVE),
                 0);
    h_cmd_free("HSET %sclients %s %s", H.prefix, id, hash);
}

static h_resp_t login(const char *id, const char *secret)
{
    char body[256];
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"client_secret\":\"%s\"}", id, secret);
    return h_request_raw(HTTP_POST, "/auth/client-token", "application/json; charset=UTF-8",
                         "Bearer whatever", body);
}

TestSuite(api_auth, .init = h_setup, .fini = h_teardown);

Test(api_auth, login_gives_a_token_that_opens_other_routes)
{
    h_start();
    add_client("svc", "s3cret");
    h_resp_t r = login("svc", "s3cret");
    cr_assert_eq(r.status, 200, "%s", r.body);
    const char *token = json_string_value(json_object_get(h_data(&r), "token"));
    cr_assert_eq(strlen(token), 43);
    char auth[96];
    snprintf(auth, sizeof auth, "Bearer %s", token);
    h_resp_t c = h_request_raw(HTTP_GET, "/things/alerts/count", NULL, auth, NULL);
    cr_assert_eq(c.status, 200, "%s", c.body);
    /* Redis keeps only the hash of the token, with the configured TTL. */
    redisReply *k = h_cmd("KEYS %stoken:*", H.prefix);
    cr_assert_eq(k->elements, 2); /* the harness's token and this one */
    for (size_t i = 0; i < k->elements; i++)
        cr_assert_null(strstr(k->element[i]->str, token));
    freeReplyObject(k);
    h_resp_free(&r);
    h_resp_free(&c);
}

Test(api_auth, wrong_secret_and_unknown_id_answer_the_same_401)
{
    h_start();
    add_client("svc", "s3cret");
    h_resp_t a = login("svc", "wrong");
    h_resp_t b = login("nobody", "s3cret");
    h_resp_t c = login("bad id!", "x");
    h_assert_error(&a, 401);
    h_assert_error(&b, 401);
    h_assert_error(&c, 401);
    cr_assert_str_eq(a.body, b.body);
    cr_assert_str_eq(a.body, c.body);
    h_resp_free(&a);
    h_resp_free(&b);
    h_resp_free(&c);
}

Test(api_auth, malformed_login_bodies_are_400)
{
    h_start();
    const char *bodies[] = {"{", "[]", "{\"client_id\":\"a\"}",
                            "{\"client_id\":1,\"client_secret\":\"x\"}",
                            "{\"client_id\":\"a\",\"client_id\":\"b\",\"client_secret\":\"x\"}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        h_resp_t r =
            h_request_raw(HTTP_POST, "/auth/client-token", "application/json", NULL, bodies[i]);
        h_assert_error(&r, 400);
        h_resp_free(&r);
    }
    h_resp_t r = h_request_raw(HTTP_POST, "/auth/client-token", NULL, NULL, NULL);
    h_assert_error(&r, 400);
    h_resp_free(&r);
}

Test(api_auth, non_json_content_type_is_415)
{
    h_start();
    h_resp_t r = h_request_raw(HTTP_POST, "/auth/client-token", "text/plain", NULL, "{}");
    h_assert_error(&r, 415);
    h_resp_free(&r);
}

Test(api_auth, repeated_failures_get_429_with_retry_after)
{
    h_start();
    add_client("svc", "s3cret");
    for (int i = 0; i < 10; i++) {
        h_resp_t r = login("svc", "wrong");
        h_assert_error(&r, 401);
        h_resp_free(&r);
    }
    h_resp_t r = login("svc", "s3cret"); /* even the right secret waits for the window */
    h_assert_error(&r, 429);
    cr_assert(strstr(r.headers, "Retry-After: ") != NULL, "%s", r.headers);
    h_resp_free(&r);
    /* Once the window has passed, the right secret works again. */
    h_cmd_free("DEL %sauthfail:svc", H.prefix);
    r = login("svc", "s3cret");
    cr_assert_eq(r.status, 200, "%s", r.body);
    h_resp_free(&r);
}

/* auth.login_fail_limit and auth.login_fail_window replace the defaults 10
 * and 60: the 4th attempt of a limit of 3 is refused, and the window is the
 * configured one (Retry-After and the key's TTL at most 7 s, not 60). */
Test(api_auth, login_fail_limit_and_window_are_settings)
{
    h_set_cfg("auth.login_fail_limit", "3");
    h_set_cfg("auth.login_fail_window", "7");
    h_start();
    add_client("svc", "s3cret");
    for (int attempt = 1; attempt <= 4; attempt++) {
        h_resp_t r = login("svc", attempt == 4 ? "s3cret" : "wrong");
        h_assert_error(&r, attempt <= 3 ? 401 : 429);
        const char *retry = strstr(r.headers, "Retry-After: ");
        cr_assert(attempt <= 3 || (retry && atoi(retry + 13) >= 1 && atoi(retry + 13) <= 7),
                  "attempt %d: %s", attempt, r.headers);
        h_resp_free(&r);
    }
    redisReply *ttl = h_cmd("TTL %sauthfail:svc", H.prefix);
    cr_assert(ttl->integer >= 1 && ttl->integer <= 7, "window TTL %lld", ttl->integer);
    freeReplyObject(ttl);
}

Test(api_auth, successful_logins_do_not_use_up_the_limit)
{
    h_start();
    add_client("svc", "s3cret");
    for (int i = 0; i < 12; i++) {
        h_resp_t r = login("svc", "s3cret");
        cr_assert_eq(r.status, 200, "attempt %d: %s", i, r.body);
        h_resp_free(&r);
    }
}

Test(api_auth, without_a_valid_token_every_closed_path_is_401)
{
    h_start();
    const char *paths[] = {"/things/alerts", "/nothing/here", "/things/a%2Fb", "/groups"};
    const char *auths[] = {NULL, "Bearer", "Bearer short", "Basic abc",
                           "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        for (size_t j = 0; j < sizeof auths / sizeof auths[0]; j++) {
            h_resp_t r = h_request_raw(HTTP_GET, paths[i], NULL, auths[j], NULL);
            h_assert_error(&r, 401);
            h_resp_free(&r);
        }
    h_resp_t r = h_request_raw(HTTP_GET, "/healthz", NULL, NULL, NULL);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
}

Test(api_auth, token_is_checked_before_routing_and_then_404_405)
{
    h_start();
    h_resp_t r = h_request(HTTP_GET, "/nothing", NULL);
    h_assert_error(&r, 404);
    h_resp_free(&r);
    r = h_request(HTTP_PUT, "/things/alerts", NULL);
    h_assert_error(&r, 405);
    cr_assert_str_eq(r.headers, "Allow: GET\r\n");
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/things/a%2Fb", NULL);
    h_assert_error(&r, 400);
    h_resp_free(&r);
}

static void count_done(eng_http_req_t *req, const eng_http_resp_t *resp)
{
    int *counts = req->done_arg;
    counts[resp->status == 503 ? 0 : resp->status == 401 ? 1 : 2]++;
}

Test(api_auth, verification_queue_is_bounded)
{
    h_start();
    enum { N = 70 };
    int counts[3] = {0};
    eng_http_req_t *reqs[N];
    for (int i = 0; i < N; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"client_id\":\"c%d\",\"client_secret\":\"x\"}", i);
        reqs[i] = eng_http_req_new(HTTP_POST, "/auth/client-token", "application/json", NULL, body,
                                   strlen(body));
        reqs[i]->done = count_done;
        reqs[i]->done_arg = counts;
        eng_api_handle(H.api, reqs[i]);
    }
    while (counts[0] + counts[1] + counts[2] < N)
        uv_run(&H.loop, UV_RUN_ONCE);
    /* 2 verifying and 64 queued at most: the rest is told to come back (a
     * verification that ends while the attempts are still arriving makes
     * room for one more, hence a range). */
    cr_assert(counts[0] >= 1 && counts[0] <= 4, "401: %d, 503: %d", counts[1], counts[0]);
    cr_assert_eq(counts[0] + counts[1], N);
    for (int i = 0; i < N; i++)
        eng_http_req_free(reqs[i]);
}
