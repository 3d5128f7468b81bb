#include "traces/op_trace_jsonl.h"

#include <nlohmann/json.hpp>

#include "kernels/atomic_file.h"
#include "traces/result_checks.h"
#include "traces/sim_result_json.h"

namespace coda::traces {

namespace {

// One line of JSON; invalid UTF-8 in a name is replaced rather than refused.
std::string json_line(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

void write_op_trace_jsonl(const std::string& path, const sim::SimResult& result) {
  check_result(path, result);
  std::string text =
      json_line({{"schema", "coda-op-trace"}, {"version", 1}, {"platform", result.platform}, {"model", result.model}});
  // Each op as in `coda simulate --json`, so both formats carry the same fields.
  for (const sim::OpRecord& op : result.ops) text += json_line(op_record_json(op));
  write_file_atomically(path, text);
}

}  // namespace coda::traces
