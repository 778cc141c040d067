// Tensors of the shard backends: a dtype, a row-major shape and a pointer into device memory
// (host memory for the CPU backend), sharing ownership of the allocation it came from.
//
// A Tensor is a cheap handle (copying it copies a shared_ptr). Every tensor is contiguous and
// row-major; views (Reshape, Rows) share the storage and never copy. Only a Backend allocates
// (Backend::Allocate), so the deleter always matches the device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tg::backend {

enum class DType : uint8_t {
  kF32,
  kBF16,  // stored as uint16_t: the upper half of an IEEE float32
  kF16,   // stored as uint16_t: IEEE binary16
  kI32,
};
size_t DTypeSize(DType dtype);
const char* ToString(DType dtype);  // "float32", "bfloat16", "float16", "int32"
// Parses "float32"/"bfloat16"/"float16" (and "f32", "bf16", "f16"); throws tg::Error otherwise.
DType ParseFloatDType(const std::string& name);

enum class DeviceKind : uint8_t { kCpu, kCuda };
const char* ToString(DeviceKind device);

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<void> storage, void* data, DType dtype, std::vector<int64_t> shape,
         DeviceKind device);

  // False for a default-constructed Tensor; every allocated tensor is defined.
  bool defined() const { return data_ != nullptr; }
  void* data() const { return data_; }
  template <typename T>
  T* data_as() const {
    return static_cast<T*>(data_);
  }
  DType dtype() const { return dtype_; }
  DeviceKind device() const { return device_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const;
  size_t bytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype_); }

  // The same memory with another shape of equal element count (throws otherwise).
  Tensor Reshape(std::vector<int64_t> shape) const;
  // Rows [begin, begin + count) along dimension 0, sharing storage.
  Tensor Rows(int64_t begin, int64_t count) const;
  std::string DebugString() const;  // "bfloat16[576, 49152] cpu"

 private:
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
  DType dtype_ = DType::kF32;
  std::vector<int64_t> shape_;
  DeviceKind device_ = DeviceKind::kCpu;
};

}  // namespace tg::backend
