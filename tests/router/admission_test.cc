#include "router/engine/admission.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include "common/error.h"

namespace tg::engine {
namespace {

ErrorKind KindOf(Admission& admission, uint32_t count) {
  try {
    admission.Acquire(count);
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::kInternal;
}

TEST(AdmissionTest, RefusesPastTheLimitAndReturnsOnDestruction) {
  Admission admission(3);
  {
    std::vector<Permit> two = admission.Acquire(2);
    EXPECT_EQ(admission.in_flight(), 2u);
    Permit one = std::move(admission.Acquire(1).front());
    EXPECT_EQ(admission.in_flight(), 3u);
    EXPECT_EQ(KindOf(admission, 1), ErrorKind::kResourceExhausted);
    EXPECT_EQ(admission.in_flight(), 3u) << "a refusal takes nothing";
  }
  EXPECT_EQ(admission.in_flight(), 0u);
}

TEST(AdmissionTest, AFanOutIsAdmittedWholeOrNotAtAll) {
  Admission admission(4);
  std::vector<Permit> held = admission.Acquire(3);
  EXPECT_EQ(KindOf(admission, 2), ErrorKind::kResourceExhausted);
  EXPECT_EQ(admission.in_flight(), 3u);
  EXPECT_EQ(KindOf(admission, 5), ErrorKind::kResourceExhausted);
  held.pop_back();
  EXPECT_EQ(admission.Acquire(2).size(), 2u);
  EXPECT_EQ(admission.in_flight(), 2u);  // the two just acquired were dropped again
}

TEST(AdmissionTest, MovesTransferOwnershipAndReleaseExactlyOnce) {
  Admission admission(2);
  Permit a = std::move(admission.Acquire(1).front());
  Permit b = std::move(a);
  EXPECT_FALSE(a.held());
  EXPECT_TRUE(b.held());
  EXPECT_EQ(admission.in_flight(), 1u);
  Permit c = std::move(admission.Acquire(1).front());
  EXPECT_EQ(admission.in_flight(), 2u);
  b = std::move(c);  // b's old permit returns; c's moves in
  EXPECT_EQ(admission.in_flight(), 1u);
  b = Permit();
  EXPECT_EQ(admission.in_flight(), 0u);
}

TEST(AdmissionTest, APermitMayOutliveItsAdmission) {
  Permit survivor;
  {
    Admission admission(1);
    survivor = std::move(admission.Acquire(1).front());
  }
  EXPECT_TRUE(survivor.held());
  survivor = Permit();  // no use after free (ASan would say)
}

TEST(AdmissionTest, ConcurrentAcquirersNeverExceedTheLimit) {
  Admission admission(8);
  std::atomic<uint32_t> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        try {
          std::vector<Permit> permits = admission.Acquire(1 + i % 3);
          uint32_t now = admission.in_flight();
          uint32_t seen = peak.load();
          while (now > seen && !peak.compare_exchange_weak(seen, now)) {
          }
        } catch (const Error& e) {
          ASSERT_EQ(e.kind(), ErrorKind::kResourceExhausted);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(peak.load(), 8u);
  EXPECT_EQ(admission.in_flight(), 0u);
}

}  // namespace
}  // namespace tg::engine
