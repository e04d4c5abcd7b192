/* cluster_ledger.h - the bookkeeping of batches written over several Redis
 *                    nodes: each batch is split into one part per node (the
 *                    commands whose key slot that node serves), the parts of
 *                    each node are sent in batch order on that node's
 *                    connection, and a batch is acknowledged only once every
 *                    part of it and of every earlier batch was acknowledged.
 *                    No I/O: eng_cluster drives it; the unit tests drive it
 *                    without servers.
 *
 * Rules that keep a thing's writes in order (all of a thing's keys share a
 * slot, so its commands of a batch are in one part):
 *  - a node's parts are sent in batch order; when one of them gets an error
 *    reply (or its connection drops), every part sent on that node after it
 *    is resent too, even if it succeeded, once the node's outstanding parts
 *    all answered (eng_ledger_node_retry): the resent older write must not
 *    land after a newer one. Writes are idempotent, so resending is safe.
 *  - the slot map changes only while nothing is in flight on any node
 *    (eng_ledger_rebuild requires eng_ledger_settled): a slot's commands go
 *    to one node between two rebuilds, so a resend to the slot's new owner
 *    never overtakes a command still in flight to the old one.
 *  - with wait set, each part ends with WAIT; a part counts as acknowledged
 *    only when WAIT said enough replicas have it.
 * Threads: loop thread only.
 * Ownership: the ledger owns its arrays (reused, grown to the largest batch);
 *   a batch given to eng_ledger_add is lent until eng_ledger_pop returns it.
 * Errors: none; out of memory aborts. */
#ifndef ENG_CLUSTER_LEDGER_H
#define ENG_CLUSTER_LEDGER_H

#include "engine/redis/batch.h"
#include "engine/redis/cluster_slot.h"

#include <stdbool.h>
#include <stdint.h>

#define ENG_LEDGER_BATCHES 4    /* batches in flight */
#define ENG_LEDGER_MAX_NODES 32 /* node indices 0..31 (eng_cluster's connections) */

typedef enum eng_part_state_e {
    ENG_PART_IDLE,   /* to send */
    ENG_PART_SENT,   /* replies due */
    ENG_PART_FAILED, /* answered with an error, or after one on its node: to resend */
    ENG_PART_DONE,   /* acknowledged */
} eng_part_state_t;

/* What one reply of a part's command (or of its WAIT) says. */
typedef enum eng_ledger_result_e {
    ENG_LEDGER_OK,
    ENG_LEDGER_ERROR, /* an error reply, a short WAIT, TRYAGAIN, CLUSTERDOWN */
    ENG_LEDGER_MOVED, /* the slot moved: the map must be refreshed */
    ENG_LEDGER_ASK,   /* resend this command once to another node, after ASKING */
    ENG_LEDGER_LOST,  /* no reply: the connection dropped or the send failed */
} eng_ledger_result_t;

/* eng_ledger_needs() flags. */
#define ENG_LEDGER_NEED_MAP 1     /* a MOVED was seen: refresh the map, then rebuild */
#define ENG_LEDGER_NEED_REBUILD 2 /* an ASK was seen: rebuild (same map) to send it there */

struct eng_ledger_entry_s;

typedef struct eng_ledger_part_s {
    struct eng_ledger_entry_s *entry;
    int16_t node;
    uint8_t state;  /* eng_part_state_t */
    uint32_t start; /* its commands: entry->order[start .. start + n) */
    uint32_t n;
    uint32_t replies, errors; /* of the current send, WAIT included */
    uint64_t sent_ms;         /* the sender's clock at the current send */
} eng_ledger_part_t;

typedef struct eng_ledger_cmd_s {
    int32_t slot; /* ENG_SLOT_ANY: goes with the command before it */
    int16_t ask;  /* node to send it to once with ASKING, or -1 */
    uint8_t done;
} eng_ledger_cmd_t;

typedef struct eng_ledger_entry_s {
    eng_batch_t *batch;
    eng_ledger_cmd_t *cmds;
    uint32_t *order; /* command indices grouped by part, batch order in each */
    int16_t *node;   /* scratch: each command's node while splitting */
    size_t cap;
    eng_ledger_part_t parts[ENG_LEDGER_MAX_NODES];
    int nparts;
    int pending; /* parts not DONE */
    uint64_t seq;
} eng_ledger_entry_t;

typedef struct eng_ledger_s {
    eng_ledger_entry_t entries[ENG_LEDGER_BATCHES];
    size_t head, count;
    uint64_t seq;
    bool wait; /* parts end with WAIT */
    bool stalled;
    int needs;
    bool node_failed[ENG_LEDGER_MAX_NODES];
    uint32_t node_sent[ENG_LEDGER_MAX_NODES]; /* parts SENT */
} eng_ledger_t;

/* wait: end every part with the caller's WAIT command (one more reply). */
void eng_ledger_init(eng_ledger_t *ledger, bool wait);
void eng_ledger_close(eng_ledger_t *ledger);

/* Returns true when no more batches fit. */
bool eng_ledger_full(const eng_ledger_t *ledger);
/* Returns the number of batches not yet popped. */
size_t eng_ledger_count(const eng_ledger_t *ledger);

/* Adds batch (the ledger must not be full) and splits it: owner[slot] is the
 * node of each slot (-1 unserved: fallback takes it, to be redirected). */
void eng_ledger_add(eng_ledger_t *ledger, eng_batch_t *batch, const int16_t *owner,
                    int16_t fallback);

/* Returns the next part to send on node, in batch order, and marks it SENT;
 * NULL when there is none, the node failed (eng_ledger_node_retry first) or
 * the ledger is stalled (waiting for a rebuild). */
eng_ledger_part_t *eng_ledger_next(eng_ledger_t *ledger, int node);

/* Returns the length of the i-th command of part (i < part->n) and sets
 * *data; *asking tells whether ASKING must go before it. */
size_t eng_ledger_part_cmd(const eng_ledger_part_t *part, uint32_t i, const char **data,
                           bool *asking);

/* Records the next reply of part (commands first, WAIT last). ask_node is the
 * node an ENG_LEDGER_ASK points to. */
void eng_ledger_reply(eng_ledger_t *ledger, eng_ledger_part_t *part, eng_ledger_result_t result,
                      int ask_node);

/* Returns true when node has no part awaiting replies. */
bool eng_ledger_node_idle(const eng_ledger_t *ledger, int node);
/* Returns true when node failed this round (its later parts wait). */
bool eng_ledger_node_failed(const eng_ledger_t *ledger, int node);
/* After a failure, once node is idle: its FAILED parts are to be sent again. */
void eng_ledger_node_retry(eng_ledger_t *ledger, int node);

/* Returns true when no node has a part awaiting replies. */
bool eng_ledger_settled(const eng_ledger_t *ledger);
/* Returns ENG_LEDGER_NEED_* flags. */
int eng_ledger_needs(const eng_ledger_t *ledger);
/* Stops eng_ledger_next from handing out parts until the next rebuild. */
void eng_ledger_stall(eng_ledger_t *ledger);
/* Re-splits every command not yet acknowledged by owner (ASK targets first);
 * the ledger must be settled. Clears the needs, the stall and every node's
 * failure. */
void eng_ledger_rebuild(eng_ledger_t *ledger, const int16_t *owner, int16_t fallback);

/* Returns the oldest batch once all of it is acknowledged (and removes it),
 * else NULL. Batches come out in the order they were added. */
eng_batch_t *eng_ledger_pop(eng_ledger_t *ledger);

/* Removes every batch, acknowledged or not (stop). */
void eng_ledger_clear(eng_ledger_t *ledger);

#endif
