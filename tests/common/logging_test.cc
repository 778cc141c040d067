#include "common/logging.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace tg {
namespace {

// Runs InitLogging + one log call with stderr redirected to a file, returns what was written.
// The file is named after the process and test: ctest runs each test as its own process, in
// parallel, and a shared name let one test read the other's line.
std::string CaptureLog(const LogOptions& options, const std::string& message) {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string path = ::testing::TempDir() + "/log_capture_" + std::to_string(getpid()) + "_" +
                     test->name() + ".txt";
  fflush(stderr);
  int saved = dup(2);
  FILE* file = std::fopen(path.c_str(), "w");
  dup2(fileno(file), 2);
  spdlog::drop_all();
  InitLogging(options);
  spdlog::info("{}", message);
  spdlog::default_logger()->flush();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::fclose(file);
  spdlog::drop_all();
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::remove(path.c_str());
  return text.str();
}

TEST(Logging, JsonLinesAreValidJsonWithComponentAndRank) {
  std::string line = CaptureLog({.component = "shard", .rank = 3, .format = LogFormat::kJson},
                                "say \"hi\"\n\ttab");
  ASSERT_FALSE(line.empty());
  ASSERT_EQ(line.back(), '\n');
  nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["component"], "shard");
  EXPECT_EQ(parsed["rank"], 3);
  EXPECT_EQ(parsed["level"], "info");
  EXPECT_EQ(parsed["message"], "say \"hi\"\n\ttab");
  EXPECT_EQ(parsed["timestamp"].get<std::string>().back(), 'Z');
}

TEST(Logging, TextLinesCarryThePrefix) {
  std::string line = CaptureLog({.component = "router"}, "listening");
  EXPECT_NE(line.find("info  router listening"), std::string::npos) << line;
  line = CaptureLog({.component = "shard", .rank = 1}, "ready");
  EXPECT_NE(line.find(" shard[1] ready"), std::string::npos) << line;
}

TEST(Logging, RejectsUnknownNames) {
  EXPECT_THROW(ParseLogFormat("xml"), Error);
  EXPECT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  spdlog::drop_all();
  EXPECT_THROW(InitLogging({.component = "x", .level = "loud"}), Error);
  spdlog::drop_all();
}

TEST(Error, CarriesKindLocationAndRequestId) {
  try {
    throw RequestError(42, ErrorKind::kInvalidArgument, "bad top_p");
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "bad top_p");
    EXPECT_EQ(std::string(e.file()), "tests/common/logging_test.cc");
    EXPECT_NE(std::string(e.what()).find("bad top_p [tests/common/logging_test.cc:"),
              std::string::npos);
    EXPECT_EQ(dynamic_cast<const RequestError&>(e).request_id(), 42u);
  }
}

}  // namespace
}  // namespace tg
