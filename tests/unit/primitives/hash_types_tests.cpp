// Strong id types (Txid, Wtxid, BlockHash) and OutPoint: display order vs serialization order,
// and that the types do not mix.
#include "primitives/hash_types.h"
#include "primitives/transaction.h"

#include <gtest/gtest.h>

#include <type_traits>
#include <unordered_set>

namespace vw {
namespace {

// The genesis block hash as bitcoind displays it, and its serialization-order bytes.
constexpr std::string_view GENESIS_DISPLAY = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
constexpr std::string_view GENESIS_SERIALIZED = "6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000";

static_assert(!std::is_convertible_v<Txid, Wtxid>);
static_assert(!std::is_convertible_v<Wtxid, Txid>);
static_assert(!std::is_convertible_v<Txid, BlockHash>);
static_assert(!std::is_assignable_v<Txid&, Wtxid>);
static_assert(!std::is_assignable_v<BlockHash&, Uint256>);
static_assert(!std::is_convertible_v<Uint256, Txid>);

TEST(hash_types_tests, DisplayOrderIsReversed)
{
    auto h = BlockHash::FromHex(GENESIS_DISPLAY);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->ToString(), GENESIS_DISPLAY);
    EXPECT_EQ(h->ToUint256().Hex(), GENESIS_SERIALIZED);
    EXPECT_EQ(HexStr(h->span()), GENESIS_SERIALIZED);
    auto u = Uint256::FromHex(GENESIS_SERIALIZED);
    ASSERT_TRUE(u);
    EXPECT_EQ(BlockHash::FromUint256(*u), *h);
    EXPECT_EQ(BlockHash::FromUint256(*u).ToString(), GENESIS_DISPLAY);
    EXPECT_FALSE(h->IsNull());
    EXPECT_TRUE(Txid{}.IsNull());
}

TEST(hash_types_tests, FromHexRejectsBadInput)
{
    EXPECT_FALSE(Txid::FromHex(""));
    EXPECT_FALSE(Txid::FromHex(GENESIS_DISPLAY.substr(1)));
    EXPECT_FALSE(Txid::FromHex(std::string(GENESIS_DISPLAY.substr(1)) + "x"));
    EXPECT_FALSE(Txid::FromHex(std::string(GENESIS_DISPLAY) + "00"));
}

TEST(hash_types_tests, OrderingAndHashing)
{
    auto a = Txid::FromHex(std::string(63, '0') + "1"); // display ...01 = serialized 01 00..
    auto b = Txid::FromHex("1" + std::string(63, '0')); // display 10.. = serialized ..10
    ASSERT_TRUE(a && b);
    EXPECT_NE(*a, *b);
    // Ordering follows serialization-order bytes.
    EXPECT_GT(*a, *b);
    std::unordered_set<Txid, HashIdHasher> set{*a, *b, *a};
    EXPECT_EQ(set.size(), 2u);
}

TEST(hash_types_tests, OutPoint)
{
    OutPoint null{Txid{}, 0xffffffff};
    EXPECT_TRUE(null.IsNull());
    EXPECT_FALSE((OutPoint{Txid{}, 0}).IsNull());
    auto t = Txid::FromHex(GENESIS_DISPLAY);
    ASSERT_TRUE(t);
    EXPECT_FALSE((OutPoint{*t, 0xffffffff}).IsNull());
    const OutPoint a{*t, 0}, b{*t, 1};
    EXPECT_LT(a, b);
    EXPECT_NE(a, b);
    EXPECT_EQ(a, (OutPoint{*t, 0}));
    std::unordered_set<OutPoint, OutPointHasher> set{a, b, a, null};
    EXPECT_EQ(set.size(), 3u);
}

} // namespace
} // namespace vw
