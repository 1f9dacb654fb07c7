// The control port's request path, on bytes from a client:
//  1. the input as a JSON-RPC request body (single or batch) through rpc::Dispatch with the real
//     method table (MakeRpcTable(RpcContext{}): every method, its argument binding and help; the
//     handlers that need an engine answer "not available");
//  2. the input as raw HTTP/1.1 (possibly several pipelined requests), parsed with Beast's
//     request_parser configured as RpcServer::Session configures it (header limit 16 KiB, body
//     limit), each request's Authorization header through rpc::Authenticator::Check and its body
//     through Dispatch. RpcServer has no parser usable without a socket (Session is a coroutine on
//     a tcp::socket), so this mirrors its steps rather than calling it; the body is dispatched even
//     when auth fails, or the fuzzer would never get past a random cookie.
// Invariants checked: nothing throws out, every reply has a status the server may send, and every
// non-204 reply is a JSON object or array.
#include "rpc/auth.h"
#include "rpc/table.h"

#include "rpc_methods.h"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>


namespace {
namespace json = boost::json;
namespace http = boost::beast::http;

const vw::rpc::RpcTable& Table()
{
    static const std::unique_ptr<vw::rpc::RpcTable> t = vw::daemon::MakeRpcTable(vw::daemon::RpcContext{});
    return *t;
}

const vw::rpc::Authenticator& Auth()
{
    static const vw::rpc::Authenticator a{std::string(64, 'a'),
                                          {*vw::rpc::ParseRpcAuth(vw::rpc::MakeRpcAuth("alice", "0123456789abcdef", "pw"))}};
    return a;
}

void CheckReply(const vw::rpc::HttpReply& r)
{
    switch (r.status) {
    case 200:
    case 400:
    case 404:
    case 500: break;
    case 204:
        if (!r.body.empty()) __builtin_trap();
        return;
    default: __builtin_trap();
    }
    boost::system::error_code ec;
    const json::value v = json::parse(r.body, ec);
    if (ec || !(v.is_object() || v.is_array())) __builtin_trap();
}

constexpr size_t kBodyLimit = 64 * 1024; // the server's is 1 MiB; inputs are far smaller

void RawHttp(std::string_view in)
{
    boost::beast::flat_buffer buf;
    {
        auto mb = buf.prepare(in.size());
        if (!in.empty()) std::memcpy(mb.data(), in.data(), in.size());
        buf.commit(in.size());
    }
    // Keep-alive: as many requests as the bytes hold, as Session's loop reads them.
    for (int n = 0; n < 64 && buf.size() > 0; ++n) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(kBodyLimit);
        parser.header_limit(16 * 1024);
        parser.eager(true);
        boost::system::error_code ec;
        const size_t used = parser.put(buf.data(), ec);
        buf.consume(used);
        if (ec == http::error::need_more) {
            parser.put_eof(ec); // the client closed: a body delimited by EOF ends here
            if (ec || !parser.is_done()) return;
        } else if (ec || !parser.is_done()) {
            return; // malformed HTTP or body over the limit: the server answers 413 or drops
        }
        const auto& req = parser.get();
        if (req.method() != http::verb::post) continue;          // 405
        const auto auth = req[http::field::authorization];
        (void)Auth().Check(std::string_view{auth.data(), auth.size()});
        if (req.target() != "/") continue;                         // 404
        CheckReply(vw::rpc::Dispatch(Table(), req.body()));
        if (!req.keep_alive()) return;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view in{reinterpret_cast<const char*>(data), size};
    CheckReply(vw::rpc::Dispatch(Table(), in));
    // A small batch limit as well, so the batch-limit branch is reachable with short inputs.
    vw::rpc::DispatchLimits small;
    small.max_batch = 2;
    CheckReply(vw::rpc::Dispatch(Table(), in, small));
    (void)vw::rpc::ParseBasicAuth(in);
    RawHttp(in);
    return 0;
}
