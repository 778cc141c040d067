// Conversion of stored tensor bytes (plain floats and GGML block quants) to float32 / bf16.
//
// The block layouts follow the GGML specification: Q8_0/Q4_0/Q4_1 blocks of 32 elements with an
// f16 scale (and min for Q4_1); Q4_K/Q5_K/Q6_K super-blocks of 256 elements with 6-bit (Q4_K,
// Q5_K) or 8-bit (Q6_K) sub-block scales. Loops are plain and tight: big models are converted
// once at load time.
#pragma once

#include <cstdint>

#include "model_files/dtype.h"

namespace tg::model {

// Converts `elems` elements starting at `src` (which must begin on a block boundary and hold
// DTypeBytes(dtype, elems) bytes) to float32. Throws tg::Error(kUnsupported) for integer types
// and kInvalidArgument when elems is not a whole number of blocks.
void DequantizeToF32(DType dtype, const void* src, int64_t elems, float* dst);
// Same, to bf16 (round to nearest even).
void DequantizeToBF16(DType dtype, const void* src, int64_t elems, uint16_t* dst);

}  // namespace tg::model
