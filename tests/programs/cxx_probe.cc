// A C++ program that exercises what static C++ needs from the kernel: iostreams, file
// writes and reads, an exception thrown and caught, the heap, argv and the environment.
// Built both -static and -static-pie; its output must match a native run.
//
//   cxx_probe FILE EXIT_CODE [ARGS...]
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

int Depth(int n) {
    if (n == 0) {
        throw std::runtime_error("thrown from the bottom of a recursion");
    }
    return Depth(n - 1) + 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::cout << "argc=" << argc << "\n";
    for (int i = 1; i < argc; ++i) {
        std::cout << "argv[" << i << "]=" << argv[i] << "\n";
    }
    for (const char* name : {"PROBE_VAR", "HOME", "PATH"}) {
        const char* value = std::getenv(name);
        std::cout << name << "=" << (value != nullptr ? value : "(unset)") << "\n";
    }

    std::string path = argc > 1 ? argv[1] : "probe.txt";
    {
        std::ofstream out(path);
        out << "first line\nsecond line\n" << 12345 << ' ' << 2.5 << "\n";
    }
    {
        std::ifstream in(path);
        std::string line;
        int lines = 0;
        while (std::getline(in, line)) {
            std::cout << "read: " << line << "\n";
            ++lines;
        }
        std::cout << "lines=" << lines << " good=" << !in.bad() << "\n";
    }
    std::ifstream missing("does/not/exist");
    std::cout << "missing file opens: " << missing.is_open() << "\n";

    try {
        Depth(50);
    } catch (const std::exception& e) {
        std::cout << "caught: " << e.what() << "\n";
    }

    std::vector<long> v(300000);
    std::iota(v.begin(), v.end(), 1);
    std::reverse(v.begin(), v.end());
    std::sort(v.begin(), v.end());
    std::map<std::string, int> words;
    for (const char* w : {"sandbox", "wall", "sandbox", "micro", "vm", "wall", "sandbox"}) {
        ++words[w];
    }
    std::cout << "sum=" << std::accumulate(v.begin(), v.end(), 0L) << "\n";
    for (const auto& [word, count] : words) {
        std::cout << word << ":" << count << "\n";
    }
    std::vector<char> big(24 << 20, 'x');
    std::cout << "big=" << std::count(big.begin(), big.end(), 'x') << std::endl;
    return argc > 2 ? std::atoi(argv[2]) : 0;
}
