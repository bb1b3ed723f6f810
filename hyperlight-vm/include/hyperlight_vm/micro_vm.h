// RunProgram: runs one unmodified static Linux x86-64 program in a fresh KVM micro-VM.
//
// The program image is read through `files` (the tenant's storage, via the I/O protocol),
// never from a host path. Memory and process calls are served inside this process; file calls
// go to the I/O server behind `files`; fd 0-2 are this process's own standard streams.
//
//   MicroVmConfig config{.argv = {"/bin/busybox", "echo", "hi"}, .env = {"PATH=/bin"}};
//   Termination t = RunProgram(*client, config);
//   if (t.kind == Termination::Kind::kExited) return t.code;
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "transport/file_client.h"

namespace tw::hyperlight {

// How a run ended.
struct Termination {
    enum class Kind {
        kExited,      // exit/exit_group: `code` is the exit status
        kSignaled,    // killed by signal `code` (a fault, a signal it sent itself, the monitor)
        kTimedOut,    // the timeout passed
        kBadProgram,  // not a program this VMM can run (not ELF, 32-bit, dynamic, ...)
        kNotFound,    // the program does not exist in the tenant's storage
        kInternal,    // the VMM itself failed (KVM unavailable, out of host memory, ...)
    };
    Kind kind = Kind::kExited;
    int code = 0;
    // kSignaled: what happened ("fault at rip=0x401000 addr=0x0"), possibly empty; other
    // kinds: a message for the user.
    std::string detail;
};

struct MicroVmConfig {
    uint64_t memory_bytes = 256ull << 20;  // guest RAM, including the kernel region
    double timeout_seconds = 0;            // 0: no timeout
    std::vector<std::string> argv;         // argv[0] names the program (searched in PATH)
    std::vector<std::string> env;          // KEY=VALUE
};

// Per-run figures for diagnostics and benchmarks.
struct RunStats {
    uint64_t setup_us = 0;    // from entry to the first KVM_RUN
    uint64_t run_us = 0;      // from the first KVM_RUN to the end
    uint64_t hypercalls = 0;  // forwarded system calls
    uint64_t faults = 0;      // fault exits (demand paging included)
    uint64_t pages_populated = 0;
};

// Never throws; every failure is reported as a Termination.
Termination RunProgram(transport::FileClient& files, const MicroVmConfig& config,
                       RunStats* stats = nullptr);

// The conventional exit status for a termination: the exit code, 128 + signal, 124 timeout,
// 126 bad program, 127 not found, 125 internal error.
int ExitStatusFor(const Termination& t);

// "SIGSEGV" for 11.
std::string SignalName(int sig);

// The line the runner prints on stderr for a termination other than a normal exit, or "".
std::string DescribeTermination(const Termination& t, double timeout_seconds);

}  // namespace tw::hyperlight
