// The router's browser routes: GET /chat, /dashboard, /docs, /openapi.json and the redirect of a
// browser's GET / to /chat. They need no API key (the pages ask for it and send it themselves).
#pragma once

#include <optional>

#include "router/http/server.h"

namespace tg::web {

// The response for a browser route, or nothing when `request` is not one.
std::optional<http::Response> BrowserRoute(const http::Request& request);

}  // namespace tg::web
