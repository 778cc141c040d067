// A stale shard socket is removed; a live one (another server's) is refused; files are kept.
#include "launcher/socket_path.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace tg::launcher {
namespace {
namespace fs = std::filesystem;

// A bound unix socket at `path`; listening when `listen_too`.
int BindSocket(const std::string& path, bool listen_too) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  if (listen_too) {
    EXPECT_EQ(listen(fd, 4), 0);
  }
  return fd;
}

TEST(ClaimSocketPath, RemovesStaleRefusesLiveKeepsFiles) {
  const std::string base = "/tmp/tg-claim-" + std::to_string(getpid());
  ClaimSocketPath(base + "-absent");  // nothing there: fine

  const std::string stale = base + "-stale";
  close(BindSocket(stale, /*listen_too=*/false));  // the file stays, nobody answers
  ASSERT_TRUE(fs::exists(stale));
  ClaimSocketPath(stale);
  EXPECT_FALSE(fs::exists(stale));

  const std::string live = base + "-live";
  int fd = BindSocket(live, /*listen_too=*/true);
  try {
    ClaimSocketPath(live);
    ADD_FAILURE() << "a live socket must not be claimed";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("in use by another running server"), std::string::npos);
  }
  EXPECT_TRUE(fs::exists(live));
  close(fd);
  unlink(live.c_str());

  const std::string file = base + "-file";
  std::ofstream(file) << "data";
  EXPECT_THROW(ClaimSocketPath(file), Error);
  EXPECT_TRUE(fs::exists(file));
  fs::remove(file);
}

}  // namespace
}  // namespace tg::launcher
