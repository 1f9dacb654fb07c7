#pragma once
// The control port: JSON-RPC over the HTTP listener (http_listener.h: deadlines, caps, eviction
// of idle connections). Authenticates (cookie, rpcauth; failures delayed) and dispatches through
// the method table, running concurrent calls of a method with a batch form in one batch.

#include "http_listener.h"
#include "rpc/auth.h"
#include "metrics/prometheus.h"
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
    std::chrono::milliseconds io_timeout{std::chrono::seconds{30}};      //!< to write an answer
    std::chrono::milliseconds request_timeout{std::chrono::seconds{10}}; //!< to receive each request
    std::chrono::milliseconds auth_fail_delay{std::chrono::milliseconds{250}}; //!< as bitcoind
    size_t max_connections{64};
    size_t max_per_client{16};                         //!< per remote address, loopback excepted
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
    uint16_t port() const;
    //! Connections closed to make room for a newcomer (see HttpListener).
    uint64_t evictions() const;
    //! Writes content to path through a new 0600 file (O_EXCL|O_NOFOLLOW) renamed over it.
    static std::optional<std::string> WriteCookie(const std::filesystem::path& path, const std::string& content);
    uint64_t auth_failures() const { return m_auth_failures; }
    //! Time to answer each authenticated request (dispatch and handler), in seconds.
    const metrics::Histogram& latency() const { return m_latency; }
    //! Calls answered through a method's batch form, and how many batches ran them.
    uint64_t batched_calls() const { return m_batched_calls; }
    uint64_t batches_run() const { return m_batches_run; }

private:
    struct Waiting;
    boost::asio::awaitable<HttpAnswer> Handle(HttpRequest req, boost::asio::ip::address peer);
    //! Queues a call of a method with a batch form; returns its reply once a batch ran it.
    boost::asio::awaitable<rpc::HttpReply> RunBatched(rpc::DeferredCall call);
    //! Runs the queued calls of one method, every call that arrived meanwhile in one batch.
    boost::asio::awaitable<void> Batcher(std::string method);

    boost::asio::any_io_executor m_ex;
    const rpc::RpcTable& m_table;
    RpcServerOptions m_opts;
    std::unique_ptr<rpc::Authenticator> m_auth;
    std::unique_ptr<HttpListener> m_listener;
    uint64_t m_auth_failures{0};
    metrics::Histogram m_latency{metrics::LatencyBuckets()};
    bool m_cookie_written{false};
    std::map<std::string, std::vector<std::shared_ptr<Waiting>>> m_queued; //!< by method
    std::set<std::string> m_batchers;                                      //!< methods whose batcher runs
    uint64_t m_batched_calls{0};
    uint64_t m_batches_run{0};
    std::shared_ptr<bool> m_alive;
};

} // namespace vw::daemon
