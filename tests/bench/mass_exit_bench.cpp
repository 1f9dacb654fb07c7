// vw_bench_mass_exit: the thundering herd (docs/product.md §9). N OP_VAULT vaults in G recovery groups
// are registered with the real vaultwatchd process, funded, and then triggered by a thief in ONE
// block mined by the simulator (the simulator checks neither scripts nor block weight: 10,000
// single-input triggers weigh ~5.9 MWU, more than a real block holds). It prints
//   - the time from that block to every trigger output being spent by a recovery in the node's
//     mempool, up to the arrival of the last such recovery at the node (target <= 1 s for 10,000
//     triggers, issue 18), and
//   - the vbytes per recovered vault of the batched recoveries (one sweep per group, split under
//     the standard weight, one fee input each) against one recovery per vault with its own fee
//     input (target: at least 40% fewer).
//
//   - per recovered vault: the vbytes and the fee paid, and the reserve getfeewallet asks for.
//
//   vw_bench_mass_exit [--quick]            (quick: 1,000 vaults in 4 groups; default 10,000 in 4)
//   vw_bench_mass_exit --harding [--quick]  (Harding's attack, "OP_VAULT comments", Delving
//                                           Bitcoin 2024: a block full of small triggers of vaults
//                                           that share nothing, 2,000 in 2,000 groups, quick 200;
//                                           the fee wallet holds exactly the reserve it asks for)
//   --tcp                                   ZMQ over TCP ports (announcements confirmed with the
//                                           node first); default: unix sockets in a private
//                                           directory, the node's own word (docs/zmq.md)
//   --mempool                               the thief broadcasts the triggers one after the other
//                                           instead (each is answered from the mempool, one at a
//                                           time): the clock runs from the first to every one
//                                           answered, and the time to send them all is printed
//
// Numbers are measured, never asserted: CTest runs --quick only to prove it works.
#include "crypto/sha256.h"
#include "primitives/block.h"
#include "bench_node.h"
#include "process_util.h"
#include "regtest_sim.h"
#include "tx_util.h"
#include "script/ctv.h"
#include "util/bech32.h"
#include "util/hex.h"
#include "vault/fee_wallet.h"
#include "vault/opvault.h"
#include "vault/recovery.h"
#include "vault/trigger_builder.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <map>
#include <mutex>
#include <set>

using namespace vw;
namespace proc = vw::test::proc;
using vw::test::AnyoneCanSpend;
using vw::test::kOpTrue;
using vw::test::P2TR;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {




crypto::KeyPair Key(uint64_t i)
{
    Bytes seed{'m', 'a', 's', 's'};
    for (int b = 0; b < 8; ++b) seed.push_back(static_cast<uint8_t>(i >> (8 * b)));
    return *crypto::KeyPair::FromSecret(crypto::Sha256Once(seed).span());
}

//! Spends coinbase `height` into n outputs of `each` to spks(i) (change to anyone-can-spend).
Transaction FanOut(sim::RegtestSim& s, int height, size_t n, Amount each, const std::function<Bytes(size_t)>& spks)
{
    const Transaction cb = bench::Coinbase(s, height);
    MutableTransaction m;
    m.vin.push_back(TxIn{{cb.GetTxid(), 0}, {}, 0xfffffffd, {kOpTrue}});
    Amount total{0};
    for (size_t i = 0; i < n; ++i) {
        m.vout.push_back({each, spks(i)});
        total += each;
    }
    m.vout.push_back({cb.vout()[0].value - total - Amount{100'000}, AnyoneCanSpend()});
    const Transaction tx{m};
    s.Call("sendrawtransaction", {HexStr(SerializeTransaction(tx))});
    return tx;
}

} // namespace

int main(int argc, char** argv)
{
    bool quick = false, harding = false, mempool = false, tcp = false;
    for (int a = 1; a < argc; ++a) {
        quick = quick || std::strcmp(argv[a], "--quick") == 0;
        harding = harding || std::strcmp(argv[a], "--harding") == 0;
        mempool = mempool || std::strcmp(argv[a], "--mempool") == 0;
        tcp = tcp || std::strcmp(argv[a], "--tcp") == 0;
    }
    const size_t n = harding ? (quick ? 200 : 2'000) : (quick ? 1'000 : 10'000);
    // Mass exit: 2,500 vaults per group in the full run, each sweep split in two under the
    // standard weight. Harding: every vault a group of its own, no sweep can batch them.
    const size_t groups = harding ? n : 4;
    const size_t per_fanout = 1'000;
    const Amount deposit{1'000'000}; // 0.01 BTC per vault

    proc::TempDir dir("vw-mass-exit");
    sim::SimConfig node_cfg = bench::EnforcingSimConfig();
    proc::TempDir sock_dir("vw-mass-exit-zmq");
    if (!tcp) bench::ZmqOnUnixSockets(node_cfg, sock_dir.path());
    sim::RegtestSim node(node_cfg);
    node.Start();
    node.Generate(150);

    proc::Vaultwatchd vw(VW_VAULTWATCHD_PATH, dir.path() / "vw");
    vw.node_args = {"--bitcoind.rpcport=" + std::to_string(node.RpcPort()), "--bitcoind.rpcuser=u", "--bitcoind.rpcpassword=p"};
    // The bench funds one coin per expected sweep itself and counts them: no split ahead of need.
    // As an operator runs it: info log, no test event log (whose fsyncs are not the daemon's).
    vw.event_log = false;
    const char* level = std::getenv("VW_BENCH_LOGLEVEL");
    vw.extra_args = {"--feewalletcoins=0", std::string("--loglevel=") + (level ? level : "info")};
    vw.Start();
    const proc::SyncRpc rpc(vw.port(), vw.NetDir() / ".cookie");
    auto caught_up = [&] { return bench::TowerAtTip(rpc, node); };
    if (!proc::WaitUntil(caught_up, 60s)) {
        std::fprintf(stderr, "vaultwatchd did not start:\n%s\n", vw.LogTail().c_str());
        return 1;
    }

    // The vaults: one internal key each, the leaked trigger key shared, G recovery addresses.
    const auto t_setup = Clock::now();
    const crypto::KeyPair trigger_key = Key(~0ull);
    std::vector<vault::Vault> vaults;
    vaults.reserve(n);
    json::array regs;
    for (size_t i = 0; i < n; ++i) {
        Bytes recovery_spk = P2TR(static_cast<uint8_t>(0x10 + i % groups));
        if (harding) std::copy_n(crypto::Sha256Once(Key(i + 1'000'000).PubKey().span()).bytes.begin(), 32, recovery_spk.begin() + 2);
        vault::VaultSpec spec{Key(i).PubKey(), {}, recovery_spk, std::nullopt};
        spec.leaves = {taproot::Leaf{vault::MakeRecoverLeaf(vault::RecoverySpkHash(recovery_spk), std::nullopt), 1},
                       taproot::Leaf{vault::MakeTriggerLeaf(trigger_key.PubKey(), 144), 1}};
        auto v = vault::Vault::FromSpec(spec);
        if (!v) return std::fprintf(stderr, "vault %zu: %s\n", i, v.error().c_str()), 1;
        regs.push_back(json::object{{"kind", "opvault"},
                                    {"internal_key", HexStr(spec.internal_key.span())},
                                    {"leaves", json::array{json::object{{"script", HexStr(spec.leaves[0].script)}, {"depth", 1}},
                                                           json::object{{"script", HexStr(spec.leaves[1].script)}, {"depth", 1}}}},
                                    {"recovery_script_pubkey", HexStr(recovery_spk)}});
        vaults.push_back(std::move(*v));
        if (regs.size() == 1'000 || i + 1 == n) {
            rpc.Call("registervaults", {regs});
            regs.clear();
        }
    }
    // Deposits, and the fee wallet: one coin per expected recovery transaction and some spare.
    std::vector<OutPoint> deposits(n);
    int cb_height = 1;
    for (size_t at = 0; at < n; at += per_fanout) {
        const size_t len = std::min(per_fanout, n - at);
        const Transaction f = FanOut(node, cb_height++, len, deposit, [&](size_t k) { return vaults[at + k].ScriptPubKey(); });
        for (size_t k = 0; k < len; ++k) deposits[at + k] = {f.GetTxid(), static_cast<uint32_t>(k)};
    }
    const json::value wallet = rpc.Call("getfeewallet");
    const Bytes fee_spk = *ParseHex(std::string(wallet.at("script_pubkey").as_string()));
    const json::value& reserve = wallet.at("reserve_needed");
    const size_t reserve_coins = static_cast<size_t>(reserve.at("recoveries").to_number<int64_t>());
    const Amount reserve_coin{reserve.at("coin").to_number<int64_t>()};
    std::printf("reserve getfeewallet asks for: %zu coins of %lld sat (%lld sat, %.1f sat per vault) at %lld sat/kvB\n", reserve_coins,
                static_cast<long long>(reserve_coin.sats()), static_cast<long long>(reserve.at("amount").to_number<int64_t>()),
                static_cast<double>(reserve.at("amount").to_number<int64_t>()) / static_cast<double>(n),
                static_cast<long long>(reserve.at("feerate_sat_per_kvb").to_number<int64_t>()));
    // Mass exit: one coin per expected sweep and some spare. Harding: exactly the reserve.
    const size_t coins = harding ? reserve_coins : 2 * groups + n / 1'000 + 8;
    const Amount coin_value = harding ? reserve_coin : Amount{20'000'000};
    std::map<OutPoint, Amount> fee_coins;
    for (size_t at = 0; at < coins; at += per_fanout) {
        const size_t len = std::min(per_fanout, coins - at);
        const Transaction f = FanOut(node, cb_height++, len, coin_value, [&](size_t) { return fee_spk; });
        for (size_t k = 0; k < len; ++k) fee_coins[{f.GetTxid(), static_cast<uint32_t>(k)}] = coin_value;
    }
    // Through the mempool the thief pays each trigger's relay fee from a coin of his own (the
    // trigger output carries the whole deposit).
    std::vector<OutPoint> thief_coins;
    const Amount thief_coin{50'000};
    for (size_t at = 0; mempool && at < n; at += per_fanout) {
        const size_t len = std::min(per_fanout, n - at);
        const Transaction f = FanOut(node, cb_height++, len, thief_coin, [&](size_t) { return AnyoneCanSpend(); });
        for (size_t k = 0; k < len; ++k) thief_coins.push_back({f.GetTxid(), static_cast<uint32_t>(k)});
    }
    node.Generate(1);
    if (!proc::WaitUntil([&] { return caught_up() && rpc.Call("getfeewallet").at("utxos").as_array().size() == coins; }, 120s)) {
        std::fprintf(stderr, "deposits or fee coins not seen:\n%s\n", vw.LogTail().c_str());
        return 1;
    }
    // The thief's triggers, one per vault, each to a withdrawal of their own.
    std::vector<std::string> hexes;
    std::set<OutPoint> trigger_outputs;
    hexes.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        vault::TriggerRequest tr;
        tr.deposit = deposits[i];
        tr.deposit_value = deposit;
        tr.ctv_hash = ctv::TemplateHash(vault::WithdrawalTemplate(144, deposit - Amount{5'000}, P2TR(0xee)), 0);
        if (mempool) {
            tr.fee_input = vault::TriggerRequest::FeeInput{thief_coins[i], TxOut{thief_coin, AnyoneCanSpend()}, {kOpTrue}};
            tr.change = TxOut{thief_coin - Amount{10'000}, AnyoneCanSpend()};
        }
        auto t = vault::BuildTrigger(vaults[i], tr, trigger_key);
        if (!t) return std::fprintf(stderr, "trigger %zu: %s\n", i, t.error().c_str()), 1;
        const Transaction tx{*t};
        trigger_outputs.insert({tx.GetTxid(), 0});
        hexes.push_back(HexStr(SerializeTransaction(tx)));
    }
    std::printf("setup: %zu vaults in %zu recovery groups, %zu fee coins, in %.1f s; ZMQ over %s\n", n, groups, coins,
                std::chrono::duration<double>(Clock::now() - t_setup).count(),
                tcp ? "TCP (announcements confirmed with the node first)" : "unix sockets in a private directory (the node's own word)");

    // When each transaction spending a trigger output reached the node, on the node's side: the
    // bench's own polling (getrawmempool, then 180 kB sweeps fetched) competes with the daemon's
    // calls for the simulator's one thread, and timed by it the result moved by a quarter second
    // with what else the daemon asked the node after its last send.
    std::mutex arrived_mu;
    std::map<Txid, Clock::time_point> arrived;
    node.SetPolicyHook([&, outs = trigger_outputs](const Transaction& tx) -> std::optional<std::string> {
        const auto now = Clock::now();
        for (const auto& in : tx.vin()) {
            if (!outs.count(in.prevout)) continue;
            std::lock_guard lk(arrived_mu);
            arrived.try_emplace(tx.GetTxid(), now);
            break;
        }
        return std::nullopt;
    });
    // One block with every trigger (the clock starts when the node has the block), or each
    // trigger broadcast in turn (the clock starts with the first).
    auto t0 = Clock::now();
    double send_secs = 0;
    size_t refused = 0;
    if (mempool) {
        // Only what the node took is to be answered.
        std::set<OutPoint> taken;
        for (auto& h : hexes) {
            try {
                taken.insert({*Txid::FromHex(node.Call("sendrawtransaction", {h}).as_string()), 0});
            } catch (const std::exception& e) { // a group sweep already took its deposit
                if (refused++ == 0) std::fprintf(stderr, "refused: %s\n", e.what());
            }
        }
        trigger_outputs = std::move(taken);
        send_secs = std::chrono::duration<double>(Clock::now() - t0).count();
    } else {
        json::array txs;
        for (auto& h : hexes) txs.emplace_back(std::move(h));
        node.Call("generateblock", {"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", std::move(txs)});
        t0 = Clock::now(); // not the simulator's own work on the block (about 0.25 s for 10,000)
    }
    // Every trigger output spent by a transaction in the node's mempool.
    // Polled every 5 ms: each transaction is fetched once (refetching 8 sweeps of 85 kB each poll
    // would take CPU from the daemon being measured).
    std::vector<Transaction> recoveries;
    std::map<std::string, Transaction> fetched;
    auto all_answered = [&] {
        recoveries.clear();
        std::set<OutPoint> spent;
        const json::value mempool = node.Call("getrawmempool"); // kept: never range-for over a temporary's member
        for (const auto& id : mempool.as_array()) {
            const std::string txid{id.as_string()};
            auto it = fetched.find(txid);
            if (it == fetched.end()) {
                auto raw = node.Call("getrawtransaction", {id.as_string()});
                auto tx = DecodeTransaction(*ParseHex(std::string_view{raw.as_string()}));
                if (!tx) continue;
                it = fetched.emplace(txid, std::move(*tx)).first;
            }
            for (const auto& in : it->second.vin()) spent.insert(in.prevout);
            recoveries.push_back(it->second);
        }
        for (const auto& o : trigger_outputs) {
            if (!spent.count(o)) return false;
        }
        return true;
    };
    if (!proc::WaitUntil(all_answered, 300s)) {
        std::fprintf(stderr, "not every trigger was answered:\n%s\n", vw.LogTail(80).c_str());
        return 1;
    }
    // The answer is complete when the last sweep the node kept reached it.
    double secs = 0;
    {
        std::lock_guard lk(arrived_mu);
        for (const auto& tx : recoveries) {
            if (auto a = arrived.find(tx.GetTxid()); a != arrived.end()) secs = std::max(secs, std::chrono::duration<double>(a->second - t0).count());
        }
    }
    if (mempool) {
        size_t sweeps = 0;
        for (const auto& tx : recoveries) {
            sweeps += std::any_of(tx.vin().begin(), tx.vin().end(), [&](const TxIn& in) { return trigger_outputs.count(in.prevout) > 0; });
        }
        std::printf("%s through the mempool: %zu triggers broadcast one after the other in %.2f s (%zu refused: their deposit was already swept) "
                    "-> every one the node took answered %.2f s after the first, by %zu recovery transactions\n",
                    harding ? "harding" : "mass exit", n, send_secs, refused, secs, sweeps);
        vw.child().Kill(SIGTERM);
        node.Stop();
        return 0;
    }

    // vbytes: the batched recoveries in the mempool against one recovery per vault, each with
    // its own fee input (a placeholder 64-byte key-path signature), built by the same builder.
    size_t batched_vbytes = 0, recovered_inputs = 0;
    int64_t fees_paid = 0;
    for (const auto& tx : recoveries) {
        batched_vbytes += tx.VSize();
        int64_t in_value = 0, out_value = 0;
        for (const auto& in : tx.vin()) {
            recovered_inputs += trigger_outputs.count(in.prevout);
            if (trigger_outputs.count(in.prevout)) in_value += deposit.sats();
            if (auto c = fee_coins.find(in.prevout); c != fee_coins.end()) in_value += c->second.sats();
        }
        for (const auto& o : tx.vout()) out_value += o.value.sats();
        fees_paid += in_value - out_value;
    }
    const auto& v0 = vaults[0];
    vault::RecoveryInput in0{{Txid{}, 0}, TxOut{deposit, v0.ScriptPubKey()}, v0.tree().leaves()[v0.recover_index()].script,
                             v0.ControlBlockFor(v0.recover_index()).Serialize(), v0.spec().recovery_spk};
    vault::RecoveryOptions o;
    o.fee_inputs = {vault::FeeInput{{Txid{}, 1}, TxOut{Amount{20'000}, fee_spk}, {Bytes(64, 0)}}};
    auto single = vault::BuildUnauthorizedRecovery(std::span<const vault::RecoveryInput>(&in0, 1), o);
    if (!single) return std::fprintf(stderr, "cannot build the single-vault recovery\n"), 1;
    const double per_vault_single = static_cast<double>(Transaction{*single}.VSize());
    const double per_vault_batched = static_cast<double>(batched_vbytes) / static_cast<double>(n);
    std::printf("%s: %zu triggers in one block -> every recovery broadcast in %.2f s (target <= 1 s for 10,000: %s): "
                "%zu recovery transactions sweeping %zu trigger outputs\n",
                harding ? "harding" : "mass exit", n, secs, secs <= 1.0 ? "OK" : "OVER", recoveries.size(), recovered_inputs);
    std::printf("per recovered vault: %.1f vB, fee paid %.1f sat with fee coins of %lld sat spent whole (reserve asked %.1f sat per vault)\n", per_vault_batched,
                static_cast<double>(fees_paid) / static_cast<double>(n), static_cast<long long>(coin_value.sats()),
                static_cast<double>(reserve.at("amount").to_number<int64_t>()) / static_cast<double>(n));
    std::printf("vbytes per recovered vault: batched %.1f vB, one recovery per vault %.1f vB: %.1f%% fewer (target >= 40%%)\n",
                per_vault_batched, per_vault_single, 100.0 * (1.0 - per_vault_batched / per_vault_single));
    vw.child().Kill(SIGTERM);
    node.Stop();
    return 0;
}
