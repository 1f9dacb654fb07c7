#pragma once
// A small misuse-resistant facade over libsecp256k1 (schnorrsig + extrakeys).
// One randomised signing context is created on first use and is const afterwards, so it is safe
// to share between threads. Misuse of the library (illegal arguments) is a bug: it aborts.

#include "util/bytes.h"
#include "util/expected.h"
#include "util/uint256.h"

#include <array>
#include <optional>

namespace vw::crypto {

//! A BIP-340 x-only public key, guaranteed to be a valid curve point's x coordinate.
class XOnlyPubKey
{
public:
    //! Returns: the key if the 32 bytes are the x coordinate of a curve point, else nullopt.
    static std::optional<XOnlyPubKey> Parse(ByteSpan bytes32);
    //! Returns: the key of 32 bytes that Parse() accepted before, without the curve check (a field
    //! square root, the largest cost of a cold start after the tweak). Only for bytes read back
    //! from our own store and bound to their vault by a hash (vault::DecodeOutputKeyCache).
    //! Pre: bytes32.size() == 32.
    static XOnlyPubKey FromTrusted(ByteSpan bytes32);
    const std::array<uint8_t, 32>& bytes() const { return m_bytes; }
    ByteSpan span() const { return {m_bytes.data(), 32}; }
    friend bool operator==(const XOnlyPubKey&, const XOnlyPubKey&) = default;

private:
    XOnlyPubKey() = default;
    std::array<uint8_t, 32> m_bytes{};
};

//! A full (compressed, 33-byte) public key: what BIP-32 derives; its x coordinate is what
//! tapscript uses.
class PubKey
{
public:
    //! Returns: the key if the 33 bytes are a compressed encoding of a curve point, else nullopt.
    static std::optional<PubKey> Parse(ByteSpan bytes33);
    const std::array<uint8_t, 33>& bytes() const { return m_bytes; }
    ByteSpan span() const { return {m_bytes.data(), 33}; }
    XOnlyPubKey XOnly() const;
    //! Returns: P + t*G, or nullopt if t >= n or the sum is infinity (BIP-32: skip the index).
    std::optional<PubKey> TweakAdd(ByteSpan tweak32) const;
    friend bool operator==(const PubKey&, const PubKey&) = default;

private:
    PubKey() = default;
    std::array<uint8_t, 33> m_bytes{};
};

//! A tweaked output key and the parity of its y coordinate (BIP-341 output key).
struct TweakedKey {
    std::array<uint8_t, 32> xonly{};
    int parity{0};
};

enum class TweakError {
    TweakOutOfRange,
    NotAKey, //!< TweakAddUnparsed: the 32 bytes are not the x coordinate of a curve point
};

//! Returns: Q = P + t*G as (x(Q), parity). Fails if t >= n or the result is infinity.
Expected<TweakedKey, TweakError> TweakAdd(const XOnlyPubKey& p, const Uint256& tweak);
//! The same for 32 bytes not yet known to be a key (read from a witness): the one curve check the
//! tweak needs anyway, instead of XOnlyPubKey::Parse and then another in TweakAdd. Fails NotAKey.
Expected<TweakedKey, TweakError> TweakAddUnparsed(ByteSpan xonly32, const Uint256& tweak);

//! Returns: whether x(P + t*G) == q_xonly with the given parity (secp256k1_xonly_pubkey_tweak_add_check).
[[nodiscard]] bool TweakAddCheck(const std::array<uint8_t, 32>& q_xonly, int parity, const XOnlyPubKey& p,
                                 const Uint256& tweak);

//! Returns: BIP-340 verification of sig64 over msg (any length) under pk.
[[nodiscard]] bool SchnorrVerify(ByteSpan sig64, ByteSpan msg, const XOnlyPubKey& pk);

//! A secret key with its x-only public key. The secret is wiped on destruction.
class KeyPair
{
public:
    //! Returns: a key pair for a 32-byte secret in [1, n-1], else nullopt.
    static std::optional<KeyPair> FromSecret(ByteSpan secret32);
    KeyPair(const KeyPair&) = default;
    KeyPair& operator=(const KeyPair&) = default;
    ~KeyPair();

    XOnlyPubKey PubKey() const;
    //! Returns: the key pair tweaked by t (BIP-341 key-path signing), or nullopt if t is invalid.
    std::optional<KeyPair> Tweak(const Uint256& tweak) const;
    //! Returns: the 32-byte secret (callers must wipe their copy).
    std::array<uint8_t, 32> Secret() const;
    //! Returns: a BIP-340 signature of msg; aux32 is the auxiliary randomness (nullopt = zeros).
    std::array<uint8_t, 64> Sign(ByteSpan msg, const std::optional<Uint256>& aux32) const;

private:
    KeyPair() = default;
    std::array<uint8_t, 96> m_keypair{}; // secp256k1_keypair, opaque
};

} // namespace vw::crypto
