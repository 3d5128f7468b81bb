// Plots through gnuplot: commands write their data and a script into a private temporary
// directory, run gnuplot on it, and move the image into place atomically.
#pragma once

#include <filesystem>
#include <string>

namespace coda::cli {

// Whether an executable of that name is on PATH.
bool on_path(const std::string& program);

// A fresh temporary directory, removed with everything in it on destruction.
class PlotWorkspace {
 public:
  explicit PlotWorkspace(const std::string& tag);
  ~PlotWorkspace();
  PlotWorkspace(const PlotWorkspace&) = delete;
  PlotWorkspace& operator=(const PlotWorkspace&) = delete;
  // Path of a file inside the workspace.
  std::string file(const std::string& name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
};

// Throws BadInput "OPTION needs gnuplot, which is not on PATH" unless gnuplot is available.
void require_gnuplot(const std::string& option);
// Writes `script` into the workspace and runs gnuplot on it; BadInput naming `option` when it fails.
void run_gnuplot(const PlotWorkspace& workspace, const std::string& script, const std::string& option);
// Moves an image gnuplot wrote in the workspace to `path` atomically.
void publish_plot(const std::string& produced, const std::string& path);

}  // namespace coda::cli
