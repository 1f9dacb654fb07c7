// End-to-end tests of the vault engine: the real vaultwatchd process against the regtest
// simulator, driven through vaultwatch-cli, checking the exact recovery transaction that reached
// the node.
#ifdef VW_HAVE_SIM

#include "primitives/block.h"
#include "primitives/transaction.h"
#include "regtest_sim.h"
#include "util/hex.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
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

uint16_t FreePort()
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

class Daemon
{
public:
    Daemon(std::filesystem::path datadir, uint16_t rpcport, uint16_t node_port, std::vector<std::string> extra = {})
        : m_datadir(std::move(datadir)), m_port(rpcport), m_node_port(node_port), m_extra(std::move(extra))
    {
    }
    ~Daemon() { Kill(SIGKILL); }
    void Start()
    {
        std::vector<std::string> args{(BinDir() / "vaultwatchd").string(), "--chain=regtest", "--datadir=" + m_datadir.string(),
                                      "--rpcport=" + std::to_string(m_port), "--startheight=0", "--pollseconds=1",
                                      "--bitcoind.rpcport=" + std::to_string(m_node_port), "--bitcoind.rpcuser=u",
                                      "--bitcoind.rpcpassword=p", "--loglevel=debug",
                                      "--logfile=" + (m_datadir / "vw.log").string()};
        args.insert(args.end(), m_extra.begin(), m_extra.end());
        m_pid = ::fork();
        if (m_pid == 0) {
            const int devnull = ::open("/dev/null", O_WRONLY);
            ::dup2(devnull, 1);
            ::dup2(devnull, 2);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
    }
    int Kill(int sig)
    {
        if (m_pid <= 0) return -1;
        ::kill(m_pid, sig);
        int status = 0;
        ::waitpid(m_pid, &status, 0);
        m_pid = -1;
        return status;
    }
    //! Runs vaultwatch-cli; returns the parsed JSON output, or the error text as a string.
    json::value Cli(const std::vector<std::string>& args, bool* ok = nullptr) const
    {
        std::string cmd = (BinDir() / "vaultwatch-cli").string() + " -regtest -rpcwait -datadir=" + m_datadir.string() +
                          " -rpcport=" + std::to_string(m_port);
        for (const auto& a : args) cmd += " '" + a + "'";
        cmd += " 2>&1";
        FILE* f = ::popen(cmd.c_str(), "r");
        std::string out;
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
        const int rc = ::pclose(f);
        if (ok) *ok = rc == 0;
        boost::system::error_code ec;
        auto v = json::parse(out, ec);
        if (ec || rc != 0) return json::value(out);
        return v;
    }
    std::string Log() const
    {
        std::ifstream f(m_datadir / "regtest" / "vw.log");
        std::ifstream g(m_datadir / "vw.log");
        std::stringstream ss;
        ss << f.rdbuf() << g.rdbuf();
        return ss.str();
    }

private:
    std::filesystem::path m_datadir;
    uint16_t m_port;
    uint16_t m_node_port;
    std::vector<std::string> m_extra;
    pid_t m_pid{-1};
};

template <typename F>
bool WaitFor(F&& f, std::chrono::milliseconds timeout = 15s)
{
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (f()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return f();
}

Bytes P2TR(uint8_t fill)
{
    Bytes spk{0x51, 0x20};
    spk.resize(34, fill);
    return spk;
}

MutableTransaction Spend(const OutPoint& prev, Amount value, const Bytes& spk, uint8_t tag)
{
    MutableTransaction m;
    TxIn in;
    in.prevout = prev;
    in.sequence = 0xfffffffd;
    in.witness = {Bytes(64, tag)}; // the simulator runs no scripts
    m.vin.push_back(in);
    m.vout.push_back({value, spk});
    return m;
}

//! A presigned vault made on the simulator's chain: a funded vault output, the operator's
//! pre-signed unvault (trigger) and its recovery.
struct PresignedFixture {
    sim::RegtestSim sim{[] {
        sim::SimConfig c;
        c.rpc_user = "u";
        c.rpc_password = "p";
        for (const char* t : {"rawtx", "hashblock", "sequence"}) c.zmq.push_back({t, "tcp://127.0.0.1:0"});
        return c;
    }()};
    std::filesystem::path dir;
    Transaction funding{MutableTransaction{}}, trigger{MutableTransaction{}}, recovery{MutableTransaction{}};
    Transaction recovery_fast{MutableTransaction{}};

    PresignedFixture()
    {
        dir = std::filesystem::temp_directory_path() / ("vw-engine-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(dir);
        sim.Start();
        sim.Generate(110);
        const std::string hash{sim.Call("getblockhash", {1}).as_string()};
        auto block = DecodeBlock(*ParseHex(std::string_view{sim.Call("getblock", {hash, 0}).as_string()}));
        const Transaction& cb = block->txs.at(0);
        funding = Transaction{Spend({cb.GetTxid(), 0}, cb.vout().at(0).value - Amount{10'000}, P2TR(0xaa), 1)};
        sim.Call("sendrawtransaction", {HexStr(SerializeTransaction(funding))});
        sim.Generate(1);
        const Amount v = funding.vout().at(0).value;
        trigger = Transaction{Spend({funding.GetTxid(), 0}, v - Amount{10'000}, P2TR(0xbb), 2)};
        recovery = Transaction{Spend({trigger.GetTxid(), 0}, v - Amount{20'000}, P2TR(0xcc), 3)};
        recovery_fast = Transaction{Spend({trigger.GetTxid(), 0}, v - Amount{60'000}, P2TR(0xcc), 4)};
    }
    ~PresignedFixture()
    {
        sim.Stop();
        std::filesystem::remove_all(dir);
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
        const json::value mempool = sim.Call("getrawmempool");
        for (const auto& v : mempool.as_array()) {
            if (v.as_string() == t.ToString()) return true;
        }
        return false;
    }
    std::string SendTrigger() { return std::string(sim.Call("sendrawtransaction", {HexStr(SerializeTransaction(trigger))}).as_string()); }
};

std::string Field(const json::value& v, const char* k)
{
    if (!v.is_object() || !v.as_object().contains(k)) return "<" + std::string(k) + " missing in " + json::serialize(v) + ">";
    const auto& f = v.as_object().at(k);
    return f.is_string() ? std::string(f.as_string()) : json::serialize(f);
}

TEST(engine_process_tests, PresignedVaultEndToEnd)
{
    PresignedFixture fx;
    Daemon d(fx.dir / "vw", FreePort(), fx.sim.RpcPort());
    d.Start();
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
    EXPECT_EQ(std::string(fx.sim.Call("getrawtransaction", {fx.recovery.GetTxid().ToString()}).as_string()),
              HexStr(SerializeTransaction(fx.recovery)));
    EXPECT_EQ(Field(d.Cli({"getvault", vid}), "state"), "recovering");

    fx.sim.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", fx.recovery.GetTxid().ToString()}), "state") == "confirmed"; })) << d.Log();
    EXPECT_EQ(Field(d.Cli({"getvault", vid}), "state"), "recovered");
    const auto ev = d.Cli({"listevents"});
    std::vector<std::string> types;
    for (const auto& e : ev.at("events").as_array()) types.emplace_back(e.at("type").as_string());
    for (const char* want : {"vault.registered", "vault.trigger", "recovery.planned", "recovery.broadcast", "recovery.confirmed"}) {
        EXPECT_NE(std::find(types.begin(), types.end(), want), types.end()) << want << " missing: " << json::serialize(ev);
    }
    EXPECT_EQ(d.Kill(SIGTERM), 0) << "clean exit on SIGTERM";
}

TEST(engine_process_tests, ApprovedTriggerIsLeftAlone)
{
    PresignedFixture fx;
    Daemon d(fx.dir / "vw", FreePort(), fx.sim.RpcPort());
    d.Start();
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Field(reg, "vault_id");
    auto ap = d.Cli({"-named", "approvetrigger", "vault_id=" + vid, "trigger_txid=" + fx.trigger.GetTxid().ToString()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(ap);
    fx.SendTrigger();
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getvault", vid}), "state") == "triggered"; })) << d.Log();
    fx.sim.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 112; }));
    EXPECT_TRUE(d.Cli({"listrecoveries"}).at("recoveries").as_array().empty());
    EXPECT_FALSE(fx.InMempool(fx.recovery.GetTxid()));
    auto v = d.Cli({"getvault", vid});
    EXPECT_EQ(Field(v.at("triggers").as_array().at(0), "approved"), "true") << json::serialize(v);
}

TEST(engine_process_tests, DelayedModeRecoversAfterGraceUnlessApproved)
{
    PresignedFixture fx;
    Daemon d(fx.dir / "vw", FreePort(), fx.sim.RpcPort());
    d.Start();
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration(R"({"mode":"delayed","grace_blocks":3})")}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Field(reg, "vault_id");
    fx.SendTrigger();
    fx.sim.Generate(1); // trigger confirmed at 112
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 112; }));
    EXPECT_TRUE(d.Cli({"listrecoveries"}).at("recoveries").as_array().empty()) << "inside the grace period";
    fx.sim.Generate(2);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 114; }));
    // Grace over (3 confirmations), no approval: recovered.
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d.Log();
}

TEST(engine_process_tests, SigkillAfterTheIntentThenRestartBroadcastsOnce)
{
    PresignedFixture fx;
    const uint16_t port = FreePort();
    auto d = std::make_unique<Daemon>(fx.dir / "vw", port, fx.sim.RpcPort());
    d->Start();
    bool ok = false;
    auto reg = d->Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    // The node refuses every transaction for now: the intent is stored, the broadcast fails.
    fx.sim.Call("simreject", {"non-mandatory-script-verify-flag"});
    ASSERT_TRUE(WaitFor([&] { return d->Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }));
    // The trigger reaches the node's mempool before the refusal starts... we let it in directly.
    fx.sim.Call("simreject", {""});
    fx.SendTrigger();
    fx.sim.Call("simreject", {"non-mandatory-script-verify-flag"});
    ASSERT_TRUE(WaitFor([&] {
        auto r = d->Cli({"listrecoveries"});
        return r.is_object() && !r.at("recoveries").as_array().empty();
    })) << d->Log();
    EXPECT_FALSE(fx.InMempool(fx.recovery.GetTxid()));
    d->Kill(SIGKILL);
    d.reset();
    fx.sim.Call("simreject", {""});
    // Restart: the stored intent is broadcast, once in effect (the node holds one copy).
    d = std::make_unique<Daemon>(fx.dir / "vw", port, fx.sim.RpcPort());
    d->Start();
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d->Log();
    auto recs = d->Cli({"listrecoveries"});
    ASSERT_EQ(recs.at("recoveries").as_array().size(), 1u);
    EXPECT_EQ(Field(recs.at("recoveries").as_array()[0], "state"), "broadcast");
    fx.sim.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d->Cli({"getrecovery", fx.recovery.GetTxid().ToString()}), "state") == "confirmed"; }));
}

TEST(engine_process_tests, ReorgRemovingATriggerRevertsItsState)
{
    PresignedFixture fx;
    Daemon d(fx.dir / "vw", FreePort(), fx.sim.RpcPort());
    d.Start();
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration(R"({"mode":"alert"})")}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Field(reg, "vault_id");
    fx.SendTrigger();
    fx.sim.Generate(1); // trigger confirmed at 112
    auto trigger_height = [&] {
        const auto v = d.Cli({"getvault", vid});
        if (!v.is_object() || v.at("triggers").as_array().empty()) return std::string("none");
        return json::serialize(v.at("triggers").as_array()[0].at("height"));
    };
    ASSERT_TRUE(WaitFor([&] { return trigger_height() == "112"; })) << d.Log();
    EXPECT_EQ(Field(d.Cli({"getvault", vid}), "state"), "triggered");
    // A competing branch without the trigger: it falls back to the mempool (height null)...
    fx.sim.Reorg(1);
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 113; }));
    ASSERT_TRUE(WaitFor([&] { return trigger_height() == "null"; })) << d.Log();
    // ...and once the owner's own spend of the vault output replaces it, the vault is active again.
    MutableTransaction owner = fx.trigger.mutable_copy();
    owner.vout[0].value = owner.vout[0].value - Amount{50'000};
    const Transaction owner_tx{owner};
    fx.sim.Call("sendrawtransaction", {HexStr(SerializeTransaction(owner_tx))});
    ASSERT_TRUE(WaitFor([&] { return trigger_height() == "none"; })) << d.Log();
    const auto v = d.Cli({"getvault", vid});
    EXPECT_NE(Field(v, "state"), "triggered") << json::serialize(v);
    EXPECT_TRUE(d.Cli({"listrecoveries"}).at("recoveries").as_array().empty());
}

TEST(engine_process_tests, ReorgRemovingOurRecoveryRebroadcastsIt)
{
    PresignedFixture fx;
    Daemon d(fx.dir / "vw", FreePort(), fx.sim.RpcPort());
    d.Start();
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    fx.SendTrigger();
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d.Log();
    fx.sim.Generate(1); // trigger and recovery confirmed at 112
    const std::string rtxid = fx.recovery.GetTxid().ToString();
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", rtxid}), "confirmed_height") == "112"; })) << d.Log();
    const auto attempts_before = d.Cli({"getrecovery", rtxid}).at("attempts").as_int64();
    fx.sim.Reorg(1); // the competing branch has neither
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", rtxid}), "state") == "broadcast"; })) << d.Log();
    EXPECT_EQ(Field(d.Cli({"getrecovery", rtxid}), "confirmed_height"), "null");
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getrecovery", rtxid}).at("attempts").as_int64() > attempts_before; })) << "rebroadcast";
    EXPECT_TRUE(fx.InMempool(fx.recovery.GetTxid()));
    fx.sim.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Field(d.Cli({"getrecovery", rtxid}), "state") == "confirmed"; })) << d.Log();
    EXPECT_EQ(Field(d.Cli({"getrecovery", rtxid}), "confirmed_height"), "114");
}

TEST(engine_process_tests, OpvaultIsRefusedWhenTheNodeDoesNotEnforceIt)
{
    PresignedFixture fx;
    Daemon d(fx.dir / "vw", FreePort(), fx.sim.RpcPort());
    d.Start();
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("opvault_enforced").is_bool(); }));
    bool ok = true;
    const std::string req = R"({"kind":"opvault","internal_key":")" + std::string(64, '1') +
                            R"(","leaves":[{"script":"51","depth":0}],"recovery_script_pubkey":"51"})";
    auto r = d.Cli({"registervault", req}, &ok);
    EXPECT_FALSE(ok);
    EXPECT_NE(json::serialize(r).find("does not enforce OP_VAULT"), std::string::npos) << json::serialize(r);
}

} // namespace
} // namespace vw::test
#endif
