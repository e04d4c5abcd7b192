/* ring.h - single-producer single-consumer byte ring of variable-length records,
 *          kafka consumer thread -> loop thread.
 * Threads: reserve/commit from the producer thread only; peek/release from
 *   the consumer thread only; eng_ring_used() from any thread (approximate).
 * Ownership: the caller owns the ring and its buffer; the ring never allocates.
 * Errors: reserve returns NULL when full, peek returns NULL when empty;
 *   eng_ring_init fails (-EINVAL) on a size that is not a power of two. */
#ifndef ENG_RING_H
#define ENG_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define ENG_RING_ALIGN 8
#define ENG_RING_HDR 8 /* bytes of header before every record */

typedef struct eng_ring_s {
    /* Producer and consumer indices are byte counts that only grow; each sits
     * on its own cache line with the other side's cached copy, so that the two
     * threads do not share a line on the fast path. */
    _Alignas(64) _Atomic size_t head; /* bytes published by the producer */
    size_t tail_cache;                /* producer's last view of tail */
    size_t pending;                   /* producer: bytes of the reserved record incl. wrap */
    int pending_wrap;                 /* producer: the reserved record starts at offset 0 */
    _Alignas(64) _Atomic size_t tail; /* bytes released by the consumer */
    size_t head_cache;                /* consumer's last view of head */
    _Alignas(64) uint8_t *buf;
    size_t size;
    size_t mask;
} eng_ring_t;

/* Initialises ring over buf[0..size); size must be a power of two >= 64.
 * Returns 0 or -EINVAL. Any thread, before the ring is shared. */
int eng_ring_init(eng_ring_t *ring, void *buf, size_t size);

/* Returns the largest record length that can ever be reserved (size / 2). */
size_t eng_ring_max_record(const eng_ring_t *ring);

/* Returns space for one record of len bytes (8-byte aligned), or NULL while
 * the ring has no room for it. Nothing is visible until eng_ring_commit().
 * Producer thread only. len must be <= eng_ring_max_record(). */
void *eng_ring_reserve(eng_ring_t *ring, size_t len);

/* Publishes the record last reserved; len may be smaller than reserved.
 * Producer thread only. */
void eng_ring_commit(eng_ring_t *ring, size_t len);

/* Returns the oldest record and its length, or NULL when empty. The record
 * stays valid until eng_ring_release(). Consumer thread only. */
const void *eng_ring_peek(eng_ring_t *ring, size_t *len);

/* Walks the records after the oldest without releasing them: *pos is a
 * cursor the caller keeps (start it at 0: it then begins at the oldest record
 * and never falls behind it). Returns the record at the cursor and moves the
 * cursor past it, or NULL when none is published yet. Consumer thread only;
 * for looking ahead (prefetching), the records stay the ring's. */
const void *eng_ring_peek_ahead(eng_ring_t *ring, size_t *pos, size_t *len);

/* Releases the record returned by the last eng_ring_peek(). Consumer only. */
void eng_ring_release(eng_ring_t *ring);

/* Returns the bytes in use (approximate when read by a third thread). */
size_t eng_ring_used(const eng_ring_t *ring);

#endif
