/* test_heap.c - the indexed deadline heap: order, ties, re-keying, removal,
 * and ten million deadlines each firing once and in order with the lazy
 * re-key the detector uses. */
#include "engine/base/heap.h"

#include <criterion/criterion.h>
#include <stdlib.h>

typedef struct item_s {
    uint32_t deadline; /* the real deadline (the heap key may be earlier) */
    uint32_t pos;
} item_t;

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((rng_state >> 33) % n);
}

static void bind_items(eng_heap_t *heap, item_t *items)
{
    eng_heap_bind(heap, &items[0].pos, sizeof *items);
}

Test(heap, pops_in_key_then_id_order)
{
    enum { N = 5000 };
    item_t *items = calloc(N, sizeof *items);
    eng_heap_t heap;
    eng_heap_init(&heap);
    bind_items(&heap, items);
    rng_state = 3;
    for (uint32_t i = 0; i < N; i++)
        eng_heap_push(&heap, rnd(100), i);
    cr_assert(eng_heap_check(&heap));
    uint32_t last_key = 0, last_id = 0;
    for (uint32_t i = 0; i < N; i++) {
        const eng_heap_entry_t *top = eng_heap_top(&heap);
        cr_assert(top != NULL);
        if (i > 0)
            cr_assert(top->key > last_key || (top->key == last_key && top->id > last_id),
                      "(%u,%u) after (%u,%u)", top->key, top->id, last_key, last_id);
        last_key = top->key;
        last_id = top->id;
        eng_heap_pop(&heap);
        cr_assert_eq(items[last_id].pos, ENG_HEAP_NONE);
    }
    cr_assert_null(eng_heap_top(&heap));
    eng_heap_close(&heap);
    free(items);
}

Test(heap, update_and_remove_keep_positions)
{
    enum { N = 20000 };
    item_t *items = calloc(N, sizeof *items);
    eng_heap_t heap;
    eng_heap_init(&heap);
    bind_items(&heap, items);
    rng_state = 5;
    for (uint32_t i = 0; i < N; i++)
        eng_heap_push(&heap, 1000 + rnd(100000), i);
    for (uint32_t i = 0; i < N; i += 2)
        eng_heap_update(&heap, items[i].pos, rnd(200000));
    cr_assert(eng_heap_check(&heap));
    for (uint32_t i = 1; i < N; i += 4)
        eng_heap_remove(&heap, items[i].pos);
    cr_assert(eng_heap_check(&heap));
    cr_assert_eq(eng_heap_len(&heap), N - N / 4);
    for (uint32_t i = 1; i < N; i += 4)
        cr_assert_eq(items[i].pos, ENG_HEAP_NONE);
    uint32_t last = 0;
    while (eng_heap_len(&heap)) {
        cr_assert_geq(eng_heap_top(&heap)->key, last);
        last = eng_heap_top(&heap)->key;
        eng_heap_pop(&heap);
    }
    eng_heap_close(&heap);
    free(items);
}

Test(heap, ten_million_deadlines_fire_once_in_order)
{
    /* Each item is pushed with an early key; when its key comes due the real
     * deadline is looked up and, if later, the entry is re-keyed (sift-down):
     * the detector's lazy scheme. A tenth move earlier (sift-up), as a status
     * change does. Every item must fire exactly once, in deadline order. */
    const uint32_t n = 10000000;
    item_t *items = malloc((size_t)n * sizeof *items);
    uint8_t *fired = calloc(n, 1);
    cr_assert(items && fired);
    eng_heap_t heap;
    eng_heap_init(&heap);
    bind_items(&heap, items);
    rng_state = 11;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t key = rnd(1u << 24);
        items[i].deadline = key + (i % 3 == 0 ? rnd(1u << 20) : 0);
        eng_heap_push(&heap, key, i);
    }
    for (uint32_t i = 0; i < n; i += 10) {
        uint32_t key = heap.v[items[i].pos].key;
        uint32_t earlier = key > 1000 ? key - 1000 : 0;
        items[i].deadline = earlier;
        eng_heap_update(&heap, items[i].pos, earlier);
    }
    uint32_t last = 0, count = 0;
    const eng_heap_entry_t *top;
    while ((top = eng_heap_top(&heap)) != NULL) {
        item_t *it = &items[top->id];
        if (it->deadline > top->key) {
            eng_heap_update(&heap, 0, it->deadline);
            continue;
        }
        if (top->key < last) cr_assert_fail("deadline %u fired after %u", top->key, last);
        if (fired[top->id]) cr_assert_fail("id %u fired twice", top->id);
        last = top->key;
        fired[top->id] = 1;
        count++;
        eng_heap_pop(&heap);
    }
    cr_assert_eq(count, n);
    eng_heap_close(&heap);
    free(items);
    free(fired);
}
