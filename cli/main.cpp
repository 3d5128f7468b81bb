// The `coda` command: parses the command line, applies the common flags, runs one subcommand and
// turns errors into exit codes (2 and one line on stderr for bad input).
#include <cstdio>
#include <exception>
#include <iostream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/error.h"
#include "kernels/parallel.h"

namespace coda::cli {

std::vector<std::unique_ptr<Command>>& command_storage() {
  static std::vector<std::unique_ptr<Command>> all;
  return all;
}

void register_command(std::unique_ptr<Command> command) { command_storage().push_back(std::move(command)); }
const std::vector<std::unique_ptr<Command>>& commands() { return command_storage(); }

namespace {

constexpr int kExitBadInput = 2;

void configure_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("coda");
  logger->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coda: hardware/ML co-design — run, inspect, simulate, predict and tune neural networks "
               "with approximations on edge SoC models"};
  app.set_version_flag("--version", "coda 0.1.0");
  app.require_subcommand(1);
  app.fallthrough();  // common flags may follow the subcommand name
  CommonOptions common;
  app.add_option("--threads", common.threads, "Worker threads for kernels (0 = all hardware threads)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--log-level", common.log_level, "Log level: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--seed", common.seed, "Seed for every random choice (inputs, noise, search)");
  app.add_option("--knobs", common.knobs, "Knob catalog YAML to use instead of the built-in kernels/knobs.yaml");

  Command* chosen = nullptr;
  for (const auto& command : commands()) {
    CLI::App* sub = app.add_subcommand(command->name(), command->summary());
    command->configure(*sub);
    Command* raw = command.get();
    sub->callback([&chosen, raw] { chosen = raw; });
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "coda: error: %s (see coda --help)\n", e.what());
    return kExitBadInput;
  }

  configure_logging(common.log_level);
  set_thread_count(common.threads);
  try {
    if (!common.knobs.empty()) set_knob_catalog_file(common.knobs);
    return chosen ? chosen->execute(common) : 0;
  } catch (const BadInput& e) {
    std::fprintf(stderr, "coda: error: %s\n", e.what());
    return kExitBadInput;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "coda: error: out of memory\n");
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "coda: internal error: %s\n", e.what());
    return 1;
  }
}

}  // namespace coda::cli

int main(int argc, char** argv) { return coda::cli::main(argc, argv); }
