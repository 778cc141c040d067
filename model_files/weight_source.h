// What the shard loads weights through: one interface over an HF directory of safetensors and a
// GGUF file, always speaking HF tensor names ("model.layers.0.self_attn.q_proj.weight") and
// HF layouts (row-major [out_features, in_features]).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model_files/dtype.h"
#include "model_files/model_config.h"

namespace tg::model {

struct TensorInfo {
  DType dtype;
  std::vector<int64_t> shape;  // row-major, outermost first
};
int64_t NumElements(const TensorInfo& info);

// A half-open range [begin, end) of rows or columns; end = -1 means "to the end".
struct RowRange {
  int64_t begin = 0, end = -1;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // A directory with config.json + *.safetensors (single or index-sharded), or a .gguf file.
  // Throws tg::Error naming the file and the problem.
  static std::unique_ptr<WeightSource> Open(const std::filesystem::path& path);

  virtual const ModelConfig& config() const = 0;
  virtual bool Has(const std::string& hf_name) const = 0;
  virtual TensorInfo Info(const std::string& hf_name) const = 0;  // dtype as stored
  virtual std::vector<std::string> Names() const = 0;             // sorted
  // Whole tensor, or a slice along dim 0 (rows) / dim 1 (columns) for tensor parallelism; reads
  // only the bytes of the slice where the format allows. 1-D tensors take only `rows`.
  // Output is row-major and dequantized.
  std::vector<float> ReadF32(const std::string& name, RowRange rows = {}, RowRange cols = {}) const;
  std::vector<uint16_t> ReadBF16(const std::string& name, RowRange rows = {},
                                 RowRange cols = {}) const;
  // The same into caller memory of SliceElems(name, rows, cols) elements, e.g. a reused pinned
  // staging buffer: fresh pages for every tensor cost more than the conversion itself.
  virtual void ReadF32Into(const std::string& name, float* dst, RowRange rows = {},
                           RowRange cols = {}) const = 0;
  virtual void ReadBF16Into(const std::string& name, uint16_t* dst, RowRange rows = {},
                            RowRange cols = {}) const = 0;
  int64_t SliceElems(const std::string& name, RowRange rows = {}, RowRange cols = {}) const;
  // A whole 2-D tensor's stored bytes, GGML blocks included, with rows in HF order (llama.cpp's
  // q/k row permutation undone; blocks never straddle rows). For backends that compute on the
  // stored blocks. Throws kUnsupported where the format has no such blocks (safetensors).
  virtual std::vector<uint8_t> ReadStoredRows(const std::string& name) const;
  // Zero-copy view into the mapped file when the stored dtype is F32/F16/BF16 and the stored
  // layout is the HF layout (nullptr otherwise, e.g. quantized or permuted GGUF q/k).
  virtual const void* RawData(const std::string& name) const = 0;
};

}  // namespace tg::model
