#include "model_files/hub_http.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <memory>

#include "common/error.h"

namespace tg::model {

namespace {

void GlobalInit() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// Keeps only the headers of the last response (after redirects, a new status line resets them).
size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string value = line.substr(colon + 1);
  const auto first = value.find_first_not_of(" \t");
  const auto last = value.find_last_not_of(" \t\r\n");
  (*headers)[name] = first == std::string::npos ? "" : value.substr(first, last - first + 1);
  return size * n;
}

struct FileSink {
  std::FILE* file;
  CURL* curl;
  bool resuming;
  bool checked = false;
};

size_t WriteFile(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<FileSink*>(user);
  if (!sink->checked) {
    sink->checked = true;
    long status = 0;
    curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
    // A server that ignores Range answers 200 with the whole file: start the file over.
    if (sink->resuming && status == 200) {
      if (::ftruncate(::fileno(sink->file), 0) != 0 || std::fseek(sink->file, 0, SEEK_SET) != 0) {
        return 0;
      }
    }
  }
  const size_t w = std::fwrite(data, 1, size * n, sink->file);
  return w;
}

struct Progress {
  std::string label;
  uint64_t offset = 0, total = 0;
  std::chrono::steady_clock::time_point last;
};

int OnProgress(void* user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* p = static_cast<Progress*>(user);
  const auto now = std::chrono::steady_clock::now();
  if (now - p->last < std::chrono::milliseconds(200) && dlnow != dltotal) return 0;
  p->last = now;
  const uint64_t done = p->offset + static_cast<uint64_t>(dlnow);
  const uint64_t total = p->total ? p->total : p->offset + static_cast<uint64_t>(dltotal);
  const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
  const int width = 30, filled = static_cast<int>(frac * width);
  std::fprintf(stderr, "\r%-40.40s [%s%s] %5.1f%% %8.1f/%.1f MB", p->label.c_str(),
               std::string(filled, '#').c_str(), std::string(width - filled, ' ').c_str(),
               100.0 * frac, done / 1e6, total / 1e6);
  return 0;
}

class Request {
 public:
  Request(const std::string& url, const std::string& token) : curl_(curl_easy_init()) {
    GlobalInit();
    TG_CHECK(curl_ != nullptr, kInternal, "curl_easy_init failed");
    curl_easy_setopt(curl_.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_.get(), CURLOPT_USERAGENT, "text-gen/" TG_VERSION);
    curl_easy_setopt(curl_.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_.get(), CURLOPT_CONNECTTIMEOUT, 30L);
    // Abort a stalled transfer (under 1 byte/s for 60 s) instead of hanging the launcher.
    curl_easy_setopt(curl_.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl_.get(), CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl_.get(), CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl_.get(), CURLOPT_HEADERDATA, &response_.headers);
    if (!token.empty()) {
      headers_.reset(curl_slist_append(nullptr, ("Authorization: Bearer " + token).c_str()));
      curl_easy_setopt(curl_.get(), CURLOPT_HTTPHEADER, headers_.get());
    }
    url_ = url;
  }
  CURL* handle() { return curl_.get(); }
  HttpResponse& response() { return response_; }
  HttpResponse Perform() {
    const CURLcode rc = curl_easy_perform(curl_.get());
    if (rc != CURLE_OK) {
      throw Error(ErrorKind::kUnavailable,
                  "request to " + url_ + " failed: " + curl_easy_strerror(rc));
    }
    curl_easy_getinfo(curl_.get(), CURLINFO_RESPONSE_CODE, &response_.status);
    return response_;
  }

 private:
  std::unique_ptr<CURL, CurlDeleter> curl_;
  std::unique_ptr<curl_slist, SlistDeleter> headers_;
  HttpResponse response_;
  std::string url_;
};

}  // namespace

HttpClient::HttpClient(std::string token) : token_(std::move(token)) {}

HttpResponse HttpClient::Get(const std::string& url) const {
  Request r(url, token_);
  curl_easy_setopt(r.handle(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(r.handle(), CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(r.handle(), CURLOPT_WRITEDATA, &r.response().body);
  return r.Perform();
}

HttpResponse HttpClient::Head(const std::string& url, bool follow_redirects) const {
  Request r(url, token_);
  curl_easy_setopt(r.handle(), CURLOPT_NOBODY, 1L);
  curl_easy_setopt(r.handle(), CURLOPT_FOLLOWLOCATION, follow_redirects ? 1L : 0L);
  return r.Perform();
}

HttpResponse HttpClient::DownloadTo(const std::string& url, const std::filesystem::path& path,
                                    uint64_t expected_size, bool progress,
                                    const std::string& label) const {
  std::error_code ec;
  const uint64_t have = std::filesystem::exists(path) ? std::filesystem::file_size(path, ec) : 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "ab"), std::fclose);
  TG_CHECK(file != nullptr, kInternal, "cannot write " + path.string());
  Request r(url, token_);
  FileSink sink{file.get(), r.handle(), have > 0};
  curl_easy_setopt(r.handle(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(r.handle(), CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(r.handle(), CURLOPT_WRITEFUNCTION, WriteFile);
  curl_easy_setopt(r.handle(), CURLOPT_WRITEDATA, &sink);
  const std::string range = std::to_string(have) + "-";
  if (have > 0) curl_easy_setopt(r.handle(), CURLOPT_RANGE, range.c_str());
  Progress state{label, have, expected_size, {}};
  const bool draw = progress && ::isatty(STDERR_FILENO);
  if (draw) {
    curl_easy_setopt(r.handle(), CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(r.handle(), CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(r.handle(), CURLOPT_XFERINFODATA, &state);
  }
  HttpResponse response;
  try {
    response = r.Perform();
  } catch (...) {
    if (draw) std::fputc('\n', stderr);
    throw;
  }
  if (draw) std::fputc('\n', stderr);
  TG_CHECK(std::fflush(file.get()) == 0, kInternal, "cannot write " + path.string());
  return response;
}

}  // namespace tg::model
