/* http.h - a thin HTTP/1.1 server on libuv (http-parser): keep-alive, pipelining
 *          with responses in request order, head/body limits, idle and slow
 *          client timeouts, a bounded number of connections.
 * Threads: loop thread only (every function here, every callback).
 * Ownership: the adapter owns each eng_http_req_t it hands to the handler; the
 *   handler must call eng_http_respond() exactly once per request (at once or
 *   later, from any loop callback), after which the request is gone. A request
 *   made with eng_http_req_new() (tests) belongs to its caller.
 * Errors: functions returning int give 0 or a negative libuv error code; bad
 *   input from a client is answered with a JSON 4xx and never fails anything. */
#ifndef ENG_HTTP_H
#define ENG_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define ENG_HTTP_MAX_HEAD 8192        /* request line + headers; more is 431 */
#define ENG_HTTP_MAX_CONNS 4096       /* past it a connection is accepted and closed */
#define ENG_HTTP_MAX_PIPELINE 16      /* requests in flight per connection before reading pauses */
#define ENG_HTTP_MAX_UNSENT (1 << 20) /* unwritten answer bytes before reading pauses */
#define ENG_HTTP_MAX_BUFFERED (64 << 20) /* body bytes being received, all connections: 503 */

/* A growable byte buffer (responses, /metrics text). */
typedef struct eng_http_buf_s {
    char *data;
    size_t len, cap;
} eng_http_buf_t;

/* Appends len bytes; aborts on out of memory. */
void eng_http_buf_append(eng_http_buf_t *buf, const void *data, size_t len);
/* Appends printf-formatted text. */
void eng_http_buf_printf(eng_http_buf_t *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Releases the memory and empties the buffer. */
void eng_http_buf_free(eng_http_buf_t *buf);

typedef struct eng_http_req_s eng_http_req_t;

/* What a handler answers. extra_headers is "" or complete lines each ending in
 * "\r\n" (e.g. "Allow: GET, POST\r\n"); content_type NULL means application/json. */
typedef struct eng_http_resp_s {
    int status;
    const char *content_type;
    const char *extra_headers;
    const char *body;
    size_t body_len;
} eng_http_resp_t;

/* Called once with the answer; resp and its strings are valid only during the call. */
typedef void (*eng_http_done_cb)(eng_http_req_t *req, const eng_http_resp_t *resp);

/* One parsed request. The strings are NUL-terminated and owned by the request. */
struct eng_http_req_s {
    int method; /* enum http_method */
    char *path; /* raw (still percent-encoded) path, without the query */
    size_t path_len;
    char *query;         /* raw query without '?', NULL when none */
    char *content_type;  /* NULL when absent */
    char *authorization; /* NULL when absent */
    char *body;          /* NUL-terminated copy, NULL when no body */
    size_t body_len;
    uint64_t start_ns;     /* uv_hrtime() when the request was complete */
    eng_http_done_cb done; /* set by whoever made the request */
    void *done_arg;
    void *user; /* free for the handler layer */
    /* Adapter internals. */
    eng_http_req_t *next;
    eng_http_buf_t out; /* the formatted response once answered */
    bool answered, close_after;
};

/* Makes a request for tests and in-process callers: method, raw target
 * ("/path?query"), content type, authorization and body may be NULL. Returns
 * the request; the caller sets done/done_arg and frees it with eng_http_req_free(). */
eng_http_req_t *eng_http_req_new(int method, const char *target, const char *content_type,
                                 const char *authorization, const char *body, size_t body_len);
void eng_http_req_free(eng_http_req_t *req);

/* Answers a request: calls req->done. Exactly once per request. */
void eng_http_respond(eng_http_req_t *req, const eng_http_resp_t *resp);

/* Answers with the JSON error body {"statusCode","error","message"}. */
void eng_http_respond_error(eng_http_req_t *req, int status, const char *message,
                            const char *extra_headers);

/* Returns the reason phrase of a status ("Not Found"), "Unknown" for others. */
const char *eng_http_reason(int status);

/* Handles one complete request; must lead to eng_http_respond(). */
typedef void (*eng_http_handler_cb)(void *arg, eng_http_req_t *req);

typedef struct eng_http_limits_s {
    size_t max_body;  /* http.max_body_bytes */
    uint64_t idle_ms; /* http.idle_timeout in ms */
    size_t max_conns; /* 0 = ENG_HTTP_MAX_CONNS */
} eng_http_limits_t;

/* Counters for /metrics. */
typedef struct eng_http_stats_s {
    uint64_t accepted, refused, timed_out, parse_errors;
    uint64_t open; /* connections open now */
} eng_http_stats_t;

typedef struct eng_http_server_s eng_http_server_t;

/* Returns a new server (not listening yet). */
eng_http_server_t *eng_http_server_new(uv_loop_t *loop, const eng_http_limits_t *limits,
                                       eng_http_handler_cb handler, void *arg);
/* Listens on "host:port" (IPv4, or [IPv6]:port). Writes the bound address to
 * bound (may be NULL). Returns 0 or a negative libuv error code. */
int eng_http_server_listen(eng_http_server_t *srv, const char *hostport, char *bound,
                           size_t bound_len);
/* Stops accepting, closes every connection (a connection whose requests are
 * still with a handler goes away once they are answered), then calls done. */
void eng_http_server_stop(eng_http_server_t *srv, void (*done)(void *arg), void *arg);
/* Frees a server that was never started or has finished stopping. */
void eng_http_server_free(eng_http_server_t *srv);
const eng_http_stats_t *eng_http_server_stats(const eng_http_server_t *srv);

/* A connection without a socket, for fuzzing and tests: bytes go in through
 * eng_http_conn_feed(), response bytes come out through write(). */
typedef struct eng_http_conn_s eng_http_conn_t;
typedef void (*eng_http_write_cb)(void *arg, const char *data, size_t len);
eng_http_conn_t *eng_http_conn_new_fake(const eng_http_limits_t *limits,
                                        eng_http_handler_cb handler, void *arg,
                                        eng_http_write_cb write, void *write_arg);
/* Feeds bytes as if read from the socket. Returns false once the connection
 * has decided to close (after an error or Connection: close). */
bool eng_http_conn_feed(eng_http_conn_t *conn, const char *data, size_t len);
/* Frees a fake connection; every request it dispatched must be answered. */
void eng_http_conn_free_fake(eng_http_conn_t *conn);

/* Internals shared by http.c and http_util.c (not for other modules). */
char *eng_http__dup(const char *s, size_t len);
void eng_http__set_target(eng_http_req_t *req, const char *url, size_t len);
void eng_http__error_body(eng_http_buf_t *out, int status, const char *message);

#endif
