// A `coda` subcommand. Each lives in its own cli/cmd_*.cpp file and registers itself, so adding a
// subcommand touches one new file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace coda::cli {

// Flags every subcommand accepts (declared once on the top-level app).
struct CommonOptions {
  int threads = 0;              // 0: all hardware threads
  std::string log_level = "warn";
  std::uint64_t seed = 0;
  std::string knobs;            // knob catalog file ("" = the built-in kernels/knobs.yaml)
};

class Command {
 public:
  virtual ~Command() = default;
  virtual std::string name() const = 0;
  virtual std::string summary() const = 0;
  // Declares the subcommand's own options on `app`.
  virtual void configure(CLI::App& app) = 0;
  // Runs after parsing; returns the exit code. Throws coda::BadInput for bad input.
  virtual int execute(const CommonOptions& common) = 0;
};

void register_command(std::unique_ptr<Command> command);
const std::vector<std::unique_ptr<Command>>& commands();

template <typename C>
struct CommandRegistrar {
  CommandRegistrar() { register_command(std::make_unique<C>()); }
};

#define CODA_REGISTER_COMMAND(CLASS) static const ::coda::cli::CommandRegistrar<CLASS> coda_command_##CLASS

}  // namespace coda::cli
