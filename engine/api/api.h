/* api.h - the REST API: the engine's handle on it (new/start/stop/free and
 *         hooks). What the resource files (api_<resource>.c) share is in
 *         engine/api/internal.h.
 * Threads: loop thread only, including every hook call; the only work off the
 *   loop thread is secret verification (uv_queue_work), which touches no API
 *   state.
 * Ownership: the API owns its HTTP server, its Redis connection and every
 *   call; a call is freed by the eng_api_reply*() / eng_api_error*() that
 *   answers it, so a handler touches nothing of it afterwards. Hook strings
 *   are lent for the duration of the hook call.
 * Errors: eng_api_start() returns 0 or a negative libuv error code (listen
 *   failed); Redis being away is not an error at start (it reconnects with
 *   backoff; requests meanwhile get 503). Handlers answer every failure with a
 *   JSON error; nothing a client sends can fail anything else. */
#ifndef ENG_API_H
#define ENG_API_H

#include "config/config.h"
#include "engine/http/http.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct json_t; /* jansson's */

/* What the engine offers the API; every member may be NULL. */
typedef struct eng_api_hooks_s {
    void *arg;
    /* An installation status was stored (at = wall-clock second). */
    void (*on_status)(void *arg, const char *tuid, const char *status, uint32_t at);
    /* A thing's group changed; group NULL = unassigned. */
    void (*on_group)(void *arg, const char *tuid, const char *group);
    /* Produces n command payloads (JSON) keyed by tuid to kafka.commands_topic.
     * Returns 0 and later calls done(ctx, ok) exactly once on the loop thread
     * (ok != 0: every payload acknowledged), or returns non-zero at once
     * without calling done. The payloads are lent for the call only. */
    int (*produce_commands)(void *arg, const char *tuid, const char *const *payloads,
                            const size_t *lens, size_t n, void (*done)(void *ctx, int ok),
                            void *ctx);
    /* Returns true unless the engine keeps the API out of a load balancer
     * (shutting down); else sets *why to a static reason. The API's own Redis
     * connection is checked by /readyz itself. */
    bool (*ready)(void *arg, const char **why);
    /* Returns a new JSON object for GET /status: the consumer's state per
     * partition and what else an operator asks first. */
    struct json_t *(*status)(void *arg);
    /* Appends the engine's metrics (Prometheus text) to out. */
    void (*metrics)(void *arg, eng_http_buf_t *out);
} eng_api_hooks_t;

typedef struct eng_api_s eng_api_t;

/* Returns a new API (nothing started). cfg and hooks must outlive it (hooks
 * is copied). Loop thread. */
eng_api_t *eng_api_new(uv_loop_t *loop, const cfg_t *cfg, const eng_api_hooks_t *hooks);
/* Connects Redis (in the background) and listens on http.listen, logging
 * msg="listening" addr=... Returns 0 or a negative libuv error code. */
int eng_api_start(eng_api_t *api);
/* Connects Redis only (in-process use and tests: requests go through
 * eng_api_handle()). Returns 0. */
int eng_api_connect(eng_api_t *api);
/* Stops listening, answers what is pending, closes Redis, then calls done. */
void eng_api_stop(eng_api_t *api, void (*done)(void *arg), void *arg);
/* Frees the API. One started and not stopped (e.g. eng_api_start() failed)
 * is stopped first, running the loop until its handles are closed. */
void eng_api_free(eng_api_t *api);
/* Returns true while the API's Redis connection is up. */
bool eng_api_redis_up(const eng_api_t *api);

/* Handles one request in process, exactly as if it had come over HTTP:
 * authentication, routing, 415, the handler. req->done is called later. */
void eng_api_handle(eng_api_t *api, eng_http_req_t *req);

/* Returns true when id is a valid client id: 1..64 of A-Z a-z 0-9 _ . - @ */
bool eng_api_client_id_valid(const char *id, size_t len);

#endif
