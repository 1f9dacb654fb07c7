#include "util/hex.h"

#include <gtest/gtest.h>

namespace vw {
TEST(hex_tests, RoundTrip)
{
    const Bytes b{0x00, 0x01, 0xab, 0xff};
    EXPECT_EQ(HexStr(b), "0001abff");
    EXPECT_EQ(ParseHex("0001ABff"), b);
}
TEST(hex_tests, RejectsBadInput)
{
    EXPECT_FALSE(ParseHex("0"));
    EXPECT_FALSE(ParseHex("zz"));
    EXPECT_FALSE(ParseHex("0g"));
    EXPECT_EQ(ParseHex("")->size(), 0u);
}
} // namespace vw
