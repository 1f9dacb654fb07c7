// Chain-follower benchmarks against the regtest simulator, over real RPC and ZMQ sockets:
//  - catch-up throughput: blocks/s (and MB/s) replaying ~1 MB blocks the daemon missed
//    (docs/product.md §9 target: >= 100 blocks/s from a local node);
//  - mempool reaction path: sendrawtransaction on the node -> ZMQ rawtx/sequence frames ->
//    listener call, p50/p99 over many transactions (an upper bound of frame -> listener).
// Usage: vw_bench_follower [--quick]
#include "sim_harness.h"

#include "util/hex.h"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>

using namespace vw;
using Clock = std::chrono::steady_clock;

namespace {

Transaction Spend(const OutPoint& prev, Amount value, size_t witness_bytes, uint8_t tag)
{
    MutableTransaction m;
    TxIn in;
    in.prevout = prev;
    in.sequence = 0xfffffffd;
    in.witness = {Bytes(witness_bytes, tag), Bytes(33, 0x02)};
    m.vin.push_back(in);
    Bytes spk{0x00, 0x14};
    spk.resize(22, tag);
    m.vout.push_back({value, spk});
    return Transaction{m};
}

void Send(sim::RegtestSim& s, const Transaction& tx) { s.Call("sendrawtransaction", {HexStr(SerializeTransaction(tx))}); }

} // namespace

int main(int argc, char** argv)
{
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const int blocks = quick ? 20 : 200;
    const int txs_per_block = 10;
    const size_t witness = 95'000; // ~10 x 95 kB witness per block: ~1 MB blocks
    const int latency_samples = quick ? 50 : 500;

    test::SimHarness h;
    auto& sim = h.sim();
    sim.Generate(101);
    // Fan out the first coinbase into many coins.
    const std::string hash1{sim.Call("getblockhash", {1}).as_string()};
    const auto raw1 = ParseHex(std::string_view{sim.Call("getblock", {hash1, 0}).as_string()});
    const Transaction cb = DecodeBlock(*raw1)->txs.at(0);
    const int coins = blocks * txs_per_block + latency_samples + 10;
    MutableTransaction fan;
    fan.vin.push_back(TxIn{{cb.GetTxid(), 0}, {}, 0xfffffffd, {Bytes(64, 1)}});
    const Amount each{(cb.vout()[0].value.sats() - 1'000'000) / coins};
    for (int i = 0; i < coins; ++i) fan.vout.push_back({each, Bytes{0x51, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}});
    const Transaction fan_tx{fan};
    Send(sim, fan_tx);
    sim.Generate(1);
    const int base = sim.Height();

    // Blocks the follower will have to catch up on.
    uint32_t next_coin = 0;
    size_t total_bytes = 0;
    for (int b = 0; b < blocks; ++b) {
        for (int t = 0; t < txs_per_block; ++t) {
            Send(sim, Spend({fan_tx.GetTxid(), next_coin}, each - Amount{40'000}, witness, static_cast<uint8_t>(next_coin)));
            ++next_coin;
        }
        sim.Generate(1);
        const std::string bh = sim.BestBlockHash();
        total_bytes += sim.Call("getblock", {bh, 0}).as_string().size() / 2;
    }

    {
        // Context: what the node side costs per block (in-process getblock, hex, no HTTP).
        const auto s0 = Clock::now();
        for (int b = 1; b <= blocks; ++b) {
            const std::string bh{sim.Call("getblockhash", {base + b}).as_string()};
            auto hex = sim.Call("getblock", {bh, 0});
            auto bytes = ParseHex(std::string_view{hex.as_string()});
            auto blk = DecodeBlock(*bytes);
            if (!blk) return 1;
        }
        const double s = std::chrono::duration<double>(Clock::now() - s0).count();
        std::printf("context: in-process getblock + hex decode + DecodeBlock alone: %.1f blocks/s\n", blocks / s);
    }
    const auto t0 = Clock::now();
    h.StartFollower(base + 1);
    if (!h.WaitSynced(std::chrono::seconds{600})) {
        std::fprintf(stderr, "follower did not catch up\n");
        return 1;
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    const double rpc_secs = h.Status().rpc_seconds;
    std::printf("catch-up: %d blocks (%.1f MB, avg %.0f kB/block) in %.3f s: %.1f blocks/s, %.1f MB/s (target >= 100 blocks/s)\n", blocks,
                static_cast<double>(total_bytes) / 1e6, static_cast<double>(total_bytes) / blocks / 1e3, secs, blocks / secs,
                static_cast<double>(total_bytes) / 1e6 / secs);
    std::printf("  of which waiting for the node's RPC replies (simulator serving + HTTP + JSON): %.3f s; vaultwatch's own processing: "
                "%.3f s = %.1f blocks/s\n",
                rpc_secs, secs - rpc_secs, blocks / std::max(1e-9, secs - rpc_secs));

    // Mempool reaction path.
    std::mutex mu;
    std::condition_variable cv;
    Txid waiting;
    Clock::time_point seen{};
    h.listener().on_tx_added = [&](const Transaction& tx) {
        std::lock_guard l(mu);
        if (tx.GetTxid() == waiting) {
            seen = Clock::now();
            cv.notify_all();
        }
    };
    std::vector<double> us;
    for (int i = 0; i < latency_samples; ++i) {
        const Transaction tx = Spend({fan_tx.GetTxid(), next_coin}, each - Amount{10'000}, 64, static_cast<uint8_t>(next_coin));
        ++next_coin;
        {
            std::lock_guard l(mu);
            waiting = tx.GetTxid();
            seen = {};
        }
        const auto start = Clock::now();
        Send(sim, tx);
        std::unique_lock l(mu);
        if (!cv.wait_for(l, std::chrono::seconds{5}, [&] { return seen != Clock::time_point{}; })) {
            std::fprintf(stderr, "tx %d never reached the listener\n", i);
            return 1;
        }
        us.push_back(std::chrono::duration<double, std::micro>(seen - start).count());
    }
    std::sort(us.begin(), us.end());
    auto pct = [&](double p) { return us[std::min(us.size() - 1, static_cast<size_t>(p * static_cast<double>(us.size())))]; };
    std::printf("mempool tx -> listener (sendrawtransaction, ZMQ rawtx+sequence, follower): n=%zu p50=%.0f us p99=%.0f us max=%.0f us\n",
                us.size(), pct(0.50), pct(0.99), us.back());
    return 0;
}
