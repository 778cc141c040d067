// The fake shards' step calls: answered at once, so in call order, as the real shard runs its
// step calls in step order (proto PrefillRequest.step). A failure is thrown by Wait(), where a
// real call's failure surfaces.
#pragma once

#include <exception>
#include <memory>
#include <utility>

#include "router/client/shard_client.h"

namespace tg::client {

class AnsweredStep : public PendingStep {
 public:
  template <typename Answer>
  static std::unique_ptr<PendingStep> Of(Answer&& answer) {
    auto step = std::make_unique<AnsweredStep>();
    try {
      step->result_ = std::forward<Answer>(answer)();
    } catch (...) {
      step->error_ = std::current_exception();
    }
    return step;
  }

  StepResult Wait() override {
    if (error_) std::rethrow_exception(error_);
    return std::move(result_);
  }

 private:
  StepResult result_;
  std::exception_ptr error_;
};

}  // namespace tg::client
