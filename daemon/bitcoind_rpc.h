#pragma once
// Asynchronous JSON-RPC client for bitcoind (Boost.Beast, C++20 coroutines). Every call is bounded
// by a deadline; transport failures are kept apart from RPC errors so callers can tell "node
// unreachable, retry later" from "node said no".

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>

namespace vw::daemon {

struct RpcError {
    enum class Kind {
        Transport, //!< connect/read/write failed or timed out: node unreachable
        Auth,      //!< HTTP 401/403 even after re-reading the cookie
        Http,      //!< unexpected HTTP status without a JSON-RPC error body
        BadReply,  //!< reply is not the JSON-RPC shape we expect
        Rpc,       //!< the node answered with a JSON-RPC error object
    } kind{Kind::Transport};
    int code{0};         //!< JSON-RPC error code for Kind::Rpc (e.g. -28, -5, -25, -26, -27)
    std::string message;

    bool IsWarmingUp() const { return kind == Kind::Rpc && code == -28; }
    bool IsUnreachable() const { return kind == Kind::Transport; }
    std::string ToString() const;
};

struct RpcAuth {
    std::optional<std::filesystem::path> cookie_file; //!< preferred; re-read after a 401
    std::string user;
    std::string password;
};

struct RpcEndpoint {
    std::string host{"127.0.0.1"};
    uint16_t port{18443};
    RpcAuth auth;
    std::chrono::milliseconds timeout{std::chrono::seconds{30}};
};

template <typename T>
struct RpcResult {
    std::optional<T> value;
    std::optional<RpcError> error;
    explicit operator bool() const { return value.has_value(); }
};

//! One keep-alive HTTP connection to bitcoind. Concurrent callers on the same (single-threaded)
//! executor are served one after the other, in order: a call waits for the one in flight.
class BitcoindRpc
{
public:
    BitcoindRpc(boost::asio::any_io_executor ex, RpcEndpoint ep);

    //! Calls method with params (a JSON array or object). Returns the "result" value or an error.
    boost::asio::awaitable<RpcResult<boost::json::value>> Call(std::string method, boost::json::value params);

    //! Aborts the call in flight, if any (it fails with a transport error). For shutdown.
    void Cancel();

    const RpcEndpoint& endpoint() const { return m_ep; }
    //! Statistics for metrics and logs.
    uint64_t calls() const { return m_calls; }
    //! Wall time spent inside Call() (waiting for the node, transfer, JSON parsing).
    std::chrono::nanoseconds busy() const { return m_busy; }

private:
    boost::asio::awaitable<RpcResult<boost::json::value>> CallOnce(const std::string& body, bool& auth_failed, bool& closed);
    std::optional<std::string> AuthHeader();

    boost::asio::any_io_executor m_ex;
    RpcEndpoint m_ep;
    bool m_in_flight{false};
    std::deque<boost::asio::steady_timer*> m_waiters; //!< callers queued behind the call in flight
    std::optional<boost::beast::tcp_stream> m_stream;
    std::string m_cached_auth;
    uint64_t m_id{0};
    uint64_t m_calls{0};
    std::chrono::nanoseconds m_busy{0};
};

//! Builds a positional params array. (GCC 12 miscompiles braced json::array temporaries inside
//! co_await expressions, so coroutines use this instead.)
template <typename... A>
boost::json::value Params(A&&... a)
{
    boost::json::array arr;
    (arr.emplace_back(std::forward<A>(a)), ...);
    return arr;
}

} // namespace vw::daemon
