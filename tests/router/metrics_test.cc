#include "router/metrics/metrics.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace tg::metrics {
namespace {

TEST(MetricsTest, RendersPrometheusText) {
  Registry registry;
  registry.DeclareCounter("tgi_request_failure", "failures");
  registry.DeclareGauge("tgi_queue_size", "queue");
  registry.DeclareHistogram("tgi_request_duration", "latency", {0.1, 1.0});
  registry.Increment("tgi_request_failure", "err=\"validation\"");
  registry.Increment("tgi_request_failure", "err=\"validation\"");
  registry.Set("tgi_queue_size", 3);
  registry.Observe("tgi_request_duration", 0.05);
  registry.Observe("tgi_request_duration", 0.5);
  registry.Observe("tgi_request_duration", 5.0);
  const std::string text = registry.Render();
  EXPECT_NE(text.find("# TYPE tgi_request_failure counter"), std::string::npos);
  EXPECT_NE(text.find("tgi_request_failure{err=\"validation\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("tgi_queue_size 3\n"), std::string::npos);
  EXPECT_NE(text.find("tgi_request_duration_bucket{le=\"0.10000000000000001\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("tgi_request_duration_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("tgi_request_duration_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("tgi_request_duration_count 3\n"), std::string::npos);
  EXPECT_DOUBLE_EQ(registry.Value("tgi_queue_size"), 3.0);
}

TEST(MetricsTest, UndeclaredMetricIsABug) {
  Registry registry;
  EXPECT_THROW(registry.Increment("nope"), Error);
}

}  // namespace
}  // namespace tg::metrics
