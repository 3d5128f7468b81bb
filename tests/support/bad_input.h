// The check every suite makes of user errors: the action throws coda::BadInput and its one-line
// message names what is wrong.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace coda::test {

// Runs `action`, expecting BadInput whose message contains every fragment (a gtest failure
// otherwise). Other exceptions propagate.
void expect_bad_input(const std::function<void()>& action, const std::vector<std::string>& fragments);

}  // namespace coda::test
