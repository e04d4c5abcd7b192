/* am_http.h - HTTP POSTs with libcurl's multi-socket interface on the libuv
 *             loop: curl_multi_socket_action() driven by one uv_poll per
 *             socket and one uv_timer, so no request ever blocks the loop
 *             (name lookups run in libcurl's resolver thread).
 * Threads: loop thread only.
 * Ownership: a request copies its URL and body; done() is called exactly
 *   once per request that eng_am_http_post() accepted, also on close.
 * Errors: eng_am_http_post() returns -1 when libcurl refuses the request
 *   (done is then not called); transfer errors reach done() as a result. */
#ifndef ENG_AM_HTTP_H
#define ENG_AM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct eng_am_http_s eng_am_http_t;

/* What every request carries (from the alertmanager.* settings). Strings
 * are copied; NULL or "" for none. */
typedef struct eng_am_http_conf_s {
    const char *bearer_token; /* Authorization: Bearer ... */
    const char *username;     /* basic auth with password */
    const char *password;
    const char *ca_file; /* CA bundle for https:// */
    long timeout_ms;     /* the whole request */
    long connect_timeout_ms;
} eng_am_http_conf_t;

/* The outcome of one request. */
typedef struct eng_am_http_result_s {
    int curl_code;   /* CURLcode; 0 when an HTTP answer came */
    long status;     /* HTTP status, 0 without an answer */
    double seconds;  /* time the request took */
    const char *err; /* libcurl's message or the start of the answer's body */
} eng_am_http_result_t;

typedef void (*eng_am_http_done_cb)(void *arg, const eng_am_http_result_t *res);

/* Returns a client, or NULL when libcurl cannot start (logged). */
eng_am_http_t *eng_am_http_new(uv_loop_t *loop, const eng_am_http_conf_t *conf);
/* Fails the requests in flight (done with an error), closes the handles and
 * frees the client once the loop ran their close callbacks. */
void eng_am_http_free(eng_am_http_t *http);

/* POSTs body as application/json to url. Returns 0 or -1 (see Errors). */
int eng_am_http_post(eng_am_http_t *http, const char *url, const char *body, size_t len,
                     eng_am_http_done_cb done, void *arg);

/* Returns the reason label of a failed result: "connect", "timeout", "tls",
 * "http_4xx", "http_5xx" or "other". */
const char *eng_am_http_reason(const eng_am_http_result_t *res);

#endif
