#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "common/error.h"

namespace tg::bench {

double Percentile(std::vector<double> values, double q) {
  TG_CHECK(!values.empty(), kInvalidArgument, "percentile of an empty set");
  TG_CHECK(q >= 0 && q <= 100, kInvalidArgument, "percentile must be within [0, 100]");
  std::sort(values.begin(), values.end());
  // numpy's "linear" method: rank = q/100 * (n - 1), interpolate between its neighbours.
  const double rank = q / 100.0 * static_cast<double>(values.size() - 1);
  const auto lower = static_cast<size_t>(std::floor(rank));
  const size_t upper = std::min(lower + 1, values.size() - 1);
  const double fraction = rank - static_cast<double>(lower);
  return values[lower] + (values[upper] - values[lower]) * fraction;
}

Summary Summarize(const std::vector<double>& values) {
  Summary s;
  s.count = values.size();
  if (values.empty()) return s;
  const double n = static_cast<double>(values.size());
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double squares = 0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(squares / n);
  s.median = Percentile(values, 50);
  s.p90 = Percentile(values, 90);
  s.p99 = Percentile(values, 99);
  s.max = *std::max_element(values.begin(), values.end());
  return s;
}

std::optional<double> TimePerOutputToken(const RequestOutcome& outcome) {
  if (outcome.output_tokens < 2) return std::nullopt;
  return (outcome.latency - outcome.ttft) / static_cast<double>(outcome.output_tokens - 1);
}

Slo ParseSlo(const std::string& text) {
  Slo slo;
  std::string normalized = text;
  std::replace(normalized.begin(), normalized.end(), ',', ' ');
  std::istringstream items(normalized);
  std::string item;
  while (items >> item) {
    const size_t colon = item.find(':');
    TG_CHECK(colon != std::string::npos, kInvalidArgument,
             "SLO item '" + item + "' must look like ttft:200");
    const std::string key = item.substr(0, colon);
    double ms = 0;
    try {
      size_t used = 0;
      ms = std::stod(item.substr(colon + 1), &used);
      TG_CHECK(used == item.size() - colon - 1, kInvalidArgument, "trailing characters");
    } catch (const std::logic_error&) {
      throw Error(ErrorKind::kInvalidArgument, "SLO item '" + item + "' has no number");
    }
    TG_CHECK(ms > 0, kInvalidArgument, "SLO values must be positive milliseconds");
    const double seconds = ms / 1000.0;
    if (key == "ttft") {
      slo.ttft = seconds;
    } else if (key == "tpot") {
      slo.tpot = seconds;
    } else if (key == "e2el") {
      slo.e2el = seconds;
    } else {
      throw Error(ErrorKind::kInvalidArgument, "unknown SLO '" + key + "' (ttft, tpot, e2el)");
    }
  }
  return slo;
}

bool MeetsSlo(const RequestOutcome& outcome, const Slo& slo) {
  if (!outcome.success) return false;
  if (slo.ttft && outcome.ttft > *slo.ttft) return false;
  if (slo.tpot && TimePerOutputToken(outcome).value_or(0.0) > *slo.tpot) return false;
  if (slo.e2el && outcome.latency > *slo.e2el) return false;
  return true;
}

BenchMetrics ComputeMetrics(const std::vector<RequestOutcome>& outcomes, double duration,
                            const Slo& slo) {
  TG_CHECK(duration > 0, kInvalidArgument, "benchmark duration must be positive");
  BenchMetrics m;
  m.duration = duration;
  std::vector<double> ttfts, tpots, itls, e2els;
  for (const RequestOutcome& o : outcomes) {
    if (!o.success) {
      ++m.failed;
      continue;
    }
    ++m.completed;
    m.total_input += o.prompt_len;
    m.total_output += o.output_tokens;
    ttfts.push_back(o.ttft);
    e2els.push_back(o.latency);
    if (auto tpot = TimePerOutputToken(o)) tpots.push_back(*tpot);
    itls.insert(itls.end(), o.itl.begin(), o.itl.end());
    if (!slo.empty() && MeetsSlo(o, slo)) ++m.good_requests;
  }
  m.request_throughput = static_cast<double>(m.completed) / duration;
  m.request_goodput = static_cast<double>(m.good_requests) / duration;
  m.output_throughput = static_cast<double>(m.total_output) / duration;
  m.total_token_throughput = static_cast<double>(m.total_input + m.total_output) / duration;
  m.ttft = Summarize(ttfts);
  m.tpot = Summarize(tpots);
  m.itl = Summarize(itls);
  m.e2el = Summarize(e2els);
  return m;
}

}  // namespace tg::bench
