#include "kernels/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "kernels/error.h"
#include "kernels/tensor.h"

namespace coda {

namespace {

std::string errno_text(int error) { return std::strerror(error); }

// Closes a descriptor on scope exit unless released.
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error close() saw (NFS reports write errors only here).
  int close_now() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// A name unique among concurrent writers: pid, a process-wide counter and the clock, so two
// threads or two processes writing the same path never share a temporary file.
std::string temporary_name(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  auto ticks = static_cast<unsigned long long>(std::chrono::steady_clock::now().time_since_epoch().count());
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1)) + "." +
         std::to_string(ticks % 1000000007ULL);
}

int write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace

std::string parent_directory(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  auto fail = [&](int error) -> void { throw BadInput(path + ": cannot write: " + errno_text(error)); };
  if (path.empty()) throw BadInput("cannot write a file with an empty name");

  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp = temporary_name(path);
    // O_EXCL: never reuse a file someone else created; 0666 lets the umask decide as for any new file.
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) fail(errno);
  }
  if (fd < 0) fail(EEXIST);
  Descriptor file(fd);

  // Replacing a file keeps its permission bits, as rewriting it in place would.
  struct stat existing {};
  int error = 0;
  if (::stat(path.c_str(), &existing) == 0 && S_ISREG(existing.st_mode) &&
      ::fchmod(file.get(), existing.st_mode & 07777) != 0)
    error = errno;
  if (error == 0) error = write_all(file.get(), bytes.data(), bytes.size());
  // fsync before rename: otherwise a crash can leave the new name pointing at an empty file
  // (the ext4 delayed-allocation problem).
  if (error == 0 && ::fsync(file.get()) != 0) error = errno;
  if (error == 0) error = file.close_now();
  if (error == 0 && ::rename(temp.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    ::unlink(temp.c_str());
    fail(error);
  }
  // Persist the rename itself; a failure here cannot be undone and the data is in place, so it
  // is not reported.
  int dir = ::open(parent_directory(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw BadInput(path + ": cannot open: " + errno_text(errno));
  Descriptor file(fd);
  struct stat info {};
  if (::fstat(file.get(), &info) != 0) throw BadInput(path + ": cannot read: " + errno_text(errno));
  if (S_ISDIR(info.st_mode)) throw BadInput(path + ": cannot open: " + errno_text(EISDIR));

  // Read straight into the string at its expected size, then on to the end rather than trusting
  // st_size alone: pipes and /proc files report 0, and a file may grow while we read.
  std::string bytes;
  std::size_t expected = S_ISREG(info.st_mode) && info.st_size > 0 ? static_cast<std::size_t>(info.st_size) : 0;
  if (expected) check_allocation(expected, path);
  bytes.resize(expected + 1);
  std::size_t filled = 0;
  for (;;) {
    if (filled == bytes.size()) bytes.resize(bytes.size() * 2 + (1 << 16));
    ssize_t n = ::read(file.get(), &bytes[filled], bytes.size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw BadInput(path + ": cannot read: " + errno_text(errno));
    }
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  bytes.resize(filled);
  return bytes;
}

}  // namespace coda
