#include "model_files/tensor_slice.h"

#include <algorithm>

#include "common/error.h"
#include "model_files/dequantize.h"

namespace tg::model {

namespace {

void Convert(DType dtype, const void* src, int64_t n, float* dst) {
  DequantizeToF32(dtype, src, n, dst);
}
void Convert(DType dtype, const void* src, int64_t n, uint16_t* dst) {
  DequantizeToBF16(dtype, src, n, dst);
}

// Converts stored elements [first, first + n) to dst; unaligned ranges of quantized types go
// through the enclosing whole blocks.
template <typename T>
void ConvertElems(DType dtype, const uint8_t* data, int64_t first, int64_t n, T* dst,
                  std::vector<T>* scratch) {
  const int64_t be = DTypeBlockElems(dtype), bb = DTypeBlockBytes(dtype);
  if (first % be == 0 && n % be == 0) {
    Convert(dtype, data + first / be * bb, n, dst);
    return;
  }
  const int64_t block0 = first / be;
  const int64_t block1 = (first + n + be - 1) / be;
  scratch->resize(static_cast<size_t>((block1 - block0) * be));
  Convert(dtype, data + block0 * bb, (block1 - block0) * be, scratch->data());
  std::copy_n(scratch->begin() + (first - block0 * be), n, dst);
}

template <typename T>
void ReadSliceTo(DType dtype, const uint8_t* data, const SliceBounds& b, const RowMap& row_map,
                 T* out) {
  TG_CHECK(IsFloatConvertible(dtype), kUnsupported,
           std::string("cannot read ") + DTypeName(dtype) + " tensors as float");
  std::vector<T> scratch;
  const int64_t row_elems = b.cols * b.inner;
  const int64_t width = (b.c1 - b.c0) * b.inner;
  if (!row_map && b.c0 == 0 && b.c1 == b.cols) {
    // Whole rows in stored order: one contiguous run.
    ConvertElems(dtype, data, b.r0 * row_elems, (b.r1 - b.r0) * row_elems, out, &scratch);
    return;
  }
  for (int64_t r = b.r0; r < b.r1; ++r) {
    const int64_t src_row = row_map ? row_map(r) : r;
    ConvertElems(dtype, data, src_row * row_elems + b.c0 * b.inner, width, out + (r - b.r0) * width,
                 &scratch);
  }
}

template <typename T>
std::vector<T> ReadSlice(DType dtype, const uint8_t* data, const SliceBounds& b,
                         const RowMap& row_map) {
  std::vector<T> out(static_cast<size_t>(b.out_elems()));
  ReadSliceTo(dtype, data, b, row_map, out.data());
  return out;
}

int64_t ResolveEnd(int64_t end, int64_t size) { return end < 0 ? size : end; }

}  // namespace

SliceBounds ResolveSlice(const std::vector<int64_t>& shape, RowRange rows, RowRange cols,
                         const std::string& name) {
  SliceBounds b;
  b.rows = shape.empty() ? 1 : shape[0];
  b.cols = shape.size() >= 2 ? shape[1] : 1;
  for (size_t i = 2; i < shape.size(); ++i) b.inner *= shape[i];
  const bool cols_sliced = cols.begin != 0 || cols.end != -1;
  TG_CHECK(!(cols_sliced && shape.size() < 2), kInvalidArgument,
           "tensor \"" + name + "\" is 1-D and has no columns to slice");
  b.r0 = rows.begin;
  b.r1 = ResolveEnd(rows.end, b.rows);
  b.c0 = cols.begin;
  b.c1 = ResolveEnd(cols.end, b.cols);
  TG_CHECK(0 <= b.r0 && b.r0 <= b.r1 && b.r1 <= b.rows, kInvalidArgument,
           "row range [" + std::to_string(b.r0) + ", " + std::to_string(b.r1) +
               ") is outside tensor \"" + name + "\" with " + std::to_string(b.rows) + " rows");
  TG_CHECK(0 <= b.c0 && b.c0 <= b.c1 && b.c1 <= b.cols, kInvalidArgument,
           "column range [" + std::to_string(b.c0) + ", " + std::to_string(b.c1) +
               ") is outside tensor \"" + name + "\" with " + std::to_string(b.cols) + " columns");
  return b;
}

std::vector<float> ReadSliceF32(DType dtype, const uint8_t* data, const SliceBounds& b,
                                const RowMap& row_map) {
  return ReadSlice<float>(dtype, data, b, row_map);
}

std::vector<uint16_t> ReadSliceBF16(DType dtype, const uint8_t* data, const SliceBounds& b,
                                    const RowMap& row_map) {
  return ReadSlice<uint16_t>(dtype, data, b, row_map);
}

void ReadSliceInto(DType dtype, const uint8_t* data, const SliceBounds& b, const RowMap& row_map,
                   float* dst) {
  ReadSliceTo(dtype, data, b, row_map, dst);
}

void ReadSliceInto(DType dtype, const uint8_t* data, const SliceBounds& b, const RowMap& row_map,
                   uint16_t* dst) {
  ReadSliceTo(dtype, data, b, row_map, dst);
}

}  // namespace tg::model
