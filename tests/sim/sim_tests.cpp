// Conformance tests: the simulator, reached through a real HTTP client (Beast) and real ZMQ SUB
// sockets, against the bitcoind v31 captures in VW_TEST_DATA_DIR/data/bitcoind-wire (read at run
// time). Every network wait is bounded.

#include "regtest_sim.h"

#include "crypto/sha256.h"
#include "primitives/transaction.h"
#include "util/hex.h"

#include "rpc/auth.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <sys/stat.h>
#include <thread>

namespace {

namespace json = boost::json;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using vw::sim::RegtestSim;
using vw::sim::SimConfig;

const std::filesystem::path WIRE = std::filesystem::path(VW_TEST_DATA_DIR) / "bitcoind-wire";

json::value LoadJson(const std::string& file)
{
    std::ifstream f(WIRE / file, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return json::parse(ss.str());
}

const json::array& Exchanges()
{
    static const json::value v = LoadJson("rpc-exchanges.json");
    return v.as_array();
}

const json::object& Exchange(const std::string& name)
{
    for (const auto& r : Exchanges()) {
        if (r.at("name").as_string() == name) return r.as_object();
    }
    throw std::runtime_error("no capture " + name);
}

// ---- HTTP client -------------------------------------------------------------------------------

struct HttpResponse {
    int status{0};
    std::string reason;
    unsigned version{11};
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string Header(const std::string& name) const
    {
        for (const auto& [k, v] : headers) {
            if (beast::iequals(k, name)) return v;
        }
        return {};
    }
};

class HttpConn
{
public:
    explicit HttpConn(uint16_t port) : m_stream(m_io)
    {
        m_stream.expires_after(5s);
        m_stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    }
    //! Sends raw request bytes and reads one response (5 s deadline).
    HttpResponse Exchange(const std::string& raw)
    {
        m_stream.expires_after(5s);
        asio::write(m_stream, asio::buffer(raw));
        http::response_parser<http::string_body> p;
        p.body_limit(64 * 1024 * 1024);
        http::read(m_stream, m_buf, p);
        HttpResponse r;
        const auto& res = p.get();
        r.status = static_cast<int>(res.result_int());
        r.reason = std::string(res.reason());
        r.version = res.version();
        for (const auto& f : res) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        r.body = res.body();
        return r;
    }

private:
    asio::io_context m_io;
    beast::tcp_stream m_stream;
    beast::flat_buffer m_buf;
};

std::string BuildRequest(const std::string& method, const std::string& target, const std::string& version,
                         const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body)
{
    std::string out = method + " " + target + " " + version + "\r\n";
    for (const auto& [k, v] : headers) {
        if (beast::iequals(k, "Content-Length")) out += k + ": " + std::to_string(body.size()) + "\r\n";
        else out += k + ": " + v + "\r\n";
    }
    out += "\r\n" + body;
    return out;
}

std::string B64(const std::string& s) { return vw::rpc::BasicAuthHeader(s).substr(6); } // without "Basic "

//! One JSON-RPC 1.0 call over a fresh connection.
HttpResponse Rpc(uint16_t port, const std::string& auth, const std::string& body)
{
    HttpConn c(port);
    return c.Exchange(BuildRequest("POST", "/", "HTTP/1.1", {{"Host", "127.0.0.1"}, {"Authorization", auth}, {"Content-Type", "application/json"}, {"Content-Length", ""}}, body));
}

// ---- ZMQ subscriber ----------------------------------------------------------------------------

struct ZmqMsg {
    std::string topic;
    std::string body;
    uint32_t counter{0};
    size_t frames{0};
    std::string counter_bytes;
};

class ZmqSub
{
public:
    ZmqSub(zmq::context_t& ctx, const std::string& addr, const std::vector<std::string>& topics) : m_sock(ctx, zmq::socket_type::sub)
    {
        m_sock.set(zmq::sockopt::rcvhwm, 0);
        m_sock.set(zmq::sockopt::rcvtimeo, 2000);
        m_sock.set(zmq::sockopt::linger, 0);
        m_sock.set(zmq::sockopt::reconnect_ivl, 1);  // as the capture's subscriber
        for (const auto& t : topics) m_sock.set(zmq::sockopt::subscribe, t);
        m_sock.connect(addr);
    }
    //! Receives one multipart message; nullopt after the timeout.
    std::optional<ZmqMsg> Recv(std::chrono::milliseconds timeout = 2000ms)
    {
        m_sock.set(zmq::sockopt::rcvtimeo, static_cast<int>(timeout.count()));
        std::vector<zmq::message_t> parts;
        auto r = zmq::recv_multipart(m_sock, std::back_inserter(parts));
        if (!r) return std::nullopt;
        ZmqMsg m;
        m.frames = parts.size();
        if (parts.size() >= 1) m.topic = parts[0].to_string();
        if (parts.size() >= 2) m.body = parts[1].to_string();
        if (parts.size() >= 3) {
            m.counter_bytes = parts[2].to_string();
            const auto* b = static_cast<const uint8_t*>(parts[2].data());
            if (parts[2].size() == 4) m.counter = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
        }
        return m;
    }
    //! Receives exactly n messages (each within the timeout) then checks nothing else is queued.
    std::vector<ZmqMsg> RecvN(size_t n)
    {
        std::vector<ZmqMsg> out;
        for (size_t i = 0; i < n; ++i) {
            auto m = Recv();
            if (!m) break;
            out.push_back(std::move(*m));
        }
        return out;
    }
    std::vector<ZmqMsg> Drain(std::chrono::milliseconds quiet = 100ms)
    {
        std::vector<ZmqMsg> out;
        while (auto m = Recv(quiet)) out.push_back(std::move(*m));
        return out;
    }

private:
    zmq::socket_t m_sock;
};

std::string Hex(const std::string& s) { return vw::HexStr(vw::ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size())); }

std::string Label(const ZmqMsg& m)
{
    std::string l = m.topic;
    if (m.topic == "sequence" && m.body.size() >= 33) l += std::string(":") + m.body[32];
    return l;
}

uint64_t MempoolSeq(const ZmqMsg& m)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(m.body[33 + i])) << (8 * i);
    return v;
}

// ---- transactions ------------------------------------------------------------------------------

struct Spend {
    vw::OutPoint op;
};

std::string MakeTx(const std::vector<vw::OutPoint>& ins, const std::vector<std::pair<int64_t, std::string>>& outs, uint32_t locktime = 0, uint32_t sequence = 0xfffffffd, int32_t version = 2)
{
    vw::MutableTransaction tx;
    tx.version = version;
    for (const auto& o : ins) {
        vw::TxIn in;
        in.prevout = o;
        in.sequence = sequence;
        in.witness.push_back(vw::Bytes(64, 0x5a));  // a key-path "signature"; scripts are not run
        tx.vin.push_back(in);
    }
    for (const auto& [sats, spk_hex] : outs) tx.vout.push_back(vw::TxOut{vw::Amount{sats}, *vw::ParseHex(spk_hex)});
    tx.locktime = locktime;
    return vw::HexStr(vw::SerializeTransaction(tx));
}

std::string TxidOf(const std::string& hex) { return vw::DecodeTransactionHex(hex)->GetTxid().ToString(); }

const std::string P2TR_A = "5120e9f8ec6cf6bfdb9752e8dd6f3d4001ed8466b3b600b498b22b93752d27354dbb";
const std::string P2TR_B = "5120dedffeac998a70dc48d0d477d22998fa98b53e4ba25c1f1412abfb668b848f74";
const std::string P2WPKH_A = "0014227b309b767a684c4e4a002c0a3233500a1dde86";
const std::string P2WPKH_B = "00146b84c04da89b6812f6a80bbd5b4bbe2f8cbe6b18";
const std::string P2PKH = "76a914e53e1fdddc4270a2c3fa2835196bb586e99b368a88ac";
const std::string P2SH = "a914e53e1fdddc4270a2c3fa2835196bb586e99b368a87";

vw::OutPoint Op(const std::string& txid, uint32_t n) { return vw::OutPoint{*vw::Txid::FromHex(txid), n}; }

std::string CoinbaseAt(RegtestSim& sim, int h)
{
    auto hash = sim.Call("getblockhash", {h});
    auto blk = sim.Call("getblock", {hash, 1});
    return std::string(blk.at("tx").as_array()[0].as_string());
}

SimConfig WireConfig()
{
    SimConfig c;
    c.rpc_user = "wireuser";
    c.rpc_password = "wirepass";
    return c;
}

// ---- shape comparison --------------------------------------------------------------------------

std::string Kind(const json::value& v)
{
    if (v.is_number()) return "number";
    if (v.is_string()) return "string";
    if (v.is_bool()) return "bool";
    if (v.is_null()) return "null";
    if (v.is_array()) return "array";
    return "object";
}

void CompareShape(const json::value& want, const json::value& got, const std::string& path, std::vector<std::string>& errs)
{
    if (Kind(want) != Kind(got)) {
        errs.push_back(path + ": kind " + Kind(got) + " != " + Kind(want));
        return;
    }
    if (want.is_object()) {
        std::vector<std::string> wk, gk;
        for (const auto& kv : want.as_object()) wk.emplace_back(kv.key());
        for (const auto& kv : got.as_object()) gk.emplace_back(kv.key());
        if (wk != gk) {
            std::string a, b;
            for (auto& k : wk) a += k + ",";
            for (auto& k : gk) b += k + ",";
            errs.push_back(path + ": keys [" + b + "] != [" + a + "]");
            return;
        }
        for (const auto& kv : want.as_object()) CompareShape(kv.value(), got.as_object().at(kv.key()), path + "." + std::string(kv.key()), errs);
    } else if (want.is_array()) {
        const auto& w = want.as_array();
        const auto& g = got.as_array();
        for (size_t i = 0; i < std::min(w.size(), g.size()); ++i) CompareShape(w[i], g[i], path + "[" + std::to_string(i) + "]", errs);
    }
}

//! A reply object: envelope keys exact, error exact, id exact, result by shape.
void CompareReply(const json::value& want, const json::value& got, const std::string& path, std::vector<std::string>& errs)
{
    if (!want.is_object() || !got.is_object()) {
        CompareShape(want, got, path, errs);
        return;
    }
    std::vector<std::string> wk, gk;
    for (const auto& kv : want.as_object()) wk.emplace_back(kv.key());
    for (const auto& kv : got.as_object()) gk.emplace_back(kv.key());
    if (wk != gk) {
        errs.push_back(path + ": envelope keys differ");
        return;
    }
    const auto& w = want.as_object();
    const auto& g = got.as_object();
    if (w.contains("error") && json::serialize(w.at("error")) != json::serialize(g.at("error"))) {
        errs.push_back(path + ": error " + json::serialize(g.at("error")) + " != " + json::serialize(w.at("error")));
    }
    if (w.contains("id") && json::serialize(w.at("id")) != json::serialize(g.at("id"))) errs.push_back(path + ": id differs");
    if (w.contains("jsonrpc") && w.at("jsonrpc") != g.at("jsonrpc")) errs.push_back(path + ": jsonrpc differs");
    if (w.contains("result")) CompareShape(w.at("result"), g.at("result"), path + ".result", errs);
}

std::string ReplaceAll(std::string s, const std::map<std::string, std::string>& m)
{
    for (const auto& [from, to] : m) {
        for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
    }
    return s;
}

// =================================================================================================

class RpcConformance : public ::testing::Test
{
protected:
    static void SetUpTestSuite()
    {
        auto cfg = WireConfig();
        cfg.zmq = {{"hashblock", "tcp://127.0.0.1:0"}, {"hashtx", "tcp://127.0.0.1:0"}, {"rawblock", "tcp://127.0.0.1:0"}, {"rawtx", "tcp://127.0.0.1:0"}, {"sequence", "tcp://127.0.0.1:0"}};
        s_sim = new RegtestSim(cfg);
        s_sim->Start();
        // Replicates rpc-capture-setup.json: 110 blocks, a confirmed tx at 111, one mempool tx.
        s_sim->Generate(110);
        const std::string cb1 = CoinbaseAt(*s_sim, 1), cb2 = CoinbaseAt(*s_sim, 2);
        const auto conf = MakeTx({Op(cb1, 0)}, {{4849996900, P2TR_A}, {150000000, P2TR_B}}, 110);
        s_sim->Call("sendrawtransaction", {json::string(conf)});
        s_sim->Generate(1);
        const auto mem = MakeTx({Op(cb2, 0)}, {{75000000, P2WPKH_A}, {4924997380, P2WPKH_B}}, 111);
        s_sim->Call("sendrawtransaction", {json::string(mem)});
        const auto setup = LoadJson("rpc-capture-setup.json").at("state");
        s_map = {
            {std::string(setup.at("blk_conf").as_string()), s_sim->BestBlockHash()},
            {std::string(setup.at("tx_conf").as_string()), TxidOf(conf)},
            {std::string(setup.at("tx_mem").as_string()), TxidOf(mem)},
            {"01e97933bd49bedcbbd27ecfd795c77990bff86b65e4eef37588e95c45a08a7a", cb2},  // tx_mem's input
        };
    }
    static void TearDownTestSuite()
    {
        delete s_sim;
        s_sim = nullptr;
    }

    //! Replays one captured exchange (ids mapped to ours) and compares the reply.
    void Replay(const std::string& name)
    {
        SCOPED_TRACE(name);
        const auto& rec = Exchange(name);
        const auto& req = rec.at("request").as_object();
        const auto& want = rec.at("response").as_object();
        std::vector<std::pair<std::string, std::string>> headers;
        for (const auto& h : req.at("headers").as_array()) headers.emplace_back(std::string(h.as_array()[0].as_string()), std::string(h.as_array()[1].as_string()));
        const std::string body = ReplaceAll(std::string(req.at("body").as_string()), s_map);
        HttpConn conn(s_sim->RpcPort());
        const auto got = conn.Exchange(BuildRequest(std::string(req.at("method").as_string()), std::string(req.at("path").as_string()), std::string(req.at("http_version").as_string()), headers, body));
        EXPECT_EQ(got.status, want.at("status").as_int64());
        EXPECT_EQ(got.reason, want.at("reason").as_string());
        // Same response headers, same order; fixed-value headers equal.
        std::vector<std::string> wnames, gnames;
        for (const auto& h : want.at("headers").as_array()) {
            const std::string k(h.as_array()[0].as_string()), v(h.as_array()[1].as_string());
            wnames.push_back(k);
            if (k == "Content-Type" || k == "WWW-Authenticate" || k == "Connection") {
                EXPECT_EQ(got.Header(k), v) << k;
            }
        }
        for (const auto& [k, v] : got.headers) gnames.push_back(k);
        EXPECT_EQ(gnames, wnames);
        const std::string wbody(want.at("body").as_string());
        if (wbody.empty() || (wbody[0] != '{' && wbody[0] != '[')) {
            EXPECT_EQ(got.body, wbody);
            return;
        }
        ASSERT_FALSE(got.body.empty());
        EXPECT_EQ(got.body.back(), '\n');
        const auto wj = json::parse(ReplaceAll(wbody, s_map)), gj = json::parse(got.body);
        std::vector<std::string> errs;
        if (wj.is_array()) {
            ASSERT_TRUE(gj.is_array());
            ASSERT_EQ(gj.as_array().size(), wj.as_array().size());
            for (size_t i = 0; i < wj.as_array().size(); ++i) CompareReply(wj.as_array()[i], gj.as_array()[i], "[" + std::to_string(i) + "]", errs);
        } else {
            CompareReply(wj, gj, "", errs);
        }
        for (const auto& e : errs) ADD_FAILURE() << e;
    }

    static RegtestSim* s_sim;
    static std::map<std::string, std::string> s_map;
};
RegtestSim* RpcConformance::s_sim = nullptr;
std::map<std::string, std::string> RpcConformance::s_map;

TEST_F(RpcConformance, CapturedExchangesHaveSameStatusHeadersAndShapes)
{
    // Excluded: wallet calls (the simulator has no wallet), startup/keep-alive/cookie/stop (own
    // tests below), and records whose raw transactions spend the capture node's coins (their
    // semantics are covered by MempoolSemantics with our own transactions).
    static const std::vector<std::string> skip_prefix = {"getblockcount_during_startup", "wallet_", "cli_getinfo", "cli_rpcwallet", "cli_stop", "cookie_", "keepalive_", "testmempoolaccept_", "sendrawtransaction_", "submitpackage_", "decoderawtransaction"};
    static const std::vector<std::string> keep = {"testmempoolaccept_missing_inputs", "sendrawtransaction_missing_inputs", "sendrawtransaction_invalid_hex", "sendrawtransaction_hex_not_a_tx", "submitpackage_invalid_hex"};
    size_t replayed = 0;
    for (const auto& r : Exchanges()) {
        const std::string name(r.at("name").as_string());
        bool skipped = false;
        for (const auto& p : skip_prefix) skipped = skipped || name.rfind(p, 0) == 0;
        if (std::find(keep.begin(), keep.end(), name) != keep.end()) skipped = false;
        if (skipped) continue;
        Replay(name);
        ++replayed;
    }
    EXPECT_GE(replayed, 90u);
}

TEST_F(RpcConformance, KeepAliveServesThreeRequestsOnOneConnection)
{
    HttpConn c(s_sim->RpcPort());
    for (int i = 1; i <= 3; ++i) {
        const auto& rec = Exchange("keepalive_request_" + std::to_string(i) + "_of_3_same_connection");
        const std::string body(rec.at("request").at("body").as_string());
        auto r = c.Exchange(BuildRequest("POST", "/", "HTTP/1.1", {{"Host", "127.0.0.1"}, {"Authorization", "Basic d2lyZXVzZXI6d2lyZXBhc3M="}, {"Content-Type", "application/json"}, {"Content-Length", ""}}, body));
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.Header("Connection"), "");
        EXPECT_EQ(r.body, "{\"result\":111,\"error\":null,\"id\":" + std::to_string(i) + "}\n");
    }
}

TEST_F(RpcConformance, WarmupIs500WithCode28ForLegacyAnd200For2_0)
{
    s_sim->SetWarmup(true, "Loading P2P addresses\xe2\x80\xa6");
    const auto& rec = Exchange("getblockcount_during_startup_warmup_1");
    auto r = Rpc(s_sim->RpcPort(), "Basic d2lyZXVzZXI6d2lyZXBhc3M=", std::string(rec.at("request").at("body").as_string()));
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body, rec.at("response").at("body").as_string());  // byte-exact, "…" is UTF-8
    auto r2 = Rpc(s_sim->RpcPort(), "Basic d2lyZXVzZXI6d2lyZXBhc3M=", R"({"jsonrpc":"2.0","id":1,"method":"getblockcount"})");
    EXPECT_EQ(r2.status, 200);
    EXPECT_EQ(r2.body, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-28,\"message\":\"Loading P2P addresses\xe2\x80\xa6\"},\"id\":1}\n");
    s_sim->SetWarmup(false);
    EXPECT_EQ(Rpc(s_sim->RpcPort(), "Basic d2lyZXVzZXI6d2lyZXBhc3M=", R"({"id":1,"method":"getblockcount"})").status, 200);
}

TEST_F(RpcConformance, ByteExactBodiesForChainQueries)
{
    // Values that do not depend on the capture node's history are byte-identical.
    for (const char* name : {"getblockhash_genesis", "getblock_verbose_bool_false", "getblock_named_params", "estimatesmartfee_insufficient_data", "method_not_found", "jsonrpc2_method_not_found", "parse_error_invalid_json", "jsonrpc_3_0_version_rejected", "getblockhash_wrong_param_type", "getblockheader_invalid_hash_hex", "getrawmempool_verbose_true_mempool_sequence_true", "gettxspendingprevout_empty_list", "batch_empty", "http_get_not_allowed"}) {
        SCOPED_TRACE(name);
        const auto& rec = Exchange(name);
        const auto& req = rec.at("request").as_object();
        std::vector<std::pair<std::string, std::string>> headers;
        for (const auto& h : req.at("headers").as_array()) headers.emplace_back(std::string(h.as_array()[0].as_string()), std::string(h.as_array()[1].as_string()));
        HttpConn c(s_sim->RpcPort());
        auto r = c.Exchange(BuildRequest(std::string(req.at("method").as_string()), "/", "HTTP/1.1", headers, std::string(req.at("body").as_string())));
        EXPECT_EQ(r.body, rec.at("response").at("body").as_string());
    }
}

TEST(SimRpc, MempoolSemantics)
{
    RegtestSim sim(WireConfig());
    sim.Start();
    sim.Generate(101);
    const uint16_t port = sim.RpcPort();
    const std::string auth = sim.AuthorizationHeader();
    auto call = [&](const std::string& method, const std::string& params) {
        auto r = Rpc(port, auth, R"({"jsonrpc":"1.0","id":1,"method":")" + method + R"(","params":)" + params + "}");
        return std::make_pair(r.status, json::parse(r.body));
    };
    auto err = [](const json::value& v) { return std::make_pair(v.at("error").at("code").as_int64(), std::string(v.at("error").at("message").as_string())); };
    const std::string cb1 = CoinbaseAt(sim, 1), cb2 = CoinbaseAt(sim, 2);

    // Success, then the same tx again: success with the same txid.
    const auto tx1 = MakeTx({Op(cb1, 0)}, {{4999990000, P2TR_A}});
    auto [s1, r1] = call("sendrawtransaction", "[\"" + tx1 + "\"]");
    EXPECT_EQ(s1, 200);
    EXPECT_EQ(r1.at("result").as_string(), TxidOf(tx1));
    EXPECT_EQ(call("sendrawtransaction", "[\"" + tx1 + "\"]").second.at("result").as_string(), TxidOf(tx1));
    // testmempoolaccept on it: txn-already-in-mempool, as captured.
    auto tma = call("testmempoolaccept", "[[\"" + tx1 + "\"]]").second.at("result").as_array()[0];
    EXPECT_EQ(tma.at("reject-reason"), "txn-already-in-mempool");
    EXPECT_EQ(tma.at("reject-details"), "txn-already-in-mempool");
    // Lower-fee double spend: -26 insufficient fee, with Core's message shape.
    const auto lower = MakeTx({Op(cb1, 0)}, {{4999995000, P2TR_B}});
    auto [s2, r2] = call("sendrawtransaction", "[\"" + lower + "\"]");
    EXPECT_EQ(s2, 500);
    EXPECT_EQ(err(r2).first, -26);
    EXPECT_EQ(err(r2).second, "insufficient fee, rejecting replacement " + TxidOf(lower) + ", less fees than conflicting txs; 0.00005 < 0.0001");
    // Zero fee: min relay fee not met, "0 < N".
    const auto zero = MakeTx({Op(cb2, 0)}, {{5000000000, P2TR_B}});
    auto [s3, r3] = call("sendrawtransaction", "[\"" + zero + "\"]");
    EXPECT_EQ(err(r3).first, -26);
    EXPECT_EQ(err(r3).second.rfind("min relay fee not met, 0 < ", 0), 0u) << err(r3).second;
    // Fee above maxfeerate (0.10 BTC/kvB default): -25.
    const auto huge = MakeTx({Op(cb2, 0)}, {{4000000000, P2TR_B}});
    EXPECT_EQ(call("sendrawtransaction", "[\"" + huge + "\"]").second.at("error"), json::parse(std::string(Exchange("sendrawtransaction_maxfeerate_exceeded").at("response").at("body").as_string())).at("error"));
    // Mined: outputs now in the UTXO set -> -27 exactly as captured.
    sim.Generate(1);
    const auto& c27 = Exchange("sendrawtransaction_already_confirmed");
    auto [s4, r4] = call("sendrawtransaction", "[\"" + tx1 + "\"]");
    EXPECT_EQ(s4, c27.at("response").at("status").as_int64());
    EXPECT_EQ(r4.at("error"), json::parse(std::string(c27.at("response").at("body").as_string())).at("error"));
    // Spent input: -25 bad-txns-inputs-missingorspent.
    const auto spent = MakeTx({Op(cb1, 0)}, {{4999000000, P2TR_B}});
    EXPECT_EQ(err(call("sendrawtransaction", "[\"" + spent + "\"]").second), std::make_pair(int64_t{-25}, std::string("bad-txns-inputs-missingorspent")));
    // Policy hook: -26 with the test's reason.
    sim.SetPolicyHook([](const vw::Transaction&) -> std::optional<std::string> { return "mandatory-script-verify-flag-failed (Invalid Schnorr signature)"; });
    const auto hooked = MakeTx({Op(cb2, 0)}, {{4999990000, P2TR_B}});
    EXPECT_EQ(err(call("sendrawtransaction", "[\"" + hooked + "\"]").second), std::make_pair(int64_t{-26}, std::string("mandatory-script-verify-flag-failed (Invalid Schnorr signature)")));
    sim.SetPolicyHook(nullptr);
    // Package: zero-fee TRUC parent + fee-paying child is accepted at the package feerate.
    const auto parent = MakeTx({Op(cb2, 0)}, {{5000000000, P2TR_A}}, 0, 0xfffffffd, 3);
    const auto child = MakeTx({Op(TxidOf(parent), 0)}, {{4999980000, P2TR_B}}, 0, 0xfffffffd, 3);
    auto pkg = call("submitpackage", "[[\"" + parent + "\",\"" + child + "\"]]").second.at("result");
    EXPECT_EQ(pkg.at("package_msg"), "success");
    // tx-results is keyed by wtxid: compare the entries in order, and the envelope keys.
    std::vector<std::string> shape_errs;
    const auto want_pkg = json::parse(std::string(Exchange("submitpackage_truc_zero_fee_parent").at("response").at("body").as_string())).at("result");
    ASSERT_EQ(pkg.as_object().size(), want_pkg.as_object().size());
    const auto& wtr = want_pkg.at("tx-results").as_object();
    const auto& gtr = pkg.at("tx-results").as_object();
    ASSERT_EQ(gtr.size(), wtr.size());
    for (auto wi = wtr.begin(), gi = gtr.begin(); wi != wtr.end(); ++wi, ++gi) CompareShape(wi->value(), gi->value(), "pkg.tx-results", shape_errs);
    EXPECT_EQ(gtr.begin()->key(), vw::DecodeTransactionHex(parent)->GetWtxid().ToString());
    for (const auto& e : shape_errs) ADD_FAILURE() << e;
    EXPECT_TRUE(call("getmempoolentry", "[\"" + TxidOf(child) + "\"]").second.at("error").is_null());
    // Fees are tracked: the next coinbase collects them.
    sim.Generate(1);
    auto blk = sim.Call("getblock", {json::string(sim.BestBlockHash()), 2});
    EXPECT_EQ(blk.at("tx").as_array().size(), 3u);
    EXPECT_DOUBLE_EQ(blk.at("tx").as_array()[0].at("vout").as_array()[0].at("value").as_double(), 50.0002);
}

// ---- ZMQ -----------------------------------------------------------------------------------------

struct ScenarioSubs {
    // The capture's endpoints: one topic each on 28601..28605, hashblock+hashtx shared on 28606.
    static SimConfig Config()
    {
        auto c = WireConfig();
        // Port 0 gives each notifier its own socket; the shared endpoint needs one fixed address,
        // so ask the OS for a free port first.
        asio::io_context io;
        tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        const std::string shared = "tcp://127.0.0.1:" + std::to_string(probe.local_endpoint().port());
        probe.close();
        c.restart_announce_delay = 300ms;  // give the SUBs time to reconnect before mempool.dat replays
        c.zmq = {{"rawtx", "tcp://127.0.0.1:0"}, {"hashtx", "tcp://127.0.0.1:0"}, {"rawblock", "tcp://127.0.0.1:0"}, {"hashblock", "tcp://127.0.0.1:0"}, {"sequence", "tcp://127.0.0.1:0"}, {"hashblock", shared}, {"hashtx", shared}};
        return c;
    }
};

//! Per-endpoint capture messages in [a, b): endpoint suffix -> list.
std::map<std::string, std::vector<json::object>> CaptureWindow(size_t a, size_t b)
{
    static const json::value msgs = LoadJson("zmq-messages.json");
    std::map<std::string, std::vector<json::object>> out;
    for (size_t i = a; i < b; ++i) {
        const auto& m = msgs.as_array()[i].as_object();
        std::string ep(m.at("endpoint").as_string());
        out[ep.substr(ep.size() - 5)].push_back(m);
    }
    return out;
}

std::string CapLabel(const json::object& m)
{
    const auto& f = m.at("frames").as_array();
    auto topic = vw::ParseHex(std::string(f[0].as_string()));
    std::string t(topic->begin(), topic->end());
    if (t == "sequence") {
        auto body = vw::ParseHex(std::string(f[1].as_string()));
        t += std::string(":") + static_cast<char>((*body)[32]);
    }
    return t;
}

uint32_t CapCounter(const json::object& m)
{
    auto c = vw::ParseHex(std::string(m.at("frames").as_array()[2].as_string()));
    return (*c)[0] | ((*c)[1] << 8) | ((*c)[2] << 16) | (uint32_t((*c)[3]) << 24);
}

class ZmqScenario : public ::testing::Test
{
protected:
    void SetUp() override
    {
        sim = std::make_unique<RegtestSim>(ScenarioSubs::Config());
        sim->Start();
        auto notes = sim->Call("getzmqnotifications").as_array();
        // Distinct addresses: the shared one is the address with two notifiers.
        std::map<std::string, std::vector<std::string>> by_addr;
        for (const auto& n : notes) by_addr[std::string(n.at("address").as_string())].push_back(std::string(n.at("type").as_string()).substr(3));
        for (const auto& [addr, topics] : by_addr) {
            const std::string key = topics.size() == 2 ? "28606" : topics[0] == "rawtx" ? "28601" : topics[0] == "hashtx" ? "28602" : topics[0] == "rawblock" ? "28603" : topics[0] == "hashblock" ? "28604" : "28605";
            subs.emplace(key, std::make_unique<ZmqSub>(ctx, addr, topics));
        }
        std::this_thread::sleep_for(300ms);  // let the SUBs finish connecting (slow joiner)
    }

    //! Receives, per endpoint, exactly as many messages as the capture window holds and checks
    //! labels (topic + sequence label) in order; counters too when exact_counters.
    std::map<std::string, std::vector<ZmqMsg>> ExpectWindow(size_t a, size_t b, bool exact_counters, const std::string& what)
    {
        SCOPED_TRACE(what);
        std::map<std::string, std::vector<ZmqMsg>> got;
        auto want = CaptureWindow(a, b);
        for (auto& [ep, sub] : subs) {
            const auto& w = want[ep];
            auto g = sub->RecvN(w.size());
            auto extra = sub->Drain(30ms);
            EXPECT_TRUE(extra.empty()) << ep << ": " << extra.size() << " unexpected messages, first " << Label(extra[0]);
            std::vector<std::string> wl, gl;
            for (const auto& m : w) wl.push_back(CapLabel(m) + (exact_counters ? "#" + std::to_string(CapCounter(m)) : ""));
            for (const auto& m : g) gl.push_back(Label(m) + (exact_counters ? "#" + std::to_string(m.counter) : ""));
            EXPECT_EQ(gl, wl) << "endpoint " << ep;
            for (const auto& m : g) {
                EXPECT_EQ(m.frames, 3u);
                EXPECT_EQ(m.counter_bytes.size(), 4u);
            }
            got[ep] = std::move(g);
        }
        return got;
    }

    zmq::context_t ctx{1};
    std::unique_ptr<RegtestSim> sim;
    std::map<std::string, std::unique_ptr<ZmqSub>> subs;
};

TEST_F(ZmqScenario, FramingCountersAndOrderMatchTheCaptureForBlocksMempoolAndRbf)
{
    const auto scenario = LoadJson("scenario.json");
    auto event = [&](const std::string& action, int nth) -> const json::object& {
        int k = 0;
        for (const auto& e : scenario.at("events").as_array()) {
            if (e.at("action").as_string() == action && k++ == nth) return e.as_object();
        }
        throw std::runtime_error("no event");
    };
    auto window = [&](const json::object& e) { return std::make_pair(static_cast<size_t>(e.at("msg_index_start").as_int64()), static_cast<size_t>(e.at("msg_index_end").as_int64())); };

    // 101 blocks: per block rawtx/hashtx (coinbase), C, hashblock/rawblock; counters as captured
    // (the genesis announcement consumed counter 0 of the tx and sequence notifiers).
    sim->Generate(101);
    auto [a0, b0] = window(event("generatetoaddress", 0));
    auto got = ExpectWindow(a0, b0, true, "generatetoaddress 101");
    // Hash byte order: hashblock body == getbestblockhash; rawblock == getblock 0; hashtx == txid.
    ASSERT_FALSE(got["28604"].empty());
    EXPECT_EQ(Hex(got["28604"].back().body), sim->BestBlockHash());
    EXPECT_EQ(Hex(got["28603"].back().body), sim->Call("getblock", {json::string(sim->BestBlockHash()), 0}).as_string());
    EXPECT_EQ(Hex(got["28602"].back().body), CoinbaseAt(*sim, 101));
    EXPECT_EQ(Hex(got["28601"].back().body), sim->Call("getrawtransaction", {json::string(CoinbaseAt(*sim, 101)), 0, json::string(sim->BestBlockHash())}).as_string());
    EXPECT_EQ(got["28605"].back().body.size(), 33u);
    EXPECT_EQ(Hex(got["28605"].back().body.substr(0, 32)), sim->BestBlockHash());

    // Five wallet-like sends (a chain of change outputs, like the capture's wallet), then RBF.
    const std::string cb1 = CoinbaseAt(*sim, 1), cb2 = CoinbaseAt(*sim, 2);
    std::string prev = cb1;
    int64_t value = 5000000000;
    const std::vector<std::string> spks = {P2WPKH_A, P2TR_A, P2PKH, P2SH};
    for (int i = 0; i < 4; ++i) {
        const int64_t pay = 10000000, fee = 2000;
        const auto tx = MakeTx({Op(prev, i == 0 ? 0 : 1)}, {{pay, spks[static_cast<size_t>(i)]}, {value - pay - fee, P2WPKH_B}}, 101);
        sim->Call("sendrawtransaction", {json::string(tx)});
        prev = TxidOf(tx);
        value -= pay + fee;
        auto [a, b] = window(event("sendtoaddress", i));
        auto g = ExpectWindow(a, b, true, "send " + std::to_string(i));
        EXPECT_EQ(MempoolSeq(g["28605"].at(0)), uint64_t(i + 1));
        EXPECT_EQ(Hex(g["28605"].at(0).body.substr(0, 32)), prev);
        EXPECT_EQ(g["28605"].at(0).body.size(), 41u);
    }
    const auto orig = MakeTx({Op(cb2, 0)}, {{70000000, P2TR_B}, {4929996700, P2WPKH_B}}, 101);
    sim->Call("sendrawtransaction", {json::string(orig)});
    auto [a5, b5] = window(event("sendtoaddress", 4));
    ExpectWindow(a5, b5, true, "replaceable send");
    const auto bump = MakeTx({Op(cb2, 0)}, {{70000000, P2TR_B}, {4929995168, P2WPKH_B}}, 101);
    sim->Call("sendrawtransaction", {json::string(bump)});
    auto [a6, b6] = window(event("bumpfee", 0));
    auto g6 = ExpectWindow(a6, b6, true, "bumpfee: R then A");
    ASSERT_EQ(g6["28605"].size(), 2u);
    EXPECT_EQ(Hex(g6["28605"][0].body.substr(0, 32)), TxidOf(orig));
    EXPECT_EQ(MempoolSeq(g6["28605"][0]), 6u);
    EXPECT_EQ(MempoolSeq(g6["28605"][1]), 7u);
    auto ms = sim->Call("getrawmempool", {false, true});
    EXPECT_EQ(ms.at("mempool_sequence").as_int64(), 8);

    // Block with the 5 txs: rawtx/hashtx for all (coinbase first), C, hashblock/rawblock; no R.
    sim->Generate(1);
    auto [a7, b7] = window(event("generatetoaddress", 1));
    auto g7 = ExpectWindow(a7, b7, true, "block connect with txs");
    EXPECT_EQ(Hex(g7["28606"].back().body), sim->BestBlockHash());
    // Mined txs advanced mempool_sequence silently: 8 + 5 = 13.
    EXPECT_EQ(sim->Call("getrawmempool", {false, true}).at("mempool_sequence").as_int64(), 13);
}

TEST_F(ZmqScenario, TwoBlockReorgAndReconsiderOrderMatchesTheCapture)
{
    const auto scenario = LoadJson("scenario.json");
    auto ev = [&](const std::string& action, int nth) {
        int k = 0;
        for (const auto& e : scenario.at("events").as_array()) {
            if (e.at("action").as_string() == action && k++ == nth) return std::make_pair(static_cast<size_t>(e.at("msg_index_start").as_int64()), static_cast<size_t>(e.at("msg_index_end").as_int64()));
        }
        throw std::runtime_error("no event");
    };
    sim->Generate(103);
    for (auto& [ep, s] : subs) s->Drain(50ms);
    // Tx A in block tip-1, tx B (spending A, anti-fee-sniping locktime) in the tip.
    const auto txa = MakeTx({Op(CoinbaseAt(*sim, 1), 0)}, {{12000000, P2TR_A}, {4987997000, P2WPKH_B}}, 103);
    sim->Call("sendrawtransaction", {json::string(txa)});
    sim->Generate(1);
    const std::string tip_minus_1 = sim->BestBlockHash();
    const auto txb = MakeTx({Op(TxidOf(txa), 1)}, {{13000000, P2TR_B}, {4974994000, P2WPKH_B}}, 104);
    sim->Call("sendrawtransaction", {json::string(txb)});
    sim->Generate(1);
    for (auto& [ep, s] : subs) s->Drain(50ms);

    // invalidateblock tip-1: D tip, A(B), D tip-1, A(A), R(B: non-final at the lower height).
    sim->Call("invalidateblock", {json::string(tip_minus_1)});
    auto g1 = ExpectWindow(ev("invalidateblock", 0).first, ev("invalidateblock", 0).second, false, "invalidateblock (2-block disconnect)");
    ASSERT_EQ(g1["28605"].size(), 5u);
    EXPECT_EQ(Hex(g1["28605"][4].body.substr(0, 32)), TxidOf(txb));
    EXPECT_EQ(sim->Height(), 103);
    // Three new blocks on the fork point.
    auto newblocks = sim->Call("generatetoaddress", {3, "bcrt1p7sd23hfeyd5dm3kzqn6ds7afjqgm952jwr9t832k5yueemg7cczqulwmyv"}).as_array();
    ExpectWindow(ev("generatetoaddress", 5).first, ev("generatetoaddress", 5).second, false, "generate 3");
    // reconsiderblock of the shorter old branch: nothing happens.
    sim->Call("reconsiderblock", {json::string(tip_minus_1)});
    ExpectWindow(ev("reconsiderblock", 0).first, ev("reconsiderblock", 0).second, false, "reconsider shorter branch");
    // invalidateblock of the first new block: back to the old branch, one hashblock per block.
    sim->Call("invalidateblock", {newblocks[0]});
    ExpectWindow(ev("invalidateblock", 1).first, ev("invalidateblock", 1).second, false, "invalidate new branch");
    // reconsiderblock: reorg to the 3-block branch, 2 D + 3 C, a single hashblock for the tip.
    sim->Call("reconsiderblock", {newblocks[0]});
    auto g4 = ExpectWindow(ev("reconsiderblock", 1).first, ev("reconsiderblock", 1).second, false, "reconsider longer branch");
    EXPECT_EQ(Hex(g4["28604"].at(0).body), std::string(newblocks[2].as_string()));
    auto tips = sim->Call("getchaintips").as_array();
    ASSERT_EQ(tips.size(), 2u);
    EXPECT_EQ(tips[1].at("status"), "valid-fork");
    EXPECT_EQ(tips[1].at("branchlen"), 2);
}

TEST_F(ZmqScenario, ConflictFromABlockPublishesRBeforeTheBlock)
{
    sim->Generate(101);
    for (auto& [ep, s] : subs) s->Drain(50ms);
    const std::string cb1 = CoinbaseAt(*sim, 1);
    const auto x = MakeTx({Op(cb1, 0)}, {{4999990000, P2TR_A}});
    sim->Call("sendrawtransaction", {json::string(x)});
    subs["28605"]->RecvN(1);
    const auto y = MakeTx({Op(cb1, 0)}, {{4999980000, P2TR_B}});
    sim->Call("generateblock", {json::string(vw::sim::DefaultMiningAddress()), json::array{json::string(y)}});
    auto seq = subs["28605"]->RecvN(2);
    ASSERT_EQ(seq.size(), 2u);
    EXPECT_EQ(Label(seq[0]), "sequence:R");
    EXPECT_EQ(Hex(seq[0].body.substr(0, 32)), TxidOf(x));
    EXPECT_EQ(Label(seq[1]), "sequence:C");
}

TEST_F(ZmqScenario, FaultInjectionDropSilenceRestart)
{
    sim->Generate(1);
    auto first = subs["28604"]->RecvN(1);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].counter, 0u);
    // Dropped messages still advance the counter: the subscriber sees a gap.
    sim->DropZmq(1);
    sim->Call("simdropzmq", {100});  // replaces the pending count
    sim->Generate(1);
    sim->Call("simdropzmq", {0});
    EXPECT_TRUE(subs["28604"]->Drain(50ms).empty());
    sim->DropZmq(0);
    // Silence.
    sim->SetZmqSilence(true);
    sim->Generate(1);
    EXPECT_TRUE(subs["28604"]->Drain(50ms).empty());
    sim->SetZmqSilence(false);
    for (auto& [ep, s] : subs) s->Drain(30ms);
    sim->Generate(1);
    auto after = subs["28604"]->RecvN(1);
    ASSERT_EQ(after.size(), 1u);
    EXPECT_EQ(after[0].counter, 3u);  // 1 and 2 were never delivered: a gap of two
    // Restart: counters restart at 0, mempool re-announced with mempool_sequence from 1.
    sim->Generate(100);
    const auto tx = MakeTx({Op(CoinbaseAt(*sim, 1), 0)}, {{4999990000, P2TR_A}});
    sim->Call("sendrawtransaction", {json::string(tx)});
    for (auto& [ep, s] : subs) s->Drain(30ms);
    const std::string old_pass = sim->RpcPassword();
    sim->Restart();
    auto re = subs["28605"]->RecvN(1);
    ASSERT_EQ(re.size(), 1u);
    EXPECT_EQ(re[0].counter, 0u);
    EXPECT_EQ(Label(re[0]), "sequence:A");
    EXPECT_EQ(MempoolSeq(re[0]), 1u);
    EXPECT_EQ(sim->RpcPassword(), old_pass);  // user/password auth: no cookie to rotate
    sim->Generate(1);
    auto hb = subs["28604"]->RecvN(1);
    ASSERT_EQ(hb.size(), 1u);
    EXPECT_EQ(hb[0].counter, 0u);
}

// ---- cookie, auth, transport faults --------------------------------------------------------------

std::filesystem::path TempDir(const std::string& tag)
{
    auto p = std::filesystem::temp_directory_path() / ("vw-sim-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(p);
    return p;
}

std::string ReadFile(const std::filesystem::path& p)
{
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

TEST(SimTransport, CookieFileLikeBitcoind)
{
    const auto spec = LoadJson("cookie-auth.json").at("cookie");
    const auto dir = TempDir("cookie");
    SimConfig cfg;
    cfg.datadir = dir;
    RegtestSim sim(cfg);
    sim.Start();
    const auto path = dir / "regtest" / ".cookie";
    ASSERT_TRUE(std::filesystem::exists(path));
    const std::string content = ReadFile(path);
    EXPECT_EQ(content.size(), static_cast<size_t>(spec.at("content_length_bytes").as_int64()));
    EXPECT_EQ(content.back() == '\n', spec.at("ends_with_newline").as_bool());
    EXPECT_TRUE(std::regex_match(content, std::regex("__cookie__:[0-9a-f]{64}")));
    EXPECT_EQ(content.substr(0, content.find(':')), spec.at("user").as_string());
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_FALSE(std::filesystem::exists(dir / "regtest" / ".cookie.tmp"));
    // Clients authenticate with base64 of the file content, like bitcoin-cli.
    const auto& rec = Exchange("cookie_auth_python_getblockcount");
    auto r = Rpc(sim.RpcPort(), "Basic " + B64(content), std::string(rec.at("request").at("body").as_string()));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "{\"result\":0,\"error\":null,\"id\":1}\n");
    // A restart writes a new secret; the old one fails.
    sim.Restart();
    const std::string content2 = ReadFile(path);
    EXPECT_NE(content2, content);
    EXPECT_EQ(Rpc(sim.RpcPort(), "Basic " + B64(content), R"({"id":1,"method":"getblockcount"})").status, 401);
    EXPECT_EQ(Rpc(sim.RpcPort(), "Basic " + B64(content2), R"({"id":1,"method":"getblockcount"})").status, 200);
    // RPC stop: "Bitcoin Core stopping", then the cookie is removed.
    auto s = Rpc(sim.RpcPort(), "Basic " + B64(content2), R"({"method":"stop","params":[],"id":1,"jsonrpc":"2.0"})");
    EXPECT_EQ(s.body, Exchange("cli_stop").at("response").at("body").as_string());
    EXPECT_TRUE(sim.WaitForShutdown(5s));
    EXPECT_EQ(std::filesystem::exists(path), !spec.at("deleted_on_shutdown").as_bool());
    std::filesystem::remove_all(dir);
}

TEST(SimTransport, AuthFailUnreachableSlowAndSimRpcControl)
{
    RegtestSim sim(WireConfig());
    sim.Start();
    const uint16_t port = sim.RpcPort();
    const std::string auth = sim.AuthorizationHeader();
    sim.FailAuth(2);
    auto r1 = Rpc(port, auth, R"({"id":1,"method":"getblockcount"})");
    EXPECT_EQ(r1.status, 401);
    EXPECT_EQ(r1.Header("WWW-Authenticate"), "Basic realm=\"jsonrpc\"");
    EXPECT_EQ(Rpc(port, auth, R"({"id":1,"method":"getblockcount"})").status, 401);
    EXPECT_EQ(Rpc(port, auth, R"({"id":1,"method":"getblockcount"})").status, 200);
    // Unreachable: connections refused, then back on the same port.
    sim.SetUnreachable(true);
    EXPECT_THROW(HttpConn{port}, boost::system::system_error);
    sim.SetUnreachable(false);
    EXPECT_EQ(Rpc(port, auth, R"({"id":1,"method":"getblockcount"})").status, 200);
    // Slow.
    sim.SetSlow(150ms);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(Rpc(port, auth, R"({"id":1,"method":"getblockcount"})").status, 200);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
    sim.SetSlow(0ms);
    // sim* control over RPC: warmup on (sim methods still work), reorg, mining.
    EXPECT_EQ(Rpc(port, auth, R"({"id":1,"method":"simwarmup","params":["on"]})").status, 200);
    auto w = Rpc(port, auth, R"({"id":1,"method":"getblockcount"})");
    EXPECT_EQ(w.status, 500);
    EXPECT_NE(w.body.find("-28"), std::string::npos);
    EXPECT_NE(w.body.find("Loading block index\xe2\x80\xa6"), std::string::npos);
    EXPECT_EQ(Rpc(port, auth, R"({"id":1,"method":"simwarmup","params":["off"]})").status, 200);
    EXPECT_EQ(Rpc(port, auth, R"({"id":1,"method":"simgenerate","params":[5]})").status, 200);
    const std::string before = sim.BestBlockHash();
    auto ro = json::parse(Rpc(port, auth, R"({"id":1,"method":"simreorg","params":[2]})").body);
    EXPECT_EQ(ro.at("result").as_array().size(), 3u);
    EXPECT_EQ(sim.Height(), 6);
    EXPECT_NE(sim.BestBlockHash(), before);
    EXPECT_EQ(json::parse(Rpc(port, auth, R"({"id":1,"method":"getblockheader","params":[")" + before + R"("]})").body).at("result").at("confirmations"), -1);
    // simrestart over RPC: the reply arrives, then the node is briefly down and comes back.
    EXPECT_EQ(Rpc(port, auth, R"({"id":1,"method":"simrestart"})").status, 200);
    bool back = false;
    for (int i = 0; i < 100 && !back; ++i) {
        std::this_thread::sleep_for(20ms);
        try {
            back = Rpc(port, auth, R"({"id":1,"method":"uptime"})").status == 200;
        } catch (const std::exception&) {
        }
    }
    EXPECT_TRUE(back);
}

TEST(SimTransport, DeploymentInfoShowsVaultWhenActive)
{
    auto cfg = WireConfig();
    cfg.vault_active = true;
    RegtestSim sim(cfg);
    sim.Start();
    auto d = sim.Call("getdeploymentinfo").at("deployments");
    EXPECT_TRUE(d.at("vault").at("active").as_bool());
    EXPECT_TRUE(d.at("checktemplateverify").at("active").as_bool());
    RegtestSim plain(WireConfig());
    plain.Start();
    EXPECT_FALSE(plain.Call("getdeploymentinfo").at("deployments").as_object().contains("vault"));
}

} // namespace
