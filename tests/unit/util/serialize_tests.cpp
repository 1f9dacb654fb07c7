// SpanReader / Writer: little-endian integers, CompactSize (canonical only, bounded), and
// that no read ever goes past the end of the span.
#include "util/serialize.h"

#include "unit/util/test_data.h"

#include <gtest/gtest.h>

#include <limits>

namespace vw {
namespace {

using test::Unhex;

TEST(serialize_tests, LittleEndianRoundTrip)
{
    Writer w;
    w.U8(0xab).LE16(0x1234).LE32(0xdeadbeef).LE64(0x0102030405060708ULL).Raw(Bytes{0xff, 0xee});
    EXPECT_EQ(HexStr(w.buf()), "ab3412efbeadde0807060504030201ffee");
    const Bytes b = w.Take();
    SpanReader r{b};
    EXPECT_EQ(r.PeekU8(), 0xab);
    EXPECT_EQ(r.ReadU8(), 0xab);
    EXPECT_EQ(r.ReadLE16(), 0x1234);
    EXPECT_EQ(r.ReadLE32(), 0xdeadbeefu);
    EXPECT_EQ(r.ReadLE64(), 0x0102030405060708ULL);
    EXPECT_EQ(r.remaining(), 2u);
    auto rest = r.ReadBytes(2);
    ASSERT_TRUE(rest);
    EXPECT_EQ(HexStr(*rest), "ffee");
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(r.pos(), b.size());
}

TEST(serialize_tests, WriterAppendsToExternalBuffer)
{
    Bytes out{0x01};
    Writer{out}.LE16(0x0302).VarBytes(Bytes{0xaa, 0xbb});
    EXPECT_EQ(HexStr(out), "01020302aabb");
}

TEST(serialize_tests, ReadsPastEndFailWithoutMoving)
{
    const Bytes b{0x01, 0x02, 0x03};
    SpanReader r{b};
    EXPECT_FALSE(r.ReadLE32());
    EXPECT_EQ(r.pos(), 0u); // a failed read consumes nothing
    EXPECT_FALSE(r.ReadLE64());
    EXPECT_FALSE(r.ReadBytes(4));
    EXPECT_FALSE(r.Skip(4));
    EXPECT_EQ(r.remaining(), 3u);
    EXPECT_EQ(r.ReadLE16(), 0x0201);
    EXPECT_FALSE(r.ReadLE16());
    EXPECT_EQ(r.ReadU8(), 0x03);
    EXPECT_FALSE(r.ReadU8());
    EXPECT_FALSE(r.PeekU8());
    auto empty = r.ReadBytes(0);
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->empty());
    EXPECT_TRUE(r.Skip(0));

    SpanReader nothing{ByteSpan{}};
    EXPECT_FALSE(nothing.ReadU8());
    EXPECT_FALSE(nothing.ReadCompactSize());
    EXPECT_FALSE(nothing.ReadVarBytes());
    EXPECT_TRUE(nothing.empty());
}

struct CompactCase {
    const char* hex;
    std::optional<uint64_t> value; // nullopt = must be rejected
};

TEST(serialize_tests, CompactSizeCanonicalOnly)
{
    const CompactCase cases[] = {
        {"00", 0},
        {"fc", 252},
        {"fdfd00", 253},
        {"fdffff", 0xffff},
        {"fe00000100", 0x10000},
        {"feffffff01", 0x01ffffff},
        {"fe00000002", 0x02000000},                   // MAX_COMPACT_SIZE itself
        {"fe01000002", std::nullopt},                 // one over MAX_COMPACT_SIZE
        {"fdfc00", std::nullopt},                     // 252 in 3 bytes
        {"fd0000", std::nullopt},
        {"feffff0000", std::nullopt},                 // 0xffff in 5 bytes
        {"ff00000000ffffffff", std::nullopt},         // canonical 9-byte form, above MAX_COMPACT_SIZE
        {"ffffffffff00000000", std::nullopt},         // 0xffffffff in 9 bytes
        {"fd", std::nullopt},                         // truncated
        {"fdfd", std::nullopt},
        {"fe000001", std::nullopt},
        {"ff0000000001000000", std::nullopt},         // truncated 9-byte form
    };
    for (const auto& c : cases) {
        const Bytes b = Unhex(c.hex);
        SpanReader r{b};
        EXPECT_EQ(r.ReadCompactSize(), c.value) << c.hex;
        if (c.value) {
            EXPECT_TRUE(r.empty()) << c.hex;
            EXPECT_EQ(HexStr(Writer{}.CompactSize(*c.value).buf()), c.hex);
            EXPECT_EQ(CompactSizeLen(*c.value), b.size()) << c.hex;
        }
    }
    // Canonical 9-byte values are accepted when the caller raises the bound.
    const Bytes big = Unhex("ff0000000001000000");
    SpanReader r{big};
    EXPECT_EQ(r.ReadCompactSize(std::numeric_limits<uint64_t>::max()), 0x100000000ULL);
    const Bytes noncanon9 = Unhex("ffffffffff00000000");
    SpanReader r2{noncanon9};
    EXPECT_FALSE(r2.ReadCompactSize(std::numeric_limits<uint64_t>::max()));
    // A lower bound is enforced.
    const Bytes ten = Unhex("0a");
    SpanReader r3{ten};
    EXPECT_FALSE(r3.ReadCompactSize(9));
}

TEST(serialize_tests, CompactSizeWriterBoundaries)
{
    for (uint64_t v : {0ULL, 252ULL, 253ULL, 0xffffULL, 0x10000ULL, 0xffffffffULL, 0x100000000ULL, ~0ULL}) {
        Writer w;
        w.CompactSize(v);
        EXPECT_EQ(w.buf().size(), CompactSizeLen(v)) << v;
        SpanReader r{w.buf()};
        EXPECT_EQ(r.ReadCompactSize(std::numeric_limits<uint64_t>::max()), v) << v;
        EXPECT_TRUE(r.empty()) << v;
    }
}

TEST(serialize_tests, VarBytes)
{
    const Bytes payload(300, 0x5c);
    Writer w;
    w.VarBytes(payload).VarBytes(Bytes{});
    const Bytes b = w.Take();
    EXPECT_EQ(b.size(), 3 + 300 + 1u);
    SpanReader r{b};
    auto got = r.ReadVarBytes();
    ASSERT_TRUE(got);
    EXPECT_TRUE(Equal(*got, payload));
    EXPECT_EQ(got->data(), b.data() + 3); // a view into the buffer, not a copy
    auto none = r.ReadVarBytes();
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
    EXPECT_TRUE(r.empty());

    // Announced length longer than what is left.
    const Bytes short_body = Unhex("05aabbccdd");
    SpanReader r2{short_body};
    EXPECT_FALSE(r2.ReadVarBytes());
    // Length above MAX_COMPACT_SIZE is refused before any read of the body.
    const Bytes huge = Unhex("fe01000002");
    SpanReader r3{huge};
    EXPECT_FALSE(r3.ReadVarBytes());
}

} // namespace
} // namespace vw
