// Python str semantics the templates rely on: Unicode case mappings (ICU), strip/split with
// Python's white space, replace with a count, str.format and "%" formatting.
#include "router/chat/jinja_text.h"

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cctype>

#include "common/error.h"
#include "router/chat/jinja_builtins.h"

namespace tg::chat::jinja {
namespace {

[[noreturn]] void Fail(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, "chat template error: " + message);
}

std::vector<UChar32> ToCodePoints(const std::string& s) {
  std::vector<UChar32> out;
  const icu::UnicodeString u = icu::UnicodeString::fromUTF8(s);
  for (int32_t i = 0; i < u.length(); i = u.moveIndex32(i, 1)) out.push_back(u.char32At(i));
  return out;
}
std::string FromCodePoints(const std::vector<UChar32>& cps) {
  icu::UnicodeString u;
  for (UChar32 c : cps) u.append(c);
  std::string out;
  u.toUTF8String(out);
  return out;
}

}  // namespace

bool IsPySpace(const std::string& ch) {
  return ch == " " || ch == "\t" || ch == "\n" || ch == "\r" || ch == "\f" || ch == "\v" ||
         ch == "\x1c" || ch == "\x1d" || ch == "\x1e" || ch == "\x1f" || ch == "\xc2\x85" ||
         ch == "\xc2\xa0" || ch == "\xe3\x80\x80" || ch == "\xe2\x80\xa8" || ch == "\xe2\x80\xa9";
}

std::string Strip(const std::string& s, const Value& chars, bool left, bool right) {
  const auto cps = CodePoints(s);
  std::vector<std::string> set;
  const bool custom = chars.is_string();
  if (custom) set = CodePoints(chars.as_string());
  auto strip_it = [&](const std::string& ch) {
    return custom ? std::find(set.begin(), set.end(), ch) != set.end() : IsPySpace(ch);
  };
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && strip_it(cps[b])) ++b;
  }
  if (right) {
    while (e > b && strip_it(cps[e - 1])) --e;
  }
  std::string out;
  for (size_t k = b; k < e; ++k) out += cps[k];
  return out;
}

// Python's case mappings are Unicode-aware (full mappings, root locale), so ICU does them.
std::string Lower(const std::string& s) {
  std::string out;
  icu::UnicodeString::fromUTF8(s).toLower(icu::Locale::getRoot()).toUTF8String(out);
  return out;
}
std::string Upper(const std::string& s) {
  std::string out;
  icu::UnicodeString::fromUTF8(s).toUpper(icu::Locale::getRoot()).toUTF8String(out);
  return out;
}

// Python str.capitalize: the first character in title case, the rest lowercased.
std::string Capitalize(const std::string& s) {
  auto cps = ToCodePoints(s);
  for (size_t k = 0; k < cps.size(); ++k) cps[k] = k == 0 ? u_totitle(cps[k]) : u_tolower(cps[k]);
  return FromCodePoints(cps);
}

// Python str.title: a cased character after an uncased one is titlecased, others lowercased.
std::string PyTitle(const std::string& s) {
  auto cps = ToCodePoints(s);
  bool prev_cased = false;
  for (auto& c : cps) {
    const bool cased = u_hasBinaryProperty(c, UCHAR_CASED);
    c = prev_cased ? u_tolower(c) : u_totitle(c);
    prev_cased = cased;
  }
  return FromCodePoints(cps);
}

// Jinja's title filter: words start after white space or one of -({[<.
std::string Title(const std::string& s) {
  auto cps = ToCodePoints(s);
  bool start = true;
  for (auto& c : cps) {
    const bool sep = u_isUWhiteSpace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) {
      start = true;
    } else {
      c = start ? u_toupper(c) : u_tolower(c);
      start = false;
    }
  }
  return FromCodePoints(cps);
}

// Python str.islower / str.isupper: at least one cased character, none of the other case.
bool IsLower(const std::string& s) { return Lower(s) == s && Upper(s) != s; }
bool IsUpper(const std::string& s) { return Upper(s) == s && Lower(s) != s; }

std::vector<std::string> Split(const std::string& s, const Value& sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (!sep.is_string()) {  // runs of white space, no empty parts
    const auto cps = CodePoints(s);
    size_t k = 0;
    while (k < cps.size()) {
      while (k < cps.size() && IsPySpace(cps[k])) ++k;
      if (k >= cps.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        std::string rest;
        for (size_t j = k; j < cps.size(); ++j) rest += cps[j];
        size_t end = rest.size();
        while (end > 0 && IsPySpace(std::string(1, rest[end - 1]))) --end;
        out.push_back(rest.substr(0, end));
        return out;
      }
      std::string word;
      while (k < cps.size() && !IsPySpace(cps[k])) word += cps[k++];
      out.push_back(std::move(word));
    }
    return out;
  }
  const std::string& d = sep.as_string();
  if (d.empty()) Fail("empty separator");
  size_t begin = 0;
  while (true) {
    const size_t at = s.find(d, begin);
    if (at == std::string::npos ||
        (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit)) {
      out.push_back(s.substr(begin));
      return out;
    }
    out.push_back(s.substr(begin, at - begin));
    begin = at + d.size();
  }
}

std::string Replace(const std::string& s, const std::string& from, const std::string& to,
                    int64_t count) {
  if (from.empty()) return s;
  std::string out;
  size_t begin = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t at = s.find(from, begin);
    if (at == std::string::npos) break;
    out += s.substr(begin, at - begin) + to;
    begin = at + from.size();
    ++done;
  }
  return out + s.substr(begin);
}

// Python str.format with "{}", "{0}" and "{name}" fields.
std::string PyFormat(const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (fmt[i] == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (fmt[i] == '{') {
      const size_t close = fmt.find('}', i);
      if (close == std::string::npos) Fail("bad format string");
      const std::string field = fmt.substr(i + 1, close - i - 1);
      Value v;
      if (field.empty()) {
        v = args.GetOr(auto_index++, "", Value());
      } else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
        v = args.GetOr(static_cast<size_t>(std::stoul(field)), "", Value());
      } else {
        v = args.GetOr(static_cast<size_t>(-1), field, Value());
      }
      out += v.Str();
      i = close;
    } else {
      out += fmt[i];
    }
  }
  return out;
}

// Python's "%" formatting for %s, %d, %r, %%.
std::string PercentFormat(const std::string& fmt, const Value& arg) {
  List values = arg.is_list() ? arg.as_list() : List{arg};
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%' || i + 1 >= fmt.size()) {
      out += fmt[i];
      continue;
    }
    const char spec = fmt[++i];
    if (spec == '%') {
      out += '%';
      continue;
    }
    if (next >= values.size()) Fail("not enough arguments for format string");
    const Value& v = values[next++];
    if (spec == 'd' || spec == 'i') {
      out += std::to_string(v.is_float() ? static_cast<int64_t>(v.as_double()) : v.as_int());
    } else if (spec == 'r') {
      out += v.Repr();
    } else {
      out += v.Str();
    }
  }
  return out;
}

}  // namespace tg::chat::jinja
