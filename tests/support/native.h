// Running the same command natively, for comparison with a run in a micro-VM.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "subprocess.h"

namespace tw::test {

// Runs argv natively in `dir` with the environment the VMM gives a program (PATH=/bin:/usr/bin,
// HOME=/) plus `env`.
Outcome RunNative(const std::filesystem::path& dir, const std::vector<std::string>& argv,
                  const std::string& input = "", const std::vector<std::string>& env = {});

// Expects a micro-VM run and a native run of `what` to print the same stdout (compared as
// sorted lines if `sort_lines`) and to end with the same status.
void ExpectSameRun(const std::vector<std::string>& what, Outcome vm, Outcome native,
                   bool sort_lines = false);

}  // namespace tw::test
