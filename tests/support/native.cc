#include "native.h"

#include <gtest/gtest.h>

#include "test_data.h"

namespace tw::test {

Outcome RunNative(const std::filesystem::path& dir, const std::vector<std::string>& argv,
                  const std::string& input, const std::vector<std::string>& env) {
    std::vector<std::string> cmd = {"/usr/bin/env",       "-i",    "-C", dir.string(),
                                    "PATH=/bin:/usr/bin", "HOME=/"};
    cmd.insert(cmd.end(), env.begin(), env.end());
    cmd.insert(cmd.end(), argv.begin(), argv.end());
    return RunCommand(cmd, input);
}

void ExpectSameRun(const std::vector<std::string>& what, Outcome vm, Outcome native,
                   bool sort_lines) {
    std::string joined;
    for (const std::string& a : what) {
        joined += a + " ";
    }
    if (sort_lines) {
        vm.out = SortLines(vm.out);
        native.out = SortLines(native.out);
    }
    EXPECT_EQ(vm.out, native.out) << joined << "\nvm stderr: " << vm.err;
    EXPECT_EQ(vm.status, native.status)
        << joined << "\nvm stderr: " << vm.err << "\nnative stderr: " << native.err;
}

}  // namespace tw::test
