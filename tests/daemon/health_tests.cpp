// The tower's health verdict (health.h): a wedged follower stops the watchdog pings, a node that
// is down or a full disk does not (a restart would not help; they are shown instead), and a chain
// with no new block for long is flagged for an alert, except where blocks come on demand.
#include "health.h"

#include <gtest/gtest.h>

namespace vw::daemon {
namespace {
using namespace std::chrono_literals;

FollowerStatus At(int cursor, int tip, FollowerStatus::Node node = FollowerStatus::Node::Ok)
{
    FollowerStatus s;
    s.node = node;
    s.cursor.height = cursor;
    s.node_tip = tip;
    return s;
}

TEST(health_tests, AWedgedFollowerStopsTheWatchdog)
{
    HealthOptions o;
    HealthState st;
    const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    EXPECT_TRUE(AssessHealth(At(100, 100), t0, st, o).ping);
    // The node moves on, we do not.
    EXPECT_TRUE(AssessHealth(At(100, 101), t0 + 1min, st, o).ping) << "behind for a moment is normal";
    auto v = AssessHealth(At(100, 103), t0 + 10min, st, o);
    EXPECT_FALSE(v.ping);
    ASSERT_TRUE(v.status);
    EXPECT_NE(v.status->find("stuck: height 100 while the node is at 103"), std::string::npos) << *v.status;
    // Progress again: pings again.
    v = AssessHealth(At(101, 103), t0 + 11min, st, o);
    EXPECT_TRUE(v.ping);
    EXPECT_FALSE(v.status);
}

TEST(health_tests, ANodeDownOrAFullDiskKeepsThePingsAndSaysSo)
{
    HealthOptions o;
    HealthState st;
    const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    AssessHealth(At(100, 105, FollowerStatus::Node::Unreachable), t0, st, o);
    EXPECT_TRUE(AssessHealth(At(100, 105, FollowerStatus::Node::Unreachable), t0 + 30min, st, o).ping);
    auto full = At(100, 105);
    full.store_error = "database or disk is full";
    const auto v = AssessHealth(full, t0 + 60min, st, o);
    EXPECT_TRUE(v.ping) << "restarting does not free the disk";
    ASSERT_TRUE(v.status);
    EXPECT_NE(v.status->find("disk is full"), std::string::npos);
}

TEST(health_tests, AChainWithoutNewBlocksIsFlagged)
{
    HealthOptions o;
    HealthState st;
    const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    EXPECT_FALSE(AssessHealth(At(100, 100), t0, st, o).stalled);
    EXPECT_FALSE(AssessHealth(At(100, 100), t0 + 89min, st, o).stalled);
    auto v = AssessHealth(At(100, 100), t0 + 90min, st, o);
    EXPECT_TRUE(v.stalled);
    EXPECT_TRUE(v.ping) << "the tower itself is fine";
    ASSERT_TRUE(v.status);
    EXPECT_NE(v.status->find("no new block at the node for 90 min"), std::string::npos);
    EXPECT_FALSE(AssessHealth(At(101, 101), t0 + 91min, st, o).stalled) << "a block: resumed";
    // Regtest: blocks come when someone mines them.
    o.stalled_after = 0s;
    HealthState rt;
    AssessHealth(At(5, 5), t0, rt, o);
    EXPECT_FALSE(AssessHealth(At(5, 5), t0 + 24h, rt, o).stalled);
}

} // namespace
} // namespace vw::daemon
