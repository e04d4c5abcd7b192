/* alertmanager.h - every alert window pushed to Prometheus Alertmanager
 *                  (alertmanager.url), at least once and in order of change.
 *   - A window's change is written in the same Redis batch as the window:
 *     its alert (labels fixed at the open) into P{am}:open, and one entry per
 *     Alertmanager URL into that URL's queue P{am}:q:ID (am_payload.h).
 *   - Each URL has its own sender (am_queue.h): it reads the oldest entries
 *     of its queue once their batch is acknowledged, POSTs them (libcurl on
 *     the loop, am_http.h), removes them once Alertmanager accepted them,
 *     retries with backoff otherwise. One URL down never holds another back.
 *   - Every alertmanager.resend_interval the open windows this instance
 *     decides (the detector's) are sent again from P{am}:open, with endsAt
 *     4 intervals ahead; after a restart or a partition move the new owner
 *     does that. docs/ALERTMANAGER.md has the whole story.
 * Threads: loop thread only.
 * Ownership: borrows the store, detector and things table; owns its HTTP
 *   client, queues and timers.
 * Errors: eng_am_new() returns -1 for a setting it cannot use (logged:
 *   unreadable token or password file); delivery failures are counted,
 *   logged when Alertmanager goes away and comes back, and retried. */
#ifndef ENG_ALERTMANAGER_H
#define ENG_ALERTMANAGER_H

#include "config/config.h"
#include "engine/redis/batch.h"
#include "engine/model/detector.h"
#include "engine/base/metrics.h"
#include "engine/ingest/store.h"
#include "engine/model/things.h"

#include <stdbool.h>
#include <uv.h>

typedef struct eng_am_s eng_am_t;

/* Creates the sender into *out; *out is NULL when alertmanager.url is empty.
 * Returns 0, or -1 (logged) when a file setting cannot be read. */
int eng_am_new(eng_am_t **out, uv_loop_t *loop, const cfg_t *cfg, eng_store_t *store,
               eng_detector_t *det, eng_things_t *things, eng_metrics_t *metrics);
/* Starts the resend timer and the first reads. */
void eng_am_start(eng_am_t *am);
/* Stops sending and closes the handles (before the store stops); requests
 * in flight are abandoned (their entries stay in Redis). Run the loop, then
 * free. */
void eng_am_stop(eng_am_t *am);
/* SIGHUP: takes alertmanager.labels (for windows opened from now on) and
 * alertmanager.resend_interval from cfg, which the caller keeps alive until
 * the next reload; the other settings need a restart. Loop thread. */
void eng_am_reload(eng_am_t *am, const cfg_t *cfg);
void eng_am_free(eng_am_t *am);

/* A window opened or closed: writes its alert and queue entries into batch.
 * group: the thing's group now ("unassigned"); gateway: its parent now (a
 * sensor's; NULL for none). Both count only at the open. */
void eng_am_window(eng_am_t *am, eng_batch_t *batch, const eng_window_t *win, const char *group,
                   const char *gateway, size_t gateway_len);
/* batch was acknowledged by Redis: its entries can be read and sent. */
void eng_am_acked(eng_am_t *am, const eng_batch_t *batch);

/* Sets the gauges (queue depth, oldest unsent age, URLs up) for /metrics. */
void eng_am_sync_metrics(const eng_am_t *am, eng_metrics_t *metrics);

#endif
