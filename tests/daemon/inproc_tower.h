#pragma once
// The tower in one process, for decision tests and the adversary simulation: the real engine and
// the real chain follower on a test-driven io_context, against the regtest simulator called
// in-process (JSON-RPC without HTTP; no ZMQ, so the follower finds everything by reconciling with
// the node, as it does when ZMQ is silent), and a SQLite store in a temporary directory.
// Single-threaded and deterministic from the test's point of view: Settle() runs the tower until
// it has nothing left to do.

#include "chain_follower.h"
#include "engine.h"
#include "node_port.h"
#include "regtest_sim.h"
#include "store/store.h"
#include "vault/fee_wallet.h"

#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

namespace vw::test {

class InprocTower
{
public:
    struct Options {
        daemon::EngineOptions engine;      //!< chain, fees, fee coins (now and node_tip are set here)
        bool vault_active{true};           //!< the node enforces OP_VAULT (getdeploymentinfo)
        std::optional<Bytes> fee_secret;   //!< the fee wallet's key (32 bytes); none: no fee wallet
    };
    InprocTower(std::filesystem::path dir, Options opts);
    ~InprocTower();
    InprocTower(const InprocTower&) = delete;
    InprocTower& operator=(const InprocTower&) = delete;

    sim::RegtestSim& sim() { return *m_sim; }
    daemon::Engine& engine() { return *m_engine; }
    store::Store& store() { return *m_store; }
    const vault::FeeWallet& fee_wallet_model() const { return *m_fee_model; }

    //! Starts the tower (a first start follows from the node's tip).
    void Start();
    //! Lets the tower catch up with the node and act (follower reconcile, engine, broadcaster)
    //! until nothing is left to do.
    void Settle();
    //! The process dies between two steps (nothing is flushed beyond what the store committed)
    //! and starts again on the same database.
    void Restart();
    //! Every node call fails as if the node were down (transport error), until turned off.
    void SetUnreachable(bool on) { m_unreachable = on; }

    boost::json::value Call(const std::string& method, boost::json::array params = {}) { return m_sim->Call(method, std::move(params)); }

private:
    void Build();
    void Teardown();

    std::filesystem::path m_dir;
    Options m_opts;
    std::unique_ptr<sim::RegtestSim> m_sim;
    std::unique_ptr<boost::asio::io_context> m_io;
    std::unique_ptr<daemon::BitcoindNode> m_node;
    std::unique_ptr<store::Store> m_store;
    std::unique_ptr<daemon::Engine> m_engine;
    std::unique_ptr<daemon::ChainFollower> m_follower;
    std::optional<vault::FeeWallet> m_fee_model;
    bool m_unreachable{false};
};

} // namespace vw::test
