#include "shard/parallel/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/error.h"
#include "shard/backend/cuda/cuda_check.h"
#include "shard/parallel/bootstrap.h"
#include "shard/parallel/shard_group.h"

namespace tg::parallel {
namespace {

using Clock = std::chrono::steady_clock;
static_assert(sizeof(ncclUniqueId) == kUniqueIdBytes, "the bootstrap carries a whole ncclUniqueId");

// CUDA errors become tg::Error as in the CUDA backend: the kind (a poisoned context is
// kDeviceLost), the device and the caller's file and line.
using backend::cuda::CheckCuda;

std::string NcclText(ncclComm_t comm, ncclResult_t result) {
  std::string text = ncclGetErrorString(result);
  const char* last = comm != nullptr ? ncclGetLastError(comm) : nullptr;
  if (last != nullptr && last[0] != '\0') text += std::string(" (") + last + ")";
  return text;
}

ncclDataType_t ToNccl(backend::DType dtype) {
  switch (dtype) {
    case backend::DType::kF32:
      return ncclFloat32;
    case backend::DType::kBF16:
      return ncclBfloat16;
    case backend::DType::kF16:
      return ncclFloat16;
    case backend::DType::kI32:
    case backend::DType::kQ8_0:
    case backend::DType::kQ4_0:
    case backend::DType::kQ4_1:
      break;
  }
  throw Error(ErrorKind::kUnsupported,
              std::string("NCCL AllReduceSum: unsupported dtype ") + ToString(dtype));
}

// Polls a non-blocking communicator until its pending operation leaves ncclInProgress. Returns
// the final state; gives up (returning ncclInProgress) at `deadline`.
ncclResult_t PollComm(ncclComm_t comm, Clock::time_point deadline,
                      const std::function<bool()>& give_up = {}) {
  while (true) {
    ncclResult_t state = ncclSuccess;
    ncclResult_t rc = ncclCommGetAsyncError(comm, &state);
    if (rc != ncclSuccess) return rc;
    if (state != ncclInProgress) return state;
    if (Clock::now() >= deadline || (give_up && give_up())) return ncclInProgress;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

std::string Seconds(std::chrono::milliseconds ms) {
  return std::to_string(ms.count() / 1000) + " s";
}

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(const NcclOptions& options);
  ~NcclCommunicator() override;

  int rank() const override { return options_.rank; }
  int world_size() const override { return options_.world_size; }
  void AllReduceSum(backend::Tensor& tensor) override;
  void AllGatherColumns(const backend::Tensor& local, backend::Tensor& out) override;
  void Fence() override;
  std::string Failure() override;

 private:
  cudaStream_t stream() const { return static_cast<cudaStream_t>(options_.stream); }
  // Queues one NCCL call under the lock (so the watchdog never aborts the communicator in the
  // middle of it), waits for the non-blocking enqueue to finish and records progress. Throws
  // tg::Error(kUnavailable) when the communicator has failed or fails now.
  void Enqueue(const std::function<ncclResult_t(ncclComm_t)>& call, const char* what);
  // Under the lock: aborts the communicator and remembers why (idempotent).
  void AbortLocked(const std::string& reason);
  // Under the lock: records the progress event the watchdog times (skipped while a CUDA graph
  // is being captured: replays are marked by Fence()).
  void RecordProgressLocked();
  float* Staging(size_t floats);
  void Watchdog();

  NcclOptions options_;
  ncclComm_t comm_ = nullptr;

  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::optional<Error> failure_;
  cudaEvent_t progress_event_ = nullptr;
  std::optional<Clock::time_point> progress_recorded_;
  std::thread watchdog_;

  // Gather staging buffers. Old ones stay alive: captured CUDA graphs may still point at them.
  std::vector<void*> staging_;
  size_t staging_floats_ = 0;
};

NcclCommunicator::NcclCommunicator(const NcclOptions& options) : options_(options) {
  TG_CHECK(options.world_size >= 1 && options.rank >= 0 && options.rank < options.world_size,
           kInvalidArgument,
           "NCCL communicator: rank " + std::to_string(options.rank) + " of world size " +
               std::to_string(options.world_size));
  CheckCuda(cudaSetDevice(options.device_id), "cudaSetDevice");
  const auto deadline = Clock::now() + options.init_timeout;

  BootstrapOptions bootstrap{.master_addr = options.master_addr,
                             .master_port = options.master_port,
                             .world_size = options.world_size,
                             .timeout = options.init_timeout};
  ncclUniqueId id;
  std::unique_ptr<BootstrapServer> server;
  if (options.rank == 0) {
    ncclResult_t rc = ncclGetUniqueId(&id);
    TG_CHECK(rc == ncclSuccess, kUnavailable, "ncclGetUniqueId: " + NcclText(nullptr, rc));
    if (options.world_size > 1) {
      UniqueIdBlob blob;
      std::memcpy(blob.data(), &id, sizeof(id));
      server = std::make_unique<BootstrapServer>(bootstrap, blob);
    }
  } else {
    UniqueIdBlob blob = FetchUniqueId(bootstrap, options.rank);
    std::memcpy(&id, blob.data(), sizeof(id));
  }

  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclResult_t rc = ncclCommInitRankConfig(&comm_, options.world_size, id, options.rank, &config);
  if (rc != ncclSuccess && rc != ncclInProgress) {
    if (comm_ != nullptr) ncclCommAbort(comm_);
    throw Error(ErrorKind::kUnavailable, "ncclCommInitRankConfig: " + NcclText(nullptr, rc));
  }
  ncclResult_t state =
      PollComm(comm_, deadline, [&] { return server != nullptr && server->Failed(); });
  if (state != ncclSuccess) {
    std::string reason = state == ncclInProgress
                             ? "not all " + std::to_string(options.world_size) +
                                   " ranks joined within " + Seconds(options.init_timeout)
                             : NcclText(comm_, state);
    ncclCommAbort(comm_);
    comm_ = nullptr;
    // A bootstrap error (world-size mismatch, a rank that never came) explains it best.
    if (server && server->Failed()) server->Wait();
    throw Error(ErrorKind::kUnavailable,
                "NCCL communicator init (rank " + std::to_string(options.rank) + "): " + reason);
  }
  if (server) server->Wait();

  CheckCuda(cudaEventCreateWithFlags(&progress_event_, cudaEventDisableTiming), "cudaEventCreate");
  watchdog_ = std::thread([this] { Watchdog(); });
  spdlog::info("NCCL communicator ready: rank {}/{} on device {}", options.rank, options.world_size,
               options.device_id);
}

NcclCommunicator::~NcclCommunicator() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  watchdog_.join();
  if (comm_ != nullptr) {
    // A clean shutdown flushes outstanding work first; anything else aborts.
    ncclResult_t rc = ncclCommFinalize(comm_);
    if (rc == ncclSuccess || rc == ncclInProgress) {
      rc = PollComm(comm_, Clock::now() + std::chrono::seconds(10));
    }
    if (rc == ncclSuccess) {
      ncclCommDestroy(comm_);
    } else {
      ncclCommAbort(comm_);
    }
  }
  if (progress_event_ != nullptr) cudaEventDestroy(progress_event_);
  for (void* buffer : staging_) cudaFree(buffer);
}

void NcclCommunicator::AbortLocked(const std::string& reason) {
  if (failure_) return;
  spdlog::error("NCCL communicator (rank {}) aborted: {}", options_.rank, reason);
  // Aborting makes kernels stuck in a collective return, so the backend's synchronisations end.
  ncclCommAbort(comm_);
  comm_ = nullptr;
  failure_ =
      Error(ErrorKind::kUnavailable,
            "NCCL communicator (rank " + std::to_string(options_.rank) + ") failed: " + reason);
}

void NcclCommunicator::Enqueue(const std::function<ncclResult_t(ncclComm_t)>& call,
                               const char* what) {
  std::lock_guard lock(mutex_);
  if (failure_) throw *failure_;
  ncclResult_t rc = call(comm_);
  if (rc == ncclInProgress) rc = PollComm(comm_, Clock::now() + options_.collective_timeout);
  if (rc != ncclSuccess) {
    AbortLocked(std::string(what) + ": " +
                (rc == ncclInProgress ? "the enqueue did not finish" : NcclText(comm_, rc)));
    throw *failure_;
  }
  RecordProgressLocked();
}

void NcclCommunicator::RecordProgressLocked() {
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  CheckCuda(cudaStreamIsCapturing(stream(), &capture), "cudaStreamIsCapturing");
  if (capture != cudaStreamCaptureStatusNone) return;
  CheckCuda(cudaEventRecord(progress_event_, stream()), "cudaEventRecord");
  progress_recorded_ = Clock::now();
}

void NcclCommunicator::AllReduceSum(backend::Tensor& tensor) {
  TG_CHECK(tensor.device() == backend::DeviceKind::kCuda, kInvalidArgument,
           "NCCL AllReduceSum: not a CUDA tensor: " + tensor.DebugString());
  if (options_.world_size == 1) return;
  const ncclDataType_t type = ToNccl(tensor.dtype());
  Enqueue(
      [&](ncclComm_t comm) {
        return ncclAllReduce(tensor.data(), tensor.data(), static_cast<size_t>(tensor.numel()),
                             type, ncclSum, comm, stream());
      },
      "ncclAllReduce");
}

float* NcclCommunicator::Staging(size_t floats) {
  if (floats <= staging_floats_) return static_cast<float*>(staging_.back());
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  CheckCuda(cudaStreamIsCapturing(stream(), &capture), "cudaStreamIsCapturing");
  TG_CHECK(capture == cudaStreamCaptureStatusNone, kInternal,
           "NCCL AllGatherColumns: the gather buffer must grow during CUDA graph capture; run "
           "the same batch size eagerly (warm-up) before capturing it");
  void* buffer = nullptr;
  CheckCuda(cudaMalloc(&buffer, floats * sizeof(float)), "cudaMalloc (gather staging)");
  staging_.push_back(buffer);
  staging_floats_ = floats;
  return static_cast<float*>(buffer);
}

void NcclCommunicator::AllGatherColumns(const backend::Tensor& local, backend::Tensor& out) {
  CheckGatherColumnsShapes(local, out, options_.world_size);
  TG_CHECK(local.device() == backend::DeviceKind::kCuda, kInvalidArgument,
           "NCCL AllGatherColumns: not a CUDA tensor: " + local.DebugString());
  const int world = options_.world_size;
  if (world == 1 && local.data() == out.data()) return;
  TG_CHECK(local.data() != out.data(), kInvalidArgument,
           "AllGatherColumns: out must not alias local");
  const size_t rows = static_cast<size_t>(local.dim(0));
  const size_t shard = static_cast<size_t>(local.dim(1));
  const size_t total = static_cast<size_t>(out.dim(1));
  const size_t count = rows * shard;
  if (rows == 1 && total == shard * world) {
    // One row without padding: NCCL's rank-major layout is already the row.
    Enqueue(
        [&](ncclComm_t comm) {
          return ncclAllGather(local.data(), out.data(), count, ncclFloat32, comm, stream());
        },
        "ncclAllGather");
    return;
  }
  // NCCL gathers rank-major, [world, rows, shard]; each rank's block is then copied into its
  // columns of [rows, total] with one strided copy.
  float* staging = Staging(count * world);
  Enqueue(
      [&](ncclComm_t comm) {
        return ncclAllGather(local.data(), staging, count, ncclFloat32, comm, stream());
      },
      "ncclAllGather");
  for (int r = 0; r < world; ++r) {
    const size_t begin = static_cast<size_t>(r) * shard;
    const size_t width = std::min(shard, total - begin);
    CheckCuda(cudaMemcpy2DAsync(out.data_as<float>() + begin, total * sizeof(float),
                                staging + r * count, shard * sizeof(float), width * sizeof(float),
                                rows, cudaMemcpyDeviceToDevice, stream()),
              "cudaMemcpy2DAsync (gather columns)");
  }
}

void NcclCommunicator::Fence() {
  std::lock_guard lock(mutex_);
  if (failure_) throw *failure_;
  RecordProgressLocked();
}

std::string NcclCommunicator::Failure() {
  std::lock_guard lock(mutex_);
  return failure_ ? failure_->message() : std::string();
}

void NcclCommunicator::Watchdog() {
  // No exceptions on this thread: a failure here only costs the timeout detection.
  // The engine may capture CUDA graphs in global mode while this thread polls: relaxed mode
  // keeps the event queries here from invalidating that capture.
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  if (cudaSetDevice(options_.device_id) != cudaSuccess ||
      cudaThreadExchangeStreamCaptureMode(&mode) != cudaSuccess) {
    spdlog::error(
        "NCCL watchdog (rank {}): cannot set up on device {}; collective timeouts "
        "are not detected",
        options_.rank, options_.device_id);
    return;
  }
  std::unique_lock lock(mutex_);
  while (!stopping_ && !failure_) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(100));
    if (stopping_ || failure_) break;
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm_, &async);
    std::string reason;
    if (async != ncclSuccess && async != ncclInProgress) {
      reason = "asynchronous error: " + NcclText(comm_, async);
    } else if (progress_recorded_ &&
               Clock::now() - *progress_recorded_ > options_.collective_timeout) {
      if (cudaEventQuery(progress_event_) == cudaErrorNotReady) {
        reason = "a collective did not complete within " + Seconds(options_.collective_timeout) +
                 " (a peer died or diverged)";
      } else {
        progress_recorded_.reset();
      }
    }
    if (!reason.empty()) AbortLocked(reason);
  }
}

}  // namespace

std::unique_ptr<Communicator> MakeNcclCommunicator(const NcclOptions& options) {
  return std::make_unique<NcclCommunicator>(options);
}

void BindThreadToDevice(int device_id) {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == device_id) return;
  CheckCuda(cudaSetDevice(device_id), "cudaSetDevice");
}

std::string NcclVersion() {
  // The loaded library's version (it may differ from the headers'); codes since 2.9 are
  // major * 10000 + minor * 100 + patch.
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess || code <= 0) return "unknown";
  const int major = code >= 10000 ? code / 10000 : code / 1000;
  const int minor = code >= 10000 ? code / 100 % 100 : code / 100 % 10;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
}

}  // namespace tg::parallel
