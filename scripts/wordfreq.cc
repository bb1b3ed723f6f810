// The demo's C++ workload: counts the words of a file and prints the most frequent ones.
// Built with `g++ -static` and run unmodified inside a micro-VM by scripts/demo.sh.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: wordfreq FILE\n";
        return 2;
    }
    std::ifstream in(argv[1]);
    if (!in) {
        std::cerr << "wordfreq: cannot open " << argv[1] << "\n";
        return 1;
    }
    std::map<std::string, int> counts;
    for (std::string word; in >> word;) {
        std::string clean;
        for (char c : word) {
            if (std::isalpha(static_cast<unsigned char>(c))) {
                clean += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
        }
        if (!clean.empty()) {
            ++counts[clean];
        }
    }
    std::vector<std::pair<std::string, int>> sorted(counts.begin(), counts.end());
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    sorted.resize(std::min<size_t>(sorted.size(), 5));
    for (const auto& [word, n] : sorted) {
        std::cout << n << " " << word << "\n";
    }
    return 0;
}
