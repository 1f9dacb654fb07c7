#pragma once
// The sync engine: ZMQ only wakes it up; bitcoind's RPC is the truth (docs/product.md §3).
// Runs entirely on one executor (the chain strand), whose thread also reads the ZMQ sockets.

#include "node_port.h"
#include "chain/listener.h"
#include "chain/zmq_message.h"
#include "store/store.h"
#include "zmq_subscriber.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace vw::daemon {

struct FollowerOptions {
    std::string chain{"regtest"};       //!< refuse a node on any other chain
    int start_height{-1};               //!< first start with no cursor: -1 = node's tip, else replay from here
    std::chrono::milliseconds poll_interval{std::chrono::seconds{5}};
    std::chrono::milliseconds retry_min{std::chrono::milliseconds{200}};
    std::chrono::milliseconds retry_max{std::chrono::seconds{10}};
    //! 'A's waiting for their bodies, at most: past it they are dropped for one mempool snapshot
    //! (a squatter on a TCP sequence port can announce txids nobody sent, each one RPC call).
    size_t max_pending_adds{10'000};
};

//! Health the follower reports (getinfo, metrics, webhooks).
struct FollowerStatus {
    enum class Node { Unknown, Ok, Unreachable, WarmingUp, InitialDownload, PrunedBelowCursor, WrongChain } node{Node::Unknown};
    std::string detail;
    store::Cursor cursor;
    int node_tip{-1};
    uint64_t zmq_gaps{0};
    uint64_t zmq_restarts{0};
    uint64_t zmq_bad_messages{0};
    uint64_t reconciles{0};
    uint64_t mempool_resyncs{0}; //!< full getrawmempool snapshots taken (the rest came from ZMQ)
    uint64_t pending_adds_dropped{0}; //!< 'A's dropped past max_pending_adds (a snapshot took their place)
    bool caught_up{false};
    double rpc_seconds{0}; //!< time spent waiting in bitcoind RPC calls
    uint64_t store_failures{0}; //!< block commits that failed (disk full, I/O) and were retried
    std::string store_error;    //!< the last one's message, until a block commits again
};
std::string_view ToString(FollowerStatus::Node n);

class ChainFollower
{
public:
    ChainFollower(boost::asio::any_io_executor ex, NodePort& node, store::Store& store, chain::ChainListener& listener,
                  FollowerOptions opts);

    //! The main loop; returns when Stop() is called or on a fatal error (wrong chain, store failure).
    boost::asio::awaitable<void> Run();
    //! Must be called on the follower's executor. arrival.from_node: the endpoint is a socket only
    //! the node's user can bind (CheckNodeOnlySocket), so a rawtx body is the node's own word.
    void OnZmqMessage(const std::string& endpoint, chain::ZmqMessage msg, ZmqArrival arrival = {});
    void OnZmqBadMessage(const std::string& endpoint, std::string_view why);
    //! ZMQ said something the node contradicts (a transaction it does not have): the mempool
    //! view is read from the node again, and ZMQ's order alone no longer spares a snapshot until
    //! the next one.
    void ZmqContradicted();
    void Wake();
    void Stop();

    const FollowerStatus& status() const { return m_status; }
    size_t pending_adds() const { return m_pending_adds.size(); } //!< 'A's waiting for their bodies now
    //! Called once after the first complete catch-up (systemd READY, demo).
    std::function<void()> on_caught_up;
    //! Called when the node's health changes.
    std::function<void(const FollowerStatus&)> on_status_change;
    //! Set when Run() returned because of a fatal error.
    std::optional<std::string> fatal_error() const { return m_fatal; }

private:
    enum class Step { Done, Retry, Fatal };
    boost::asio::awaitable<Step> Reconcile();
    boost::asio::awaitable<Step> ResyncMempool();
    boost::asio::awaitable<std::optional<Block>> FetchBlock(const BlockHash& hash, Step& step);
    //! add_from_node: the node itself said it entered its mempool (a snapshot, or an 'A' on its
    //! own socket).
    boost::asio::awaitable<void> AnnounceMempoolTx(const Txid& txid, bool add_from_node);
    Step HandleRpcError(const RpcError& e, const char* what);
    //! A store read or commit failed: fatal for corruption, else retried (disk full, I/O).
    //! batch_applied: the listener was given the batch (it is told to drop it).
    Step StoreFailed(const store::StoreError& e, bool batch_applied);
    void SetNode(FollowerStatus::Node n, std::string detail);
    struct RawTx {
        Transaction tx;
        ZmqArrival arrival;
    };
    void RememberRawTx(Transaction tx, ZmqArrival arrival);
    bool AnnounceCached(const Txid& txid, bool add_from_node);
    //! To the listener: as the node's (TxAddedToMempool) when the bytes came from the node itself.
    void Announce(const RawTx& raw, bool add_from_node);

    boost::asio::any_io_executor m_ex;
    NodePort& m_node;
    store::Store& m_store;
    chain::ChainListener& m_listener;
    FollowerOptions m_opts;
    boost::asio::steady_timer m_wake;
    bool m_stopping{false};
    bool m_woken{false};
    bool m_need_mempool_resync{true};
    //! In-order 'sequence' messages arrived since the last snapshot (a gap, a restart or a bad
    //! message asks for one anyway): ZMQ alone keeps the mempool view, and the node is not asked
    //! for its whole mempool (300,000 txids on mainnet) every poll.
    bool m_sequence_flowing{false};
    std::chrono::steady_clock::time_point m_last_snapshot{}; //!< the last mempool snapshot taken
    boost::asio::steady_timer m_pending_wake; //!< asks for pending adds' bodies a moment after the first
    bool m_pending_wake_armed{false};
    std::shared_ptr<int> m_alive{std::make_shared<int>(0)}; //!< expires with the follower (timer handlers check it)
    bool m_chain_checked{false};
    FollowerStatus m_status;
    std::optional<std::string> m_fatal;
    chain::SequenceTracker m_seq;
    //! The node's mempool as we know it: txid -> the snapshot round that last saw it (a ZMQ add
    //! counts for the round in course). A snapshot marks what it lists; what is left unmarked
    //! was neither listed nor heard of since, and is gone. No copy of the set is ever made: on
    //! mainnet it holds 300,000 txids, and the thread that walks it answers triggers.
    std::unordered_map<Txid, uint32_t, HashIdHasher> m_mempool;
    uint32_t m_mempool_round{0};
    size_t m_mempool_marked{0}; //!< entries of m_mempool_round (a snapshot with none gone walks nothing)
    //! While a snapshot is on its way or being read: what ZMQ (or a block) removed meanwhile. The
    //! node may have taken the snapshot before the removal, and it must not bring the tx back.
    bool m_resync_running{false};
    std::unordered_set<Txid, HashIdHasher> m_removed_in_resync;
    bool MempoolAdd(const Txid& txid);
    bool MempoolErase(const Txid& txid);
    // Recent rawtx bodies, so a sequence 'A' needs no RPC round trip. Bounded FIFO.
    std::unordered_map<Txid, RawTx, HashIdHasher> m_rawtx;
    std::deque<Txid> m_rawtx_order;
    //! 'A' events waiting for the chain strand to fetch bodies, and whether the node's own socket
    //! sent each; in arrival order (an id its rawtx took out of the map stays behind, skipped).
    std::unordered_map<Txid, bool, HashIdHasher> m_pending_adds;
    std::deque<Txid> m_pending_order;
    std::chrono::steady_clock::time_point m_pending_warned{}; //!< the last warning of dropped 'A's (one a minute)
    void AddPending(const Txid& txid, bool add_from_node);
};

} // namespace vw::daemon
