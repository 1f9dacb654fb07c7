#include "metrics_server.h"

#include "log.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <charconv>

namespace vw::daemon {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;

std::optional<std::pair<std::string, uint16_t>> ParseMetricsBind(const std::string& s, std::string* error)
{
    auto fail = [&](const std::string& why) -> std::optional<std::pair<std::string, uint16_t>> {
        if (error) *error = "metricsbind=" + s + ": " + why;
        return std::nullopt;
    };
    std::string host = "127.0.0.1";
    std::string port = s;
    if (!s.empty() && s[0] == '[') {
        const auto close = s.find(']');
        if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return fail("expected [address]:port");
        host = s.substr(1, close - 1);
        port = s.substr(close + 2);
    } else if (const auto colon = s.rfind(':'); colon != std::string::npos) {
        if (s.find(':') != colon) return fail("an IPv6 address needs brackets: [address]:port");
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
    }
    unsigned value = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || r.ec != std::errc{} || r.ptr != port.data() + port.size() || value == 0 || value > 65535) {
        return fail("expected a port between 1 and 65535");
    }
    boost::system::error_code ec;
    (void)net::ip::make_address(host, ec);
    if (ec) return fail("'" + host + "' is not an IP address");
    return std::pair{host, static_cast<uint16_t>(value)};
}

MetricsServer::MetricsServer(net::any_io_executor ex, std::function<std::string()> render, MetricsServerOptions opts)
    : m_ex(ex), m_render(std::move(render)), m_opts(std::move(opts)), m_acceptor(ex), m_alive(std::make_shared<bool>(true))
{
}

MetricsServer::~MetricsServer()
{
    *m_alive = false;
    boost::system::error_code ec;
    m_acceptor.close(ec);
}

std::optional<std::string> MetricsServer::Start()
{
    boost::system::error_code ec;
    const auto addr = net::ip::make_address(m_opts.bind, ec);
    if (ec) return "metricsbind: '" + m_opts.bind + "' is not an IP address";
    if (!addr.is_loopback()) log::Main()->warn("metrics listening on non-loopback address {} (no authentication on /metrics)", m_opts.bind);
    tcp::endpoint ep{addr, m_opts.port};
    m_acceptor.open(ep.protocol(), ec);
    if (!ec) m_acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) m_acceptor.bind(ep, ec);
    if (!ec) m_acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return "cannot listen for metrics on " + m_opts.bind + ":" + std::to_string(m_opts.port) + ": " + ec.message();
    m_port = m_acceptor.local_endpoint().port();
    net::co_spawn(m_ex, AcceptLoop(), net::detached);
    log::Main()->info("metrics on http://{}:{}/metrics", m_opts.bind, m_port);
    return std::nullopt;
}

void MetricsServer::Stop()
{
    m_stopping = true;
    boost::system::error_code ec;
    m_acceptor.close(ec);
    auto open = std::move(m_open);
    m_open.clear();
    for (auto& [_, close] : open) close();
}

net::awaitable<void> MetricsServer::AcceptLoop()
{
    auto alive = m_alive;
    for (;;) {
        auto [ec, sock] = co_await m_acceptor.async_accept(net::as_tuple(net::use_awaitable));
        if (!*alive || m_stopping || !m_acceptor.is_open()) co_return;
        if (ec) continue;
        if (m_connections >= m_opts.max_connections) {
            boost::system::error_code ignore;
            sock.close(ignore);
            continue;
        }
        net::co_spawn(m_ex, Session(std::move(sock)), net::detached);
    }
}

net::awaitable<void> MetricsServer::Session(tcp::socket sock)
{
    auto alive = m_alive;
    ++m_connections;
    const uint64_t id = m_next++;
    struct Guard {
        std::shared_ptr<bool> alive;
        MetricsServer& server;
        uint64_t id;
        ~Guard()
        {
            if (!*alive) return;
            --server.m_connections;
            server.m_open.erase(id);
        }
    } guard{alive, *this, id};
    beast::tcp_stream stream{std::move(sock)};
    m_open.emplace(id, [&stream] { stream.close(); });
    beast::flat_buffer buf;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(8 * 1024);
    parser.body_limit(0);
    stream.expires_after(m_opts.io_timeout);
    auto [rec, n] = co_await http::async_read(stream, buf, parser, net::as_tuple(net::use_awaitable));
    if (!*alive || m_stopping || rec) co_return;
    const auto& req = parser.get();
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(false);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
        res.result(http::status::method_not_allowed);
        res.body() = "only GET /metrics\n";
    } else if (req.target() != "/metrics") {
        res.result(http::status::not_found);
        res.body() = "only GET /metrics\n";
    } else {
        res.result(http::status::ok);
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = m_render();
    }
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    stream.expires_after(m_opts.io_timeout);
    auto [wec, wn] = co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
    (void)wec;
    if (!*alive) co_return;
    boost::system::error_code ignore;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignore);
}

} // namespace vw::daemon
