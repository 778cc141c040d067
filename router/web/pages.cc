#include "router/web/pages.h"

#include "router/web/web_assets.h"

namespace tg::web {

std::optional<http::Response> BrowserRoute(const http::Request& request) {
  if (request.method != "GET") return std::nullopt;
  // `/` stays the TGI generation route for POST; only a browser (asking for HTML) is sent on.
  if (request.path == "/" && request.Header("accept").find("text/html") != std::string::npos) {
    return http::Response{.status = 302,
                          .content_type = "text/plain",
                          .body = "See /chat\n",
                          .headers = {{"Location", "/chat"}}};
  }
  for (const WebAsset& asset : WebAssets()) {
    if (request.path == asset.url) {
      return http::Response{.status = 200,
                            .content_type = std::string(asset.content_type),
                            .body = std::string(asset.body),
                            .headers = {{"Cache-Control", "no-cache"}}};
    }
  }
  return std::nullopt;
}

}  // namespace tg::web
