#include "common/flags.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "common/error.h"

namespace tg {
namespace {

struct Config {
  std::string model_id;
  uint32_t port = 3000;
  double ratio = 0.3;
  bool json = false;
  std::optional<uint64_t> budget;
  std::vector<std::string> origins{"*"};
};

FlagParser MakeParser(Config& config) {
  FlagParser parser("prog", "A test program.");
  parser.Add("model-id", &config.model_id, "Model", {.env = "TG_TEST_MODEL_ID", .required = true});
  parser.Add("port", &config.port, "Port", {.env = "TG_TEST_PORT"});
  parser.Add("ratio", &config.ratio, "Ratio");
  parser.Add("json-output", &config.json, "JSON logs");
  parser.Add("budget", &config.budget, "Budget");
  parser.Add("cors-allow-origin", &config.origins, "Origins");
  return parser;
}

TEST(FlagParser, ParsesEveryTypeAndForm) {
  Config config;
  FlagParser parser = MakeParser(config);
  ASSERT_EQ(parser.Parse({"--model-id", "m", "--port=8080", "--ratio", "1.5", "--json-output",
                          "--budget", "1000000", "--cors-allow-origin", "a,b",
                          "--cors-allow-origin=c"}),
            ParseResult::kRun);
  EXPECT_EQ(config.model_id, "m");
  EXPECT_EQ(config.port, 8080u);
  EXPECT_DOUBLE_EQ(config.ratio, 1.5);
  EXPECT_TRUE(config.json);
  EXPECT_EQ(config.budget, 1000000u);
  EXPECT_EQ(config.origins, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(parser.WasSet("port"));
  EXPECT_FALSE(parser.WasSet("nothing"));
}

TEST(FlagParser, EnvironmentIsAFallbackNotAnOverride) {
  setenv("TG_TEST_MODEL_ID", "from-env", 1);
  setenv("TG_TEST_PORT", "9000", 1);
  Config config;
  FlagParser parser = MakeParser(config);
  parser.Parse({"--port", "81"});
  EXPECT_EQ(config.model_id, "from-env");
  EXPECT_EQ(config.port, 81u);
  unsetenv("TG_TEST_MODEL_ID");
  unsetenv("TG_TEST_PORT");
}

TEST(FlagParser, RejectsBadInputWithClearMessages) {
  auto message_of = [](std::vector<std::string> args) {
    Config config;
    FlagParser parser = MakeParser(config);
    try {
      parser.Parse(args);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      return e.message();
    }
    return std::string("no error");
  };
  EXPECT_EQ(message_of({}), "--model-id is required (or set $TG_TEST_MODEL_ID)");
  EXPECT_EQ(message_of({"--model-id", "m", "--bogus"}), "unknown flag --bogus (see --help)");
  EXPECT_EQ(message_of({"--model-id", "m", "--port", "80x"}), "--port expects a number, got '80x'");
  EXPECT_EQ(message_of({"--model-id", "m", "--port", "-1"}), "--port must not be negative: -1");
  EXPECT_EQ(message_of({"--model-id", "m", "--port=-1"}), "--port must not be negative: -1");
  EXPECT_EQ(message_of({"--model-id"}), "--model-id needs a value");
}

TEST(FlagParser, HelpListsFlagsDefaultsAndEnv) {
  Config config;
  FlagParser parser = MakeParser(config);
  EXPECT_EQ(parser.Parse({"--help"}), ParseResult::kHelp);
  std::string help = parser.Help();
  EXPECT_NE(help.find("--port <VALUE>\n      Port [default: 3000] [env: TG_TEST_PORT]"),
            std::string::npos)
      << help;
  EXPECT_NE(help.find("--json-output\n      JSON logs [default: false]"), std::string::npos);
}

}  // namespace
}  // namespace tg
