/* test_api_ops.c - /healthz, /readyz and /metrics, with the ready and
 * metrics hooks. */
#include "api_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static bool ready_answer;

static bool ready(void *arg, const char **why)
{
    (void)arg;
    *why = "partitions not assigned";
    return ready_answer;
}

static void metrics(void *arg, eng_http_buf_t *out)
{
    (void)arg;
    eng_http_buf_printf(out, "tsmd_engine_test_metric %d\n", 42);
}

static void setup(void)
{
    h_setup();
    ready_answer = false;
    H.hooks.ready = ready;
    H.hooks.metrics = metrics;
}

TestSuite(api_ops, .init = setup, .fini = h_teardown);

Test(api_ops, healthz_needs_no_token)
{
    h_start();
    h_resp_t r = h_request_raw(HTTP_GET, "/healthz", NULL, NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"data\":{\"status\":\"ok\"}}");
    h_resp_free(&r);
}

Test(api_ops, readyz_follows_redis_and_the_engine)
{
    h_start();
    h_resp_t r = h_request_raw(HTTP_GET, "/readyz", NULL, NULL, NULL);
    h_assert_error(&r, 503);
    cr_assert(strstr(r.body, "partitions not assigned"));
    h_resp_free(&r);
    ready_answer = true;
    r = h_request_raw(HTTP_GET, "/readyz", NULL, NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    h_resp_free(&r);
}

Test(api_ops, metrics_counts_requests_by_route_and_status)
{
    h_start();
    h_resp_t r = h_request(HTTP_GET, "/things/alerts/count", NULL);
    h_resp_free(&r);
    r = h_request(HTTP_GET, "/things/NOPE", NULL);
    h_resp_free(&r);
    r = h_request_raw(HTTP_GET, "/metrics", NULL, NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.content_type, "text/plain"));
    cr_assert(strstr(r.body,
                     "tsmd_http_requests_total{method=\"GET\",route=\"/things/alerts/count\","
                     "status=\"200\"} 1\n"),
              "%s", r.body);
    cr_assert(strstr(r.body, "tsmd_http_requests_total{method=\"GET\",route=\"/things/{tuid}\","
                             "status=\"404\"} 1\n"),
              "%s", r.body);
    cr_assert(strstr(r.body, "tsmd_http_request_duration_seconds_count{method=\"GET\","
                             "route=\"/things/alerts/count\"} 1\n"),
              "%s", r.body);
    cr_assert(strstr(r.body, "tsmd_engine_test_metric 42\n"), "%s", r.body);
    h_resp_free(&r);
}

Test(api_ops, redis_away_answers_503)
{
    h_set_cfg("redis.port", "1"); /* nothing listens there */
    H.api = eng_api_new(&H.loop, &H.cfg, &H.hooks);
    eng_api_connect(H.api);
    h_resp_t r = h_request(HTTP_GET, "/things/alerts/count", NULL);
    h_assert_error(&r, 503);
    h_resp_free(&r);
    r = h_request_raw(HTTP_GET, "/readyz", NULL, NULL, NULL);
    h_assert_error(&r, 503);
    h_resp_free(&r);
}

Test(api_ops, failed_start_can_be_freed)
{
    /* A port somebody else listens on: listen fails. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 1), 0);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    char listen_at[64];
    snprintf(listen_at, sizeof listen_at, "127.0.0.1:%d", ntohs(a.sin_port));
    h_set_cfg("http.listen", listen_at);
    H.api = eng_api_new(&H.loop, &H.cfg, &H.hooks);
    cr_assert_neq(eng_api_start(H.api), 0);
    eng_api_free(H.api);
    H.api = NULL;
    uv_run(&H.loop, UV_RUN_NOWAIT);
    close(fd);
}

Test(api_ops, refused_password_keeps_the_api_unready)
{
    h_set_cfg("redis.password", "wrong");
    H.api = eng_api_new(&H.loop, &H.cfg, &H.hooks);
    eng_api_connect(H.api);
    uint64_t t0 = uv_now(&H.loop);
    while (uv_now(&H.loop) - t0 < 500)
        uv_run(&H.loop, UV_RUN_ONCE);
    cr_assert_not(eng_api_redis_up(H.api));
    h_resp_t r = h_request(HTTP_GET, "/things/alerts/count", NULL);
    h_assert_error(&r, 503);
    h_resp_free(&r);
}
