// The error types shared by shard, router and launcher (STYLE.md, "three error tiers").
//
// Kernels return a status; everything above them throws tg::Error (or a subclass), which carries
// the file and line where it was raised. A RequestError also carries the request id, so one bad
// request fails alone and never takes its batch down. Each boundary (gRPC, HTTP, main) converts
// errors to its own form in exactly one function.
#pragma once

#include <cstdint>
#include <source_location>
#include <stdexcept>
#include <string>

namespace tg {

// What went wrong, coarse enough for a boundary to map to a status code.
enum class ErrorKind {
  kInvalidArgument,    // the caller's input is wrong (HTTP 422, gRPC INVALID_ARGUMENT)
  kNotFound,           // a file, model or tensor that should exist does not
  kUnsupported,        // valid input we do not handle (an architecture, a dtype)
  kCorruptFile,        // a model or tokenizer file that violates its format
  kResourceExhausted,  // out of KV blocks, memory, queue slots
  kUnavailable,        // a peer (shard, hub) cannot be reached (HTTP 424: generation failed)
  kNotReady,           // this server takes no requests now: warming up, draining (HTTP 503)
  kInternal,           // a bug or a failure that leaves the process able to serve
  kDeviceLost,         // the device context is poisoned (illegal address, ECC...): only exit helps
};

const char* ToString(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message,
        std::source_location where = std::source_location::current());

  ErrorKind kind() const { return kind_; }
  // The message without the location, for users.
  const std::string& message() const { return message_; }
  const char* file() const { return file_; }
  int line() const { return line_; }

 private:
  ErrorKind kind_;
  std::string message_;
  const char* file_;
  int line_;
};

// A failure that belongs to one request of a batch.
class RequestError : public Error {
 public:
  RequestError(uint64_t request_id, ErrorKind kind, const std::string& message,
               std::source_location where = std::source_location::current());
  uint64_t request_id() const { return request_id_; }

 private:
  uint64_t request_id_;
};

}  // namespace tg

// Throws tg::Error(kind, message) when cond is false. The message is only built on failure.
#define TG_CHECK(cond, kind, message)                      \
  do {                                                     \
    if (!(cond)) [[unlikely]] {                            \
      throw ::tg::Error(::tg::ErrorKind::kind, (message)); \
    }                                                      \
  } while (0)
