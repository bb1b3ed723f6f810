// The contract between the VMM and the guest kernel: the boot page, the call page and the
// kernel image header. Shared by C++ on both sides and by the guest's assembly, so offsets are
// macros and the C++ structs below are pinned to them with static_asserts.
//
// Everything the VMM reads from these pages is untrusted: a guest that took over ring 0 can
// write anything anywhere in guest memory and exit with any request.
#pragma once

#include "x86_64/layout.h"

// Boot page (TW_BOOT_PAGE_GPA), written by the VMM before the first entry.
#define TW_BOOT_USER_RIP 0x00  // IN: program entry point
#define TW_BOOT_USER_RSP 0x08  // IN: initial stack pointer (points at argc)
#define TW_BOOT_PID 0x10       // IN: answers of the calls the kernel serves locally
#define TW_BOOT_PPID 0x18
#define TW_BOOT_UID 0x20
#define TW_BOOT_EUID 0x28
#define TW_BOOT_GID 0x30
#define TW_BOOT_EGID 0x38

// Call page (TW_CALL_PAGE_GPA). The guest writes the request fields, then `out` to
// TW_PORT_HYPERCALL; the VMM writes the result and flags before resuming it.
#define TW_CALL_NR 0x00      // IN: system call number (rax)
#define TW_CALL_ARGS 0x08    // IN: rdi, rsi, rdx, r10, r8, r9
#define TW_CALL_RESULT 0x38  // OUT: value for rax
#define TW_CALL_FLAGS 0x40   // OUT: TW_CALL_FLAG_* for the guest to act on before returning
// Fault record: the guest writes it, then `out` to TW_PORT_FAULT. The VMM either resumes the
// guest (a page it populated on demand; the stub then returns with iretq) or ends the run.
#define TW_FAULT_VECTOR 0x80  // IN
#define TW_FAULT_ERROR 0x88   // IN: error code, 0 for vectors without one
#define TW_FAULT_RIP 0x90     // IN
#define TW_FAULT_CS 0x98      // IN: tells a fault in ring 3 from one in ring 0
#define TW_FAULT_ADDR 0xa0    // IN: CR2

// The VMM changed or removed translations: reload CR3 before returning to ring 3.
#define TW_CALL_FLAG_RELOAD_CR3 1

// Kernel image header: the first bytes of the flat kernel binary.
#define TW_IMAGE_MAGIC 0x314c524b57545754  // "TWTWKRL1"
#define TW_IMAGE_HDR_MAGIC 0x00
#define TW_IMAGE_HDR_ENTRY 0x08     // virtual address of the entry point
#define TW_IMAGE_HDR_TEXT_END 0x10  // virtual end of text and rodata (page aligned)
#define TW_IMAGE_HDR_END 0x18       // virtual end of the image including bss (page aligned)

#ifndef __ASSEMBLER__
#include <cstddef>
#include <cstdint>

namespace tw::hyperlight::abi {

struct BootPage {
    uint64_t user_rip;
    uint64_t user_rsp;
    uint64_t pid;
    uint64_t ppid;
    uint64_t uid;
    uint64_t euid;
    uint64_t gid;
    uint64_t egid;
};
static_assert(offsetof(BootPage, user_rip) == TW_BOOT_USER_RIP);
static_assert(offsetof(BootPage, user_rsp) == TW_BOOT_USER_RSP);
static_assert(offsetof(BootPage, pid) == TW_BOOT_PID);
static_assert(offsetof(BootPage, ppid) == TW_BOOT_PPID);
static_assert(offsetof(BootPage, uid) == TW_BOOT_UID);
static_assert(offsetof(BootPage, euid) == TW_BOOT_EUID);
static_assert(offsetof(BootPage, gid) == TW_BOOT_GID);
static_assert(offsetof(BootPage, egid) == TW_BOOT_EGID);

struct CallRequest {
    uint64_t nr;       // IN
    uint64_t args[6];  // IN
};
static_assert(offsetof(CallRequest, nr) == TW_CALL_NR);
static_assert(offsetof(CallRequest, args) == TW_CALL_ARGS);

struct CallReply {
    int64_t result;  // OUT
    uint64_t flags;  // OUT
};
inline constexpr uint64_t kCallReplyOffset = TW_CALL_RESULT;
static_assert(TW_CALL_FLAGS == TW_CALL_RESULT + offsetof(CallReply, flags));

struct FaultRecord {
    uint64_t vector;  // IN
    uint64_t error;   // IN
    uint64_t rip;     // IN
    uint64_t cs;      // IN
    uint64_t addr;    // IN
};
inline constexpr uint64_t kFaultRecordOffset = TW_FAULT_VECTOR;
static_assert(TW_FAULT_ERROR == TW_FAULT_VECTOR + offsetof(FaultRecord, error));
static_assert(TW_FAULT_RIP == TW_FAULT_VECTOR + offsetof(FaultRecord, rip));
static_assert(TW_FAULT_CS == TW_FAULT_VECTOR + offsetof(FaultRecord, cs));
static_assert(TW_FAULT_ADDR == TW_FAULT_VECTOR + offsetof(FaultRecord, addr));

struct ImageHeader {
    uint64_t magic;
    uint64_t entry;
    uint64_t text_end;
    uint64_t end;
};
static_assert(offsetof(ImageHeader, entry) == TW_IMAGE_HDR_ENTRY);
static_assert(offsetof(ImageHeader, text_end) == TW_IMAGE_HDR_TEXT_END);
static_assert(offsetof(ImageHeader, end) == TW_IMAGE_HDR_END);

inline constexpr uint64_t kCallFlagReloadCr3 = TW_CALL_FLAG_RELOAD_CR3;

}  // namespace tw::hyperlight::abi
#endif
