#include "shard/backend/tensor.h"

#include <sstream>

#include "common/error.h"

namespace tg::backend {

bool IsBlockDType(DType dtype) {
  return dtype == DType::kQ8_0 || dtype == DType::kQ4_0 || dtype == DType::kQ4_1;
}

int64_t DTypeBlockElems(DType dtype) { return IsBlockDType(dtype) ? 32 : 1; }

size_t DTypeBlockBytes(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kBF16:
    case DType::kF16:
      return 2;
    case DType::kQ8_0:
      return 34;
    case DType::kQ4_0:
      return 18;
    case DType::kQ4_1:
      return 20;
  }
  return 0;
}

size_t DTypeBytes(DType dtype, int64_t numel) {
  const int64_t block = DTypeBlockElems(dtype);
  TG_CHECK(
      numel % block == 0, kInvalidArgument,
      std::to_string(numel) + " elements is not a whole number of " + ToString(dtype) + " blocks");
  return static_cast<size_t>(numel / block) * DTypeBlockBytes(dtype);
}

size_t DTypeSize(DType dtype) {
  TG_CHECK(!IsBlockDType(dtype), kInvalidArgument,
           std::string(ToString(dtype)) + " has no per-element size (a block format)");
  return DTypeBlockBytes(dtype);
}

const char* ToString(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "float32";
    case DType::kBF16:
      return "bfloat16";
    case DType::kF16:
      return "float16";
    case DType::kI32:
      return "int32";
    case DType::kQ8_0:
      return "q8_0";
    case DType::kQ4_0:
      return "q4_0";
    case DType::kQ4_1:
      return "q4_1";
  }
  return "?";
}

DType ParseFloatDType(const std::string& name) {
  if (name == "float32" || name == "f32") return DType::kF32;
  if (name == "bfloat16" || name == "bf16") return DType::kBF16;
  if (name == "float16" || name == "f16") return DType::kF16;
  throw Error(ErrorKind::kInvalidArgument,
              "unknown dtype '" + name + "' (expected float32, bfloat16 or float16)");
}

const char* ToString(DeviceKind device) { return device == DeviceKind::kCpu ? "cpu" : "cuda"; }

Tensor::Tensor(std::shared_ptr<void> storage, void* data, DType dtype, std::vector<int64_t> shape,
               DeviceKind device)
    : storage_(std::move(storage)),
      data_(data),
      dtype_(dtype),
      shape_(std::move(shape)),
      device_(device) {}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

Tensor Tensor::Reshape(std::vector<int64_t> shape) const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  TG_CHECK(n == numel(), kInvalidArgument, "cannot reshape " + DebugString());
  return Tensor(storage_, data_, dtype_, std::move(shape), device_);
}

Tensor Tensor::Rows(int64_t begin, int64_t count) const {
  TG_CHECK(!shape_.empty() && begin >= 0 && count >= 0 && begin + count <= shape_[0],
           kInvalidArgument, "row slice out of range of " + DebugString());
  std::vector<int64_t> shape = shape_;
  shape[0] = count;
  const size_t row_bytes = shape_[0] == 0 ? 0 : bytes() / static_cast<size_t>(shape_[0]);
  return Tensor(storage_, static_cast<char*>(data_) + row_bytes * begin, dtype_, std::move(shape),
                device_);
}

std::string Tensor::DebugString() const {
  std::ostringstream out;
  out << ToString(dtype_) << "[";
  for (size_t i = 0; i < shape_.size(); ++i) out << (i ? ", " : "") << shape_[i];
  out << "] " << ToString(device_);
  return out.str();
}

}  // namespace tg::backend
