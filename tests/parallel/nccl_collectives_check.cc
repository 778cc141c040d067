// One rank of the multi-GPU NCCL check (run by scripts/gpu/multi/run.sh, one process per GPU,
// with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set as the launcher sets them):
//   --mode check   AllReduceSum (f32, bf16) and AllGatherColumns (padded vocabulary) against
//                  host references, eagerly and replayed from a captured CUDA graph; then the
//                  cost of one decode step's all-reduces (2 per layer, [batch, hidden] float32,
//                  eager and graph-captured). Prints JSON lines; exits 1 on any mismatch.
//   --mode timeout rank 1 skips a collective: every other rank must get a clear error from the
//                  watchdog within --collective-timeout-ms, not hang.
#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/flags.h"
#include "common/logging.h"
#include "model_files/dtype.h"
#include "shard/parallel/nccl_communicator.h"

namespace {

using tg::backend::DeviceKind;
using tg::backend::DType;
using tg::backend::Tensor;

void Cuda(cudaError_t status, const char* what) {
  TG_CHECK(status == cudaSuccess, kInternal, std::string(what) + ": " + cudaGetErrorString(status));
}

Tensor DeviceTensor(DType dtype, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  void* ptr = nullptr;
  Cuda(cudaMalloc(&ptr, static_cast<size_t>(n) * tg::backend::DTypeSize(dtype)), "cudaMalloc");
  std::shared_ptr<void> storage(ptr, [](void* p) { cudaFree(p); });
  return Tensor(storage, ptr, dtype, std::move(shape), DeviceKind::kCuda);
}

struct Context {
  int rank, world;
  cudaStream_t stream;
  tg::parallel::Communicator* comm;
  int failures = 0;
};

void Report(Context& ctx, const std::string& name, bool ok, const std::string& detail = "") {
  if (!ok) ++ctx.failures;
  if (ctx.rank == 0 || !ok) {
    std::cout << "{\"check\":\"" << name << "\",\"rank\":" << ctx.rank
              << ",\"ok\":" << (ok ? "true" : "false") << ",\"detail\":\"" << detail << "\"}"
              << std::endl;
  }
}

// Rank r contributes (r + 1) * (i % 97) * 0.25: exact in f32 and bf16 for these sizes.
float Contribution(int rank, int64_t i) {
  return static_cast<float>((rank + 1) * (i % 97)) * 0.25f;
}

void CheckAllReduce(Context& ctx, DType dtype, int64_t n) {
  Tensor t = DeviceTensor(dtype, {n});
  std::vector<float> host(n);
  for (int64_t i = 0; i < n; ++i) host[i] = Contribution(ctx.rank, i);
  if (dtype == DType::kF32) {
    Cuda(cudaMemcpy(t.data(), host.data(), n * 4, cudaMemcpyHostToDevice), "upload");
  } else {
    std::vector<uint16_t> bf(n);
    for (int64_t i = 0; i < n; ++i) bf[i] = tg::model::F32ToBf16(host[i]);
    Cuda(cudaMemcpy(t.data(), bf.data(), n * 2, cudaMemcpyHostToDevice), "upload");
  }
  ctx.comm->AllReduceSum(t);
  Cuda(cudaStreamSynchronize(ctx.stream), "sync");
  std::vector<float> got(n);
  if (dtype == DType::kF32) {
    Cuda(cudaMemcpy(got.data(), t.data(), n * 4, cudaMemcpyDeviceToHost), "download");
  } else {
    std::vector<uint16_t> bf(n);
    Cuda(cudaMemcpy(bf.data(), t.data(), n * 2, cudaMemcpyDeviceToHost), "download");
    for (int64_t i = 0; i < n; ++i) got[i] = tg::model::Bf16ToF32(bf[i]);
  }
  const float ranks_sum = static_cast<float>(ctx.world * (ctx.world + 1) / 2);
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    float want = ranks_sum * static_cast<float>(i % 97) * 0.25f;
    if (std::fabs(got[i] - want) > (dtype == DType::kF32 ? 0.0f : 0.01f * std::fabs(want))) ++bad;
  }
  Report(ctx, std::string("all_reduce_") + tg::backend::ToString(dtype) + "_" + std::to_string(n),
         bad == 0, std::to_string(bad) + " wrong");
}

// Vocabulary `vocab` split in world chunks; local [rows, chunk] holds 1000 * row + global column.
void FillLocalLogits(Context& ctx, const Tensor& local, int64_t vocab) {
  const int64_t rows = local.dim(0), chunk = local.dim(1);
  std::vector<float> host(rows * chunk);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < chunk; ++j) {
      int64_t global = ctx.rank * chunk + j;
      host[r * chunk + j] = global < vocab ? 1000.0f * r + global : -7.0f;
    }
  }
  Cuda(cudaMemcpy(local.data(), host.data(), host.size() * 4, cudaMemcpyHostToDevice), "upload");
}

bool LogitsCorrect(const Tensor& out) {
  const int64_t rows = out.dim(0), vocab = out.dim(1);
  std::vector<float> host(rows * vocab);
  Cuda(cudaMemcpy(host.data(), out.data(), host.size() * 4, cudaMemcpyDeviceToHost), "download");
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < vocab; ++c) {
      if (host[r * vocab + c] != 1000.0f * r + c) return false;
    }
  }
  return true;
}

void CheckGather(Context& ctx, int64_t rows, int64_t vocab) {
  const int64_t chunk = (vocab + ctx.world - 1) / ctx.world;
  Tensor local = DeviceTensor(DType::kF32, {rows, chunk});
  Tensor out = DeviceTensor(DType::kF32, {rows, vocab});
  FillLocalLogits(ctx, local, vocab);
  ctx.comm->AllGatherColumns(local, out);
  Cuda(cudaStreamSynchronize(ctx.stream), "sync");
  Report(ctx, "gather_columns_" + std::to_string(rows) + "x" + std::to_string(vocab),
         LogitsCorrect(out));
}

// The collectives inside a captured CUDA graph: capture once, replay, check.
void CheckGraph(Context& ctx) {
  const int64_t n = 8192, vocab = 128256, rows = 4;
  const int64_t chunk = (vocab + ctx.world - 1) / ctx.world;
  Tensor t = DeviceTensor(DType::kF32, {n});
  Tensor local = DeviceTensor(DType::kF32, {rows, chunk});
  Tensor out = DeviceTensor(DType::kF32, {rows, vocab});
  ctx.comm->AllGatherColumns(local, out);  // eager first: sizes the gather staging buffer
  Cuda(cudaStreamSynchronize(ctx.stream), "sync");
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  Cuda(cudaStreamBeginCapture(ctx.stream, cudaStreamCaptureModeThreadLocal), "begin capture");
  ctx.comm->AllReduceSum(t);
  ctx.comm->AllGatherColumns(local, out);
  Cuda(cudaStreamEndCapture(ctx.stream, &graph), "end capture");
  Cuda(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  bool ok = true;
  for (int replay = 0; replay < 3 && ok; ++replay) {
    std::vector<float> host(n);
    for (int64_t i = 0; i < n; ++i) host[i] = Contribution(ctx.rank, i + replay);
    Cuda(cudaMemcpy(t.data(), host.data(), n * 4, cudaMemcpyHostToDevice), "upload");
    FillLocalLogits(ctx, local, vocab);
    Cuda(cudaGraphLaunch(exec, ctx.stream), "graph launch");
    ctx.comm->Fence();
    Cuda(cudaStreamSynchronize(ctx.stream), "sync");
    Cuda(cudaMemcpy(host.data(), t.data(), n * 4, cudaMemcpyDeviceToHost), "download");
    const float ranks_sum = static_cast<float>(ctx.world * (ctx.world + 1) / 2);
    for (int64_t i = 0; i < n; ++i) {
      ok = ok && host[i] == ranks_sum * static_cast<float>((i + replay) % 97) * 0.25f;
    }
    ok = ok && LogitsCorrect(out);
  }
  Report(ctx, "cuda_graph_all_reduce_and_gather", ok);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

// One decode step's all-reduces: 2 per layer of [batch, hidden] float32 (the backend's
// activation dtype), eager and as one captured graph.
void TimeDecodeAllReduces(Context& ctx, int layers, int64_t hidden, int64_t batch) {
  Tensor t = DeviceTensor(DType::kF32, {batch, hidden});
  Cuda(cudaMemset(t.data(), 0, t.bytes()), "memset");
  const int reduces = 2 * layers, iters = 20;
  auto eager_step = [&] {
    for (int i = 0; i < reduces; ++i) ctx.comm->AllReduceSum(t);
  };
  eager_step();
  Cuda(cudaStreamSynchronize(ctx.stream), "sync");
  auto start = std::chrono::steady_clock::now();
  for (int it = 0; it < iters; ++it) eager_step();
  Cuda(cudaStreamSynchronize(ctx.stream), "sync");
  double eager_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      iters;
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  Cuda(cudaStreamBeginCapture(ctx.stream, cudaStreamCaptureModeThreadLocal), "begin capture");
  eager_step();
  Cuda(cudaStreamEndCapture(ctx.stream, &graph), "end capture");
  Cuda(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  Cuda(cudaGraphLaunch(exec, ctx.stream), "graph launch");
  Cuda(cudaStreamSynchronize(ctx.stream), "sync");
  start = std::chrono::steady_clock::now();
  for (int it = 0; it < iters; ++it) Cuda(cudaGraphLaunch(exec, ctx.stream), "graph launch");
  ctx.comm->Fence();
  Cuda(cudaStreamSynchronize(ctx.stream), "sync");
  double graph_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      iters;
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  if (ctx.rank == 0) {
    std::printf(
        "{\"bench\":\"decode_step_all_reduces\",\"world\":%d,\"layers\":%d,\"hidden\":%ld,"
        "\"batch\":%ld,\"all_reduces\":%d,\"bytes_each\":%zu,\"eager_us_per_step\":%.1f,"
        "\"graph_us_per_step\":%.1f,\"graph_us_per_all_reduce\":%.2f}\n",
        ctx.world, layers, static_cast<long>(hidden), static_cast<long>(batch), reduces, t.bytes(),
        eager_us, graph_us, graph_us / reduces);
    std::fflush(stdout);
  }
}

int Run(int argc, char** argv) {
  tg::parallel::NcclOptions options;
  std::string master_addr = "127.0.0.1", mode = "check";
  int port = 29500, collective_timeout_ms = 10000, device_id = -1;
  tg::FlagParser flags("nccl_collectives_check", "Multi-GPU check of the NCCL communicator.");
  flags.Add("rank", &options.rank, "rank", {.env = "RANK"});
  flags.Add("world-size", &options.world_size, "world size", {.env = "WORLD_SIZE"});
  flags.Add("master-addr", &master_addr, "rank 0 address", {.env = "MASTER_ADDR"});
  flags.Add("master-port", &port, "rank 0 port", {.env = "MASTER_PORT"});
  flags.Add("device-id", &device_id, "GPU (default: rank)");
  flags.Add("mode", &mode, "check | timeout");
  flags.Add("collective-timeout-ms", &collective_timeout_ms, "watchdog timeout");
  if (flags.Parse(argc, argv) != tg::ParseResult::kRun) return 0;
  tg::InitLogging({.component = "nccl_check", .rank = options.rank});
  options.master_addr = master_addr;
  options.master_port = static_cast<uint16_t>(port);
  options.device_id = device_id >= 0 ? device_id : options.rank;
  options.collective_timeout = std::chrono::milliseconds(collective_timeout_ms);
  options.init_timeout = std::chrono::seconds(120);
  Cuda(cudaSetDevice(options.device_id), "cudaSetDevice");
  cudaStream_t stream;
  Cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
  options.stream = stream;

  auto start = std::chrono::steady_clock::now();
  auto comm = tg::parallel::MakeNcclCommunicator(options);
  double init_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  Context ctx{options.rank, options.world_size, stream, comm.get()};
  Report(ctx, "init", true, "init_ms=" + std::to_string(init_ms));

  if (mode == "timeout") {
    Tensor t = DeviceTensor(DType::kF32, {1024});
    start = std::chrono::steady_clock::now();
    if (ctx.rank != 1) {
      try {
        comm->AllReduceSum(t);          // rank 1 never joins: this collective cannot complete
        cudaStreamSynchronize(stream);  // returns once the watchdog aborts the communicator
        comm->Fence();
        Report(ctx, "timeout_detected", false, "no error after a missing peer");
      } catch (const tg::Error& error) {
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::cout << "{\"check\":\"timeout_detected\",\"rank\":" << ctx.rank
                  << ",\"ok\":true,\"seconds\":" << s << ",\"error\":\""
                  << tg::JsonEscape(error.message()) << "\"}" << std::endl;
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(collective_timeout_ms * 3));
    }
    std::_Exit(ctx.failures == 0 ? 0 : 1);  // the aborted communicator is not torn down cleanly
  }

  CheckAllReduce(ctx, DType::kF32, 1);
  CheckAllReduce(ctx, DType::kF32, 8192 * 3 + 5);
  CheckAllReduce(ctx, DType::kBF16, 8192);
  CheckGather(ctx, 1, 128256);
  CheckGather(ctx, 7, 128256);
  CheckGather(ctx, 3, 151936 + 1);  // a vocabulary that does not split evenly
  CheckGraph(ctx);
  for (int64_t batch : {1, 8, 32, 128, 256}) {
    TimeDecodeAllReduces(ctx, 80, 8192, batch);  // Llama-3-70B
    TimeDecodeAllReduces(ctx, 32, 4096, batch);  // Llama-3-8B
  }
  comm.reset();
  cudaStreamDestroy(stream);
  return ctx.failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const tg::Error& error) {
    std::cerr << "error: " << error.message() << std::endl;
    return 2;
  }
}
