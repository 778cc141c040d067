#include "router/chat/jinja_lexer.h"

#include <cctype>

#include "common/error.h"
#include "router/tokenizer/utf8.h"

namespace tg::chat::jinja {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {}

  std::vector<Token> Run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      const size_t start = FindTagStart(pos_);
      std::string text = src_.substr(pos_, start - pos_);
      if (start == src_.size()) {
        Emit(Token::Kind::kText, std::move(text));
        break;
      }
      const char kind = src_[start + 1];
      const char sign = start + 2 < src_.size() ? src_[start + 2] : '\0';
      if (sign == '-') {
        size_t end = text.size();
        while (end > 0 && IsSpace(text[end - 1])) --end;
        text.resize(end);
      } else if (sign != '+' && kind != '{') {
        // lstrip_blocks: drop spaces/tabs between the start of the line and a block/comment tag.
        const size_t line_start = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
        if (line_start > 0 || line_starting) {
          if (text.find_first_not_of(" \t", line_start) == std::string::npos) {
            text.resize(line_start);
          }
        }
      }
      Emit(Token::Kind::kText, std::move(text));
      pos_ = start + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (kind == '#') {
        LexComment();
      } else {
        LexTag(kind == '%');
      }
      line_starting = pos_ > 0 && src_[pos_ - 1] == '\n';
    }
    Emit(Token::Kind::kEof, "");
    return std::move(tokens_);
  }

 private:
  size_t FindTagStart(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return src_.size();
  }

  void Emit(Token::Kind kind, std::string text) {
    if (kind == Token::Kind::kText && text.empty()) return;
    tokens_.push_back(Token{kind, std::move(text), line_});
  }

  [[noreturn]] void Fail(const std::string& what) const {
    throw Error(ErrorKind::kInvalidArgument,
                "chat template syntax error (line " + std::to_string(line_) + "): " + what);
  }

  // After a tag's closing marker: "-" strips all following white space, otherwise a block or
  // comment end eats one newline (trim_blocks) unless marked "+".
  void AfterTagEnd(char sign, bool is_block) {
    if (sign == '-') {
      while (pos_ < src_.size() && IsSpace(src_[pos_])) ++pos_;
    } else if (sign != '+' && is_block && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
    }
  }

  void LexComment() {
    const size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) Fail("unterminated comment");
    const char sign = end > pos_ ? src_[end - 1] : '\0';
    pos_ = end + 2;
    AfterTagEnd(sign == '-' || sign == '+' ? sign : '\0', true);
  }

  void LexTag(bool is_block) {
    Emit(is_block ? Token::Kind::kBlockBegin : Token::Kind::kVarBegin, "");
    const size_t first_token = tokens_.size();
    int depth = 0;  // open brackets, so "}}" inside a dict literal does not end the tag
    while (true) {
      while (pos_ < src_.size() && IsSpace(src_[pos_])) {
        if (src_[pos_] == '\n') ++line_;
        ++pos_;
      }
      if (pos_ >= src_.size()) Fail("unterminated tag");
      const std::string_view rest(src_.data() + pos_, src_.size() - pos_);
      const char* close = is_block ? "%}" : "}}";
      char sign = '\0';
      bool closing = false;
      if (depth == 0 || is_block) {
        if (rest.starts_with(close)) {
          closing = true;
        } else if ((rest.starts_with("-") || rest.starts_with("+")) &&
                   rest.substr(1).starts_with(close)) {
          sign = rest[0];
          closing = true;
        }
      }
      if (closing) {
        pos_ += 2 + (sign != '\0' ? 1 : 0);
        Emit(is_block ? Token::Kind::kBlockEnd : Token::Kind::kVarEnd, "");
        AfterTagEnd(sign, is_block);
        if (is_block && tokens_.size() == first_token + 2 &&
            tokens_[first_token].kind == Token::Kind::kName && tokens_[first_token].text == "raw") {
          LexRaw();
        }
        return;
      }
      LexExpressionToken(depth);
    }
  }

  // {% raw %}...{% endraw %}: everything in between is text.
  void LexRaw() {
    tokens_.resize(tokens_.size() - 3);  // drop the raw tag itself
    size_t search = pos_;
    while (true) {
      const size_t tag = src_.find("{%", search);
      if (tag == std::string::npos) Fail("missing endraw");
      size_t k = tag + 2;
      const bool strip_before = k < src_.size() && src_[k] == '-';
      if (k < src_.size() && (src_[k] == '-' || src_[k] == '+')) ++k;
      while (k < src_.size() && IsSpace(src_[k])) ++k;
      if (src_.compare(k, 6, "endraw") != 0) {
        search = tag + 2;
        continue;
      }
      k += 6;
      while (k < src_.size() && IsSpace(src_[k])) ++k;
      char sign = '\0';
      if (k < src_.size() && (src_[k] == '-' || src_[k] == '+')) sign = src_[k++];
      if (src_.compare(k, 2, "%}") != 0) Fail("bad endraw tag");
      std::string text = src_.substr(pos_, tag - pos_);
      if (strip_before) {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      }
      Emit(Token::Kind::kText, std::move(text));
      pos_ = k + 2;
      AfterTagEnd(sign, true);
      return;
    }
  }

  void LexExpressionToken(int& depth) {
    const char c = src_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = pos_;
      while (end < src_.size() &&
             (std::isalnum(static_cast<unsigned char>(src_[end])) || src_[end] == '_')) {
        ++end;
      }
      Emit(Token::Kind::kName, src_.substr(pos_, end - pos_));
      pos_ = end;
      return;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t end = pos_;
      bool is_float = false;
      while (end < src_.size() &&
             (std::isdigit(static_cast<unsigned char>(src_[end])) || src_[end] == '_'))
        ++end;
      if (end + 1 < src_.size() && src_[end] == '.' &&
          std::isdigit(static_cast<unsigned char>(src_[end + 1]))) {
        is_float = true;
        ++end;
        while (end < src_.size() && std::isdigit(static_cast<unsigned char>(src_[end]))) ++end;
      }
      if (end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
        size_t k = end + 1;
        if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
        if (k < src_.size() && std::isdigit(static_cast<unsigned char>(src_[k]))) {
          is_float = true;
          end = k;
          while (end < src_.size() && std::isdigit(static_cast<unsigned char>(src_[end]))) ++end;
        }
      }
      std::string number;
      for (size_t k = pos_; k < end; ++k) {
        if (src_[k] != '_') number += src_[k];
      }
      Emit(is_float ? Token::Kind::kFloat : Token::Kind::kInt, number);
      pos_ = end;
      return;
    }
    if (c == '\'' || c == '"') {
      LexString(c);
      return;
    }
    static const char* const kOps[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*",
                                       "/",  "%",  "~",  "<",  ">",  "=",  ".", ",", ":",
                                       "|",  "(",  ")",  "[",  "]",  "{",  "}"};
    for (const char* op : kOps) {
      if (src_.compare(pos_, std::char_traits<char>::length(op), op) == 0) {
        const std::string text(op);
        if (text == "(" || text == "[" || text == "{") ++depth;
        if ((text == ")" || text == "]" || text == "}") && depth > 0) --depth;
        Emit(Token::Kind::kOp, text);
        pos_ += text.size();
        return;
      }
    }
    Fail(std::string("unexpected character '") + c + "'");
  }

  // A Python string literal with its backslash escapes.
  void LexString(char quote) {
    std::string out;
    size_t i = pos_ + 1;
    while (true) {
      if (i >= src_.size()) Fail("unterminated string");
      const char c = src_[i];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\' || i + 1 >= src_.size()) {
        out += c;
        ++i;
        continue;
      }
      const char e = src_[i + 1];
      i += 2;
      auto hex = [&](size_t digits) {
        uint32_t cp = 0;
        for (size_t k = 0; k < digits; ++k) {
          if (i >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[i]))) {
            Fail("bad escape in string");
          }
          cp = cp * 16 + static_cast<uint32_t>(std::stoi(std::string(1, src_[i++]), nullptr, 16));
        }
        tokenizer::AppendUtf8(cp, out);
      };
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'v':
          out += '\v';
          break;
        case 'a':
          out += '\a';
          break;
        case '\\':
          out += '\\';
          break;
        case '\'':
          out += '\'';
          break;
        case '"':
          out += '"';
          break;
        case '\n':
          break;
        case 'x':
          hex(2);
          break;
        case 'u':
          hex(4);
          break;
        case 'U':
          hex(8);
          break;
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7': {
          uint32_t cp = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) {
            cp = cp * 8 + static_cast<uint32_t>(src_[i++] - '0');
          }
          tokenizer::AppendUtf8(cp, out);
          break;
        }
        default:
          out += '\\';
          out += e;
      }
    }
    Emit(Token::Kind::kString, std::move(out));
    pos_ = i + 1;
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

// Jinja turns \r\n and \r into \n and (keep_trailing_newline=False) drops one final newline.
std::string NormalizeNewlines(std::string source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

std::vector<Token> Lex(std::string source) {
  return Lexer(NormalizeNewlines(std::move(source))).Run();
}

}  // namespace tg::chat::jinja
