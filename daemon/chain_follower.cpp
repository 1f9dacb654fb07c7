#include "chain_follower.h"

#include "chain/rpc_replies.h"
#include "log.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

namespace vw::daemon {

namespace net = boost::asio;
namespace json = boost::json;

namespace {
constexpr size_t kRawTxCache = 20000;
//! With ZMQ sequence flowing in order, a full mempool snapshot at most every this many rounds (a
//! minute at the default 5 s poll), and at every block: whoever holds the ZMQ port cannot hide a
//! trigger from the tower for longer than that.
constexpr int kResyncRounds = 12;
//! How long an 'A' waits for its rawtx before the node is asked for the body.
constexpr auto kPendingAddGrace = std::chrono::milliseconds{20};
//! Txids a mempool snapshot reads between two yields of the chain thread (about 0.1 ms of it).
constexpr size_t kResyncSlice = 1'000;
} // namespace

std::string_view ToString(FollowerStatus::Node n)
{
    switch (n) {
    case FollowerStatus::Node::Unknown: return "unknown";
    case FollowerStatus::Node::Ok: return "ok";
    case FollowerStatus::Node::Unreachable: return "unreachable";
    case FollowerStatus::Node::WarmingUp: return "warming_up";
    case FollowerStatus::Node::InitialDownload: return "initial_block_download";
    case FollowerStatus::Node::PrunedBelowCursor: return "pruned_below_cursor";
    case FollowerStatus::Node::WrongChain: return "wrong_chain";
    }
    return "?";
}

ChainFollower::ChainFollower(net::any_io_executor ex, NodePort& node, store::Store& store,
                             chain::ChainListener& listener, FollowerOptions opts)
    : m_ex(ex), m_node(node), m_store(store), m_listener(listener), m_opts(std::move(opts)), m_wake(ex), m_pending_wake(ex)
{
}

void ChainFollower::SetNode(FollowerStatus::Node n, std::string detail)
{
    const bool changed = n != m_status.node;
    m_status.node = n;
    m_status.detail = std::move(detail);
    if (changed) {
        if (n == FollowerStatus::Node::Ok) {
            log::Chain()->info("bitcoind: {}", ToString(n));
        } else {
            log::Chain()->warn("bitcoind: {} ({})", ToString(n), m_status.detail);
        }
        if (on_status_change) on_status_change(m_status);
    }
}

void ChainFollower::Wake()
{
    m_woken = true;
    m_wake.cancel();
}

void ChainFollower::Stop()
{
    m_stopping = true;
    m_wake.cancel();
    m_pending_wake.cancel();
    m_node.Cancel();
}

void ChainFollower::RememberRawTx(Transaction tx, ZmqArrival arrival)
{
    const Txid id = tx.GetTxid();
    if (m_rawtx.emplace(id, RawTx{std::move(tx), arrival}).second) {
        m_rawtx_order.push_back(id);
        if (m_rawtx_order.size() > kRawTxCache) {
            m_rawtx.erase(m_rawtx_order.front());
            m_rawtx_order.pop_front();
        }
    }
}

bool ChainFollower::AnnounceCached(const Txid& txid, bool add_from_node)
{
    auto it = m_rawtx.find(txid);
    if (it == m_rawtx.end()) return false;
    if (MempoolAdd(txid)) Announce(it->second, add_from_node);
    return true;
}

bool ChainFollower::MempoolAdd(const Txid& txid)
{
    if (!m_mempool.try_emplace(txid, m_mempool_round).second) return false;
    ++m_mempool_marked;
    return true;
}

bool ChainFollower::MempoolErase(const Txid& txid)
{
    auto it = m_mempool.find(txid);
    if (it == m_mempool.end()) return false;
    if (it->second == m_mempool_round) --m_mempool_marked;
    m_mempool.erase(it);
    if (m_resync_running) m_removed_in_resync.insert(txid);
    return true;
}

void ChainFollower::Announce(const RawTx& raw, bool add_from_node)
{
    // The node's own sockets: these are its bytes, and asking it again would only cost the
    // answer a round trip. Both words must be its own: the node publishes rawtx for the
    // transactions of each block too, and only the 'A' says a transaction entered its mempool.
    if (raw.arrival.from_node && add_from_node) return m_listener.TxAddedToMempool(raw.tx, raw.arrival.at);
    m_listener.TxAnnounced(raw.tx, raw.arrival.at);
}

void ChainFollower::AddPending(const Txid& txid, bool add_from_node)
{
    if (m_pending_adds.size() >= m_opts.max_pending_adds) {
        // More 'A's without bodies than the node sends in a burst: someone announces txids nobody
        // sent, each a getrawtransaction. One snapshot of the node's mempool answers for them all.
        const auto now = std::chrono::steady_clock::now();
        if (m_pending_warned == std::chrono::steady_clock::time_point{} || now - m_pending_warned > std::chrono::minutes{1}) {
            m_pending_warned = now;
            log::Zmq()->warn("{} sequence 'A's without a rawtx are waiting: dropped for one snapshot of the node's mempool "
                             "({} dropped so far; said at most once a minute)", m_pending_adds.size(), m_status.pending_adds_dropped + m_pending_adds.size());
        }
        m_status.pending_adds_dropped += m_pending_adds.size();
        m_pending_adds.clear();
        m_pending_order.clear();
        m_need_mempool_resync = true;
        Wake();
    }
    if (!m_pending_adds.try_emplace(txid, add_from_node).second) return;
    m_pending_order.push_back(txid);
    // Ids their rawtx took out stay behind in the order; kept within a few times the bound.
    if (m_pending_order.size() > 4 * m_opts.max_pending_adds + 64) {
        std::erase_if(m_pending_order, [&](const Txid& t) { return !m_pending_adds.contains(t); });
    }
}

void ChainFollower::OnZmqBadMessage(const std::string& endpoint, std::string_view why)
{
    ++m_status.zmq_bad_messages;
    log::Zmq()->warn("ignoring malformed message from {}: {}", endpoint, why);
    // We cannot tell what it should have said: treat it like a gap.
    m_need_mempool_resync = true;
    Wake();
}

void ChainFollower::ZmqContradicted()
{
    m_need_mempool_resync = true;
    m_sequence_flowing = false;
    Wake();
}

void ChainFollower::OnZmqMessage(const std::string& endpoint, chain::ZmqMessage msg, ZmqArrival arrival)
{
    using V = chain::SequenceTracker::Verdict;
    switch (m_seq.Observe(endpoint, msg.topic, msg.sequence)) {
    case V::Gap:
        ++m_status.zmq_gaps;
        log::Zmq()->warn("sequence gap on {} {}: resyncing from RPC", endpoint, chain::ToString(msg.topic));
        m_need_mempool_resync = true;
        Wake();
        break;
    case V::Restart:
        ++m_status.zmq_restarts;
        log::Zmq()->warn("publisher restarted on {} {}: resyncing from RPC", endpoint, chain::ToString(msg.topic));
        m_need_mempool_resync = true;
        Wake();
        break;
    case V::First:
    case V::InOrder:
        if (msg.topic == chain::ZmqTopic::Sequence) m_sequence_flowing = true;
        break;
    }
    switch (msg.topic) {
    case chain::ZmqTopic::RawTx: {
        auto tx = DecodeTransaction(msg.body);
        if (!tx) {
            OnZmqBadMessage(endpoint, ToString(tx.error()));
            return;
        }
        const Txid id = tx->GetTxid();
        RememberRawTx(std::move(*tx), arrival);
        // The 'A' on the sequence socket may have overtaken this frame.
        if (auto it = m_pending_adds.find(id); it != m_pending_adds.end()) {
            const bool add_from_node = it->second;
            m_pending_adds.erase(it);
            if (m_pending_adds.empty()) m_pending_order.clear();
            AnnounceCached(id, add_from_node);
        }
        break;
    }
    case chain::ZmqTopic::Sequence: {
        const auto& body = std::get<chain::SequenceBody>(msg.parsed);
        if (const auto* a = std::get_if<chain::SeqTxAdded>(&body)) {
            // Act at first sight: with the body already here, no RPC round trip is needed.
            if (!AnnounceCached(a->txid, arrival.from_node)) {
                // The 'A' overtook its rawtx (another socket): the body is almost always a few
                // microseconds behind. The node is asked only for what is still missing a moment
                // later; a reconcile for each one cost 400 reconciles a second at 1,000 tx/s.
                AddPending(a->txid, arrival.from_node);
                if (!m_pending_wake_armed && !m_stopping) {
                    m_pending_wake_armed = true;
                    m_pending_wake.expires_after(kPendingAddGrace);
                    // The follower may be gone when a cancelled wait completes.
                    m_pending_wake.async_wait([this, alive = std::weak_ptr<int>(m_alive)](const boost::system::error_code& ec) {
                        if (alive.expired()) return;
                        m_pending_wake_armed = false;
                        if (!ec && !m_stopping && !m_pending_adds.empty()) Wake();
                    });
                }
            }
        } else if (const auto* r = std::get_if<chain::SeqTxRemoved>(&body)) {
            if (MempoolErase(r->txid)) m_listener.TxRemovedFromMempool(r->txid);
        } else {
            Wake(); // block connected/disconnected: reconcile
        }
        break;
    }
    case chain::ZmqTopic::HashBlock:
    case chain::ZmqTopic::RawBlock:
        Wake();
        break;
    case chain::ZmqTopic::HashTx: break;
    }
}

ChainFollower::Step ChainFollower::HandleRpcError(const RpcError& e, const char* what)
{
    if (m_stopping) return Step::Retry; // our own Cancel() during shutdown
    if (e.IsUnreachable() || e.kind == RpcError::Kind::Auth) {
        SetNode(FollowerStatus::Node::Unreachable, e.ToString());
        m_need_mempool_resync = true;
        return Step::Retry;
    }
    if (e.IsWarmingUp()) {
        SetNode(FollowerStatus::Node::WarmingUp, e.message);
        return Step::Retry;
    }
    log::Chain()->warn("{}: {}", what, e.ToString());
    return Step::Retry;
}

net::awaitable<std::optional<Block>> ChainFollower::FetchBlock(const BlockHash& hash, Step& step)
{
    auto r = co_await m_node.GetBlock(hash);
    if (!r) {
        if (r.error->kind == RpcError::Kind::Rpc && r.error->code == -1) {
            // "Block not available (pruned data)": the node cannot give us what we missed.
            SetNode(FollowerStatus::Node::PrunedBelowCursor,
                    "block " + hash.ToString() + " is not available on the node (pruned?): " + r.error->message);
            step = Step::Retry;
            co_return std::nullopt;
        }
        step = HandleRpcError(*r.error, "getblock");
        co_return std::nullopt;
    }
    co_return std::move(*r.value);
}

ChainFollower::Step ChainFollower::StoreFailed(const store::StoreError& e, bool batch_applied)
{
    // Nothing of the batch was committed: the listener drops what it applied in memory.
    if (batch_applied) m_listener.BatchAborted();
    if (e.kind == store::StoreError::Kind::Corrupt || e.kind == store::StoreError::Kind::Open) {
        m_fatal = "store: " + e.message;
        return Step::Fatal;
    }
    // A full disk, a busy or failing file: say so loudly, keep the cursor where it is (the block
    // is fetched and applied again), and retry with backoff until the write goes through.
    ++m_status.store_failures;
    m_status.store_error = e.message;
    log::Store()->critical("cannot commit block state ({}); retrying: nothing is skipped, the cursor stays at height {}", e.message,
                           m_status.cursor.height);
    return Step::Retry;
}

net::awaitable<ChainFollower::Step> ChainFollower::Reconcile()
{
    ++m_status.reconciles;
    auto info_r = co_await m_node.GetBlockchainInfo();
    if (!info_r) co_return HandleRpcError(*info_r.error, "getblockchaininfo");
    auto& info = info_r.value;
    if (info->chain != m_opts.chain) {
        SetNode(FollowerStatus::Node::WrongChain,
                "node is on chain '" + info->chain + "', vaultwatchd is configured for '" + m_opts.chain + "'");
        m_fatal = m_status.detail;
        co_return Step::Fatal;
    }
    m_status.node_tip = info->blocks;
    if (info->initial_block_download) {
        SetNode(FollowerStatus::Node::InitialDownload, "node is in initial block download at height " + std::to_string(info->blocks));
        co_return Step::Retry;
    }

    auto cursor_r = m_store.LoadCursor();
    if (!cursor_r) co_return StoreFailed(cursor_r.error(), /*batch_applied=*/false);
    store::Cursor cursor = *cursor_r;
    if (cursor.height < 0) {
        // First start: begin at the configured height, or at the node's tip.
        const int start = m_opts.start_height < 0 ? info->blocks : std::min(m_opts.start_height, info->blocks);
        auto h = co_await m_node.GetBlockHash(start);
        if (!h) co_return HandleRpcError(*h.error, "getblockhash");
        auto& hash = h.value;
        if (m_opts.start_height < 0) {
            store::BlockBatch b;
            b.new_cursor = {start, *hash};
            b.connected = {{start, *hash}};
            if (auto c = m_store.Commit(b); !c) {
                co_return StoreFailed(c.error(), /*batch_applied=*/false);
            }
            cursor = b.new_cursor;
            m_status.cursor = cursor;
            m_listener.BatchCommitted(cursor.height); // the listener's tip is this block's, not "none"
            log::Chain()->info("first start: following from the node's tip, height {} {}", start, hash->ToString());
        } else {
            // Replay from start_height: pretend the block below it is our cursor.
            cursor.height = start - 1;
            if (start > 0) {
                auto prev = co_await m_node.GetBlockHash(start - 1);
                if (!prev) co_return HandleRpcError(*prev.error, "getblockhash");
                cursor.hash = *prev.value;
                store::BlockBatch b;
                b.new_cursor = cursor;
                b.connected = {{cursor.height, cursor.hash}};
                if (auto c = m_store.Commit(b); !c) {
                    co_return StoreFailed(c.error(), /*batch_applied=*/false);
                }
            }
        }
    }
    if (info->pruned && info->prune_height > cursor.height + 1) {
        SetNode(FollowerStatus::Node::PrunedBelowCursor,
                "node pruned up to height " + std::to_string(info->prune_height) + " but vaultwatchd's cursor is at " +
                    std::to_string(cursor.height) + ": blocks in between cannot be checked. Resync a node without pruning that far.");
        co_return Step::Retry;
    }
    SetNode(FollowerStatus::Node::Ok, "");

    // Walk back to the fork point: the highest block of ours that the node still has at that height.
    int disconnects = 0;
    while (cursor.height >= 0) {
        if (cursor.height <= info->blocks) {
            auto h = co_await m_node.GetBlockHash(cursor.height);
            if (!h && !(h.error->kind == RpcError::Kind::Rpc && h.error->code == -8)) {
                co_return HandleRpcError(*h.error, "getblockhash");
            }
            if (h && *h.value == cursor.hash) break;
        }
        // The parent comes from the store, which remembers the blocks below the tip: the node may
        // no longer have the block being disconnected (it lost it in a crash before flushing it,
        // or it is another node). Only beyond that window is the node asked for it.
        store::Cursor prev{cursor.height - 1, BlockHash{}};
        auto remembered = m_store.BlockAt(prev.height);
        if (!remembered) co_return StoreFailed(remembered.error(), /*batch_applied=*/false);
        if (remembered->has_value()) {
            prev.hash = **remembered;
        } else if (prev.height >= 0) {
            Step step = Step::Done;
            auto block = co_await FetchBlock(cursor.hash, step);
            if (!block) co_return step;
            prev.hash = block->header.prev_block;
        }
        store::BlockBatch batch;
        m_listener.BlockDisconnected(cursor.hash, cursor.height, batch);
        batch.disconnect_from = cursor.height;
        batch.new_cursor = prev;
        if (auto c = m_store.Commit(batch); !c) {
            co_return StoreFailed(c.error(), /*batch_applied=*/true);
        }
        log::Chain()->info("disconnected block {} at height {}", cursor.hash.ToString(), cursor.height);
        cursor = prev;
        m_listener.BatchCommitted(cursor.height);
        ++disconnects;
    }
    if (disconnects) log::Chain()->warn("reorg: {} block(s) disconnected, fork point at height {}", disconnects, cursor.height);

    // Walk forward, one block and one SQLite transaction at a time.
    int connects = 0;
    while (cursor.height < info->blocks && !m_stopping) {
        auto h = co_await m_node.GetBlockHash(cursor.height + 1);
        if (!h) {
            if (h.error->kind == RpcError::Kind::Rpc && h.error->code == -8) break; // tip moved back: next round
            co_return HandleRpcError(*h.error, "getblockhash");
        }
        auto& hash = h.value;
        Step step = Step::Done;
        auto block = co_await FetchBlock(*hash, step);
        if (!block) co_return step;
        if (block->header.prev_block != cursor.hash) {
            // The node reorganised while we walked: start over from the fork search.
            m_woken = true;
            co_return Step::Done;
        }
        store::BlockBatch batch;
        m_listener.BlockConnected(*block, cursor.height + 1, batch);
        if (batch.refused) co_return StoreFailed(store::StoreError{store::StoreError::Kind::Io, *batch.refused}, /*batch_applied=*/true);
        batch.new_cursor = {cursor.height + 1, *hash};
        batch.connected.emplace_back(cursor.height + 1, *hash);
        if (auto c = m_store.Commit(batch); !c) {
            co_return StoreFailed(c.error(), /*batch_applied=*/true);
        }
        for (const auto& tx : block->txs) MempoolErase(tx.GetTxid());
        ++connects;
        cursor = batch.new_cursor;
        m_status.cursor = cursor;
        m_status.store_error.clear();
        m_listener.BatchCommitted(cursor.height);
        log::Chain()->debug("connected block {} at height {}", hash->ToString(), cursor.height);
        if (cursor.height == info->blocks) {
            // Reached the tip we saw: ask again, the node may have moved on meanwhile.
            auto best = co_await m_node.GetBlockchainInfo();
            if (best) {
                info->blocks = best.value->blocks;
                m_status.node_tip = best.value->blocks;
            }
        }
    }
    m_status.cursor = cursor;
    m_status.rpc_seconds = std::chrono::duration<double>(m_node.busy()).count();
    if (m_stopping) co_return Step::Done;
    // The mempool is reconciled with the node (a diff of txids; only new ones are fetched), so a
    // trigger is seen at first sight whichever ZMQ topics the node publishes, or with none at
    // all: every round, unless ZMQ's sequence topic has been flowing in order since the last
    // snapshot and the chain did not move. Then it is taken once in kResyncRounds polls'
    // time only: on mainnet a snapshot is 300,000 txids, and parsing them each poll stalls the
    // thread that answers triggers. Time, not rounds: wake-ups are rounds too, and counted as
    // such they brought a snapshot 24 times a second at 1,000 tx/s.
    const auto now = std::chrono::steady_clock::now();
    if (m_need_mempool_resync || !m_sequence_flowing || disconnects + connects > 0 || now - m_last_snapshot >= kResyncRounds * m_opts.poll_interval) {
        auto s = co_await ResyncMempool();
        if (s != Step::Done) co_return s;
    }
    if (!m_status.caught_up) {
        m_status.caught_up = true;
        log::Chain()->info("caught up at height {} {}", cursor.height, cursor.hash.ToString());
        if (on_caught_up) on_caught_up();
    }
    co_return Step::Done;
}

net::awaitable<void> ChainFollower::AnnounceMempoolTx(const Txid& txid, bool add_from_node)
{
    if (m_mempool.contains(txid)) co_return;
    auto it = m_rawtx.find(txid);
    if (it != m_rawtx.end()) {
        // Unless its own socket sent them, these bytes came from ZMQ (a txid does not cover the
        // witness).
        MempoolAdd(txid);
        Announce(it->second, add_from_node);
        co_return;
    }
    auto r = co_await m_node.GetRawTransaction(txid);
    if (!r) {
        // -5: it left the mempool before we asked; nothing to announce. A malformed reply must
        // not lose the tx: the mempool is read again at the next reconcile.
        if (!(r.error->kind == RpcError::Kind::Rpc && r.error->code == -5)) {
            log::Chain()->warn("getrawtransaction {}: {}", txid.ToString(), r.error->ToString());
            m_need_mempool_resync = true;
        }
        co_return;
    }
    auto& tx = r.value;
    // ZMQ may have announced it while we waited for the reply: announce it once.
    if (!MempoolAdd(txid)) co_return;
    const ZmqArrival reply{/*from_node=*/true, std::chrono::steady_clock::now()}; // the node's reply
    m_listener.TxAddedToMempool(*tx, reply.at);
    RememberRawTx(std::move(*tx), reply);
}

net::awaitable<ChainFollower::Step> ChainFollower::ResyncMempool()
{
    // ZMQ messages are handled while we wait for the snapshot, while we read it (it yields every
    // kResyncSlice txids) and while each getrawtransaction is on its way. What they change after
    // the node took the snapshot must not be undone by it: a tx added meanwhile is absent from
    // the snapshot but real (it carries the new round), one removed meanwhile may be listed but
    // is gone (m_removed_in_resync).
    const uint32_t round = ++m_mempool_round;
    m_mempool_marked = 0;
    m_resync_running = true;
    m_removed_in_resync.clear();
    struct Running {
        ChainFollower& f;
        std::weak_ptr<int> alive; // the frame may outlive the follower (an io_context torn down)
        ~Running()
        {
            if (alive.expired()) return;
            f.m_resync_running = false;
            f.m_removed_in_resync.clear();
        }
    } running{*this, m_alive};
    auto r = co_await m_node.GetRawMempool();
    if (!r) co_return HandleRpcError(*r.error, "getrawmempool");
    auto& snap = r.value;
    m_need_mempool_resync = false;
    m_sequence_flowing = false;
    m_last_snapshot = std::chrono::steady_clock::now();
    ++m_status.mempool_resyncs;
    // A turn on this thread is a trigger's wait: the snapshot is read in slices, and the ZMQ
    // messages that came meanwhile are handled between them. (co_await is kept out of && and ?:
    // here: GCC 12 got a ?: holding one wrong, see node_port.cpp.)
    auto yield = [this]() -> net::awaitable<bool> {
        co_await net::post(m_ex, net::use_awaitable);
        co_return !m_stopping;
    };
    std::vector<Txid> unknown;
    size_t n = 0;
    for (const auto& t : snap->txids) {
        if (++n % kResyncSlice == 0) {
            if (!co_await yield()) co_return Step::Done;
        }
        if (auto it = m_mempool.find(t); it != m_mempool.end()) {
            if (it->second != round) {
                it->second = round;
                ++m_mempool_marked;
            }
        } else if (!m_removed_in_resync.contains(t)) {
            unknown.push_back(t);
        }
    }
    // Neither listed nor heard of since the request: gone. Removals first, as ZMQ orders them (a
    // replacement's 'R' comes before its 'A').
    size_t gone = 0;
    if (m_mempool.size() > m_mempool_marked) {
        std::vector<Txid> left;
        for (const auto& [t, seen] : m_mempool) {
            if (seen != round) left.push_back(t);
        }
        for (const auto& t : left) {
            MempoolErase(t);
            m_listener.TxRemovedFromMempool(t);
            if (++gone % kResyncSlice == 0) {
                if (!co_await yield()) co_return Step::Done;
            }
        }
    }
    n = 0;
    for (const auto& t : unknown) {
        if (++n % kResyncSlice == 0) {
            if (!co_await yield()) co_return Step::Done;
        }
        // Removed by ZMQ while we read: the removal is newer than the snapshot.
        if (m_removed_in_resync.contains(t)) continue;
        co_await AnnounceMempoolTx(t, /*add_from_node=*/true); // listed by the node
    }
    if (gone > 0 || !unknown.empty()) {
        log::Chain()->debug("mempool reconciled: {} transactions ({} gone, {} new), sequence {}", snap->txids.size(), gone, unknown.size(),
                            snap->mempool_sequence);
    }
    co_return Step::Done;
}

net::awaitable<void> ChainFollower::Run()
{
    auto backoff = m_opts.retry_min;
    while (!m_stopping) {
        m_woken = false;
        const Step step = co_await Reconcile();
        if (step == Step::Fatal) {
            log::Chain()->critical("{}", m_fatal.value_or("fatal error"));
            co_return;
        }
        while (step == Step::Done && !m_pending_adds.empty() && !m_stopping && !m_pending_order.empty()) {
            const Txid t = m_pending_order.front();
            m_pending_order.pop_front();
            auto it = m_pending_adds.find(t);
            if (it == m_pending_adds.end()) continue; // its rawtx came meanwhile
            const bool add_from_node = it->second;
            m_pending_adds.erase(it);
            co_await AnnounceMempoolTx(t, add_from_node);
        }
        if (m_pending_adds.empty()) m_pending_order.clear();
        std::chrono::milliseconds wait = m_opts.poll_interval;
        if (step == Step::Retry) {
            wait = backoff;
            backoff = std::min(backoff * 2, m_opts.retry_max);
        } else {
            backoff = m_opts.retry_min;
        }
        if (m_stopping) break;
        if (m_woken && step == Step::Done) continue;
        m_wake.expires_after(wait);
        co_await m_wake.async_wait(net::as_tuple(net::use_awaitable));
    }
}

} // namespace vw::daemon
