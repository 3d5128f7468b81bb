// Dense NCHW tensors. Float32 is the compute type; Float16 (Eigen::half) is a storage type used by
// the FP16 knobs and by models stored in half precision; Int64 carries shape arithmetic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>

namespace coda {

using Shape = std::vector<int64_t>;

enum class DType : std::uint8_t { Float32, Float16, Int64 };

const char* dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);

// Number of elements of a shape; throws BadInput on negative dimensions or int64 overflow.
int64_t element_count(const Shape& shape);
// "1x3x224x224"; "scalar" for rank 0.
std::string shape_string(const Shape& shape);

// "98.0 MiB": bytes with a binary prefix, three significant digits.
std::string format_bytes(double bytes);

// Bytes a tensor may occupy before coda refuses to allocate it. Defaults to the memory the
// operating system reports as available (MemAvailable), so an impossible model fails with a
// clear message instead of being killed by the OOM killer half-way.
std::size_t memory_limit_bytes();
void set_memory_limit_bytes(std::size_t bytes);
// Throws BadInput when `bytes` exceeds the limit; `what` names the tensor for the message.
void check_allocation(std::size_t bytes, const std::string& what);

// A 64-byte aligned block of memory. Buffers are shared between tensors that view the same data
// (Reshape, Flatten) and handed back to a pool for reuse by the executor.
class Buffer {
 public:
  explicit Buffer(std::size_t bytes);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* data() { return data_; }
  const void* data() const { return data_; }
  std::size_t capacity() const { return capacity_; }

 private:
  void* data_ = nullptr;
  std::size_t capacity_ = 0;
};

class Tensor {
 public:
  Tensor() = default;
  // Allocates uninitialised storage of the right size.
  explicit Tensor(Shape shape, DType dtype = DType::Float32);
  // Views an existing buffer (which must be large enough).
  Tensor(Shape shape, DType dtype, std::shared_ptr<Buffer> buffer);

  static Tensor zeros(Shape shape, DType dtype = DType::Float32);
  static Tensor filled(Shape shape, float value);
  static Tensor from_floats(Shape shape, const std::vector<float>& values);
  static Tensor from_int64(Shape shape, const std::vector<int64_t>& values);
  static Tensor scalar(float value) { return from_floats({}, {value}); }
  // Shape and dtype without storage, for ops that read only the shape (Shape, Size) when they
  // are folded at preparation time. Reading its data is an error.
  static Tensor metadata_only(Shape shape, DType dtype);

  bool empty() const { return buffer_ == nullptr; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  // Dimension i; negative i counts from the end.
  int64_t dim(int i) const;
  int64_t size() const { return size_; }
  std::size_t bytes() const { return static_cast<std::size_t>(size_) * dtype_size(dtype_); }

  float* f32();
  const float* f32() const;
  Eigen::half* f16();
  const Eigen::half* f16() const;
  int64_t* i64();
  const int64_t* i64() const;
  void* raw() { return buffer_ ? buffer_->data() : nullptr; }
  const void* raw() const { return buffer_ ? buffer_->data() : nullptr; }

  // Converted copy (or this tensor itself if already of that type).
  Tensor to(DType dtype) const;
  // Same storage, new shape of the same element count.
  Tensor reshaped(Shape shape) const;
  // Deep copy.
  Tensor clone() const;
  // Values as float / int64 whatever the storage type (for small tensors: shapes, axes).
  std::vector<float> to_float_vector() const;
  std::vector<int64_t> to_int64_vector() const;

  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }

 private:
  void require(DType dtype) const;

  Shape shape_;
  DType dtype_ = DType::Float32;
  int64_t size_ = 0;
  std::shared_ptr<Buffer> buffer_;
};

}  // namespace coda
