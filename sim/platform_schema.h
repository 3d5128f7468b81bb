// How platform YAML maps onto the structs of sim/platform.h: one table of fields per struct,
// read strictly (every key required, unknown keys refused, values type- and range-checked) and
// written back from the same table, so Platform::parse and Platform::to_yaml cannot drift apart.
// Internal to coda_sim.
#pragma once

#include <yaml-cpp/yaml.h>

#include <climits>
#include <cstddef>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace coda::sim::schema {

// Where a value sits: the file and the dotted key path ("gpu.dvfs.3.voltage_v"), so that every
// error reads "SOURCE: PATH: problem" on one line.
class Where {
 public:
  Where(std::string source, std::string path) : source_(std::move(source)), path_(std::move(path)) {}
  Where operator/(const std::string& key) const { return {source_, path_.empty() ? key : path_ + "." + key}; }
  Where item(std::size_t index) const { return *this / std::to_string(index); }
  const std::string& path() const { return path_; }
  const std::string& source() const { return source_; }
  [[noreturn]] void fail(const std::string& problem) const;

 private:
  std::string source_;
  std::string path_;
};

// The shortest decimal text that reads back as exactly `value` ("1300.5", not "1300.5000000000002").
std::string format_number(double value);
// A node as a message shows it: 'text', a list, a mapping, nothing.
std::string describe(const YAML::Node& node);

enum class Range {
  Any,          // any finite number
  Positive,     // > 0: rates, sizes, clocks, most energies
  NonNegative,  // >= 0: static power, overheads, energies that may be neglected
  Efficiency,   // (0, 1]
  Share,        // [0, 1]
};

double read_number(const YAML::Node& node, const Where& where, Range range);
int read_integer(const YAML::Node& node, const Where& where, int min, int max);
bool read_flag(const YAML::Node& node, const Where& where);
std::string read_text(const YAML::Node& node, const Where& where);
// Checks `node` is a list (the items are read by the caller).
void expect_list(const YAML::Node& node, const Where& where);
// Checks `node` is a mapping whose keys are scalars, each once, all in `known` (null: any key).
void expect_mapping(const YAML::Node& node, const Where& where, const std::set<std::string>* known);

void emit_number(YAML::Emitter& out, double value);

template <typename S>
struct Field {
  std::string key;
  std::function<void(const YAML::Node& node, S& into, const Where& where)> read;
  std::function<void(YAML::Emitter& out, const S& from)> write;
};

template <typename S>
using Schema = std::vector<Field<S>>;

template <typename S>
S read_struct(const YAML::Node& node, const Where& where, const Schema<S>& schema) {
  std::set<std::string> known;
  for (const Field<S>& field : schema) known.insert(field.key);
  // Unknown keys first: a misspelt key is the cause of the "missing" error it would also raise.
  expect_mapping(node, where, &known);
  S value{};
  for (const Field<S>& field : schema) {
    const YAML::Node child = node[field.key];
    if (!child) (where / field.key).fail("missing");
    field.read(child, value, where / field.key);
  }
  return value;
}

template <typename S>
void write_struct(YAML::Emitter& out, const S& value, const Schema<S>& schema, bool flow = false) {
  if (flow) out << YAML::Flow;
  out << YAML::BeginMap;
  for (const Field<S>& field : schema) {
    out << YAML::Key << field.key << YAML::Value;
    field.write(out, value);
  }
  out << YAML::EndMap;
}

template <typename T>
std::vector<T> read_list(const YAML::Node& node, const Where& where, const Schema<T>& schema) {
  expect_list(node, where);
  std::vector<T> items;
  for (std::size_t i = 0; i < node.size(); ++i) items.push_back(read_struct(node[i], where.item(i), schema));
  return items;
}

template <typename T>
void write_list(YAML::Emitter& out, const std::vector<T>& items, const Schema<T>& schema) {
  out << YAML::BeginSeq;
  for (const T& item : items) write_struct(out, item, schema, /*flow=*/true);
  out << YAML::EndSeq;
}

// Field builders: a key, the member it fills, and the checks its values must pass.

template <typename S>
Field<S> number(const char* key, double S::*member, Range range) {
  return {key,
          [member, range](const YAML::Node& node, S& into, const Where& where) {
            into.*member = read_number(node, where, range);
          },
          [member](YAML::Emitter& out, const S& from) { emit_number(out, from.*member); }};
}

template <typename S>
Field<S> integer(const char* key, int S::*member, int min, int max = INT_MAX) {
  return {key,
          [member, min, max](const YAML::Node& node, S& into, const Where& where) {
            into.*member = read_integer(node, where, min, max);
          },
          [member](YAML::Emitter& out, const S& from) { out << from.*member; }};
}

template <typename S>
Field<S> flag(const char* key, bool S::*member) {
  return {key,
          [member](const YAML::Node& node, S& into, const Where& where) { into.*member = read_flag(node, where); },
          [member](YAML::Emitter& out, const S& from) { out << from.*member; }};
}

template <typename S>
Field<S> text(const char* key, std::string S::*member) {
  return {key,
          [member](const YAML::Node& node, S& into, const Where& where) { into.*member = read_text(node, where); },
          [member](YAML::Emitter& out, const S& from) { out << from.*member; }};
}

// A nested mapping read with its own schema (the schema must outlive the field: a static).
template <typename S, typename T>
Field<S> nested(const char* key, T S::*member, const Schema<T>& schema) {
  const Schema<T>* table = &schema;
  return {key,
          [member, table](const YAML::Node& node, S& into, const Where& where) {
            into.*member = read_struct(node, where, *table);
          },
          [member, table](YAML::Emitter& out, const S& from) { write_struct(out, from.*member, *table); }};
}

// A list of mappings, each read with `schema` and written in flow style (one line per item).
template <typename S, typename T>
Field<S> list(const char* key, std::vector<T> S::*member, const Schema<T>& schema) {
  const Schema<T>* table = &schema;
  return {key,
          [member, table](const YAML::Node& node, S& into, const Where& where) {
            into.*member = read_list(node, where, *table);
          },
          [member, table](YAML::Emitter& out, const S& from) { write_list(out, from.*member, *table); }};
}

template <typename S>
Field<S> numbers(const char* key, std::vector<double> S::*member, Range range) {
  return {key,
          [member, range](const YAML::Node& node, S& into, const Where& where) {
            expect_list(node, where);
            std::vector<double> values;
            for (std::size_t i = 0; i < node.size(); ++i) values.push_back(read_number(node[i], where.item(i), range));
            into.*member = values;
          },
          [member](YAML::Emitter& out, const S& from) {
            out << YAML::Flow << YAML::BeginSeq;
            for (double value : from.*member) emit_number(out, value);
            out << YAML::EndSeq;
          }};
}

template <typename S>
Field<S> names(const char* key, std::vector<std::string> S::*member) {
  return {key,
          [member](const YAML::Node& node, S& into, const Where& where) {
            expect_list(node, where);
            std::vector<std::string> values;
            for (std::size_t i = 0; i < node.size(); ++i) values.push_back(read_text(node[i], where.item(i)));
            into.*member = values;
          },
          [member](YAML::Emitter& out, const S& from) { out << YAML::Flow << from.*member; }};
}

}  // namespace coda::sim::schema
