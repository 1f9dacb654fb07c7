#ifdef VW_HAVE_SIM
#include "sim_harness.h"

#include "primitives/block.h"
#include "util/hex.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>

#include <sstream>

namespace vw::test {
namespace json = boost::json;

ReplayedChain ReplayedChain::From(const std::vector<std::string>& events, int base_height)
{
    ReplayedChain c;
    for (const auto& e : events) {
        std::istringstream is(e);
        std::string kind, a;
        int h = 0;
        is >> kind;
        if (kind == "C" || kind == "D") {
            is >> h >> a;
            if (kind == "C") {
                const int want = c.blocks.empty() ? base_height : c.blocks.back().first + 1;
                if (h != want) c.error += "connected height " + std::to_string(h) + " but expected " + std::to_string(want) + "; ";
                c.blocks.emplace_back(h, a);
            } else {
                if (c.blocks.empty() || c.blocks.back() != std::pair{h, a}) {
                    c.error += "disconnected " + std::to_string(h) + " " + a + " which is not our tip; ";
                } else {
                    c.blocks.pop_back();
                }
            }
        } else if (kind == "A") {
            is >> a;
            if (std::find(c.mempool.begin(), c.mempool.end(), a) != c.mempool.end()) c.error += "tx " + a + " added twice; ";
            c.mempool.push_back(a);
        } else if (kind == "M") {
            is >> a;
            if (auto it = std::find(c.mempool.begin(), c.mempool.end(), a); it != c.mempool.end()) c.mempool.erase(it);
        } else if (kind == "R") {
            is >> a;
            auto it = std::find(c.mempool.begin(), c.mempool.end(), a);
            if (it == c.mempool.end()) c.error += "tx " + a + " removed but never added; ";
            else c.mempool.erase(it);
        }
    }
    return c;
}

SimHarness::SimHarness(bool zmq) : m_zmq(zmq), m_listener(std::make_unique<RecordingListener>())
{
    m_dir = std::filesystem::temp_directory_path() / ("vw-follow-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(m_dir);
    sim::SimConfig cfg;
    cfg.rpc_user = "u";
    cfg.rpc_password = "p";
    if (zmq) {
        for (const char* t : {"rawtx", "hashblock", "sequence"}) cfg.zmq.push_back({t, "tcp://127.0.0.1:0"});
    }
    m_sim = std::make_unique<sim::RegtestSim>(cfg);
    m_sim->Start();
    opts.chain = "regtest";
    opts.poll_interval = std::chrono::milliseconds{300};
    opts.retry_min = std::chrono::milliseconds{20};
    opts.retry_max = std::chrono::milliseconds{300};
    m_work.emplace(m_io.get_executor());
    m_thread = std::thread([this] { m_io.run(); });
}

SimHarness::~SimHarness()
{
    StopFollower();
    m_work.reset();
    m_io.stop();
    m_thread.join();
    m_sim->Stop();
    // Destroy pending coroutine frames while the objects they refer to still exist.
    m_io.restart();
    m_io.poll();
    std::filesystem::remove_all(m_dir);
}

void SimHarness::StartFollower(int start_height)
{
    StopFollower();
    daemon::RpcEndpoint ep;
    ep.port = m_sim->RpcPort();
    ep.auth.user = "u";
    ep.auth.password = "p";
    ep.timeout = std::chrono::seconds{5};
    opts.start_height = start_height;
    OnIo([&] {
        if (m_follower) m_grave.push_back({std::move(m_rpc), std::move(m_node), std::move(m_store), std::move(m_follower)});
        m_rpc = std::make_unique<daemon::BitcoindRpc>(m_io.get_executor(), ep);
        m_node = std::make_unique<daemon::BitcoindNode>(*m_rpc);
        auto st = store::OpenSqliteStore((m_dir / "vaultwatch.sqlite").string());
        if (!st) throw std::runtime_error(st.error().message);
        m_store = std::move(*st);
        m_follower = std::make_unique<daemon::ChainFollower>(m_io.get_executor(), *m_node, *m_store, *m_listener, opts);
        if (m_zmq) {
            std::vector<daemon::ZmqSubscription> subs;
            for (const char* t : {"rawtx", "hashblock", "sequence"}) subs.push_back({m_sim->ZmqAddress(t), {t}});
            m_zmq_sub = std::make_unique<daemon::ZmqSubscriber>(
                m_io.get_executor(), subs,
                [this](const std::string& e, chain::ZmqMessage msg, daemon::ZmqArrival a) {
                    if (m_follower) m_follower->OnZmqMessage(e, std::move(msg), a);
                },
                [this](const std::string& e, std::string why) {
                    if (m_follower) m_follower->OnZmqBadMessage(e, why);
                });
            m_zmq_sub->Start();
        }
        m_done = std::make_shared<std::atomic<bool>>(false);
        boost::asio::co_spawn(m_io, m_follower->Run(), [done = m_done](std::exception_ptr) { *done = true; });
        return 0;
    });
    m_running = true;
}

void SimHarness::StopFollower()
{
    if (!m_running) return;
    OnIo([&] {
        if (m_zmq_sub) m_zmq_sub->Stop(); // on the io thread, which reads its sockets
        m_follower->Stop();
        return 0;
    });
    // Wait until Run() has returned: the in-flight RPC is cancelled by Stop().
    for (int i = 0; i < 1000 && !*m_done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds{10});
    OnIo([&] {
        m_zmq_sub.reset();
        return 0;
    });
    // The follower, RPC client and store are kept alive until the next start (the detached
    // coroutine may still hold references for a moment); then replaced.
    m_running = false;
}

daemon::FollowerStatus SimHarness::Status()
{
    return OnIo([&] { return m_follower ? m_follower->status() : daemon::FollowerStatus{}; });
}

bool SimHarness::WaitSynced(std::chrono::milliseconds timeout)
{
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        const auto st = Status();
        if (st.caught_up && st.cursor.height == m_sim->Height() && st.cursor.hash.ToString() == m_sim->BestBlockHash()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return false;
}

std::vector<std::pair<int, std::string>> SimHarness::SimChain(int from)
{
    std::vector<std::pair<int, std::string>> out;
    const int tip = m_sim->Height();
    for (int h = from; h <= tip; ++h) {
        out.emplace_back(h, std::string(m_sim->Call("getblockhash", {h}).as_string()));
    }
    return out;
}

std::vector<std::string> SimHarness::SimMempool()
{
    std::vector<std::string> out;
    const json::value pool = m_sim->Call("getrawmempool");
    for (const auto& t : pool.as_array()) out.emplace_back(t.as_string());
    std::sort(out.begin(), out.end());
    return out;
}

bool SimHarness::WaitMempoolSynced(std::chrono::milliseconds timeout)
{
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        auto r = ReplayedChain::From(m_listener->Events(), 0);
        std::sort(r.mempool.begin(), r.mempool.end());
        if (r.mempool == SimMempool()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return false;
}

Txid SimHarness::SendSpendOfCoinbase(int coinbase_height, int64_t fee_sats)
{
    const std::string hash{m_sim->Call("getblockhash", {coinbase_height}).as_string()};
    const auto raw = ParseHex(std::string_view{m_sim->Call("getblock", {hash, 0}).as_string()});
    auto block = DecodeBlock(*raw);
    const Transaction& cb = block->txs.at(0);
    MutableTransaction m;
    TxIn in;
    in.prevout = {cb.GetTxid(), 0};
    in.sequence = 0xfffffffd;
    in.witness = {Bytes(64, 0x01)};
    m.vin.push_back(in);
    Bytes spk{0x00, 0x14};
    spk.resize(22, static_cast<uint8_t>(coinbase_height));
    m.vout.push_back({cb.vout().at(0).value - Amount{fee_sats}, spk});
    const Transaction tx{m};
    m_sim->Call("sendrawtransaction", {HexStr(SerializeTransaction(tx))});
    return tx.GetTxid();
}

} // namespace vw::test
#endif
