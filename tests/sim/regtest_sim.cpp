// Transport (HTTP/1.1 JSON-RPC server as bitcoind's libevent server behaves) and control of the
// simulated node process.

#include "sim_impl.h"

#include "crypto/sha256.h"
#include "script_info.h"
#include "util/hex.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <random>
#include <sys/stat.h>

namespace vw::sim {

namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;

namespace {

std::string Base64Encode(std::string_view in)
{
    static const char* T = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const uint32_t v = (uint32_t{static_cast<uint8_t>(in[i])} << 16) | (uint32_t{static_cast<uint8_t>(in[i + 1])} << 8) | static_cast<uint8_t>(in[i + 2]);
        out += T[(v >> 18) & 63];
        out += T[(v >> 12) & 63];
        out += T[(v >> 6) & 63];
        out += T[v & 63];
    }
    if (i + 1 == in.size()) {
        const uint32_t v = uint32_t{static_cast<uint8_t>(in[i])} << 16;
        out += T[(v >> 18) & 63];
        out += T[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        const uint32_t v = (uint32_t{static_cast<uint8_t>(in[i])} << 16) | (uint32_t{static_cast<uint8_t>(in[i + 1])} << 8);
        out += T[(v >> 18) & 63];
        out += T[(v >> 12) & 63];
        out += T[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

//! Strict decoder like Core's DecodeBase64: valid alphabet, correct padding, else nullopt.
std::optional<std::string> Base64Decode(std::string_view in)
{
    if (in.size() % 4 != 0) return std::nullopt;
    std::string out;
    for (size_t i = 0; i < in.size(); i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (size_t j = 0; j < 4; ++j) {
            const char c = in[i + j];
            int d;
            if (c >= 'A' && c <= 'Z') d = c - 'A';
            else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
            else if (c >= '0' && c <= '9') d = c - '0' + 52;
            else if (c == '+') d = 62;
            else if (c == '/') d = 63;
            else if (c == '=' && i + 4 == in.size() && j >= 2) { d = 0; ++pad; }
            else return std::nullopt;
            if (pad && c != '=') return std::nullopt;
            v = (v << 6) | static_cast<uint32_t>(d);
        }
        out += static_cast<char>((v >> 16) & 0xff);
        if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
        if (pad < 1) out += static_cast<char>(v & 0xff);
    }
    return out;
}

std::string HttpDate()
{
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

const char* Reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

struct Reply {
    int status{200};
    std::vector<std::pair<std::string, std::string>> headers;  //!< set by the handler, in order
    std::string body;
};

//! Serializes a reply as libevent's evhttp_make_header_response does for bitcoind.
std::string Serialize(const Reply& r, unsigned version, bool request_close, bool keepalive_1_0, bool include_body = true)
{
    const bool v11 = version >= 11;
    const bool needs_body = r.status != 204 && r.status != 304 && r.status >= 200;
    auto headers = r.headers;
    auto has = [&](std::string_view name) {
        for (const auto& [k, v] : headers) {
            if (beast::iequals(k, name)) return true;
        }
        return false;
    };
    if (v11 && !has("Date")) headers.emplace_back("Date", HttpDate());
    if (!v11 && keepalive_1_0) headers.emplace_back("Connection", "keep-alive");
    if ((v11 || keepalive_1_0) && needs_body && !has("Content-Length")) headers.emplace_back("Content-Length", std::to_string(r.body.size()));
    if (needs_body && !has("Content-Type")) headers.emplace_back("Content-Type", "text/html; charset=ISO-8859-1");
    if (request_close) headers.emplace_back("Connection", "close");
    std::string out = (v11 ? "HTTP/1.1 " : "HTTP/1.0 ") + std::to_string(r.status) + " " + Reason(r.status) + "\r\n";
    for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
    out += "\r\n";
    if (needs_body && include_body) out += r.body;
    return out;
}

json::value ErrorObject(int code, const std::string& msg)
{
    json::object e;
    e["code"] = code;
    e["message"] = msg;
    return e;
}

enum class JsonRpcVersion { V1Legacy, V2 };

struct ParsedRequest {
    std::optional<json::value> id{json::value(nullptr)};  // an unparsed request replies "id":null
    JsonRpcVersion version{JsonRpcVersion::V1Legacy};
    std::string method;
    json::value params;
    bool IsNotification() const { return !id && version == JsonRpcVersion::V2; }
};

//! JSONRPCRequest::parse. Sets id and version before anything can throw, as Core does.
void ParseRequest(const json::value& v, ParsedRequest& req)
{
    if (!v.is_object()) throw RpcError(-32600, "Invalid Request object");
    const auto& o = v.get_object();
    if (auto it = o.find("id"); it != o.end()) req.id = it->value();
    else req.id.reset();
    req.version = JsonRpcVersion::V1Legacy;
    if (auto it = o.find("jsonrpc"); it != o.end() && !it->value().is_null()) {
        if (!it->value().is_string()) throw RpcError(-32600, "jsonrpc field must be a string");
        const auto& s = it->value().get_string();
        if (s == "1.0") req.version = JsonRpcVersion::V1Legacy;
        else if (s == "2.0") req.version = JsonRpcVersion::V2;
        else throw RpcError(-32600, "JSON-RPC version not supported");
    }
    auto m = o.find("method");
    if (m == o.end() || m->value().is_null()) throw RpcError(-32600, "Missing method");
    if (!m->value().is_string()) throw RpcError(-32600, "Method must be a string");
    req.method = std::string(m->value().get_string());
    auto p = o.find("params");
    if (p == o.end() || p->value().is_null()) req.params = json::array{};
    else if (p->value().is_array() || p->value().is_object()) req.params = p->value();
    else throw RpcError(-32600, "Params must be an array or object");
}

//! JSONRPCReplyObj.
json::value ReplyObj(json::value result, json::value error, const std::optional<json::value>& id, JsonRpcVersion v)
{
    json::object r;
    if (v == JsonRpcVersion::V2) r["jsonrpc"] = "2.0";
    if (error.is_null()) {
        r["result"] = std::move(result);
        if (v == JsonRpcVersion::V1Legacy) r["error"] = nullptr;
    } else {
        if (v == JsonRpcVersion::V1Legacy) r["result"] = nullptr;
        r["error"] = std::move(error);
    }
    if (id) r["id"] = *id;
    return r;
}

int64_t RandomSeed()
{
    std::random_device rd;
    return (static_cast<int64_t>(rd()) << 32) ^ rd();
}

} // namespace

// ---- Impl --------------------------------------------------------------------------------------

RegtestSim::Impl::Impl(SimConfig c) : cfg(std::move(c)), zctx(1), mocktime(cfg.mocktime) {}

int64_t RegtestSim::Impl::Now() const
{
    if (mocktime) return *mocktime;
    return static_cast<int64_t>(std::time(nullptr));
}

std::string RegtestSim::Impl::ExpectedUser() const { return cfg.rpc_password.empty() ? "__cookie__" : cfg.rpc_user; }
std::string RegtestSim::Impl::ExpectedPassword() const { return cfg.rpc_password.empty() ? cookie_secret : cfg.rpc_password; }

void RegtestSim::Impl::WriteCookie()
{
    if (!cfg.rpc_password.empty()) return;
    std::mt19937_64 rng(static_cast<uint64_t>(RandomSeed()));
    uint8_t secret[32];
    for (auto& b : secret) b = static_cast<uint8_t>(rng());
    static const char* hexd = "0123456789abcdef";
    cookie_secret.clear();
    for (uint8_t b : secret) {
        cookie_secret += hexd[b >> 4];
        cookie_secret += hexd[b & 15];
    }
    if (cfg.datadir.empty()) return;
    const auto dir = cfg.datadir / "regtest";
    std::filesystem::create_directories(dir);
    const auto tmp = dir / ".cookie.tmp";
    const mode_t old = ::umask(0077);
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f << "__cookie__:" << cookie_secret;  // no trailing newline
    }
    ::umask(old);
    std::filesystem::rename(tmp, dir / ".cookie");
}

void RegtestSim::Impl::RemoveCookie()
{
    if (!cfg.rpc_password.empty() || cfg.datadir.empty()) return;
    std::error_code ec;
    std::filesystem::remove(cfg.datadir / "regtest" / ".cookie", ec);
}

void RegtestSim::Impl::CloseListener()
{
    if (acceptor) {
        boost::system::error_code ec;
        acceptor->close(ec);
        acceptor.reset();
    }
}

void RegtestSim::Impl::CloseSessions()
{
    for (auto& s : sessions) {
        boost::system::error_code ec;
        s->shutdown(tcp::socket::shutdown_both, ec);
        s->close(ec);
    }
    sessions.clear();
}

void RegtestSim::Impl::Shutdown()
{
    if (shutdown) return;
    MaybePersist();
    CloseListener();
    CloseSessions();
    if (zmq) zmq->Close();
    RemoveCookie();
    {
        std::lock_guard lk(mu);
        shutdown = true;
    }
    cv.notify_all();
    work.reset();
}

namespace {

awaitable<void> Session(RegtestSim::Impl* impl, std::shared_ptr<tcp::socket> sock);

awaitable<void> AcceptLoop(RegtestSim::Impl* impl, std::shared_ptr<tcp::acceptor> acc)
{
    for (;;) {
        boost::system::error_code ec;
        tcp::socket s = co_await acc->async_accept(asio::redirect_error(use_awaitable, ec));
        if (ec) {
            if (!acc->is_open()) co_return;
            continue;
        }
        // No Nagle: a multi-megabyte getblock reply would otherwise end in a small segment held
        // back until the client's delayed ACK (up to 40 ms per request).
        s.set_option(tcp::no_delay(true), ec);
        auto sp = std::make_shared<tcp::socket>(std::move(s));
        impl->sessions.insert(sp);
        asio::co_spawn(impl->io, Session(impl, sp), asio::detached);
    }
}

//! Fault injection: replaces a successful reply to a single request by a malformed one.
std::optional<Reply> MaybeCorrupt(RegtestSim::Impl* impl, const std::string& method, json::value& reply)
{
    auto& b = impl->bad_replies;
    if (b.n <= 0 || RegtestSim::Impl::IsSimMethod(method) || (!b.method.empty() && b.method != method)) return std::nullopt;
    auto* obj = reply.if_object();
    if (!obj) return std::nullopt;
    auto* res = obj->if_contains("result");
    if (!res) return std::nullopt;
    if (const auto* err = obj->if_contains("error"); err && !err->is_null()) return std::nullopt;
    Reply rep;
    rep.status = 200;
    rep.headers = {{"Content-Type", "application/json"}};
    switch (b.kind) {
    case BadReply::TruncatedJson: {
        const std::string full = WriteJson(reply) + "\n";
        rep.body = full.substr(0, full.size() / 2);
        break;
    }
    case BadReply::WrongType:
        switch (res->kind()) {
        case json::kind::string: *res = 42; break;
        case json::kind::int64:
        case json::kind::uint64:
        case json::kind::double_: *res = "42"; break;
        case json::kind::object: *res = json::array{}; break;
        case json::kind::array: *res = json::object{}; break;
        case json::kind::bool_:
        case json::kind::null: *res = json::array{}; break;
        }
        rep.body = WriteJson(reply) + "\n";
        break;
    case BadReply::NonHex:
    case BadReply::TruncatedHex: {
        if (!res->is_string() || res->as_string().size() < 2) return std::nullopt;
        std::string str(res->as_string());
        if (str[0] == '\x01' && str.size() >= 3) str = str.substr(2, str.size() - 3);  // HexValue: pre-quoted
        if (b.kind == BadReply::NonHex) str[str.size() / 2] = 'g';
        else str.resize(str.size() / 4 * 2);
        *res = json::string(str);
        rep.body = WriteJson(reply) + "\n";
        break;
    }
    case BadReply::NotJson:
        rep.headers = {{"Content-Type", "text/html; charset=ISO-8859-1"}};
        rep.body = "<html><body><h1>upstream hiccup</h1></body></html>\n";
        break;
    case BadReply::EmptyBody: break;
    }
    --b.n;
    return rep;
}

//! Processes one JSON-RPC POST body (HTTPReq_JSONRPC after authorization).
Reply HandleJsonRpc(RegtestSim::Impl* impl, const std::string& body)
{
    Reply rep;
    ParsedRequest jreq;
    auto error_reply = [&](const RpcError& e) {
        // JSONErrorReply: HTTP status from the code, reply shaped by the request's version.
        rep.status = e.code == -32600 ? 400 : e.code == -32601 ? 404 : 500;
        rep.headers = {{"Content-Type", "application/json"}};
        rep.body = WriteJson(ReplyObj(nullptr, ErrorObject(e.code, e.what()), jreq.id, jreq.version)) + "\n";
        return rep;
    };
    auto exec_one = [&](const ParsedRequest& r, bool catch_errors) -> json::value {
        if (!catch_errors) return ReplyObj(impl->Execute(r.method, r.params), nullptr, r.id, r.version);
        try {
            return ReplyObj(impl->Execute(r.method, r.params), nullptr, r.id, r.version);
        } catch (const RpcError& e) {
            return ReplyObj(nullptr, ErrorObject(e.code, e.what()), r.id, r.version);
        }
    };
    try {
        boost::system::error_code ec;
        json::value val = json::parse(body, ec);
        if (ec) throw RpcError(-32700, "Parse error");
        json::value reply;
        if (val.is_object()) {
            ParseRequest(val, jreq);
            reply = exec_one(jreq, jreq.version == JsonRpcVersion::V2);
            if (jreq.IsNotification()) {
                rep.status = 204;
                return rep;
            }
            if (auto bad = MaybeCorrupt(impl, jreq.method, reply)) return *bad;
        } else if (val.is_array()) {
            json::array out;
            for (const auto& elem : val.get_array()) {
                ParsedRequest r;
                json::value response;
                try {
                    ParseRequest(elem, r);
                    response = exec_one(r, true);
                } catch (const RpcError& e) {
                    response = ReplyObj(nullptr, ErrorObject(e.code, e.what()), r.id, r.version);
                }
                if (!r.IsNotification()) out.push_back(std::move(response));
            }
            if (out.empty() && !val.get_array().empty()) {
                rep.status = 204;
                return rep;
            }
            reply = std::move(out);
        } else {
            throw RpcError(-32700, "Top-level object parse error");
        }
        rep.status = 200;
        rep.headers = {{"Content-Type", "application/json"}};
        rep.body = WriteJson(reply);
        rep.body += '\n';
        return rep;
    } catch (const RpcError& e) {
        return error_reply(e);
    }
}

awaitable<void> Session(RegtestSim::Impl* impl, std::shared_ptr<tcp::socket> sock)
{
    beast::flat_buffer buf;
    auto ex = co_await asio::this_coro::executor;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(0x02000000);
        boost::system::error_code ec;
        co_await http::async_read(*sock, buf, parser, asio::redirect_error(use_awaitable, ec));
        if (ec) {
            if (ec != http::error::end_of_stream && sock->is_open() && ec != asio::error::operation_aborted && ec != asio::error::connection_reset) {
                Reply bad;
                bad.status = 400;
                std::string out = Serialize(bad, 11, false, false);
                co_await asio::async_write(*sock, asio::buffer(out), asio::redirect_error(use_awaitable, ec));
            }
            break;
        }
        const auto& req = parser.get();
        const unsigned version = req.version();
        bool request_close = false, keepalive_1_0 = false;
        if (auto it = req.find(http::field::connection); it != req.end()) {
            request_close = beast::iequals(it->value(), "close");
            keepalive_1_0 = version < 11 && beast::iequals(it->value(), "keep-alive");
        }
        if (impl->slow.count() > 0) {
            asio::steady_timer t(ex, impl->slow);
            co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
        }
        Reply rep;
        const std::string target(req.target());
        const bool rpc_path = target == "/" || target.rfind("/wallet/", 0) == 0;
        if (!rpc_path) {
            rep.status = 404;
        } else if (req.method() != http::verb::post) {
            rep.status = 405;
            rep.body = "JSONRPC server handles only POST requests";
        } else {
            auto auth = req.find(http::field::authorization);
            bool ok = false;
            bool delayed = false;
            if (auth == req.end()) {
                ok = false;
            } else {
                delayed = true;
                std::string_view a(auth->value().data(), auth->value().size());
                if (a.rfind("Basic ", 0) == 0) {
                    a.remove_prefix(6);
                    while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.remove_prefix(1);
                    while (!a.empty() && (a.back() == ' ' || a.back() == '\t')) a.remove_suffix(1);
                    if (auto up = Base64Decode(a)) ok = *up == impl->ExpectedUser() + ":" + impl->ExpectedPassword();
                }
            }
            if (ok && impl->authfail > 0) {
                --impl->authfail;
                ok = false;
                delayed = true;
            }
            if (!ok) {
                if (delayed && impl->cfg.auth_fail_delay.count() > 0) {
                    asio::steady_timer t(ex, impl->cfg.auth_fail_delay);
                    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
                }
                rep.status = 401;
                rep.headers = {{"WWW-Authenticate", "Basic realm=\"jsonrpc\""}};
            } else if (target != "/") {
                // Built without a wallet: /wallet/<name> endpoints are not registered.
                rep.status = 404;
            } else {
                rep = HandleJsonRpc(impl, req.body());
                impl->MaybePersist();
            }
        }
        if (!sock->is_open()) break;
        const bool close_after = request_close || (version < 11 && !keepalive_1_0);
        // Head and body as two buffers: a multi-megabyte body is not copied again.
        const std::string head = Serialize(rep, version, request_close, keepalive_1_0, /*include_body=*/false);
        const bool send_body = rep.status != 204 && rep.status != 304 && rep.status >= 200;
        const std::array<asio::const_buffer, 2> bufs{asio::buffer(head), send_body ? asio::buffer(rep.body) : asio::const_buffer{}};
        co_await asio::async_write(*sock, bufs, asio::redirect_error(use_awaitable, ec));
        auto actions = std::move(impl->after_reply);
        impl->after_reply.clear();
        if (ec || close_after || !actions.empty()) {
            if (close_after || !actions.empty()) sock->shutdown(tcp::socket::shutdown_send, ec);
            for (auto& a : actions) a();
            if (close_after || ec) break;
        }
    }
    boost::system::error_code ec;
    sock->close(ec);
    impl->sessions.erase(sock);
}

} // namespace

void RegtestSim::Impl::OpenListener()
{
    if (acceptor || unreachable || shutdown) return;
    auto acc = std::make_shared<tcp::acceptor>(io);
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    acc->open(ep.protocol());
    acc->set_option(asio::socket_base::reuse_address(true));
    acc->bind(ep);
    acc->listen();
    port = acc->local_endpoint().port();
    acceptor = acc;
    asio::co_spawn(io, AcceptLoop(this, acc), asio::detached);
}

void RegtestSim::Impl::SetUnreachable(bool on)
{
    unreachable = on;
    if (on) {
        CloseListener();
        CloseSessions();
    } else if (!restarting) {
        OpenListener();
    }
}

void RegtestSim::Impl::BeginRestart(std::function<void()> done, int lose_blocks)
{
    restarting = true;
    CloseListener();
    CloseSessions();
    if (cfg.restart_rebinds_zmq) zmq->Close();
    else zmq->SetSilence(true);
    if (lose_blocks > 0) node->ForgetTip(lose_blocks); // while nothing is published
    RemoveCookie();
    auto t1 = std::make_shared<asio::steady_timer>(io, cfg.restart_downtime);
    t1->async_wait([this, t1, done](const boost::system::error_code&) {
        if (shutdown) return done();
        if (cfg.restart_rebinds_zmq) {
            zmq->Open();  // counters restart at 0
        } else {
            zmq->SetSilence(false);
            zmq->ResetCounters();
        }
        auto t2 = std::make_shared<asio::steady_timer>(io, cfg.restart_announce_delay);
        t2->async_wait([this, t2, done](const boost::system::error_code&) {
            if (shutdown) return done();
            node->RestartMempool(cfg.keep_mempool_on_restart);
            WriteCookie();
            start_time = std::chrono::steady_clock::now();
            restarting = false;
            OpenListener();
            done();
        });
    });
}

std::vector<std::string> RegtestSim::Impl::GenerateBlocks(int n, const Bytes& spk)
{
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
        auto built = node->BuildBlock(node->Tip(), spk, std::nullopt);
        size_t weight = 0;
        for (const auto& tx : built.block.txs) weight += tx.Weight();
        last_template = std::make_pair(weight + 4 * (BlockHeader::SIZE + CompactSizeLen(built.block.txs.size())), built.block.txs.size() - 1);
        const auto* idx = node->SubmitBlock(std::move(built.block));
        out.push_back(idx->hash.ToString());
    }
    return out;
}

std::vector<std::string> RegtestSim::Impl::DoReorg(int depth)
{
    if (depth < 1 || depth > node->Height()) throw RpcError(-8, "Invalid depth");
    const BlockIndex* parent = node->AtHeight(node->Height() - depth);
    // A competing miner's branch: coinbase-only blocks paying a P2WSH nobody watches (a fresh
    // one per reorg, so repeated reorgs at the same height build distinct blocks).
    static std::atomic<uint32_t> reorg_counter{0};
    const uint32_t c = reorg_counter++;
    const uint8_t ctr[4] = {static_cast<uint8_t>(c), static_cast<uint8_t>(c >> 8), static_cast<uint8_t>(c >> 16), static_cast<uint8_t>(c >> 24)};
    const Uint256 prog = crypto::Sha256Once(ByteSpan{ctr, 4});
    Bytes spk(34, 0);
    spk[1] = 0x20;
    std::copy(prog.bytes.begin(), prog.bytes.end(), spk.begin() + 2);
    for (int i = 0; i <= depth; ++i) {
        auto built = node->BuildBlock(parent, spk, std::vector<vw::Transaction>{});
        parent = node->SubmitBlock(std::move(built.block), /*activate=*/false);
    }
    node->ActivateBestChain();
    std::vector<std::string> out;
    for (const BlockIndex* p = parent; out.size() < static_cast<size_t>(depth + 1); p = p->prev) out.insert(out.begin(), p->hash.ToString());
    return out;
}

// ---- persistence -------------------------------------------------------------------------------

namespace {
void WriteAtomically(const std::filesystem::path& path, const std::string& text)
{
    const auto tmp = path.string() + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f << text;
    }
    std::filesystem::rename(tmp, path);
}

std::vector<std::string> ReadHexLines(const std::filesystem::path& path)
{
    std::vector<std::string> out;
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
        if (!line.empty()) out.push_back(line);
    }
    return out;
}
} // namespace

bool RegtestSim::Impl::HasSavedChain() const { return !cfg.datadir.empty() && std::filesystem::exists(StateDir() / "sim_chain.hex"); }

void RegtestSim::Impl::LoadChain()
{
    for (const auto& line : ReadHexLines(StateDir() / "sim_chain.hex")) {
        auto raw = ParseHex(std::string_view{line});
        if (!raw) throw std::runtime_error("corrupt " + (StateDir() / "sim_chain.hex").string());
        auto block = DecodeBlock(*raw);
        if (!block) throw std::runtime_error("corrupt " + (StateDir() / "sim_chain.hex").string());
        node->SubmitBlock(std::move(*block));
    }
}

void RegtestSim::Impl::LoadMempool()
{
    if (cfg.datadir.empty()) return;
    for (const auto& line : ReadHexLines(StateDir() / "sim_mempool.hex")) {
        auto tx = DecodeTransactionHex(line);
        if (tx) node->AcceptToMempool(*tx, /*check_fee=*/false);
    }
}

void RegtestSim::Impl::MaybePersist()
{
    if (!cfg.persist || cfg.datadir.empty() || !node || !node->Tip()) return;
    std::filesystem::create_directories(StateDir());
    const std::string tip = node->Tip()->hash.ToString();
    if (tip != saved_tip) {
        std::string text;
        for (int h = 1; h <= node->Height(); ++h) {
            text += node->AtHeight(h)->hex;
            text += '\n';
        }
        WriteAtomically(StateDir() / "sim_chain.hex", text);
        saved_tip = tip;
    }
    const auto pool = node->MempoolInOrder();
    if (saved_mempool_seq != node->MempoolSequence() || saved_mempool_size != pool.size()) {
        std::string text;
        for (const auto* e : pool) {
            text += HexStr(SerializeTransaction(e->tx));
            text += '\n';
        }
        WriteAtomically(StateDir() / "sim_mempool.hex", text);
        saved_mempool_seq = node->MempoolSequence();
        saved_mempool_size = pool.size();
    }
}

// ---- faults --------------------------------------------------------------------------------------

void RegtestSim::Impl::ZmqGarbageNow(ZmqGarbage kind, const std::string& topic)
{
    const uint32_t c = zmq->NextCounter(topic);
    const Bytes counter{static_cast<uint8_t>(c), static_cast<uint8_t>(c >> 8), static_cast<uint8_t>(c >> 16), static_cast<uint8_t>(c >> 24)};
    const Bytes t(topic.begin(), topic.end());
    // A body that would be valid for the topic: the tip (hash, 'C' or coinbase) in display order.
    Bytes hash(32);
    const auto tip = node->Tip()->hash.ToUint256();
    for (size_t i = 0; i < 32; ++i) hash[31 - i] = tip.bytes[i];
    Bytes body = hash;
    if (topic == "sequence") body.push_back('C');
    if (topic == "rawtx") body = SerializeTransaction(node->Tip()->block.txs.at(0), /*with_witness=*/true);
    if (topic == "rawblock") body = node->Tip()->raw;
    std::vector<Bytes> frames;
    switch (kind) {
    case ZmqGarbage::OneFrame: frames = {t}; break;
    case ZmqGarbage::TwoFrames: frames = {t, body}; break;
    case ZmqGarbage::FourFrames: frames = {t, body, counter, Bytes{'x'}}; break;
    case ZmqGarbage::ShortBody: frames = {t, Bytes(10, 0xab), counter}; break;
    case ZmqGarbage::EmptyBody: frames = {t, Bytes{}, counter}; break;
    case ZmqGarbage::UnknownTopic: {
        Bytes u = t;
        u.push_back('z');
        u.push_back('z');
        frames = {u, hash, counter};
        break;
    }
    case ZmqGarbage::BadLabel: {
        Bytes b = hash;
        b.push_back('X');
        frames = {t, b, counter};
        break;
    }
    case ZmqGarbage::BadSeqLength: {
        Bytes b = hash;
        b.push_back('A');
        frames = {t, b, counter};
        break;
    }
    case ZmqGarbage::ShortCounter: frames = {t, body, Bytes(counter.begin(), counter.begin() + 3)}; break;
    case ZmqGarbage::LongCounter: {
        Bytes lc = counter;
        lc.resize(8, 0);
        frames = {t, body, lc};
        break;
    }
    }
    zmq->SendRaw(topic, frames);
}

std::optional<ZmqGarbage> ParseZmqGarbage(const std::string& name)
{
    static const std::map<std::string, ZmqGarbage> m{
        {"oneframe", ZmqGarbage::OneFrame},         {"twoframes", ZmqGarbage::TwoFrames},     {"fourframes", ZmqGarbage::FourFrames},
        {"shortbody", ZmqGarbage::ShortBody},       {"emptybody", ZmqGarbage::EmptyBody},     {"unknowntopic", ZmqGarbage::UnknownTopic},
        {"badlabel", ZmqGarbage::BadLabel},         {"badseqlength", ZmqGarbage::BadSeqLength}, {"shortcounter", ZmqGarbage::ShortCounter},
        {"longcounter", ZmqGarbage::LongCounter}};
    auto it = m.find(name);
    if (it == m.end()) return std::nullopt;
    return it->second;
}

std::optional<BadReply> ParseBadReply(const std::string& name)
{
    static const std::map<std::string, BadReply> m{{"truncatedjson", BadReply::TruncatedJson}, {"wrongtype", BadReply::WrongType},
                                                   {"nonhex", BadReply::NonHex},               {"truncatedhex", BadReply::TruncatedHex},
                                                   {"notjson", BadReply::NotJson},             {"emptybody", BadReply::EmptyBody}};
    auto it = m.find(name);
    if (it == m.end()) return std::nullopt;
    return it->second;
}

// ---- RegtestSim --------------------------------------------------------------------------------

RegtestSim::RegtestSim(SimConfig cfg) : m(std::make_unique<Impl>(std::move(cfg))) {}

RegtestSim::~RegtestSim() { Stop(); }

void RegtestSim::Start()
{
    if (m->started) return;
    m->started = true;
    m->port = m->cfg.rpc_port;
    m->zmq = std::make_unique<ZmqPublisher>(m->zctx, m->cfg.zmq, m->cfg.zmq_hwm);
    m->node = std::make_unique<Node>(*m->zmq, [impl = m.get()] { return impl->Now(); });
    m->node->SetPolicyHook([impl = m.get()](const vw::Transaction&) -> std::optional<std::string> { return impl->reject_reason; });
    {
        // 0xbb: OP_CHECKCONTRACTVERIFY with ccv_active; OP_VAULT with vault_active (the prototype
        // node's opcode, not modelled: its spends pass unchecked); else OP_SUCCESS187 (v31).
        ScriptRules rules;
        rules.ccv = m->cfg.ccv_active;
        rules.bip68 = m->cfg.ccv_active;
        rules.discourage_op_success = m->cfg.discourage_op_success && !m->cfg.ccv_active && !m->cfg.vault_active;
        m->node->SetScriptRules(rules);
    }
    m->zmq->Open();
    // A restarted bitcoind announces nothing for the blocks it loads, and its counters start at 0.
    const bool resume = m->cfg.persist && m->HasSavedChain();
    if (resume) m->zmq->SetSilence(true);
    m->node->Init();  // genesis: rawtx/hashtx + C, no hashblock (IBD)
    if (resume) {
        m->LoadChain();
        m->zmq->ResetCounters();
        m->zmq->SetSilence(false);
    }
    if (m->cfg.persist) m->LoadMempool();
    m->MaybePersist();
    m->WriteCookie();
    m->start_time = std::chrono::steady_clock::now();
    m->OpenListener();
    m->work.emplace(m->io.get_executor());
    m->thread = std::thread([impl = m.get()] { impl->io.run(); });
}

void RegtestSim::Stop()
{
    if (!m->started) return;
    if (m->thread.joinable()) {
        if (!IsShutdown()) asio::post(m->io, [impl = m.get()] { impl->Shutdown(); });
        m->work.reset();
        m->thread.join();
    }
    // Drop any handlers left behind (open sessions were closed).
    m->io.stop();
    m->zmq.reset();
}

bool RegtestSim::WaitForShutdown(std::chrono::milliseconds timeout)
{
    std::unique_lock lk(m->mu);
    return m->cv.wait_for(lk, timeout, [&] { return m->shutdown; });
}

bool RegtestSim::IsShutdown() const
{
    std::lock_guard lk(m->mu);
    return m->shutdown;
}

uint16_t RegtestSim::RpcPort() const { return m->RunSync([&] { return m->port; }); }
std::string RegtestSim::RpcUser() const { return m->RunSync([&] { return m->ExpectedUser(); }); }
std::string RegtestSim::RpcPassword() const { return m->RunSync([&] { return m->ExpectedPassword(); }); }
std::string RegtestSim::AuthorizationHeader() const
{
    return "Basic " + Base64Encode(RpcUser() + ":" + RpcPassword());
}
std::filesystem::path RegtestSim::CookiePath() const { return m->cfg.datadir / "regtest" / ".cookie"; }
std::string RegtestSim::ZmqAddress(const std::string& topic) const { return m->RunSync([&] { return m->zmq->AddressOf(topic); }); }

json::value RegtestSim::Call(const std::string& method, json::array params)
{
    // Round-trip through the wire format so amounts come back as plain JSON numbers.
    const std::string text = m->RunSync([&] { return WriteJson(m->Execute(method, json::value(std::move(params)))); });
    return json::parse(text);
}

std::vector<std::string> RegtestSim::Generate(int n, const std::string& address)
{
    const auto spk = ParseOutputTarget(address.empty() ? DefaultMiningAddress() : address);
    if (!spk) throw RpcError(-5, "Error: Invalid address");
    return m->RunSync([&] { return m->GenerateBlocks(n, *spk); });
}

std::vector<std::string> RegtestSim::Reorg(int depth) { return m->RunSync([&] { return m->DoReorg(depth); }); }
void RegtestSim::DropZmq(uint64_t n) { m->RunSync([&] { m->zmq->DropNext(n); }); }
void RegtestSim::SetZmqSilence(bool on) { m->RunSync([&] { m->zmq->SetSilence(on); }); }

void RegtestSim::Restart()
{
    std::promise<void> p;
    auto f = p.get_future();
    asio::post(m->io, [&] { m->BeginRestart([&p] { p.set_value(); }); });
    f.get();
}

void RegtestSim::RestartLosingBlocks(int n)
{
    std::promise<void> p;
    auto f = p.get_future();
    asio::post(m->io, [&] { m->BeginRestart([&p] { p.set_value(); }, n); });
    f.get();
}

void RegtestSim::SetWarmup(bool on, const std::string& message)
{
    m->RunSync([&] {
        m->warmup = on;
        m->warmup_msg = message;
    });
}
void RegtestSim::SetSlow(std::chrono::milliseconds delay) { m->RunSync([&] { m->slow = delay; }); }
void RegtestSim::SetUnreachable(bool on) { m->RunSync([&] { m->SetUnreachable(on); }); }
void RegtestSim::FailAuth(int n) { m->RunSync([&] { m->authfail = n; }); }
void RegtestSim::SetBlockMinFee(int64_t sat_per_kvb)
{
    m->RunSync([&] { m->node->SetBlockMinFee(sat_per_kvb); });
}

bool RegtestSim::Evict(const Txid& txid)
{
    return m->RunSync([&] { return m->node->Evict(txid); });
}

void RegtestSim::SetPolicyHook(TxPolicyHook hook)
{
    m->RunSync([&] {
        if (!hook) {
            m->node->SetPolicyHook([impl = m.get()](const vw::Transaction&) -> std::optional<std::string> { return impl->reject_reason; });
            return;
        }
        m->node->SetPolicyHook([impl = m.get(), hook](const vw::Transaction& tx) -> std::optional<std::string> {
            if (impl->reject_reason) return impl->reject_reason;
            return hook(tx);
        });
    });
}
void RegtestSim::SetFeeEstimate(std::optional<int64_t> sat_per_kvb) { m->RunSync([&] { m->fee_estimate = sat_per_kvb; }); }
void RegtestSim::PublishZmqGarbage(ZmqGarbage kind, const std::string& topic)
{
    m->RunSync([&] { m->ZmqGarbageNow(kind, topic); });
}
void RegtestSim::PublishZmqRaw(const std::string& topic, std::vector<Bytes> frames)
{
    m->RunSync([&] { m->zmq->SendRaw(topic, frames); });
}
void RegtestSim::CorruptReplies(int n, BadReply kind, const std::string& method)
{
    m->RunSync([&] { m->bad_replies = {std::max(0, n), kind, method}; });
}
int RegtestSim::PendingCorruptReplies() { return m->RunSync([&] { return m->bad_replies.n; }); }
int RegtestSim::Height() { return m->RunSync([&] { return m->node->Height(); }); }
std::string RegtestSim::BestBlockHash() { return m->RunSync([&] { return m->node->Tip()->hash.ToString(); }); }

std::string DefaultMiningAddress()
{
    // P2WPKH of HASH160 = 0x3c3128dd... as used by the wire-capture scenario (a throwaway key).
    return "bcrt1q8scj3h20lkxthplc7c30ef6ef7xryfw60mukmy";
}

} // namespace vw::sim
