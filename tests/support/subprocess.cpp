#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <sstream>

#include "tests/support/temp_files.h"

extern char** environ;

namespace coda::test {

std::vector<std::string> ProcessResult::err_lines() const {
  std::vector<std::string> lines;
  std::istringstream in(err);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

ProcessResult run_process(const std::string& binary, const std::vector<std::string>& args,
                          const std::string& scratch_dir) {
  return wait_process(start_process(binary, args, scratch_dir));
}

BackgroundProcess start_process(const std::string& binary, const std::vector<std::string>& args,
                                const std::string& scratch_dir, const std::vector<std::string>& extra_env) {
  std::filesystem::create_directories(scratch_dir);
  const std::string out_path = scratch_dir + "/stdout.txt", err_path = scratch_dir + "/stderr.txt";
  std::vector<std::string> strings{binary};
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings(extra_env);
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int spawn_error = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  BackgroundProcess process;
  process.scratch_dir = scratch_dir;
  if (spawn_error == 0) process.pid = pid;
  else process.spawn_error = spawn_error;
  return process;
}

ProcessResult wait_process(const BackgroundProcess& process) {
  ProcessResult result;
  if (process.pid <= 0) {
    result.err = "posix_spawn failed: " + std::to_string(process.spawn_error);
    return result;
  }
  int status = 0;
  waitpid(process.pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_bytes(process.scratch_dir + "/stdout.txt");
  result.err = read_bytes(process.scratch_dir + "/stderr.txt");
  return result;
}

}  // namespace coda::test
