// Script iteration and push encoding: every push form at its size boundaries, truncated pushes
// reported as errors, Core's CheckMinimalPush rules, and the push writers.
#include "script/script.h"

#include "util/hex.h"

#include <gtest/gtest.h>

namespace vw::script {
namespace {

Bytes Cat(std::initializer_list<uint8_t> head, size_t n, uint8_t fill)
{
    Bytes b(head);
    b.insert(b.end(), n, fill);
    return b;
}

struct PushForm {
    const char* name;
    Bytes script;
    size_t data_len;
    bool minimal;
};

std::vector<PushForm> PushForms()
{
    return {
        {"OP_0", {0x00}, 0, true},
        {"PUSHDATA1 of 0", {0x4c, 0x00}, 0, false},
        {"PUSHDATA2 of 0", {0x4d, 0x00, 0x00}, 0, false},
        {"PUSHDATA4 of 0", {0x4e, 0x00, 0x00, 0x00, 0x00}, 0, false},
        {"direct 1 (0x00)", {0x01, 0x00}, 1, true},
        {"direct 1 (0x05 = OP_5)", {0x01, 0x05}, 1, false},
        {"direct 1 (0x10 = OP_16)", {0x01, 0x10}, 1, false},
        {"direct 1 (0x11)", {0x01, 0x11}, 1, true},
        {"direct 1 (0x81 = OP_1NEGATE)", {0x01, 0x81}, 1, false},
        {"direct 1 (0x80)", {0x01, 0x80}, 1, true},
        {"PUSHDATA1 of 1 (0x11)", {0x4c, 0x01, 0x11}, 1, false},
        {"direct 75", Cat({0x4b}, 75, 0xaa), 75, true},
        {"PUSHDATA1 of 75", Cat({0x4c, 75}, 75, 0xaa), 75, false},
        {"PUSHDATA1 of 76", Cat({0x4c, 76}, 76, 0xaa), 76, true},
        {"PUSHDATA2 of 76", Cat({0x4d, 76, 0}, 76, 0xaa), 76, false},
        {"PUSHDATA1 of 255", Cat({0x4c, 0xff}, 255, 0xaa), 255, true},
        {"PUSHDATA2 of 255", Cat({0x4d, 0xff, 0x00}, 255, 0xaa), 255, false},
        {"PUSHDATA2 of 256", Cat({0x4d, 0x00, 0x01}, 256, 0xaa), 256, true},
        {"PUSHDATA4 of 256", Cat({0x4e, 0x00, 0x01, 0x00, 0x00}, 256, 0xaa), 256, false},
        {"PUSHDATA2 of 65535", Cat({0x4d, 0xff, 0xff}, 65535, 0xaa), 65535, true},
        {"PUSHDATA4 of 65535", Cat({0x4e, 0xff, 0xff, 0x00, 0x00}, 65535, 0xaa), 65535, false},
        {"PUSHDATA4 of 65536", Cat({0x4e, 0x00, 0x00, 0x01, 0x00}, 65536, 0xaa), 65536, true},
    };
}

TEST(script_ops_tests, EveryPushFormDecodesAndMinimalityFollowsCore)
{
    for (const auto& f : PushForms()) {
        SCOPED_TRACE(f.name);
        auto ops = DecodeOps(f.script);
        ASSERT_TRUE(ops);
        ASSERT_EQ(ops->size(), 1u);
        const Op& op = ops->front();
        EXPECT_TRUE(op.is_push);
        EXPECT_EQ(op.opcode, f.script[0]);
        EXPECT_EQ(op.data.size(), f.data_len);
        // The data is a view at the end of the script.
        if (f.data_len > 0) {
            EXPECT_EQ(op.data.data() + op.data.size(), f.script.data() + f.script.size());
        }
        EXPECT_EQ(IsMinimalPush(op), f.minimal);
    }
}

TEST(script_ops_tests, TruncatedPushesAreErrors)
{
    const Bytes bad[] = {
        {0x01},                                // direct push, no data
        Cat({0x4b}, 74, 0),                    // one byte short
        {0x4c},                                // PUSHDATA1 without its length
        {0x4c, 0x02, 0x01},                    // PUSHDATA1 body short
        {0x4d, 0x01},                          // PUSHDATA2 half a length
        {0x4d, 0x00, 0x01},                    // PUSHDATA2 of 256, no body
        {0x4e, 0x01, 0x00, 0x00},              // PUSHDATA4 three length bytes
        {0x4e, 0x01, 0x00, 0x00, 0x00},        // PUSHDATA4 of 1, no body
        {0x4e, 0xff, 0xff, 0xff, 0xff, 0x00},  // 4 GB announced
        {0x51, 0xac, 0x02, 0x01},              // valid ops, then a short push
    };
    for (const auto& s : bad) {
        auto ops = DecodeOps(s);
        ASSERT_FALSE(ops) << HexStr(s);
        EXPECT_EQ(ops.error(), ScriptError::TruncatedPush);
    }
    // The iterator yields the good prefix, then stops and stays failed.
    const Bytes s{0x51, 0xac, 0x02, 0x01};
    OpIterator it{s};
    auto a = it.Next();
    auto b = it.Next();
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->opcode, OP_1);
    EXPECT_EQ(b->opcode, OP_CHECKSIG);
    EXPECT_FALSE(it.failed());
    EXPECT_FALSE(it.Next());
    EXPECT_TRUE(it.failed());
    EXPECT_FALSE(it.Next());
}

TEST(script_ops_tests, MixedScriptAndNonPushOps)
{
    // <32 bytes> OP_CHECKTEMPLATEVERIFY OP_DROP OP_1 OP_16 OP_1NEGATE OP_RETURN
    Bytes s = Cat({0x20}, 32, 0x11);
    for (uint8_t op : {OP_CHECKTEMPLATEVERIFY, OP_DROP, OP_1, OP_16, OP_1NEGATE, OP_RETURN}) s.push_back(op);
    auto ops = DecodeOps(s);
    ASSERT_TRUE(ops);
    ASSERT_EQ(ops->size(), 7u);
    EXPECT_TRUE((*ops)[0].is_push);
    EXPECT_EQ((*ops)[0].data.size(), 32u);
    for (size_t i = 1; i < 7; ++i) {
        EXPECT_FALSE((*ops)[i].is_push) << i;
        EXPECT_TRUE((*ops)[i].data.empty()) << i;
        EXPECT_TRUE(IsMinimalPush((*ops)[i])) << i; // not a push: nothing to check
    }
    EXPECT_TRUE(DecodeOps(ByteSpan{}).value().empty());
}

TEST(script_ops_tests, PushDataWritesTheMinimalFormAndRoundTrips)
{
    for (size_t n : {0u, 1u, 2u, 75u, 76u, 255u, 256u, 65535u, 65536u}) {
        const Bytes data(n, 0xaa);
        Bytes s;
        PushData(s, data);
        const size_t header = n < 76 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
        EXPECT_EQ(s.size(), header + n) << n;
        auto ops = DecodeOps(s);
        ASSERT_TRUE(ops) << n;
        ASSERT_EQ(ops->size(), 1u) << n;
        EXPECT_TRUE(Equal(ops->front().data, data)) << n;
        EXPECT_TRUE(IsMinimalPush(ops->front())) << n;
    }
    // A one-byte value 1..16 is pushed as data (not OP_n); that is not minimal under Core's rule.
    Bytes s;
    PushData(s, Bytes{0x07});
    EXPECT_EQ(HexStr(s), "0107");
    EXPECT_FALSE(IsMinimalPush(DecodeOps(s).value().front()));
}

TEST(script_ops_tests, PushAllItemAndPushInt)
{
    struct ItemCase {
        Bytes item;
        const char* hex;
    };
    const ItemCase items[] = {
        {{}, "00"}, {{0x01}, "51"}, {{0x10}, "60"}, {{0x81}, "4f"}, {{0x00}, "0100"}, {{0x11}, "0111"}, {{0x01, 0x00}, "020100"},
    };
    for (const auto& c : items) {
        Bytes s;
        PushAllItem(s, c.item);
        EXPECT_EQ(HexStr(s), c.hex) << HexStr(c.item);
        // Whatever the form, it is minimal and denotes the same stack item.
        auto ops = DecodeOps(s);
        ASSERT_TRUE(ops);
        EXPECT_TRUE(IsMinimalPush(ops->front()));
    }
    struct IntCase {
        int64_t n;
        const char* hex;
    };
    const IntCase ints[] = {
        {0, "00"}, {-1, "4f"}, {1, "51"}, {16, "60"}, {17, "0111"}, {-2, "0182"}, {127, "017f"}, {128, "028000"}, {-128, "028080"},
        {1000, "02e803"}, {4294967295LL, "05ffffffff00"},
    };
    for (const auto& c : ints) {
        Bytes s;
        PushInt(s, c.n);
        EXPECT_EQ(HexStr(s), c.hex) << c.n;
        auto ops = DecodeOps(s);
        ASSERT_TRUE(ops);
        EXPECT_EQ(OpAsNumber(ops->front(), 8, true), c.n) << c.n;
    }
}

} // namespace
} // namespace vw::script
