/* http_util.c - the HTTP module's byte buffer, reason phrases, and the
 * request object with its answers; see http.h. */
#include "engine/base/log.h"
#include "engine/http/http.h"

#include <assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void eng_http_buf_append(eng_http_buf_t *buf, const void *data, size_t len)
{
    if (buf->len + len + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 256;
        while (cap < buf->len + len + 1)
            cap *= 2;
        buf->data = eng_realloc(buf->data, cap);
        buf->cap = cap;
    }
    if (len) memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void eng_http_buf_printf(eng_http_buf_t *buf, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        eng_http_buf_append(buf, small, (size_t)n);
        return;
    }
    char *big = eng_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    eng_http_buf_append(buf, big, (size_t)n);
    free(big);
}

void eng_http_buf_free(eng_http_buf_t *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

const char *eng_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

char *eng_http__dup(const char *s, size_t len)
{
    char *d = eng_malloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

/* Splits a raw target into path and query (a fragment is dropped). */
void eng_http__set_target(eng_http_req_t *req, const char *url, size_t len)
{
    const char *hash = memchr(url, '#', len);
    if (hash) len = (size_t)(hash - url);
    const char *q = memchr(url, '?', len);
    size_t plen = q ? (size_t)(q - url) : len;
    req->path = eng_http__dup(url, plen);
    req->path_len = plen;
    req->query = q ? eng_http__dup(q + 1, len - plen - 1) : NULL;
}

eng_http_req_t *eng_http_req_new(int method, const char *target, const char *content_type,
                                 const char *authorization, const char *body, size_t body_len)
{
    eng_http_req_t *req = eng_calloc(1, sizeof *req);
    req->method = method;
    eng_http__set_target(req, target ? target : "/", strlen(target ? target : "/"));
    if (content_type) req->content_type = eng_strdup(content_type);
    if (authorization) req->authorization = eng_strdup(authorization);
    if (body) {
        req->body = eng_http__dup(body, body_len);
        req->body_len = body_len;
    }
    req->start_ns = uv_hrtime();
    return req;
}

void eng_http_req_free(eng_http_req_t *req)
{
    if (!req) return;
    free(req->path);
    free(req->query);
    free(req->content_type);
    free(req->authorization);
    free(req->body);
    eng_http_buf_free(&req->out);
    free(req);
}

void eng_http_respond(eng_http_req_t *req, const eng_http_resp_t *resp)
{
    assert(!req->answered);
    req->answered = true;
    req->done(req, resp); /* may free req */
}

/* Formats {"statusCode","error","message"} into out. */
void eng_http__error_body(eng_http_buf_t *out, int status, const char *message)
{
    json_t *j = json_pack("{s:i,s:s,s:s?}", "statusCode", status, "error", eng_http_reason(status),
                          "message", message ? message : "");
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (s) {
        eng_http_buf_append(out, s, strlen(s));
    } else {
        eng_http_buf_printf(out, "{\"statusCode\":%d,\"error\":\"%s\",\"message\":\"\"}", status,
                            eng_http_reason(status));
    }
    free(s);
    json_decref(j);
}

void eng_http_respond_error(eng_http_req_t *req, int status, const char *message,
                            const char *extra_headers)
{
    eng_http_buf_t body = {0};
    eng_http__error_body(&body, status, message);
    eng_http_resp_t resp = {status, NULL, extra_headers, body.data, body.len};
    eng_http_respond(req, &resp);
    eng_http_buf_free(&body);
}
