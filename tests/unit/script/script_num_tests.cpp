// CScriptNum: exact encodings at every byte-width boundary (the values of Bitcoin Core's
// scriptnum tests), round trips, negative zero, MINIMALDATA and the size limit.
#include "script/script.h"

#include "util/hex.h"

#include <gtest/gtest.h>

#include <limits>

namespace vw::script {
namespace {

struct NumCase {
    int64_t value;
    const char* hex; // CScriptNum serialization
};

constexpr int64_t I32_MAX = std::numeric_limits<int32_t>::max();
constexpr int64_t I32_MIN = std::numeric_limits<int32_t>::min();
constexpr int64_t I64_MAX = std::numeric_limits<int64_t>::max();
constexpr int64_t I64_MIN = std::numeric_limits<int64_t>::min();

const NumCase NUM_CASES[] = {
    {0, ""},
    {1, "01"},
    {-1, "81"},
    {16, "10"},
    {127, "7f"},
    {-127, "ff"},
    {128, "8000"},
    {-128, "8080"},
    {255, "ff00"},
    {-255, "ff80"},
    {256, "0001"},
    {-256, "0081"},
    {32767, "ff7f"},
    {-32767, "ffff"},
    {32768, "008000"},
    {-32768, "008080"},
    {8388607, "ffff7f"},
    {-8388608, "00008080"},
    {I32_MAX, "ffffff7f"},
    {-I32_MAX, "ffffffff"},
    {I32_MIN, "0000008080"},
    {I32_MAX + 1, "0000008000"},
    {549755813887, "ffffffff7f"},        // largest 5-byte value (CSV/CLTV operands)
    {I64_MAX, "ffffffffffffff7f"},
    {-I64_MAX, "ffffffffffffffff"},
};

TEST(script_num_tests, EncodingsAtBoundaries)
{
    for (const auto& c : NUM_CASES) {
        EXPECT_EQ(HexStr(EncodeScriptNum(c.value)), c.hex) << c.value;
    }
    // INT64_MIN's magnitude needs a ninth byte for the sign.
    EXPECT_EQ(HexStr(EncodeScriptNum(I64_MIN)), "000000000000008080");
}

TEST(script_num_tests, RoundTripWithinMaxSize)
{
    for (const auto& c : NUM_CASES) {
        const Bytes e = EncodeScriptNum(c.value);
        SCOPED_TRACE(c.value);
        // Minimal encodings decode under MINIMALDATA at exactly their size...
        auto d = DecodeScriptNum(e, e.size(), true);
        ASSERT_TRUE(d);
        EXPECT_EQ(*d, c.value);
        // ...and are refused when max_size is one byte smaller.
        if (!e.empty()) {
            auto t = DecodeScriptNum(e, e.size() - 1, false);
            ASSERT_FALSE(t);
            EXPECT_EQ(t.error(), NumError::TooLong);
        }
    }
    // Consensus' default 4-byte limit: +-(2^31 - 1) fits, INT32_MIN does not.
    EXPECT_EQ(DecodeScriptNum(EncodeScriptNum(I32_MAX), 4, true).value(), I32_MAX);
    EXPECT_EQ(DecodeScriptNum(EncodeScriptNum(-I32_MAX), 4, true).value(), -I32_MAX);
    EXPECT_FALSE(DecodeScriptNum(EncodeScriptNum(I32_MIN), 4, true));
    EXPECT_EQ(DecodeScriptNum(EncodeScriptNum(I32_MIN), 5, true).value(), I32_MIN);
    // Nine bytes never fit an int64, whatever max_size says.
    auto nine = DecodeScriptNum(EncodeScriptNum(I64_MIN), 9, false);
    ASSERT_FALSE(nine);
    EXPECT_EQ(nine.error(), NumError::TooLong);
    EXPECT_FALSE(DecodeScriptNum(Bytes(9, 0x01), 100, false));
}

TEST(script_num_tests, NegativeZeroAndNonMinimal)
{
    struct Case {
        const char* hex;
        int64_t lenient; // value when require_minimal is false
        bool minimal;
    };
    const Case cases[] = {
        {"80", 0, false},       // negative zero
        {"00", 0, false},       // zero must be the empty vector
        {"0000", 0, false},
        {"0080", 0, false},     // negative zero, two bytes
        {"0100", 1, false},     // redundant positive sign byte
        {"0180", -1, false},    // redundant negative sign byte
        {"7f00", 127, false},
        {"ff00", 255, true},    // the 0x00 is needed: 0xff alone is -127
        {"ff80", -255, true},
        {"8000", 128, true},
        {"010000", 1, false},
        {"ffff7f", 8388607, true},
        {"ffff7f00", 8388607, false},
        {"", 0, true},
    };
    for (const auto& c : cases) {
        auto b = ParseHex(c.hex);
        ASSERT_TRUE(b);
        auto lenient = DecodeScriptNum(*b, 8, false);
        ASSERT_TRUE(lenient) << c.hex;
        EXPECT_EQ(*lenient, c.lenient) << c.hex;
        auto strict = DecodeScriptNum(*b, 8, true);
        EXPECT_EQ(strict.has_value(), c.minimal) << c.hex;
        if (!c.minimal) {
            EXPECT_EQ(strict.error(), NumError::NonMinimal) << c.hex;
        }
        // The size limit is checked before minimality.
        if (b->size() > 1) {
            auto t = DecodeScriptNum(*b, b->size() - 1, true);
            ASSERT_FALSE(t) << c.hex;
            EXPECT_EQ(t.error(), NumError::TooLong) << c.hex;
        }
    }
}

TEST(script_num_tests, OpAsNumber)
{
    auto first_op = [](const Bytes& s) {
        auto ops = DecodeOps(s);
        EXPECT_TRUE(ops && !ops->empty());
        return ops->at(0);
    };
    EXPECT_EQ(OpAsNumber(first_op({OP_0})), 0);
    EXPECT_EQ(OpAsNumber(first_op({OP_1NEGATE})), -1);
    for (uint8_t op = OP_1; op <= OP_16; ++op) EXPECT_EQ(OpAsNumber(first_op({op})), op - OP_1 + 1);
    EXPECT_EQ(OpAsNumber(first_op({0x02, 0x90, 0x00})), 144);
    EXPECT_EQ(OpAsNumber(first_op({0x01, 0x81})), -1);
    // Non-minimal pushes: refused with MINIMALDATA, accepted leniently.
    EXPECT_FALSE(OpAsNumber(first_op({0x02, 0x05, 0x00})));
    EXPECT_EQ(OpAsNumber(first_op({0x02, 0x05, 0x00}), 4, false), 5);
    // The size limit applies to pushes.
    EXPECT_FALSE(OpAsNumber(first_op({0x05, 1, 2, 3, 4, 5})));
    EXPECT_EQ(OpAsNumber(first_op({0x05, 0xff, 0xff, 0xff, 0xff, 0x7f}), 5), 549755813887);
    // Non-numeric opcodes.
    EXPECT_FALSE(OpAsNumber(first_op({OP_CHECKSIG})));
    EXPECT_FALSE(OpAsNumber(first_op({OP_RETURN})));
}

} // namespace
} // namespace vw::script
