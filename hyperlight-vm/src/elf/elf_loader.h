// The ELF loader: checks a program image read from the tenant's storage, maps its PT_LOAD
// segments into the micro-VM and builds the initial stack exactly as Linux's execve does.
//
// Supported: ET_EXEC (-static, loaded at its link address) and ET_DYN without PT_INTERP
// (-static-pie, loaded at layout::kPieBase; its own startup code relocates it). Everything in
// the image is hostile input: every offset and size is checked before use, without overflow.
// Failures carry ENOEXEC and a message fit for the user ("not an ELF executable").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "memory/memory_manager.h"

namespace tw::hyperlight {

struct LoadSegment {
    uint64_t vaddr = 0;
    uint64_t memsz = 0;
    uint64_t offset = 0;
    uint64_t filesz = 0;
    int prot = 0;
};

// What ParseElf learned; addresses are the image's own (not yet relocated).
struct ElfPlan {
    bool position_independent = false;
    uint64_t entry = 0;
    uint64_t phdr_vaddr = 0;
    uint64_t phnum = 0;
    uint64_t phentsize = 0;
    uint64_t min_vaddr = 0;  // page aligned
    uint64_t max_vaddr = 0;  // page aligned, exclusive
    std::vector<LoadSegment> segments;
};

// Validates the image. ENOEXEC with a user-facing message for anything Linux would refuse or
// this loader cannot run.
Result<ElfPlan> ParseElf(std::span<const std::byte> image);

struct LoadedProgram {
    uint64_t entry = 0;
    uint64_t load_bias = 0;
    uint64_t phdr = 0;
    uint64_t phnum = 0;
    uint64_t phentsize = 0;
    uint64_t brk_start = 0;
};

// Maps the segments of a parsed image (populated at once) and sets the brk start. ENOMEM when
// the guest has too little memory for it.
Result<LoadedProgram> LoadElf(const ElfPlan& plan, std::span<const std::byte> image,
                              MemoryManager& memory);

struct InitialStackParams {
    std::vector<std::string> argv;
    std::vector<std::string> envp;
    std::string execfn;                  // the path the program was started by (AT_EXECFN)
    std::array<std::byte, 16> random{};  // AT_RANDOM bytes
    uint64_t hwcap = 0;                  // AT_HWCAP: CPUID.1:EDX, as Linux reports it
    uint64_t uid = 0, euid = 0, gid = 0, egid = 0;
};

// The most argument and environment bytes a program may be given (strings with their NULs).
inline constexpr uint64_t kMaxArgBytes = 1ull << 20;

// Maps the stack VMA and writes argc, argv, envp and the auxiliary vector; returns the initial
// rsp (16-byte aligned, pointing at argc). E2BIG when the strings exceed kMaxArgBytes.
Result<uint64_t> BuildInitialStack(MemoryManager& memory, const LoadedProgram& program,
                                   const InitialStackParams& params);

}  // namespace tw::hyperlight
