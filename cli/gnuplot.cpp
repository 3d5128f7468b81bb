#include "cli/gnuplot.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "kernels/atomic_file.h"
#include "kernels/error.h"

extern char** environ;

namespace coda::cli {

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string dirs = path;
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = (end > start ? dirs.substr(start, end - start) : ".") + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

PlotWorkspace::PlotWorkspace(const std::string& tag) {
  static int counter = 0;
  dir_ = std::filesystem::temp_directory_path() / fmt::format("coda-{}-{}-{}", tag, ::getpid(), ++counter);
  std::filesystem::create_directories(dir_);
}

PlotWorkspace::~PlotWorkspace() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void require_gnuplot(const std::string& option) {
  if (!on_path("gnuplot")) throw BadInput(option + " needs gnuplot, which is not on PATH");
}

void run_gnuplot(const PlotWorkspace& workspace, const std::string& script, const std::string& option) {
  const std::string script_path = workspace.file("plot.gp");
  std::ofstream(script_path) << script;
  std::string program = "gnuplot";
  std::vector<char*> argv = {program.data(), const_cast<char*>(script_path.c_str()), nullptr};
  pid_t pid = 0;
  if (posix_spawnp(&pid, "gnuplot", nullptr, nullptr, argv.data(), environ) != 0)
    throw BadInput(option + ": cannot run gnuplot");
  int status = 0;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw BadInput(option + ": gnuplot failed on " + script_path);
}

void publish_plot(const std::string& produced, const std::string& path) {
  std::ifstream in(produced, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  write_file_atomically(path, bytes.str());
}

}  // namespace coda::cli
