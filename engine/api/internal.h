/* internal.h - what the API's files share and nothing outside engine/api/
 *   uses (tests aside): a call, the reply and Redis helpers, the handlers,
 *   the route table and the API's state.
 * Threads: loop thread only, as for api.h.
 * Ownership: a call is freed by the eng_api_reply*() / eng_api_error*() that
 *   answers it; the route table is static and read-only.
 * Errors: as in api.h; every helper that answers an error says so. */
#ifndef ENG_API_INTERNAL_H
#define ENG_API_INTERNAL_H

#include "engine/api/api.h"
#include "engine/http/router.h"

#include <assert.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

/* A query filter shared by messages and commands (from/to inclusive). */
typedef struct eng_api_filter_s {
    int64_t from, to; /* INT64_MIN / INT64_MAX when absent */
    int64_t limit;
    int64_t *ids, *evs; /* messageid / eventid lists; NULL = any */
    size_t nids, nevs;
} eng_api_filter_t;

typedef struct eng_api_call_s eng_api_call_t;
/* A Redis reply for a call; never NULL and never an error reply (those are
 * answered 503 by the helper). Valid only during the callback. */
typedef void (*eng_api_reply_fn)(eng_api_call_t *call, redisReply *reply);

/* One request on its way through the API. */
struct eng_api_call_s {
    eng_api_t *api;
    const cfg_t *cfg;
    eng_http_req_t *req;
    eng_route_match_t match; /* params: match.tuid, match.group */
    char client[128];        /* the token's client id ("responsible") */
    const char *prefix;      /* redis.prefix */
    eng_api_reply_fn redis_fn;
    bool redis_soft; /* failures reach redis_fn as NULL instead of a 503 */
    json_t *body;    /* decoded request body (eng_api_body) */
    json_t *scratch; /* kept across callbacks, freed with the call */
    eng_api_filter_t filter;
    void *wait;                         /* a pending command delivery (api_commands.c) */
    void (*next)(eng_api_call_t *call); /* continuation after authentication */
    int64_t n;                          /* handler scratch */
};

/* How JSON is written: compact; reals with 15 significant digits, which
 * gives back exactly any decimal of up to 15 digits that came in (65.01, not
 * 65.010000000000005). */
#define ENG_API_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* Answers {"data": data} with status 200; steals data. Frees the call. */
void eng_api_reply(eng_api_call_t *call, json_t *data);
/* Answers status with a raw body of content_type (NULL: JSON). Frees the call. */
void eng_api_respond(eng_api_call_t *call, int status, const char *content_type, const char *body,
                     size_t len);
/* Answers {"statusCode","error","message"}; extra headers "" or lines ending
 * in CRLF (NULL: none). Frees the call. */
void eng_api_error(eng_api_call_t *call, int status, const char *message);
void eng_api_error_hdr(eng_api_call_t *call, int status, const char *message,
                       const char *extra_headers);

/* Sends a Redis command (hiredis format: %s string, %b binary, %lld); one
 * at a time per call. fn gets the reply; a send failure, a lost connection
 * or an error reply is answered 503 here (fn is not called), unless
 * call->redis_soft is set: then fn gets NULL (at once for a send failure).
 * fn NULL: the reply is ignored (fire and forget; the call may be answered
 * at once). Never MULTI on the shared connection: a script is one command.
 * Returns 0, or -1 after answering 503 (or calling fn with NULL). */
int eng_api_redis(eng_api_call_t *call, eng_api_reply_fn fn, const char *fmt, ...);
int eng_api_redis_argv(eng_api_call_t *call, eng_api_reply_fn fn, int argc, const char **argv,
                       const size_t *lens);

/* Decodes the request body as JSON (duplicate keys rejected) into
 * call->body. Returns it, or NULL after answering 400. */
json_t *eng_api_body(eng_api_call_t *call);

/* Reads an optional integer query parameter into *out (unchanged when
 * absent) checking min..max. Returns 1 present, 0 absent, -1 after
 * answering 400. */
int eng_api_query_int(eng_api_call_t *call, const char *name, int64_t min, int64_t max,
                      int64_t *out);
/* Reads messageid, eventid, from and to into call->filter (limit is the
 * caller's). Returns 0, or -1 after answering 400. */
int eng_api_query_filter(eng_api_call_t *call);
/* Returns true when the filter lets (tsmId, tsmEv, second) through. */
bool eng_api_filter_pass(const eng_api_filter_t *f, int64_t id, int64_t ev, double ts);

/* Writes t as YYYY-MM-DDTHH:MM:SS (UTC) into out. */
void eng_api_time(int64_t t, char out[32]);
/* Returns the wall clock in unix seconds. */
uint32_t eng_api_now(void);
/* Returns a JSON integer or real for a decimal number string, NULL otherwise. */
json_t *eng_api_json_number(const char *s, size_t len);
/* Sorts an array of Redis string replies by byte order into a JSON array. */
json_t *eng_api_sorted_strings(redisReply *reply);
/* Parses a decimal integer string; returns false unless all of s is one. */
bool eng_api_parse_i64(const char *s, size_t len, int64_t *out);

/* Handlers (one file per resource); rows of the route table. */
void eng_api_auth_token(eng_api_call_t *call);
void eng_api_alerts_list(eng_api_call_t *call);
void eng_api_alerts_count(eng_api_call_t *call);
void eng_api_alerts_thing(eng_api_call_t *call);
void eng_api_things_get(eng_api_call_t *call);
void eng_api_messages_list(eng_api_call_t *call);
void eng_api_commands_list(eng_api_call_t *call);
void eng_api_commands_send(eng_api_call_t *call);
void eng_api_installations_list(eng_api_call_t *call);
void eng_api_installations_set(eng_api_call_t *call);
void eng_api_groups_thing_get(eng_api_call_t *call);
void eng_api_groups_thing_set(eng_api_call_t *call);
void eng_api_groups_list(eng_api_call_t *call);
void eng_api_groups_create(eng_api_call_t *call);
void eng_api_groups_rename(eng_api_call_t *call);
void eng_api_groups_things(eng_api_call_t *call);
void eng_api_groups_delete(eng_api_call_t *call);
void eng_api_ops_healthz(eng_api_call_t *call);
void eng_api_ops_readyz(eng_api_call_t *call);
void eng_api_ops_metrics(eng_api_call_t *call);
void eng_api_ops_status(eng_api_call_t *call);

/* Authentication internals shared by api.c and api_auth.c. */
/* Checks "Bearer <token>" and, if well-formed, looks the token up in Redis,
 * then calls next(call) with call->client set, or answers 401. */
void eng_api_auth_check(eng_api_call_t *call, void (*next)(eng_api_call_t *call));
/* Per-API authentication state (verification queue); api_auth.c. */
typedef struct eng_api_auth_s eng_api_auth_t;
eng_api_auth_t *eng_api_auth_new(eng_api_t *api);
/* Answers the queued verifications 503; running ones finish. Returns the
 * number still running. */
size_t eng_api_auth_stop(eng_api_auth_t *auth);
void eng_api_auth_free(eng_api_auth_t *auth);
/* Called by api_auth.c when a running verification has ended (stop). */
void eng_api_auth_idle(eng_api_t *api);

/* Commands waiting for Kafka; api_commands.c. Answers them 503 (stop). */
void eng_api_commands_stop(eng_api_t *api);

#define ENG_API_STATUSES(X)                                                                        \
    X(200) X(400) X(401) X(404) X(405) X(409) X(413) X(415) X(429) X(431) X(500) X(503)
#define ENG_API_NSTATUS 13 /* the statuses above and "other" */
#define ENG_API_NBUCKETS 14

/* The API's state; the resource files read cfg and hooks, and keep their
 * own lists here. */
struct eng_api_s {
    uv_loop_t *loop;
    const cfg_t *cfg;
    eng_api_hooks_t hooks;
    eng_http_server_t *http;
    /* Redis: one async connection, reconnected with backoff. */
    struct redisAsyncContext *ac;
    bool redis_up, timer_init, setup_failed;
    uv_timer_t redis_timer; /* reconnect and reply watchdog, every 250 ms */
    uint64_t backoff_ms, retry_at_ms, inflight, progress_ms, connect_ms;
    eng_api_auth_t *auth;
    void *cmd_waits;         /* api_commands.c: deliveries being waited for */
    uint64_t cmd_timeout_ms; /* how long a delivery is waited for (10 s; tests shorten it) */
    /* /metrics: per route (and one row for unmatched) and status. */
    size_t nroutes;
    uint64_t (*counts)[ENG_API_NSTATUS];
    uint64_t (*hist)[ENG_API_NBUCKETS + 1];
    double *sum;
    /* Stopping. */
    bool stopping, stop_redis; /* stop_redis: waiting for Redis to disconnect */
    bool stopped;              /* eng_api_stop() has called its done */
    int stop_parts;
    void (*stop_done)(void *arg);
    void *stop_arg;
};

/* The HTTP server's and the API's metrics text (api_ops.c). */
void eng_api_metrics_write(eng_api_t *api, eng_http_buf_t *out);
/* Records one answered request for /metrics. */
void eng_api_metrics_record(eng_api_t *api, int route, int status, uint64_t ns);

/* A handler: one row of the route table. */
typedef void (*eng_api_handler_fn)(eng_api_call_t *call);

/* One row of the route table: the generic route and its handler. */
typedef struct eng_api_route_s {
    eng_route_t route;
    eng_api_handler_fn handler;
} eng_api_route_t;

/* Returns the route table (every API and operations route) and its length
 * (routes.c). */
const eng_api_route_t *eng_api_routes(size_t *n);
/* Matches a request against the route table; see eng_router_match(). */
void eng_api_route_match(const char *base, int method, const char *path, size_t path_len,
                         eng_route_match_t *m);

#endif
