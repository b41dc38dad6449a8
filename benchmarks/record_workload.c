/* The program docs/recording.md records: MIB MiB of private anonymous memory touched in a
 * pattern, in ROUNDS rounds of fixed compute (ITERS LCG steps, no memory traffic).
 *
 *   record_workload MIB ROUNDS ITERS SLEEP_US OUT
 *
 * First every page is written (first touch); then per round: one page of a marker
 * mapping is written (page r: where round r starts, in any trace), the first quarter of
 * the buffer is written (one word a page), half as many pages as the buffer has are read
 * at random (xorshift), then the compute, then a sleep of SLEEP_US. At the end every page is read once. OUT gets
 * the elapsed time (CLOCK_MONOTONIC, ns, main to end), the buffer's and the marker's
 * address. Build: cc -O2 -o record_workload record_workload.c */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s MIB ROUNDS ITERS SLEEP_US OUT\n", argv[0]);
        return 2;
    }
    uint64_t t0 = now_ns();
    size_t npages = strtoull(argv[1], 0, 10) * 256;
    int rounds = atoi(argv[2]);
    uint64_t iters = strtoull(argv[3], 0, 10);
    unsigned sleep_us = (unsigned)strtoul(argv[4], 0, 10);
    volatile unsigned char *buf = mmap(0, npages * 4096, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    volatile unsigned char *marker = mmap(0, (size_t)(rounds + 1) * 4096,
                                          PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED || marker == MAP_FAILED)
        return 1;
    for (size_t i = 0; i < npages; i++)
        buf[i * 4096] = (unsigned char)(i * 7 + 1);
    uint64_t x = 88172645463325252ull, sum = 0, lcg = 1;
    for (int r = 0; r < rounds; r++) {
        marker[(size_t)r * 4096] = 1;
        for (size_t j = 0; j < npages / 4; j++)
            buf[j * 4096 + (size_t)(r * 8) % 4096] += 1;
        for (size_t k = 0; k < npages / 2; k++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            sum += buf[(x % npages) * 4096 + 64];
        }
        for (uint64_t i = 0; i < iters; i++)
            lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
        if (sleep_us)
            usleep(sleep_us);
    }
    marker[(size_t)rounds * 4096] = 1;
    for (size_t i = 0; i < npages; i++)
        sum += buf[i * 4096 + 128];
    uint64_t elapsed = now_ns() - t0;
    FILE *f = fopen(argv[5], "w");
    if (!f)
        return 1;
    fprintf(f, "%llu %p %p %llu\n", (unsigned long long)elapsed, (void *)buf, (void *)marker,
            (unsigned long long)(sum + lcg));
    fclose(f);
    return 0;
}
