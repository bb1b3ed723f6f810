// Runs a command to completion for end-to-end tests: argv in, exit status and output out.
#pragma once

#include <string>
#include <vector>

namespace tw::test {

struct Outcome {
    int status = -1;  // Exit status, or 128+signal as a shell reports it.
    std::string out;
    std::string err;
};

// Runs argv[0] (a path) with `input` on stdin; kills it after `timeout_s` seconds (status
// then 128+SIGKILL). Never throws.
Outcome RunCommand(const std::vector<std::string>& argv, const std::string& input = "",
                   int timeout_s = 120);

}  // namespace tw::test
