/* things.h - the in-memory table of tracked things: tuid -> uint32 index.
 * Open addressing (linear probing, backward-shift deletion) on uint32 slots;
 * tuids inside the 64-byte records (longer than 24 bytes: interned in an
 * arena), no malloc per thing; records in one reserved, huge-page backed array
 * that grows in place; gateway-only data in a side table for gateways only.
 * Threads: loop thread only (no locking).
 * Ownership: the table owns its records, arena and side tables. Pointers it
 *   returns (records, tuids, gateways) stay valid until the next call that
 *   adds or removes a thing (add, merge, remove, gateway creation).
 * Errors: lookups return ENG_THING_NONE; adding never fails (out of memory
 *   aborts with file and line); misuse (a bad index) is an assert. */
#ifndef ENG_THINGS_H
#define ENG_THINGS_H

#include "proto/msg.h"

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Index of no thing (lookups that fail, a thing without a parent). */
#define ENG_THING_NONE UINT32_MAX
/* Partition id of a thing not yet seen on a partition (known only through
 * tsmGw, an installation status or a restore without partition). */
#define ENG_PART_NONE UINT16_MAX

/* Returns the compact partition id of (topic index, partition) that the
 * records keep (ingest and restore both compute it). */
static inline uint16_t eng_things_part_id(uint16_t topic, int32_t partition)
{
    return (uint16_t)((topic << 10) | (partition & 0x3ff));
}

/* Installation status (CONTRACT section 3); NONE = no status recorded. */
typedef enum eng_status_e {
    ENG_STATUS_NONE = 0,
    ENG_STATUS_NEW,
    ENG_STATUS_INSTALLED,
    ENG_STATUS_UNINSTALLED,
    ENG_STATUS_QUARANTINE,
    ENG_STATUS_RETIRED
} eng_status_t;

/* Returns the status named s[0..len) ("installed", ...), or -1 when unknown. */
int eng_status_parse(const char *s, size_t len);
/* Returns the static API name of a status ("installed", ...; "" for NONE). */
const char *eng_status_name(eng_status_t status);

/* The state fields a merge changed: what the engine HSETs from the message at
 * hand (values are not kept in memory). */
enum {
    ENG_CHANGED_TS = 1 << 0,   /* timestamp: greater than every earlier message */
    ENG_CHANGED_GW = 1 << 1,   /* gateway_tuid (and the parent) */
    ENG_CHANGED_BATL = 1 << 2, /* battery_level */
    ENG_CHANGED_LOC = 1 << 3,  /* lat and lon */
    ENG_CHANGED_VER = 1 << 4   /* version */
};

/* Record flags. */
enum {
    ENG_THING_HEARD = 1 << 0,     /* has sent as tsmTuid at least once */
    ENG_THING_GATEWAY = 1 << 1,   /* has appeared as tsmGw: owns a gateway side entry */
    ENG_THING_HB_OPEN = 1 << 2,   /* "heartbeat missed" window open (from = heard) */
    ENG_THING_GW_OPEN = 1 << 3,   /* "gateway connection lost" open (from = relayed) */
    ENG_THING_INHIBITED = 1 << 4, /* due, held back by the parent's open gateway window */
    ENG_THING_DEAD = 1 << 5,      /* removed; index on the free list */
    ENG_THING_DROP = 1 << 6       /* being removed (transient, inside a partition drop) */
};

/* The most things a table holds (address space is reserved for them up front;
 * memory is committed as they come). */
#define ENG_THINGS_MAX (1u << 28)
/* Tuids up to this length live inside the record; longer ones in an arena. */
#define ENG_THING_INLINE 24

/* One tracked thing: 64 bytes, one cache line (the array is 2 MiB aligned), so
 * a lookup costs the slot and this line, tuid included. Times are unix seconds
 * (u32, good to 2106). */
typedef struct eng_thing_s {
    uint32_t heard;     /* heard(T): greatest tsmTs (clamped) as tsmTuid; 0 never */
    uint32_t t_gw;      /* tsmTs of the newest message with tsmGw (the parent's) */
    uint32_t t_batl;    /* tsmTs of the newest message with batl */
    uint32_t t_loc;     /* tsmTs of the newest message with lat and lon */
    uint32_t t_ver;     /* tsmTs of the newest message with swVersion */
    uint32_t status_at; /* when the installation status was set (wall clock) */
    uint32_t parent;    /* gateway it was last heard through, or ENG_THING_NONE */
    uint32_t link;      /* position in the heartbeat heap (ENG_HEAP_NONE: not in
                         * it); while INHIBITED: next child in the parent's list */
    uint16_t part;      /* partition last seen on, or ENG_PART_NONE */
    uint8_t name_len;   /* tuid length (1..64) */
    uint8_t status;     /* eng_status_t */
    uint8_t flags;      /* ENG_THING_* */
    uint8_t dirty;      /* ENG_CHANGED_* bits merged since the engine last cleared them */
    uint8_t tclass;     /* heartbeat timeout class (detector's prefix index) */
    uint8_t hist_room;  /* ingest: history members that may be added before the
                         * next trim, + 1; 0: not known (trim at the next write) */
    union {
        char in[ENG_THING_INLINE]; /* name_len <= ENG_THING_INLINE */
        uint32_t off;              /* else: offset in the arena */
    } name;
} eng_thing_t;

/* Gateway-only data, one per thing that has appeared as tsmGw: 16 bytes. */
typedef struct eng_gateway_s {
    uint32_t thing;   /* the gateway's thing index */
    uint32_t relayed; /* relayed(G): greatest tsmTs from or through it */
    uint32_t hpos;    /* position in the gateway heap, or ENG_HEAP_NONE */
    uint32_t inh;     /* first inhibited child, or ENG_THING_NONE */
} eng_gateway_t;

typedef struct eng_things_s eng_things_t;

/* Returns a new empty table. Loop thread. */
eng_things_t *eng_things_new(void);
/* Frees the table and everything it owns. */
void eng_things_free(eng_things_t *things);

/* Returns the index of tuid[0..len), or ENG_THING_NONE when not tracked. */
uint32_t eng_things_get(const eng_things_t *things, const char *tuid, size_t len);
/* Prefetch hints for a lookup of tuid a few records from now, so that the
 * lookup finds its cache lines in cache: _slot brings in the hash slot, _rec
 * (called later, once the slot is there) the record it names. They change
 * nothing. */
void eng_things_prefetch_slot(const eng_things_t *things, const char *tuid, size_t len);
void eng_things_prefetch_rec(const eng_things_t *things, const char *tuid, size_t len);

/* Returns the index of tuid[0..len), adding a fresh record (never heard, no
 * status, no parent, partition part) when it is not tracked; *added (may be
 * NULL) tells which. A known thing keeps its partition unless part is not
 * ENG_PART_NONE. tuid must be a valid tuid (1..64 bytes). */
uint32_t eng_things_add(eng_things_t *things, const char *tuid, size_t len, uint16_t part,
                        bool *added);

/* Returns the record of a live index (valid until the table changes). */
eng_thing_t *eng_things_at(eng_things_t *things, uint32_t idx);
const eng_thing_t *eng_things_cat(const eng_things_t *things, uint32_t idx);

/* Returns the record array (record i at [i], dead ones flagged ENG_THING_DEAD;
 * eng_things_slots() entries), for iteration and heap binding; NULL when
 * empty. Valid until the table changes. */
eng_thing_t *eng_things_base(eng_things_t *things);
/* Returns the gateway array (eng_things_gw_slots() entries, free ones with
 * thing == ENG_THING_NONE); NULL when empty. Valid until the table changes. */
eng_gateway_t *eng_things_gw_base(eng_things_t *things);

/* Returns the tuid of idx (not NUL-terminated) and its length in *len; valid
 * until the table changes. */
const char *eng_things_tuid(const eng_things_t *things, uint32_t idx, size_t *len);

/* Newest-state merge of one message into idx, with msg->ts_sec as its time:
 * each field moves only when the message is at least as new as the one it
 * came from (equal times: the later arrival wins), so a late older message
 * never overwrites newer state. A tsmGw also sets the parent (adding the
 * gateway, partition ENG_PART_NONE, when new). Returns the ENG_CHANGED_* bits
 * and ORs them into the record's dirty byte. Does not touch liveness windows:
 * the detector calls eng_things_merge_at() with the clamped time instead. */
unsigned eng_things_merge(eng_things_t *things, uint32_t idx, const proto_msg_t *msg);
/* The same with an explicit time ts (the detector's clamped tsmTs) and the
 * gateway's index gw (ENG_THING_NONE: looked up from msg->gw when present). */
unsigned eng_things_merge_at(eng_things_t *things, uint32_t idx, const proto_msg_t *msg,
                             uint32_t ts, uint32_t gw);

/* Returns the gateway side entry index of idx, or ENG_THING_NONE. */
uint32_t eng_things_gateway(const eng_things_t *things, uint32_t idx);
/* Returns the gateway side entry of idx, creating it (relayed = heard) when
 * idx is not yet a gateway. */
uint32_t eng_things_make_gateway(eng_things_t *things, uint32_t idx);
/* Returns a gateway side entry (valid until the table changes). */
eng_gateway_t *eng_things_gw(eng_things_t *things, uint32_t gw);
/* Returns the number of gateway side slots (live or free) for iteration;
 * a free slot has thing == ENG_THING_NONE. */
uint32_t eng_things_gw_slots(const eng_things_t *things);

/* Removes idx: its tuid no longer resolves, its index and gateway entry go to
 * free lists for reuse. The caller (the detector) has already unlinked it from
 * heaps and lists and cleared references to it. */
void eng_things_remove(eng_things_t *things, uint32_t idx);

/* Returns the number of live things. */
uint32_t eng_things_count(const eng_things_t *things);
/* Returns the number of index slots (live or dead) for iteration; a dead one
 * has ENG_THING_DEAD set. */
uint32_t eng_things_slots(const eng_things_t *things);
/* Returns the bytes the table holds in its arrays (capacity, not use). */
size_t eng_things_bytes(const eng_things_t *things);

#endif
