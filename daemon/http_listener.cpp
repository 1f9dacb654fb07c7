#include "http_listener.h"

#include "log.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>

namespace vw::daemon {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;

HttpListener::HttpListener(net::any_io_executor ex, HttpListenerOptions opts, HttpHandler handler)
    : m_ex(ex), m_opts(std::move(opts)), m_handler(std::move(handler)), m_acceptor(ex), m_alive(std::make_shared<bool>(true))
{
}

HttpListener::~HttpListener()
{
    *m_alive = false;
    Stop();
}

std::optional<std::string> HttpListener::Start()
{
    boost::system::error_code ec;
    const auto addr = net::ip::make_address(m_opts.bind, ec);
    if (ec) return m_opts.name + ": '" + m_opts.bind + "' is not an IP address";
    tcp::endpoint ep{addr, m_opts.port};
    m_acceptor.open(ep.protocol(), ec);
    if (!ec) m_acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) m_acceptor.bind(ep, ec);
    if (!ec) m_acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return "cannot listen for " + m_opts.name + " on " + m_opts.bind + ":" + std::to_string(m_opts.port) + ": " + ec.message();
    m_port = m_acceptor.local_endpoint().port();
    net::co_spawn(m_ex, AcceptLoop(), net::detached);
    return std::nullopt;
}

void HttpListener::Stop()
{
    m_stopping = true;
    boost::system::error_code ec;
    m_acceptor.close(ec);
    std::vector<std::function<void()>> close;
    for (auto& [_, c] : m_conns) {
        if (c.waiting) close.push_back(c.close);
    }
    for (auto& f : close) f();
}

bool HttpListener::EvictOne()
{
    auto victim = m_conns.end();
    for (auto it = m_conns.begin(); it != m_conns.end(); ++it) {
        if (!it->second.waiting) continue;
        if (victim == m_conns.end() ||
            std::pair{it->second.authenticated, it->second.waiting_since} < std::pair{victim->second.authenticated, victim->second.waiting_since}) {
            victim = it;
        }
    }
    if (victim == m_conns.end()) return false;
    auto close = std::move(victim->second.close);
    m_conns.erase(victim); // its session ends on the closed socket; the place is free now
    ++m_evictions;
    close();
    return true;
}

net::awaitable<void> HttpListener::AcceptLoop()
{
    auto alive = m_alive;
    for (;;) {
        auto [ec, sock] = co_await m_acceptor.async_accept(net::as_tuple(net::use_awaitable));
        if (!*alive || m_stopping || !m_acceptor.is_open()) co_return;
        if (ec) continue;
        boost::system::error_code pec;
        const auto peer = sock.remote_endpoint(pec).address();
        if (pec) continue;
        if (!peer.is_loopback() && static_cast<size_t>(std::count_if(m_conns.begin(), m_conns.end(), [&](const auto& c) {
                                       return c.second.peer == peer;
                                   })) >= m_opts.max_per_client) {
            log::Rpc()->debug("{}: refusing a connection from {}: it has {} open", m_opts.name, peer.to_string(), m_opts.max_per_client);
            boost::system::error_code ignore;
            sock.close(ignore);
            continue;
        }
        if (m_conns.size() >= m_opts.max_connections && !EvictOne()) {
            // Every connection is being answered: refuse the newcomer rather than queue it.
            boost::system::error_code ignore;
            sock.close(ignore);
            continue;
        }
        net::co_spawn(m_ex, Session(std::move(sock), peer), net::detached);
    }
}

net::awaitable<void> HttpListener::Session(tcp::socket sock, net::ip::address peer)
{
    auto alive = m_alive;
    const uint64_t id = m_next++;
    beast::tcp_stream stream{std::move(sock)};
    m_conns.emplace(id, Conn{[&stream] { stream.close(); }, peer, true, false, std::chrono::steady_clock::now()});
    struct Guard {
        std::shared_ptr<bool> alive;
        HttpListener& listener;
        uint64_t id;
        ~Guard()
        {
            if (*alive) listener.m_conns.erase(id);
        }
    } guard{alive, *this, id};
    auto me = [&]() -> Conn* {
        auto it = m_conns.find(id);
        return it == m_conns.end() ? nullptr : &it->second;
    };
    beast::flat_buffer buf;
    const auto tok = net::as_tuple(net::use_awaitable);
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<uint32_t>(m_opts.header_limit));
        parser.body_limit(m_opts.body_limit);
        stream.expires_after(m_opts.request_timeout);
        if (Conn* c = me()) {
            c->waiting = true;
            c->waiting_since = std::chrono::steady_clock::now();
        }
        auto [rec, n] = co_await http::async_read(stream, buf, parser, tok);
        if (!*alive || m_stopping) co_return;
        Conn* c = me();
        if (!c) co_return; // evicted
        c->waiting = false;
        HttpAnswer answer;
        bool close = false;
        if (rec == http::error::body_limit) {
            answer.response.result(http::status::payload_too_large);
            answer.response.set(http::field::content_type, "text/plain");
            answer.response.body() = "request body exceeds " + std::to_string(m_opts.body_limit) + " bytes\n";
            answer.response.prepare_payload();
            close = true;
        } else if (rec) {
            co_return; // timeout, reset, malformed HTTP: drop the connection, log nothing loud
        } else {
            auto req = parser.release();
            close = !m_opts.keep_alive || !req.keep_alive();
            const unsigned version = req.version();
            answer = co_await m_handler(std::move(req), peer);
            if (!*alive) co_return;
            answer.response.version(version);
            if (Conn* again = me(); again && answer.authenticated) again->authenticated = true;
        }
        answer.response.keep_alive(!close);
        stream.expires_after(m_opts.write_timeout);
        auto [wec, wn] = co_await http::async_write(stream, answer.response, tok);
        if (wec || close || !*alive || m_stopping) break;
    }
    if (!*alive) co_return;
    boost::system::error_code ignore;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignore);
}

} // namespace vw::daemon
