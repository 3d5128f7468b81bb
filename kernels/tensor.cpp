#include "kernels/tensor.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <new>
#include <sstream>

#include "kernels/error.h"

namespace coda {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float16: return "float16";
    case DType::Int64: return "int64";
  }
  return "?";
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Float16: return 2;
    case DType::Int64: return 8;
  }
  return 0;
}

int64_t element_count(const Shape& shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) throw BadInput("shape " + shape_string(shape) + " has a negative dimension");
    if (d != 0 && count > std::numeric_limits<int64_t>::max() / d)
      throw BadInput("shape " + shape_string(shape) + " has more elements than fit in 64 bits");
    count *= d;
  }
  return count;
}

std::string shape_string(const Shape& shape) {
  if (shape.empty()) return "scalar";
  std::ostringstream out;
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? "x" : "") << shape[i];
  return out.str();
}

namespace {

std::size_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::size_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return std::numeric_limits<std::size_t>::max();
}

std::size_t& limit_storage() {
  static std::size_t limit = available_memory_bytes();
  return limit;
}

}  // namespace

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 6) {
    bytes /= 1024.0;
    ++u;
  }
  std::ostringstream out;
  out.precision(3);
  out << bytes << " " << units[u];
  return out.str();
}

std::size_t memory_limit_bytes() { return limit_storage(); }
void set_memory_limit_bytes(std::size_t bytes) { limit_storage() = bytes; }

void check_allocation(std::size_t bytes, const std::string& what) {
  if (bytes > memory_limit_bytes())
    throw BadInput(what + " needs " + format_bytes(static_cast<double>(bytes)) + " but only " +
                   format_bytes(static_cast<double>(memory_limit_bytes())) + " of memory is available");
}

Buffer::Buffer(std::size_t bytes) : capacity_(bytes) {
  constexpr std::size_t kAlign = 64;
  std::size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  data_ = std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
  if (!data_) throw std::bad_alloc();
}

Buffer::~Buffer() { std::free(data_); }

Tensor::Tensor(Shape shape, DType dtype) : shape_(std::move(shape)), dtype_(dtype) {
  size_ = element_count(shape_);
  // Guard the multiplication by the element size as well as the element count.
  if (static_cast<std::size_t>(size_) > std::numeric_limits<std::size_t>::max() / dtype_size(dtype_))
    throw BadInput("tensor of shape " + shape_string(shape_) + " is too large to address");
  check_allocation(bytes(), "a " + std::string(dtype_name(dtype_)) + " tensor of shape " + shape_string(shape_));
  buffer_ = std::make_shared<Buffer>(bytes());
}

Tensor::Tensor(Shape shape, DType dtype, std::shared_ptr<Buffer> buffer)
    : shape_(std::move(shape)), dtype_(dtype), buffer_(std::move(buffer)) {
  size_ = element_count(shape_);
  if (!buffer_ || buffer_->capacity() < bytes())
    throw std::logic_error("Tensor: buffer too small for shape " + shape_string(shape_));
}

Tensor Tensor::metadata_only(Shape shape, DType dtype) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.size_ = element_count(t.shape_);
  return t;
}

Tensor Tensor::zeros(Shape shape, DType dtype) {
  Tensor t(std::move(shape), dtype);
  if (t.bytes()) std::memset(t.raw(), 0, t.bytes());
  return t;
}

Tensor Tensor::filled(Shape shape, float value) {
  Tensor t(std::move(shape), DType::Float32);
  std::fill(t.f32(), t.f32() + t.size(), value);
  return t;
}

Tensor Tensor::from_floats(Shape shape, const std::vector<float>& values) {
  Tensor t(std::move(shape), DType::Float32);
  if (static_cast<int64_t>(values.size()) != t.size())
    throw BadInput("tensor of shape " + shape_string(t.shape()) + " given " + std::to_string(values.size()) +
                   " values");
  std::copy(values.begin(), values.end(), t.f32());
  return t;
}

Tensor Tensor::from_int64(Shape shape, const std::vector<int64_t>& values) {
  Tensor t(std::move(shape), DType::Int64);
  if (static_cast<int64_t>(values.size()) != t.size())
    throw BadInput("tensor of shape " + shape_string(t.shape()) + " given " + std::to_string(values.size()) +
                   " values");
  std::copy(values.begin(), values.end(), t.i64());
  return t;
}

int64_t Tensor::dim(int i) const {
  int r = rank();
  int k = i < 0 ? i + r : i;
  if (k < 0 || k >= r) throw std::out_of_range("Tensor::dim: axis out of range");
  return shape_[static_cast<std::size_t>(k)];
}

void Tensor::require(DType dtype) const {
  if (dtype_ != dtype)
    throw std::logic_error(std::string("tensor is ") + dtype_name(dtype_) + ", expected " + dtype_name(dtype));
}

float* Tensor::f32() { require(DType::Float32); return static_cast<float*>(raw()); }
const float* Tensor::f32() const { require(DType::Float32); return static_cast<const float*>(raw()); }
Eigen::half* Tensor::f16() { require(DType::Float16); return static_cast<Eigen::half*>(raw()); }
const Eigen::half* Tensor::f16() const { require(DType::Float16); return static_cast<const Eigen::half*>(raw()); }
int64_t* Tensor::i64() { require(DType::Int64); return static_cast<int64_t*>(raw()); }
const int64_t* Tensor::i64() const { require(DType::Int64); return static_cast<const int64_t*>(raw()); }

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor out(shape_, dtype);
  const int64_t n = size_;
  if (dtype_ == DType::Float32 && dtype == DType::Float16) {
    Eigen::Map<const Eigen::ArrayXf> src(f32(), n);
    Eigen::Map<Eigen::Array<Eigen::half, Eigen::Dynamic, 1>>(out.f16(), n) = src.cast<Eigen::half>();
  } else if (dtype_ == DType::Float16 && dtype == DType::Float32) {
    Eigen::Map<const Eigen::Array<Eigen::half, Eigen::Dynamic, 1>> src(f16(), n);
    Eigen::Map<Eigen::ArrayXf>(out.f32(), n) = src.cast<float>();
  } else {
    // Int64 <-> float conversions are for shape arithmetic only: small tensors, plain loops.
    for (int64_t i = 0; i < n; ++i) {
      double v = dtype_ == DType::Int64 ? static_cast<double>(i64()[i])
                 : dtype_ == DType::Float32 ? static_cast<double>(f32()[i])
                                            : static_cast<double>(static_cast<float>(f16()[i]));
      if (dtype == DType::Int64) out.i64()[i] = static_cast<int64_t>(v);
      else if (dtype == DType::Float32) out.f32()[i] = static_cast<float>(v);
      else out.f16()[i] = Eigen::half(static_cast<float>(v));
    }
  }
  return out;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (element_count(shape) != size_)
    throw BadInput("cannot reshape " + shape_string(shape_) + " to " + shape_string(shape));
  return Tensor(std::move(shape), dtype_, buffer_);
}

Tensor Tensor::clone() const {
  if (empty()) return Tensor();
  Tensor out(shape_, dtype_);
  if (bytes()) std::memcpy(out.raw(), raw(), bytes());
  return out;
}

std::vector<float> Tensor::to_float_vector() const {
  Tensor f = to(DType::Float32);
  return std::vector<float>(f.f32(), f.f32() + f.size());
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  Tensor i = to(DType::Int64);
  return std::vector<int64_t>(i.i64(), i.i64() + i.size());
}

}  // namespace coda
