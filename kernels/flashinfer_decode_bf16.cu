// FlashInfer's paged decode over a bfloat16 cache into float32 outputs, head sizes 64 and 128
// (flashinfer_decode.cuh).
#include "kernels/flashinfer_decode.cuh"

namespace tg::kernels::detail {

template Status FlashInferDecodeRun<DType::kBFloat16, DType::kFloat32, 64>(
    const FlashInferDecodeRunParams& p, Stream stream);
template Status FlashInferDecodeRun<DType::kBFloat16, DType::kFloat32, 128>(
    const FlashInferDecodeRunParams& p, Stream stream);

}  // namespace tg::kernels::detail
