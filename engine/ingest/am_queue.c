/* am_queue.c - one Alertmanager URL's delivery state; see am_queue.h. */
#include "engine/ingest/am_queue.h"

#include "engine/ingest/am_payload.h"
#include "engine/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eng_amq_init(eng_amq_t *q)
{
    memset(q, 0, sizeof *q);
    q->dirty = true; /* whatever an earlier run left in Redis */
    q->up = true;
    strcpy(q->cursor, "0");
}

static void drop_entries(eng_amq_t *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->entries[i]);
    q->n = 0;
    q->holding = false;
    q->delivered = false;
}

void eng_amq_free(eng_amq_t *q)
{
    drop_entries(q);
    free(q->entries);
    free(q->lens);
    memset(q, 0, sizeof *q);
}

void eng_amq_changed(eng_amq_t *q)
{
    q->dirty = true;
}

void eng_amq_refresh(eng_amq_t *q)
{
    q->refresh_due = true;
}

uint64_t eng_amq_backoff_ms(uint32_t failures)
{
    uint64_t ms = ENG_AMQ_BACKOFF_MIN_MS;
    for (uint32_t i = 1; i < failures && ms < ENG_AMQ_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < ENG_AMQ_BACKOFF_MAX_MS ? ms : ENG_AMQ_BACKOFF_MAX_MS;
}

eng_amq_action_t eng_amq_next(eng_amq_t *q, uint64_t now_ms, uint64_t *wait_ms)
{
    if (q->busy) return ENG_AMQ_NONE;
    if (q->retry_at_ms > now_ms) {
        *wait_ms = q->retry_at_ms - now_ms;
        return ENG_AMQ_WAIT;
    }
    if (q->holding) {
        q->busy = true;
        return ENG_AMQ_POST;
    }
    if (q->dirty || q->delivered) {
        q->dirty = false;
        q->busy = true;
        return ENG_AMQ_READ;
    }
    if (q->refresh_due || q->scanning) {
        if (!q->scanning) strcpy(q->cursor, "0");
        q->refresh_due = false;
        q->scanning = true;
        q->busy = true;
        return ENG_AMQ_SCAN;
    }
    return ENG_AMQ_NONE;
}

void eng_amq_read_done(eng_amq_t *q, const char *const *entries, const size_t *lens, size_t n,
                       uint64_t depth)
{
    q->busy = false;
    drop_entries(q);
    if (n > q->cap) {
        q->entries = eng_realloc(q->entries, n * sizeof *q->entries);
        q->lens = eng_realloc(q->lens, n * sizeof *q->lens);
        q->cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        q->entries[i] = eng_malloc(lens[i] + 1);
        memcpy(q->entries[i], entries[i], lens[i]);
        q->entries[i][lens[i]] = 0;
        q->lens[i] = lens[i];
    }
    q->n = n;
    q->holding = n > 0;
    q->depth = depth;
    uint32_t from;
    bool open;
    q->oldest_enq_ms = 0;
    if (n > 0) eng_am_entry_parse(entries[0], lens[0], &from, &open, &q->oldest_enq_ms);
}

void eng_amq_read_failed(eng_amq_t *q, uint64_t now_ms)
{
    q->busy = false;
    q->dirty = true;
    q->retry_at_ms = now_ms + ENG_AMQ_BACKOFF_MIN_MS * 2;
}

void eng_amq_scan_done(eng_amq_t *q, const char *next)
{
    q->busy = false;
    snprintf(q->cursor, sizeof q->cursor, "%s", next);
    if (strcmp(next, "0") == 0) q->scanning = false;
}

int eng_amq_post_done(eng_amq_t *q, bool ok, bool refresh, uint64_t now_ms)
{
    q->busy = false;
    bool was_up = q->up, first = !q->ever_posted;
    q->ever_posted = true;
    if (ok) {
        q->up = true;
        q->failures = 0;
        q->retry_at_ms = 0;
        if (!refresh && q->holding) {
            q->holding = false;
            q->delivered = true;
        }
        if (!was_up) {
            q->refresh_due = true; /* its alerts may have expired meanwhile */
            return 1;
        }
        return 0;
    }
    q->up = false;
    q->failures++;
    q->retry_at_ms = now_ms + eng_amq_backoff_ms(q->failures);
    if (refresh) q->scanning = false;
    if (was_up || first) {
        q->down_since_ms = now_ms;
        return -1;
    }
    return 0;
}

void eng_amq_post_rejected(eng_amq_t *q)
{
    q->busy = false;
    if (q->holding) {
        q->holding = false;
        q->delivered = true;
    }
}
