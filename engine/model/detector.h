/* detector.h - "heartbeat missed" and "gateway connection lost" windows
 * (CONTRACT section 3): liveness per thing and gateway, deadlines in two
 * indexed heaps, gateway inhibition, installation gating, the wall and event
 * clocks, restore from Redis and partition drop. Pure C: no Redis, no libuv;
 * the engine does the writes from the on_window callback. docs/DETECTOR.md
 * gives the rules, the event order and the figures.
 * Threads: loop thread only (no locking).
 * Ownership: the detector borrows the things table (the caller frees it after
 *   the detector) and copies its settings; it allocates only its heaps.
 * Errors: nothing fails; stale status changes are ignored (return false);
 *   out of memory aborts; misuse (a bad index) is an assert.
 * Reentrancy: on_window must not call into the detector or add or remove
 *   things; it may read the things table. */
#ifndef ENG_DETECTOR_H
#define ENG_DETECTOR_H

#include "config/config.h"
#include "engine/model/things.h"
#include "proto/msg.h"

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum eng_alert_e {
    ENG_ALERT_HEARTBEAT = 0, /* "heartbeat missed" */
    ENG_ALERT_GATEWAY = 1,   /* "gateway connection lost" */
    ENG_ALERT_COUNT
} eng_alert_t;

/* Returns the API name of an alert type ("heartbeat missed", ...). */
const char *eng_alert_name(eng_alert_t type);

/* One window opening or closing, as handed to on_window. */
typedef struct eng_window_s {
    uint32_t thing;   /* thing index */
    const char *tuid; /* its tuid (not NUL-terminated), valid during the callback */
    size_t tuid_len;
    eng_alert_t type;
    bool open;     /* true: opened (to is 0, "null"); false: closed */
    uint32_t from; /* unix seconds; 0 = 1970-01-01T00:00:00 (never heard) */
    uint32_t to;   /* unix seconds when closed, >= from */
    bool alerting; /* the thing has an open window after this event (SADD/SREM) */
} eng_window_t;

typedef struct eng_detector_cb_s {
    void (*on_window)(void *arg, const eng_window_t *win);
    void *arg;
} eng_detector_cb_t;

/* Settings (copied at eng_detector_new). */
typedef struct eng_detector_conf_s {
    bool event_clock;        /* detector.clock = event */
    bool inhibit_by_gateway; /* detector.inhibit_by_gateway */
    uint32_t heartbeat_timeout;
    uint32_t gateway_timeout;
    uint32_t max_clock_skew;
    const cfg_prefix_timeout_t *prefixes; /* detector.heartbeat_timeout.PREFIX (any order) */
    size_t nprefixes;                     /* at most ENG_DETECTOR_MAX_PREFIXES */
} eng_detector_conf_t;

#define ENG_DETECTOR_MAX_PREFIXES 253

/* Fills conf from the loaded settings (borrows cfg's prefix list until
 * eng_detector_new copies it). Any thread before start. */
void eng_detector_conf_from_cfg(eng_detector_conf_t *conf, const cfg_t *cfg);

/* What eng_detector_observe() did with a message. */
typedef struct eng_detector_obs_s {
    unsigned changed; /* ENG_CHANGED_* state fields the engine must write */
    uint32_t ts;      /* the message's time as used: tsmTs second, clamped to the
                       * wall clock when further ahead than max_clock_skew */
    uint32_t gw;      /* the tsmGw's thing index, or ENG_THING_NONE */
} eng_detector_obs_t;

typedef struct eng_detector_s eng_detector_t;

/* Returns a new detector over things. Loop thread. */
eng_detector_t *eng_detector_new(eng_things_t *things, const eng_detector_conf_t *conf,
                                 const eng_detector_cb_t *cb);
/* Frees the detector (not the things table). */
void eng_detector_free(eng_detector_t *det);

/* Returns the borrowed things table. */
eng_things_t *eng_detector_things(eng_detector_t *det);

/* The wall clock (unix seconds), at least once a second and before the first
 * observe: moves the wall clock forward (it never goes back), and fires every
 * due deadline: in wall mode those <= wall_now, in event mode those <= the
 * event clock (deadlines that restore or a status change put in the past). */
void eng_detector_tick(eng_detector_t *det, uint32_t wall_now);

/* Applies one decoded message that arrived on partition part, in this order:
 *  1. t = tsmTs second, or the wall clock when t > wall + max_clock_skew;
 *  2. event clock: now = max(now, t); then every deadline <= now fires (wall
 *     clock: now is the last tick);
 *  3. newest-state merge (heard, parent, field times);
 *  4. the sender's "heartbeat missed" window closes at t if t > its from;
 *  5. if the sender is a gateway, its "gateway connection lost" window closes
 *     at t if t > relayed(G), and its still-silent inhibited children open;
 *  6. the same for the gateway tsmGw names;
 *  7. deadlines are (re)scheduled; every deadline <= now fires again.
 * Returns the sender's thing index; fills *obs (may be NULL). Loop thread. */
uint32_t eng_detector_observe(eng_detector_t *det, const proto_msg_t *msg, uint16_t part,
                              eng_detector_obs_t *obs);

/* An installation status written by the API (at: wall clock). A change to a
 * status that does not monitor closes the thing's open windows at max(at,
 * from); installed on a never-heard thing starts its clock at at. Fires due
 * deadlines. Returns true when applied, false when at is older than the status
 * already held (a stale change). Loop thread. */
bool eng_detector_set_status(eng_detector_t *det, uint32_t idx, eng_status_t status, uint32_t at);

/* What Redis holds for a thing (P{T}:thing), for restore. */
typedef struct eng_detector_restore_s {
    const char *tuid;
    size_t len;
    uint16_t part; /* partition, or ENG_PART_NONE */
    bool heard;    /* `timestamp` present */
    uint32_t timestamp;
    uint32_t t_gw, t_batl, t_loc, t_ver;
    const char *gateway; /* `gateway_tuid` (the parent), NULL when absent */
    size_t gateway_len;
    eng_status_t status; /* `status`, ENG_STATUS_NONE when absent */
    uint32_t status_at;
    bool hb_open; /* `hb_from` present: the open heartbeat window */
    uint32_t hb_from;
} eng_detector_restore_t;

/* Rebuilds a thing's liveness, status, parent and open heartbeat window from
 * Redis without emitting anything; a window already open stays open (its
 * close will carry hb_from). A deadline already past fires at the next tick or
 * message (wall clock: an outage of tsmd opens the windows it implies). Times
 * merge with what memory holds (greatest wins). Returns the thing's index. */
uint32_t eng_detector_restore_thing(eng_detector_t *det, const eng_detector_restore_t *rec);

/* Rebuilds a gateway: relayed(G) (P relayed score) and its open "gateway
 * connection lost" window (gw_from) if any, without emitting. Returns the
 * gateway's thing index. */
uint32_t eng_detector_restore_gateway(eng_detector_t *det, const char *tuid, size_t len,
                                      uint16_t part, uint32_t relayed, bool gw_open,
                                      uint32_t gw_from);

/* Partition revoked: forgets every thing last seen on part (no events: the new
 * owner restores their windows from Redis). Retained sensors whose parent was
 * dropped lose their parent. Returns the number of things dropped. O(things). */
uint32_t eng_detector_drop_partition(eng_detector_t *det, uint16_t part);

/* ---- scale-out (docs/SCALING.md) ----
 * Several instances share the partitions; each gateway's window is decided by
 * one instance, the owner (the instance holding the partition the gateway's
 * tuid hashes to). Elsewhere the gateway is remote: no deadline, its window
 * state arrives from the owner (eng_detector_remote_gateway), and relay
 * observations go to the owner (eng_detector_relay there). */

/* Windows of type this detector opened and closed since it was made (the
 * restore of windows already open counts as neither). */
void eng_detector_window_counts(const eng_detector_t *det, eng_alert_t type, uint64_t *opened,
                                uint64_t *closed);

/* Replaces the heartbeat and gateway timeouts, their prefixes and the clock
 * skew (SIGHUP): every thing is rescheduled with them, and a deadline already
 * passed under the new ones opens its window now. event_clock and
 * inhibit_by_gateway of conf are ignored (they need a restart). O(things);
 * loop thread, never on the message path. */
void eng_detector_set_timeouts(eng_detector_t *det, const eng_detector_conf_t *conf);

/* Sets the ownership test (NULL: every gateway is owned, one instance). */
void eng_detector_set_gateway_owner(eng_detector_t *det,
                                    bool (*owned)(void *arg, const char *tuid, size_t len),
                                    void *arg);
/* Ownership changed (assignment): re-schedules or unschedules every gateway. */
void eng_detector_reown_gateways(eng_detector_t *det);
/* Another instance saw tsmGw = tuid from time from to time to, with no gap
 * of gateway_timeout between (one message: from = to): for a gateway owned
 * here, the same as relayed messages (the event clock moves to from first;
 * may open and close its window; a gateway unknown here becomes one). Ignored
 * for a gateway owned elsewhere. */
void eng_detector_relay(eng_detector_t *det, const char *tuid, size_t len, uint32_t from,
                        uint32_t to);
/* The owner opened or closed a remote gateway's window: held-back sensors
 * here follow it (a close opens those still silent). Ignored for gateways
 * owned here or unknown here. */
void eng_detector_remote_gateway(eng_detector_t *det, const char *tuid, size_t len, bool open,
                                 uint32_t from, uint32_t to);

/* ---- catching up (docs/DETECTOR.md) ----
 * With the wall clock, the things of a partition that is behind are judged
 * on its event time (the greatest tsmTs consumed from it, clamped by the
 * skew), and gateways on the horizon: the least clock over every partition
 * of the group. A partition that is not tracked counts as caught up. */

/* Partition part assigned here: behind until eng_detector_part_live(). */
void eng_detector_part_assign(eng_detector_t *det, uint16_t part);
/* The consumer reached part's end (live = true: the wall clock takes over and
 * every overdue deadline fires, from = heard), or fell behind again. */
void eng_detector_part_live(eng_detector_t *det, uint16_t part, bool live);
/* Every assigned partition is behind (the consumer paused: records wait). */
void eng_detector_all_behind(eng_detector_t *det);
/* The first raw topic has n partitions (0: unknown): those neither assigned
 * here nor reported by another instance hold the horizon back. */
void eng_detector_set_partitions(eng_detector_t *det, uint32_t n);
/* Another instance holds part and has consumed it up to etime (live: caught
 * up). Ignored for a partition assigned here. Fires what became due. */
void eng_detector_remote_part(eng_detector_t *det, uint16_t part, uint32_t etime, bool live);
/* Returns the partition clocks (for /status and for telling other instances). */
struct eng_catchup_s;
const struct eng_catchup_s *eng_detector_catchup(const eng_detector_t *det);
/* Returns the gateways' horizon. */
uint32_t eng_detector_horizon(const eng_detector_t *det);

/* Returns the current now of the active clock. */
uint32_t eng_detector_now(const eng_detector_t *det);
/* Returns true when idx has an open window. */
bool eng_detector_alerting(const eng_detector_t *det, uint32_t idx);
/* Returns true when idx has an open window of type. */
bool eng_detector_is_open(const eng_detector_t *det, uint32_t idx, eng_alert_t type);
/* Returns the number of open windows of type (metrics). */
uint64_t eng_detector_open_count(const eng_detector_t *det, eng_alert_t type);
/* Returns the number of scheduled deadlines (heartbeat + gateway heaps). */
uint64_t eng_detector_scheduled(const eng_detector_t *det);
/* Returns idx's heartbeat timeout in seconds (longest matching prefix). */
uint32_t eng_detector_timeout(eng_detector_t *det, uint32_t idx);
/* Returns the bytes held by the two heaps. */
size_t eng_detector_bytes(const eng_detector_t *det);

#endif
