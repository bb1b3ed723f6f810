// Memory semantics: touches memory after munmap ("u") or writes after mprotect(PROT_READ)
// ("p"); both must end in SIGSEGV. "b" exercises brk, large mmaps and MAP_FIXED and prints a
// checksum that must match a native run.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char** argv) {
    char mode = argc > 1 ? argv[1][0] : 'b';
    volatile char* p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p[0] = 42;
    if (mode == 'u') {
        munmap((void*)p, 4096);
        printf("read after munmap: %d\n", p[0]);
        return 0;
    }
    if (mode == 'p') {
        mprotect((void*)p, 4096, PROT_READ);
        p[0] = 1;
        printf("write after mprotect succeeded\n");
        return 0;
    }
    unsigned long sum = 0;
    // Large mapping, touched sparsely then fully (demand paging on the VM side).
    size_t big = 64u << 20;
    unsigned char* b = mmap(0, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < big; i += 4096 * 3)
        b[i] = (unsigned char)(i >> 12);
    for (size_t i = 0; i < big; i += 4096)
        sum += b[i];
    // Punch a hole with munmap, refill it with MAP_FIXED: fresh zeros.
    munmap(b + (8u << 20), 1u << 20);
    void* again = mmap(b + (8u << 20), 1u << 20, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    for (size_t i = 0; i < (1u << 20); i += 4096)
        sum += ((unsigned char*)again)[i];
    // MAP_FIXED_NOREPLACE over an existing mapping fails with EEXIST.
    void* clash =
        mmap(b, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("noreplace: %s\n", clash == MAP_FAILED ? "refused" : "mapped");
    // Heap through malloc (brk and mmap), freed and reused.
    for (int round = 0; round < 50; ++round) {
        char* h = malloc(1000 + round * 5000);
        memset(h, round, 1000 + round * 5000);
        sum += (unsigned char)h[round];
        free(h);
    }
    printf("sum=%lu\n", sum);
    return 0;
}
