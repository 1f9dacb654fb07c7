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

//! The SQLite store, with writes that fail on demand as on a full disk (nothing committed).
class FillableStore final : public store::Store
{
public:
    explicit FillableStore(std::unique_ptr<store::Store> s) : m_s(std::move(s)) {}
    void SetFull(bool on) { m_full = on; }
    Expected<store::Cursor, store::StoreError> LoadCursor() override { return m_s->LoadCursor(); }
    Expected<std::optional<BlockHash>, store::StoreError> BlockAt(int h) override { return m_s->BlockAt(h); }
    Expected<void, store::StoreError> Commit(const store::BlockBatch& b) override
    {
        if (m_full) return Unexpected{store::StoreError{store::StoreError::Kind::Full, "database or disk is full (test)"}};
        return m_s->Commit(b);
    }
    Expected<std::vector<int64_t>, store::StoreError> Apply(const store::StateChanges& c) override
    {
        if (m_full) return Unexpected{store::StoreError{store::StoreError::Kind::Full, "database or disk is full (test)"}};
        if (!c.recoveries.empty()) {
            std::vector<std::pair<Txid, vault::RecoveryState>> rows;
            for (const auto& r : c.recoveries) rows.emplace_back(r.txid, r.state);
            m_recovery_writes.push_back({c.wait_for_disk, c.wait_for_disk && c.sync_in_background, std::move(rows)});
        }
        return m_s->Apply(c);
    }
    //! Each Apply that wrote recovery rows: whether it waited for the disk, and the rows.
    struct RecoveryWrite {
        bool waited{false};
        bool in_background{false}; //!< of those, synced by the store's thread (the caller did not wait)
        std::vector<std::pair<Txid, vault::RecoveryState>> rows;
    };
    const std::vector<RecoveryWrite>& recovery_writes() const { return m_recovery_writes; }
    Expected<std::vector<store::VaultRow>, store::StoreError> LoadVaults(uint32_t from, size_t max) override { return m_s->LoadVaults(from, max); }
    Expected<size_t, store::StoreError> ScanVaults(uint32_t from, size_t max, const std::function<void(const store::VaultRowView&)>& f) override
    {
        return m_s->ScanVaults(from, max, f);
    }
    Expected<size_t, store::StoreError> VaultSlots() override { return m_s->VaultSlots(); }
    Expected<std::optional<store::VaultRow>, store::StoreError> LoadVault(uint32_t idx) override { return m_s->LoadVault(idx); }
    Expected<std::vector<store::ApprovalRow>, store::StoreError> LoadApprovals() override { return m_s->LoadApprovals(); }
    Expected<std::vector<store::VaultTxRow>, store::StoreError> LoadVaultTxs() override { return m_s->LoadVaultTxs(); }
    Expected<std::vector<store::RescanRow>, store::StoreError> LoadRescans() override { return m_s->LoadRescans(); }
    Expected<std::vector<store::SightingRow>, store::StoreError> LoadSightings() override { return m_s->LoadSightings(); }
    Expected<std::vector<store::FamilyRow>, store::StoreError> LoadFamilies() override { return m_s->LoadFamilies(); }
    Expected<void, store::StoreError> LimitPages(uint32_t n) override { return m_s->LimitPages(n); }
    store::StoreStats Stats() const override { return m_s->Stats(); }
    Expected<std::vector<store::RecoveryRow>, store::StoreError> LoadRecoveries() override { return m_s->LoadRecoveries(); }
    Expected<std::vector<store::EventRow>, store::StoreError> LoadEvents(int64_t after, size_t limit) override { return m_s->LoadEvents(after, limit); }
    Expected<int64_t, store::StoreError> LastEventSeq() override { return m_s->LastEventSeq(); }
    Expected<void, store::StoreError> ApplyWebhooks(const store::WebhookChanges& c) override { return m_s->ApplyWebhooks(c); }
    Expected<std::vector<store::WebhookRow>, store::StoreError> LoadWebhooks() override { return m_s->LoadWebhooks(); }
    Expected<std::vector<store::DeliveryRow>, store::StoreError> LoadDeliveries(const std::string& id, store::DeliveryState state, size_t limit) override
    {
        return m_s->LoadDeliveries(id, state, limit);
    }
    Expected<int64_t, store::StoreError> CountDeliveries(const std::string& id, store::DeliveryState state) override { return m_s->CountDeliveries(id, state); }

private:
    std::unique_ptr<store::Store> m_s;
    bool m_full{false};
    std::vector<RecoveryWrite> m_recovery_writes;
};

class InprocTower
{
public:
    struct Options {
        daemon::EngineOptions engine;      //!< chain, fees, fee coins (now and node_tip are set here)
        bool vault_active{true};           //!< the node enforces OP_VAULT (getdeploymentinfo)
        std::optional<Bytes> fee_secret;   //!< the fee wallet's key (32 bytes); none: no fee wallet
        //! A simulator the test already runs (vault_active is then its own); none: one of its own.
        sim::RegtestSim* sim{nullptr};
        //! The engine's own connection fails every call (the follower's still works), as when a
        //! rescan holds it or the node stops answering it.
        bool engine_node_down{false};
        //! The engine answers triggers on a connection of its own (Engine::SetTriggerPath), as
        //! vaultwatchd does.
        bool trigger_path{false};
        size_t max_pending_adds{10'000}; //!< FollowerOptions::max_pending_adds
    };
    InprocTower(std::filesystem::path dir, Options opts);
    ~InprocTower();
    InprocTower(const InprocTower&) = delete;
    InprocTower& operator=(const InprocTower&) = delete;

    sim::RegtestSim& sim() { return *m_simp; }
    daemon::Engine& engine() { return *m_engine; }
    FillableStore& store() { return *m_store; }
    const vault::FeeWallet& fee_wallet_model() const { return *m_fee_model; }

    //! Starts the tower (a first start follows from the node's tip).
    void Start();
    //! Lets the tower catch up with the node and act (follower reconcile, engine, broadcaster)
    //! until nothing is left to do.
    void Settle();
    //! The process dies between two steps (nothing is flushed beyond what the store committed)
    //! and starts again on the same database.
    void Restart();
    //! The process is killed now: nothing more runs, not even the handlers already queued (no
    //! Stop); it starts again on the same database.
    void Kill();
    //! Every node call fails as if the node were down (transport error), until turned off.
    void SetUnreachable(bool on) { m_unreachable = on; }
    //! Once: right after the node accepts the next sendrawtransaction, f runs (the world acts: a
    //! block, say) and the tower's other work runs before the broadcaster hears the answer.
    void AfterNextSend(std::function<void()> f) { m_after_send = std::move(f); }
    daemon::ChainFollower& follower() { return *m_follower; }
    boost::asio::io_context& io() { return *m_io; }
    //! The follower hears tx on ZMQ (its rawtx, then its sequence 'A'), each from a socket that is
    //! the node's own or not, before its next look at the node's mempool.
    void HearOnZmq(const Transaction& tx, bool raw_from_node, bool add_from_node);
    //! Runs what is ready without waking the follower (Settle wakes it each round). Returns the
    //! number of handlers run.
    size_t Poll();
    //! The methods called on the trigger path's connection (Options::trigger_path), in order.
    const std::vector<std::string>& trigger_path_calls() const { return m_trigger_calls; }
    //! Called with each call's method on the trigger path as it is made (on the io thread).
    std::function<void(const std::string&)> on_trigger_call;

    boost::json::value Call(const std::string& method, boost::json::array params = {}) { return m_simp->Call(method, std::move(params)); }

private:
    void Build();
    void Teardown();

    std::filesystem::path m_dir;
    Options m_opts;
    std::unique_ptr<sim::RegtestSim> m_sim; //!< owned, unless the test brought one
    sim::RegtestSim* m_simp{nullptr};
    std::unique_ptr<boost::asio::io_context> m_io;
    daemon::BitcoindNode::CallFn m_node_call; //!< the simulator, called in-process
    std::unique_ptr<daemon::BitcoindNode> m_node;
    std::unique_ptr<daemon::BitcoindNode> m_engine_node;  //!< Options::engine_node_down
    std::unique_ptr<daemon::BitcoindNode> m_trigger_node; //!< Options::trigger_path
    std::vector<std::string> m_trigger_calls;
    std::unique_ptr<FillableStore> m_store;
    std::unique_ptr<daemon::Engine> m_engine;
    std::unique_ptr<daemon::ChainFollower> m_follower;
    std::optional<vault::FeeWallet> m_fee_model;
    bool m_unreachable{false};
    std::function<void()> m_after_send;
};

} // namespace vw::test
