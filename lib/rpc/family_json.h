#pragma once
// The wallet files vaultwatch imports vault families from. opvault-demo (jamesob/opvault-demo,
// the BIP-345 reference wallet) writes a config.json: a WalletMetadata object whose "config" is
// the VaultConfig that decides every vault of the wallet (docs/vault-families.md).

#include "crypto/secp.h"
#include "util/expected.h"
#include "vault/family.h"

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace vw::rpc {

struct OpvaultDemoWallet {
    vault::FamilySpec family;
    crypto::XOnlyPubKey recoveryauth_pubkey;
    std::optional<int> birthday_height;
};

//! Returns: the wallet of an opvault-demo config.json (the whole file, or its "config" object),
//! or the first problem, naming the field. Only the fields that decide the vaults are read.
Expected<OpvaultDemoWallet, std::string> ParseOpvaultDemoConfig(const boost::json::value& file);

//! opvault-demo's recovery-auth secret of a recovery phrase: PBKDF2-HMAC-SHA256(phrase UTF-8,
//! salt "OP_VAULT", 3,000,000 iterations). About a second of work, by design of the wallet.
std::array<uint8_t, 32> OpvaultDemoRecoveryAuthSecret(std::string_view phrase);

} // namespace vw::rpc
