#include "launcher/socket_path.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"

namespace tg::launcher {

void ClaimSocketPath(const std::string& path) {
  struct stat info;
  if (lstat(path.c_str(), &info) != 0) return;
  TG_CHECK(S_ISSOCK(info.st_mode), kInvalidArgument,
           path + " exists and is not a socket; choose another --shard-uds-path");
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  TG_CHECK(path.size() < sizeof(address.sun_path), kInvalidArgument,
           "socket path too long: " + path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool live =
      fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  if (fd >= 0) close(fd);
  TG_CHECK(!live, kInvalidArgument,
           path +
               " is in use by another running server; give this one its own "
               "--shard-uds-path (and --port, --master-port)");
  unlink(path.c_str());
}

}  // namespace tg::launcher
