#include "sim/platform_schema.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kernels/error.h"

namespace coda::sim::schema {

void Where::fail(const std::string& problem) const {
  throw BadInput(source_ + ": " + (path_.empty() ? "" : path_ + ": ") + problem);
}

std::string format_number(double value) {
  // At least as many significant digits as the integer part has, so %g writes 1000 rather than
  // 1e+03; then the fewest that read back exactly.
  int integer_digits = std::fabs(value) >= 1 ? static_cast<int>(std::floor(std::log10(std::fabs(value)))) + 1 : 1;
  char text[40];
  for (int digits = std::min(integer_digits, 17); digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

double read_number(const YAML::Node& node, const Where& where, Range range) {
  double value = 0;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !std::isfinite(value))
    where.fail("expected a number, got " + describe(node));
  const std::string got = ", got " + node.Scalar();
  switch (range) {
    case Range::Any: break;
    case Range::Positive:
      if (!(value > 0)) where.fail("must be > 0" + got);
      break;
    case Range::NonNegative:
      if (!(value >= 0)) where.fail("must be >= 0" + got);
      break;
    case Range::Efficiency:
      if (!(value > 0 && value <= 1)) where.fail("must be in (0, 1]" + got);
      break;
    case Range::Share:
      if (!(value >= 0 && value <= 1)) where.fail("must be in [0, 1]" + got);
      break;
  }
  return value;
}

int read_integer(const YAML::Node& node, const Where& where, int min, int max) {
  int value = 0;
  if (!node.IsScalar() || !YAML::convert<int>::decode(node, value))
    where.fail("expected an integer, got " + describe(node));
  if (value < min || value > max) {
    if (max != INT_MAX) where.fail("must be in " + std::to_string(min) + ".." + std::to_string(max) + ", got " + node.Scalar());
    where.fail((min == 1 ? std::string("must be > 0") : "must be >= " + std::to_string(min)) + ", got " + node.Scalar());
  }
  return value;
}

bool read_flag(const YAML::Node& node, const Where& where) {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value))
    where.fail("expected true or false, got " + describe(node));
  return value;
}

std::string read_text(const YAML::Node& node, const Where& where) {
  if (!node.IsScalar()) where.fail("expected a name, got " + describe(node));
  if (node.Scalar().empty()) where.fail("must not be empty");
  return node.Scalar();
}

void expect_list(const YAML::Node& node, const Where& where) {
  if (!node.IsSequence()) where.fail("expected a list, got " + describe(node));
}

void expect_mapping(const YAML::Node& node, const Where& where, const std::set<std::string>* known) {
  if (!node.IsMap()) where.fail("expected a mapping, got " + describe(node));
  std::set<std::string> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) where.fail("expected names as keys, got " + describe(entry.first));
    const std::string& key = entry.first.Scalar();
    if (known && !known->count(key)) (where / key).fail("unknown key");
    if (!seen.insert(key).second) (where / key).fail("appears twice");
  }
}

void emit_number(YAML::Emitter& out, double value) { out << format_number(value); }

}  // namespace coda::sim::schema
