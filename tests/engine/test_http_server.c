/* test_http_server.c - the HTTP server over loopback TCP inside the test
 * process: keep-alive and pipelining, idle and slow clients, the
 * connection bound, and stop waiting for answers still with a handler. */
#include "engine/http/http.h"

#include <criterion/criterion.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct client_s {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    eng_http_buf_t in;
    const char *send;
    bool eof, closed;
} client_t;

static uv_loop_t loop;
static eng_http_server_t *srv;
static int port;
static eng_http_req_t *held;

static void handler(void *arg, eng_http_req_t *req)
{
    (void)arg;
    if (strcmp(req->path, "/hold") == 0) {
        held = req; /* answered later by the test */
        return;
    }
    char body[128];
    snprintf(body, sizeof body, "{\"path\":\"%s\"}", req->path);
    eng_http_resp_t resp = {200, NULL, NULL, body, strlen(body)};
    eng_http_respond(req, &resp);
}

static void start(uint64_t idle_ms, size_t max_conns)
{
    uv_loop_init(&loop);
    eng_http_limits_t limits = {.max_body = 1024, .idle_ms = idle_ms, .max_conns = max_conns};
    srv = eng_http_server_new(&loop, &limits, handler, NULL);
    char bound[64];
    cr_assert_eq(eng_http_server_listen(srv, "127.0.0.1:0", bound, sizeof bound), 0);
    port = atoi(strrchr(bound, ':') + 1);
    held = NULL;
}

static void stopped(void *arg)
{
    *(bool *)arg = true;
}

static void stop(void)
{
    bool done = false;
    eng_http_server_stop(srv, stopped, &done);
    while (!done)
        uv_run(&loop, UV_RUN_ONCE);
    eng_http_server_free(srv);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
}

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(n);
    buf->len = n;
}

static void on_closed(uv_handle_t *h)
{
    ((client_t *)h->data)->closed = true;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    client_t *c = s->data;
    if (n > 0) eng_http_buf_append(&c->in, buf->base, (size_t)n);
    if (n < 0) {
        c->eof = true;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    }
    free(buf->base);
}

static void on_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status;
}

static void on_connect(uv_connect_t *req, int status)
{
    client_t *c = req->data;
    cr_assert_eq(status, 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (c->send) {
        uv_buf_t b = uv_buf_init((char *)c->send, (unsigned)strlen(c->send));
        uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    }
}

static void client_open(client_t *c, const char *send)
{
    memset(c, 0, sizeof *c);
    c->send = send;
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    c->connect.data = c;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&addr, on_connect);
}

static void client_free(client_t *c)
{
    if (!c->closed && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    while (!c->closed)
        uv_run(&loop, UV_RUN_ONCE);
    eng_http_buf_free(&c->in);
}

static const char *text(const client_t *c)
{
    return c->in.data ? c->in.data : "";
}

Test(http_server, pipelined_answers_in_order_then_close)
{
    start(5000, 0);
    client_t c;
    client_open(&c, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"
                    "GET /3 HTTP/1.1\r\nConnection: close\r\n\r\n");
    while (!c.eof)
        uv_run(&loop, UV_RUN_ONCE);
    const char *a = strstr(text(&c), "/1"), *b = strstr(text(&c), "/2"),
               *d = strstr(text(&c), "/3");
    cr_assert(a && b && d && a < b && b < d, "%s", text(&c));
    client_free(&c);
    stop();
}

Test(http_server, idle_and_slow_clients_are_closed)
{
    start(100, 0);
    client_t idle, slow;
    client_open(&idle, NULL);
    client_open(&slow, "GET /never-fin"); /* a head that never ends */
    while (!idle.eof || !slow.eof)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(idle.in.len, 0);
    cr_assert_eq(slow.in.len, 0);
    cr_assert_eq(eng_http_server_stats(srv)->timed_out, 2);
    client_free(&idle);
    client_free(&slow);
    stop();
}

Test(http_server, connections_past_the_bound_are_closed_at_once)
{
    start(5000, 1);
    client_t first, second;
    client_open(&first, "GET /a HTTP/1.1\r\n\r\n");
    while (!strstr(text(&first), "/a"))
        uv_run(&loop, UV_RUN_ONCE);
    client_open(&second, "GET /b HTTP/1.1\r\n\r\n");
    while (!second.eof)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(second.in.len, 0);
    cr_assert_eq(eng_http_server_stats(srv)->refused, 1);
    client_free(&first);
    client_free(&second);
    stop();
}

Test(http_server, stop_waits_for_answers_still_with_the_handler)
{
    start(5000, 0);
    client_t c;
    client_open(&c, "GET /hold HTTP/1.1\r\n\r\n");
    while (!held)
        uv_run(&loop, UV_RUN_ONCE);
    bool done = false;
    eng_http_server_stop(srv, stopped, &done);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_not(done, "stop must wait for the held request");
    eng_http_resp_t resp = {200, NULL, NULL, "{}", 2};
    eng_http_respond(held, &resp); /* the socket is gone: the answer is dropped */
    while (!done)
        uv_run(&loop, UV_RUN_ONCE);
    client_free(&c);
    eng_http_server_free(srv);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
}

Test(http_server, listen_accepts_a_host_name)
{
    uv_loop_init(&loop);
    eng_http_limits_t limits = {.max_body = 1024, .idle_ms = 1000};
    srv = eng_http_server_new(&loop, &limits, handler, NULL);
    char bound[64];
    cr_assert_eq(eng_http_server_listen(srv, "localhost:0", bound, sizeof bound), 0);
    cr_assert(strstr(bound, "127.0.0.1:") == bound || strstr(bound, "[::1]:") == bound, "%s",
              bound);
    stop();
}

Test(http_server, listen_refuses_a_bad_address)
{
    uv_loop_init(&loop);
    eng_http_limits_t limits = {.max_body = 1024, .idle_ms = 1000};
    srv = eng_http_server_new(&loop, &limits, handler, NULL);
    cr_assert_neq(eng_http_server_listen(srv, "no-port", NULL, 0), 0);
    cr_assert_neq(eng_http_server_listen(srv, "127.0.0.1:99999", NULL, 0), 0);
    stop();
}
