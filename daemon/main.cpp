// vaultwatchd: init -> start -> (run) -> interrupt -> stop.
#include "bitcoind_rpc.h"
#include "chain/rpc_replies.h"
#include "chain_follower.h"
#include "config.h"
#include "daemon_metrics.h"
#include "engine.h"
#include "fee_key.h"
#include "file_perms.h"
#include "health.h"
#include "log.h"
#include "rpc/vault_json.h"
#include "metrics_server.h"
#include "rpc_methods.h"
#include "rpc_server.h"
#include "systemd_notify.h"
#include "webhooks.h"
#include "zmq_subscriber.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include <iostream>
#include <set>

namespace net = boost::asio;
namespace json = boost::json;
using namespace vw;
using namespace vw::daemon;

namespace {

//! Holds an exclusive lock on <netdir>/.lock for the process lifetime, so two daemons cannot
//! share one datadir (and one SQLite file).
class DirLock
{
public:
    static std::optional<DirLock> Acquire(const std::filesystem::path& dir, std::string& err)
    {
        const auto path = dir / ".lock";
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            err = "cannot open " + path.string() + ": " + std::strerror(errno);
            return std::nullopt;
        }
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd);
            err = "datadir " + dir.string() + " is in use by another vaultwatchd";
            return std::nullopt;
        }
        return DirLock{fd};
    }
    DirLock(DirLock&& o) noexcept : m_fd(std::exchange(o.m_fd, -1)) {}
    ~DirLock()
    {
        if (m_fd >= 0) ::close(m_fd);
    }

private:
    explicit DirLock(int fd) : m_fd(fd) {}
    int m_fd;
};

//! Logs what the follower reports; with --debugeventlog, also appends one line per event to a file (fsync'd), which the fault-injection tests read to
//! check that no block is skipped across crashes.
//! Fans the follower's calls out to the engine and the debug event log, in that order.
class TeeListener final : public chain::ChainListener
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
    void TxAddedToMempool(const Transaction& tx) override
    {
        m_a.TxAddedToMempool(tx);
        m_b.TxAddedToMempool(tx);
    }
    void TxAnnounced(const Transaction& tx) override
    {
        m_a.TxAnnounced(tx);
        m_b.TxAnnounced(tx);
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

class LoggingListener final : public chain::ChainListener
{
public:
    explicit LoggingListener(const std::string& path)
    {
        if (!path.empty()) m_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    }
    ~LoggingListener() override
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
    void TxAddedToMempool(const Transaction& tx) override
    {
        log::Chain()->debug("mempool +{}", tx.GetTxid().ToString());
        Append("mempool_add " + tx.GetTxid().ToString());
    }
    void TxRemovedFromMempool(const Txid& txid) override
    {
        log::Chain()->debug("mempool -{}", txid.ToString());
        Append("mempool_remove " + txid.ToString());
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
void ReloadOnHup(int argc, char** argv, const Config& running)
{
    auto parsed = ParseConfig(argc, argv);
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

} // namespace

int main(int argc, char** argv)
{
    if (argc == 2 && std::string_view{argv[1]} == "--rpc-docs") {
        // docs/rpc.md is generated from the method table: vaultwatchd --rpc-docs > docs/rpc.md
        std::cout << MakeRpcTable({})->Markdown();
        return 0;
    }
    auto parsed = ParseConfig(argc, argv);
    if (!parsed) {
        std::cerr << "vaultwatchd: " << parsed.error() << "\n";
        return 1;
    }
    if (!parsed->has_value()) return 0;
    const Config cfg = std::move(**parsed);
    ::umask(077); // the datadir holds keys and the vault registry: owner only, as bitcoind does

    std::error_code ec;
    std::filesystem::create_directories(cfg.NetDir(), ec);
    if (ec) {
        std::cerr << "vaultwatchd: cannot create " << cfg.NetDir() << ": " << ec.message() << "\n";
        return 1;
    }
    for (const auto& e : {CheckPrivateDir(cfg.datadir, "datadir"), CheckPrivateDir(cfg.NetDir(), "datadir"),
                          CheckPrivateFile(cfg.NetDir() / "vaultwatch.sqlite", "vault database")}) {
        if (e) {
            std::cerr << "vaultwatchd: " << *e << "\n";
            return 1;
        }
    }
    std::string err;
    auto lock = DirLock::Acquire(cfg.NetDir(), err);
    if (!lock) {
        std::cerr << "vaultwatchd: " << err << "\n";
        return 1;
    }
    if (auto e = log::Init(cfg.loglevel, cfg.logfile)) {
        std::cerr << "vaultwatchd: " << *e << "\n";
        return 1;
    }
    log::Main()->info("vaultwatchd {} starting on chain {} in {}", VW_VERSION, cfg.chain, cfg.NetDir().string());

    auto st = store::OpenSqliteStore((cfg.NetDir() / "vaultwatch.sqlite").string());
    if (!st) {
        log::Store()->critical("{}", st.error().message);
        return 1;
    }
    if (cfg.debug_db_max_pages) {
        if (auto r = (*st)->LimitPages(cfg.debug_db_max_pages); !r) log::Store()->warn("debugdbmaxpages: {}", r.error().message);
        log::Store()->warn("testing: the database is capped at {} pages (debugdbmaxpages)", cfg.debug_db_max_pages);
    }

    net::io_context io{1};
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
    BitcoindRpc rpc{io.get_executor(), ep};
    BitcoindRpc zmq_rpc{io.get_executor(), ep};
    BitcoindRpc engine_rpc{io.get_executor(), ep};
    // One connection each: the follower's block reads never wait behind the engine's broadcasts.
    BitcoindNode node{rpc};
    BitcoindNode engine_node{engine_rpc};
    EngineOptions eo;
    eo.chain = cfg.chain;
    eo.allow_unenforced_opvault = cfg.allow_unenforced_opvault;
    eo.fees.fallback = vault::FeeRate{static_cast<int64_t>(std::llround(cfg.fallback_feerate * 1000))};
    eo.fees.escalate_percent = static_cast<int>(cfg.escalate_percent);
    eo.fees.max_fee_percent = static_cast<int>(cfg.max_fee_percent);
    eo.fee_reserve = Amount{cfg.feewallet_reserve};
    eo.fee_coins = static_cast<size_t>(cfg.feewallet_coins);
    const ChainFollower* follower_ptr = nullptr; // the follower is built after the engine (it is its listener)
    eo.node_tip = [&follower_ptr] { return follower_ptr ? follower_ptr->status().node_tip : -1; };
    Engine engine{io.get_executor(), engine_node, **st, eo};
    {
        const std::filesystem::path keyfile = cfg.feewallet_keyfile.empty() ? cfg.NetDir() / "feewallet.key" : std::filesystem::path(cfg.feewallet_keyfile);
        bool created = false;
        auto wallet = LoadOrCreateFeeWallet(keyfile, &created);
        if (!wallet) {
            log::Main()->critical("{}", wallet.error());
            return 1;
        }
        const auto hrp = rpc::HrpForChain(cfg.chain).value_or("bc");
        log::Main()->info("fee wallet {} at {} ({})", created ? "created" : "loaded", wallet->Address(hrp), keyfile.string());
        engine.SetFeeWallet(std::move(*wallet));
    }
    if (auto r = engine.Load(); !r) {
        log::Store()->critical("{}", r.error());
        return 1;
    }
    WebhookOptions wo;
    wo.chain = cfg.chain;
    wo.ca_file = cfg.webhook_cafile;
    wo.attempt_timeout = std::chrono::seconds{cfg.webhook_timeout};
    wo.retry_horizon = std::chrono::hours{cfg.webhook_retry_hours};
    wo.max_backoff = std::chrono::seconds{cfg.webhook_max_backoff};
    wo.base_backoff = std::chrono::milliseconds{cfg.webhook_min_backoff_ms};
    WebhookDispatcher webhooks{io.get_executor(), **st, wo};
    {
        std::vector<ConfiguredWebhook> configured;
        for (const auto& url : cfg.webhooks) configured.push_back({url, cfg.webhook_secret, cfg.webhook_events});
        if (auto r = webhooks.Load(configured); !r) {
            log::Main()->critical("{}", r.error());
            return 1;
        }
    }
    engine.on_events = [&] { webhooks.Kick(); };
    LoggingListener logging{cfg.debug_eventlog};
    TeeListener listener{engine, logging};
    FollowerOptions fo;
    fo.chain = cfg.chain;
    fo.start_height = cfg.start_height;
    fo.poll_interval = std::chrono::seconds{cfg.poll_seconds};
    ChainFollower follower{io.get_executor(), node, **st, listener, fo};
    follower_ptr = &follower;
    std::unique_ptr<ZmqSubscriber> zmq;

    std::vector<rpc::RpcAuthEntry> rpcauth;
    for (const auto& line : cfg.rpcauth) {
        auto e = rpc::ParseRpcAuth(line);
        if (!e) {
            log::Main()->critical("rpcauth: {}", e.error());
            return 1;
        }
        rpcauth.push_back(*e);
    }
    std::function<void()> request_stop;
    RpcContext rctx;
    rctx.getinfo = [&]() -> json::value {
        const auto& st = follower.status();
        return json::object{{"version", VW_VERSION},
                            {"chain", cfg.chain},
                            {"node", ToString(st.node)},
                            {"node_detail", st.detail},
                            {"height", st.cursor.height},
                            {"best_block_hash", st.cursor.height >= 0 ? json::value(st.cursor.hash.ToString()) : json::value(nullptr)},
                            {"node_height", st.node_tip},
                            {"caught_up", st.caught_up},
                            {"zmq_gaps", st.zmq_gaps},
                            {"zmq_restarts", st.zmq_restarts},
                            {"vaults", engine.LiveVaultCount()},
                            {"opvault_enforced", engine.vault_enforced() ? json::value(*engine.vault_enforced()) : json::value(nullptr)},
                            {"rescan", engine.RescanStatus()},
                            {"store_error", st.store_error}};
    };
    rctx.stop = [&] { net::post(io, [&] { request_stop(); }); };
    rctx.engine = &engine;
    rctx.webhooks = &webhooks;
    auto table = MakeRpcTable(rctx);
    RpcServerOptions ro;
    ro.bind = cfg.rpcbind;
    ro.port = cfg.rpcport;
    ro.cookie_file = cfg.NetDir() / ".cookie";
    ro.rpcauth = rpcauth;
    RpcServer rpc_server{io.get_executor(), *table, ro};
    if (auto e = rpc_server.Start()) {
        log::Main()->critical("{}", *e);
        return 1;
    }
    std::unique_ptr<MetricsServer> metrics;
    if (!cfg.metricsbind.empty()) {
        const auto hp = ParseMetricsBind(cfg.metricsbind, nullptr); // validated with the config
        MetricsServerOptions mo;
        mo.bind = hp->first;
        mo.port = hp->second;
        metrics = std::make_unique<MetricsServer>(
            io.get_executor(), [&] { return RenderDaemonMetrics(follower, engine, webhooks, rpc_server); }, mo);
        if (auto e = metrics->Start()) {
            log::Main()->critical("{}", *e);
            return 1;
        }
    }

    net::signal_set stop_signals{io, SIGINT, SIGTERM};
    net::signal_set hup{io, SIGHUP};
    std::function<void()> wait_hup = [&] {
        hup.async_wait([&](const boost::system::error_code& e, int) {
            if (e) return;
            ReloadOnHup(argc, argv, cfg);
            wait_hup();
        });
    };
    wait_hup();
    SystemdNotifier systemd{io.get_executor()};
    // Health: sampled every 15 s (health.h). A wedged follower stops the watchdog pings; a chain
    // that stopped is alerted; both show in STATUS.
    HealthOptions ho;
    if (cfg.chain == "regtest") ho.stalled_after = std::chrono::seconds{0};
    HealthState hs;
    std::optional<std::string> health_status;
    net::steady_timer health_timer{io};
    std::function<void()> check_health = [&] {
        health_timer.expires_after(std::chrono::seconds{15});
        health_timer.async_wait([&](const boost::system::error_code& e) {
            if (e) return;
            const auto v = AssessHealth(follower.status(), std::chrono::steady_clock::now(), hs, ho);
            systemd.SetHealthy(v.ping);
            if (v.status != health_status) {
                health_status = v.status;
                if (v.status) log::Main()->warn("health: {}", *v.status);
                systemd.Status(v.status ? *v.status : "watching " + std::to_string(engine.registry().size()) + " vault(s)");
            }
            engine.ChainStalled(v.stalled, v.status.value_or(""));
            check_health();
        });
    };
    check_health();
    request_stop = [&] {
        health_timer.cancel();
        systemd.Stopping();
        webhooks.Stop();
        engine.Stop();
        engine_rpc.Cancel();
        follower.Stop();
        rpc_server.Stop();
        if (metrics) metrics->Stop();
        hup.cancel();
        stop_signals.cancel();
    };
    stop_signals.async_wait([&](const boost::system::error_code& e, int sig) {
        if (e) return;
        log::Main()->info("signal {}: shutting down", sig);
        request_stop();
    });

    int exit_code = 0;
    bool zmq_discovering = false;
    // Subscribes once endpoints are known: from config at once, else from getzmqnotifications
    // as soon as the node answers (it may be down when we start).
    auto start_zmq = [&]() -> net::awaitable<void> {
        if (zmq || zmq_discovering) co_return;
        zmq_discovering = true;
        auto subs = co_await DiscoverZmq(zmq_rpc, cfg);
        zmq_discovering = false;
        if (subs.empty() || zmq) co_return;
        zmq = std::make_unique<ZmqSubscriber>(
            io.get_executor(), subs,
            [&](const std::string& e, chain::ZmqMessage m) { follower.OnZmqMessage(e, std::move(m)); },
            [&](const std::string& e, std::string why) { follower.OnZmqBadMessage(e, why); });
        zmq->Start();
    };
    follower.on_caught_up = [&] {
        const auto& st = follower.status();
        systemd.Ready("watching " + std::to_string(engine.registry().size()) + " vault(s) at height " + std::to_string(st.cursor.height));
    };
    follower.on_status_change = [&](const FollowerStatus& st) {
        systemd.Status("bitcoind " + std::string(ToString(st.node)) + (st.detail.empty() ? "" : ": " + st.detail));
        if (st.node == FollowerStatus::Node::Ok || st.node == FollowerStatus::Node::Unreachable) {
            engine.NodeStatus(st.node == FollowerStatus::Node::Ok, st.detail);
        }
        if (st.node == FollowerStatus::Node::Ok && !zmq) net::co_spawn(io, start_zmq(), net::detached);
    };
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            engine.Start();
            webhooks.Start();
            systemd.StartWatchdog();
            co_await start_zmq();
            co_await follower.Run();
            if (follower.fatal_error()) exit_code = 1;
            request_stop();
        },
        [&](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log::Main()->critical("unexpected error: {}", ex.what());
            }
            exit_code = 1;
            request_stop();
        });
    io.run();
    if (zmq) zmq->Stop();
    rpc_server.Stop();
    log::Main()->info("vaultwatchd stopped");
    return exit_code;
}
