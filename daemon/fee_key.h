#pragma once
// The fee wallet's key file: 64 hex characters (the secret), owner-only (0600). Created with
// fresh randomness at the first start; an operator imports a key by putting its own file there.
// The secret never reaches a log line, an RPC answer or an error message.

#include "util/expected.h"
#include "vault/fee_wallet.h"

#include <filesystem>
#include <string>

namespace vw::daemon {

//! Returns: the wallet in path, creating the file (O_EXCL, 0600, fsynced) if it does not exist;
//! or an operator-facing error (unreadable, not 64 hex characters, readable by others).
//! created: set to whether a new key was generated.
Expected<vault::FeeWallet, std::string> LoadOrCreateFeeWallet(const std::filesystem::path& path, bool* created = nullptr);

} // namespace vw::daemon
