// Errors that coda reports to a user. BadInput is anything wrong with what the user gave us
// (files, shapes, options, resource needs); the command maps it to exit code 2 and one line.
#pragma once

#include <stdexcept>
#include <string>

namespace coda {

class BadInput : public std::runtime_error {
 public:
  explicit BadInput(const std::string& message) : std::runtime_error(message) {}
};

// Prefixes a BadInput raised deeper down with the file (or object) it concerns, so the final
// message reads "model.onnx: node 'conv1' (Conv): ...".
[[noreturn]] void rethrow_with_context(const std::string& context, const BadInput& error);

}  // namespace coda
