#include "crypto/base58.h"

#include "util/hex.h"

#include <gtest/gtest.h>

namespace vw {
namespace {

TEST(base58_tests, KnownEncodingsAndLeadingZeros)
{
    // Bitcoin Core's base58_encode_decode.json, the first cases.
    const std::pair<const char*, const char*> cases[] = {
        {"", ""}, {"61", "2g"}, {"626262", "a3gV"}, {"636363", "aPEr"}, {"00000000000000000000", "1111111111"},
        {"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
    };
    for (const auto& [hex, b58] : cases) {
        const Bytes raw = *ParseHex(hex);
        EXPECT_EQ(EncodeBase58(raw), b58);
        EXPECT_EQ(DecodeBase58(b58), raw) << b58;
    }
    EXPECT_FALSE(DecodeBase58("0OIl")) << "characters outside the alphabet";
    EXPECT_FALSE(DecodeBase58(" 2g"));
    EXPECT_FALSE(DecodeBase58(std::string(300, '2'))) << "longer than the limit";
}

TEST(base58_tests, CheckedEncodingCatchesEveryFlippedCharacter)
{
    const Bytes payload = *ParseHex("0488b21e000000000000000000");
    const std::string s = EncodeBase58Check(payload);
    EXPECT_EQ(DecodeBase58Check(s), payload);
    for (size_t i = 0; i < s.size(); ++i) {
        std::string t = s;
        t[i] = t[i] == '2' ? '3' : '2';
        EXPECT_FALSE(DecodeBase58Check(t)) << i;
    }
    EXPECT_FALSE(DecodeBase58Check("1")) << "shorter than a checksum";
}

} // namespace
} // namespace vw
