/* am_http.c - libcurl multi-socket on libuv; see am_http.h. */
#include "engine/ingest/am_http.h"

#include "engine/base/log.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_KEEP 200 /* bytes of an answer's body kept for the log */

typedef struct req_s {
    eng_am_http_t *http;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char err[CURL_ERROR_SIZE];
    char answer[ERR_KEEP + 1];
    size_t answer_len;
    eng_am_http_done_cb done;
    void *arg;
    struct req_s *next, *prev;
} req_t;

typedef struct sock_s {
    uv_poll_t poll;
    curl_socket_t fd;
    eng_am_http_t *http;
} sock_t;

struct eng_am_http_s {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    req_t *reqs; /* in flight */
    char *auth_header;
    char *username, *password, *ca_file;
    long timeout_ms, connect_timeout_ms;
    bool closing;
};

static char *dup_opt(const char *s)
{
    return s && *s ? eng_strdup(s) : NULL;
}

static void finish(req_t *r, CURLcode code)
{
    eng_am_http_t *http = r->http;
    eng_am_http_result_t res = {.curl_code = (int)code};
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
    curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &res.seconds);
    if (code != CURLE_OK) {
        res.status = 0;
        res.err = r->err[0] ? r->err : curl_easy_strerror(code);
    } else {
        res.err = r->answer;
    }
    curl_multi_remove_handle(http->multi, r->easy);
    if (r->prev)
        r->prev->next = r->next;
    else
        http->reqs = r->next;
    if (r->next) r->next->prev = r->prev;
    r->done(r->arg, &res);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
}

static void check_done(eng_am_http_t *http)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(http->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        req_t *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        finish(r, msg->data.result);
    }
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    sock_t *s = poll->data;
    int flags = 0, running;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    eng_am_http_t *http = s->http;
    curl_multi_socket_action(http->multi, s->fd, flags, &running);
    check_done(http);
}

static void on_sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    eng_am_http_t *http = userp;
    sock_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
            curl_multi_assign(http->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = eng_calloc(1, sizeof *s);
        s->fd = fd;
        s->http = http;
        if (uv_poll_init_socket(http->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        curl_multi_assign(http->multi, fd, s);
    }
    int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *timer)
{
    eng_am_http_t *http = timer->data;
    int running;
    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(http);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    eng_am_http_t *http = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&http->timer);
    else
        uv_timer_start(&http->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

eng_am_http_t *eng_am_http_new(uv_loop_t *loop, const eng_am_http_conf_t *conf)
{
    static bool global_done;
    if (!global_done && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ENG_ERROR("libcurl did not start", "%s", "");
        return NULL;
    }
    global_done = true;
    eng_am_http_t *http = eng_calloc(1, sizeof *http);
    http->loop = loop;
    http->multi = curl_multi_init();
    if (http->multi == NULL) {
        free(http);
        return NULL;
    }
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    uv_timer_init(loop, &http->timer);
    http->timer.data = http;
    if (conf->bearer_token && *conf->bearer_token) {
        size_t n = strlen(conf->bearer_token) + 32;
        http->auth_header = eng_malloc(n);
        snprintf(http->auth_header, n, "Authorization: Bearer %s", conf->bearer_token);
    }
    http->username = dup_opt(conf->username);
    http->password = dup_opt(conf->password);
    http->ca_file = dup_opt(conf->ca_file);
    http->timeout_ms = conf->timeout_ms;
    http->connect_timeout_ms = conf->connect_timeout_ms;
    return http;
}

static void on_timer_closed(uv_handle_t *h)
{
    eng_am_http_t *http = h->data;
    curl_multi_cleanup(http->multi);
    free(http->auth_header);
    free(http->username);
    free(http->password);
    free(http->ca_file);
    free(http);
}

void eng_am_http_free(eng_am_http_t *http)
{
    http->closing = true;
    while (http->reqs) {
        req_t *r = http->reqs;
        snprintf(r->err, sizeof r->err, "shutting down");
        finish(r, CURLE_ABORTED_BY_CALLBACK);
    }
    uv_close((uv_handle_t *)&http->timer, on_timer_closed);
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
    req_t *r = arg;
    size_t len = size * n, room = ERR_KEEP - r->answer_len;
    size_t take = len < room ? len : room;
    memcpy(r->answer + r->answer_len, data, take);
    r->answer_len += take;
    r->answer[r->answer_len] = 0;
    return len;
}

int eng_am_http_post(eng_am_http_t *http, const char *url, const char *body, size_t len,
                     eng_am_http_done_cb done, void *arg)
{
    if (http->closing) return -1;
    req_t *r = eng_calloc(1, sizeof *r);
    r->http = http;
    r->done = done;
    r->arg = arg;
    r->body = eng_malloc(len + 1);
    memcpy(r->body, body, len);
    r->body[len] = 0;
    r->easy = curl_easy_init();
    if (r->easy == NULL) {
        free(r->body);
        free(r);
        return -1;
    }
    r->headers = curl_slist_append(NULL, "Content-Type: application/json");
    r->headers = curl_slist_append(r->headers, "Expect:");
    if (http->auth_header) r->headers = curl_slist_append(r->headers, http->auth_header);
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, http->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, http->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (http->username) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, http->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, http->password ? http->password : "");
    }
    if (http->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, http->ca_file);
    if (curl_multi_add_handle(http->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(r->headers);
        free(r->body);
        free(r);
        return -1;
    }
    r->next = http->reqs;
    if (r->next) r->next->prev = r;
    http->reqs = r;
    return 0;
}

const char *eng_am_http_reason(const eng_am_http_result_t *res)
{
    switch (res->curl_code) {
    case CURLE_OK:
        return res->status >= 500 ? "http_5xx" : res->status >= 400 ? "http_4xx" : "other";
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "connect";
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        return "tls";
    default:
        return "other";
    }
}
