#include "shard/parallel/gloo_communicator.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "common/error.h"
#include "shard/parallel/tcp_store.h"

namespace tg::parallel {
namespace {

using std::chrono::milliseconds;

// Gloo's rendezvous store interface over the group's TCP store, under the "gloo/" prefix.
class StoreAdapter final : public gloo::rendezvous::Store {
 public:
  StoreAdapter(TcpStoreClient& store, milliseconds timeout) : store_(store), timeout_(timeout) {}

  void set(const std::string& key, const std::vector<char>& data) override {
    store_.Set(kPrefix + key, StoreBytes(data.begin(), data.end()));
  }
  std::vector<char> get(const std::string& key) override {
    const StoreBytes value = store_.Get(kPrefix + key, timeout_);
    return std::vector<char>(value.begin(), value.end());
  }
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const milliseconds& timeout) override {
    for (const std::string& key : keys) store_.Get(kPrefix + key, timeout);
  }

 private:
  static constexpr const char* kPrefix = "gloo/";
  TcpStoreClient& store_;
  milliseconds timeout_;
};

class GlooCommunicator final : public Communicator {
 public:
  explicit GlooCommunicator(const GlooOptions& options)
      : rank_(options.rank), world_size_(options.world_size) {
    gloo::transport::tcp::attr attr;
    attr.hostname = options.listen_address;
    try {
      std::shared_ptr<gloo::transport::Device> device = gloo::transport::tcp::CreateDevice(attr);
      auto context = std::make_shared<gloo::rendezvous::Context>(rank_, world_size_);
      context->setTimeout(options.init_timeout);
      StoreAdapter store(*options.store, options.init_timeout);
      context->connectFullMesh(store, device);
      context->setTimeout(options.collective_timeout);
      context_ = std::move(context);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(ErrorKind::kUnavailable, "Gloo: rank " + std::to_string(rank_) +
                                               " could not connect to its " +
                                               std::to_string(world_size_ - 1) + " peer(s) from " +
                                               options.listen_address + ": " + e.what());
    }
    spdlog::info("Gloo: rank {} of {} connected over TCP from {}", rank_, world_size_,
                 options.listen_address);
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }

  void AllReduceSum(backend::Tensor& tensor) override {
    CheckHostF32(tensor, "AllReduceSum");
    if (tensor.numel() == 0) return;
    Run("AllReduceSum", [&] {
      gloo::AllreduceOptions options(context_);
      options.setOutput(tensor.data_as<float>(), static_cast<size_t>(tensor.numel()));
      options.setReduceFunction(
          static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
      gloo::allreduce(options);
    });
  }

  void AllGatherColumns(const backend::Tensor& local, backend::Tensor& out) override {
    CheckGatherColumnsShapes(local, out, world_size_);
    CheckHostF32(local, "AllGatherColumns");
    const int64_t rows = local.dim(0), shard = local.dim(1), total = out.dim(1);
    const size_t block = static_cast<size_t>(rows * shard);
    if (block == 0) return;
    gathered_.resize(block * static_cast<size_t>(world_size_));
    Run("AllGatherColumns", [&] {
      gloo::AllgatherOptions options(context_);
      options.setInput(local.data_as<float>(), block);
      options.setOutput(gathered_.data(), gathered_.size());
      gloo::allgather(options);
    });
    // gathered_ is [rank][row][column]; out wants [row][rank * shard + column], without the
    // padding columns past the vocabulary.
    for (int r = 0; r < world_size_; ++r) {
      const int64_t first = r * shard;
      const int64_t width = std::min(shard, total - first);
      for (int64_t row = 0; row < rows; ++row) {
        std::memcpy(out.data_as<float>() + row * total + first,
                    gathered_.data() + static_cast<size_t>(r) * block + row * shard,
                    static_cast<size_t>(width) * sizeof(float));
      }
    }
  }

  void Fence() override {
    const std::string failure = Failure();
    TG_CHECK(failure.empty(), kUnavailable, failure);
  }

  std::string Failure() override {
    std::lock_guard lock(failure_mutex_);
    return failure_;
  }

 private:
  static void CheckHostF32(const backend::Tensor& tensor, const char* what) {
    TG_CHECK(
        tensor.device() == backend::DeviceKind::kCpu && tensor.dtype() == backend::DType::kF32,
        kInvalidArgument,
        std::string("Gloo ") + what + ": float32 host tensors only, got " + tensor.DebugString());
  }

  // Runs one collective; a Gloo exception fails the communicator for good.
  template <typename Collective>
  void Run(const char* what, Collective&& collective) {
    Fence();
    try {
      collective();
    } catch (const std::exception& e) {
      const std::string why = std::string("Gloo ") + what + " failed on rank " +
                              std::to_string(rank_) + " (a peer died or timed out): " + e.what();
      {
        std::lock_guard lock(failure_mutex_);
        if (failure_.empty()) failure_ = why;
      }
      throw Error(ErrorKind::kUnavailable, why);
    }
  }

  const int rank_;
  const int world_size_;
  std::shared_ptr<gloo::Context> context_;
  std::vector<float> gathered_;
  std::mutex failure_mutex_;
  std::string failure_;
};

}  // namespace

std::unique_ptr<Communicator> MakeGlooCommunicator(const GlooOptions& options) {
  TG_CHECK(options.store != nullptr, kInvalidArgument, "Gloo: no rendezvous store");
  TG_CHECK(options.world_size >= 1 && options.rank >= 0 && options.rank < options.world_size,
           kInvalidArgument,
           "Gloo: bad rank " + std::to_string(options.rank) + " of " +
               std::to_string(options.world_size));
  return std::make_unique<GlooCommunicator>(options);
}

}  // namespace tg::parallel
