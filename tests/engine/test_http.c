/* test_http.c - the HTTP/1.1 adapter without sockets: a fake connection fed
 * with bytes, a write sink collecting the answers. */
#include "engine/http/http.h"

#include <criterion/criterion.h>
#include <http_parser.h>
#include <stdio.h>
#include <string.h>

typedef struct sink_s {
    eng_http_buf_t out;
    eng_http_req_t *held[64]; /* requests not answered yet (deferred mode) */
    size_t nheld, dispatched;
    bool defer;
} sink_t;

static sink_t S;

static void on_write(void *arg, const char *data, size_t len)
{
    eng_http_buf_append(&((sink_t *)arg)->out, data, len);
}

/* Answers {"path":"<path>","body":<len>} at once, or holds the request. */
static void answer(eng_http_req_t *req)
{
    char body[512];
    snprintf(body, sizeof body, "{\"m\":\"%s\",\"path\":\"%s\",\"body\":%zu}",
             http_method_str((enum http_method)req->method), req->path, req->body_len);
    eng_http_resp_t resp = {200, NULL, NULL, body, strlen(body)};
    eng_http_respond(req, &resp);
}

static void handler(void *arg, eng_http_req_t *req)
{
    sink_t *s = arg;
    s->dispatched++;
    if (s->defer)
        s->held[s->nheld++] = req;
    else
        answer(req);
}

static eng_http_conn_t *conn_new(size_t max_body)
{
    memset(&S, 0, sizeof S);
    eng_http_limits_t limits = {.max_body = max_body, .idle_ms = 1000};
    return eng_http_conn_new_fake(&limits, handler, &S, on_write, &S);
}

static void conn_free(eng_http_conn_t *conn)
{
    eng_http_conn_free_fake(conn);
    eng_http_buf_free(&S.out);
}

static const char *out(void)
{
    return S.out.data ? S.out.data : "";
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(http, pipelined_requests_answered_in_order)
{
    eng_http_conn_t *conn = conn_new(1024);
    const char *in = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                     "GET /c?x=1 HTTP/1.1\r\n\r\n";
    cr_assert(eng_http_conn_feed(conn, in, strlen(in)));
    const char *a = strstr(out(), "\"/a\""), *b = strstr(out(), "\"/b\""),
               *c = strstr(out(), "\"/c\"");
    cr_assert(a && b && c && a < b && b < c, "%s", out());
    cr_assert(strstr(out(), "\"body\":3"));
    cr_assert_eq(count(out(), "HTTP/1.1 200 OK\r\n"), 3);
    cr_assert_eq(count(out(), "Connection: keep-alive\r\n"), 3);
    conn_free(conn);
}

Test(http, late_answers_wait_for_earlier_ones)
{
    eng_http_conn_t *conn = conn_new(1024);
    S.defer = true;
    const char *in = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
    eng_http_conn_feed(conn, in, strlen(in));
    cr_assert_eq(S.nheld, 2);
    answer(S.held[1]);
    cr_assert_eq(S.out.len, 0, "the second answer must wait: %s", out());
    answer(S.held[0]);
    const char *p1 = strstr(out(), "\"/1\""), *p2 = strstr(out(), "\"/2\"");
    cr_assert(p1 && p2 && p1 < p2, "%s", out());
    conn_free(conn);
}

Test(http, byte_by_byte_input_parses)
{
    eng_http_conn_t *conn = conn_new(1024);
    const char *in = "POST /x HTTP/1.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: 2\r\n\r\n{}";
    for (size_t i = 0; in[i]; i++)
        eng_http_conn_feed(conn, in + i, 1);
    cr_assert(strstr(out(), "\"path\":\"/x\",\"body\":2"), "%s", out());
    conn_free(conn);
}

Test(http, pipeline_pauses_past_the_limit_and_resumes)
{
    eng_http_conn_t *conn = conn_new(1024);
    S.defer = true;
    char in[2048] = "";
    for (int i = 0; i < ENG_HTTP_MAX_PIPELINE + 4; i++)
        snprintf(in + strlen(in), sizeof in - strlen(in), "GET /%d HTTP/1.1\r\n\r\n", i);
    eng_http_conn_feed(conn, in, strlen(in));
    cr_assert_eq(S.dispatched, ENG_HTTP_MAX_PIPELINE);
    S.defer = false;
    size_t held = S.nheld;
    for (size_t i = 0; i < held; i++)
        answer(S.held[i]);
    cr_assert_eq(S.dispatched, ENG_HTTP_MAX_PIPELINE + 4);
    cr_assert_eq(count(out(), "HTTP/1.1 200 OK"), ENG_HTTP_MAX_PIPELINE + 4);
    char last[32];
    snprintf(last, sizeof last, "\"/%d\"", ENG_HTTP_MAX_PIPELINE + 3);
    cr_assert(strstr(out(), last), "%s", out());
    conn_free(conn);
}

static void expect_error(const char *in, size_t max_body, int status)
{
    eng_http_conn_t *conn = conn_new(max_body);
    bool open = eng_http_conn_feed(conn, in, strlen(in));
    cr_assert_not(open, "the connection must close after an error");
    char line[64], code[32];
    snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
    snprintf(code, sizeof code, "{\"statusCode\":%d,", status);
    cr_assert(strstr(out(), line), "%s", out());
    cr_assert(strstr(out(), code), "%s", out());
    cr_assert(strstr(out(), "Connection: close\r\n"), "%s", out());
    cr_assert(strstr(out(), "Content-Type: application/json\r\n"), "%s", out());
    conn_free(conn);
}

Test(http, head_over_8k_is_431)
{
    char in[10000];
    snprintf(in, sizeof in, "GET / HTTP/1.1\r\nX-Big: %0*d\r\n\r\n", 9000, 0);
    expect_error(in, 1024, 431);
    snprintf(in, sizeof in, "GET /%0*d HTTP/1.1\r\n\r\n", 8300, 0);
    expect_error(in, 1024, 431);
}

Test(http, body_over_the_limit_is_413)
{
    expect_error("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890", 10, 413);
    expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n",
                 10, 413);
}

Test(http, smuggling_shapes_are_400)
{
    expect_error("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "0\r\n\r\n",
                 1024, 400);
    expect_error("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 1024, 400);
    expect_error("GET http://evil/ HTTP/1.1\r\n\r\n", 1024, 400);
    expect_error("NOT A REQUEST\r\n\r\n", 1024, 400);
}

Test(http, requests_before_an_error_are_still_answered_first)
{
    eng_http_conn_t *conn = conn_new(1024);
    const char *in = "GET /ok HTTP/1.1\r\n\r\nGARBAGE\r\n\r\n";
    eng_http_conn_feed(conn, in, strlen(in));
    const char *ok = strstr(out(), "200 OK"), *bad = strstr(out(), "400 Bad Request");
    cr_assert(ok && bad && ok < bad, "%s", out());
    conn_free(conn);
}

Test(http, connection_close_is_honoured)
{
    eng_http_conn_t *conn = conn_new(1024);
    const char *in = "GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    cr_assert_not(eng_http_conn_feed(conn, in, strlen(in)));
    cr_assert(strstr(out(), "Connection: close\r\n"), "%s", out());
    cr_assert_null(strstr(out(), "\"/b\""), "nothing after Connection: close: %s", out());
    conn_free(conn);
}

Test(http, http10_without_keep_alive_closes)
{
    eng_http_conn_t *conn = conn_new(1024);
    const char *in = "GET /a HTTP/1.0\r\n\r\n";
    cr_assert_not(eng_http_conn_feed(conn, in, strlen(in)));
    cr_assert(strstr(out(), "Connection: close\r\n"), "%s", out());
    conn_free(conn);
}

Test(http, expect_continue_gets_100)
{
    eng_http_conn_t *conn = conn_new(1024);
    const char *head = "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
    eng_http_conn_feed(conn, head, strlen(head));
    cr_assert_str_eq(out(), "HTTP/1.1 100 Continue\r\n\r\n");
    eng_http_conn_feed(conn, "{}", 2);
    cr_assert(strstr(out(), "\"/e\""), "%s", out());
    conn_free(conn);
}

Test(http, headers_and_target_reach_the_request)
{
    eng_http_req_t *req =
        eng_http_req_new(HTTP_GET, "/p/a%20b?q=1&r#frag", "application/json", "Bearer x", NULL, 0);
    cr_assert_str_eq(req->path, "/p/a%20b");
    cr_assert_str_eq(req->query, "q=1&r");
    cr_assert_str_eq(req->content_type, "application/json");
    eng_http_req_free(req);
}

static char seen_ctype[64];

static void ctype_handler(void *arg, eng_http_req_t *req)
{
    (void)arg;
    snprintf(seen_ctype, sizeof seen_ctype, "%s", req->content_type ? req->content_type : "(none)");
    answer(req);
}

Test(http, empty_header_value_is_empty)
{
    memset(&S, 0, sizeof S);
    eng_http_limits_t limits = {.max_body = 1024, .idle_ms = 1000};
    eng_http_conn_t *conn = eng_http_conn_new_fake(&limits, ctype_handler, &S, on_write, &S);
    const char *in = "GET /a HTTP/1.1\r\nAuthorization: Bearer xyz\r\nContent-Type:\r\n\r\n";
    eng_http_conn_feed(conn, in, strlen(in));
    cr_assert_str_eq(seen_ctype, "");
    conn_free(conn);
}
