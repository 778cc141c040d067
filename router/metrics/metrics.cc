#include "router/metrics/metrics.h"

#include <cstdio>

#include "common/error.h"

namespace tg::metrics {
namespace {

std::string FormatNumber(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string Series(const std::string& name, const std::string& labels) {
  return labels.empty() ? name : name + "{" + labels + "}";
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

// The router's own time per step: tens of microseconds to a few milliseconds.
std::vector<double> HostBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1};
}

std::vector<double> LengthBuckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768};
}

}  // namespace

void Registry::DeclareCounter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  families_[name] = Family{.type = Type::kCounter, .help = help};
}

void Registry::DeclareGauge(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  families_[name] = Family{.type = Type::kGauge, .help = help};
}

void Registry::DeclareHistogram(const std::string& name, const std::string& help,
                                std::vector<double> buckets) {
  std::lock_guard lock(mutex_);
  families_[name] = Family{.type = Type::kHistogram, .help = help, .buckets = std::move(buckets)};
}

Registry::Family& Registry::Get(const std::string& name) {
  auto it = families_.find(name);
  TG_CHECK(it != families_.end(), kInternal, "metric not declared: " + name);
  return it->second;
}

void Registry::Increment(const std::string& name, const std::string& labels, double value) {
  std::lock_guard lock(mutex_);
  Get(name).values[labels] += value;
}

void Registry::Set(const std::string& name, double value, const std::string& labels) {
  std::lock_guard lock(mutex_);
  Get(name).values[labels] = value;
}

void Registry::Observe(const std::string& name, double value, const std::string& labels) {
  std::lock_guard lock(mutex_);
  Family& family = Get(name);
  HistogramSeries& h = family.histograms[labels];
  if (h.counts.empty()) h.counts.assign(family.buckets.size(), 0);
  for (size_t i = 0; i < family.buckets.size(); ++i) {
    if (value <= family.buckets[i]) {
      ++h.counts[i];
      break;
    }
  }
  ++h.count;
  h.sum += value;
}

double Registry::Value(const std::string& name, const std::string& labels) const {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0.0;
  auto v = it->second.values.find(labels);
  return v == it->second.values.end() ? 0.0 : v->second;
}

std::string Registry::Render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) {
    const char* type = family.type == Type::kCounter ? "counter"
                       : family.type == Type::kGauge ? "gauge"
                                                     : "histogram";
    out += "# HELP " + name + " " + family.help + "\n# TYPE " + name + " " + type + "\n";
    if (family.type != Type::kHistogram) {
      if (family.values.empty()) out += name + " 0\n";
      for (const auto& [labels, value] : family.values) {
        out += Series(name, labels) + " " + FormatNumber(value) + "\n";
      }
      continue;
    }
    for (const auto& [labels, h] : family.histograms) {
      const std::string sep = labels.empty() ? "" : labels + ",";
      uint64_t cumulative = 0;
      for (size_t i = 0; i < family.buckets.size(); ++i) {
        cumulative += h.counts[i];
        out += name + "_bucket{" + sep + "le=\"" + FormatNumber(family.buckets[i]) + "\"} " +
               std::to_string(cumulative) + "\n";
      }
      out += name + "_bucket{" + sep + "le=\"+Inf\"} " + std::to_string(h.count) + "\n";
      out += Series(name + "_sum", labels) + " " + FormatNumber(h.sum) + "\n";
      out += Series(name + "_count", labels) + " " + std::to_string(h.count) + "\n";
    }
  }
  return out;
}

void DeclareRouterMetrics(Registry& r) {
  r.DeclareGauge("tgi_queue_size", "Requests waiting in the queue");
  r.DeclareGauge("tgi_batch_current_size", "Requests in the running batch");
  r.DeclareGauge("tgi_running_requests", "Requests admitted and not finished (queued or running)");
  r.DeclareGauge("tgi_kv_blocks_used", "KV cache blocks reserved by requests");
  r.DeclareGauge("tgi_kv_blocks_total", "KV cache blocks in the pool");
  r.DeclareGauge("tgi_prefix_cache_blocks", "KV blocks held by the prefix cache");
  r.DeclareCounter("tgi_prefix_cache_hit_tokens", "Prompt tokens served from the prefix cache");
  r.DeclareCounter(
      "tgi_prompt_tokens",
      "Prompt tokens of started requests (hit rate: tgi_prefix_cache_hit_tokens / this)");
  r.DeclareCounter("tgi_request_preempted",
                   "Running requests whose KV blocks were taken back (recomputed later)");
  r.DeclareCounter("tgi_request_count", "HTTP generation requests received");
  r.DeclareCounter("tgi_request_success", "Requests that finished successfully");
  r.DeclareCounter("tgi_request_failure", "Requests that failed, by error type");
  r.DeclareCounter("tgi_request_cancelled", "Requests whose client went away");
  r.DeclareHistogram("tgi_request_queue_duration", "Seconds in the queue", LatencyBuckets());
  r.DeclareHistogram("tgi_request_time_to_first_token", "Seconds to the first token",
                     LatencyBuckets());
  r.DeclareHistogram("tgi_request_mean_time_per_token_duration",
                     "Mean seconds per output token after the first", LatencyBuckets());
  r.DeclareHistogram("tgi_request_inference_duration", "Seconds from batching to the end",
                     LatencyBuckets());
  r.DeclareHistogram("tgi_request_duration", "End-to-end seconds", LatencyBuckets());
  r.DeclareHistogram("tgi_request_input_length", "Prompt tokens", LengthBuckets());
  r.DeclareHistogram("tgi_request_generated_tokens", "Generated tokens", LengthBuckets());
  r.DeclareHistogram("tgi_batch_forward_duration", "Slowest rank's forward seconds per call",
                     LatencyBuckets());
  r.DeclareHistogram("tgi_batch_inference_duration",
                     "Seconds per shard call (router view; a call sent while the one ahead of it "
                     "ran counts from that one's return)",
                     LatencyBuckets());
  r.DeclareHistogram("tgi_batch_shard_duration",
                     "Slowest rank's seconds in the shard's engine per call (forward, sampling, "
                     "bookkeeping); the rest of tgi_batch_inference_duration is the call: "
                     "protobuf on both sides, gRPC, the socket",
                     LatencyBuckets());
  r.DeclareHistogram("tgi_batch_host_duration",
                     "Seconds the engine thread spent between two shard calls while requests were "
                     "waiting (scheduling, building requests, handling tokens): the shard idles; "
                     "0 for a call sent before the answer ahead of it (async scheduling)",
                     HostBuckets());
}

}  // namespace tg::metrics
