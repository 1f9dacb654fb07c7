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

#include <fstream>

namespace vw::daemon {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;

RpcServer::RpcServer(net::any_io_executor ex, const rpc::RpcTable& table, RpcServerOptions opts)
    : m_ex(ex), m_table(table), m_opts(std::move(opts)), m_acceptor(ex), m_alive(std::make_shared<bool>(true))
{
}

RpcServer::~RpcServer()
{
    *m_alive = false;
    Stop();
}

std::optional<std::string> RpcServer::Start()
{
    std::string cookie_pass;
    if (!m_opts.cookie_file.empty()) {
        // Write to a temporary file with 0600 and rename, like bitcoind, so a reader never sees
        // a half-written cookie.
        cookie_pass = rpc::RandomHex32();
        const auto tmp = m_opts.cookie_file.string() + ".tmp";
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) return "cannot write cookie file " + tmp + ": " + std::strerror(errno);
        const std::string content = std::string(rpc::COOKIE_USER) + ":" + cookie_pass;
        const bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
        ::close(fd);
        if (!ok || std::rename(tmp.c_str(), m_opts.cookie_file.c_str()) != 0) return "cannot write cookie file " + m_opts.cookie_file.string();
        m_cookie_written = true;
    }
    m_auth = std::make_unique<rpc::Authenticator>(cookie_pass, m_opts.rpcauth);
    boost::system::error_code ec;
    const auto addr = net::ip::make_address(m_opts.bind, ec);
    if (ec) return "rpcbind=" + m_opts.bind + " is not an IP address";
    if (!addr.is_loopback() && m_opts.rpcauth.empty()) {
        return "rpcbind=" + m_opts.bind + " is not a loopback address: set rpcauth credentials to expose the control port";
    }
    if (!addr.is_loopback()) log::Rpc()->warn("control RPC listening on non-loopback address {}", m_opts.bind);
    tcp::endpoint ep{addr, m_opts.port};
    m_acceptor.open(ep.protocol(), ec);
    if (!ec) m_acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) m_acceptor.bind(ep, ec);
    if (!ec) m_acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return "cannot listen on " + m_opts.bind + ":" + std::to_string(m_opts.port) + ": " + ec.message();
    m_port = m_acceptor.local_endpoint().port();
    net::co_spawn(m_ex, AcceptLoop(), net::detached);
    log::Rpc()->info("control RPC listening on {}:{}", m_opts.bind, m_port);
    return std::nullopt;
}

void RpcServer::Stop()
{
    boost::system::error_code ec;
    m_stopping = true;
    m_acceptor.close(ec);
    auto idle = std::move(m_idle);
    m_idle.clear();
    for (auto& [_, close] : idle) close();
    if (m_cookie_written) {
        std::filesystem::remove(m_opts.cookie_file, ec);
        m_cookie_written = false;
    }
}

net::awaitable<void> RpcServer::AcceptLoop()
{
    auto alive = m_alive;
    for (;;) {
        auto [ec, sock] = co_await m_acceptor.async_accept(net::as_tuple(net::use_awaitable));
        if (!*alive || m_stopping || !m_acceptor.is_open()) co_return;
        if (ec) continue;
        if (m_connections >= m_opts.max_connections) {
            // Over the cap: close at once rather than queue; clients retry.
            boost::system::error_code ignore;
            sock.close(ignore);
            continue;
        }
        net::co_spawn(m_ex, Session(std::move(sock)), net::detached);
    }
}

net::awaitable<void> RpcServer::Session(tcp::socket sock)
{
    auto alive = m_alive;
    ++m_connections;
    const uint64_t id = m_next_session++;
    struct Guard {
        std::shared_ptr<bool> alive;
        RpcServer& server;
        uint64_t id;
        ~Guard()
        {
            if (!*alive) return;
            --server.m_connections;
            server.m_idle.erase(id);
        }
    } guard{alive, *this, id};
    beast::tcp_stream stream{std::move(sock)};
    beast::flat_buffer buf;
    const auto tok = net::as_tuple(net::use_awaitable);
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(m_opts.body_limit);
        parser.header_limit(16 * 1024);
        stream.expires_after(m_opts.io_timeout);
        m_idle.emplace(id, [&stream] { stream.close(); });
        auto [rec, n] = co_await http::async_read(stream, buf, parser, tok);
        if (!*alive || m_stopping) co_return;
        m_idle.erase(id);
        http::response<http::string_body> res;
        bool close = false;
        if (rec == http::error::body_limit) {
            res.result(http::status::payload_too_large);
            res.set(http::field::content_type, "text/plain");
            res.body() = "request body exceeds " + std::to_string(m_opts.body_limit) + " bytes\n";
            close = true;
        } else if (rec) {
            co_return; // timeout, reset, malformed HTTP: drop the connection, log nothing loud
        } else {
            auto req = parser.release();
            res.version(req.version());
            close = !req.keep_alive();
            const auto auth = req[http::field::authorization];
            if (req.method() != http::verb::post) {
                res.result(http::status::method_not_allowed);
                res.set(http::field::content_type, "text/plain");
                res.body() = "JSONRPC server handles only POST requests";
            } else if (!m_auth->Check(std::string_view{auth.data(), auth.size()})) {
                ++m_auth_failures;
                log::Rpc()->debug("authentication failed from {}", stream.socket().remote_endpoint().address().to_string());
                // Slow down password guessing, as bitcoind does.
                net::steady_timer t{m_ex};
                t.expires_after(m_opts.auth_fail_delay);
                co_await t.async_wait(tok);
                if (!*alive) co_return;
                res.result(http::status::unauthorized);
                res.set(http::field::www_authenticate, "Basic realm=\"jsonrpc\"");
            } else if (req.target() != "/") {
                res.result(http::status::not_found);
            } else {
                const auto t0 = std::chrono::steady_clock::now();
                rpc::HttpReply reply;
                if (auto call = rpc::Defer(m_table, req.body())) {
                    reply = co_await RunBatched(std::move(*call));
                    if (!*alive) co_return;
                } else {
                    reply = rpc::Dispatch(m_table, req.body(), m_opts.limits);
                }
                m_latency.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                res.result(reply.status);
                if (reply.status != 204) res.set(http::field::content_type, "application/json");
                res.body() = reply.body;
            }
        }
        res.keep_alive(!close);
        res.prepare_payload();
        stream.expires_after(m_opts.io_timeout);
        auto [wec, wn] = co_await http::async_write(stream, res, tok);
        if (wec || close || !*alive || m_stopping) co_return;
    }
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
