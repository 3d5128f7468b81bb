#include "tests/support/bad_input.h"

#include <gtest/gtest.h>

#include "kernels/error.h"

namespace coda::test {

void expect_bad_input(const std::function<void()>& action, const std::vector<std::string>& fragments) {
  try {
    action();
    ADD_FAILURE() << "no BadInput thrown; expected one mentioning "
                  << (fragments.empty() ? std::string("anything") : fragments.front());
  } catch (const BadInput& e) {
    for (const std::string& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "message: " << e.what() << "\nmissing: " << f;
  }
}

}  // namespace coda::test
