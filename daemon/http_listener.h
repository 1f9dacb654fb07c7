#pragma once
// The one HTTP/1.1 listener under the control port and /metrics (Beast's listener -> session ->
// handler shape). It owns what both need to survive abuse: every read and write bounded by a
// deadline, header and body caps, a cap on connections overall and per client address, and
// eviction: when the cap is reached, a newcomer takes the place of the connection that has waited
// longest for a request (one that never authenticated first), so idle or slow sockets cannot
// lock the operator out. What a request means is the handler's business.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace vw::daemon {

struct HttpListenerOptions {
    std::string name;                    //!< for log lines ("control RPC", "metrics")
    std::string bind{"127.0.0.1"};
    uint16_t port{0};                    //!< 0 = pick a free port (tests)
    size_t header_limit{16 * 1024};
    size_t body_limit{1 << 20};
    //! A connection has this long to deliver each whole request (the first, or the next on a
    //! kept-alive connection); then it is closed. Slow or silent clients end here.
    std::chrono::milliseconds request_timeout{std::chrono::seconds{10}};
    std::chrono::milliseconds write_timeout{std::chrono::seconds{30}};
    size_t max_connections{64};
    //! Per remote address, loopback excepted (every local client shares 127.0.0.1; eviction is
    //! what protects the operator there).
    size_t max_per_client{16};
    bool keep_alive{true};
};

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

struct HttpAnswer {
    HttpResponse response;      //!< sent as is: the handler calls prepare_payload()
    bool authenticated{false};  //!< the client proved who it is: evicted only after strangers
};

//! Answers one request from `peer`. Runs on the listener's executor.
using HttpHandler = std::function<boost::asio::awaitable<HttpAnswer>(HttpRequest, boost::asio::ip::address peer)>;

class HttpListener
{
public:
    HttpListener(boost::asio::any_io_executor ex, HttpListenerOptions opts, HttpHandler handler);
    ~HttpListener();
    //! Binds and starts accepting. Returns an error message on failure.
    std::optional<std::string> Start();
    //! Stops accepting and closes every connection waiting for a request (one being answered
    //! finishes first, then closes).
    void Stop();
    uint16_t port() const { return m_port; }
    size_t connections() const { return m_connections; }
    uint64_t evictions() const { return m_evictions; }

private:
    struct Conn {
        std::function<void()> close;
        boost::asio::ip::address peer;
        bool waiting{true}; //!< waiting for a request (evictable), not being answered
        bool authenticated{false};
        std::chrono::steady_clock::time_point waiting_since;
    };
    boost::asio::awaitable<void> AcceptLoop();
    boost::asio::awaitable<void> Session(boost::asio::ip::tcp::socket sock, boost::asio::ip::address peer);
    //! Closes the connection that has waited longest for a request, strangers first. Returns
    //! false when every connection is busy being answered.
    bool EvictOne();

    boost::asio::any_io_executor m_ex;
    HttpListenerOptions m_opts;
    HttpHandler m_handler;
    boost::asio::ip::tcp::acceptor m_acceptor;
    uint16_t m_port{0};
    size_t m_connections{0};
    uint64_t m_evictions{0};
    uint64_t m_next{0};
    bool m_stopping{false};
    std::map<uint64_t, Conn> m_conns;
    std::shared_ptr<bool> m_alive;
};

} // namespace vw::daemon
