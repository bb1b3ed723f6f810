// Guest programs for the per-call benchmarks, built -static -nostdlib so each run is the
// loop and nothing else:
//
//   loops pread FILE N   N preads of 4 KiB from FILE (forwarded to the I/O server)
//   loops umask N        N umask calls (answered by the VMM: one bare VM-exit round trip)
//
// Exit status 0 on success, 1 on bad arguments, 2 when a call fails.
#include <stddef.h>

static long Syscall3(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

static long Syscall4(long nr, long a, long b, long c, long d) {
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

static long ParseCount(const char* s) {
    long n = 0;
    for (; *s; ++s) {
        if (*s < '0' || *s > '9') {
            return -1;
        }
        n = n * 10 + (*s - '0');
    }
    return n;
}

static int Same(const char* a, const char* b) {
    while (*a && *a == *b) {
        ++a;
        ++b;
    }
    return *a == *b;
}

static char buf[4096];

static int Main(long argc, char** argv) {
    if (argc == 4 && Same(argv[1], "pread")) {
        long n = ParseCount(argv[3]);
        long fd = Syscall4(257, -100, (long)argv[2], 0, 0);  // openat(AT_FDCWD, path, O_RDONLY)
        if (n < 0 || fd < 0) {
            return fd < 0 ? 2 : 1;
        }
        for (long i = 0; i < n; ++i) {
            if (Syscall4(17, fd, (long)buf, sizeof(buf), 0) != sizeof(buf)) {  // pread64
                return 2;
            }
        }
        return 0;
    }
    if (argc == 3 && Same(argv[1], "umask")) {
        long n = ParseCount(argv[2]);
        if (n < 0) {
            return 1;
        }
        for (long i = 0; i < n; ++i) {
            Syscall3(95, 022, 0, 0);  // umask
        }
        return 0;
    }
    return 1;
}

// The initial stack as Linux builds it: argc, then argv pointers.
__attribute__((used)) static void Start(long* sp) {
    long status = Main(sp[0], (char**)(sp + 1));
    Syscall3(231, status, 0, 0);  // exit_group
}

__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call Start\n hlt\n");
