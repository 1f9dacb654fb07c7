#pragma once
// Start-up checks on what holds secrets: the datadir (the vault registry, webhook secrets, the
// cookie) and key files must belong to the user the daemon runs as and be closed to others, as
// ssh insists for ~/.ssh. A mistake here is refused with the command that fixes it.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace vw::daemon {

//! Returns: why `dir` is not a private directory (owned by the effective user, no write access
//! for others), or nullopt. `what` names it in the message ("datadir").
std::optional<std::string> CheckPrivateDir(const std::filesystem::path& dir, const std::string& what);

//! Returns: why `file` is not a private file (a regular file owned by the effective user, mode
//! 0600 or stricter), or nullopt. A file that does not exist passes (it will be created 0600).
std::optional<std::string> CheckPrivateFile(const std::filesystem::path& file, const std::string& what);

//! Returns: why what arrives on the ZMQ `endpoint` could come from someone other than the node,
//! or nullopt when it cannot. Only an ipc:// socket qualifies: one whose directory only its owner
//! (or root) can write, below directories that only their owners, root or a sticky bit keep
//! others from renaming. Whoever bound it then runs as the socket directory's owner (the user
//! bitcoind runs as) or as root, and could rewrite the node itself. A TCP port can be taken by
//! any local process before bitcoind binds it.
std::optional<std::string> CheckNodeOnlySocket(std::string_view endpoint);

} // namespace vw::daemon
