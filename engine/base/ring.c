/* ring.c - SPSC byte ring; see ring.h.
 *
 * Layout: each record is an 8-byte header {uint32 len; uint32 pad_flag}
 * followed by len bytes, rounded up to 8. A record never straddles the end
 * of the buffer: when it does not fit, the producer writes a pad header that
 * covers the rest of the buffer and places the record at offset 0. */
#include "engine/base/ring.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

typedef struct ring_hdr_s {
    uint32_t len;
    uint32_t pad; /* 1: skip to the start of the buffer */
} ring_hdr_t;

static size_t ring_span(size_t len)
{
    return (ENG_RING_HDR + len + ENG_RING_ALIGN - 1) & ~(size_t)(ENG_RING_ALIGN - 1);
}

int eng_ring_init(eng_ring_t *ring, void *buf, size_t size)
{
    if (size < 64 || (size & (size - 1)) != 0 || ((uintptr_t)buf & (ENG_RING_ALIGN - 1)) != 0)
        return -EINVAL;
    memset(ring, 0, sizeof *ring);
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    ring->buf = buf;
    ring->size = size;
    ring->mask = size - 1;
    return 0;
}

size_t eng_ring_max_record(const eng_ring_t *ring)
{
    return ring->size / 2 - ENG_RING_HDR;
}

void *eng_ring_reserve(eng_ring_t *ring, size_t len)
{
    assert(len <= eng_ring_max_record(ring));
    size_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    size_t pos = head & ring->mask;
    size_t span = ring_span(len);
    size_t room_to_end = ring->size - pos;
    size_t need = span <= room_to_end ? span : room_to_end + span;
    if (head + need - ring->tail_cache > ring->size) {
        ring->tail_cache = atomic_load_explicit(&ring->tail, memory_order_acquire);
        if (head + need - ring->tail_cache > ring->size) return NULL;
    }
    ring->pending = need;
    ring->pending_wrap = need != span;
    if (ring->pending_wrap) return ring->buf + ENG_RING_HDR;
    return ring->buf + pos + ENG_RING_HDR;
}

void eng_ring_commit(eng_ring_t *ring, size_t len)
{
    size_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    size_t pos = head & ring->mask;
    size_t span = ring_span(len);
    ring_hdr_t hdr = {(uint32_t)len, 0};
    assert(ring->pending != 0 && span <= ring->pending);
    size_t used = span;
    if (ring->pending_wrap) {
        size_t room_to_end = ring->size - pos;
        ring_hdr_t pad = {(uint32_t)(room_to_end - ENG_RING_HDR), 1};
        memcpy(ring->buf + pos, &pad, sizeof pad);
        pos = 0;
        used += room_to_end;
    }
    memcpy(ring->buf + pos, &hdr, sizeof hdr);
    ring->pending = 0;
    atomic_store_explicit(&ring->head, head + used, memory_order_release);
}

const void *eng_ring_peek(eng_ring_t *ring, size_t *len)
{
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    if (tail == ring->head_cache) {
        ring->head_cache = atomic_load_explicit(&ring->head, memory_order_acquire);
        if (tail == ring->head_cache) return NULL;
    }
    ring_hdr_t hdr;
    memcpy(&hdr, ring->buf + (tail & ring->mask), sizeof hdr);
    if (hdr.pad) {
        /* The producer published the pad and the record after it together. */
        tail += ENG_RING_HDR + hdr.len;
        assert((tail & ring->mask) == 0);
        atomic_store_explicit(&ring->tail, tail, memory_order_release);
        memcpy(&hdr, ring->buf, sizeof hdr);
    }
    *len = hdr.len;
    return ring->buf + (tail & ring->mask) + ENG_RING_HDR;
}

const void *eng_ring_peek_ahead(eng_ring_t *ring, size_t *pos, size_t *len)
{
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    size_t at = *pos < tail ? tail : *pos;
    if (at == ring->head_cache) {
        ring->head_cache = atomic_load_explicit(&ring->head, memory_order_acquire);
        if (at == ring->head_cache) {
            *pos = at;
            return NULL;
        }
    }
    ring_hdr_t hdr;
    memcpy(&hdr, ring->buf + (at & ring->mask), sizeof hdr);
    if (hdr.pad) {
        at += ENG_RING_HDR + hdr.len;
        memcpy(&hdr, ring->buf, sizeof hdr);
    }
    *len = hdr.len;
    *pos = at + ring_span(hdr.len);
    return ring->buf + (at & ring->mask) + ENG_RING_HDR;
}

void eng_ring_release(eng_ring_t *ring)
{
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    ring_hdr_t hdr;
    memcpy(&hdr, ring->buf + (tail & ring->mask), sizeof hdr);
    assert(!hdr.pad);
    atomic_store_explicit(&ring->tail, tail + ring_span(hdr.len), memory_order_release);
}

size_t eng_ring_used(const eng_ring_t *ring)
{
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    size_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    return head - tail;
}
