#include "router/engine/admission.h"

#include <utility>

#include "common/error.h"

namespace tg::engine {

Permit::Permit(std::shared_ptr<std::atomic<uint32_t>> counter) : counter_(std::move(counter)) {}

Permit::Permit(Permit&& other) noexcept : counter_(std::move(other.counter_)) {}

Permit& Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    Release();
    counter_ = std::move(other.counter_);
  }
  return *this;
}

Permit::~Permit() { Release(); }

void Permit::Release() {
  if (!counter_) return;
  counter_->fetch_sub(1);
  counter_.reset();
}

Admission::Admission(uint32_t limit)
    : limit_(limit), counter_(std::make_shared<std::atomic<uint32_t>>(0)) {}

std::vector<Permit> Admission::Acquire(uint32_t count) {
  std::vector<Permit> permits;
  permits.reserve(count);  // before the count moves: nothing below may throw
  uint32_t current = counter_->load();
  do {
    if (count > limit_ || current > limit_ - count) {
      throw Error(ErrorKind::kResourceExhausted, "Model is overloaded");
    }
  } while (!counter_->compare_exchange_weak(current, current + count));
  for (uint32_t i = 0; i < count; ++i) permits.push_back(Permit(counter_));
  return permits;
}

}  // namespace tg::engine
