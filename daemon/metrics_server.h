#pragma once
// Prometheus /metrics on its own port (metricsbind), apart from the control port: no auth, so
// loopback by default and a warning otherwise. One short GET per connection over the HTTP
// listener (deadlines, caps, eviction); what a scrape shows comes from render().

#include "http_listener.h"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace vw::daemon {

struct MetricsServerOptions {
    std::string bind{"127.0.0.1"};
    uint16_t port{0};                                         //!< 0 = pick a free port (tests)
    std::chrono::milliseconds io_timeout{std::chrono::seconds{5}};
    size_t max_connections{8};
};

//! Parses metricsbind: "port", "host:port" or "[v6]:port". Returns {host, port} or an error.
std::optional<std::pair<std::string, uint16_t>> ParseMetricsBind(const std::string& s, std::string* error);

class MetricsServer
{
public:
    MetricsServer(boost::asio::any_io_executor ex, std::function<std::string()> render, MetricsServerOptions opts);
    ~MetricsServer();
    std::optional<std::string> Start();
    void Stop();
    uint16_t port() const;

private:
    HttpAnswer Answer(const HttpRequest& req) const;

    boost::asio::any_io_executor m_ex;
    std::function<std::string()> m_render;
    MetricsServerOptions m_opts;
    std::unique_ptr<HttpListener> m_listener;
};

} // namespace vw::daemon
