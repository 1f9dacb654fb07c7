#pragma once
// BIP-32 extended public keys: parsing (xpub/tpub), serialization and public child derivation
// (CKDpub). The point arithmetic is libsecp256k1's; HMAC-SHA512 and RIPEMD-160 are OpenSSL's.
// Only what a watchtower needs: it never holds a private extended key.

#include "crypto/secp.h"
#include "util/bytes.h"
#include "util/expected.h"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vw::crypto {

constexpr uint32_t kHardened = 0x80000000;

enum class ExtKeyError {
    Encoding,    //!< not Base58Check, or not 78 bytes
    Version,     //!< not an extended public key (xpub / tpub version bytes)
    Depth,       //!< depth 0 with a parent fingerprint or a child number
    Key,         //!< not a valid compressed point
    Hardened,    //!< a hardened child asked of a public key
    InvalidChild //!< the 2^-127 case: this index yields no key (BIP-32 says: use the next)
};
std::string_view ToString(ExtKeyError e);

struct ExtPubKey {
    std::array<uint8_t, 4> version{};
    uint8_t depth{0};
    std::array<uint8_t, 4> parent_fingerprint{};
    uint32_t child{0};
    std::array<uint8_t, 32> chaincode{};
    PubKey key;

    //! Returns: the key of an "xpub..." or "tpub..." string (mainnet or test version bytes).
    static Expected<ExtPubKey, ExtKeyError> Parse(std::string_view s);
    //! Returns: the Base58Check serialization (as it was parsed: same version bytes).
    std::string Encode() const;
    //! The first 4 bytes of HASH160 of the key: the children's parent fingerprint.
    std::array<uint8_t, 4> Fingerprint() const;
    //! Returns: the non-hardened child i (CKDpub).
    Expected<ExtPubKey, ExtKeyError> Derive(uint32_t i) const;
    //! Returns: the key at a path of non-hardened steps.
    Expected<ExtPubKey, ExtKeyError> Derive(std::span<const uint32_t> path) const;
    friend bool operator==(const ExtPubKey&, const ExtPubKey&) = default;
};

//! Returns: the steps of a path "m/0/1'/2h" or "0/1" ("m" and "" are the empty path), or nullopt
//! when it is malformed or a step is out of range. Hardened steps carry kHardened.
std::optional<std::vector<uint32_t>> ParseBip32Path(std::string_view s);
std::string FormatBip32Path(std::span<const uint32_t> path, bool with_m = true);

} // namespace vw::crypto
