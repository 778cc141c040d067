// Part of cuda_ops_test. FlashInfer's paged decode (kernels/decode_flashinfer.cu) against the CPU
// backend's attention op: bf16 and fp16 caches, GQA groups 1/4/8, head sizes 64/128, batch 1 and
// 64, contexts from 1 to 33k tokens including odd lengths, launch shapes longer than every
// context (a CUDA graph's), NaN-poisoned caches around the contexts, NaN guard rows around the
// output, and launches captured in a CUDA graph and replayed with new context lengths. Also which
// kernel DecodeAttention picks, and ours on the same batches. Skips without a GPU; the FlashInfer
// cases skip in builds without it or on a GPU other than sm_90.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "model_files/dtype.h"
#include "shard/backend/cuda/cuda_backend.h"
#include "tests/kernels/op_compare.h"

namespace tg::backend {
namespace {

using testing::AllocateGuarded;
using testing::Download;
using testing::DownloadGuarded;
using testing::ExpectClose;
using testing::RandomVector;
using testing::Upload;
using testing::UploadInts;

constexpr int kBlockSize = 16;

// Queries are float32 in both backends and K/V are rounded to the cache dtype on the host first,
// so the CPU reference sees exactly the values the kernel reads: what is left is float32
// summation order and the kernels' exp2 approximation.
constexpr float kAtol = 1e-4f, kRtol = 1e-3f;

float RoundTo(DType dtype, float x) {
  if (dtype == DType::kBF16) return testing::Bf16ToFloat(testing::ToBf16Bits(x));
  if (dtype == DType::kF16) return model::F16ToF32(model::F32ToF16(x));
  return x;
}

kernels::DType ToKernel(DType dtype) {
  return dtype == DType::kBF16  ? kernels::DType::kBFloat16
         : dtype == DType::kF16 ? kernels::DType::kFloat16
                                : kernels::DType::kFloat32;
}

// A batch of decode sequences in a paged cache: each sequence's blocks handed out in a
// scrambled order, unused block-table entries -1, every slot outside a context NaN.
struct PagedCache {
  std::vector<int> lens;
  int hq = 0, hk = 0, d = 0;
  int launch_len = 0;  // >= every length: the launch shape (a CUDA graph's)
  int max_blocks = 0, num_blocks = 0;
  std::vector<int32_t> tables;
  std::vector<float> k, v, q;  // caches [num_blocks, kBlockSize, hk, d], queries [seqs, hq, d]

  PagedCache(std::vector<int> lengths, int q_heads, int kv_heads, int head_dim, int launch,
             DType dtype)
      : lens(std::move(lengths)), hq(q_heads), hk(kv_heads), d(head_dim) {
    const int seqs = static_cast<int>(lens.size());
    launch_len = std::max(launch, *std::max_element(lens.begin(), lens.end()));
    max_blocks = (launch_len + kBlockSize - 1) / kBlockSize;
    int used = 0;
    for (int len : lens) used += (len + kBlockSize - 1) / kBlockSize;
    num_blocks = used + 3;
    std::vector<int32_t> perm(num_blocks);
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937 rng(7);
    std::shuffle(perm.begin(), perm.end(), rng);
    tables.assign(static_cast<size_t>(seqs) * max_blocks, -1);
    const size_t row = static_cast<size_t>(hk) * d;
    k.assign(static_cast<size_t>(num_blocks) * kBlockSize * row, std::nanf(""));
    v = k;
    const std::vector<float> values_k =
        RandomVector(static_cast<size_t>(used) * kBlockSize * row, 21);
    const std::vector<float> values_v = RandomVector(values_k.size(), 22);
    size_t next_value = 0;
    int next_block = 0;
    for (int s = 0; s < seqs; ++s) {
      for (int b = 0; b < (lens[s] + kBlockSize - 1) / kBlockSize; ++b) {
        tables[static_cast<size_t>(s) * max_blocks + b] = perm[next_block++];
      }
      for (int p = 0; p < lens[s]; ++p) {
        const size_t slot =
            static_cast<size_t>(tables[static_cast<size_t>(s) * max_blocks + p / kBlockSize]) *
                kBlockSize +
            p % kBlockSize;
        for (size_t i = 0; i < row; ++i, ++next_value) {
          k[slot * row + i] = RoundTo(dtype, values_k[next_value]);
          v[slot * row + i] = RoundTo(dtype, values_v[next_value]);
        }
      }
    }
    q = RandomVector(static_cast<size_t>(seqs) * hq * d, 23);
  }

  int seqs() const { return static_cast<int>(lens.size()); }
  std::vector<int64_t> CacheShape() const { return {num_blocks, kBlockSize, hk, d}; }
  float Scale() const { return 1.f / std::sqrt(static_cast<float>(d)); }
};

// The CPU backend's DecodeAttention over `cache` with context lengths `lens`.
std::vector<float> Reference(Backend& cpu, const PagedCache& c, const std::vector<int>& lens) {
  const int seqs = c.seqs();
  Tensor kc = Upload(cpu, cpu.KvDType(), c.CacheShape(), c.k);
  Tensor vc = Upload(cpu, cpu.KvDType(), c.CacheShape(), c.v);
  std::vector<int32_t> qstart(seqs + 1);
  std::iota(qstart.begin(), qstart.end(), 0);
  AttentionBatch batch;
  batch.num_seqs = batch.num_tokens = seqs;
  batch.max_query_len = 1;
  batch.max_seq_len = c.launch_len;
  batch.block_size = kBlockSize;
  batch.query_start = UploadInts(cpu, {seqs + 1}, qstart);
  batch.seq_lens = UploadInts(cpu, {seqs}, std::vector<int32_t>(lens.begin(), lens.end()));
  batch.block_tables = UploadInts(cpu, {seqs, c.max_blocks}, c.tables);
  Tensor q = Upload(cpu, DType::kF32, {seqs, c.hq, c.d}, c.q);
  Tensor out = cpu.Allocate(DType::kF32, {seqs, c.hq, c.d});
  cpu.DecodeAttention(q, kc, vc, batch, c.Scale(), out);
  return Download(cpu, out);
}

// The cache, queries and a guarded output on the GPU, and the DecodeAttention parameters over
// them (kernel forced to `kernel`), scratch included.
struct DeviceDecode {
  Tensor kc, vc, tables, lens, q, scratch;
  testing::Guarded out;
  kernels::DecodeAttentionParams p;

  DeviceDecode(Backend& gpu, const PagedCache& c, DType dtype, kernels::DecodeKernel kernel) {
    const int seqs = c.seqs();
    kc = Upload(gpu, dtype, c.CacheShape(), c.k);
    vc = Upload(gpu, dtype, c.CacheShape(), c.v);
    tables = UploadInts(gpu, {seqs, c.max_blocks}, c.tables);
    lens = UploadInts(gpu, {seqs}, std::vector<int32_t>(c.lens.begin(), c.lens.end()));
    q = Upload(gpu, DType::kF32, {seqs, c.hq, c.d}, c.q);
    out = AllocateGuarded(gpu, {seqs, c.hq, c.d});
    p.dtype = ToKernel(dtype);
    p.q = q.data_as<float>();
    p.q_stride = p.out_stride = c.hq * c.d;
    p.k_cache = kc.data();
    p.v_cache = vc.data();
    p.block_tables = tables.data_as<int32_t>();
    p.max_blocks_per_seq = c.max_blocks;
    p.context_lens = lens.data_as<int32_t>();
    p.out = out.Out().data_as<float>();
    p.num_seqs = seqs;
    p.num_q_heads = c.hq;
    p.num_kv_heads = c.hk;
    p.head_dim = c.d;
    p.block_size = kBlockSize;
    p.max_context_len = c.launch_len;
    p.scale = c.Scale();
    p.kernel = kernel;
    p.scratch_bytes = kernels::DecodeAttentionScratchBytes(p);
    scratch = gpu.Allocate(DType::kI32, {static_cast<int64_t>(p.scratch_bytes / 4 + 1)});
    p.scratch = scratch.data();
  }
};

class CudaDecodeAttentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    cpu_ = MakeCpuBackend({});
    ASSERT_EQ(cpu_->KvDType(), DType::kF32);
    gpu_ = MakeCudaBackend({.device = DeviceKind::kCuda});
  }
  kernels::Stream stream() { return static_cast<kernels::Stream>(gpu_->NativeStream()); }

  // Skips unless FlashInfer's decode serves this build and device (probed on a served shape).
  void RequireFlashInfer() {
    PagedCache probe({3}, 8, 2, 128, 0, DType::kBF16);
    DeviceDecode dev(*gpu_, probe, DType::kBF16, kernels::DecodeKernel::kFlashInfer);
    if (!kernels::FlashInferDecodeServes(dev.p)) {
      GTEST_SKIP() << "FlashInfer's decode is not built in or the GPU is not sm_90";
    }
  }

  // Runs `kernel` over `c` once and compares with the CPU op.
  void Check(const PagedCache& c, DType dtype, kernels::DecodeKernel kernel,
             const std::string& what) {
    const std::vector<float> ref = Reference(*cpu_, c, c.lens);
    DeviceDecode dev(*gpu_, c, dtype, kernel);
    ASSERT_EQ(kernels::DecodeKernelFor(dev.p), kernel) << what;
    ASSERT_EQ(kernels::DecodeAttention(dev.p, stream()), kernels::Status::kOk) << what;
    gpu_->Synchronize();
    ExpectClose(DownloadGuarded(*gpu_, dev.out), ref, kAtol, kRtol, what);
  }

  std::unique_ptr<Backend> cpu_;
  std::unique_ptr<Backend> gpu_;
};

// Batch 64: short odd lengths, the shortest contexts, a block-boundary pair and one long
// sequence (split into many KV tiles while its neighbours take one or two).
std::vector<int> Batch64Lengths() {
  std::vector<int> lens(64);
  for (int i = 0; i < 64; ++i) lens[i] = (i * 131) % 700 + 1;
  lens[0] = 1;
  lens[1] = 2;
  lens[2] = 16;
  lens[3] = 17;
  lens[7] = 33001;
  return lens;
}

TEST_F(CudaDecodeAttentionTest, FlashInferAgainstCpu) {
  RequireFlashInfer();
  if (HasFatalFailure() || IsSkipped()) return;
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    for (int d : {64, 128}) {
      for (int group : {1, 4, 8}) {
        const int hk = group == 8 ? 4 : 2;
        const int hq = hk * group;
        const std::string what = std::string(ToString(dtype)) + " d=" + std::to_string(d) +
                                 " group=" + std::to_string(group);
        // Batch 1: one token, an odd long context (a launch shape past it, as in a graph), and
        // 33k tokens.
        for (int len : {1, 4097, 33001}) {
          Check(PagedCache({len}, hq, hk, d, len == 4097 ? 8192 : 0, dtype), dtype,
                kernels::DecodeKernel::kFlashInfer, what + " batch 1 len " + std::to_string(len));
        }
        Check(PagedCache(Batch64Lengths(), hq, hk, d, 33024, dtype), dtype,
              kernels::DecodeKernel::kFlashInfer, what + " batch 64");
      }
    }
  }
}

// The layers of one decode step share FlashInfer's schedule: the first call writes it into its
// scratch, a later call over another layer's cache (same lengths, same launch) reuses that
// scratch with schedule_ready and skips the prepare kernel. Each must match the CPU op.
TEST_F(CudaDecodeAttentionTest, FlashInferLayersReuseTheFirstLayersSchedule) {
  RequireFlashInfer();
  if (HasFatalFailure() || IsSkipped()) return;
  for (const std::vector<int>& lens : {std::vector<int>{4097}, Batch64Lengths()}) {
    const PagedCache first(lens, 32, 8, 128, 33024, DType::kBF16);
    PagedCache second = first;  // another layer: other values in the same blocks
    for (float& x : second.k) x = -x;
    for (float& x : second.v) x *= 0.5f;
    for (float& x : second.q) x = 2.f * x;
    const std::string what = "batch " + std::to_string(lens.size());
    DeviceDecode layer0(*gpu_, first, DType::kBF16, kernels::DecodeKernel::kFlashInfer);
    ASSERT_EQ(kernels::DecodeAttention(layer0.p, stream()), kernels::Status::kOk) << what;
    DeviceDecode layer1(*gpu_, second, DType::kBF16, kernels::DecodeKernel::kFlashInfer);
    layer1.p.context_lens = layer0.p.context_lens;
    layer1.p.scratch = layer0.p.scratch;
    layer1.p.schedule_ready = true;
    ASSERT_EQ(kernels::DecodeAttention(layer1.p, stream()), kernels::Status::kOk) << what;
    gpu_->Synchronize();
    ExpectClose(DownloadGuarded(*gpu_, layer0.out), Reference(*cpu_, first, first.lens), kAtol,
                kRtol, what + " first layer");
    ExpectClose(DownloadGuarded(*gpu_, layer1.out), Reference(*cpu_, second, second.lens), kAtol,
                kRtol, what + " later layer, schedule reused");
  }
}

// The same launch captured once in a CUDA graph (its plan fixed by the launch shape) and replayed
// with other context lengths written into the same device buffers: each replay must match the
// CPU op at its lengths.
TEST_F(CudaDecodeAttentionTest, FlashInferGraphReplaysNewLengths) {
  RequireFlashInfer();
  if (HasFatalFailure() || IsSkipped()) return;
  struct Case {
    std::vector<int> capacity;  // the cache holds these many tokens per sequence
    int hq, hk;
    std::vector<std::vector<int>> replays;  // context lengths of each replay
  };
  std::vector<int> wide(64, 1024);
  std::vector<int> mixed(64), tiny(64, 1);
  for (int i = 0; i < 64; ++i) mixed[i] = (i * 53) % 1024 + 1;
  const std::vector<Case> cases = {
      {{16384}, 32, 8, {{16384}, {1}, {3001}, {129}}},
      {wide, 8, 2, {wide, mixed, tiny}},
  };
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    for (const Case& k : cases) {
      PagedCache c(k.capacity, k.hq, k.hk, 128, 0, dtype);
      DeviceDecode dev(*gpu_, c, dtype, kernels::DecodeKernel::kFlashInfer);
      cudaStream_t s = static_cast<cudaStream_t>(gpu_->NativeStream());
      gpu_->Synchronize();
      cudaGraph_t graph = nullptr;
      cudaGraphExec_t exec = nullptr;
      ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
      const kernels::Status launched = kernels::DecodeAttention(dev.p, stream());
      ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
      ASSERT_EQ(launched, kernels::Status::kOk);
      ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
      for (size_t r = 0; r < k.replays.size(); ++r) {
        const std::vector<int>& lens = k.replays[r];
        const std::vector<int32_t> lens32(lens.begin(), lens.end());
        gpu_->CopyFromHost(lens32.data(), dev.lens);
        ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
        gpu_->Synchronize();
        ExpectClose(DownloadGuarded(*gpu_, dev.out), Reference(*cpu_, c, lens), kAtol, kRtol,
                    std::string(ToString(dtype)) + " batch " + std::to_string(c.seqs()) +
                        " replay " + std::to_string(r));
      }
      cudaGraphExecDestroy(exec);
      cudaGraphDestroy(graph);
    }
  }
}

// Which kernel runs: FlashInfer's where it serves the shape, ours for everything else; a forced
// kernel that does not serve the shape is refused, not run.
TEST_F(CudaDecodeAttentionTest, DispatchPicksAServingKernel) {
  PagedCache c({100, 37}, 32, 8, 128, 0, DType::kBF16);
  DeviceDecode bf16(*gpu_, c, DType::kBF16, kernels::DecodeKernel::kAuto);
  const bool served = kernels::FlashInferDecodeServes(bf16.p);
  EXPECT_EQ(kernels::DecodeKernelFor(bf16.p),
            served ? kernels::DecodeKernel::kFlashInfer : kernels::DecodeKernel::kOurs);

  DeviceDecode f32(*gpu_, c, DType::kF32, kernels::DecodeKernel::kAuto);
  EXPECT_FALSE(kernels::FlashInferDecodeServes(f32.p));
  EXPECT_EQ(kernels::DecodeKernelFor(f32.p), kernels::DecodeKernel::kOurs);
  f32.p.kernel = kernels::DecodeKernel::kFlashInfer;
  EXPECT_EQ(kernels::DecodeAttention(f32.p, stream()), kernels::Status::kUnsupported);

  PagedCache odd_dim({100}, 8, 2, 96, 0, DType::kBF16);
  DeviceDecode d96(*gpu_, odd_dim, DType::kBF16, kernels::DecodeKernel::kAuto);
  EXPECT_FALSE(kernels::FlashInferDecodeServes(d96.p));
  EXPECT_EQ(kernels::DecodeKernelFor(d96.p), kernels::DecodeKernel::kOurs);
  // A padded output row (out_stride wider than the heads) is ours too: FlashInfer writes packed.
  bf16.p.out_stride += 4;
  EXPECT_FALSE(kernels::FlashInferDecodeServes(bf16.p));
}

// Our kernel on the same batches with a bf16 cache (the fallback FlashInfer replaced).
TEST_F(CudaDecodeAttentionTest, OursAgainstCpuOnTheSameBatches) {
  for (int d : {64, 128}) {
    for (int group : {1, 4, 8}) {
      const int hk = group == 8 ? 4 : 2;
      const std::string what = "ours d=" + std::to_string(d) + " group=" + std::to_string(group);
      Check(PagedCache({33001}, hk * group, hk, d, 0, DType::kBF16), DType::kBF16,
            kernels::DecodeKernel::kOurs, what + " batch 1");
      Check(PagedCache(Batch64Lengths(), hk * group, hk, d, 33024, DType::kBF16), DType::kBF16,
            kernels::DecodeKernel::kOurs, what + " batch 64");
    }
  }
}

}  // namespace
}  // namespace tg::backend
