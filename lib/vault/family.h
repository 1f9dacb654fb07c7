#pragma once
// A vault family: the vaults of one BIP-345 vault wallet, registered once. Member i is the
// opvault vault whose trigger key is the i-th child of the wallet's trigger xpub (BIP-32 public
// derivation); everything else is shared (the shape of jamesob/opvault-demo, docs/vault-families.md):
//   internal key K, recovery scriptPubKey R, optional recovery-auth key A, spend delay d;
//   leaves (depth 1 each): recover `[20 A ad] 20 H(R) bc` and trigger `20 T_i ad <d> 52 03b275b3 bb`.
// Its text form, in the spirit of output descriptors and with BIP-380's checksum:
//   opvault(<K hex>,<R hex>,<A hex or "noauth">,<d>,<xpub>[/<step>]*/*)#<checksum>

#include "crypto/bip32.h"
#include "crypto/secp.h"
#include "util/bytes.h"
#include "util/expected.h"
#include "vault/opvault.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vw::vault {

struct FamilySpec {
    crypto::XOnlyPubKey internal_key;
    Bytes recovery_spk;
    std::optional<crypto::XOnlyPubKey> recovery_auth_key;
    int64_t spend_delay{0};
    crypto::ExtPubKey trigger_xpub;
    std::vector<uint32_t> trigger_path; //!< non-hardened steps before the member index
    friend bool operator==(const FamilySpec&, const FamilySpec&) = default;
};

//! Returns: member i's vault, or why it has none (an index BIP-32 skips, a path step that is
//! hardened, a delay no trigger leaf can carry).
Expected<VaultSpec, std::string> MemberSpec(const FamilySpec& f, uint32_t index);

//! The family's text form with its checksum (the inverse of ParseFamily).
std::string FormatFamily(const FamilySpec& f);
//! Returns: the family of a text form; the checksum is required.
Expected<FamilySpec, std::string> ParseFamily(std::string_view text);

//! The key-path-only taproot output key of an x-only key (BIP-341 with no script tree, as
//! BIP-86): what opvault-demo makes of its recovery key, for both its recovery output and the
//! vaults' internal key.
crypto::XOnlyPubKey KeyPathOnlyOutputKey(const crypto::XOnlyPubKey& k);

//! opvault-demo's VaultConfig: the x-only recovery key P_r, the recovery-auth key P_a, the spend
//! delay, the trigger xpub and its path prefix ("m/0"). Its family: K = R's key =
//! KeyPathOnlyOutputKey(P_r), R = OP_1 <K>, A = P_a.
Expected<FamilySpec, std::string> OpvaultDemoFamily(const crypto::XOnlyPubKey& recovery_pubkey, const crypto::XOnlyPubKey& recoveryauth_pubkey,
                                                    int64_t spend_delay, std::string_view trigger_xpub, std::string_view path_prefix);

} // namespace vw::vault
