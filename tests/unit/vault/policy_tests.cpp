#include "vault/policy.h"

#include <gtest/gtest.h>

#include <vector>

namespace vw::vault {
namespace {

Uint256 U(uint8_t b)
{
    Uint256 u;
    u.bytes.fill(b);
    return u;
}

struct Row {
    const char* name;
    Policy policy;
    std::vector<Approval> approvals;
    TriggerFacts trigger;
    int tip;
    Action want;
    bool approved;
    std::optional<int> deadline;
    std::optional<int> recover_at;
};

TEST(policy_tests, DecisionTable)
{
    const Txid tx = Txid::FromUint256(U(0x77));
    const TriggerFacts mempool{U(0xc1), tx, std::nullopt, 10};
    const TriggerFacts mined{U(0xc1), tx, 100, 10};
    const TriggerFacts mined_late{U(0xc1), tx, 151, 10};
    const TriggerFacts seen_then_mined{U(0xc1), tx, 151, 10, 140};
    const TriggerFacts seen_at_99{U(0xc1), tx, std::nullopt, 10, 99};
    const Approval by_ctv{Approval::Kind::CtvHash, U(0xc1), std::nullopt, false};
    const Approval other_ctv{Approval::Kind::CtvHash, U(0xc2), std::nullopt, false};
    const Approval by_txid{Approval::Kind::TriggerTxid, U(0x77), std::nullopt, false};
    const Approval expired{Approval::Kind::CtvHash, U(0xc1), 99, false};
    const Approval expires_later{Approval::Kind::CtvHash, U(0xc1), 150, false};
    const Approval revoked{Approval::Kind::CtvHash, U(0xc1), std::nullopt, true};
    const Policy recover{Mode::Recover, 0}, alert{Mode::Alert, 0}, delayed3{Mode::Delayed, 3};

    const std::vector<Row> rows{
        {"recover, unapproved, mempool", recover, {}, mempool, 99, Action::Recover, false, std::nullopt, std::nullopt},
        {"recover, unapproved, mined", recover, {}, mined, 100, Action::Recover, false, 109, std::nullopt},
        {"recover, other approval", recover, {other_ctv}, mined, 100, Action::Recover, false, 109, std::nullopt},
        {"recover, approved by ctv", recover, {by_ctv}, mined, 100, Action::LeaveAlone, true, 109, std::nullopt},
        {"recover, approved by txid", recover, {by_txid}, mempool, 99, Action::LeaveAlone, true, std::nullopt, std::nullopt},
        {"recover, approval expired", recover, {expired}, mined, 100, Action::Recover, false, 109, std::nullopt},
        {"recover, approval in force", recover, {expires_later}, mined, 150, Action::LeaveAlone, true, 109, std::nullopt},
        // An approval counts if it was in force when the trigger appeared: a withdrawal approved
        // at its first sight stays approved while it matures past the expiry (it was swept before).
        {"recover, approval expired since the trigger appeared", recover, {expires_later}, mined, 151, Action::LeaveAlone, true, 109, std::nullopt},
        {"recover, approval expired before the trigger appeared", recover, {expires_later}, mined_late, 160, Action::Recover, false, 160, std::nullopt},
        {"recover, seen in the mempool before the expiry", recover, {expires_later}, seen_then_mined, 160, Action::LeaveAlone, true, 160, std::nullopt},
        // First sight in the mempool at tip 99: it may confirm at 100, so the deadline is 109 already.
        {"recover, mempool, first seen at 99", recover, {}, seen_at_99, 99, Action::Recover, false, 109, std::nullopt},
        {"delayed, mempool, first seen at 99", delayed3, {}, seen_at_99, 105, Action::Wait, false, 109, std::nullopt},
        {"recover, approval revoked", recover, {revoked}, mined, 100, Action::Recover, false, 109, std::nullopt},
        {"alert, unapproved", alert, {}, mined, 100, Action::Alert, false, 109, std::nullopt},
        {"alert, approved", alert, {by_ctv}, mined, 100, Action::LeaveAlone, true, 109, std::nullopt},
        {"delayed, mempool", delayed3, {}, mempool, 99, Action::Wait, false, std::nullopt, std::nullopt},
        {"delayed, 1 conf", delayed3, {}, mined, 100, Action::Wait, false, 109, 102},
        {"delayed, 2 confs", delayed3, {}, mined, 101, Action::Wait, false, 109, 102},
        {"delayed, 3 confs", delayed3, {}, mined, 102, Action::Recover, false, 109, 102},
        {"delayed, approved in time", delayed3, {by_ctv}, mined, 102, Action::LeaveAlone, true, 109, std::nullopt},
    };
    for (const auto& r : rows) {
        const Decision d = Decide(r.policy, r.approvals, r.trigger, r.tip);
        EXPECT_EQ(d.action, r.want) << r.name << ": got " << ToString(d.action) << " (" << d.reason << ")";
        EXPECT_EQ(d.approved, r.approved) << r.name;
        EXPECT_EQ(d.deadline_height, r.deadline) << r.name;
        EXPECT_EQ(d.recover_at_height, r.recover_at) << r.name;
        EXPECT_FALSE(d.reason.empty()) << r.name;
    }
}

TEST(policy_tests, DeadlineIsTriggerHeightPlusDelayMinusOne)
{
    // docs/bip345.md §11: the withdrawal can be mined at h + spend_delay; we must confirm before.
    EXPECT_EQ(DeadlineHeight(100, 10), 109);
    EXPECT_EQ(DeadlineHeight(0, 1), 0);
}

TEST(policy_tests, CheckPolicyRefusesUnsafeGrace)
{
    EXPECT_FALSE(CheckPolicy({Mode::Recover, 0}, 10));
    EXPECT_FALSE(CheckPolicy({Mode::Alert, 0}, 10));
    EXPECT_TRUE(CheckPolicy({Mode::Recover, 2}, 10)); // grace without delayed mode
    EXPECT_TRUE(CheckPolicy({Mode::Delayed, 0}, 10));
    EXPECT_FALSE(CheckPolicy({Mode::Delayed, 10 - MIN_RECOVERY_WINDOW}, 10));
    auto too_close = CheckPolicy({Mode::Delayed, 10 - MIN_RECOVERY_WINDOW + 1}, 10);
    ASSERT_TRUE(too_close);
    EXPECT_NE(too_close->find("grace_blocks <= 7"), std::string::npos) << *too_close;
}

TEST(policy_tests, ModeNames)
{
    for (Mode m : {Mode::Recover, Mode::Delayed, Mode::Alert}) EXPECT_EQ(ParseMode(ToString(m)), m);
    EXPECT_FALSE(ParseMode("Recover"));
    EXPECT_FALSE(ParseMode(""));
}

} // namespace
} // namespace vw::vault
