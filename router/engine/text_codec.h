// What the engine and the routes need from a tokenizer, as a small interface so that the
// scheduler, validation and engine do not depend on one tokenizer implementation.
// The production implementation wraps tg::tokenizer (router/engine/tokenizer_codec.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tg::engine {

// Turns a stream of token ids into UTF-8-safe text pieces (special tokens skipped).
class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  // The text that became complete with this token (may be empty mid code point).
  virtual std::string Push(uint32_t id) = 0;
  // Whatever is still held back at the end of the sequence.
  virtual std::string Flush() = 0;
};

class TextCodec {
 public:
  virtual ~TextCodec() = default;
  virtual std::vector<uint32_t> Encode(const std::string& text, bool add_special_tokens) const = 0;
  virtual std::string Decode(const std::vector<uint32_t>& ids, bool skip_special) const = 0;
  virtual bool IsSpecial(uint32_t id) const = 0;
  virtual std::unique_ptr<StreamDecoder> NewStreamDecoder() const = 0;
  // Chat template source and the special token strings a template may use.
  virtual std::string chat_template() const = 0;
  virtual std::string bos_token() const = 0;
  virtual std::string eos_token() const = 0;
};

}  // namespace tg::engine
