// The chain follower's mempool snapshot (getrawmempool), with the world moving while it is on its
// way and while it is read: ZMQ adds and removes that come after the node took it must survive
// it, and a large snapshot is read in slices, so the thread that answers triggers is never held
// for the whole of it. The simulator is called in-process; the test runs the follower's io_context
// itself, so "meanwhile" is exact.
#ifdef VW_HAVE_SIM
#include "process_util.h"
#include "sim_harness.h"
#include "tx_util.h"
#include "util/hex.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <optional>

namespace vw::test {
namespace {
namespace net = boost::asio;
namespace json = boost::json;

constexpr const char* kNodeSocket = "ipc:///run/bitcoind/zmq-sequence.sock";
constexpr const char* kNodeRawSocket = "ipc:///run/bitcoind/zmq-rawtx.sock";

class follower_resync_tests : public ::testing::Test
{
protected:
    void SetUp() override
    {
        sim::SimConfig cfg;
        cfg.rpc_user = "u";
        cfg.rpc_password = "p";
        m_sim = std::make_unique<sim::RegtestSim>(cfg);
        m_sim->Start();
        m_sim->Generate(101);
        m_node = std::make_unique<daemon::BitcoindNode>([this](std::string method, json::value params) -> net::awaitable<daemon::RpcResult<json::value>> {
            daemon::RpcResult<json::value> r;
            try {
                r.value = m_sim->Call(method, params.is_array() ? params.as_array() : json::array{});
            } catch (const sim::RpcError& e) {
                r.error = daemon::RpcError{daemon::RpcError::Kind::Rpc, e.code, e.what()};
            }
            if (method == "getrawmempool") {
                // The node took its snapshot; what follows happens before the follower reads it.
                if (auto f = std::move(after_snapshot)) f();
                // And this, once the follower has begun to read it.
                if (auto g = std::move(while_read)) net::post(m_io, std::move(g));
                after_snapshot = nullptr;
                while_read = nullptr;
            }
            co_return r;
        });
        auto st = store::OpenSqliteStore((m_dir.path() / "vaultwatch.sqlite").string());
        ASSERT_TRUE(st) << st.error().message;
        m_store = std::move(*st);
        daemon::FollowerOptions fo;
        fo.chain = "regtest";
        fo.poll_interval = std::chrono::hours{1}; // only Settle() wakes it
        fo.retry_min = fo.retry_max = std::chrono::milliseconds{1};
        m_follower = std::make_unique<daemon::ChainFollower>(m_io.get_executor(), *m_node, *m_store, m_listener, fo);
        net::co_spawn(m_io, m_follower->Run(), net::detached);
        Settle();
    }

    void TearDown() override
    {
        m_follower->Stop();
        m_io.restart();
        m_io.poll();
        m_sim->Stop();
    }

    //! Wakes the follower (it takes a snapshot: no sequence flows in order here) and runs it until
    //! it has nothing left to do.
    void Settle()
    {
        m_follower->Wake();
        for (int k = 0; k < 100'000; ++k) {
            m_io.restart();
            if (m_io.poll() == 0) break;
        }
    }

    //! Runs the follower until pred() holds: what goes to the helper thread completes later.
    bool RunUntil(const std::function<bool()>& pred, std::chrono::seconds timeout = std::chrono::seconds{60})
    {
        for (auto until = std::chrono::steady_clock::now() + timeout; std::chrono::steady_clock::now() < until;) {
            if (pred()) return true;
            m_io.restart();
            m_io.run_for(std::chrono::milliseconds{10});
        }
        return pred();
    }

    //! n transactions in the node's mempool, each spending an output of one fan-out (its coinbase's
    //! value shared). The simulator checks no scripts.
    std::vector<Transaction> Fill(size_t n)
    {
        const std::string hash{m_sim->Call("getblockhash", {m_next_coinbase++}).as_string()};
        const Transaction cb = DecodeBlock(*ParseHex(std::string_view{m_sim->Call("getblock", {hash, 0}).as_string()}))->txs.at(0);
        MutableTransaction fan;
        fan.vin.push_back(TxIn{{cb.GetTxid(), 0}, {}, 0xfffffffd, {kOpTrue}});
        const Amount each{(cb.vout()[0].value.sats() - 100'000) / static_cast<int64_t>(n)};
        for (size_t i = 0; i < n; ++i) fan.vout.push_back({each, AnyoneCanSpend()});
        const Transaction f{fan};
        m_sim->Call("sendrawtransaction", {HexStr(SerializeTransaction(f))});
        std::vector<Transaction> out{f};
        for (uint32_t i = 0; i < n; ++i) {
            MutableTransaction m;
            m.vin.push_back(TxIn{{f.GetTxid(), i}, {}, 0xfffffffd, {kOpTrue}});
            m.vout.push_back({each - Amount{500}, AnyoneCanSpend()});
            out.emplace_back(m);
            m_sim->Call("sendrawtransaction", {HexStr(SerializeTransaction(out.back()))});
        }
        return out;
    }

    //! The node's own sockets say: this transaction entered its mempool (rawtx, then 'A').
    void HearAdded(const Transaction& tx)
    {
        chain::ZmqMessage raw;
        raw.topic = chain::ZmqTopic::RawTx;
        raw.sequence = m_raw_seq++;
        raw.body = SerializeTransaction(tx);
        m_follower->OnZmqMessage(kNodeRawSocket, std::move(raw), daemon::ZmqArrival{true, std::chrono::steady_clock::now()});
        chain::ZmqMessage seq;
        seq.topic = chain::ZmqTopic::Sequence;
        seq.sequence = m_seq++;
        seq.parsed = chain::SequenceBody{chain::SeqTxAdded{tx.GetTxid(), m_seq}};
        m_follower->OnZmqMessage(kNodeSocket, std::move(seq), daemon::ZmqArrival{true, std::chrono::steady_clock::now()});
    }
    //! ... or left it ('R').
    void HearRemoved(const Txid& txid)
    {
        chain::ZmqMessage seq;
        seq.topic = chain::ZmqTopic::Sequence;
        seq.sequence = m_seq++;
        seq.parsed = chain::SequenceBody{chain::SeqTxRemoved{txid, m_seq}};
        m_follower->OnZmqMessage(kNodeSocket, std::move(seq), daemon::ZmqArrival{true, std::chrono::steady_clock::now()});
    }

    size_t Count(const std::string& event) const
    {
        const auto ev = m_listener.Events();
        return static_cast<size_t>(std::count(ev.begin(), ev.end(), event));
    }
    size_t CountKind(char kind) const
    {
        const auto ev = m_listener.Events();
        return static_cast<size_t>(std::count_if(ev.begin(), ev.end(), [&](const std::string& e) { return e[0] == kind; }));
    }
    //! The listener's view of the mempool, replayed, is the node's.
    void ExpectMempoolMatches()
    {
        const auto replay = ReplayedChain::From(m_listener.Events(), 0);
        EXPECT_EQ(replay.error, "");
        std::vector<std::string> ours = replay.mempool, node;
        const json::value pool = m_sim->Call("getrawmempool");
        for (const auto& t : pool.as_array()) node.emplace_back(t.as_string());
        std::sort(ours.begin(), ours.end());
        std::sort(node.begin(), node.end());
        EXPECT_EQ(ours, node);
    }

    std::function<void()> after_snapshot;
    std::function<void()> while_read;
    proc::TempDir m_dir{"vw-follower-resync"};
    std::unique_ptr<sim::RegtestSim> m_sim;
    net::io_context m_io;
    std::unique_ptr<daemon::BitcoindNode> m_node;
    std::unique_ptr<store::Store> m_store;
    RecordingListener m_listener;
    std::unique_ptr<daemon::ChainFollower> m_follower;
    int m_next_coinbase{1};
    uint32_t m_seq{0}, m_raw_seq{0};
};

TEST_F(follower_resync_tests, WhatZmqSaysAfterTheNodeTookItsSnapshotIsNotUndoneByIt)
{
    const auto txs = Fill(3);
    Settle();
    ASSERT_EQ(CountKind('A'), 4u);
    const Txid& stays = txs[1].GetTxid();
    const Txid& left_meanwhile = txs[2].GetTxid();
    const Txid& silently_gone = txs[3].GetTxid();
    ASSERT_TRUE(m_sim->Evict(silently_gone)); // nobody tells the follower: the snapshot will
    MutableTransaction child; // of `stays`, sent after the snapshot
    child.vin.push_back(TxIn{{stays, 0}, {}, 0xfffffffd, {kOpTrue}});
    child.vout.push_back({txs[1].vout()[0].value - Amount{1'000}, AnyoneCanSpend()});
    const Transaction fresh{child};
    const std::string fresh_hex = HexStr(SerializeTransaction(fresh));
    after_snapshot = [&] {
        // The snapshot lists left_meanwhile and not fresh; ZMQ then says what happened after it.
        ASSERT_TRUE(m_sim->Evict(left_meanwhile));
        HearRemoved(left_meanwhile);
        m_sim->Call("sendrawtransaction", {fresh_hex});
        HearAdded(fresh);
    };
    Settle();
    EXPECT_EQ(Count("A " + left_meanwhile.ToString()), 1u) << "listed by a snapshot older than its removal: not announced again";
    EXPECT_EQ(Count("R " + left_meanwhile.ToString()), 1u);
    EXPECT_EQ(Count("A " + fresh.GetTxid().ToString()), 1u);
    EXPECT_EQ(Count("R " + fresh.GetTxid().ToString()), 0u) << "absent from a snapshot older than it: not removed";
    EXPECT_EQ(Count("R " + silently_gone.ToString()), 1u) << "neither listed nor heard of: gone";
    EXPECT_EQ(Count("R " + stays.ToString()), 0u);
    ExpectMempoolMatches();
    // The next snapshot changes nothing.
    const size_t events = m_listener.Events().size();
    Settle();
    EXPECT_EQ(m_listener.Events().size(), events);
}

TEST_F(follower_resync_tests, ALargeSnapshotIsReadInSlicesAndZmqIsHeardBetweenThem)
{
    // The first sight of 3,001 transactions: each is fetched, and none of those calls has to wait
    // here (the node answers in-process), so only the follower's own yields let others run.
    const auto txs = Fill(3'000);
    size_t added_when_zmq_ran = 0;
    while_read = [&] { added_when_zmq_ran = CountKind('A'); };
    Settle();
    EXPECT_EQ(CountKind('A'), txs.size());
    EXPECT_LT(added_when_zmq_ran, txs.size()) << "a handler queued while the snapshot was read waited for all of it";
    ExpectMempoolMatches();

    // All known now. Another snapshot lists them all but one (evicted without a word), and ZMQ
    // speaks while it is read: a listed transaction leaves, a new one comes.
    const Txid silently_gone = txs[10].GetTxid();
    const Txid leaves = txs[2'999].GetTxid();
    ASSERT_TRUE(m_sim->Evict(silently_gone));
    MutableTransaction m;
    m.vin.push_back(TxIn{{txs[5].GetTxid(), 0}, {}, 0xfffffffd, {kOpTrue}});
    m.vout.push_back({txs[5].vout()[0].value - Amount{1'000}, AnyoneCanSpend()});
    const Transaction fresh{m};
    bool gone_seen_first = true;
    while_read = [&] {
        // The unlisted one is found only once the whole snapshot is marked.
        gone_seen_first = Count("R " + silently_gone.ToString()) > 0;
        ASSERT_TRUE(m_sim->Evict(leaves));
        HearRemoved(leaves);
        m_sim->Call("sendrawtransaction", {HexStr(SerializeTransaction(fresh))});
        HearAdded(fresh);
    };
    Settle();
    EXPECT_FALSE(gone_seen_first) << "3,000 known txids were walked without a yield";
    EXPECT_EQ(Count("R " + silently_gone.ToString()), 1u);
    EXPECT_EQ(Count("A " + leaves.ToString()), 1u);
    EXPECT_EQ(Count("R " + leaves.ToString()), 1u);
    EXPECT_EQ(Count("A " + fresh.GetTxid().ToString()), 1u);
    EXPECT_EQ(Count("R " + fresh.GetTxid().ToString()), 0u);
    ExpectMempoolMatches();
}

TEST_F(follower_resync_tests, ALargeSnapshotIsDecodedOnTheHelperThread)
{
    // 8,001 txids (536 kB as JSON; a mainnet snapshot is 300,000, 20-35 ms to decode): the
    // follower's thread answers ZMQ while they are decoded.
    const auto txs = Fill(8'000);
    m_follower->Wake();
    ASSERT_TRUE(RunUntil([&] { return CountKind('A') == txs.size(); }));
    const uint64_t snapshots = m_follower->status().mempool_resyncs;
    std::optional<uint64_t> snapshots_when_zmq_ran;
    while_read = [&] { snapshots_when_zmq_ran = m_follower->status().mempool_resyncs; };
    m_follower->Wake();
    ASSERT_TRUE(RunUntil([&] { return m_follower->status().mempool_resyncs > snapshots; }));
    ASSERT_TRUE(snapshots_when_zmq_ran);
    EXPECT_EQ(*snapshots_when_zmq_ran, snapshots) << "a handler queued as the reply came ran only after it was decoded";
    Settle();
    EXPECT_EQ(CountKind('A'), txs.size());
    ExpectMempoolMatches();
}

} // namespace
} // namespace vw::test
#endif
