// Self-checks of a load-generator run, so a benchmark never reports numbers built on a broken
// stream: every request succeeded, 0 < TTFT <= latency, one ITL sample per chunk after the
// first, no more chunks than tokens, the token count equals the server's own count (TGI
// details.generated_tokens against the streamed token events), and with ignore_eos every
// request produced exactly max_new_tokens.
#pragma once

#include <string>
#include <vector>

#include "bench/stats.h"

namespace tg::bench {

// One message per violation (prefixed with the request index); empty when all is consistent.
std::vector<std::string> CheckConsistency(const std::vector<RequestOutcome>& outcomes,
                                          bool ignore_eos);

}  // namespace tg::bench
