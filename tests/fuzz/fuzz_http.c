/* fuzz_http.c - libFuzzer target: bytes into the HTTP adapter's connection
 * parser (fake connection, no sockets), every request through the router
 * and the query parser, answers into a discarding sink.
 * The first input byte picks the chunking of the rest and whether answers
 * come at once or late and out of order (which exercises response ordering
 * and the pipeline pause). Build by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *     tests/fuzz/fuzz_http.c engine/http/{http,http_util,router}.c engine/api/{api,routes}.c \
 *     engine/api/api_{alerts,auth,commands,groups,installations,messages,ops,things}.c \
 *     engine/redis/redis_uv.c engine/base/{log,metrics}.c \
 *     build-http/proto/libtsmd_proto.a -lstdc++ -lsimdjson -lmsgpack-c -luv -lhiredis \
 *     -ljansson -lsodium -lhttp_parser -lm -o fuzz_http
 *   ./fuzz_http tests/fuzz/corpus/http */
#include "engine/api/internal.h"
#include "engine/http/http.h"
#include "engine/http/router.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#define HELD_MAX 64

typedef struct fuzz_state_s {
    bool defer;
    const char *base;
    eng_http_req_t *held[HELD_MAX];
    size_t nheld;
} fuzz_state_t;

static void discard(void *arg, const char *data, size_t len)
{
    (void)arg;
    (void)data;
    (void)len;
}

static void answer(eng_http_req_t *req, const char *base)
{
    eng_route_match_t m;
    eng_api_route_match(base, req->method, req->path, req->path_len, &m);
    char value[1024];
    static const char *const names[] = {"limit", "from", "to", "messageid", "eventid", "q"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        eng_router_query(req->query, names[i], value, sizeof value);
    if (m.status) {
        eng_http_respond_error(req, m.status, m.message, NULL);
        return;
    }
    if (m.group[0]) eng_router_group_valid(m.group, strlen(m.group));
    json_t *body =
        req->body ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_decref(body);
    eng_http_resp_t resp = {200, NULL, NULL, "{\"data\":{}}", 11};
    eng_http_respond(req, &resp);
}

static void flush_held(fuzz_state_t *st)
{
    /* Late and in reverse order: the adapter must still write them in order. */
    while (st->nheld > 0)
        answer(st->held[--st->nheld], st->base);
}

static void handler(void *arg, eng_http_req_t *req)
{
    fuzz_state_t *st = arg;
    if (!st->defer) {
        answer(req, st->base);
        return;
    }
    st->held[st->nheld++] = req;
    if (st->nheld == 8 || st->nheld == HELD_MAX) flush_held(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    fuzz_state_t st = {.defer = mode & 1, .base = (mode & 2) ? "/prod/v1" : ""};
    eng_http_limits_t limits = {.max_body = 4096, .idle_ms = 1000};
    eng_http_conn_t *conn = eng_http_conn_new_fake(&limits, handler, &st, discard, NULL);
    size_t chunk = (mode >> 2) ? (size_t)(mode >> 2) : size;
    for (size_t off = 0; off < size; off += chunk) {
        size_t len = size - off < chunk ? size - off : chunk;
        eng_http_conn_feed(conn, (const char *)data + off, len);
    }
    while (st.nheld > 0)
        flush_held(&st); /* answering may dispatch paused requests */
    eng_http_conn_free_fake(conn);
    return 0;
}
