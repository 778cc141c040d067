// text-gen-tokenize: the tokenizer and chat templates from the command line.
//   encode --tokenizer PATH [--add-special-tokens]    UTF-8 stdin -> JSON ids
//   decode --tokenizer PATH [--skip-special-tokens]   JSON ids stdin -> text
//   render-chat --template FILE [--add-generation-prompt] [--bos-token S] [--eos-token S]
//                                                     JSON messages stdin -> rendered text
// Exit status: 0 ok, 2 usage or load error, 3 the chat template raised (message on stderr).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "router/chat/chat_template.h"
#include "router/tokenizer/tokenizer.h"

namespace {

constexpr int kUsageError = 2;
constexpr int kTemplateRaised = 3;

struct Args {
  std::string command, tokenizer, template_file, bos_token, eos_token;
  bool add_special_tokens = false, skip_special_tokens = false, add_generation_prompt = false;
};

void Usage() {
  std::cerr << "usage: text-gen-tokenize encode --tokenizer PATH [--add-special-tokens]\n"
               "       text-gen-tokenize decode --tokenizer PATH [--skip-special-tokens]\n"
               "       text-gen-tokenize render-chat --template FILE [--add-generation-prompt]\n"
               "                         [--bos-token S] [--eos-token S]\n"
               "PATH: a tokenizer.json, a directory holding one, or a .gguf file.\n";
}

bool ParseArgs(int argc, char** argv, Args& args) {
  if (argc < 2) return false;
  args.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    if (a == "--tokenizer") {
      if (!value(args.tokenizer)) return false;
    } else if (a == "--template") {
      if (!value(args.template_file)) return false;
    } else if (a == "--bos-token") {
      if (!value(args.bos_token)) return false;
    } else if (a == "--eos-token") {
      if (!value(args.eos_token)) return false;
    } else if (a == "--add-special-tokens") {
      args.add_special_tokens = true;
    } else if (a == "--skip-special-tokens") {
      args.skip_special_tokens = true;
    } else if (a == "--add-generation-prompt") {
      args.add_generation_prompt = true;
    } else {
      std::cerr << "unknown argument: " << a << "\n";
      return false;
    }
  }
  if (args.command == "encode" || args.command == "decode") return !args.tokenizer.empty();
  if (args.command == "render-chat") return !args.template_file.empty();
  return false;
}

std::string ReadAll(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int Run(const Args& args) {
  if (args.command == "render-chat") {
    std::ifstream file(args.template_file, std::ios::binary);
    TG_CHECK(file.good(), kNotFound, "cannot open template " + args.template_file);
    tg::chat::ChatTemplate tmpl(ReadAll(file));
    tg::chat::ChatRenderOptions options;
    options.add_generation_prompt = args.add_generation_prompt;
    options.bos_token = args.bos_token;
    options.eos_token = args.eos_token;
    const std::string rendered =
        tmpl.Render(nlohmann::ordered_json::parse(ReadAll(std::cin)), options);
    std::cout.write(rendered.data(), static_cast<std::streamsize>(rendered.size()));
    return 0;
  }
  const auto tokenizer = tg::tokenizer::Tokenizer::Load(args.tokenizer);
  if (args.command == "encode") {
    const std::string text = ReadAll(std::cin);
    std::cout << nlohmann::json(tokenizer->Encode(text, args.add_special_tokens)).dump() << "\n";
    return 0;
  }
  const auto ids = nlohmann::json::parse(ReadAll(std::cin)).get<std::vector<uint32_t>>();
  const std::string text = tokenizer->Decode(ids, args.skip_special_tokens);
  std::cout.write(text.data(), static_cast<std::streamsize>(text.size()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, args)) {
    Usage();
    return kUsageError;
  }
  try {
    return Run(args);
  } catch (const tg::chat::ChatTemplateError& e) {
    std::cerr << e.message() << "\n";
    return kTemplateRaised;
  } catch (const tg::Error& e) {
    std::cerr << "error: " << e.message() << "\n";
    return kUsageError;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kUsageError;
  }
}
