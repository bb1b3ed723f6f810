#include "test_data.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

namespace tw::test {

namespace fs = std::filesystem;

void WriteFile(const fs::path& path, const std::string& contents, bool executable) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << contents;
    if (executable) {
        fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
    }
}

std::string Lines(int count, uint32_t seed) {
    static const char* kWords[] = {"alpha", "bravo", "charlie", "delta",  "echo", "foxtrot",
                                   "golf",  "hotel", "india",   "juliet", "kilo", "lima"};
    std::mt19937 rng(seed);
    std::string text;
    for (int i = 0; i < count; ++i) {
        int words = 1 + static_cast<int>(rng() % 5);
        for (int w = 0; w < words; ++w) {
            text += std::string(w == 0 ? "" : " ") + kWords[rng() % 12];
        }
        text += " " + std::to_string(rng() % 1000) + "\n";
    }
    return text;
}

void WriteData(const fs::path& root) {
    WriteFile(root / "data/a.txt", "hello\nworld\nfoo\nbar\nfoo\n");
    WriteFile(root / "data/lines.txt", Lines(300, 1));
    std::string numbers;
    std::mt19937 rng(2);
    for (int i = 0; i < 200; ++i) {
        numbers += std::to_string(static_cast<int>(rng() % 2000) - 1000) + "\n";
    }
    WriteFile(root / "data/numbers.txt", numbers);
    WriteFile(root / "data/sorted.txt", "a\na\nb\nc\nc\nc\nd\ne\ne\n");
    WriteFile(root / "data/passwd.txt",
              "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
              "user:x:1000:1000:A User,,,:/home/user:/bin/sh\n");
    std::string big(3 << 20, '\0');
    std::mt19937_64 bytes(3);
    for (char& c : big) {
        c = static_cast<char>(bytes());
    }
    WriteFile(root / "data/big.bin", big);
    WriteFile(root / "data/sub/deep/file.txt", "deep file\n");
    WriteFile(root / "data/sub/other.txt", Lines(20, 4));
}

void FixTimes(const fs::path& root) {
    // An absolute time, so two trees fixed a second apart still agree. Symlinks are skipped:
    // setting their time would follow them, and the tests' traps point out of the tree.
    using namespace std::chrono;
    const fs::file_time_type fixed =
        file_clock::from_sys(sys_seconds{sys_days{year{2026} / 1 / 1}});
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        if (!entry.is_symlink()) {
            fs::last_write_time(entry.path(), fixed);
        }
    }
    fs::last_write_time(root, fixed);
}

std::string SortLines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const std::string& l : lines) {
        out += l + "\n";
    }
    return out;
}

}  // namespace tw::test
