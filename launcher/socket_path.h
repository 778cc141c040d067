// Claiming a shard's unix socket path before the shard starts.
#pragma once

#include <string>

namespace tg::launcher {

// A socket file left by a killed shard would make the Health probe talk to nobody, so it is
// removed. A socket that something still answers on belongs to another running server, and
// removing it would cut that server off, so that throws tg::Error(kInvalidArgument) naming
// --shard-uds-path. Anything that is not a socket is never touched (also an error).
void ClaimSocketPath(const std::string& path);

}  // namespace tg::launcher
