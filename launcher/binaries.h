// Finding the sibling programs (text-gen-shard, text-gen-router) the launcher starts.
#pragma once

#include <filesystem>
#include <string>

namespace tg::launcher {

// Looks next to the launcher's own executable (an installed bin/ directory), then in ../shard/
// and ../router/ relative to it (a CMake build tree), then on $PATH. Throws tg::Error(kNotFound)
// listing every place it looked.
std::filesystem::path FindSiblingBinary(const std::string& name);

// The same search from an explicit directory and PATH value, for tests.
std::filesystem::path FindSiblingBinary(const std::string& name,
                                        const std::filesystem::path& self_dir,
                                        const std::string& path_env);

}  // namespace tg::launcher
