#include "router/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <mutex>

#include "common/error.h"

namespace tg::tokenizer {

struct Regex::Impl {
  pcre2_code* code = nullptr;
  // Match data is per call (the pattern is shared between threads); a small pool avoids
  // reallocating it for every pre-token.
  mutable std::mutex pool_mutex;
  mutable std::vector<pcre2_match_data*> pool;

  pcre2_match_data* Acquire() const {
    {
      std::lock_guard lock(pool_mutex);
      if (!pool.empty()) {
        auto* md = pool.back();
        pool.pop_back();
        return md;
      }
    }
    return pcre2_match_data_create_from_pattern(code, nullptr);
  }
  void Release(pcre2_match_data* md) const {
    std::lock_guard lock(pool_mutex);
    pool.push_back(md);
  }
};

Regex::Regex(const std::string& pattern) : impl_(std::make_unique<Impl>()) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &offset, nullptr);
  if (impl_->code == nullptr) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(error, buffer, sizeof(buffer));
    throw Error(ErrorKind::kCorruptFile, "bad tokenizer regex '" + pattern + "' at offset " +
                                             std::to_string(offset) + ": " +
                                             reinterpret_cast<char*>(buffer));
  }
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
}

Regex::~Regex() {
  for (auto* md : impl_->pool) pcre2_match_data_free(md);
  pcre2_code_free(impl_->code);
}

std::vector<std::pair<size_t, size_t>> Regex::FindAll(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  pcre2_match_data* md = impl_->Acquire();
  size_t start = 0;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  while (start <= text.size()) {
    const int rc =
        pcre2_match(impl_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.emplace_back(b, e);
      start = e;
    } else {
      // Empty match: step over one whole character.
      start = b + 1;
      while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) {
        ++start;
      }
    }
  }
  impl_->Release(md);
  return out;
}

std::string Regex::ReplaceAll(std::string_view text, std::string_view replacement) const {
  std::string out;
  size_t last = 0;
  for (const auto& [b, e] : FindAll(text)) {
    out.append(text.substr(last, b - last));
    out.append(replacement);
    last = e;
  }
  out.append(text.substr(last));
  return out;
}

std::string EscapeRegex(std::string_view literal) {
  std::string out = "\\Q";
  size_t i = 0;
  while (true) {
    const size_t e = literal.find("\\E", i);
    if (e == std::string_view::npos) break;
    out.append(literal.substr(i, e - i));
    out += "\\E\\\\E\\Q";
    i = e + 2;
  }
  out.append(literal.substr(i));
  out += "\\E";
  return out;
}

}  // namespace tg::tokenizer
