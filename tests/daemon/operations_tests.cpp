// Operating the real vaultwatchd against the simulator:
// - /metrics: every family present and well formed (each sample line "name{labels} value" under
//   its own # TYPE), values that follow the chain and the registry, only GET /metrics answered,
//   and a bad metricsbind refused at start;
// - systemd Type=notify: READY=1 only after the first catch-up, WATCHDOG=1 at half of
//   $WATCHDOG_USEC, STOPPING=1 at SIGTERM, all on a $NOTIFY_SOCKET the test listens on.
#ifdef VW_HAVE_SIM

#include "process_util.h"
#include "regtest_sim.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/un.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace vw::test {
namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using proc::HttpAnswer;
proc::HttpAnswer Get(uint16_t port, const std::string& target, http::verb verb = http::verb::get) { return proc::HttpGet(port, target, verb); }

//! name{labels} -> value, checking the exposition format line by line on the way.
std::map<std::string, double> Parse(const std::string& text)
{
    static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? ([-+0-9.eE]+|NaN|\+Inf|-Inf)$)");
    std::map<std::string, double> out;
    std::set<std::string> typed;
    std::istringstream in(text);
    std::string line, family;
    while (std::getline(in, line)) {
        if (line.rfind("# HELP ", 0) == 0) continue;
        if (line.rfind("# TYPE ", 0) == 0) {
            std::istringstream t(line.substr(7));
            std::string kind;
            t >> family >> kind;
            EXPECT_TRUE(kind == "gauge" || kind == "counter" || kind == "histogram") << line;
            EXPECT_TRUE(typed.insert(family).second) << "family typed twice: " << family;
            continue;
        }
        std::smatch m;
        if (!std::regex_match(line, m, sample)) {
            ADD_FAILURE() << "not a sample line: '" << line << "'";
            continue;
        }
        EXPECT_EQ(m[1].str().rfind(family, 0), 0u) << "sample outside its family: " << line;
        out[m[1].str() + m[2].str()] = m[3] == "+Inf" ? INFINITY : std::stod(m[3].str());
    }
    return out;
}

struct Fixture {
    proc::TempDir dir{"vw-metrics"};
    std::unique_ptr<sim::RegtestSim> node;
    std::unique_ptr<proc::Vaultwatchd> daemon;
    uint16_t metrics_port{proc::FreePort()};
    Fixture()
    {
        sim::SimConfig cfg;
        cfg.rpc_user = "u";
        cfg.rpc_password = "p";
        for (const char* t : {"rawtx", "hashblock", "sequence"}) cfg.zmq.push_back({t, "tcp://127.0.0.1:0"});
        node = std::make_unique<sim::RegtestSim>(cfg);
        node->Start();
        daemon = std::make_unique<proc::Vaultwatchd>(VW_VAULTWATCHD_PATH, dir.path() / "vw");
        daemon->node_args = {"--bitcoind.rpcport=" + std::to_string(node->RpcPort()), "--bitcoind.rpcuser=u", "--bitcoind.rpcpassword=p"};
    }
    ~Fixture()
    {
        daemon->child().Kill(SIGKILL);
        node->Stop();
    }
};

TEST(metrics_tests, ScrapeShowsTheChainAndTheDaemon)
{
    Fixture f;
    f.node->Generate(25);
    f.daemon->extra_args = {"--metricsbind=127.0.0.1:" + std::to_string(f.metrics_port)};
    f.daemon->Start();
    std::map<std::string, double> m;
    ASSERT_TRUE(proc::WaitUntil(
        [&] {
            try {
                const auto a = Get(f.metrics_port, "/metrics");
                if (a.status != 200) return false;
                m = Parse(a.body);
                return m["vaultwatch_tip_height"] == 25 && m["vaultwatch_caught_up"] == 1;
            } catch (const std::exception&) {
                return false;
            }
        },
        30s))
        << f.daemon->LogTail();
    const auto a = Get(f.metrics_port, "/metrics");
    EXPECT_EQ(a.content_type, "text/plain; version=0.0.4; charset=utf-8");
    m = Parse(a.body);
    EXPECT_EQ(m["vaultwatch_node_height"], 25);
    EXPECT_EQ(m["vaultwatch_tip_lag_blocks"], 0);
    EXPECT_EQ(m["vaultwatch_node_up"], 1);
    for (const char* k : {"vaultwatch_zmq_gaps_total", "vaultwatch_triggers_total", "vaultwatch_trigger_keys_ahead_total", "vaultwatch_webhook_pending",
                          R"(vaultwatch_recoveries{state="broadcast"})", R"(vaultwatch_vaults{kind="presigned",state="active"})",
                          R"(vaultwatch_vaults{kind="opvault",state="triggered"})", R"(vaultwatch_rpc_request_duration_seconds_bucket{le="+Inf"})",
                          "vaultwatch_rpc_request_duration_seconds_count", "vaultwatch_trigger_reaction_seconds_count", "vaultwatch_event_loop_lag_seconds_count",
                          R"(vaultwatch_webhook_attempts_total{result="failed"})"}) {
        EXPECT_TRUE(m.contains(k)) << k << " missing in\n" << a.body;
    }
    EXPECT_EQ(m[R"(vaultwatch_vaults{kind="presigned",state="active"})"], 0);

    // The chain moves on: the gauges follow.
    f.node->Generate(3);
    EXPECT_TRUE(proc::WaitUntil([&] { return Parse(Get(f.metrics_port, "/metrics").body)["vaultwatch_tip_height"] == 28; }, 30s))
        << f.daemon->LogTail();

    // Only GET /metrics.
    EXPECT_EQ(Get(f.metrics_port, "/").status, 404u);
    EXPECT_EQ(Get(f.metrics_port, "/metrics", http::verb::post).status, 405u);
    EXPECT_EQ(Get(f.metrics_port, "/metrics", http::verb::head).status, 200u);
    EXPECT_TRUE(f.daemon->child().Running());
}

TEST(metrics_tests, BadMetricsBindIsRefusedAtStart)
{
    Fixture f;
    for (const char* bad : {"127.0.0.1:0", "localhost:9", "9x", "::1:9", "[::1]"}) {
        f.daemon->extra_args = {std::string("--metricsbind=") + bad};
        f.daemon->Start();
        const auto st = f.daemon->child().Wait(20s);
        ASSERT_TRUE(st) << bad << ": kept running";
        EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 1) << bad;
        EXPECT_NE(f.daemon->LogTail(5).find("metricsbind"), std::string::npos) << bad << "\n" << f.daemon->LogTail(5);
    }
}

//! SIGHUP reads the config again and reopens the log file. Whatever it finds (a log path that
//! cannot be opened, a config with a bad value), the daemon keeps running as it was and says why;
//! a good config then takes effect.
TEST(operations_tests, SighupNeverStopsTheDaemon)
{
    Fixture f;
    f.node->Generate(5);
    f.daemon->Start();
    const proc::SyncRpc rpc(f.daemon->port(), f.daemon->NetDir() / ".cookie");
    auto height = [&] {
        try {
            return rpc.Call("getinfo", {}, 5s).at("height").to_number<int64_t>();
        } catch (const std::exception&) {
            return int64_t{-1};
        }
    };
    ASSERT_TRUE(proc::WaitUntil([&] { return height() == 5; }, 30s)) << f.daemon->LogTail();
    const auto datadir = f.dir.path() / "vw";
    const auto log = datadir / "vaultwatchd.log";
    const auto out = datadir / "vaultwatchd.out";
    auto said = [&](const std::string& what) { return proc::ReadFile(out).find(what) != std::string::npos; };

    // 1. logrotate moved the file away, and a directory now stands at its path: it cannot be opened.
    fs::rename(log, datadir / "vaultwatchd.log.1");
    fs::create_directory(log);
    f.daemon->child().Signal(SIGHUP);
    ASSERT_TRUE(proc::WaitUntil([&] { return said("cannot open the log file " + log.string()); }, 10s)) << f.daemon->LogTail();
    EXPECT_TRUE(said("still logging as before"));
    EXPECT_TRUE(f.daemon->child().Running());
    f.node->Generate(1);
    EXPECT_TRUE(proc::WaitUntil([&] { return height() == 6; }, 30s)) << "still following the chain\n" << f.daemon->LogTail();

    // 2. The config file now holds a bad value: nothing changes, and the option is named.
    fs::remove(log);
    std::ofstream(datadir / "vaultwatch.conf") << "webhooktimeout=0\n";
    f.daemon->child().Signal(SIGHUP);
    ASSERT_TRUE(proc::WaitUntil([&] { return said("the configuration was not reloaded"); }, 10s)) << f.daemon->LogTail();
    EXPECT_TRUE(said("vaultwatch.conf:1: webhooktimeout must be between 1 and 600"));
    EXPECT_TRUE(f.daemon->child().Running());

    // 3. Fixed: the log file is opened again at its path, and the daemon goes on.
    std::ofstream(datadir / "vaultwatch.conf", std::ios::trunc) << "webhooktimeout=5\n";
    f.daemon->child().Signal(SIGHUP);
    ASSERT_TRUE(proc::WaitUntil([&] { return said("SIGHUP: log file reopened"); }, 10s)) << f.daemon->LogTail();
    // Said on the line after: waited for too (read between the two writes, it was not there yet).
    EXPECT_TRUE(proc::WaitUntil([&] { return said("take effect at the next start"); }, 10s)) << "webhooktimeout changed: a restart applies it";
    f.node->Generate(1);
    EXPECT_TRUE(proc::WaitUntil([&] { return height() == 7; }, 30s)) << f.daemon->LogTail();
    EXPECT_TRUE(proc::WaitUntil([&] { return proc::ReadFile(log).find("height 7") != std::string::npos; }, 10s))
        << "the reopened log file is written: " << proc::ReadFile(log);
    EXPECT_TRUE(f.daemon->child().Running());
}

//! 64 idle connections (the control port's cap) and 64 that dribble a header: the operator's
//! getinfo and stop still go through at once, and the daemon stops.
TEST(operations_tests, SixtyFourIdleConnectionsDoNotLockTheOperatorOut)
{
    Fixture f;
    f.node->Generate(3);
    f.daemon->Start();
    const proc::SyncRpc rpc(f.daemon->port(), f.daemon->NetDir() / ".cookie");
    ASSERT_TRUE(proc::WaitUntil(
        [&] {
            try {
                return rpc.Call("getinfo", {}, 5s).at("height").to_number<int64_t>() == 3;
            } catch (const std::exception&) {
                return false;
            }
        },
        30s))
        << f.daemon->LogTail();
    net::io_context io;
    std::vector<std::unique_ptr<net::ip::tcp::socket>> socks;
    const net::ip::tcp::endpoint ep{net::ip::make_address("127.0.0.1"), f.daemon->port()};
    for (int i = 0; i < 128; ++i) {
        socks.push_back(std::make_unique<net::ip::tcp::socket>(io));
        socks.back()->connect(ep);
        if (i >= 64) net::write(*socks.back(), net::buffer(std::string_view{"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"}));
    }
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(rpc.Call("getinfo", {}, 10s).at("height").to_number<int64_t>(), 3);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    t0 = std::chrono::steady_clock::now();
    rpc.Call("stop", {}, 10s);
    const auto st = f.daemon->child().Wait(30s);
    ASSERT_TRUE(st) << "the daemon did not stop\n" << f.daemon->LogTail();
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << f.daemon->LogTail();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s) << "idle sockets do not hold the stop up";
}

//! What holds secrets is checked at start: a datadir others can write to, a database or key file
//! others can read, or one that belongs to another user, is refused with the command that fixes it.
TEST(operations_tests, SecretsOnDiskMustBePrivate)
{
    Fixture f;
    const auto datadir = f.dir.path() / "vw";
    auto refused = [&](const std::string& want) {
        f.daemon->Start();
        const auto st = f.daemon->child().Wait(20s);
        if (!st) return ::testing::AssertionFailure() << "kept running";
        if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 1) return ::testing::AssertionFailure() << "exit status " << *st;
        const std::string out = proc::ReadFile(datadir / "vaultwatchd.out");
        if (out.find(want) == std::string::npos) return ::testing::AssertionFailure() << "no '" << want << "' in\n" << out;
        return ::testing::AssertionSuccess();
    };
    fs::permissions(datadir, fs::perms::all);
    EXPECT_TRUE(refused("can be written by others (mode 777)"));
    EXPECT_TRUE(refused("run: chmod 700 " + datadir.string()));
    fs::permissions(datadir, fs::perms::owner_all);
    // A first start creates the database and the fee key, both 0600.
    f.daemon->Start();
    ASSERT_TRUE(proc::WaitUntil([&] { return fs::exists(f.daemon->NetDir() / ".cookie"); }, 30s)) << f.daemon->LogTail();
    f.daemon->child().Kill(SIGTERM);
    const auto db = f.daemon->NetDir() / "vaultwatch.sqlite";
    EXPECT_EQ(fs::status(db).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    fs::permissions(db, fs::perms::group_read | fs::perms::others_read, fs::perm_options::add);
    EXPECT_TRUE(refused("vault database " + db.string() + " is readable by others"));
    fs::permissions(db, fs::perms::group_read | fs::perms::others_read, fs::perm_options::remove);
    if (::geteuid() == 0) { // only root can give a file away
        ASSERT_EQ(::chown(db.c_str(), 12345, 12345), 0);
        EXPECT_TRUE(refused("belongs to uid 12345"));
        ASSERT_EQ(::chown(db.c_str(), 0, 0), 0);
    }
    f.daemon->Start();
    EXPECT_TRUE(proc::WaitUntil([&] { return proc::ReadFile(f.daemon->NetDir() / ".cookie").find(':') != std::string::npos; }, 30s))
        << f.daemon->LogTail();
}

//! A datagram socket standing in for systemd's notify socket.
class NotifySocket
{
public:
    explicit NotifySocket(const std::filesystem::path& path) : m_path(path)
    {
        m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
        if (::bind(m_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind notify socket");
    }
    ~NotifySocket() { ::close(m_fd); }
    //! The next datagram, or "" after timeout.
    std::string Next(std::chrono::milliseconds timeout)
    {
        timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
        ::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[4096];
        const ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string{};
    }
    //! Waits for a datagram containing want; returns every datagram seen meanwhile.
    std::vector<std::string> Until(const std::string& want, std::chrono::milliseconds timeout)
    {
        std::vector<std::string> seen;
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < end) {
            seen.push_back(Next(100ms));
            if (seen.back().find(want) != std::string::npos) break;
        }
        std::erase(seen, std::string{});
        return seen;
    }

private:
    std::filesystem::path m_path;
    int m_fd{-1};
};

TEST(systemd_tests, ReadyAfterCatchUpThenWatchdogThenStopping)
{
    Fixture f;
    f.node->Generate(300);
    f.node->SetSlow(2ms); // catch-up takes a while: READY must not come before it ends
    NotifySocket sock{f.dir.path() / "notify"};
    ::setenv("NOTIFY_SOCKET", (f.dir.path() / "notify").c_str(), 1);
    ::setenv("WATCHDOG_USEC", "200000", 1); // 200 ms: a ping every 100 ms
    ::unsetenv("WATCHDOG_PID");
    f.daemon->Start();
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    auto seen = sock.Until("READY=1", 60s);
    ASSERT_FALSE(seen.empty()) << f.daemon->LogTail();
    const std::string& ready = seen.back();
    ASSERT_NE(ready.find("READY=1"), std::string::npos) << f.daemon->LogTail();
    EXPECT_NE(ready.find("STATUS=watching 0 vault(s) at height 300"), std::string::npos) << ready;
    EXPECT_GE(std::count(seen.begin(), seen.end(), "WATCHDOG=1"), 1) << "the watchdog pings from the start";
    // The cursor was at the tip when READY went out (the event log lags by at most a poll).
    EXPECT_EQ(proc::CommittedCursor(f.daemon->NetDir()).height, 300);
    // Pings keep coming from the io loop.
    int pings = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < 1s) pings += sock.Next(200ms) == "WATCHDOG=1";
    EXPECT_GE(pings, 5) << "about one every 100 ms";
    f.daemon->child().Kill(SIGTERM);
    seen = sock.Until("STOPPING=1", 5s);
    ASSERT_FALSE(seen.empty());
    EXPECT_NE(seen.back().find("STOPPING=1"), std::string::npos);
}

} // namespace
} // namespace vw::test
#endif
