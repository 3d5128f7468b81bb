// coda report: plots (PNG and SVG, through gnuplot) and an index.md linking them, from a sweep
// database (`--db`: Pareto fronts, energy breakdowns, metrics across each axis) or from a tuner
// curve (`--curve`: QoS against speedup and energy reduction). Everything is read and rendered in
// a private workspace first; only then is the output directory created and filled, one file
// atomically at a time, so bad input leaves nothing behind.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/command.h"
#include "cli/gnuplot.h"
#include "cli/report_curve.h"
#include "cli/report_db.h"
#include "kernels/error.h"
#include "tuner/curve.h"

namespace coda::cli {
namespace {

class ReportCommand : public Command {
 public:
  std::string name() const override { return "report"; }
  std::string summary() const override {
    return "Plots and a markdown index from a sweep database (--db) or a tuner curve (--curve)";
  }
  void configure(CLI::App& app) override {
    app.add_option("--db", db_, "Sweep results database (coda sweep --db)");
    app.add_option("--curve", curve_, "Tradeoff curve (coda tune --out)");
    app.add_option("--out", out_, "Directory for the plots and index.md (created if missing)")->required();
  }

  int execute(const CommonOptions&) override {
    if (db_.empty() == curve_.empty()) throw BadInput("coda report needs exactly one of --db and --curve");
    std::error_code error;
    if (std::filesystem::exists(out_, error) && !std::filesystem::is_directory(out_, error))
      throw BadInput(out_ + ": exists and is not a directory");
    require_gnuplot("coda report");

    PlotWorkspace workspace("report");
    std::vector<std::string> files;
    if (!db_.empty()) {
      const SweepResults results = load_sweep_results(db_);
      files = render_sweep_report(results, workspace);
    } else {
      const tuner::Curve curve = tuner::Curve::load(curve_);
      files = render_curve_report(curve, curve_, workspace);
    }

    std::filesystem::create_directories(out_, error);
    if (error) throw BadInput(out_ + ": cannot create directory: " + error.message());
    for (const std::string& file : files) publish_plot(workspace.file(file), (std::filesystem::path(out_) / file).string());
    std::printf("coda report: %zu files in %s (open %s)\n", files.size(), out_.c_str(),
                (std::filesystem::path(out_) / "index.md").string().c_str());
    return 0;
  }

 private:
  std::string db_, curve_, out_;
};

CODA_REGISTER_COMMAND(ReportCommand);

}  // namespace
}  // namespace coda::cli
