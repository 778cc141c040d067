// The engine's delivery thread: callbacks run off the calling thread, each request's in order,
// nothing before its Flush, everything by Stop; the result a route may read (first event, last
// event) is a copy that outlives the engine's own.
#include "router/engine/delivery.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tg::engine {
namespace {

struct Log {
  std::mutex mutex;
  std::vector<std::string> lines;
  std::vector<std::thread::id> threads;

  void Add(std::string line) {
    std::lock_guard lock(mutex);
    lines.push_back(std::move(line));
    threads.push_back(std::this_thread::get_id());
  }
  size_t size() {
    std::lock_guard lock(mutex);
    return lines.size();
  }
};

Callbacks Recording(Log& log, const std::string& name) {
  Callbacks c;
  c.on_token = [&log, name](const TokenEvent& event, const GenerationResult* done) {
    std::string line = name + ":" + std::to_string(event.index) + ":" + event.token.text;
    if (event.so_far) line += ":so_far=" + event.so_far->generated_text;
    if (done) line += ":done=" + done->generated_text;
    log.Add(line);
  };
  c.on_error = [&log, name](ErrorKind, const std::string& message) {
    log.Add(name + ":error:" + message);
  };
  return c;
}

TokenEvent Token(uint32_t index, const std::string& text, const GenerationResult* so_far) {
  TokenEvent event;
  event.index = index;
  event.token.text = text;
  event.so_far = so_far;
  return event;
}

TEST(DeliveryTest, RunsCallbacksOffTheEngineThreadInOrderAfterFlush) {
  Log log;
  Delivery delivery;
  Callbacks a = delivery.Wrap(Recording(log, "a"));
  Callbacks b = delivery.Wrap(Recording(log, "b"));
  GenerationResult ra;
  GenerationResult rb;
  ra.generated_text = "He";
  a.on_token(Token(0, "He", &ra), nullptr);
  rb.generated_text = "x";
  b.on_token(Token(0, "x", &rb), nullptr);
  ra.generated_text = "Hel";
  a.on_token(Token(1, "l", &ra), nullptr);
  // Queued only: nothing runs before the engine hands the step over.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(log.size(), 0u);
  delivery.Flush();
  ra.generated_text = "Hello";
  a.on_token(Token(2, "lo", &ra), &ra);
  b.on_error(ErrorKind::kUnavailable, "shard gone");
  // The engine's result changes after the call; the route must see it as it was.
  ra.generated_text = "overwritten";
  rb.generated_text = "overwritten";
  delivery.Stop();
  const std::vector<std::string> expected = {
      "a:0:He:so_far=He",  // first event: the result so far travels with it
      "b:0:x:so_far=x",
      "a:1:l",  // middle events carry no result
      "a:2:lo:so_far=Hello:done=Hello",
      "b:error:shard gone",
  };
  EXPECT_EQ(log.lines, expected);
  for (std::thread::id id : log.threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(DeliveryTest, AFailingCallbackDoesNotStopTheOthers) {
  Log log;
  Delivery delivery;
  Callbacks failing;
  failing.on_token = [](const TokenEvent&, const GenerationResult*) {
    throw std::runtime_error("client gone");
  };
  Callbacks bad = delivery.Wrap(std::move(failing));
  Callbacks good = delivery.Wrap(Recording(log, "good"));
  GenerationResult r;
  bad.on_token(Token(0, "a", &r), nullptr);
  good.on_token(Token(0, "b", &r), nullptr);
  delivery.Flush();
  delivery.Stop();
  EXPECT_EQ(log.lines, std::vector<std::string>{"good:0:b:so_far="});
}

TEST(DeliveryTest, StopDeliversWhatWasNotFlushedYet) {
  Log log;
  auto delivery = std::make_unique<Delivery>();
  Callbacks a = delivery->Wrap(Recording(log, "a"));
  a.on_error(ErrorKind::kNotReady, "the server is shutting down");
  delivery.reset();  // the destructor stops, delivering first
  EXPECT_EQ(log.lines, std::vector<std::string>{"a:error:the server is shutting down"});
}

}  // namespace
}  // namespace tg::engine
