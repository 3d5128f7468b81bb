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

// A process running in the background (stdout and stderr to files in `scratch_dir`), for tests that
// signal or kill it mid-run. `extra_env` entries ("NAME=VALUE") are added to the environment.
struct BackgroundProcess {
  int pid = -1;
  int spawn_error = 0;
  std::string scratch_dir;
};
BackgroundProcess start_process(const std::string& binary, const std::vector<std::string>& args,
                                const std::string& scratch_dir, const std::vector<std::string>& extra_env = {});
// Waits for it to end; exit code as in ProcessResult (128 + signal when killed), with its output.
ProcessResult wait_process(const BackgroundProcess& process);

}  // namespace coda::test
