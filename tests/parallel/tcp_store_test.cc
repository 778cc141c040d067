// The group's rendezvous store over loopback: values cross ranks, a get waits for its key, and
// the connections tell the group when a member is gone (no goodbye) as opposed to leaving.
#include "shard/parallel/tcp_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/error.h"

namespace tg::parallel {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Polls `failure` for up to 5 s; returns its last value.
template <typename Fn>
std::string WaitForFailure(Fn&& failure) {
  const auto deadline = std::chrono::steady_clock::now() + seconds(5);
  std::string text = failure();
  while (text.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
    text = failure();
  }
  return text;
}

TEST(TcpStoreTest, ValuesCrossRanksAndAGetWaitsForItsKey) {
  TcpStoreServer server("127.0.0.1", 0, 2);
  TcpStoreClient zero("127.0.0.1", server.port(), 0, 2, seconds(5));
  std::thread late([&] {
    TcpStoreClient one("127.0.0.1", server.port(), 1, 2, seconds(5));
    std::this_thread::sleep_for(milliseconds(200));
    one.Set("answer", {4, 2});
  });
  EXPECT_EQ(zero.Get("answer", seconds(5)), (StoreBytes{4, 2}));
  late.join();
  EXPECT_EQ(zero.local_address(), "127.0.0.1");
  try {
    zero.Get("never", milliseconds(100));
    ADD_FAILURE() << "a key nobody sets must time out";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
    EXPECT_NE(e.message().find("'never' was not set"), std::string::npos) << e.message();
  }
  EXPECT_EQ(server.Failure(), "");  // rank 1 left with a goodbye
}

TEST(TcpStoreTest, AMemberThatVanishesWithoutAGoodbyeFailsTheServer) {
  TcpStoreServer server("127.0.0.1", 0, 2);
  TcpStoreClient zero("127.0.0.1", server.port(), 0, 2, seconds(5));
  const pid_t child = fork();
  if (child == 0) {
    // Joins, then dies without running destructors (as kill -9 would).
    TcpStoreClient one("127.0.0.1", server.port(), 1, 2, seconds(5));
    one.Set("joined", {1});
    _exit(0);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(zero.Get("joined", seconds(5)), StoreBytes{1});
  const std::string failure = WaitForFailure([&] { return server.Failure(); });
  EXPECT_NE(failure.find("rank 1 left the group without a goodbye"), std::string::npos) << failure;
}

TEST(TcpStoreTest, AWatchingMemberLearnsThatRankZeroIsGone) {
  auto server = std::make_unique<TcpStoreServer>("127.0.0.1", 0, 2);
  TcpStoreClient one("127.0.0.1", server->port(), 1, 2, seconds(5));
  one.StartWatching();
  EXPECT_EQ(one.Failure(), "");
  server.reset();
  const std::string failure = WaitForFailure([&] { return one.Failure(); });
  EXPECT_NE(failure.find("closed the connection"), std::string::npos) << failure;
  EXPECT_THROW(one.Set("late", {}), Error);  // watching: the connection carries no requests
}

TEST(TcpStoreTest, DuplicateRanksAreRefusedByName) {
  TcpStoreServer server("127.0.0.1", 0, 3);
  TcpStoreClient first("127.0.0.1", server.port(), 2, 3, seconds(5));
  try {
    TcpStoreClient second("127.0.0.1", server.port(), 2, 3, seconds(5));
    ADD_FAILURE() << "a second rank 2 must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(e.message().find("two processes were started as rank 2"), std::string::npos)
        << e.message();
  }
}

TEST(TcpStoreTest, ABusyPortFailsAtOnceAndAnAbsentServerAtTheDeadline) {
  TcpStoreServer server("127.0.0.1", 0, 2);
  EXPECT_THROW(TcpStoreServer("127.0.0.1", server.port(), 2), Error);
  const auto start = std::chrono::steady_clock::now();
  try {
    TcpStoreClient orphan("127.0.0.1", 1, 1, 2, milliseconds(500));  // nothing listens on port 1
    ADD_FAILURE() << "no server: the client must give up";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
    EXPECT_NE(e.message().find("could not reach rank 0's rendezvous store at 127.0.0.1:1"),
              std::string::npos)
        << e.message();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3));
}

}  // namespace
}  // namespace tg::parallel
