// HMAC-SHA256 against RFC 4231 test cases 1, 2, 6 and 7 (the published vectors; case 6 and 7
// use a 131-byte key, longer than the SHA-256 block, so the key is hashed first).
#include "crypto/hmac.h"
#include "util/hex.h"

#include <gtest/gtest.h>

#include <string>

namespace vw::crypto {
namespace {

std::string Hex(const std::array<uint8_t, 32>& a) { return HexStr(a); }

Bytes Str(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(hmac_tests, Rfc4231Case1)
{
    const Bytes key(20, 0x0b);
    EXPECT_EQ(Hex(HmacSha256(key, Str("Hi There"))),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(hmac_tests, Rfc4231Case2KeyShorterThanOutput)
{
    EXPECT_EQ(Hex(HmacSha256(std::string_view{"Jefe"}, std::string_view{"what do ya want for nothing?"})),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(hmac_tests, Rfc4231Case6LargerThanBlockKey)
{
    const Bytes key(131, 0xaa);
    EXPECT_EQ(Hex(HmacSha256(key, Str("Test Using Larger Than Block-Size Key - Hash Key First"))),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(hmac_tests, Rfc4231Case7LargerThanBlockKeyAndData)
{
    const Bytes key(131, 0xaa);
    const std::string msg = "This is a test using a larger than block-size key and a larger than block-size data. "
                            "The key needs to be hashed before being used by the HMAC algorithm.";
    EXPECT_EQ(Hex(HmacSha256(key, Str(msg))), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(hmac_tests, StringOverloadAgreesAndEmptyInputsWork)
{
    const Bytes key(131, 0xaa);
    const std::string key_str(key.begin(), key.end());
    const std::string msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    EXPECT_EQ(HmacSha256(key_str, msg), HmacSha256(key, Str(msg)));
    // Empty key and message (null data pointers): HMAC-SHA256("", "").
    EXPECT_EQ(Hex(HmacSha256(ByteSpan{}, ByteSpan{})), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    EXPECT_EQ(HmacSha256(std::string_view{}, std::string_view{}), HmacSha256(ByteSpan{}, ByteSpan{}));
    // Key and message are not interchangeable.
    EXPECT_NE(HmacSha256(std::string_view{"a"}, std::string_view{"b"}), HmacSha256(std::string_view{"b"}, std::string_view{"a"}));
}

TEST(hmac_tests, Sha512Rfc4231Case2)
{
    EXPECT_EQ(HexStr(HmacSha512(Str("Jefe"), Str("what do ya want for nothing?"))),
              "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
}

TEST(hmac_tests, Pbkdf2Sha256Rfc7914)
{
    // RFC 7914 section 11: PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1), the first 32 bytes.
    EXPECT_EQ(Hex(Pbkdf2HmacSha256("passwd", "salt", 1)), "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
}

} // namespace
} // namespace vw::crypto
