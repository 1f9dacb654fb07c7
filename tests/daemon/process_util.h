#pragma once
// Helpers for tests that run real processes (vaultwatchd, bitcoind or vw-regtest-sim): free
// ports, temporary directories, fork/exec children, a blocking JSON-RPC client, and the checker
// of vaultwatchd's --debugeventlog across crashes.

#include "store/store.h"

#include "rpc/auth.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vw::test::proc {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

//! A port nobody listens on right now (the OS picks it; racy in theory, fine on a test machine).
inline uint16_t FreePort()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

//! Polls pred every 5 ms until it holds or the timeout passes.
inline bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout)
{
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

class TempDir
{
public:
    explicit TempDir(const std::string& prefix)
    {
        m_path = fs::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
        fs::create_directories(m_path);
    }
    ~TempDir()
    {
        if (std::getenv("VW_KEEP_TEST_DIRS")) return;
        std::error_code ec;
        fs::remove_all(m_path, ec);
    }
    const fs::path& path() const { return m_path; }

private:
    fs::path m_path;
};

//! A child process (fork/exec), stdout and stderr appended to a file.
class Child
{
public:
    Child() = default;
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() { Kill(SIGKILL); }

    void Start(std::vector<std::string> args, const fs::path& output)
    {
        if (Running()) throw std::logic_error("child already running");
        m_status.reset();
        m_pid = ::fork();
        if (m_pid < 0) throw std::runtime_error("fork failed");
        if (m_pid == 0) {
            const int out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (out >= 0) {
                ::dup2(out, 1);
                ::dup2(out, 2);
            }
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            // The parent's sockets (the simulator's listener among them) must not live on in the child:
            // an inherited listener keeps the port bound and queues connections nobody accepts.
            ::close_range(3, ~0U, 0);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
    }
    pid_t pid() const { return m_pid; }
    bool Running()
    {
        if (m_pid <= 0) return false;
        int st = 0;
        const pid_t r = ::waitpid(m_pid, &st, WNOHANG);
        if (r == m_pid) {
            m_status = st;
            m_pid = -1;
            return false;
        }
        return true;
    }
    //! Sends sig and reaps the child (waiting at most timeout). Returns the wait status.
    //! Sends sig and returns at once (SIGHUP, SIGUSR1: the child goes on).
    void Signal(int sig)
    {
        if (Running()) ::kill(m_pid, sig);
    }
    std::optional<int> Kill(int sig, std::chrono::milliseconds timeout = 30s)
    {
        if (!Running()) return m_status;
        ::kill(m_pid, sig);
        return Wait(timeout);
    }
    //! Waits for the child to exit on its own. nullopt on timeout.
    std::optional<int> Wait(std::chrono::milliseconds timeout)
    {
        WaitUntil([&] { return !Running(); }, timeout);
        if (Running()) return std::nullopt;
        return m_status;
    }
    //! The last exit status (as from waitpid).
    std::optional<int> status() const { return m_status; }

private:
    pid_t m_pid{-1};
    std::optional<int> m_status;
};

inline std::string ReadFile(const fs::path& p)
{
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

inline std::vector<std::string> ReadLines(const fs::path& p)
{
    std::vector<std::string> out;
    std::ifstream f(p);
    std::string line;
    while (std::getline(f, line)) {
        if (!line.empty()) out.push_back(line);
    }
    return out;
}

//! The lines of a file another process is appending to, without the last one if its newline has
//! not been written yet: a reader can see half of a write() (Linux copies an append page by page
//! without locking out readers), and half a line read as a whole would be consumed for good.
inline std::vector<std::string> ReadCompleteLines(const fs::path& p)
{
    std::vector<std::string> out;
    std::ifstream f(p);
    std::string line;
    while (std::getline(f, line)) {
        if (f.eof()) break; // no newline after it: still being written
        if (!line.empty()) out.push_back(line);
    }
    return out;
}

struct RpcFailure : std::runtime_error {
    RpcFailure(int c, const std::string& m) : std::runtime_error(m), code(c) {}
    int code; //!< the RPC error code; 0 for transport/HTTP failures
};

struct HttpAnswer {
    unsigned status{0};
    std::string content_type;
    std::string body;
};

//! One HTTP request without a body to 127.0.0.1:port (GET /metrics, say), answered within 10 s.
inline HttpAnswer HttpGet(uint16_t port, const std::string& target, boost::beast::http::verb verb = boost::beast::http::verb::get)
{
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::asio::io_context io;
    beast::tcp_stream s{io};
    s.expires_after(10s);
    s.connect(boost::asio::ip::tcp::endpoint{boost::asio::ip::make_address("127.0.0.1"), port});
    http::request<http::empty_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(s, req);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.skip(verb == http::verb::head); // a HEAD answer has Content-Length but no body
    http::read(s, buf, parser);
    const auto& res = parser.get();
    return {res.result_int(), std::string(res[http::field::content_type]), res.body()};
}

//! A blocking JSON-RPC client (one connection per call). Auth from user/password or a cookie
//! file read at each call (bitcoind writes a new one at every start).
class SyncRpc
{
public:
    SyncRpc() = default;
    SyncRpc(uint16_t port, std::string user, std::string password) : m_port(port), m_user(std::move(user)), m_password(std::move(password)) {}
    SyncRpc(uint16_t port, fs::path cookie) : m_port(port), m_cookie(std::move(cookie)) {}

    boost::json::value Call(const std::string& method, boost::json::array params = {}, std::chrono::seconds timeout = 120s) const
    {
        namespace beast = boost::beast;
        namespace http = beast::http;
        using boost::asio::ip::tcp;
        std::string userpass = m_user + ":" + m_password;
        if (!m_cookie.empty()) {
            userpass = ReadFile(m_cookie);
            if (userpass.find(':') == std::string::npos) throw RpcFailure(0, "no cookie at " + m_cookie.string());
        }
        boost::json::object req{{"jsonrpc", "1.0"}, {"id", 1}, {"method", method}, {"params", std::move(params)}};
        boost::asio::io_context io;
        beast::tcp_stream stream{io};
        beast::error_code ec;
        stream.expires_after(timeout);
        stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), m_port), ec);
        if (ec) throw RpcFailure(0, "connect: " + ec.message());
        http::request<http::string_body> r{http::verb::post, "/", 11};
        r.set(http::field::host, "127.0.0.1");
        r.set(http::field::authorization, rpc::BasicAuthHeader(userpass));
        r.set(http::field::content_type, "application/json");
        r.body() = boost::json::serialize(req);
        r.prepare_payload();
        http::write(stream, r, ec);
        if (ec) throw RpcFailure(0, "write: " + ec.message());
        beast::flat_buffer buf;
        http::response_parser<http::string_body> parser;
        parser.body_limit(512 * 1024 * 1024);
        http::read(stream, buf, parser, ec);
        if (ec) throw RpcFailure(0, "read: " + ec.message());
        const auto& res = parser.get();
        boost::json::value v = boost::json::parse(res.body(), ec);
        if (ec || !v.is_object()) throw RpcFailure(0, "HTTP " + std::to_string(res.result_int()) + ": " + res.body());
        const auto& o = v.as_object();
        if (const auto* e = o.if_contains("error"); e && !e->is_null()) {
            const auto* c = e->as_object().if_contains("code");
            const auto* m = e->as_object().if_contains("message");
            throw RpcFailure(c && c->is_int64() ? static_cast<int>(c->as_int64()) : 0,
                             method + ": " + (m && m->is_string() ? std::string(m->as_string()) : boost::json::serialize(*e)));
        }
        return o.at("result");
    }
    //! True once the node answers getblockchaininfo (not warming up).
    bool Ready() const
    {
        try {
            Call("getblockchaininfo", {}, 5s);
            return true;
        } catch (const std::exception&) {
            return false;
        }
    }
    uint16_t port() const { return m_port; }

private:
    uint16_t m_port{0};
    std::string m_user, m_password;
    fs::path m_cookie;
};

//! The node's active chain 0..tip as (height, hash).
inline std::vector<std::pair<int, std::string>> NodeChain(const SyncRpc& rpc)
{
    std::vector<std::pair<int, std::string>> out;
    const int tip = static_cast<int>(rpc.Call("getblockcount").to_number<int64_t>());
    for (int h = 0; h <= tip; ++h) out.emplace_back(h, std::string(rpc.Call("getblockhash", {h}).as_string()));
    return out;
}

//! Replays vaultwatchd's --debugeventlog ("connected <h> <hash>", "disconnected <h> <hash>",
//! "mempool_add <txid>", "mempool_remove <txid>") across daemon crashes.
//!
//! Within one daemon run the log must describe a valid chain walk: each connect at the next
//! height, each disconnect of the current tip. At a crash the test passes the daemon's committed
//! cursor (read from its SQLite store): the log's state must equal it, or equal it once the
//! single last block event is undone (that block was logged but its transaction never committed,
//! so the next run redoes it). Nothing else may differ: a skipped block fails.
class EventLogReplay
{
public:
    //! Feeds lines [m_consumed, lines.size()).
    void Feed(const std::vector<std::string>& lines)
    {
        for (; m_consumed < lines.size(); ++m_consumed) Apply(lines[m_consumed]);
    }
    //! Called after the daemon was killed, with its committed cursor (height -1 = none).
    void Crash(const store::Cursor& committed)
    {
        ++m_crashes;
        m_mempool.clear(); // the next run re-announces the whole mempool
        if (Tip() == Key(committed)) return;
        if (m_last) {
            auto undone = m_chain;
            if (m_last->first == "connected") {
                if (!undone.empty()) undone.pop_back();
            } else {
                undone.push_back(m_last->second);
            }
            const std::pair<int, std::string> utip = undone.empty() ? std::pair<int, std::string>{-1, ""} : undone.back();
            if (utip == Key(committed)) {
                m_chain = std::move(undone);
                ++m_redelivered;
                m_last.reset();
                return;
            }
        }
        m_error += "after crash " + std::to_string(m_crashes) + " the committed cursor " + std::to_string(committed.height) + " " +
                   committed.hash.ToString() + " matches neither the log's tip nor the tip before its last event; ";
    }
    //! A clean stop: everything logged must have been committed.
    void CleanStop() { m_mempool.clear(); }

    const std::vector<std::pair<int, std::string>>& chain() const { return m_chain; }
    const std::vector<std::string>& mempool() const { return m_mempool; }
    const std::string& error() const { return m_error; }
    int redelivered() const { return m_redelivered; }
    int connects() const { return m_connects; }
    int Height() const { return m_chain.empty() ? -1 : m_chain.back().first; }

private:
    static std::pair<int, std::string> Key(const store::Cursor& c)
    {
        if (c.height < 0) return {-1, ""};
        return {c.height, c.hash.ToString()};
    }
    std::pair<int, std::string> Tip() const { return m_chain.empty() ? std::pair<int, std::string>{-1, ""} : m_chain.back(); }
    void Apply(const std::string& line)
    {
        std::istringstream is(line);
        std::string kind, a;
        int h = 0;
        is >> kind;
        if (kind == "connected" || kind == "disconnected") {
            is >> h >> a;
            if (kind == "connected") {
                ++m_connects;
                const int want = m_chain.empty() ? 0 : m_chain.back().first + 1;
                if (h != want) m_error += "'" + line + "' but expected height " + std::to_string(want) + "; ";
                m_chain.emplace_back(h, a);
            } else {
                if (m_chain.empty() || m_chain.back() != std::pair{h, a}) {
                    m_error += "'" + line + "' is not the tip; ";
                } else {
                    m_chain.pop_back();
                }
            }
            m_last = std::pair{kind, std::pair{h, a}};
        } else if (kind == "aborted") {
            // The daemon could not commit the last block event (disk full): it is undone and
            // comes again.
            if (!m_last) {
                m_error += "'aborted' with nothing to abort; ";
            } else {
                if (m_last->first == "connected") {
                    if (!m_chain.empty()) m_chain.pop_back();
                } else {
                    m_chain.push_back(m_last->second);
                }
                m_last.reset();
                ++m_redelivered;
            }
        } else if (kind == "mempool_add") {
            is >> a;
            if (std::find(m_mempool.begin(), m_mempool.end(), a) != m_mempool.end()) m_error += "tx " + a + " added twice; ";
            m_mempool.push_back(a);
        } else if (kind == "mempool_remove") {
            is >> a;
            auto it = std::find(m_mempool.begin(), m_mempool.end(), a);
            if (it == m_mempool.end()) m_error += "tx " + a + " removed but never added; ";
            else m_mempool.erase(it);
        } else {
            m_error += "unknown event line '" + line + "'; ";
        }
    }

    size_t m_consumed{0};
    std::vector<std::pair<int, std::string>> m_chain;
    std::vector<std::string> m_mempool;
    std::optional<std::pair<std::string, std::pair<int, std::string>>> m_last;
    std::string m_error;
    int m_crashes{0};
    int m_redelivered{0};
    int m_connects{0};
};

//! The cursor vaultwatchd committed, read from its SQLite store (the daemon must not be running).
inline store::Cursor CommittedCursor(const fs::path& netdir)
{
    auto st = store::OpenSqliteStore((netdir / "vaultwatch.sqlite").string());
    if (!st) throw std::runtime_error("open store: " + st.error().message);
    auto c = (*st)->LoadCursor();
    if (!c) throw std::runtime_error("load cursor: " + c.error().message);
    return *c;
}

//! The vaultwatchd binary as a child process with a --debugeventlog: the one launcher of the
//! process tests (engine, webhook, fault, functional, operations) and the benches.
class Vaultwatchd
{
public:
    Vaultwatchd(fs::path binary, fs::path datadir, uint16_t port = FreePort())
        : m_binary(std::move(binary)), m_datadir(std::move(datadir)), m_port(port)
    {
        fs::create_directories(m_datadir);
    }
    virtual ~Vaultwatchd() = default;
    //! bitcoind connection flags (--bitcoind.rpcport=..., auth, ZMQ endpoints).
    std::vector<std::string> node_args;
    std::vector<std::string> extra_args;
    //! false: no --debugeventlog (a bench keeps its fsyncs out of what it measures).
    bool event_log{true};

    //! A default the extra arguments also set is left out (the daemon refuses an option given
    //! twice), as a bench's --loglevel=warn.
    void Start()
    {
        std::vector<std::string> defaults{"--startheight=0", "--pollseconds=1", "--loglevel=debug",
                                          "--logfile=" + (m_datadir / "vaultwatchd.log").string()};
        if (event_log) defaults.push_back("--debugeventlog=" + EventLogPath().string());
        std::vector<std::string> args{m_binary.string(), "--chain=regtest", "--datadir=" + m_datadir.string(),
                                      "--rpcport=" + std::to_string(m_port)};
        for (const auto& d : defaults) {
            const auto name = d.substr(0, d.find('=') + 1);
            if (std::none_of(extra_args.begin(), extra_args.end(), [&](const std::string& a) { return a.starts_with(name); })) args.push_back(d);
        }
        args.insert(args.end(), node_args.begin(), node_args.end());
        args.insert(args.end(), extra_args.begin(), extra_args.end());
        m_child.Start(args, m_datadir / "vaultwatchd.out");
    }
    fs::path EventLogPath() const { return m_datadir / "events.log"; }
    uint16_t port() const { return m_port; }
    fs::path NetDir() const { return m_datadir / "regtest"; }
    std::vector<std::string> Events() const { return ReadCompleteLines(EventLogPath()); }
    int Connects() const
    {
        int n = 0;
        for (const auto& l : Events()) n += l.rfind("connected ", 0) == 0;
        return n;
    }
    //! The last lines of its log file, for failure messages.
    std::string LogTail(size_t n = 40) const
    {
        auto lines = ReadLines(m_datadir / "vaultwatchd.log");
        auto out_lines = ReadLines(m_datadir / "vaultwatchd.out");
        lines.insert(lines.end(), out_lines.begin(), out_lines.end());
        std::string out;
        for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) out += lines[i] + "\n";
        return out;
    }
    Child& child() { return m_child; }
    //! Sends sig and waits for the exit. Returns: the wait status, or -1 if it was not running
    //! or did not exit in time.
    int Kill(int sig)
    {
        if (!m_child.Running()) return -1;
        return m_child.Kill(sig, std::chrono::seconds{120}).value_or(-1);
    }
    //! Runs vaultwatch-cli (beside the binary) against this daemon. Returns: its JSON output, or
    //! what it printed as a string when that is not JSON or it failed (ok = false).
    boost::json::value Cli(const std::vector<std::string>& args, bool* ok = nullptr) const
    {
        int rc = -1;
        const std::string out = RunCli({"-rpcwait"}, args, rc);
        if (ok) *ok = rc == 0;
        boost::system::error_code ec;
        auto v = boost::json::parse(out, ec);
        if (ec || rc != 0) return boost::json::value(out);
        return v;
    }
    //! Runs vaultwatch-cli as an operator types it (no -rpcwait), for tests of the CLI itself.
    //! Returns: what it printed; its exit code in *exit_code (-1 when it did not exit normally).
    std::string CliText(const std::vector<std::string>& args, int* exit_code) const
    {
        int rc = -1;
        std::string out = RunCli({}, args, rc);
        *exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
        return out;
    }
    //! The end of its log file and of its stdout/stderr, for failure messages.
    std::string Log(size_t max_bytes = 20000) const
    {
        std::stringstream ss;
        for (const auto& p : {m_datadir / "vaultwatchd.log", m_datadir / "vaultwatchd.out"}) {
            std::ifstream f(p);
            if (f) ss << "--- " << p.string() << "\n" << f.rdbuf();
        }
        std::string s = ss.str();
        return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
    }
    fs::path Db() const { return NetDir() / "vaultwatch.sqlite"; }

private:
    //! Returns: stdout and stderr; the wait status in rc.
    std::string RunCli(const std::vector<std::string>& flags, const std::vector<std::string>& args, int& rc) const
    {
        std::string cmd = (m_binary.parent_path() / "vaultwatch-cli").string() + " -regtest";
        for (const auto& f : flags) cmd += " " + f;
        cmd += " -datadir=" + m_datadir.string() + " -rpcport=" + std::to_string(m_port);
        for (const auto& a : args) cmd += " '" + a + "'";
        cmd += " 2>&1";
        FILE* f = ::popen(cmd.c_str(), "r");
        std::string out;
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
        rc = ::pclose(f);
        return out;
    }

    fs::path m_binary;
    fs::path m_datadir;
    uint16_t m_port;
    Child m_child;
};

} // namespace vw::test::proc
