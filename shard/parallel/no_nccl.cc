// The GPU side of tg_parallel in CPU-only builds (TG_CUDA=OFF, or AUTO without nvcc), built
// instead of nccl_communicator.cc: no GPU shard exists there, so nothing reaches NCCL.
#include "common/error.h"
#include "shard/parallel/nccl_communicator.h"
#include "shard/parallel/shard_group.h"

namespace tg::parallel {

std::unique_ptr<Communicator> MakeNcclCommunicator(const NcclOptions& options) {
  throw Error(ErrorKind::kUnsupported,
              "tensor parallelism (world size " + std::to_string(options.world_size) +
                  ") on a GPU: this build has no CUDA backend (configure with -DTG_CUDA=ON)");
}

void BindThreadToDevice(int) {}

std::string NcclVersion() { return ""; }

}  // namespace tg::parallel
