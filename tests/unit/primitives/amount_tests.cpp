// Amount: integer satoshis, MoneyRange and checked addition.
#include "primitives/amount.h"

#include <gtest/gtest.h>

#include <limits>

namespace vw {
namespace {

static_assert(!std::is_convertible_v<int64_t, Amount>, "amounts are constructed explicitly");
static_assert(COIN.sats() == 100'000'000);
static_assert(MAX_MONEY.sats() == 2'100'000'000'000'000);

TEST(amount_tests, MoneyRange)
{
    EXPECT_TRUE(MoneyRange(Amount{0}));
    EXPECT_TRUE(MoneyRange(Amount{1}));
    EXPECT_TRUE(MoneyRange(MAX_MONEY));
    EXPECT_FALSE(MoneyRange(MAX_MONEY + Amount{1}));
    EXPECT_FALSE(MoneyRange(Amount{-1}));
    EXPECT_FALSE(MoneyRange(Amount{std::numeric_limits<int64_t>::min()}));
    EXPECT_FALSE(MoneyRange(Amount{std::numeric_limits<int64_t>::max()}));
}

TEST(amount_tests, ArithmeticAndOrdering)
{
    Amount a = COIN;
    a += Amount::Sats(5);
    EXPECT_EQ(a.sats(), 100'000'005);
    a -= Amount{10};
    EXPECT_EQ(a, Amount{99'999'995});
    EXPECT_LT(Amount{1}, Amount{2});
    EXPECT_EQ((COIN - Amount{1}).sats(), 99'999'999);
    EXPECT_EQ(Amount{}.sats(), 0);
}

TEST(amount_tests, CheckedAdd)
{
    EXPECT_EQ(CheckedAdd(COIN, COIN), Amount{2 * COIN.sats()});
    EXPECT_EQ(CheckedAdd(MAX_MONEY, Amount{0}), MAX_MONEY);
    EXPECT_FALSE(CheckedAdd(MAX_MONEY, Amount{1}));
    EXPECT_FALSE(CheckedAdd(Amount{-1}, Amount{2}));
    EXPECT_FALSE(CheckedAdd(Amount{2}, Amount{-1}));
    // Out-of-range operands are refused before the sum could overflow.
    EXPECT_FALSE(CheckedAdd(Amount{std::numeric_limits<int64_t>::max()}, Amount{1}));
}

} // namespace
} // namespace vw
