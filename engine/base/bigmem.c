/* bigmem.c - reserved, huge-page backed arrays; see bigmem.h. */
#include "engine/base/bigmem.h"

#include "engine/base/log.h"

#include <stdint.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

void eng_bigmem_init(eng_bigmem_t *mem, size_t max_bytes)
{
    size_t reserved = round_up(max_bytes ? max_bytes : 1, HUGE_PAGE);
    size_t len = reserved + HUGE_PAGE;
    void *map = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) ENG_OOM();
    uintptr_t base = round_up((uintptr_t)map, HUGE_PAGE);
    *mem = (eng_bigmem_t){(void *)base, map, len, reserved, 0};
#ifdef MADV_HUGEPAGE
    /* Advice only: without THP the array works the same on 4 KiB pages. */
    (void)madvise(mem->base, reserved, MADV_HUGEPAGE);
#endif
}

void *eng_bigmem_commit(eng_bigmem_t *mem, size_t bytes)
{
    if (bytes <= mem->committed) return mem->base;
    if (bytes > mem->reserved) ENG_OOM();
    /* Grow by at least half of what is committed, in whole huge pages. */
    size_t want = mem->committed + mem->committed / 2;
    if (want < bytes) want = bytes;
    want = round_up(want, HUGE_PAGE);
    if (want > mem->reserved) want = mem->reserved;
    if (mprotect((char *)mem->base + mem->committed, want - mem->committed,
                 PROT_READ | PROT_WRITE) != 0)
        ENG_OOM();
    mem->committed = want;
    return mem->base;
}

void eng_bigmem_close(eng_bigmem_t *mem)
{
    if (mem->map) munmap(mem->map, mem->map_len);
    *mem = (eng_bigmem_t){0};
}
