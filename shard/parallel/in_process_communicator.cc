#include "shard/parallel/in_process_communicator.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace tg::parallel {

enum class CollectiveOp { kAllReduceSum, kAllGatherColumns };

struct InProcessGroup::State {
  struct Arrival {
    bool present = false;
    CollectiveOp op = CollectiveOp::kAllReduceSum;
    const backend::Tensor* input = nullptr;
    backend::Tensor* output = nullptr;
  };

  int world_size;
  std::chrono::milliseconds timeout;
  std::mutex mutex;
  std::condition_variable cv;
  uint64_t generation = 0;  // completed collectives
  int arrived = 0;
  std::vector<Arrival> arrivals;
  std::vector<bool> joined;
  std::optional<Error> broken;   // set once a rank timed out: every later call fails
  std::optional<Error> failure;  // error of the collective that completed last
  uint64_t failure_generation = 0;

  void Run(int rank, CollectiveOp op, const backend::Tensor* input, backend::Tensor* output);
  // Runs by the last rank to arrive, under the lock.
  void Perform();
  void PerformAllReduce();
  void PerformAllGather();
};

namespace {

const char* OpName(CollectiveOp op) {
  return op == CollectiveOp::kAllReduceSum ? "AllReduceSum" : "AllGatherColumns";
}

void CheckCpuF32(const backend::Tensor& tensor, const char* what) {
  TG_CHECK(tensor.device() == backend::DeviceKind::kCpu && tensor.dtype() == backend::DType::kF32,
           kInvalidArgument,
           std::string("in-process ") + what + ": float32 CPU tensors only, got " +
               tensor.DebugString());
}

class InProcessCommunicator final : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<InProcessGroup::State> state, int rank)
      : state_(std::move(state)), rank_(rank) {}
  int rank() const override { return rank_; }
  int world_size() const override { return state_->world_size; }
  void AllReduceSum(backend::Tensor& tensor) override {
    CheckCpuF32(tensor, "AllReduceSum");
    state_->Run(rank_, CollectiveOp::kAllReduceSum, &tensor, &tensor);
  }
  void AllGatherColumns(const backend::Tensor& local, backend::Tensor& out) override {
    CheckGatherColumnsShapes(local, out, state_->world_size);
    CheckCpuF32(local, "AllGatherColumns");
    if (state_->world_size == 1 && local.data() == out.data()) return;
    TG_CHECK(local.data() != out.data(), kInvalidArgument,
             "AllGatherColumns: out must not alias local");
    state_->Run(rank_, CollectiveOp::kAllGatherColumns, &local, &out);
  }

 private:
  std::shared_ptr<InProcessGroup::State> state_;
  int rank_;
};

}  // namespace

void InProcessGroup::State::Run(int rank, CollectiveOp op, const backend::Tensor* input,
                                backend::Tensor* output) {
  std::unique_lock lock(mutex);
  if (broken) throw *broken;
  TG_CHECK(!arrivals[rank].present, kInternal,
           "in-process collective: rank " + std::to_string(rank) + " entered twice");
  arrivals[rank] = {.present = true, .op = op, .input = input, .output = output};
  const uint64_t my_generation = generation;
  if (++arrived == world_size) {
    failure.reset();
    try {
      Perform();
    } catch (const Error& error) {
      failure = error;
    }
    failure_generation = my_generation;
    for (Arrival& a : arrivals) a = Arrival{};
    arrived = 0;
    ++generation;
    cv.notify_all();
  } else {
    bool done = cv.wait_for(lock, timeout, [&] { return generation != my_generation || broken; });
    if (!done) {
      std::string missing;
      for (int r = 0; r < world_size; ++r) {
        if (!arrivals[r].present) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      }
      broken = Error(ErrorKind::kUnavailable, std::string("in-process ") + OpName(op) +
                                                  ": rank(s) " + missing + " did not join within " +
                                                  std::to_string(timeout.count()) + " ms");
      cv.notify_all();
    }
    if (generation == my_generation) throw *broken;
  }
  if (failure && failure_generation == my_generation) throw *failure;
}

void InProcessGroup::State::Perform() {
  const CollectiveOp op = arrivals[0].op;
  for (int r = 1; r < world_size; ++r) {
    TG_CHECK(arrivals[r].op == op, kInternal,
             std::string("in-process collective mismatch: rank 0 called ") + OpName(op) +
                 ", rank " + std::to_string(r) + " called " + OpName(arrivals[r].op));
    TG_CHECK(arrivals[r].input->shape() == arrivals[0].input->shape() &&
                 arrivals[r].output->shape() == arrivals[0].output->shape(),
             kInternal,
             std::string("in-process ") + OpName(op) + ": rank 0 passed " +
                 arrivals[0].input->DebugString() + ", rank " + std::to_string(r) + " passed " +
                 arrivals[r].input->DebugString());
  }
  if (op == CollectiveOp::kAllReduceSum) {
    PerformAllReduce();
  } else {
    PerformAllGather();
  }
}

void InProcessGroup::State::PerformAllReduce() {
  const size_t n = static_cast<size_t>(arrivals[0].input->numel());
  std::vector<float> sum(arrivals[0].input->data_as<const float>(),
                         arrivals[0].input->data_as<const float>() + n);
  for (int r = 1; r < world_size; ++r) {
    const float* part = arrivals[r].input->data_as<const float>();
    for (size_t i = 0; i < n; ++i) sum[i] += part[i];
  }
  for (int r = 0; r < world_size; ++r) {
    std::memcpy(arrivals[r].output->data(), sum.data(), n * sizeof(float));
  }
}

void InProcessGroup::State::PerformAllGather() {
  const int64_t rows = arrivals[0].input->dim(0);
  const int64_t shard = arrivals[0].input->dim(1);
  const int64_t total = arrivals[0].output->dim(1);
  for (int dst = 0; dst < world_size; ++dst) {
    float* out = arrivals[dst].output->data_as<float>();
    for (int src = 0; src < world_size; ++src) {
      const float* local = arrivals[src].input->data_as<const float>();
      const int64_t begin = src * shard;
      const int64_t width = std::min(shard, total - begin);
      for (int64_t row = 0; row < rows; ++row) {
        std::memcpy(out + row * total + begin, local + row * shard,
                    static_cast<size_t>(width) * sizeof(float));
      }
    }
  }
}

InProcessGroup::InProcessGroup(int world_size, std::chrono::milliseconds timeout)
    : state_(std::make_shared<State>()) {
  TG_CHECK(world_size >= 1, kInvalidArgument,
           "in-process group: world size must be at least 1, got " + std::to_string(world_size));
  state_->world_size = world_size;
  state_->timeout = timeout;
  state_->arrivals.resize(world_size);
  state_->joined.assign(world_size, false);
}

InProcessGroup::~InProcessGroup() = default;

int InProcessGroup::world_size() const { return state_->world_size; }

std::unique_ptr<Communicator> InProcessGroup::Join(int rank) {
  std::lock_guard lock(state_->mutex);
  TG_CHECK(rank >= 0 && rank < state_->world_size && !state_->joined[rank], kInvalidArgument,
           "in-process group: rank " + std::to_string(rank) + " is out of range or taken");
  state_->joined[rank] = true;
  return std::make_unique<InProcessCommunicator>(state_, rank);
}

}  // namespace tg::parallel
