#include "app.h"

#include "bitcoind_rpc.h"
#include "chain/rpc_replies.h"
#include "chain_follower.h"
#include "daemon_metrics.h"
#include "engine.h"
#include "fee_key.h"
#include "file_perms.h"
#include "log.h"
#include "metrics_server.h"
#include "rpc/vault_json.h"
#include "rpc_methods.h"
#include "rpc_server.h"
#include "systemd_notify.h"
#include "webhooks.h"
#include "zmq_subscriber.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

namespace vw::daemon {

namespace net = boost::asio;
namespace json = boost::json;

//! Holds an exclusive lock on <netdir>/.lock for the process lifetime, so two daemons cannot
//! share one datadir (and one SQLite file).
class App::DirLock
{
public:
    static std::unique_ptr<DirLock> Acquire(const std::filesystem::path& dir, std::string& err)
    {
        const auto path = dir / ".lock";
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            err = "cannot open " + path.string() + ": " + std::strerror(errno);
            return nullptr;
        }
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd);
            err = "datadir " + dir.string() + " is in use by another vaultwatchd";
            return nullptr;
        }
        return std::unique_ptr<DirLock>{new DirLock{fd}};
    }
    DirLock(const DirLock&) = delete;
    DirLock& operator=(const DirLock&) = delete;
    ~DirLock() { ::close(m_fd); }

private:
    explicit DirLock(int fd) : m_fd(fd) {}
    const int m_fd;
};

//! Logs what the follower reports; with --debugeventlog, also appends one line per event to a
//! file (fsync'd), which the fault-injection tests read to check that no block is skipped across
//! crashes.
class App::EventLog final : public chain::ChainListener
{
public:
    explicit EventLog(const std::string& path)
    {
        if (!path.empty()) m_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    }
    ~EventLog() override
    {
        if (m_fd >= 0) ::close(m_fd);
    }
    void BlockConnected(const Block& b, int height, store::BlockBatch&) override
    {
        log::Chain()->info("block connected: height {} {} ({} txs)", height, b.header.GetHash().ToString(), b.txs.size());
        Append("connected " + std::to_string(height) + " " + b.header.GetHash().ToString());
    }
    void BlockDisconnected(const BlockHash& hash, int height, store::BlockBatch&) override
    {
        log::Chain()->info("block disconnected: height {} {}", height, hash.ToString());
        Append("disconnected " + std::to_string(height) + " " + hash.ToString());
    }
    void TxAddedToMempool(const Transaction& tx, chain::SeenAt = {}) override
    {
        // Every mempool transaction passes here (1,000 a second on mainnet): no hex unless logged.
        if (log::Chain()->should_log(spdlog::level::debug)) log::Chain()->debug("mempool +{}", tx.GetTxid().ToString());
        if (m_fd >= 0) Append("mempool_add " + tx.GetTxid().ToString());
    }
    void TxRemovedFromMempool(const Txid& txid) override
    {
        if (log::Chain()->should_log(spdlog::level::debug)) log::Chain()->debug("mempool -{}", txid.ToString());
        if (m_fd >= 0) Append("mempool_remove " + txid.ToString());
    }
    //! The last connected/disconnected line was not committed; it will come again.
    void BatchAborted() override { Append("aborted"); }

private:
    void Append(std::string line)
    {
        if (m_fd < 0) return;
        line += '\n';
        if (::write(m_fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) ::fdatasync(m_fd);
    }
    int m_fd{-1};
};

//! Fans the follower's calls out to the engine and the event log, in that order.
class App::TeeListener final : public chain::ChainListener
{
public:
    TeeListener(chain::ChainListener& a, chain::ChainListener& b) : m_a(a), m_b(b) {}
    void BlockConnected(const Block& bl, int h, store::BlockBatch& batch) override
    {
        m_a.BlockConnected(bl, h, batch);
        m_b.BlockConnected(bl, h, batch);
    }
    void BlockDisconnected(const BlockHash& hash, int h, store::BlockBatch& batch) override
    {
        m_a.BlockDisconnected(hash, h, batch);
        m_b.BlockDisconnected(hash, h, batch);
    }
    void TxAddedToMempool(const Transaction& tx, chain::SeenAt seen = {}) override
    {
        m_a.TxAddedToMempool(tx, seen);
        m_b.TxAddedToMempool(tx, seen);
    }
    void TxAnnounced(const Transaction& tx, chain::SeenAt seen = {}) override
    {
        m_a.TxAnnounced(tx, seen);
        m_b.TxAnnounced(tx, seen);
    }
    void TxRemovedFromMempool(const Txid& t) override
    {
        m_a.TxRemovedFromMempool(t);
        m_b.TxRemovedFromMempool(t);
    }
    void BatchCommitted(int h) override
    {
        m_a.BatchCommitted(h);
        m_b.BatchCommitted(h);
    }
    void BatchAborted() override
    {
        m_a.BatchAborted();
        m_b.BatchAborted();
    }

private:
    chain::ChainListener& m_a;
    chain::ChainListener& m_b;
};

namespace {

net::awaitable<std::vector<ZmqSubscription>> DiscoverZmq(BitcoindRpc& rpc, const Config& cfg)
{
    std::map<std::string, std::vector<std::string>> by_endpoint;
    auto add = [&](const std::string& ep, const char* topic) {
        if (!ep.empty()) by_endpoint[ep].push_back(topic);
    };
    add(cfg.bitcoind.zmqrawtx, "rawtx");
    add(cfg.bitcoind.zmqrawblock, "rawblock");
    add(cfg.bitcoind.zmqhashblock, "hashblock");
    add(cfg.bitcoind.zmqsequence, "sequence");
    if (by_endpoint.empty()) {
        auto r = co_await rpc.Call("getzmqnotifications", Params());
        if (r) {
            if (auto n = chain::ParseZmqNotifications(*r.value); n) {
                for (const auto& z : *n) {
                    if (z.type == "pubrawtx") add(z.address, "rawtx");
                    if (z.type == "pubrawblock") add(z.address, "rawblock");
                    if (z.type == "pubhashblock") add(z.address, "hashblock");
                    if (z.type == "pubsequence") add(z.address, "sequence");
                }
            }
        } else {
            log::Zmq()->info("getzmqnotifications: {} (will ask again when the node answers)", r.error->ToString());
            co_return std::vector<ZmqSubscription>{};
        }
    }
    std::vector<ZmqSubscription> subs;
    std::set<std::string> have;
    for (auto& [ep, topics] : by_endpoint) {
        have.insert(topics.begin(), topics.end());
        subs.push_back({ep, topics});
    }
    // Nothing is missed without a topic (every poll reconciles the mempool and the chain with the
    // node), but first sight waits for the poll: say so at start.
    const std::string poll = "every " + std::to_string(cfg.poll_seconds) + " s (pollseconds)";
    if (subs.empty()) {
        log::Zmq()->warn("no ZMQ endpoints: following bitcoind by RPC polling only; triggers are seen {}", poll);
    } else {
        if (!have.count("rawtx") && !have.count("sequence")) {
            log::Zmq()->warn("no zmqpubrawtx nor zmqpubsequence: mempool triggers are seen {}, not at first sight", poll);
        } else if (!have.count("sequence")) {
            log::Zmq()->warn("no zmqpubsequence: transactions leaving the mempool (a replaced trigger, an evicted recovery) are seen {}", poll);
        }
        if (!have.count("hashblock") && !have.count("rawblock") && !have.count("sequence")) {
            log::Zmq()->warn("no block topic (zmqpubhashblock, zmqpubrawblock or zmqpubsequence): blocks are seen {}", poll);
        }
    }
    co_return subs;
}

//! SIGHUP: the config is read again. A config with an error changes nothing (the daemon keeps
//! running as it was, and says why); otherwise loglevel= and logfile= take effect (the file is
//! reopened, after logrotate) and any other change is reported as waiting for a restart.
void ReloadOnHup(const ConfigReader& reread, const Config& running)
{
    auto parsed = reread();
    if (!parsed || !parsed->has_value()) {
        log::Main()->error("SIGHUP: the configuration was not reloaded, nothing changed: {}", parsed ? "no configuration" : parsed.error());
        return;
    }
    const Config& next = **parsed;
    if (auto e = log::Init(next.loglevel, next.logfile)) {
        log::Main()->error("SIGHUP: {}; still logging as before", *e);
    } else {
        log::Main()->info("SIGHUP: log file reopened, loglevel={}", next.loglevel);
    }
    Config same = next;
    same.loglevel = running.loglevel;
    same.logfile = running.logfile;
    if (!(same == running)) log::Main()->warn("SIGHUP: options other than loglevel and logfile changed; they take effect at the next start");
}

Unexpected<InitError> Refuse(std::string message) { return Unexpected{InitError{std::move(message), false}}; }
Unexpected<InitError> Logged(std::string message) { return Unexpected{InitError{std::move(message), true}}; }

} // namespace

EngineOptions EngineOptionsFrom(const Config& cfg)
{
    EngineOptions eo;
    eo.chain = cfg.chain;
    eo.allow_unenforced_opvault = cfg.allow_unenforced_opvault;
    eo.allow_unenforced_ccv = cfg.allow_unenforced_ccv;
    eo.fees.fallback = vault::FeeRate{static_cast<int64_t>(std::llround(cfg.fallback_feerate * 1000))};
    eo.fees.escalate_percent = static_cast<int>(cfg.escalate_percent);
    eo.fees.max_fee_percent = static_cast<int>(cfg.max_fee_percent);
    eo.fee_reserve = Amount{cfg.feewallet_reserve};
    eo.fee_coins = static_cast<size_t>(cfg.feewallet_coins);
    return eo;
}

App::App(ConfigReader reread_config) : m_reread_config(std::move(reread_config)) {}

App::~App() = default;

Expected<void, InitError> App::Init(const Config& config)
{
    m_cfg = config;
    const Config& cfg = m_cfg;
    ::umask(077); // the datadir holds keys and the vault registry: owner only, as bitcoind does

    // Until the loggers are up, a refusal is for main to print.
    std::error_code ec;
    std::filesystem::create_directories(cfg.NetDir(), ec);
    if (ec) {
        std::ostringstream msg; // a path streams quoted
        msg << "cannot create " << cfg.NetDir() << ": " << ec.message();
        return Refuse(msg.str());
    }
    for (const auto& e : {CheckPrivateDir(cfg.datadir, "datadir"), CheckPrivateDir(cfg.NetDir(), "datadir"),
                          CheckPrivateFile(cfg.NetDir() / "vaultwatch.sqlite", "vault database")}) {
        if (e) return Refuse(*e);
    }
    std::string err;
    m_lock = DirLock::Acquire(cfg.NetDir(), err);
    if (!m_lock) return Refuse(err);
    if (auto e = log::Init(cfg.loglevel, cfg.logfile)) return Refuse(*e);
    log::Main()->info("vaultwatchd {} starting on chain {} in {}", VW_VERSION, cfg.chain, cfg.NetDir().string());

    auto st = store::OpenSqliteStore((cfg.NetDir() / "vaultwatch.sqlite").string());
    if (!st) {
        log::Store()->critical("{}", st.error().message);
        return Logged(st.error().message);
    }
    m_store = std::move(*st);
    if (cfg.debug_db_max_pages) {
        if (auto r = m_store->LimitPages(cfg.debug_db_max_pages); !r) log::Store()->warn("debugdbmaxpages: {}", r.error().message);
        log::Store()->warn("testing: the database is capped at {} pages (debugdbmaxpages)", cfg.debug_db_max_pages);
    }

    RpcEndpoint ep;
    ep.host = cfg.bitcoind.rpcconnect;
    ep.port = cfg.bitcoind.rpcport;
    ep.timeout = std::chrono::seconds{cfg.bitcoind.rpctimeout};
    if (!cfg.bitcoind.rpccookiefile.empty()) {
        ep.auth.cookie_file = cfg.bitcoind.rpccookiefile;
    } else {
        ep.auth.user = cfg.bitcoind.rpcuser;
        ep.auth.password = cfg.bitcoind.rpcpassword;
    }
    m_rpc = std::make_unique<BitcoindRpc>(m_io.get_executor(), ep);
    m_zmq_rpc = std::make_unique<BitcoindRpc>(m_io.get_executor(), ep);
    m_engine_rpc = std::make_unique<BitcoindRpc>(m_io.get_executor(), ep);
    m_node = std::make_unique<BitcoindNode>(*m_rpc);
    m_engine_node = std::make_unique<BitcoindNode>(*m_engine_rpc);
    m_trigger_rpc = std::make_unique<BitcoindRpc>(m_io.get_executor(), ep);
    m_trigger_node = std::make_unique<BitcoindNode>(*m_trigger_rpc);
    EngineOptions eo = EngineOptionsFrom(cfg);
    // The follower is built after the engine (it is its listener).
    eo.node_tip = [this] { return m_follower ? m_follower->status().node_tip : -1; };
    m_engine = std::make_unique<Engine>(m_io.get_executor(), *m_engine_node, *m_store, eo);
    m_engine->SetTriggerPath(*m_trigger_node);
    {
        const std::filesystem::path keyfile = cfg.feewallet_keyfile.empty() ? cfg.NetDir() / "feewallet.key" : std::filesystem::path(cfg.feewallet_keyfile);
        bool created = false;
        auto wallet = LoadOrCreateFeeWallet(keyfile, &created);
        if (!wallet) {
            log::Main()->critical("{}", wallet.error());
            return Logged(wallet.error());
        }
        const auto hrp = rpc::HrpForChain(cfg.chain).value_or("bc");
        log::Main()->info("fee wallet {} at {} ({})", created ? "created" : "loaded", wallet->Address(hrp), keyfile.string());
        m_engine->SetFeeWallet(std::move(*wallet));
    }
    if (auto r = m_engine->Load(); !r) {
        log::Store()->critical("{}", r.error());
        return Logged(r.error());
    }
    WebhookOptions wo;
    wo.chain = cfg.chain;
    wo.ca_file = cfg.webhook_cafile;
    wo.attempt_timeout = std::chrono::seconds{cfg.webhook_timeout};
    wo.retry_horizon = std::chrono::hours{cfg.webhook_retry_hours};
    wo.max_backoff = std::chrono::seconds{cfg.webhook_max_backoff};
    wo.base_backoff = std::chrono::milliseconds{cfg.webhook_min_backoff_ms};
    m_webhooks = std::make_unique<WebhookDispatcher>(m_io.get_executor(), *m_store, wo);
    {
        std::vector<ConfiguredWebhook> configured;
        for (const auto& url : cfg.webhooks) configured.push_back({url, cfg.webhook_secret, cfg.webhook_events});
        if (auto r = m_webhooks->Load(configured); !r) {
            log::Main()->critical("{}", r.error());
            return Logged(r.error());
        }
    }
    m_engine->on_events = [this] { m_webhooks->Kick(); };
    m_event_log = std::make_unique<EventLog>(cfg.debug_eventlog);
    m_listener = std::make_unique<TeeListener>(*m_engine, *m_event_log);
    FollowerOptions fo;
    fo.chain = cfg.chain;
    fo.start_height = cfg.start_height;
    fo.poll_interval = std::chrono::seconds{cfg.poll_seconds};
    m_follower = std::make_unique<ChainFollower>(m_io.get_executor(), *m_node, *m_store, *m_listener, fo);

    std::vector<rpc::RpcAuthEntry> rpcauth;
    for (const auto& line : cfg.rpcauth) {
        auto e = rpc::ParseRpcAuth(line);
        if (!e) {
            log::Main()->critical("rpcauth: {}", e.error());
            return Logged("rpcauth: " + e.error());
        }
        rpcauth.push_back(*e);
    }
    RpcContext rctx;
    rctx.getinfo = [this]() -> json::value {
        const auto& st = m_follower->status();
        return json::object{{"version", VW_VERSION},
                            {"chain", m_cfg.chain},
                            {"node", ToString(st.node)},
                            {"node_detail", st.detail},
                            {"height", st.cursor.height},
                            {"best_block_hash", st.cursor.height >= 0 ? json::value(st.cursor.hash.ToString()) : json::value(nullptr)},
                            {"node_height", st.node_tip},
                            {"caught_up", st.caught_up},
                            {"zmq_gaps", st.zmq_gaps},
                            {"zmq_restarts", st.zmq_restarts},
                            {"vaults", m_engine->LiveVaultCount()},
                            {"opvault_enforced", m_engine->vault_enforced() ? json::value(*m_engine->vault_enforced()) : json::value(nullptr)},
                            {"ccv_enforced", m_engine->ccv_enforced() ? json::value(*m_engine->ccv_enforced()) : json::value(nullptr)},
                            {"rescan", m_engine->RescanStatus()},
                            {"store_error", st.store_error}};
    };
    rctx.stop = [this] { net::post(m_io, [this] { Interrupt(); }); };
    rctx.engine = m_engine.get();
    rctx.webhooks = m_webhooks.get();
    m_rpc_table = MakeRpcTable(rctx);
    RpcServerOptions ro;
    ro.bind = cfg.rpcbind;
    ro.port = cfg.rpcport;
    ro.cookie_file = cfg.NetDir() / ".cookie";
    ro.rpcauth = rpcauth;
    m_rpc_server = std::make_unique<RpcServer>(m_io.get_executor(), *m_rpc_table, ro);
    if (auto e = m_rpc_server->Start()) {
        log::Main()->critical("{}", *e);
        return Logged(*e);
    }
    m_loop_lag = std::make_unique<LoopLag>(m_io.get_executor());
    if (!cfg.metricsbind.empty()) {
        const auto hp = ParseMetricsBind(cfg.metricsbind, nullptr); // validated with the config
        MetricsServerOptions mo;
        mo.bind = hp->first;
        mo.port = hp->second;
        m_metrics = std::make_unique<MetricsServer>(
            m_io.get_executor(), [this] { return RenderDaemonMetrics(*m_follower, *m_engine, *m_webhooks, *m_rpc_server, *m_loop_lag); }, mo);
        if (auto e = m_metrics->Start()) {
            log::Main()->critical("{}", *e);
            return Logged(*e);
        }
    }
    return {};
}

void App::WaitForHup()
{
    m_hup->async_wait([this](const boost::system::error_code& e, int) {
        if (e) return;
        ReloadOnHup(m_reread_config, m_cfg);
        WaitForHup();
    });
}

// Health: sampled every 15 s (health.h). A wedged follower stops the watchdog pings; a chain
// that stopped is alerted; both show in STATUS.
void App::CheckHealth()
{
    m_health_timer->expires_after(std::chrono::seconds{15});
    m_health_timer->async_wait([this](const boost::system::error_code& e) {
        if (e) return;
        const auto v = AssessHealth(m_follower->status(), std::chrono::steady_clock::now(), m_health_state, m_health_options);
        m_systemd->SetHealthy(v.ping);
        if (v.status != m_health_status) {
            m_health_status = v.status;
            if (v.status) log::Main()->warn("health: {}", *v.status);
            m_systemd->Status(v.status ? *v.status : "watching " + std::to_string(m_engine->registry().size()) + " vault(s)");
        }
        m_engine->ChainStalled(v.stalled, v.status.value_or(""));
        CheckHealth();
    });
}

net::awaitable<void> App::StartZmq()
{
    if (m_zmq || m_zmq_discovering) co_return;
    m_zmq_discovering = true;
    auto subs = co_await DiscoverZmq(*m_zmq_rpc, m_cfg);
    m_zmq_discovering = false;
    if (subs.empty() || m_zmq || m_interrupted) co_return;
    m_zmq = std::make_unique<ZmqSubscriber>(
        m_io.get_executor(), subs,
        [this](const std::string& e, chain::ZmqMessage m, ZmqArrival a) { m_follower->OnZmqMessage(e, std::move(m), a); },
        [this](const std::string& e, std::string why) { m_follower->OnZmqBadMessage(e, why); });
    m_zmq->Start();
}

void App::Start()
{
    m_stop_signals.emplace(m_io, SIGINT, SIGTERM);
    m_hup.emplace(m_io, SIGHUP);
    WaitForHup();
    m_systemd = std::make_unique<SystemdNotifier>(m_io.get_executor());
    if (m_cfg.chain == "regtest") m_health_options.stalled_after = std::chrono::seconds{0};
    m_health_timer.emplace(m_io);
    CheckHealth();
    m_loop_lag->Start();
    m_stop_signals->async_wait([this](const boost::system::error_code& e, int sig) {
        if (e) return;
        log::Main()->info("signal {}: shutting down", sig);
        Interrupt();
    });

    m_engine->on_zmq_contradicted = [this] { m_follower->ZmqContradicted(); };
    m_follower->on_caught_up = [this] {
        const auto& st = m_follower->status();
        m_systemd->Ready("watching " + std::to_string(m_engine->registry().size()) + " vault(s) at height " + std::to_string(st.cursor.height));
    };
    m_follower->on_status_change = [this](const FollowerStatus& st) {
        m_systemd->Status("bitcoind " + std::string(ToString(st.node)) + (st.detail.empty() ? "" : ": " + st.detail));
        if (st.node == FollowerStatus::Node::Ok || st.node == FollowerStatus::Node::Unreachable) {
            m_engine->NodeStatus(st.node == FollowerStatus::Node::Ok, st.detail);
        }
        if (st.node == FollowerStatus::Node::Ok && !m_zmq) net::co_spawn(m_io, StartZmq(), net::detached);
    };
    net::co_spawn(
        m_io,
        [this]() -> net::awaitable<void> {
            m_engine->Start();
            m_webhooks->Start();
            m_systemd->StartWatchdog();
            co_await StartZmq();
            co_await m_follower->Run();
            if (m_follower->fatal_error()) m_exit_code = 1;
            Interrupt();
        },
        [this](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log::Main()->critical("unexpected error: {}", ex.what());
            }
            m_exit_code = 1;
            Interrupt();
        });
}

void App::Run() { m_io.run(); }

void App::Interrupt()
{
    m_interrupted = true;
    if (m_zmq) m_zmq->Stop(); // its sockets wait on this io_context, which must run out of work
    m_health_timer->cancel();
    m_loop_lag->Stop();
    m_systemd->Stopping();
    m_webhooks->Stop();
    m_engine->Stop();
    m_engine_rpc->Cancel();
    m_trigger_rpc->Cancel();
    m_follower->Stop();
    m_rpc_server->Stop();
    if (m_metrics) m_metrics->Stop();
    m_hup->cancel();
    m_stop_signals->cancel();
}

int App::Stop()
{
    if (m_zmq) m_zmq->Stop();
    m_rpc_server->Stop();
    log::Main()->info("vaultwatchd stopped");
    return m_exit_code;
}

} // namespace vw::daemon
