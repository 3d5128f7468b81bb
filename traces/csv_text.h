// CSV as RFC 4180 writes it: comma-separated fields, a field quoted (quotes doubled) when it holds a
// comma, a quote, a line break or surrounding spaces; records end with CRLF or LF.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace coda::traces {

// `field` as it goes into a CSV line, quoted when it has to be.
std::string csv_field(std::string_view field);

// `fields` joined by commas, each quoted when it has to be, ending with "\n".
std::string csv_line(const std::vector<std::string>& fields);

struct CsvRecord {
  int line = 0;  // 1-based line of the file on which the record starts
  std::vector<std::string> fields;
};

// The records of `text`, whose first line is line `first_line` of `source`. Empty lines are
// skipped. A quote inside an unquoted field, text after a closing quote, or a quoted field left
// open throws BadInput "SOURCE:LINE: ...".
std::vector<CsvRecord> parse_csv(std::string_view text, int first_line, const std::string& source);

}  // namespace coda::traces
