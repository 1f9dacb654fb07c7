// Signed webhooks, end to end: the real vaultwatchd process against the in-process regtest
// simulator, a test receiver (webhook_receiver.h) checking every signature with its own HMAC, and
// vaultwatch-cli for control. Covers every event of a presigned recovery arriving signed and in
// order, retries across receiver downtime, no alert lost across SIGKILL, 410 disabling a hook,
// HTTPS against a run-time test CA (an unknown CA and a wrong host name refused), and the RPC;
// and, between the tests, every event type the daemon emits.
#ifdef VW_HAVE_SIM

#include "crypto/sha256.h"
#include "primitives/block.h"
#include "primitives/transaction.h"
#include "regtest_sim.h"
#include "tx_util.h"
#include "util/bech32.h"
#include "util/hex.h"
#include "vault/opvault.h"
#include "webhook_receiver.h"

#include <boost/json.hpp>
#include "process_util.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>

namespace vw::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kSecret = "whsec-config-0123456789abcdef";

std::filesystem::path BinDir()
{
    // build/tests/daemon/vw_daemon_tests -> build/daemon/
    return std::filesystem::canonical("/proc/self/exe").parent_path().parent_path().parent_path() / "daemon";
}

using proc::FreePort;

template <typename F>
bool WaitFor(F&& f, std::chrono::milliseconds timeout = 20s)
{
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (f()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return f();
}

//! vaultwatchd against the simulator, its webhook retries made quick (proc::Vaultwatchd).
class Daemon : public proc::Vaultwatchd
{
public:
    Daemon(std::filesystem::path datadir, uint16_t rpcport, uint16_t node_port, std::vector<std::string> extra = {})
        : proc::Vaultwatchd(BinDir() / "vaultwatchd", std::move(datadir), rpcport)
    {
        node_args = {"--bitcoind.rpcport=" + std::to_string(node_port), "--bitcoind.rpcuser=u", "--bitcoind.rpcpassword=p"};
        extra.insert(extra.begin(), {"--webhookmaxbackoff=1", "--webhooktimeout=5"});
        extra_args = std::move(extra);
    }
    ~Daemon() override { Kill(SIGKILL); }
};


//! The simulator with a funded presigned vault: funding output, trigger, recovery.
struct Fixture {
    std::filesystem::path dir;
    std::unique_ptr<sim::RegtestSim> node;
    Transaction funding{MutableTransaction{}}, trigger{MutableTransaction{}}, recovery{MutableTransaction{}}, emergency{MutableTransaction{}};

    Fixture()
    {
        dir = std::filesystem::temp_directory_path() / ("vw-webhook-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(dir);
        sim::SimConfig c;
        c.rpc_user = "u";
        c.rpc_password = "p";
        for (const char* t : {"rawtx", "hashblock", "sequence"}) c.zmq.push_back({t, "tcp://127.0.0.1:0"});
        node = std::make_unique<sim::RegtestSim>(c);
        node->Start();
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
        emergency = Transaction{Spend({funding.GetTxid(), 0}, v - Amount{15'000}, P2TR(0xdd))};
    }
    ~Fixture()
    {
        node->Stop();
        node.reset();
        std::filesystem::remove_all(dir);
    }
    void Generate(int n) { node->Call("generatetoaddress", {n, AnyoneCanSpendAddress()}); }
    uint16_t NodePort() { return node->RpcPort(); }
    std::string Registration(bool with_emergency = false) const
    {
        const std::string em = with_emergency ? R"(,"emergency_txs":[")" + HexStr(SerializeTransaction(emergency)) + R"("])" : "";
        return R"({"kind":"presigned","label":"wh","policy":{"mode":"recover"},"watch_outpoints":[{"txid":")" + funding.GetTxid().ToString() +
               R"(","vout":0}],"triggers":[{"txid":")" + trigger.GetTxid().ToString() + R"(","spend_delay":20,"recovery_txs":[")" +
               HexStr(SerializeTransaction(recovery)) + R"("]}])" + em + "}";
    }
    void SendTrigger() { node->Call("sendrawtransaction", {HexStr(SerializeTransaction(trigger))}); }
    bool InMempool(const Txid& t)
    {
        const json::value mempool = node->Call("getrawmempool");
        for (const auto& v : mempool.as_array()) {
            if (v.as_string() == t.ToString()) return true;
        }
        return false;
    }
};

std::string Str(const json::value& v, const char* k)
{
    if (!v.is_object() || !v.as_object().contains(k)) return "<" + std::string(k) + " missing in " + json::serialize(v) + ">";
    const auto& f = v.as_object().at(k);
    return f.is_string() ? std::string(f.as_string()) : json::serialize(f);
}

//! The daemon's event log: seq -> type.
std::map<int64_t, std::string> Events(const Daemon& d)
{
    std::map<int64_t, std::string> out;
    const auto ev = d.Cli({"listevents", "0", "1000"});
    if (!ev.is_object()) return out;
    for (const auto& e : ev.at("events").as_array()) out[e.at("seq").as_int64()] = std::string(e.at("type").as_string());
    return out;
}

json::object Hook(const Daemon& d, const std::string& id)
{
    const auto l = d.Cli({"listwebhooks"});
    if (!l.is_object()) return {};
    for (const auto& h : l.at("webhooks").as_array()) {
        if (h.at("webhook_id").as_string() == id) return h.as_object();
    }
    return {};
}

std::string ConfigHookId(const Daemon& d)
{
    const auto l = d.Cli({"listwebhooks"});
    if (!l.is_object()) return "";
    for (const auto& h : l.at("webhooks").as_array()) {
        if (h.at("source").as_string() == "config") return std::string(h.at("webhook_id").as_string());
    }
    return "";
}

//! The event seq a delivery id names ("<webhook id>:<seq>"), or -1.
int64_t SeqOf(const std::string& delivery_id)
{
    const auto colon = delivery_id.rfind(':');
    if (colon == std::string::npos) return -1;
    try {
        return std::stoll(delivery_id.substr(colon + 1));
    } catch (const std::exception&) {
        return -1;
    }
}

//! Checks one received request against the wire format (docs/webhooks.md). Returns the body.
json::object CheckRequest(const ReceivedRequest& r, const std::string& target)
{
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, target);
    EXPECT_EQ(r.Header("content-type"), "application/json");
    EXPECT_TRUE(r.signature_ok) << r.signature_error << " | " << r.Header("vaultwatch-signature") << " | " << r.body;
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    EXPECT_FALSE(ec) << r.body;
    if (ec || !v.is_object()) return {};
    auto& o = v.as_object();
    EXPECT_EQ(o.size(), 5u) << r.body;
    EXPECT_EQ(Str(o, "chain"), "regtest");
    EXPECT_TRUE(o.contains("created_at") && o.at("created_at").is_int64()) << r.body;
    EXPECT_TRUE(o.contains("data") && o.at("data").is_object()) << r.body;
    EXPECT_EQ(r.Header("vaultwatch-event"), Str(o, "type"));
    EXPECT_EQ(r.Header("vaultwatch-delivery"), Str(o, "id"));
    return o;
}

TEST(webhook_e2e, EveryEventOfARecoveryArrivesSignedAndInOrder)
{
    Fixture fx;
    WebhookReceiver all{kSecret};
    all.Start();
    const std::string rsecret = "whsec-rpc-hook-fedcba9876543210";
    WebhookReceiver recoveries{rsecret};
    recoveries.Start();
    Daemon d(fx.dir / "vw", FreePort(), fx.NodePort(),
             {"--webhook=http://127.0.0.1:" + std::to_string(all.port()) + "/hook", "--webhooksecret=" + kSecret});
    d.Start();
    // A second hook over RPC, with its own secret and a filter.
    bool ok = false;
    auto added = d.Cli({"-named", "addwebhook", "url=http://127.0.0.1:" + std::to_string(recoveries.port()) + "/r", "secret=" + rsecret,
                        "events=recovery.*"},
                       &ok);
    ASSERT_TRUE(ok) << json::serialize(added) << d.Log();
    const std::string rpc_hook = Str(added, "webhook_id");

    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Str(reg, "vault_id");
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }));
    fx.SendTrigger();
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d.Log();
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Str(d.Cli({"getrecovery", fx.recovery.GetTxid().ToString()}), "state") == "confirmed"; })) << d.Log();

    // Every event in the log reaches the catch-all hook.
    std::map<int64_t, std::string> events;
    ASSERT_TRUE(WaitFor([&] {
        events = Events(d);
        return !events.empty() && all.Count() >= events.size();
    })) << all.Count() << " of " << events.size() << "\n" << d.Log();
    const auto reqs = all.Requests();
    const std::string hook = ConfigHookId(d);
    std::vector<std::string> types;
    int64_t last_seq = 0;
    std::set<int64_t> seen;
    std::map<std::string, json::object> by_type;
    for (const auto& r : reqs) {
        const json::object body = CheckRequest(r, "/hook");
        const std::string id = Str(body, "id");
        EXPECT_EQ(id.rfind(hook + ":", 0), 0u) << id;
        const int64_t seq = SeqOf(id);
        EXPECT_GT(seq, last_seq) << "in order, each once: " << id;
        last_seq = seq;
        seen.insert(seq);
        ASSERT_TRUE(events.contains(seq)) << id;
        EXPECT_EQ(Str(body, "type"), events[seq]);
        types.push_back(Str(body, "type"));
        by_type.emplace(Str(body, "type"), body.at("data").as_object());
    }
    EXPECT_EQ(seen.size(), events.size()) << "every event delivered";
    // The presigned flow's events, in their causal order.
    std::vector<std::string> want{"vault.registered", "vault.trigger", "recovery.planned", "recovery.broadcast", "recovery.confirmed"};
    size_t at = 0;
    for (const auto& t : types) {
        if (at < want.size() && t == want[at]) ++at;
    }
    EXPECT_EQ(at, want.size()) << "got " << json::serialize(json::value_from(types));
    for (const auto& t : want) {
        ASSERT_TRUE(by_type.contains(t)) << t;
        EXPECT_EQ(Str(by_type[t], "vault_id"), vid) << t;
    }
    EXPECT_EQ(Str(by_type["vault.trigger"], "approved"), "false");
    EXPECT_EQ(Str(by_type["vault.trigger"], "txid"), fx.trigger.GetTxid().ToString());
    for (const char* t : {"recovery.planned", "recovery.broadcast", "recovery.confirmed"}) {
        EXPECT_EQ(Str(by_type[t], "txid"), fx.recovery.GetTxid().ToString()) << t;
    }
    EXPECT_EQ(Str(by_type["recovery.confirmed"], "height"), "112");

    // The filtered hook got the recovery.* events only, signed with its own secret.
    ASSERT_TRUE(WaitFor([&] { return recoveries.Count() >= 3; })) << d.Log();
    std::this_thread::sleep_for(500ms);
    for (const auto& r : recoveries.Requests()) {
        const json::object body = CheckRequest(r, "/r");
        EXPECT_EQ(Str(body, "type").rfind("recovery.", 0), 0u) << r.body;
        EXPECT_EQ(Str(body, "id").rfind(rpc_hook + ":", 0), 0u);
    }
    EXPECT_EQ(recoveries.Count(), 3u);

    // Counters; no secret in any RPC answer or in the log; the database is owner-only.
    const auto h = Hook(d, hook);
    EXPECT_EQ(Str(h, "delivered"), std::to_string(events.size()));
    EXPECT_EQ(Str(h, "pending"), "0");
    EXPECT_EQ(Str(h, "source"), "config");
    EXPECT_EQ(Str(h, "enabled"), "true");
    const std::string listed = json::serialize(d.Cli({"listwebhooks"}));
    EXPECT_EQ(listed.find(kSecret), std::string::npos);
    EXPECT_EQ(listed.find(rsecret), std::string::npos);
    EXPECT_EQ(listed.find("secret"), std::string::npos) << listed;
    const std::string log = d.Log();
    EXPECT_EQ(log.find(kSecret), std::string::npos);
    EXPECT_EQ(log.find(rsecret), std::string::npos);
    struct stat st{};
    ASSERT_EQ(::stat(d.Db().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(d.Kill(SIGTERM), 0);
}

TEST(webhook_e2e, RetriesUntilTheReceiverComesBack)
{
    Fixture fx;
    WebhookReceiver rx{kSecret, FreePort()};
    Daemon d(fx.dir / "vw", FreePort(), fx.NodePort(),
             {"--webhook=http://127.0.0.1:" + std::to_string(rx.port()) + "/hook", "--webhooksecret=" + kSecret});
    d.Start();
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string hook = ConfigHookId(d);
    // The endpoint is down: the delivery fails, is retried, and stays pending.
    ASSERT_TRUE(WaitFor([&] {
        const auto h = Hook(d, hook);
        return Str(h, "pending") == "1" && Str(h, "last_error").find("connect") != std::string::npos;
    })) << json::serialize(Hook(d, hook)) << d.Log();
    ASSERT_TRUE(WaitFor([&] {
        const auto h = Hook(d, hook);
        return h.contains("oldest_pending") && h.at("oldest_pending").is_object() &&
               h.at("oldest_pending").at("attempts").as_int64() >= 3;
    })) << "retried while down: " << json::serialize(Hook(d, hook));
    EXPECT_EQ(Str(Hook(d, hook).at("oldest_pending"), "delivery_id"), hook + ":1");
    EXPECT_EQ(Str(Hook(d, hook), "delivered"), "0");
    rx.Start();
    ASSERT_TRUE(WaitFor([&] { return rx.Count() >= 1; })) << d.Log();
    const auto r = rx.Requests().at(0);
    const json::object body = CheckRequest(r, "/hook");
    EXPECT_EQ(Str(body, "type"), "vault.registered");
    ASSERT_TRUE(WaitFor([&] { return Str(Hook(d, hook), "delivered") == "1"; }));
    EXPECT_EQ(Str(Hook(d, hook), "pending"), "0");
    EXPECT_EQ(Str(Hook(d, hook), "last_error"), "");
}

TEST(webhook_e2e, NoAlertIsLostWhenTheDaemonIsKilledWithUndeliveredEvents)
{
    Fixture fx;
    WebhookReceiver rx{kSecret, FreePort()};
    const uint16_t port = FreePort();
    const std::vector<std::string> args{"--webhook=http://127.0.0.1:" + std::to_string(rx.port()) + "/hook", "--webhooksecret=" + kSecret};
    auto d = std::make_unique<Daemon>(fx.dir / "vw", port, fx.NodePort(), args);
    d->Start();
    bool ok = false;
    auto reg = d->Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    ASSERT_TRUE(WaitFor([&] { return d->Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }));
    fx.SendTrigger();
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.recovery.GetTxid()); })) << d->Log();
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Str(d->Cli({"getrecovery", fx.recovery.GetTxid().ToString()}), "state") == "confirmed"; }));
    const auto before = Events(*d);
    ASSERT_GE(before.size(), 5u);
    const std::string hook = ConfigHookId(*d);
    ASSERT_TRUE(WaitFor([&] { return Str(Hook(*d, hook), "pending") == std::to_string(before.size()); })) << json::serialize(Hook(*d, hook));

    d->Kill(SIGKILL);
    d = std::make_unique<Daemon>(fx.dir / "vw", port, fx.NodePort(), args);
    d->Start();
    ASSERT_TRUE(WaitFor([&] { return d->Cli({"getinfo"}).is_object(); }));
    rx.Start();
    const auto events = Events(*d);
    ASSERT_EQ(events.size(), before.size());
    // Every event arrives (duplicates would be allowed, and carry the same id and body).
    std::map<int64_t, std::string> bodies;
    ASSERT_TRUE(WaitFor([&] {
        for (const auto& r : rx.Requests()) bodies.emplace(SeqOf(r.Header("vaultwatch-delivery")), r.body);
        return bodies.size() >= events.size();
    })) << bodies.size() << " of " << events.size() << "\n" << d->Log();
    for (const auto& [seq, type] : events) {
        ASSERT_TRUE(bodies.contains(seq)) << "lost event " << seq << " " << type;
    }
    for (const auto& r : rx.Requests()) {
        const json::object body = CheckRequest(r, "/hook");
        EXPECT_EQ(r.body, bodies[SeqOf(Str(body, "id"))]) << "a repeated delivery is the same delivery";
    }
    ASSERT_TRUE(WaitFor([&] { return Str(Hook(*d, hook), "pending") == "0"; }));
}

TEST(webhook_e2e, GoneIsRetriedAndNothingIsSkipped)
{
    // A 410 from anything on the path (a proxy, a load balancer) used to disable the hook, and
    // enabling it again skipped to the newest event: alerts were lost. It is a failure like any
    // other now: retried, and every event arrives once the endpoint answers.
    Fixture fx;
    WebhookReceiver rx{kSecret};
    rx.SetStatus(410);
    rx.Start();
    Daemon d(fx.dir / "vw", FreePort(), fx.NodePort(),
             {"--webhook=http://127.0.0.1:" + std::to_string(rx.port()) + "/hook", "--webhooksecret=" + kSecret, "--webhookminbackoffms=50"});
    d.Start();
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string hook = ConfigHookId(d);
    ASSERT_TRUE(WaitFor([&] { return rx.Count() >= 2; })) << d.Log();
    EXPECT_EQ(Str(Hook(d, hook), "enabled"), "true");
    EXPECT_NE(Str(Hook(d, hook), "last_error").find("410"), std::string::npos);
    fx.SendTrigger();
    ASSERT_TRUE(WaitFor([&] { return Events(d).size() >= 3; })) << d.Log();
    rx.SetStatus(200);
    std::set<int64_t> got;
    ASSERT_TRUE(WaitFor([&] {
        got.clear();
        for (const auto& r : rx.Requests()) {
            if (r.status == 200u) got.insert(SeqOf(r.Header("vaultwatch-delivery")));
        }
        return got.size() >= Events(d).size();
    })) << got.size() << " of " << Events(d).size() << "\n" << d.Log();
    for (const auto& [seq, type] : Events(d)) EXPECT_TRUE(got.contains(seq)) << "lost event " << seq << " " << type;
}

TEST(webhook_e2e, OneUndeliverableEventDoesNotHoldBackTheOthers)
{
    // The receiver refuses one event type for good: the others still arrive at once, not after
    // the refused one's retries (it used to block every later alert until its horizon).
    Fixture fx;
    WebhookReceiver rx{kSecret};
    rx.SetRefuseType("vault.registered");
    rx.Start();
    Daemon d(fx.dir / "vw", FreePort(), fx.NodePort(),
             {"--webhook=http://127.0.0.1:" + std::to_string(rx.port()) + "/hook", "--webhooksecret=" + kSecret, "--webhookminbackoffms=500"});
    d.Start();
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    ASSERT_TRUE(WaitFor([&] { return rx.Count() >= 1; })) << d.Log();
    fx.SendTrigger();
    ASSERT_TRUE(WaitFor([&] {
        for (const auto& r : rx.Requests()) {
            if (r.status == 200u && r.Header("vaultwatch-event") == "vault.trigger") return true;
        }
        return false;
    }, 10s)) << d.Log();
}

TEST(webhook_e2e, NodeUnreachableThenRecoveredAreDeliveredOnceEach)
{
    Fixture fx;
    WebhookReceiver rx{kSecret};
    rx.Start();
    Daemon d(fx.dir / "vw", FreePort(), fx.NodePort(),
             {"--webhook=http://127.0.0.1:" + std::to_string(rx.port()) + "/hook", "--webhooksecret=" + kSecret, "--webhookevents=node.*"});
    d.Start();
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }))
        << d.Log();
    EXPECT_EQ(rx.Count(), 0u) << "a node that answers from the start raises nothing";
    fx.node->SetUnreachable(true);
    ASSERT_TRUE(WaitFor([&] { return rx.Count() >= 1; })) << d.Log();
    std::this_thread::sleep_for(1500ms); // more failed polls while it stays down: still one alert
    EXPECT_EQ(rx.Count(), 1u);
    fx.node->SetUnreachable(false);
    ASSERT_TRUE(WaitFor([&] { return rx.Count() >= 2; })) << d.Log();
    const auto reqs = rx.Requests();
    ASSERT_EQ(reqs.size(), 2u);
    const json::object down = CheckRequest(reqs[0], "/hook"), up = CheckRequest(reqs[1], "/hook");
    EXPECT_EQ(Str(down, "type"), "node.unreachable");
    EXPECT_FALSE(Str(down.at("data").as_object(), "detail").empty()) << json::serialize(down);
    EXPECT_EQ(Str(up, "type"), "node.recovered");
}

TEST(webhook_e2e, HttpsVerifiesTheCertificateAndTheHostName)
{
    Fixture fx;
    const TestCa ca = MakeTestCa(fx.dir, "trusted");
    const TestCa rogue = MakeTestCa(fx.dir, "rogue");
    const std::string secret = "whsec-https-0123456789abcdef";
    WebhookReceiver good{secret, 0, ca.Issue("localhost", "DNS:localhost,IP:127.0.0.1")};
    WebhookReceiver unknown_ca{secret, 0, rogue.Issue("localhost", "DNS:localhost,IP:127.0.0.1")};
    WebhookReceiver wrong_name{secret, 0, ca.Issue("elsewhere", "DNS:elsewhere.example")};
    good.Start();
    unknown_ca.Start();
    wrong_name.Start();
    Daemon d(fx.dir / "vw", FreePort(), fx.NodePort(), {"--webhookcafile=" + ca.cert.string()});
    d.Start();
    auto add = [&](const std::string& url) {
        bool ok = false;
        auto r = d.Cli({"addwebhook", url, secret}, &ok);
        EXPECT_TRUE(ok) << json::serialize(r);
        return Str(r, "webhook_id");
    };
    const std::string by_name = add("https://localhost:" + std::to_string(good.port()) + "/tls");
    const std::string by_ip = add("https://127.0.0.1:" + std::to_string(good.port()) + "/tls-ip");
    const std::string rogue_hook = add("https://127.0.0.1:" + std::to_string(unknown_ca.port()) + "/rogue");
    const std::string mismatch_hook = add("https://localhost:" + std::to_string(wrong_name.port()) + "/mismatch");
    for (const auto& id : {by_name, by_ip, rogue_hook, mismatch_hook}) {
        bool ok = false;
        auto t = d.Cli({"testwebhook", id}, &ok);
        ASSERT_TRUE(ok) << json::serialize(t);
        EXPECT_EQ(Str(t, "delivery_id").rfind(id + ":test-", 0), 0u);
    }
    ASSERT_TRUE(WaitFor([&] { return good.Count() >= 2; })) << d.Log();
    std::set<std::string> targets;
    for (const auto& r : good.Requests()) {
        const json::object body = CheckRequest(r, r.target);
        EXPECT_EQ(Str(body, "type"), "webhook.test");
        targets.insert(r.target);
    }
    EXPECT_EQ(targets, (std::set<std::string>{"/tls", "/tls-ip"}));
    EXPECT_EQ(Str(Hook(d, by_name), "last_status"), "200");
    // An unknown CA and a certificate for another name: refused before anything is sent.
    ASSERT_TRUE(WaitFor([&] { return !Str(Hook(d, rogue_hook), "last_error").empty() && !Str(Hook(d, mismatch_hook), "last_error").empty(); }))
        << d.Log();
    EXPECT_EQ(unknown_ca.Count(), 0u);
    EXPECT_EQ(wrong_name.Count(), 0u);
    EXPECT_GE(unknown_ca.HandshakeFailures(), 1u);
    EXPECT_GE(wrong_name.HandshakeFailures(), 1u);
    EXPECT_NE(Str(Hook(d, rogue_hook), "last_error").find("certificate verify failed"), std::string::npos)
        << Str(Hook(d, rogue_hook), "last_error");
    EXPECT_NE(Str(Hook(d, mismatch_hook), "last_error").find("hostname mismatch"), std::string::npos)
        << Str(Hook(d, mismatch_hook), "last_error");
}

TEST(webhook_e2e, RpcManagesHooksAndConfigHooksAreUpsertedWithStableIds)
{
    Fixture fx;
    WebhookReceiver rx{kSecret};
    rx.Start();
    const uint16_t port = FreePort();
    const std::string url = "http://127.0.0.1:" + std::to_string(rx.port()) + "/cfg";
    auto d = std::make_unique<Daemon>(fx.dir / "vw", port, fx.NodePort(),
                                      std::vector<std::string>{"--webhook=" + url, "--webhooksecret=" + kSecret});
    d->Start();
    const std::string cfg_hook = [&] {
        std::string id;
        WaitFor([&] { return !(id = ConfigHookId(*d)).empty(); });
        return id;
    }();
    ASSERT_FALSE(cfg_hook.empty());
    bool ok = true;
    // Refusals: bad URL, short secret, bad filter, config hooks are not removed over RPC.
    EXPECT_FALSE((d->Cli({"addwebhook", "ftp://x/", "0123456789abcdef"}, &ok), ok));
    EXPECT_FALSE((d->Cli({"addwebhook", "http://127.0.0.1:1/", "short"}, &ok), ok));
    EXPECT_FALSE((d->Cli({"addwebhook", "http://127.0.0.1:1/", "0123456789abcdef", "vault"}, &ok), ok));
    auto rm = d->Cli({"removewebhook", cfg_hook}, &ok);
    EXPECT_FALSE(ok);
    EXPECT_NE(json::serialize(rm).find("vaultwatch.conf"), std::string::npos) << json::serialize(rm);
    EXPECT_FALSE((d->Cli({"removewebhook", "wh-0000000000000000"}, &ok), ok));

    const std::string rpc_secret = "whsec-rpc-0123456789abcdef";
    auto added = d->Cli({"addwebhook", "http://127.0.0.1:" + std::to_string(rx.port()) + "/rpc", rpc_secret, "vault.removed"}, &ok);
    ASSERT_TRUE(ok) << json::serialize(added);
    const std::string rpc_hook = Str(added, "webhook_id");
    EXPECT_EQ(Str(added, "events"), "vault.removed");
    // testwebhook goes out whatever the filter, signed with that hook's secret.
    auto t = d->Cli({"testwebhook", rpc_hook}, &ok);
    ASSERT_TRUE(ok) << json::serialize(t);
    ASSERT_TRUE(WaitFor([&] { return rx.Count() >= 1; })) << d->Log();
    {
        const auto r = rx.Requests().at(0);
        EXPECT_EQ(r.target, "/rpc");
        EXPECT_FALSE(r.signature_ok) << "the receiver holds the config secret, not this hook's";
        EXPECT_FALSE(CheckSignature(rpc_secret, r.Header("vaultwatch-signature"), r.body, static_cast<int64_t>(std::time(nullptr))));
        EXPECT_EQ(r.Header("vaultwatch-event"), "webhook.test");
        EXPECT_EQ(r.Header("vaultwatch-delivery"), Str(t, "delivery_id"));
    }

    // Restart: the RPC hook persists, the config hook keeps its id.
    d->Kill(SIGTERM);
    d = std::make_unique<Daemon>(fx.dir / "vw", port, fx.NodePort(), std::vector<std::string>{"--webhook=" + url, "--webhooksecret=" + kSecret});
    d->Start();
    ASSERT_TRUE(WaitFor([&] { return d->Cli({"listwebhooks"}).is_object(); }));
    EXPECT_EQ(Str(Hook(*d, cfg_hook), "url"), url);
    EXPECT_EQ(Str(Hook(*d, rpc_hook), "source"), "rpc");
    auto gone = d->Cli({"removewebhook", rpc_hook}, &ok);
    ASSERT_TRUE(ok) << json::serialize(gone);
    EXPECT_TRUE(Hook(*d, rpc_hook).empty());
    EXPECT_EQ(d->Cli({"listwebhooks"}).at("webhooks").as_array().size(), 1u);

    // Without the webhook= line, the config hook is gone at the next start.
    d->Kill(SIGTERM);
    d = std::make_unique<Daemon>(fx.dir / "vw", port, fx.NodePort());
    d->Start();
    ASSERT_TRUE(WaitFor([&] { return d->Cli({"listwebhooks"}).is_object(); }));
    EXPECT_TRUE(d->Cli({"listwebhooks"}).at("webhooks").as_array().empty());
}

TEST(webhook_e2e, FailedRecoveryReorgAndRemovalAreDelivered)
{
    Fixture fx;
    WebhookReceiver rx{kSecret};
    rx.Start();
    Daemon d(fx.dir / "vw", FreePort(), fx.NodePort(),
             {"--webhook=http://127.0.0.1:" + std::to_string(rx.port()) + "/hook", "--webhooksecret=" + kSecret});
    d.Start();
    bool ok = false;
    auto reg = d.Cli({"registervault", fx.Registration()}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Str(reg, "vault_id");
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }));
    // The node refuses our recovery (and only it) for a while.
    const Txid rtxid = fx.recovery.GetTxid();
    fx.node->SetPolicyHook([rtxid](const Transaction& tx) -> std::optional<std::string> {
        if (tx.GetTxid() == rtxid) return std::string("non-mandatory-script-verify-flag (test)");
        return std::nullopt;
    });
    fx.SendTrigger();
    ASSERT_TRUE(WaitFor([&] { return Str(d.Cli({"getrecovery", rtxid.ToString()}), "state") == "failed"; })) << d.Log();
    EXPECT_FALSE(fx.InMempool(rtxid));
    // It is tried again at the next block, and goes through once the node accepts it.
    fx.node->SetPolicyHook(nullptr);
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(rtxid); })) << d.Log();
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Str(d.Cli({"getrecovery", rtxid.ToString()}), "state") == "confirmed"; })) << d.Log();
    // A reorg takes the recovery's block away: chain.reorg, and the recovery is back in the mempool.
    fx.node->Call("invalidateblock", {fx.node->BestBlockHash()});
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(rtxid) && Str(d.Cli({"getrecovery", rtxid.ToString()}), "state") == "broadcast"; }))
        << d.Log();
    auto removed = d.Cli({"removevault", vid}, &ok);
    ASSERT_TRUE(ok) << json::serialize(removed);

    std::map<int64_t, std::string> events;
    ASSERT_TRUE(WaitFor([&] {
        events = Events(d);
        return !events.empty() && rx.Count() >= events.size() && events.rbegin()->second == "vault.removed";
    })) << rx.Count() << " of " << events.size() << "\n" << d.Log();
    std::vector<std::string> types;
    std::map<std::string, json::object> by_type;
    for (const auto& r : rx.Requests()) {
        const json::object body = CheckRequest(r, "/hook");
        types.push_back(Str(body, "type"));
        by_type.emplace(Str(body, "type"), body.at("data").as_object());
    }
    const std::vector<std::string> want{"vault.registered", "vault.trigger",      "recovery.planned", "recovery.failed",
                                        "recovery.broadcast", "recovery.confirmed", "chain.reorg",      "vault.removed"};
    size_t at = 0;
    for (const auto& t : types) {
        if (at < want.size() && t == want[at]) ++at;
    }
    EXPECT_EQ(at, want.size()) << "got " << json::serialize(json::value_from(types));
    EXPECT_NE(Str(by_type["recovery.failed"], "error").find("non-mandatory-script-verify-flag"), std::string::npos)
        << json::serialize(by_type["recovery.failed"]);
    EXPECT_EQ(Str(by_type["recovery.failed"], "txid"), rtxid.ToString());
    EXPECT_EQ(Str(by_type["vault.removed"], "vault_id"), vid);
    EXPECT_FALSE(Str(by_type["chain.reorg"], "disconnected_hash").empty());
}

TEST(webhook_e2e, RecoverVaultSweepsNowAndIsAlerted)
{
    Fixture fx;
    WebhookReceiver rx{kSecret};
    rx.Start();
    Daemon d(fx.dir / "vw", FreePort(), fx.NodePort(),
             {"--webhook=http://127.0.0.1:" + std::to_string(rx.port()) + "/hook", "--webhooksecret=" + kSecret});
    d.Start();
    bool ok = false;
    // An alert-only vault: nothing would be recovered automatically; the operator presses the button.
    std::string reg_json = fx.Registration(/*with_emergency=*/true);
    reg_json.replace(reg_json.find(R"("mode":"recover")"), 16, R"("mode":"alert")");
    auto reg = d.Cli({"registervault", reg_json}, &ok);
    ASSERT_TRUE(ok) << json::serialize(reg);
    const std::string vid = Str(reg, "vault_id");
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }));
    ASSERT_TRUE(WaitFor([&] { return Str(d.Cli({"getvault", vid}), "state") == "active"; }));
    auto r = d.Cli({"recovervault", vid}, &ok);
    ASSERT_TRUE(ok) << json::serialize(r);
    ASSERT_EQ(r.at("recoveries").as_array().size(), 1u) << json::serialize(r);
    const auto& rec = r.at("recoveries").as_array()[0];
    EXPECT_EQ(Str(rec, "txid"), fx.emergency.GetTxid().ToString());
    EXPECT_EQ(Str(rec, "kind"), "presigned_emergency");
    EXPECT_EQ(Str(rec, "trigger_txid"), "null");
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fx.emergency.GetTxid()); })) << d.Log();
    EXPECT_EQ(Str(d.Cli({"getvault", vid}), "state"), "recovering");
    // Pressing again changes nothing and reports the same sweep.
    auto again = d.Cli({"recovervault", vid}, &ok);
    ASSERT_TRUE(ok) << json::serialize(again);
    ASSERT_EQ(again.at("recoveries").as_array().size(), 1u);
    EXPECT_EQ(Str(again.at("recoveries").as_array()[0], "txid"), fx.emergency.GetTxid().ToString());
    fx.Generate(1);
    ASSERT_TRUE(WaitFor([&] { return Str(d.Cli({"getrecovery", fx.emergency.GetTxid().ToString()}), "state") == "confirmed"; })) << d.Log();
    ASSERT_TRUE(WaitFor([&] { return Str(d.Cli({"getvault", vid}), "state") == "recovered"; })) << json::serialize(d.Cli({"getvault", vid}));
    // Nothing left: a clear error.
    auto none = d.Cli({"recovervault", vid}, &ok);
    EXPECT_FALSE(ok);
    EXPECT_NE(json::serialize(none).find("nothing to sweep"), std::string::npos) << json::serialize(none);

    ASSERT_TRUE(WaitFor([&] {
        const auto ev = Events(d);
        return !ev.empty() && rx.Count() >= ev.size() && ev.rbegin()->second == "recovery.confirmed";
    })) << d.Log();
    std::vector<std::string> types;
    json::object planned;
    for (const auto& q : rx.Requests()) {
        const json::object body = CheckRequest(q, "/hook");
        types.push_back(Str(body, "type"));
        if (types.back() == "recovery.planned") planned = body.at("data").as_object();
    }
    const std::vector<std::string> want{"vault.registered", "recovery.planned", "recovery.broadcast", "recovery.confirmed"};
    EXPECT_EQ(types, want);
    EXPECT_EQ(Str(planned, "requested_by"), "operator");
    EXPECT_EQ(Str(planned, "kind"), "presigned_emergency");
}

TEST(webhook_e2e, DepositUnexpectedSpendWithdrawalFeeBumpAndLowFeeWalletAreDelivered)
{
    Fixture fx;
    WebhookReceiver rx{kSecret};
    rx.Start();
    Daemon d(fx.dir / "vw", FreePort(), fx.NodePort(),
             {"--webhook=http://127.0.0.1:" + std::to_string(rx.port()) + "/hook", "--webhooksecret=" + kSecret,
              "--allowunenforcedopvault", "--feewalletreserve=100000"});
    d.Start();
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).is_object() && d.Cli({"getinfo"}).as_object().at("height").as_int64() == 111; }))
        << d.Log();
    auto coinbase = [&](int h) {
        const std::string hash{fx.node->Call("getblockhash", {h}).as_string()};
        return DecodeBlock(*ParseHex(std::string_view{fx.node->Call("getblock", {hash, 0}).as_string()}))->txs.at(0);
    };
    auto send = [&](const MutableTransaction& m) {
        const Transaction t{m};
        fx.node->Call("sendrawtransaction", {HexStr(SerializeTransaction(t))});
        return t;
    };
    bool ok = false;
    // An opvault vault (accepted on this node only through allowunenforcedopvault) and a deposit.
    const TestOpVault tv = MakeTestOpVault(TestKey(0x11).PubKey(), TestKey(0x22).PubKey(), P2TR(0xcc), 10, "ov");
    const vault::Vault* ov = &tv.vault;
    auto ovr = d.Cli({"registervault", tv.registration}, &ok);
    ASSERT_TRUE(ok) << json::serialize(ovr);
    const Transaction cb2 = coinbase(2);
    send(Spend({cb2.GetTxid(), 0}, cb2.vout()[0].value - Amount{10'000}, ov->ScriptPubKey()));

    // A presigned vault whose watched coin is taken by a transaction nobody registered.
    const Transaction cb3 = coinbase(3);
    const Transaction fund_b = send(Spend({cb3.GetTxid(), 0}, cb3.vout()[0].value - Amount{10'000}, AnyoneCanSpend()));
    const Transaction trig_b{Spend({fund_b.GetTxid(), 0}, fund_b.vout()[0].value - Amount{10'000}, AnyoneCanSpend())};
    const Transaction rec_b{Spend({trig_b.GetTxid(), 0}, fund_b.vout()[0].value - Amount{20'000}, P2TR(0xcc))};
    auto presigned = [](const Transaction& fund, const Transaction& trig, std::vector<Transaction> recs) {
        std::string r = R"({"kind":"presigned","watch_outpoints":[{"txid":")" + fund.GetTxid().ToString() + R"(","vout":0}],"triggers":[{"txid":")" +
                        trig.GetTxid().ToString() + R"(","spend_delay":20,"recovery_txs":[)";
        for (size_t i = 0; i < recs.size(); ++i) r += (i ? ",\"" : "\"") + HexStr(SerializeTransaction(recs[i])) + "\"";
        return r + "]}]}";
    };
    ASSERT_TRUE(json::parse(json::serialize(d.Cli({"registervault", presigned(fund_b, trig_b, {rec_b})}, &ok))).is_object() && ok);

    // A presigned vault whose approved withdrawal completes.
    const Transaction cb4 = coinbase(4);
    const Transaction fund_c = send(Spend({cb4.GetTxid(), 0}, cb4.vout()[0].value - Amount{10'000}, AnyoneCanSpend()));
    const Transaction trig_c{Spend({fund_c.GetTxid(), 0}, fund_c.vout()[0].value - Amount{10'000}, AnyoneCanSpend())};
    const Transaction rec_c{Spend({trig_c.GetTxid(), 0}, fund_c.vout()[0].value - Amount{20'000}, P2TR(0xcc))};
    auto regc = d.Cli({"registervault", presigned(fund_c, trig_c, {rec_c})}, &ok);
    ASSERT_TRUE(ok) << json::serialize(regc);
    d.Cli({"-named", "approvetrigger", "vault_id=" + Str(regc, "vault_id"), "trigger_txid=" + trig_c.GetTxid().ToString()}, &ok);
    ASSERT_TRUE(ok);

    // A presigned vault with a two-rung ladder, triggered by a thief.
    const Transaction cb5 = coinbase(5);
    const Transaction fund_d = send(Spend({cb5.GetTxid(), 0}, cb5.vout()[0].value - Amount{10'000}, AnyoneCanSpend()));
    const Transaction trig_d{Spend({fund_d.GetTxid(), 0}, fund_d.vout()[0].value - Amount{10'000}, AnyoneCanSpend())};
    const Transaction slow_d{Spend({trig_d.GetTxid(), 0}, fund_d.vout()[0].value - Amount{20'000}, P2TR(0xcc))};
    const Transaction fast_d{Spend({trig_d.GetTxid(), 0}, fund_d.vout()[0].value - Amount{60'000}, P2TR(0xcc))};
    ASSERT_TRUE(json::parse(json::serialize(d.Cli({"registervault", presigned(fund_d, trig_d, {slow_d, fast_d})}, &ok))).is_object() && ok);

    fx.Generate(1); // the deposit and the funding confirm; the fee wallet is empty: feewallet.low
    ASSERT_TRUE(WaitFor([&] { return d.Cli({"getinfo"}).as_object().at("height").as_int64() == 112; }));
    send(Spend({fund_b.GetTxid(), 0}, fund_b.vout()[0].value - Amount{5'000}, P2TR(0x66))); // the unexpected spend
    send(trig_c.mutable_copy());
    send(trig_d.mutable_copy());
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(slow_d.GetTxid()); })) << d.Log();
    fx.node->Call("generateblock", {AnyoneCanSpendAddress(), json::array{json::string(trig_c.GetTxid().ToString())}});
    ASSERT_TRUE(WaitFor([&] { return fx.InMempool(fast_d.GetTxid()); })) << "bumped: " << d.Log();
    send(Spend({trig_c.GetTxid(), 0}, trig_c.vout()[0].value - Amount{5'000}, P2TR(0x77))); // the withdrawal
    fx.Generate(1);

    const std::set<std::string> want{"feewallet.low", "vault.deposit", "vault.unexpected_spend", "vault.withdrawn", "recovery.fee_bumped"};
    std::set<std::string> got;
    ASSERT_TRUE(WaitFor([&] {
        got.clear();
        for (const auto& r : rx.Requests()) got.insert(r.Header("vaultwatch-event"));
        return std::includes(got.begin(), got.end(), want.begin(), want.end());
    })) << json::serialize(json::value_from(std::vector<std::string>(got.begin(), got.end()))) << "\n" << d.Log();
    for (const auto& r : rx.Requests()) {
        const json::object body = CheckRequest(r, "/hook");
        const std::string type = Str(body, "type");
        const auto& data = body.at("data").as_object();
        if (type == "vault.deposit") {
            EXPECT_EQ(Str(data, "vault_id"), Str(ovr, "vault_id"));
            EXPECT_EQ(Str(data, "amount"), std::to_string((cb2.vout()[0].value - Amount{10'000}).sats()));
        } else if (type == "vault.withdrawn") {
            EXPECT_EQ(Str(data, "vault_id"), Str(regc, "vault_id"));
        } else if (type == "recovery.fee_bumped") {
            EXPECT_EQ(Str(data, "txid"), fast_d.GetTxid().ToString());
            EXPECT_EQ(Str(data, "replaces"), slow_d.GetTxid().ToString());
        } else if (type == "feewallet.low") {
            EXPECT_EQ(Str(data, "balance"), "0");
            EXPECT_EQ(Str(data, "reserve"), "100000");
            EXPECT_EQ(Str(data, "address").rfind("bcrt1p", 0), 0u);
        }
    }
}

} // namespace
} // namespace vw::test
#endif
