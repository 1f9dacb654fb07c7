// Fault injection against the chain follower:
//  - bad bytes: malformed ZMQ messages and malformed bitcoind RPC replies (the simulator's
//    fault injection), while blocks are mined and transactions sent. The follower must log,
//    retry and survive, and afterwards its listener's events must replay to exactly the node's
//    chain and mempool;
//  - crashes: the real vaultwatchd process SIGKILLed while catching up, restarted, must end with
//    a contiguous chain in its --debugeventlog, no block skipped, at most the one block in flight
//    at each kill processed twice; and it must exit cleanly on SIGTERM.
#ifdef VW_HAVE_SIM
#include "process_util.h"
#include "sim_harness.h"

#include <gtest/gtest.h>

namespace vw::test {
namespace {

using namespace std::chrono_literals;
using sim::BadReply;
using sim::ZmqGarbage;

void ExpectChainMatches(SimHarness& h, int base)
{
    const auto replay = ReplayedChain::From(h.listener().Events(), base);
    EXPECT_EQ(replay.error, "");
    EXPECT_EQ(replay.blocks, h.SimChain(base));
}

void ExpectMempoolMatches(SimHarness& h)
{
    auto replay = ReplayedChain::From(h.listener().Events(), 1);
    std::sort(replay.mempool.begin(), replay.mempool.end());
    EXPECT_EQ(replay.mempool, h.SimMempool());
}

//! For failure messages: the node's mempool, the replayed one, and the listener's events.
std::string MempoolDiff(SimHarness& h)
{
    auto replay = ReplayedChain::From(h.listener().Events(), 1);
    std::string out = "node mempool:";
    for (const auto& t : h.SimMempool()) out += " " + t.substr(0, 8);
    out += "\nreplayed mempool:";
    for (const auto& t : replay.mempool) out += " " + t.substr(0, 8);
    out += "\nreplay error: " + replay.error + "\nevents (not C/M):";
    for (const auto& e : h.listener().Events()) {
        if (e[0] != 'C' && e[0] != 'M') out += " [" + e.substr(0, 10) + "]";
    }
    return out;
}

constexpr ZmqGarbage kAllGarbage[] = {ZmqGarbage::OneFrame,     ZmqGarbage::TwoFrames, ZmqGarbage::FourFrames,   ZmqGarbage::ShortBody,
                                      ZmqGarbage::EmptyBody,    ZmqGarbage::UnknownTopic, ZmqGarbage::BadLabel,  ZmqGarbage::BadSeqLength,
                                      ZmqGarbage::ShortCounter, ZmqGarbage::LongCounter};

TEST(fault_tests, MalformedZmqMessagesAreCountedAndIgnored)
{
    SimHarness h;
    h.sim().Generate(130);
    h.StartFollower(1);
    ASSERT_TRUE(h.WaitSynced());
    int injected = 0;
    int coinbase = 1;
    for (const char* topic : {"sequence", "rawtx", "hashblock"}) {
        for (const auto kind : kAllGarbage) {
            h.sim().PublishZmqGarbage(kind, topic);
            ++injected;
        }
        // Between the garbage, real traffic: a tx, a block, another tx.
        h.SendSpendOfCoinbase(coinbase++);
        h.sim().Generate(1);
        h.SendSpendOfCoinbase(coinbase++);
    }
    // Arbitrary frames: five frames, random bytes as a tx.
    h.sim().PublishZmqRaw("sequence", {Bytes{'s', 'e', 'q', 'u', 'e', 'n', 'c', 'e'}, Bytes(33, 1), Bytes(4, 0), Bytes{}, Bytes{}});
    h.sim().PublishZmqRaw("rawtx", {Bytes{'r', 'a', 'w', 't', 'x'}, Bytes(7, 0xff), Bytes{0, 0, 0, 0}});
    injected += 2;
    ASSERT_TRUE(proc::WaitUntil([&] { return h.Status().zmq_bad_messages >= static_cast<uint64_t>(injected); }, 10s))
        << "bad messages seen: " << h.Status().zmq_bad_messages << " of " << injected;
    ASSERT_TRUE(h.WaitSynced(20s));
    ASSERT_TRUE(h.WaitMempoolSynced()) << MempoolDiff(h);
    const auto st = h.Status();
    EXPECT_EQ(st.zmq_bad_messages, static_cast<uint64_t>(injected));
    EXPECT_EQ(st.node, daemon::FollowerStatus::Node::Ok);
    ExpectChainMatches(h, 1);
    ExpectMempoolMatches(h);
}

struct BadReplyCase {
    const char* method;
    BadReply kind;
};

TEST(fault_tests, MalformedRpcRepliesAreRetried)
{
    // Each case: the next 3 replies to `method` are malformed, while blocks are mined and txs sent.
    const BadReplyCase cases[] = {
        {"getblockchaininfo", BadReply::TruncatedJson}, {"getblockchaininfo", BadReply::WrongType},
        {"getblockchaininfo", BadReply::NotJson},       {"getblockchaininfo", BadReply::EmptyBody},
        {"getblockhash", BadReply::WrongType},          {"getblockhash", BadReply::NonHex},
        {"getblockhash", BadReply::TruncatedHex},       {"getblockhash", BadReply::TruncatedJson},
        {"getblock", BadReply::NonHex},                 {"getblock", BadReply::TruncatedHex},
        {"getblock", BadReply::WrongType},              {"getblock", BadReply::TruncatedJson},
        {"getblock", BadReply::NotJson},                {"getrawmempool", BadReply::WrongType},
        {"getrawmempool", BadReply::TruncatedJson},     {"getrawtransaction", BadReply::NonHex},
        {"getrawtransaction", BadReply::TruncatedHex},  {"getrawtransaction", BadReply::WrongType},
    };
    SimHarness h;
    h.sim().Generate(101 + static_cast<int>(std::size(cases)) * 2);
    h.StartFollower(1);
    ASSERT_TRUE(h.WaitSynced());
    int coinbase = 1;
    for (const auto& c : cases) {
        SCOPED_TRACE(std::string(c.method) + " kind " + std::to_string(static_cast<int>(c.kind)));
        const uint64_t reconciles_before = h.Status().reconciles;
        h.sim().CorruptReplies(3, c.kind, c.method);
        // Lose the next rawtx: the tx's 'A' then needs getrawtransaction, and the next rawtx
        // reveals the gap, which makes the follower re-read the mempool (getrawmempool).
        h.sim().DropZmq(1);
        h.SendSpendOfCoinbase(coinbase++);
        ASSERT_TRUE(h.WaitMempoolSynced(10s)) << "a tx announced without its body was lost";
        h.sim().Generate(1);
        h.SendSpendOfCoinbase(coinbase++);
        ASSERT_TRUE(proc::WaitUntil([&] { return h.sim().PendingCorruptReplies() == 0; }, 10s))
            << "the follower never asked again: " << h.sim().PendingCorruptReplies() << " malformed replies left";
        ASSERT_TRUE(h.WaitSynced(10s));
        ASSERT_TRUE(h.WaitMempoolSynced(10s));
        EXPECT_GT(h.Status().reconciles, reconciles_before);
        EXPECT_EQ(h.Status().node, daemon::FollowerStatus::Node::Ok);
    }
    h.sim().CorruptReplies(0, BadReply::TruncatedJson);
    ExpectChainMatches(h, 1);
    ExpectMempoolMatches(h);
}

TEST(fault_tests, BadBytesWhileMiningAndSending)
{
    SimHarness h;
    h.sim().Generate(160);
    h.StartFollower(1);
    ASSERT_TRUE(h.WaitSynced());
    const BadReply kinds[] = {BadReply::TruncatedJson, BadReply::WrongType, BadReply::NonHex,
                              BadReply::TruncatedHex,  BadReply::NotJson,   BadReply::EmptyBody};
    std::mt19937 rng(12345);
    int coinbase = 1;
    for (int round = 0; round < 40; ++round) {
        switch (rng() % 6) {
        case 0: h.sim().PublishZmqGarbage(kAllGarbage[rng() % std::size(kAllGarbage)], round % 2 ? "sequence" : "rawtx"); break;
        case 1: h.sim().CorruptReplies(1 + static_cast<int>(rng() % 3), kinds[rng() % std::size(kinds)]); break;
        case 2: h.sim().Generate(1); break;
        case 3: h.sim().Reorg(1 + static_cast<int>(rng() % 3)); break;
        default: h.SendSpendOfCoinbase(coinbase++); break;
        }
        if (round % 8 == 7) std::this_thread::sleep_for(50ms);
    }
    h.sim().CorruptReplies(0, BadReply::TruncatedJson);
    h.sim().Generate(1);
    ASSERT_TRUE(h.WaitSynced(20s));
    ASSERT_TRUE(h.WaitMempoolSynced(20s)) << MempoolDiff(h);
    EXPECT_EQ(h.Status().node, daemon::FollowerStatus::Node::Ok);
    ExpectChainMatches(h, 1);
    ExpectMempoolMatches(h);
}

// ---- the vaultwatchd process ---------------------------------------------------------------------
#ifdef VW_VAULTWATCHD_PATH

std::vector<std::pair<int, std::string>> SimChainFrom0(sim::RegtestSim& s)
{
    std::vector<std::pair<int, std::string>> out;
    const int tip = s.Height();
    for (int h = 0; h <= tip; ++h) out.emplace_back(h, std::string(s.Call("getblockhash", {h}).as_string()));
    return out;
}

struct ProcessFixture {
    proc::TempDir dir{"vw-fault"};
    std::unique_ptr<sim::RegtestSim> sim;
    std::unique_ptr<proc::Vaultwatchd> daemon;

    ProcessFixture()
    {
        sim::SimConfig cfg;
        cfg.rpc_user = "u";
        cfg.rpc_password = "p";
        for (const char* t : {"rawtx", "hashblock", "sequence"}) cfg.zmq.push_back({t, "tcp://127.0.0.1:0"});
        sim = std::make_unique<sim::RegtestSim>(cfg);
        sim->Start();
        daemon = std::make_unique<proc::Vaultwatchd>(VW_VAULTWATCHD_PATH, dir.path() / "vw");
        daemon->node_args = {"--bitcoind.rpcport=" + std::to_string(sim->RpcPort()), "--bitcoind.rpcuser=u", "--bitcoind.rpcpassword=p",
                             "--bitcoind.zmqrawtx=" + sim->ZmqAddress("rawtx"), "--bitcoind.zmqhashblock=" + sim->ZmqAddress("hashblock"),
                             "--bitcoind.zmqsequence=" + sim->ZmqAddress("sequence")};
    }
    ~ProcessFixture()
    {
        daemon->child().Kill(SIGKILL);
        sim->Stop();
    }
};

TEST(fault_tests, DaemonSigkillMidCatchUp)
{
    ProcessFixture f;
    f.sim->Generate(1500);
    // About 1 ms per RPC request: catch-up takes several seconds, so the kills land mid-way.
    f.sim->SetSlow(1ms);
    proc::EventLogReplay replay;
    int kills = 0;
    for (const int kill_at : {150, 700}) {
        f.daemon->Start();
        ASSERT_TRUE(proc::WaitUntil([&] { return f.daemon->Connects() >= kill_at || !f.daemon->child().Running(); }, 60s))
            << f.daemon->LogTail();
        ASSERT_TRUE(f.daemon->child().Running()) << f.daemon->LogTail();
        const auto status = f.daemon->child().Kill(SIGKILL);
        ASSERT_TRUE(status && WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL);
        ++kills;
        replay.Feed(f.daemon->Events());
        ASSERT_LT(replay.Height(), 1500) << "the kill came too late: the daemon had already caught up";
        replay.Crash(proc::CommittedCursor(f.daemon->NetDir()));
        ASSERT_EQ(replay.error(), "") << f.daemon->LogTail();
    }
    f.sim->SetSlow(0ms);
    f.daemon->Start();
    ASSERT_TRUE(proc::WaitUntil(
        [&] {
            replay.Feed(f.daemon->Events());
            return replay.Height() >= 1500;
        },
        60s))
        << f.daemon->LogTail();
    // A block mined after the restart arrives too.
    f.sim->Generate(1);
    ASSERT_TRUE(proc::WaitUntil(
        [&] {
            replay.Feed(f.daemon->Events());
            return replay.Height() >= 1501;
        },
        20s));
    const auto st = f.daemon->child().Kill(SIGTERM);
    ASSERT_TRUE(st.has_value()) << "vaultwatchd did not exit on SIGTERM";
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "status " << *st << "\n" << f.daemon->LogTail();
    replay.Feed(f.daemon->Events());
    EXPECT_EQ(replay.error(), "");
    EXPECT_LE(replay.redelivered(), kills);
    EXPECT_EQ(replay.chain(), SimChainFrom0(*f.sim));
    EXPECT_EQ(proc::CommittedCursor(f.daemon->NetDir()).hash.ToString(), f.sim->BestBlockHash());
    // Every height was connected once, plus at most one re-delivery per kill.
    EXPECT_LE(replay.connects(), 1502 + kills);
}

TEST(fault_tests, DaemonExitsCleanlyOnSigtermWhileTheNodeIsDown)
{
    ProcessFixture f;
    f.sim->Generate(5);
    f.daemon->Start();
    ASSERT_TRUE(proc::WaitUntil([&] { return f.daemon->Connects() >= 6; }, 20s)) << f.daemon->LogTail();
    f.sim->SetUnreachable(true);
    std::this_thread::sleep_for(1500ms); // the next reconcile finds the node down and retries
    const auto st = f.daemon->child().Kill(SIGTERM, 10s);
    ASSERT_TRUE(st.has_value()) << "vaultwatchd did not exit on SIGTERM";
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << f.daemon->LogTail();
    f.sim->SetUnreachable(false);
}

#endif // VW_VAULTWATCHD_PATH

} // namespace
} // namespace vw::test
#endif
