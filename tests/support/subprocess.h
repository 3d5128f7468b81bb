// Runs the built `coda` binary as a user would, capturing exit code, stdout and stderr.
#pragma once

#include <string>
#include <vector>

namespace coda::test {

struct ProcessResult {
  int exit_code = -1;   // 128 + signal number when killed by a signal
  std::string out;
  std::string err;
  // Lines of stderr, without the trailing newline.
  std::vector<std::string> err_lines() const;
};

// Runs `binary args...` with stdout and stderr redirected to files in `scratch_dir` (created if
// needed) and returns what it printed.
ProcessResult run_process(const std::string& binary, const std::vector<std::string>& args,
                          const std::string& scratch_dir);

}  // namespace coda::test
