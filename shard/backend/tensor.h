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
  // GGML block formats of 32 elements (f16 scale; Q4_1 also an f16 offset), kept as a GGUF file
  // stores them by backends that compute on them (Backend::ComputesOnBlocks). Only Linear
  // weights and Embedding tables take them; a row is a whole number of blocks.
  kQ8_0,  // 34 bytes: d, int8 q[32]
  kQ4_0,  // 18 bytes: d, 16 bytes of nibbles (element j low, j + 16 high), w = d (n - 8)
  kQ4_1,  // 20 bytes: d, m, 16 bytes of nibbles, w = d n + m
};
bool IsBlockDType(DType dtype);
int64_t DTypeBlockElems(DType dtype);  // 1 for plain dtypes, 32 for block formats
size_t DTypeBlockBytes(DType dtype);   // bytes of one block (one element for plain dtypes)
// Bytes of `numel` elements (a whole number of blocks for block formats).
size_t DTypeBytes(DType dtype, int64_t numel);
// Bytes per element of a plain dtype; throws for block formats (use DTypeBytes).
size_t DTypeSize(DType dtype);
const char* ToString(DType dtype);  // "float32", "bfloat16", "float16", "int32", "q8_0", ...
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
  size_t bytes() const { return DTypeBytes(dtype_, numel()); }

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
