/* A small key-value workload: build a 48 MiB table of records, then serve
 * skewed lookups with occasional updates and a periodic scan of one region. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NREC (48u << 20) / 128u
struct rec { uint64_t key; uint64_t hits; char val[112]; };

static uint64_t rng = 88172645463325252ull;
static inline uint64_t xs(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

int main(void) {
    struct rec *t = calloc((size_t)NREC, sizeof *t);
    if (!t) return 1;
    for (uint32_t i = 0; i < NREC; i++) {
        t[i].key = i * 2654435761u;
        t[i].hits = 0;
        if (i % 7)   /* most records hold a short string, every 7th stays zero */
            memcpy(t[i].val, "value-warm-entry-with-some-text", 32);
    }
    uint64_t sum = 0;
    for (uint32_t q = 0; q < 300000; q++) {
        uint64_t r = xs();
        /* skew: 80% of lookups go to 10% of the table, in a hot window that moves */
        uint32_t hot_base = (q / 75000) * (NREC / 8);
        uint32_t i = (r % 10 < 8) ? hot_base + (uint32_t)((r >> 8) % (NREC / 10))
                                  : (uint32_t)((r >> 8) % NREC);
        i %= NREC;
        sum += t[i].key + (uint64_t)t[i].val[3];
        if ((r & 15) == 0) { t[i].hits++; t[i].val[0] = 'V'; }
        if (q % 37500 == 0)
            for (uint32_t j = 0; j < NREC / 16; j += 32) sum += t[(hot_base + j) % NREC].hits;
    }
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
