// Prometheus text exposition for the router's counters, gauges and histograms.
//
// Names carry TGI's `tgi_` prefix so existing dashboards work. Thread-safe: HTTP threads and the
// engine thread update it; GET /metrics renders it.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tg::metrics {

class Registry {
 public:
  // Declarations fix the type and help text; a series is created on first use.
  void DeclareCounter(const std::string& name, const std::string& help);
  void DeclareGauge(const std::string& name, const std::string& help);
  void DeclareHistogram(const std::string& name, const std::string& help,
                        std::vector<double> buckets);

  // `labels` is the inside of the braces, e.g. `method="prefill"`, or empty.
  void Increment(const std::string& name, const std::string& labels = "", double value = 1.0);
  void Set(const std::string& name, double value, const std::string& labels = "");
  void Observe(const std::string& name, double value, const std::string& labels = "");

  // Current value of a counter or gauge series (0 when absent); for tests and health checks.
  double Value(const std::string& name, const std::string& labels = "") const;

  std::string Render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct HistogramSeries {
    std::vector<uint64_t> counts;  // per bucket, not cumulative
    uint64_t count = 0;
    double sum = 0.0;
  };
  struct Family {
    Type type = Type::kCounter;
    std::string help;
    std::vector<double> buckets;
    std::map<std::string, double> values;
    std::map<std::string, HistogramSeries> histograms;
  };
  Family& Get(const std::string& name);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

// Declares every metric the router exports, with TGI's names where TGI has one.
void DeclareRouterMetrics(Registry& registry);

}  // namespace tg::metrics
