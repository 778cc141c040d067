// GGUF (v2/v3) files: metadata key/values, the tensor index and the tensor data, read from a memory
// map. Used by the weight loader (gguf_weight_source) and by the tokenizer (tokenizer.ggml.*).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model_files/dtype.h"
#include "model_files/model_config.h"

namespace tg::model {

// GGUF metadata value types, numbered as in the file format.
enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
const char* GgufTypeName(GgufType type);

struct GgufTensorInfo {
  std::string name;  // GGUF name, e.g. "blk.0.attn_q.weight"
  DType dtype;
  uint32_t ggml_type = 0;      // the raw GGML type id
  std::vector<int64_t> ne;     // dims as stored: innermost (columns) first
  std::vector<int64_t> shape;  // row-major: ne reversed
  uint64_t offset = 0;         // absolute byte offset in the file
  uint64_t nbytes = 0;
};

class GgufFile {
 public:
  // Maps and parses the file. Throws tg::Error(kCorruptFile) naming the file and the problem.
  static GgufFile Open(const std::filesystem::path& path);
  // Parses bytes the caller keeps alive (fuzzing, tests). `origin` names them in errors.
  static GgufFile Parse(std::span<const uint8_t> bytes, const std::string& origin);

  uint32_t version() const;
  const std::string& origin() const;
  uint64_t alignment() const;

  std::vector<std::string> Keys() const;  // in file order
  bool HasKey(std::string_view key) const;
  std::optional<GgufType> KeyType(std::string_view key) const;
  std::optional<GgufType> ArrayElementType(std::string_view key) const;  // for kArray keys

  // Typed getters: throw tg::Error(kNotFound) when the key is missing and kCorruptFile when the
  // value has another type. Integer getters accept any integer type whose value fits.
  std::string GetString(std::string_view key) const;
  uint32_t GetU32(std::string_view key) const;
  uint64_t GetU64(std::string_view key) const;
  int64_t GetI64(std::string_view key) const;
  float GetF32(std::string_view key) const;  // accepts F32 and F64
  bool GetBool(std::string_view key) const;
  std::vector<std::string> GetStringArray(std::string_view key) const;
  std::vector<int32_t> GetI32Array(std::string_view key) const;  // any integer element type
  std::vector<float> GetF32Array(std::string_view key) const;
  uint64_t ArraySize(std::string_view key) const;

  // nullopt when the key is missing; still throws when it has the wrong type.
  std::optional<std::string> TryGetString(std::string_view key) const;
  std::optional<uint32_t> TryGetU32(std::string_view key) const;
  std::optional<float> TryGetF32(std::string_view key) const;
  std::optional<bool> TryGetBool(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const;
  const GgufTensorInfo* FindTensor(std::string_view gguf_name) const;
  const uint8_t* TensorData(const GgufTensorInfo& tensor) const;

  struct Impl;

 private:
  explicit GgufFile(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// The model config from "<arch>.*" metadata ("general.architecture" = llama, qwen2, qwen3, ...).
ModelConfig ModelConfigFromGguf(const GgufFile& file);

// HF name for a GGUF tensor name ("blk.3.attn_q.weight" ->
// "model.layers.3.self_attn.q_proj.weight"), nullopt for names with no HF counterpart.
std::optional<std::string> GgufToHfName(std::string_view gguf_name);

}  // namespace tg::model
