/* test_detector_model.c - the detector against a brute-force reference of the
 * rules in docs/DETECTOR.md (linear scans: no heap, no lazy keys, no lists, no
 * hash) on seeded random streams: after every step both must agree on every
 * thing's open windows, and in the end on every window. */
#include "engine/model/detector.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXT 64
#define HB 100u
#define HB_S1 60u /* prefix "S1" */
#define GWT 10u
#define SKEW 300u

typedef struct mthing_s {
    char tuid[8];
    bool heard_f, is_gw, hb_open, gw_open, held;
    uint32_t heard, t_gw, relayed, status_at, hb_from, gw_from;
    int parent, status;
} mthing_t;

typedef struct model_s {
    mthing_t t[MAXT];
    int n;
    bool event_clock, inhibit;
    uint32_t wall, now;
    char *log;
    size_t len, cap;
} model_t;

static void append(char **buf, size_t *len, size_t *cap, const char *line)
{
    size_t n = strlen(line);
    if (*len + n + 1 > *cap) {
        *cap = (*cap + n + 1) * 2;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, line, n + 1);
    *len += n;
}

static void m_emit(model_t *m, int i, bool gw, bool open, uint32_t from, uint32_t to)
{
    char line[96];
    if (open)
        snprintf(line, sizeof line, "%s %s open %u -\n", m->t[i].tuid, gw ? "gw" : "hb", from);
    else
        snprintf(line, sizeof line, "%s %s close %u %u\n", m->t[i].tuid, gw ? "gw" : "hb", from,
                 to);
    append(&m->log, &m->len, &m->cap, line);
}

static int m_get(model_t *m, const char *tuid)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->t[i].tuid, tuid) == 0) return i;
    cr_assert(m->n < MAXT);
    mthing_t *t = &m->t[m->n];
    memset(t, 0, sizeof *t);
    snprintf(t->tuid, sizeof t->tuid, "%s", tuid);
    t->parent = -1;
    return m->n++;
}

static uint32_t m_timeout(const mthing_t *t)
{
    return strncmp(t->tuid, "S1", 2) == 0 ? HB_S1 : HB;
}

static bool m_hb_mon(const mthing_t *t)
{
    return t->status == ENG_STATUS_INSTALLED || (t->status == ENG_STATUS_NONE && t->heard_f);
}

static bool m_gw_mon(const mthing_t *t)
{
    return t->is_gw && (t->status == ENG_STATUS_INSTALLED || t->status == ENG_STATUS_NONE);
}

static void m_open_hb(model_t *m, int i)
{
    mthing_t *t = &m->t[i];
    t->hb_open = true;
    t->hb_from = t->heard_f ? t->heard : 0;
    m_emit(m, i, false, true, t->hb_from, 0);
}

static void m_close_gw(model_t *m, int g, uint32_t to)
{
    mthing_t *t = &m->t[g];
    t->gw_open = false;
    m_emit(m, g, true, false, t->gw_from, to > t->gw_from ? to : t->gw_from);
    for (int i = 0; i < m->n; i++)
        if (m->t[i].held && m->t[i].parent == g) {
            m->t[i].held = false;
            m_open_hb(m, i);
        }
}

static void m_close_hb(model_t *m, int i, uint32_t to)
{
    mthing_t *t = &m->t[i];
    t->hb_open = false;
    m_emit(m, i, false, false, t->hb_from, to > t->hb_from ? to : t->hb_from);
}

static void m_fire(model_t *m)
{
    for (;;) {
        int best = -1;
        bool best_gw = false;
        uint32_t best_d = 0;
        for (int i = 0; i < m->n; i++) {
            mthing_t *t = &m->t[i];
            if (m_gw_mon(t) && !t->gw_open) {
                uint32_t d = t->relayed + GWT;
                if (d <= m->now && (best < 0 || d < best_d || (d == best_d && !best_gw))) {
                    best = i, best_gw = true, best_d = d;
                }
            }
            if (m_hb_mon(t) && !t->hb_open && !t->held) {
                uint32_t d = (t->heard_f ? t->heard : t->status_at) + m_timeout(t);
                if (d <= m->now && (best < 0 || d < best_d)) best = i, best_gw = false, best_d = d;
            }
        }
        if (best < 0) return;
        mthing_t *t = &m->t[best];
        if (best_gw) {
            t->gw_open = true;
            t->gw_from = t->relayed;
            m_emit(m, best, true, true, t->gw_from, 0);
        } else if (m->inhibit && t->parent >= 0 && m->t[t->parent].gw_open) {
            t->held = true;
        } else {
            m_open_hb(m, best);
        }
    }
}

static void m_gw_seen(model_t *m, int g, uint32_t ts)
{
    mthing_t *t = &m->t[g];
    uint32_t old = t->relayed;
    if (ts > t->relayed) t->relayed = ts;
    if (t->gw_open && ts > old) m_close_gw(m, g, ts);
}

static void m_observe(model_t *m, const char *tuid, uint32_t ts, const char *gw)
{
    uint32_t e = m->wall && ts > m->wall + SKEW ? m->wall : ts;
    if (m->event_clock && e > m->now) m->now = e;
    m_fire(m);
    int i = m_get(m, tuid);
    int g = gw ? m_get(m, gw) : -1;
    if (g >= 0 && !m->t[g].is_gw) {
        m->t[g].is_gw = true;
        m->t[g].relayed = m->t[g].heard;
    }
    mthing_t *t = &m->t[i];
    bool was_heard = t->heard_f;
    uint32_t old_heard = t->heard;
    t->held = false;
    if (!t->heard_f || e > t->heard) t->heard = e, t->heard_f = true;
    if (g >= 0 && e >= t->t_gw) t->t_gw = e, t->parent = g;
    if (t->hb_open && (!was_heard || e > old_heard)) m_close_hb(m, i, e);
    if (t->is_gw) m_gw_seen(m, i, e);
    if (g >= 0 && g != i) m_gw_seen(m, g, e);
    m_fire(m);
}

static void m_status(model_t *m, const char *tuid, int status, uint32_t at)
{
    int i = m_get(m, tuid);
    mthing_t *t = &m->t[i];
    if (at < t->status_at) return;
    t->status = status;
    t->status_at = at;
    if (!m_hb_mon(t)) {
        if (t->hb_open) m_close_hb(m, i, at);
        t->held = false;
    }
    if (t->gw_open && !m_gw_mon(t)) m_close_gw(m, i, at);
    m_fire(m);
}

static void m_tick(model_t *m, uint32_t wall)
{
    if (wall > m->wall) m->wall = wall;
    if (!m->event_clock && m->wall > m->now) m->now = m->wall;
    m_fire(m);
}

/* ---- the detector side ---------------------------------------------------- */

typedef struct real_s {
    char *log;
    size_t len, cap;
} real_t;

static void on_window(void *arg, const eng_window_t *win)
{
    real_t *r = arg;
    char line[128];
    if (win->open)
        snprintf(line, sizeof line, "%.*s %s open %u -\n", (int)win->tuid_len, win->tuid,
                 win->type == ENG_ALERT_HEARTBEAT ? "hb" : "gw", win->from);
    else
        snprintf(line, sizeof line, "%.*s %s close %u %u\n", (int)win->tuid_len, win->tuid,
                 win->type == ENG_ALERT_HEARTBEAT ? "hb" : "gw", win->from, win->to);
    append(&r->log, &r->len, &r->cap, line);
}

static void r_observe(eng_detector_t *det, const char *tuid, uint32_t ts, const char *gw)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.tuid_len = (uint8_t)strlen(tuid);
    memcpy(msg.tuid, tuid, msg.tuid_len);
    if (gw) {
        msg.gw_len = (uint8_t)strlen(gw);
        memcpy(msg.gw, gw, msg.gw_len);
        msg.flags = PROTO_HAS_GW;
    }
    msg.ts_sec = ts;
    eng_detector_observe(det, &msg, 0, NULL);
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the log's lines sorted, joined by '\n' (order within a fire may
 * differ between the two: same-kind ties, list order). */
static char *sorted(const char *log)
{
    char *copy = strdup(log ? log : "");
    size_t n = 0, cap = 16;
    char **lines = malloc(cap * sizeof *lines);
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (n == cap) lines = realloc(lines, (cap *= 2) * sizeof *lines);
        lines[n++] = l;
    }
    qsort(lines, n, sizeof *lines, cmp_lines);
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(lines[i]) + 1;
    char *out = malloc(total), *p = out;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s\n", lines[i]);
    *p = '\0';
    free(lines);
    free(copy);
    return out;
}

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((rng >> 33) % n);
}

static void compare_state(model_t *m, eng_detector_t *det, eng_things_t *things, int step)
{
    for (int i = 0; i < m->n; i++) {
        uint32_t idx = eng_things_get(things, m->t[i].tuid, strlen(m->t[i].tuid));
        cr_assert_neq(idx, ENG_THING_NONE);
        cr_assert_eq(eng_detector_is_open(det, idx, ENG_ALERT_HEARTBEAT), m->t[i].hb_open,
                     "step %d: %s hb open differs", step, m->t[i].tuid);
        cr_assert_eq(eng_detector_is_open(det, idx, ENG_ALERT_GATEWAY), m->t[i].gw_open,
                     "step %d: %s gw open differs", step, m->t[i].tuid);
        cr_assert_eq(eng_things_at(things, idx)->heard, m->t[i].heard);
    }
}

/* A restart: a fresh table and detector restored from what Redis would hold
 * (the model's state), in reverse order so that indexes differ. */
static void restart(model_t *m, eng_things_t **things, eng_detector_t **det,
                    const eng_detector_conf_t *conf, const eng_detector_cb_t *cb)
{
    eng_detector_free(*det);
    eng_things_free(*things);
    *things = eng_things_new();
    *det = eng_detector_new(*things, conf, cb);
    eng_detector_tick(*det, m->wall);
    for (int i = m->n - 1; i >= 0; i--) {
        const mthing_t *t = &m->t[i];
        eng_detector_restore_t r = {
            .tuid = t->tuid,
            .len = strlen(t->tuid),
            .part = 0,
            .heard = t->heard_f,
            .timestamp = t->heard,
            .t_gw = t->t_gw,
            .gateway = t->parent >= 0 ? m->t[t->parent].tuid : NULL,
            .gateway_len = t->parent >= 0 ? strlen(m->t[t->parent].tuid) : 0,
            .status = (eng_status_t)t->status,
            .status_at = t->status_at,
            .hb_open = t->hb_open,
            .hb_from = t->hb_from,
        };
        eng_detector_restore_thing(*det, &r);
        if (t->is_gw)
            eng_detector_restore_gateway(*det, t->tuid, strlen(t->tuid), 0, t->relayed, t->gw_open,
                                         t->gw_from);
    }
}

static void run(uint64_t seed, bool event_clock, bool inhibit, bool restarts)
{
    model_t m = {.event_clock = event_clock, .inhibit = inhibit};
    real_t r = {0};
    eng_things_t *things = eng_things_new();
    cfg_prefix_timeout_t prefixes[] = {{"S1", HB_S1}};
    eng_detector_conf_t conf = {.event_clock = event_clock,
                                .inhibit_by_gateway = inhibit,
                                .heartbeat_timeout = HB,
                                .gateway_timeout = GWT,
                                .max_clock_skew = SKEW,
                                .prefixes = prefixes,
                                .nprefixes = 1};
    eng_detector_cb_t cb = {on_window, &r};
    eng_detector_t *det = eng_detector_new(things, &conf, &cb);
    rng = seed;
    uint32_t t = 10000;
    m_tick(&m, t);
    eng_detector_tick(det, t);
    char tuid[8], gw[8];
    for (int step = 0; step < 4000; step++) {
        uint32_t op = rnd(100);
        if (op < 3) {
            t += rnd(200); /* a quiet spell */
        } else {
            t += rnd(3);
        }
        if (op < 10) {
            m_tick(&m, t);
            eng_detector_tick(det, t);
        }
        snprintf(tuid, sizeof tuid, rnd(8) ? "S%u" : "G%u", rnd(rnd(8) ? 30 : 4));
        if (op >= 95) {
            int st = (int)rnd(6);
            uint32_t at = t - rnd(5);
            m_status(&m, tuid, st, at);
            uint32_t idx = eng_things_add(things, tuid, strlen(tuid), ENG_PART_NONE, NULL);
            eng_detector_set_status(det, idx, (eng_status_t)st, at);
        } else if (op >= 10) {
            uint32_t ts = t - rnd(rnd(4) ? 3 : 150); /* mostly fresh, some late */
            if (rnd(100) == 0) ts = t + rnd(2 * SKEW);
            const char *g = NULL;
            if (tuid[0] == 'S' && rnd(10)) {
                snprintf(gw, sizeof gw, "G%u", rnd(4));
                g = gw;
            } else if (tuid[0] == 'G' && rnd(2)) {
                g = tuid;
            }
            m_observe(&m, tuid, ts, g);
            r_observe(det, tuid, ts, g);
        }
        if (restarts && step % 700 == 699) {
            restart(&m, &things, &det, &conf, &cb);
            if (event_clock)
                cr_assert_eq(eng_detector_now(det), m.now, "restored event clock %u, model %u",
                             eng_detector_now(det), m.now);
        }
        compare_state(&m, det, things, step);
    }
    char *a = sorted(m.log), *b = sorted(r.log);
    cr_assert_gt(strlen(a), 200, "the stream should open windows");
    cr_assert_str_eq(a, b, "seed %llu event %d inhibit %d", (unsigned long long)seed, event_clock,
                     inhibit);
    free(a);
    free(b);
    free(m.log);
    free(r.log);
    eng_detector_free(det);
    eng_things_free(things);
}

Test(detector_model, agrees_with_reference_wall_clock_inhibit_on)
{
    for (uint64_t seed = 1; seed <= 12; seed++)
        run(seed, false, true, false);
}

Test(detector_model, agrees_with_reference_wall_clock_inhibit_off)
{
    for (uint64_t seed = 1; seed <= 12; seed++)
        run(seed, false, false, false);
}

Test(detector_model, agrees_with_reference_event_clock_inhibit_on)
{
    for (uint64_t seed = 1; seed <= 12; seed++)
        run(seed, true, true, false);
}

Test(detector_model, agrees_with_reference_event_clock_inhibit_off)
{
    for (uint64_t seed = 1; seed <= 12; seed++)
        run(seed, true, false, false);
}

Test(detector_model, restarts_neither_lose_nor_duplicate_windows_wall_clock)
{
    for (uint64_t seed = 1; seed <= 12; seed++)
        run(seed, false, true, true);
}

Test(detector_model, restarts_neither_lose_nor_duplicate_windows_event_clock)
{
    for (uint64_t seed = 1; seed <= 12; seed++)
        run(seed, true, true, true);
}
