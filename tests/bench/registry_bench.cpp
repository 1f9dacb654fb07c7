// vw_bench_registry: registration throughput and cold start (docs/product.md §9: registration over
// 5,000 vaults/s; cold start with 1,000,000 vaults under 5 s; index memory under 256 bytes/vault).
//
//   vw_bench_registry [--quick] [--vaults N] [--single N] [--load-runs N]
//
// 1. registers opvault vaults through the daemon's Engine::RegisterVault (JSON parse, full
//    validation incl. the taproot tweak, one SQLite commit each): the first --single of them
//    (default all), one call each; then all N through registervaults, 1,000 per call, into a
//    second store;
// 2. destroys the engine and times Engine::Load() of that second store (best of --load-runs):
//    the registry and its index rebuilt from the store (the daemon's cold start);
// 3. prints the heap growth of the loaded engine per vault, and the index's own share.
// Numbers are measured, never asserted: CTest runs --quick only to prove it works.
#include "engine.h"
#include "log.h"
#include "crypto/sha256.h"
#include "script/taproot.h"
#include "util/hex.h"
#include "vault/opvault.h"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <string>

using namespace vw;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {
size_t HeapInUse() { return mallinfo2().uordblks; }

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
} // namespace

int main(int argc, char** argv)
{
    size_t n = 100'000;
    int load_runs = 3; // the cold start is timed this many times; the best run is printed
    std::optional<size_t> single_n; // vaults registered one call each (default: all)
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") {
            quick = true;
            n = 2'000;
        } else if (a == "--vaults" && i + 1 < argc) {
            n = std::stoul(argv[++i]);
        } else if (a == "--single" && i + 1 < argc) {
            single_n = std::stoul(argv[++i]);
        } else if (a == "--load-runs" && i + 1 < argc) {
            load_runs = std::max(1, std::stoi(argv[++i]));
        } else {
            std::cerr << "usage: vw_bench_registry [--quick] [--vaults N] [--single N] [--load-runs N]\n";
            return 1;
        }
    }
    log::Init("warn");
    const auto dir = std::filesystem::temp_directory_path() / ("vw-bench-registry-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir);
    const auto db = (dir / "vaultwatch.sqlite").string();
    const auto db2 = (dir / "batch.sqlite").string(); // every vault, registered 1,000 per call: the one cold-started

    // One internal key and trigger key for all (the per-vault tweak is still computed); the
    // recovery scriptPubKey differs per vault, so every vault has its own id and recovery group.
    Uint256 seed;
    seed.bytes.fill(0x11);
    const auto internal = crypto::KeyPair::FromSecret(seed.span())->PubKey();
    seed.bytes.fill(0x22);
    const auto trigger_key = crypto::KeyPair::FromSecret(seed.span())->PubKey();
    const std::string trigger_leaf = HexStr(vault::MakeTriggerLeaf(trigger_key, 144));
    auto request = [&](size_t i) {
        Bytes rspk{0x51, 0x20};
        Uint256 h = crypto::Sha256Once(ByteSpan{reinterpret_cast<const uint8_t*>(&i), sizeof i});
        rspk.insert(rspk.end(), h.bytes.begin(), h.bytes.end());
        const std::string recover_leaf = HexStr(vault::MakeRecoverLeaf(vault::RecoverySpkHash(rspk), std::nullopt));
        return json::object{{"kind", "opvault"},
                            {"internal_key", HexStr(internal.span())},
                            {"leaves", json::array{json::object{{"script", recover_leaf}, {"depth", 1}},
                                                   json::object{{"script", trigger_leaf}, {"depth", 1}}}},
                            {"recovery_script_pubkey", HexStr(rspk)}};
    };

    boost::asio::io_context io;
    daemon::RpcEndpoint ep;
    ep.port = 1; // never called: the engine is not started
    daemon::BitcoindRpc rpc_client{io.get_executor(), ep};
    daemon::BitcoindNode rpc{rpc_client};
    daemon::EngineOptions eo;
    eo.chain = "regtest";
    eo.allow_unenforced_opvault = true;

    double reg_s = 0;
    {
        auto st = store::OpenSqliteStore(db);
        if (!st) {
            std::cerr << st.error().message << "\n";
            return 1;
        }
        daemon::Engine engine{io.get_executor(), rpc, **st, eo};
        if (auto r = engine.Load(); !r) {
            std::cerr << r.error() << "\n";
            return 1;
        }
        if (!single_n || *single_n > n) single_n = n;
        std::vector<json::object> reqs;
        reqs.reserve(*single_n);
        for (size_t i = 0; i < *single_n; ++i) reqs.push_back(request(i));
        const auto t0 = Clock::now();
        for (size_t i = 0; i < *single_n; ++i) {
            auto r = engine.RegisterVault(reqs[i]);
            if (!r) {
                std::cerr << "vault " << i << ": " << r.error().message << "\n";
                return 1;
            }
        }
        reg_s = Seconds(Clock::now() - t0);
    }
    // The same through registervaults, 1,000 per call (one transaction each), into a fresh store.
    double batch_s = 0;
    {
        auto st = store::OpenSqliteStore(db2);
        if (!st) return 1;
        daemon::Engine engine{io.get_executor(), rpc, **st, eo};
        if (!engine.Load()) return 1;
        std::vector<json::array> batches;
        for (size_t i = 0; i < n; ++i) {
            if (i % 1000 == 0) batches.emplace_back();
            batches.back().push_back(request(i));
        }
        const auto t0 = Clock::now();
        for (const auto& b : batches) {
            auto r = engine.RegisterVaults(b);
            if (!r) {
                std::cerr << r.error().message << "\n";
                return 1;
            }
        }
        batch_s = Seconds(Clock::now() - t0);
        if (engine.registry().size() != n) {
            std::cerr << "batch registration lost vaults\n";
            return 1;
        }
    }

    // Cold starts, timed load_runs times on the same database; the best is printed, the last
    // engine is kept for the memory figures.
    double load_s = 1e9;
    size_t heap0 = 0;
    auto cold_start = [&](auto&& with_engine) -> bool {
        auto st = store::OpenSqliteStore(db2);
        if (!st) return false;
        heap0 = HeapInUse();
        const auto t0 = Clock::now();
        daemon::Engine engine{io.get_executor(), rpc, **st, eo};
        if (auto r = engine.Load(); !r) {
            std::cerr << r.error() << "\n";
            return false;
        }
        load_s = std::min(load_s, Seconds(Clock::now() - t0));
        with_engine(engine);
        return true;
    };
    for (int run = 1; run < load_runs; ++run) {
        if (!cold_start([](daemon::Engine&) {})) return 1;
    }
    size_t index_bytes = 0, vaults = 0;
    const bool ok = cold_start([&](daemon::Engine& engine) {
        const size_t heap1 = HeapInUse();
        vaults = engine.registry().size();
        index_bytes = engine.registry().index().MemoryUsage();
        std::printf("==== vw_bench_registry (%s) ====\n", quick ? "quick" : "full");
        std::printf("vaults                       : %zu (opvault, 2 leaves each)\n", vaults);
        std::printf("registration, one at a time  : %.0f vaults/s (target > 5000) %s   [one client, one SQLite commit each; concurrent calls share one: vw_bench_rpc]\n",
                    static_cast<double>(*single_n) / reg_s, static_cast<double>(*single_n) / reg_s > 5000 ? "OK" : "UNDER");
        std::printf("registration, 1000 per call  : %.0f vaults/s (target > 5000) %s   [registervaults: one SQLite commit per call]\n",
                    static_cast<double>(n) / batch_s, static_cast<double>(n) / batch_s > 5000 ? "OK" : "UNDER");
        const double per_million = load_s * 1e6 / static_cast<double>(vaults);
        std::printf("cold start (Engine::Load)    : %.3f s (best of %d), %.2f s per 1,000,000 vaults (target < 5 s) %s\n", load_s, load_runs, per_million,
                    per_million < 5 ? "OK" : "OVER");
        std::printf("engine heap per vault        : %.1f bytes (records, specs, trees, index)\n",
                    static_cast<double>(heap1 - heap0) / static_cast<double>(vaults));
        std::printf("index memory per vault       : %.1f bytes (target < 256) %s%s\n",
                    static_cast<double>(index_bytes) / static_cast<double>(vaults),
                    static_cast<double>(index_bytes) / static_cast<double>(vaults) < 256 ? "OK" : "OVER",
                    vaults < 50'000 ? "   [below ~50,000 vaults the index's fixed-size chunks dominate]" : "");
    });
    std::filesystem::remove_all(dir);
    return ok && vaults == n ? 0 : 1;
}
