// The control port over real sockets: auth, limits, and bitcoind-style replies.
#include "rpc_server.h"

#include "rpc/auth.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <atomic>
#include <fstream>
#include <future>
#include <random>
#include <thread>

namespace vw::daemon {
namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

std::string B64(const std::string& s) { return rpc::BasicAuthHeader(s).substr(6); } // without "Basic "

class RpcServerTest : public ::testing::Test
{
protected:
    void SetUp() override
    {
        m_dir = std::filesystem::temp_directory_path() / ("vw-rpcsrv-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(m_dir);
        m_table.Add({"ping", "control", "Answers pong.", {}, {{"pong", "boolean", "always true"}}, {}, [](const rpc::Args&) -> Expected<json::value, rpc::RpcFailure> {
                         return json::value(json::object{{"pong", true}});
                     }});
        // A method with a batch form whose batch takes as long as an fsync: concurrent calls
        // must share batches, each still answered with its own result.
        rpc::MethodSpec commit{"commit", "control", "Stores n.", {{"n", rpc::ArgType::Int, true, std::nullopt, "a number"}}, {}, {},
                               [](const rpc::Args& a) -> Expected<json::value, rpc::RpcFailure> { return json::value(json::object{{"n", a.at("n")}}); }};
        commit.batch = [this](std::span<const rpc::Args> calls) {
            m_batch_sizes.push_back(calls.size());
            std::this_thread::sleep_for(std::chrono::milliseconds{20});
            std::vector<Expected<json::value, rpc::RpcFailure>> out;
            for (const auto& a : calls) {
                if (a.at("n").as_int64() < 0) out.push_back(Unexpected{rpc::RpcFailure{rpc::RPC_INVALID_PARAMETER, "negative"}});
                else out.push_back(json::value(json::object{{"n", a.at("n")}}));
            }
            return out;
        };
        m_table.Add(std::move(commit));
        RpcServerOptions o;
        o.port = 0;
        o.cookie_file = m_dir / ".cookie";
        o.body_limit = 4096;
        o.auth_fail_delay = std::chrono::milliseconds{100};
        o.request_timeout = std::chrono::seconds{1};
        o.rpcauth = {*rpc::ParseRpcAuth(rpc::MakeRpcAuth("alice", "salt1234", "pw"))};
        m_server = std::make_unique<RpcServer>(m_io.get_executor(), m_table, o);
        ASSERT_FALSE(m_server->Start());
        m_thread = std::thread([this] { m_io.run(); });
    }
    void TearDown() override
    {
        net::post(m_io, [this] { m_server->Stop(); });
        m_io.stop();
        m_thread.join();
        m_server.reset();
        std::filesystem::remove_all(m_dir);
    }
    std::string Cookie()
    {
        std::ifstream f(m_dir / ".cookie");
        std::string s;
        std::getline(f, s);
        return s;
    }
    http::response<http::string_body> Post(const std::string& body, std::optional<std::string> userpass,
                                           http::verb verb = http::verb::post)
    {
        net::io_context io;
        beast::tcp_stream s{io};
        s.connect(net::ip::tcp::endpoint{net::ip::make_address("127.0.0.1"), m_server->port()});
        http::request<http::string_body> req{verb, "/", 11};
        req.set(http::field::host, "127.0.0.1");
        if (userpass) req.set(http::field::authorization, "Basic " + B64(*userpass));
        req.body() = body;
        req.prepare_payload();
        http::write(s, req);
        beast::flat_buffer b;
        http::response<http::string_body> res;
        beast::error_code ec;
        http::read(s, b, res, ec);
        return res;
    }

    net::io_context m_io;
    rpc::RpcTable m_table;
    std::vector<size_t> m_batch_sizes; //!< only touched on the server's thread
    std::unique_ptr<RpcServer> m_server;
    std::thread m_thread;
    std::filesystem::path m_dir;
};

const std::string kPing = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";

TEST_F(RpcServerTest, CookieFileIsPrivateAndWorks)
{
    const auto perms = std::filesystem::status(m_dir / ".cookie").permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all), std::filesystem::perms::none);
    const std::string c = Cookie();
    ASSERT_TRUE(c.starts_with("__cookie__:"));
    auto res = Post(kPing, c);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(json::parse(res.body()).at("result").at("pong"), true);
}

TEST_F(RpcServerTest, ACookieNeverFollowsAPlantedLink)
{
    // Someone who could write to the datadir plants links at the cookie's temporary and final
    // names, pointing at a file of theirs: the cookie is written to a new file of our own, and
    // their file is neither written nor made readable to them through it.
    const auto victim = m_dir / "victim";
    std::ofstream(victim) << "untouched";
    std::filesystem::create_symlink(victim, m_dir / "c.tmp");
    std::filesystem::create_symlink(victim, m_dir / "c");
    ASSERT_FALSE(RpcServer::WriteCookie(m_dir / "c", "__cookie__:secret"));
    std::ifstream vf(victim);
    std::string v;
    std::getline(vf, v);
    EXPECT_EQ(v, "untouched");
    EXPECT_FALSE(std::filesystem::is_symlink(m_dir / "c"));
    EXPECT_FALSE(std::filesystem::exists(m_dir / "c.tmp"));
    EXPECT_EQ(std::filesystem::status(m_dir / "c").permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::ifstream cf(m_dir / "c");
    std::string c;
    std::getline(cf, c);
    EXPECT_EQ(c, "__cookie__:secret");
}

TEST_F(RpcServerTest, AuthFailures)
{
    EXPECT_EQ(Post(kPing, std::nullopt).result_int(), 401u);
    const auto t0 = std::chrono::steady_clock::now();
    auto wrong = Post(kPing, std::string("alice:wrong"));
    EXPECT_EQ(wrong.result_int(), 401u);
    EXPECT_EQ(wrong[http::field::www_authenticate], "Basic realm=\"jsonrpc\"");
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds{100}); // delayed
    EXPECT_EQ(Post(kPing, std::string("__cookie__:") + std::string(64, 'a')).result_int(), 401u); // stale cookie
    EXPECT_EQ(Post(kPing, std::string("alice:pw")).result_int(), 200u);                         // rpcauth
    EXPECT_EQ(m_server->auth_failures(), 3u);
}

TEST_F(RpcServerTest, LimitsAndMalformedRequests)
{
    const std::string c = Cookie();
    auto big = Post(std::string(8192, ' ') + kPing, c);
    EXPECT_EQ(big.result_int(), 413u);
    auto bad = Post("{not json", c);
    EXPECT_EQ(bad.result_int(), 500u);
    EXPECT_EQ(json::parse(bad.body()).at("error").at("code"), -32700);
    EXPECT_EQ(Post("", c, http::verb::get).result_int(), 405u);
    // The server is still fine afterwards.
    EXPECT_EQ(Post(kPing, c).result_int(), 200u);
}

//! 64 silent sockets, then 64 more dribbling a request header byte by byte (slowloris): the
//! operator still gets through at once, each time, because a newcomer takes the place of the
//! connection that has waited longest for a request.
TEST_F(RpcServerTest, IdleAndSlowSocketsCannotLockTheOperatorOut)
{
    const std::string c = Cookie();
    net::io_context io;
    std::vector<std::unique_ptr<net::ip::tcp::socket>> idle;
    const net::ip::tcp::endpoint ep{net::ip::make_address("127.0.0.1"), m_server->port()};
    for (int i = 0; i < 64; ++i) {
        idle.push_back(std::make_unique<net::ip::tcp::socket>(io));
        idle.back()->connect(ep);
    }
    std::vector<std::unique_ptr<net::ip::tcp::socket>> slow;
    for (int i = 0; i < 64; ++i) {
        slow.push_back(std::make_unique<net::ip::tcp::socket>(io));
        slow.back()->connect(ep);
        net::write(*slow.back(), net::buffer(std::string_view{"POST / HTTP/1.1\r\nHost: x\r\n"}));
    }
    for (int round = 0; round < 3; ++round) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto res = Post(kPing, c);
        EXPECT_EQ(res.result_int(), 200u) << "round " << round;
        EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds{2}) << "answered at once, not after a timeout";
        // The attacker keeps dribbling and reconnecting.
        for (auto& s : slow) {
            boost::system::error_code ec;
            net::write(*s, net::buffer(std::string_view{"X"}), ec);
        }
        for (int i = 0; i < 16; ++i) {
            idle.push_back(std::make_unique<net::ip::tcp::socket>(io));
            idle.back()->connect(ep);
        }
    }
    EXPECT_GE(m_server->evictions(), 3u);
}

TEST_F(RpcServerTest, ASilentConnectionIsClosedAfterTheRequestTimeout)
{
    net::io_context io;
    net::ip::tcp::socket s{io};
    s.connect({net::ip::make_address("127.0.0.1"), m_server->port()});
    const auto t0 = std::chrono::steady_clock::now();
    char byte = 0;
    boost::system::error_code ec;
    s.read_some(net::buffer(&byte, 1), ec); // returns when the server closes it
    EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds{5}) << "request_timeout is 1 s in this fixture";
}

TEST_F(RpcServerTest, ConcurrentCallsOfAMethodWithABatchFormShareBatches)
{
    const std::string c = Cookie();
    constexpr int CLIENTS = 12;
    std::vector<std::string> bodies(CLIENTS);
    std::vector<std::thread> clients;
    std::atomic<int> ready{0};
    for (int i = 0; i < CLIENTS; ++i) {
        clients.emplace_back([&, i] {
            // A keep-alive connection, as a bulk importer keeps: a first call, then the one timed.
            net::io_context io;
            beast::tcp_stream s{io};
            s.connect(net::ip::tcp::endpoint{net::ip::make_address("127.0.0.1"), m_server->port()});
            auto call = [&](const std::string& body) {
                http::request<http::string_body> req{http::verb::post, "/", 11};
                req.set(http::field::host, "127.0.0.1");
                req.set(http::field::authorization, "Basic " + B64(c));
                req.keep_alive(true);
                req.body() = body;
                req.prepare_payload();
                http::write(s, req);
                beast::flat_buffer b;
                http::response<http::string_body> res;
                http::read(s, b, res);
                return res.body();
            };
            call(kPing);
            ++ready;
            while (ready.load() < CLIENTS) std::this_thread::yield();
            const int n = i == 5 ? -1 : i;
            bodies[i] = call(R"({"jsonrpc":"2.0","id":)" + std::to_string(100 + i) + R"(,"method":"commit","params":[)" + std::to_string(n) + "]}");
        });
    }
    for (auto& t : clients) t.join();
    for (int i = 0; i < CLIENTS; ++i) {
        const auto r = json::parse(bodies[i]);
        EXPECT_EQ(r.at("id"), 100 + i) << bodies[i];
        if (i == 5) {
            EXPECT_EQ(r.at("error").at("message"), "negative") << bodies[i];
        } else {
            EXPECT_EQ(r.at("result").at("n"), i) << bodies[i];
        }
    }
    std::promise<std::string> p;
    net::post(m_io, [&] {
        std::string sizes;
        for (size_t b : m_batch_sizes) sizes += std::to_string(b) + " ";
        p.set_value(sizes);
    });
    const std::string sizes = p.get_future().get();
    EXPECT_EQ(m_server->batched_calls(), static_cast<uint64_t>(CLIENTS));
    // The first batch runs what arrived first; what arrives during it goes in the next ones.
    EXPECT_LE(m_server->batches_run(), static_cast<uint64_t>(CLIENTS / 2)) << "batch sizes: " << sizes;
    // Bad arguments never reach the batch: answered at once, as by any method.
    const auto bad = json::parse(Post(R"({"jsonrpc":"2.0","id":1,"method":"commit","params":["x"]})", c).body());
    EXPECT_EQ(bad.at("error").at("code"), rpc::RPC_TYPE_ERROR) << bad;
    EXPECT_EQ(m_server->batched_calls(), static_cast<uint64_t>(CLIENTS));
}

TEST_F(RpcServerTest, RefusesNonLoopbackWithoutRpcauth)
{
    RpcServerOptions o;
    o.bind = "0.0.0.0";
    RpcServer s{m_io.get_executor(), m_table, o};
    auto err = s.Start();
    ASSERT_TRUE(err);
    EXPECT_NE(err->find("rpcauth"), std::string::npos);
}

} // namespace
} // namespace vw::daemon
