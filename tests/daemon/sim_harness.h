#pragma once
// Runs a ChainFollower (with a recording listener) against the in-process regtest simulator,
// over real sockets: HTTP JSON-RPC and ZMQ, exactly as vaultwatchd does.
#ifdef VW_HAVE_SIM

#include "bitcoind_rpc.h"
#include "chain_follower.h"
#include "regtest_sim.h"
#include "zmq_subscriber.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <filesystem>
#include <atomic>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace vw::test {

//! Records every listener call as a line ("C <h> <hash>", "D <h> <hash>", "A <txid>", "R <txid>").
class RecordingListener final : public chain::ChainListener
{
public:
    void BlockConnected(const Block& b, int h, store::BlockBatch&) override
    {
        Push("C " + std::to_string(h) + " " + b.header.GetHash().ToString());
        // Mined transactions leave the mempool without an R (as in bitcoind).
        for (const auto& tx : b.txs) Push("M " + tx.GetTxid().ToString());
    }
    void BlockDisconnected(const BlockHash& hash, int h, store::BlockBatch&) override { Push("D " + std::to_string(h) + " " + hash.ToString()); }
    void TxAddedToMempool(const Transaction& tx, chain::SeenAt = {}) override
    {
        Push("A " + tx.GetTxid().ToString());
        if (on_tx_added) on_tx_added(tx);
    }
    void TxRemovedFromMempool(const Txid& t) override { Push("R " + t.ToString()); }
    std::vector<std::string> Events() const
    {
        std::lock_guard l(m_mu);
        return m_events;
    }
    std::function<void(const Transaction&)> on_tx_added;

private:
    void Push(std::string s)
    {
        std::lock_guard l(m_mu);
        m_events.push_back(std::move(s));
    }
    mutable std::mutex m_mu;
    std::vector<std::string> m_events;
};

//! Replays C/D events into the chain they describe; fails on a D that is not the tip.
struct ReplayedChain {
    std::vector<std::pair<int, std::string>> blocks;
    std::vector<std::string> mempool;
    std::string error;
    static ReplayedChain From(const std::vector<std::string>& events, int base_height);
};

class SimHarness
{
public:
    explicit SimHarness(bool zmq = true);
    ~SimHarness();

    sim::RegtestSim& sim() { return *m_sim; }
    //! Starts (or restarts, keeping the SQLite store) the follower.
    void StartFollower(int start_height);
    void StopFollower();
    daemon::FollowerStatus Status();
    RecordingListener& listener() { return *m_listener; }
    //! Waits until the follower's cursor is at the simulator's tip (and caught up).
    bool WaitSynced(std::chrono::milliseconds timeout = std::chrono::seconds{60});
    //! Waits until the replayed mempool equals the simulator's.
    bool WaitMempoolSynced(std::chrono::milliseconds timeout = std::chrono::seconds{30});
    //! The simulator's active chain from height `from` to its tip as (height, hash).
    std::vector<std::pair<int, std::string>> SimChain(int from);
    std::vector<std::string> SimMempool();
    //! Spends a mature coinbase (the simulator checks no scripts) to put a tx in the mempool.
    Txid SendSpendOfCoinbase(int coinbase_height, int64_t fee_sats = 1000);
    daemon::FollowerOptions opts;
    std::filesystem::path dir() const { return m_dir; }

private:
    template <typename F>
    auto OnIo(F&& f)
    {
        std::packaged_task<decltype(f())()> task(std::forward<F>(f));
        auto fut = task.get_future();
        boost::asio::post(m_io, [&task] { task(); });
        return fut.get();
    }

    std::filesystem::path m_dir;
    bool m_zmq;
    std::unique_ptr<sim::RegtestSim> m_sim;
    boost::asio::io_context m_io;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> m_work;
    std::thread m_thread;
    std::unique_ptr<daemon::BitcoindRpc> m_rpc;
    std::unique_ptr<daemon::BitcoindNode> m_node;
    std::unique_ptr<store::Store> m_store;
    std::unique_ptr<RecordingListener> m_listener;
    std::unique_ptr<daemon::ChainFollower> m_follower;
    std::unique_ptr<daemon::ZmqSubscriber> m_zmq_sub;
    bool m_running{false};
    std::shared_ptr<std::atomic<bool>> m_done;
    //! Followers from earlier starts: a stopped follower's coroutine may still be suspended in an
    //! RPC call, so it, its client and its store live until the io thread has ended.
    struct Generation {
        std::unique_ptr<daemon::BitcoindRpc> rpc;
        std::unique_ptr<daemon::BitcoindNode> node;
        std::unique_ptr<store::Store> store;
        std::unique_ptr<daemon::ChainFollower> follower;
    };
    std::vector<Generation> m_grave;
};

} // namespace vw::test

#endif
