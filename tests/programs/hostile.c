// Hostile programs, one per mode (argv[1]); each tries to reach past its own process. The
// end-to-end tests check that every attempt ends the program's own run (or fails cleanly) and
// never the VMM.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

// Addresses of the micro-VM's layout (hyperlight-vm/src/x86_64/layout.h): the call page and
// the address `syscall` traps at. On a native run they are kernel addresses too.
#define CALL_PAGE 0xffffffff80006000ul
#define SYSCALL_TRAP 0xffffffff80400000ul

static uint64_t state = 0x9e3779b97f4a7c15ull;
static uint64_t Next(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static long RawSyscall(long nr, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

// Random system calls with hostile arguments. Calls that would end or cripple the fuzzer
// itself (exit, signals, unmapping its own code, replacing stdout, ...) are skipped.
static int Fuzz(int rounds) {
    static char buffer[8192];
    static const int kSkip[] = {SYS_exit,
                                SYS_exit_group,
                                SYS_kill,
                                SYS_tkill,
                                SYS_tgkill,
                                SYS_rt_sigreturn,
                                SYS_pause,
                                SYS_nanosleep,
                                SYS_clock_nanosleep,
                                SYS_select,
                                SYS_pselect6,
                                SYS_poll,
                                SYS_ppoll,
                                SYS_epoll_wait,
                                SYS_epoll_pwait,
                                SYS_wait4,
                                SYS_waitid,
                                SYS_vfork,
                                SYS_fork,
                                SYS_clone,
                                SYS_clone3,
                                SYS_execve,
                                SYS_execveat,
                                SYS_munmap,
                                SYS_mmap,
                                SYS_mremap,
                                SYS_brk,
                                SYS_mprotect,
                                SYS_madvise,
                                SYS_arch_prctl,
                                SYS_close,
                                SYS_dup2,
                                SYS_dup3,
                                SYS_read,
                                SYS_readv,
                                SYS_preadv,
                                SYS_preadv2,
                                SYS_futex,
                                SYS_rt_sigsuspend,
                                SYS_rt_sigtimedwait,
                                SYS_sched_setaffinity,
                                SYS_setitimer,
                                SYS_alarm,
                                SYS_timer_create,
                                SYS_close_range,
                                SYS_shmat,
                                SYS_io_uring_setup,
                                SYS_userfaultfd,
                                SYS_sendfile,
                                SYS_splice,
                                SYS_tee,
                                SYS_copy_file_range,
                                SYS_seccomp,
                                SYS_personality,
                                SYS_fcntl,
                                SYS_ioctl};
    for (size_t i = 0; i < sizeof(buffer); ++i) {
        buffer[i] = (char)Next();
    }
    int done = 0;
    for (int round = 0; round < rounds; ++round) {
        long nr = (long)(Next() % 450);
        int skip = 0;
        for (size_t i = 0; i < sizeof(kSkip) / sizeof(kSkip[0]); ++i) {
            skip |= kSkip[i] == nr;
        }
        if (skip) {
            continue;
        }
        long args[6];
        for (int i = 0; i < 6; ++i) {
            switch (Next() % 8) {
                case 0:
                    args[i] = 0;
                    break;
                case 1:
                    args[i] = (long)(Next() % 64);
                    break;
                case 2:
                    args[i] = -1;
                    break;
                case 3:
                    args[i] = (long)Next();
                    break;
                case 4:
                    args[i] = (long)(buffer + Next() % sizeof(buffer));
                    break;
                case 5:
                    args[i] = (long)CALL_PAGE;
                    break;
                case 6:
                    args[i] = (long)(0x7ffffffff000ul - Next() % 64);
                    break;
                default:
                    args[i] = (long)(1ul << (Next() % 64));
                    break;
            }
        }
        // Writes to stdout would only add noise: keep fd 1 and 2 out of the first argument.
        if (args[0] == 1 || args[0] == 2) {
            args[0] = 3;
        }
        RawSyscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
        ++done;
    }
    printf("survived %d calls\n", done);
    return 0;
}

// Jumps to the address `syscall` traps at, as if a system call had been made, with a
// non-canonical return address in rcx.
static void TrapWithBadRip(void) {
    __asm__ volatile(
        "mov $39, %%eax\n"
        "movabs $0x8000000000000000, %%rcx\n"
        "mov $0x202, %%r11d\n"
        "movabs $%c0, %%rdx\n"
        "jmp *%%rdx\n" ::"i"(SYSCALL_TRAP)
        : "rax", "rcx", "rdx", "r11");
}

// The same with IOPL 3 in r11, returning to a `cli` that only succeeds at IOPL 3.
static void TrapWithIopl(void) {
    __asm__ volatile(
        "mov $39, %%eax\n"
        "lea 1f(%%rip), %%rcx\n"
        "mov $0x3202, %%r11d\n"
        "movabs $%c0, %%rdx\n"
        "jmp *%%rdx\n"
        "1: cli\n" ::"i"(SYSCALL_TRAP)
        : "rax", "rcx", "rdx", "r11");
    printf("iopl escalated\n");
}

// A system call made with the stack pointer aimed at the guest kernel: the kernel must not
// use the user stack. exit(3) follows on the same bad stack.
static void SyscallOnKernelStack(void) {
    __asm__ volatile(
        "movabs $%c0, %%rsp\n"
        "mov $60, %%eax\n"
        "mov $3, %%edi\n"
        "syscall\n"
        "ud2\n" ::"i"(CALL_PAGE + 0x100));
}

static void MemoryCalls(void) {
    void* kernel = (void*)0xffffffff80000000ul;
    errno = 0;
    void* m = mmap(kernel, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("mmap fixed kernel: %s\n", m == MAP_FAILED ? strerror(errno) : "mapped");
    printf("munmap kernel: %s\n", munmap(kernel, 4096) == 0 ? "ok" : strerror(errno));
    printf("mprotect kernel: %s\n",
           mprotect(kernel, 4096, PROT_READ) == 0 ? "ok" : strerror(errno));
    void* brk_now = sbrk(0);
    printf("brk kernel: %s\n", (void*)syscall(SYS_brk, kernel) == brk_now ? "unchanged" : "moved");
    m = mmap(0, 1ul << 46, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap huge: %s\n", m == MAP_FAILED ? strerror(errno) : "mapped");
}

int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (strcmp(mode, "port") == 0) {
        __asm__ volatile("mov $0x10, %%dx\n out %%al, %%dx" ::: "rdx");
        __asm__ volatile("out %%al, $0x11" ::: "memory");
        printf("ports reached\n");
    } else if (strcmp(mode, "port-in") == 0) {
        unsigned char v;
        __asm__ volatile("in $0x10, %0" : "=a"(v));
        printf("port read %u\n", v);
    } else if (strcmp(mode, "kernel-read") == 0) {
        printf("read %lx\n", *(volatile unsigned long*)CALL_PAGE);
    } else if (strcmp(mode, "kernel-write") == 0) {
        *(volatile unsigned long*)CALL_PAGE = 0x4141414141414141ul;
        printf("call page written\n");
    } else if (strcmp(mode, "int14") == 0) {
        __asm__ volatile("int $14");
    } else if (strcmp(mode, "int3") == 0) {
        __asm__ volatile("int3");
    } else if (strcmp(mode, "trap-rip") == 0) {
        TrapWithBadRip();
    } else if (strcmp(mode, "trap-iopl") == 0) {
        TrapWithIopl();
    } else if (strcmp(mode, "kernel-stack") == 0) {
        SyscallOnKernelStack();
    } else if (strcmp(mode, "memory-calls") == 0) {
        MemoryCalls();
    } else if (strcmp(mode, "fuzz") == 0) {
        return Fuzz(argc > 2 ? atoi(argv[2]) : 20000);
    } else {
        printf("unknown mode\n");
        return 2;
    }
    return 0;
}
