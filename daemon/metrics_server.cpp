#include "metrics_server.h"

#include "log.h"

#include <boost/beast/http.hpp>

#include <charconv>

namespace vw::daemon {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

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
    : m_ex(ex), m_render(std::move(render)), m_opts(std::move(opts))
{
}

MetricsServer::~MetricsServer() = default;

std::optional<std::string> MetricsServer::Start()
{
    boost::system::error_code ec;
    const auto addr = net::ip::make_address(m_opts.bind, ec);
    if (ec) return "metricsbind: '" + m_opts.bind + "' is not an IP address";
    if (!addr.is_loopback()) log::Main()->warn("metrics listening on non-loopback address {} (no authentication on /metrics)", m_opts.bind);
    HttpListenerOptions lo;
    lo.name = "metrics";
    lo.bind = m_opts.bind;
    lo.port = m_opts.port;
    lo.header_limit = 8 * 1024;
    lo.body_limit = 0;
    lo.request_timeout = m_opts.io_timeout;
    lo.write_timeout = m_opts.io_timeout;
    lo.max_connections = m_opts.max_connections;
    lo.max_per_client = m_opts.max_connections;
    lo.keep_alive = false; // one scrape per connection
    m_listener = std::make_unique<HttpListener>(m_ex, lo, [this](HttpRequest req, net::ip::address) -> net::awaitable<HttpAnswer> {
        co_return Answer(req);
    });
    if (auto e = m_listener->Start()) return e;
    log::Main()->info("metrics on http://{}:{}/metrics", m_opts.bind, m_listener->port());
    return std::nullopt;
}

void MetricsServer::Stop()
{
    if (m_listener) m_listener->Stop();
}

uint16_t MetricsServer::port() const { return m_listener ? m_listener->port() : 0; }

HttpAnswer MetricsServer::Answer(const HttpRequest& req) const
{
    HttpAnswer a;
    auto& res = a.response;
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
    return a;
}

} // namespace vw::daemon
