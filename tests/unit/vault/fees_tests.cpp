// Fee arithmetic: the target for a deadline, escalation, the cap, and the pre-signed ladder.
#include "vault/fees.h"

#include <gtest/gtest.h>

namespace vw::vault {
namespace {

TEST(fees_tests, FeeRateRoundsUpLikeBitcoind)
{
    EXPECT_EQ(FeeRate{1'000}.FeeFor(141), Amount{141});
    EXPECT_EQ(FeeRate{1'500}.FeeFor(141), Amount{212}); // 211.5 -> 212
    EXPECT_EQ(FeeRate{0}.FeeFor(141), Amount{0});
    EXPECT_EQ(FeeRate::Of(Amount{212}, 141), FeeRate{1'503});
    EXPECT_EQ(FeeRate::Of(Amount{212}, 0), FeeRate{0});
}

TEST(fees_tests, ConfTargetAimsInsideTheWindow)
{
    EXPECT_EQ(ConfTarget(std::nullopt, 100), 6);
    EXPECT_EQ(ConfTarget(120, 100), 10);
    EXPECT_EQ(ConfTarget(101, 100), 1);
    EXPECT_EQ(ConfTarget(100, 100), 1);
    EXPECT_EQ(ConfTarget(90, 100), 1); // past it: as fast as possible
    EXPECT_EQ(ConfTarget(100'000, 0), 1008);
}

TEST(fees_tests, TargetFeeRateEscalatesEachBlockAndNearTheDeadline)
{
    FeePolicy p;
    p.fallback = FeeRate{20'000};
    p.min_relay = FeeRate{1'000};
    p.escalate_percent = 25;
    // No estimate: the fallback. An estimate below the relay minimum: the minimum.
    EXPECT_EQ(TargetFeeRate(p, std::nullopt, 0, 150, 100), FeeRate{20'000});
    EXPECT_EQ(TargetFeeRate(p, FeeRate{500}, 0, 150, 100), FeeRate{1'000});
    EXPECT_EQ(TargetFeeRate(p, FeeRate{8'000}, 0, 150, 100), FeeRate{8'000});
    // +25% per block unconfirmed, compounding.
    EXPECT_EQ(TargetFeeRate(p, FeeRate{8'000}, 1, 150, 100), FeeRate{10'000});
    EXPECT_EQ(TargetFeeRate(p, FeeRate{8'000}, 2, 150, 100), FeeRate{12'500});
    // At least double once the deadline is two blocks away.
    EXPECT_EQ(TargetFeeRate(p, FeeRate{8'000}, 0, 102, 100), FeeRate{16'000});
    EXPECT_EQ(TargetFeeRate(p, FeeRate{8'000}, 4, 102, 100), FeeRate{19'532}); // 8000 x 1.25^4 = 19531.25
    // Monotone in the blocks waited; bounded for absurd inputs.
    FeeRate last{0};
    for (int k = 0; k < 100; ++k) {
        const FeeRate r = TargetFeeRate(p, FeeRate{8'000}, k, 150, 100);
        EXPECT_GE(r, last);
        last = r;
    }
    EXPECT_GT(last.sat_per_kvb(), 0);
}

TEST(fees_tests, MaxFeeIsAShareOfTheValueButNeverBelowRelay)
{
    FeePolicy p;
    p.max_fee_percent = 10;
    p.min_relay = FeeRate{1'000};
    EXPECT_EQ(MaxFee(p, Amount{1'000'000}, 150), Amount{100'000});
    EXPECT_EQ(MaxFee(p, Amount{500}, 150), Amount{150});
    p.node_max = FeeRate{10'000'000'000'000'000}; // no maxfeerate in the way: the share of MAX_MONEY does not overflow
    EXPECT_EQ(MaxFee(p, MAX_MONEY, 150), Amount{MAX_MONEY.sats() / 10});
}

TEST(fees_tests, MaxFeeStaysUnderTheNodesMaxFeeRate)
{
    // sendrawtransaction refuses a fee over maxfeerate (0.10 BTC/kvB by default) whatever the
    // value at risk: a whole fee coin above it is no fee input for an unauthorized sweep, which
    // then goes through a CPFP child that takes change (a 0.2 BTC coin spent whole on a 200 vB
    // sweep was refused, and the next coin tried at once, and the next).
    FeePolicy p;
    p.max_fee_percent = 50;
    EXPECT_EQ(p.node_max, FeeRate{10'000'000});
    EXPECT_EQ(MaxFee(p, Amount{166'000'000}, 200), Amount{2'000'000});
    EXPECT_EQ(MaxFee(p, Amount{1'000'000}, 200), Amount{500'000}); // the share, when it is less
    p.min_relay = FeeRate{20'000'000};                               // a relay minimum above it: a misconfigured node
    EXPECT_EQ(MaxFee(p, Amount{1'000'000}, 200), Amount{4'000'000});
}

TEST(fees_tests, FeeOfNeedsEveryInputValue)
{
    MutableTransaction m;
    m.vin.resize(2);
    m.vout.push_back({Amount{90'000}, Bytes{0x51}});
    const Transaction tx{m};
    const std::vector<std::optional<Amount>> known{Amount{50'000}, Amount{45'000}};
    EXPECT_EQ(FeeOf(tx, known), Amount{5'000});
    const std::vector<std::optional<Amount>> unknown{Amount{50'000}, std::nullopt};
    EXPECT_FALSE(FeeOf(tx, unknown));
    const std::vector<std::optional<Amount>> short_{Amount{50'000}};
    EXPECT_FALSE(FeeOf(tx, short_));
    const std::vector<std::optional<Amount>> negative{Amount{50'000}, Amount{1}};
    EXPECT_FALSE(FeeOf(tx, negative));
}

TEST(fees_tests, TheLadderIsChosenByFeerateAndClimbedByFee)
{
    // Rungs as operators sign them: any order, ~same size.
    const std::vector<Rung> ladder{{Amount{10'000}, 100}, {Amount{1'000}, 100}, {Amount{5'000}, 100}};
    EXPECT_EQ(ChooseRung(ladder, FeeRate{1'000}), 1u);   // 10 sat/vB meets 1
    EXPECT_EQ(ChooseRung(ladder, FeeRate{10'001}), 2u);  // needs > 10 sat/vB: 50
    EXPECT_EQ(ChooseRung(ladder, FeeRate{50'000}), 2u);
    EXPECT_EQ(ChooseRung(ladder, FeeRate{60'000}), 0u);  // none meets it: the highest fee
    EXPECT_EQ(NextRung(ladder, 1), 2u);
    EXPECT_EQ(NextRung(ladder, 2), 0u);
    EXPECT_EQ(NextRung(ladder, 0), std::nullopt);
    EXPECT_EQ(NextRung(ladder, 7), std::nullopt);
    // Unknown fees (inputs we cannot value): chosen only as a last resort, never climbed from.
    const std::vector<Rung> opaque{{std::nullopt, 100}};
    EXPECT_EQ(ChooseRung(opaque, FeeRate{1'000'000}), 0u);
    EXPECT_EQ(NextRung(opaque, 0), std::nullopt);
    EXPECT_EQ(ChooseRung(std::vector<Rung>{}, FeeRate{1}), std::nullopt);
}

} // namespace
} // namespace vw::vault
