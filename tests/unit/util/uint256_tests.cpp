// Uint256: hex in serialization order, byte order of comparisons, and the fixed-size rules.
#include "util/uint256.h"

#include <gtest/gtest.h>

namespace vw {
namespace {

constexpr std::string_view HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST(uint256_tests, HexRoundTripKeepsByteOrder)
{
    auto u = Uint256::FromHex(HEX);
    ASSERT_TRUE(u);
    for (size_t i = 0; i < 32; ++i) EXPECT_EQ(u->bytes[i], i);
    EXPECT_EQ(u->Hex(), HEX);
    EXPECT_EQ(HexStr(u->span()), HEX);
    EXPECT_EQ(u->span().data(), u->data());
    // Upper case is accepted, output is lower case.
    auto upper = Uint256::FromHex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    ASSERT_TRUE(upper);
    EXPECT_EQ(*upper, *u);
}

TEST(uint256_tests, FromHexRejectsWrongLengthAndBadDigits)
{
    EXPECT_FALSE(Uint256::FromHex(""));
    EXPECT_FALSE(Uint256::FromHex(HEX.substr(0, 62)));
    EXPECT_FALSE(Uint256::FromHex(std::string(HEX) + "00"));
    EXPECT_FALSE(Uint256::FromHex(std::string(HEX.substr(0, 63)) + "g"));
    EXPECT_FALSE(Uint256::FromHex("0x" + std::string(HEX.substr(2))));
}

TEST(uint256_tests, FromSpanAndNull)
{
    Bytes b(32);
    for (size_t i = 0; i < 32; ++i) b[i] = static_cast<uint8_t>(0xff - i);
    const Uint256 u = Uint256::FromSpan(b);
    EXPECT_TRUE(Equal(u.span(), b));
    EXPECT_FALSE(u.IsNull());
    EXPECT_TRUE(Uint256{}.IsNull());
    // A span of the wrong size gives the null value (documented contract: only 32 bytes are copied).
    EXPECT_TRUE(Uint256::FromSpan(ByteSpan{b}.first(31)).IsNull());
    Bytes one(32, 0);
    one[31] = 1;
    EXPECT_FALSE(Uint256::FromSpan(one).IsNull());
}

TEST(uint256_tests, OrderingIsLexicographicOnSerializedBytes)
{
    // Comparison is over bytes[0..31] in order (what TapBranch sorting needs), not over the
    // little-endian integer value.
    Bytes lo(32, 0), hi(32, 0);
    lo[31] = 0xff; // large as a little-endian number
    hi[0] = 0x01;  // small as a little-endian number
    const Uint256 a = Uint256::FromSpan(lo), b = Uint256::FromSpan(hi);
    EXPECT_LT(a, b);
    EXPECT_NE(a, b);
    EXPECT_EQ(a, Uint256::FromSpan(lo));
}

TEST(uint256_tests, Cheap64IsFirstEightBytesLittleEndian)
{
    auto u = Uint256::FromHex(HEX);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->Cheap64(), 0x0706050403020100ULL);
}

} // namespace
} // namespace vw
