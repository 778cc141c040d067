// Every row of reference/chat-public.jsonl (rendered by HF transformers) renders byte-identically,
// or raises where the reference has an error.
#include <gtest/gtest.h>

#include <ctime>

#include "router/chat/chat_template.h"
#include "tests/tokenizer/test_util.h"

namespace tg::chat {
namespace {

// The references were rendered on 2026-11-21 (templates that print strftime_now show it).
std::time_t ReferenceDay() {
  std::tm day{};
  day.tm_year = 2026 - 1900;
  day.tm_mon = 10;
  day.tm_mday = 21;
  day.tm_hour = 12;
  day.tm_isdst = -1;
  return std::mktime(&day);
}

TEST(ChatTemplateReference, RendersLikeTransformers) {
  const auto assets = tg::testing::AssetsDir();
  const auto rows = tg::testing::ReadJsonLines(assets / "reference" / "chat-public.jsonl");
  ASSERT_FALSE(rows.empty());
  for (const auto& row : rows) {
    const std::string name = row.at("template");
    const ChatTemplate tmpl(tg::testing::ReadFile(assets / "chat-templates" / name));
    ChatRenderOptions options;
    options.add_generation_prompt = row.at("add_generation_prompt");
    options.bos_token = row.at("bos_token");
    options.eos_token = row.at("eos_token");
    options.now = ReferenceDay();
    const std::string where = name + " / " + row.at("conversation").get<std::string>() +
                              (options.add_generation_prompt ? " +gen" : "");
    if (row.contains("error")) {
      EXPECT_THROW(tmpl.Render(row.at("messages"), options), ChatTemplateError) << where;
      continue;
    }
    EXPECT_EQ(tmpl.Render(row.at("messages"), options), row.at("rendered").get<std::string>())
        << where;
  }
}

}  // namespace
}  // namespace tg::chat
