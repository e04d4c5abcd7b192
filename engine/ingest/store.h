/* store.h - the Redis connection of the write path: up to two batches in
 *           flight, acknowledged in order (adaptive batching: the next batch
 *           grows while others are in flight), and keeps trying until Redis
 *           acknowledged every command of each.
 * Threads: loop thread only.
 * Ownership: the store owns its hiredis context; a batch handed to
 *   eng_store_send() is lent until the ack callback, which gets it back.
 *   Batches are acked in the order they were sent.
 * Errors: hiredis 0.14 has no timeouts, so a watchdog closes a connection
 *   that answered nothing for ENG_STORE_REPLY_TIMEOUT_MS while commands were
 *   outstanding (an idle one is PINGed every second) or whose connect hangs, and reconnects on a
 * fresh context with backoff. A batch whose commands got error replies (OOM, READONLY...) is resent
 * after a backoff, with every batch sent after it: every write of the engine is idempotent. */
#ifndef ENG_STORE_H
#define ENG_STORE_H

#include "config/config.h"
#include "engine/redis/batch.h"

#include <hiredis/async.h>
#include <stdbool.h>
#include <uv.h>

#define ENG_STORE_REPLY_TIMEOUT_MS 5000
#define ENG_STORE_CONNECT_TIMEOUT_MS 3000
/* Past this long without a reply while commands are outstanding, /readyz says
 * "redis not answering" (the watchdog closes the connection at
 * ENG_STORE_REPLY_TIMEOUT_MS). */
#define ENG_STORE_SLOW_MS 1000

typedef struct eng_store_s eng_store_t;

/* Counters read by /metrics; written by the loop thread only. */
typedef struct eng_store_stats_s {
    uint64_t writes;     /* commands acknowledged */
    uint64_t errors;     /* error replies and failed sends */
    uint64_t reconnects; /* connections made after the first */
    uint64_t timeouts;   /* watchdog closings */
} eng_store_stats_t;

/* Called when every command of batch was acknowledged without error. */
typedef void (*eng_store_ack_cb)(void *arg, eng_batch_t *batch);
/* Called after each (re)connection is ready (AUTH and SELECT done). */
typedef void (*eng_store_ready_cb)(void *arg);

/* Returns a new store; nothing connects before eng_store_start(). */
eng_store_t *eng_store_new(uv_loop_t *loop, const cfg_t *cfg, eng_store_ack_cb on_ack,
                           eng_store_ready_cb on_ready, void *arg);
/* cb(arg, seconds) gets the round trip of every batch: from its send to its
 * last reply (replies of a batch that is sent again count from the resend). */
void eng_store_set_rtt_cb(eng_store_t *store, void (*cb)(void *arg, double seconds), void *arg);
/* Connects (and keeps reconnecting). Returns 0. */
int eng_store_start(eng_store_t *store);
/* Closes the connection and its timers; batches in flight are dropped
 * unacknowledged (their offsets were never stored). Call once. */
void eng_store_stop(eng_store_t *store);
void eng_store_free(eng_store_t *store);

/* Returns true while no more batches can be sent (the queue is full). */
bool eng_store_busy(const eng_store_t *store);
/* Returns the number of batches in flight (0: the write path is empty). */
size_t eng_store_queued(const eng_store_t *store);
/* Returns true while the connection is up and ready. */
bool eng_store_connected(const eng_store_t *store);
/* Returns why the write path cannot make progress now ("redis not connected",
 * "redis connecting", "redis refusing writes" while a batch is being retried
 * after error replies such as OOM or READONLY, "redis not answering"), or NULL
 * when it can. The string is static. For /readyz. */
const char *eng_store_not_ready(const eng_store_t *store);

/* Sends batch (the store must not be busy). The ack callback fires once
 * Redis acknowledged all of it and every batch sent before it, however many
 * reconnects that takes; a batch without commands is acked in its turn. */
void eng_store_send(eng_store_t *store, eng_batch_t *batch);

/* Returns the store's counters. */
const eng_store_stats_t *eng_store_stats(const eng_store_t *store);

/* Sends a read on the same connection (restore). Returns 0, or -1 when not
 * connected (cb is then never called). cb gets NULL when the connection drops. */
int eng_store_read(eng_store_t *store, redisCallbackFn *cb, void *privdata, int argc,
                   const char **argv, const size_t *argvlen);

#endif
