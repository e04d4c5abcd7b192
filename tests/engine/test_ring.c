/* test_ring.c - the SPSC ring: empty, full, wrap-around, and a two-thread
 * stress run checking order, content and count (run under TSan by
 * scripts/test). TSMD_RING_STRESS_ITEMS overrides the stress size. */
#include "engine/base/ring.h"
#include "ring_stress.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static _Alignas(64) uint8_t small_buf[256];

static void push(eng_ring_t *ring, const char *s)
{
    size_t len = strlen(s);
    void *p = eng_ring_reserve(ring, len);
    cr_assert_not_null(p, "reserve of %zu bytes failed with %zu used", len, eng_ring_used(ring));
    memcpy(p, s, len);
    eng_ring_commit(ring, len);
}

static void pop_expect(eng_ring_t *ring, const char *s)
{
    size_t len = 0;
    const void *p = eng_ring_peek(ring, &len);
    cr_assert_not_null(p, "ring empty, expected \"%s\"", s);
    cr_assert_eq(len, strlen(s), "length %zu, expected %zu", len, strlen(s));
    cr_assert(memcmp(p, s, len) == 0, "content differs from \"%s\"", s);
    eng_ring_release(ring);
}

Test(ring, init_rejects_size_not_power_of_two)
{
    eng_ring_t ring;
    cr_assert_eq(eng_ring_init(&ring, small_buf, 200), -22);
    cr_assert_eq(eng_ring_init(&ring, small_buf, 32), -22);
    cr_assert_eq(eng_ring_init(&ring, small_buf, 256), 0);
}

Test(ring, peek_when_empty_returns_null)
{
    eng_ring_t ring;
    size_t len = 99;
    eng_ring_init(&ring, small_buf, sizeof small_buf);
    cr_assert_null(eng_ring_peek(&ring, &len));
    push(&ring, "a");
    pop_expect(&ring, "a");
    cr_assert_null(eng_ring_peek(&ring, &len));
    cr_assert_eq(eng_ring_used(&ring), 0);
}

Test(ring, reserve_when_full_returns_null)
{
    eng_ring_t ring;
    eng_ring_init(&ring, small_buf, sizeof small_buf);
    /* 24-byte records take 32 bytes each: eight fill 256 bytes. */
    for (int i = 0; i < 8; i++)
        push(&ring, "abcdefghijklmnopqrstuvwx");
    cr_assert_eq(eng_ring_used(&ring), 256);
    cr_assert_null(eng_ring_reserve(&ring, 1), "a full ring must refuse");
    pop_expect(&ring, "abcdefghijklmnopqrstuvwx");
    cr_assert_not_null(eng_ring_reserve(&ring, 24), "one record freed, one fits");
}

Test(ring, records_wrap_around_the_end_in_order)
{
    eng_ring_t ring;
    eng_ring_init(&ring, small_buf, sizeof small_buf);
    char rec[128];
    /* Records of 1..100 bytes, consumed as they go, wrap many times with pads. */
    size_t pushed = 0, popped = 0;
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(round % 100) + 1;
        memset(rec, 'a' + round % 26, len);
        rec[len] = 0;
        void *p = eng_ring_reserve(&ring, len);
        if (p == NULL) {
            size_t got;
            const char *q = eng_ring_peek(&ring, &got);
            cr_assert_not_null(q, "full but nothing to pop");
            cr_assert_eq((size_t)(popped % 100) + 1, got);
            cr_assert_eq(q[0], 'a' + (int)(popped % 26));
            eng_ring_release(&ring);
            popped++;
            round--;
            continue;
        }
        memcpy(p, rec, len);
        eng_ring_commit(&ring, len);
        pushed++;
    }
    size_t got;
    const char *q;
    while ((q = eng_ring_peek(&ring, &got)) != NULL) {
        cr_assert_eq((size_t)(popped % 100) + 1, got);
        cr_assert_eq(q[0], 'a' + (int)(popped % 26));
        eng_ring_release(&ring);
        popped++;
    }
    cr_assert_eq(pushed, 2000);
    cr_assert_eq(popped, 2000);
}

/* The look-ahead cursor sees every published record after the oldest, in
 * order, across pads at the end of the buffer, never one already released,
 * and releases nothing. */
Test(ring, peek_ahead_walks_the_published_records_in_order)
{
    eng_ring_t ring;
    eng_ring_init(&ring, small_buf, sizeof small_buf);
    size_t pos = 0, len;
    cr_assert_null(eng_ring_peek_ahead(&ring, &pos, &len), "empty ring");
    size_t pushed = 0, popped = 0, seen = 0;
    char rec[64];
    for (int round = 0; round < 3000; round++) {
        size_t n = (size_t)(pushed % 40) + 1;
        memset(rec, 'a' + (int)(pushed % 26), n);
        void *p = eng_ring_reserve(&ring, n);
        if (p != NULL) {
            memcpy(p, rec, n);
            eng_ring_commit(&ring, n);
            pushed++;
        }
        /* Look ahead over what is there, then release one or two. */
        const char *q;
        while ((q = eng_ring_peek_ahead(&ring, &pos, &len)) != NULL) {
            cr_assert_eq(len, (seen % 40) + 1, "record %zu: length %zu", seen, len);
            cr_assert_eq(q[0], 'a' + (int)(seen % 26), "record %zu out of order", seen);
            seen++;
        }
        cr_assert_eq(seen, pushed, "the cursor reached the newest record");
        for (int k = 0; k < 1 + round % 2 && popped < pushed; k++) {
            cr_assert_not_null(eng_ring_peek(&ring, &len));
            eng_ring_release(&ring);
            popped++;
        }
    }
    cr_assert_gt(pushed, 1000);
    /* A cursor behind the oldest record starts again at the oldest. */
    pos = 0;
    const char *q = eng_ring_peek_ahead(&ring, &pos, &len);
    if (popped < pushed) {
        cr_assert_not_null(q);
        cr_assert_eq(q[0], 'a' + (int)(popped % 26), "restarts at the oldest record");
    }
}

Test(ring, commit_may_shrink_the_reservation)
{
    eng_ring_t ring;
    eng_ring_init(&ring, small_buf, sizeof small_buf);
    char *p = eng_ring_reserve(&ring, 100);
    memcpy(p, "xyz", 3);
    eng_ring_commit(&ring, 3);
    cr_assert_eq(eng_ring_used(&ring), 16);
    pop_expect(&ring, "xyz");
}

Test(ring, two_threads_keep_order_and_count, .timeout = 600)
{
    const char *env = getenv("TSMD_RING_STRESS_ITEMS");
    uint64_t items = env ? strtoull(env, NULL, 10) : 20000000;
    char why[160] = "";
    uint64_t got = ring_stress_run(items, why, sizeof why);
    cr_assert_eq(got, items, "%s", why);
}
