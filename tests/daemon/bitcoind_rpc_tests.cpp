// The bitcoind RPC client against a scripted HTTP server: every way a reply can be framed
// (Content-Length, chunked, read-to-EOF), cut short, oversized, or never sent, each ending in
// the right typed result and never a crash or a hang past the deadline.
#include "bitcoind_rpc.h"

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <thread>

using namespace vw::daemon;
namespace net = boost::asio;
using net::ip::tcp;

namespace {

//! Accepts one connection at a time, reads one request head+body, and answers with `reply`
//! (raw bytes), then closes unless keep_open.
class ScriptedServer
{
public:
    explicit ScriptedServer(std::string reply, bool keep_open = false)
        : m_acceptor(m_io, tcp::endpoint(net::ip::address_v4::loopback(), 0)), m_reply(std::move(reply)), m_keep_open(keep_open)
    {
        m_thread = std::thread([this] { Run(); });
    }
    ~ScriptedServer()
    {
        m_stop = true;
        boost::system::error_code ec;
        // Wake the blocking accept with a throwaway connection.
        tcp::socket s(m_io);
        s.connect(tcp::endpoint(net::ip::address_v4::loopback(), port()), ec);
        m_thread.join();
    }
    uint16_t port() const { return m_acceptor.local_endpoint().port(); }

private:
    void Run()
    {
        while (!m_stop) {
            tcp::socket s(m_io);
            boost::system::error_code ec;
            m_acceptor.accept(s, ec);
            if (ec || m_stop) return;
            std::string in;
            char buf[4096];
            // Read until the end of the head plus the Content-Length body.
            for (;;) {
                const size_t n = s.read_some(net::buffer(buf), ec);
                if (ec) break;
                in.append(buf, n);
                const auto head_end = in.find("\r\n\r\n");
                if (head_end == std::string::npos) continue;
                const auto cl = in.find("Content-Length: ");
                const size_t len = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
                if (in.size() >= head_end + 4 + len) break;
            }
            if (ec) continue;
            net::write(s, net::buffer(m_reply), ec);
            if (m_keep_open) {
                // Hold the connection without answering more, until the client gives up.
                s.read_some(net::buffer(buf), ec);
            }
        }
    }

    net::io_context m_io;
    tcp::acceptor m_acceptor;
    std::string m_reply;
    bool m_keep_open;
    std::atomic<bool> m_stop{false};
    std::thread m_thread;
};

std::vector<RpcResult<boost::json::value>> CallN(uint16_t port, int n, std::chrono::milliseconds timeout = std::chrono::seconds{5})
{
    net::io_context io;
    RpcEndpoint ep;
    ep.port = port;
    ep.auth.user = "u";
    ep.auth.password = "p";
    ep.timeout = timeout;
    BitcoindRpc rpc(io.get_executor(), ep);
    std::vector<RpcResult<boost::json::value>> out;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            for (int i = 0; i < n; ++i) out.push_back(co_await rpc.Call("getblockcount", Params()));
        },
        net::detached);
    io.run();
    return out;
}

RpcResult<boost::json::value> CallOnce(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds{5})
{
    return CallN(port, 1, timeout).at(0);
}

std::string Reply(const std::string& body, const std::string& status = "200 OK")
{
    return "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

} // namespace

TEST(BitcoindRpcClient, ContentLengthReply)
{
    ScriptedServer srv(Reply(R"({"result":101,"error":null,"id":1})"));
    auto r = CallOnce(srv.port());
    ASSERT_TRUE(r) << r.error->ToString();
    EXPECT_EQ(r.value->as_int64(), 101);
}

TEST(BitcoindRpcClient, LargeReplyArrivesWhole)
{
    // A block's worth of hex, larger than any single socket read.
    const std::string hex(4 * 1024 * 1024, 'a');
    ScriptedServer srv(Reply(R"({"result":")" + hex + R"(","error":null,"id":1})"));
    auto r = CallOnce(srv.port());
    ASSERT_TRUE(r) << r.error->ToString();
    EXPECT_EQ(r.value->as_string(), hex);
}

TEST(BitcoindRpcClient, ALargeReplyThatIsNotJsonIsABadReplyFromTheHelperThreadToo)
{
    // Replies of 512 kB and more are parsed off the I/O thread: the same verdicts come back.
    const std::string hex(1024 * 1024, 'a');
    ScriptedServer srv(Reply(R"({"result":")" + hex + R"(","error":null,"id":1)")); // cut before its last brace
    auto r = CallOnce(srv.port());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error->kind, RpcError::Kind::BadReply) << r.error->ToString();
}

TEST(BitcoindRpcClient, ChunkedReply)
{
    const std::string body = R"({"result":7,"error":null,"id":1})";
    const std::string reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n" + body.substr(0, 5) + "\r\n" +
                              [&] {
                                  char n[16];
                                  std::snprintf(n, sizeof n, "%zx", body.size() - 5);
                                  return std::string(n);
                              }() +
                              "\r\n" + body.substr(5) + "\r\n0\r\n\r\n";
    ScriptedServer srv(reply);
    auto r = CallOnce(srv.port());
    ASSERT_TRUE(r) << r.error->ToString();
    EXPECT_EQ(r.value->as_int64(), 7);
}

TEST(BitcoindRpcClient, BodyUntilCloseWithoutLength)
{
    ScriptedServer srv("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"result\":\"x\",\"error\":null,\"id\":1}");
    auto r = CallOnce(srv.port());
    ASSERT_TRUE(r) << r.error->ToString();
    EXPECT_EQ(r.value->as_string(), "x");
}

TEST(BitcoindRpcClient, TruncatedBodyIsATransportError)
{
    // Content-Length promises more than arrives before the node goes away (a crash mid-reply).
    ScriptedServer srv("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{\"result\":\"abc");
    auto r = CallOnce(srv.port());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error->kind, RpcError::Kind::Transport) << r.error->ToString();
}

TEST(BitcoindRpcClient, AbsurdContentLengthIsRefusedWithoutAllocating)
{
    ScriptedServer srv("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n{}");
    auto r = CallOnce(srv.port());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error->kind, RpcError::Kind::Rpc) << r.error->ToString();
}

TEST(BitcoindRpcClient, RpcErrorKeepsItsCode)
{
    ScriptedServer srv(Reply(R"({"result":null,"error":{"code":-28,"message":"Loading block index..."},"id":1})", "500 Internal Server Error"));
    auto r = CallOnce(srv.port());
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error->IsWarmingUp()) << r.error->ToString();
    EXPECT_EQ(r.error->message, "Loading block index...");
}

TEST(BitcoindRpcClient, UnauthorizedIsAnAuthError)
{
    ScriptedServer srv("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"jsonrpc\"\r\nContent-Length: 0\r\n\r\n");
    auto r = CallOnce(srv.port());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error->kind, RpcError::Kind::Auth);
}

TEST(BitcoindRpcClient, NotJsonIsABadReply)
{
    ScriptedServer srv(Reply("<html>hello</html>"));
    auto r = CallOnce(srv.port());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error->kind, RpcError::Kind::BadReply);
}

TEST(BitcoindRpcClient, SilentNodeHitsTheDeadline)
{
    // The head arrives, the body never does: the deadline ends the call.
    ScriptedServer srv("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{", /*keep_open=*/true);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = CallOnce(srv.port(), std::chrono::milliseconds{300});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error->kind, RpcError::Kind::Transport);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds{5});
}

TEST(BitcoindRpcClient, KeepAliveConnectionClosedByTheNodeIsRetriedOnce)
{
    // The server closes after each reply without saying so, as bitcoind does with an idle
    // keep-alive connection after -rpcservertimeout: the next call must not fail.
    ScriptedServer srv(Reply(R"({"result":5,"error":null,"id":1})"));
    auto rs = CallN(srv.port(), 3);
    for (const auto& r : rs) {
        ASSERT_TRUE(r) << r.error->ToString();
        EXPECT_EQ(r.value->as_int64(), 5);
    }
}

#include "regtest_sim.h"

TEST(BitcoindRpcClient, ConcurrentCallersShareTheConnectionInTurn)
{
    // The engine's broadcaster, rescan and deployment check share one client: interleaved calls
    // must each get their own answer, never a garbled stream.
    vw::sim::SimConfig c;
    c.rpc_user = "u";
    c.rpc_password = "p";
    vw::sim::RegtestSim sim(c);
    sim.Start();
    sim.Generate(30);
    std::vector<std::string> want;
    for (int h = 0; h <= 30; ++h) want.emplace_back(sim.Call("getblockhash", {h}).as_string());
    net::io_context io;
    RpcEndpoint ep;
    ep.port = sim.RpcPort();
    ep.auth.user = "u";
    ep.auth.password = "p";
    BitcoindRpc rpc(io.get_executor(), ep);
    std::vector<std::string> got(want.size());
    int errors = 0;
    for (int h = 0; h <= 30; ++h) {
        net::co_spawn(
            io,
            [&, h]() -> net::awaitable<void> {
                auto r = co_await rpc.Call("getblockhash", Params(h));
                if (!r || !r.value->is_string()) {
                    ++errors;
                    co_return;
                }
                got[static_cast<size_t>(h)] = std::string(r.value->as_string());
            },
            net::detached);
    }
    io.run();
    sim.Stop();
    EXPECT_EQ(errors, 0);
    EXPECT_EQ(got, want);
    EXPECT_EQ(rpc.calls(), want.size());
}
