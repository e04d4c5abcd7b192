/* catchup.h - the detector's clocks while the consumer is behind: each
 *             partition's event time and state (catching up or caught up),
 *             what the other instances say of theirs, the gateways' horizon
 *             (the least clock over every partition of the group), and the
 *             relays each gateway was seen with beyond that horizon (runs).
 *             docs/DETECTOR.md, "Catching up", gives the rules.
 * Threads: loop thread only (no locking).
 * Ownership: owned by the detector; it allocates its partition table once and
 *   one small array of runs per gateway that has relays beyond the horizon.
 * Errors: nothing fails; out of memory aborts; a part id out of range is
 *   ignored. */
#ifndef ENG_CATCHUP_H
#define ENG_CATCHUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Part ids are (topic index << 10) | partition: 16 topics of 1024 partitions. */
#define ENG_CATCHUP_PARTS (1u << 14)
/* A remote partition's clock counts for this long after its last report. */
#define ENG_CATCHUP_REMOTE_TTL 5

typedef enum eng_part_state_e {
    ENG_PART_UNTRACKED = 0, /* not assigned here: judged on the wall clock */
    ENG_PART_BEHIND,        /* assigned, catching up: judged on its event time */
    ENG_PART_LIVE           /* assigned, caught up: judged on the wall clock */
} eng_part_state_t;

typedef struct eng_catchup_s eng_catchup_t;

/* Returns a new table with no partition tracked. */
eng_catchup_t *eng_catchup_new(void);
void eng_catchup_free(eng_catchup_t *cu);

/* A partition assigned here: catching up, event time 0 until its records
 * come. Returns nothing; a part id out of range is ignored. */
void eng_catchup_assign(eng_catchup_t *cu, uint16_t part);
/* A partition revoked: no longer tracked. */
void eng_catchup_drop(eng_catchup_t *cu, uint16_t part);
/* Sets an assigned partition caught up (live) or behind. Returns true when its
 * state changed (untracked partitions do not change). */
bool eng_catchup_set_live(eng_catchup_t *cu, uint16_t part, bool live);
/* Sets every assigned partition behind (the consumer paused). Returns the
 * number that changed. */
size_t eng_catchup_all_behind(eng_catchup_t *cu);
eng_part_state_t eng_catchup_state(const eng_catchup_t *cu, uint16_t part);
uint32_t eng_catchup_etime(const eng_catchup_t *cu, uint16_t part);
/* Raises part's event time to ts. Returns true when the horizon may have
 * moved (the partition is behind and was at or below horizon). */
bool eng_catchup_observe(eng_catchup_t *cu, uint16_t part, uint32_t ts, uint32_t horizon);
/* Returns the clock part's things are judged on: its event time (at most now)
 * while behind, else now. */
uint32_t eng_catchup_clock(const eng_catchup_t *cu, uint16_t part, uint32_t now);

/* The assigned partitions, for iteration and for telling the other instances:
 * returns their number and sets *parts. Valid until the next assign/drop. */
size_t eng_catchup_local(const eng_catchup_t *cu, const uint16_t **parts);

/* Another instance reported part (not assigned here) at event time etime, live
 * or behind, at wall clock wall. */
void eng_catchup_remote(eng_catchup_t *cu, uint16_t part, uint32_t etime, bool live, uint32_t wall);
/* The partition count of the first raw topic (0: unknown): a partition of it
 * that is neither assigned here nor reported by another instance within
 * ENG_CATCHUP_REMOTE_TTL holds the horizon at 0. */
void eng_catchup_set_partitions(eng_catchup_t *cu, uint32_t n);

/* Returns the gateways' horizon: the least clock of every partition known
 * (assigned here, or reported by others, or unknown: 0), at most now; now
 * when nothing is behind. wall is the wall clock, for the remote reports'
 * age. */
uint32_t eng_catchup_horizon(const eng_catchup_t *cu, uint32_t now, uint32_t wall);

/* ---- runs: a gateway's relays beyond the horizon ----
 * A run [from, to] says: relays at from and at to, and none of the gaps
 * between the relays in it reaches timeout. Runs of one gateway are sorted
 * and apart by at least timeout; adding merges what comes within timeout. */

/* Adds the relays [from, to] of gateway entry g. */
void eng_catchup_run_add(eng_catchup_t *cu, uint32_t g, uint32_t from, uint32_t to,
                         uint32_t timeout);
/* Returns true and the first run of g, or false when g has none. */
bool eng_catchup_run_first(const eng_catchup_t *cu, uint32_t g, uint32_t *from, uint32_t *to);
/* Removes the first run of g (there must be one). */
void eng_catchup_run_pop(eng_catchup_t *cu, uint32_t g);
/* Forgets the runs of g (the gateway entry is being removed or reused). */
void eng_catchup_run_clear(eng_catchup_t *cu, uint32_t g);

/* Returns the bytes held. */
size_t eng_catchup_bytes(const eng_catchup_t *cu);

#endif
