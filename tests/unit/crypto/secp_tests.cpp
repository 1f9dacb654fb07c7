// The libsecp256k1 facade: what it refuses (bad key bytes, out-of-range secrets and tweaks) and
// that verification fails for anything but the signed message under the signing key.
// The published BIP-340 rows are in tests/unit/script/bip_vectors_tests.cpp.
#include "crypto/secp.h"

#include "crypto/sha256.h"
#include "util/hex.h"
#include "unit/util/test_data.h"

#include <gtest/gtest.h>

namespace vw::crypto {
namespace {

using test::Unhex;

// secp256k1 group order n and field prime p (SEC 2).
constexpr std::string_view ORDER_N = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
constexpr std::string_view ORDER_N_MINUS_1 = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140";
constexpr std::string_view FIELD_P = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f";
constexpr std::string_view GENERATOR_X = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

Bytes Scalar(uint8_t low_byte)
{
    Bytes b(32, 0);
    b[31] = low_byte;
    return b;
}

Bytes Msg(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(secp_tests, XOnlyParseRejectsBadBytes)
{
    const Bytes g = Unhex(GENERATOR_X);
    EXPECT_TRUE(XOnlyPubKey::Parse(g));
    EXPECT_FALSE(XOnlyPubKey::Parse(ByteSpan{g}.first(31)));
    Bytes long_key = g;
    long_key.push_back(0);
    EXPECT_FALSE(XOnlyPubKey::Parse(long_key));
    EXPECT_FALSE(XOnlyPubKey::Parse(ByteSpan{}));
    // x^3 + 7 is a quadratic non-residue for x = 0, 5, 7: no curve point has that x.
    EXPECT_FALSE(XOnlyPubKey::Parse(Scalar(0)));
    EXPECT_FALSE(XOnlyPubKey::Parse(Scalar(5)));
    EXPECT_FALSE(XOnlyPubKey::Parse(Scalar(7)));
    EXPECT_TRUE(XOnlyPubKey::Parse(Scalar(1)));
    // x >= p is not a field element.
    EXPECT_FALSE(XOnlyPubKey::Parse(Unhex(FIELD_P)));
    EXPECT_FALSE(XOnlyPubKey::Parse(Bytes(32, 0xff)));
}

TEST(secp_tests, TweakAddUnparsedChecksTheKeyAndAgreesWithTweakAdd)
{
    const Bytes g = Unhex(GENERATOR_X);
    const Uint256 t = Uint256::FromSpan(Scalar(3));
    const auto a = TweakAdd(*XOnlyPubKey::Parse(g), t);
    const auto b = TweakAddUnparsed(g, t);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->xonly, b->xonly);
    EXPECT_EQ(a->parity, b->parity);
    for (const Bytes& bad : {Scalar(0), Scalar(5), Unhex(FIELD_P), Bytes(32, 0xff), Bytes(31, 1)}) {
        ASSERT_FALSE(TweakAddUnparsed(bad, t));
        EXPECT_EQ(TweakAddUnparsed(bad, t).error(), TweakError::NotAKey);
    }
}

TEST(secp_tests, KeyPairSecretRange)
{
    EXPECT_FALSE(KeyPair::FromSecret(Scalar(0)));
    EXPECT_FALSE(KeyPair::FromSecret(Unhex(ORDER_N)));
    EXPECT_FALSE(KeyPair::FromSecret(Bytes(32, 0xff)));
    EXPECT_FALSE(KeyPair::FromSecret(Bytes(31, 1)));
    EXPECT_FALSE(KeyPair::FromSecret(Bytes(33, 1)));
    auto one = KeyPair::FromSecret(Scalar(1));
    ASSERT_TRUE(one);
    EXPECT_EQ(HexStr(one->PubKey().span()), GENERATOR_X);
    auto last = KeyPair::FromSecret(Unhex(ORDER_N_MINUS_1));
    ASSERT_TRUE(last);
    // (n-1)G = -G: same x coordinate.
    EXPECT_EQ(HexStr(last->PubKey().span()), GENERATOR_X);
    // Secret() gives back the secret as given, even when its point has odd y.
    EXPECT_EQ(HexStr(last->Secret()), ORDER_N_MINUS_1);
    EXPECT_EQ(HexStr(one->Secret()), HexStr(Scalar(1)));
}

TEST(secp_tests, TweakRangeAndConsistency)
{
    auto kp = KeyPair::FromSecret(Scalar(3));
    ASSERT_TRUE(kp);
    const XOnlyPubKey p = kp->PubKey();
    const Uint256 n = Uint256::FromSpan(Unhex(ORDER_N));
    const Uint256 ones = Uint256::FromSpan(Bytes(32, 0xff));
    EXPECT_FALSE(TweakAdd(p, n));
    EXPECT_EQ(TweakAdd(p, n).error(), TweakError::TweakOutOfRange);
    EXPECT_FALSE(TweakAdd(p, ones));
    EXPECT_FALSE(kp->Tweak(n));
    EXPECT_FALSE(kp->Tweak(ones));
    // A zero tweak leaves the (even-y) x-only key as it is.
    auto same = TweakAdd(p, Uint256{});
    ASSERT_TRUE(same);
    EXPECT_EQ(same->xonly, p.bytes());
    EXPECT_EQ(same->parity, 0);

    for (uint8_t i = 1; i <= 6; ++i) {
        const Uint256 t = Sha256Once(Scalar(i));
        auto q = TweakAdd(p, t);
        ASSERT_TRUE(q) << int(i);
        EXPECT_TRUE(TweakAddCheck(q->xonly, q->parity, p, t)) << int(i);
        EXPECT_FALSE(TweakAddCheck(q->xonly, 1 - q->parity, p, t)) << int(i);
        EXPECT_FALSE(TweakAddCheck(q->xonly, q->parity, p, Sha256Once(Scalar(static_cast<uint8_t>(i + 100))))) << int(i);
        // The tweaked key pair's public key is the tweaked public key, and it signs for it.
        auto tk = kp->Tweak(t);
        ASSERT_TRUE(tk) << int(i);
        EXPECT_EQ(tk->PubKey().bytes(), q->xonly) << int(i);
        const Bytes m = Msg("tweaked");
        EXPECT_TRUE(SchnorrVerify(tk->Sign(m, std::nullopt), m, tk->PubKey())) << int(i);
        EXPECT_FALSE(SchnorrVerify(tk->Sign(m, std::nullopt), m, p)) << int(i);
    }
}

TEST(secp_tests, SignVerifyAndMisuse)
{
    auto kp = KeyPair::FromSecret(Sha256Once(Msg("secret")).span());
    auto other = KeyPair::FromSecret(Sha256Once(Msg("other secret")).span());
    ASSERT_TRUE(kp && other);
    const Bytes msg = Msg("vault recovery");
    const auto sig = kp->Sign(msg, Uint256::FromSpan(Bytes(32, 7)));
    EXPECT_TRUE(SchnorrVerify(sig, msg, kp->PubKey()));
    // Deterministic for a given aux; different aux, different but valid signature.
    EXPECT_EQ(sig, kp->Sign(msg, Uint256::FromSpan(Bytes(32, 7))));
    const auto sig0 = kp->Sign(msg, std::nullopt);
    EXPECT_EQ(sig0, kp->Sign(msg, Uint256{})); // nullopt means zeros
    EXPECT_NE(sig0, sig);
    EXPECT_TRUE(SchnorrVerify(sig0, msg, kp->PubKey()));

    EXPECT_FALSE(SchnorrVerify(sig, Msg("vault recoverz"), kp->PubKey()));
    EXPECT_FALSE(SchnorrVerify(sig, ByteSpan{msg}.first(msg.size() - 1), kp->PubKey()));
    EXPECT_FALSE(SchnorrVerify(sig, msg, other->PubKey()));
    EXPECT_FALSE(SchnorrVerify(ByteSpan{sig}.first(63), msg, kp->PubKey()));
    Bytes sig65(sig.begin(), sig.end());
    sig65.push_back(0);
    EXPECT_FALSE(SchnorrVerify(sig65, msg, kp->PubKey()));
    EXPECT_FALSE(SchnorrVerify(ByteSpan{}, msg, kp->PubKey()));
    for (size_t bit : {0u, 7u, 255u, 256u, 511u}) {
        auto bad = sig;
        bad[bit / 8] = static_cast<uint8_t>(bad[bit / 8] ^ (1u << (bit % 8)));
        EXPECT_FALSE(SchnorrVerify(bad, msg, kp->PubKey())) << bit;
    }
    // s >= n is rejected, not reduced.
    auto high_s = sig;
    const Bytes n = Unhex(ORDER_N);
    std::copy(n.begin(), n.end(), high_s.begin() + 32);
    EXPECT_FALSE(SchnorrVerify(high_s, msg, kp->PubKey()));

    // Messages of any length, including empty (null data pointer).
    for (size_t len : {0u, 1u, 32u, 100u}) {
        const Bytes m(len, 0x42);
        const auto s = kp->Sign(m, std::nullopt);
        EXPECT_TRUE(SchnorrVerify(s, m, kp->PubKey())) << len;
        if (len > 0) {
            EXPECT_FALSE(SchnorrVerify(s, Bytes(len - 1, 0x42), kp->PubKey())) << len;
        }
    }
}

TEST(secp_tests, KeyPairCopiesAreIndependent)
{
    auto a = KeyPair::FromSecret(Scalar(9));
    auto b = KeyPair::FromSecret(Scalar(10));
    ASSERT_TRUE(a && b);
    KeyPair c = *a;
    EXPECT_EQ(c.PubKey(), a->PubKey());
    c = *b;
    EXPECT_EQ(c.PubKey(), b->PubKey());
    EXPECT_NE(a->PubKey(), b->PubKey());
    EXPECT_EQ(HexStr(a->Secret()), HexStr(Scalar(9)));
}

} // namespace
} // namespace vw::crypto
