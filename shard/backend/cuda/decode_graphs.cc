#include "shard/backend/cuda/decode_graphs.h"

#include <cstring>
#include <string>

#include "common/error.h"
#include "shard/backend/cuda/cuda_check.h"

namespace tg::backend::cuda {
namespace {

constexpr size_t kAlign = 256;

size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// cudaMalloc is a "potentially unsafe" call during a capture: allowed once this thread's capture
// mode is relaxed, which it is for the duration of this scope.
class RelaxedCaptureScope {
 public:
  RelaxedCaptureScope() { cudaThreadExchangeStreamCaptureMode(&mode_); }
  ~RelaxedCaptureScope() { cudaThreadExchangeStreamCaptureMode(&mode_); }

 private:
  cudaStreamCaptureMode mode_ = cudaStreamCaptureModeRelaxed;
};

}  // namespace

DecodeGraphs::DecodeGraphs(cudaStream_t stream, size_t staging_bytes)
    : stream_(stream), staging_bytes_(staging_bytes) {}

DecodeGraphs::~DecodeGraphs() {
  cudaStreamSynchronize(stream_);
  for (auto& [key, graph] : graphs_) Discard(graph);
  if (last_launch_) cudaEventDestroy(last_launch_);
  if (staging_) cudaFreeHost(staging_);
}

void DecodeGraphs::Discard(Graph& graph) {
  if (graph.exec) cudaGraphExecDestroy(graph.exec);
  graph.exec = nullptr;
  graph.tensors.clear();
  graph.copies.clear();
  graph.owned.clear();
}

bool DecodeGraphs::Has(int key) const {
  auto it = graphs_.find(key);
  return it != graphs_.end() && it->second.exec != nullptr;
}

void DecodeGraphs::BeginCapture(int key) {
  TG_CHECK(mode_ == Mode::kNone, kInternal, "BeginGraph inside a graph bracket");
  if (!staging_) {
    CheckCuda(
        cudaHostAlloc(reinterpret_cast<void**>(&staging_), staging_bytes_, cudaHostAllocDefault),
        "cudaHostAlloc graph staging");
    CheckCuda(cudaEventCreateWithFlags(&last_launch_, cudaEventDisableTiming), "cudaEventCreate");
  }
  CheckCuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize before capture");
  auto it = graphs_.find(key);
  if (it != graphs_.end()) {
    Discard(it->second);
    graphs_.erase(it);
  }
  recording_ = Graph{};
  staging_used_ = 0;
  CheckCuda(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal),
            "cudaStreamBeginCapture");
  mode_ = Mode::kCapture;
  key_ = key;
}

bool DecodeGraphs::BeginReplay(int key) {
  TG_CHECK(mode_ == Mode::kNone, kInternal, "BeginGraph inside a graph bracket");
  if (!Has(key)) return false;
  // The staging buffer may still be read by the previous launch's copies.
  CheckCuda(cudaEventSynchronize(last_launch_), "cudaEventSynchronize");
  mode_ = Mode::kReplay;
  key_ = key;
  next_tensor_ = next_copy_ = 0;
  return true;
}

void DecodeGraphs::End(bool ok) {
  const Mode mode = mode_;
  mode_ = Mode::kNone;
  if (mode == Mode::kCapture) {
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
    cudaGraphExec_t exec = nullptr;
    cudaError_t inst = cudaErrorUnknown;
    if (end == cudaSuccess && graph) inst = cudaGraphInstantiate(&exec, graph, 0);
    if (graph) cudaGraphDestroy(graph);
    if (!ok || end != cudaSuccess || inst != cudaSuccess) {
      cudaGetLastError();  // capture errors are not sticky; clear the last one
      if (exec) cudaGraphExecDestroy(exec);
      recording_ = Graph{};
      TG_CHECK(!ok, kInternal,
               std::string("CUDA graph capture failed: ") +
                   cudaGetErrorString(end != cudaSuccess ? end : inst));
      return;
    }
    recording_.exec = exec;
    graphs_[key_] = std::move(recording_);
    recording_ = Graph{};
    return;
  }
  if (mode == Mode::kReplay && ok) {
    const Graph& graph = graphs_.at(key_);
    TG_CHECK(next_tensor_ == graph.tensors.size() && next_copy_ == graph.copies.size(), kInternal,
             "graph replay issued fewer calls than its capture");
    CheckCuda(cudaGraphLaunch(graph.exec, stream_), "cudaGraphLaunch");
    CheckCuda(cudaEventRecord(last_launch_, stream_), "cudaEventRecord");
  }
}

Tensor DecodeGraphs::Allocate(DType dtype, std::vector<int64_t> shape) {
  if (mode_ == Mode::kReplay) {
    Graph& graph = graphs_.at(key_);
    TG_CHECK(next_tensor_ < graph.tensors.size(), kInternal,
             "graph replay allocates more tensors than its capture");
    const Tensor& t = graph.tensors[next_tensor_++];
    TG_CHECK(t.dtype() == dtype && t.shape() == shape, kInternal,
             "graph replay allocation differs from its capture: " + t.DebugString());
    return t;
  }
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::shared_ptr<void> storage = DeviceMalloc(static_cast<size_t>(n) * DTypeSize(dtype));
  void* ptr = storage.get();
  Tensor t(std::move(storage), ptr, dtype, std::move(shape), DeviceKind::kCuda);
  recording_.tensors.push_back(t);
  return t;
}

void* DecodeGraphs::AllocateOwned(size_t bytes) {
  TG_CHECK(mode_ == Mode::kCapture, kInternal, "graph-owned memory outside a capture");
  recording_.owned.push_back(DeviceMalloc(bytes));
  return recording_.owned.back().get();
}

// Plain cudaMalloc, outside the stream-ordered pool: memory a graph bakes in must never go back
// to a pool that could hand it to someone else while the graph lives.
std::shared_ptr<void> DecodeGraphs::DeviceMalloc(size_t bytes) {
  bytes = AlignUp(std::max<size_t>(bytes, 1));
  void* ptr = nullptr;
  {
    RelaxedCaptureScope relaxed;
    CheckCuda(cudaMalloc(&ptr, bytes), "cudaMalloc graph memory");
  }
  device_bytes_ += bytes;
  return std::shared_ptr<void>(ptr, [](void* p) { cudaFree(p); });
}

void DecodeGraphs::CopyFromHost(const void* src, const Tensor& dst) {
  const size_t bytes = dst.bytes();
  if (mode_ == Mode::kReplay) {
    Graph& graph = graphs_.at(key_);
    TG_CHECK(next_copy_ < graph.copies.size(), kInternal,
             "graph replay copies more inputs than its capture");
    const Copy& copy = graph.copies[next_copy_++];
    TG_CHECK(copy.bytes == bytes && copy.dst == dst.data(), kInternal,
             "graph replay input differs from its capture");
    if (bytes) std::memcpy(staging_ + copy.offset, src, bytes);
    return;
  }
  TG_CHECK(
      staging_used_ + AlignUp(bytes) <= staging_bytes_, kResourceExhausted,
      "graph inputs exceed the staging buffer of " + std::to_string(staging_bytes_) + " bytes");
  Copy copy{staging_used_, bytes, dst.data()};
  staging_used_ += AlignUp(bytes);
  if (bytes) {
    std::memcpy(staging_ + copy.offset, src, bytes);
    CheckCuda(
        cudaMemcpyAsync(copy.dst, staging_ + copy.offset, bytes, cudaMemcpyHostToDevice, stream_),
        "cudaMemcpyAsync (captured input)");
  }
  recording_.copies.push_back(copy);
}

}  // namespace tg::backend::cuda
