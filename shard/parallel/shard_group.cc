#include "shard/parallel/shard_group.h"

#include "common/error.h"
#ifdef TG_HAVE_NCCL_COMMUNICATOR
#include <cuda_runtime.h>
#include <nccl.h>

#include "shard/parallel/nccl_communicator.h"
#endif

namespace tg::parallel {

void ValidateShardGroupOptions(const ShardGroupOptions& options) {
  const std::string world = std::to_string(options.world_size);
  TG_CHECK(options.world_size >= 1, kInvalidArgument,
           "--world-size (WORLD_SIZE) must be at least 1, got " + world);
  TG_CHECK(options.rank >= 0 && options.rank < options.world_size, kInvalidArgument,
           "--rank (RANK) " + std::to_string(options.rank) + " is outside 0.." +
               std::to_string(options.world_size - 1) + " for world size " + world);
  TG_CHECK(options.master_port >= 1 && options.master_port <= 65535, kInvalidArgument,
           "--master-port (MASTER_PORT) must be in 1..65535, got " +
               std::to_string(options.master_port));
  TG_CHECK(options.world_size == 1 || !options.master_addr.empty(), kInvalidArgument,
           "--master-addr (MASTER_ADDR) is required with world size " + world);
  TG_CHECK(options.init_timeout.count() > 0 && options.collective_timeout.count() > 0,
           kInvalidArgument, "the init and collective timeouts must be positive");
}

std::vector<std::string> RankSocketUrls(const std::string& uds_prefix, int world_size) {
  std::vector<std::string> urls;
  for (int r = 0; r < world_size; ++r) {
    urls.push_back("unix://" + uds_prefix + "-" + std::to_string(r));
  }
  return urls;
}

std::unique_ptr<Communicator> MakeShardCommunicator(const ShardGroupOptions& options,
                                                    backend::Backend& backend) {
  ValidateShardGroupOptions(options);
  if (options.world_size == 1) return MakeSingleRankCommunicator();
  const std::string what = "tensor parallelism (world size " + std::to_string(options.world_size) +
                           ") on " + backend::ToString(backend.device());
  void* stream = backend.NativeStream();
  TG_CHECK(stream != nullptr, kUnsupported,
           what +
               ": needs the CUDA backend with NCCL, one process per GPU; the CPU backend serves "
               "one rank (use --num-shard 1 / --world-size 1, or --device cuda)");
#ifdef TG_HAVE_NCCL_COMMUNICATOR
  return MakeNcclCommunicator({.rank = options.rank,
                               .world_size = options.world_size,
                               .master_addr = options.master_addr,
                               .master_port = static_cast<uint16_t>(options.master_port),
                               .device_id = options.device_id,
                               .stream = stream,
                               .init_timeout = options.init_timeout,
                               .collective_timeout = options.collective_timeout});
#else
  throw Error(ErrorKind::kUnsupported, what + ": this build has no NCCL communicator");
#endif
}

void BindThreadToDevice([[maybe_unused]] int device_id) {
#ifdef TG_HAVE_NCCL_COMMUNICATOR
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == device_id) return;
  const cudaError_t status = cudaSetDevice(device_id);
  TG_CHECK(status == cudaSuccess, kInternal,
           "cudaSetDevice(" + std::to_string(device_id) + "): " + cudaGetErrorString(status));
#endif
}

std::string NcclVersion() {
#ifdef TG_HAVE_NCCL_COMMUNICATOR
  // The loaded library's version (it may differ from the headers'); codes since 2.9 are
  // major * 10000 + minor * 100 + patch.
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess || code <= 0) return "unknown";
  const int major = code >= 10000 ? code / 10000 : code / 1000;
  const int minor = code >= 10000 ? code / 100 % 100 : code / 100 % 10;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
#else
  return "";
#endif
}

}  // namespace tg::parallel
