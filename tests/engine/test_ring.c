/* test_ring.c - the SPSC ring: empty, full, wrap-around, and a two-thread
 * stress run checking order, content and count (run under TSan by
 * scripts/test). TSMD_RING_STRESS_ITEMS overrides the stress size. */
#include "engine/ring.h"

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
    for (int i = 0; i < 8; i++) push(&ring, "abcdefghijklmnopqrstuvwx");
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

struct stress {
    eng_ring_t ring;
    uint64_t items;
};

static void *stress_producer(void *arg)
{
    struct stress *st = arg;
    for (uint64_t i = 0; i < st->items; i++) {
        size_t len = 9 + (size_t)(i % 7) * 8 + (size_t)(i % 3);
        uint8_t *p;
        while ((p = eng_ring_reserve(&st->ring, len)) == NULL) {
        }
        memcpy(p, &i, 8);
        memset(p + 8, (int)(i & 0xff), len - 8);
        eng_ring_commit(&st->ring, len);
    }
    return NULL;
}

Test(ring, two_threads_keep_order_and_count, .timeout = 600)
{
    struct stress *st = aligned_alloc(64, sizeof *st);
    size_t size = 1 << 16;
    uint8_t *buf = aligned_alloc(64, size);
    eng_ring_init(&st->ring, buf, size);
    const char *env = getenv("TSMD_RING_STRESS_ITEMS");
    st->items = env ? strtoull(env, NULL, 10) : 20000000;
    pthread_t producer;
    pthread_create(&producer, NULL, stress_producer, st);
    uint64_t expect = 0;
    while (expect < st->items) {
        size_t len;
        const uint8_t *p = eng_ring_peek(&st->ring, &len);
        if (p == NULL) continue;
        uint64_t seq;
        memcpy(&seq, p, 8);
        if (seq != expect) cr_assert_fail("item %llu arrived where %llu was due",
                                    (unsigned long long)seq, (unsigned long long)expect);
        size_t want = 9 + (size_t)(seq % 7) * 8 + (size_t)(seq % 3);
        if (len != want) cr_assert_fail("item %llu has %zu bytes, not %zu", (unsigned long long)seq, len, want);
        if (p[len - 1] != (uint8_t)(seq & 0xff)) cr_assert_fail("item %llu corrupted", (unsigned long long)seq);
        eng_ring_release(&st->ring);
        expect++;
    }
    pthread_join(producer, NULL);
    size_t len;
    cr_assert_null(eng_ring_peek(&st->ring, &len), "nothing may follow the last item");
    cr_assert_eq(expect, st->items);
    free(buf);
    free(st);
}
