// Functional tests: the real vaultwatchd process against a real bitcoind process.
//
// BITCOIND names the node binary. The tests start it themselves (-regtest, a temporary datadir,
// cookie auth, ZMQ rawtx/hashblock/sequence on a free port), drive it only through RPC
// (generatetoaddress, invalidateblock, stop) and signals, and check vaultwatchd's
// --debugeventlog against the node's chain (getblockhash). Without BITCOIND they are skipped.
// ctest's functional_against_sim runs this same suite with BITCOIND=vw-regtest-sim.
#include "process_util.h"

#include "util/bech32.h"

#include <gtest/gtest.h>

#ifdef VW_VAULTWATCHD_PATH

namespace vw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

//! A fixed taproot address (a program nobody can spend for): tag 0 for ordinary mining, other
//! tags for competing branches, so a rebuilt branch never reproduces an invalidated block.
std::string MiningAddress(uint8_t tag = 0)
{
    Bytes program(32, 0x5a);
    program[0] = tag;
    return *bech32::SegwitAddress("bcrt", 1, program);
}

//! A bitcoind (or vw-regtest-sim) process with a fixed datadir and fixed ports across restarts.
class NodeProcess
{
public:
    NodeProcess(fs::path binary, fs::path datadir)
        : m_binary(std::move(binary)), m_datadir(std::move(datadir)), m_rpc_port(proc::FreePort()), m_zmq_port(proc::FreePort())
    {
        fs::create_directories(m_datadir);
    }
    ~NodeProcess()
    {
        if (m_child.Running()) {
            try {
                Stop();
            } catch (const std::exception&) {
            }
            m_child.Kill(SIGKILL);
        }
    }
    void Start()
    {
        const std::string zmq = "tcp://127.0.0.1:" + std::to_string(m_zmq_port);
        m_child.Start({m_binary.string(), "-regtest", "-datadir=" + m_datadir.string(), "-rpcport=" + std::to_string(m_rpc_port),
                       "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1", "-zmqpubrawtx=" + zmq, "-zmqpubhashblock=" + zmq,
                       "-zmqpubsequence=" + zmq, "-listen=0", "-server", "-fallbackfee=0.0001", "-printtoconsole=0"},
                      m_datadir / "node.out");
        const bool up = proc::WaitUntil([&] { return !m_child.Running() || (fs::exists(CookiePath()) && Rpc().Ready()); }, 120s);
        if (!up || !m_child.Running()) throw std::runtime_error("the node did not start: " + proc::ReadFile(m_datadir / "node.out"));
    }
    //! RPC stop, then wait for the process to exit.
    void Stop()
    {
        Rpc().Call("stop");
        if (!m_child.Wait(120s)) throw std::runtime_error("the node did not stop");
    }
    void Kill() { m_child.Kill(SIGKILL); }
    fs::path CookiePath() const { return m_datadir / "regtest" / ".cookie"; }
    proc::SyncRpc Rpc() const { return proc::SyncRpc(m_rpc_port, CookiePath()); }
    json::value Call(const std::string& method, json::array params = {}) const { return Rpc().Call(method, std::move(params)); }
    std::vector<std::string> Generate(int n, uint8_t tag = 0)
    {
        std::vector<std::string> out;
        const json::value hashes = Call("generatetoaddress", {n, MiningAddress(tag)});
        for (const auto& h : hashes.as_array()) out.emplace_back(h.as_string());
        return out;
    }
    int Height() const { return static_cast<int>(Call("getblockcount").to_number<int64_t>()); }
    std::string BestHash() const { return std::string(Call("getbestblockhash").as_string()); }
    std::string HashAt(int h) const { return std::string(Call("getblockhash", {h}).as_string()); }
    std::vector<std::string> DaemonArgs() const
    {
        const std::string zmq = "tcp://127.0.0.1:" + std::to_string(m_zmq_port);
        return {"--bitcoind.rpcport=" + std::to_string(m_rpc_port), "--bitcoind.rpccookiefile=" + CookiePath().string(),
                "--bitcoind.zmqrawtx=" + zmq, "--bitcoind.zmqhashblock=" + zmq, "--bitcoind.zmqsequence=" + zmq};
    }
    proc::Child& child() { return m_child; }

private:
    fs::path m_binary;
    fs::path m_datadir;
    uint16_t m_rpc_port;
    uint16_t m_zmq_port;
    proc::Child m_child;
};

class functional_tests : public ::testing::Test
{
protected:
    void SetUp() override
    {
        const char* bin = std::getenv("BITCOIND");
        if (!bin || !*bin) {
            GTEST_SKIP() << "BITCOIND is not set: point it at a bitcoind binary (Core v26 or later) to run the functional tests "
                            "against a real node; ctest's functional_against_sim runs them against vw-regtest-sim";
        }
        node = std::make_unique<NodeProcess>(bin, dir.path() / "node");
        node->Start();
        daemon = std::make_unique<proc::Vaultwatchd>(VW_VAULTWATCHD_PATH, dir.path() / "vw");
        daemon->node_args = node->DaemonArgs();
    }
    void TearDown() override
    {
        if (daemon) daemon->child().Kill(SIGKILL);
        node.reset();
    }

    //! Reads new event-log lines into the replay.
    void Feed() { replay.Feed(daemon->Events()); }
    //! Waits until the event log's tip is the node's tip.
    bool WaitAtNodeTip(std::chrono::milliseconds timeout = 60s)
    {
        return proc::WaitUntil(
            [&] {
                Feed();
                if (replay.chain().empty()) return false;
                const int h = node->Height();
                return replay.chain().back() == std::pair{h, node->HashAt(h)};
            },
            timeout);
    }
    //! The event log's chain is the node's, 0..tip, with no error.
    void ExpectLogIsNodeChain()
    {
        Feed();
        EXPECT_EQ(replay.error(), "");
        EXPECT_EQ(replay.chain(), proc::NodeChain(node->Rpc()));
    }
    //! SIGTERM: the daemon exits 0, and what it logged was committed.
    void StopDaemonCleanly()
    {
        const auto st = daemon->child().Kill(SIGTERM, 30s);
        ASSERT_TRUE(st.has_value()) << "vaultwatchd did not exit on SIGTERM";
        EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "wait status " << *st << "\n" << daemon->LogTail();
        Feed();
        const auto c = proc::CommittedCursor(daemon->NetDir());
        ASSERT_FALSE(replay.chain().empty());
        EXPECT_EQ(std::pair(c.height, c.hash.ToString()), replay.chain().back()) << "the committed cursor is not the log's tip";
        replay.CleanStop();
    }
    //! SIGKILL once the log has at least `connects` connects, then checks the log against the committed cursor.
    void KillAfterConnects(int connects, int tip)
    {
        ASSERT_TRUE(proc::WaitUntil([&] { return daemon->Connects() >= connects || !daemon->child().Running(); }, 120s)) << daemon->LogTail();
        ASSERT_TRUE(daemon->child().Running()) << daemon->LogTail();
        const auto st = daemon->child().Kill(SIGKILL);
        ASSERT_TRUE(st && WIFSIGNALED(*st));
        Feed();
        EXPECT_LT(replay.Height(), tip) << "the kill came after the daemon had caught up: not a mid-catch-up kill";
        replay.Crash(proc::CommittedCursor(daemon->NetDir()));
        ASSERT_EQ(replay.error(), "") << daemon->LogTail();
    }
    //! The C/D lines logged since line `from`.
    std::vector<std::string> BlockEventsSince(size_t from)
    {
        const auto ev = daemon->Events();
        std::vector<std::string> out;
        for (size_t i = from; i < ev.size(); ++i) {
            if (ev[i].rfind("connected ", 0) == 0 || ev[i].rfind("disconnected ", 0) == 0) out.push_back(ev[i]);
        }
        return out;
    }

    proc::TempDir dir{"vw-functional"};
    std::unique_ptr<NodeProcess> node;
    std::unique_ptr<proc::Vaultwatchd> daemon;
    proc::EventLogReplay replay;
};

TEST_F(functional_tests, CatchUpOf1000Blocks)
{
    node->Generate(1000);
    daemon->Start();
    ASSERT_TRUE(WaitAtNodeTip(120s)) << daemon->LogTail();
    ExpectLogIsNodeChain();
    EXPECT_EQ(replay.connects(), 1001) << "each block exactly once";
    // New blocks keep arriving after the catch-up.
    node->Generate(3);
    ASSERT_TRUE(WaitAtNodeTip(30s)) << daemon->LogTail();
    ASSERT_NO_FATAL_FAILURE(StopDaemonCleanly());
    ExpectLogIsNodeChain();
}

TEST_F(functional_tests, ReorgsOfDepthOneToSix)
{
    node->Generate(20);
    daemon->Start();
    ASSERT_TRUE(WaitAtNodeTip()) << daemon->LogTail();
    for (int depth = 1; depth <= 6; ++depth) {
        SCOPED_TRACE("depth " + std::to_string(depth));
        const size_t from = daemon->Events().size();
        const int tip = node->Height();
        std::vector<std::string> want;
        for (int k = 0; k < depth; ++k) want.push_back("disconnected " + std::to_string(tip - k) + " " + node->HashAt(tip - k));
        node->Call("invalidateblock", {node->HashAt(tip - depth + 1)});
        node->Generate(depth + 1, static_cast<uint8_t>(depth));
        ASSERT_TRUE(WaitAtNodeTip()) << daemon->LogTail();
        for (int h = tip - depth + 1; h <= tip + 1; ++h) want.push_back("connected " + std::to_string(h) + " " + node->HashAt(h));
        EXPECT_EQ(BlockEventsSince(from), want);
    }
    ExpectLogIsNodeChain();
    ASSERT_NO_FATAL_FAILURE(StopDaemonCleanly());
}

TEST_F(functional_tests, ReorgWhileCatchingUp)
{
    node->Generate(1500);
    daemon->Start();
    ASSERT_TRUE(proc::WaitUntil([&] { return daemon->Connects() >= 50; }, 60s)) << daemon->LogTail();
    // Replace the last 4 blocks while the daemon is still far below them.
    const int tip = node->Height();
    node->Call("invalidateblock", {node->HashAt(tip - 3)});
    node->Generate(5, 7);
    Feed();
    EXPECT_LT(replay.Height(), tip - 3) << "the daemon had already reached the fork point";
    ASSERT_TRUE(WaitAtNodeTip(120s)) << daemon->LogTail();
    ExpectLogIsNodeChain();
    // Later, reconsidering the old branch does not make it best (it is shorter): nothing changes.
    ASSERT_NO_FATAL_FAILURE(StopDaemonCleanly());
}

TEST_F(functional_tests, NodeRestart)
{
    node->Generate(50);
    daemon->Start();
    ASSERT_TRUE(WaitAtNodeTip()) << daemon->LogTail();
    node->Stop();
    node->Start(); // same datadir and ports, a new cookie, ZMQ counters from 0
    EXPECT_EQ(node->Height(), 50) << "the node lost its chain across the restart";
    node->Generate(5);
    ASSERT_TRUE(WaitAtNodeTip()) << daemon->LogTail();
    // A reorg after the restart is followed too (the node's ZMQ notifications work again).
    const int tip = node->Height();
    node->Call("invalidateblock", {node->HashAt(tip - 1)});
    node->Generate(3, 9);
    ASSERT_TRUE(WaitAtNodeTip()) << daemon->LogTail();
    EXPECT_TRUE(daemon->child().Running());
    ExpectLogIsNodeChain();
    ASSERT_NO_FATAL_FAILURE(StopDaemonCleanly());
}

TEST_F(functional_tests, DaemonSigkillMidCatchUp)
{
    node->Generate(2000);
    const int tip = node->Height();
    daemon->Start();
    ASSERT_NO_FATAL_FAILURE(KillAfterConnects(200, tip));
    daemon->Start();
    ASSERT_NO_FATAL_FAILURE(KillAfterConnects(900, tip));
    daemon->Start();
    ASSERT_TRUE(WaitAtNodeTip(120s)) << daemon->LogTail();
    node->Generate(2);
    ASSERT_TRUE(WaitAtNodeTip()) << daemon->LogTail();
    ExpectLogIsNodeChain();
    EXPECT_LE(replay.redelivered(), 2);
    EXPECT_LE(replay.connects(), tip + 3 + 2) << "more than the one in-flight block per kill was processed twice";
    ASSERT_NO_FATAL_FAILURE(StopDaemonCleanly());
}

TEST_F(functional_tests, NodeUnreachableForAWhile)
{
    node->Generate(10);
    daemon->Start();
    ASSERT_TRUE(WaitAtNodeTip()) << daemon->LogTail();
    // Clean stop: nothing is mined while it is down; the daemon keeps retrying.
    node->Stop();
    std::this_thread::sleep_for(3s);
    ASSERT_TRUE(daemon->child().Running()) << daemon->LogTail();
    node->Start();
    node->Generate(4);
    ASSERT_TRUE(WaitAtNodeTip()) << daemon->LogTail();
    // Killed by pid: the daemon sees connections refused, then the node comes back.
    node->Kill();
    std::this_thread::sleep_for(2s);
    ASSERT_TRUE(daemon->child().Running()) << daemon->LogTail();
    node->Start();
    node->Generate(3);
    ASSERT_TRUE(WaitAtNodeTip()) << daemon->LogTail();
    ExpectLogIsNodeChain();
    ASSERT_NO_FATAL_FAILURE(StopDaemonCleanly());
}

} // namespace
} // namespace vw::test

#endif // VW_VAULTWATCHD_PATH
