// Reading a [rows x cols] window of a stored tensor as float32/bf16, shared by the safetensors and
// GGUF weight sources. A tensor of shape [d0, d1, d2...] is seen as d0 rows of d1 columns, each
// column `inner` = d2*... elements wide; a 1-D tensor is d0 rows of one element.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model_files/dtype.h"
#include "model_files/weight_source.h"

namespace tg::model {

struct SliceBounds {
  int64_t rows = 0, cols = 0, inner = 1;   // the whole tensor
  int64_t r0 = 0, r1 = 0, c0 = 0, c1 = 0;  // the window
  int64_t out_elems() const { return (r1 - r0) * (c1 - c0) * inner; }
};

// Checks the ranges against the shape; throws tg::Error(kInvalidArgument) naming the tensor.
SliceBounds ResolveSlice(const std::vector<int64_t>& shape, RowRange rows, RowRange cols,
                         const std::string& name);

// Maps an output row to the stored row (for layouts that permute rows); empty = identity.
using RowMap = std::function<int64_t(int64_t)>;

// `data` points at the first stored byte of the tensor. Only the bytes of the window are touched
// (rounded out to whole quantization blocks).
std::vector<float> ReadSliceF32(DType dtype, const uint8_t* data, const SliceBounds& b,
                                const RowMap& row_map = {});
std::vector<uint16_t> ReadSliceBF16(DType dtype, const uint8_t* data, const SliceBounds& b,
                                    const RowMap& row_map = {});
// The same into dst, which holds b.out_elems() elements.
void ReadSliceInto(DType dtype, const uint8_t* data, const SliceBounds& b, const RowMap& row_map,
                   float* dst);
void ReadSliceInto(DType dtype, const uint8_t* data, const SliceBounds& b, const RowMap& row_map,
                   uint16_t* dst);

}  // namespace tg::model
