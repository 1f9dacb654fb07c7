// The fault-injection suite (issue 7): a mass exit of presigned vaults against the simulator
// while faults are injected, ending with every trigger answered, every recovery confirmed in the
// node, and every alert delivered (at least once; duplicates carry the same delivery id). Prints
// a table of the faults injected and the outcomes.
//
//   default (CI):       60 vaults, 6 rounds
//   VW_FAULT_FULL=1:   500 vaults, 50 rounds (each round ends in a SIGKILL or a SIGTERM)
//
// Faults, one or more per round: vaultwatchd SIGKILLed at a random moment of a trigger burst (or
// SIGTERMed in the middle of one), the node restarted while vaultwatchd is down, ZMQ silent while
// blocks are mined, a reorg taking confirmed recoveries out of the chain, a webhook receiver that
// fails every other request throughout; and, in its own test, a full disk (SQLITE_FULL) that
// clears up.
#ifdef VW_HAVE_SIM
#include "crypto/sha256.h"
#include "primitives/block.h"
#include "process_util.h"
#include "regtest_sim.h"
#include "tx_util.h"
#include "util/hex.h"
#include "webhook_receiver.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

namespace vw::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using proc::SyncRpc;
using proc::Vaultwatchd;
using proc::WaitUntil;

const std::string kSecret = "whsec-fault-suite-0123456789";




std::filesystem::path BinDir()
{
    return std::filesystem::canonical("/proc/self/exe").parent_path().parent_path().parent_path() / "daemon";
}

struct Scale {
    int vaults;
    int rounds;
};
Scale GetScale()
{
    const char* full = std::getenv("VW_FAULT_FULL");
    if (full && std::string(full) == "1") return {500, 50};
    return {60, 6};
}

//! One presigned vault of the exit: its watched coin, the thief's trigger, our recovery.
struct Vault {
    OutPoint coin;
    Transaction trigger{MutableTransaction{}}, recovery{MutableTransaction{}};
    std::string Registration() const
    {
        return R"({"kind":"presigned","watch_outpoints":[{"txid":")" + coin.txid.ToString() + R"(","vout":)" + std::to_string(coin.n) +
               R"(}],"triggers":[{"txid":")" + trigger.GetTxid().ToString() + R"(","spend_delay":144,"recovery_txs":[")" +
               HexStr(SerializeTransaction(recovery)) + R"("]}]})";
    }
};

//! The simulator, n funded vaults, vaultwatchd and a webhook receiver, plus the fault tally.
class Exit
{
public:
    explicit Exit(int n, std::vector<std::string> daemon_args = {}) : m_dir("vw-fault")
    {
        sim::SimConfig c;
        c.rpc_user = "u";
        c.rpc_password = "p";
        for (const char* t : {"rawtx", "hashblock", "sequence"}) c.zmq.push_back({t, "tcp://127.0.0.1:0"});
        m_sim = std::make_unique<sim::RegtestSim>(c);
        m_sim->Start();
        m_sim->Generate(101);
        // Fan the first coinbase out into one coin per vault.
        const std::string h1{m_sim->Call("getblockhash", {1}).as_string()};
        const Transaction cb = DecodeBlock(*ParseHex(std::string_view{m_sim->Call("getblock", {h1, 0}).as_string()}))->txs.at(0);
        MutableTransaction fan;
        fan.vin.push_back(TxIn{{cb.GetTxid(), 0}, {}, 0xfffffffd, {kOpTrue}});
        const Amount each{(cb.vout()[0].value.sats() - 1'000'000) / n};
        for (int i = 0; i < n; ++i) fan.vout.push_back({each, AnyoneCanSpend()});
        const Transaction fan_tx{fan};
        Send(fan_tx);
        m_sim->Generate(1);
        for (int i = 0; i < n; ++i) {
            Vault v;
            v.coin = {fan_tx.GetTxid(), static_cast<uint32_t>(i)};
            v.trigger = Transaction{Spend(v.coin, each - Amount{2'000}, AnyoneCanSpend())};
            v.recovery = Transaction{Spend({v.trigger.GetTxid(), 0}, each - Amount{4'000}, P2TR(static_cast<uint8_t>(i)))};
            m_vaults.push_back(std::move(v));
        }
        m_rx = std::make_unique<WebhookReceiver>(kSecret);
        m_rx->SetFailEvery(2); // half of every delivery attempt fails
        m_rx->Start();
        m_vw = std::make_unique<Vaultwatchd>((BinDir() / "vaultwatchd"), m_dir.path() / "vw");
        m_vw->node_args = {"--bitcoind.rpcport=" + std::to_string(m_sim->RpcPort()), "--bitcoind.rpcuser=u", "--bitcoind.rpcpassword=p"};
        m_vw->extra_args = {"--webhook=http://127.0.0.1:" + std::to_string(m_rx->port()) + "/hook", "--webhooksecret=" + kSecret,
                            "--webhookmaxbackoff=1", "--webhookminbackoffms=20"};
        m_vw->extra_args.insert(m_vw->extra_args.end(), daemon_args.begin(), daemon_args.end());
    }
    ~Exit()
    {
        m_vw.reset();
        m_rx->Stop();
        m_sim->Stop();
    }

    sim::RegtestSim& node() { return *m_sim; }
    Vaultwatchd& daemon() { return *m_vw; }
    WebhookReceiver& receiver() { return *m_rx; }
    const std::vector<Vault>& vaults() const { return m_vaults; }
    SyncRpc Rpc() const { return SyncRpc(m_vw->port(), m_vw->NetDir() / ".cookie"); }
    void Count(const std::string& fault) { ++m_faults[fault]; }
    const std::map<std::string, int>& faults() const { return m_faults; }

    void Send(const Transaction& tx) { m_sim->Call("sendrawtransaction", {HexStr(SerializeTransaction(tx))}); }
    //! Starts vaultwatchd and waits until it answers and has caught up with the node.
    bool StartDaemon(std::chrono::milliseconds timeout = 60s)
    {
        m_vw->Start();
        return WaitUntil([&] { return CaughtUp(); }, timeout);
    }
    bool CaughtUp()
    {
        try {
            const auto info = Rpc().Call("getinfo", {}, 5s);
            return info.at("caught_up").as_bool() && info.at("height").as_int64() == m_sim->Height();
        } catch (const std::exception&) {
            return false;
        }
    }
    void RegisterAll()
    {
        json::array regs;
        for (const auto& v : m_vaults) regs.push_back(json::parse(v.Registration()));
        const auto r = Rpc().Call("registervaults", {regs});
        for (const auto& x : r.at("results").as_array()) {
            if (!x.as_object().contains("vault_id")) throw std::runtime_error("registration failed: " + json::serialize(x));
        }
    }
    //! How many recoveries are confirmed in the node's chain (their output is an unspent coin).
    size_t RecoveriesInChain()
    {
        size_t n = 0;
        for (const auto& v : m_vaults) n += !m_sim->Call("gettxout", {v.recovery.GetTxid().ToString(), 0, false}).is_null();
        return n;
    }
    size_t RecoveriesInMempoolOrChain()
    {
        size_t n = 0;
        for (const auto& v : m_vaults) n += !m_sim->Call("gettxout", {v.recovery.GetTxid().ToString(), 0, true}).is_null();
        return n;
    }

private:
    proc::TempDir m_dir;
    std::unique_ptr<sim::RegtestSim> m_sim;
    std::unique_ptr<WebhookReceiver> m_rx;
    std::unique_ptr<Vaultwatchd> m_vw;
    std::vector<Vault> m_vaults;
    std::map<std::string, int> m_faults;
};

//! Waits until every event vaultwatchd logged was acknowledged (2xx) by the receiver at least once;
//! returns the outcome counts for the table.
struct Delivery {
    size_t events{0}, acknowledged{0}, attempts{0}, failed_attempts{0}, duplicates{0}, bad_signatures{0};
    std::string missing;
};
Delivery CheckDeliveries(Exit& x, std::chrono::milliseconds timeout)
{
    Delivery d;
    WaitUntil(
        [&] {
            d = {};
            std::set<std::string> ids;
            try {
                int64_t after = 0;
                for (;;) {
                    const auto page = x.Rpc().Call("listevents", {after, 1000}, 10s).at("events").as_array();
                    if (page.empty()) break;
                    for (const auto& e : page) ids.insert(":" + std::to_string(e.at("seq").as_int64()));
                    after = page.back().at("seq").as_int64();
                }
            } catch (const std::exception&) {
                return false;
            }
            d.events = ids.size();
            std::map<std::string, int> acked;
            for (const auto& r : x.receiver().Requests()) {
                ++d.attempts;
                if (!r.signature_ok) ++d.bad_signatures;
                if (r.status != 200) {
                    ++d.failed_attempts;
                    continue;
                }
                const std::string id = r.Header("vaultwatch-delivery");
                const auto colon = id.rfind(':');
                if (colon != std::string::npos) ++acked[id.substr(colon)];
            }
            d.missing.clear();
            for (const auto& id : ids) {
                auto it = acked.find(id);
                if (it == acked.end()) {
                    if (d.missing.size() < 200) d.missing += id + " ";
                    continue;
                }
                ++d.acknowledged;
                d.duplicates += static_cast<size_t>(it->second - 1);
            }
            return d.acknowledged == d.events;
        },
        timeout);
    return d;
}

void PrintTable(const std::string& title, const std::map<std::string, int>& faults, const std::vector<std::pair<std::string, std::string>>& outcomes)
{
    std::printf("\n%s\n", title.c_str());
    std::printf("  %-52s %8s\n", "fault injected", "count");
    for (const auto& [f, n] : faults) std::printf("  %-52s %8d\n", f.c_str(), n);
    std::printf("  %-52s %8s\n", "outcome", "");
    for (const auto& [k, v] : outcomes) std::printf("  %-52s %8s\n", k.c_str(), v.c_str());
    std::fflush(stdout);
}

TEST(fault_suite, MassExitUnderKillsRestartsSilenceAndReorgs)
{
    const Scale sc = GetScale();
    Exit x(sc.vaults);
    ASSERT_TRUE(x.StartDaemon()) << x.daemon().LogTail();
    x.RegisterAll();
    std::mt19937 rng(20261123);
    auto jitter = [&](int max_ms) { return std::chrono::milliseconds{std::uniform_int_distribution<int>(0, max_ms)(rng)}; };

    const auto& vaults = x.vaults();
    const size_t per_round = (vaults.size() + static_cast<size_t>(sc.rounds) - 1) / static_cast<size_t>(sc.rounds);
    size_t next = 0;
    for (int round = 0; round < sc.rounds; ++round) {
        const size_t end = std::min(vaults.size(), next + per_round);
        const int kind = round % 6;
        // The burst of triggers, with a kill somewhere inside or after it.
        const size_t kill_at = next + std::uniform_int_distribution<size_t>(0, end - next)(rng);
        const size_t term_at = next + (end - next) / 3;
        bool down = false;
        for (size_t i = next; i < end; ++i) {
            if (kind == 4 && i == term_at && !down) {
                // A clean stop in the middle of the burst (systemctl stop), a trigger sent while
                // it is down, and a start again; the round's SIGKILL comes on top.
                const auto st = x.daemon().child().Kill(SIGTERM);
                ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "SIGTERM must stop it cleanly\n" << x.daemon().LogTail();
                x.Count("SIGTERM during a trigger burst");
                x.Send(vaults[i].trigger);
                ASSERT_TRUE(x.StartDaemon()) << x.daemon().LogTail();
                continue;
            }
            if (i == kill_at && !down) {
                std::this_thread::sleep_for(jitter(100));
                x.daemon().child().Kill(SIGKILL);
                x.Count("SIGKILL during a trigger burst");
                down = true;
            }
            x.Send(vaults[i].trigger);
            if (kind == 5 && i == next + (end - next) / 2) {
                x.node().Generate(1);
                x.Count("block mined mid-burst");
            }
        }
        if (!down) {
            std::this_thread::sleep_for(jitter(200));
            x.daemon().child().Kill(SIGKILL);
            x.Count("SIGKILL after a trigger burst");
        }
        if (kind == 1) {
            x.node().Restart(); // while vaultwatchd is down: its mempool comes back, counters at 0
            x.Count("node restart");
        }
        ASSERT_TRUE(x.StartDaemon()) << "round " << round << "\n" << x.daemon().LogTail();
        if (kind == 2) {
            x.node().SetZmqSilence(true);
            x.node().Generate(2);
            std::this_thread::sleep_for(1500ms);
            x.node().SetZmqSilence(false);
            x.Count("ZMQ silent while 2 blocks are mined");
        }
        if (kind == 3) {
            // Confirm what is in flight, then take that block away: recoveries leave the chain.
            WaitUntil([&] { return x.RecoveriesInMempoolOrChain() >= end; }, 20s);
            x.node().Generate(1);
            WaitUntil([&] { return x.CaughtUp(); }, 20s);
            x.node().Reorg(1);
            x.Count("reorg (depth 1) of confirmed recoveries");
        }
        next = end;
    }
    // Every trigger is answered: every recovery reaches the node, then the chain.
    ASSERT_TRUE(WaitUntil([&] { return x.RecoveriesInMempoolOrChain() == vaults.size(); }, 120s))
        << x.RecoveriesInMempoolOrChain() << " of " << vaults.size() << "\n" << x.daemon().LogTail();
    x.node().Generate(1);
    ASSERT_TRUE(WaitUntil([&] { return x.RecoveriesInChain() == vaults.size(); }, 60s)) << x.daemon().LogTail();
    ASSERT_TRUE(WaitUntil([&] { return x.CaughtUp(); }, 60s));
    // ... and vaultwatchd knows it: each recovery confirmed, each vault recovered, none twice.
    const auto recs = x.Rpc().Call("listrecoveries").at("recoveries").as_array();
    size_t confirmed = 0;
    std::set<std::string> txids;
    for (const auto& r : recs) {
        confirmed += r.at("state") == "confirmed";
        txids.insert(std::string(r.at("txid").as_string()));
    }
    EXPECT_EQ(confirmed, vaults.size());
    EXPECT_EQ(txids.size(), recs.size());
    const auto recovered = x.Rpc().Call("listvaults", {"recovered"}).at("vaults").as_array().size();
    EXPECT_EQ(recovered, vaults.size());
    // Every alert delivered, signed, despite every other attempt failing.
    const Delivery d = CheckDeliveries(x, 120s);
    EXPECT_EQ(d.acknowledged, d.events) << "missing: " << d.missing;
    EXPECT_EQ(d.bad_signatures, 0u);
    x.Count("webhook receiver failing every other request");
    PrintTable("fault suite: mass exit of " + std::to_string(vaults.size()) + " vaults in " + std::to_string(sc.rounds) + " rounds",
               x.faults(),
               {{"triggers answered (recovery in the node)", std::to_string(x.RecoveriesInMempoolOrChain()) + "/" + std::to_string(vaults.size())},
                {"recoveries confirmed (node)", std::to_string(x.RecoveriesInChain()) + "/" + std::to_string(vaults.size())},
                {"recoveries confirmed (vaultwatchd)", std::to_string(confirmed) + "/" + std::to_string(vaults.size())},
                {"vaults recovered", std::to_string(recovered) + "/" + std::to_string(vaults.size())},
                {"alerts acknowledged", std::to_string(d.acknowledged) + "/" + std::to_string(d.events)},
                {"delivery attempts (failed on purpose)", std::to_string(d.attempts) + " (" + std::to_string(d.failed_attempts) + ")"},
                {"duplicate deliveries (same delivery id)", std::to_string(d.duplicates)},
                {"bad signatures", std::to_string(d.bad_signatures)}});
}

int PageCount(const std::filesystem::path& db)
{
    sqlite3* h = nullptr;
    if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return -1;
    sqlite3_stmt* st = nullptr;
    int n = -1;
    if (sqlite3_prepare_v2(h, "PRAGMA page_count", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

std::string IntegrityCheck(const std::filesystem::path& db)
{
    sqlite3* h = nullptr;
    if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) return "cannot open";
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) out += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
}

TEST(fault_suite, DiskFullIsAClearErrorCorruptsNothingAndClearsUp)
{
    const int n = 40;
    Exit x(n);
    ASSERT_TRUE(x.StartDaemon()) << x.daemon().LogTail();
    x.RegisterAll();
    x.daemon().child().Kill(SIGTERM);
    const auto db = x.daemon().NetDir() / "vaultwatch.sqlite";
    const int pages = PageCount(db);
    ASSERT_GT(pages, 0);
    // The disk fills up: the database may not grow by more than a couple of pages.
    x.daemon().extra_args.push_back("--debugdbmaxpages=" + std::to_string(pages + 2));
    ASSERT_TRUE(x.StartDaemon()) << x.daemon().LogTail();
    for (const auto& v : x.vaults()) x.Send(v.trigger);
    for (int i = 0; i < 3; ++i) x.node().Generate(1);
    ASSERT_TRUE(WaitUntil([&] { return x.daemon().LogTail(400).find("full") != std::string::npos; }, 30s)) << x.daemon().LogTail();
    // A clear error in the log, and the daemon keeps running (and keeps answering).
    EXPECT_NE(x.daemon().LogTail(400).find("database or disk is full"), std::string::npos) << x.daemon().LogTail();
    std::this_thread::sleep_for(1s);
    EXPECT_TRUE(x.daemon().child().Running());
    std::string store_error;
    const bool answered = [&] {
        try {
            store_error = std::string(x.Rpc().Call("getinfo", {}, 5s).at("store_error").as_string());
            return true;
        } catch (const std::exception&) {
            return false;
        }
    }();
    EXPECT_TRUE(answered);
    EXPECT_NE(store_error.find("full"), std::string::npos) << "getinfo says why: '" << store_error << "'";
    x.Count("database capped (SQLITE_FULL) during a mass exit");
    // Space returns (restart without the cap): nothing was corrupted, everything completes.
    x.daemon().child().Kill(SIGKILL);
    EXPECT_EQ(IntegrityCheck(db), "ok");
    x.daemon().extra_args.pop_back();
    ASSERT_TRUE(x.StartDaemon()) << x.daemon().LogTail();
    x.Count("space returns (restart without the cap)");
    ASSERT_TRUE(WaitUntil([&] { return x.RecoveriesInMempoolOrChain() == x.vaults().size(); }, 60s)) << x.daemon().LogTail();
    x.node().Generate(1);
    ASSERT_TRUE(WaitUntil([&] { return x.RecoveriesInChain() == x.vaults().size(); }, 60s));
    ASSERT_TRUE(WaitUntil([&] { return x.CaughtUp(); }, 60s));
    const Delivery d = CheckDeliveries(x, 120s);
    EXPECT_EQ(d.acknowledged, d.events) << "missing: " << d.missing;
    PrintTable("fault suite: full disk during a mass exit of " + std::to_string(n) + " vaults", x.faults(),
               {{"integrity_check after the failures", IntegrityCheck(db)},
                {"recoveries confirmed (node)", std::to_string(x.RecoveriesInChain()) + "/" + std::to_string(n)},
                {"alerts acknowledged", std::to_string(d.acknowledged) + "/" + std::to_string(d.events)}});
}

} // namespace
} // namespace vw::test
#endif
