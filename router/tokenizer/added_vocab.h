// Added tokens (special or not) are found in the text before the model runs, exactly like HF
// `tokenizers`: leftmost-longest matching, with lstrip/rstrip (the match swallows neighbouring
// white space), single_word (no word character may touch the match) and normalized (matched on
// normalized rather than raw text).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tg::tokenizer {

struct AddedToken {
  uint32_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool single_word = false;
};

struct Segment {
  std::string text;
  std::optional<uint32_t> id;  // set when the segment is an added token
  bool at_text_start = false;
};

// A leftmost-longest matcher over a set of added tokens.
class AddedTokenMatcher {
 public:
  void Add(const AddedToken& token);
  bool empty() const { return tokens_.empty(); }
  // Splits `text` into added-token segments and the text between them (empty text is dropped).
  void Split(std::string_view text, bool at_text_start, std::vector<Segment>& out) const;

 private:
  struct Match {
    size_t begin, end;
    size_t token;
  };
  std::optional<Match> LongestAt(std::string_view text, size_t pos) const;

  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t token = -1;  // index into tokens_ when a token ends here
  };
  std::vector<Node> nodes_{Node{}};
  std::vector<AddedToken> tokens_;
  bool first_byte_[256] = {};
};

}  // namespace tg::tokenizer
