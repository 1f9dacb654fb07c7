// The control port's vault and recovery methods, end to end: the real vaultwatchd process against
// the in-process regtest simulator, driven over keep-alive HTTP by a small synchronous Beast
// client (and vaultwatch-cli where that is the point). For every method: the happy path, each
// documented error with its JSON-RPC code, bad types, missing and unknown arguments, positional
// and named arguments, and after every error the daemon still runs and its state (listvaults,
// listevents, listrecoveries) is byte-for-byte what it was. Then the protocol (unknown method,
// malformed JSON, oversized bodies, batches, legacy 1.0 replies) and authentication (none, wrong,
// stale cookie across a restart, rpcauth lines computed here as share/rpcauth/rpcauth.py does).
#ifdef VW_HAVE_SIM

#include "crypto/sha256.h"
#include "process_util.h"
#include "primitives/block.h"
#include "primitives/transaction.h"
#include "regtest_sim.h"
#include "tx_util.h"
#include "util/bech32.h"
#include "util/hex.h"

#include "rpc/auth.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace vw::test {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;

// --- processes ----------------------------------------------------------------------------------

fs::path BinDir()
{
    // build/tests/daemon/vw_daemon_tests -> build/daemon/
    return fs::canonical("/proc/self/exe").parent_path().parent_path().parent_path() / "daemon";
}

template <typename F>
bool WaitFor(F&& f, std::chrono::milliseconds timeout = 15s)
{
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (f()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return f();
}

std::string B64(const std::string& s) { return rpc::BasicAuthHeader(s).substr(6); } // without "Basic "

//! The rpcauth line for user/password, computed as share/rpcauth/rpcauth.py does:
//! salt = 16 random bytes as hex, hmac = HMAC-SHA256(key=salt, msg=password) as hex.
std::string RpcAuthLine(const std::string& user, const std::string& password)
{
    std::mt19937_64 rng{std::random_device{}()};
    std::string salt;
    for (int i = 0; i < 16; ++i) {
        char b[3];
        std::snprintf(b, sizeof b, "%02x", static_cast<unsigned>(rng() & 0xff));
        salt += b;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), salt.data(), static_cast<int>(salt.size()), reinterpret_cast<const unsigned char*>(password.data()),
         password.size(), mac, &len);
    return user + ":" + salt + "$" + HexStr(ByteSpan{mac, len});
}

//! The simulator with user/password auth and ZMQ, as engine_tests' process mode runs it.
std::unique_ptr<sim::RegtestSim> StartSim()
{
    sim::SimConfig c;
    c.rpc_user = "u";
    c.rpc_password = "p";
    for (const char* t : {"rawtx", "hashblock", "sequence"}) c.zmq.push_back({t, "tcp://127.0.0.1:0"});
    auto s = std::make_unique<sim::RegtestSim>(c);
    s->Start();
    return s;
}

struct HttpResult {
    unsigned status{0};
    std::string body;
    bool keep_alive{false};
    std::string error; //!< transport failure (connect/write/read), empty when a response came
    json::value Json() const
    {
        boost::system::error_code ec;
        auto v = json::parse(body, ec);
        return ec ? json::value(nullptr) : v;
    }
};

//! A tiny synchronous HTTP/1.1 client over one keep-alive connection (reconnects when the server
//! closed it).
class HttpClient
{
public:
    explicit HttpClient(uint16_t port) : m_port(port) {}
    HttpResult Post(const std::string& body, const std::optional<std::string>& userpass, const std::string& target = "/",
                    http::verb verb = http::verb::post)
    {
        http::request<http::string_body> req{verb, target, 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::content_type, "application/json");
        if (userpass) req.set(http::field::authorization, "Basic " + B64(*userpass));
        req.keep_alive(true);
        req.body() = body;
        req.prepare_payload();
        return Send(req);
    }
    HttpResult Send(http::request<http::string_body>& req)
    {
        for (int attempt = 0;; ++attempt) {
            const bool reused = m_stream != nullptr;
            HttpResult r = Once(req);
            // A kept-alive connection the server closed in the meantime: retry once on a new one.
            if (!r.error.empty() && reused && attempt == 0) continue;
            return r;
        }
    }
    void Close() { m_stream.reset(); }

private:
    HttpResult Once(http::request<http::string_body>& req)
    {
        HttpResult out;
        beast::error_code ec;
        if (!m_stream) {
            m_stream = std::make_unique<beast::tcp_stream>(m_io);
            m_stream->expires_after(10s);
            m_stream->connect(net::ip::tcp::endpoint{net::ip::make_address("127.0.0.1"), m_port}, ec);
            if (ec) {
                m_stream.reset();
                out.error = "connect: " + ec.message();
                return out;
            }
        }
        m_stream->expires_after(30s);
        http::write(*m_stream, req, ec);
        if (ec) {
            m_stream.reset();
            out.error = "write: " + ec.message();
            return out;
        }
        beast::flat_buffer buf;
        http::response_parser<http::string_body> parser;
        parser.body_limit(256 * 1024 * 1024);
        http::read(*m_stream, buf, parser, ec);
        if (ec) {
            m_stream.reset();
            out.error = "read: " + ec.message();
            return out;
        }
        const auto& res = parser.get();
        out.status = res.result_int();
        out.body = res.body();
        out.keep_alive = res.keep_alive();
        if (!out.keep_alive) m_stream.reset();
        return out;
    }

    net::io_context m_io;
    uint16_t m_port;
    std::unique_ptr<beast::tcp_stream> m_stream;
};

//! The one launcher's vaultwatchd against the simulator (user/password auth to it).
class Vaultwatchd : public proc::Vaultwatchd
{
public:
    Vaultwatchd(fs::path datadir, uint16_t node_port, std::vector<std::string> extra = {})
        : proc::Vaultwatchd(BinDir() / "vaultwatchd", std::move(datadir))
    {
        node_args = {"--bitcoind.rpcport=" + std::to_string(node_port), "--bitcoind.rpcuser=u", "--bitcoind.rpcpassword=p"};
        extra_args = std::move(extra);
    }
    ~Vaultwatchd() override { Kill(SIGKILL); }

    //! Starts and waits until the control port answers getinfo with the cookie.
    bool StartAndWait()
    {
        Start();
        return WaitFor([&] {
            if (!Running()) return false;
            const auto c = Cookie();
            if (c.empty()) return false;
            HttpClient h{port()};
            return h.Post(R"({"jsonrpc":"2.0","id":0,"method":"getinfo"})", c).status == 200;
        });
    }
    bool Running() { return child().Running(); }
    std::optional<int> WaitExit(std::chrono::milliseconds timeout) { return child().Wait(timeout); }
    fs::path CookiePath() const { return NetDir() / ".cookie"; }
    std::string Cookie() const
    {
        std::string s = proc::ReadFile(CookiePath());
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
        return s.find(':') == std::string::npos ? std::string{} : s;
    }
};

fs::path TempDir(const std::string& prefix)
{
    auto d = fs::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    fs::create_directories(d);
    return d;
}

// --- vaults -------------------------------------------------------------------------------------




//! A presigned vault nobody funded: distinct per seed (the watched outpoint is a hash of it), with
//! a trigger and one recovery spending it. Registration does not need the outpoint to exist.
struct SyntheticVault {
    std::string json;
    std::string trigger_txid;
};

SyntheticVault MakeVault(uint64_t seed, int spend_delay = 20)
{
    Bytes tag{'v', 'w', 't'};
    for (int i = 0; i < 8; ++i) tag.push_back(static_cast<uint8_t>(seed >> (8 * i)));
    const Txid watched = Txid::FromUint256(crypto::Sha256Once(tag));
    const MutableTransaction trigger = Spend({watched, 0}, Amount{90'000}, P2TR(0xaa));
    const Txid ttxid = ComputeTxid(trigger);
    const MutableTransaction recovery = Spend({ttxid, 0}, Amount{80'000}, P2TR(0xcc));
    SyntheticVault v;
    v.trigger_txid = ttxid.ToString();
    v.json = R"({"kind":"presigned","label":"t)" + std::to_string(seed) + R"(","watch_outpoints":[{"txid":")" + watched.ToString() +
             R"(","vout":0}],"triggers":[{"txid":")" + v.trigger_txid + R"(","spend_delay":)" + std::to_string(spend_delay) +
             R"(,"recovery_txs":[")" + HexStr(SerializeTransaction(recovery)) + R"("]}]})";
    return v;
}

//! A JSON array of the arguments (no braced json::array temporaries: a single array argument
//! would be ambiguous between nesting and copying).
template <typename... T>
json::array A(T&&... xs)
{
    json::array a;
    (a.emplace_back(json::value(std::forward<T>(xs))), ...);
    return a;
}

std::string Field(const json::value& v, const char* k)
{
    if (!v.is_object() || !v.as_object().contains(k)) return "<" + std::string(k) + " missing in " + json::serialize(v) + ">";
    const auto& f = v.as_object().at(k);
    return f.is_string() ? std::string(f.as_string()) : json::serialize(f);
}

// --- the shared daemon ---------------------------------------------------------------------------

//! One simulator and one vaultwatchd for the whole suite (starting them costs about a second).
struct Env {
    fs::path dir;
    std::unique_ptr<sim::RegtestSim> sim;
    std::unique_ptr<Vaultwatchd> vwd;
    std::unique_ptr<HttpClient> http;
    std::string cookie;
    uint64_t next_seed{1000};
};
Env* g_env = nullptr;

class RpcMethods : public ::testing::Test
{
protected:
    static void SetUpTestSuite()
    {
        g_env = new Env;
        g_env->dir = TempDir("vw-rpcm");
        g_env->sim = StartSim();
        g_env->vwd = std::make_unique<Vaultwatchd>(g_env->dir / "vw", g_env->sim->RpcPort());
        if (!g_env->vwd->StartAndWait()) return;
        g_env->cookie = g_env->vwd->Cookie();
        g_env->http = std::make_unique<HttpClient>(g_env->vwd->port());
    }
    static void TearDownTestSuite()
    {
        if (!g_env) return;
        g_env->http.reset();
        g_env->vwd.reset();
        if (g_env->sim) g_env->sim->Stop();
        g_env->sim.reset();
        std::error_code ec;
        fs::remove_all(g_env->dir, ec);
        delete g_env;
        g_env = nullptr;
    }
    void SetUp() override
    {
        ASSERT_TRUE(g_env && g_env->http) << "vaultwatchd did not start: " << (g_env && g_env->vwd ? g_env->vwd->Log() : "");
        ASSERT_TRUE(g_env->vwd->Running()) << g_env->vwd->Log();
    }

    static HttpResult Raw(const std::string& body) { return g_env->http->Post(body, g_env->cookie); }

    //! A JSON-RPC 2.0 call; returns the whole reply object (null when the reply is not JSON).
    static json::value Rpc(const std::string& method, const json::value& params = nullptr)
    {
        json::object req{{"jsonrpc", "2.0"}, {"id", 7}, {"method", method}};
        if (!params.is_null()) req["params"] = params;
        const auto r = Raw(json::serialize(req));
        auto v = r.Json();
        if (!v.is_object()) ADD_FAILURE() << method << ": HTTP " << r.status << " " << r.error << " " << r.body;
        else EXPECT_EQ(r.status, 200u) << method << ": " << r.body; // JSON-RPC 2.0: errors travel in HTTP 200
        return v;
    }
    //! The result of a call that must succeed.
    static json::value Ok(const std::string& method, const json::value& params = nullptr)
    {
        auto v = Rpc(method, params);
        if (!v.is_object() || !v.as_object().contains("result") || v.as_object().contains("error")) {
            ADD_FAILURE() << method << " " << json::serialize(params) << " failed: " << json::serialize(v);
            return nullptr;
        }
        const auto& r = v.at("result");
        EXPECT_TRUE(r.is_object()) << method << ": every result is an object: " << json::serialize(r);
        return r;
    }
    //! Everything an error must leave alone.
    static std::string State()
    {
        return json::serialize(Ok("listvaults")) + json::serialize(Ok("listvaults", A("removed"))) +
               json::serialize(Ok("listevents", A(0, 1000))) + json::serialize(Ok("listrecoveries"));
    }
    //! Calls method with params, expects error `code` (and `contains` in its message), then checks
    //! that the daemon still runs and that State() did not change.
    static void ExpectError(const std::string& method, const json::value& params, int code, const std::string& contains = "")
    {
        const std::string before = State();
        const auto v = Rpc(method, params);
        const std::string what = method + " " + json::serialize(params) + " -> " + json::serialize(v);
        ASSERT_TRUE(v.is_object()) << what;
        const auto* err = v.as_object().if_contains("error");
        ASSERT_TRUE(err && err->is_object()) << what;
        EXPECT_FALSE(v.as_object().contains("result")) << "JSON-RPC 2.0: only one of result/error: " << what;
        EXPECT_EQ(err->at("code").to_number<int64_t>(), code) << what;
        EXPECT_TRUE(err->at("message").is_string()) << what;
        if (!contains.empty() && err->at("message").is_string()) {
            EXPECT_NE(std::string(err->at("message").as_string()).find(contains), std::string::npos) << what;
        }
        EXPECT_EQ(v.at("id"), 7) << what;
        EXPECT_TRUE(g_env->vwd->Running()) << what << "\n" << g_env->vwd->Log();
        EXPECT_EQ(State(), before) << "state changed by a failed call: " << what;
    }
    //! Registers a fresh synthetic vault; returns its id.
    static std::string NewVault(SyntheticVault* out = nullptr, const std::string& policy = "")
    {
        auto v = MakeVault(g_env->next_seed++);
        if (!policy.empty()) v.json.insert(v.json.size() - 1, R"(,"policy":)" + policy);
        if (out) *out = v;
        const auto r = Ok("registervault", A(json::parse(v.json)));
        return Field(r, "vault_id");
    }
};

constexpr int kTypeError = -3, kNotFound = -5, kInvalidParameter = -8, kInvalidRequest = -32600, kMethodNotFound = -32601,
              kInvalidParams = -32602, kParseError = -32700;
const std::string kUnknownVault = "v-0123456789abcdef";
const std::string kZeroHash(64, '0');

TEST_F(RpcMethods, Help)
{
    const auto all = Ok("help");
    ASSERT_TRUE(all.at("help").is_string());
    const std::string text{all.at("help").as_string()};
    for (const char* m : {"help", "getinfo", "stop", "registervault", "registervaults", "getvault", "listvaults", "removevault",
                          "setpolicy", "approvetrigger", "listapprovals", "revokeapproval", "listrecoveries", "getrecovery",
                          "listevents"}) {
        EXPECT_NE(text.find(std::string("\n") + m), std::string::npos) << m << " missing from help:\n" << text;
    }
    const auto one = Ok("help", A("getvault"));
    EXPECT_NE(Field(one, "help").find("vault_id"), std::string::npos);
    EXPECT_EQ(Ok("help", json::object{{"command", "getvault"}}), one) << "named == positional";
    EXPECT_EQ(Ok("help", A(nullptr)), all) << "null is an omitted optional argument";
    ExpectError("help", A("nosuchmethod"), kInvalidParameter, "unknown command");
    ExpectError("help", A(42), kTypeError, "command");
    ExpectError("help", A("getvault", "x"), kInvalidParams, "at most 1");
    ExpectError("help", json::object{{"cmd", "getvault"}}, kInvalidParameter, "unknown named parameter");
}

TEST_F(RpcMethods, GetInfo)
{
    const auto info = Ok("getinfo");
    EXPECT_EQ(Field(info, "chain"), "regtest");
    for (const char* k : {"version", "node", "node_detail", "height", "best_block_hash", "node_height", "caught_up", "zmq_gaps",
                          "zmq_restarts", "vaults", "opvault_enforced"}) {
        EXPECT_TRUE(info.as_object().contains(k)) << k << " missing: " << json::serialize(info);
    }
    EXPECT_EQ(Ok("getinfo", A()).as_object().size(), info.as_object().size()) << "[] == no params";
    ExpectError("getinfo", A(1), kInvalidParams, "at most 0");
    ExpectError("getinfo", json::object{{"verbose", true}}, kInvalidParameter, "unknown named parameter");
}

TEST_F(RpcMethods, RegisterVault)
{
    const auto v = MakeVault(g_env->next_seed++);
    const auto reg = Ok("registervault", A(json::parse(v.json)));
    const std::string vid = Field(reg, "vault_id");
    EXPECT_EQ(vid.size(), 18u) << json::serialize(reg);
    EXPECT_EQ(Field(reg, "kind"), "presigned");
    EXPECT_EQ(Field(reg, "state"), "active");
    EXPECT_FALSE(reg.as_object().contains("already_registered"));
    // The same content again (named this time): the existing vault, flagged, and no new event.
    const std::string before = State();
    const auto again = Ok("registervault", json::object{{"vault", json::parse(v.json)}});
    EXPECT_EQ(Field(again, "vault_id"), vid);
    EXPECT_EQ(Field(again, "already_registered"), "true") << json::serialize(again);
    EXPECT_EQ(State(), before);
    // The event log has it.
    bool seen = false;
    const auto events = Ok("listevents", A(0, 1000));
    for (const auto& e : events.at("events").as_array()) {
        seen |= e.at("type") == "vault.registered" && e.at("vault_id") == json::value(vid);
    }
    EXPECT_TRUE(seen);

    // Errors: argument binding.
    ExpectError("registervault", nullptr, kInvalidParams, "missing required argument 'vault'");
    ExpectError("registervault", A(), kInvalidParams, "missing required argument 'vault'");
    ExpectError("registervault", A(v.json), kTypeError, "must be object, got string");
    ExpectError("registervault", A(json::array()), kTypeError);
    ExpectError("registervault", A(json::parse(v.json), 1), kInvalidParams, "at most 1");
    ExpectError("registervault", json::object{{"vault", json::parse(v.json)}, {"label", "x"}}, kInvalidParameter,
                "unknown named parameter 'label'");
    ExpectError("registervault", "params as a string", kInvalidRequest);
    // Errors: the registration object.
    ExpectError("registervault", A(json::object{}), kInvalidParameter, "kind");
    ExpectError("registervault", A(json::object{{"kind", "multisig"}}), kInvalidParameter, "kind");
    ExpectError("registervault", A(json::object{{"kind", "presigned"}}), kInvalidParameter, "watch_outpoints");
    auto bad_hex = json::parse(v.json);
    bad_hex.at("triggers").as_array()[0].as_object()["recovery_txs"] = A("zz");
    ExpectError("registervault", A(bad_hex), kInvalidParameter);
    auto bad_delay = json::parse(v.json);
    bad_delay.at("triggers").as_array()[0].as_object()["spend_delay"] = 0;
    ExpectError("registervault", A(bad_delay), kInvalidParameter, "spend_delay");
    auto bad_txid = json::parse(v.json);
    bad_txid.at("watch_outpoints").as_array()[0].as_object()["txid"] = "1234";
    ExpectError("registervault", A(bad_txid), kInvalidParameter);
    auto unknown_field = json::parse(v.json);
    unknown_field.as_object()["internal_key"] = kZeroHash;
    ExpectError("registervault", A(unknown_field), kInvalidParameter, "internal_key");
    auto bad_policy = json::parse(MakeVault(g_env->next_seed++).json);
    bad_policy.as_object()["policy"] = json::object{{"mode", "delayed"}, {"grace_blocks", 19}};
    ExpectError("registervault", A(bad_policy), kInvalidParameter, "grace_blocks");
    auto bad_birth = json::parse(MakeVault(g_env->next_seed++).json);
    bad_birth.as_object()["birth_height"] = "100";
    ExpectError("registervault", A(bad_birth), kInvalidParameter, "birth_height");
    // opvault: the simulator does not enforce OP_VAULT (-8 once it said so, -9 before).
    ASSERT_TRUE(WaitFor([] { return Ok("getinfo").at("opvault_enforced").is_bool(); }));
    const json::value opv = json::parse(R"({"kind":"opvault","internal_key":")" + std::string(64, '1') +
                                        R"(","leaves":[{"script":"51","depth":0}],"recovery_script_pubkey":"51"})");
    ExpectError("registervault", A(opv), kInvalidParameter, "does not enforce OP_VAULT");
}

TEST_F(RpcMethods, RegisterVaults)
{
    const auto a = MakeVault(g_env->next_seed++), b = MakeVault(g_env->next_seed++), c = MakeVault(g_env->next_seed++);
    const auto before_count = Ok("listvaults").at("vaults").as_array().size();
    const auto r = Ok("registervaults", A(A(json::parse(a.json), json::parse(b.json), json::parse(c.json))));
    const auto& results = r.at("results").as_array();
    ASSERT_EQ(results.size(), 3u) << json::serialize(r);
    for (const auto& x : results) EXPECT_EQ(Field(x, "state"), "active") << json::serialize(x);
    EXPECT_EQ(Ok("listvaults").at("vaults").as_array().size(), before_count + 3);
    // Named, and mixed: each element gets its own result or error, in order.
    const auto d = MakeVault(g_env->next_seed++);
    const auto mixed = Ok("registervaults", json::object{{"vaults", A(json::parse(d.json), 5, json::object{{"kind", "x"}},
                                                                                json::parse(a.json))}});
    const auto& m = mixed.at("results").as_array();
    ASSERT_EQ(m.size(), 4u) << json::serialize(mixed);
    EXPECT_EQ(Field(m[0], "state"), "active");
    EXPECT_EQ(m[1].at("error").at("code"), kTypeError) << json::serialize(m[1]);
    EXPECT_EQ(m[2].at("error").at("code"), kInvalidParameter) << json::serialize(m[2]);
    EXPECT_EQ(Field(m[3], "already_registered"), "true");
    EXPECT_EQ(Field(m[3], "vault_id"), Field(results[0], "vault_id"));
    EXPECT_EQ(Ok("listvaults").at("vaults").as_array().size(), before_count + 4);
    // Empty batch: nothing to do.
    EXPECT_TRUE(Ok("registervaults", A(json::array())).at("results").as_array().empty());

    ExpectError("registervaults", nullptr, kInvalidParams, "missing required argument 'vaults'");
    ExpectError("registervaults", A(json::parse(a.json)), kTypeError, "must be array, got object");
    ExpectError("registervaults", json::object{{"vault", A()}}, kInvalidParameter, "unknown named parameter");
    // Over the documented cap of 10000: refused as a whole (elements are not even looked at).
    json::array many;
    many.reserve(10001);
    for (int i = 0; i < 10001; ++i) many.emplace_back(json::object{});
    ExpectError("registervaults", A(std::move(many)), kInvalidParameter, "at most 10000");
}

TEST_F(RpcMethods, GetVaultAndListVaults)
{
    const std::string vid = NewVault();
    const auto g = Ok("getvault", A(vid));
    for (const char* k : {"vault_id", "kind", "state", "utxos", "triggers", "recoveries", "policy"}) {
        EXPECT_TRUE(g.as_object().contains(k)) << k << " missing: " << json::serialize(g);
    }
    EXPECT_EQ(Field(g, "vault_id"), vid);
    EXPECT_EQ(Field(g, "state"), "active");
    EXPECT_EQ(Field(g.at("policy"), "mode"), "recover") << "the default policy";
    EXPECT_TRUE(g.at("triggers").as_array().empty());
    EXPECT_EQ(Ok("getvault", json::object{{"vault_id", vid}}), g) << "named == positional";

    ExpectError("getvault", A(kUnknownVault), kNotFound, "no vault");
    ExpectError("getvault", A("not-a-vault-id"), kNotFound);
    ExpectError("getvault", A(""), kNotFound);
    ExpectError("getvault", A(42), kTypeError, "must be string, got integer");
    ExpectError("getvault", A(json::object{{"vault_id", vid}}), kTypeError);
    ExpectError("getvault", A(nullptr), kTypeError, "got null"); // null for a required argument
    ExpectError("getvault", nullptr, kInvalidParams, "missing required argument 'vault_id'");
    ExpectError("getvault", A(vid, vid), kInvalidParams);
    ExpectError("getvault", json::object{{"id", vid}}, kInvalidParameter, "unknown named parameter 'id'");

    const auto l = Ok("listvaults");
    bool found = false;
    for (const auto& s : l.at("vaults").as_array()) {
        for (const char* k : {"vault_id", "kind", "label", "state"}) EXPECT_TRUE(s.as_object().contains(k)) << json::serialize(s);
        found |= s.at("vault_id") == json::value(vid);
    }
    EXPECT_TRUE(found);
    EXPECT_EQ(Ok("listvaults", A("active")), l) << "every vault here is active";
    EXPECT_EQ(Ok("listvaults", json::object{{"state", "active"}}), l);
    EXPECT_EQ(Ok("listvaults", A(nullptr)), l);
    EXPECT_TRUE(Ok("listvaults", A("triggered")).at("vaults").as_array().empty());
    ExpectError("listvaults", A(1), kTypeError);
    ExpectError("listvaults", A("active", 1), kInvalidParams);
    // An unknown state is a typo, not an empty answer: an operator asking for "trigered" vaults
    // must not be told there are none.
    ExpectError("listvaults", A("trigered"), kInvalidParameter);
}

TEST_F(RpcMethods, RemoveVault)
{
    SyntheticVault sv;
    const std::string vid = NewVault(&sv);
    ExpectError("removevault", nullptr, kInvalidParams);
    ExpectError("removevault", A(1), kTypeError);
    ExpectError("removevault", A(kUnknownVault), kNotFound, "no vault");
    const auto r = Ok("removevault", json::object{{"vault_id", vid}});
    EXPECT_EQ(Field(r, "vault_id"), vid);
    EXPECT_EQ(Field(r, "removed"), "true");
    const auto listed_now = Ok("listvaults");
    for (const auto& s : listed_now.at("vaults").as_array()) EXPECT_NE(s.at("vault_id"), json::value(vid));
    bool listed = false;
    const auto removed = Ok("listvaults", A("removed"));
    for (const auto& s : removed.at("vaults").as_array()) {
        if (s.at("vault_id") == json::value(vid)) {
            listed = true;
            EXPECT_EQ(Field(s, "state"), "removed");
        }
    }
    EXPECT_TRUE(listed) << "removed vaults are listed when asked for by state";
    bool logged = false;
    const auto events = Ok("listevents", A(0, 1000));
    for (const auto& e : events.at("events").as_array()) {
        logged |= e.at("type") == "vault.removed" && e.at("vault_id") == json::value(vid);
    }
    EXPECT_TRUE(logged);
    // A removed vault is gone for every vault method.
    ExpectError("removevault", A(vid), kNotFound);
    ExpectError("getvault", A(vid), kNotFound);
    ExpectError("setpolicy", A(vid, json::object{{"mode", "alert"}}), kNotFound);
    ExpectError("approvetrigger", json::object{{"vault_id", vid}, {"trigger_txid", sv.trigger_txid}}, kNotFound);
    ExpectError("listapprovals", A(vid), kNotFound);
    // Registering it again watches it again.
    const auto again = Ok("registervault", A(json::parse(sv.json)));
    EXPECT_EQ(Field(again, "vault_id"), vid);
    EXPECT_EQ(Field(again, "state"), "active") << json::serialize(again);
    EXPECT_EQ(Field(Ok("getvault", A(vid)), "state"), "active");
}

TEST_F(RpcMethods, SetPolicy)
{
    const std::string vid = NewVault(); // spend_delay 20
    const auto r = Ok("setpolicy", A(vid, json::object{{"mode", "delayed"}, {"grace_blocks", 6}}));
    EXPECT_EQ(Field(r, "vault_id"), vid);
    EXPECT_EQ(json::serialize(r.at("policy")), R"({"mode":"delayed","grace_blocks":6})");
    EXPECT_EQ(Ok("getvault", A(vid)).at("policy"), r.at("policy"));
    const auto alert = Ok("setpolicy", json::object{{"vault_id", vid}, {"policy", json::object{{"mode", "alert"}}}});
    EXPECT_EQ(Field(alert.at("policy"), "mode"), "alert");
    // The largest grace that leaves the 3-block recovery window: 20 - 3.
    EXPECT_EQ(Field(Ok("setpolicy", A(vid, json::object{{"mode", "delayed"}, {"grace_blocks", 17}})).at("policy"),
                    "grace_blocks"),
              "17");

    ExpectError("setpolicy", A(vid, json::object{{"mode", "delayed"}, {"grace_blocks", 18}}), kInvalidParameter,
                "grace_blocks");
    ExpectError("setpolicy", A(vid, json::object{{"mode", "delayed"}}), kInvalidParameter, "grace_blocks");
    ExpectError("setpolicy", A(vid, json::object{{"mode", "alert"}, {"grace_blocks", 2}}), kInvalidParameter);
    ExpectError("setpolicy", A(vid, json::object{{"mode", "panic"}}), kInvalidParameter, "policy.mode");
    ExpectError("setpolicy", A(vid, json::object{{"mode", 1}}), kInvalidParameter);
    ExpectError("setpolicy", A(vid, json::object{{"mode", "recover"}, {"extra", 1}}), kInvalidParameter, "extra");
    ExpectError("setpolicy", A(vid, json::object{{"mode", "delayed"}, {"grace_blocks", -1}}), kInvalidParameter);
    ExpectError("setpolicy", A(vid, "alert"), kTypeError, "must be object");
    ExpectError("setpolicy", A(vid), kInvalidParams, "missing required argument 'policy'");
    ExpectError("setpolicy", json::object{{"policy", json::object{{"mode", "alert"}}}}, kInvalidParams, "vault_id");
    ExpectError("setpolicy", A(kUnknownVault, json::object{{"mode", "alert"}}), kNotFound);
    ExpectError("setpolicy", A(7, json::object{{"mode", "alert"}}), kTypeError);
}

TEST_F(RpcMethods, Approvals)
{
    SyntheticVault sv;
    const std::string vid = NewVault(&sv);
    EXPECT_TRUE(Ok("listapprovals", A(vid)).at("approvals").as_array().empty());
    const auto a1 = Ok("approvetrigger", json::object{{"vault_id", vid}, {"trigger_txid", sv.trigger_txid}, {"expiry_height", 900}});
    EXPECT_EQ(Field(a1, "vault_id"), vid);
    ASSERT_TRUE(a1.at("approval_id").is_int64()) << json::serialize(a1);
    // Positional: vault_id, ctv_hash (null = omitted), trigger_txid.
    const auto a2 = Ok("approvetrigger", A(vid, nullptr, kZeroHash));
    ASSERT_TRUE(a2.at("approval_id").is_int64());
    EXPECT_NE(a2.at("approval_id"), a1.at("approval_id"));
    const auto list = Ok("listapprovals", json::object{{"vault_id", vid}}).at("approvals").as_array();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].at("approval_id"), a1.at("approval_id"));
    EXPECT_EQ(Field(list[0], "expiry_height"), "900") << json::serialize(list[0]);
    EXPECT_EQ(Field(list[0], "revoked"), "false") << json::serialize(list[0]);

    ExpectError("approvetrigger", A(vid), kInvalidParameter, "missing ctv_hash");
    ExpectError("approvetrigger", A(vid, kZeroHash), kInvalidParameter, "trigger_txid"); // a CTV hash on a presigned vault
    ExpectError("approvetrigger", A(vid, kZeroHash, kZeroHash), kInvalidParameter, "not both");
    ExpectError("approvetrigger", json::object{{"vault_id", vid}, {"trigger_txid", "abcd"}}, kTypeError, "64 hex");
    ExpectError("approvetrigger", json::object{{"vault_id", vid}, {"trigger_txid", std::string(64, 'g')}}, kTypeError, "hex");
    ExpectError("approvetrigger", json::object{{"vault_id", vid}, {"trigger_txid", 5}}, kTypeError);
    ExpectError("approvetrigger", json::object{{"vault_id", vid}, {"trigger_txid", sv.trigger_txid}, {"expiry_height", "900"}},
                kTypeError, "expiry_height");
    ExpectError("approvetrigger", json::object{{"vault_id", vid}, {"trigger_txid", sv.trigger_txid}, {"expiry_height", -1}},
                kInvalidParameter, "expiry_height");
    ExpectError("approvetrigger", json::object{{"vault_id", vid}, {"trigger_txid", sv.trigger_txid}, {"expiry_height", 1.5}},
                kTypeError);
    ExpectError("approvetrigger", json::object{{"trigger_txid", sv.trigger_txid}}, kInvalidParams, "vault_id");
    ExpectError("approvetrigger", json::object{{"vault_id", kUnknownVault}, {"trigger_txid", sv.trigger_txid}}, kNotFound);
    ExpectError("approvetrigger", A(vid, nullptr, sv.trigger_txid, 1, 2), kInvalidParams);
    ExpectError("listapprovals", A(kUnknownVault), kNotFound);
    ExpectError("listapprovals", nullptr, kInvalidParams);
    ExpectError("listapprovals", A(true), kTypeError);

    const auto rv = Ok("revokeapproval", A(a1.at("approval_id")));
    EXPECT_EQ(rv.at("approval_id"), a1.at("approval_id"));
    EXPECT_EQ(Field(rv, "revoked"), "true");
    const auto after = Ok("listapprovals", A(vid)).at("approvals").as_array();
    ASSERT_EQ(after.size(), 2u) << "revoked ones are listed";
    EXPECT_EQ(Field(after[0], "revoked"), "true");
    EXPECT_EQ(Field(after[1], "revoked"), "false");
    EXPECT_EQ(Field(Ok("revokeapproval", json::object{{"approval_id", a2.at("approval_id")}}), "revoked"), "true");

    ExpectError("revokeapproval", A(999999), kNotFound, "no approval");
    ExpectError("revokeapproval", A(-1), kNotFound);
    ExpectError("revokeapproval", A("1"), kTypeError, "must be integer, got string");
    ExpectError("revokeapproval", A(1.0), kTypeError);
    ExpectError("revokeapproval", nullptr, kInvalidParams);
    // An integer beyond int64 is refused by the binder, not thrown on by the handler.
    ExpectError("revokeapproval", json::parse("[18446744073709551615]"), kTypeError, "out of range");
}

TEST_F(RpcMethods, RecoveriesAndEventsErrors)
{
    const std::string vid = NewVault();
    EXPECT_TRUE(Ok("listrecoveries", A(vid)).at("recoveries").as_array().empty());
    EXPECT_TRUE(Ok("listrecoveries", json::object{{"vault_id", vid}}).at("recoveries").as_array().empty());
    ExpectError("listrecoveries", A(5), kTypeError);
    ExpectError("listrecoveries", A(vid, 1), kInvalidParams);
    ExpectError("getrecovery", A(kZeroHash), kNotFound, "no recovery");
    ExpectError("getrecovery", A("xyz"), kTypeError, "hex");
    ExpectError("getrecovery", A(std::string(62, 'a')), kTypeError, "64 hex");
    ExpectError("getrecovery", nullptr, kInvalidParams, "missing required argument 'txid'");
    ExpectError("getrecovery", json::object{{"recovery", kZeroHash}}, kInvalidParameter);

    // listevents: defaults after=0 count=100, oldest first, count capped at 1000.
    const auto all = Ok("listevents", A(0, 1000)).at("events").as_array();
    ASSERT_GE(all.size(), 1u);
    for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].at("seq").as_int64(), all[i].at("seq").as_int64());
    for (const char* k : {"seq", "type", "created_at", "vault_id", "txid", "height", "data"}) {
        EXPECT_TRUE(all[0].as_object().contains(k)) << k << " missing: " << json::serialize(all[0]);
    }
    const auto first_seq = all[0].at("seq").as_int64();
    const auto two = Ok("listevents", json::object{{"after", first_seq - 1}, {"count", 2}}).at("events").as_array();
    ASSERT_EQ(two.size(), std::min<size_t>(2, all.size()));
    EXPECT_EQ(two[0].at("seq").as_int64(), first_seq);
    EXPECT_EQ(Ok("listevents").at("events").as_array().size(), std::min<size_t>(100, all.size()));
    EXPECT_TRUE(Ok("listevents", A(all.back().at("seq"))).at("events").as_array().empty());
    EXPECT_TRUE(Ok("listevents", A(0, 0)).at("events").as_array().empty());
    EXPECT_EQ(Ok("listevents", A(0, 5000)).at("events").as_array().size(), std::min<size_t>(1000, all.size()));
    ExpectError("listevents", A(0, -1), kInvalidParameter, "count");
    ExpectError("listevents", A("0"), kTypeError);
    ExpectError("listevents", A(0, 1.5), kTypeError);
    ExpectError("listevents", A(0, 1, 2), kInvalidParams);
    ExpectError("listevents", json::object{{"since", 0}}, kInvalidParameter);
}

TEST_F(RpcMethods, RecoverVaultErrors)
{
    SyntheticVault sv;
    const std::string vid = NewVault(&sv);
    ExpectError("recovervault", nullptr, kInvalidParams, "missing required argument 'vault_id'");
    ExpectError("recovervault", A(7), kTypeError);
    ExpectError("recovervault", A(vid, 1), kInvalidParams);
    ExpectError("recovervault", A(kUnknownVault), kNotFound, "no vault");
    // Untriggered and registered without emergency txs: nothing pre-signed can sweep it yet.
    ExpectError("recovervault", A(vid), -1, "nothing to sweep");
    Ok("removevault", A(vid));
    ExpectError("recovervault", A(vid), kNotFound);
}

TEST_F(RpcMethods, RescanErrors)
{
    if (Ok("getinfo").at("height").as_int64() < 0) {
        // A fresh regtest node is in initial block download: nothing is followed yet.
        ExpectError("rescan", A(0), -9, "not following the chain yet");
        g_env->sim->Generate(1);
        ASSERT_TRUE(WaitFor([] { return Ok("getinfo").at("height").as_int64() >= 1; })) << g_env->vwd->Log();
    }
    ExpectError("rescan", nullptr, kInvalidParams, "missing required argument 'from_height'");
    ExpectError("rescan", A("100"), kTypeError);
    ExpectError("rescan", A(1.5), kTypeError);
    ExpectError("rescan", A(-1), kInvalidParameter, "from_height");
    ExpectError("rescan", A(100000000), kInvalidParameter, "between 0 and the tip");
    ExpectError("rescan", A(int64_t{1} << 40), kInvalidParameter, "from_height");
    ExpectError("rescan", A(0, kUnknownVault), kNotFound, "no vault");
    ExpectError("rescan", A(0, 5), kTypeError);
    ExpectError("rescan", json::object{{"from", 0}}, kInvalidParameter);
}

TEST_F(RpcMethods, GetFeeWallet)
{
    const auto w = Ok("getfeewallet");
    for (const char* k : {"address", "script_pubkey", "balance", "pending_balance", "reserve", "low", "utxos", "coverage"}) {
        EXPECT_TRUE(w.as_object().contains(k)) << k << " missing: " << json::serialize(w);
    }
    EXPECT_EQ(Field(w, "address").rfind("bcrt1p", 0), 0u);
    EXPECT_EQ(Field(w, "balance"), "0");
    EXPECT_EQ(Field(w, "low"), "false") << "no reserve configured: never low";
    EXPECT_TRUE(w.at("utxos").as_array().empty());
    EXPECT_EQ(Field(w.at("coverage"), "recoveries"), "0");
    EXPECT_EQ(Field(w.at("coverage"), "feerate_source"), "fallbackfeerate");
    EXPECT_EQ(Field(w.at("coverage"), "feerate_sat_per_kvb"), "20000");
    EXPECT_EQ(json::serialize(Ok("getfeewallet")), json::serialize(w)) << "stable";
    // The reserve, at the current rate or at one asked for.
    for (const char* k : {"feerate_sat_per_kvb", "recoveries", "fee_per_recovery", "coin", "amount"}) {
        EXPECT_TRUE(w.at("reserve_needed").as_object().contains(k)) << k;
    }
    EXPECT_EQ(Field(w.at("reserve_needed"), "feerate_sat_per_kvb"), "20000");
    const auto at = Ok("getfeewallet", A(50000));
    EXPECT_EQ(Field(at.at("reserve_needed"), "feerate_sat_per_kvb"), "50000");
    ExpectError("getfeewallet", A(1, 2), kInvalidParams);
    ExpectError("getfeewallet", A(-1), kInvalidParameter, "feerate_sat_per_kvb");
    ExpectError("getfeewallet", A("fast"), kTypeError);
    ExpectError("getfeewallet", json::object{{"verbose", true}}, kInvalidParameter);
}

TEST_F(RpcMethods, ProtocolErrors)
{
    const std::string before = State();
    auto code_of = [](const json::value& v) { return v.at("error").at("code").to_number<int64_t>(); };
    // Unknown method: 2.0 -> HTTP 200, legacy -> HTTP 404 with result:null (as bitcoind).
    auto r = Raw(R"({"jsonrpc":"2.0","id":1,"method":"nosuchmethod"})");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(code_of(r.Json()), kMethodNotFound);
    r = Raw(R"({"id":1,"method":"nosuchmethod","params":[]})");
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(code_of(r.Json()), kMethodNotFound);
    EXPECT_TRUE(r.Json().at("result").is_null());
    // Legacy 1.0 request: both members; other errors are HTTP 500.
    r = Raw(R"({"jsonrpc":"1.0","id":"x","method":"getvault","params":["v-0123456789abcdef"]})");
    EXPECT_EQ(r.status, 500u);
    EXPECT_EQ(code_of(r.Json()), kNotFound);
    EXPECT_EQ(r.Json().at("id"), "x");
    r = Raw(R"({"jsonrpc":"1.0","id":"x","method":"getinfo","params":[]})");
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.Json().at("error").is_null());
    // Malformed JSON and non-request bodies.
    for (const char* body : {"{not json", "", "{\"method\":", "[1,2", "\xff\xfe", "42", "\"getinfo\"", "null"}) {
        r = Raw(body);
        EXPECT_EQ(r.status, 500u) << body;
        EXPECT_EQ(code_of(r.Json()), kParseError) << body << " -> " << r.body;
    }
    std::string deep(200, '[');
    deep += std::string(200, ']');
    r = Raw(deep);
    EXPECT_EQ(code_of(r.Json()), kParseError) << "nesting beyond the parser's depth limit";
    // Invalid requests.
    r = Raw(R"({"jsonrpc":"2.0","id":1})");
    EXPECT_EQ(code_of(r.Json()), kInvalidRequest);
    r = Raw(R"({"jsonrpc":"2.0","id":1,"method":5})");
    EXPECT_EQ(code_of(r.Json()), kInvalidRequest);
    r = Raw(R"({"jsonrpc":"3.0","id":1,"method":"getinfo"})");
    EXPECT_EQ(code_of(r.Json()), kInvalidRequest);
    r = Raw(R"({"jsonrpc":"2.0","id":1,"method":"getinfo","params":7})");
    EXPECT_EQ(code_of(r.Json()), kInvalidRequest);
    // A notification gets no body.
    r = Raw(R"({"jsonrpc":"2.0","method":"getinfo"})");
    EXPECT_EQ(r.status, 204u);
    EXPECT_TRUE(r.body.empty());
    // Batches: in order, ids kept, notifications dropped; invalid members answered one by one.
    r = Raw(R"([{"jsonrpc":"2.0","id":1,"method":"getinfo"},{"jsonrpc":"2.0","id":2,"method":"nosuch"},)"
            R"({"jsonrpc":"2.0","method":"getinfo"},5,{"jsonrpc":"2.0","id":3,"method":"getvault","params":[1]}])");
    EXPECT_EQ(r.status, 200u);
    const auto batch = r.Json();
    ASSERT_TRUE(batch.is_array()) << r.body;
    ASSERT_EQ(batch.as_array().size(), 4u) << r.body;
    EXPECT_EQ(batch.at(0).at("id"), 1);
    EXPECT_TRUE(batch.at(0).as_object().contains("result"));
    EXPECT_EQ(code_of(batch.at(1)), kMethodNotFound);
    EXPECT_EQ(code_of(batch.at(2)), kInvalidRequest);
    EXPECT_EQ(code_of(batch.at(3)), kTypeError);
    EXPECT_EQ(batch.at(3).at("id"), 3);
    r = Raw("[]"); // JSON-RPC 2.0: one Invalid Request error (bitcoind answers 200 and [])
    EXPECT_EQ(r.status, 400u);
    ASSERT_TRUE(r.Json().is_object()) << r.body;
    EXPECT_EQ(code_of(r.Json()), kInvalidRequest);
    r = Raw(R"([{"jsonrpc":"2.0","method":"getinfo"}])");
    EXPECT_EQ(r.status, 204u) << "a batch of notifications only";
    auto make_batch = [](int n) {
        std::string b = "[";
        for (int i = 0; i < n; ++i) b += std::string(i ? "," : "") + R"({"jsonrpc":"2.0","id":)" + std::to_string(i) + R"(,"method":"help"})";
        return b + "]";
    };
    r = Raw(make_batch(100));
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.Json().as_array().size(), 100u);
    r = Raw(make_batch(101));
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(code_of(r.Json()), kInvalidRequest);
    EXPECT_NE(r.body.find("limit of 100"), std::string::npos) << r.body;
    // HTTP level: wrong verb, wrong path.
    r = g_env->http->Post("", g_env->cookie, "/", http::verb::get);
    EXPECT_EQ(r.status, 405u);
    r = g_env->http->Post(R"({"jsonrpc":"2.0","id":1,"method":"getinfo"})", g_env->cookie, "/wallet/x");
    EXPECT_EQ(r.status, 404u);
    EXPECT_TRUE(g_env->vwd->Running());
    EXPECT_EQ(State(), before);
}

TEST_F(RpcMethods, OversizedBodies)
{
    const std::string before = State();
    // Declared too large: refused from the headers alone with 413, connection closed.
    {
        net::io_context io;
        beast::tcp_stream s{io};
        s.expires_after(10s);
        s.connect(net::ip::tcp::endpoint{net::ip::make_address("127.0.0.1"), g_env->vwd->port()});
        const std::string head = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic " + B64(g_env->cookie) +
                                 "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string((1 << 20) + 1) + "\r\n\r\n";
        net::write(s, net::buffer(head));
        beast::flat_buffer b;
        http::response<http::string_body> res;
        beast::error_code ec;
        http::read(s, b, res, ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(res.result_int(), 413u);
        EXPECT_FALSE(res.keep_alive());
    }
    // Actually sent: a real 2 MiB registervaults call (the server may reset us mid-write; either
    // way nothing is registered and the daemon lives).
    {
        json::array vaults;
        size_t size = 0;
        while (size < (2u << 20)) {
            const auto one = MakeVault(g_env->next_seed++).json;
            size += one.size() + 1;
            vaults.push_back(json::parse(one));
        }
        const auto body = json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "registervaults"}, {"params", A(vaults)}});
        HttpClient fresh{g_env->vwd->port()};
        const auto r = fresh.Post(body, g_env->cookie);
        if (r.error.empty()) EXPECT_EQ(r.status, 413u) << r.body.substr(0, 200);
        else SUCCEED() << "connection dropped while sending: " << r.error;
    }
    // Just under the limit is fine (a body of 1 MiB with padding whitespace).
    {
        std::string body = R"({"jsonrpc":"2.0","id":1,"method":"getinfo"})";
        body += std::string((1u << 20) - body.size(), ' ');
        const auto r = Raw(body);
        EXPECT_EQ(r.status, 200u) << r.error;
    }
    EXPECT_TRUE(g_env->vwd->Running()) << g_env->vwd->Log();
    EXPECT_EQ(State(), before);
}

TEST_F(RpcMethods, AuthFailuresLeaveTheDaemonRunning)
{
    const std::string before = State();
    const std::string ping = R"({"jsonrpc":"2.0","id":1,"method":"getinfo"})";
    HttpClient h{g_env->vwd->port()};
    auto r = h.Post(ping, std::nullopt);
    EXPECT_EQ(r.status, 401u);
    EXPECT_TRUE(r.body.find("result") == std::string::npos) << "nothing runs without auth";
    r = h.Post(ping, std::string("__cookie__:") + std::string(64, 'a'));
    EXPECT_EQ(r.status, 401u);
    r = h.Post(ping, std::string("__cookie__"));
    EXPECT_EQ(r.status, 401u);
    const std::string pass = g_env->cookie.substr(g_env->cookie.find(':') + 1);
    r = h.Post(ping, "someone:" + pass);
    EXPECT_EQ(r.status, 401u) << "the cookie's secret under another user name";
    // Malformed Authorization headers.
    for (const char* hdr : {"Bearer abc", "Basic", "Basic !!!!", "Basic Zm9v", "basic " /* wrong case */}) {
        http::request<http::string_body> req{http::verb::post, "/", 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::authorization, hdr);
        req.body() = ping;
        req.prepare_payload();
        EXPECT_EQ(h.Send(req).status, 401u) << hdr;
    }
    // A state-changing call without auth does nothing.
    r = h.Post(R"({"jsonrpc":"2.0","id":1,"method":"registervault","params":[)" + MakeVault(g_env->next_seed++).json + "]}",
               std::nullopt);
    EXPECT_EQ(r.status, 401u);
    // Clients that send a request and reset the connection at once (SO_LINGER 0) while the server
    // is still answering.
    for (int i = 0; i < 10; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(g_env->vwd->port());
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        const std::string req = "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + B64(i % 2 ? "x:y" : g_env->cookie) +
                                "\r\nContent-Length: " + std::to_string(ping.size()) + "\r\n\r\n" + ping;
        ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
        linger l{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::close(fd);
    }
    EXPECT_TRUE(WaitFor([&] { return Raw(ping).status == 200; }, 5s));
    EXPECT_TRUE(g_env->vwd->Running()) << g_env->vwd->Log();
    EXPECT_EQ(State(), before);
}

TEST_F(RpcMethods, CliPositionalAndNamed)
{
    SyntheticVault sv;
    const std::string vid = NewVault(&sv);
    int rc = -1;
    auto out = g_env->vwd->CliText({"getvault", vid}, &rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_EQ(json::parse(out), Ok("getvault", A(vid)));
    out = g_env->vwd->CliText({"-named", "approvetrigger", "vault_id=" + vid, "trigger_txid=" + sv.trigger_txid, "expiry_height=900"}, &rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_EQ(Ok("listapprovals", A(vid)).at("approvals").as_array().size(), 1u);
    const std::string before = State();
    out = g_env->vwd->CliText({"getvault", kUnknownVault}, &rc);
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("error code: -5"), std::string::npos) << out;
    out = g_env->vwd->CliText({"-named", "setpolicy", "vault_id=" + vid, R"(policy={"mode":"bogus"})"}, &rc);
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("error code: -8"), std::string::npos) << out;
    out = g_env->vwd->CliText({"nosuchmethod"}, &rc);
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("error code: -32601"), std::string::npos) << out;
    out = g_env->vwd->CliText({"-rpcpassword=x", "-rpcuser=__cookie__", "getinfo"}, &rc);
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("authorization failed"), std::string::npos) << out;
    EXPECT_EQ(State(), before);
    out = g_env->vwd->CliText({"help", "listevents"}, &rc);
    EXPECT_EQ(rc, 0);
    EXPECT_NE(out.find("listevents ( \"after\" ) ( \"count\" )"), std::string::npos) << out;
}

// --- a funded vault: listrecoveries / getrecovery on a real recovery, then stop ---------------------

TEST(RpcMethodsLifecycle, RecoveryMethodsThenStop)
{
    const auto dir = TempDir("vw-rpcm-rec");
    auto simnode = StartSim();
    auto call = [&](const std::string& m, json::array p = {}) { return simnode->Call(m, std::move(p)); };
    // Coins through P2WSH(OP_TRUE), as engine_tests' PresignedFixture does.
    const Uint256 h = crypto::Sha256Once(kOpTrue);
    Bytes acs(34, 0);
    acs[1] = 0x20;
    std::copy(h.bytes.begin(), h.bytes.end(), acs.begin() + 2);
    const std::string addr = *bech32::SegwitAddress("bcrt", 0, ByteSpan{acs}.subspan(2));
    call("generatetoaddress", {110, addr});
    const std::string hash{call("getblockhash", {1}).as_string()};
    auto block = DecodeBlock(*ParseHex(std::string_view{call("getblock", {hash, 0}).as_string()}));
    ASSERT_TRUE(block);
    const Transaction& cb = block->txs.at(0);
    const Transaction funding{Spend({cb.GetTxid(), 0}, cb.vout().at(0).value - Amount{10'000}, acs)};
    call("sendrawtransaction", {HexStr(SerializeTransaction(funding))});
    call("generatetoaddress", {1, addr});
    const Amount v = funding.vout().at(0).value;
    const Transaction trigger{Spend({funding.GetTxid(), 0}, v - Amount{10'000}, acs)};
    const Transaction recovery{Spend({trigger.GetTxid(), 0}, v - Amount{20'000}, P2TR(0xcc))};
    const std::string reg = R"({"kind":"presigned","label":"rec","watch_outpoints":[{"txid":")" + funding.GetTxid().ToString() +
                            R"(","vout":0}],"triggers":[{"txid":")" + trigger.GetTxid().ToString() +
                            R"(","spend_delay":20,"recovery_txs":[")" + HexStr(SerializeTransaction(recovery)) + R"("]}]})";

    Vaultwatchd d(dir / "vw", simnode->RpcPort());
    ASSERT_TRUE(d.StartAndWait()) << d.Log();
    HttpClient c{d.port()};
    const std::string cookie = d.Cookie();
    auto rpc = [&](const std::string& method, const json::value& params) {
        const auto r = c.Post(json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}}), cookie);
        return r.Json();
    };
    const auto r = rpc("registervault", A(json::parse(reg)));
    const std::string vid = Field(r.at("result"), "vault_id");
    ASSERT_TRUE(WaitFor([&] { return rpc("getinfo", A()).at("result").at("height") == 111; })) << d.Log();
    call("sendrawtransaction", {HexStr(SerializeTransaction(trigger))});
    const std::string rtxid = recovery.GetTxid().ToString();
    ASSERT_TRUE(WaitFor([&] {
        const auto l = rpc("listrecoveries", A()).at("result").at("recoveries").as_array();
        return !l.empty() && l[0].at("state") == "broadcast";
    })) << d.Log();
    const auto list = rpc("listrecoveries", A(vid)).at("result").at("recoveries").as_array();
    ASSERT_EQ(list.size(), 1u);
    for (const char* k : {"txid", "kind", "trigger_txid", "vault_ids", "state", "deadline_height", "confirmed_height", "attempts",
                          "last_error", "created_at"}) {
        EXPECT_TRUE(list[0].as_object().contains(k)) << k << " missing: " << json::serialize(list[0]);
    }
    EXPECT_EQ(Field(list[0], "txid"), rtxid);
    EXPECT_EQ(Field(list[0], "trigger_txid"), trigger.GetTxid().ToString());
    EXPECT_TRUE(rpc("listrecoveries", A(kUnknownVault)).at("result").at("recoveries").as_array().empty());
    const auto g = rpc("getrecovery", json::object{{"txid", rtxid}}).at("result");
    EXPECT_EQ(Field(g, "state"), "broadcast");
    EXPECT_EQ(Field(g, "hex"), HexStr(SerializeTransaction(recovery)));
    EXPECT_EQ(rpc("getrecovery", A(rtxid)).at("result"), g) << "named == positional";
    EXPECT_EQ(Field(rpc("getvault", A(vid)).at("result"), "state"), "recovering");
    EXPECT_EQ(rpc("getvault", A(vid)).at("result").at("triggers").as_array().size(), 1u);
    // The event log tells the story.
    std::vector<std::string> types;
    const auto events = rpc("listevents", A());
    for (const auto& e : events.at("result").at("events").as_array()) types.emplace_back(e.at("type").as_string());
    for (const char* want : {"vault.registered", "vault.trigger", "recovery.planned", "recovery.broadcast"}) {
        EXPECT_NE(std::find(types.begin(), types.end(), want), types.end()) << want;
    }

    // stop: arguments refused, then a clean exit that removes the cookie.
    const auto bad = rpc("stop", A(1));
    EXPECT_EQ(bad.at("error").at("code"), kInvalidParams);
    EXPECT_TRUE(d.Running());
    const auto s = rpc("stop", A());
    EXPECT_EQ(Field(s.at("result"), "stopping"), "true");
    const auto st = d.WaitExit(15s);
    ASSERT_TRUE(st) << "vaultwatchd did not exit after stop\n" << d.Log();
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << *st;
    EXPECT_FALSE(fs::exists(d.CookiePath())) << "the cookie is removed at stop";
    simnode->Stop();
    std::error_code ec;
    fs::remove_all(dir, ec);
}

// --- authentication across restarts, rpcauth ------------------------------------------------------

TEST(RpcMethodsAuth, StaleCookieIsRefusedAfterRestart)
{
    const auto dir = TempDir("vw-rpcm-auth");
    auto simnode = StartSim();
    const std::string ping = R"({"jsonrpc":"2.0","id":1,"method":"getinfo"})";
    Vaultwatchd d(dir / "vw", simnode->RpcPort());
    ASSERT_TRUE(d.StartAndWait()) << d.Log();
    const std::string old_cookie = d.Cookie();
    ASSERT_TRUE(old_cookie.starts_with("__cookie__:")) << old_cookie;
    ASSERT_EQ(old_cookie.size(), 11u + 64u);
    const auto perms = fs::status(d.CookiePath()).permissions();
    EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none) << "cookie is 0600";
    HttpClient c{d.port()};
    EXPECT_EQ(c.Post(ping, old_cookie).status, 200u);
    // Register something, so the restart has state to keep.
    const auto reg = c.Post(R"({"jsonrpc":"2.0","id":1,"method":"registervault","params":[)" + MakeVault(1).json + "]}", old_cookie);
    ASSERT_EQ(reg.status, 200u);
    const std::string vid = Field(reg.Json().at("result"), "vault_id");

    EXPECT_EQ(d.Kill(SIGTERM), 0);
    EXPECT_FALSE(fs::exists(d.CookiePath()));
    c.Close();
    ASSERT_TRUE(d.StartAndWait()) << d.Log();
    const std::string new_cookie = d.Cookie();
    EXPECT_NE(new_cookie, old_cookie);
    EXPECT_EQ(c.Post(ping, old_cookie).status, 401u) << "the previous run's cookie";
    const auto ok = c.Post(R"({"jsonrpc":"2.0","id":1,"method":"getvault","params":[")" + vid + R"("]})", new_cookie);
    EXPECT_EQ(ok.status, 200u);
    EXPECT_EQ(Field(ok.Json().at("result"), "vault_id"), vid) << ok.body;
    // The CLI reads the cookie at each call, so it follows the restart.
    int rc = -1;
    const auto out = d.CliText({"getinfo"}, &rc);
    EXPECT_EQ(rc, 0) << out;
    d.Kill(SIGTERM);
    simnode->Stop();
    std::error_code ec;
    fs::remove_all(dir, ec);
}

TEST(RpcMethodsAuth, RpcAuthLines)
{
    const auto dir = TempDir("vw-rpcm-rpcauth");
    auto simnode = StartSim();
    const std::string ping = R"({"jsonrpc":"2.0","id":1,"method":"getinfo"})";
    // Two users, each line made the way share/rpcauth/rpcauth.py makes it.
    const std::string alice_pw = "Zm9vYmFyYmF6cXV4LXNlY3JldA", bob_pw = "p@ss:with:colons";
    Vaultwatchd d(dir / "vw", simnode->RpcPort(), {"--rpcauth=" + RpcAuthLine("alice", alice_pw), "--rpcauth=" + RpcAuthLine("bob", bob_pw)});
    ASSERT_TRUE(d.StartAndWait()) << d.Log();
    HttpClient c{d.port()};
    EXPECT_EQ(c.Post(ping, "alice:" + alice_pw).status, 200u);
    EXPECT_EQ(c.Post(ping, "bob:" + bob_pw).status, 200u) << "a password may contain ':'";
    EXPECT_EQ(c.Post(ping, "alice:" + bob_pw).status, 401u) << "another user's password";
    EXPECT_EQ(c.Post(ping, "alice:" + alice_pw + "x").status, 401u);
    EXPECT_EQ(c.Post(ping, "alice:").status, 401u);
    EXPECT_EQ(c.Post(ping, "carol:" + alice_pw).status, 401u);
    EXPECT_EQ(c.Post(ping, d.Cookie()).status, 200u) << "the cookie works alongside rpcauth";
    int rc = -1;
    auto out = d.CliText({"-rpcuser=alice", "-rpcpassword=" + alice_pw, "getinfo"}, &rc);
    EXPECT_EQ(rc, 0) << out;
    out = d.CliText({"-rpcuser=alice", "-rpcpassword=wrong", "getinfo"}, &rc);
    EXPECT_NE(rc, 0) << out;
    EXPECT_TRUE(d.Running());
    d.Kill(SIGTERM);

    // A malformed rpcauth line: refused at start with a message, exit status 1.
    Vaultwatchd bad(dir / "vw2", simnode->RpcPort(), {"--rpcauth=alice-no-salt"});
    bad.Start();
    const auto st = bad.WaitExit(10s);
    ASSERT_TRUE(st) << "vaultwatchd with a malformed rpcauth kept running";
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 1) << *st;
    EXPECT_NE(bad.Log().find("rpcauth"), std::string::npos) << bad.Log();
    simnode->Stop();
    std::error_code ec;
    fs::remove_all(dir, ec);
}

} // namespace
} // namespace vw::test
#endif
