// Admission control for --max-concurrent-requests (HTTP 429 past it), as owned permits: a
// request holds its Permit from admission until the engine drops its entry, whatever way it
// ends (finished, failed, cancelled, refused by the scheduler, shut down). Returning a permit is
// the destructor's job, so no path can forget it or return it twice (TGI's owned semaphore
// permit, held for the life of the stream).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace tg::engine {

class Admission;

// One admitted request. Move-only; returns its slot when destroyed. Empty when moved from.
class Permit {
 public:
  Permit() = default;
  Permit(Permit&& other) noexcept;
  Permit& operator=(Permit&& other) noexcept;
  Permit(const Permit&) = delete;
  Permit& operator=(const Permit&) = delete;
  ~Permit();

  bool held() const { return counter_ != nullptr; }

 private:
  friend class Admission;
  explicit Permit(std::shared_ptr<std::atomic<uint32_t>> counter);
  void Release();

  // Shared so that a permit outliving its Admission (a callback kept somewhere) stays safe.
  std::shared_ptr<std::atomic<uint32_t>> counter_;
};

class Admission {
 public:
  explicit Admission(uint32_t limit);

  // `count` permits at once, or none: throws Error(kResourceExhausted) ("Model is overloaded")
  // when they would take the requests in flight past the limit. A request fanned out into n
  // sequences (best_of, OpenAI n) is admitted whole or refused whole.
  std::vector<Permit> Acquire(uint32_t count);

  uint32_t in_flight() const { return counter_->load(); }
  uint32_t limit() const { return limit_; }

 private:
  uint32_t limit_;
  std::shared_ptr<std::atomic<uint32_t>> counter_;
};

}  // namespace tg::engine
