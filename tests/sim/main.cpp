// vw-regtest-sim: runs the regtest node simulator as a process, with bitcoind-like flags.

#include "regtest_sim.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

namespace {
volatile std::sig_atomic_t g_signal = 0;
void OnSignal(int sig) { g_signal = sig; }

//! bitcoind options the functional tests pass that the simulator has no use for.
bool IsIgnoredBitcoindFlag(const std::string& a)
{
    static const char* kIgnored[] = {"server",  "listen",        "fallbackfee",    "printtoconsole", "rpcbind",      "rpcallowip",
                                     "txindex", "debug",         "port",           "bind",           "dnsseed",      "discover",
                                     "upnp",    "natpmp",        "disablewallet",  "shrinkdebugfile", "rpcthreads", "rpcworkqueue",
                                     "debuglogfile", "logtimemicros", "persistmempool"};
    const std::string key = a.substr(1, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 1);
    if (a == "-daemon=0" || a == "-nodaemon") return true;
    for (const char* k : kIgnored) {
        if (key == k) return true;
    }
    return false;
}

void Usage()
{
    std::cerr << "usage: vw-regtest-sim [--chain=regtest] [--rpcport=N] [--rpcuser=U --rpcpassword=P | --datadir=DIR]\n"
                 "                      [--zmqpub<rawtx|hashtx|rawblock|hashblock|sequence>=tcp://127.0.0.1:PORT ...]\n"
                 "                      [--zmqpubhwm=N] [--vault-active] [--ccv-active] [--discourage-op-success]\n"
                 "                      [--auth-fail-delay-ms=N] [--mocktime=T]\n"
                 "                      [--restart-downtime-ms=N] [--clear-mempool-on-restart]\n"
                 "With --datadir the chain and mempool are kept in DIR/regtest/ across stops and kills.\n"
                 "--ccv-active: a BIP-443 node (0xbb = OP_CHECKCONTRACTVERIFY): CCV tapscripts and BIP-68 are checked.\n"
                 "--discourage-op-success: without CCV or --vault-active, refuse OP_SUCCESSx tapscript spends as v31 does.\n"
                 "Also accepted, as bitcoind takes them, and ignored: -server, -listen, -fallbackfee, -printtoconsole,\n"
                 "-rpcbind, -rpcallowip, -txindex, -debug, -port, -bind, -dnsseed, -discover, -upnp, -natpmp,\n"
                 "-disablewallet, -shrinkdebugfile, -rpcthreads, -rpcworkqueue, -daemon=0, -regtest=1.\n"
                 "Prints 'rpcport=N' and one 'zmqpub<topic>=ADDR' line per notifier once ready.\n"
                 "Stops on RPC `stop`, SIGINT or SIGTERM.\n";
}
} // namespace

int main(int argc, char** argv)
{
    vw::sim::SimConfig cfg;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a.rfind("--", 0) == 0) a = a.substr(1);  // accept -flag and --flag, like bitcoind
        auto val = [&](const char* key) -> std::optional<std::string> {
            const std::string k = std::string("-") + key + "=";
            if (a.rfind(k, 0) == 0) return a.substr(k.size());
            return std::nullopt;
        };
        try {
            if (auto v = val("rpcport")) cfg.rpc_port = static_cast<uint16_t>(std::stoi(*v));
            else if (auto v2 = val("rpcuser")) cfg.rpc_user = *v2;
            else if (auto v3 = val("rpcpassword")) cfg.rpc_password = *v3;
            else if (auto v4 = val("datadir")) cfg.datadir = *v4;
            else if (auto v5 = val("chain")) {
                if (*v5 != "regtest") { std::cerr << "only --chain=regtest is supported\n"; return 1; }
            } else if (a == "-regtest" || a == "-regtest=1") {
            } else if (IsIgnoredBitcoindFlag(a)) {
            } else if (a == "-vault-active") cfg.vault_active = true;
            else if (a == "-ccv-active") cfg.ccv_active = true;
            else if (a == "-discourage-op-success") cfg.discourage_op_success = true;
            else if (a == "-clear-mempool-on-restart") cfg.keep_mempool_on_restart = false;
            else if (auto v6 = val("zmqpubhwm")) cfg.zmq_hwm = std::stoi(*v6);
            else if (auto v7 = val("auth-fail-delay-ms")) cfg.auth_fail_delay = std::chrono::milliseconds(std::stoi(*v7));
            else if (auto v8 = val("restart-downtime-ms")) cfg.restart_downtime = std::chrono::milliseconds(std::stoi(*v8));
            else if (auto v9 = val("mocktime")) cfg.mocktime = std::stoll(*v9);
            else if (a.rfind("-zmqpub", 0) == 0 && a.find('=') != std::string::npos) {
                const auto eq = a.find('=');
                const std::string topic = a.substr(7, eq - 7);
                if (topic != "rawtx" && topic != "hashtx" && topic != "rawblock" && topic != "hashblock" && topic != "sequence") {
                    std::cerr << "unknown zmq topic " << topic << "\n";
                    return 1;
                }
                cfg.zmq.push_back({topic, a.substr(eq + 1)});
            } else if (a == "-h" || a == "-help") {
                Usage();
                return 0;
            } else {
                std::cerr << "unknown argument " << argv[i] << "\n";
                Usage();
                return 1;
            }
        } catch (const std::exception&) {
            std::cerr << "bad value in " << argv[i] << "\n";
            return 1;
        }
    }
    if (cfg.rpc_password.empty() && cfg.datadir.empty()) {
        std::cerr << "need --rpcuser/--rpcpassword or --datadir (cookie auth)\n";
        return 1;
    }
    cfg.persist = !cfg.datadir.empty();
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    vw::sim::RegtestSim sim(cfg);
    try {
        sim.Start();
    } catch (const std::exception& e) {
        std::cerr << "startup failed: " << e.what() << "\n";
        return 1;
    }
    std::cout << "rpcport=" << sim.RpcPort() << "\n";
    const auto notifications = sim.Call("getzmqnotifications");
    for (const auto& z : notifications.as_array()) {
        std::cout << "zmq" << z.at("type").as_string().c_str() << "=" << z.at("address").as_string().c_str() << "\n";
    }
    std::cout.flush();
    while (!g_signal && !sim.WaitForShutdown(std::chrono::milliseconds(100))) {
    }
    sim.Stop();
    return 0;
}
