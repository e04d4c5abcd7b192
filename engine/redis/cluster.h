/* cluster.h - the write path and routed commands over a Redis Cluster (or
 *             one Redis), on the libuv loop, with hiredis 0.14 (which has
 *             no cluster support): reads the slot map (CLUSTER SLOTS), keeps
 *             one async connection per master, sends each command to the
 *             master of its key's slot, follows MOVED (map refreshed, then
 *             resent) and ASK (ASKING, resent there once), retries TRYAGAIN,
 *             CLUSTERDOWN and error replies with backoff, and follows a
 *             failover or reshard without a restart.
 *             Batches (eng_batch_t) are split per node by cluster_ledger.h:
 *             the ack callback fires for a batch only once every node
 *             acknowledged its part of it and of every earlier batch, in
 *             order; with wait_replicas each part ends with WAIT.
 *             With cluster off it is one Redis: every slot is the seed's,
 *             and wait_replicas works the same.
 * Threads: loop thread only.
 * Ownership: a batch given to eng_cluster_send is lent until its ack; the
 *   opts strings are copied. Replies passed to callbacks live for the call.
 * Errors: hiredis 0.14 has no timeouts: a watchdog closes a connection whose
 *   connect hangs past ENG_CLUSTER_CONNECT_TIMEOUT_MS or that answered
 *   nothing for ENG_CLUSTER_REPLY_TIMEOUT_MS while commands were due, and
 *   reconnects with backoff (100 ms doubling to 5 s). Nothing is dropped:
 *   unacknowledged writes are resent until acknowledged or eng_cluster_stop. */
#ifndef ENG_CLUSTER_H
#define ENG_CLUSTER_H

#include "engine/redis/batch.h"
#include "engine/redis/cluster_slot.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define ENG_CLUSTER_CONNECT_TIMEOUT_MS 3000
#define ENG_CLUSTER_REPLY_TIMEOUT_MS 5000
/* A routed command gives up (callback with NULL) after this many redirects. */
#define ENG_CLUSTER_MAX_REDIRECTS 16

typedef struct eng_cluster_s eng_cluster_t;

typedef struct eng_cluster_opts_s {
    const char *host; /* the seed node (one Redis when cluster is false) */
    int port;
    const char *password; /* AUTH when not empty */
    int db;               /* SELECT when cluster is false */
    bool cluster;         /* route by the slot map of CLUSTER SLOTS */
    const char *seeds;    /* cluster: more seeds, "host:port,...", or NULL */
    int wait_replicas;    /* > 0: every part ends with WAIT wait_replicas wait_timeout_ms */
    int wait_timeout_ms;
} eng_cluster_opts_t;

/* Counters of one node, for /metrics. */
typedef struct eng_cluster_node_stats_s {
    uint64_t writes;     /* batch commands acknowledged */
    uint64_t errors;     /* error replies, short WAITs and failed sends */
    uint64_t redirects;  /* MOVED and ASK replies */
    uint64_t reconnects; /* connections made after the first */
    uint64_t timeouts;   /* watchdog closings */
    uint64_t rtt_ms_sum; /* send to last reply of each acknowledged part */
    uint64_t parts;      /* parts acknowledged */
} eng_cluster_node_stats_t;

/* Called for each batch once all of it is acknowledged, in send order. */
typedef void (*eng_cluster_ack_cb)(void *arg, eng_batch_t *batch);
/* A routed command's reply (after redirects), or NULL when it failed
 * (connection lost, too many redirects, eng_cluster_stop). */
typedef void (*eng_cluster_reply_cb)(void *privdata, redisReply *reply);

/* Returns a new client; nothing connects before eng_cluster_start(). */
eng_cluster_t *eng_cluster_new(uv_loop_t *loop, const eng_cluster_opts_t *opts,
                               eng_cluster_ack_cb on_ack, void *arg);
/* Connects to the seeds (all at once: the first that answers gives the map)
 * and reads the map (and keeps reconnecting). Returns 0. */
int eng_cluster_start(eng_cluster_t *cluster);
/* Closes every connection and timer; batches not acknowledged are dropped
 * (their offsets were never stored), routed commands get NULL. Call once. */
void eng_cluster_stop(eng_cluster_t *cluster);
/* Frees the client after eng_cluster_stop (the memory goes once the loop ran). */
void eng_cluster_free(eng_cluster_t *cluster);

/* Returns true while no more batches can be sent. */
bool eng_cluster_busy(const eng_cluster_t *cluster);
/* Returns the number of batches not yet acknowledged. */
size_t eng_cluster_queued(const eng_cluster_t *cluster);
/* Sends batch (the client must not be busy); see the ack callback. */
void eng_cluster_send(eng_cluster_t *cluster, eng_batch_t *batch);

/* Sends one command to the master of its key's slot (keyless ones to any
 * master) and follows its redirects. Returns 0 (cb is called exactly once),
 * or -1 when the command spans slots or is malformed (cb is never called). */
int eng_cluster_command(eng_cluster_t *cluster, eng_cluster_reply_cb cb, void *privdata, int argc,
                        const char **argv, const size_t *argvlen);

/* Returns why the client cannot make progress now ("redis not connected",
 * "redis cluster slots unserved", "redis node not connected", "redis
 * refusing writes" while error replies are retried, "redis replicas behind"
 * while WAIT is), or NULL. Static string, for /readyz. */
const char *eng_cluster_not_ready(const eng_cluster_t *cluster);

/* Returns the number of nodes known (connection indices 0..n-1). */
int eng_cluster_nodes(const eng_cluster_t *cluster);
/* Returns node i's counters and sets *host, *port; *master tells whether it
 * serves slots in the current map. */
const eng_cluster_node_stats_t *eng_cluster_node(const eng_cluster_t *cluster, int i,
                                                 const char **host, int *port, bool *master);
/* Returns the number of slot map changes applied (failovers, reshards). */
uint64_t eng_cluster_map_changes(const eng_cluster_t *cluster);
/* Returns the connection index that serves slot now, or -1. */
int eng_cluster_slot_node(const eng_cluster_t *cluster, int slot);

#endif
