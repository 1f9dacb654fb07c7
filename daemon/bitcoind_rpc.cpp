#include "bitcoind_rpc.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <fstream>
#include <sstream>

namespace vw::daemon {

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
    std::string out(beast::detail::base64::encoded_size(userpass.size()), '\0');
    out.resize(beast::detail::base64::encode(out.data(), userpass.data(), userpass.size()));
    return "Basic " + out;
}

net::awaitable<RpcResult<json::value>> BitcoindRpc::Call(std::string method, json::value params)
{
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

    bool auth_failed = false;
    auto r = co_await CallOnce(body, auth_failed);
    if (auth_failed && m_ep.auth.cookie_file) {
        // bitcoind writes a new cookie at every start: re-read it once and retry.
        m_cached_auth.clear();
        auth_failed = false;
        r = co_await CallOnce(body, auth_failed);
    }
    if (!r && r.error->kind == RpcError::Kind::Transport && m_stream) {
        // A keep-alive connection the node closed meanwhile: retry once on a fresh connection.
        m_stream.reset();
        r = co_await CallOnce(body, auth_failed);
    }
    co_return r;
}

net::awaitable<RpcResult<json::value>> BitcoindRpc::CallOnce(const std::string& body, bool& auth_failed)
{
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
        tcp::resolver resolver{m_ex};
        auto [rec, results] = co_await resolver.async_resolve(m_ep.host, std::to_string(m_ep.port), tok);
        if (rec) co_return fail(RpcError::Kind::Transport, "resolve " + m_ep.host + ": " + rec.message());
        m_stream->expires_after(m_ep.timeout);
        auto [cec, ep] = co_await m_stream->async_connect(results, tok);
        if (cec) co_return fail(RpcError::Kind::Transport, "connect " + m_ep.host + ":" + std::to_string(m_ep.port) + ": " + cec.message());
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
    if (wec) co_return fail(RpcError::Kind::Transport, "write: " + wec.message());

    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256 * 1024 * 1024); // a full block at verbosity 0 is ~8 MB of hex; be generous
    m_stream->expires_after(m_ep.timeout);
    auto [rec, rn] = co_await http::async_read(*m_stream, buf, parser, tok);
    if (rec) co_return fail(RpcError::Kind::Transport, "read: " + rec.message());
    auto res = parser.release();
    if (!res.keep_alive()) m_stream.reset();

    const unsigned status = res.result_int();
    if (status == 401 || status == 403) {
        auth_failed = true;
        co_return fail(RpcError::Kind::Auth, "HTTP " + std::to_string(status));
    }
    boost::system::error_code jec;
    json::value v = json::parse(res.body(), jec);
    if (jec || !v.is_object()) {
        if (status != 200) co_return fail(RpcError::Kind::Http, "HTTP " + std::to_string(status));
        co_return fail(RpcError::Kind::BadReply, "reply is not a JSON object");
    }
    const auto& obj = v.as_object();
    if (const auto* err = obj.if_contains("error"); err && !err->is_null()) {
        if (!err->is_object()) co_return fail(RpcError::Kind::BadReply, "error member is not an object");
        const auto& eo = err->as_object();
        int code = 0;
        std::string msg;
        if (const auto* c = eo.if_contains("code"); c && c->is_int64()) code = static_cast<int>(c->as_int64());
        if (const auto* m = eo.if_contains("message"); m && m->is_string()) msg = std::string(m->as_string());
        co_return RpcResult<json::value>{std::nullopt, RpcError{RpcError::Kind::Rpc, code, std::move(msg)}};
    }
    const auto* result = obj.if_contains("result");
    if (!result) co_return fail(RpcError::Kind::BadReply, "reply has neither result nor error");
    co_return RpcResult<json::value>{*result, std::nullopt};
}

} // namespace vw::daemon
