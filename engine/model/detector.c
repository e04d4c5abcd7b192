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
    eng_heap_t hb; /* id = thing index, position in eng_thing_t.link */
    eng_heap_t gw; /* id = gateway entry, position in eng_gateway_t.hpos */
    uint64_t open[ENG_ALERT_COUNT];
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

eng_detector_t *eng_detector_new(eng_things_t *things, const eng_detector_conf_t *conf,
                                 const eng_detector_cb_t *cb)
{
    eng_detector_t *det = eng_calloc(1, sizeof *det);
    det->things = things;
    det->cb = *cb;
    det->event_clock = conf->event_clock;
    det->inhibit = conf->inhibit_by_gateway;
    det->hb_timeout = conf->heartbeat_timeout;
    det->gw_timeout = conf->gateway_timeout;
    det->skew = conf->max_clock_skew;
    size_t n =
        conf->nprefixes < ENG_DETECTOR_MAX_PREFIXES ? conf->nprefixes : ENG_DETECTOR_MAX_PREFIXES;
    if (n < conf->nprefixes) ENG_WARN("too many heartbeat prefixes", " kept=%zu", n);
    det->prefixes = eng_calloc(n ? n : 1, sizeof *det->prefixes);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(conf->prefixes[i].prefix);
        if (len > PROTO_TUID_MAX) len = PROTO_TUID_MAX;
        memcpy(det->prefixes[det->nprefixes].s, conf->prefixes[i].prefix, len);
        det->prefixes[det->nprefixes].len = (uint32_t)len;
        det->prefixes[det->nprefixes].seconds = clamp_u32(conf->prefixes[i].seconds);
        det->nprefixes++;
    }
    eng_heap_init(&det->hb);
    eng_heap_init(&det->gw);
    return det;
}

void eng_detector_free(eng_detector_t *det)
{
    if (det == NULL) return;
    eng_heap_close(&det->hb);
    eng_heap_close(&det->gw);
    free(det->prefixes);
    free(det);
}

eng_things_t *eng_detector_things(eng_detector_t *det)
{
    return det->things;
}

/* Records may move whenever a thing or gateway is added: re-bind both heaps
 * before touching them. */
static eng_heap_t *hb_heap(eng_detector_t *det)
{
    eng_thing_t *base = eng_things_base(det->things);
    if (base) eng_heap_bind(&det->hb, &base->link, sizeof *base);
    return &det->hb;
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

/* Puts idx's heartbeat deadline where the invariants say: out of the heap when
 * not monitored, open or inhibited; else in it, moved earlier if the real
 * deadline is earlier than its key (later ones are re-keyed lazily). */
static void schedule_hb(eng_detector_t *det, uint32_t idx)
{
    eng_thing_t *th = rec(det, idx);
    eng_heap_t *heap = hb_heap(det);
    if (!hb_monitored(th) || (th->flags & (ENG_THING_HB_OPEN | ENG_THING_INHIBITED))) {
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

static void schedule_gw(eng_detector_t *det, uint32_t idx)
{
    eng_thing_t *th = rec(det, idx);
    if (!(th->flags & ENG_THING_GATEWAY)) return;
    uint32_t g = eng_things_gateway(det->things, idx);
    eng_gateway_t *gw = eng_things_gw(det->things, g);
    eng_heap_t *heap = gw_heap(det);
    if (!gw_monitored(th) || (th->flags & ENG_THING_GW_OPEN) || !gw_owned(det, idx)) {
        if (gw->hpos != ENG_HEAP_NONE) eng_heap_remove(heap, gw->hpos);
        return;
    }
    uint32_t d = add_sat(gw->relayed, det->gw_timeout);
    if (gw->hpos == ENG_HEAP_NONE)
        eng_heap_push(heap, d, g);
    else if (d < heap->v[gw->hpos].key)
        eng_heap_update(heap, gw->hpos, d);
}

static void fire_gateway(eng_detector_t *det, const eng_heap_entry_t *top)
{
    eng_heap_t *heap = gw_heap(det);
    eng_gateway_t *gw = eng_things_gw(det->things, top->id);
    uint32_t d = add_sat(gw->relayed, det->gw_timeout);
    if (d > top->key) {
        eng_heap_update(heap, 0, d);
        return;
    }
    uint32_t idx = gw->thing;
    eng_heap_pop(heap);
    open_gw(det, idx);
}

/* A due heartbeat: opens, or joins the parent's list while the parent's
 * gateway window is open (inhibition). */
static void fire_heartbeat(eng_detector_t *det, const eng_heap_entry_t *top)
{
    uint32_t idx = top->id;
    uint32_t d = hb_deadline(det, idx);
    eng_heap_t *heap = hb_heap(det);
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
    open_hb(det, idx);
}

/* Fires every deadline <= now in (deadline, gateway before heartbeat, index)
 * order: a gateway due in the same second as its sensor opens first, so the
 * sensor is inhibited. */
static void fire(eng_detector_t *det, uint32_t now)
{
    if (eng_things_slots(det->things) == 0) return;
    for (;;) {
        const eng_heap_entry_t *g = det->gw.len ? eng_heap_top(gw_heap(det)) : NULL;
        const eng_heap_entry_t *h = eng_heap_top(hb_heap(det));
        if (g && g->key <= now && (!h || g->key <= h->key))
            fire_gateway(det, g);
        else if (h && h->key <= now)
            fire_heartbeat(det, h);
        else
            break;
    }
}

/* ---- entry points -------------------------------------------------------- */

void eng_detector_tick(eng_detector_t *det, uint32_t wall_now)
{
    if (wall_now > det->wall) det->wall = wall_now;
    if (!det->event_clock && det->wall > det->now) det->now = det->wall;
    fire(det, det->now);
}

/* relayed(G) moves to ts; a newer message closes G's open window at ts. */
static void gateway_seen(eng_detector_t *det, uint32_t idx, uint32_t ts)
{
    eng_gateway_t *gw = gw_of(det, idx);
    uint32_t old = gw->relayed;
    if (ts > gw->relayed) gw->relayed = ts;
    /* Another instance decides a gateway it owns; its close reaches us
     * through eng_detector_remote_gateway(). */
    if ((rec(det, idx)->flags & ENG_THING_GW_OPEN) && ts > old && gw_owned(det, idx))
        close_gw(det, idx, old, ts);
    schedule_gw(det, idx);
}

uint32_t eng_detector_observe(eng_detector_t *det, const proto_msg_t *msg, uint16_t part,
                              eng_detector_obs_t *obs)
{
    uint32_t ts = effective(det, msg->ts_sec);
    if (det->event_clock && ts > det->now) det->now = ts;
    fire(det, det->now);
    uint32_t idx = eng_things_add(det->things, msg->tuid, msg->tuid_len, part, NULL);
    uint32_t gwi = ENG_THING_NONE;
    if ((msg->flags & PROTO_HAS_GW) && msg->gw_len >= 1 && msg->gw_len <= PROTO_TUID_MAX) {
        gwi = eng_things_add(det->things, msg->gw, msg->gw_len, ENG_PART_NONE, NULL);
        eng_things_make_gateway(det->things, gwi);
    }
    eng_thing_t *th = rec(det, idx);
    bool was_heard = th->flags & ENG_THING_HEARD;
    uint32_t old_heard = th->heard;
    /* A held-back child leaves its parent's list; if it is still due it is
     * re-scheduled below and decided again (inhibited or opened). */
    if (th->flags & ENG_THING_INHIBITED) unlink_inhibited(det, idx);
    unsigned changed = eng_things_merge_at(det->things, idx, msg, ts, gwi);
    th = rec(det, idx);
    if ((th->flags & ENG_THING_HB_OPEN) && (!was_heard || ts > old_heard))
        close_hb(det, idx, was_heard ? old_heard : 0, ts);
    if (rec(det, idx)->flags & ENG_THING_GATEWAY) gateway_seen(det, idx, ts);
    if (gwi != ENG_THING_NONE && gwi != idx) gateway_seen(det, gwi, ts);
    /* Already scheduled and heard before: heard only grew, so the deadline
     * only moved later and the key is re-checked when it comes due (the lazy
     * scheme: no heap access per message). A first message can move an
     * installed thing's deadline earlier (heard < I), so it goes through. */
    if (!(was_heard && in_hb_heap(rec(det, idx)))) schedule_hb(det, idx);
    fire(det, det->now);
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
    fire(det, det->now);
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
    uint32_t idx = eng_things_add(det->things, r->tuid, r->len, r->part, NULL);
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
    uint32_t idx = eng_things_add(det->things, tuid, len, part, NULL);
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
        if (in_hb_heap(th)) eng_heap_remove(hb_heap(det), th->link);
        if (th->flags & ENG_THING_GATEWAY) {
            eng_gateway_t *gw = gw_of(det, i);
            if (gw->hpos != ENG_HEAP_NONE) eng_heap_remove(gw_heap(det), gw->hpos);
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
    return (uint64_t)det->hb.len + det->gw.len;
}

size_t eng_detector_bytes(const eng_detector_t *det)
{
    return sizeof *det + eng_heap_bytes(&det->hb) + eng_heap_bytes(&det->gw) +
           det->nprefixes * sizeof *det->prefixes;
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
    fire(det, det->now);
}

void eng_detector_relay(eng_detector_t *det, const char *tuid, size_t len, uint32_t ts)
{
    uint32_t idx = eng_things_get(det->things, tuid, len);
    if (idx == ENG_THING_NONE || !gw_owned(det, idx)) return;
    if (!(rec(det, idx)->flags & ENG_THING_GATEWAY)) return;
    gateway_seen(det, idx, effective(det, ts));
    fire(det, det->now);
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
