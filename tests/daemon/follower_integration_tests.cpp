// The chain follower against the regtest simulator over real RPC and ZMQ sockets. Each test
// asserts the exact sequence of connects/disconnects (and mempool events) the listener saw.
#ifdef VW_HAVE_SIM
#include "sim_harness.h"

#include <gtest/gtest.h>

#include <thread>

namespace vw::test {
namespace {

//! The listener's C/D events, replayed, must equal the simulator's chain from base.
void ExpectChainMatches(SimHarness& h, int base)
{
    const auto replay = ReplayedChain::From(h.listener().Events(), base);
    EXPECT_EQ(replay.error, "");
    EXPECT_EQ(replay.blocks, h.SimChain(base));
}

std::vector<std::string> EventsSince(SimHarness& h, size_t from)
{
    auto ev = h.listener().Events();
    std::vector<std::string> out;
    for (size_t i = from; i < ev.size(); ++i) {
        if (ev[i][0] == 'C' || ev[i][0] == 'D') out.push_back(ev[i]);
    }
    return out;
}

TEST(follower_integration_tests, CatchUpOf1000Blocks)
{
    SimHarness h;
    h.sim().Generate(1000);
    h.StartFollower(1);
    ASSERT_TRUE(h.WaitSynced());
    // Exactly C 1 .. C 1000, in order, each with the node's hash; nothing else.
    std::vector<std::string> want;
    for (const auto& [height, hash] : h.SimChain(1)) want.push_back("C " + std::to_string(height) + " " + hash);
    EXPECT_EQ(EventsSince(h, 0), want);
}

TEST(follower_integration_tests, ReorgsOfDepthOneToSix)
{
    SimHarness h;
    h.sim().Generate(20);
    h.StartFollower(1);
    ASSERT_TRUE(h.WaitSynced());
    for (int depth = 1; depth <= 6; ++depth) {
        const size_t before = h.listener().Events().size();
        const auto old_chain = h.SimChain(1);
        const int tip = h.sim().Height();
        const auto fresh = h.sim().Reorg(depth);
        ASSERT_TRUE(h.WaitSynced()) << "depth " << depth;
        std::vector<std::string> want;
        for (int k = 0; k < depth; ++k) {
            const auto& [ht, hash] = old_chain[static_cast<size_t>(tip - 1 - k)];
            want.push_back("D " + std::to_string(ht) + " " + hash);
        }
        for (const auto& [ht, hash] : h.SimChain(tip - depth + 1)) want.push_back("C " + std::to_string(ht) + " " + hash);
        EXPECT_EQ(EventsSince(h, before), want) << "depth " << depth;
        EXPECT_EQ(fresh.size(), static_cast<size_t>(depth + 1));
    }
    ExpectChainMatches(h, 1);
}

TEST(follower_integration_tests, ReorgWhileCatchingUp)
{
    SimHarness h;
    h.sim().Generate(400);
    h.sim().SetSlow(std::chrono::milliseconds{2}); // make catch-up take a while
    h.StartFollower(1);
    // Wait until the follower is part-way, then reorg the tip under it.
    for (int i = 0; i < 2000 && h.Status().cursor.height < 100; ++i) std::this_thread::sleep_for(std::chrono::milliseconds{5});
    ASSERT_LT(h.Status().cursor.height, 400);
    h.sim().Reorg(3);
    h.sim().SetSlow(std::chrono::milliseconds{0});
    ASSERT_TRUE(h.WaitSynced());
    ExpectChainMatches(h, 1);
}

TEST(follower_integration_tests, ZmqDropsAreDetectedAndResynced)
{
    SimHarness h;
    h.sim().Generate(120);
    h.opts.poll_interval = std::chrono::seconds{30}; // only ZMQ (and gaps) may wake the follower
    h.StartFollower(1);
    ASSERT_TRUE(h.WaitSynced());
    h.SendSpendOfCoinbase(1);
    ASSERT_TRUE(h.WaitMempoolSynced());
    // Lose a run of messages: the next ones reveal the gap and force an RPC resync.
    h.sim().DropZmq(5);
    h.SendSpendOfCoinbase(2);
    h.SendSpendOfCoinbase(3);
    h.sim().Generate(1);
    h.SendSpendOfCoinbase(4);
    h.sim().Generate(1);
    ASSERT_TRUE(h.WaitSynced(std::chrono::seconds{20}));
    ASSERT_TRUE(h.WaitMempoolSynced());
    EXPECT_GT(h.Status().zmq_gaps, 0u);
    ExpectChainMatches(h, 1);
}

TEST(follower_integration_tests, WithZmqSequenceFlowingTheMempoolIsNotSnapshotEveryPoll)
{
    // A busy mempool announced in order over ZMQ: the view is kept from ZMQ alone, and the node's
    // whole mempool is not read (and parsed) at every poll; a gap brings the snapshot back.
    auto eventually = [](const auto& f) {
        for (int i = 0; i < 500 && !f(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds{20});
        return f();
    };
    SimHarness h;
    h.opts.poll_interval = std::chrono::milliseconds{50};
    h.sim().Generate(130);
    h.StartFollower(1);
    ASSERT_TRUE(h.WaitSynced());
    const uint64_t snaps0 = h.Status().mempool_resyncs;
    const uint64_t rounds0 = h.Status().reconciles;
    for (int i = 1; i <= 20; ++i) {
        h.SendSpendOfCoinbase(i);
        std::this_thread::sleep_for(std::chrono::milliseconds{30});
    }
    ASSERT_TRUE(h.WaitMempoolSynced());
    const auto st = h.Status();
    EXPECT_GE(st.reconciles - rounds0, 5u) << "the poll ran";
    EXPECT_LE(st.mempool_resyncs - snaps0, 2u) << "at most the rounds before the first sequence message";
    // A gap: the next round takes a snapshot.
    h.sim().DropZmq(1);
    h.SendSpendOfCoinbase(21);
    h.SendSpendOfCoinbase(22);
    ASSERT_TRUE(h.WaitMempoolSynced());
    EXPECT_TRUE(eventually([&] { return h.Status().mempool_resyncs > st.mempool_resyncs; }));
    // A block: its round takes one too.
    const uint64_t before_block = h.Status().mempool_resyncs;
    h.sim().Generate(1);
    ASSERT_TRUE(h.WaitSynced());
    EXPECT_TRUE(eventually([&] { return h.Status().mempool_resyncs > before_block; }));
}

TEST(follower_integration_tests, ZmqSilenceWhileBlocksKeepComing)
{
    SimHarness h;
    h.sim().Generate(10);
    h.StartFollower(1);
    ASSERT_TRUE(h.WaitSynced());
    h.sim().SetZmqSilence(true);
    h.sim().Generate(7);
    // No notification arrives: the periodic reconcile must find the blocks.
    ASSERT_TRUE(h.WaitSynced(std::chrono::seconds{10}));
    h.sim().SetZmqSilence(false);
    ExpectChainMatches(h, 1);
}

TEST(follower_integration_tests, NodeRestart)
{
    SimHarness h;
    h.sim().Generate(110);
    h.StartFollower(1);
    ASSERT_TRUE(h.WaitSynced());
    h.SendSpendOfCoinbase(5);
    ASSERT_TRUE(h.WaitMempoolSynced());
    h.sim().Restart(); // counters restart at 0, mempool re-announced
    h.sim().Generate(3);
    h.SendSpendOfCoinbase(6);
    ASSERT_TRUE(h.WaitSynced(std::chrono::seconds{20}));
    ASSERT_TRUE(h.WaitMempoolSynced());
    EXPECT_GT(h.Status().zmq_restarts, 0u);
    ExpectChainMatches(h, 1);
}

TEST(follower_integration_tests, NodeRestartThatLostItsLastBlocks)
{
    // bitcoind killed on regtest comes back without its unflushed blocks: the follower's tip is
    // then a block the node does not know at all (getblock -5), and the node mines a new branch.
    SimHarness h;
    h.sim().Generate(10);
    h.StartFollower(1);
    ASSERT_TRUE(h.WaitSynced());
    const int before = h.sim().Height();
    h.sim().RestartLosingBlocks(4);
    ASSERT_EQ(h.sim().Height(), before - 4);
    h.sim().Generate(3);
    ASSERT_TRUE(h.WaitSynced(std::chrono::seconds{20}));
    ExpectChainMatches(h, 1);
}

TEST(follower_integration_tests, NodeUnreachableForAWhile)
{
    SimHarness h;
    h.sim().Generate(5);
    h.StartFollower(1);
    ASSERT_TRUE(h.WaitSynced());
    h.sim().SetUnreachable(true);
    h.sim().Generate(4);
    bool saw_unreachable = false;
    for (int i = 0; i < 500 && !saw_unreachable; ++i) {
        saw_unreachable = h.Status().node == daemon::FollowerStatus::Node::Unreachable;
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    EXPECT_TRUE(saw_unreachable);
    h.sim().SetUnreachable(false);
    ASSERT_TRUE(h.WaitSynced(std::chrono::seconds{20}));
    EXPECT_EQ(h.Status().node, daemon::FollowerStatus::Node::Ok);
    ExpectChainMatches(h, 1);
}

TEST(follower_integration_tests, WarmingUpAndRestartOfTheFollowerResumesAtItsCursor)
{
    SimHarness h;
    h.sim().Generate(50);
    h.sim().SetWarmup(true);
    h.StartFollower(1);
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    EXPECT_EQ(h.Status().node, daemon::FollowerStatus::Node::WarmingUp);
    h.sim().SetWarmup(false);
    ASSERT_TRUE(h.WaitSynced());
    h.StopFollower();
    h.sim().Generate(10);
    h.StartFollower(1); // the cursor in SQLite wins over start_height
    ASSERT_TRUE(h.WaitSynced());
    ExpectChainMatches(h, 1);
}

} // namespace
} // namespace vw::test
#endif
