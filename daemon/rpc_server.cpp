#include "rpc_server.h"

#include "log.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

namespace vw::daemon {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;

RpcServer::RpcServer(net::any_io_executor ex, const rpc::RpcTable& table, RpcServerOptions opts)
    : m_ex(ex), m_table(table), m_opts(std::move(opts)), m_alive(std::make_shared<bool>(true))
{
}

RpcServer::~RpcServer()
{
    *m_alive = false;
    Stop();
}

std::optional<std::string> RpcServer::Start()
{
    boost::system::error_code ec;
    const auto addr = net::ip::make_address(m_opts.bind, ec);
    if (ec) return "rpcbind=" + m_opts.bind + " is not an IP address";
    if (!addr.is_loopback() && m_opts.rpcauth.empty()) {
        return "rpcbind=" + m_opts.bind + " is not a loopback address: set rpcauth credentials to expose the control port";
    }
    std::string cookie_pass;
    if (!m_opts.cookie_file.empty()) {
        cookie_pass = rpc::RandomHex32();
        if (auto e = WriteCookie(m_opts.cookie_file, std::string(rpc::COOKIE_USER) + ":" + cookie_pass)) return e;
        m_cookie_written = true;
    }
    m_auth = std::make_unique<rpc::Authenticator>(cookie_pass, m_opts.rpcauth);
    if (!addr.is_loopback()) log::Rpc()->warn("control RPC listening on non-loopback address {}", m_opts.bind);
    HttpListenerOptions lo;
    lo.name = "control RPC";
    lo.bind = m_opts.bind;
    lo.port = m_opts.port;
    lo.body_limit = m_opts.body_limit;
    lo.request_timeout = m_opts.request_timeout;
    lo.write_timeout = m_opts.io_timeout;
    lo.max_connections = m_opts.max_connections;
    lo.max_per_client = m_opts.max_per_client;
    m_listener = std::make_unique<HttpListener>(m_ex, lo, [this](HttpRequest req, net::ip::address peer) { return Handle(std::move(req), peer); });
    if (auto e = m_listener->Start()) return e;
    log::Rpc()->info("control RPC listening on {}:{}", m_opts.bind, m_listener->port());
    return std::nullopt;
}

std::optional<std::string> RpcServer::WriteCookie(const std::filesystem::path& path, const std::string& content)
{
    // Written to a fresh temporary file and renamed, like bitcoind, so a reader never sees a
    // half-written cookie. O_EXCL|O_NOFOLLOW: a file or symlink planted at the temporary name (by
    // anyone who could write to the datadir) is refused, never followed or reused.
    const auto tmp = path.string() + ".tmp";
    std::error_code rec;
    std::filesystem::remove(tmp, rec); // ours from a crash, or planted: either way not opened
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return "cannot write cookie file " + tmp + ": " + std::strerror(errno);
    const bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return "cannot write cookie file " + path.string() + ": " + std::strerror(errno);
    }
    return std::nullopt;
}

void RpcServer::Stop()
{
    if (m_listener) m_listener->Stop();
    if (m_cookie_written) {
        std::error_code ec;
        std::filesystem::remove(m_opts.cookie_file, ec);
        m_cookie_written = false;
    }
}

uint16_t RpcServer::port() const { return m_listener ? m_listener->port() : 0; }

uint64_t RpcServer::evictions() const { return m_listener ? m_listener->evictions() : 0; }

net::awaitable<HttpAnswer> RpcServer::Handle(HttpRequest req, net::ip::address peer)
{
    auto alive = m_alive;
    HttpAnswer answer;
    auto& res = answer.response;
    const auto auth = req[http::field::authorization];
    if (req.method() != http::verb::post) {
        res.result(http::status::method_not_allowed);
        res.set(http::field::content_type, "text/plain");
        res.body() = "JSONRPC server handles only POST requests";
    } else if (!m_auth->Check(std::string_view{auth.data(), auth.size()})) {
        ++m_auth_failures;
        log::Rpc()->debug("authentication failed from {}", peer.to_string());
        // Slow down password guessing, as bitcoind does.
        net::steady_timer t{m_ex};
        t.expires_after(m_opts.auth_fail_delay);
        co_await t.async_wait(net::as_tuple(net::use_awaitable));
        if (!*alive) co_return answer;
        res.result(http::status::unauthorized);
        res.set(http::field::www_authenticate, "Basic realm=\"jsonrpc\"");
    } else {
        answer.authenticated = true;
        if (req.target() != "/") {
            res.result(http::status::not_found);
        } else {
            const auto t0 = std::chrono::steady_clock::now();
            rpc::HttpReply reply;
            if (auto call = rpc::Defer(m_table, req.body())) {
                reply = co_await RunBatched(std::move(*call));
                if (!*alive) co_return answer;
            } else {
                reply = rpc::Dispatch(m_table, req.body(), m_opts.limits);
            }
            m_latency.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            res.result(reply.status);
            if (reply.status != 204) res.set(http::field::content_type, "application/json");
            res.body() = reply.body;
        }
    }
    res.prepare_payload();
    co_return answer;
}

struct RpcServer::Waiting {
    Waiting(rpc::DeferredCall c, const net::any_io_executor& ex) : call(std::move(c)), done(ex) {}
    rpc::DeferredCall call;
    std::optional<rpc::HttpReply> reply;
    net::steady_timer done; //!< cancelled when reply is set
};

net::awaitable<rpc::HttpReply> RpcServer::RunBatched(rpc::DeferredCall call)
{
    auto w = std::make_shared<Waiting>(std::move(call), m_ex);
    w->done.expires_at(net::steady_timer::time_point::max());
    const std::string method = w->call.spec->name;
    m_queued[method].push_back(w);
    if (m_batchers.insert(method).second) net::co_spawn(m_ex, Batcher(method), net::detached);
    co_await w->done.async_wait(net::as_tuple(net::use_awaitable));
    if (!w->reply) co_return rpc::ReplyTo(w->call, Unexpected{rpc::RpcFailure{rpc::RPC_INTERNAL_ERROR, "the call was not run"}});
    co_return std::move(*w->reply);
}

net::awaitable<void> RpcServer::Batcher(std::string method)
{
    constexpr size_t MAX_BATCH = 1000;
    auto alive = m_alive;
    for (;;) {
        // A timer that is already due completes after the I/O the reactor has ready: requests
        // already read on other connections join this batch (one SQLite commit for all).
        net::steady_timer t{m_ex, std::chrono::steady_clock::now()};
        co_await t.async_wait(net::as_tuple(net::use_awaitable));
        if (!*alive) co_return;
        auto& q = m_queued[method];
        if (q.empty()) break;
        const size_t n = std::min(q.size(), MAX_BATCH);
        std::vector<std::shared_ptr<Waiting>> batch(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
        q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
        std::vector<rpc::Args> args;
        args.reserve(n);
        for (auto& w : batch) args.push_back(std::move(w->call.args));
        std::vector<Expected<boost::json::value, rpc::RpcFailure>> results;
        try {
            results = batch.front()->call.spec->batch(args);
        } catch (const std::exception& e) {
            results.clear();
            log::Rpc()->error("{}: batch of {} failed: {}", method, n, e.what());
        }
        if (results.size() != n) {
            results.assign(n, Unexpected{rpc::RpcFailure{rpc::RPC_INTERNAL_ERROR, "internal error: the batch was not run"}});
        }
        ++m_batches_run;
        m_batched_calls += n;
        for (size_t i = 0; i < n; ++i) {
            batch[i]->reply = rpc::ReplyTo(batch[i]->call, std::move(results[i]));
            batch[i]->done.cancel();
        }
    }
    m_batchers.erase(method);
}

} // namespace vw::daemon
