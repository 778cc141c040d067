// The message of the kInvalidArgument error `fn` throws, for tests of bad-input paths. A different
// kind, or no error at all, fails the calling test (and gives "").
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "common/error.h"

namespace tg::testing {

inline std::string InvalidArgumentMessage(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
    return e.message();
  }
  ADD_FAILURE() << "no error";
  return "";
}

}  // namespace tg::testing
