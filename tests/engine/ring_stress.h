/* ring_stress.h - the two-thread ring stress run, shared by the Criterion
 * test and by ring_tsan (a plain program: Criterion does not start under
 * ThreadSanitizer here). The producer pushes items of varying length with a
 * sequence number; the consumer checks order, length and content, and looks
 * ahead (eng_ring_peek_ahead, as the loop's prefetch does) over the records
 * published after the one it pops, checking those as well. */
#ifndef TEST_RING_STRESS_H
#define TEST_RING_STRESS_H

#include "engine/base/ring.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ring_stress {
    eng_ring_t ring;
    uint64_t items;
};

static inline size_t ring_stress_len(uint64_t i)
{
    return 9 + (size_t)(i % 7) * 8 + (size_t)(i % 3);
}

static void *ring_stress_producer(void *arg)
{
    struct ring_stress *st = arg;
    for (uint64_t i = 0; i < st->items; i++) {
        size_t len = ring_stress_len(i);
        uint8_t *p;
        while ((p = eng_ring_reserve(&st->ring, len)) == NULL) {
        }
        memcpy(p, &i, 8);
        memset(p + 8, (int)(i & 0xff), len - 8);
        eng_ring_commit(&st->ring, len);
    }
    return NULL;
}

/* Runs the stress over a 64 KiB ring. Returns the number of items received
 * in order and intact (== items on success); why says what went wrong. */
static inline uint64_t ring_stress_run(uint64_t items, char *why, size_t cap)
{
    struct ring_stress *st = aligned_alloc(64, sizeof *st);
    size_t size = 1 << 16;
    uint8_t *buf = aligned_alloc(64, size);
    eng_ring_init(&st->ring, buf, size);
    st->items = items;
    pthread_t producer;
    pthread_create(&producer, NULL, ring_stress_producer, st);
    /* The producer pushes exactly items records, so popping that many always
     * ends, whatever went wrong; the first fault is what gets reported. */
    uint64_t intact = 0, ahead_seq = 0;
    size_t ahead = 0;
    bool ok = true;
    for (uint64_t n = 0; n < items;) {
        size_t len;
        /* Up to 4 records ahead; the cursor restarts at the oldest record
         * whenever it fell behind it. */
        for (int k = 0; k < 4; k++) {
            size_t before = ahead;
            const uint8_t *q = eng_ring_peek_ahead(&st->ring, &ahead, &len);
            if (q == NULL) break;
            if (before <= atomic_load_explicit(&st->ring.tail, memory_order_relaxed)) ahead_seq = n;
            uint64_t seq;
            memcpy(&seq, q, 8);
            if (ok && (seq != ahead_seq || len != ring_stress_len(seq) ||
                       q[len - 1] != (uint8_t)(seq & 0xff))) {
                snprintf(why, cap, "looking ahead: item %llu where %llu was due, or corrupted",
                         (unsigned long long)seq, (unsigned long long)ahead_seq);
                ok = false;
            }
            ahead_seq++;
        }
        const uint8_t *p = eng_ring_peek(&st->ring, &len);
        if (p == NULL) continue;
        uint64_t seq;
        memcpy(&seq, p, 8);
        if (ok && seq != n) {
            snprintf(why, cap, "item %llu arrived where %llu was due", (unsigned long long)seq,
                     (unsigned long long)n);
            ok = false;
        } else if (ok && (len != ring_stress_len(seq) || p[len - 1] != (uint8_t)(seq & 0xff))) {
            snprintf(why, cap, "item %llu has %zu bytes or is corrupted", (unsigned long long)seq,
                     len);
            ok = false;
        }
        if (ok) intact++;
        eng_ring_release(&st->ring);
        n++;
    }
    pthread_join(producer, NULL);
    size_t len;
    if (ok && eng_ring_peek(&st->ring, &len) != NULL) {
        snprintf(why, cap, "something followed the last item");
        intact = 0;
    }
    free(buf);
    free(st);
    return intact;
}

#endif
