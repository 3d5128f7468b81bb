#include "cli/op_table.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include <fmt/format.h>

#include "cli/model_source.h"

namespace coda::cli {
namespace {

std::string shapes_text(const std::vector<TensorInfo>& infos) {
  std::string text;
  for (const TensorInfo& info : infos) {
    if (!text.empty()) text += ", ";
    text += info.shape.empty() && info.dtype == DType::Float32 ? "-" : shape_string(info.shape);
  }
  return text;
}

OpCost totals(const std::vector<NodeReport>& reports) {
  OpCost total;
  for (const NodeReport& r : reports) {
    total.macs += r.cost.macs;
    total.flops += r.cost.flops;
    total.params += r.cost.params;
    total.bytes_read += r.cost.bytes_read;
    total.bytes_written += r.cost.bytes_written;
  }
  return total;
}

nlohmann::json cost_json(const OpCost& c) {
  return {{"macs", c.macs},
          {"flops", c.flops},
          {"params", c.params},
          {"bytes_read", c.bytes_read},
          {"bytes_written", c.bytes_written}};
}

nlohmann::json infos_json(const std::vector<TensorInfo>& infos) {
  nlohmann::json list = nlohmann::json::array();
  for (const TensorInfo& info : infos) list.push_back({{"shape", info.shape}, {"dtype", dtype_name(info.dtype)}});
  return list;
}

}  // namespace

void print_op_table(const Graph& graph, const std::vector<NodeReport>& reports) {
  std::size_t name_w = 4, type_w = 4, in_w = 6, out_w = 6;
  for (const NodeReport& r : reports) {
    name_w = std::max(name_w, r.node->name.size());
    type_w = std::max(type_w, r.node->op_type.size());
    in_w = std::max(in_w, shapes_text(r.inputs).size());
    out_w = std::max(out_w, shapes_text(r.outputs).size());
  }
  name_w = std::min<std::size_t>(name_w, 40);
  in_w = std::min<std::size_t>(in_w, 48);
  std::string header = fmt::format("{:>4}  {:<{}}  {:<{}}  {:<{}}  {:<{}}  {:>9}  {:>9}  {:>10}  {:>10}", "#", "name",
                                   name_w, "type", type_w, "inputs", in_w, "output", out_w, "MACs", "params",
                                   "read", "written");
  std::printf("%s\n%s\n", header.c_str(), std::string(header.size(), '-').c_str());
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const NodeReport& r = reports[i];
    std::printf("%s\n", fmt::format("{:>4}  {:<{}}  {:<{}}  {:<{}}  {:<{}}  {:>9}  {:>9}  {:>10}  {:>10}", i,
                                    r.node->name.substr(0, name_w), name_w, r.node->op_type, type_w,
                                    shapes_text(r.inputs).substr(0, in_w), in_w, shapes_text(r.outputs), out_w,
                                    human_count(static_cast<double>(r.cost.macs)),
                                    human_count(static_cast<double>(r.cost.params)),
                                    format_bytes(static_cast<double>(r.cost.bytes_read)),
                                    format_bytes(static_cast<double>(r.cost.bytes_written)))
                            .c_str());
  }
  OpCost t = totals(reports);
  std::printf("%s\n", std::string(header.size(), '-').c_str());
  std::printf("total: %zu ops, %s MACs, %s other FLOPs, %s parameters (%s), %s read, %s written\n", reports.size(),
              human_count(static_cast<double>(t.macs)).c_str(), human_count(static_cast<double>(t.flops)).c_str(),
              human_count(static_cast<double>(graph.parameter_count())).c_str(),
              format_bytes(static_cast<double>(graph.parameter_count()) * 4).c_str(),
              format_bytes(static_cast<double>(t.bytes_read)).c_str(),
              format_bytes(static_cast<double>(t.bytes_written)).c_str());
  std::printf("peak activation memory: %s\n",
              format_bytes(static_cast<double>(estimate_peak_activation_bytes(graph))).c_str());
}

nlohmann::json op_table_json(const Graph& graph, const std::vector<NodeReport>& reports) {
  nlohmann::json ops = nlohmann::json::array();
  for (const NodeReport& r : reports)
    ops.push_back({{"name", r.node->name},
                   {"type", r.node->op_type},
                   {"inputs", infos_json(r.inputs)},
                   {"outputs", infos_json(r.outputs)},
                   {"cost", cost_json(r.cost)}});
  nlohmann::json total = cost_json(totals(reports));
  total["params"] = graph.parameter_count();
  total["ops"] = reports.size();
  total["peak_activation_bytes"] = estimate_peak_activation_bytes(graph);
  return {{"ops", ops}, {"totals", total}};
}

void print_profile(const Graph& graph, const std::vector<double>& node_seconds) {
  double total = 0;
  for (double s : node_seconds) total += s;
  if (total <= 0) return;
  std::map<std::string, std::pair<double, int>> by_type;
  std::printf("\n%4s  %-32s  %-20s  %10s  %6s\n", "#", "name", "type", "ms", "%");
  for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    by_type[node.op_type].first += node_seconds[n];
    by_type[node.op_type].second += 1;
    std::printf("%4zu  %-32s  %-20s  %10.3f  %6.1f\n", n, node.name.substr(0, 32).c_str(), node.op_type.c_str(),
                node_seconds[n] * 1e3, 100.0 * node_seconds[n] / total);
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> sorted(by_type.begin(), by_type.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::printf("\n%-20s  %6s  %10s  %6s\n", "op type", "count", "ms", "%");
  for (const auto& entry : sorted)
    std::printf("%-20s  %6d  %10.3f  %6.1f\n", entry.first.c_str(), entry.second.second, entry.second.first * 1e3,
                100.0 * entry.second.first / total);
}

}  // namespace coda::cli
