/* heap.h - indexed 4-ary min-heap of (deadline, id) for the detector.
 * Threads: one owner thread (the loop thread); no locking.
 * Ownership: the heap owns its entry array only (address space for
 *   ENG_HEAP_MAX entries reserved at the first push, committed in 2 MiB huge
 *   pages as it grows: it never moves). Each id's position lives in
 *   the owner's records (a uint32_t at pos_base + id * pos_stride), so the
 *   heap never allocates per id; the owner re-binds the base with
 *   eng_heap_bind() whenever its record array may have moved.
 * Errors: none; out of memory aborts with file and line. Misuse (pushing an id
 *   twice, a bad position) is an assert. */
#ifndef ENG_HEAP_H
#define ENG_HEAP_H

#include "engine/base/bigmem.h"

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* The most entries a heap holds. */
#define ENG_HEAP_MAX (1u << 28)

/* Position value of an id that is not in the heap. */
#define ENG_HEAP_NONE UINT32_MAX

typedef struct eng_heap_entry_s {
    uint32_t key; /* deadline, unix seconds */
    uint32_t id;  /* the owner's index (thing or gateway) */
} eng_heap_entry_t;

typedef struct eng_heap_s {
    eng_bigmem_t mem;
    eng_heap_entry_t *v;
    uint32_t len;
    uint32_t cap;
    char *pos_base; /* position of id i is *(uint32_t *)(pos_base + i * pos_stride) */
    size_t pos_stride;
} eng_heap_t;

/* Initialises an empty heap (no allocation). Owner thread. */
void eng_heap_init(eng_heap_t *heap);
/* Releases the entry array; positions in the owner's records are left as they are. */
void eng_heap_close(eng_heap_t *heap);

/* Tells the heap where positions live: id i's position is the uint32_t at
 * (char *)pos0 + i * stride. Call before any operation after the owner's array
 * moved (cheap: two stores). */
static inline void eng_heap_bind(eng_heap_t *heap, void *pos0, size_t stride)
{
    heap->pos_base = (char *)pos0;
    heap->pos_stride = stride;
}

/* Returns the position slot of id (inside the owner's record). */
static inline uint32_t *eng_heap_pos(const eng_heap_t *heap, uint32_t id)
{
    return (uint32_t *)(void *)(heap->pos_base + (size_t)id * heap->pos_stride);
}

/* Returns the number of entries. */
static inline uint32_t eng_heap_len(const eng_heap_t *heap)
{
    return heap->len;
}

/* Returns the smallest entry (smallest key, then smallest id), or NULL when
 * empty. The pointer is valid until the next change. */
static inline const eng_heap_entry_t *eng_heap_top(const eng_heap_t *heap)
{
    return heap->len ? &heap->v[0] : NULL;
}

/* Inserts id with key; id must not be in the heap. O(log n); may grow the
 * entry array (amortised). */
void eng_heap_push(eng_heap_t *heap, uint32_t key, uint32_t id);

/* Changes the key of the entry at position pos, moving it up (earlier key) or
 * down (later key). O(log n). */
void eng_heap_update(eng_heap_t *heap, uint32_t pos, uint32_t key);

/* Removes the entry at position pos; its id's position becomes ENG_HEAP_NONE.
 * O(log n). */
void eng_heap_remove(eng_heap_t *heap, uint32_t pos);

/* Removes the top entry (heap must not be empty). O(log n). */
void eng_heap_pop(eng_heap_t *heap);

/* Returns the bytes the heap holds (capacity of its entry array). */
size_t eng_heap_bytes(const eng_heap_t *heap);

/* Returns true when every parent orders before its children and every id's
 * position points back to its entry (tests). O(n). */
bool eng_heap_check(const eng_heap_t *heap);

#endif
