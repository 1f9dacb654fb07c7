// Script iteration, minimal pushes and CScriptNum (lib/script/script.h), plus the span reader's
// CompactSize rules and the hash primitives they sit on.
#include "crypto/sha256.h"
#include "script/script.h"
#include "util/hex.h"
#include "util/serialize.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

namespace vw {
namespace {
using namespace script;

std::vector<Op> Ops(const Bytes& s)
{
    auto r = DecodeOps(s);
    if (!r) throw std::runtime_error("decode failed");
    return *r;
}

TEST(script_tests, PushesOfEveryFormAndTruncation)
{
    // OP_0, a direct push of 3, PUSHDATA1 of 2, PUSHDATA2 of 1, PUSHDATA4 of 1, OP_1, OP_CHECKSIG
    const Bytes s{0x00, 0x03, 1, 2, 3, 0x4c, 0x02, 9, 9, 0x4d, 0x01, 0x00, 7, 0x4e, 0x01, 0, 0, 0, 8, 0x51, 0xac};
    const auto ops = Ops(s);
    ASSERT_EQ(ops.size(), 7u);
    EXPECT_TRUE(ops[0].is_push && ops[0].data.empty());
    EXPECT_EQ(Bytes(ops[1].data.begin(), ops[1].data.end()), (Bytes{1, 2, 3}));
    EXPECT_EQ(Bytes(ops[2].data.begin(), ops[2].data.end()), (Bytes{9, 9}));
    EXPECT_EQ(Bytes(ops[3].data.begin(), ops[3].data.end()), (Bytes{7}));
    EXPECT_EQ(Bytes(ops[4].data.begin(), ops[4].data.end()), (Bytes{8}));
    EXPECT_FALSE(ops[5].is_push);
    EXPECT_EQ(ops[6].opcode, 0xac);
    // Every way a push can run past the end is an error, never a read out of bounds.
    for (const Bytes& bad : {Bytes{0x05, 1, 2}, Bytes{0x4c}, Bytes{0x4c, 0x03, 1}, Bytes{0x4d, 0x01}, Bytes{0x4d, 0x02, 0x00, 1},
                            Bytes{0x4e, 0x01, 0x00, 0x00}, Bytes{0x4e, 0xff, 0xff, 0xff, 0xff, 1}}) {
        EXPECT_FALSE(DecodeOps(bad)) << HexStr(bad);
    }
    EXPECT_TRUE(DecodeOps(Bytes{})->empty());
}

TEST(script_tests, MinimalPushRules)
{
    auto first = [](const Bytes& s) { return Ops(s).at(0); };
    EXPECT_TRUE(IsMinimalPush(first({0x00})));            // empty via OP_0
    EXPECT_FALSE(IsMinimalPush(first({0x01, 0x05})));     // 5 must be OP_5
    EXPECT_FALSE(IsMinimalPush(first({0x01, 0x81})));     // -1 must be OP_1NEGATE
    EXPECT_TRUE(IsMinimalPush(first({0x01, 0x11})));      // 17 is a one-byte push
    EXPECT_FALSE(IsMinimalPush(first({0x4c, 0x01, 0x11}))); // PUSHDATA1 for a short push
    Bytes p75{0x4b};
    p75.resize(76, 0x22);
    EXPECT_TRUE(IsMinimalPush(first(p75)));
    Bytes p76{0x4c, 76};
    p76.resize(78, 0x22);
    EXPECT_TRUE(IsMinimalPush(first(p76)));
    Bytes p76b{0x4d, 76, 0};
    p76b.resize(79, 0x22);
    EXPECT_FALSE(IsMinimalPush(first(p76b)));
    // PushData writes the minimal form, and it decodes back.
    for (size_t n : {size_t{0}, size_t{1}, size_t{75}, size_t{76}, size_t{255}, size_t{256}, size_t{520}}) {
        Bytes data(n, 0x33), s;
        PushData(s, data);
        const auto op = first(s);
        EXPECT_TRUE(IsMinimalPush(op) || n == 1) << n;
        EXPECT_EQ(Bytes(op.data.begin(), op.data.end()), n == 0 ? Bytes{} : data) << n;
    }
}

TEST(script_tests, ScriptNumRoundTripsAndRules)
{
    const int64_t values[] = {0, 1, -1, 127, -127, 128, -128, 255, -255, 256, -256, 32767, -32767, 32768, -32768,
                              8388607, -8388607, 8388608, std::numeric_limits<int32_t>::max(), -std::numeric_limits<int32_t>::max()};
    for (int64_t v : values) {
        const Bytes e = EncodeScriptNum(v);
        auto d = DecodeScriptNum(e, 8, true);
        ASSERT_TRUE(d) << v;
        EXPECT_EQ(*d, v);
        if (v == 0) {
            EXPECT_TRUE(e.empty());
        }
        // The encoding is minimal: removing the last byte changes the value or breaks minimality.
        if (!e.empty() && e.size() > 1) {
            auto shorter = DecodeScriptNum(ByteSpan{e}.first(e.size() - 1), 8, false);
            ASSERT_TRUE(shorter);
            EXPECT_NE(*shorter, v);
        }
    }
    EXPECT_EQ(EncodeScriptNum(128), (Bytes{0x80, 0x00}));
    EXPECT_EQ(EncodeScriptNum(-128), (Bytes{0x80, 0x80}));
    EXPECT_EQ(EncodeScriptNum(-1), (Bytes{0x81}));
    // Negative zero and redundant sign bytes are non-minimal.
    EXPECT_FALSE(DecodeScriptNum(Bytes{0x80}, 4, true));
    EXPECT_FALSE(DecodeScriptNum(Bytes{0x00}, 4, true));
    EXPECT_FALSE(DecodeScriptNum(Bytes{0x05, 0x00}, 4, true));
    EXPECT_EQ(*DecodeScriptNum(Bytes{0x05, 0x00}, 4, false), 5);
    EXPECT_EQ(*DecodeScriptNum(Bytes{0x80}, 4, false), 0); // negative zero
    EXPECT_TRUE(DecodeScriptNum(Bytes{0xff, 0x00}, 4, true)); // 255 needs the 0x00
    // max_size is enforced.
    EXPECT_FALSE(DecodeScriptNum(Bytes{1, 2, 3, 4, 5}, 4, false));
    EXPECT_TRUE(DecodeScriptNum(Bytes{1, 2, 3, 4, 5}, 5, false));
    // OpAsNumber: small-int opcodes and pushes.
    EXPECT_EQ(OpAsNumber(Ops({0x00})[0]), 0);
    EXPECT_EQ(OpAsNumber(Ops({0x4f})[0]), -1);
    EXPECT_EQ(OpAsNumber(Ops({0x60})[0]), 16);
    EXPECT_EQ(OpAsNumber(Ops({0x02, 0x90, 0x00})[0]), 144);
    EXPECT_FALSE(OpAsNumber(Ops({0xac})[0]));
}

TEST(serialize_tests, CompactSizeIsCanonicalAndBounded)
{
    auto read = [](const Bytes& b) { return SpanReader{b}.ReadCompactSize(); };
    EXPECT_EQ(read({0xfc}), 0xfcu);
    EXPECT_EQ(read({0xfd, 0xfd, 0x00}), 0xfdu);
    EXPECT_FALSE(read({0xfd, 0xfc, 0x00})) << "non-canonical: fits in one byte";
    EXPECT_FALSE(read({0xfe, 0xff, 0xff, 0x00, 0x00})) << "non-canonical: fits in three bytes";
    EXPECT_FALSE(read({0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00})) << "non-canonical 8-byte form";
    EXPECT_FALSE(read({0xfd, 0x01})) << "truncated";
    EXPECT_FALSE(read({})) << "empty";
    EXPECT_FALSE(read({0xfe, 0x00, 0x00, 0x00, 0x10})) << "over MAX_SIZE";
    SpanReader r{Bytes{1, 2}};
    EXPECT_FALSE(r.ReadBytes(3));
    EXPECT_TRUE(r.ReadBytes(2));
    EXPECT_FALSE(r.ReadU8());
}

TEST(crypto_tests, Sha256KnownAnswersAndTaggedHashes)
{
    EXPECT_EQ(HexStr(crypto::Sha256Once(Bytes{}).span()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const std::string abc = "abc";
    const ByteSpan abcs{reinterpret_cast<const uint8_t*>(abc.data()), abc.size()};
    EXPECT_EQ(HexStr(crypto::Sha256Once(abcs).span()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // SHA256d and the 64-byte merkle form agree with hashing twice.
    const Uint256 once = crypto::Sha256Once(abcs);
    EXPECT_EQ(crypto::Sha256d(abcs), crypto::Sha256Once(once.span()));
    Uint256 a, b;
    a.bytes.fill(1);
    b.bytes.fill(2);
    Bytes ab(a.bytes.begin(), a.bytes.end());
    ab.insert(ab.end(), b.bytes.begin(), b.bytes.end());
    EXPECT_EQ(crypto::Sha256d64(a, b), crypto::Sha256d(ab));
    // A tagged hash is SHA256(SHA256(tag) || SHA256(tag) || msg).
    const std::string tag = "TapLeaf";
    const Uint256 th = crypto::Sha256Once(ByteSpan{reinterpret_cast<const uint8_t*>(tag.data()), tag.size()});
    Bytes pre(th.bytes.begin(), th.bytes.end());
    pre.insert(pre.end(), th.bytes.begin(), th.bytes.end());
    pre.insert(pre.end(), abc.begin(), abc.end());
    EXPECT_EQ(crypto::TapLeafTag()(abcs), crypto::Sha256Once(pre));
    EXPECT_EQ(crypto::TaggedHash("TapLeaf")(abcs), crypto::Sha256Once(pre));
}

} // namespace
} // namespace vw
