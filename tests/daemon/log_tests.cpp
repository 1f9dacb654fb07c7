// The daemon's log budget (log::LineBudget): event lines at info level up to a rate, the rest
// counted and said once, so a mass exit neither floods the journal nor loses count.
#include "log.h"

#include <gtest/gtest.h>

namespace vw::log {
namespace {

using namespace std::chrono_literals;

TEST(log_tests, ALineBudgetLetsItsRateThroughAndCountsTheRestOnce)
{
    LineBudget b{3};
    const auto t0 = std::chrono::steady_clock::time_point{} + 100s;
    size_t withheld = 99;
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(b.Take(t0 + std::chrono::milliseconds{i}, withheld));
        EXPECT_EQ(withheld, 0u);
    }
    for (int i = 0; i < 5; ++i) EXPECT_FALSE(b.Take(t0 + 500ms, withheld));
    EXPECT_EQ(withheld, 0u) << "the count is said when the next second begins, not per refusal";
    // The next second: its first line carries the count of the last, once.
    EXPECT_TRUE(b.Take(t0 + 1s, withheld));
    EXPECT_EQ(withheld, 5u);
    EXPECT_TRUE(b.Take(t0 + 1s + 1ms, withheld));
    EXPECT_EQ(withheld, 0u);
    // A quiet spell: nothing withheld, a fresh budget.
    EXPECT_TRUE(b.Take(t0 + 60s, withheld));
    EXPECT_EQ(withheld, 0u);
}

} // namespace
} // namespace vw::log
