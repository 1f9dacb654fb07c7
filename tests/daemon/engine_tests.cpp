// The vault engine's decisions, end to end: a trigger answered, approvals, delayed mode, reorgs,
// rescans, fee ladders and bumps, the fee wallet, mass exits, a thief's named attacks. Each test
// drives the tower as an operator does (vaultwatch-cli calls) and checks the exact transactions
// that reached the node. The tower under test is
//   - inproc:   the real engine and chain follower in this process, on the regtest simulator
//               called in-process (InprocTower): deterministic, no sockets, no sleeps;
//   - bitcoind: the vaultwatchd process against a real bitcoind (BITCOIND), skipped otherwise.
// engine_process holds what only a process shows (SIGKILL and restart, key files, the log), on
// the simulator over its sockets and on the real node.
#ifdef VW_HAVE_SIM

#include "bitcoind_rpc.h"
#include "app.h"
#include "config.h"
#include "crypto/sha256.h"
#include "inproc_tower.h"
#include "log.h"
#include "primitives/block.h"
#include "primitives/transaction.h"
#include "regtest_sim.h"
#include "rpc_methods.h"
#include "tx_util.h"
#include "util/bech32.h"
#include "util/hex.h"
#include "script/ctv.h"
#include "script/script.h"
#include "script/sighash.h"
#include "vault/ccv.h"
#include "vault/family.h"
#include "vault/opvault.h"
#include "vault/trigger_builder.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include "process_util.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace vw::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

std::filesystem::path BinDir()
{
    // build/tests/daemon/vw_daemon_tests -> build/daemon/
    return std::filesystem::canonical("/proc/self/exe").parent_path().parent_path().parent_path() / "daemon";
}

using proc::FreePort;

//! These tests fund the fee wallet coin by coin and check which one pays: no splitting ahead of
//! need unless a test asks for it.
std::vector<std::string> WithTestDefaults(std::vector<std::string> extra)
{
    if (std::none_of(extra.begin(), extra.end(), [](const std::string& a) { return a.starts_with("--feewalletcoins="); })) {
        extra.push_back("--feewalletcoins=0");
    }
    return extra;
}

//! vaultwatchd against the node under test (proc::Vaultwatchd, the one launcher).
class Daemon : public proc::Vaultwatchd
{
public:
    Daemon(std::filesystem::path datadir, uint16_t rpcport, uint16_t node_port, std::vector<std::string> extra = {})
        : proc::Vaultwatchd(BinDir() / "vaultwatchd", std::move(datadir), rpcport)
    {
        node_args = {"--bitcoind.rpcport=" + std::to_string(node_port), "--bitcoind.rpcuser=u", "--bitcoind.rpcpassword=p"};
        extra_args = WithTestDefaults(std::move(extra));
    }
    ~Daemon() override { Kill(SIGKILL); }
};

//! Runs in WaitFor's loop: the in-process tower catches up there (a process does on its own).
std::function<void()> g_settle;

template <typename F>
bool WaitFor(F&& f, std::chrono::milliseconds timeout = 15s)
{
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (g_settle) g_settle();
        if (f()) return true;
        std::this_thread::sleep_for(g_settle ? 5ms : 50ms);
    }
    if (g_settle) g_settle();
    return f();
}

//! The tower as the tests drive it: vaultwatch-cli calls, and its log for failure messages.
class Tower
{
public:
    virtual ~Tower() = default;
    //! A vaultwatch-cli call. Returns: the JSON result, or the error as a string (ok = false).
    virtual json::value Cli(const std::vector<std::string>& args, bool* ok = nullptr) = 0;
    virtual std::string Log() = 0;
    //! Signals the process and waits for its exit status (a process only).
    virtual std::optional<int> Kill(int sig) = 0;
};

class ProcessTower final : public Tower
{
public:
    ProcessTower(std::filesystem::path datadir, uint16_t node_port, std::vector<std::string> extra) : m_d(std::move(datadir), FreePort(), node_port, std::move(extra))
    {
        m_d.Start();
    }
    json::value Cli(const std::vector<std::string>& args, bool* ok = nullptr) override { return m_d.Cli(args, ok); }
    std::string Log() override { return m_d.Log(); }
    std::optional<int> Kill(int sig) override { return m_d.Kill(sig); }

private:
    Daemon m_d;
};

//! vaultwatchd's flags, as the daemon reads them, turned into the engine's options.
daemon::EngineOptions EngineOptionsFromFlags(const std::vector<std::string>& extra)
{
    std::vector<std::string> args{"vaultwatchd", "--chain=regtest", "--bitcoind.rpcuser=u", "--bitcoind.rpcpassword=p"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    auto parsed = daemon::ParseConfig(static_cast<int>(argv.size()), argv.data());
    if (!parsed || !*parsed) throw std::runtime_error("flags: " + (parsed ? std::string("--help") : parsed.error()));
    return daemon::EngineOptionsFrom(**parsed);
}

//! vaultwatch-cli's rule for untyped arguments: JSON when it parses, else a string.
json::value ArgValue(const std::string& s)
{
    boost::system::error_code ec;
    json::value v = json::parse(s, ec);
    return ec ? json::value(s) : v;
}

//! The engine and the chain follower in this process, on the test's simulator; the control
//! methods go through the daemon's own RPC table.
class InprocessTower final : public Tower
{
public:
    InprocessTower(sim::RegtestSim& sim, const std::filesystem::path& dir, const std::vector<std::string>& extra)
    {
        InprocTower::Options o;
        o.sim = &sim;
        o.engine = EngineOptionsFromFlags(extra);
        o.fee_secret = Bytes(32, 0x5b);
        m_t = std::make_unique<InprocTower>(dir, o);
        m_t->Start();
        MakeTable();
        g_settle = [this] { m_t->Settle(); };
    }
    ~InprocessTower() override { g_settle = nullptr; }
    //! The process dies and starts again on the same database (the control methods follow the new engine).
    void Restart()
    {
        m_t->Restart();
        MakeTable();
    }
    void MakeTable()
    {
        daemon::RpcContext ctx;
        ctx.getinfo = [this]() -> json::value {
            const auto& st = m_t->follower().status();
            daemon::Engine& e = m_t->engine();
            return json::object{{"height", st.cursor.height},
                                {"node_height", st.node_tip},
                                {"vaults", e.LiveVaultCount()},
                                {"opvault_enforced", e.vault_enforced() ? json::value(*e.vault_enforced()) : json::value(nullptr)},
                                {"ccv_enforced", e.ccv_enforced() ? json::value(*e.ccv_enforced()) : json::value(nullptr)},
                                {"rescan", e.RescanStatus()}};
        };
        ctx.engine = &m_t->engine();
        m_table = daemon::MakeRpcTable(ctx);
    }
    json::value Cli(const std::vector<std::string>& args, bool* ok = nullptr) override
    {
        bool named = false;
        size_t i = 0;
        if (!args.empty() && args[0] == "-named") named = true, i = 1;
        json::object req{{"jsonrpc", "2.0"}, {"id", 1}, {"method", args.at(i)}};
        if (named) {
            json::object params;
            for (size_t k = i + 1; k < args.size(); ++k) {
                const auto eq = args[k].find('=');
                params[args[k].substr(0, eq)] = ArgValue(args[k].substr(eq + 1));
            }
            req["params"] = std::move(params);
        } else {
            json::array params;
            for (size_t k = i + 1; k < args.size(); ++k) params.push_back(ArgValue(args[k]));
            req["params"] = std::move(params);
        }
        m_t->Settle();
        const rpc::HttpReply reply = rpc::Dispatch(*m_table, json::serialize(req));
        m_t->Settle();
        const json::value body = json::parse(reply.body);
        const json::value* err = body.as_object().if_contains("error");
        if (ok) *ok = !err || err->is_null();
        if (err && !err->is_null()) return json::value("error code: " + json::serialize(err->at("code")) + "\nerror message:\n" + std::string(err->at("message").as_string()));
        return body.at("result");
    }
    std::string Log() override
    {
        return "in-process tower; recoveries: " + json::serialize(Cli({"listrecoveries"}, nullptr)) + "\nevents: " + json::serialize(Cli({"listevents", "0", "1000"}, nullptr));
    }
    std::optional<int> Kill(int) override { return std::nullopt; }
    InprocTower& tower() { return *m_t; }

private:
    std::unique_ptr<InprocTower> m_t;
    std::unique_ptr<rpc::RpcTable> m_table;
};





//! The node under test: the in-process simulator, or a real bitcoind process (BITCOIND).
class TestNode
{
public:
    virtual ~TestNode() = default;
    virtual json::value Call(const std::string& method, json::array params = {}) = 0;
    virtual uint16_t RpcPort() const = 0;
    virtual bool IsSim() const = 0;
    //! The simulator itself, for an in-process tower (null for a real node).
    virtual sim::RegtestSim* Sim() { return nullptr; }
};

class SimNode final : public TestNode
{
public:
    explicit SimNode(const std::function<void(sim::SimConfig&)>& tweak = {})
        : m_sim([&] {
              sim::SimConfig c;
              c.rpc_user = "u";
              c.rpc_password = "p";
              for (const char* t : {"rawtx", "hashblock", "sequence"}) c.zmq.push_back({t, "tcp://127.0.0.1:0"});
              if (tweak) tweak(c);
              return c;
          }())
    {
        m_sim.Start();
    }
    ~SimNode() override { m_sim.Stop(); }
    json::value Call(const std::string& method, json::array params) override { return m_sim.Call(method, std::move(params)); }
    uint16_t RpcPort() const override { return const_cast<sim::RegtestSim&>(m_sim).RpcPort(); }
    bool IsSim() const override { return true; }
    sim::RegtestSim* Sim() override { return &m_sim; }

private:
    sim::RegtestSim m_sim;
};

class BitcoindNode final : public TestNode
{
public:
    BitcoindNode(const std::string& binary, const std::filesystem::path& dir, const std::vector<std::string>& extra)
        : m_dir(dir / "node"), m_port(FreePort())
    {
        std::filesystem::create_directories(m_dir);
        std::vector<std::string> args{binary, "-regtest", "-datadir=" + m_dir.string(), "-rpcport=" + std::to_string(m_port),
                                      "-port=" + std::to_string(FreePort()), "-rpcuser=u", "-rpcpassword=p", "-listen=0",
                                      "-server", "-fallbackfee=0.0001", "-printtoconsole=0", "-acceptnonstdtxn=1",
                                      "-minrelaytxfee=0", "-blockmintxfee=0"};
        for (const char* t : {"rawtx", "hashblock", "sequence"}) {
            args.push_back(std::string("-zmqpub") + t + "=tcp://127.0.0.1:" + std::to_string(FreePort()));
        }
        args.insert(args.end(), extra.begin(), extra.end());
        m_child.Start(args, m_dir / "bitcoind.out"); // the one launcher (proc::Child)
        for (int i = 0; i < 300; ++i) {
            try {
                Call("getblockcount", {});
                return;
            } catch (const std::exception&) {
                std::this_thread::sleep_for(100ms);
            }
        }
        throw std::runtime_error("bitcoind did not come up");
    }
    ~BitcoindNode() override
    {
        try {
            Call("stop", {});
        } catch (const std::exception&) {
        }
        if (!m_child.Wait(10s)) m_child.Kill(SIGKILL);
    }
    json::value Call(const std::string& method, json::array params) override
    {
        namespace net = boost::asio;
        net::io_context io;
        daemon::RpcEndpoint ep;
        ep.port = m_port;
        ep.auth.user = "u";
        ep.auth.password = "p";
        ep.timeout = 30s;
        daemon::BitcoindRpc rpc{io.get_executor(), ep};
        daemon::RpcResult<json::value> out;
        auto run = [&]() -> net::awaitable<void> { out = co_await rpc.Call(method, json::value(std::move(params))); };
        net::co_spawn(io, run, net::detached);
        io.run();
        if (!out) throw std::runtime_error(method + ": " + out.error->ToString());
        return *out.value;
    }
    uint16_t RpcPort() const override { return m_port; }
    bool IsSim() const override { return false; }

private:
    std::filesystem::path m_dir;
    uint16_t m_port;
    proc::Child m_child;
};

//! A presigned vault made on the node's chain: a funded vault output, the operator's pre-signed
//! unvault (trigger) and two recovery variants.
struct PresignedFixture {
    std::filesystem::path dir;
    std::unique_ptr<TestNode> node;
    Transaction funding{MutableTransaction{}}, trigger{MutableTransaction{}}, recovery{MutableTransaction{}};
    Transaction recovery_fast{MutableTransaction{}};

    explicit PresignedFixture(bool real_node = false, const std::vector<std::string>& node_args = {},
                              const std::function<void(sim::SimConfig&)>& sim_tweak = {})
    {
        dir = std::filesystem::temp_directory_path() / ("vw-engine-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(dir);
        if (real_node) node = std::make_unique<BitcoindNode>(std::getenv("BITCOIND"), dir, node_args);
        else node = std::make_unique<SimNode>(sim_tweak);
        Generate(110);
        const std::string hash{node->Call("getblockhash", {1}).as_string()};
        auto block = DecodeBlock(*ParseHex(std::string_view{node->Call("getblock", {hash, 0}).as_string()}));
        const Transaction& cb = block->txs.at(0);
        funding = Transaction{Spend({cb.GetTxid(), 0}, cb.vout().at(0).value - Amount{10'000}, AnyoneCanSpend())};
        node->Call("sendrawtransaction", {HexStr(SerializeTransaction(funding))});
        Generate(1);
        const Amount v = funding.vout().at(0).value;
        trigger = Transaction{Spend({funding.GetTxid(), 0}, v - Amount{10'000}, AnyoneCanSpend())};
        recovery = Transaction{Spend({trigger.GetTxid(), 0}, v - Amount{20'000}, P2TR(0xcc))};
        recovery_fast = Transaction{Spend({trigger.GetTxid(), 0}, v - Amount{60'000}, P2TR(0xcc))};
    }
    ~PresignedFixture()
    {
        node.reset();
        if (!std::getenv("VW_KEEP_TEST_DIRS")) std::filesystem::remove_all(dir);
    }
    void Generate(int n) { node->Call("generatetoaddress", {n, AnyoneCanSpendAddress()}); }
    //! Replaces the top `depth` blocks with depth+1 empty ones (their transactions go back to the
    //! mempool), the same way on both nodes.
    void Reorg(int depth)
    {
        const int64_t tip = node->Call("getblockcount").as_int64();
        const std::string h{node->Call("getblockhash", {tip - depth + 1}).as_string()};
        node->Call("invalidateblock", {h});
        for (int i = 0; i <= depth; ++i) node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{}});
    }
    std::string Registration(const std::string& policy = R"({"mode":"recover"})") const
    {
        return R"({"kind":"presigned","label":"e2e","policy":)" + policy + R"(,"watch_outpoints":[{"txid":")" +
               funding.GetTxid().ToString() + R"(","vout":0}],"triggers":[{"txid":")" + trigger.GetTxid().ToString() +
               R"(","spend_delay":20,"recovery_txs":[")" + HexStr(SerializeTransaction(recovery)) + R"(",")" +
               HexStr(SerializeTransaction(recovery_fast)) + R"("]}]})";
    }
    bool InMempool(const Txid& t)
    {
        const json::value mempool = node->Call("getrawmempool");
        for (const auto& v : mempool.as_array()) {
            if (v.as_string() == t.ToString()) return true;
        }
        return false;
    }
    std::string SendTrigger() { return std::string(node->Call("sendrawtransaction", {HexStr(SerializeTransaction(trigger))}).as_string()); }
    uint16_t NodePort() const { return node->RpcPort(); }
};

//! Each decision test runs in process on the simulator, and as a process against a real bitcoind
//! when BITCOIND names one (reported as skipped otherwise).
class engine_e2e : public ::testing::TestWithParam<std::string>
{
protected:
    void SetUp() override
    {
        if (Real() && !std::getenv("BITCOIND")) GTEST_SKIP() << "functional test: set BITCOIND=/path/to/bitcoind to run it against a real node";
    }
    bool Real() const { return GetParam() == "bitcoind"; }
    //! The tower under test, started against fx's node with vaultwatchd's flags `extra`.
    std::unique_ptr<Tower> StartTower(PresignedFixture& fx, std::vector<std::string> extra = {}) const
    {
        if (Real()) return std::make_unique<ProcessTower>(fx.dir / "vw", fx.NodePort(), std::move(extra));
        return std::make_unique<InprocessTower>(*fx.node->Sim(), fx.dir / "vw", WithTestDefaults(std::move(extra)));
    }
};

//! What only a process shows: signals, restarts, files on disk, the log.
using engine_process = engine_e2e;

std::string Field(const json::value& v, const char* k)
{
    if (!v.is_object() || !v.as_object().contains(k)) return "<" + std::string(k) + " missing in " + json::serialize(v) + ">";
    const auto& f = v.as_object().at(k);
    return f.is_string() ? std::string(f.as_string()) : json::serialize(f);
}

TEST_P(engine_e2e, PresignedVaultEndToEnd)
{
    PresignedFixture fx{Real()};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Field(reg, "vault_id");
    EXPECT_EQ(Field(reg, "kind"), "presigned");
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }));

    // The thief (or a leaked key) broadcasts the pre-signed unvault.
    fx.SendTrigger();
    // The cheapest variant that meets the fee goes out at first sight in the mempool.
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d.Log();
    auto recs = d.Cli({"listrecoveries"});
    ASSERT_EQ(recs.at("recoveries").as_array().size(), 1u) << json::serialize(recs);
    const auto& r = recs.at("recoveries").as_array()[0];
    EXPECT_EQ(Field(r, "txid"), fx.recovery.GetTxid().ToString());
    EXPECT_EQ(Field(r, "trigger_txid"), fx.trigger.GetTxid().ToString());
    EXPECT_EQ(Field(r, "state"), "broadcast");
    // The exact bytes: what reached the node is the pre-signed transaction.
    EXPECT_EQ(std::string(fx.node->Call("getrawtransaction", {fx.recovery.GetTxid().ToString()}).as_string()),
              HexStr(SerializeTransaction(fx.recovery)));
    EXPECT_EQ(Field(d.Cli({"getvault", vid}), "state"), "recovering");

    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", fx.recovery.GetTxid().ToString()}), "state") == "confirmed"; })) << d.Log();
    EXPECT_EQ(Field(d.Cli({"getvault", vid}), "state"), "recovered");
    const auto ev = d.Cli({"listevents"});
    std::vector<std::string> types;
    for (const auto& e : ev.at("events").as_array()) types.emplace_back(e.at("type").as_string());
    for (const char* want : {"vault.registered", "vault.trigger", "recovery.planned", "recovery.broadcast", "recovery.confirmed"}) {
        EXPECT_NE(std::find(types.begin(), types.end(), want), types.end()) << want << " missing: " << json::serialize(ev);
    }
    if (Real()) EXPECT_EQ(d.Kill(SIGTERM), 0) << "clean exit on SIGTERM";
}

TEST_P(engine_e2e, ApprovedTriggerIsLeftAlone)
{
    PresignedFixture fx{Real()};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Field(reg, "vault_id");
    auto ap = d.Cli({"-named", "approvetrigger", "vault_id=" + vid, "trigger_txid=" + fx.trigger.GetTxid().ToString()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(ap);
    fx.SendTrigger();
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getvault", vid}), "state") == "triggered"; })) << d.Log();
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 112; }));
    EXPECT_TRUE(d.Cli({"listrecoveries"}).at("recoveries").as_array().empty());
    EXPECT_FALSE(fx.InMempool(fx.recovery.GetTxid()));
    auto v = d.Cli({"getvault", vid});
    EXPECT_EQ(Field(v.at("triggers").as_array().at(0), "approved"), "true") << json::serialize(v);
}

TEST_P(engine_e2e, DelayedModeRecoversAfterGraceUnlessApproved)
{
    PresignedFixture fx{Real()};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration(R"({"mode":"delayed","grace_blocks":3})")}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Field(reg, "vault_id");
    fx.SendTrigger();
    fx.Generate(1); // trigger confirmed at 112
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 112; }));
    EXPECT_TRUE(d.Cli({"listrecoveries"}).at("recoveries").as_array().empty()) << "inside the grace period";
    fx.Generate(2);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 114; }));
    // Grace over (3 confirmations), no approval: recovered.
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d.Log();
}

TEST_P(engine_e2e, DelayedModeLeavesATriggerApprovedDuringTheGracePeriod)
{
    PresignedFixture fx{Real()};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration(R"({"mode":"delayed","grace_blocks":3})")}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Field(reg, "vault_id");
    fx.SendTrigger();
    fx.Generate(1); // trigger confirmed at 112: alert now, recover at 114 unless approved
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 112; }));
    auto ap = d.Cli({"-named", "approvetrigger", "vault_id=" + vid, "trigger_txid=" + fx.trigger.GetTxid().ToString()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(ap);
    fx.Generate(3);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 115; }));
    EXPECT_TRUE(d.Cli({"listrecoveries"}).at("recoveries").as_array().empty());
    EXPECT_FALSE(fx.InMempool(fx.recovery.GetTxid()));
    const auto v = d.Cli({"getvault", vid});
    EXPECT_EQ(Field(v.at("triggers").as_array().at(0), "action"), "leave_alone") << json::serialize(v);
    // Revoking the approval puts the trigger back under the policy: grace is over, so recover now.
    auto apps = d.Cli({"listapprovals", vid});
    const auto id = apps.at("approvals").as_array().at(0).at("approval_id").as_int64();
    ASSERT_TRUE(d.Cli({"revokeapproval", std::to_string(id)}).is_object());
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d.Log();
}

TEST_P(engine_process, SigkillAfterTheIntentThenRestartBroadcastsOnce)
{
    if (Real()) GTEST_SKIP() << "needs the simulator's fault injection (simreject)";
    PresignedFixture fx{Real()};
    const uint16_t port = FreePort();
    auto d = std::make_unique<Daemon>(fx.dir / "vw", port, fx.NodePort());
    d->Start();
    bool ok = false;
    auto reg = d->Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    // The node refuses every transaction for now: the intent is stored, the broadcast fails.
    fx.node->Call("simreject", {"non-mandatory-script-verify-flag"});
    ASSERT_TRUE(WaitFor([&] { return d->Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }));
    // The trigger reaches the node's mempool before the refusal starts... we let it in directly.
    fx.node->Call("simreject", {""});
    fx.SendTrigger();
    fx.node->Call("simreject", {"non-mandatory-script-verify-flag"});
    ASSERT_TRUE(WaitFor([&] {
        auto r = d->Cli({"listrecoveries"});
        return r.is_object() && !r.at("recoveries").as_array().empty();
    })) << d->Log();
    EXPECT_FALSE(fx.InMempool(fx.recovery.GetTxid()));
    d->Kill(SIGKILL);
    d.reset();
    fx.node->Call("simreject", {""});
    // Restart: the stored intent is broadcast, once in effect (the node holds one copy).
    d = std::make_unique<Daemon>(fx.dir / "vw", port, fx.NodePort());
    d->Start();
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); }, 60s)) << d->Log();
    auto recs = d->Cli({"listrecoveries"});
    ASSERT_EQ(recs.at("recoveries").as_array().size(), 1u);
    EXPECT_EQ(Field(recs.at("recoveries").as_array()[0], "state"), "broadcast");
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d->Cli({"getrecovery", fx.recovery.GetTxid().ToString()}), "state") == "confirmed"; }));
}

TEST_P(engine_e2e, ReorgRemovingATriggerRevertsItsState)
{
    PresignedFixture fx{Real()};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration(R"({"mode":"alert"})")}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Field(reg, "vault_id");
    fx.SendTrigger();
    fx.Generate(1); // trigger confirmed at 112
    auto trigger_height = [&] {
        const auto v = d.Cli({"getvault", vid});
        if (!v.is_object() || v.at("triggers").as_array().empty()) return std::string("none");
        return json::serialize(v.at("triggers").as_array()[0].at("height"));
    };
    ASSERT_TRUE(WaitFor([&] { return trigger_height() == "112"; })) << d.Log();
    EXPECT_EQ(Field(d.Cli({"getvault", vid}), "state"), "triggered");
    // A competing branch without the trigger: it falls back to the mempool (height null)...
    fx.Reorg(1);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 113; }));
    ASSERT_TRUE(WaitFor([&] { return trigger_height() == "null"; })) << d.Log();
    // ...and once the owner's own spend of the vault output replaces it, the vault is active again.
    MutableTransaction owner = fx.trigger.mutable_copy();
    owner.vout[0].value = owner.vout[0].value - Amount{50'000};
    const Transaction owner_tx{owner};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(owner_tx))});
    ASSERT_TRUE(WaitFor([&] { return trigger_height() == "none"; })) << d.Log();
    const auto v = d.Cli({"getvault", vid});
    EXPECT_NE(Field(v, "state"), "triggered") << json::serialize(v);
    EXPECT_TRUE(d.Cli({"listrecoveries"}).at("recoveries").as_array().empty());
}

TEST_P(engine_e2e, ReorgRemovingOurRecoveryRebroadcastsIt)
{
    PresignedFixture fx{Real()};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    fx.SendTrigger();
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d.Log();
    fx.Generate(1); // trigger and recovery confirmed at 112
    const std::string rtxid = fx.recovery.GetTxid().ToString();
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", rtxid}), "confirmed_height") == "112"; })) << d.Log();
    fx.Reorg(1); // the competing branch has neither
    // The recovery left the chain: it is sent again, and the empty blocks of the new branch went
    // by without it, so it also climbs the ladder (recovery_fast). One of the two is in the node.
    const std::string ftxid = fx.recovery_fast.GetTxid().ToString();
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", rtxid}), "state") != "confirmed"; })) << d.Log();
    EXPECT_EQ(Field(d.Cli({"getrecovery", rtxid}), "confirmed_height"), "null");
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()) || fx.InMempool(fx.recovery_fast.GetTxid()); })) << d.Log();
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] {
        return Field(d.Cli({"getrecovery", rtxid}), "state") == "confirmed" || Field(d.Cli({"getrecovery", ftxid}), "state") == "confirmed";
    })) << d.Log();
    const bool fast = Field(d.Cli({"getrecovery", ftxid}), "state") == "confirmed";
    EXPECT_EQ(Field(d.Cli({"getrecovery", fast ? ftxid : rtxid}), "confirmed_height"), "114");
    if (fast) EXPECT_EQ(Field(d.Cli({"getrecovery", rtxid}), "state"), "replaced");
    EXPECT_EQ(Field(d.Cli({"getvault", Field(reg, "vault_id")}), "state"), "recovered");
}

TEST_P(engine_e2e, RescanFromBirthHeightFindsATriggerMinedBeforeRegistration)
{
    PresignedFixture fx{Real()};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    // The trigger is mined before the vault is registered (a watchtower added late, or restored).
    fx.SendTrigger();
    fx.Generate(2);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 113; }));
    std::string req = fx.Registration();
    req.insert(req.size() - 1, R"(,"birth_height":100)");
    bool ok = false;
    auto reg = d.Cli({"registervault", req}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    EXPECT_EQ(Field(reg, "rescan_from"), "100");
    // The rescan finds the confirmed trigger; its output is still unspent, so it is recovered.
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d.Log();
    const auto v = d.Cli({"getvault", Field(reg, "vault_id")});
    ASSERT_EQ(v.at("triggers").as_array().size(), 1u) << json::serialize(v);
    EXPECT_EQ(Field(v.at("triggers").as_array()[0], "height"), "112");
}

TEST_P(engine_process, RescanRpcFindsAMissedTriggerAndResumesAfterARestart)
{
    PresignedFixture fx{Real()};
    auto d = std::make_unique<Daemon>(fx.dir / "vw", FreePort(), fx.NodePort());
    d->Start();
    fx.SendTrigger();
    fx.Generate(2);
    ASSERT_TRUE(WaitFor([&] { return d->Cli({"getinfo"}).as_object().at("height").as_int64() == 113; }));
    // Registered without a birth height: the trigger mined at 112 is not looked for.
    bool ok = false;
    auto reg = d->Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Field(reg, "vault_id");
    EXPECT_TRUE(d->Cli({"getvault", vid}).at("triggers").as_array().empty());
    EXPECT_EQ(Field(d->Cli({"getinfo"}), "rescan"), "null");
    if (!Real()) {
        // The node fails every getblock for now: the rescan waits, and is still owed after a crash.
        fx.node->Call("simbadreply", {100000, "truncatedhex", "getblock"});
    }
    auto r = d->Cli({"-named", "rescan", "from_height=105", "vault_id=" + vid}, &ok);
    ASSERT_TRUE(ok) << json::serialize(r);
    EXPECT_EQ(Field(r, "from_height"), "105");
    EXPECT_EQ(Field(r, "to_height"), "113");
    EXPECT_EQ(Field(r, "vault_id"), vid);
    if (!Real()) {
        ASSERT_TRUE(WaitFor([&] { return d->Log().find("rescan paused at height 105") != std::string::npos; })) << d->Log();
        const auto info = d->Cli({"getinfo"});
        EXPECT_EQ(Field(info.at("rescan"), "pending"), "1") << json::serialize(info);
        EXPECT_FALSE(fx.InMempool(fx.recovery.GetTxid()));
        d->Kill(SIGKILL);
        fx.node->Call("simbadreply", {0});
        d = std::make_unique<Daemon>(fx.dir / "vw", FreePort(), fx.NodePort());
        d->Start();
    }
    // The rescan finds the confirmed trigger; its output is unspent, so it is recovered.
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d->Log();
    const auto v = d->Cli({"getvault", vid});
    ASSERT_EQ(v.at("triggers").as_array().size(), 1u) << json::serialize(v);
    EXPECT_EQ(Field(v.at("triggers").as_array()[0], "height"), "112");
    ASSERT_TRUE(WaitFor([&] { return Field(d->Cli({"getinfo"}), "rescan") == "null"; }));
}

TEST_P(engine_e2e, RescanOfHistoryAlreadySeenChangesNothing)
{
    // The whole story happens while the vault is watched; a rescan over it afterwards must not
    // bring back the spent output (nor plan a second recovery for the answered trigger).
    PresignedFixture fx{Real()};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Field(reg, "vault_id");
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }));
    fx.SendTrigger();
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d.Log();
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getvault", vid}), "state") == "recovered"; })) << d.Log();
    const std::string before = json::serialize(d.Cli({"getvault", vid}));
    const auto events_before = d.Cli({"listevents", "0", "1000"}).at("events").as_array().size();
    auto r = d.Cli({"rescan", "100"}, &ok);
    ASSERT_TRUE(ok) << json::serialize(r);
    EXPECT_EQ(Field(r, "vault_id"), "null");
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getinfo"}), "rescan") == "null"; })) << d.Log();
    EXPECT_EQ(json::serialize(d.Cli({"getvault", vid})), before);
    EXPECT_EQ(d.Cli({"listrecoveries"}).at("recoveries").as_array().size(), 1u);
    EXPECT_EQ(d.Cli({"listevents", "0", "1000"}).at("events").as_array().size(), events_before);
    // Bad requests are refused and change nothing.
    auto bad = d.Cli({"rescan", "1000"}, &ok);
    EXPECT_FALSE(ok);
    EXPECT_NE(json::serialize(bad).find("from_height must be between 0 and the tip"), std::string::npos) << json::serialize(bad);
    bad = d.Cli({"rescan", "5", "v-0123456789abcdef"}, &ok);
    EXPECT_FALSE(ok);
    EXPECT_NE(json::serialize(bad).find("no vault"), std::string::npos) << json::serialize(bad);
}

//! Pays amount from the coinbase of block `height` to spk; returns the transaction (sent, unmined).
Transaction PayFromCoinbase(PresignedFixture& fx, int height, Amount amount, const Bytes& spk)
{
    const std::string hash{fx.node->Call("getblockhash", {height}).as_string()};
    auto block = DecodeBlock(*ParseHex(std::string_view{fx.node->Call("getblock", {hash, 0}).as_string()}));
    const Transaction& cb = block->txs.at(0);
    MutableTransaction m = Spend({cb.GetTxid(), 0}, amount, spk);
    m.vout.push_back({cb.vout().at(0).value - amount - Amount{10'000}, AnyoneCanSpend()});
    const Transaction tx{m};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(tx))});
    return tx;
}

//! Whether the node enforces OP_VAULT (getdeploymentinfo lists the vault deployment active).
bool NodeEnforcesOpVault(TestNode& node)
{
    const json::value dep = node.Call("getdeploymentinfo");
    const auto* vault = dep.at("deployments").as_object().if_contains("vault");
    return vault && vault->at("active").as_bool();
}

//! The daemon's extra flags for OP_VAULT vaults: the simulator checks no scripts, so it says it
//! does not enforce OP_VAULT and the daemon is told to allow them (a real node must enforce it).
std::vector<std::string> OpvaultDaemonArgs(bool real) { return real ? std::vector<std::string>{} : std::vector<std::string>{"--allowunenforcedopvault"}; }

//! A thief's trigger of vault v's UTXO deposit (worth value) to a withdrawal of their own.
Transaction ThiefTrigger(const vault::Vault& v, const OutPoint& deposit, Amount value, const crypto::KeyPair& trigger_key)
{
    vault::TriggerRequest tr;
    tr.deposit = deposit;
    tr.deposit_value = value;
    tr.ctv_hash = ctv::TemplateHash(vault::WithdrawalTemplate(10, value - Amount{5'000}, P2TR(0xee)), 0);
    auto trig = vault::BuildTrigger(v, tr, trigger_key);
    if (!trig) throw std::runtime_error("trigger: " + trig.error());
    return Transaction{*trig};
}

//! One transaction paying value into each vault (outputs 1..n), from the coinbase of block
//! `height`; sent, not mined.
Transaction DepositIntoEach(PresignedFixture& fx, int height, const std::vector<TestOpVault>& vs, Amount value)
{
    const std::string hash{fx.node->Call("getblockhash", {height}).as_string()};
    const auto block = DecodeBlock(*ParseHex(std::string_view{fx.node->Call("getblock", {hash, 0}).as_string()}));
    const Transaction& cb = block->txs.at(0);
    MutableTransaction m = Spend({cb.GetTxid(), 0}, cb.vout().at(0).value - Amount{value.sats() * static_cast<int64_t>(vs.size())} - Amount{50'000}, AnyoneCanSpend());
    for (const auto& v : vs) m.vout.push_back({value, v.vault.ScriptPubKey()});
    const Transaction deposit{m};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(deposit))});
    return deposit;
}

//! A thief triggers every vault's deposit (DepositIntoEach), all mined in one block.
//! Returns: the trigger outputs.
std::set<OutPoint> TriggerEachInOneBlock(PresignedFixture& fx, const std::vector<TestOpVault>& vs, const Transaction& deposit, Amount value,
                                         const crypto::KeyPair& trigger_key)
{
    json::array triggers;
    std::set<OutPoint> outputs;
    for (size_t i = 0; i < vs.size(); ++i) {
        const Transaction t = ThiefTrigger(vs[i].vault, {deposit.GetTxid(), static_cast<uint32_t>(i + 1)}, value, trigger_key);
        triggers.emplace_back(HexStr(SerializeTransaction(t)));
        outputs.insert({t.GetTxid(), 0});
    }
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), triggers});
    return outputs;
}

//! The txid of the first recovery the daemon lists, once the node has it in its mempool; else "".
template <typename D>
std::string FirstRecoveryInMempool(D& d, PresignedFixture& fx)
{
    const auto r = d.Cli({"listrecoveries"});
    if (!r.is_object() || r.at("recoveries").as_array().empty()) return "";
    const std::string txid = Field(r.at("recoveries").as_array()[0], "txid");
    return fx.InMempool(*Txid::FromHex(txid)) ? txid : "";
}

//! A recovery's transaction as the daemon keeps it.
template <typename D>
std::optional<Transaction> RecoveryTx(D& d, const std::string& txid)
{
    auto tx = DecodeTransactionHex(std::string(d.Cli({"getrecovery", txid}).at("hex").as_string()));
    if (!tx) return std::nullopt;
    return std::move(*tx);
}

template <typename D>
std::vector<std::string> EventTypes(D& d)
{
    std::vector<std::string> out;
    const auto ev = d.Cli({"listevents", "0", "1000"});
    if (!ev.is_object()) return out;
    for (const auto& e : ev.at("events").as_array()) out.emplace_back(e.at("type").as_string());
    return out;
}

TEST_P(engine_e2e, PresignedLadderIsClimbedEachBlockUntilItConfirms)
{
    PresignedFixture fx{Real()};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }));
    fx.SendTrigger();
    // The cheaper variant first (it meets the fallback feerate)...
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d.Log();
    // ...then a block goes by without it (a miner that ignores it): the next rung replaces it.
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{}});
    const std::string ftxid = fx.recovery_fast.GetTxid().ToString(), rtxid = fx.recovery.GetTxid().ToString();
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery_fast.GetTxid()); })) << d.Log();
    EXPECT_FALSE(fx.InMempool(fx.recovery.GetTxid())) << "replaced in the node's mempool (RBF)";
    EXPECT_EQ(Field(d.Cli({"getrecovery", rtxid}), "state"), "replaced");
    // At the top of the ladder: more empty blocks only rebroadcast it.
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{}});
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 113; }));
    EXPECT_TRUE(fx.InMempool(fx.recovery_fast.GetTxid()));
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", ftxid}), "state") == "confirmed"; })) << d.Log();
    EXPECT_EQ(Field(d.Cli({"getrecovery", rtxid}), "state"), "replaced");
    EXPECT_EQ(Field(d.Cli({"getvault", Field(reg, "vault_id")}), "state"), "recovered");
    const auto types = EventTypes(d);
    EXPECT_EQ(std::count(types.begin(), types.end(), "recovery.fee_bumped"), 1) << json::serialize(json::value_from(types));
    const auto ev = d.Cli({"listevents", "0", "1000"}).at("events").as_array();
    for (const auto& e : ev) {
        if (e.at("type") != "recovery.fee_bumped") continue;
        EXPECT_EQ(Field(e, "txid"), ftxid);
        EXPECT_NE(json::serialize(e.at("data")).find(rtxid), std::string::npos) << json::serialize(e);
    }
}

TEST_P(engine_e2e, NodeFeeEstimateChoosesTheRungToStartFrom)
{
    if (Real()) GTEST_SKIP() << "a fresh regtest bitcoind has no fee estimate";
    PresignedFixture fx{Real()};
    // 200 sat/vB: more than the cheaper variant pays (~100 sat/vB), less than the faster one.
    fx.node->Call("simsetfee", {200'000});
    auto tower = StartTower(fx);
    Tower& d = *tower;
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }));
    fx.Generate(1); // a block: the engine asks the node for its estimate
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}).at("coverage"), "feerate_source") == "estimatesmartfee"; })) << d.Log();
    EXPECT_EQ(Field(d.Cli({"getfeewallet"}).at("coverage"), "feerate_sat_per_kvb"), "200000");
    fx.SendTrigger();
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery_fast.GetTxid()); })) << d.Log();
    d.Cli({"getrecovery", fx.recovery.GetTxid().ToString()}, &ok);
    EXPECT_FALSE(ok) << "the cheaper variant is never planned";
}

TEST_P(engine_process, FeeWalletIsCreatedFundedReportedAndKeptAcrossRestarts)
{
    PresignedFixture fx{Real()};
    const auto dir = fx.dir / "vw";
    auto d = std::make_unique<Daemon>(dir, FreePort(), fx.NodePort(), std::vector<std::string>{"--feewalletreserve=500000"});
    d->Start();
    ASSERT_TRUE(WaitFor([&] { return d->Cli({"getfeewallet"}).is_object(); })) << d->Log();
    const auto w0 = d->Cli({"getfeewallet"});
    const std::string address = Field(w0, "address");
    EXPECT_EQ(address.rfind("bcrt1p", 0), 0u) << address;
    EXPECT_EQ(Field(w0, "balance"), "0");
    EXPECT_EQ(Field(w0, "low"), "true");
    // The key: a 0600 file in the datadir, never in an answer or the log.
    const auto keyfile = dir / "regtest" / "feewallet.key";
    struct stat st{};
    ASSERT_EQ(::stat(keyfile.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::string key;
    std::getline(std::ifstream(keyfile), key);
    ASSERT_EQ(key.size(), 64u);
    EXPECT_EQ(d->Log().find(key), std::string::npos);
    EXPECT_EQ(json::serialize(w0).find(key), std::string::npos);
    // Below the reserve: one feewallet.low at the next block, not one per block.
    fx.Generate(2);
    ASSERT_TRUE(WaitFor([&] { return d->Cli({"getinfo"}).as_object().at("height").as_int64() == 113; }));
    ASSERT_TRUE(WaitFor([&] { auto t = EventTypes(*d); return std::count(t.begin(), t.end(), "feewallet.low") == 1; })) << d->Log();
    // Funded: pending in the mempool, then confirmed.
    const Bytes spk = *ParseHex(Field(w0, "script_pubkey"));
    const Transaction pay = PayFromCoinbase(fx, 2, Amount{700'000}, spk);
    ASSERT_TRUE(WaitFor([&] { return Field(d->Cli({"getfeewallet"}), "pending_balance") == "700000"; })) << d->Log();
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d->Cli({"getfeewallet"}), "balance") == "700000"; })) << d->Log();
    const auto w1 = d->Cli({"getfeewallet"});
    EXPECT_EQ(Field(w1, "low"), "false");
    ASSERT_EQ(w1.at("utxos").as_array().size(), 1u);
    EXPECT_EQ(Field(w1.at("utxos").as_array()[0], "txid"), pay.GetTxid().ToString());
    EXPECT_EQ(Field(w1.at("utxos").as_array()[0], "height"), "114");
    EXPECT_GE(w1.at("coverage").at("recoveries").as_int64(), 1);
    // A restart: the same key, the coins rebuilt from the store.
    d->Kill(SIGTERM);
    d = std::make_unique<Daemon>(dir, FreePort(), fx.NodePort(), std::vector<std::string>{"--feewalletreserve=500000"});
    d->Start();
    ASSERT_TRUE(WaitFor([&] { return d->Cli({"getfeewallet"}).is_object(); })) << d->Log();
    EXPECT_EQ(Field(d->Cli({"getfeewallet"}), "address"), address);
    EXPECT_EQ(Field(d->Cli({"getfeewallet"}), "balance"), "700000");
    auto t = EventTypes(*d);
    EXPECT_EQ(std::count(t.begin(), t.end(), "feewallet.low"), 1);
    d->Kill(SIGTERM);
    // A key file others can read is refused, with the fix in the message.
    ::chmod(keyfile.c_str(), 0644);
    d = std::make_unique<Daemon>(dir, FreePort(), fx.NodePort());
    d->Start();
    ASSERT_TRUE(WaitFor([&] { return d->Log().find("readable by others") != std::string::npos; })) << d->Log();
    EXPECT_NE(d->Log().find("chmod 600"), std::string::npos);
    EXPECT_EQ(d->Log().find(key), std::string::npos);
}

TEST_P(engine_e2e, OpvaultRecoveryPaysItsFeeFromTheFeeWallet)
{
    PresignedFixture fx{Real(), {"-acceptnonstdtxn=1"}};
    if (Real() && !NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";
    std::vector<std::string> extra = OpvaultDaemonArgs(Real());
    const auto trigger_key = TestKey(0x32);
    const Bytes recovery_spk = P2TR(0xcd);
    const TestOpVault tv = MakeTestOpVault(TestKey(0x31).PubKey(), trigger_key.PubKey(), recovery_spk, 10, "fee");
    const vault::Vault* v = &tv.vault;
    auto tower = StartTower(fx, extra);
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = false;
    auto reg = d.Cli({"registervault", tv.registration}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    // Fund the fee wallet with two coins; deposit into the vault.
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    const Transaction small = PayFromCoinbase(fx, 2, Amount{30'000}, fee_spk);
    const Transaction big = PayFromCoinbase(fx, 3, Amount{900'000}, fee_spk);
    const Amount value = fx.funding.vout()[0].value - Amount{10'000};
    const Transaction deposit{Spend({fx.funding.GetTxid(), 0}, value, v->ScriptPubKey())};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(deposit))});
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}), "balance") == "930000"; })) << d.Log();
    // The thief's trigger, mined directly (it pays no fee: OP_VAULT preserves the vault's value).
    const Transaction trigger = ThiefTrigger(*v, {deposit.GetTxid(), 0}, value, trigger_key);
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{json::string(HexStr(SerializeTransaction(trigger)))}});
    // The recovery: the trigger output plus the smallest fee coin that pays the fallback rate
    // (20 sat/vB x ~190 vB), all of it as fee; recovery output = the vault's value, and the anchor.
    std::string rtxid;
    ASSERT_TRUE(WaitFor([&] { return !(rtxid = FirstRecoveryInMempool(d, fx)).empty(); })) << d.Log();
    auto rtx = RecoveryTx(d, rtxid);
    ASSERT_TRUE(rtx);
    ASSERT_EQ(rtx->vin().size(), 2u);
    EXPECT_EQ(rtx->vin()[0].prevout, (OutPoint{trigger.GetTxid(), 0}));
    EXPECT_EQ(rtx->vin()[1].prevout, (OutPoint{small.GetTxid(), 0}));
    ASSERT_EQ(rtx->vout().size(), 2u);
    EXPECT_EQ(rtx->vout()[0].script_pubkey, recovery_spk);
    EXPECT_EQ(rtx->vout()[0].value, value);
    EXPECT_EQ(rtx->vout()[1].value, Amount{0});
    EXPECT_GE(30'000 * 1000 / static_cast<int64_t>(rtx->VSize()), 20'000) << "pays at least the fallback feerate";
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}), "balance") == "900000"; })) << "the coin is spent: " << json::serialize(d.Cli({"getfeewallet"}));
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", rtxid}), "state") == "confirmed"; })) << d.Log();
    EXPECT_EQ(d.Cli({"getfeewallet"}).at("utxos").as_array().size(), 1u);
    (void)big;
}

TEST_P(engine_e2e, OpvaultRecoveryIsReplacedWithABiggerFeeEachBlockUntilItConfirms)
{
    PresignedFixture fx{Real(), {"-acceptnonstdtxn=1"}};
    if (Real() && !NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";
    std::vector<std::string> extra = OpvaultDaemonArgs(Real());
    const auto trigger_key = TestKey(0x36);
    const Bytes recovery_spk = P2TR(0xce);
    const TestOpVault tv = MakeTestOpVault(TestKey(0x35).PubKey(), trigger_key.PubKey(), recovery_spk, 10, "rbf");
    auto tower = StartTower(fx, extra);
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = false;
    auto reg = d.Cli({"registervault", tv.registration}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    const Transaction c30 = PayFromCoinbase(fx, 2, Amount{30'000}, fee_spk);
    const Transaction c60 = PayFromCoinbase(fx, 3, Amount{60'000}, fee_spk);
    const Transaction c90 = PayFromCoinbase(fx, 4, Amount{90'000}, fee_spk);
    const Amount value = fx.funding.vout()[0].value - Amount{10'000};
    const Transaction deposit{Spend({fx.funding.GetTxid(), 0}, value, tv.vault.ScriptPubKey())};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(deposit))});
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}), "balance") == "180000"; })) << d.Log();
    const Transaction trigger = ThiefTrigger(tv.vault, {deposit.GetTxid(), 0}, value, trigger_key);
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{json::string(HexStr(SerializeTransaction(trigger)))}});
    // Paid by the smallest coin that covers the fallback rate, then by the next bigger coin after
    // each block that leaves it out (a miner that ignores it), each replacing the one before.
    auto in_mempool_paid_by = [&](const Transaction& coin) -> std::string {
        const auto r = d.Cli({"listrecoveries"});
        if (!r.is_object()) return "";
        for (const auto& x : r.at("recoveries").as_array()) {
            const std::string t = Field(x, "txid");
            auto rtx = RecoveryTx(d, t);
            if (!rtx || rtx->vin().size() != 2 || rtx->vin()[1].prevout != OutPoint{coin.GetTxid(), 0}) continue;
            EXPECT_EQ(rtx->vin()[0].prevout, (OutPoint{trigger.GetTxid(), 0}));
            EXPECT_EQ(rtx->vout()[0].value, value);
            if (fx.InMempool(*Txid::FromHex(t))) return t;
        }
        return "";
    };
    std::string first, second, third;
    ASSERT_TRUE(WaitFor([&] { return !(first = in_mempool_paid_by(c30)).empty(); })) << d.Log();
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{}});
    ASSERT_TRUE(WaitFor([&] { return !(second = in_mempool_paid_by(c60)).empty(); })) << d.Log();
    EXPECT_FALSE(fx.InMempool(*Txid::FromHex(first))) << "replaced in the node's mempool (RBF)";
    EXPECT_EQ(Field(d.Cli({"getrecovery", first}), "state"), "replaced");
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{}});
    ASSERT_TRUE(WaitFor([&] { return !(third = in_mempool_paid_by(c90)).empty(); })) << d.Log();
    EXPECT_FALSE(fx.InMempool(*Txid::FromHex(second)));
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", third}), "state") == "confirmed"; })) << d.Log();
    EXPECT_EQ(Field(d.Cli({"getrecovery", second}), "state"), "replaced");
    EXPECT_EQ(Field(d.Cli({"getvault", Field(reg, "vault_id")}), "state"), "recovered") << json::serialize(d.Cli({"getvault", Field(reg, "vault_id")}));
    const auto types = EventTypes(d);
    EXPECT_EQ(std::count(types.begin(), types.end(), "recovery.fee_bumped"), 2) << json::serialize(json::value_from(types));
    // The coins of the replaced transactions are the wallet's again.
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}), "balance") == "90000"; })) << json::serialize(d.Cli({"getfeewallet"}));
}

TEST_P(engine_e2e, AuthorizedSweepsOfSeveralGroupsTriggeredTogetherShareOneTransaction)
{
    // Six vaults in three recovery groups under one recovery-auth key, each triggered by its own
    // transaction, all in one block: one recovery, one output per group, one fee coin; confirmed.
    PresignedFixture fx{Real(), {"-acceptnonstdtxn=1"}};
    if (Real() && !NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";
    std::vector<std::string> extra = OpvaultDaemonArgs(Real());
    constexpr size_t VAULTS = 6, GROUPS = 3;
    const auto trigger_key = TestKey(0x39);
    const std::array<Bytes, GROUPS> recovery_spks{P2TR(0xe0), P2TR(0xe1), P2TR(0xe2)};
    std::vector<TestOpVault> vs;
    json::array regs;
    for (size_t i = 0; i < VAULTS; ++i) {
        vs.push_back(MakeAuthorizedTestOpVault(TestKey(static_cast<uint8_t>(0x80 + i)).PubKey(), trigger_key.PubKey(), recovery_spks[i % GROUPS], 10, 0x3a));
        regs.push_back(json::parse(vs.back().registration));
    }
    auto tower = StartTower(fx, extra);
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = false;
    const auto reg = d.Cli({"registervaults", json::serialize(regs)}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    for (const auto& r : reg.at("results").as_array()) ASSERT_FALSE(r.as_object().contains("error")) << json::serialize(r);
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    const Transaction coin = PayFromCoinbase(fx, 2, Amount{200'000}, fee_spk);
    const Amount value{1'000'000};
    const Transaction deposit = DepositIntoEach(fx, 5, vs, value);
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}), "balance") == "200000"; })) << d.Log();
    const std::set<OutPoint> trigger_outputs = TriggerEachInOneBlock(fx, vs, deposit, value, trigger_key);
    std::string rtxid;
    ASSERT_TRUE(WaitFor([&] { return !(rtxid = FirstRecoveryInMempool(d, fx)).empty(); })) << d.Log();
    ASSERT_EQ(d.Cli({"listrecoveries"}).at("recoveries").as_array().size(), 1u) << json::serialize(d.Cli({"listrecoveries"}));
    auto rtx = RecoveryTx(d, rtxid);
    ASSERT_TRUE(rtx);
    std::set<OutPoint> swept;
    bool fee_in = false;
    for (const auto& in : rtx->vin()) {
        if (trigger_outputs.contains(in.prevout)) swept.insert(in.prevout);
        if (in.prevout == OutPoint{coin.GetTxid(), 0}) fee_in = true;
    }
    EXPECT_EQ(swept, trigger_outputs);
    EXPECT_TRUE(fee_in);
    EXPECT_EQ(rtx->vin().size(), VAULTS + 1);
    std::map<Bytes, Amount> paid;
    for (const auto& o : rtx->vout()) paid[o.script_pubkey] += o.value;
    for (const auto& spk : recovery_spks) EXPECT_EQ(paid[spk], Amount{value.sats() * static_cast<int64_t>(VAULTS / GROUPS)});
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] {
        return Field(d.Cli({"getrecovery", rtxid}), "state") == "confirmed" &&
               d.Cli({"listvaults", "recovered"}).at("vaults").as_array().size() == VAULTS;
    })) << d.Log();
}

TEST_P(engine_e2e, ALargeFeeCoinIsSplitAheadOfNeedAndARecoveryPaysWithOneOfTheParts)
{
    PresignedFixture fx{Real(), {"-acceptnonstdtxn=1"}};
    if (Real() && !NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";
    std::vector<std::string> extra = OpvaultDaemonArgs(Real());
    extra.push_back("--feewalletcoins=4");
    const auto trigger_key = TestKey(0x38);
    const TestOpVault tv = MakeTestOpVault(TestKey(0x37).PubKey(), trigger_key.PubKey(), P2TR(0xcf), 10, "split");
    auto tower = StartTower(fx, extra);
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = false;
    auto reg = d.Cli({"registervault", tv.registration}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    // One large coin: after the block that confirms it, four coins of ~2 recoveries' fee each
    // (20 sat/vB fallback x 189 vB x 2 = 7,560 sat) and the change, in one split transaction.
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    const Transaction big = PayFromCoinbase(fx, 2, Amount{5'000'000}, fee_spk);
    fx.Generate(1);
    std::string split_txid;
    ASSERT_TRUE(WaitFor([&] {
        const auto w = d.Cli({"getfeewallet"});
        std::vector<json::value> u; // the coins not spent (the big one is, by the split)
        for (const auto& c : w.at("utxos").as_array()) {
            if (c.at("spent_by").is_null()) u.push_back(c);
        }
        if (u.size() != 5) return false;
        split_txid = Field(u[0], "txid");
        return std::all_of(u.begin(), u.end(), [&](const json::value& c) { return Field(c, "txid") == split_txid; }) &&
               fx.InMempool(*Txid::FromHex(split_txid));
    })) << json::serialize(d.Cli({"getfeewallet"})) << d.Log();
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}), "pending_balance") == "0"; }));
    // Nothing more to split: four coins are ready.
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == fx.node->Call("getblockcount").as_int64(); }));
    EXPECT_EQ(d.Cli({"getfeewallet"}).at("utxos").as_array().size(), 5u);
    // A thief's trigger: the recovery pays with one of the parts, not the change.
    const Amount value = fx.funding.vout()[0].value - Amount{10'000};
    const Transaction deposit{Spend({fx.funding.GetTxid(), 0}, value, tv.vault.ScriptPubKey())};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(deposit))});
    fx.Generate(1);
    const Transaction trigger = ThiefTrigger(tv.vault, {deposit.GetTxid(), 0}, value, trigger_key);
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{json::string(HexStr(SerializeTransaction(trigger)))}});
    std::string rtxid;
    ASSERT_TRUE(WaitFor([&] { return !(rtxid = FirstRecoveryInMempool(d, fx)).empty(); })) << d.Log();
    auto rtx = RecoveryTx(d, rtxid);
    ASSERT_TRUE(rtx);
    ASSERT_EQ(rtx->vin().size(), 2u);
    EXPECT_EQ(rtx->vin()[1].prevout.txid.ToString(), split_txid);
    EXPECT_LT(rtx->vin()[1].prevout.n, 4u) << "one of the four parts, not the change";
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", rtxid}), "state") == "confirmed"; })) << d.Log();
    (void)big;
}

TEST_P(engine_e2e, OpvaultMassExitIsRecoveredInOneTransactionPerGroup)
{
    // 64 vaults in two recovery groups, all triggered by a thief in one block: the daemon answers
    // with one sweep per group (every trigger output of the group, one fee coin), both confirm.
    // 64 triggers in a block: their output keys are computed ahead, on every core (TriggerKeysAhead).
    PresignedFixture fx{Real(), {"-acceptnonstdtxn=1"}};
    if (Real() && !NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";
    std::vector<std::string> extra = OpvaultDaemonArgs(Real());
    constexpr size_t VAULTS = 64, GROUPS = 2;
    const auto trigger_key = TestKey(0x34);
    const std::array<Bytes, GROUPS> recovery_spks{P2TR(0xd0), P2TR(0xd1)};
    std::vector<TestOpVault> vs;
    json::array regs;
    for (size_t i = 0; i < VAULTS; ++i) {
        vs.push_back(MakeTestOpVault(TestKey(static_cast<uint8_t>(0x60 + i)).PubKey(), trigger_key.PubKey(), recovery_spks[i % GROUPS], 10));
        regs.push_back(json::parse(vs.back().registration));
    }
    auto tower = StartTower(fx, extra);
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = false;
    const auto reg = d.Cli({"registervaults", json::serialize(regs)}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    for (const auto& r : reg.at("results").as_array()) ASSERT_FALSE(r.as_object().contains("error")) << json::serialize(r);
    // Two fee coins, one per group; one transaction deposits into every vault.
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    PayFromCoinbase(fx, 2, Amount{60'000}, fee_spk);
    PayFromCoinbase(fx, 3, Amount{70'000}, fee_spk);
    const Amount value{1'000'000};
    const Transaction deposit = DepositIntoEach(fx, 4, vs, value);
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}), "balance") == "130000"; })) << d.Log();
    // The thief triggers every vault, all in one block.
    const std::set<OutPoint> trigger_outputs = TriggerEachInOneBlock(fx, vs, deposit, value, trigger_key);
    // Every trigger is answered by the sweep of its group: two transactions, each with the 32
    // trigger outputs of its group and one fee coin, paying the group's recovery scriptPubKey.
    std::set<std::string> rtxids;
    ASSERT_TRUE(WaitFor([&] {
        rtxids.clear();
        const auto r = d.Cli({"listrecoveries"});
        if (!r.is_object()) return false;
        for (const auto& x : r.at("recoveries").as_array()) rtxids.insert(Field(x, "txid"));
        if (rtxids.size() < GROUPS) return false;
        for (const auto& t : rtxids) {
            if (!fx.InMempool(*Txid::FromHex(t))) return false;
        }
        return true;
    }, 60s)) << d.Log();
    ASSERT_EQ(rtxids.size(), GROUPS) << json::serialize(d.Cli({"listrecoveries"}));
    std::set<OutPoint> swept;
    std::set<Bytes> paid;
    for (const auto& t : rtxids) {
        auto rtx = RecoveryTx(d, t);
        ASSERT_TRUE(rtx);
        EXPECT_EQ(rtx->vin().size(), VAULTS / GROUPS + 1);
        for (const auto& in : rtx->vin()) {
            if (trigger_outputs.contains(in.prevout)) swept.insert(in.prevout);
        }
        EXPECT_EQ(rtx->vout()[0].value, Amount{value.sats() * static_cast<int64_t>(VAULTS / GROUPS)});
        paid.insert(rtx->vout()[0].script_pubkey);
    }
    EXPECT_EQ(swept, trigger_outputs);
    EXPECT_EQ(paid, (std::set<Bytes>{recovery_spks.begin(), recovery_spks.end()}));
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] {
        for (const auto& t : rtxids) {
            if (Field(d.Cli({"getrecovery", t}), "state") != "confirmed") return false;
        }
        return d.Cli({"listvaults", "recovered"}).at("vaults").as_array().size() == VAULTS;
    })) << json::serialize(d.Cli({"listvaults"}));
}

TEST_P(engine_e2e, FeeWalletRunsDryAndTheAlertFires)
{
    if (Real()) GTEST_SKIP() << "needs opvault vaults on a node without OP_VAULT (simulator only)";
    PresignedFixture fx{Real()};
    // Reserve: more than one coin is worth; two coins, two recovery groups attacked.
    auto tower = StartTower(fx, std::vector<std::string>{"--allowunenforcedopvault", "--feewalletreserve=50000"});
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }));
    const auto trigger_key = TestKey(0x42);
    std::vector<vault::Vault> vs;
    for (uint8_t g = 0; g < 2; ++g) {
        TestOpVault tv = MakeTestOpVault(TestKey(static_cast<uint8_t>(0x50 + g)).PubKey(), trigger_key.PubKey(), P2TR(static_cast<uint8_t>(0xa0 + g)), 10);
        bool ok = false;
        auto reg = d.Cli({"registervault", tv.registration}, &ok);
        ASSERT_TRUE(ok) << json::serialize(reg);
        vs.push_back(std::move(tv.vault));
    }
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    PayFromCoinbase(fx, 2, Amount{40'000}, fee_spk);
    PayFromCoinbase(fx, 3, Amount{45'000}, fee_spk);
    std::vector<Transaction> deposits;
    // Deposits from two coinbases.
    for (size_t g = 0; g < 2; ++g) {
        const Transaction cb = [&] {
            const std::string hash{fx.node->Call("getblockhash", {static_cast<int>(4 + g)}).as_string()};
            return DecodeBlock(*ParseHex(std::string_view{fx.node->Call("getblock", {hash, 0}).as_string()}))->txs.at(0);
        }();
        const Transaction dep{Spend({cb.GetTxid(), 0}, cb.vout()[0].value - Amount{10'000}, vs[g].ScriptPubKey())};
        fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(dep))});
        deposits.push_back(dep);
    }
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}), "balance") == "85000"; })) << d.Log();
    auto low = [&] {
        const auto ev = d.Cli({"listevents", "0", "1000"});
        size_t n = 0;
        for (const auto& e : ev.at("events").as_array()) n += e.at("type") == "feewallet.low";
        return n;
    };
    // Started empty, below the reserve: one alert at the first block; funded above it since.
    EXPECT_EQ(low(), 1u);
    // Both vaults triggered in one block: each group's recovery takes a coin.
    json::array txs;
    for (size_t g = 0; g < 2; ++g) {
        txs.emplace_back(HexStr(SerializeTransaction(ThiefTrigger(vs[g], {deposits[g].GetTxid(), 0}, deposits[g].vout()[0].value, trigger_key))));
    }
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), txs});
    ASSERT_TRUE(WaitFor([&] {
        const auto r = d.Cli({"listrecoveries"});
        size_t in_pool = 0;
        for (const auto& x : r.at("recoveries").as_array()) in_pool += fx.InMempool(*Txid::FromHex(Field(x, "txid")));
        return in_pool == 2;
    })) << d.Log();
    fx.Generate(1); // both confirm: the wallet is empty now
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}), "balance") == "0"; })) << json::serialize(d.Cli({"getfeewallet"}));
    ASSERT_TRUE(WaitFor([&] { return low() == 2; })) << d.Log();
    EXPECT_EQ(Field(d.Cli({"getfeewallet"}), "low"), "true");
    EXPECT_EQ(Field(d.Cli({"getfeewallet"}).at("coverage"), "recoveries"), "0");
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 115; }));
    EXPECT_EQ(low(), 2u) << "once per fall below the reserve, not at every block";
}

TEST_P(engine_e2e, ACpfpPackagePaysForAZeroFeePresignedRecovery)
{
    // A real node runs with -minrelaytxfee=0 for the OP_VAULT tests; here the default relay
    // floor comes back (the last value given wins), or the zero-fee parent would relay alone.
    PresignedFixture fx{Real(), {"-minrelaytxfee=0.00001"}};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getfeewallet"}).is_object(); })) << d.Log();
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    PayFromCoinbase(fx, 2, Amount{100'000}, fee_spk);
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}), "balance") == "100000"; })) << d.Log();
    // The operator pre-signed a recovery that pays no fee at all, with a small output to the
    // watchtower's fee wallet for a child to spend (CPFP).
    const Amount t = fx.trigger.vout()[0].value;
    MutableTransaction zero = Spend({fx.trigger.GetTxid(), 0}, t - Amount{1'000}, P2TR(0xcc));
    zero.vout.push_back({Amount{1'000}, fee_spk});
    const Transaction recovery{zero};
    const std::string req = R"({"kind":"presigned","watch_outpoints":[{"txid":")" + fx.funding.GetTxid().ToString() +
                            R"(","vout":0}],"triggers":[{"txid":")" + fx.trigger.GetTxid().ToString() +
                            R"(","spend_delay":20,"recovery_txs":[")" + HexStr(SerializeTransaction(recovery)) + R"("]}]})";
    bool ok = false;
    auto reg = d.Cli({"registervault", req}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    fx.SendTrigger();
    // Alone it is refused (below the relay minimum); with its child it is accepted.
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(recovery.GetTxid()); })) << d.Log();
    std::string child;
    const auto events = d.Cli({"listevents", "0", "1000"}).at("events").as_array();
    for (const auto& e : events) {
        if (e.at("type") == "recovery.fee_bumped") child = Field(e.at("data"), "cpfp_child");
    }
    ASSERT_EQ(child.size(), 64u) << json::serialize(json::value(events)) << "\n" << d.Log();
    ASSERT_TRUE(fx.InMempool(*Txid::FromHex(child)));
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", recovery.GetTxid().ToString()}), "state") == "confirmed"; })) << d.Log();
    // The coin paid for the package; its change came back to the wallet.
    ASSERT_TRUE(WaitFor([&] {
        const auto w = d.Cli({"getfeewallet"});
        return w.at("utxos").as_array().size() == 1 && Field(w.at("utxos").as_array()[0], "txid") == child;
    })) << json::serialize(d.Cli({"getfeewallet"}));
    const int64_t left = d.Cli({"getfeewallet"}).at("balance").as_int64();
    EXPECT_LT(left, 101'000);
    EXPECT_GT(left, 90'000) << "a fee for ~2 small transactions at the fallback rate, not more";
}

TEST_P(engine_e2e, OpvaultFlowWhenTheNodeEnforcesIt)
{
    if (!Real()) GTEST_SKIP() << "the simulator keeps a 0.1 sat/vB relay minimum; OP_VAULT triggers and unauthorized recoveries are zero-fee";
    PresignedFixture fx{Real()};
    if (!NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";

    // The owner's vault: recover leaf + trigger leaf (delay 10) under an internal key.
    const auto trigger_key = TestKey(0x22);
    const Bytes recovery_spk = P2TR(0xcc);
    const TestOpVault tv = MakeTestOpVault(TestKey(0x11).PubKey(), trigger_key.PubKey(), recovery_spk, 10, "ov");
    const vault::Vault* v = &tv.vault;

    auto tower = StartTower(fx);
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = false;
    auto reg = d.Cli({"registervault", tv.registration}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    ASSERT_EQ(Field(reg, "script_pubkey"), HexStr(v->ScriptPubKey()));
    const std::string vid = Field(reg, "vault_id");

    // Deposit: the funding output of the fixture, moved into the vault.
    const Amount value = fx.funding.vout()[0].value - Amount{10'000};
    const Transaction deposit{Spend({fx.funding.GetTxid(), 0}, value, v->ScriptPubKey())};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(deposit))});
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] {
        const auto g = d.Cli({"getvault", vid});
        return g.is_object() && !g.at("utxos").as_array().empty() && !g.at("utxos").as_array()[0].at("height").is_null();
    })) << d.Log();

    // The thief's trigger, to a withdrawal template of their own.
    const Transaction trigger = ThiefTrigger(*v, {deposit.GetTxid(), 0}, value, trigger_key);
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(trigger))});
    const int64_t trigger_height = fx.node->Call("getblockcount").as_int64() + 1;

    // Our recovery reaches the node's mempool and confirms long before the delay ends.
    std::string rtxid;
    ASSERT_TRUE(WaitFor([&] { return !(rtxid = FirstRecoveryInMempool(d, fx)).empty(); })) << d.Log();
    const auto rec = d.Cli({"getrecovery", rtxid});
    EXPECT_EQ(Field(rec, "kind"), "opvault_unauthorized");
    auto rtx = DecodeTransactionHex(std::string(rec.at("hex").as_string()));
    ASSERT_TRUE(rtx);
    ASSERT_EQ(rtx->vin().size(), 1u);
    EXPECT_EQ(rtx->vin()[0].prevout, (OutPoint{trigger.GetTxid(), 0}));
    EXPECT_EQ(rtx->vout()[0].script_pubkey, recovery_spk);
    EXPECT_EQ(rtx->vout()[0].value, value);
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", rtxid}), "state") == "confirmed"; })) << d.Log();
    const auto confirmed = d.Cli({"getrecovery", rtxid}).at("confirmed_height").as_int64();
    EXPECT_LT(confirmed, trigger_height + 10);
    EXPECT_EQ(Field(d.Cli({"getvault", vid}), "state"), "recovered");
}

TEST_P(engine_e2e, OpvaultIsRefusedWhenTheNodeDoesNotEnforceIt)
{
    auto fx = std::make_unique<PresignedFixture>(Real());
    if (Real()) {
        const json::value dep = fx->node->Call("getdeploymentinfo");
        if (dep.at("deployments").as_object().contains("vault")) {
            // The BIP-345 prototype node: run it with the deployment disabled.
            fx.reset();
            fx = std::make_unique<PresignedFixture>(true, std::vector<std::string>{"-vbparams=vault:-2:0"});
        }
    }
    auto tower = StartTower(*fx);
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    ASSERT_FALSE(d.Cli({"getinfo"}).as_object().at("opvault_enforced").as_bool());
    bool ok = true;
    const std::string req = R"({"kind":"opvault","internal_key":")" + std::string(64, '1') +
                            R"(","leaves":[{"script":"51","depth":0}],"recovery_script_pubkey":"51"})";
    auto r = d.Cli({"registervault", req}, &ok);
    EXPECT_FALSE(ok);
    EXPECT_NE(json::serialize(r).find("does not enforce OP_VAULT"), std::string::npos) << json::serialize(r);
}

TEST_P(engine_e2e, AMalformedVaultIdIsRefusedBeforeTheEngineSeesIt)
{
    PresignedFixture fx{Real()};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    for (const char* bad : {"v-0123", "V-0123456789ABCDEF", "v-0123456789abcdeg", "0123456789abcdef01"}) {
        for (const char* method : {"getvault", "removevault", "recovervault", "listapprovals", "listrecoveries"}) {
            bool ok = true;
            const auto r = d.Cli({method, bad}, &ok);
            EXPECT_FALSE(ok) << method << " " << bad;
            EXPECT_NE(json::serialize(r).find("not a vault id"), std::string::npos) << method << ": " << json::serialize(r);
            EXPECT_NE(json::serialize(r).find("-5"), std::string::npos) << "names no vault: RPC_NOT_FOUND: " << json::serialize(r);
        }
    }
    // Well-formed but unknown: not found, as before.
    bool ok = true;
    EXPECT_NE(json::serialize(d.Cli({"getvault", "v-0123456789abcdef"}, &ok)).find("no vault"), std::string::npos);
    EXPECT_FALSE(ok);
}

// --- vault families: a wallet's vaults, not addresses (docs/vault-families.md) ------------------

//! A wallet recorded from jamesob/opvault-demo (tests/data/opvault-demo).
json::value RecordedWallet(size_t i)
{
    std::ifstream f(std::string(VW_TEST_DATA_DIR) + "/opvault-demo/wallets.json");
    std::stringstream ss;
    ss << f.rdbuf();
    return json::parse(ss.str()).at("wallets").as_array().at(i);
}

TEST_P(engine_e2e, AnImportedWalletsMember250IsWatchedWithoutRegistrationAndItsTheftRecovered)
{
    PresignedFixture fx{Real(), {"-acceptnonstdtxn=1"}};
    if (Real() && !NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";
    const json::value w = RecordedWallet(0); // opvault-demo defaults: delay 10, phrase "changeme2"
    auto tower = StartTower(fx, OpvaultDaemonArgs(Real()));
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    // The config.json as the wallet wrote it, and its recovery phrase: nobody touches a key or a script.
    bool ok = false;
    auto fam = d.Cli({"-named", "importvaultwallet", "config=" + std::string(w.at("config_json_text").as_string()), "recovery_phrase=changeme2",
                      "policy={\"mode\":\"recover\"}"}, &ok);
    ASSERT_TRUE(ok) << json::serialize(fam);
    EXPECT_EQ(Field(fam, "members"), "200") << "the wallet's own look-ahead";
    EXPECT_EQ(Field(fam, "recovers"), "true");
    const std::string fid = Field(fam, "family_id");
    auto spk_of = [&](size_t i) { return *ParseHex(std::string(w.at("window_scriptPubKeys").at("scriptPubKey_hex").as_array().at(i).as_string())); };
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    PayFromCoinbase(fx, 2, Amount{200'000}, fee_spk);
    // A deposit to member 150 (inside the first window) brings members up to 350 in.
    const Transaction d150 = PayFromCoinbase(fx, 3, Amount{2'000'000}, spk_of(150));
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] {
        const auto fams = d.Cli({"listfamilies"});
        for (const auto& f : fams.at("families").as_array()) {
            if (Field(f, "family_id") == fid) return Field(f, "members") == "351";
        }
        return false;
    })) << json::serialize(d.Cli({"listfamilies"}));
    // Member 250, which nobody registered by hand: a deposit, then a thief's trigger.
    const Amount value{3'000'000};
    const Transaction d250 = PayFromCoinbase(fx, 4, value, spk_of(250));
    fx.Generate(1);
    std::string vid;
    ASSERT_TRUE(WaitFor([&] {
        const auto all = d.Cli({"listvaults"});
        for (const auto& v : all.at("vaults").as_array()) {
            if (v.as_object().contains("family_index") && v.at("family_index").as_int64() == 250 && Field(v, "family_id") == fid) vid = Field(v, "vault_id");
        }
        if (vid.empty()) return false;
        const auto g = d.Cli({"getvault", vid});
        return !g.at("utxos").as_array().empty() && !g.at("utxos").as_array()[0].at("height").is_null();
    })) << json::serialize(d.Cli({"listvaults"}));
    if (auto* in = dynamic_cast<InprocessTower*>(&d)) {
        // The members the chain brought in survive a crash (they were stored with the blocks).
        in->Restart();
        const auto fams = d.Cli({"listfamilies"});
        EXPECT_EQ(Field(fams.at("families").as_array().at(0), "members"), "451") << "250 + 1 + the gap of 200";
        ASSERT_EQ(Field(d.Cli({"getvault", vid}), "vault_id"), vid);
    }
    // The thief holds member 250's trigger key (recorded with the wallet).
    const json::value* rec = nullptr;
    for (const auto& v : w.at("vaults").as_array()) {
        if (v.at("index").as_int64() == 250) rec = &v;
    }
    ASSERT_NE(rec, nullptr);
    const auto trigger_key = *crypto::KeyPair::FromSecret(*ParseHex(std::string(rec->at("trigger_privkey").as_string())));
    const auto fam_spec = vault::ParseFamily(Field(fam, "family"));
    ASSERT_TRUE(fam_spec) << fam_spec.error();
    const auto member = vault::Vault::FromSpec(*vault::MemberSpec(*fam_spec, 250));
    ASSERT_TRUE(member);
    ASSERT_EQ(member->ScriptPubKey(), spk_of(250));
    const Transaction trigger = ThiefTrigger(*member, {d250.GetTxid(), 0}, value, trigger_key);
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{json::string(HexStr(SerializeTransaction(trigger)))}});
    std::string rtxid;
    ASSERT_TRUE(WaitFor([&] { return !(rtxid = FirstRecoveryInMempool(d, fx)).empty(); })) << d.Log();
    EXPECT_EQ(Field(d.Cli({"getrecovery", rtxid}), "kind"), "opvault_authorized");
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getvault", vid}), "state") == "recovered"; })) << d.Log();
    auto rtx = RecoveryTx(d, rtxid);
    ASSERT_TRUE(rtx);
    // The whole deposit at the wallet's recovery address (the fee came from the fee wallet).
    const Bytes recovery_spk = *ParseHex(std::string(w.at("recovery").at("recovery_spk_hex").as_string()));
    Amount to_recovery{0};
    for (const auto& o : rtx->vout()) {
        if (o.script_pubkey == recovery_spk) to_recovery += o.value;
    }
    EXPECT_EQ(to_recovery, value);
    (void)d150;
}

TEST_P(engine_e2e, AWalletsDepositsInOneBlockAreAllWatchedWhateverTheirOrder)
{
    // A wallet hands out addresses in order, but one block can carry their deposits in any order:
    // member 50, then 35 (both beyond the first window of 20), then 19 (inside it: it brings
    // 20..39 in, which takes in 35, which brings 36..55 in, which takes in 50). All three are
    // watched, from that block.
    PresignedFixture fx{Real(), {"-acceptnonstdtxn=1"}};
    if (Real() && !NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";
    const json::value w = RecordedWallet(2);
    auto tower = StartTower(fx, OpvaultDaemonArgs(Real()));
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = false;
    auto fam = d.Cli({"-named", "importvaultwallet", "config=" + std::string(w.at("config_json_text").as_string()), "gap_limit=20"}, &ok);
    ASSERT_TRUE(ok) << json::serialize(fam);
    ASSERT_EQ(Field(fam, "members"), "20");
    auto spk_of = [&](size_t i) { return *ParseHex(std::string(w.at("window_scriptPubKeys").at("scriptPubKey_hex").as_array().at(i).as_string())); };
    json::array txs;
    std::vector<Transaction> deposits;
    int cb = 2;
    for (size_t member : {50u, 35u, 19u}) {
        const std::string hash{fx.node->Call("getblockhash", {cb++}).as_string()};
        const Transaction coinbase = DecodeBlock(*ParseHex(std::string_view{fx.node->Call("getblock", {hash, 0}).as_string()}))->txs.at(0);
        deposits.push_back(Transaction{Spend({coinbase.GetTxid(), 0}, coinbase.vout()[0].value - Amount{10'000}, spk_of(member))});
        txs.emplace_back(HexStr(SerializeTransaction(deposits.back())));
    }
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), txs});
    std::map<int64_t, bool> funded;
    ASSERT_TRUE(WaitFor([&] {
        funded.clear();
        const auto all = d.Cli({"listvaults"});
        for (const auto& v : all.at("vaults").as_array()) {
            if (!v.as_object().contains("family_index")) continue;
            const auto g = d.Cli({"getvault", Field(v, "vault_id")});
            if (!g.at("utxos").as_array().empty()) funded[v.at("family_index").as_int64()] = true;
        }
        return funded.size() == 3;
    })) << json::serialize(d.Cli({"listfamilies"}));
    EXPECT_TRUE(funded.contains(50) && funded.contains(35) && funded.contains(19));
    const auto fams = d.Cli({"listfamilies"});
    EXPECT_EQ(Field(fams.at("families").as_array().at(0), "members"), "71") << "50 + 1 + 20";
}

TEST_P(engine_e2e, AFamilyThatGrowsInABlockTheDiskRefusedGrowsAgainWhenTheBlockIsStored)
{
    // The members a deposit brings in are stored with its block. When that block cannot be stored
    // (a full disk), the retry must register them again: the registry is reloaded, not trusted.
    if (Real()) GTEST_SKIP() << "needs the in-process store's full-disk switch";
    PresignedFixture fx{Real()};
    const json::value w = RecordedWallet(0);
    auto tower = StartTower(fx, OpvaultDaemonArgs(Real()));
    auto& d = dynamic_cast<InprocessTower&>(*tower);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = false;
    auto fam = d.Cli({"-named", "importvaultwallet", "config=" + std::string(w.at("config_json_text").as_string()), "gap_limit=5"}, &ok);
    ASSERT_TRUE(ok) << json::serialize(fam);
    const Bytes spk3 = *ParseHex(std::string(w.at("window_scriptPubKeys").at("scriptPubKey_hex").as_array().at(3).as_string()));
    const Bytes spk8 = *ParseHex(std::string(w.at("window_scriptPubKeys").at("scriptPubKey_hex").as_array().at(8).as_string()));
    d.tower().store().SetFull(true);
    PayFromCoinbase(fx, 2, Amount{1'000'000}, spk3);
    fx.Generate(1);
    d.tower().Settle();
    EXPECT_GT(d.tower().follower().status().store_failures, 0u);
    d.tower().store().SetFull(false);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 112; }));
    // The block is stored now, and with it members 5..8; a crash keeps them.
    d.Restart();
    const auto fams = d.Cli({"listfamilies"});
    EXPECT_EQ(Field(fams.at("families").as_array().at(0), "members"), "9") << "3 + 1 + the gap of 5";
    PayFromCoinbase(fx, 3, Amount{1'000'000}, spk8);
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] {
        const auto all = d.Cli({"listvaults"});
        for (const auto& v : all.at("vaults").as_array()) {
            if (v.as_object().contains("family_index") && v.at("family_index").as_int64() == 8) {
                return !d.Cli({"getvault", Field(v, "vault_id")}).at("utxos").as_array().empty();
            }
        }
        return false;
    })) << "member 8, brought in by the block the disk first refused, is watched";
}

TEST_P(engine_process, TheRecoveryPhraseComesOnStdinNeverOnTheCommandLine)
{
    // As docs/vault-families.md says to: vaultwatch-cli -stdin reads the phrase; nothing secret
    // is in the argv that ps shows, in the daemon's log or in its answer.
    PresignedFixture fx{Real(), {"-acceptnonstdtxn=1"}};
    if (Real() && !NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";
    const json::value w = RecordedWallet(0);
    const auto dir = fx.dir / "vw";
    Daemon d(dir, FreePort(), fx.NodePort(), OpvaultDaemonArgs(Real()));
    d.Start();
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); })) << d.Log();
    const std::filesystem::path cfg = fx.dir / "config.json";
    std::ofstream(cfg) << std::string(w.at("config_json_text").as_string());
    const std::string phrase{w.at("recoveryauth").at("phrase").as_string()};
    const std::string cmd = "printf '%s\\n' 'recovery_phrase=" + phrase + "' | " + (BinDir() / "vaultwatch-cli").string() + " -regtest -rpcwait -datadir=" +
                            dir.string() + " -rpcport=" + std::to_string(d.port()) + " -stdin -named importvaultwallet config=\"$(cat " + cfg.string() +
                            ")\" 2>&1";
    FILE* f = ::popen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    ASSERT_EQ(::pclose(f), 0) << out;
    const json::value fam = json::parse(out);
    EXPECT_EQ(Field(fam, "recovers"), "true") << out;
    const std::string secret{w.at("recoveryauth").at("secret").as_string()};
    EXPECT_EQ(out.find(secret), std::string::npos);
    EXPECT_EQ(d.Log().find(phrase), std::string::npos) << "the phrase is not logged";
    EXPECT_EQ(d.Log().find(secret), std::string::npos) << "nor the secret";
}

TEST_P(engine_e2e, AWalletImportSaysWhatItCannotDo)
{
    PresignedFixture fx{Real()};
    const json::value w = RecordedWallet(1);
    auto tower = StartTower(fx, OpvaultDaemonArgs(Real()));
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    if (Field(d.Cli({"getinfo"}), "opvault_enforced") == "false" && Real()) GTEST_SKIP() << "refused on a node without OP_VAULT (tested elsewhere)";
    const std::string config = std::string(w.at("config_json_text").as_string());
    bool ok = true;
    auto r = d.Cli({"-named", "importvaultwallet", "config=" + config, "recovery_phrase=not the phrase"}, &ok);
    EXPECT_FALSE(ok);
    EXPECT_NE(json::serialize(r).find("does not give this wallet's recovery-auth key"), std::string::npos) << json::serialize(r);
    // No phrase: alert-only, and said; the default policy lets the owner's own withdrawals through
    // an approval window (the wallet broadcasts them at once).
    auto fam = d.Cli({"-named", "importvaultwallet", "config=" + config, "gap_limit=5"}, &ok);
    ASSERT_TRUE(ok) << json::serialize(fam);
    EXPECT_EQ(Field(fam, "recovers"), "false");
    EXPECT_NE(Field(fam, "warning").find("cannot sweep"), std::string::npos);
    EXPECT_EQ(Field(fam.at("policy"), "mode"), "delayed");
    EXPECT_EQ(Field(fam, "members"), "5");
    // The text form registers the same family again (it is the same family).
    auto again = d.Cli({"-named", "registerfamily", "family=" + Field(fam, "family")}, &ok);
    ASSERT_TRUE(ok) << json::serialize(again);
    EXPECT_EQ(Field(again, "already_registered"), "true");
    EXPECT_EQ(Field(again, "family_id"), Field(fam, "family_id"));
    std::string broken = Field(fam, "family");
    broken[10] = broken[10] == '1' ? '2' : '1';
    d.Cli({"-named", "registerfamily", "family=" + broken}, &ok);
    EXPECT_FALSE(ok) << "a typo is refused, never watched as another family";
}

// --- a thief who knows the tower: the named attacks of issue 14, on the simulator and (BITCOIND) a
// real OP_VAULT node. Each ends with the coins at the recovery address before the delay and the
// fee wallet's coins accounted for (none held by a dead transaction).

//! Whether no fee coin is held by a recovery the node does not have.
template <typename D>
bool NoCoinHeldByTheDead(D& d, PresignedFixture& fx)
{
    const auto w = d.Cli({"getfeewallet"});
    for (const auto& u : w.at("utxos").as_array()) {
        if (u.at("held_by").is_null()) continue;
        if (!fx.InMempool(*Txid::FromHex(std::string(u.at("held_by").as_string())))) return false;
    }
    return true;
}

TEST_P(engine_e2e, ThiefAttackRefusedSweepIsPlannedAgainOnceTheFeeWalletIsFunded)
{
    // The relay floor back on (the prototype runs with -minrelaytxfee=0 otherwise): a sweep with
    // no fee is refused.
    PresignedFixture fx{Real(), {"-acceptnonstdtxn=1", "-minrelaytxfee=0.00001"}};
    if (Real() && !NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";
    const auto trigger_key = TestKey(0x42);
    const TestOpVault tv = MakeTestOpVault(TestKey(0x41).PubKey(), trigger_key.PubKey(), P2TR(0xd1), 10, "late-fee");
    auto tower = StartTower(fx, OpvaultDaemonArgs(Real()));
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = false;
    auto reg = d.Cli({"registervault", tv.registration}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const Amount value = fx.funding.vout()[0].value - Amount{10'000};
    const Transaction deposit{Spend({fx.funding.GetTxid(), 0}, value, tv.vault.ScriptPubKey())};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(deposit))});
    fx.Generate(1);
    // The fee wallet is empty: the sweep goes out with no fee and the node refuses it.
    const Transaction trigger = ThiefTrigger(tv.vault, {deposit.GetTxid(), 0}, value, trigger_key);
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{json::string(HexStr(SerializeTransaction(trigger)))}});
    ASSERT_TRUE(WaitFor([&] {
        const auto types = EventTypes(d);
        return std::find(types.begin(), types.end(), "recovery.failed") != types.end();
    })) << d.Log();
    // Funded late: the next block brings a sweep that pays, and it confirms before the delay.
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    PayFromCoinbase(fx, 4, Amount{100'000}, fee_spk);
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] {
        const auto r = d.Cli({"listrecoveries"});
        for (const auto& x : r.at("recoveries").as_array()) {
            if (Field(x, "state") == "broadcast" && fx.InMempool(*Txid::FromHex(Field(x, "txid")))) return true;
        }
        return false;
    }, 30s)) << d.Log();
    for (int i = 0; i < 3 && !WaitFor([&] { return Field(d.Cli({"getvault", Field(reg, "vault_id")}), "state") == "recovered"; }, 3s); ++i) fx.Generate(1);
    EXPECT_EQ(Field(d.Cli({"getvault", Field(reg, "vault_id")}), "state"), "recovered") << d.Log();
    EXPECT_TRUE(NoCoinHeldByTheDead(d, fx));
}

TEST_P(engine_e2e, ThiefAttackRbfCyclingTheTriggerDoesNotDrainTheFeeWallet)
{
    PresignedFixture fx{Real(), {"-acceptnonstdtxn=1"}};
    if (Real() && !NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";
    const auto trigger_key = TestKey(0x44);
    const TestOpVault tv = MakeTestOpVault(TestKey(0x43).PubKey(), trigger_key.PubKey(), P2TR(0xd2), 10, "rbf-cycle");
    auto tower = StartTower(fx, OpvaultDaemonArgs(Real()));
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = false;
    auto reg = d.Cli({"registervault", tv.registration}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    // Two fee coins only: a tower that kept a coin per dead sweep would run dry at the third.
    PayFromCoinbase(fx, 5, Amount{60'000}, fee_spk);
    PayFromCoinbase(fx, 6, Amount{60'000}, fee_spk);
    const Transaction thief_coin = PayFromCoinbase(fx, 7, Amount{5'000'000}, AnyoneCanSpend());
    const Amount value = fx.funding.vout()[0].value - Amount{10'000};
    const Transaction deposit{Spend({fx.funding.GetTxid(), 0}, value, tv.vault.ScriptPubKey())};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(deposit))});
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}), "balance") == "120000"; })) << d.Log();
    // The thief's trigger pays its own fee from a coin of theirs, and replaces itself again and
    // again, each time evicting the sweep of the one before.
    std::string last;
    for (int k = 0; k < 5; ++k) {
        vault::TriggerRequest tr;
        tr.deposit = {deposit.GetTxid(), 0};
        tr.deposit_value = value;
        tr.ctv_hash = ctv::TemplateHash(vault::WithdrawalTemplate(10, value - Amount{5'000}, P2TR(0xee)), 0);
        tr.fee_input = vault::TriggerRequest::FeeInput{{thief_coin.GetTxid(), 0}, thief_coin.vout()[0], {kOpTrue}};
        // Each replacement must outbid the trigger and our sweep hanging from it (BIP-125 rule 3):
        // every round costs the thief the sweep's fee as well.
        tr.change = TxOut{Amount{5'000'000} - Amount{100'000 * (k + 1)}, AnyoneCanSpend()};
        auto t = vault::BuildTrigger(tv.vault, tr, trigger_key);
        ASSERT_TRUE(t);
        const Transaction trig{*t};
        fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(trig))});
        last = trig.GetTxid().ToString();
        // Its sweep reaches the mempool before the next replacement.
        ASSERT_TRUE(WaitFor([&] {
            const auto r = d.Cli({"listrecoveries"});
            for (const auto& x : r.at("recoveries").as_array()) {
                if (Field(x, "trigger_txid") == last && fx.InMempool(*Txid::FromHex(Field(x, "txid")))) return true;
            }
            return false;
        }, 20s)) << "replacement " << k << "\n" << d.Log();
        EXPECT_TRUE(NoCoinHeldByTheDead(d, fx)) << json::serialize(d.Cli({"getfeewallet"}));
    }
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getvault", Field(reg, "vault_id")}), "state") == "recovered"; })) << d.Log();
    EXPECT_TRUE(NoCoinHeldByTheDead(d, fx));
}

TEST_P(engine_e2e, ThiefAttackAuthorizedSweepRelaysWithoutAcceptnonstdtxn)
{
    // No -acceptnonstdtxn (the real node's fixture turns it on by default): on the OP_VAULT
    // prototype only a bare OP_TRUE is a standard anchor, so a sweep carrying the OP_2 anchor
    // would be refused. The authorized form carries none.
    PresignedFixture fx{Real(), {"-acceptnonstdtxn=0"}};
    if (Real() && !NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";
    const auto trigger_key = TestKey(0x46);
    const TestOpVault tv = MakeAuthorizedTestOpVault(TestKey(0x45).PubKey(), trigger_key.PubKey(), P2TR(0xd3), 10, 0x47);
    auto tower = StartTower(fx, OpvaultDaemonArgs(Real()));
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = false;
    auto reg = d.Cli({"registervault", tv.registration}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    EXPECT_EQ(Field(reg.at("protection"), "recovers"), "true");
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    PayFromCoinbase(fx, 8, Amount{100'000}, fee_spk);
    const Amount value = fx.funding.vout()[0].value - Amount{10'000};
    const Transaction deposit{Spend({fx.funding.GetTxid(), 0}, value, tv.vault.ScriptPubKey())};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(deposit))});
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getfeewallet"}), "balance") == "100000"; })) << d.Log();
    const Transaction trigger = ThiefTrigger(tv.vault, {deposit.GetTxid(), 0}, value, trigger_key);
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{json::string(HexStr(SerializeTransaction(trigger)))}});
    std::string rtxid;
    ASSERT_TRUE(WaitFor([&] { return !(rtxid = FirstRecoveryInMempool(d, fx)).empty(); })) << d.Log();
    auto rtx = RecoveryTx(d, rtxid);
    ASSERT_TRUE(rtx);
    for (const auto& o : rtx->vout()) EXPECT_NE(o.script_pubkey, Bytes{0x52}) << "no OP_2 anchor on an authorized sweep";
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", rtxid}), "state") == "confirmed"; })) << d.Log();
}

TEST_P(engine_e2e, ThiefAttackUnauthorizedSweepNeedsAcceptnonstdtxnOnThePrototype)
{
    // What docs/operations.md says of the prototype node: its only standard anchor is a bare
    // OP_TRUE, and BIP-345 policy requires the unauthorized form's OP_2 anchor, so without
    // -acceptnonstdtxn the node refuses that sweep, and the tower says why (recovery.failed).
    if (!Real()) GTEST_SKIP() << "the simulator checks no output standardness";
    PresignedFixture fx{Real(), {"-acceptnonstdtxn=0"}};
    if (!NodeEnforcesOpVault(*fx.node)) GTEST_SKIP() << "this node does not enforce OP_VAULT";
    const auto trigger_key = TestKey(0x4a);
    const TestOpVault tv = MakeTestOpVault(TestKey(0x49).PubKey(), trigger_key.PubKey(), P2TR(0xd4), 10, "nonstd");
    auto tower = StartTower(fx, OpvaultDaemonArgs(Real()));
    Tower& d = *tower;
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = false;
    auto reg = d.Cli({"registervault", tv.registration}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    PayFromCoinbase(fx, 10, Amount{100'000}, fee_spk);
    const Amount value = fx.funding.vout()[0].value - Amount{10'000};
    const Transaction deposit{Spend({fx.funding.GetTxid(), 0}, value, tv.vault.ScriptPubKey())};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(deposit))});
    fx.Generate(1);
    const Transaction trigger = ThiefTrigger(tv.vault, {deposit.GetTxid(), 0}, value, trigger_key);
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{json::string(HexStr(SerializeTransaction(trigger)))}});
    std::string error;
    ASSERT_TRUE(WaitFor([&] {
        const auto ev = d.Cli({"listevents", "0", "1000"});
        for (const auto& e : ev.at("events").as_array()) {
            if (e.at("type") == "recovery.failed") error = json::serialize(e.at("data"));
        }
        return !error.empty();
    })) << d.Log();
    EXPECT_NE(error.find("non_standard"), std::string::npos) << error;
}

TEST_P(engine_e2e, ThiefAttackUnexpectedSpendOfAWatchedOutpointSendsTheEmergencyTransaction)
{
    // Finding 5: the contract says an unknown spend of a pre-signed vault's watched outpoint is
    // answered with the emergency transactions that still apply (the outputs the spender left);
    // nothing was broadcast.
    PresignedFixture fx{Real()};
    const Transaction w2 = PayFromCoinbase(fx, 9, Amount{2'000'000}, AnyoneCanSpend());
    fx.Generate(1);
    const Amount v = fx.funding.vout().at(0).value;
    const Transaction e1{Spend({fx.funding.GetTxid(), 0}, v - Amount{15'000}, P2TR(0xdd))};
    const Transaction e2{Spend({w2.GetTxid(), 0}, Amount{2'000'000} - Amount{15'000}, P2TR(0xdd))};
    const std::string reg_json = R"({"kind":"presigned","label":"emergency","watch_outpoints":[{"txid":")" + fx.funding.GetTxid().ToString() +
                                 R"(","vout":0},{"txid":")" + w2.GetTxid().ToString() + R"(","vout":0}],"triggers":[{"txid":")" +
                                 fx.trigger.GetTxid().ToString() + R"(","spend_delay":20,"recovery_txs":[")" +
                                 HexStr(SerializeTransaction(fx.recovery)) + R"("]}],"emergency_txs":[")" + HexStr(SerializeTransaction(e1)) +
                                 R"(",")" + HexStr(SerializeTransaction(e2)) + R"("]})";
    auto tower = StartTower(fx);
    Tower& d = *tower;
    bool ok = false;
    auto reg = d.Cli({"registervault", reg_json}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == fx.node->Call("getblockcount").as_int64(); }));
    // Someone spends the first watched outpoint with a transaction nobody registered.
    const Transaction unknown{Spend({fx.funding.GetTxid(), 0}, v - Amount{30'000}, P2TR(0xee))};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(unknown))});
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(e2.GetTxid()); })) << d.Log();
    EXPECT_FALSE(fx.InMempool(e1.GetTxid())) << "e1 spends what the unknown spender took";
    const auto types = EventTypes(d);
    EXPECT_NE(std::find(types.begin(), types.end(), "vault.unexpected_spend"), types.end());
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", e2.GetTxid().ToString()}), "state") == "confirmed"; })) << d.Log();
}


// --- ccv (BIP-443) vaults ---------------------------------------------------------------------

//! A ccv vault for the tests: withdrawal-key construction, delay 10, keys from fills.
struct TestCcvVault {
    vault::ccv::Vault vault;
    crypto::KeyPair unvault;
    std::string registration;
};
TestCcvVault MakeTestCcvVault(uint8_t unvault_fill, uint8_t recover_fill, const std::string& label,
                              vault::ccv::Construction construction = vault::ccv::Construction::WithdrawalKey)
{
    crypto::KeyPair unvault = TestKey(unvault_fill);
    const crypto::XOnlyPubKey recover = TestKey(recover_fill).PubKey();
    auto v = vault::ccv::Vault::FromParams(vault::ccv::Params{construction, std::nullopt, 10, recover, unvault.PubKey()});
    if (!v) throw std::runtime_error(v.error());
    const std::string reg = R"({"kind":"ccv","label":")" + label + R"(","construction":")" + std::string(ToString(construction)) +
                            R"(","spend_delay":10,"recover_pk":")" +
                            HexStr(recover.span()) + R"(","unvault_pk":")" + HexStr(unvault.PubKey().span()) + R"("})";
    return TestCcvVault{std::move(*v), std::move(unvault), reg};
}

//! A thief's ccv trigger: each input (a UTXO of v) pays one unvaulting output at vout 0 committing
//! to the thief's withdrawal key; with revault, input 0 uses trigger_and_revault and leaves that much
//! at the vault's address (vout 1). No fee: CCV keeps the amounts whole (mined by generateblock).
//! One input of a thief's trigger: a UTXO of a vault whose unvault key the thief holds.
struct ThiefInput {
    const TestCcvVault* tv;
    OutPoint utxo;
    Amount value;
};
Transaction CcvThiefTrigger(const std::vector<ThiefInput>& ins, std::optional<Amount> revault = std::nullopt);
Transaction CcvThiefTrigger(const TestCcvVault& tv, const std::vector<std::pair<OutPoint, Amount>>& utxos, std::optional<Amount> revault = std::nullopt)
{
    std::vector<ThiefInput> ins;
    for (const auto& [o, a] : utxos) ins.push_back({&tv, o, a});
    return CcvThiefTrigger(ins, revault);
}
//! The same across vaults: the unvaulting output commits to the recovery key, the delay and the
//! data, not to the unvault key, so vaults that share those can be triggered into one output.
Transaction CcvThiefTrigger(const std::vector<ThiefInput>& ins, std::optional<Amount> revault)
{
    namespace ccv = vault::ccv;
    const ccv::Vault& v = ins.front().tv->vault;
    const crypto::XOnlyPubKey thief = TestKey(0xee).PubKey();
    const Bytes data(thief.span().begin(), thief.span().end());
    Amount total{0};
    MutableTransaction m;
    m.version = 2;
    for (const auto& in : ins) {
        m.vin.push_back(TxIn{in.utxo, {}, 0xfffffffd, {}});
        total += in.value;
    }
    m.vout.push_back(TxOut{total - revault.value_or(Amount{0}), v.UnvaultingFor(data)->spk});
    if (revault) m.vout.push_back(TxOut{*revault, v.ScriptPubKey()});
    std::vector<TxOut> spent;
    for (const auto& in : ins) spent.push_back(TxOut{in.value, in.tv->vault.ScriptPubKey()});
    auto pre = sighash::Precompute(m, spent);
    for (size_t i = 0; i < m.vin.size(); ++i) {
        const ccv::Vault& vi = ins[i].tv->vault;
        const ccv::Clause c = i == 0 && revault ? ccv::Clause::TriggerAndRevault : ccv::Clause::Trigger;
        const Bytes& leaf = vi.tree().leaves()[*vi.LeafIndex(c)].script;
        auto h = sighash::Sighash(m, *pre, static_cast<uint32_t>(i), sighash::SIGHASH_DEFAULT, sighash::ScriptPath{taproot::LeafHash(0xc0, leaf)});
        const auto sig = ins[i].tv->unvault.Sign(h->span(), std::nullopt);
        std::vector<Bytes> w{Bytes(sig.begin(), sig.end()), data, script::EncodeScriptNum(0)};
        if (c == ccv::Clause::TriggerAndRevault) w.push_back(script::EncodeScriptNum(1));
        w.push_back(leaf);
        w.push_back(vi.ControlBlockFor(c).Serialize());
        m.vin[i].witness = std::move(w);
    }
    return Transaction{m};
}

//! The simulator as a node that enforces CCV (its interpreter checks every CCV spend).
void CcvActive(sim::SimConfig& c) { c.ccv_active = true; }
//! The CCV node (Merkleize/bitcoin ccv-no-deferredchecks) with one script-check thread: with
//! several, its block validation of a CCV spend never returns (seen with generateblock).
std::vector<std::string> CcvNodeArgs() { return {"-par=1"}; }

//! A fixture whose fee wallet holds coins and whose tower knows whether the node enforces CCV.
struct CcvSetup {
    bool enforced{false};
};
template <typename D>
CcvSetup FundAndProbe(D& d, PresignedFixture& fx, int first_coinbase, int coins = 2)
{
    const Bytes fee_spk = *ParseHex(Field(d.Cli({"getfeewallet"}), "script_pubkey"));
    for (int k = 0; k < coins; ++k) PayFromCoinbase(fx, first_coinbase + k, Amount{400'000}, fee_spk);
    fx.Generate(1);
    EXPECT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).at("ccv_enforced").is_bool(); }, std::chrono::seconds{60}))
        << json::serialize(d.Cli({"registervault", MakeTestCcvVault(0x7f, 0x7e, "why").registration})) << "\n"
        << json::serialize(d.Cli({"getfeewallet"}));
    const json::value e = d.Cli({"getinfo"}).at("ccv_enforced");
    return CcvSetup{e.is_bool() && e.as_bool()};
}

//! The tower is ready for ccv vaults: the fee wallet funded and the node shown to enforce CCV.
//! Returns: false when the test cannot go on (skipped on a real node that does not enforce it,
//! failed on the simulator, which must): the caller returns.
template <typename D>
bool CcvReady(D& d, PresignedFixture& fx, bool real, int coins = 2)
{
    if (FundAndProbe(d, fx, 2, coins).enforced) return true;
    if (real) [] { GTEST_SKIP() << "this node does not enforce OP_CHECKCONTRACTVERIFY"; }();
    else ADD_FAILURE() << "the simulator with ccv_active must pass the probe: " << d.Log();
    return false;
}
//! Registers tv. Returns: its vault id ("" and a test failure if refused).
template <typename D>
std::string RegisterCcv(D& d, const TestCcvVault& tv)
{
    bool ok = false;
    auto reg = d.Cli({"registervault", tv.registration}, &ok);
    EXPECT_TRUE(ok) << json::serialize(reg);
    EXPECT_EQ(Field(reg, "address"), tv.vault.Address("bcrt"));
    return ok ? Field(reg, "vault_id") : "";
}
//! The fixture's coin deposited into the vault whose scriptPubKey is spk, confirmed.
std::pair<Transaction, Amount> DepositInto(PresignedFixture& fx, const Bytes& spk)
{
    const Amount value = fx.funding.vout()[0].value - Amount{10'000};
    Transaction deposit{Spend({fx.funding.GetTxid(), 0}, value, spk)};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(deposit))});
    fx.Generate(1);
    return {std::move(deposit), value};
}
//! Mines tx directly (a thief's trigger pays no fee). Returns: the height of its block.
int64_t MineDirectly(PresignedFixture& fx, const Transaction& tx)
{
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{json::string(HexStr(SerializeTransaction(tx)))}});
    return fx.node->Call("getblockcount").as_int64();
}

TEST_P(engine_e2e, CcvThiefsTriggerIsRecoveredBeforeTheDelay)
{
    // Both reference constructions: the withdrawal key (the node's vault), the CTV hash (pymatt's).
    for (const auto construction : {vault::ccv::Construction::WithdrawalKey, vault::ccv::Construction::Ctv}) {
        SCOPED_TRACE(std::string(ToString(construction)));
        PresignedFixture fx{Real(), CcvNodeArgs(), CcvActive};
        auto tower = StartTower(fx);
        Tower& d = *tower;
        if (!CcvReady(d, fx, Real())) return;
        const TestCcvVault tv = MakeTestCcvVault(0x41, 0x42, "ccv", construction);
        const std::string id = RegisterCcv(d, tv);
        ASSERT_FALSE(id.empty());
        const auto funded = DepositInto(fx, tv.vault.ScriptPubKey());
        const Transaction& deposit = funded.first;
        const Amount value = funded.second; // not a structured binding: lambdas capture it (clang 14)
        const Transaction trigger = CcvThiefTrigger(tv, {{{deposit.GetTxid(), 0}, value}});
        const int64_t trigger_height = MineDirectly(fx, trigger);
        std::string rtxid;
        ASSERT_TRUE(WaitFor([&] { return !(rtxid = FirstRecoveryInMempool(d, fx)).empty(); })) << d.Log();
        auto rtx = RecoveryTx(d, rtxid);
        ASSERT_TRUE(rtx);
        // The unvaulting output, then a fee coin; the recovery output pays the vault's value to the
        // recovery key, untweaked; change goes back to the fee wallet.
        EXPECT_EQ(rtx->vin()[0].prevout, (OutPoint{trigger.GetTxid(), 0}));
        ASSERT_GE(rtx->vout().size(), 1u);
        EXPECT_EQ(rtx->vout()[0].script_pubkey, tv.vault.RecoverySpk());
        EXPECT_EQ(rtx->vout()[0].value, value);
        EXPECT_EQ(Field(d.Cli({"getrecovery", rtxid}), "kind"), "ccv");
        fx.Generate(1);
        ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", rtxid}), "state") == "confirmed"; })) << d.Log();
        EXPECT_LT(fx.node->Call("getblockcount").as_int64(), trigger_height + 10);
        ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getvault", id}), "state") == "recovered"; })) << d.Log();
    }
}

TEST_P(engine_e2e, CcvTriggerAndRevaultIsRecoveredWhole)
{
    PresignedFixture fx{Real(), CcvNodeArgs(), CcvActive};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    if (!CcvReady(d, fx, Real())) return;
    const TestCcvVault tv = MakeTestCcvVault(0x43, 0x44, "revault");
    ASSERT_FALSE(RegisterCcv(d, tv).empty());
    const auto funded = DepositInto(fx, tv.vault.ScriptPubKey());
    const Transaction& deposit = funded.first;
    const Amount value = funded.second; // not a structured binding: lambdas capture it (clang 14)
    // A partial unvault: a quarter to the unvaulting output, the rest back at the vault's address.
    const Amount kept{value.sats() - value.sats() / 4};
    const Transaction trigger = CcvThiefTrigger(tv, {{{deposit.GetTxid(), 0}, value}}, kept);
    MineDirectly(fx, trigger);
    std::string rtxid;
    ASSERT_TRUE(WaitFor([&] { return !(rtxid = FirstRecoveryInMempool(d, fx)).empty(); })) << d.Log();
    auto rtx = RecoveryTx(d, rtxid);
    ASSERT_TRUE(rtx);
    // The unvaulting output and the revault (the unvault key is a thief's: the revault is not safe).
    std::set<OutPoint> swept;
    for (const auto& in : rtx->vin()) swept.insert(in.prevout);
    EXPECT_TRUE(swept.count({trigger.GetTxid(), 0}));
    EXPECT_TRUE(swept.count({trigger.GetTxid(), 1}));
    EXPECT_EQ(rtx->vout()[0].script_pubkey, tv.vault.RecoverySpk());
    EXPECT_EQ(rtx->vout()[0].value, value);
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", rtxid}), "state") == "confirmed"; })) << d.Log();
}

TEST_P(engine_e2e, CcvMassExitIsAnsweredInOneBatch)
{
    PresignedFixture fx{Real(), CcvNodeArgs(), CcvActive};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    if (!CcvReady(d, fx, Real(), 3)) return;
    // Twelve vaults, two recovery keys, each funded from the fixture's coin.
    constexpr int N = 12;
    std::vector<TestCcvVault> vaults;
    for (int k = 0; k < N; ++k) vaults.push_back(MakeTestCcvVault(static_cast<uint8_t>(0x60 + k), k % 2 ? 0x51 : 0x52, "mass" + std::to_string(k)));
    for (const auto& tv : vaults) ASSERT_FALSE(RegisterCcv(d, tv).empty());
    const Amount each{(fx.funding.vout()[0].value.sats() - 20'000) / N};
    MutableTransaction fan = Spend({fx.funding.GetTxid(), 0}, each, vaults[0].vault.ScriptPubKey());
    for (size_t k = 1; k < vaults.size(); ++k) fan.vout.push_back(TxOut{each, vaults[k].vault.ScriptPubKey()});
    const Transaction deposits{fan};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(deposits))});
    fx.Generate(1);
    // Every vault triggered in one block.
    json::array triggers;
    for (int k = 0; k < N; ++k) {
        triggers.push_back(json::string(HexStr(SerializeTransaction(CcvThiefTrigger(vaults[k], {{{deposits.GetTxid(), static_cast<uint32_t>(k)}, each}})))));
    }
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), triggers});
    // One recovery answers them all: one output per recovery key.
    ASSERT_TRUE(WaitFor([&] { return !FirstRecoveryInMempool(d, fx).empty(); })) << d.Log();
    const auto recs = d.Cli({"listrecoveries"}).at("recoveries").as_array();
    ASSERT_EQ(recs.size(), 1u) << json::serialize(recs);
    auto rtx = RecoveryTx(d, Field(recs[0], "txid"));
    ASSERT_TRUE(rtx);
    size_t vault_inputs = 0;
    for (const auto& in : rtx->vin()) vault_inputs += in.witness.size() == 3;
    EXPECT_EQ(vault_inputs, static_cast<size_t>(N));
    std::set<Bytes> keys;
    Amount recovered{0};
    for (const auto& o : rtx->vout()) {
        for (const auto& tv : vaults) {
            if (o.script_pubkey == tv.vault.RecoverySpk()) {
                keys.insert(o.script_pubkey);
                recovered += o.value;
                break;
            }
        }
    }
    EXPECT_EQ(keys.size(), 2u);
    EXPECT_EQ(recovered, Amount{each.sats() * N});
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", Field(recs[0], "txid")}), "state") == "confirmed"; })) << d.Log();
}

TEST_P(engine_e2e, CcvVaultsTriggeredIntoOneUnvaultingOutputAreRecoveredTogether)
{
    PresignedFixture fx{Real(), CcvNodeArgs(), CcvActive};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    if (!CcvReady(d, fx, Real())) return;
    // Three vaults of one recovery key, each with its own unvault key, all three stolen.
    std::vector<TestCcvVault> vaults;
    std::vector<std::string> ids;
    for (int k = 0; k < 3; ++k) {
        vaults.push_back(MakeTestCcvVault(static_cast<uint8_t>(0x70 + k), 0x55, "shared" + std::to_string(k)));
        ids.push_back(RegisterCcv(d, vaults.back()));
        ASSERT_FALSE(ids.back().empty());
    }
    const Amount each{(fx.funding.vout()[0].value.sats() - 20'000) / 3};
    MutableTransaction fan = Spend({fx.funding.GetTxid(), 0}, each, vaults[0].vault.ScriptPubKey());
    for (size_t k = 1; k < vaults.size(); ++k) fan.vout.push_back(TxOut{each, vaults[k].vault.ScriptPubKey()});
    const Transaction deposits{fan};
    fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(deposits))});
    fx.Generate(1);
    std::vector<ThiefInput> ins;
    for (uint32_t k = 0; k < 3; ++k) ins.push_back({&vaults[k], {deposits.GetTxid(), k}, each});
    const Transaction trigger = CcvThiefTrigger(ins);
    MineDirectly(fx, trigger);
    std::string rtxid;
    ASSERT_TRUE(WaitFor([&] { return !(rtxid = FirstRecoveryInMempool(d, fx)).empty(); })) << d.Log();
    auto rtx = RecoveryTx(d, rtxid);
    ASSERT_TRUE(rtx);
    EXPECT_EQ(rtx->vin()[0].prevout, (OutPoint{trigger.GetTxid(), 0}));
    EXPECT_EQ(rtx->vout()[0].value, Amount{each.sats() * 3});
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", rtxid}), "state") == "confirmed"; })) << d.Log();
    for (const auto& id : ids) EXPECT_EQ(Field(d.Cli({"getvault", id}), "state"), "recovered") << id;
    const auto types = EventTypes(d);
    EXPECT_EQ(std::count(types.begin(), types.end(), "vault.unexpected_spend"), 0) << json::serialize(json::value_from(types));
}

TEST_P(engine_e2e, CcvRecoveryIsBumpedEachBlockUntilItConfirms)
{
    PresignedFixture fx{Real(), CcvNodeArgs(), CcvActive};
    auto tower = StartTower(fx);
    Tower& d = *tower;
    if (!CcvReady(d, fx, Real(), 1)) return;
    const TestCcvVault tv = MakeTestCcvVault(0x47, 0x48, "bump");
    ASSERT_FALSE(RegisterCcv(d, tv).empty());
    const auto funded = DepositInto(fx, tv.vault.ScriptPubKey());
    const Transaction& deposit = funded.first;
    const Amount value = funded.second; // not a structured binding: lambdas capture it (clang 14)
    MineDirectly(fx, CcvThiefTrigger(tv, {{{deposit.GetTxid(), 0}, value}}));
    // What a recovery pays: the swept value and its one fee coin (400,000) in, its outputs out.
    auto fee_of = [&](const std::string& txid) {
        auto rtx = RecoveryTx(d, txid);
        Amount out{0};
        for (const auto& o : rtx->vout()) out += o.value;
        return value + Amount{400'000} - out;
    };
    std::string first, second;
    ASSERT_TRUE(WaitFor([&] { return !(first = FirstRecoveryInMempool(d, fx)).empty(); })) << d.Log();
    // A block without it (a miner that ignores it): replaced by one paying more, from the same coin.
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{}});
    ASSERT_TRUE(WaitFor([&] {
        const json::value list = d.Cli({"listrecoveries"}); // kept: a range-for over a temporary's member dangles
        for (const auto& x : list.at("recoveries").as_array()) {
            const std::string t = Field(x, "txid");
            if (t != first && fx.InMempool(*Txid::FromHex(t))) second = t;
        }
        return !second.empty();
    })) << d.Log();
    EXPECT_FALSE(fx.InMempool(*Txid::FromHex(first))) << "replaced in the node's mempool (RBF)";
    EXPECT_EQ(Field(d.Cli({"getrecovery", first}), "state"), "replaced");
    EXPECT_GT(fee_of(second), fee_of(first));
    EXPECT_EQ(RecoveryTx(d, second)->vout()[0].value, value) << "the recovered amount never pays";
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", second}), "state") == "confirmed"; })) << d.Log();
    const auto types = EventTypes(d);
    EXPECT_EQ(std::count(types.begin(), types.end(), "recovery.fee_bumped"), 1) << json::serialize(json::value_from(types));
}

TEST_P(engine_e2e, CcvVaultsAreRefusedWhereTheNodeDoesNotEnforceCcv)
{
    // The simulator plays two nodes that do not enforce CCV. v31: 0xbb is OP_SUCCESS and its
    // policy refuses every such spend, the valid one too. An old node: 0xbb is OP_SUCCESS and
    // nothing refuses it, the violating one too. A real node is what it is (the OP_VAULT
    // prototype reads 0xbb as OP_VAULT and refuses the valid spend).
    std::vector<std::function<void(sim::SimConfig&)>> nodes{[](sim::SimConfig& c) { c.discourage_op_success = true; }, {}};
    if (Real()) nodes.resize(1);
    for (const auto& tweak : nodes) {
        PresignedFixture fx{Real(), {}, tweak};
        auto tower = StartTower(fx);
        Tower& d = *tower;
        if (FundAndProbe(d, fx, 2).enforced) {
            ASSERT_TRUE(Real()) << d.Log();
            GTEST_SKIP() << "this node enforces OP_CHECKCONTRACTVERIFY";
        }
        bool ok = true;
        auto reg = d.Cli({"registervault", MakeTestCcvVault(0x45, 0x46, "no").registration}, &ok);
        EXPECT_FALSE(ok);
        EXPECT_NE(json::serialize(reg).find("does not enforce OP_CHECKCONTRACTVERIFY"), std::string::npos) << json::serialize(reg);
    }
}

// vaultwatchd answers a trigger on a connection of its own (Engine::SetTriggerPath): a rescan's
// getblock, a fee refresh, or a node that stops answering the engine's other connection never
// stands between a trigger and its sweep. The second tower shows what the test tells apart.
//! A tower in process on the fixture's simulator, guarding its vault.
std::unique_ptr<InprocTower> GuardingTower(PresignedFixture& fx, bool engine_node_down, bool trigger_path, size_t max_pending_adds = 10'000)
{
    InprocTower::Options o;
    o.max_pending_adds = max_pending_adds;
    o.sim = fx.node->Sim();
    o.engine = EngineOptionsFromFlags(WithTestDefaults({}));
    o.engine_node_down = engine_node_down;
    o.trigger_path = trigger_path;
    auto t = std::make_unique<InprocTower>(fx.dir / "vw", o);
    t->Start();
    auto reg = t->engine().RegisterVault(json::parse(fx.Registration()).as_object());
    if (!reg) throw std::runtime_error(reg.error().message);
    t->Settle();
    return t;
}

TEST(engine_trigger_path, ATriggerIsAnsweredOnItsOwnConnectionWhileTheEnginesOtherOneIsDown)
{
    for (const bool own_path : {true, false}) {
        SCOPED_TRACE(own_path ? "a trigger path of its own" : "one connection for everything");
        PresignedFixture fx;
        auto tower = GuardingTower(fx, /*engine_node_down=*/true, own_path);
        InprocTower& t = *tower;
        fx.SendTrigger();
        t.Settle();
        EXPECT_EQ(fx.InMempool(fx.recovery.GetTxid()), own_path);
        const auto& calls = t.trigger_path_calls();
        EXPECT_EQ(std::count(calls.begin(), calls.end(), "sendrawtransaction") > 0, own_path);
        // Nothing else goes over it: the engine's other calls stay on its own connection.
        for (const auto& c : calls) EXPECT_TRUE(c == "sendrawtransaction" || c == "getrawtransaction") << c;
    }
}

// An announcement on a socket only the node's user can bind (ZmqSubscriber: CheckNodeOnlySocket)
// is the node's own word: answered without asking the node first. Any other is asked about
// (getrawtransaction) before anything is recorded or sent. Both are answered.
TEST(engine_trigger_path, TheNodesOwnSocketIsActedOnWithoutAskingAndAnyOtherIsAskedFirst)
{
    // Third case: the node's bytes, but a squatter's 'A' (the node publishes rawtx for each
    // block's transactions too; only the 'A' says one entered its mempool): asked first.
    for (const int c : {0, 1, 2}) {
        const bool from_node = c == 0;
        const bool raw_from_node = c != 1;
        SCOPED_TRACE(c == 0 ? "the node's own sockets" : c == 1 ? "TCP ports" : "the node's rawtx, a TCP port's 'A'");
        PresignedFixture fx;
        auto tower = GuardingTower(fx, /*engine_node_down=*/false, /*trigger_path=*/true);
        InprocTower& t = *tower;
        fx.SendTrigger();
        t.HearOnZmq(fx.trigger, raw_from_node, /*add_from_node=*/from_node);
        t.Settle();
        EXPECT_TRUE(fx.InMempool(fx.recovery.GetTxid()));
        const auto& calls = t.trigger_path_calls();
        EXPECT_EQ(std::count(calls.begin(), calls.end(), "getrawtransaction"), from_node ? 0 : 1);
        EXPECT_EQ(std::count(calls.begin(), calls.end(), "sendrawtransaction") > 0, true);
        if (from_node) EXPECT_EQ(calls.front(), "sendrawtransaction") << "the sweep is the first word on the trigger path";
        EXPECT_EQ(t.engine().reaction().count(), 1u) << "its reaction time is counted";
    }
}

// A trigger's event lines (vault.trigger, recovery.planned) are written to the log right after its
// sweep is handed to the node, not between the trigger and the sweep (a write each).
TEST(engine_trigger_path, ATriggersEventLinesAreLoggedJustAfterItsSweepIsSent)
{
    PresignedFixture fx;
    auto tower = GuardingTower(fx, /*engine_node_down=*/false, /*trigger_path=*/true);
    InprocTower& t = *tower;
    std::ostringstream out;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    const auto main = log::Main();
    const auto level = main->level();
    main->set_level(spdlog::level::info);
    main->sinks().push_back(sink);
    std::optional<std::string> at_send;
    t.on_trigger_call = [&](const std::string& method) {
        if (method == "sendrawtransaction" && !at_send) at_send = out.str();
    };
    fx.SendTrigger();
    t.HearOnZmq(fx.trigger, /*raw_from_node=*/true, /*add_from_node=*/true);
    t.Settle();
    main->sinks().pop_back();
    main->set_level(level);
    EXPECT_TRUE(fx.InMempool(fx.recovery.GetTxid()));
    ASSERT_TRUE(at_send) << "the sweep went out on the trigger path";
    EXPECT_EQ(at_send->find("recovery.planned"), std::string::npos) << *at_send;
    EXPECT_EQ(at_send->find("vault.trigger"), std::string::npos) << *at_send;
    EXPECT_NE(out.str().find("recovery.planned"), std::string::npos) << out.str();
    EXPECT_NE(out.str().find("vault.trigger"), std::string::npos) << out.str();
}

// The webhooks' poll (App: Engine::on_events cancels its timer) reads the new events and commits
// their deliveries with an fsync, on the io thread: for a mempool trigger it is queued behind the
// broadcaster's wake-up, so the sweep reaches the node first.
TEST(engine_trigger_path, TheWebhooksPollForATriggerRunsAfterItsSweepIsSent)
{
    PresignedFixture fx;
    auto tower = GuardingTower(fx, /*engine_node_down=*/false, /*trigger_path=*/true);
    InprocTower& t = *tower;
    std::vector<std::string> order;
    t.on_trigger_call = [&](const std::string& method) { order.push_back(method); };
    t.engine().on_events = [&] { boost::asio::post(t.io(), [&] { order.push_back("webhooks poll"); }); };
    fx.SendTrigger();
    t.HearOnZmq(fx.trigger, /*raw_from_node=*/true, /*add_from_node=*/true);
    t.Settle();
    EXPECT_TRUE(fx.InMempool(fx.recovery.GetTxid()));
    const auto send = std::find(order.begin(), order.end(), "sendrawtransaction");
    const auto poll = std::find(order.begin(), order.end(), "webhooks poll");
    ASSERT_NE(send, order.end());
    ASSERT_NE(poll, order.end()) << "the trigger's events kick the webhooks";
    EXPECT_LT(send, poll) << "the sweep first";
}

// A trigger's sweep goes to the node before its record is written (the write is queued right
// behind the send). A tower killed in between: the node has the sweep, the store nothing of the
// answer. At restart the trigger is found again in the node's mempool and answered again; the
// sweep the node keeps is recorded, and the vault is recovered when it confirms.
TEST(engine_trigger_path, ATowerKilledBetweenASweepsSendAndItsRecordAnswersTheTriggerAgainAtRestart)
{
    PresignedFixture fx;
    auto tower = GuardingTower(fx, /*engine_node_down=*/false, /*trigger_path=*/true);
    InprocTower& t = *tower;
    // The node's answer comes back a handler later, as over a socket; the tower dies as the node
    // accepts the sweep, before any other handler runs.
    bool sent = false;
    t.AfterNextSend([&] { sent = true; });
    fx.SendTrigger();
    t.HearOnZmq(fx.trigger, /*raw_from_node=*/true, /*add_from_node=*/true);
    for (int i = 0; i < 10'000 && !sent; ++i) {
        if (t.io().poll_one() == 0) t.io().restart();
    }
    ASSERT_TRUE(fx.InMempool(fx.recovery.GetTxid())) << "the sweep reached the node";
    auto rows = t.store().LoadRecoveries();
    ASSERT_TRUE(rows);
    EXPECT_TRUE(rows->empty()) << "written before it was sent: the window this test is about is gone";
    t.Kill();
    t.Settle();
    rows = t.store().LoadRecoveries();
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ(rows->at(0).txid, fx.recovery.GetTxid());
    EXPECT_EQ(rows->at(0).state, vault::RecoveryState::Broadcast);
    EXPECT_TRUE(fx.InMempool(fx.recovery.GetTxid()));
    auto events = t.store().LoadEvents(0, 100);
    ASSERT_TRUE(events);
    EXPECT_TRUE(std::any_of(events->begin(), events->end(), [](const store::EventRow& e) { return e.type == "vault.trigger"; }));
    fx.Generate(1);
    t.Settle();
    rows = t.store().LoadRecoveries();
    ASSERT_TRUE(rows);
    EXPECT_EQ(rows->at(0).state, vault::RecoveryState::Confirmed);
}

// ZMQ's sequence topic flowing in order spares the node's whole mempool (300,000 txids on
// mainnet) but once every 12 polls' time. Wake-ups are rounds too: counted as polls, they brought
// the snapshot back 24 times a second at 1,000 tx/s (vw_bench_firehose over TCP).
TEST(follower_wakeups, WakeUpsDoNotBringTheMempoolSnapshotBackWhileSequenceFlows)
{
    PresignedFixture fx;
    auto tower = GuardingTower(fx, /*engine_node_down=*/false, /*trigger_path=*/true);
    InprocTower& t = *tower;
    const uint64_t snaps0 = t.follower().status().mempool_resyncs;
    const uint64_t rounds0 = t.follower().status().reconciles;
    for (uint32_t i = 0; i < 40; ++i) {
        chain::ZmqMessage seq; // in order: an 'R' of something the tower never saw
        seq.topic = chain::ZmqTopic::Sequence;
        seq.sequence = i;
        Uint256 u;
        u.bytes[0] = static_cast<uint8_t>(i + 1);
        const Txid gone = Txid::FromUint256(u);
        seq.parsed = chain::SequenceBody{chain::SeqTxRemoved{gone, i + 2}};
        t.follower().OnZmqMessage("tcp://127.0.0.1:28332", std::move(seq), daemon::ZmqArrival{false, std::chrono::steady_clock::now()});
        t.Settle();
    }
    EXPECT_GE(t.follower().status().reconciles - rounds0, 40u) << "every Settle woke the follower";
    EXPECT_LE(t.follower().status().mempool_resyncs - snaps0, 1u) << "at most the one before the first in-order message";
}

// A squatter on a TCP sequence port announces txids nobody sent: each would cost a
// getrawtransaction, and the queue grew without end. Past the bound they are dropped for one
// snapshot of the node's mempool, and a real trigger behind them is still answered.
TEST(follower_wakeups, AFloodOfAddsNobodySentIsDroppedForOneSnapshot)
{
    PresignedFixture fx;
    auto tower = GuardingTower(fx, /*engine_node_down=*/false, /*trigger_path=*/true, /*max_pending_adds=*/100);
    InprocTower& t = *tower;
    const uint64_t snaps0 = t.follower().status().mempool_resyncs;
    for (uint32_t i = 0; i < 250; ++i) {
        chain::ZmqMessage seq;
        seq.topic = chain::ZmqTopic::Sequence;
        seq.sequence = i;
        Uint256 u;
        std::memcpy(u.bytes.data(), &i, sizeof(i));
        u.bytes[31] = 0xf1;
        seq.parsed = chain::SequenceBody{chain::SeqTxAdded{Txid::FromUint256(u), i + 2}};
        t.follower().OnZmqMessage("tcp://127.0.0.1:28333", std::move(seq), daemon::ZmqArrival{false, std::chrono::steady_clock::now()});
    }
    EXPECT_EQ(t.follower().pending_adds(), 50u);
    EXPECT_EQ(t.follower().status().pending_adds_dropped, 200u);
    fx.SendTrigger();
    t.HearOnZmq(fx.trigger, /*raw_from_node=*/false, /*add_from_node=*/false);
    t.Settle();
    EXPECT_EQ(t.follower().pending_adds(), 0u);
    EXPECT_GE(t.follower().status().mempool_resyncs, snaps0 + 1) << "one snapshot in place of the dropped ones";
    EXPECT_TRUE(fx.InMempool(fx.recovery.GetTxid())) << "the trigger behind the flood is answered";
}

// An 'A' that overtakes its rawtx (they come on different sockets) does not wake the follower
// for a reconcile: the body follows within microseconds. Only an 'A' whose body is still
// missing a moment later is fetched from the node.
TEST(follower_wakeups, AnAddThatOvertakesItsRawtxCostsNoReconcile)
{
    PresignedFixture fx;
    auto tower = GuardingTower(fx, /*engine_node_down=*/false, /*trigger_path=*/true);
    InprocTower& t = *tower;
    fx.SendTrigger();
    const Transaction& trig = fx.trigger;
    chain::ZmqMessage seq;
    seq.topic = chain::ZmqTopic::Sequence;
    seq.parsed = chain::SequenceBody{chain::SeqTxAdded{trig.GetTxid(), 1}};
    chain::ZmqMessage raw;
    raw.topic = chain::ZmqTopic::RawTx;
    raw.body = SerializeTransaction(trig);
    const uint64_t rounds0 = t.follower().status().reconciles;
    t.follower().OnZmqMessage("tcp://127.0.0.1:28333", std::move(seq), daemon::ZmqArrival{true, std::chrono::steady_clock::now()});
    t.follower().OnZmqMessage("tcp://127.0.0.1:28332", std::move(raw), daemon::ZmqArrival{true, std::chrono::steady_clock::now()});
    t.Poll();
    EXPECT_EQ(t.follower().status().reconciles, rounds0) << "the body came: nothing to ask the node";
    EXPECT_TRUE(fx.InMempool(fx.recovery.GetTxid())) << "answered from the frames";

    // Another 'A' whose body never comes (dropped): the node is asked a moment later.
    PresignedFixture fx2;
    auto tower2 = GuardingTower(fx2, /*engine_node_down=*/false, /*trigger_path=*/true);
    InprocTower& t2 = *tower2;
    fx2.SendTrigger();
    chain::ZmqMessage seq2;
    seq2.topic = chain::ZmqTopic::Sequence;
    seq2.parsed = chain::SequenceBody{chain::SeqTxAdded{fx2.trigger.GetTxid(), 1}};
    const uint64_t rounds2 = t2.follower().status().reconciles;
    t2.follower().OnZmqMessage("tcp://127.0.0.1:28333", std::move(seq2), daemon::ZmqArrival{true, std::chrono::steady_clock::now()});
    t2.Poll();
    EXPECT_EQ(t2.follower().status().reconciles, rounds2) << "not at once";
    std::this_thread::sleep_for(std::chrono::milliseconds{60});
    for (int i = 0; i < 50 && !fx2.InMempool(fx2.recovery.GetTxid()); ++i) {
        t2.Poll();
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    EXPECT_GT(t2.follower().status().reconciles, rounds2) << "then the follower asked the node";
    EXPECT_TRUE(fx2.InMempool(fx2.recovery.GetTxid()));
}

INSTANTIATE_TEST_SUITE_P(node, engine_e2e, ::testing::Values("inproc", "bitcoind"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });
INSTANTIATE_TEST_SUITE_P(node, engine_process, ::testing::Values("sim", "bitcoind"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

} // namespace
} // namespace vw::test
#endif
