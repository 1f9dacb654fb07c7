#include "bitcoind_rpc.h"

#include "off_thread.h"

#include "rpc/auth.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <fstream>
#include <tuple>
#include <sstream>

namespace vw::daemon {

namespace {
// A full block at verbosity 0 is up to ~8 MB of hex; be generous, but bounded.
constexpr uint64_t kMaxReplyBytes = 256ull * 1024 * 1024;
} // namespace

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using net::ip::tcp;

std::string RpcError::ToString() const
{
    switch (kind) {
    case Kind::Transport: return "bitcoind unreachable: " + message;
    case Kind::Auth: return "bitcoind RPC authentication failed: " + message;
    case Kind::Http: return "bitcoind HTTP error: " + message;
    case Kind::BadReply: return "malformed bitcoind reply: " + message;
    case Kind::Rpc: return "bitcoind RPC error " + std::to_string(code) + ": " + message;
    }
    return message;
}

BitcoindRpc::BitcoindRpc(net::any_io_executor ex, RpcEndpoint ep) : m_ex(std::move(ex)), m_ep(std::move(ep)) {}

void BitcoindRpc::Cancel()
{
    if (m_stream) {
        boost::system::error_code ec;
        m_stream->socket().shutdown(tcp::socket::shutdown_both, ec);
        m_stream->socket().close(ec);
    }
}

std::optional<std::string> BitcoindRpc::AuthHeader()
{
    std::string userpass;
    if (m_ep.auth.cookie_file) {
        std::ifstream f(*m_ep.auth.cookie_file);
        if (!f) return std::nullopt;
        std::getline(f, userpass);
        if (userpass.find(':') == std::string::npos) return std::nullopt;
    } else {
        userpass = m_ep.auth.user + ":" + m_ep.auth.password;
    }
    return rpc::BasicAuthHeader(userpass);
}

net::awaitable<RpcResult<json::value>> BitcoindRpc::Call(std::string method, json::value params)
{
    // One request on the connection at a time: wait for the call in flight to finish.
    while (m_in_flight) {
        struct Waiter {
            BitcoindRpc& self;
            net::steady_timer timer;
            ~Waiter() { std::erase(self.m_waiters, &timer); } // a frame destroyed while queued leaves no dangling entry
        } w{*this, net::steady_timer{m_ex, net::steady_timer::time_point::max()}};
        m_waiters.push_back(&w.timer);
        co_await w.timer.async_wait(net::as_tuple(net::use_awaitable));
    }
    m_in_flight = true;
    struct Release {
        BitcoindRpc& self;
        ~Release()
        {
            self.m_in_flight = false;
            if (!self.m_waiters.empty()) {
                self.m_waiters.front()->cancel();
                self.m_waiters.pop_front();
            }
        }
    } release{*this};
    ++m_calls;
    const auto started = std::chrono::steady_clock::now();
    struct Timer {
        std::chrono::steady_clock::time_point t0;
        std::chrono::nanoseconds& acc;
        ~Timer() { acc += std::chrono::steady_clock::now() - t0; }
    } timer{started, m_busy};
    json::object req;
    req["jsonrpc"] = "1.0"; // the legacy form: understood by every bitcoind, old prototypes included
    req["id"] = ++m_id;
    req["method"] = std::move(method);
    req["params"] = std::move(params);
    const std::string body = json::serialize(req);

    bool auth_failed = false, closed = false;
    const bool reused = m_stream.has_value();
    auto r = co_await CallOnce(body, auth_failed, closed);
    if (!r && closed && reused) {
        // A keep-alive connection the node closed meanwhile (bitcoind drops idle ones after
        // -rpcservertimeout): retry once on a fresh connection. Not after a timeout: a node
        // that is silent stays silent, and the caller's deadline is what we promised.
        r = co_await CallOnce(body, auth_failed, closed);
    }
    if (auth_failed && m_ep.auth.cookie_file) {
        // bitcoind writes a new cookie at every start: re-read it once and retry.
        m_cached_auth.clear();
        auth_failed = false;
        r = co_await CallOnce(body, auth_failed, closed);
    }
    co_return r;
}

net::awaitable<RpcResult<json::value>> BitcoindRpc::CallOnce(const std::string& body, bool& auth_failed, bool& closed)
{
    // The peer closed the connection before answering (as opposed to a timeout or a bad reply).
    auto peer_closed = [](const boost::system::error_code& ec) {
        return ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
               ec == net::error::broken_pipe || ec == net::error::connection_aborted;
    };
    auto fail = [&](RpcError::Kind k, std::string msg, int code = 0) {
        m_stream.reset();
        return RpcResult<json::value>{std::nullopt, RpcError{k, code, std::move(msg)}};
    };
    if (m_cached_auth.empty()) {
        auto a = AuthHeader();
        if (!a) co_return fail(RpcError::Kind::Auth, "cannot read cookie file " + m_ep.auth.cookie_file->string());
        m_cached_auth = *a;
    }
    const auto tok = net::as_tuple(net::use_awaitable);
    if (!m_stream) {
        m_stream.emplace(m_ex);
        // An address (the usual 127.0.0.1) is connected to as it is: no resolver thread and no
        // getaddrinfo, whose wait no deadline of ours bounds. A host name is resolved.
        boost::system::error_code aec;
        const auto addr = net::ip::make_address(m_ep.host, aec);
        m_stream->expires_after(m_ep.timeout);
        boost::system::error_code cec;
        if (!aec) {
            std::tie(cec) = co_await m_stream->async_connect(tcp::endpoint{addr, m_ep.port}, tok);
        } else {
            tcp::resolver resolver{m_ex};
            auto [rec, results] = co_await resolver.async_resolve(m_ep.host, std::to_string(m_ep.port), tok);
            if (rec) co_return fail(RpcError::Kind::Transport, "resolve " + m_ep.host + ": " + rec.message());
            m_stream->expires_after(m_ep.timeout);
            std::tie(cec, std::ignore) = co_await m_stream->async_connect(results, tok);
        }
        if (cec) co_return fail(RpcError::Kind::Transport, "connect " + m_ep.host + ":" + std::to_string(m_ep.port) + ": " + cec.message());
        // A request's last partial segment must not wait for the node's delayed ACK (Nagle):
        // a sweep of 180 kB went out up to 200 ms late on a fresh connection.
        boost::system::error_code nec;
        m_stream->socket().set_option(tcp::no_delay(true), nec);
    }
    http::request<http::string_body> req{http::verb::post, "/", 11};
    req.set(http::field::host, m_ep.host);
    req.set(http::field::authorization, m_cached_auth);
    req.set(http::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();

    m_stream->expires_after(m_ep.timeout);
    auto [wec, wn] = co_await http::async_write(*m_stream, req, tok);
    if (wec) {
        closed = peer_closed(wec);
        co_return fail(RpcError::Kind::Transport, "write: " + wec.message());
    }

    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxReplyBytes);
    m_stream->expires_after(m_ep.timeout);
    auto [hec, hn] = co_await http::async_read_header(*m_stream, buf, parser, tok);
    if (hec) {
        closed = peer_closed(hec) && buf.size() == 0;
        co_return fail(RpcError::Kind::Transport, "read: " + hec.message());
    }
    std::string reply;
    const auto& head = parser.get();
    const unsigned status = head.result_int();
    const bool keep_alive = head.keep_alive();
    if (const auto len = parser.content_length(); len && !parser.chunked()) {
        // A block is megabytes of hex: read it straight into its final buffer in large reads,
        // not through the parser's 64 kB steps (5x faster on loopback).
        if (*len > kMaxReplyBytes) co_return fail(RpcError::Kind::BadReply, "reply of " + std::to_string(*len) + " bytes is too large");
        reply.resize(static_cast<size_t>(*len));
        const size_t have = std::min(buf.size(), reply.size());
        net::buffer_copy(net::buffer(reply), buf.data(), have);
        buf.consume(have);
        if (have < reply.size()) {
            auto [bec, bn] = co_await net::async_read(*m_stream, net::buffer(reply.data() + have, reply.size() - have), tok);
            if (bec) co_return fail(RpcError::Kind::Transport, "read: " + bec.message());
        }
    } else {
        auto [rec, rn] = co_await http::async_read(*m_stream, buf, parser, tok);
        if (rec) co_return fail(RpcError::Kind::Transport, "read: " + rec.message());
        reply = std::move(parser.get().body());
    }
    if (!keep_alive) m_stream.reset();

    if (status == 401 || status == 403) {
        auth_failed = true;
        co_return fail(RpcError::Kind::Auth, "HTTP " + std::to_string(status));
    }
    boost::system::error_code jec;
    json::value v;
    if (reply.size() >= kOffThreadBytes) {
        // Named, not a temporary in the co_await: GCC 12 destroys such a temporary twice.
        auto parse = [r = std::move(reply)] {
            boost::system::error_code ec;
            json::value out = json::parse(r, ec);
            return std::pair{std::move(out), ec};
        };
        auto parsed = co_await OffThread(std::move(parse));
        v = std::move(parsed.first);
        jec = parsed.second;
    } else {
        v = json::parse(reply, jec);
    }
    if (jec || !v.is_object()) {
        if (status != 200) co_return fail(RpcError::Kind::Http, "HTTP " + std::to_string(status));
        co_return fail(RpcError::Kind::BadReply, "reply is not a JSON object");
    }
    auto& obj = v.as_object();
    if (const auto* err = obj.if_contains("error"); err && !err->is_null()) {
        if (!err->is_object()) co_return fail(RpcError::Kind::BadReply, "error member is not an object");
        const auto& eo = err->as_object();
        int code = 0;
        std::string msg;
        if (const auto* c = eo.if_contains("code"); c && c->is_int64()) code = static_cast<int>(c->as_int64());
        if (const auto* m = eo.if_contains("message"); m && m->is_string()) msg = std::string(m->as_string());
        co_return RpcResult<json::value>{std::nullopt, RpcError{RpcError::Kind::Rpc, code, std::move(msg)}};
    }
    auto* result = obj.if_contains("result");
    if (!result) co_return fail(RpcError::Kind::BadReply, "reply has neither result nor error");
    co_return RpcResult<json::value>{std::move(*result), std::nullopt}; // a block's hex is megabytes: moved, not copied
}

} // namespace vw::daemon
