#include "elf/elf_loader.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "x86_64/layout.h"

namespace tw::hyperlight {
namespace {

constexpr uint64_t kMemory = 32ull << 20;

// Builds a small ELF image: header, program headers right after it, then segment data.
class ElfBuilder {
public:
    explicit ElfBuilder(uint16_t type = ET_EXEC) {
        std::memcpy(eh_.e_ident, ELFMAG, SELFMAG);
        eh_.e_ident[EI_CLASS] = ELFCLASS64;
        eh_.e_ident[EI_DATA] = ELFDATA2LSB;
        eh_.e_ident[EI_VERSION] = EV_CURRENT;
        eh_.e_type = type;
        eh_.e_machine = EM_X86_64;
        eh_.e_version = EV_CURRENT;
        eh_.e_phoff = sizeof(Elf64_Ehdr);
        eh_.e_ehsize = sizeof(Elf64_Ehdr);
        eh_.e_phentsize = sizeof(Elf64_Phdr);
    }
    ElfBuilder& Entry(uint64_t entry) {
        eh_.e_entry = entry;
        return *this;
    }
    // A PT_LOAD whose file data starts at `offset` (the headers are part of the first one).
    ElfBuilder& Load(uint64_t vaddr, uint64_t offset, uint64_t filesz, uint64_t memsz,
                     uint32_t flags) {
        Elf64_Phdr ph{};
        ph.p_type = PT_LOAD;
        ph.p_flags = flags;
        ph.p_offset = offset;
        ph.p_vaddr = ph.p_paddr = vaddr;
        ph.p_filesz = filesz;
        ph.p_memsz = memsz;
        ph.p_align = 0x1000;
        phdrs_.push_back(ph);
        return *this;
    }
    ElfBuilder& Other(uint32_t type) {
        Elf64_Phdr ph{};
        ph.p_type = type;
        phdrs_.push_back(ph);
        return *this;
    }
    std::vector<std::byte> Build(size_t file_size) {
        eh_.e_phnum = static_cast<uint16_t>(phdrs_.size());
        std::vector<std::byte> image(file_size);
        std::memcpy(image.data(), &eh_, sizeof(eh_));
        // The table always goes right after the header, even when a test points e_phoff elsewhere.
        std::memcpy(image.data() + sizeof(Elf64_Ehdr), phdrs_.data(),
                    phdrs_.size() * sizeof(Elf64_Phdr));
        for (size_t i = 0x1000; i < file_size; ++i) {
            image[i] = static_cast<std::byte>(i * 7);  // recognizable segment bytes
        }
        return image;
    }
    Elf64_Ehdr& header() { return eh_; }

private:
    Elf64_Ehdr eh_{};
    std::vector<Elf64_Phdr> phdrs_;
};

// A typical static program: headers + text in one RX segment, data + bss in an RW one.
std::vector<std::byte> StaticProgram() {
    return ElfBuilder()
        .Entry(0x401000)
        .Load(0x400000, 0, 0x2000, 0x2000, PF_R | PF_X)
        .Load(0x403000, 0x2000, 0x800, 0x3000, PF_R | PF_W)
        .Build(0x2800);
}

std::string ParseError(const std::vector<std::byte>& image) {
    auto plan = ParseElf(image);
    if (plan.ok()) {
        return "";
    }
    EXPECT_EQ(plan.error().err(), ENOEXEC);
    return plan.error().message();
}

TEST(ParseElf, AcceptsStaticExecutable) {
    auto plan = ParseElf(StaticProgram());
    ASSERT_TRUE(plan.ok()) << plan.error().message();
    EXPECT_FALSE(plan->position_independent);
    EXPECT_EQ(plan->entry, 0x401000u);
    EXPECT_EQ(plan->segments.size(), 2u);
    EXPECT_EQ(plan->min_vaddr, 0x400000u);
    EXPECT_EQ(plan->max_vaddr, 0x406000u);
    EXPECT_EQ(plan->phdr_vaddr, 0x400000u + sizeof(Elf64_Ehdr));
}

TEST(ParseElf, RejectsNonElf) {
    std::vector<std::byte> text(100, std::byte{'#'});
    EXPECT_EQ(ParseError(text), "not an ELF executable");
    EXPECT_EQ(ParseError({}), "not an ELF executable");
}

TEST(ParseElf, RejectsTruncatedHeader) {
    std::vector<std::byte> image = StaticProgram();
    image.resize(40);
    EXPECT_EQ(ParseError(image), "truncated ELF header");
    image.resize(8);
    EXPECT_EQ(ParseError(image), "truncated ELF header");
}

TEST(ParseElf, Rejects32Bit) {
    std::vector<std::byte> image = StaticProgram();
    image[EI_CLASS] = std::byte{ELFCLASS32};
    EXPECT_EQ(ParseError(image), "32-bit ELF programs are not supported");
}

TEST(ParseElf, RejectsOtherMachine) {
    ElfBuilder b;
    b.Load(0x400000, 0, 0x1000, 0x1000, PF_R | PF_X);
    b.header().e_machine = EM_AARCH64;
    EXPECT_NE(ParseError(b.Build(0x1000)).find("another machine"), std::string::npos);
}

TEST(ParseElf, RejectsDynamicallyLinked) {
    std::vector<std::byte> image =
        ElfBuilder().Other(PT_INTERP).Load(0x400000, 0, 0x1000, 0x1000, PF_R).Build(0x1000);
    EXPECT_EQ(ParseError(image), "dynamically linked programs are not supported yet");
}

TEST(ParseElf, RejectsSegmentPastEndOfFile) {
    std::vector<std::byte> image = StaticProgram();
    image.resize(0x2400);
    EXPECT_NE(ParseError(image).find("truncated"), std::string::npos);
}

TEST(ParseElf, RejectsBadSegments) {
    EXPECT_NE(ParseError(ElfBuilder().Load(0x400000, 0, 0x2000, 0x1000, PF_R).Build(0x2000))
                  .find("file size over memory size"),
              std::string::npos);
    EXPECT_NE(
        ParseError(ElfBuilder().Load(0xffffffff80000000, 0, 0x1000, 0x1000, PF_R).Build(0x1000))
            .find("outside the user address space"),
        std::string::npos);
    EXPECT_NE(ParseError(ElfBuilder().Load(0x7ffffffff000, 0, 0x1000, 0x2000, PF_R).Build(0x1000))
                  .find("outside the user address space"),
              std::string::npos);
    EXPECT_NE(ParseError(ElfBuilder().Load(0x400000, 0, 0x1000, ~0ull - 0x1000, PF_R).Build(0x1000))
                  .find("outside the user address space"),
              std::string::npos);
    EXPECT_NE(ParseError(ElfBuilder().Load(0x1000, 0, 0x1000, 0x1000, PF_R).Build(0x1000))
                  .find("lowest mappable"),
              std::string::npos);
    EXPECT_NE(ParseError(ElfBuilder().Other(PT_NOTE).Build(0x1000)).find("no loadable"),
              std::string::npos);
}

TEST(ParseElf, RejectsBadProgramHeaderTable) {
    ElfBuilder b;
    b.Load(0x400000, 0, 0x1000, 0x1000, PF_R);
    b.header().e_phentsize = 32;
    EXPECT_NE(ParseError(b.Build(0x1000)).find("program header"), std::string::npos);
    ElfBuilder c;
    c.Load(0x400000, 0, 0x1000, 0x1000, PF_R);
    c.header().e_phoff = ~0ull - 8;
    EXPECT_NE(ParseError(c.Build(0x1000)).find("program header"), std::string::npos);
}

TEST(ParseElf, PositionIndependentIsRelocatedToPieBase) {
    std::vector<std::byte> image = ElfBuilder(ET_DYN)
                                       .Entry(0x1040)
                                       .Load(0, 0, 0x2000, 0x2000, PF_R | PF_X)
                                       .Load(0x3000, 0x2000, 0x100, 0x1000, PF_R | PF_W)
                                       .Build(0x2100);
    auto plan = ParseElf(image);
    ASSERT_TRUE(plan.ok()) << plan.error().message();
    EXPECT_TRUE(plan->position_independent);

    auto mem = GuestMemory::Create(kMemory);
    ASSERT_TRUE(mem.ok());
    MemoryManager mm(*mem, GuestPhysAddr(layout::kPml4Gpa), GuestPhysAddr(layout::kFramePoolGpa),
                     GuestPhysAddr(kMemory));
    auto loaded = LoadElf(*plan, image, mm);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message();
    EXPECT_EQ(loaded->load_bias, layout::kPieBase);
    EXPECT_EQ(loaded->entry, layout::kPieBase + 0x1040);
    EXPECT_EQ(loaded->phdr, layout::kPieBase + sizeof(Elf64_Ehdr));
    EXPECT_EQ(mm.brk(), layout::kPieBase + 0x4000);
}

class LoadTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto mem = GuestMemory::Create(kMemory);
        ASSERT_TRUE(mem.ok());
        memory_.emplace(std::move(*mem));
        mm_ = std::make_unique<MemoryManager>(*memory_, GuestPhysAddr(layout::kPml4Gpa),
                                              GuestPhysAddr(layout::kFramePoolGpa),
                                              GuestPhysAddr(kMemory));
    }
    uint64_t Word(uint64_t va) {
        uint64_t v = 0;
        EXPECT_TRUE(
            mm_->CopyFromUser(GuestVirtAddr(va), std::as_writable_bytes(std::span(&v, 1))).ok());
        return v;
    }
    std::string String(uint64_t va) { return *mm_->ReadString(GuestVirtAddr(va), 4096); }

    std::optional<GuestMemory> memory_;
    std::unique_ptr<MemoryManager> mm_;
};

TEST_F(LoadTest, SegmentsGetContentsZeroedBssAndRights) {
    std::vector<std::byte> image = StaticProgram();
    auto plan = ParseElf(image);
    ASSERT_TRUE(plan.ok());
    auto loaded = LoadElf(*plan, image, *mm_);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message();
    std::vector<std::byte> text(0x1000);
    ASSERT_TRUE(mm_->CopyFromUser(GuestVirtAddr(0x401000), text).ok());
    EXPECT_TRUE(std::equal(text.begin(), text.end(), image.begin() + 0x1000));
    std::byte data{};
    ASSERT_TRUE(mm_->CopyFromUser(GuestVirtAddr(0x403010), std::span(&data, 1)).ok());
    EXPECT_EQ(data, image[0x2010]);
    ASSERT_TRUE(mm_->CopyFromUser(GuestVirtAddr(0x403800), std::span(&data, 1)).ok());
    EXPECT_EQ(data, std::byte{0});  // bss
    EXPECT_EQ(mm_->brk(), 0x406000u);
    // Text is not writable for the program; data is.
    EXPECT_FALSE(mm_->CopyToUser(GuestVirtAddr(0x401000), std::span(&data, 1)).ok());
    EXPECT_TRUE(mm_->CopyToUser(GuestVirtAddr(0x405000), std::span(&data, 1)).ok());
}

TEST_F(LoadTest, ProgramTooLargeForMemoryIsEnomem) {
    std::vector<std::byte> image =
        ElfBuilder().Load(0x400000, 0, 0x1000, kMemory * 2, PF_R | PF_W).Build(0x1000);
    auto plan = ParseElf(image);
    ASSERT_TRUE(plan.ok());
    auto loaded = LoadElf(*plan, image, *mm_);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.error().err(), ENOMEM);
}

TEST_F(LoadTest, InitialStackIsLinuxLayout) {
    std::vector<std::byte> image = StaticProgram();
    auto plan = ParseElf(image);
    ASSERT_TRUE(plan.ok());
    auto loaded = LoadElf(*plan, image, *mm_);
    ASSERT_TRUE(loaded.ok());
    InitialStackParams params{.argv = {"prog", "one", ""},
                              .envp = {"PATH=/bin", "HOME=/"},
                              .execfn = "/bin/prog",
                              .random = {},
                              .hwcap = 0x178bfbff,
                              .uid = 1000,
                              .euid = 1000,
                              .gid = 100,
                              .egid = 100};
    for (size_t i = 0; i < 16; ++i) {
        params.random[i] = static_cast<std::byte>(i + 1);
    }
    auto rsp = BuildInitialStack(*mm_, *loaded, params);
    ASSERT_TRUE(rsp.ok()) << rsp.error().message();
    EXPECT_EQ(*rsp % 16, 0u);
    EXPECT_LT(*rsp, layout::kStackTop);

    uint64_t p = *rsp;
    ASSERT_EQ(Word(p), 3u);
    EXPECT_EQ(String(Word(p + 8)), "prog");
    EXPECT_EQ(String(Word(p + 16)), "one");
    EXPECT_EQ(String(Word(p + 24)), "");
    EXPECT_EQ(Word(p + 32), 0u);
    EXPECT_EQ(String(Word(p + 40)), "PATH=/bin");
    EXPECT_EQ(String(Word(p + 48)), "HOME=/");
    EXPECT_EQ(Word(p + 56), 0u);
    std::map<uint64_t, uint64_t> aux;
    for (uint64_t at = p + 64;; at += 16) {
        uint64_t type = Word(at);
        aux[type] = Word(at + 8);
        if (type == AT_NULL) {
            break;
        }
    }
    EXPECT_EQ(aux[AT_PHDR], loaded->phdr);
    EXPECT_EQ(aux[AT_PHENT], sizeof(Elf64_Phdr));
    EXPECT_EQ(aux[AT_PHNUM], 2u);
    EXPECT_EQ(aux[AT_PAGESZ], 4096u);
    EXPECT_EQ(aux[AT_ENTRY], 0x401000u);
    EXPECT_EQ(aux[AT_BASE], 0u);
    EXPECT_EQ(aux[AT_UID], 1000u);
    EXPECT_EQ(aux[AT_EGID], 100u);
    EXPECT_EQ(aux[AT_SECURE], 0u);
    EXPECT_EQ(aux[AT_HWCAP], 0x178bfbffu);
    EXPECT_EQ(aux[AT_CLKTCK], 100u);
    EXPECT_EQ(String(aux[AT_EXECFN]), "/bin/prog");
    EXPECT_EQ(String(aux[AT_PLATFORM]), "x86_64");
    std::array<std::byte, 16> random{};
    ASSERT_TRUE(mm_->CopyFromUser(GuestVirtAddr(aux[AT_RANDOM]), random).ok());
    EXPECT_EQ(random, params.random);
    // The program headers are readable where AT_PHDR says.
    Elf64_Phdr first{};
    ASSERT_TRUE(
        mm_->CopyFromUser(GuestVirtAddr(aux[AT_PHDR]), std::as_writable_bytes(std::span(&first, 1)))
            .ok());
    EXPECT_EQ(first.p_type, static_cast<uint32_t>(PT_LOAD));
    EXPECT_EQ(first.p_vaddr, 0x400000u);
}

TEST_F(LoadTest, HugeArgumentsAreE2big) {
    std::vector<std::byte> image = StaticProgram();
    auto loaded = LoadElf(*ParseElf(image), image, *mm_);
    ASSERT_TRUE(loaded.ok());
    InitialStackParams params{.argv = {std::string(kMaxArgBytes, 'a')}, .envp = {}, .execfn = "x"};
    auto rsp = BuildInitialStack(*mm_, *loaded, params);
    ASSERT_FALSE(rsp.ok());
    EXPECT_EQ(rsp.error().err(), E2BIG);
}

// Hostile headers: random corruption of a valid image must never crash the loader, and a
// load that succeeds must stay inside the user half.
TEST(ElfLoaderFuzz, RandomCorruptionIsHandled) {
    std::mt19937_64 rng(12345);
    std::vector<std::byte> base = StaticProgram();
    for (int round = 0; round < 3000; ++round) {
        std::vector<std::byte> image = base;
        int flips = 1 + static_cast<int>(rng() % 8);
        for (int i = 0; i < flips; ++i) {
            // Mostly the headers, where the loader's decisions come from.
            size_t at = rng() % 4 != 0 ? rng() % 0x100 : rng() % image.size();
            image[at] = static_cast<std::byte>(rng());
        }
        if (rng() % 8 == 0) {
            image.resize(rng() % image.size());
        }
        auto plan = ParseElf(image);
        if (!plan.ok()) {
            continue;
        }
        auto mem = GuestMemory::Create(16ull << 20);
        ASSERT_TRUE(mem.ok());
        MemoryManager mm(*mem, GuestPhysAddr(layout::kPml4Gpa),
                         GuestPhysAddr(layout::kFramePoolGpa), GuestPhysAddr(16ull << 20));
        auto loaded = LoadElf(*plan, image, mm);
        if (loaded.ok()) {
            for (const Vma& v : mm.vmas().All()) {
                EXPECT_LT(v.end, layout::kUserEnd);
                EXPECT_GE(v.start, layout::kUserMin);
            }
            InitialStackParams params{.argv = {"x"}, .envp = {}, .execfn = "x"};
            (void)BuildInitialStack(mm, *loaded, params);
        }
    }
}

}  // namespace
}  // namespace tw::hyperlight
