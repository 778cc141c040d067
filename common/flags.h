// A small typed command-line parser with environment fallbacks and a generated --help.
//
// Each binary binds flags to the fields of its typed config struct:
//   FlagParser flags("text-gen-shard", "Serves one rank of a model over gRPC.");
//   flags.Add("model-id", &config.model_id, "Model directory or .gguf file", {.env = "MODEL_ID"});
//   if (flags.Parse(argc, argv) == ParseResult::kHelp) { std::cout << flags.Help(); return 0; }
// Precedence: command line, then the environment variable, then the field's initial value.
// `--name value` and `--name=value` are both accepted; booleans also take a bare `--name`.
// Errors (unknown flag, bad number, missing value or required flag) throw tg::Error.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tg {

struct FlagOptions {
  std::string env;         // environment variable consulted when the flag is absent
  bool required = false;   // error if neither the flag nor the variable is given
  std::string value_name;  // shown in --help, e.g. "PATH"
};

enum class ParseResult { kRun, kHelp, kVersion };

class FlagParser {
 public:
  FlagParser(std::string program, std::string description);

  void Add(std::string name, std::string* field, std::string help, FlagOptions options = {});
  void Add(std::string name, int* field, std::string help, FlagOptions options = {});
  void Add(std::string name, int64_t* field, std::string help, FlagOptions options = {});
  void Add(std::string name, uint32_t* field, std::string help, FlagOptions options = {});
  void Add(std::string name, uint64_t* field, std::string help, FlagOptions options = {});
  void Add(std::string name, double* field, std::string help, FlagOptions options = {});
  void Add(std::string name, float* field, std::string help, FlagOptions options = {});
  void Add(std::string name, bool* field, std::string help, FlagOptions options = {});
  void Add(std::string name, std::optional<std::string>* field, std::string help,
           FlagOptions options = {});
  void Add(std::string name, std::optional<uint32_t>* field, std::string help,
           FlagOptions options = {});
  void Add(std::string name, std::optional<uint64_t>* field, std::string help,
           FlagOptions options = {});
  void Add(std::string name, std::optional<double>* field, std::string help,
           FlagOptions options = {});
  // Repeatable; each occurrence may also hold a comma-separated list.
  void Add(std::string name, std::vector<std::string>* field, std::string help,
           FlagOptions options = {});

  // Parses argv; arguments not starting with "--" are collected as positionals.
  ParseResult Parse(int argc, const char* const* argv);
  ParseResult Parse(const std::vector<std::string>& args);

  const std::vector<std::string>& positionals() const { return positionals_; }
  // True when the flag was given on the command line or through its environment variable.
  bool WasSet(std::string_view name) const;
  std::string Help() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    FlagOptions options;
    bool is_bool = false;
    std::string default_text;
    std::function<void(const std::string&)> set;
    bool seen = false;
  };
  template <typename T>
  void AddParsed(std::string name, T* field, std::string help, FlagOptions options);
  Flag* Find(std::string_view name);

  std::string program_;
  std::string description_;
  std::vector<Flag> flags_;
  std::vector<std::string> positionals_;
  const std::function<std::optional<std::string>(const std::string&)> getenv_;
};

// The command-line step of a program's main(): parses argv, prints --help or --version to stdout,
// and refuses positional arguments. Returns the exit code when main() should stop now (0 after
// help or version, 2 after printing "PROGRAM: reason" to stderr), nothing when it should run.
std::optional<int> ParseProgramFlags(FlagParser& flags, int argc, const char* const* argv,
                                     const std::string& program, const std::string& version);

}  // namespace tg
