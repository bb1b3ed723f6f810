#include "hyperlight_vm/guest_memory.h"

#include <gtest/gtest.h>

namespace tw::hyperlight {
namespace {

constexpr uint64_t kSize = 1 << 20;

TEST(GuestMemory, CreateRejectsUnalignedSize) {
    EXPECT_FALSE(GuestMemory::Create(0).ok());
    EXPECT_FALSE(GuestMemory::Create(4097).ok());
}

TEST(GuestMemory, BytesInsideIsOk) {
    auto mem = GuestMemory::Create(kSize);
    ASSERT_TRUE(mem.ok());
    EXPECT_TRUE(mem->Bytes(GuestPhysAddr(0), kSize).ok());
    EXPECT_TRUE(mem->Bytes(GuestPhysAddr(kSize - 1), 1).ok());
    EXPECT_TRUE(mem->Bytes(GuestPhysAddr(kSize), 0).ok());
}

TEST(GuestMemory, BytesOutsideIsEfault) {
    auto mem = GuestMemory::Create(kSize);
    ASSERT_TRUE(mem.ok());
    for (auto [gpa, len] : std::vector<std::pair<uint64_t, uint64_t>>{
             {kSize, 1}, {kSize - 1, 2}, {kSize + 1, 0}, {1, ~0ull}, {~0ull, 2}, {0, kSize + 1}}) {
        auto bytes = mem->Bytes(GuestPhysAddr(gpa), len);
        ASSERT_FALSE(bytes.ok()) << "gpa=" << gpa << " len=" << len;
        EXPECT_EQ(bytes.error().err(), EFAULT);
    }
}

TEST(GuestMemory, ReadWriteRoundTripUnaligned) {
    auto mem = GuestMemory::Create(kSize);
    ASSERT_TRUE(mem.ok());
    ASSERT_TRUE(mem->Write<uint64_t>(GuestPhysAddr(0x1003), 0x1122334455667788).ok());
    auto v = mem->Read<uint64_t>(GuestPhysAddr(0x1003));
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, 0x1122334455667788u);
    EXPECT_FALSE(mem->Read<uint64_t>(GuestPhysAddr(kSize - 4)).ok());
}

TEST(GuestMemory, DiscardZeroesPages) {
    auto mem = GuestMemory::Create(kSize);
    ASSERT_TRUE(mem.ok());
    ASSERT_TRUE(mem->Write<uint32_t>(GuestPhysAddr(0x2000), 0xdeadbeef).ok());
    ASSERT_TRUE(mem->Discard(GuestPhysAddr(0x2000), 0x1000).ok());
    EXPECT_EQ(*mem->Read<uint32_t>(GuestPhysAddr(0x2000)), 0u);
    EXPECT_FALSE(mem->Discard(GuestPhysAddr(0x2001), 0x1000).ok());
}

TEST(GuestMemory, DropTranslationsKeepsContents) {
    auto mem = GuestMemory::Create(kSize);
    ASSERT_TRUE(mem.ok());
    ASSERT_TRUE(mem->Write<uint32_t>(GuestPhysAddr(0x3000), 0x12345678).ok());
    ASSERT_TRUE(mem->DropTranslations(GuestPhysAddr(0x3000), 0x1000).ok());
    EXPECT_EQ(*mem->Read<uint32_t>(GuestPhysAddr(0x3000)), 0x12345678u);
    ASSERT_TRUE(mem->Write<uint32_t>(GuestPhysAddr(0x3000), 1).ok());  // still writable
}

}  // namespace
}  // namespace tw::hyperlight
