#include "elf/elf_loader.h"

#include <elf.h>

#include <cstring>
#include <map>

#include "x86_64/layout.h"

namespace tw::hyperlight {

namespace {

// Linux refuses program header tables over 64 KiB; real static programs have about ten.
constexpr uint64_t kMaxProgramHeaders = 256;

Error NoExec(std::string message) {
    return Error(ENOEXEC, std::move(message));
}

template <typename T>
T Load(std::span<const std::byte> image, uint64_t offset) {
    T value;
    std::memcpy(&value, image.data() + offset, sizeof(T));
    return value;
}

int ProtFromFlags(uint32_t p_flags) {
    return ((p_flags & PF_R) != 0 ? kProtRead : 0) | ((p_flags & PF_W) != 0 ? kProtWrite : 0) |
           ((p_flags & PF_X) != 0 ? kProtExec : 0);
}

}  // namespace

Result<ElfPlan> ParseElf(std::span<const std::byte> image) {
    if (image.size() < SELFMAG || std::memcmp(image.data(), ELFMAG, SELFMAG) != 0) {
        return NoExec("not an ELF executable");
    }
    if (image.size() < EI_NIDENT) {
        return NoExec("truncated ELF header");
    }
    auto ident = [&](int i) { return static_cast<unsigned char>(image[i]); };
    if (ident(EI_CLASS) == ELFCLASS32) {
        return NoExec("32-bit ELF programs are not supported");
    }
    if (ident(EI_CLASS) != ELFCLASS64) {
        return NoExec("unknown ELF class");
    }
    if (ident(EI_DATA) != ELFDATA2LSB) {
        return NoExec("big-endian ELF programs are not supported");
    }
    if (image.size() < sizeof(Elf64_Ehdr)) {
        return NoExec("truncated ELF header");
    }
    auto eh = Load<Elf64_Ehdr>(image, 0);
    if (eh.e_machine != EM_X86_64) {
        return NoExec("ELF program for another machine (e_machine=" + std::to_string(eh.e_machine) +
                      "), not x86-64");
    }
    if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
        return NoExec("ELF file is not an executable (e_type=" + std::to_string(eh.e_type) + ")");
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
        eh.e_phnum > kMaxProgramHeaders) {
        return NoExec("bad ELF program header table");
    }
    uint64_t table_size = uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
    if (eh.e_phoff > image.size() || table_size > image.size() - eh.e_phoff) {
        return NoExec("truncated ELF program header table");
    }

    ElfPlan plan;
    plan.position_independent = eh.e_type == ET_DYN;
    plan.entry = eh.e_entry;
    plan.phnum = eh.e_phnum;
    plan.phentsize = eh.e_phentsize;
    bool have_phdr = false;
    uint64_t lowest = ~0ull;
    uint64_t highest = 0;
    for (uint64_t i = 0; i < eh.e_phnum; ++i) {
        auto ph = Load<Elf64_Phdr>(image, eh.e_phoff + i * sizeof(Elf64_Phdr));
        if (ph.p_type == PT_INTERP) {
            return NoExec("dynamically linked programs are not supported yet");
        }
        if (ph.p_type == PT_PHDR) {
            plan.phdr_vaddr = ph.p_vaddr;
            have_phdr = true;
        }
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0) {
            continue;
        }
        if (ph.p_filesz > ph.p_memsz) {
            return NoExec("bad ELF segment: file size over memory size");
        }
        if (ph.p_offset > image.size() || ph.p_filesz > image.size() - ph.p_offset) {
            return NoExec("truncated ELF program: a segment lies past the end of the file");
        }
        // Segments must fit in the user half below the mmap area with room to spare, which
        // also keeps every sum below from overflowing.
        if (ph.p_vaddr >= layout::kMmapTop || ph.p_memsz > layout::kMmapTop - ph.p_vaddr) {
            return NoExec("bad ELF segment: outside the user address space");
        }
        plan.segments.push_back(LoadSegment{.vaddr = ph.p_vaddr,
                                            .memsz = ph.p_memsz,
                                            .offset = ph.p_offset,
                                            .filesz = ph.p_filesz,
                                            .prot = ProtFromFlags(ph.p_flags)});
        lowest = std::min(lowest, PageDown(ph.p_vaddr));
        highest = std::max(highest, PageUp(ph.p_vaddr + ph.p_memsz));
    }
    if (plan.segments.empty()) {
        return NoExec("ELF program has no loadable segment");
    }
    plan.min_vaddr = lowest;
    plan.max_vaddr = highest;
    if (plan.position_independent) {
        // Relocated to kPieBase - lowest, so only the span has to fit.
        if (highest - lowest > layout::kMmapTop - layout::kPieBase) {
            return NoExec("bad ELF program: segments span too much address space");
        }
    } else if (lowest < layout::kUserMin) {
        return NoExec("bad ELF segment: below the lowest mappable address");
    }

    if (!have_phdr) {
        // No PT_PHDR: the table is wherever the segment holding its file offset puts it.
        for (const LoadSegment& s : plan.segments) {
            if (eh.e_phoff >= s.offset && table_size <= s.filesz &&
                eh.e_phoff - s.offset <= s.filesz - table_size) {
                plan.phdr_vaddr = s.vaddr + (eh.e_phoff - s.offset);
                have_phdr = true;
                break;
            }
        }
        if (!have_phdr) {
            return NoExec("bad ELF program: program headers are not in a loaded segment");
        }
    }
    return plan;
}

Result<LoadedProgram> LoadElf(const ElfPlan& plan, std::span<const std::byte> image,
                              MemoryManager& memory) {
    uint64_t bias = plan.position_independent ? layout::kPieBase - plan.min_vaddr : 0;

    // Refuse before walking pages: the sizes are the image's and may be absurd.
    uint64_t frames_free = memory.stats().frames_free;
    uint64_t pages_needed = 0;
    for (const LoadSegment& s : plan.segments) {
        pages_needed += (PageUp(s.vaddr + s.memsz) - PageDown(s.vaddr)) / kPageSize;
        if (pages_needed >= frames_free) {
            return Error(ENOMEM, "the program needs more memory than the micro-VM has (--memory)");
        }
    }

    // Segments may share a page at their edges: that page gets the union of their rights.
    std::map<uint64_t, int> page_prot;
    for (const LoadSegment& s : plan.segments) {
        for (uint64_t page = PageDown(s.vaddr + bias); page < PageUp(s.vaddr + bias + s.memsz);
             page += kPageSize) {
            page_prot[page] |= s.prot;
        }
    }
    // One VMA per run of adjacent pages with equal rights.
    for (auto it = page_prot.begin(); it != page_prot.end();) {
        uint64_t start = it->first;
        int prot = it->second;
        uint64_t end = start + kPageSize;
        for (++it; it != page_prot.end() && it->first == end && it->second == prot; ++it) {
            end += kPageSize;
        }
        TW_RETURN_IF_ERROR(
            memory.MapRegion(start, end - start, prot, VmaKind::kProgram, start, end));
    }
    for (const LoadSegment& s : plan.segments) {
        TW_RETURN_IF_ERROR(memory.WriteIgnoringProtection(GuestVirtAddr(s.vaddr + bias),
                                                          image.subspan(s.offset, s.filesz)));
        // The bss part of the last file page must read as zero even if another segment's
        // bytes landed there; pages past it are fresh and zero already.
        uint64_t bss = s.vaddr + bias + s.filesz;
        uint64_t bss_end = std::min(PageUp(bss), s.vaddr + bias + s.memsz);
        if (bss < bss_end) {
            std::vector<std::byte> zeros(bss_end - bss);
            TW_RETURN_IF_ERROR(memory.WriteIgnoringProtection(GuestVirtAddr(bss), zeros));
        }
    }
    LoadedProgram program{.entry = plan.entry + bias,
                          .load_bias = bias,
                          .phdr = plan.phdr_vaddr + bias,
                          .phnum = plan.phnum,
                          .phentsize = plan.phentsize,
                          .brk_start = plan.max_vaddr + bias};
    memory.InitBrk(program.brk_start);
    return program;
}

Result<uint64_t> BuildInitialStack(MemoryManager& memory, const LoadedProgram& program,
                                   const InitialStackParams& params) {
    constexpr char kPlatform[] = "x86_64";
    uint64_t string_bytes = params.execfn.size() + 1 + sizeof(kPlatform) + 16;
    for (const auto& list : {&params.argv, &params.envp}) {
        for (const std::string& s : *list) {
            string_bytes += s.size() + 1;
        }
    }
    if (string_bytes > kMaxArgBytes) {
        return Error(E2BIG, "arguments and environment too long");
    }

    // Strings at the top (execfn first, as Linux puts it), then random bytes and platform,
    // then argc/argv/envp/auxv below them.
    std::vector<std::pair<int, uint64_t>> auxv;
    uint64_t vector_words = 1 + params.argv.size() + 1 + params.envp.size() + 1;
    constexpr uint64_t kAuxCount = 20;
    vector_words += 2 * kAuxCount;
    uint64_t low = PageDown(layout::kStackTop - 8 - string_bytes - 16 - vector_words * 8 - 64);
    uint64_t stack_bottom = layout::kStackTop - layout::kStackReserve;
    // Populate the pages the tables use plus 64 KiB of headroom; the rest on demand.
    uint64_t populate_from = std::max<uint64_t>(stack_bottom, low - (uint64_t{64} << 10));
    TW_RETURN_IF_ERROR(memory.MapRegion(stack_bottom, layout::kStackReserve, kProtRead | kProtWrite,
                                        VmaKind::kStack, populate_from, layout::kStackTop));

    uint64_t p = layout::kStackTop - 8;  // Linux leaves the top word zero.
    auto push_bytes = [&](const void* data, size_t len) -> Result<uint64_t> {
        p -= len;
        TW_RETURN_IF_ERROR(memory.WriteIgnoringProtection(
            GuestVirtAddr(p), std::span(static_cast<const std::byte*>(data), len)));
        return p;
    };
    auto push_string = [&](const std::string& s) { return push_bytes(s.c_str(), s.size() + 1); };

    TW_ASSIGN_OR_RETURN(uint64_t execfn, push_string(params.execfn));
    std::vector<uint64_t> env_ptrs;
    for (const std::string& s : params.envp) {
        TW_ASSIGN_OR_RETURN(uint64_t at, push_string(s));
        env_ptrs.push_back(at);
    }
    std::vector<uint64_t> arg_ptrs;
    for (const std::string& s : params.argv) {
        TW_ASSIGN_OR_RETURN(uint64_t at, push_string(s));
        arg_ptrs.push_back(at);
    }
    TW_ASSIGN_OR_RETURN(uint64_t platform, push_bytes(kPlatform, sizeof(kPlatform)));
    p &= ~uint64_t{15};
    TW_ASSIGN_OR_RETURN(uint64_t random, push_bytes(params.random.data(), params.random.size()));

    auxv = {
        {AT_PHDR, program.phdr},
        {AT_PHENT, program.phentsize},
        {AT_PHNUM, program.phnum},
        {AT_PAGESZ, kPageSize},
        {AT_BASE, 0},
        {AT_FLAGS, 0},
        {AT_ENTRY, program.entry},
        {AT_UID, params.uid},
        {AT_EUID, params.euid},
        {AT_GID, params.gid},
        {AT_EGID, params.egid},
        {AT_SECURE, 0},
        {AT_RANDOM, random},
        {AT_HWCAP, params.hwcap},
        {AT_HWCAP2, 0},
        {AT_CLKTCK, 100},
        {AT_PLATFORM, platform},
        {AT_EXECFN, execfn},
        {AT_NULL, 0},
    };
    std::vector<uint64_t> words;
    words.reserve(vector_words);
    words.push_back(params.argv.size());
    words.insert(words.end(), arg_ptrs.begin(), arg_ptrs.end());
    words.push_back(0);
    words.insert(words.end(), env_ptrs.begin(), env_ptrs.end());
    words.push_back(0);
    for (const auto& [type, value] : auxv) {
        words.push_back(static_cast<uint64_t>(type));
        words.push_back(value);
    }
    uint64_t rsp = (p - words.size() * 8) & ~uint64_t{15};
    if (rsp < low) {
        return Error(E2BIG, "initial stack layout overflow");
    }
    TW_RETURN_IF_ERROR(memory.WriteIgnoringProtection(
        GuestVirtAddr(rsp), std::as_bytes(std::span(words.data(), words.size()))));
    return rsp;
}

}  // namespace tw::hyperlight
