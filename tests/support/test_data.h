// Test data shared by the end-to-end suites: the same tree is written into a tenant's storage
// and into a host copy, so one command can run in a micro-VM and natively and be compared.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace tw::test {

// Writes `contents` to `path`, creating its directories; `executable` sets mode 0755.
void WriteFile(const std::filesystem::path& path, const std::string& contents,
               bool executable = false);

// `count` lines of words and numbers, the same for the same seed.
std::string Lines(int count, uint32_t seed);

// root/data/...: text, numbers, a passwd-like file, 3 MiB of random bytes, nested dirs.
void WriteData(const std::filesystem::path& root);

// Gives every file and directory under root (and root) the same fixed time, so outputs that
// include times (gzip headers, tar members) match between two copies of a tree.
void FixTimes(const std::filesystem::path& root);

// The lines of `text`, sorted (for commands whose output order is the directory's order).
std::string SortLines(const std::string& text);

}  // namespace tw::test
