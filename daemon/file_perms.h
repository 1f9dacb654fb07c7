#pragma once
// Start-up checks on what holds secrets: the datadir (the vault registry, webhook secrets, the
// cookie) and key files must belong to the user the daemon runs as and be closed to others, as
// ssh insists for ~/.ssh. A mistake here is refused with the command that fixes it.

#include <filesystem>
#include <optional>
#include <string>

namespace vw::daemon {

//! Returns: why `dir` is not a private directory (owned by the effective user, no write access
//! for others), or nullopt. `what` names it in the message ("datadir").
std::optional<std::string> CheckPrivateDir(const std::filesystem::path& dir, const std::string& what);

//! Returns: why `file` is not a private file (a regular file owned by the effective user, mode
//! 0600 or stricter), or nullopt. A file that does not exist passes (it will be created 0600).
std::optional<std::string> CheckPrivateFile(const std::filesystem::path& file, const std::string& what);

} // namespace vw::daemon
