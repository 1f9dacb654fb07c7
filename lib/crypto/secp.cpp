#include "crypto/secp.h"

#include "util/check.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vw::crypto {
namespace {

[[noreturn]] void IllegalCallback(const char* msg, void*)
{
    std::fprintf(stderr, "vaultwatch: libsecp256k1 illegal argument (a bug): %s\n", msg);
    std::abort();
}

//! The signing context: created once, randomised (side-channel blinding), const afterwards.
const secp256k1_context* Ctx()
{
    static const secp256k1_context* ctx = [] {
        secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
        VW_ASSERT(c != nullptr);
        secp256k1_context_set_illegal_callback(c, IllegalCallback, nullptr);
        secp256k1_context_set_error_callback(c, IllegalCallback, nullptr);
        unsigned char seed[32];
        VW_ASSERT(RAND_bytes(seed, sizeof(seed)) == 1);
        VW_ASSERT(secp256k1_context_randomize(c, seed) == 1);
        OPENSSL_cleanse(seed, sizeof(seed));
        return c;
    }();
    return ctx;
}

secp256k1_xonly_pubkey ToSecp(const XOnlyPubKey& k)
{
    secp256k1_xonly_pubkey pk;
    VW_ASSERT(secp256k1_xonly_pubkey_parse(Ctx(), &pk, k.bytes().data()) == 1);
    return pk;
}

static_assert(sizeof(secp256k1_keypair) == 96);

} // namespace

std::optional<PubKey> PubKey::Parse(ByteSpan bytes33)
{
    if (bytes33.size() != 33 || (bytes33[0] != 0x02 && bytes33[0] != 0x03)) return std::nullopt;
    secp256k1_pubkey pk;
    if (secp256k1_ec_pubkey_parse(Ctx(), &pk, bytes33.data(), 33) != 1) return std::nullopt;
    PubKey k;
    std::memcpy(k.m_bytes.data(), bytes33.data(), 33);
    return k;
}

XOnlyPubKey PubKey::XOnly() const { return XOnlyPubKey::FromTrusted(ByteSpan{m_bytes.data() + 1, 32}); }

std::optional<PubKey> PubKey::TweakAdd(ByteSpan tweak32) const
{
    VW_ASSERT(tweak32.size() == 32);
    secp256k1_pubkey pk;
    VW_ASSERT(secp256k1_ec_pubkey_parse(Ctx(), &pk, m_bytes.data(), 33) == 1);
    if (secp256k1_ec_pubkey_tweak_add(Ctx(), &pk, tweak32.data()) != 1) return std::nullopt;
    PubKey out;
    size_t len = 33;
    VW_ASSERT(secp256k1_ec_pubkey_serialize(Ctx(), out.m_bytes.data(), &len, &pk, SECP256K1_EC_COMPRESSED) == 1 && len == 33);
    return out;
}

std::optional<XOnlyPubKey> XOnlyPubKey::Parse(ByteSpan bytes32)
{
    if (bytes32.size() != 32) return std::nullopt;
    secp256k1_xonly_pubkey pk;
    if (secp256k1_xonly_pubkey_parse(Ctx(), &pk, bytes32.data()) != 1) return std::nullopt;
    XOnlyPubKey k;
    std::memcpy(k.m_bytes.data(), bytes32.data(), 32);
    return k;
}

XOnlyPubKey XOnlyPubKey::FromTrusted(ByteSpan bytes32)
{
    VW_ASSERT(bytes32.size() == 32);
    XOnlyPubKey k;
    std::memcpy(k.m_bytes.data(), bytes32.data(), 32);
    return k;
}

Expected<TweakedKey, TweakError> TweakAdd(const XOnlyPubKey& p, const Uint256& tweak)
{
    const secp256k1_xonly_pubkey in = ToSecp(p);
    secp256k1_pubkey out;
    if (secp256k1_xonly_pubkey_tweak_add(Ctx(), &out, &in, tweak.data()) != 1) {
        return Unexpected{TweakError::TweakOutOfRange};
    }
    secp256k1_xonly_pubkey x;
    TweakedKey r;
    VW_ASSERT(secp256k1_xonly_pubkey_from_pubkey(Ctx(), &x, &r.parity, &out) == 1);
    VW_ASSERT(secp256k1_xonly_pubkey_serialize(Ctx(), r.xonly.data(), &x) == 1);
    return r;
}

Expected<TweakedKey, TweakError> TweakAddUnparsed(ByteSpan xonly32, const Uint256& tweak)
{
    secp256k1_xonly_pubkey in;
    if (xonly32.size() != 32 || secp256k1_xonly_pubkey_parse(Ctx(), &in, xonly32.data()) != 1) return Unexpected{TweakError::NotAKey};
    secp256k1_pubkey out;
    if (secp256k1_xonly_pubkey_tweak_add(Ctx(), &out, &in, tweak.data()) != 1) return Unexpected{TweakError::TweakOutOfRange};
    secp256k1_xonly_pubkey x;
    TweakedKey r;
    VW_ASSERT(secp256k1_xonly_pubkey_from_pubkey(Ctx(), &x, &r.parity, &out) == 1);
    VW_ASSERT(secp256k1_xonly_pubkey_serialize(Ctx(), r.xonly.data(), &x) == 1);
    return r;
}

bool TweakAddCheck(const std::array<uint8_t, 32>& q_xonly, int parity, const XOnlyPubKey& p, const Uint256& tweak)
{
    const secp256k1_xonly_pubkey in = ToSecp(p);
    return secp256k1_xonly_pubkey_tweak_add_check(Ctx(), q_xonly.data(), parity, &in, tweak.data()) == 1;
}

bool SchnorrVerify(ByteSpan sig64, ByteSpan msg, const XOnlyPubKey& pk)
{
    if (sig64.size() != 64) return false;
    const secp256k1_xonly_pubkey k = ToSecp(pk);
    return secp256k1_schnorrsig_verify(Ctx(), sig64.data(), msg.data(), msg.size(), &k) == 1;
}

std::optional<KeyPair> KeyPair::FromSecret(ByteSpan secret32)
{
    if (secret32.size() != 32) return std::nullopt;
    KeyPair kp;
    auto* raw = reinterpret_cast<secp256k1_keypair*>(kp.m_keypair.data());
    if (secp256k1_keypair_create(Ctx(), raw, secret32.data()) != 1) return std::nullopt;
    return kp;
}

KeyPair::~KeyPair() { OPENSSL_cleanse(m_keypair.data(), m_keypair.size()); }

XOnlyPubKey KeyPair::PubKey() const
{
    secp256k1_xonly_pubkey x;
    VW_ASSERT(secp256k1_keypair_xonly_pub(Ctx(), &x, nullptr,
                                          reinterpret_cast<const secp256k1_keypair*>(m_keypair.data())) == 1);
    std::array<uint8_t, 32> b;
    VW_ASSERT(secp256k1_xonly_pubkey_serialize(Ctx(), b.data(), &x) == 1);
    return *XOnlyPubKey::Parse(b);
}

std::optional<KeyPair> KeyPair::Tweak(const Uint256& tweak) const
{
    KeyPair out = *this;
    if (secp256k1_keypair_xonly_tweak_add(Ctx(), reinterpret_cast<secp256k1_keypair*>(out.m_keypair.data()),
                                          tweak.data()) != 1) {
        return std::nullopt;
    }
    return out;
}

std::array<uint8_t, 32> KeyPair::Secret() const
{
    std::array<uint8_t, 32> s;
    VW_ASSERT(secp256k1_keypair_sec(Ctx(), s.data(), reinterpret_cast<const secp256k1_keypair*>(m_keypair.data())) == 1);
    return s;
}

std::array<uint8_t, 64> KeyPair::Sign(ByteSpan msg, const std::optional<Uint256>& aux32) const
{
    std::array<uint8_t, 64> sig;
    secp256k1_schnorrsig_extraparams params = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
    Uint256 aux = aux32.value_or(Uint256{});
    params.ndata = aux.data();
    VW_ASSERT(secp256k1_schnorrsig_sign_custom(Ctx(), sig.data(), msg.data(), msg.size(),
                                               reinterpret_cast<const secp256k1_keypair*>(m_keypair.data()),
                                               &params) == 1);
    return sig;
}

} // namespace vw::crypto
