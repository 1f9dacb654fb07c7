#pragma once
// The control port: HTTP/1.1 JSON-RPC over Boost.Beast. One coroutine per connection, each
// read and write bounded by a deadline, bodies capped, connections capped, failed auth delayed.

#include "rpc/auth.h"
#include "rpc/metrics.h"
#include "rpc/table.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace vw::daemon {

struct RpcServerOptions {
    std::string bind{"127.0.0.1"};
    uint16_t port{0};                                  //!< 0 = pick a free port (tests)
    size_t body_limit{1 << 20};                        //!< 1 MiB: registervault with many presigned txs fits
    std::chrono::milliseconds io_timeout{std::chrono::seconds{30}};
    std::chrono::milliseconds auth_fail_delay{std::chrono::milliseconds{250}}; //!< as bitcoind
    size_t max_connections{64};
    std::filesystem::path cookie_file;                 //!< empty = no cookie
    std::vector<rpc::RpcAuthEntry> rpcauth;
    rpc::DispatchLimits limits;
};

class RpcServer
{
public:
    RpcServer(boost::asio::any_io_executor ex, const rpc::RpcTable& table, RpcServerOptions opts);
    ~RpcServer();
    //! Binds and writes the cookie file (0600). Returns an error message on failure.
    std::optional<std::string> Start();
    //! Stops accepting, closes idle connections (a request being answered finishes first, then
    //! its connection closes), removes the cookie file.
    void Stop();
    uint16_t port() const { return m_port; }
    uint64_t auth_failures() const { return m_auth_failures; }
    //! Time to answer each authenticated request (dispatch and handler), in seconds.
    const rpc::Histogram& latency() const { return m_latency; }
    //! Calls answered through a method's batch form, and how many batches ran them.
    uint64_t batched_calls() const { return m_batched_calls; }
    uint64_t batches_run() const { return m_batches_run; }

private:
    struct Waiting;
    boost::asio::awaitable<void> AcceptLoop();
    boost::asio::awaitable<void> Session(boost::asio::ip::tcp::socket sock);
    //! Queues a call of a method with a batch form; returns its reply once a batch ran it.
    boost::asio::awaitable<rpc::HttpReply> RunBatched(rpc::DeferredCall call);
    //! Runs the queued calls of one method, every call that arrived meanwhile in one batch.
    boost::asio::awaitable<void> Batcher(std::string method);

    boost::asio::any_io_executor m_ex;
    const rpc::RpcTable& m_table;
    RpcServerOptions m_opts;
    std::unique_ptr<rpc::Authenticator> m_auth;
    boost::asio::ip::tcp::acceptor m_acceptor;
    uint16_t m_port{0};
    size_t m_connections{0};
    uint64_t m_auth_failures{0};
    rpc::Histogram m_latency{rpc::LatencyBuckets()};
    bool m_cookie_written{false};
    bool m_stopping{false};
    //! Sessions waiting for their next request, by session number: closing one ends its read.
    //! Without this a keep-alive client would hold the daemon up at stop for io_timeout.
    std::map<uint64_t, std::function<void()>> m_idle;
    uint64_t m_next_session{0};
    std::map<std::string, std::vector<std::shared_ptr<Waiting>>> m_queued; //!< by method
    std::set<std::string> m_batchers;                                      //!< methods whose batcher runs
    uint64_t m_batched_calls{0};
    uint64_t m_batches_run{0};
    std::shared_ptr<bool> m_alive;
};

} // namespace vw::daemon
