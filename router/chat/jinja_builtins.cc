#include "router/chat/jinja_builtins.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "common/error.h"
#include "router/chat/chat_template.h"
#include "router/chat/jinja_text.h"

namespace tg::chat::jinja {
namespace {

[[noreturn]] void Fail(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, "chat template error: " + message);
}

Value AttributeOf(const Value& v, const std::string& path) {
  Value cur = v;
  size_t begin = 0;
  while (true) {
    const size_t dot = path.find('.', begin);
    const std::string part =
        path.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
    if (cur.is_list() && !part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) {
      const size_t idx = std::stoul(part);
      cur = idx < cur.as_list().size() ? cur.as_list()[idx] : Value();
    } else {
      const Value* found = cur.Find(part);
      cur = found ? *found : Value();
    }
    if (dot == std::string::npos) return cur;
    begin = dot + 1;
  }
}

// Arguments after the first `skip` positional ones, as a new CallArgs.
CallArgs Rest(const CallArgs& args, size_t skip) {
  CallArgs rest;
  for (size_t k = skip; k < args.positional.size(); ++k)
    rest.positional.push_back(args.positional[k]);
  rest.keyword = args.keyword;
  return rest;
}

Value Select(const Value& value, CallArgs& args, bool by_attribute, bool keep) {
  List out;
  const std::string attribute = by_attribute ? args.GetOr(0, "attribute", Value("")).Str() : "";
  const size_t skip = by_attribute ? 1 : 0;
  const auto test = args.Get(skip, "test_name");
  CallArgs test_args = Rest(args, skip + 1);
  test_args.keyword.clear();
  for (const auto& item : Iterate(value)) {
    const Value subject = by_attribute ? AttributeOf(item, attribute) : item;
    const bool pass = test ? ApplyTest(test->Str(), subject, test_args) : subject.Truthy();
    if (pass == keep) out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Indent(std::string s, const Value& width, bool first, bool blank) {
  const std::string pad =
      width.is_string() ? width.as_string() : std::string(static_cast<size_t>(width.as_int()), ' ');
  s += "\n";
  std::vector<std::string> lines;
  size_t begin = 0;
  while (begin < s.size()) {
    const size_t nl = s.find('\n', begin);
    lines.push_back(s.substr(begin, nl - begin));
    begin = nl + 1;
  }
  std::string out;
  if (blank) {
    for (size_t k = 0; k < lines.size(); ++k) out += (k ? "\n" + pad : "") + lines[k];
  } else {
    out = lines.empty() ? "" : lines[0];
    for (size_t k = 1; k < lines.size(); ++k)
      out += "\n" + (lines[k].empty() ? "" : pad + lines[k]);
  }
  return first ? pad + out : out;
}

Value SortList(const Value& value, CallArgs& args) {
  List items = Iterate(value);
  const bool reverse = args.GetOr(0, "reverse", Value(false)).Truthy();
  const bool case_sensitive = args.GetOr(1, "case_sensitive", Value(false)).Truthy();
  const Value attribute = args.GetOr(2, "attribute", Value());
  auto key = [&](const Value& v) {
    Value k = attribute.is_string() ? AttributeOf(v, attribute.as_string()) : v;
    if (!case_sensitive && k.is_string()) return Value(Lower(k.as_string()));
    return k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    return reverse ? Less(key(b), key(a)) : Less(key(a), key(b));
  });
  return Value::MakeList(std::move(items));
}

Value ToInt(const Value& v, const Value& fallback) {
  if (v.is_int()) return v;
  if (v.is_bool()) return Value(int64_t{v.as_bool()});
  if (v.is_float()) return Value(static_cast<int64_t>(v.as_double()));
  if (v.is_string()) {
    try {
      size_t used = 0;
      const std::string s = Strip(v.as_string(), Value(), true, true);
      const double d = std::stod(s, &used);
      if (used == s.size()) return Value(static_cast<int64_t>(d));
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

}  // namespace

std::vector<std::string> CodePoints(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0xF0) {
      n = 4;
    } else if (c >= 0xE0) {
      n = 3;
    } else if (c >= 0xC0) {
      n = 2;
    }
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

List Iterate(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return {};
    case Value::Kind::kList:
      return value.as_list();
    case Value::Kind::kDict: {
      List keys;
      for (const auto& [k, v] : value.as_dict()) keys.emplace_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      List chars;
      for (auto& c : CodePoints(value.as_string())) chars.emplace_back(std::move(c));
      return chars;
    }
    default:
      Fail(std::string("'") + value.TypeName() + "' object is not iterable");
  }
}

Value ApplyFilter(const std::string& name, const Value& value, CallArgs& args) {
  auto arg = [&](size_t i, const char* key, Value fallback) {
    return args.GetOr(i, key, fallback);
  };
  if (name == "length" || name == "count") return Value(static_cast<int64_t>(value.Length()));
  if (name == "tojson") {
    const Value indent = arg(0, "indent", Value::None());
    const Value separators = arg(99, "separators", Value::None());
    std::string item_sep, key_sep;
    if (separators.is_list() && separators.as_list().size() == 2) {
      item_sep = separators.as_list()[0].Str();
      key_sep = separators.as_list()[1].Str();
    }
    return Value(value.ToJson(indent.is_int() ? static_cast<int>(indent.as_int()) : -1,
                              arg(99, "sort_keys", Value(false)).Truthy(),
                              separators.is_list() ? item_sep.c_str() : nullptr,
                              separators.is_list() ? key_sep.c_str() : nullptr));
  }
  if (name == "string") return Value(value.Str());
  if (name == "safe") return value;
  if (name == "e" || name == "escape" || name == "forceescape")
    return Value(HtmlEscape(value.Str()));
  if (name == "trim") return Value(Strip(value.Str(), arg(0, "chars", Value::None()), true, true));
  if (name == "upper") return Value(Upper(value.Str()));
  if (name == "lower") return Value(Lower(value.Str()));
  if (name == "title") return Value(Title(value.Str()));
  if (name == "capitalize") return Value(Capitalize(value.Str()));
  if (name == "default" || name == "d") {
    const bool boolean = arg(1, "boolean", Value(false)).Truthy();
    if (value.is_undefined() || (boolean && !value.Truthy()))
      return arg(0, "default_value", Value(""));
    return value;
  }
  if (name == "first" || name == "last") {
    const List items = Iterate(value);
    if (items.empty()) return Value();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") return Value::MakeList(Iterate(value));
  if (name == "join") {
    const std::string sep = arg(0, "d", Value("")).Str();
    const Value attribute = arg(1, "attribute", Value::None());
    std::string out;
    bool first = true;
    for (const auto& item : Iterate(value)) {
      if (!first) out += sep;
      first = false;
      out += (attribute.is_string() ? AttributeOf(item, attribute.as_string()) : item).Str();
    }
    return Value(std::move(out));
  }
  if (name == "items" || name == "dictsort") {
    List pairs;
    if (value.is_dict()) {
      for (const auto& [k, v] : value.as_dict()) pairs.push_back(Value::MakeTuple({Value(k), v}));
    } else if (!value.is_undefined()) {
      Fail("items filter needs a mapping");
    }
    if (name == "dictsort") {
      std::stable_sort(pairs.begin(), pairs.end(), [](const Value& a, const Value& b) {
        return Lower(a.as_list()[0].Str()) < Lower(b.as_list()[0].Str());
      });
    }
    return Value::MakeList(std::move(pairs));
  }
  if (name == "selectattr") return Select(value, args, true, true);
  if (name == "rejectattr") return Select(value, args, true, false);
  if (name == "select") return Select(value, args, false, true);
  if (name == "reject") return Select(value, args, false, false);
  if (name == "map") {
    List out;
    const auto attribute = args.Get(static_cast<size_t>(-1), "attribute");
    for (const auto& item : Iterate(value)) {
      if (attribute) {
        Value v = AttributeOf(item, attribute->Str());
        if (v.is_undefined()) v = args.GetOr(static_cast<size_t>(-1), "default", Value());
        out.push_back(std::move(v));
      } else {
        if (args.positional.empty()) Fail("map needs a filter name or attribute");
        CallArgs rest = Rest(args, 1);
        out.push_back(ApplyFilter(args.positional[0].Str(), item, rest));
      }
    }
    return Value::MakeList(std::move(out));
  }
  if (name == "int") return ToInt(value, arg(0, "default", Value(0)));
  if (name == "float") {
    if (value.is_number()) return Value(value.as_double());
    try {
      return Value(std::stod(value.Str()));
    } catch (const std::exception&) {
      return arg(0, "default", Value(0.0));
    }
  }
  if (name == "abs") {
    if (value.is_int()) return Value(value.as_int() < 0 ? -value.as_int() : value.as_int());
    return Value(std::fabs(value.as_double()));
  }
  if (name == "round") {
    const int64_t precision = arg(0, "precision", Value(0)).as_int();
    const std::string method = arg(1, "method", Value("common")).Str();
    const double scale = std::pow(10.0, static_cast<double>(precision));
    double x = value.as_double() * scale;
    x = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
    return Value(x / scale);
  }
  if (name == "replace") {
    return Value(Replace(value.Str(), arg(0, "old", Value("")).Str(),
                         arg(1, "new", Value("")).Str(), arg(2, "count", Value(-1)).as_int()));
  }
  if (name == "indent") {
    return Value(Indent(value.Str(), arg(0, "width", Value(4)),
                        arg(1, "first", Value(false)).Truthy(),
                        arg(2, "blank", Value(false)).Truthy()));
  }
  if (name == "unique") {
    List out;
    for (const auto& item : Iterate(value)) {
      bool seen = false;
      for (const auto& o : out) seen = seen || Equals(o, item);
      if (!seen) out.push_back(item);
    }
    return Value::MakeList(std::move(out));
  }
  if (name == "sort") return SortList(value, args);
  if (name == "reverse") {
    if (value.is_string()) {
      auto cps = CodePoints(value.as_string());
      std::string out;
      for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
      return Value(std::move(out));
    }
    List items = Iterate(value);
    std::reverse(items.begin(), items.end());
    return Value::MakeList(std::move(items));
  }
  if (name == "min" || name == "max") {
    const List items = Iterate(value);
    if (items.empty()) return Value();
    Value best = items[0];
    for (const auto& item : items) {
      if (name == "min" ? Less(item, best) : Less(best, item)) best = item;
    }
    return best;
  }
  if (name == "sum") {
    Value total = arg(1, "start", Value(0));
    const Value attribute = arg(0, "attribute", Value::None());
    for (const auto& item : Iterate(value)) {
      const Value v = attribute.is_string() ? AttributeOf(item, attribute.as_string()) : item;
      total = (total.is_int() && v.is_int()) ? Value(total.as_int() + v.as_int())
                                             : Value(total.as_double() + v.as_double());
    }
    return total;
  }
  if (name == "wordcount") {
    return Value(static_cast<int64_t>(Split(value.Str(), Value::None(), -1).size()));
  }
  if (name == "format") {
    if (args.positional.size() == 1) return Value(PercentFormat(value.Str(), args.positional[0]));
    return Value(PercentFormat(value.Str(), Value::MakeList(args.positional)));
  }
  if (name == "attr") return AttributeOf(value, arg(0, "name", Value("")).Str());
  if (name == "center") {
    const auto width = static_cast<size_t>(arg(0, "width", Value(80)).as_int());
    const std::string s = value.Str();
    const size_t len = value.is_string() ? value.Length() : s.size();
    if (len >= width) return Value(s);
    const size_t total = width - len, left = total / 2 + (total & width & 1);
    return Value(std::string(left, ' ') + s + std::string(total - left, ' '));
  }
  Fail("no filter named '" + name + "'");
}

bool ApplyTest(const std::string& name, const Value& value, CallArgs& args) {
  auto other = [&]() {
    if (args.positional.empty()) Fail("test '" + name + "' needs an argument");
    return args.positional[0];
  };
  if (name == "defined") return !value.is_undefined();
  if (name == "undefined") return value.is_undefined();
  if (name == "none") return value.is_none();
  if (name == "string") return value.is_string();
  if (name == "number") return value.is_number();
  if (name == "integer") return value.is_int();
  if (name == "float") return value.is_float();
  if (name == "boolean") return value.is_bool();
  if (name == "true") return value.is_bool() && value.as_bool();
  if (name == "false") return value.is_bool() && !value.as_bool();
  if (name == "mapping") return value.is_dict();
  if (name == "sequence") return value.is_list() || value.is_string() || value.is_dict();
  if (name == "iterable") return value.is_list() || value.is_string() || value.is_dict();
  if (name == "callable") return value.is_function();
  if (name == "odd") return value.is_int() && (value.as_int() % 2 != 0);
  if (name == "even") return value.is_int() && (value.as_int() % 2 == 0);
  if (name == "divisibleby") {
    const int64_t d = other().as_int();
    return d != 0 && value.as_int() % d == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return Equals(value, other());
  if (name == "ne" || name == "!=") return !Equals(value, other());
  if (name == "lt" || name == "lessthan" || name == "<") return Less(value, other());
  if (name == "gt" || name == "greaterthan" || name == ">") return Less(other(), value);
  if (name == "le" || name == "<=") return !Less(other(), value);
  if (name == "ge" || name == ">=") return !Less(value, other());
  if (name == "in") {
    const Value container = other();
    if (container.is_string()) return container.as_string().find(value.Str()) != std::string::npos;
    if (container.is_dict()) return value.is_string() && container.Find(value.as_string());
    for (const auto& item : Iterate(container)) {
      if (Equals(item, value)) return true;
    }
    return false;
  }
  if (name == "sameas") {
    const Value o = other();
    if (value.is_none() || value.is_bool()) return Equals(value, o) && value.kind() == o.kind();
    return false;
  }
  if (name == "lower") return IsLower(value.Str());
  if (name == "upper") return IsUpper(value.Str());
  Fail("no test named '" + name + "'");
}

std::optional<Value> GetMethod(const Value& value, const std::string& name) {
  auto method = [](auto fn) { return std::optional<Value>(Value::MakeFunction(std::move(fn))); };
  if (value.is_string()) {
    const std::string s = value.as_string();
    if (name == "startswith" || name == "endswith") {
      const bool starts = name == "startswith";
      return method([s, starts](CallArgs& a) {
        const Value p = a.GetOr(0, "prefix", Value(""));
        const List options = p.is_list() ? p.as_list() : List{p};
        for (const auto& o : options) {
          const std::string& x = o.Str();
          if (starts ? s.starts_with(x) : s.ends_with(x)) return Value(true);
        }
        return Value(false);
      });
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const bool left = name != "rstrip", right = name != "lstrip";
      return method([s, left, right](CallArgs& a) {
        return Value(Strip(s, a.GetOr(0, "chars", Value::None()), left, right));
      });
    }
    if (name == "split" || name == "rsplit") {
      return method([s](CallArgs& a) {
        List out;
        for (auto& part : Split(s, a.GetOr(0, "sep", Value::None()),
                                a.GetOr(1, "maxsplit", Value(-1)).as_int())) {
          out.emplace_back(std::move(part));
        }
        return Value::MakeList(std::move(out));
      });
    }
    if (name == "splitlines") {
      return method([s](CallArgs&) {
        List out;
        size_t begin = 0;
        while (begin < s.size()) {
          const size_t nl = s.find('\n', begin);
          if (nl == std::string::npos) {
            out.emplace_back(s.substr(begin));
            break;
          }
          out.emplace_back(s.substr(begin, nl - begin));
          begin = nl + 1;
        }
        return Value::MakeList(std::move(out));
      });
    }
    if (name == "replace") {
      return method([s](CallArgs& a) {
        return Value(Replace(s, a.GetOr(0, "old", Value("")).Str(),
                             a.GetOr(1, "new", Value("")).Str(),
                             a.GetOr(2, "count", Value(-1)).as_int()));
      });
    }
    if (name == "upper") return method([s](CallArgs&) { return Value(Upper(s)); });
    if (name == "lower") return method([s](CallArgs&) { return Value(Lower(s)); });
    if (name == "title") return method([s](CallArgs&) { return Value(PyTitle(s)); });
    if (name == "capitalize") return method([s](CallArgs&) { return Value(Capitalize(s)); });
    if (name == "format") return method([s](CallArgs& a) { return Value(PyFormat(s, a)); });
    if (name == "join") {
      return method([s](CallArgs& a) {
        std::string out;
        bool first = true;
        for (const auto& item : Iterate(a.GetOr(0, "iterable", Value()))) {
          if (!first) out += s;
          first = false;
          out += item.Str();
        }
        return Value(std::move(out));
      });
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "count") {
      return method([s, name](CallArgs& a) {
        const std::string sub = a.GetOr(0, "sub", Value("")).Str();
        if (name == "count") {
          int64_t n = 0;
          for (size_t at = s.find(sub); !sub.empty() && at != std::string::npos;
               at = s.find(sub, at + sub.size()))
            ++n;
          return Value(n);
        }
        const size_t at = name == "rfind" ? s.rfind(sub) : s.find(sub);
        if (at == std::string::npos) {
          if (name == "index") Fail("substring not found");
          return Value(-1);
        }
        return Value(static_cast<int64_t>(CodePoints(s.substr(0, at)).size()));
      });
    }
    auto char_class = [&](auto pred) {
      return method([s, pred](CallArgs&) {
        if (s.empty()) return Value(false);
        for (char c : s) {
          if (!pred(static_cast<unsigned char>(c))) return Value(false);
        }
        return Value(true);
      });
    };
    if (name == "isdigit") return char_class([](unsigned char c) { return std::isdigit(c) != 0; });
    if (name == "isalpha")
      return char_class([](unsigned char c) { return std::isalpha(c) != 0 || c >= 0x80; });
    if (name == "isalnum")
      return char_class([](unsigned char c) { return std::isalnum(c) != 0 || c >= 0x80; });
    if (name == "isspace") return char_class([](unsigned char c) { return std::isspace(c) != 0; });
    if (name == "islower") return method([s](CallArgs&) { return Value(IsLower(s)); });
    if (name == "isupper") return method([s](CallArgs&) { return Value(IsUpper(s)); });
    return std::nullopt;
  }
  if (value.is_dict() && !value.is_namespace()) {
    if (name == "items") {
      return method([value](CallArgs& a) { return ApplyFilter("items", value, a); });
    }
    if (name == "keys")
      return method([value](CallArgs&) { return Value::MakeList(Iterate(value)); });
    if (name == "values") {
      return method([value](CallArgs&) {
        List out;
        for (const auto& [k, v] : value.as_dict()) out.push_back(v);
        return Value::MakeList(std::move(out));
      });
    }
    if (name == "get") {
      return method([value](CallArgs& a) {
        const Value* v = value.Find(a.GetOr(0, "key", Value("")).Str());
        return v ? *v : a.GetOr(1, "default", Value::None());
      });
    }
    return std::nullopt;
  }
  if (value.is_list()) {
    if (name == "index" || name == "count") {
      return method([value, name](CallArgs& a) {
        const Value x = a.GetOr(0, "value", Value());
        int64_t n = 0;
        for (size_t k = 0; k < value.as_list().size(); ++k) {
          if (!Equals(value.as_list()[k], x)) continue;
          if (name == "index") return Value(static_cast<int64_t>(k));
          ++n;
        }
        if (name == "index") Fail("value is not in list");
        return Value(n);
      });
    }
  }
  return std::nullopt;
}

Dict MakeGlobals(std::time_t now) {
  Dict g;
  g.emplace_back("raise_exception", Value::MakeFunction([](CallArgs& a) -> Value {
                   throw ChatTemplateError(a.GetOr(0, "message", Value("")).Str());
                 }));
  g.emplace_back("strftime_now", Value::MakeFunction([now](CallArgs& a) {
                   std::tm local{};
                   localtime_r(&now, &local);
                   char buf[256];
                   const std::string fmt = a.GetOr(0, "format", Value("")).Str();
                   const size_t n = std::strftime(buf, sizeof(buf), fmt.c_str(), &local);
                   return Value(std::string(buf, n));
                 }));
  g.emplace_back("range", Value::MakeFunction([](CallArgs& a) {
                   int64_t start = 0, stop = 0, step = 1;
                   if (a.positional.size() == 1) {
                     stop = a.positional[0].as_int();
                   } else if (a.positional.size() >= 2) {
                     start = a.positional[0].as_int();
                     stop = a.positional[1].as_int();
                     if (a.positional.size() >= 3) step = a.positional[2].as_int();
                   }
                   if (step == 0) Fail("range() arg 3 must not be zero");
                   List out;
                   for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
                     out.emplace_back(i);
                   return Value::MakeList(std::move(out));
                 }));
  g.emplace_back("namespace", Value::MakeFunction([](CallArgs& a) {
                   Dict items;
                   for (const auto& p : a.positional) {
                     if (p.is_dict())
                       items.insert(items.end(), p.as_dict().begin(), p.as_dict().end());
                   }
                   for (const auto& [k, v] : a.keyword) items.emplace_back(k, v);
                   return Value::MakeNamespace(std::move(items));
                 }));
  g.emplace_back("dict", Value::MakeFunction([](CallArgs& a) {
                   Dict items;
                   for (const auto& [k, v] : a.keyword) items.emplace_back(k, v);
                   return Value::MakeDict(std::move(items));
                 }));
  return g;
}

}  // namespace tg::chat::jinja
