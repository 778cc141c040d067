// text-gen-shard: serves one rank of a model over gRPC (unix socket PREFIX-<rank>, optional TCP).
// With world size > 1 the ranks first form a group (shard/parallel/shard_group.h: Gloo on the
// CPU, NCCL on GPUs), then each loads its tensor-parallel slices of the weights.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/flags.h"
#include "common/logging.h"
#include "model_files/weight_source.h"
#include "shard/backend/backend.h"
#include "shard/backend/kv_cache_dtype.h"
#include "shard/engine/engine.h"
#include "shard/models/llama.h"
#include "shard/parallel/shard_group.h"
#include "shard/parallel/tp_plan.h"
#include "shard/service/service.h"
#ifdef TG_WITH_CUDA
#include "shard/backend/cuda/cuda_backend.h"
#endif

namespace tg::shard {
namespace {

constexpr const char* kDefaultCudaGraphs = "1,2,4,8,16,32,64,128,256";

struct ShardConfig {
  std::string model_id;
  std::string uds_path = "/tmp/text-gen-server";
  std::optional<std::string> grpc_listen;
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int init_timeout_s = 300;
  int collective_timeout_s = 30;
  std::string device = "auto";
  int device_id = -1;
  std::string dtype = "auto";
  std::string kv_cache_dtype = "auto";
  std::string block_weights = "keep";
  int threads = 0;
  // Unset: the default sizes below on one GPU, none with tensor parallelism (see MakeBackend).
  std::optional<std::string> cuda_graphs;
  double gpu_memory_utilization = 0.9;
  bool json_output = false;
  std::string log_level = "info";
};

std::vector<int> ParseGraphSizes(const std::string& list) {
  std::vector<int> sizes;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, comma - start);
    if (!item.empty()) {
      const int value = std::stoi(item);
      if (value > 0) sizes.push_back(value);
    }
    start = comma + 1;
  }
  return sizes;
}

// Test-only (tests/e2e device-lost tests): TG_TEST_DEVICE_FAULT_AT_DECODE=N makes the N-th
// decode step fault the device on purpose. An environment variable, not a flag, so that it
// reaches the shards through an unchanged launcher and never shows in --help.
uint64_t DeviceFaultAtDecode() {
  const char* value = std::getenv("TG_TEST_DEVICE_FAULT_AT_DECODE");
  if (value == nullptr || *value == '\0') return 0;
  const uint64_t step = std::stoull(value);
  spdlog::warn("TG_TEST_DEVICE_FAULT_AT_DECODE={}: decode step {} will fault the device (test)",
               step, step);
  return step;
}

int DeviceId(const ShardConfig& config) {
  return config.device_id >= 0 ? config.device_id : config.rank;
}

parallel::ShardGroupOptions GroupOptions(const ShardConfig& config) {
  return {.rank = config.rank,
          .world_size = config.world_size,
          .master_addr = config.master_addr,
          .master_port = config.master_port,
          .device_id = DeviceId(config),
          .init_timeout = std::chrono::seconds(config.init_timeout_s),
          .collective_timeout = std::chrono::seconds(config.collective_timeout_s)};
}

// The URL the router dials for this rank when it serves on TCP: "HOST:PORT", with a wildcard
// host ("0.0.0.0", "[::]", "") replaced by this host's address on the group's network.
std::string AdvertisedUrl(const std::string& listen, const std::string& local_address) {
  const size_t colon = listen.rfind(':');
  TG_CHECK(colon != std::string::npos, kInvalidArgument,
           "--grpc-listen expects HOST:PORT, got '" + listen + "'");
  const std::string host = listen.substr(0, colon);
  if (host != "0.0.0.0" && host != "[::]" && !host.empty()) return listen;
  const bool v6 = local_address.find(':') != std::string::npos;
  return (v6 ? "[" + local_address + "]" : local_address) + listen.substr(colon);
}

std::unique_ptr<backend::Backend> MakeBackend(const ShardConfig& config) {
  backend::BackendOptions options;
  options.device_id = DeviceId(config);
  options.threads = config.threads;
  // The illegal address that TP=2 with graphs hit on 2 H200s (2026-11-22) looked like the
  // single-GPU one fixed on 2026-12-03 (graphs baking in scratch a later capture freed), but
  // that has not been run on several GPUs yet: tensor-parallel ranks capture graphs only when
  // --cuda-graphs is given explicitly.
  if (config.cuda_graphs.has_value()) {
    options.cuda_graph_batch_sizes = ParseGraphSizes(*config.cuda_graphs);
  } else if (config.world_size == 1) {
    options.cuda_graph_batch_sizes = ParseGraphSizes(kDefaultCudaGraphs);
  } else {
    spdlog::info("CUDA graphs are off with tensor parallelism unless --cuda-graphs is given");
  }
  options.memory_utilization = config.gpu_memory_utilization;
  options.kv_cache_dtype = backend::ParseKvCacheDType(config.kv_cache_dtype);
  if (config.device == "cuda" || config.device == "auto") {
#ifdef TG_WITH_CUDA
    options.device = backend::DeviceKind::kCuda;
    try {
      return backend::MakeCudaBackend(options);
    } catch (const std::exception& e) {
      // Several ranks need the GPU: falling back to the CPU would only fail later. A bad
      // setting (--kv-cache-dtype the GPU cannot serve) is the user's to fix, not a missing GPU.
      const auto* error = dynamic_cast<const Error*>(&e);
      const bool bad_setting = error != nullptr && error->kind() == ErrorKind::kInvalidArgument;
      if (config.device == "cuda" || config.world_size > 1 || bad_setting) throw;
      spdlog::info("no usable CUDA device ({}), using the CPU backend", e.what());
    }
#else
    if (config.device == "cuda") {
      throw Error(ErrorKind::kUnsupported, "this text-gen-shard was built without CUDA");
    }
#endif
  } else if (config.device != "cpu") {
    throw Error(ErrorKind::kInvalidArgument, "--device must be auto, cpu or cuda");
  }
  options.device = backend::DeviceKind::kCpu;
  return backend::MakeCpuBackend(options);
}

int Run(int argc, char** argv) {
  ShardConfig config;
  FlagParser flags("text-gen-shard", "Serves one rank of a model over gRPC.");
  flags.Add("model-id", &config.model_id, "HF model directory or .gguf file",
            {.env = "MODEL_ID", .required = true, .value_name = "PATH"});
  flags.Add("uds-path", &config.uds_path, "unix socket prefix; the socket is PREFIX-<rank>");
  flags.Add("grpc-listen", &config.grpc_listen,
            "also serve on TCP HOST:PORT; with world size > 1 rank 0 lists this address for "
            "the router (a wildcard host becomes the address rank 0 is reached from)");
  flags.Add("rank", &config.rank, "tensor-parallel rank", {.env = "RANK"});
  flags.Add("world-size", &config.world_size, "tensor-parallel ranks", {.env = "WORLD_SIZE"});
  flags.Add("master-addr", &config.master_addr, "rank 0 rendezvous address",
            {.env = "MASTER_ADDR"});
  flags.Add("master-port", &config.master_port,
            "rank 0 rendezvous port (on GPUs the next port carries the NCCL id)",
            {.env = "MASTER_PORT"});
  flags.Add("init-timeout", &config.init_timeout_s,
            "seconds for all ranks to join the group (world size > 1)");
  flags.Add("collective-timeout", &config.collective_timeout_s,
            "seconds a collective may stay incomplete before the group is declared failed");
  flags.Add("device", &config.device, "auto, cpu or cuda");
  flags.Add("device-id", &config.device_id, "GPU index (default: the rank)");
  flags.Add("dtype", &config.dtype, "auto (bfloat16), float32, bfloat16 or float16");
  flags.Add("kv-cache-dtype", &config.kv_cache_dtype,
            std::string("KV cache dtype: ") + backend::kKvCacheDTypeNames +
                "; auto is bfloat16 on CUDA and float32 on the CPU (the only one it supports)");
  flags.Add("block-weights", &config.block_weights,
            "GGUF Q8_0/Q4_0/Q4_1 weights: keep (compute on the blocks where the backend can) or "
            "dequantize (to --dtype)");
  flags.Add("threads", &config.threads, "CPU backend threads (0: all cores)");
  flags.Add("cuda-graphs", &config.cuda_graphs,
            std::string("decode batch sizes to capture, 0 disables [default: ") +
                kDefaultCudaGraphs + "; none with --world-size > 1]");
  flags.Add("gpu-memory-utilization", &config.gpu_memory_utilization,
            "fraction of GPU memory to use");
  flags.Add("json-output", &config.json_output, "log JSON lines");
  flags.Add("log-level", &config.log_level, "log level", {.env = "LOG_LEVEL"});
  const ParseResult parsed = flags.Parse(argc, argv);
  if (parsed == ParseResult::kHelp) {
    std::cout << flags.Help();
    return 0;
  }
  if (parsed == ParseResult::kVersion) {
    std::cout << "text-gen-shard " << TG_VERSION << "\n";
    return 0;
  }
  InitLogging({.component = "shard",
               .rank = config.rank,
               .format = config.json_output ? LogFormat::kJson : LogFormat::kText,
               .level = config.log_level});
  const parallel::ShardGroupOptions group_options = GroupOptions(config);
  parallel::ValidateShardGroupOptions(group_options);
  backend::ParseKvCacheDType(config.kv_cache_dtype);  // a bad name fails before any device work

  // Block the stop signals before any thread starts; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::unique_ptr<backend::Backend> device = MakeBackend(config);
  const bool on_cpu = device->device() == backend::DeviceKind::kCpu;
  // Before the weights: a rank that cannot join fails in seconds, not after a long load.
  if (config.world_size > 1) {
    spdlog::info("joining the tensor-parallel group: rank {} of {} via {}:{}", config.rank,
                 config.world_size, config.master_addr, config.master_port);
  }
  parallel::ShardGroup group(group_options, *device);
  // bf16 everywhere by default: on the CPU it halves the weight bytes each decode step streams
  // (1.6x float32's decode speed on SmolLM2-135M, issue 20); float32 stays for exact comparisons.
  const backend::DType dtype =
      config.dtype == "auto" ? backend::DType::kBF16 : backend::ParseFloatDType(config.dtype);
  spdlog::info("loading {} on {} ({}) as {}, block weights: {}", config.model_id,
               backend::ToString(device->device()), device->DeviceName(), backend::ToString(dtype),
               config.block_weights);
  std::unique_ptr<model::WeightSource> source = model::WeightSource::Open(config.model_id);
  const model::ModelConfig model_config = source->config();
  spdlog::info("model: {}", model::Describe(model_config));
  if (config.world_size > 1) {
    spdlog::info(
        "{}",
        parallel::TensorParallelPlan(model_config, config.rank, config.world_size).Describe());
  }
  LlamaModel model(model_config, *source, *device, dtype, group.communicator(),
                   ParseBlockWeights(config.block_weights));
  source.reset();  // weights are on the device now; unmap the files
  spdlog::info("weights: {:.1f} MB", static_cast<double>(model.weight_bytes()) / 1e6);
  // CPU ranks of one group usually share a host's memory: together they take half of it.
  Engine engine(
      model, *device,
      {.kv_memory_fraction = on_cpu ? 0.5 / config.world_size : config.gpu_memory_utilization,
       .device_fault_at_decode = DeviceFaultAtDecode(),
       .tokenizer_path = config.model_id});

  ServiceInfo info;
  info.model_id = config.model_id;
  info.dtype = backend::ToString(dtype);
  info.device_type = backend::ToString(device->device());
  info.device_name = device->DeviceName();
  info.rank = static_cast<uint32_t>(config.rank);
  info.world_size = static_cast<uint32_t>(config.world_size);
  if (config.world_size > 1 && !on_cpu) info.nccl_version = parallel::NcclVersion();
  const std::string socket_path = config.uds_path + "-" + std::to_string(config.rank);
  info.urls = group.ExchangeUrls(config.grpc_listen && config.world_size > 1
                                     ? AdvertisedUrl(*config.grpc_listen, group.local_address())
                                     : "unix://" + socket_path);
  if (config.world_size > 1 && config.rank == 0) {
    std::string listed;
    for (const std::string& url : info.urls) listed += (listed.empty() ? "" : " ") + url;
    spdlog::info("the group serves on: {}", listed);
  }
  // gRPC runs calls on its own threads, whose current CUDA device is 0 until set.
  std::function<void()> bind_thread;
  if (!on_cpu) bind_thread = [id = DeviceId(config)] { parallel::BindThreadToDevice(id); };
  ShardService service(engine, model_config, info,
                       config.world_size > 1 ? &group.communicator() : nullptr,
                       std::move(bind_thread));

  std::filesystem::remove(socket_path);
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(256 << 20);
  builder.SetMaxSendMessageSize(256 << 20);
  // gRPC's sync server ends a worker thread that finds max_pollers threads already polling when
  // its call returns, and starts one when a call leaves fewer than min_pollers. A forward holds
  // one thread while another handles the previous call's completion, so with the default
  // maximum of 2 a thread was started and ended every few decode steps (each with a cold stack
  // and a new malloc arena, so the step's buffers came back as fresh pages). 4 keeps them.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 4);
  builder.AddListeningPort("unix://" + socket_path, grpc::InsecureServerCredentials());
  if (config.grpc_listen.has_value()) {
    builder.AddListeningPort(*config.grpc_listen, grpc::InsecureServerCredentials());
  }
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  TG_CHECK(server != nullptr, kUnavailable, "cannot listen on " + socket_path);
  spdlog::info("ready: serving on unix://{}{}", socket_path,
               config.grpc_listen ? " and " + *config.grpc_listen : "");

  // Wait for a stop signal. A tensor-parallel rank also exits when its group has failed (a peer
  // died, a collective timed out): NCCL cannot be repaired in place, and the exit tells the
  // launcher, which stops the rest, instead of every later call failing.
  int exit_code = 0;
  const timespec poll_interval{.tv_sec = 1, .tv_nsec = 0};
  while (true) {
    const int signal_number = config.world_size > 1
                                  ? sigtimedwait(&stop_signals, nullptr, &poll_interval)
                                  : sigwaitinfo(&stop_signals, nullptr);
    if (signal_number > 0) {
      spdlog::info("signal {} received, shutting down", signal_number);
      break;
    }
    if (const std::string failure = group.Failure(); !failure.empty()) {
      spdlog::critical("tensor-parallel group failed, exiting: {}", failure);
      exit_code = 1;
      break;
    }
  }
  // In-flight calls get a short grace; idle client connections (the router keeps one open)
  // would otherwise hold a deadline-bounded Shutdown for the whole deadline.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  server->Wait();
  std::filesystem::remove(socket_path);
  return exit_code;
}

}  // namespace
}  // namespace tg::shard

int main(int argc, char** argv) {
  try {
    return tg::shard::Run(argc, argv);
  } catch (const tg::Error& e) {
    spdlog::critical("{}", e.what());
    std::fprintf(stderr, "text-gen-shard: %s\n", e.message().c_str());
    return 1;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
