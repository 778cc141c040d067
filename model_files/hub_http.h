// A small blocking HTTP(S) client over libcurl for the hub: JSON API calls, HEAD for file
// metadata, and resumable file downloads with an optional progress bar.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace tg::model {

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased; the last response's headers
  std::string body;
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  // `token` (may be empty) is sent as "Authorization: Bearer <token>".
  explicit HttpClient(std::string token);

  // Throws tg::Error(kUnavailable) on transport failures; HTTP errors come back as a status.
  HttpResponse Get(const std::string& url) const;
  HttpResponse Head(const std::string& url, bool follow_redirects) const;
  // Appends the body of `url` to `path`, asking only for the bytes after its current size
  // (Range). Returns the final response (status 200 or 206; the caller checks the result).
  HttpResponse DownloadTo(const std::string& url, const std::filesystem::path& path,
                          uint64_t expected_size, bool progress, const std::string& label) const;

 private:
  std::string token_;
};

}  // namespace tg::model
