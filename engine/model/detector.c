/* detector.c - alert windows from liveness; see detector.h and docs/DETECTOR.md.
 *
 * Invariants (each function keeps them):
 * - A thing is in the heartbeat heap iff it is monitored for heartbeat, has no
 *   open heartbeat window and is not inhibited. Its key is <= its real deadline
 *   (messages only raise heard(T), and the heap is re-keyed lazily when the
 *   key comes due); only status changes move a key earlier (sift-up).
 * - A gateway is in the gateway heap iff it is monitored for connection loss
 *   and has no open gateway window; same key rule.
 * - An open window's from is heard(T) (heartbeat) or relayed(G) (gateway):
 *   only a message newer than from closes it, and that message moves the
 *   liveness, so neither changes while the window is open.
 * - An inhibited thing sits in its parent's list and nowhere else; its parent
 *   has an open gateway window; leaving that state (message, status change,
 *   parent change, gateway close) unlinks it. */
#include "engine/model/detector.h"

#include "engine/base/heap.h"
#include "engine/base/log.h"
#include "engine/model/catchup.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct prefix_s {
    char s[PROTO_TUID_MAX];
    uint32_t len;
    uint32_t seconds;
} prefix_t;

struct eng_detector_s {
    eng_things_t *things;
    eng_detector_cb_t cb;
    bool event_clock, inhibit;
    uint32_t hb_timeout, gw_timeout, skew;
    prefix_t *prefixes;
    size_t nprefixes;
    uint32_t wall; /* last wall clock seen (0: none yet) */
    uint32_t now;  /* the active clock's now */
    /* Heartbeat deadlines, id = thing index, position in eng_thing_t.link:
     * hb holds every thing with the event clock, and the things of no
     * partition with the wall clock; there each partition has its own heap,
     * judged on its own clock (catch-up). */
    eng_heap_t hb;
    eng_heap_t **part_hb; /* by part id, NULL until used */
    uint16_t *heap_parts; /* part ids with a heap */
    size_t nheap_parts;
    eng_heap_t **fire_heaps; /* fire(): every heap and its clock */
    uint32_t *fire_clocks;
    eng_heap_t gw;     /* id = gateway entry, position in eng_gateway_t.hpos */
    eng_catchup_t *cu; /* partition clocks and gateway relay runs */
    uint32_t horizon;  /* gateways are decided up to here */
    uint64_t open[ENG_ALERT_COUNT];
    uint64_t opened[ENG_ALERT_COUNT], closed[ENG_ALERT_COUNT]; /* events emitted */
    /* Scale-out: which gateways this instance decides (NULL: all of them). */
    bool (*gw_owned)(void *arg, const char *tuid, size_t len);
    void *gw_owned_arg;
};

/* Returns true when this instance decides idx's gateway window. */
static bool gw_owned(eng_detector_t *det, uint32_t idx)
{
    if (det->gw_owned == NULL) return true;
    size_t len;
    const char *tuid = eng_things_tuid(det->things, idx, &len);
    return det->gw_owned(det->gw_owned_arg, tuid, len);
}

static const char *const alert_names[] = {"heartbeat missed", "gateway connection lost"};

const char *eng_alert_name(eng_alert_t type)
{
    return (unsigned)type < ENG_ALERT_COUNT ? alert_names[type] : "";
}

static uint32_t clamp_u32(int64_t v)
{
    return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

void eng_detector_conf_from_cfg(eng_detector_conf_t *conf, const cfg_t *cfg)
{
    *conf = (eng_detector_conf_t){
        .event_clock = cfg->detector_clock_event,
        .inhibit_by_gateway = cfg->detector_inhibit_by_gateway,
        .heartbeat_timeout = clamp_u32(cfg->detector_heartbeat_timeout),
        .gateway_timeout = clamp_u32(cfg->detector_gateway_timeout),
        .max_clock_skew = clamp_u32(cfg->detector_max_clock_skew),
        .prefixes = cfg->heartbeat_prefixes,
        .nprefixes = cfg->heartbeat_prefixes_len,
    };
}

/* Copies the timeouts, the skew and the prefix list of conf into det. */
static void take_timeouts(eng_detector_t *det, const eng_detector_conf_t *conf)
{
    det->hb_timeout = conf->heartbeat_timeout;
    det->gw_timeout = conf->gateway_timeout;
    det->skew = conf->max_clock_skew;
    size_t n =
        conf->nprefixes < ENG_DETECTOR_MAX_PREFIXES ? conf->nprefixes : ENG_DETECTOR_MAX_PREFIXES;
    if (n < conf->nprefixes) ENG_WARN("too many heartbeat prefixes", " kept=%zu", n);
    free(det->prefixes);
    det->prefixes = eng_calloc(n ? n : 1, sizeof *det->prefixes);
    det->nprefixes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(conf->prefixes[i].prefix);
        if (len > PROTO_TUID_MAX) len = PROTO_TUID_MAX;
        memcpy(det->prefixes[det->nprefixes].s, conf->prefixes[i].prefix, len);
        det->prefixes[det->nprefixes].len = (uint32_t)len;
        det->prefixes[det->nprefixes].seconds = clamp_u32(conf->prefixes[i].seconds);
        det->nprefixes++;
    }
}

eng_detector_t *eng_detector_new(eng_things_t *things, const eng_detector_conf_t *conf,
                                 const eng_detector_cb_t *cb)
{
    eng_detector_t *det = eng_calloc(1, sizeof *det);
    det->things = things;
    det->cb = *cb;
    det->event_clock = conf->event_clock;
    det->inhibit = conf->inhibit_by_gateway;
    take_timeouts(det, conf);
    eng_heap_init(&det->hb);
    eng_heap_init(&det->gw);
    det->part_hb = eng_calloc(ENG_CATCHUP_PARTS, sizeof *det->part_hb);
    det->heap_parts = eng_calloc(ENG_CATCHUP_PARTS, sizeof *det->heap_parts);
    det->fire_heaps = eng_calloc(ENG_CATCHUP_PARTS + 1, sizeof *det->fire_heaps);
    det->fire_clocks = eng_calloc(ENG_CATCHUP_PARTS + 1, sizeof *det->fire_clocks);
    det->cu = eng_catchup_new();
    return det;
}

void eng_detector_free(eng_detector_t *det)
{
    if (det == NULL) return;
    eng_heap_close(&det->hb);
    eng_heap_close(&det->gw);
    for (size_t i = 0; i < det->nheap_parts; i++) {
        eng_heap_close(det->part_hb[det->heap_parts[i]]);
        free(det->part_hb[det->heap_parts[i]]);
    }
    free(det->part_hb);
    free(det->heap_parts);
    free(det->fire_heaps);
    free(det->fire_clocks);
    eng_catchup_free(det->cu);
    free(det->prefixes);
    free(det);
}

eng_things_t *eng_detector_things(eng_detector_t *det)
{
    return det->things;
}

/* Records may move whenever a thing or gateway is added: re-bind the heaps
 * before touching them. */
static eng_heap_t *bind_hb(eng_detector_t *det, eng_heap_t *heap)
{
    eng_thing_t *base = eng_things_base(det->things);
    if (base && heap) eng_heap_bind(heap, &base->link, sizeof *base);
    return heap;
}

/* Returns the heartbeat heap of the things of part (created when create is
 * true), or NULL. */
static eng_heap_t *part_heap(eng_detector_t *det, uint16_t part, bool create)
{
    if (det->event_clock || part >= ENG_CATCHUP_PARTS) return bind_hb(det, &det->hb);
    if (det->part_hb[part] == NULL) {
        if (!create) return NULL;
        det->part_hb[part] = eng_calloc(1, sizeof(eng_heap_t));
        eng_heap_init(det->part_hb[part]);
        det->heap_parts[det->nheap_parts++] = part;
    }
    return bind_hb(det, det->part_hb[part]);
}

/* Returns the clock the things of part are judged on. */
static uint32_t part_clock(const eng_detector_t *det, uint16_t part)
{
    if (det->event_clock) return det->now;
    return eng_catchup_clock(det->cu, part, det->now);
}

static void update_horizon(eng_detector_t *det)
{
    det->horizon = det->event_clock ? det->now : eng_catchup_horizon(det->cu, det->now, det->wall);
}

static eng_heap_t *gw_heap(eng_detector_t *det)
{
    eng_gateway_t *base = eng_things_gw_base(det->things);
    if (base) eng_heap_bind(&det->gw, &base->hpos, sizeof *base);
    return &det->gw;
}

static inline eng_thing_t *rec(eng_detector_t *det, uint32_t idx)
{
    return eng_things_at(det->things, idx);
}

static inline eng_gateway_t *gw_of(eng_detector_t *det, uint32_t idx)
{
    return eng_things_gw(det->things, eng_things_gateway(det->things, idx));
}

/* ---- rules --------------------------------------------------------------- */

uint32_t eng_detector_timeout(eng_detector_t *det, uint32_t idx)
{
    eng_thing_t *th = rec(det, idx);
    if (th->tclass == 0) {
        /* Computed once per thing: class 1 is the default, 2+i prefix i. */
        size_t len;
        const char *tuid = eng_things_tuid(det->things, idx, &len);
        uint32_t best = 0, best_len = 0;
        for (size_t i = 0; i < det->nprefixes; i++) {
            const prefix_t *p = &det->prefixes[i];
            if (p->len <= len && p->len >= best_len && memcmp(p->s, tuid, p->len) == 0) {
                best = (uint32_t)i + 2;
                best_len = p->len;
            }
        }
        th->tclass = (uint8_t)(best ? best : 1);
    }
    return th->tclass == 1 ? det->hb_timeout : det->prefixes[th->tclass - 2].seconds;
}

static bool hb_monitored(const eng_thing_t *th)
{
    return th->status == ENG_STATUS_INSTALLED ||
           (th->status == ENG_STATUS_NONE && (th->flags & ENG_THING_HEARD));
}

static bool gw_monitored(const eng_thing_t *th)
{
    return (th->flags & ENG_THING_GATEWAY) &&
           (th->status == ENG_STATUS_INSTALLED || th->status == ENG_STATUS_NONE);
}

static uint32_t add_sat(uint32_t a, uint32_t b)
{
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

/* heard(T) + timeout, or for an installed never-heard thing I + timeout. */
static uint32_t hb_deadline(eng_detector_t *det, uint32_t idx)
{
    eng_thing_t *th = rec(det, idx);
    uint32_t base = (th->flags & ENG_THING_HEARD) ? th->heard : th->status_at;
    return add_sat(base, eng_detector_timeout(det, idx));
}

static uint32_t hb_from(const eng_thing_t *th)
{
    return (th->flags & ENG_THING_HEARD) ? th->heard : 0;
}

/* The time a message counts at: a tsmTs further ahead of the wall clock than
 * the skew counts as the wall clock's now (both clocks). */
static uint32_t effective(const eng_detector_t *det, uint32_t ts)
{
    if (det->wall != 0 && ts > add_sat(det->wall, det->skew)) return det->wall;
    return ts;
}

/* ---- events -------------------------------------------------------------- */

static void emit(eng_detector_t *det, uint32_t idx, eng_alert_t type, bool open, uint32_t from,
                 uint32_t to)
{
    eng_window_t win = {.thing = idx, .type = type, .open = open, .from = from, .to = to};
    if (open)
        det->opened[type]++;
    else
        det->closed[type]++;
    win.tuid = eng_things_tuid(det->things, idx, &win.tuid_len);
    win.alerting = eng_detector_alerting(det, idx);
    if (det->cb.on_window) det->cb.on_window(det->cb.arg, &win);
}

static void open_hb(eng_detector_t *det, uint32_t idx)
{
    eng_thing_t *th = rec(det, idx);
    assert(!(th->flags & ENG_THING_HB_OPEN));
    th->flags |= ENG_THING_HB_OPEN;
    det->open[ENG_ALERT_HEARTBEAT]++;
    emit(det, idx, ENG_ALERT_HEARTBEAT, true, hb_from(th), 0);
}

static void close_hb(eng_detector_t *det, uint32_t idx, uint32_t from, uint32_t to)
{
    rec(det, idx)->flags &= (uint8_t)~ENG_THING_HB_OPEN;
    det->open[ENG_ALERT_HEARTBEAT]--;
    emit(det, idx, ENG_ALERT_HEARTBEAT, false, from, to > from ? to : from);
}

static void open_gw(eng_detector_t *det, uint32_t idx)
{
    eng_thing_t *th = rec(det, idx);
    assert(!(th->flags & ENG_THING_GW_OPEN));
    th->flags |= ENG_THING_GW_OPEN;
    det->open[ENG_ALERT_GATEWAY]++;
    emit(det, idx, ENG_ALERT_GATEWAY, true, gw_of(det, idx)->relayed, 0);
}

/* Closes G's window and opens the windows of the children it held back: they
 * are still silent (a message would have unlinked them), with from = heard. */
static void close_gw(eng_detector_t *det, uint32_t idx, uint32_t from, uint32_t to)
{
    rec(det, idx)->flags &= (uint8_t)~ENG_THING_GW_OPEN;
    det->open[ENG_ALERT_GATEWAY]--;
    emit(det, idx, ENG_ALERT_GATEWAY, false, from, to > from ? to : from);
    uint32_t child = gw_of(det, idx)->inh;
    gw_of(det, idx)->inh = ENG_THING_NONE;
    while (child != ENG_THING_NONE) {
        eng_thing_t *th = rec(det, child);
        uint32_t next = th->link;
        th->flags &= (uint8_t)~ENG_THING_INHIBITED;
        th->link = ENG_HEAP_NONE;
        open_hb(det, child);
        child = next;
    }
}

/* ---- scheduling ---------------------------------------------------------- */

static bool in_hb_heap(const eng_thing_t *th)
{
    return !(th->flags & ENG_THING_INHIBITED) && th->link != ENG_HEAP_NONE;
}

static void unlink_inhibited(eng_detector_t *det, uint32_t idx)
{
    eng_thing_t *th = rec(det, idx);
    assert(th->flags & ENG_THING_INHIBITED);
    uint32_t *p = &gw_of(det, th->parent)->inh;
    while (*p != idx) {
        assert(*p != ENG_THING_NONE);
        p = &rec(det, *p)->link;
    }
    *p = th->link;
    th->flags &= (uint8_t)~ENG_THING_INHIBITED;
    th->link = ENG_HEAP_NONE;
}

/* Moves idx to partition part: its deadline leaves the old partition's heap
 * (the caller re-schedules it). */
static void set_part(eng_detector_t *det, uint32_t idx, uint16_t part)
{
    eng_thing_t *th = rec(det, idx);
    if (part == ENG_PART_NONE || th->part == part) return;
    if (!det->event_clock && in_hb_heap(th))
        eng_heap_remove(part_heap(det, th->part, false), th->link);
    rec(det, idx)->part = part;
}

/* Puts idx's heartbeat deadline where the invariants say: out of the heap when
 * not monitored (a timeout of 0 monitors nothing), open or inhibited; else in
 * its partition's heap, moved earlier if the real deadline is earlier than its
 * key (later ones are re-keyed lazily). */
static void schedule_hb(eng_detector_t *det, uint32_t idx)
{
    eng_thing_t *th = rec(det, idx);
    eng_heap_t *heap = part_heap(det, th->part, true);
    if (!hb_monitored(th) || (th->flags & (ENG_THING_HB_OPEN | ENG_THING_INHIBITED)) ||
        eng_detector_timeout(det, idx) == 0) {
        if (in_hb_heap(th)) eng_heap_remove(heap, th->link);
        return;
    }
    uint32_t d = hb_deadline(det, idx);
    th = rec(det, idx);
    if (th->link == ENG_HEAP_NONE)
        eng_heap_push(heap, d, idx);
    else if (d < heap->v[th->link].key)
        eng_heap_update(heap, th->link, d);
}

/* A gateway's next event and whether it belongs in the gateway heap: its
 * deadline while no window is open, or the first of its relays beyond the
 * horizon (which may close or open and close a window). */
static uint32_t gw_key(eng_detector_t *det, uint32_t idx, bool *want)
{
    const eng_thing_t *th = rec(det, idx);
    uint32_t g = eng_things_gateway(det->things, idx);
    uint32_t key = UINT32_MAX, from, to;
    bool open = th->flags & ENG_THING_GW_OPEN;
    bool runs = eng_catchup_run_first(det->cu, g, &from, &to);
    if (!open) key = add_sat(eng_things_gw(det->things, g)->relayed, det->gw_timeout);
    if (runs && from < key) key = from;
    *want = gw_monitored(th) && (!open || runs) && gw_owned(det, idx);
    return key;
}

/* Puts idx's gateway entry where gw_key() says; exact re-keys later keys too
 * (else they are re-keyed lazily when they come due). */
static void place_gw(eng_detector_t *det, uint32_t idx, bool exact)
{
    if (!(rec(det, idx)->flags & ENG_THING_GATEWAY)) return;
    uint32_t g = eng_things_gateway(det->things, idx);
    eng_gateway_t *gw = eng_things_gw(det->things, g);
    eng_heap_t *heap = gw_heap(det);
    bool want;
    uint32_t key = gw_key(det, idx, &want);
    if (!want) {
        if (gw->hpos != ENG_HEAP_NONE) eng_heap_remove(heap, gw->hpos);
        /* Relays kept for a gateway decided elsewhere now are its owner's. */
        if (!gw_owned(det, idx)) eng_catchup_run_clear(det->cu, g);
    } else if (gw->hpos == ENG_HEAP_NONE) {
        eng_heap_push(heap, key, g);
    } else if (key < heap->v[gw->hpos].key || (exact && key != heap->v[gw->hpos].key)) {
        eng_heap_update(heap, gw->hpos, key);
    }
}

static void schedule_gw(eng_detector_t *det, uint32_t idx)
{
    place_gw(det, idx, false);
}

/* Relays of idx at from .. to (one message: from = to; else a run, whose
 * relays are closer than the timeout), no later than the horizon: relayed(G)
 * moves to to. When from is newer than relayed(G), it closes an open window;
 * if it comes at or past the deadline of a window that is not open, the
 * window opens first (a message moves the clock before it is applied),
 * unless the gateway is new (nothing was relayed yet) or the relay is ahead
 * of the clock (a device clock ahead of ours proves nothing). */
static void gw_apply(eng_detector_t *det, uint32_t idx, uint32_t from, uint32_t to, bool fresh)
{
    uint32_t old = gw_of(det, idx)->relayed;
    if (to <= old) return;
    /* Another instance decides a gateway it owns; its close reaches us
     * through eng_detector_remote_gateway(). */
    if (gw_owned(det, idx)) {
        const eng_thing_t *th = rec(det, idx);
        if (from > old && from <= det->now && !fresh && old != 0 &&
            !(th->flags & ENG_THING_GW_OPEN) && gw_monitored(th) &&
            from >= add_sat(old, det->gw_timeout))
            open_gw(det, idx);
        if (rec(det, idx)->flags & ENG_THING_GW_OPEN)
            close_gw(det, idx, old, from > old ? from : to);
    }
    gw_of(det, idx)->relayed = to;
}

/* Relays of idx at from .. to: applied at once when the horizon has reached
 * from or nothing is behind, else kept as a run until the horizon reaches it
 * (catching up: another partition may still hold relays in between). */
static void gw_relay(eng_detector_t *det, uint32_t idx, uint32_t from, uint32_t to, bool fresh)
{
    if (fresh || from <= det->horizon || det->horizon >= det->now || !gw_owned(det, idx))
        gw_apply(det, idx, from, to, fresh);
    else
        eng_catchup_run_add(det->cu, eng_things_gateway(det->things, idx), from, to,
                            det->gw_timeout);
    schedule_gw(det, idx);
}

/* A gateway due at the horizon: its runs up to the horizon are applied in
 * order, then its window opens if its deadline has passed. */
static void gw_advance(eng_detector_t *det, uint32_t idx)
{
    uint32_t g = eng_things_gateway(det->things, idx);
    uint32_t from, to;
    while (eng_catchup_run_first(det->cu, g, &from, &to) && from <= det->horizon) {
        eng_catchup_run_pop(det->cu, g);
        gw_apply(det, idx, from, to, false);
    }
    const eng_thing_t *th = rec(det, idx);
    if (!(th->flags & ENG_THING_GW_OPEN) && gw_monitored(th) &&
        add_sat(gw_of(det, idx)->relayed, det->gw_timeout) <= det->horizon)
        open_gw(det, idx);
    place_gw(det, idx, true);
}

static void fire_gateway(eng_detector_t *det, const eng_heap_entry_t *top)
{
    uint32_t idx = eng_things_gw(det->things, top->id)->thing;
    bool want;
    uint32_t key = gw_key(det, idx, &want);
    if (want && key > top->key) {
        eng_heap_update(gw_heap(det), 0, key);
        return;
    }
    gw_advance(det, idx);
}

/* Returns true when th's parent gateway would be due by d but is not decided
 * that far yet (catching up: the horizon, held back by a partition that may
 * still relay it, is before d): whether th is held back is not known yet. */
static bool parent_pending(eng_detector_t *det, const eng_thing_t *th, uint32_t d)
{
    if (!det->inhibit || th->parent == ENG_THING_NONE || det->horizon >= d) return false;
    const eng_thing_t *parent = rec(det, th->parent);
    if (!(parent->flags & ENG_THING_GATEWAY) || (parent->flags & ENG_THING_GW_OPEN) ||
        !gw_monitored(parent))
        return false;
    return add_sat(gw_of(det, th->parent)->relayed, det->gw_timeout) <= d;
}

/* A due heartbeat: opens, or joins the parent's list while the parent's
 * gateway window is open (inhibition), or waits past clock while the
 * parent's window is not decided yet. */
static void fire_heartbeat(eng_detector_t *det, eng_heap_t *heap, const eng_heap_entry_t *top,
                           uint32_t clock)
{
    uint32_t idx = top->id;
    uint32_t d = hb_deadline(det, idx);
    if (d > top->key) {
        eng_heap_update(heap, 0, d);
        return;
    }
    eng_heap_pop(heap);
    eng_thing_t *th = rec(det, idx);
    if (det->inhibit && th->parent != ENG_THING_NONE &&
        (rec(det, th->parent)->flags & ENG_THING_GW_OPEN)) {
        eng_gateway_t *gw = gw_of(det, th->parent);
        th->flags |= ENG_THING_INHIBITED;
        th->link = gw->inh;
        gw->inh = idx;
        return;
    }
    if (parent_pending(det, th, d)) {
        /* Back in the heap, keyed past the clock (later than its deadline:
         * the one exception to the lazy rule), so it is decided again at the
         * next tick or message, once the horizon may have passed d. */
        eng_heap_push(heap, add_sat(clock, 1), idx);
        return;
    }
    open_hb(det, idx);
}

/* Fires the gateway deadlines <= the horizon and the heartbeat deadlines of
 * heaps[i] <= clocks[i] (a heap may be NULL), in (deadline, gateway before
 * heartbeat, index) order across all of them: a gateway due in the same
 * second as its sensor opens first, so the sensor is inhibited. */
static void fire_heaps(eng_detector_t *det, eng_heap_t *const *heaps, const uint32_t *clocks,
                       size_t n)
{
    if (eng_things_slots(det->things) == 0) return;
    for (size_t i = 0; i < n; i++)
        bind_hb(det, heaps[i]);
    for (;;) {
        const eng_heap_entry_t *g = det->gw.len ? eng_heap_top(gw_heap(det)) : NULL;
        const eng_heap_entry_t *h = NULL;
        eng_heap_t *hheap = NULL;
        uint32_t hclock = 0;
        for (size_t i = 0; i < n; i++) {
            const eng_heap_entry_t *top = heaps[i] ? eng_heap_top(heaps[i]) : NULL;
            if (top && top->key <= clocks[i] &&
                (!h || top->key < h->key || (top->key == h->key && top->id < h->id)))
                h = top, hheap = heaps[i], hclock = clocks[i];
        }
        if (g && g->key <= det->horizon && (!h || g->key <= h->key))
            fire_gateway(det, g);
        else if (h)
            fire_heartbeat(det, hheap, h, hclock);
        else
            break;
    }
}

/* Fires what a message on part can make due: its partition's deadlines, and
 * those that a restore, a drop or a status change put behind the clock for
 * things of no partition. */
static void fire_message(eng_detector_t *det, uint16_t part)
{
    eng_heap_t *heaps[2] = {&det->hb, part_heap(det, part, false)};
    uint32_t clocks[2] = {det->now, part_clock(det, part)};
    fire_heaps(det, heaps, clocks, heaps[1] == heaps[0] ? 1 : 2);
}

/* Fires what is due everywhere. */
static void fire(eng_detector_t *det)
{
    update_horizon(det);
    size_t n = det->nheap_parts + 1;
    eng_heap_t **heaps = det->fire_heaps;
    uint32_t *clocks = det->fire_clocks;
    heaps[0] = &det->hb;
    clocks[0] = det->now;
    for (size_t i = 1; i < n; i++) {
        heaps[i] = det->part_hb[det->heap_parts[i - 1]];
        clocks[i] = part_clock(det, det->heap_parts[i - 1]);
    }
    fire_heaps(det, heaps, clocks, n);
}

/* ---- entry points -------------------------------------------------------- */

void eng_detector_tick(eng_detector_t *det, uint32_t wall_now)
{
    if (wall_now > det->wall) det->wall = wall_now;
    if (!det->event_clock && det->wall > det->now) det->now = det->wall;
    fire(det);
}

/* Returns idx as a gateway's thing: adds its gateway entry and sets *fresh
 * when it was none before (its first relay decides nothing). */
static uint32_t make_gateway(eng_detector_t *det, uint32_t idx, bool *fresh)
{
    *fresh = !(rec(det, idx)->flags & ENG_THING_GATEWAY);
    eng_things_make_gateway(det->things, idx);
    return idx;
}

uint32_t eng_detector_observe(eng_detector_t *det, const proto_msg_t *msg, uint16_t part,
                              eng_detector_obs_t *obs)
{
    uint32_t ts = effective(det, msg->ts_sec);
    if (det->event_clock && ts > det->now) det->now = ts;
    if (det->event_clock || eng_catchup_observe(det->cu, part, ts, det->horizon))
        update_horizon(det);
    fire_message(det, part);
    uint32_t idx = eng_things_add(det->things, msg->tuid, msg->tuid_len, ENG_PART_NONE, NULL);
    set_part(det, idx, part);
    bool self_fresh = !(rec(det, idx)->flags & ENG_THING_GATEWAY), gw_fresh = false;
    uint32_t gwi = ENG_THING_NONE;
    if ((msg->flags & PROTO_HAS_GW) && msg->gw_len >= 1 && msg->gw_len <= PROTO_TUID_MAX) {
        gwi = eng_things_add(det->things, msg->gw, msg->gw_len, ENG_PART_NONE, NULL);
        make_gateway(det, gwi, &gw_fresh);
    }
    eng_thing_t *th = rec(det, idx);
    bool was_heard = th->flags & ENG_THING_HEARD;
    uint32_t old_heard = th->heard;
    /* A held-back child leaves its parent's list; if it is still due it is
     * re-scheduled below and decided again (inhibited or opened). */
    if (th->flags & ENG_THING_INHIBITED) unlink_inhibited(det, idx);
    /* A deadline that waited for its parent gateway's decision (catching up)
     * and that this message of its own ends: the data shows the gap, and the
     * gateway is not known to be down, so the window opens and closes. */
    th = rec(det, idx);
    if (was_heard && ts > old_heard && in_hb_heap(th) && !(th->flags & ENG_THING_HB_OPEN) &&
        hb_deadline(det, idx) <= part_clock(det, part) && ts >= hb_deadline(det, idx))
        open_hb(det, idx);
    unsigned changed = eng_things_merge_at(det->things, idx, msg, ts, gwi);
    th = rec(det, idx);
    if ((th->flags & ENG_THING_HB_OPEN) && (!was_heard || ts > old_heard))
        close_hb(det, idx, was_heard ? old_heard : 0, ts);
    if (rec(det, idx)->flags & ENG_THING_GATEWAY) gw_relay(det, idx, ts, ts, self_fresh);
    if (gwi != ENG_THING_NONE && gwi != idx) gw_relay(det, gwi, ts, ts, gw_fresh);
    /* Already scheduled and heard before: heard only grew, so the deadline
     * only moved later and the key is re-checked when it comes due (the lazy
     * scheme: no heap access per message). A first message can move an
     * installed thing's deadline earlier (heard < I), so it goes through. */
    if (!(was_heard && in_hb_heap(rec(det, idx)))) schedule_hb(det, idx);
    fire_message(det, part);
    if (obs) *obs = (eng_detector_obs_t){changed, ts, gwi};
    return idx;
}

bool eng_detector_set_status(eng_detector_t *det, uint32_t idx, eng_status_t status, uint32_t at)
{
    eng_thing_t *th = rec(det, idx);
    if (at < th->status_at) return false;
    th->status = (uint8_t)status;
    th->status_at = at;
    if (!hb_monitored(th)) {
        if (th->flags & ENG_THING_HB_OPEN) close_hb(det, idx, hb_from(th), at);
        if (rec(det, idx)->flags & ENG_THING_INHIBITED) unlink_inhibited(det, idx);
    }
    th = rec(det, idx);
    if ((th->flags & ENG_THING_GW_OPEN) && !gw_monitored(th))
        close_gw(det, idx, gw_of(det, idx)->relayed, at);
    schedule_hb(det, idx);
    schedule_gw(det, idx);
    fire(det);
    return true;
}

/* Raises a to b. */
static void raise_to(uint32_t *a, uint32_t b)
{
    if (b > *a) *a = b;
}

static void raise_clock(eng_detector_t *det, uint32_t ts)
{
    if (det->event_clock) raise_to(&det->now, effective(det, ts));
}

uint32_t eng_detector_restore_thing(eng_detector_t *det, const eng_detector_restore_t *r)
{
    uint32_t idx = eng_things_add(det->things, r->tuid, r->len, ENG_PART_NONE, NULL);
    set_part(det, idx, r->part);
    uint32_t parent = ENG_THING_NONE;
    if (r->gateway && r->gateway_len > 0 && r->gateway_len <= PROTO_TUID_MAX)
        parent = eng_things_add(det->things, r->gateway, r->gateway_len, ENG_PART_NONE, NULL);
    eng_thing_t *th = rec(det, idx);
    if (th->flags & ENG_THING_INHIBITED) unlink_inhibited(det, idx);
    th = rec(det, idx);
    if (r->heard) {
        if (!(th->flags & ENG_THING_HEARD)) th->heard = r->timestamp;
        raise_to(&th->heard, r->timestamp);
        th->flags |= ENG_THING_HEARD;
        raise_clock(det, r->timestamp);
    }
    if (parent != ENG_THING_NONE && r->t_gw >= th->t_gw) th->parent = parent;
    raise_to(&th->t_gw, r->t_gw);
    raise_to(&th->t_batl, r->t_batl);
    raise_to(&th->t_loc, r->t_loc);
    raise_to(&th->t_ver, r->t_ver);
    if (r->status_at >= th->status_at) {
        th->status = (uint8_t)r->status;
        th->status_at = r->status_at;
    }
    if (r->hb_open && !(th->flags & ENG_THING_HB_OPEN)) {
        /* from = heard(T) while open. If Redis holds a newer timestamp, the
         * closing message's writes were not all acknowledged, so its offset
         * was not committed and it will be redelivered: roll liveness back to
         * from and let that message close the window. */
        th->heard = r->hb_from;
        if (r->hb_from != 0 || r->heard) th->flags |= ENG_THING_HEARD;
        th->flags |= ENG_THING_HB_OPEN;
        det->open[ENG_ALERT_HEARTBEAT]++;
    }
    schedule_hb(det, idx);
    schedule_gw(det, idx);
    return idx;
}

uint32_t eng_detector_restore_gateway(eng_detector_t *det, const char *tuid, size_t len,
                                      uint16_t part, uint32_t relayed, bool gw_open,
                                      uint32_t gw_from)
{
    uint32_t idx = eng_things_add(det->things, tuid, len, ENG_PART_NONE, NULL);
    set_part(det, idx, part);
    eng_gateway_t *gw = eng_things_gw(det->things, eng_things_make_gateway(det->things, idx));
    raise_to(&gw->relayed, relayed);
    raise_clock(det, relayed);
    eng_thing_t *th = rec(det, idx);
    if (gw_open && !(th->flags & ENG_THING_GW_OPEN)) {
        gw->relayed = gw_from; /* as for hb_from: from = relayed(G) while open */
        th->flags |= ENG_THING_GW_OPEN;
        det->open[ENG_ALERT_GATEWAY]++;
    }
    schedule_gw(det, idx);
    return idx;
}

/* Drop, step 1: retained gateways keep only retained children in their lists;
 * retained things whose parent goes lose it (and leave its list). */
static void drop_unlink(eng_detector_t *det)
{
    eng_things_t *things = det->things;
    for (uint32_t g = 0; g < eng_things_gw_slots(things); g++) {
        eng_gateway_t *gw = &eng_things_gw_base(things)[g];
        if (gw->thing == ENG_THING_NONE || (rec(det, gw->thing)->flags & ENG_THING_DROP)) continue;
        uint32_t *p = &gw->inh;
        while (*p != ENG_THING_NONE) {
            eng_thing_t *child = rec(det, *p);
            if (child->flags & ENG_THING_DROP)
                *p = child->link;
            else
                p = &child->link;
        }
    }
    for (uint32_t i = 0; i < eng_things_slots(things); i++) {
        eng_thing_t *th = &eng_things_base(things)[i];
        if (th->flags & (ENG_THING_DEAD | ENG_THING_DROP)) continue;
        if (th->parent == ENG_THING_NONE || !(rec(det, th->parent)->flags & ENG_THING_DROP))
            continue;
        if (th->flags & ENG_THING_INHIBITED) {
            th->flags &= (uint8_t)~ENG_THING_INHIBITED;
            th->link = ENG_HEAP_NONE;
        }
        th->parent = ENG_THING_NONE;
        schedule_hb(det, i);
    }
}

uint32_t eng_detector_drop_partition(eng_detector_t *det, uint16_t part)
{
    eng_things_t *things = det->things;
    uint32_t n = eng_things_slots(things), dropped = 0;
    eng_catchup_drop(det->cu, part);
    update_horizon(det);
    for (uint32_t i = 0; i < n; i++) {
        eng_thing_t *th = &eng_things_base(things)[i];
        if (!(th->flags & ENG_THING_DEAD) && th->part == part) {
            th->flags |= ENG_THING_DROP;
            dropped++;
        }
    }
    if (dropped == 0) return 0;
    drop_unlink(det);
    for (uint32_t i = 0; i < n; i++) {
        eng_thing_t *th = &eng_things_base(things)[i];
        if (!(th->flags & ENG_THING_DROP)) continue;
        if (in_hb_heap(th)) eng_heap_remove(part_heap(det, th->part, false), th->link);
        if (th->flags & ENG_THING_GATEWAY) {
            uint32_t g = eng_things_gateway(things, i);
            eng_gateway_t *gw = eng_things_gw(things, g);
            if (gw->hpos != ENG_HEAP_NONE) eng_heap_remove(gw_heap(det), gw->hpos);
            eng_catchup_run_clear(det->cu, g);
        }
        if (th->flags & ENG_THING_HB_OPEN) det->open[ENG_ALERT_HEARTBEAT]--;
        if (th->flags & ENG_THING_GW_OPEN) det->open[ENG_ALERT_GATEWAY]--;
        eng_things_remove(things, i);
    }
    return dropped;
}

uint32_t eng_detector_now(const eng_detector_t *det)
{
    return det->now;
}

bool eng_detector_alerting(const eng_detector_t *det, uint32_t idx)
{
    return eng_things_cat(det->things, idx)->flags & (ENG_THING_HB_OPEN | ENG_THING_GW_OPEN);
}

bool eng_detector_is_open(const eng_detector_t *det, uint32_t idx, eng_alert_t type)
{
    uint8_t bit = type == ENG_ALERT_HEARTBEAT ? ENG_THING_HB_OPEN : ENG_THING_GW_OPEN;
    return eng_things_cat(det->things, idx)->flags & bit;
}

uint64_t eng_detector_open_count(const eng_detector_t *det, eng_alert_t type)
{
    return (unsigned)type < ENG_ALERT_COUNT ? det->open[type] : 0;
}

uint64_t eng_detector_scheduled(const eng_detector_t *det)
{
    uint64_t n = (uint64_t)det->hb.len + det->gw.len;
    for (size_t i = 0; i < det->nheap_parts; i++)
        n += det->part_hb[det->heap_parts[i]]->len;
    return n;
}

size_t eng_detector_bytes(const eng_detector_t *det)
{
    size_t n = sizeof *det + eng_heap_bytes(&det->hb) + eng_heap_bytes(&det->gw) +
               det->nprefixes * sizeof *det->prefixes + eng_catchup_bytes(det->cu);
    for (size_t i = 0; i < det->nheap_parts; i++)
        n += eng_heap_bytes(det->part_hb[det->heap_parts[i]]);
    return n;
}

/* ---- catching up --------------------------------------------------------- */

void eng_detector_part_assign(eng_detector_t *det, uint16_t part)
{
    eng_catchup_assign(det->cu, part);
    update_horizon(det);
}

void eng_detector_part_live(eng_detector_t *det, uint16_t part, bool live)
{
    if (!eng_catchup_set_live(det->cu, part, live)) return;
    /* Caught up: the wall clock takes over and whatever is overdue opens. */
    fire(det);
}

void eng_detector_all_behind(eng_detector_t *det)
{
    if (eng_catchup_all_behind(det->cu)) update_horizon(det);
}

void eng_detector_set_partitions(eng_detector_t *det, uint32_t n)
{
    eng_catchup_set_partitions(det->cu, n);
    update_horizon(det);
}

void eng_detector_remote_part(eng_detector_t *det, uint16_t part, uint32_t etime, bool live)
{
    if (eng_catchup_state(det->cu, part) != ENG_PART_UNTRACKED) return; /* ours now */
    eng_catchup_remote(det->cu, part, effective(det, etime), live, det->wall);
    fire(det);
}

const eng_catchup_t *eng_detector_catchup(const eng_detector_t *det)
{
    return det->cu;
}

uint32_t eng_detector_horizon(const eng_detector_t *det)
{
    return det->horizon;
}

/* ---- scale-out ----------------------------------------------------------- */

void eng_detector_set_gateway_owner(eng_detector_t *det,
                                    bool (*owned)(void *arg, const char *tuid, size_t len),
                                    void *arg)
{
    det->gw_owned = owned;
    det->gw_owned_arg = arg;
}

void eng_detector_reown_gateways(eng_detector_t *det)
{
    uint32_t n = eng_things_gw_slots(det->things);
    for (uint32_t g = 0; g < n; g++) {
        eng_gateway_t *gw = eng_things_gw(det->things, g);
        if (gw->thing != ENG_THING_NONE) schedule_gw(det, gw->thing);
    }
    fire(det);
}

void eng_detector_window_counts(const eng_detector_t *det, eng_alert_t type, uint64_t *opened,
                                uint64_t *closed)
{
    *opened = det->opened[type];
    *closed = det->closed[type];
}

void eng_detector_set_timeouts(eng_detector_t *det, const eng_detector_conf_t *conf)
{
    take_timeouts(det, conf);
    uint32_t n = eng_things_slots(det->things);
    for (uint32_t idx = 0; idx < n; idx++) {
        eng_thing_t *th = rec(det, idx);
        if (th->flags & ENG_THING_DEAD) continue;
        th->tclass = 0; /* the prefix list changed: match again */
        schedule_hb(det, idx);
        schedule_gw(det, idx);
    }
    fire(det);
}

void eng_detector_relay(eng_detector_t *det, const char *tuid, size_t len, uint32_t from,
                        uint32_t to)
{
    if (det->gw_owned && !det->gw_owned(det->gw_owned_arg, tuid, len)) return;
    from = effective(det, from);
    to = effective(det, to);
    if (to < from) to = from;
    /* As a local message: the event clock moves to the first relay before it
     * applies (not to the last: the relays between are not known one by one,
     * and a clock past them would see a gap they fill). */
    if (det->event_clock && from > det->now) {
        det->now = from;
        fire(det);
    }
    /* A gateway heard only through other instances becomes one here too, as a
     * local relay makes it (its owner decides its window). */
    bool fresh;
    uint32_t idx =
        make_gateway(det, eng_things_add(det->things, tuid, len, ENG_PART_NONE, NULL), &fresh);
    gw_relay(det, idx, from, to, fresh);
    fire(det);
}

void eng_detector_remote_gateway(eng_detector_t *det, const char *tuid, size_t len, bool open,
                                 uint32_t from, uint32_t to)
{
    uint32_t idx = eng_things_get(det->things, tuid, len);
    if (idx == ENG_THING_NONE || gw_owned(det, idx)) return;
    eng_thing_t *th = rec(det, idx);
    if (!(th->flags & ENG_THING_GATEWAY)) return;
    eng_gateway_t *gw = gw_of(det, idx);
    if (open && !(th->flags & ENG_THING_GW_OPEN)) {
        th->flags |= ENG_THING_GW_OPEN;
        det->open[ENG_ALERT_GATEWAY]++;
        gw->relayed = from;
        return;
    }
    if (open || !(th->flags & ENG_THING_GW_OPEN)) return;
    /* The owner closed it: release the children held back here, still silent. */
    th->flags &= (uint8_t)~ENG_THING_GW_OPEN;
    det->open[ENG_ALERT_GATEWAY]--;
    if (to > gw->relayed) gw->relayed = to;
    uint32_t child = gw->inh;
    gw->inh = ENG_THING_NONE;
    while (child != ENG_THING_NONE) {
        eng_thing_t *c = rec(det, child);
        uint32_t next = c->link;
        c->flags &= (uint8_t)~ENG_THING_INHIBITED;
        c->link = ENG_HEAP_NONE;
        open_hb(det, child);
        child = next;
    }
}
