// Touches far more memory than the micro-VM is given: the VMM must end the run, not itself.
#include <stdio.h>
#include <sys/mman.h>

int main(void) {
    size_t len = 1ul << 30;
    volatile char* p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap failed\n");
        return 1;
    }
    for (size_t i = 0; i < len; i += 4096)
        p[i] = 1;
    printf("touched all\n");
    return 0;
}
