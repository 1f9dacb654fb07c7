// vw_bench_registry: registration throughput, cold start and memory per vault (docs/product.md §9:
// registration over 5,000 vaults/s; cold start under 2 s per 1,000,000 vaults; resident memory
// under 400 bytes per vault).
//
//   vw_bench_registry [--quick] [--vaults N] [--single N] [--load-runs N] [--direct]
//
// 1. registers opvault vaults through the daemon's Engine::RegisterVault (JSON parse, full
//    validation incl. the taproot tweak, one SQLite commit each): the first --single of them
//    (default min(N, 10,000)), one call each; then all N through registervaults, 1,000 per call,
//    into a second store;
// 2. starts a fresh process of itself (--load) on that store, as the daemon starts: it times
//    Engine::Load() (the cold start: registry and index from the store), reads its own resident
//    memory (VmRSS) before and after, then answers a trigger: a block confirms a deposit to the
//    vault in the middle (its registration read back from the store), a thief's trigger of it
//    comes into the mempool, and the time until the engine has decided and planned the recovery
//    is printed. --load-runs fresh processes; the best time is printed. Then up to 1,000 more
//    vaults spread over the book are triggered one after the other (AnswerMany), each answer
//    timed in the engine alone: p50, p90, p99 and max (of the last run).
// --direct (for 10,000,000 vaults, where registering through the engine takes half an hour):
// the store is filled with the rows RegisterVaults writes, made on every core from the same
// requests (rpc::ParseRegisterVault, PrepareRegistration, the same JSON, caches and compact
// forms), and the cold-start process checks a sample of them with the engine's own verifier.
// Numbers are measured, never asserted: CTest runs --quick only to prove it works.
#include "bench_machine.h"
#include "bench_vaults.h"
#include "engine.h"
#include "log.h"
#include "rpc/vault_json.h"
#include "crypto/sha256.h"
#include "primitives/block.h"
#include "script/ctv.h"
#include "script/taproot.h"
#include "util/hex.h"
#include "vault/opvault.h"
#include "vault/trigger_builder.h"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>

extern char** environ;

using namespace vw;
using vw::bench::FillDirect;
using vw::bench::Keys;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {
double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

//! This process's resident memory, from /proc/self/status (bytes).
size_t ResidentBytes()
{
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    }
    return 0;
}

struct Env {
    boost::asio::io_context io;
    daemon::RpcEndpoint ep;
    daemon::BitcoindRpc rpc_client{io.get_executor(), ep};
    daemon::BitcoindNode rpc{rpc_client};
    daemon::EngineOptions eo;
    Env()
    {
        ep.port = 1; // never called: the engine is not started
        eo.chain = "regtest";
        eo.allow_unenforced_opvault = true;
    }
};

//! A deposit paying each of spks 1,000,000 sat, confirmed in a block at height (the engine sees
//! the block, the store commits it): the deposit, or nothing when the commit fails.
std::optional<Transaction> ConfirmDeposit(daemon::Engine& engine, store::Store& st, const std::vector<Bytes>& spks, uint8_t tag, int height)
{
    MutableTransaction dep;
    dep.version = 2;
    dep.vin.push_back(TxIn{OutPoint{Txid::FromUint256(crypto::Sha256Once(Bytes{tag, tag, tag})), 0}, {}, 0xfffffffd, {}});
    for (const auto& spk : spks) dep.vout.push_back(TxOut{Amount{1'000'000}, spk});
    const Transaction deposit{dep};
    Block block;
    MutableTransaction cb;
    cb.version = 2;
    cb.vin.push_back(TxIn{OutPoint{}, Bytes{0x01, tag}, 0xffffffff, {}});
    cb.vout.push_back(TxOut{Amount{0}, Bytes{0x6a}});
    block.txs = {Transaction{cb}, deposit};
    store::BlockBatch batch;
    engine.BlockConnected(block, height, batch);
    batch.new_cursor = {height, block.header.GetHash()};
    batch.connected.emplace_back(height, block.header.GetHash());
    if (auto c = st.Commit(batch); !c) {
        std::cerr << "commit: " << c.error().message << "\n";
        return std::nullopt;
    }
    engine.BatchCommitted(height);
    return deposit;
}

//! --triggers K: after the start, K more vaults spread over the book get a confirmed deposit (one
//! block), then a thief's trigger each, answered one after the other by the engine alone: match,
//! decide, plan, up to the broadcaster's wake-up (no fee wallet: no fee input is signed). What is queued behind it (the send, the
//! record's write) is not run: there is no node, and a broadcaster that cannot reach one tries
//! every unsent sweep again at each wake-up. Each answer is timed. To profile that path:
//! vw_bench_registry --load DB N --triggers K under perf.
bool AnswerMany(daemon::Engine& engine, store::Store& st, const Keys& keys, size_t n, size_t count, int height)
{
    std::vector<size_t> picked;
    for (size_t j = 0; j < count; ++j) picked.push_back((j * 7'919 + 13) % n);
    std::sort(picked.begin(), picked.end());
    picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
    picked.erase(std::remove(picked.begin(), picked.end(), n / 2), picked.end()); // already triggered
    std::vector<Bytes> spks;
    for (size_t k : picked) spks.push_back(keys.VaultOf(k).ScriptPubKey());
    const auto confirmed = ConfirmDeposit(engine, st, spks, 2, height);
    if (!confirmed) return false;
    const Transaction& deposit = *confirmed;
    std::vector<Transaction> trigs;
    for (size_t j = 0; j < picked.size(); ++j) {
        vault::TriggerRequest tr;
        tr.deposit = OutPoint{deposit.GetTxid(), static_cast<uint32_t>(j)};
        tr.deposit_value = Amount{1'000'000};
        tr.ctv_hash = ctv::TemplateHash(vault::WithdrawalTemplate(Keys::DELAY, Amount{990'000}, keys.RecoverySpk(picked[j] + 1)), 0);
        auto trig = vault::BuildTrigger(keys.VaultOf(picked[j]), tr, keys.trigger);
        if (!trig) {
            std::cerr << "trigger: " << trig.error() << "\n";
            return false;
        }
        trigs.emplace_back(*trig);
    }
    const uint64_t planned0 = engine.stats().recoveries_planned;
    std::vector<double> us;
    for (const auto& t : trigs) {
        const auto t0 = Clock::now();
        engine.TxAddedToMempool(t);
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    const uint64_t answered = engine.stats().recoveries_planned - planned0;
    std::sort(us.begin(), us.end());
    auto pct = [&](double q) { return us[std::min(us.size() - 1, static_cast<size_t>(q * static_cast<double>(us.size())))]; };
    std::printf("TRIGGERS %zu %llu %.1f %.1f %.1f %.1f\n", us.size(), static_cast<unsigned long long>(answered), pct(0.5), pct(0.9), pct(0.99), us.back());
    return answered == us.size();
}

//! The child: a cold start of the store at db in this fresh process, then a trigger answered.
int LoadChild(const std::string& db, size_t expect, size_t triggers = 0)
{
    log::Init(std::getenv("VW_BENCH_LOG") ? std::getenv("VW_BENCH_LOG") : "error");
    Env env;
    const size_t rss0 = ResidentBytes();
    auto st = store::OpenSqliteStore(db);
    if (!st) {
        std::cerr << st.error().message << "\n";
        return 1;
    }
    const auto t0 = Clock::now();
    daemon::Engine engine{env.io.get_executor(), env.rpc, **st, env.eo};
    if (auto r = engine.Load(); !r) {
        std::cerr << r.error() << "\n";
        return 1;
    }
    const double load_s = Seconds(Clock::now() - t0);
    const size_t rss1 = ResidentBytes();
    const size_t n = engine.registry().size();
    if (n != expect) {
        std::cerr << "loaded " << n << " vaults, expected " << expect << "\n";
        return 1;
    }
    // The rows are registrations the engine itself would read back: a sample read whole.
    for (uint32_t from : {uint32_t{0}, static_cast<uint32_t>(n / 2), static_cast<uint32_t>(n > 256 ? n - 256 : 0)}) {
        std::vector<std::string> problems;
        auto r = engine.VerifyRegistrations(from, 256, problems);
        if (!r || !problems.empty()) {
            std::cerr << "stored registrations do not verify: " << (r ? problems.front() : r.error()) << "\n";
            return 1;
        }
    }
    // A deposit to the vault in the middle, confirmed; then a thief's trigger in the mempool.
    const Keys keys;
    const size_t k = n / 2;
    const vault::Vault v = keys.VaultOf(k);
    const int height = 1; // the store holds no block yet
    const auto confirmed = ConfirmDeposit(engine, **st, {v.ScriptPubKey()}, 1, height);
    if (!confirmed) return 1;
    const Transaction& deposit = *confirmed;
    vault::TriggerRequest tr;
    tr.deposit = OutPoint{deposit.GetTxid(), 0};
    tr.deposit_value = Amount{1'000'000};
    tr.ctv_hash = ctv::TemplateHash(vault::WithdrawalTemplate(Keys::DELAY, Amount{990'000}, keys.RecoverySpk(k + 1)), 0);
    auto trig = vault::BuildTrigger(v, tr, keys.trigger);
    if (!trig) {
        std::cerr << "trigger: " << trig.error() << "\n";
        return 1;
    }
    const uint64_t planned0 = engine.stats().recoveries_planned;
    const auto t1 = Clock::now();
    engine.TxAddedToMempool(Transaction{*trig});
    const double react_s = Seconds(Clock::now() - t1);
    const auto* rec = engine.registry().Get(static_cast<uint32_t>(k));
    // Answered: the vault is being recovered, and the engine planned the recovery.
    const bool answered = rec->state == vault::VaultState::Recovering && engine.stats().recoveries_planned > planned0;
    if (!answered) std::fprintf(stderr, "vault %zu is %s after its trigger\n", k, std::string(vault::ToString(rec->state)).c_str());
    std::printf("LOAD %.6f %zu %zu %zu %zu %.6f %d %zu\n", load_s, rss0, rss1, n, engine.registry().index().MemoryUsage(), react_s,
                answered ? 1 : 0, engine.registry().DetailsHeld());
    if (!answered) return 2;
    if (triggers > 0 && !AnswerMany(engine, **st, keys, n, triggers, height + 1)) return 3;
    return 0;
}

struct LoadResult {
    double load_s{0};
    size_t rss0{0}, rss1{0}, vaults{0}, index_bytes{0}, details{0};
    double react_s{0};
    bool answered{false};
    size_t triggers{0}, triggers_answered{0};
    double trig_p50{0}, trig_p90{0}, trig_p99{0}, trig_max{0}; //!< µs
};

//! This program's own path, read at start: a rebuild while it runs must not break the spawn.
std::string g_self;

std::optional<LoadResult> RunChild(const std::string& db, size_t n)
{
    int fds[2];
    if (pipe(fds) != 0) return std::nullopt;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    const std::string& self = g_self;
    const std::string ns = std::to_string(n);
    const std::string ks = std::to_string(std::min<size_t>(1'000, n / 4));
    std::vector<char*> argv{const_cast<char*>(self.c_str()), const_cast<char*>("--load"), const_cast<char*>(db.c_str()),
                            const_cast<char*>(ns.c_str()), const_cast<char*>("--triggers"), const_cast<char*>(ks.c_str()), nullptr};
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, self.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        std::cerr << "cannot start " << self << ": " << std::strerror(rc) << "\n";
        return std::nullopt;
    }
    std::string out;
    char buf[512];
    for (ssize_t r; (r = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(r));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    LoadResult res;
    int answered = 0;
    if (std::sscanf(out.c_str(), "LOAD %lf %zu %zu %zu %zu %lf %d %zu", &res.load_s, &res.rss0, &res.rss1, &res.vaults, &res.index_bytes,
                    &res.react_s, &answered, &res.details) != 8) {
        std::cerr << "the cold-start process said: " << out << "\n";
        return std::nullopt;
    }
    res.answered = answered == 1;
    if (const auto at = out.find("TRIGGERS "); at == std::string::npos ||
        std::sscanf(out.c_str() + at, "TRIGGERS %zu %zu %lf %lf %lf %lf", &res.triggers, &res.triggers_answered, &res.trig_p50, &res.trig_p90,
                    &res.trig_p99, &res.trig_max) != 6) {
        std::cerr << "the cold-start process said: " << out << "\n";
        return std::nullopt;
    }
    return res;
}
} // namespace

int main(int argc, char** argv)
{
    g_self = std::filesystem::read_symlink("/proc/self/exe").string();
    if (argc == 4 && std::string(argv[1]) == "--load") return LoadChild(argv[2], std::stoul(argv[3]));
    if (argc == 6 && std::string(argv[1]) == "--load" && std::string(argv[4]) == "--triggers") return LoadChild(argv[2], std::stoul(argv[3]), std::stoul(argv[5]));
    size_t n = 100'000;
    int load_runs = 3; // the cold start is timed in this many fresh processes; the best is printed
    std::optional<size_t> single_n; // vaults registered one call each (default: min(N, 10,000))
    bool quick = false;
    bool direct = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--direct") {
            direct = true;
        } else if (a == "--quick") {
            quick = true;
            n = 2'000;
        } else if (a == "--vaults" && i + 1 < argc) {
            n = std::stoul(argv[++i]);
        } else if (a == "--single" && i + 1 < argc) {
            single_n = std::stoul(argv[++i]);
        } else if (a == "--load-runs" && i + 1 < argc) {
            load_runs = std::max(1, std::stoi(argv[++i]));
        } else {
            std::cerr << "usage: vw_bench_registry [--quick] [--vaults N] [--single N] [--load-runs N] [--direct]\n";
            return 1;
        }
    }
    log::Init("warn");
    const auto dir = std::filesystem::temp_directory_path() / ("vw-bench-registry-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir);
    const auto db = (dir / "vaultwatch.sqlite").string();
    const auto db2 = (dir / "batch.sqlite").string(); // every vault, registered 1,000 per call: the one cold-started
    const Keys keys;
    Env env;
    if (!single_n) single_n = std::min<size_t>(n, 10'000);
    single_n = std::min(*single_n, n);

    double reg_s = 0;
    {
        auto st = store::OpenSqliteStore(db);
        if (!st) {
            std::cerr << st.error().message << "\n";
            return 1;
        }
        daemon::Engine engine{env.io.get_executor(), env.rpc, **st, env.eo};
        if (auto r = engine.Load(); !r) {
            std::cerr << r.error() << "\n";
            return 1;
        }
        std::vector<json::object> reqs;
        reqs.reserve(*single_n);
        for (size_t i = 0; i < *single_n; ++i) reqs.push_back(keys.Request(i));
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
    // All N through registervaults, 1,000 per call (one transaction each), into a fresh store.
    double batch_s = 0;
    {
        auto st = store::OpenSqliteStore(db2);
        if (!st) return 1;
        daemon::Engine engine{env.io.get_executor(), env.rpc, **st, env.eo};
        if (!engine.Load()) return 1;
        const auto t0 = Clock::now();
        if (direct && !FillDirect(**st, keys, n)) return 1;
        for (size_t from = 0; from < (direct ? 0 : n); from += 1000) {
            json::array b;
            for (size_t i = from; i < std::min(n, from + 1000); ++i) b.push_back(keys.Request(i));
            auto r = engine.RegisterVaults(b);
            if (!r) {
                std::cerr << r.error().message << "\n";
                return 1;
            }
        }
        batch_s = Seconds(Clock::now() - t0);
        if (!direct && engine.registry().size() != n) {
            std::cerr << "batch registration lost vaults\n";
            return 1;
        }
    }

    // Cold starts, each in a fresh process (as the daemon starts): the best time is printed,
    // the memory of the last run.
    std::optional<LoadResult> best;
    double best_s = 1e9, best_react = 1e9;
    const auto run_db = (dir / "run.sqlite").string();
    const bench::CpuTimes cpu0 = bench::ReadCpuTimes();
    for (int run = 0; run < load_runs; ++run) {
        // Each run on a copy: the trigger's block is committed to it.
        std::filesystem::copy_file(db2, run_db, std::filesystem::copy_options::overwrite_existing);
        for (const char* ext : {"-wal", "-shm"}) std::filesystem::remove(run_db + ext);
        auto r = RunChild(run_db, n);
        if (!r) {
            std::filesystem::remove_all(dir);
            return 1;
        }
        best_s = std::min(best_s, r->load_s);
        best_react = std::min(best_react, r->react_s);
        best = r;
    }
    const double steal = bench::StealPercent(cpu0, bench::ReadCpuTimes());
    if (std::getenv("VW_BENCH_KEEP")) std::fprintf(stderr, "kept %s\n", db2.c_str()); // to profile: vw_bench_registry --load DB N
    else std::filesystem::remove_all(dir);
    const double vaults = static_cast<double>(best->vaults);
    const double per_million = best_s * 1e6 / vaults;
    const double rss_per_vault = static_cast<double>(best->rss1) / vaults;
    std::printf("==== vw_bench_registry (%s) ====\n", quick ? "quick" : "full");
    std::printf("vaults                       : %zu (opvault, 2 leaves each)\n", best->vaults);
    std::printf("registration, one at a time  : %.0f vaults/s over %zu (target > 5000) %s   [one client, one SQLite commit each; concurrent calls share one: vw_bench_rpc]\n",
                static_cast<double>(*single_n) / reg_s, *single_n, static_cast<double>(*single_n) / reg_s > 5000 ? "OK" : "UNDER");
    if (direct) {
        std::printf("store filled directly         : %.0f vaults/s   [--direct: RegisterVaults's rows made on every core; not a registration rate]\n", vaults / batch_s);
    } else {
        std::printf("registration, 1000 per call  : %.0f vaults/s (target > 5000) %s   [registervaults: one SQLite commit per call]\n",
                    vaults / batch_s, vaults / batch_s > 5000 ? "OK" : "UNDER");
    }
    std::printf("cold start (Engine::Load)    : %.3f s (best of %d fresh processes), %.2f s per 1,000,000 vaults (target <= 2 s) %s\n", best_s,
                load_runs, per_million, per_million <= 2 ? "OK" : "OVER");
    if (steal >= 0) std::printf("  the machine meanwhile     : %.1f%% of its CPU time stolen by the hypervisor\n", steal);
    std::printf("resident memory per vault    : %.1f bytes (VmRSS %.1f MiB after the cold start, over the vault count; target <= 400) %s%s\n",
                rss_per_vault, static_cast<double>(best->rss1) / 1048576.0, rss_per_vault <= 400 ? "OK" : "OVER",
                vaults < 200'000 ? "   [below ~200,000 vaults the process's own ~10 MiB dominate]" : "");
    std::printf("  of which the cold start    : %.1f bytes per vault (VmRSS growth during Engine::Load)\n",
                static_cast<double>(best->rss1 - std::min(best->rss1, best->rss0)) / vaults);
    std::printf("  of which the index         : %.1f bytes per vault (target < 256) %s\n", static_cast<double>(best->index_bytes) / vaults,
                static_cast<double>(best->index_bytes) / vaults < 256 ? "OK" : "OVER");
    std::printf("a trigger after the start    : %s in %.3f ms (deposit confirmed: its registration read back from the store; thief's trigger into the mempool -> recovery planned; %zu vault(s) held whole)\n",
                best->answered ? "answered" : "NOT ANSWERED", best_react * 1e3, best->details);
    std::printf("triggers, the engine alone  : %zu of %zu answered: p50 %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us   [match, decide, plan, up to the broadcaster's wake-up; no fee wallet (no fee input signed), no node, no send, no record written]\n",
                best->triggers_answered, best->triggers, best->trig_p50, best->trig_p90, best->trig_p99, best->trig_max);
    return best->answered && best->vaults == n && best->triggers_answered == best->triggers ? 0 : 1;
}
