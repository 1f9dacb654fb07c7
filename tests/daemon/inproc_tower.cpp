#include "inproc_tower.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <stdexcept>

namespace vw::test {
namespace json = boost::json;
namespace net = boost::asio;

InprocTower::InprocTower(std::filesystem::path dir, Options opts) : m_dir(std::move(dir)), m_opts(std::move(opts))
{
    std::filesystem::create_directories(m_dir);
    if (m_opts.sim) {
        m_simp = m_opts.sim;
    } else {
        sim::SimConfig cfg;
        cfg.rpc_user = "u";
        cfg.rpc_password = "p";
        cfg.vault_active = m_opts.vault_active;
        cfg.mocktime = 1'700'000'000;
        m_sim = std::make_unique<sim::RegtestSim>(cfg);
        m_sim->Start();
        m_simp = m_sim.get();
    }
    if (m_opts.fee_secret) {
        m_fee_model = vault::FeeWallet::FromSecret(*m_opts.fee_secret);
        if (!m_fee_model) throw std::runtime_error("fee wallet secret");
    }
}

InprocTower::~InprocTower()
{
    Teardown();
    if (m_sim) m_sim->Stop();
}

void InprocTower::Build()
{
    m_io = std::make_unique<net::io_context>();
    // The simulator answers at once: the tower's awaits complete inline, so one poll() runs a
    // whole decision.
    m_node_call = [this](std::string method, json::value params) -> net::awaitable<daemon::RpcResult<json::value>> {
        daemon::RpcResult<json::value> r;
        if (m_unreachable) {
            r.error = daemon::RpcError{daemon::RpcError::Kind::Transport, 0, "connection refused (test)"};
            co_return r;
        }
        try {
            r.value = m_simp->Call(method, params.is_array() ? params.as_array() : json::array{});
        } catch (const sim::RpcError& e) {
            r.error = daemon::RpcError{daemon::RpcError::Kind::Rpc, e.code, e.what()};
        }
        if (method == "sendrawtransaction" && r.value && m_after_send) {
            auto f = std::move(m_after_send);
            m_after_send = nullptr;
            f();
            m_follower->Wake();
            // The answer is on its way back while the follower reconciles.
            co_await net::post(co_await net::this_coro::executor, net::use_awaitable);
        }
        co_return r;
    };
    m_node = std::make_unique<daemon::BitcoindNode>(m_node_call);
    auto st = store::OpenSqliteStore((m_dir / "vaultwatch.sqlite").string());
    if (!st) throw std::runtime_error(st.error().message);
    m_store = std::make_unique<FillableStore>(std::move(*st));
    daemon::EngineOptions eo = m_opts.engine;
    eo.chain = "regtest";
    eo.now = [] { return int64_t{1'700'000'000}; };
    eo.node_tip = [this] { return m_follower ? m_follower->status().node_tip : -1; };
    // Nothing kept beyond what live triggers need: every decision reads the vaults' registrations
    // back from the store, as it does for all but a few thousand vaults of a large book.
    eo.details_kept = 0;
    daemon::NodePort* engine_node = m_node.get();
    if (m_opts.engine_node_down) {
        m_engine_node = std::make_unique<daemon::BitcoindNode>([](std::string, json::value) -> net::awaitable<daemon::RpcResult<json::value>> {
            daemon::RpcResult<json::value> r;
            r.error = daemon::RpcError{daemon::RpcError::Kind::Transport, 0, "the engine's connection is down (test)"};
            co_return r;
        });
        engine_node = m_engine_node.get();
    }
    m_engine = std::make_unique<daemon::Engine>(m_io->get_executor(), *engine_node, *m_store, eo);
    if (m_opts.trigger_path) {
        m_trigger_node = std::make_unique<daemon::BitcoindNode>([this](std::string method, json::value params) -> net::awaitable<daemon::RpcResult<json::value>> {
            m_trigger_calls.push_back(method);
            if (on_trigger_call) on_trigger_call(method);
            return m_node_call(std::move(method), std::move(params));
        });
        m_engine->SetTriggerPath(*m_trigger_node);
    }
    if (m_fee_model) m_engine->SetFeeWallet(*vault::FeeWallet::FromSecret(*m_opts.fee_secret));
    if (auto r = m_engine->Load(); !r) throw std::runtime_error("engine load: " + r.error());
    daemon::FollowerOptions fo;
    fo.chain = "regtest";
    fo.poll_interval = std::chrono::hours{1}; // only Settle() wakes it
    fo.retry_min = std::chrono::milliseconds{1};
    fo.retry_max = std::chrono::milliseconds{1};
    fo.max_pending_adds = m_opts.max_pending_adds;
    m_follower = std::make_unique<daemon::ChainFollower>(m_io->get_executor(), *m_node, *m_store, *m_engine, fo);
    m_engine->on_zmq_contradicted = [f = m_follower.get()] { f->ZmqContradicted(); };
    m_follower->on_status_change = [this](const daemon::FollowerStatus& st) {
        if (st.node == daemon::FollowerStatus::Node::Ok || st.node == daemon::FollowerStatus::Node::Unreachable) {
            m_engine->NodeStatus(st.node == daemon::FollowerStatus::Node::Ok, st.detail);
        }
    };
}

void InprocTower::Start()
{
    Build();
    m_engine->Start();
    net::co_spawn(*m_io, m_follower->Run(), net::detached);
    Settle();
}

void InprocTower::HearOnZmq(const Transaction& tx, bool raw_from_node, bool add_from_node)
{
    chain::ZmqMessage raw;
    raw.topic = chain::ZmqTopic::RawTx;
    raw.body = SerializeTransaction(tx);
    chain::ZmqMessage seq;
    seq.topic = chain::ZmqTopic::Sequence;
    seq.parsed = chain::SequenceBody{chain::SeqTxAdded{tx.GetTxid(), 1}};
    auto ep = [](bool node) { return node ? "ipc:///run/bitcoind/zmq.sock" : "tcp://127.0.0.1:28332"; };
    m_follower->OnZmqMessage(ep(raw_from_node), std::move(raw), daemon::ZmqArrival{raw_from_node, std::chrono::steady_clock::now()});
    m_follower->OnZmqMessage(ep(add_from_node), std::move(seq), daemon::ZmqArrival{add_from_node, std::chrono::steady_clock::now()});
}

size_t InprocTower::Poll()
{
    size_t ran = 0;
    for (int k = 0; k < 10'000; ++k) {
        m_io->restart();
        const size_t n = m_io->poll();
        ran += n;
        if (n == 0) break;
    }
    return ran;
}

void InprocTower::Settle()
{
    // Rounds of: wake the follower (it reconciles chain and mempool), run what is ready. The
    // broadcaster and the fee refresh run on the same executor. Ends when a round changes nothing.
    int quiet = 0;
    for (int round = 0; round < 100 && quiet < 2; ++round) {
        m_follower->Wake();
        quiet = Poll() <= 1 ? quiet + 1 : 0; // only the wake itself ran
    }
}

void InprocTower::Teardown()
{
    if (!m_engine) return;
    if (m_follower) m_follower->Stop(); // none when the engine failed to load
    m_engine->Stop();
    for (int k = 0; k < 100 && m_io->poll() > 0; ++k) m_io->restart();
    m_io->stop();
    m_follower.reset();
    m_engine.reset();
    m_io.reset(); // coroutines still suspended are destroyed with their frames
    m_store.reset();
    m_node.reset();
    m_engine_node.reset();
    m_trigger_node.reset();
}

void InprocTower::Kill()
{
    m_io->stop();
    m_follower.reset();
    m_engine.reset();
    m_io.reset();
    m_store.reset();
    m_node.reset();
    m_engine_node.reset();
    m_trigger_node.reset();
    Start();
}

void InprocTower::Restart()
{
    Teardown();
    Start();
}

} // namespace vw::test
