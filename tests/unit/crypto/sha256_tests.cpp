// SHA-256 (NIST FIPS 180-2 examples), double SHA-256, the merkle-node helper and BIP-340 tagged
// hashes. The tagged-hash expectation is rebuilt here from its definition.
#include "crypto/sha256.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace vw::crypto {
namespace {

ByteSpan Str(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

constexpr std::string_view NIST_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr std::string_view NIST_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view NIST_448 = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr std::string_view NIST_MILLION_A = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
constexpr std::string_view MSG_448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

TEST(sha256_tests, NistOneShot)
{
    EXPECT_EQ(Sha256Once(Str("abc")).Hex(), NIST_ABC);
    EXPECT_EQ(Sha256Once(ByteSpan{}).Hex(), NIST_EMPTY);
    EXPECT_EQ(Sha256Once(Str(MSG_448)).Hex(), NIST_448);
    const std::string million(1'000'000, 'a');
    EXPECT_EQ(Sha256Once(Str(million)).Hex(), NIST_MILLION_A);
}

TEST(sha256_tests, IncrementalCopyAndReset)
{
    Sha256 h;
    EXPECT_EQ(h.Finalize().Hex(), NIST_EMPTY);
    h.Reset();
    // Byte-at-a-time writes cross the 64-byte block boundary of the 56-byte message's padding.
    for (char c : MSG_448) h.Write(Str(std::string_view{&c, 1}));
    EXPECT_EQ(h.Finalize().Hex(), NIST_448);

    Sha256 a;
    a.Write(Str("ab"));
    Sha256 b = a; // copies the midstate
    a.Write(Str("c"));
    b.Write(Str("c"));
    EXPECT_EQ(a.Finalize().Hex(), NIST_ABC);
    EXPECT_EQ(b.Finalize().Hex(), NIST_ABC);
    Sha256 c;
    c.Write(Str("zzz"));
    c = b.Reset().Write(Str("a")); // assignment copies state too
    c.Write(Str("bc"));
    EXPECT_EQ(c.Finalize().Hex(), NIST_ABC);
    Sha256 moved = std::move(a.Reset().Write(Str("abc")));
    EXPECT_EQ(moved.Finalize().Hex(), NIST_ABC);
}

TEST(sha256_tests, DoubleSha256)
{
    // SHA256d is SHA256 applied to the 32 raw digest bytes.
    EXPECT_EQ(Sha256d(Str("abc")), Sha256Once(Sha256Once(Str("abc")).span()));
    EXPECT_EQ(Sha256d(Str("abc")).Hex(), "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358");
    EXPECT_EQ(Sha256d(ByteSpan{}).Hex(), "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456");
}

TEST(sha256_tests, Sha256d64IsSha256dOfTheConcatenation)
{
    for (int seed = 0; seed < 8; ++seed) {
        const std::string s = std::to_string(seed);
        const Uint256 a = Sha256Once(Str("left" + s));
        const Uint256 b = Sha256Once(Str("right" + s));
        Bytes cat(a.bytes.begin(), a.bytes.end());
        cat.insert(cat.end(), b.bytes.begin(), b.bytes.end());
        EXPECT_EQ(Sha256d64(a, b), Sha256d(cat)) << seed;
        EXPECT_NE(Sha256d64(a, b), Sha256d64(b, a)) << seed; // order matters (unlike TapBranch)
    }
    const Uint256 z{};
    Bytes zeros(64, 0);
    EXPECT_EQ(Sha256d64(z, z), Sha256d(zeros));
}

Uint256 TaggedByDefinition(std::string_view tag, ByteSpan msg)
{
    const Uint256 t = Sha256Once(Str(tag));
    Bytes pre(t.bytes.begin(), t.bytes.end());
    pre.insert(pre.end(), t.bytes.begin(), t.bytes.end());
    pre.insert(pre.end(), msg.begin(), msg.end());
    return Sha256Once(pre);
}

TEST(sha256_tests, TaggedHashMatchesDefinition)
{
    const Bytes long_msg(200, 0x5a);
    for (std::string_view tag : {"TapLeaf", "TapBranch", "TapTweak", "TapSighash", "VaultRecoverySPK", "BIP0340/challenge", ""}) {
        const TaggedHash th{tag};
        EXPECT_EQ(th(Str("abc")), TaggedByDefinition(tag, Str("abc"))) << tag;
        EXPECT_EQ(th(ByteSpan{}), TaggedByDefinition(tag, ByteSpan{})) << tag;
        EXPECT_EQ(th(long_msg), TaggedByDefinition(tag, long_msg)) << tag;
        // Hasher() hands out independent copies of the midstate.
        auto h1 = th.Hasher();
        auto h2 = th.Hasher();
        h1.Write(Str("x"));
        EXPECT_EQ(h2.Finalize(), TaggedByDefinition(tag, ByteSpan{})) << tag;
        EXPECT_EQ(h1.Finalize(), TaggedByDefinition(tag, Str("x"))) << tag;
    }
    EXPECT_EQ(TapLeafTag()(Str("m")), TaggedByDefinition("TapLeaf", Str("m")));
    EXPECT_EQ(TapBranchTag()(Str("m")), TaggedByDefinition("TapBranch", Str("m")));
    EXPECT_EQ(TapTweakTag()(Str("m")), TaggedByDefinition("TapTweak", Str("m")));
    EXPECT_EQ(TapSighashTag()(Str("m")), TaggedByDefinition("TapSighash", Str("m")));
    EXPECT_EQ(VaultRecoverySpkTag()(Str("m")), TaggedByDefinition("VaultRecoverySPK", Str("m")));
    // Different tags separate domains.
    EXPECT_NE(TapLeafTag()(Str("m")), TapBranchTag()(Str("m")));
}

} // namespace
} // namespace vw::crypto
