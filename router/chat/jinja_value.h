// The values a chat template computes with, with Python's semantics where Jinja inherits them
// (truthiness, equality, ordering, str() and repr(), json.dumps as transformers' tojson does it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tg::chat::jinja {

class Value;
using List = std::vector<Value>;
// Insertion-ordered like a Python dict; keys are strings (what chat templates use).
using Dict = std::vector<std::pair<std::string, Value>>;

struct CallArgs;
using Function = std::function<Value(CallArgs&)>;

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  Value() = default;  // undefined
  static Value None();
  Value(bool b);                                    // NOLINT(google-explicit-constructor)
  Value(int64_t i);                                 // NOLINT
  Value(int i) : Value(static_cast<int64_t>(i)) {}  // NOLINT
  Value(double f);                                  // NOLINT
  Value(std::string s);                             // NOLINT
  Value(const char* s) : Value(std::string(s)) {}   // NOLINT
  static Value MakeList(List items = {});
  // A Python tuple: a list that prints as (a, b).
  static Value MakeTuple(List items);
  static Value MakeDict(Dict items = {});
  // A namespace() object: a dict whose attributes may be assigned with {% set ns.x = ... %}.
  static Value MakeNamespace(Dict items = {});
  static Value MakeFunction(Function fn);
  static Value FromJson(const nlohmann::ordered_json& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_function() const { return kind_ == Kind::kFunction; }
  bool is_namespace() const { return kind_ == Kind::kDict && namespace_; }
  bool is_tuple() const { return kind_ == Kind::kList && tuple_; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return i_; }
  double as_double() const { return kind_ == Kind::kInt ? static_cast<double>(i_) : f_; }
  const std::string& as_string() const { return *s_; }
  List& as_list() const { return *list_; }
  Dict& as_dict() const { return *dict_; }
  const Function& as_function() const { return *fn_; }

  // Python truthiness; undefined is false.
  bool Truthy() const;
  // Python str(): what {{ value }} prints (undefined prints nothing).
  std::string Str() const;
  // Python repr(), used for lists and dicts inside str().
  std::string Repr() const;
  // Python json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys)
  // (indent < 0: none, separators ", " and ": ").
  // Custom separators replace Python's defaults (", "/": ", or ","/": " with an indent).
  std::string ToJson(int indent = -1, bool sort_keys = false, const char* item_sep = nullptr,
                     const char* key_sep = nullptr) const;

  // Dict lookup (nullptr when missing).
  const Value* Find(const std::string& key) const;
  void Set(const std::string& key, Value value) const;  // dicts share storage, like Python
  size_t Length() const;                                // len(); throws for scalars
  const char* TypeName() const;

 private:
  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  bool namespace_ = false;
  bool tuple_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<const Function> fn_;
};

// Python ==, and < for sort/comparisons (throws tg::Error for incomparable types).
bool Equals(const Value& a, const Value& b);
bool Less(const Value& a, const Value& b);

// Arguments of a call: positional, then keyword.
struct CallArgs {
  List positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // The argument at position `index` or named `name`, else nullopt.
  std::optional<Value> Get(size_t index, const std::string& name) const;
  Value GetOr(size_t index, const std::string& name, Value fallback) const;
};

// Python float repr (shortest round-trip, "1.0", "1e+16").
std::string FormatFloat(double f);

}  // namespace tg::chat::jinja
