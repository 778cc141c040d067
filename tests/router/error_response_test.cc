// The one error -> HTTP mapping (ErrorResponse): each ErrorKind's status and error type, in TGI's
// and OpenAI's body shapes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "router/server/routes.h"

namespace tg::server {
namespace {

struct Expected {
  ErrorKind kind;
  int status;
  const char* type;
};

TEST(ErrorResponse, EachKindHasItsStatus) {
  const Expected table[] = {
      {ErrorKind::kInvalidArgument, 422, "validation"},
      {ErrorKind::kUnsupported, 422, "validation"},
      {ErrorKind::kResourceExhausted, 429, "overloaded"},
      {ErrorKind::kUnavailable, 424, "generation"},
      {ErrorKind::kNotReady, 503, "unavailable"},
      {ErrorKind::kNotFound, 404, "not_found"},
      {ErrorKind::kInternal, 500, "internal"},
      {ErrorKind::kCorruptFile, 500, "internal"},
      {ErrorKind::kDeviceLost, 500, "internal"},
  };
  for (const Expected& e : table) {
    const http::Response tgi = ErrorResponse(e.kind, "why", false);
    EXPECT_EQ(tgi.status, e.status) << ToString(e.kind);
    const auto body = nlohmann::json::parse(tgi.body);
    EXPECT_EQ(body.at("error"), "why") << ToString(e.kind);
    EXPECT_EQ(body.at("error_type"), e.type) << ToString(e.kind);

    const http::Response openai = ErrorResponse(e.kind, "why", true);
    EXPECT_EQ(openai.status, e.status) << ToString(e.kind);
    EXPECT_EQ(nlohmann::json::parse(openai.body).at("error").at("type"), e.type)
        << ToString(e.kind);
  }
}

TEST(ErrorResponse, OnlyOverloadAsksToRetry) {
  for (const ErrorKind kind : {ErrorKind::kResourceExhausted, ErrorKind::kNotReady}) {
    const http::Response response = ErrorResponse(kind, "busy", false);
    bool retry_after = false;
    for (const auto& [name, value] : response.headers) retry_after |= name == "Retry-After";
    EXPECT_EQ(retry_after, kind == ErrorKind::kResourceExhausted) << ToString(kind);
  }
}

}  // namespace
}  // namespace tg::server
