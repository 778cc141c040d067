// The browser pages (chat, dashboard, API docs) and the OpenAPI document, compiled into the
// router binary from router/web/assets by embed_assets.cmake: the server needs no files beside
// it and the pages load nothing from the internet.
#pragma once

#include <string_view>
#include <vector>

namespace tg::web {

struct WebAsset {
  std::string_view url;  // the path the router serves it at
  std::string_view content_type;
  std::string_view body;
};

// Every embedded asset (generated source).
const std::vector<WebAsset>& WebAssets();

}  // namespace tg::web
