// Encode throughput of tg::tokenizer::Tokenizer on one thread (run by bench_encode.py beside HF
// `tokenizers`). Not a ctest test.
//   bench_encode --tokenizer PATH --input FILE [--repeat N] [--ids-out F]  -> JSON timing
//   bench_encode --tokenizer PATH --input FILE --ids-per-line   -> one JSON id array per line
//   bench_encode --tokenizer PATH --input FILE --decode-per-line  -> one JSON string per line
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "router/tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  std::string tokenizer_path, input_path;
  int repeat = 3;
  bool ids_per_line = false;
  bool decode_per_line = false;
  std::string ids_out;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--tokenizer") && i + 1 < argc) {
      tokenizer_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--input") && i + 1 < argc) {
      input_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) {
      repeat = std::stoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--ids-out") && i + 1 < argc) {
      ids_out = argv[++i];
    } else if (!std::strcmp(argv[i], "--decode-per-line")) {
      decode_per_line = true;
    } else if (!std::strcmp(argv[i], "--ids-per-line")) {
      ids_per_line = true;
    } else {
      std::cerr << "usage: bench_encode --tokenizer PATH --input FILE [--repeat N] [--ids-out F]"
                   " [--ids-per-line] [--decode-per-line]\n";
      return 2;
    }
  }
  const auto tok = tg::tokenizer::Tokenizer::Load(tokenizer_path);
  std::ifstream in(input_path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (decode_per_line) {  // each line a JSON id array -> the decoded text as a JSON string
    size_t begin = 0;
    while (begin < text.size()) {
      size_t end = text.find('\n', begin);
      if (end == std::string::npos) end = text.size();
      const auto ids =
          nlohmann::json::parse(text.substr(begin, end - begin)).get<std::vector<uint32_t>>();
      std::cout << nlohmann::json(tok->Decode(ids, false)).dump() << "\n";
      begin = end + 1;
    }
    return 0;
  }
  if (ids_per_line) {
    size_t begin = 0;
    while (begin < text.size()) {
      size_t end = text.find('\n', begin);
      if (end == std::string::npos) end = text.size();
      const auto line = nlohmann::json::parse(text.substr(begin, end - begin)).get<std::string>();
      std::cout << nlohmann::json(tok->Encode(line, false)).dump() << "\n";
      begin = end + 1;
    }
    return 0;
  }
  nlohmann::json runs = nlohmann::json::array();
  std::vector<uint32_t> ids;
  for (int r = 0; r < repeat; ++r) {
    const auto start = std::chrono::steady_clock::now();
    ids = tok->Encode(text, false);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    runs.push_back(static_cast<double>(text.size()) / 1e6 / took.count());
  }
  const size_t tokens = ids.size();
  if (!ids_out.empty()) std::ofstream(ids_out) << nlohmann::json(ids).dump();
  std::cout << nlohmann::json{{"bytes", text.size()}, {"tokens", tokens}, {"mb_per_s", runs}}.dump()
            << "\n";
  return 0;
}
