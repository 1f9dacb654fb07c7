// vw_bench_rpc: the control port under load. Starts the in-process regtest simulator and the real
// vaultwatchd process, then measures over keep-alive HTTP connections (one synchronous Beast client
// per connection, one thread each) the throughput and the p50/p99 latency of
//   getvault        one vault, read-only;
//   registervault   a distinct presigned vault per request (parse, validate, SQLite commit), at 1, N
//                   and 4N connections (concurrent calls are committed together);
//   registervaults  1000 distinct presigned vaults per call (one SQLite commit per call);
// then, with a second daemon and a webhook receiver, the detection-to-webhook latency: from a
// thief's trigger entering the node's mempool (the simulator announces it over ZMQ, as bitcoind
// does) to the signed vault.trigger POST arriving at the receiver, one trigger at a time.
//
//   vw_bench_rpc [--quick] [--connections N]
//
// Numbers are measured, never asserted: CTest runs --quick only to prove it works.
#include "crypto/sha256.h"
#include "process_util.h"
#include "primitives/transaction.h"
#include "primitives/block.h"
#include "regtest_sim.h"
#include "tx_util.h"
#include "util/bech32.h"
#include "webhook_receiver.h"
#include "util/hex.h"

#include "rpc/auth.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace vw;
namespace fs = std::filesystem;
namespace json = boost::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using vw::test::P2TR;
using vw::test::Spend;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::string B64(const std::string& s) { return rpc::BasicAuthHeader(s).substr(6); } // without "Basic "

//! One keep-alive connection; Post() returns the reply body and throws on transport errors or
//! JSON-RPC errors (a benchmark of failures would measure nothing useful).
class Conn
{
public:
    Conn(uint16_t port, std::string auth) : m_stream(m_io), m_auth("Basic " + B64(auth))
    {
        m_stream.connect(net::ip::tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
    }
    std::string Post(const std::string& body)
    {
        http::request<http::string_body> req{http::verb::post, "/", 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::authorization, m_auth);
        req.set(http::field::content_type, "application/json");
        req.keep_alive(true);
        req.body() = body;
        req.prepare_payload();
        m_stream.expires_after(120s);
        http::write(m_stream, req);
        http::response_parser<http::string_body> parser;
        parser.body_limit(512u << 20);
        http::read(m_stream, m_buf, parser);
        auto res = parser.release();
        if (res.result_int() != 200) throw std::runtime_error("HTTP " + std::to_string(res.result_int()) + ": " + res.body().substr(0, 300));
        if (!res.keep_alive()) throw std::runtime_error("the server closed the keep-alive connection");
        return std::move(res.body());
    }

private:
    net::io_context m_io;
    beast::tcp_stream m_stream;
    beast::flat_buffer m_buf;
    std::string m_auth;
};

std::string Request(const std::string& method, const std::string& params_json)
{
    return R"({"jsonrpc":"2.0","id":1,"method":")" + method + R"(","params":)" + params_json + "}";
}

void CheckOk(const std::string& reply)
{
    // Cheap check on the hot path: an error reply has "error" at the top level, a result never
    // starts with it.
    if (reply.find("\"error\":{") != std::string::npos && reply.find("\"result\"") == std::string::npos) {
        throw std::runtime_error("RPC error: " + reply.substr(0, 300));
    }
}



//! A distinct presigned vault per seed (a watched outpoint nobody funded, its trigger, a recovery).
std::string VaultJson(uint64_t seed)
{
    Bytes tag{'b', 'e', 'n'};
    for (int i = 0; i < 8; ++i) tag.push_back(static_cast<uint8_t>(seed >> (8 * i)));
    const Txid watched = Txid::FromUint256(crypto::Sha256Once(tag));
    const MutableTransaction trigger = Spend({watched, 0}, Amount{90'000}, P2TR(0xaa));
    const Txid ttxid = ComputeTxid(trigger);
    const MutableTransaction recovery = Spend({ttxid, 0}, Amount{80'000}, P2TR(0xcc));
    return R"({"kind":"presigned","label":"b)" + std::to_string(seed) + R"(","watch_outpoints":[{"txid":")" + watched.ToString() +
           R"(","vout":0}],"triggers":[{"txid":")" + ttxid.ToString() + R"(","spend_delay":144,"recovery_txs":[")" +
           HexStr(SerializeTransaction(recovery)) + R"("]}]})";
}

struct Row {
    std::string name;
    int connections{0};
    size_t requests{0};
    size_t items{0}; //!< vaults registered (registervaults) or requests
    double seconds{0};
    double p50_ms{0}, p99_ms{0}, max_ms{0};
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

//! Runs `bodies` split round-robin over `conns` connections, one thread each.
Row Run(const std::string& name, uint16_t port, const std::string& cookie, const std::vector<std::string>& bodies, int conns,
        size_t items_per_request)
{
    std::vector<std::vector<double>> lat(static_cast<size_t>(conns));
    std::vector<std::string> errors(static_cast<size_t>(conns));
    std::vector<std::unique_ptr<Conn>> cs;
    for (int c = 0; c < conns; ++c) cs.push_back(std::make_unique<Conn>(port, cookie));
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int c = 0; c < conns; ++c) {
        threads.emplace_back([&, c] {
            auto& mine = lat[static_cast<size_t>(c)];
            ++ready;
            while (!go) std::this_thread::yield();
            try {
                for (size_t i = static_cast<size_t>(c); i < bodies.size(); i += static_cast<size_t>(conns)) {
                    const auto t0 = Clock::now();
                    CheckOk(cs[static_cast<size_t>(c)]->Post(bodies[i]));
                    mine.push_back(Ms(Clock::now() - t0));
                }
            } catch (const std::exception& e) {
                errors[static_cast<size_t>(c)] = e.what();
            }
        });
    }
    while (ready < conns) std::this_thread::yield();
    const auto t0 = Clock::now();
    go = true;
    for (auto& t : threads) t.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    for (const auto& e : errors) {
        if (!e.empty()) throw std::runtime_error(name + ": " + e);
    }
    std::vector<double> all;
    for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
        if (all.empty()) return 0.0;
        const auto idx = static_cast<size_t>(p * static_cast<double>(all.size() - 1) + 0.5);
        return all[std::min(idx, all.size() - 1)];
    };
    Row r;
    r.name = name;
    r.connections = conns;
    r.requests = all.size();
    r.items = all.size() * items_per_request;
    r.seconds = secs;
    r.p50_ms = pct(0.50);
    r.p99_ms = pct(0.99);
    r.max_ms = all.empty() ? 0 : all.back();
    return r;
}

//! The one launcher's vaultwatchd, started at once, with what a measurement wants: no debug
//! logging and no fsync'd event log in the measured path, the production poll interval.
class Daemon : public test::proc::Vaultwatchd
{
public:
    Daemon(fs::path binary, fs::path datadir, uint16_t node_port, const std::vector<std::string>& extra = {})
        : test::proc::Vaultwatchd(std::move(binary), std::move(datadir))
    {
        node_args = {"--bitcoind.rpcport=" + std::to_string(node_port), "--bitcoind.rpcuser=u", "--bitcoind.rpcpassword=p"};
        event_log = false;
        extra_args = {"--pollseconds=5", "--loglevel=warn"};
        extra_args.insert(extra_args.end(), extra.begin(), extra.end());
        Start();
    }
    ~Daemon() override { Kill(SIGTERM); }
    //! Waits for the cookie and a getinfo answer; returns the cookie ("__cookie__:hex").
    std::string WaitReady()
    {
        const auto end = Clock::now() + 30s;
        while (Clock::now() < end) {
            if (!child().Running()) throw std::runtime_error("vaultwatchd exited: " + Log());
            std::string cookie = test::proc::ReadFile(NetDir() / ".cookie");
            if (cookie.find(':') != std::string::npos) {
                try {
                    Conn c{port(), cookie};
                    CheckOk(c.Post(Request("getinfo", "[]")));
                    return cookie;
                } catch (const std::exception&) {
                }
            }
            std::this_thread::sleep_for(20ms);
        }
        throw std::runtime_error("vaultwatchd did not come up: " + Log());
    }
};

fs::path DaemonBinary(const char* argv0)
{
#ifdef VW_VAULTWATCHD_PATH
    if (fs::exists(VW_VAULTWATCHD_PATH)) return VW_VAULTWATCHD_PATH;
#endif
    // build/tests/bench/vw_bench_rpc -> build/daemon/vaultwatchd
    return fs::canonical(fs::path(argv0)).parent_path().parent_path().parent_path() / "daemon" / "vaultwatchd";
}

//! Detection-to-webhook latency over n funded presigned vaults (see the header comment).
//! Returns the latencies in ms, in trigger order.
std::vector<double> WebhookLatency(const fs::path& bin, const fs::path& dir, sim::RegtestSim& node, size_t n)
{
    const std::string secret = "bench-webhook-secret-0123456789";
    test::WebhookReceiver receiver{secret};
    receiver.Start();
    // Coins through P2WSH(OP_TRUE) (the simulator runs no scripts; the shape is a real one).
    const Uint256 h = crypto::Sha256Once(Bytes{0x51});
    Bytes acs(34, 0);
    acs[1] = 0x20;
    std::copy(h.bytes.begin(), h.bytes.end(), acs.begin() + 2);
    const std::string addr = *bech32::SegwitAddress("bcrt", 0, ByteSpan{acs}.subspan(2));
    const int64_t base = node.Call("getblockcount").as_int64();
    node.Call("generatetoaddress", {static_cast<int64_t>(n) + 100, addr});
    std::vector<Transaction> triggers;
    std::vector<std::string> regs;
    for (size_t i = 0; i < n; ++i) {
        const std::string bh{node.Call("getblockhash", {base + 1 + static_cast<int64_t>(i)}).as_string()};
        auto block = DecodeBlock(*ParseHex(std::string_view{node.Call("getblock", {bh, 0}).as_string()}));
        if (!block) throw std::runtime_error("cannot decode the simulator's block");
        const Transaction& cb = block->txs.at(0);
        const Transaction funding{Spend({cb.GetTxid(), 0}, cb.vout().at(0).value - Amount{10'000}, acs)};
        node.Call("sendrawtransaction", {HexStr(SerializeTransaction(funding))});
        const Amount v = funding.vout().at(0).value;
        const Transaction trigger{Spend({funding.GetTxid(), 0}, v - Amount{10'000}, acs)};
        const Transaction recovery{Spend({trigger.GetTxid(), 0}, v - Amount{20'000}, P2TR(0xcc))};
        regs.push_back(R"({"kind":"presigned","label":"lat)" + std::to_string(i) + R"(","watch_outpoints":[{"txid":")" +
                       funding.GetTxid().ToString() + R"(","vout":0}],"triggers":[{"txid":")" + trigger.GetTxid().ToString() +
                       R"(","spend_delay":144,"recovery_txs":[")" + HexStr(SerializeTransaction(recovery)) + R"("]}]})");
        triggers.push_back(trigger);
    }
    node.Call("generatetoaddress", {1, addr});
    const int64_t tip = node.Call("getblockcount").as_int64();

    Daemon d(bin, dir, node.RpcPort(),
             {"--webhook=http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook", "--webhooksecret=" + secret,
              "--webhookevents=vault.trigger"});
    const std::string cookie = d.WaitReady();
    Conn c{d.port(), cookie};
    for (const auto& r : regs) CheckOk(c.Post(Request("registervault", "[" + r + "]")));
    const auto end = Clock::now() + 60s;
    while (json::parse(c.Post(Request("getinfo", "[]"))).at("result").at("height").as_int64() != tip) {
        if (Clock::now() > end) throw std::runtime_error("vaultwatchd did not catch up");
        std::this_thread::sleep_for(10ms);
    }
    std::this_thread::sleep_for(500ms); // ZMQ subscriptions settle (a slow joiner would miss the first tx)
    std::vector<double> ms;
    for (size_t i = 0; i < n; ++i) {
        const auto t0 = Clock::now();
        node.Call("sendrawtransaction", {HexStr(SerializeTransaction(triggers[i]))});
        while (receiver.Count() < i + 1) {
            if (Clock::now() - t0 > 10s) throw std::runtime_error("no vault.trigger webhook within 10 s of trigger " + std::to_string(i));
            std::this_thread::sleep_for(50us);
        }
        ms.push_back(Ms(Clock::now() - t0));
        const auto req = receiver.Requests().back();
        if (!req.signature_ok || req.body.find(triggers[i].GetTxid().ToString()) == std::string::npos) {
            throw std::runtime_error("unexpected webhook: " + req.signature_error + " " + req.body.substr(0, 300));
        }
    }
    return ms;
}

double Percentile(std::vector<double> v, double p)
{
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

} // namespace

int main(int argc, char** argv)
{
    bool quick = false;
    int max_conns = 4;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") quick = true;
        else if (a == "--connections" && i + 1 < argc) max_conns = std::max(1, std::atoi(argv[++i]));
        else {
            std::cerr << "usage: vw_bench_rpc [--quick] [--connections N]\n";
            return 2;
        }
    }
    const size_t n_get = quick ? 300 : 20000;
    const size_t n_reg = quick ? 100 : 3000;
    const size_t n_batches = quick ? 2 : 10;
    const size_t batch = 1000;

    const fs::path dir = fs::temp_directory_path() / ("vw-bench-rpc-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    int rc = 0;
    try {
        sim::SimConfig sc;
        sc.rpc_user = "u";
        sc.rpc_password = "p";
        for (const char* t : {"rawtx", "hashblock", "sequence"}) sc.zmq.push_back({t, "tcp://127.0.0.1:0"});
        sim::RegtestSim simnode{sc};
        simnode.Start();
        {
            Daemon d(DaemonBinary(argv[0]), dir / "vw", simnode.RpcPort());
            const std::string cookie = d.WaitReady();
            std::vector<Row> rows;
            uint64_t seed = 1;

            // A vault to read.
            Conn setup{d.port(), cookie};
            const auto reg = json::parse(setup.Post(Request("registervault", "[" + VaultJson(seed++) + "]")));
            const std::string vid{reg.at("result").at("vault_id").as_string()};
            const std::string get = Request("getvault", "[\"" + vid + "\"]");
            for (int conns : {1, max_conns}) {
                std::vector<std::string> bodies(n_get, get);
                rows.push_back(Run("getvault", d.port(), cookie, bodies, conns, 1));
                if (max_conns == 1) break;
            }
            // Concurrent registervault calls share one SQLite commit (the server's batch form):
            // the rate grows with the connections until the validation work dominates.
            for (int conns : {1, max_conns, 4 * max_conns}) {
                std::vector<std::string> bodies;
                bodies.reserve(n_reg);
                for (size_t i = 0; i < n_reg; ++i) bodies.push_back(Request("registervault", "[" + VaultJson(seed++) + "]"));
                rows.push_back(Run("registervault", d.port(), cookie, bodies, conns, 1));
                if (max_conns == 1) break;
            }
            {
                std::vector<std::string> bodies;
                size_t bytes = 0;
                for (size_t b = 0; b < n_batches; ++b) {
                    std::string arr = "[";
                    for (size_t i = 0; i < batch; ++i) arr += (i ? "," : "") + VaultJson(seed++);
                    arr += "]";
                    bodies.push_back(Request("registervaults", "[" + arr + "]"));
                    bytes += bodies.back().size();
                }
                std::printf("registervaults request body: %.0f KiB for %zu vaults (the server's body limit is 1024 KiB)\n",
                            static_cast<double>(bytes) / static_cast<double>(n_batches) / 1024.0, batch);
                rows.push_back(Run("registervaults x1000", d.port(), cookie, bodies, 1, batch));
            }
            // The registry after all that: one more getvault round at its final size.
            {
                std::vector<std::string> bodies(n_get, get);
                rows.push_back(Run("getvault (after)", d.port(), cookie, bodies, 1, 1));
            }
            const auto info = json::parse(setup.Post(Request("getinfo", "[]")));

            std::printf("\nvw_bench_rpc%s: vaultwatchd control port over keep-alive HTTP/1.1 (loopback)\n", quick ? " --quick" : "");
            std::printf("%-22s %5s %8s %10s %12s %9s %9s %9s\n", "method", "conns", "requests", "req/s", "vaults/s", "p50 ms", "p99 ms",
                        "max ms");
            for (const auto& r : rows) {
                const double rps = static_cast<double>(r.requests) / r.seconds;
                const bool reg_row = r.name.rfind("register", 0) == 0;
                std::printf("%-22s %5d %8zu %10.0f %12s %9.3f %9.3f %9.3f\n", r.name.c_str(), r.connections, r.requests, rps,
                            reg_row ? std::to_string(static_cast<long long>(static_cast<double>(r.items) / r.seconds)).c_str() : "-",
                            r.p50_ms, r.p99_ms, r.max_ms);
            }
            std::printf("vaults registered: %s\n", json::serialize(info.at("result").at("vaults")).c_str());
        }
        {
            const size_t n_lat = quick ? 5 : 200;
            const auto ms = WebhookLatency(DaemonBinary(argv[0]), dir / "vw-latency", simnode, n_lat);
            std::printf("\ndetection to webhook (trigger into the mempool -> signed vault.trigger POST received), %zu triggers:\n"
                        "  p50 %.2f ms   p99 %.2f ms   max %.2f ms\n",
                        ms.size(), Percentile(ms, 0.50), Percentile(ms, 0.99), *std::max_element(ms.begin(), ms.end()));
        }
        simnode.Stop();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vw_bench_rpc: %s\n", e.what());
        rc = 1;
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    return rc;
}
