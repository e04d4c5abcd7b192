/* heap.c - indexed 4-ary min-heap; see heap.h. A 4-ary heap halves the depth
 * of a binary one and its four children sit in one 32-byte run, so a sift-down
 * touches about half as many cache lines at ten million entries. */
#include "engine/base/heap.h"

#include "engine/base/log.h"

#include <assert.h>
#include <stdlib.h>

#define ARITY 4

/* Orders by key, then id, so that equal deadlines fire in a fixed order. */
static inline bool before(eng_heap_entry_t a, eng_heap_entry_t b)
{
    return a.key < b.key || (a.key == b.key && a.id < b.id);
}

static inline void place(eng_heap_t *heap, uint32_t pos, eng_heap_entry_t e)
{
    heap->v[pos] = e;
    *eng_heap_pos(heap, e.id) = pos;
}

static void sift_up(eng_heap_t *heap, uint32_t pos)
{
    eng_heap_entry_t e = heap->v[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / ARITY;
        if (!before(e, heap->v[parent])) break;
        place(heap, pos, heap->v[parent]);
        pos = parent;
    }
    place(heap, pos, e);
}

static void sift_down(eng_heap_t *heap, uint32_t pos)
{
    eng_heap_entry_t e = heap->v[pos];
    for (;;) {
        uint64_t first = (uint64_t)pos * ARITY + 1;
        if (first >= heap->len) break;
        uint32_t best = (uint32_t)first;
        uint32_t end = first + ARITY < heap->len ? (uint32_t)first + ARITY : heap->len;
        for (uint32_t c = best + 1; c < end; c++)
            if (before(heap->v[c], heap->v[best])) best = c;
        if (!before(heap->v[best], e)) break;
        place(heap, pos, heap->v[best]);
        pos = best;
    }
    place(heap, pos, e);
}

void eng_heap_init(eng_heap_t *heap)
{
    heap->mem = (eng_bigmem_t){0};
    heap->v = NULL;
    heap->len = 0;
    heap->cap = 0;
    heap->pos_base = NULL;
    heap->pos_stride = 0;
}

void eng_heap_close(eng_heap_t *heap)
{
    eng_bigmem_close(&heap->mem);
    heap->v = NULL;
    heap->len = heap->cap = 0;
}

void eng_heap_push(eng_heap_t *heap, uint32_t key, uint32_t id)
{
    assert(heap->pos_base != NULL);
    if (heap->len == heap->cap) {
        if (heap->mem.base == NULL)
            eng_bigmem_init(&heap->mem, (size_t)ENG_HEAP_MAX * sizeof *heap->v);
        if (heap->len >= ENG_HEAP_MAX) ENG_OOM();
        heap->v = eng_bigmem_commit(&heap->mem, ((size_t)heap->len + 1) * sizeof *heap->v);
        heap->cap = (uint32_t)(heap->mem.committed / sizeof *heap->v);
    }
    uint32_t pos = heap->len++;
    heap->v[pos] = (eng_heap_entry_t){key, id};
    sift_up(heap, pos);
}

void eng_heap_update(eng_heap_t *heap, uint32_t pos, uint32_t key)
{
    assert(pos < heap->len);
    uint32_t old = heap->v[pos].key;
    heap->v[pos].key = key;
    if (key < old)
        sift_up(heap, pos);
    else if (key > old)
        sift_down(heap, pos);
}

void eng_heap_remove(eng_heap_t *heap, uint32_t pos)
{
    assert(pos < heap->len);
    uint32_t id = heap->v[pos].id;
    uint32_t last = --heap->len;
    if (pos != last) {
        eng_heap_entry_t moved = heap->v[last];
        eng_heap_entry_t gone = heap->v[pos];
        place(heap, pos, moved);
        if (before(moved, gone))
            sift_up(heap, pos);
        else
            sift_down(heap, pos);
    }
    *eng_heap_pos(heap, id) = ENG_HEAP_NONE;
}

void eng_heap_pop(eng_heap_t *heap)
{
    assert(heap->len > 0);
    eng_heap_remove(heap, 0);
}

size_t eng_heap_bytes(const eng_heap_t *heap)
{
    return heap->mem.committed;
}

bool eng_heap_check(const eng_heap_t *heap)
{
    for (uint32_t i = 0; i < heap->len; i++) {
        if (*eng_heap_pos(heap, heap->v[i].id) != i) return false;
        if (i > 0 && before(heap->v[i], heap->v[(i - 1) / ARITY])) return false;
    }
    return true;
}
