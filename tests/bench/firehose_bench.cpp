// vw_bench_firehose: trigger reaction under a mainnet-like mempool (docs/product.md §9).
//
// The real vaultwatchd guards N opvault vaults (1,000,000 by default; the store is filled with the
// rows registervaults writes, then cold-started by the daemon) and follows the simulator over RPC
// and ZMQ with its default settings. A background stream of mempool transactions flows at R tx/s
// (100, then 1,000): each is a transaction of the real blocks in tests/data (block 413567 and the
// taproot-heavy regtest block) with its own scripts, witnesses, input and output counts, its
// inputs moved onto coins the simulator holds (the simulator does not run scripts). Mixed in at
// random moments, thieves' triggers of funded vaults. Per trigger, the reaction time is measured
// inside the node: from the node accepting the trigger (just before it publishes rawtx and
// sequence on ZMQ) to the node receiving the tower's sweep of it (sendrawtransaction). Printed:
// p50, p99 and max per rate, against the target (p99 < 1 ms at 1,000 tx/s, 1,000,000 vaults).
//
//   vw_bench_firehose [--quick] [--vaults N] [--seconds S] [--tcp] [--webhook]
//
// ZMQ goes over unix sockets in a private directory, as docs/operations.md deploys it: the tower
// acts on those announcements at once (CheckNodeOnlySocket). --tcp: over TCP ports, whose
// announcements the tower first confirms with the node (getrawtransaction).
//
// --webhook: the tower also has a webhook (a local port nobody listens on: each delivery fails at
// once and is retried), so every trigger's events go through the webhooks' poll too.
//
// --quick (CTest, label bench): 2,000 vaults, 2 s per rate; proves every trigger is answered.
// Numbers are printed, never asserted.
#include "bench_machine.h"
#include "bench_vaults.h"
#include "primitives/block.h"
#include "bench_node.h"
#include "process_util.h"
#include "regtest_sim.h"
#include "script/ctv.h"
#include "tx_util.h"
#include "util/hex.h"
#include "vault/trigger_builder.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>


#ifndef VW_TEST_DATA_DIR
#error "VW_TEST_DATA_DIR must be defined"
#endif

using namespace vw;
namespace proc = vw::test::proc;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

Bytes ReadFile(const std::string& path)
{
    std::ifstream f(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(f), {});
}

//! Spends coinbase `height` into n outputs of spk(i), sharing its value (less a fee) or of at most
//! `cap` each (the rest to an anyone-can-spend change).
Transaction FanOut(sim::RegtestSim& s, int height, size_t n, const std::function<Bytes(size_t)>& spk, Amount& each,
                   std::optional<Amount> cap = std::nullopt)
{
    const Transaction cb = bench::Coinbase(s, height);
    MutableTransaction m;
    m.vin.push_back(TxIn{{cb.GetTxid(), 0}, {}, 0xfffffffd, {vw::test::kOpTrue}});
    each = Amount{(cb.vout()[0].value.sats() - 1'000'000) / static_cast<int64_t>(n)};
    if (cap && *cap < each) each = *cap;
    for (size_t i = 0; i < n; ++i) m.vout.push_back({each, spk(i)});
    const Amount rest = cb.vout()[0].value - Amount{1'000'000} - Amount{each.sats() * static_cast<int64_t>(n)};
    if (rest > Amount{100'000}) m.vout.push_back({rest, vw::test::AnyoneCanSpend()});
    const Transaction tx{m};
    s.Call("sendrawtransaction", {HexStr(SerializeTransaction(tx))});
    return tx;
}

double Percentile(std::vector<double> v, double p)
{
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
    return v[i];
}

//! What the node saw, on its own thread: when each trigger was accepted and when its sweep came.
struct NodeClock {
    std::mutex mu;
    std::unordered_map<Txid, Clock::time_point, HashIdHasher> trigger_at; //!< triggers we sent, when the node took them
    //! Each transaction spending a timed trigger as it reached the node: (trigger, when). Whether
    //! the node kept it is read from its mempool afterwards (a refused sweep does not count).
    std::unordered_map<Txid, std::pair<Txid, Clock::time_point>, HashIdHasher> sweeps;
    std::unordered_set<Txid, HashIdHasher> swept; //!< triggers some transaction tried to spend
    std::unordered_set<Txid, HashIdHasher> watched;                       //!< the triggers to time
};

struct Phase {
    int rate{0};
    std::map<double, double> tower_before, tower_after; //!< the tower's reaction histogram around the phase
    std::map<double, double> lag_before, lag_after;     //!< and its thread's lag
    std::vector<double> us; //!< reaction times, microseconds
    size_t sent{0}, refused{0}, triggers{0};
    double steal_percent{-1}; //!< of the machine's CPU time while the stream flowed
    size_t refused_sweeps{0}; //!< sweeps the node did not keep (or later ones of a trigger already answered)
    double seconds{0};
};

//! A histogram of the tower's /metrics (vaultwatch_trigger_reaction_seconds, its own count of each
//! answer; vaultwatch_event_loop_lag_seconds, how long its thread was held): cumulative bucket
//! counts by upper bound, +Inf as infinity.
std::map<double, double> TowerBuckets(uint16_t port, const std::string& histogram)
{
    std::map<double, double> out;
    std::istringstream in(proc::HttpGet(port, "/metrics").body);
    const std::string key = histogram + "_bucket{le=\"";
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(key, 0) != 0) continue;
        const size_t q = line.find('"', key.size());
        const std::string le = line.substr(key.size(), q - key.size());
        out[le == "+Inf" ? HUGE_VAL : std::stod(le)] = std::stod(line.substr(line.find(' ', q) + 1));
    }
    return out;
}

//! The smallest bucket bound holding a fraction p of what was counted between two scrapes.
double BucketPercentile(const std::map<double, double>& before, const std::map<double, double>& after, double p)
{
    const double total = after.empty() ? 0 : after.rbegin()->second - (before.empty() ? 0 : before.rbegin()->second);
    for (const auto& [le, n] : after) {
        const double was = before.contains(le) ? before.at(le) : 0;
        if (total > 0 && n - was >= p * total) return le;
    }
    return HUGE_VAL;
}

} // namespace

int main(int argc, char** argv)
{
    bool quick = false;
    bool tcp = false;
    bool webhook = false;
    size_t n = 1'000'000;
    double seconds = 20;
    for (int a = 1; a < argc; ++a) {
        const std::string s = argv[a];
        if (s == "--quick") {
            quick = true;
            n = 2'000;
            seconds = 2;
        } else if (s == "--vaults" && a + 1 < argc) {
            n = std::stoul(argv[++a]);
        } else if (s == "--seconds" && a + 1 < argc) {
            seconds = std::stod(argv[++a]);
        } else if (s == "--tcp") {
            tcp = true;
        } else if (s == "--webhook") {
            webhook = true;
        } else {
            std::fprintf(stderr, "usage: vw_bench_firehose [--quick] [--vaults N] [--seconds S] [--tcp] [--webhook]\n");
            return 1;
        }
    }
    const std::vector<int> rates{100, 1'000};
    // Triggers per phase: about 5% of the stream at 100 tx/s, 1% at 1,000 tx/s.
    auto triggers_for = [&](int rate) { return std::max<size_t>(10, static_cast<size_t>(rate * seconds / (rate >= 1'000 ? 100 : 20))); };
    size_t total_triggers = 0, total_bg = 0;
    for (int r : rates) {
        total_triggers += triggers_for(r);
        total_bg += static_cast<size_t>(r * seconds);
    }

    // ---- the transactions of the real blocks, as templates ------------------------------------
    std::vector<Transaction> shapes;
    size_t shape_inputs = 0;
    for (const char* f : {"/block413567.raw", "/regtest-taproot-block.raw"}) {
        auto blk = DecodeBlock(ReadFile(std::string{VW_TEST_DATA_DIR} + f));
        if (!blk) return std::fprintf(stderr, "cannot read %s\n", f), 1;
        for (size_t i = 1; i < blk->txs.size(); ++i) {
            shapes.push_back(blk->txs[i]);
            shape_inputs += blk->txs[i].vin().size();
        }
    }
    std::mt19937_64 rng(0x66697265686f7365ULL);
    std::vector<size_t> picks(total_bg);
    size_t coins_needed = 0;
    for (auto& p : picks) {
        p = rng() % shapes.size();
        coins_needed += shapes[p].vin().size();
    }

    // ---- the store: N vaults, as registervaults writes them -----------------------------------
    proc::TempDir dir("vw-firehose");
    const bench::Keys keys;
    proc::Vaultwatchd vw(VW_VAULTWATCHD_PATH, dir.path() / "vw");
    std::filesystem::create_directories(vw.NetDir());
    {
        const auto t = Clock::now();
        auto st = store::OpenSqliteStore((vw.NetDir() / "vaultwatch.sqlite").string());
        if (!st) return std::fprintf(stderr, "%s\n", st.error().message.c_str()), 1;
        if (!bench::FillDirect(**st, keys, n)) return 1;
        // The daemon refuses a vault database others can read (it holds the registrations).
        for (const char* ext : {"", "-wal", "-shm"}) {
            std::error_code ec;
            std::filesystem::permissions(vw.NetDir() / (std::string("vaultwatch.sqlite") + ext), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
        }
        std::printf("store: %zu vaults written in %.1f s\n", n, std::chrono::duration<double>(Clock::now() - t).count());
    }

    // ---- the node and the tower ------------------------------------------------------------------
    sim::SimConfig node_cfg = bench::EnforcingSimConfig();
    proc::TempDir sock_dir("vw-firehose-zmq");
    if (!tcp) bench::ZmqOnUnixSockets(node_cfg, sock_dir.path());
    sim::RegtestSim node(node_cfg);
    node.Start();
    const size_t bg_fanouts = (coins_needed + total_triggers + 2'499) / 2'500;
    node.Generate(static_cast<int>(101 + bg_fanouts + 4));

    vw.event_log = false;
    vw.node_args = {"--bitcoind.rpcport=" + std::to_string(node.RpcPort()), "--bitcoind.rpcuser=u", "--bitcoind.rpcpassword=p",
                    "--bitcoind.zmqrawtx=" + node.ZmqAddress("rawtx"), "--bitcoind.zmqsequence=" + node.ZmqAddress("sequence"),
                    "--bitcoind.zmqhashblock=" + node.ZmqAddress("hashblock")};
    // As an operator runs it: info log, the default poll; fee coins funded by the bench.
    const char* level = std::getenv("VW_BENCH_LOGLEVEL"); // debug: to see where a reaction's time goes
    const uint16_t metrics_port = proc::FreePort();
    vw.extra_args = {"--feewalletcoins=0", std::string("--loglevel=") + (level ? level : "info"), "--pollseconds=5",
                     "--metricsbind=127.0.0.1:" + std::to_string(metrics_port)};
    if (webhook) {
        vw.extra_args.push_back("--webhook=http://127.0.0.1:" + std::to_string(proc::FreePort()) + "/vaultwatch");
        vw.extra_args.push_back("--webhooksecret=firehose-bench-secret");
    }
    const auto t_start = Clock::now();
    vw.Start();
    const proc::SyncRpc rpc(vw.port(), vw.NetDir() / ".cookie");
    auto at_tip = [&] { return bench::TowerAtTip(rpc, node); };
    if (!proc::WaitUntil([&] { return !vw.child().Running() || at_tip(); }, 300s) || !vw.child().Running()) return std::fprintf(stderr, "vaultwatchd did not start:\n%s\n", vw.LogTail().c_str()), 1;
    std::printf("vaultwatchd: %zu vaults loaded and caught up in %.1f s\n", n, std::chrono::duration<double>(Clock::now() - t_start).count());

    // ---- coins: deposits to the vaults a thief will trigger, fee coins, the stream's coins -------
    int cb_height = 1;
    std::vector<size_t> victims(total_triggers);
    for (size_t k = 0; k < total_triggers; ++k) victims[k] = (k * 7'919 + 13) % n; // spread over the store
    std::sort(victims.begin(), victims.end());
    victims.erase(std::unique(victims.begin(), victims.end()), victims.end());
    if (victims.size() < total_triggers) return std::fprintf(stderr, "too few vaults for %zu triggers\n", total_triggers), 1;
    Amount dep_each, fee_each, bg_each;
    const Transaction deposits = FanOut(node, cb_height++, victims.size(), [&](size_t k) { return keys.VaultOf(victims[k]).ScriptPubKey(); }, dep_each);
    const json::value wallet = rpc.Call("getfeewallet");
    const Bytes fee_spk = *ParseHex(std::string(wallet.at("script_pubkey").as_string()));
    const size_t fee_coins = victims.size() + 16;
    // Fee coins of the size getfeewallet asks for (a sweep spends one whole).
    const Amount reserve_coin{wallet.at("reserve_needed").at("coin").to_number<int64_t>()};
    FanOut(node, cb_height++, fee_coins, [&](size_t) { return fee_spk; }, fee_each, reserve_coin);
    std::vector<OutPoint> coins; // the stream's, then the thieves' fee coins
    coins.reserve(bg_fanouts * 2'500);
    for (size_t f = 0; f < bg_fanouts; ++f) {
        const Transaction t = FanOut(node, cb_height++, 2'500, [](size_t) { return vw::test::AnyoneCanSpend(); }, bg_each);
        for (uint32_t i = 0; i < 2'500; ++i) coins.push_back({t.GetTxid(), i});
    }
    node.Generate(1);
    if (!proc::WaitUntil([&] { return at_tip() && rpc.Call("getfeewallet").at("utxos").as_array().size() == fee_coins; }, 120s)) {
        return std::fprintf(stderr, "deposits or fee coins not seen:\n%s\n", vw.LogTail().c_str()), 1;
    }

    // ---- the stream, made ahead: real transactions on our coins; the thieves' triggers ------------
    std::vector<std::string> bg_hex;
    bg_hex.reserve(total_bg);
    size_t next_coin = 0;
    for (size_t i = 0; i < total_bg; ++i) {
        MutableTransaction m = shapes[picks[i]].mutable_copy();
        m.locktime = 0;
        for (auto& in : m.vin) {
            in.prevout = coins.at(next_coin++);
            in.sequence = 0xfffffffd;
        }
        const int64_t in_total = bg_each.sats() * static_cast<int64_t>(m.vin.size());
        const int64_t fee = 2 * static_cast<int64_t>(Transaction{m}.VSize()) + 200;
        size_t payable = 0;
        for (const auto& o : m.vout) payable += !(o.script_pubkey.size() > 0 && o.script_pubkey[0] == 0x6a);
        for (auto& o : m.vout) {
            const bool op_return = o.script_pubkey.size() > 0 && o.script_pubkey[0] == 0x6a;
            o.value = op_return || payable == 0 ? Amount{0} : Amount{(in_total - fee) / static_cast<int64_t>(payable)};
        }
        bg_hex.push_back(HexStr(SerializeTransaction(Transaction{m})));
    }
    std::vector<std::string> trig_hex;
    NodeClock clk;
    for (size_t k = 0; k < victims.size(); ++k) {
        const vault::Vault v = keys.VaultOf(victims[k]);
        vault::TriggerRequest tr;
        tr.deposit = {deposits.GetTxid(), static_cast<uint32_t>(k)};
        tr.deposit_value = dep_each;
        tr.ctv_hash = ctv::TemplateHash(vault::WithdrawalTemplate(bench::Keys::DELAY, dep_each - Amount{5'000}, vw::test::P2TR(0xee)), 0);
        // The thief pays the relay fee from a coin of his own (the trigger output must carry the
        // whole deposit).
        tr.fee_input = vault::TriggerRequest::FeeInput{coins.at(next_coin++), TxOut{bg_each, vw::test::AnyoneCanSpend()}, {vw::test::kOpTrue}};
        tr.change = TxOut{bg_each - Amount{10'000}, vw::test::AnyoneCanSpend()};
        auto t = vault::BuildTrigger(v, tr, keys.trigger);
        if (!t) return std::fprintf(stderr, "trigger %zu: %s\n", k, t.error().c_str()), 1;
        const Transaction tx{*t};
        clk.watched.insert(tx.GetTxid());
        trig_hex.push_back(HexStr(SerializeTransaction(tx)));
    }
    node.SetPolicyHook([&clk](const Transaction& tx) -> std::optional<std::string> {
        const auto now = Clock::now();
        std::lock_guard lk(clk.mu);
        const Txid id = tx.GetTxid();
        if (clk.watched.contains(id)) {
            clk.trigger_at.try_emplace(id, now);
        } else {
            for (const auto& in : tx.vin()) {
                if (!clk.watched.contains(in.prevout.txid)) continue;
                clk.sweeps.try_emplace(id, in.prevout.txid, now);
                clk.swept.insert(in.prevout.txid);
            }
        }
        return std::nullopt;
    });

    // ---- the phases ---------------------------------------------------------------------------
    // In the steady state: after the start, the tower reads every stored registration whole in
    // the background (Engine::VerifyStoredRegistrations), in slices between its own work.
    auto metric = [&](const std::string& name) {
        std::istringstream in(proc::HttpGet(metrics_port, "/metrics").body);
        for (std::string line; std::getline(in, line);) {
            if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
        }
        return -1.0;
    };
    // Asked once a second: a scrape walks every vault on the tower's io thread.
    for (auto until = Clock::now() + 600s; metric("vaultwatch_registrations_verified_total") < static_cast<double>(n); std::this_thread::sleep_for(1s)) {
        if (Clock::now() > until) return std::fprintf(stderr, "the registrations were not verified in 10 minutes\n"), 1;
    }
    std::printf("vaultwatchd: every stored registration verified (found so %.1f s after the start); the stream starts now\n",
                std::chrono::duration<double>(Clock::now() - t_start).count());
    std::vector<Phase> phases;
    size_t bg_at = 0, trig_at = 0;
    for (int rate : rates) {
        Phase ph;
        ph.rate = rate;
        const size_t nbg = static_cast<size_t>(rate * seconds);
        const size_t ntrig = triggers_for(rate);
        // Each trigger replaces the background transaction at a random slot.
        std::vector<size_t> slots(nbg);
        for (size_t i = 0; i < nbg; ++i) slots[i] = i;
        std::shuffle(slots.begin(), slots.end(), rng);
        std::unordered_set<size_t> trig_slots(slots.begin(), slots.begin() + static_cast<std::ptrdiff_t>(std::min(ntrig, nbg)));
        std::vector<Txid> mine;
        ph.tower_before = TowerBuckets(metrics_port, "vaultwatch_trigger_reaction_seconds");
        ph.lag_before = TowerBuckets(metrics_port, "vaultwatch_event_loop_lag_seconds");
        const bench::CpuTimes cpu0 = bench::ReadCpuTimes();
        const auto t0 = Clock::now();
        for (size_t i = 0; i < nbg; ++i) {
            std::this_thread::sleep_until(t0 + std::chrono::nanoseconds(static_cast<int64_t>(1e9 * static_cast<double>(i) / rate)));
            const std::string& hex = trig_slots.contains(i) ? trig_hex.at(trig_at++) : bg_hex.at(bg_at++);
            try {
                const auto id = node.Call("sendrawtransaction", {hex});
                if (trig_slots.contains(i)) mine.push_back(*Txid::FromHex(id.as_string()));
                ++ph.sent;
            } catch (const std::exception& e) {
                if (ph.refused++ < 3) std::fprintf(stderr, "refused: %s\n", e.what());
            }
        }
        ph.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        ph.steal_percent = bench::StealPercent(cpu0, bench::ReadCpuTimes());
        ph.triggers = mine.size();
        // Every trigger swept by a transaction the node kept (or 30 s), then the times: for each
        // trigger, the first of its sweeps in the node's mempool.
        std::unordered_map<Txid, Clock::time_point, HashIdHasher> answered;
        auto all_answered = [&] {
            const json::value pool = node.Call("getrawmempool");
            std::unordered_set<Txid, HashIdHasher> in_pool;
            for (const auto& id : pool.as_array()) in_pool.insert(*Txid::FromHex(id.as_string()));
            std::lock_guard lk(clk.mu);
            answered.clear();
            for (const auto& [sweep, tt] : clk.sweeps) {
                if (!in_pool.contains(sweep)) continue;
                auto [it, fresh] = answered.try_emplace(tt.first, tt.second);
                if (!fresh && tt.second < it->second) it->second = tt.second;
            }
            return std::all_of(mine.begin(), mine.end(), [&](const Txid& t) { return answered.contains(t); });
        };
        proc::WaitUntil(all_answered, 30s);
        ph.tower_after = TowerBuckets(metrics_port, "vaultwatch_trigger_reaction_seconds");
        ph.lag_after = TowerBuckets(metrics_port, "vaultwatch_event_loop_lag_seconds");
        std::lock_guard lk(clk.mu);
        for (const auto& t : mine) {
            auto a = clk.trigger_at.find(t);
            auto b = answered.find(t);
            if (a != clk.trigger_at.end() && b != answered.end()) ph.us.push_back(std::chrono::duration<double, std::micro>(b->second - a->second).count());
        }
        for (const auto& [sweep, tt] : clk.sweeps) ph.refused_sweeps += !answered.contains(tt.first) || answered.at(tt.first) != tt.second;
        phases.push_back(std::move(ph));
    }

    std::printf("\n==== vw_bench_firehose (%s): %zu vaults, %zu real-block shapes (%.1f inputs on average), ZMQ over %s%s ====\n", quick ? "quick" : "full", n,
                shapes.size(), static_cast<double>(shape_inputs) / static_cast<double>(shapes.size()),
                tcp ? "TCP (announcements confirmed with the node first)" : "unix sockets in a private directory (the node's own word)",
                webhook ? ", with a webhook" : "");
    bool all = true;
    for (const auto& ph : phases) {
        const bool answered = ph.us.size() == ph.triggers;
        all = all && answered && ph.triggers > 0;
        std::printf("%5d tx/s: %zu transactions in %.1f s (%.0f tx/s, %zu refused), %zu triggers, %zu answered (%zu other sweep attempts): reaction p50 %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us%s\n",
                    ph.rate, ph.sent, ph.seconds, static_cast<double>(ph.sent) / ph.seconds, ph.refused, ph.triggers, ph.us.size(), ph.refused_sweeps, Percentile(ph.us, 0.5),
                    Percentile(ph.us, 0.9), Percentile(ph.us, 0.99), ph.us.empty() ? 0.0 : *std::max_element(ph.us.begin(), ph.us.end()),
                    ph.rate == 1'000 ? (Percentile(ph.us, 0.99) < 1'000 ? "   (target p99 < 1 ms: OK)" : "   (target p99 < 1 ms: OVER)") : "");
    }
    std::printf("reaction: the node accepting the trigger (it publishes rawtx and sequence next) -> the node receiving the sweep\n");
    for (const auto& ph : phases) {
        const double answers = ph.tower_after.empty() ? 0 : ph.tower_after.rbegin()->second - (ph.tower_before.empty() ? 0 : ph.tower_before.rbegin()->second);
        const double p99 = BucketPercentile(ph.tower_before, ph.tower_after, 0.99);
        std::printf("%5d tx/s, in the tower (vaultwatch_trigger_reaction_seconds: ZMQ frame in -> sendrawtransaction out), %.0f answers: p50 <= %.0f us, p90 <= %.0f us, p99 <= %.0f us%s\n",
                    ph.rate, answers, 1e6 * BucketPercentile(ph.tower_before, ph.tower_after, 0.5), 1e6 * BucketPercentile(ph.tower_before, ph.tower_after, 0.9), 1e6 * p99,
                    ph.rate == 1'000 ? (p99 <= 0.001 ? "   (target p99 < 1 ms: OK)" : "   (target p99 < 1 ms: OVER)") : "");
    }
    for (const auto& ph : phases) {
        // What held the tower's thread shows here; a node-side tail with none of it is the node's
        // or the machine's.
        const double samples = ph.lag_after.empty() ? 0 : ph.lag_after.rbegin()->second - (ph.lag_before.empty() ? 0 : ph.lag_before.rbegin()->second);
        std::printf("%5d tx/s, the tower's thread held (vaultwatch_event_loop_lag_seconds, a timer every 100 ms), %.0f samples: p50 <= %.0f us, p99 <= %.0f us, max <= %.0f us\n",
                    ph.rate, samples, 1e6 * BucketPercentile(ph.lag_before, ph.lag_after, 0.5), 1e6 * BucketPercentile(ph.lag_before, ph.lag_after, 0.99),
                    1e6 * BucketPercentile(ph.lag_before, ph.lag_after, 1.0));
    }
    for (const auto& ph : phases) {
        if (ph.steal_percent < 0) continue;
        std::printf("%5d tx/s, the machine: %.1f%% of its CPU time stolen by the hypervisor while the stream flowed (ready to run, not run)\n",
                    ph.rate, ph.steal_percent);
    }
    std::printf("(the tower's figures are the upper bounds of its histogram's buckets: 100 us apart up to 2 ms)\n");
    size_t triggers = 0;
    for (const auto& ph : phases) triggers += ph.triggers;
    std::printf("vaults rebuilt from their trigger's witness, their registration not read: %.0f (for %zu triggers)\n",
                metric("vaultwatch_vault_details_rebuilt_total"), triggers);
    vw.child().Kill(SIGTERM);
    node.Stop();
    if (!all) std::fprintf(stderr, "not every trigger was answered:\n%s\n", vw.LogTail(60).c_str());
    return all ? 0 : 1;
}
