/* bigmem.h - large arrays backed by transparent huge pages, for the things
 * table and the deadline heaps (hundreds of MB at ten million things, read at
 * random: with 4 KiB pages every access is a TLB miss too).
 * An eng_bigmem_t reserves address space once (no memory: PROT_NONE,
 * MAP_NORESERVE), 2 MiB aligned and marked MADV_HUGEPAGE, and commits it in
 * 2 MiB steps as the array grows, so the array never moves and is never copied.
 * Threads: one owner thread.
 * Ownership: the owner embeds the struct and calls eng_bigmem_close().
 * Errors: a failed reservation or commit aborts (out of memory), like malloc
 *   failures elsewhere in the engine. */
#ifndef ENG_BIGMEM_H
#define ENG_BIGMEM_H

#include <stddef.h>

typedef struct eng_bigmem_s {
    void *base;       /* 2 MiB aligned start of the reservation (NULL: none yet) */
    void *map;        /* what mmap returned (base minus the alignment slack) */
    size_t map_len;   /* what to munmap */
    size_t reserved;  /* usable bytes from base */
    size_t committed; /* bytes from base that are readable and writable */
} eng_bigmem_t;

/* Reserves max_bytes of address space (nothing committed). Owner thread. */
void eng_bigmem_init(eng_bigmem_t *mem, size_t max_bytes);

/* Makes [base, base + bytes) writable (zero-filled when first touched) and
 * returns base; aborts when bytes exceeds the reservation. O(1) amortised. */
void *eng_bigmem_commit(eng_bigmem_t *mem, size_t bytes);

/* Releases the reservation and everything committed. */
void eng_bigmem_close(eng_bigmem_t *mem);

#endif
