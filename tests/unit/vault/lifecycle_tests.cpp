#include "vault/lifecycle.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

namespace vw::vault {
namespace {

using RS = RecoveryState;
constexpr RS kStates[] = {RS::Planned, RS::Broadcast, RS::Confirmed, RS::Failed, RS::Conflicted, RS::Replaced};
constexpr PlanKind kKinds[] = {PlanKind::OpVaultUnauthorized, PlanKind::OpVaultAuthorized, PlanKind::Presigned, PlanKind::PresignedEmergency};

TEST(lifecycle_tests, EveryStateAndKindHasOneSpellingThatParsesBack)
{
    for (RS s : kStates) {
        EXPECT_EQ(ParseRecoveryState(ToString(s)), s) << ToString(s);
        EXPECT_NE(ToString(s), "unknown");
    }
    for (PlanKind k : kKinds) EXPECT_EQ(ParsePlanKind(ToString(k)), k) << ToString(k);
    EXPECT_EQ(ToString(PlanKind::OpVaultUnauthorized), "opvault_unauthorized"); // the stored and RPC spelling
    for (const char* bad : {"", "Planned", "planned ", "opvault-unauthorized", "unknown"}) {
        EXPECT_FALSE(ParseRecoveryState(bad)) << bad;
        EXPECT_FALSE(ParsePlanKind(bad)) << bad;
    }
}

TEST(lifecycle_tests, LiveAndDeadPartitionEveryStateButConfirmed)
{
    for (RS s : kStates) EXPECT_EQ(IsLive(s) + IsDead(s) + (s == RS::Confirmed), 1) << ToString(s);
}

TEST(lifecycle_tests, TheMovesAllowedAreExactlyTheDocumentedOnes)
{
    // The table of lifecycle.h, spelled out: any other move is an engine bug.
    const std::set<std::pair<RS, RS>> allowed{
        {RS::Planned, RS::Broadcast},    {RS::Planned, RS::Failed},       {RS::Planned, RS::Conflicted},
        {RS::Planned, RS::Replaced},     {RS::Planned, RS::Confirmed},    {RS::Broadcast, RS::Failed},
        {RS::Broadcast, RS::Conflicted}, {RS::Broadcast, RS::Replaced},   {RS::Broadcast, RS::Confirmed},
        {RS::Failed, RS::Planned},       {RS::Failed, RS::Confirmed},     {RS::Conflicted, RS::Planned},
        {RS::Conflicted, RS::Confirmed}, {RS::Replaced, RS::Planned},     {RS::Replaced, RS::Confirmed},
        {RS::Confirmed, RS::Broadcast},
    };
    for (RS from : kStates) {
        for (RS to : kStates) {
            const bool want = from == to || allowed.contains({from, to});
            EXPECT_EQ(CanMove(from, to), want) << ToString(from) << " -> " << ToString(to);
        }
    }
    // What the rules protect: a dead recovery is never sent again without being planned again
    // (which is where fee coins are taken), and a confirmed one only leaves by a reorg.
    for (RS dead : {RS::Failed, RS::Conflicted, RS::Replaced}) EXPECT_FALSE(CanMove(dead, RS::Broadcast));
    for (RS to : kStates) EXPECT_EQ(CanMove(RS::Confirmed, to), to == RS::Confirmed || to == RS::Broadcast);
}

} // namespace
} // namespace vw::vault
