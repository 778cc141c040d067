#include "common/flags.h"

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <type_traits>

#include "common/error.h"

namespace tg {
namespace {

[[noreturn]] void Fail(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, message);
}

template <typename T>
T ParseNumber(const std::string& flag, const std::string& text) {
  T value{};
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  std::from_chars_result result;
  if constexpr (std::is_floating_point_v<T>) {
    result = std::from_chars(begin, end, value);
  } else {
    if constexpr (std::is_unsigned_v<T>) {
      if (!text.empty() && text[0] == '-') Fail("--" + flag + " must not be negative: " + text);
    }
    result = std::from_chars(begin, end, value);
  }
  if (result.ec != std::errc() || result.ptr != end || text.empty()) {
    Fail("--" + flag + " expects a number, got '" + text + "'");
  }
  return value;
}

bool ParseBool(const std::string& flag, const std::string& text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  Fail("--" + flag + " expects true or false, got '" + text + "'");
}

template <typename T>
std::string DefaultText(const T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    return value.empty() ? "" : value;
  } else if constexpr (std::is_same_v<T, bool>) {
    return value ? "true" : "false";
  } else {
    std::ostringstream out;
    out << value;
    return out.str();
  }
}

}  // namespace

FlagParser::FlagParser(std::string program, std::string description)
    : program_(std::move(program)),
      description_(std::move(description)),
      getenv_([](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
      }) {}

template <typename T>
void FlagParser::AddParsed(std::string name, T* field, std::string help, FlagOptions options) {
  Flag flag;
  flag.name = name;
  flag.help = std::move(help);
  flag.options = std::move(options);
  if constexpr (std::is_same_v<T, bool>) {
    flag.is_bool = true;
    flag.default_text = DefaultText(*field);
    flag.set = [field, name](const std::string& v) { *field = ParseBool(name, v); };
  } else if constexpr (std::is_same_v<T, std::string>) {
    flag.default_text = DefaultText(*field);
    flag.set = [field](const std::string& v) { *field = v; };
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    flag.set = [field, first = true](const std::string& v) mutable {
      if (first) field->clear();  // the first occurrence replaces the default list
      first = false;
      std::stringstream parts(v);
      for (std::string part; std::getline(parts, part, ',');) {
        if (!part.empty()) field->push_back(part);
      }
    };
  } else if constexpr (std::is_same_v<T, std::optional<std::string>>) {
    flag.set = [field](const std::string& v) { *field = v; };
  } else if constexpr (requires { typename T::value_type; }) {
    using V = typename T::value_type;
    flag.set = [field, name](const std::string& v) { *field = ParseNumber<V>(name, v); };
  } else {
    flag.default_text = DefaultText(*field);
    flag.set = [field, name](const std::string& v) { *field = ParseNumber<T>(name, v); };
  }
  if (Find(name) != nullptr) throw Error(ErrorKind::kInternal, "flag --" + name + " added twice");
  flags_.push_back(std::move(flag));
}

void FlagParser::Add(std::string n, std::string* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}
void FlagParser::Add(std::string n, int* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}
void FlagParser::Add(std::string n, int64_t* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}
void FlagParser::Add(std::string n, uint32_t* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}
void FlagParser::Add(std::string n, uint64_t* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}
void FlagParser::Add(std::string n, double* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}
void FlagParser::Add(std::string n, float* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}
void FlagParser::Add(std::string n, bool* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}
void FlagParser::Add(std::string n, std::optional<std::string>* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}
void FlagParser::Add(std::string n, std::optional<uint32_t>* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}
void FlagParser::Add(std::string n, std::optional<uint64_t>* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}
void FlagParser::Add(std::string n, std::optional<double>* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}
void FlagParser::Add(std::string n, std::vector<std::string>* f, std::string h, FlagOptions o) {
  AddParsed(std::move(n), f, std::move(h), std::move(o));
}

FlagParser::Flag* FlagParser::Find(std::string_view name) {
  for (Flag& flag : flags_) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

bool FlagParser::WasSet(std::string_view name) const {
  for (const Flag& flag : flags_) {
    if (flag.name == name) return flag.seen;
  }
  return false;
}

ParseResult FlagParser::Parse(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return Parse(args);
}

ParseResult FlagParser::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") return ParseResult::kHelp;
    if (arg == "--version" || arg == "-V") return ParseResult::kVersion;
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      positionals_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    Flag* flag = Find(name);
    if (flag == nullptr) Fail("unknown flag --" + name + " (see --help)");
    if (!value) {
      bool next_is_value = i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0;
      if (flag->is_bool && !(next_is_value && (args[i + 1] == "true" || args[i + 1] == "false"))) {
        value = "true";
      } else if (next_is_value) {
        value = args[++i];
      } else {
        Fail("--" + name + " needs a value");
      }
    }
    flag->set(*value);
    flag->seen = true;
  }
  for (Flag& flag : flags_) {
    if (!flag.seen && !flag.options.env.empty()) {
      if (auto value = getenv_(flag.options.env); value && !value->empty()) {
        try {
          flag.set(*value);
        } catch (const Error& e) {
          Fail(e.message() + " (from $" + flag.options.env + ")");
        }
        flag.seen = true;
      }
    }
    if (flag.options.required && !flag.seen) {
      Fail("--" + flag.name + " is required" +
           (flag.options.env.empty() ? "" : " (or set $" + flag.options.env + ")"));
    }
  }
  return ParseResult::kRun;
}

std::string FlagParser::Help() const {
  std::ostringstream out;
  out << description_ << "\n\nUsage: " << program_ << " [OPTIONS]\n\nOptions:\n";
  for (const Flag& flag : flags_) {
    std::string value_name = flag.options.value_name;
    if (value_name.empty() && !flag.is_bool) value_name = "VALUE";
    out << "  --" << flag.name;
    if (!flag.is_bool) out << " <" << value_name << ">";
    out << "\n      " << flag.help;
    if (!flag.default_text.empty()) out << " [default: " << flag.default_text << "]";
    if (!flag.options.env.empty()) out << " [env: " << flag.options.env << "]";
    if (flag.options.required) out << " (required)";
    out << "\n";
  }
  out << "  -h, --help\n      Print this help\n  -V, --version\n      Print the version\n";
  return out.str();
}

std::optional<int> ParseProgramFlags(FlagParser& flags, int argc, const char* const* argv,
                                     const std::string& program, const std::string& version) {
  try {
    switch (flags.Parse(argc, argv)) {
      case ParseResult::kHelp:
        std::cout << flags.Help();
        return 0;
      case ParseResult::kVersion:
        std::cout << program << " " << version << "\n";
        return 0;
      case ParseResult::kRun:
        break;
    }
    if (!flags.positionals().empty()) {
      throw Error(ErrorKind::kInvalidArgument,
                  "unexpected argument '" + flags.positionals().front() + "'");
    }
  } catch (const Error& e) {
    std::cerr << program << ": " << e.message() << "\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace tg
