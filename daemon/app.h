#pragma once
// The daemon as an object in named stages (Bitcoin Core's AppInit/Interrupt/Shutdown):
// Init (checks, locks, opens and binds: everything that can refuse to start), Start (arms
// signals, health and systemd, then runs the engine and the chain follower), Run (the event
// loop, until interrupted), Interrupt (every component is asked to stop), Stop (what is left
// once the loop has wound down). main() parses argv and maps the stages to exit codes.

#include "config.h"
#include "engine.h"
#include "health.h"
#include "loop_lag.h"
#include "util/expected.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace vw::store {
class Store;
}
namespace vw::rpc {
class RpcTable;
}

namespace vw::daemon {

class BitcoindNode;
class BitcoindRpc;
class Engine;
class MetricsServer;
class RpcServer;
class SystemdNotifier;
class WebhookDispatcher;
class ZmqSubscriber;

//! The engine's options a configuration asks for (the chain, fees, the fee wallet's reserve and
//! coins); node_tip and the clock are the caller's.
EngineOptions EngineOptionsFrom(const Config& cfg);

//! Reads the configuration again, as at start (SIGHUP).
using ConfigReader = std::function<Expected<std::optional<Config>, std::string>()>;

//! Why Init refused to start.
struct InitError {
    std::string message;
    //! false: the loggers were not up yet, the caller prints message (stderr); true: it was
    //! logged where it happened.
    bool logged{false};
};

class App
{
public:
    explicit App(ConfigReader reread_config);
    ~App();
    App(const App&) = delete;
    App& operator=(const App&) = delete;

    //! Checks the datadir and secret files, locks the datadir, starts logging, opens the store,
    //! loads the fee wallet, the vaults and the webhooks, binds the control and metrics ports.
    //! Nothing runs yet. On failure, what was built is torn down by the destructor.
    Expected<void, InitError> Init(const Config& cfg);
    //! After Init: handles SIGINT/SIGTERM/SIGHUP, samples health, then (once Run turns the loop)
    //! starts the engine, the webhooks, the watchdog, ZMQ and the chain follower.
    void Start();
    //! Runs the event loop on this thread until every component has stopped.
    void Run();
    //! Asks every component to stop, in order (io thread: a signal, the follower ending; the
    //! control port's stop posts it).
    void Interrupt();
    //! After Run returned: closes what the loop does not. Returns: the exit code (1 after a
    //! fatal error of the chain follower or an unexpected exception, else 0).
    int Stop();

private:
    class DirLock;
    class EventLog;
    class TeeListener;

    void WaitForHup();
    void CheckHealth();
    //! Subscribes once endpoints are known: from config at once, else from
    //! getzmqnotifications as soon as the node answers (it may be down when we start).
    boost::asio::awaitable<void> StartZmq();

    const ConfigReader m_reread_config;
    Config m_cfg;

    // Declared in the order they are built, so they are destroyed in reverse.
    std::unique_ptr<DirLock> m_lock;
    std::unique_ptr<store::Store> m_store;
    boost::asio::io_context m_io{1};
    std::unique_ptr<BitcoindRpc> m_rpc;
    std::unique_ptr<BitcoindRpc> m_zmq_rpc;
    //! One connection each: the follower's block reads never wait behind the engine's broadcasts.
    std::unique_ptr<BitcoindRpc> m_engine_rpc;
    //! A trigger's answer has one of its own (the announcement confirmed, then the sweep sent):
    //! it never waits behind a rescan's getblock or a fee refresh.
    std::unique_ptr<BitcoindRpc> m_trigger_rpc;
    std::unique_ptr<BitcoindNode> m_node;
    std::unique_ptr<BitcoindNode> m_engine_node;
    std::unique_ptr<BitcoindNode> m_trigger_node;
    std::unique_ptr<Engine> m_engine;
    std::unique_ptr<WebhookDispatcher> m_webhooks;
    std::unique_ptr<EventLog> m_event_log;
    std::unique_ptr<TeeListener> m_listener;
    std::unique_ptr<ChainFollower> m_follower;
    std::unique_ptr<ZmqSubscriber> m_zmq;
    std::unique_ptr<rpc::RpcTable> m_rpc_table;
    std::unique_ptr<RpcServer> m_rpc_server;
    std::unique_ptr<LoopLag> m_loop_lag;
    std::unique_ptr<MetricsServer> m_metrics;

    // Built by Start.
    std::optional<boost::asio::signal_set> m_stop_signals;
    std::optional<boost::asio::signal_set> m_hup;
    std::unique_ptr<SystemdNotifier> m_systemd;
    HealthOptions m_health_options;
    HealthState m_health_state;
    std::optional<std::string> m_health_status;
    std::optional<boost::asio::steady_timer> m_health_timer;

    int m_exit_code{0};
    bool m_zmq_discovering{false};
    bool m_interrupted{false}; //!< Interrupt ran: nothing new is started (a subscription found late)
};

} // namespace vw::daemon
