/* things.c - tuid -> index table, records, long-tuid arena and gateway side
 * table; see things.h. Slots hold index + 1 (0 = empty); a probe compares the
 * tuid inside the record, so a slot costs 4 bytes, a hit costs two cache
 * lines (slot, record), and the load factor stays under 3/4. */
#include "engine/model/things.h"

#include "engine/base/bigmem.h"
#include "engine/base/heap.h"
#include "engine/base/log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* A gateway map slot: thing index + 1 (0 = empty) -> gateway entry. */
typedef struct gmap_slot_s {
    uint32_t key;
    uint32_t val;
} gmap_slot_t;

_Static_assert(sizeof(eng_thing_t) == 64, "a record is one cache line");

struct eng_things_s {
    eng_bigmem_t recmem;
    eng_thing_t *rec;
    uint32_t nrec; /* slots used in rec (live + dead) */
    uint32_t caprec;
    uint32_t free_head; /* first dead record (chained through parent) */
    uint32_t live;

    eng_bigmem_t slotmem;
    uint32_t *slots; /* index + 1; 0 = empty */
    uint32_t mask;   /* slot count - 1 (power of two) */

    char *arena;
    size_t arena_len, arena_cap, arena_dead;

    eng_gateway_t *gws;
    uint32_t ngw, capgw;
    uint32_t gw_free; /* first free gateway entry (chained through inh) */
    gmap_slot_t *gmap;
    uint32_t gmask, gcount;
};

static const char *const status_names[] = {"",           "new",    "installed", "uninstalled",
                                           "quarantine", "retired"};

int eng_status_parse(const char *s, size_t len)
{
    for (int i = 1; i < (int)(sizeof status_names / sizeof *status_names); i++)
        if (strlen(status_names[i]) == len && memcmp(status_names[i], s, len) == 0) return i;
    return -1;
}

const char *eng_status_name(eng_status_t status)
{
    return (unsigned)status < sizeof status_names / sizeof *status_names ? status_names[status]
                                                                         : "";
}

/* 64-bit hash over 8-byte words (murmur-style mixing, fmix64 finaliser):
 * tuids share long prefixes and differ in their last digits, so every word is
 * multiplied and rotated before it meets the state, and the finaliser spreads
 * high-byte differences into the low bits the table uses. */
static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t hash_bytes(const char *s, size_t len)
{
    const uint64_t c1 = 0x87C37B91114253D5ull, c2 = 0x4CF5AD432745937Full;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h ^= rotl64(w * c1, 31) * c2;
        h = rotl64(h, 27) * 5 + 0x52DCE729;
        s += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, len);
    h ^= rotl64(w * c1, 31) * c2;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 33);
}

static inline const char *rec_name(const eng_things_t *things, const eng_thing_t *th)
{
    return th->name_len <= ENG_THING_INLINE ? th->name.in : things->arena + th->name.off;
}

static inline uint32_t home_of(const eng_things_t *things, uint32_t idx)
{
    const eng_thing_t *th = &things->rec[idx];
    return (uint32_t)hash_bytes(rec_name(things, th), th->name_len) & things->mask;
}

eng_things_t *eng_things_new(void)
{
    eng_things_t *things = eng_calloc(1, sizeof *things);
    eng_bigmem_init(&things->recmem, (size_t)ENG_THINGS_MAX * sizeof(eng_thing_t));
    things->mask = 1023;
    eng_bigmem_init(&things->slotmem, (things->mask + 1) * sizeof *things->slots);
    things->slots = eng_bigmem_commit(&things->slotmem, (things->mask + 1) * sizeof *things->slots);
    things->free_head = ENG_THING_NONE;
    things->gw_free = ENG_THING_NONE;
    things->gmask = 63;
    things->gmap = eng_calloc(things->gmask + 1, sizeof *things->gmap);
    return things;
}

void eng_things_free(eng_things_t *things)
{
    if (things == NULL) return;
    eng_bigmem_close(&things->recmem);
    eng_bigmem_close(&things->slotmem);
    free(things->arena);
    free(things->gws);
    free(things->gmap);
    free(things);
}

uint32_t eng_things_get(const eng_things_t *things, const char *tuid, size_t len)
{
    uint32_t i = (uint32_t)hash_bytes(tuid, len) & things->mask;
    for (;; i = (i + 1) & things->mask) {
        uint32_t s = things->slots[i];
        if (s == 0) return ENG_THING_NONE;
        const eng_thing_t *th = &things->rec[s - 1];
        if (th->name_len == len && memcmp(rec_name(things, th), tuid, len) == 0) return s - 1;
    }
}

void eng_things_prefetch_slot(const eng_things_t *things, const char *tuid, size_t len)
{
    __builtin_prefetch(&things->slots[(uint32_t)hash_bytes(tuid, len) & things->mask]);
}

void eng_things_prefetch_rec(const eng_things_t *things, const char *tuid, size_t len)
{
    uint32_t s = things->slots[(uint32_t)hash_bytes(tuid, len) & things->mask];
    if (s != 0) __builtin_prefetch(&things->rec[s - 1]);
}

static void slots_insert(eng_things_t *things, uint32_t idx)
{
    uint32_t i = home_of(things, idx);
    while (things->slots[i] != 0)
        i = (i + 1) & things->mask;
    things->slots[i] = idx + 1;
}

static void slots_grow(eng_things_t *things)
{
    eng_bigmem_t oldmem = things->slotmem;
    uint32_t *old = things->slots;
    uint64_t n = (uint64_t)things->mask + 1;
    if (n >= (1ull << 31)) ENG_OOM();
    things->mask = (uint32_t)(n * 2 - 1);
    size_t bytes = (size_t)n * 2 * sizeof *things->slots;
    eng_bigmem_init(&things->slotmem, bytes);
    things->slots = eng_bigmem_commit(&things->slotmem, bytes);
    for (uint64_t i = 0; i < n; i++)
        if (old[i] != 0) slots_insert(things, old[i] - 1);
    eng_bigmem_close(&oldmem);
}

/* Backward-shift deletion: later entries of the probe run move into the hole
 * unless their home lies cyclically inside (hole, entry]. */
static void slots_delete(eng_things_t *things, uint32_t idx)
{
    uint32_t i = home_of(things, idx);
    while (things->slots[i] != idx + 1) {
        assert(things->slots[i] != 0);
        i = (i + 1) & things->mask;
    }
    for (uint32_t j = i;;) {
        j = (j + 1) & things->mask;
        if (things->slots[j] == 0) break;
        uint32_t k = home_of(things, things->slots[j] - 1);
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        things->slots[i] = things->slots[j];
        i = j;
    }
    things->slots[i] = 0;
}

static uint32_t arena_put(eng_things_t *things, const char *s, size_t len)
{
    if (things->arena_len + len > things->arena_cap) {
        size_t cap = things->arena_cap ? things->arena_cap + things->arena_cap / 2 : 65536;
        while (cap < things->arena_len + len)
            cap += cap / 2;
        if (cap > UINT32_MAX) ENG_OOM();
        things->arena = eng_realloc(things->arena, cap);
        things->arena_cap = cap;
    }
    uint32_t off = (uint32_t)things->arena_len;
    memcpy(things->arena + off, s, len);
    things->arena_len += len;
    return off;
}

/* Rewrites the arena with only the live long tuids (after many removals). */
static void arena_compact(eng_things_t *things)
{
    size_t live = things->arena_len - things->arena_dead;
    char *arena = eng_malloc(live ? live : 1);
    size_t len = 0;
    for (uint32_t i = 0; i < things->nrec; i++) {
        eng_thing_t *th = &things->rec[i];
        if ((th->flags & ENG_THING_DEAD) || th->name_len <= ENG_THING_INLINE) continue;
        memcpy(arena + len, things->arena + th->name.off, th->name_len);
        th->name.off = (uint32_t)len;
        len += th->name_len;
    }
    free(things->arena);
    things->arena = arena;
    things->arena_len = things->arena_cap = len;
    things->arena_dead = 0;
}

static uint32_t rec_alloc(eng_things_t *things)
{
    if (things->free_head != ENG_THING_NONE) {
        uint32_t idx = things->free_head;
        things->free_head = things->rec[idx].parent;
        return idx;
    }
    if (things->nrec == things->caprec) {
        /* Commits more of the reservation: the array grows in place. */
        if (things->nrec >= ENG_THINGS_MAX) ENG_OOM();
        things->rec =
            eng_bigmem_commit(&things->recmem, ((size_t)things->nrec + 1) * sizeof *things->rec);
        things->caprec = (uint32_t)(things->recmem.committed / sizeof *things->rec);
    }
    return things->nrec++;
}

uint32_t eng_things_add(eng_things_t *things, const char *tuid, size_t len, uint16_t part,
                        bool *added)
{
    assert(len >= 1 && len <= PROTO_TUID_MAX);
    uint32_t idx = eng_things_get(things, tuid, len);
    if (added) *added = idx == ENG_THING_NONE;
    if (idx != ENG_THING_NONE) {
        if (part != ENG_PART_NONE) things->rec[idx].part = part;
        return idx;
    }
    if ((uint64_t)(things->live + 1) * 4 > ((uint64_t)things->mask + 1) * 3) slots_grow(things);
    idx = rec_alloc(things);
    eng_thing_t *th = &things->rec[idx];
    *th = (eng_thing_t){
        .parent = ENG_THING_NONE,
        .link = ENG_HEAP_NONE,
        .part = part,
        .name_len = (uint8_t)len,
    };
    if (len <= ENG_THING_INLINE)
        memcpy(th->name.in, tuid, len);
    else
        th->name.off = arena_put(things, tuid, len);
    slots_insert(things, idx);
    things->live++;
    return idx;
}

eng_thing_t *eng_things_at(eng_things_t *things, uint32_t idx)
{
    assert(idx < things->nrec && !(things->rec[idx].flags & ENG_THING_DEAD));
    return &things->rec[idx];
}

const eng_thing_t *eng_things_cat(const eng_things_t *things, uint32_t idx)
{
    assert(idx < things->nrec && !(things->rec[idx].flags & ENG_THING_DEAD));
    return &things->rec[idx];
}

eng_thing_t *eng_things_base(eng_things_t *things)
{
    return things->rec;
}

eng_gateway_t *eng_things_gw_base(eng_things_t *things)
{
    return things->gws;
}

const char *eng_things_tuid(const eng_things_t *things, uint32_t idx, size_t *len)
{
    const eng_thing_t *th = eng_things_cat(things, idx);
    *len = th->name_len;
    return rec_name(things, th);
}

unsigned eng_things_merge_at(eng_things_t *things, uint32_t idx, const proto_msg_t *msg,
                             uint32_t ts, uint32_t gw)
{
    if (gw == ENG_THING_NONE && (msg->flags & PROTO_HAS_GW) && msg->gw_len >= 1 &&
        msg->gw_len <= PROTO_TUID_MAX)
        gw = eng_things_add(things, msg->gw, msg->gw_len, ENG_PART_NONE, NULL);
    eng_thing_t *th = eng_things_at(things, idx);
    unsigned changed = 0;
    if (!(th->flags & ENG_THING_HEARD) || ts > th->heard) {
        th->heard = ts;
        th->flags |= ENG_THING_HEARD;
        changed |= ENG_CHANGED_TS;
    }
    if (gw != ENG_THING_NONE && ts >= th->t_gw) {
        th->t_gw = ts;
        th->parent = gw;
        changed |= ENG_CHANGED_GW;
    }
    if ((msg->flags & PROTO_HAS_BATL) && ts >= th->t_batl) {
        th->t_batl = ts;
        changed |= ENG_CHANGED_BATL;
    }
    if ((msg->flags & PROTO_HAS_LOC) && ts >= th->t_loc) {
        th->t_loc = ts;
        changed |= ENG_CHANGED_LOC;
    }
    if ((msg->flags & PROTO_HAS_VER) && ts >= th->t_ver) {
        th->t_ver = ts;
        changed |= ENG_CHANGED_VER;
    }
    th->dirty |= (uint8_t)changed;
    return changed;
}

unsigned eng_things_merge(eng_things_t *things, uint32_t idx, const proto_msg_t *msg)
{
    return eng_things_merge_at(things, idx, msg, msg->ts_sec, ENG_THING_NONE);
}

static inline uint32_t gmap_home(const eng_things_t *things, uint32_t idx)
{
    return (uint32_t)(((uint64_t)idx * 0x9E3779B97F4A7C15ull) >> 32) & things->gmask;
}

uint32_t eng_things_gateway(const eng_things_t *things, uint32_t idx)
{
    if (!(things->rec[idx].flags & ENG_THING_GATEWAY)) return ENG_THING_NONE;
    for (uint32_t i = gmap_home(things, idx);; i = (i + 1) & things->gmask) {
        assert(things->gmap[i].key != 0);
        if (things->gmap[i].key == idx + 1) return things->gmap[i].val;
    }
}

static void gmap_insert(eng_things_t *things, uint32_t idx, uint32_t gw)
{
    uint32_t i = gmap_home(things, idx);
    while (things->gmap[i].key != 0)
        i = (i + 1) & things->gmask;
    things->gmap[i] = (gmap_slot_t){idx + 1, gw};
}

static void gmap_grow(eng_things_t *things)
{
    gmap_slot_t *old = things->gmap;
    uint64_t n = (uint64_t)things->gmask + 1;
    if (n >= (1ull << 31)) ENG_OOM();
    things->gmask = (uint32_t)(n * 2 - 1);
    things->gmap = eng_calloc(n * 2, sizeof *things->gmap);
    for (uint64_t i = 0; i < n; i++)
        if (old[i].key != 0) gmap_insert(things, old[i].key - 1, old[i].val);
    free(old);
}

static void gmap_delete(eng_things_t *things, uint32_t idx)
{
    uint32_t i = gmap_home(things, idx);
    while (things->gmap[i].key != idx + 1)
        i = (i + 1) & things->gmask;
    for (uint32_t j = i;;) {
        j = (j + 1) & things->gmask;
        if (things->gmap[j].key == 0) break;
        uint32_t k = gmap_home(things, things->gmap[j].key - 1);
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        things->gmap[i] = things->gmap[j];
        i = j;
    }
    things->gmap[i] = (gmap_slot_t){0, 0};
}

uint32_t eng_things_make_gateway(eng_things_t *things, uint32_t idx)
{
    eng_thing_t *th = eng_things_at(things, idx);
    if (th->flags & ENG_THING_GATEWAY) return eng_things_gateway(things, idx);
    uint32_t gw;
    if (things->gw_free != ENG_THING_NONE) {
        gw = things->gw_free;
        things->gw_free = things->gws[gw].inh;
    } else {
        if (things->ngw == things->capgw) {
            uint32_t cap = things->capgw ? things->capgw + things->capgw / 2 : 64;
            things->gws = eng_realloc(things->gws, (size_t)cap * sizeof *things->gws);
            things->capgw = cap;
        }
        gw = things->ngw++;
    }
    things->gws[gw] = (eng_gateway_t){idx, th->heard, ENG_HEAP_NONE, ENG_THING_NONE};
    if ((uint64_t)(things->gcount + 1) * 4 > ((uint64_t)things->gmask + 1) * 3) gmap_grow(things);
    gmap_insert(things, idx, gw);
    things->gcount++;
    th->flags |= ENG_THING_GATEWAY;
    return gw;
}

eng_gateway_t *eng_things_gw(eng_things_t *things, uint32_t gw)
{
    assert(gw < things->ngw && things->gws[gw].thing != ENG_THING_NONE);
    return &things->gws[gw];
}

uint32_t eng_things_gw_slots(const eng_things_t *things)
{
    return things->ngw;
}

void eng_things_remove(eng_things_t *things, uint32_t idx)
{
    eng_thing_t *th = eng_things_at(things, idx);
    slots_delete(things, idx);
    if (th->flags & ENG_THING_GATEWAY) {
        uint32_t gw = eng_things_gateway(things, idx);
        gmap_delete(things, idx);
        things->gcount--;
        things->gws[gw] = (eng_gateway_t){ENG_THING_NONE, 0, ENG_HEAP_NONE, things->gw_free};
        things->gw_free = gw;
    }
    if (th->name_len > ENG_THING_INLINE) things->arena_dead += th->name_len;
    *th = (eng_thing_t){.flags = ENG_THING_DEAD, .parent = things->free_head};
    things->free_head = idx;
    things->live--;
    if (things->arena_dead > (1u << 20) && things->arena_dead * 2 > things->arena_len)
        arena_compact(things);
}

uint32_t eng_things_count(const eng_things_t *things)
{
    return things->live;
}

uint32_t eng_things_slots(const eng_things_t *things)
{
    return things->nrec;
}

size_t eng_things_bytes(const eng_things_t *things)
{
    return things->recmem.committed + things->slotmem.committed + things->arena_cap +
           (size_t)things->capgw * sizeof *things->gws +
           ((size_t)things->gmask + 1) * sizeof *things->gmap;
}
