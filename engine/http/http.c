/* http.c - HTTP/1.1 adapter on libuv and http-parser; see http.h.
 *
 * A connection parses requests as they arrive and queues them in arrival
 * order; each is handed to the handler at once, and answers are written in
 * queue order, so a pipelined client gets its responses in request order
 * whichever handler finishes first. Past ENG_HTTP_MAX_PIPELINE unanswered
 * requests the parser pauses and reading stops until answers drain. A
 * connection whose requests are still with a handler stays allocated after
 * its socket closed, until the last answer arrives (and is dropped). */
#include "engine/http/http.h"
#include "engine/base/log.h"

#include <assert.h>
#include <http_parser.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { HK_OTHER, HK_CTYPE, HK_AUTH, HK_CLEN, HK_TENC, HK_EXPECT };

struct eng_http_conn_s {
    uv_tcp_t tcp; /* data points back to the connection */
    uv_shutdown_t shutdown;
    eng_http_server_t *srv; /* NULL for a fake connection */
    eng_http_limits_t limits;
    eng_http_handler_cb handler;
    void *arg;
    eng_http_write_cb fake_write;
    void *fake_arg;
    http_parser parser;
    eng_http_req_t *cur; /* the request being parsed */
    eng_http_buf_t url, hval, body;
    char hname[24];
    size_t hname_len, head_bytes;
    int hkind, n_clen, n_tenc;
    bool hname_long, in_value, expect_continue;
    eng_http_req_t *q_head, *q_tail; /* dispatched, in arrival order */
    size_t q_len;
    bool stop_input;      /* parse nothing more (error, close, EOF) */
    bool close_when_done; /* close gracefully once the queue drains */
    bool in_execute, paused;
    bool closing;        /* nothing more is parsed or written */
    bool uv_closing;     /* uv_close() called on the socket */
    bool closed;         /* the socket is gone (close callback ran, or fake) */
    eng_http_buf_t rest; /* input not parsed yet while paused */
    size_t unsent;       /* bytes handed to uv_write and not written yet */
    size_t buffered;     /* body bytes of the request being received (server-wide bound) */
    uint64_t since_ms;   /* start of the current idle or receiving period */
    eng_http_conn_t *prev, *next;
};

struct eng_http_server_s {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep;
    eng_http_limits_t limits;
    eng_http_handler_cb handler;
    void *arg;
    eng_http_conn_t *conns;
    eng_http_stats_t stats;
    size_t buffered; /* body bytes being received, all connections */
    int handles;     /* listener and sweep timer while open */
    bool started, sweep_init, stopping;
    void (*stop_done)(void *arg);
    void *stop_arg;
    char rbuf[65536]; /* read buffer: every read is parsed before the next */
};

typedef struct write_req_s {
    uv_write_t w;
    eng_http_conn_t *conn;
    char *data;
    size_t len;
} write_req_t;

/* ---- buffers and requests ---- */

/* Writes the status line, headers and body of a response into out. */
static void format_response(eng_http_buf_t *out, const eng_http_resp_t *resp, bool close)
{
    eng_http_buf_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                        "Connection: %s\r\n\r\n",
                        resp->status, eng_http_reason(resp->status),
                        resp->content_type ? resp->content_type : "application/json",
                        resp->body_len, resp->extra_headers ? resp->extra_headers : "",
                        close ? "close" : "keep-alive");
    eng_http_buf_append(out, resp->body, resp->body_len);
}

/* ---- connection: output side ---- */

static uint64_t now_ms(const eng_http_conn_t *conn)
{
    return conn->srv ? uv_now(conn->srv->loop) : 0;
}

static void conn_maybe_free(eng_http_conn_t *conn);
static void conn_close(eng_http_conn_t *conn, bool graceful);
static void conn_resume(eng_http_conn_t *conn);
static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);

/* Whether another request may be parsed: few enough unanswered ones, and
 * answers not piling up unwritten (a client that does not read). */
static bool can_take_more(const eng_http_conn_t *conn)
{
    return conn->q_len < ENG_HTTP_MAX_PIPELINE && conn->unsent < ENG_HTTP_MAX_UNSENT;
}

/* Gives the body bytes of the request being received back to the server. */
static void body_release(eng_http_conn_t *conn)
{
    if (conn->srv) conn->srv->buffered -= conn->buffered;
    conn->buffered = 0;
}
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void on_write(uv_write_t *w, int status)
{
    write_req_t *wr = (write_req_t *)w;
    eng_http_conn_t *conn = wr->conn;
    (void)status;
    conn->since_ms = now_ms(conn);
    conn->unsent -= wr->len;
    free(wr->data);
    free(wr);
    if (conn->paused && !conn->closing && !conn->stop_input && !conn->in_execute &&
        can_take_more(conn))
        conn_resume(conn);
}

/* Sends bytes; takes ownership of data. */
static void conn_write(eng_http_conn_t *conn, char *data, size_t len)
{
    if (!conn->srv) {
        if (conn->fake_write) conn->fake_write(conn->fake_arg, data, len);
        free(data);
        return;
    }
    write_req_t *wr = eng_malloc(sizeof *wr);
    wr->conn = conn;
    wr->data = data;
    wr->len = len;
    conn->unsent += len;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    if (uv_write(&wr->w, (uv_stream_t *)&conn->tcp, &b, 1, on_write) != 0) {
        free(data);
        free(wr);
        conn_close(conn, false);
    }
}

/* Writes every answered request at the head of the queue, in order. */
static void conn_flush(eng_http_conn_t *conn)
{
    while (conn->q_head && conn->q_head->answered) {
        eng_http_req_t *req = conn->q_head;
        conn->q_head = req->next;
        if (!conn->q_head) conn->q_tail = NULL;
        conn->q_len--;
        bool close_after = req->close_after;
        if (!conn->closing && req->out.len) {
            conn_write(conn, req->out.data, req->out.len);
            req->out.data = NULL; /* conn_write owns it now */
            req->out.len = req->out.cap = 0;
        }
        eng_http_req_free(req);
        if (close_after && !conn->closing) conn_close(conn, true);
    }
    if (conn->closing) {
        conn_maybe_free(conn);
        return;
    }
    if (conn->q_len == 0) {
        conn->since_ms = now_ms(conn);
        if (conn->close_when_done) {
            conn_close(conn, true);
            return;
        }
    }
    if (conn->paused && !conn->stop_input && !conn->in_execute && can_take_more(conn))
        conn_resume(conn);
}

static void conn_req_done(eng_http_req_t *req, const eng_http_resp_t *resp)
{
    eng_http_conn_t *conn = req->done_arg;
    if (!conn->closing) format_response(&req->out, resp, req->close_after);
    conn_flush(conn);
}

static void conn_enqueue(eng_http_conn_t *conn, eng_http_req_t *req)
{
    req->done = conn_req_done;
    req->done_arg = conn;
    if (conn->q_tail)
        conn->q_tail->next = req;
    else
        conn->q_head = req;
    conn->q_tail = req;
    conn->q_len++;
}

/* Queues an error answer made by the adapter itself, then closes after it. */
static int conn_fail(eng_http_conn_t *conn, int status, const char *message)
{
    if (conn->stop_input) return -1;
    conn->stop_input = true;
    if (conn->srv) conn->srv->stats.parse_errors++;
    body_release(conn);
    eng_http_req_free(conn->cur);
    conn->cur = NULL;
    eng_http_req_t *req = eng_calloc(1, sizeof *req);
    req->close_after = true;
    conn_enqueue(conn, req);
    eng_http_buf_t body = {0};
    eng_http__error_body(&body, status, message);
    eng_http_resp_t resp = {status, NULL, NULL, body.data, body.len};
    eng_http_respond(req, &resp);
    eng_http_buf_free(&body);
    return -1;
}

/* ---- connection: parser callbacks ---- */

static int head_grow(eng_http_conn_t *conn, size_t len)
{
    conn->head_bytes += len;
    if (conn->head_bytes > ENG_HTTP_MAX_HEAD)
        return conn_fail(conn, 431, "the request head is larger than 8 KiB");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    eng_http_conn_t *conn = p->data;
    eng_http_req_free(conn->cur);
    conn->cur = eng_calloc(1, sizeof *conn->cur);
    conn->url.len = conn->body.len = conn->hval.len = 0;
    if (conn->hval.data) conn->hval.data[0] = '\0';
    conn->hname_len = conn->head_bytes = 0;
    conn->n_clen = conn->n_tenc = 0;
    conn->hname_long = conn->in_value = conn->expect_continue = false;
    conn->hkind = HK_OTHER;
    conn->since_ms = now_ms(conn);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    eng_http_conn_t *conn = p->data;
    if (head_grow(conn, len)) return -1;
    eng_http_buf_append(&conn->url, at, len);
    return 0;
}

static int header_kind(const char *name, size_t len)
{
    static const struct {
        const char *name;
        int kind;
    } names[] = {{"content-type", HK_CTYPE},
                 {"authorization", HK_AUTH},
                 {"content-length", HK_CLEN},
                 {"transfer-encoding", HK_TENC},
                 {"expect", HK_EXPECT}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && strncasecmp(names[i].name, name, len) == 0)
            return names[i].kind;
    return HK_OTHER;
}

/* Stores the header just finished (name in hname, value in hval). */
static void header_commit(eng_http_conn_t *conn)
{
    eng_http_req_t *req = conn->cur;
    const char *v = conn->hval.data ? conn->hval.data : "";
    switch (conn->hkind) {
    case HK_CTYPE:
        if (!req->content_type) req->content_type = eng_strdup(v);
        break;
    case HK_AUTH:
        if (!req->authorization) req->authorization = eng_strdup(v);
        break;
    case HK_CLEN:
        conn->n_clen++;
        break;
    case HK_TENC:
        conn->n_tenc++;
        break;
    case HK_EXPECT:
        conn->expect_continue = strcasecmp(v, "100-continue") == 0;
        break;
    default:
        break;
    }
    conn->hname_len = 0;
    conn->hname_long = false;
    conn->hval.len = 0;
    if (conn->hval.data) conn->hval.data[0] = '\0'; /* an empty next value reads "" */
    conn->hkind = HK_OTHER;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    eng_http_conn_t *conn = p->data;
    if (conn->in_value || (conn->hname_len == 0 && !conn->hname_long)) {
        if (conn->in_value) header_commit(conn);
        conn->in_value = false;
        if (head_grow(conn, 4)) return -1; /* ": " and CRLF */
    }
    if (head_grow(conn, len)) return -1;
    if (conn->hname_len + len > sizeof conn->hname) {
        conn->hname_long = true;
    } else {
        memcpy(conn->hname + conn->hname_len, at, len);
        conn->hname_len += len;
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    eng_http_conn_t *conn = p->data;
    if (!conn->in_value) {
        conn->in_value = true;
        conn->hkind = conn->hname_long ? HK_OTHER : header_kind(conn->hname, conn->hname_len);
    }
    if (head_grow(conn, len)) return -1;
    if (conn->hkind != HK_OTHER) eng_http_buf_append(&conn->hval, at, len);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    eng_http_conn_t *conn = p->data;
    if (conn->in_value) header_commit(conn);
    conn->in_value = false;
    if (conn->n_clen > 1) return conn_fail(conn, 400, "duplicate Content-Length");
    if (conn->n_tenc > 0 && conn->n_clen > 0)
        return conn_fail(conn, 400, "Transfer-Encoding together with Content-Length");
    if (conn->url.len == 0 || conn->url.data[0] != '/')
        return conn_fail(conn, 400, "the request target must be a path");
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > conn->limits.max_body)
        return conn_fail(conn, 413, "the request body is larger than http.max_body_bytes");
    if (conn->expect_continue && conn->q_len == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_write(conn, eng_http__dup(cont, sizeof cont - 1), sizeof cont - 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    eng_http_conn_t *conn = p->data;
    if (conn->body.len + len > conn->limits.max_body)
        return conn_fail(conn, 413, "the request body is larger than http.max_body_bytes");
    if (conn->srv) {
        if (conn->srv->buffered + len > ENG_HTTP_MAX_BUFFERED)
            return conn_fail(conn, 503, "too many request bodies in progress; retry later");
        conn->srv->buffered += len;
        conn->buffered += len;
    }
    eng_http_buf_append(&conn->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    eng_http_conn_t *conn = p->data;
    eng_http_req_t *req = conn->cur;
    conn->cur = NULL;
    req->method = (int)p->method;
    eng_http__set_target(req, conn->url.data, conn->url.len);
    if (conn->body.len) { /* the request takes the buffer over */
        req->body = conn->body.data;
        req->body_len = conn->body.len;
        conn->body = (eng_http_buf_t){0};
    }
    body_release(conn);
    req->start_ns = uv_hrtime();
    req->close_after = !http_should_keep_alive(p);
    if (req->close_after) conn->stop_input = true;
    conn->since_ms = now_ms(conn);
    conn_enqueue(conn, req);
    conn->handler(conn->arg, req); /* may answer (and flush) at once */
    if (conn->stop_input || !can_take_more(conn)) http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- connection: input side ---- */

static void conn_read_stop(eng_http_conn_t *conn)
{
    if (conn->srv && !conn->closing) uv_read_stop((uv_stream_t *)&conn->tcp);
}

/* Parses bytes; keeps what a pause left over in conn->rest. */
static void conn_execute(eng_http_conn_t *conn, const char *data, size_t len)
{
    while (len > 0 && !conn->stop_input && !conn->closing) {
        conn->in_execute = true;
        size_t n = http_parser_execute(&conn->parser, &parser_settings, data, len);
        conn->in_execute = false;
        enum http_errno err = HTTP_PARSER_ERRNO(&conn->parser);
        if (err == HPE_PAUSED) {
            data += n;
            len -= n;
            if (conn->stop_input) break;
            if (can_take_more(conn)) {
                http_parser_pause(&conn->parser, 0); /* answered meanwhile */
                continue;
            }
            eng_http_buf_append(&conn->rest, data, len);
            conn->paused = true;
            conn_read_stop(conn);
            return;
        }
        if (err != HPE_OK) {
            int status = err == HPE_HEADER_OVERFLOW ? 431 : 400;
            conn_fail(conn, status, http_errno_description(err));
            break;
        }
        if (conn->parser.upgrade) {
            conn->stop_input = true; /* no protocol switch here: answer, then close */
            conn->close_when_done = true;
        }
        break;
    }
    if (conn->stop_input) {
        conn_read_stop(conn);
        if (conn->q_len == 0 && !conn->closing) conn_close(conn, true);
    }
}

static void conn_resume(eng_http_conn_t *conn)
{
    conn->paused = false;
    http_parser_pause(&conn->parser, 0);
    eng_http_buf_t rest = conn->rest;
    conn->rest = (eng_http_buf_t){0};
    conn_execute(conn, rest.data, rest.len);
    eng_http_buf_free(&rest);
    if (!conn->paused && !conn->stop_input && !conn->closing && conn->srv)
        uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
}

bool eng_http_conn_feed(eng_http_conn_t *conn, const char *data, size_t len)
{
    if (conn->paused) {
        eng_http_buf_append(&conn->rest, data, len);
        return !conn->stop_input;
    }
    conn_execute(conn, data, len);
    return !conn->stop_input && !conn->closing;
}

static void conn_init(eng_http_conn_t *conn, const eng_http_limits_t *limits,
                      eng_http_handler_cb handler, void *arg)
{
    conn->limits = *limits;
    conn->handler = handler;
    conn->arg = arg;
    http_parser_init(&conn->parser, HTTP_REQUEST);
    conn->parser.data = conn;
}

static void conn_release(eng_http_conn_t *conn)
{
    body_release(conn);
    eng_http_req_free(conn->cur);
    eng_http_buf_free(&conn->url);
    eng_http_buf_free(&conn->hval);
    eng_http_buf_free(&conn->body);
    eng_http_buf_free(&conn->rest);
    free(conn);
}

eng_http_conn_t *eng_http_conn_new_fake(const eng_http_limits_t *limits,
                                        eng_http_handler_cb handler, void *arg,
                                        eng_http_write_cb write, void *write_arg)
{
    eng_http_conn_t *conn = eng_calloc(1, sizeof *conn);
    conn_init(conn, limits, handler, arg);
    conn->fake_write = write;
    conn->fake_arg = write_arg;
    return conn;
}

void eng_http_conn_free_fake(eng_http_conn_t *conn)
{
    assert(conn->srv == NULL);
    assert(conn->q_len == 0);
    conn_release(conn);
}

/* ---- server ---- */

static void srv_check_stopped(eng_http_server_t *srv)
{
    if (!srv->stopping || srv->handles > 0 || srv->conns || !srv->stop_done) return;
    void (*done)(void *) = srv->stop_done;
    srv->stop_done = NULL;
    done(srv->stop_arg);
}

static void conn_maybe_free(eng_http_conn_t *conn)
{
    if (!conn->srv || !conn->closed || conn->q_len > 0) return;
    eng_http_server_t *srv = conn->srv;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        srv->conns = conn->next;
    if (conn->next) conn->next->prev = conn->prev;
    srv->stats.open--;
    conn_release(conn);
    srv_check_stopped(srv);
}

static void on_conn_close(uv_handle_t *handle)
{
    eng_http_conn_t *conn = handle->data;
    conn->closed = true;
    conn_maybe_free(conn);
}

static void conn_uv_close(eng_http_conn_t *conn)
{
    if (conn->uv_closing) return;
    conn->uv_closing = true;
    uv_close((uv_handle_t *)&conn->tcp, on_conn_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_uv_close(req->data);
}

/* Stops parsing and writing; graceful waits for the writes already queued. */
static void conn_close(eng_http_conn_t *conn, bool graceful)
{
    if (conn->closing) return;
    conn->closing = true;
    conn->stop_input = true;
    if (!conn->srv) {
        conn->closed = true;
        return;
    }
    uv_read_stop((uv_stream_t *)&conn->tcp);
    conn->since_ms = now_ms(conn);
    conn->shutdown.data = conn;
    if (graceful && uv_shutdown(&conn->shutdown, (uv_stream_t *)&conn->tcp, on_shutdown) == 0)
        return;
    conn_uv_close(conn);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    eng_http_conn_t *conn = handle->data;
    (void)suggested;
    buf->base = conn->srv->rbuf;
    buf->len = sizeof conn->srv->rbuf;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    eng_http_conn_t *conn = stream->data;
    if (nread > 0) {
        eng_http_conn_feed(conn, buf->base, (size_t)nread);
        return;
    }
    if (nread == 0) return;
    conn->stop_input = true;
    uv_read_stop(stream);
    if (nread == UV_EOF && conn->q_len > 0) {
        conn->close_when_done = true; /* half-closed: answer what was asked */
        return;
    }
    conn_close(conn, false);
}

static void free_handle(uv_handle_t *handle)
{
    free(handle);
}

static void on_connection(uv_stream_t *listener, int status)
{
    eng_http_server_t *srv = listener->data;
    if (status < 0) return;
    size_t max = srv->limits.max_conns ? srv->limits.max_conns : ENG_HTTP_MAX_CONNS;
    if (srv->stats.open >= max || srv->stopping) {
        uv_tcp_t *tcp = eng_malloc(sizeof *tcp);
        uv_tcp_init(srv->loop, tcp);
        uv_accept(listener, (uv_stream_t *)tcp);
        uv_close((uv_handle_t *)tcp, free_handle);
        srv->stats.refused++;
        return;
    }
    eng_http_conn_t *conn = eng_calloc(1, sizeof *conn);
    conn_init(conn, &srv->limits, srv->handler, srv->arg);
    conn->srv = srv;
    uv_tcp_init(srv->loop, &conn->tcp);
    conn->tcp.data = conn;
    conn->next = srv->conns;
    if (srv->conns) srv->conns->prev = conn;
    srv->conns = conn;
    srv->stats.open++;
    srv->stats.accepted++;
    conn->since_ms = uv_now(srv->loop);
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0) {
        conn_close(conn, false);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
}

/* Closes connections that stayed idle, or took too long to send a request
 * or to take an answer, for longer than http.idle_timeout. */
static void on_sweep(uv_timer_t *timer)
{
    eng_http_server_t *srv = timer->data;
    uint64_t now = uv_now(srv->loop);
    for (eng_http_conn_t *conn = srv->conns, *next; conn; conn = next) {
        next = conn->next;
        if (conn->uv_closing || (conn->q_len > 0 && !conn->closing)) continue;
        if (now - conn->since_ms < srv->limits.idle_ms) continue;
        srv->stats.timed_out++;
        conn->closing = true;
        conn->stop_input = true;
        conn_uv_close(conn);
    }
}

eng_http_server_t *eng_http_server_new(uv_loop_t *loop, const eng_http_limits_t *limits,
                                       eng_http_handler_cb handler, void *arg)
{
    eng_http_server_t *srv = eng_calloc(1, sizeof *srv);
    srv->loop = loop;
    srv->limits = *limits;
    if (srv->limits.idle_ms == 0) srv->limits.idle_ms = 30000;
    srv->handler = handler;
    srv->arg = arg;
    return srv;
}

static void on_srv_handle_close(uv_handle_t *handle)
{
    eng_http_server_t *srv = handle->data;
    srv->handles--;
    srv_check_stopped(srv);
}

/* Parses "host:port" or "[v6]:port" into addr. Returns 0 or UV_EINVAL. */
static int parse_hostport(const char *hostport, struct sockaddr_storage *addr)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host) return UV_EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1) return UV_EINVAL;
    size_t hlen = (size_t)(colon - hostport);
    memcpy(host, hostport, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)addr);
    }
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr) == 0) return 0;
    /* A name ("localhost"): resolved once, at start-up, before the loop runs. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return UV_EINVAL;
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    if (res->ai_family == AF_INET6)
        ((struct sockaddr_in6 *)addr)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)addr)->sin_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

int eng_http_server_listen(eng_http_server_t *srv, const char *hostport, char *bound,
                           size_t bound_len)
{
    struct sockaddr_storage addr;
    int rc = parse_hostport(hostport, &addr);
    if (rc) return rc;
    uv_tcp_init(srv->loop, &srv->listener);
    srv->listener.data = srv;
    srv->handles++;
    srv->started = true;
    rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
    if (rc) return rc; /* eng_http_server_stop() closes the listener */
    uv_timer_init(srv->loop, &srv->sweep);
    srv->sweep.data = srv;
    srv->sweep_init = true;
    srv->handles++;
    uint64_t every = srv->limits.idle_ms < 2000 ? srv->limits.idle_ms / 2 + 1 : 1000;
    uv_timer_start(&srv->sweep, on_sweep, every, every);
    if (bound && bound_len) {
        struct sockaddr_storage got;
        int len = sizeof got;
        char ip[64] = "?";
        int port = 0;
        uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&got, &len);
        if (got.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&got, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&got)->sin6_port);
            snprintf(bound, bound_len, "[%s]:%d", ip, port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&got, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&got)->sin_port);
            snprintf(bound, bound_len, "%s:%d", ip, port);
        }
    }
    return 0;
}

void eng_http_server_stop(eng_http_server_t *srv, void (*done)(void *arg), void *arg)
{
    srv->stopping = true;
    srv->stop_done = done;
    srv->stop_arg = arg;
    if (srv->started && !uv_is_closing((uv_handle_t *)&srv->listener))
        uv_close((uv_handle_t *)&srv->listener, on_srv_handle_close);
    if (srv->sweep_init && !uv_is_closing((uv_handle_t *)&srv->sweep))
        uv_close((uv_handle_t *)&srv->sweep, on_srv_handle_close);
    for (eng_http_conn_t *conn = srv->conns; conn; conn = conn->next) {
        conn_close(conn, false);
        conn_uv_close(conn); /* also those still shutting down */
    }
    srv_check_stopped(srv);
}

void eng_http_server_free(eng_http_server_t *srv)
{
    if (!srv) return;
    assert(srv->handles == 0 && srv->conns == NULL);
    free(srv);
}

const eng_http_stats_t *eng_http_server_stats(const eng_http_server_t *srv)
{
    return &srv->stats;
}
