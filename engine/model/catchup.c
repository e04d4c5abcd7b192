/* catchup.c - partition clocks, the gateways' horizon and relay runs; see
 * catchup.h. */
#include "engine/model/catchup.h"

#include "engine/base/log.h"

#include <stdlib.h>
#include <string.h>

typedef struct part_s {
    uint32_t etime;    /* greatest effective tsmTs consumed from it here */
    uint32_t r_etime;  /* as another instance last reported it */
    uint32_t r_seen;   /* wall clock of that report, 0: never */
    uint8_t state;     /* eng_part_state_t */
    uint8_t r_live;    /* the report said caught up */
    uint16_t local_at; /* position in local[] + 1 while assigned here */
} part_t;

typedef struct runs_s {
    uint32_t n, cap; /* runs, each two u32 (from, to) */
    uint32_t *v;
} runs_t;

struct eng_catchup_s {
    part_t *parts; /* ENG_CATCHUP_PARTS entries */
    uint16_t *local;
    size_t nlocal;
    uint16_t *remote; /* part ids ever reported by another instance */
    size_t nremote;
    uint32_t topic_partitions;
    runs_t *runs; /* by gateway entry */
    size_t nruns;
};

eng_catchup_t *eng_catchup_new(void)
{
    eng_catchup_t *cu = eng_calloc(1, sizeof *cu);
    cu->parts = eng_calloc(ENG_CATCHUP_PARTS, sizeof *cu->parts);
    cu->local = eng_calloc(ENG_CATCHUP_PARTS, sizeof *cu->local);
    cu->remote = eng_calloc(ENG_CATCHUP_PARTS, sizeof *cu->remote);
    return cu;
}

void eng_catchup_free(eng_catchup_t *cu)
{
    if (cu == NULL) return;
    for (size_t i = 0; i < cu->nruns; i++)
        free(cu->runs[i].v);
    free(cu->runs);
    free(cu->parts);
    free(cu->local);
    free(cu->remote);
    free(cu);
}

static part_t *part_at(const eng_catchup_t *cu, uint16_t part)
{
    return part < ENG_CATCHUP_PARTS ? &cu->parts[part] : NULL;
}

void eng_catchup_assign(eng_catchup_t *cu, uint16_t part)
{
    part_t *p = part_at(cu, part);
    if (p == NULL) return;
    if (p->local_at == 0) {
        cu->local[cu->nlocal++] = part;
        p->local_at = (uint16_t)cu->nlocal;
    }
    p->state = ENG_PART_BEHIND;
    p->etime = 0;
}

void eng_catchup_drop(eng_catchup_t *cu, uint16_t part)
{
    part_t *p = part_at(cu, part);
    if (p == NULL || p->local_at == 0) return;
    /* Swap the last local partition into the hole. */
    uint16_t last = cu->local[--cu->nlocal];
    cu->local[p->local_at - 1] = last;
    cu->parts[last].local_at = p->local_at;
    p->local_at = 0;
    p->state = ENG_PART_UNTRACKED;
    p->etime = 0;
}

bool eng_catchup_set_live(eng_catchup_t *cu, uint16_t part, bool live)
{
    part_t *p = part_at(cu, part);
    if (p == NULL || p->state == ENG_PART_UNTRACKED) return false;
    uint8_t state = live ? ENG_PART_LIVE : ENG_PART_BEHIND;
    if (p->state == state) return false;
    p->state = state;
    return true;
}

size_t eng_catchup_all_behind(eng_catchup_t *cu)
{
    size_t n = 0;
    for (size_t i = 0; i < cu->nlocal; i++)
        n += eng_catchup_set_live(cu, cu->local[i], false);
    return n;
}

eng_part_state_t eng_catchup_state(const eng_catchup_t *cu, uint16_t part)
{
    const part_t *p = part_at(cu, part);
    return p ? (eng_part_state_t)p->state : ENG_PART_UNTRACKED;
}

uint32_t eng_catchup_etime(const eng_catchup_t *cu, uint16_t part)
{
    const part_t *p = part_at(cu, part);
    return p ? p->etime : 0;
}

bool eng_catchup_observe(eng_catchup_t *cu, uint16_t part, uint32_t ts, uint32_t horizon)
{
    part_t *p = part_at(cu, part);
    if (p == NULL || ts <= p->etime) return false;
    bool was_min = p->etime <= horizon;
    p->etime = ts;
    return p->state == ENG_PART_BEHIND && was_min;
}

uint32_t eng_catchup_clock(const eng_catchup_t *cu, uint16_t part, uint32_t now)
{
    const part_t *p = part_at(cu, part);
    if (p == NULL || p->state != ENG_PART_BEHIND) return now;
    return p->etime < now ? p->etime : now;
}

size_t eng_catchup_local(const eng_catchup_t *cu, const uint16_t **parts)
{
    *parts = cu->local;
    return cu->nlocal;
}

void eng_catchup_remote(eng_catchup_t *cu, uint16_t part, uint32_t etime, bool live, uint32_t wall)
{
    part_t *p = part_at(cu, part);
    if (p == NULL) return;
    if (p->r_seen == 0) cu->remote[cu->nremote++] = part;
    p->r_etime = etime;
    p->r_live = live;
    p->r_seen = wall ? wall : 1;
}

void eng_catchup_set_partitions(eng_catchup_t *cu, uint32_t n)
{
    cu->topic_partitions = n < 1024 ? n : 1024;
}

/* The clock of a partition not assigned here: what its owner reported, if
 * recent; 0 when nobody did (it may hold a backlog nobody has read yet). */
static uint32_t remote_clock(const part_t *p, uint32_t now, uint32_t wall)
{
    if (p->r_seen == 0 || wall > p->r_seen + ENG_CATCHUP_REMOTE_TTL) return 0;
    if (p->r_live) return now;
    return p->r_etime < now ? p->r_etime : now;
}

uint32_t eng_catchup_horizon(const eng_catchup_t *cu, uint32_t now, uint32_t wall)
{
    uint32_t h = now;
    for (size_t i = 0; i < cu->nlocal; i++) {
        uint32_t c = eng_catchup_clock(cu, cu->local[i], now);
        if (c < h) h = c;
    }
    /* Partitions of the first topic are known by count: each is either
     * assigned here or reported by the instance that holds it. */
    for (uint32_t i = 0; i < cu->topic_partitions; i++) {
        const part_t *p = &cu->parts[i];
        if (p->local_at) continue;
        uint32_t c = remote_clock(p, now, wall);
        if (c < h) h = c;
    }
    for (size_t i = 0; i < cu->nremote; i++) {
        const part_t *p = &cu->parts[cu->remote[i]];
        if (p->local_at || cu->remote[i] < cu->topic_partitions) continue;
        if (p->r_seen == 0 || wall > p->r_seen + ENG_CATCHUP_REMOTE_TTL) continue;
        uint32_t c = remote_clock(p, now, wall);
        if (c < h) h = c;
    }
    return h;
}

/* ---- runs ---------------------------------------------------------------- */

static runs_t *runs_of(eng_catchup_t *cu, uint32_t g, bool create)
{
    if (g >= cu->nruns) {
        if (!create) return NULL;
        size_t n = cu->nruns ? cu->nruns : 64;
        while (n <= g)
            n *= 2;
        cu->runs = eng_realloc(cu->runs, n * sizeof *cu->runs);
        memset(cu->runs + cu->nruns, 0, (n - cu->nruns) * sizeof *cu->runs);
        cu->nruns = n;
    }
    return &cu->runs[g];
}

static uint32_t sat_add(uint32_t a, uint32_t b)
{
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

void eng_catchup_run_add(eng_catchup_t *cu, uint32_t g, uint32_t from, uint32_t to,
                         uint32_t timeout)
{
    runs_t *r = runs_of(cu, g, true);
    /* First run that ends within timeout of from, or starts after it. */
    uint32_t i = 0;
    while (i < r->n && sat_add(r->v[2 * i + 1], timeout) <= from)
        i++;
    /* Runs i..j-1 start within timeout of to: they merge with [from, to]. */
    uint32_t j = i;
    while (j < r->n && r->v[2 * j] < sat_add(to, timeout)) {
        if (r->v[2 * j] < from) from = r->v[2 * j];
        if (r->v[2 * j + 1] > to) to = r->v[2 * j + 1];
        j++;
    }
    if (j == i) { /* nothing merged: insert at i */
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 2;
            r->v = eng_realloc(r->v, r->cap * 2 * sizeof *r->v);
        }
        memmove(r->v + 2 * (i + 1), r->v + 2 * i, (r->n - i) * 2 * sizeof *r->v);
        r->n++;
    } else if (j > i + 1) { /* runs i+1..j-1 fold into run i */
        memmove(r->v + 2 * (i + 1), r->v + 2 * j, (r->n - j) * 2 * sizeof *r->v);
        r->n -= j - i - 1;
    }
    r->v[2 * i] = from;
    r->v[2 * i + 1] = to;
}

bool eng_catchup_run_first(const eng_catchup_t *cu, uint32_t g, uint32_t *from, uint32_t *to)
{
    if (g >= cu->nruns || cu->runs[g].n == 0) return false;
    *from = cu->runs[g].v[0];
    *to = cu->runs[g].v[1];
    return true;
}

void eng_catchup_run_pop(eng_catchup_t *cu, uint32_t g)
{
    runs_t *r = runs_of(cu, g, false);
    if (r == NULL || r->n == 0) return;
    r->n--;
    memmove(r->v, r->v + 2, r->n * 2 * sizeof *r->v);
    if (r->n == 0) {
        free(r->v);
        *r = (runs_t){0};
    }
}

void eng_catchup_run_clear(eng_catchup_t *cu, uint32_t g)
{
    runs_t *r = runs_of(cu, g, false);
    if (r == NULL) return;
    free(r->v);
    *r = (runs_t){0};
}

size_t eng_catchup_bytes(const eng_catchup_t *cu)
{
    size_t n = sizeof *cu + ENG_CATCHUP_PARTS * (sizeof *cu->parts + 2 * sizeof(uint16_t)) +
               cu->nruns * sizeof *cu->runs;
    for (size_t i = 0; i < cu->nruns; i++)
        n += cu->runs[i].cap * 2 * sizeof(uint32_t);
    return n;
}
