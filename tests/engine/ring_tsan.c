/* ring_tsan.c - the ring's two-thread stress run as a plain program, for
 * ThreadSanitizer (scripts/test). Exit 0 when every item arrived in order. */
#include "ring_stress.h"

int main(int argc, char **argv)
{
    uint64_t items = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    char why[160] = "";
    uint64_t got = ring_stress_run(items, why, sizeof why);
    printf("ring stress: %llu of %llu items in order %s\n", (unsigned long long)got,
           (unsigned long long)items, why);
    return got == items ? 0 : 1;
}
