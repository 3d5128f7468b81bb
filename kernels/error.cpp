#include "kernels/error.h"

namespace coda {

void rethrow_with_context(const std::string& context, const BadInput& error) {
  throw BadInput(context + ": " + error.what());
}

}  // namespace coda
