// Scratch directories and whole-file reads and writes for tests that work with files.
#pragma once

#include <set>
#include <string>

namespace coda::test {

// A fresh directory `<gtest temp dir><prefix>XXXXXX` (mkdtemp), removed with everything in it when
// the object goes away, so a failing assertion leaves nothing behind.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "coda_test_");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Path of `name` inside the directory (nothing is created).
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Names in the directory, without "." and "..".
  std::set<std::string> entries() const;

 private:
  std::string path_;
};

// Writes `bytes` to `path`, replacing what was there.
void write_bytes(const std::string& path, const std::string& bytes);

// The whole content of `path`; empty when it cannot be read.
std::string read_bytes(const std::string& path);

}  // namespace coda::test
