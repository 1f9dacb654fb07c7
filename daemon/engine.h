#pragma once
// The vault engine: detect (lib/vault matcher), decide (lib/vault policy), act (broadcast).
// It is the chain follower's listener. State lives in the store; the in-memory Registry is a
// cache rebuilt from it (registrations in order, then every stored vault transaction replayed,
// then the matched mempool transactions), at start and after anything that cannot be applied
// forward (a reorg, a mempool eviction, a rescan).
//
// Crash safety: a recovery is written to the store (in the block's transaction, or in its own
// for a mempool trigger) before its first broadcast; every unconfirmed recovery is broadcast
// again after each block and at start. sendrawtransaction is idempotent, so a crash between the
// write and the broadcast costs one repeated, harmless call.

#include "log.h"
#include "node_port.h"
#include "control.h"
#include "chain/listener.h"
#include "metrics/prometheus.h"
#include "store/recovery_book.h"
#include "store/store.h"
#include "vault/family.h"
#include "vault/fee_wallet.h"
#include "vault/fees.h"
#include "vault/planner.h"
#include "vault/registry.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace vw::daemon {

struct EngineOptions {
    std::string chain{"main"};
    //! Accept opvault registrations although the node does not enforce OP_VAULT (regtest only;
    //! such outputs are anyone-can-spend on a chain that does not enforce it).
    bool allow_unenforced_opvault{false};
    //! Accept ccv registrations without the enforcement probe's proof (regtest only).
    bool allow_unenforced_ccv{false};
    //! Retry interval for broadcasts that failed for a transient reason.
    std::chrono::milliseconds retry_interval{std::chrono::seconds{5}};
    //! Clock for created_at fields (tests fix it).
    std::function<int64_t()> now;
    //! Fee schedule (fallback rate, escalation, cap); min_relay is refreshed from the node.
    vault::FeePolicy fees;
    //! feewallet.low fires when the fee wallet's confirmed balance falls below this (0 = off).
    Amount fee_reserve{0};
    //! Fee coins of about one recovery's fee kept ready, a larger coin split when fewer are left
    //! (vault::BuildSplit); 0 = never split.
    size_t fee_coins{4};
    //! The node's best height as last seen (the chain follower's), for fee bumps: a recovery is
    //! bumped only when a block newer than the node's tip at its broadcast went by without it.
    std::function<int()> node_tip;
    //! Vault details (full registrations) kept in memory beyond those live triggers need; the
    //! others are read from the store when a transaction touches their vault. Tests set 0, so
    //! that every decision reads them back.
    size_t details_kept{4096};
};

struct EngineStats {
    uint64_t triggers_seen{0};
    uint64_t recoveries_planned{0};
    uint64_t broadcasts{0};
    uint64_t broadcast_failures{0};
    uint64_t rebuilds{0};
    uint64_t fee_bumps{0};
    uint64_t registrations_verified{0}; //!< stored registrations read whole since the start
    uint64_t registrations_corrupt{0};  //!< of those, not what the cold start loaded
    uint64_t trigger_keys_ahead{0};     //!< trigger output keys computed on every core before their block was matched
};

class Engine final : public chain::ChainListener, public VaultControl
{
public:
    Engine(boost::asio::any_io_executor ex, NodePort& node, store::Store& store, EngineOptions opts);

    //! Called on the io thread after events were committed to the log (the webhook dispatcher
    //! delivers them at once rather than at its next poll).
    std::function<void()> on_events;
    //! Called when ZMQ announced a transaction the node says it does not have: whoever publishes
    //! on the ZMQ port is not (only) the node, and the mempool view must come from the node.
    std::function<void()> on_zmq_contradicted;

    //! The node's health as the chain follower sees it. Records node.unreachable when bitcoind
    //! stops answering (or does not answer at start), and node.recovered when it answers again.
    void NodeStatus(bool reachable, const std::string& detail);
    //! The node has seen no new block for long (HealthOptions::stalled_after): chain.stalled once,
    //! chain.resumed when blocks come again.
    void ChainStalled(bool stalled, const std::string& detail);

    //! Rebuilds the registry and the recovery book from the store. Returns an error (fatal: the
    //! database does not hold what this version wrote) or nothing.
    Expected<void, std::string> Load();
    //! Reads the stored registrations of slots [from, from + count) whole (JSON, tree, id) and
    //! checks each against the compact form the cold start loaded instead; what does not agree is
    //! appended to problems, naming the row. Start() runs it over every slot in the background.
    //! Returns: the slot after the last one read, or the store's error.
    Expected<uint32_t, std::string> VerifyRegistrations(uint32_t from, size_t count, std::vector<std::string>& problems) const;
    //! A connection of its own for a trigger's answer: confirming what ZMQ announced, then
    //! broadcasting the recovery. Unset (tests), they go through the engine's node. Set, a
    //! rescan's getblock or a fee refresh never delays an answer. (One connection for both, not
    //! two: in a mass exit through the mempool the node's echoes of our sweeps would then queue
    //! their confirmations ahead of the triggers still coming; measured, 2.0 s became 3.2 s.)
    void SetTriggerPath(NodePort& node)
    {
        m_announce_node = &node;
        m_send_node = &node;
    }
    //! Gives the engine its fee wallet (before Load: its coins are rebuilt from the store).
    void SetFeeWallet(vault::FeeWallet wallet);
    //! Starts the broadcaster (re-broadcasts what was pending at the last stop) and asks the node
    //! whether it enforces OP_VAULT.
    void Start();
    void Stop();

    // --- ChainListener ---------------------------------------------------------------------
    void BlockConnected(const Block& block, int height, store::BlockBatch& batch) override;
    void BlockDisconnected(const BlockHash& hash, int height, store::BlockBatch& batch) override;
    void TxAddedToMempool(const Transaction& tx, chain::SeenAt seen = {}) override;
    //! Learned from ZMQ only: matched at once (pure, cheap); what touches nothing of ours is
    //! forgotten, the rest is applied only as the node confirms it (ConfirmAnnounced).
    void TxAnnounced(const Transaction& tx, chain::SeenAt seen = {}) override;
    void TxRemovedFromMempool(const Txid& txid) override;
    void BatchCommitted(int height) override;
    void BatchAborted() override;

    // --- control (RPC handlers; all on the io thread) ---------------------------------------
    Expected<boost::json::value, EngineError> RegisterVault(const boost::json::object& params) override;
    //! Registers many vaults with one SQLite transaction. Returns {results: [detail | {error}]},
    //! one per request, in order; an error means nothing was stored at all.
    Expected<boost::json::value, EngineError> RegisterVaults(const boost::json::array& requests) override;
    Expected<boost::json::value, EngineError> GetVault(const vault::VaultId& vault_id) const override;
    boost::json::value ListVaults(const std::optional<std::string>& state) const override;
    Expected<boost::json::value, EngineError> RemoveVault(const vault::VaultId& vault_id) override;
    Expected<boost::json::value, EngineError> SetPolicy(const vault::VaultId& vault_id, const boost::json::value& policy) override;
    Expected<boost::json::value, EngineError> ApproveTrigger(const vault::VaultId& vault_id, const boost::json::object& approval) override;
    Expected<boost::json::value, EngineError> ListApprovals(const vault::VaultId& vault_id) const override;
    Expected<boost::json::value, EngineError> RevokeApproval(int64_t approval_id) override;
    boost::json::value ListRecoveries(const std::optional<vault::VaultId>& vault_id) const override;
    Expected<boost::json::value, EngineError> GetRecovery(const Txid& txid) const override;
    Expected<boost::json::value, EngineError> RecoverVault(const vault::VaultId& vault_id) override;
    Expected<boost::json::value, EngineError> Rescan(int from_height, const std::optional<vault::VaultId>& vault_id) override;
    Expected<boost::json::value, EngineError> GetFeeWallet(std::optional<int64_t> feerate_sat_per_kvb) const override;
    //! For getinfo: {pending, height} while rescans are pending, else null.
    boost::json::value RescanStatus() const;
    Expected<boost::json::value, EngineError> ListEvents(int64_t after_seq, size_t limit) const override;
    Expected<boost::json::value, EngineError> RegisterFamily(const boost::json::object& params) override;
    Expected<boost::json::value, EngineError> ImportVaultWallet(const boost::json::object& params) override;
    boost::json::value ListFamilies() const override;

    const EngineStats& stats() const { return m_stats; }
    //! Whether the node enforces OP_VAULT (nullopt: not known yet).
    std::optional<bool> vault_enforced() const { return m_vault_enforced; }
    //! Whether the node passed the CCV enforcement probe (nullopt: not run yet).
    std::optional<bool> ccv_enforced() const { return m_ccv_enforced; }
    int tip_height() const { return m_tip; }
    const vault::Registry& registry() const { return m_registry; }
    //! Vaults registered and not removed (getinfo; no JSON built).
    size_t LiveVaultCount() const;
    const std::map<Txid, store::RecoveryRow>& recoveries() const { return m_recoveries.rows(); }
    const vault::FeeWallet* fee_wallet() const { return m_fee_wallet ? &*m_fee_wallet : nullptr; }
    //! Fee-wallet coins held by a live recovery, and which (only live ones hold coins).
    std::map<OutPoint, Txid> FeeCoinHolders() const;
    //! The reserve answering every sweepable vault at once asks for (vault::NeededReserve).
    vault::Reserve NeededReserve(vault::FeeRate rate) const;
    //! The feerate a recovery planned now would aim at (no deadline known).
    vault::FeeRate CurrentFeeRate() const;
    //! First sight of a mempool trigger (its ZMQ frame's arrival, or the node's reply) to its
    //! sweep handed to the node (sendrawtransaction), in seconds.
    const metrics::Histogram& reaction() const { return m_reaction; }
    //! Called after each broadcast attempt (tests, metrics): txid, whether the node accepted it.
    std::function<void(const Txid&, bool)> on_broadcast;

private:
    //! How a transaction of the node's mempool is matched: the node has checked its scripts (and
    //! a ZMQ announcement only decides whether to ask the node for its bytes).
    static vault::MatchOptions NodeMempoolTx()
    {
        vault::MatchOptions o;
        o.spends_checked = true;
        return o;
    }
    struct TriggerInfo {
        vault::VaultEvent event;        //!< the Trigger event (height = confirmation, or nullopt)
        int seen_at{-1};                //!< our tip when first seen (its block's height if first seen there)
        bool alerted{false};
        bool plan_failure_alerted{false}; //!< a recovery.failed said no recovery can be planned
        bool closed{false};             //!< its outputs are spent on chain: no further decisions
    };

    //! The registrations, policies and approvals as stored, with no UTXO (nothing replayed).
    //! missing_cache: receives the opvault rows stored without an output-key cache, with it.
    //! A vault that is a member of a family: which, and its index there.
    struct MemberLink {
        std::string family;
        uint32_t index{0};
    };
    //! missing_cache: also receives the opvault rows stored without their compact form, with it.
    Expected<vault::Registry, std::string> LoadRegistry(std::vector<store::VaultRow>* missing_cache = nullptr,
                                                        std::unordered_map<uint32_t, MemberLink>* links = nullptr) const;
    //! A stored row made into its registry record and details (the full parse: JSON, tree, tweak
    //! unless cached, id), as a cold start without a compact form and a detail read do it.
    Expected<vault::PreparedVault, std::string> PrepareRow(const store::VaultRow& row) const;
    //! The registry's DetailSource: a vault's details read back from its row, when a transaction
    //! touches it (the registry holds only the compact record of most vaults).
    class StoreDetails final : public vault::DetailSource
    {
    public:
        explicit StoreDetails(const Engine& e) : m_e(e) {}
        Expected<vault::VaultDetails, vault::DetailError> LoadDetails(uint32_t i, const vault::VaultId& id) override;
        //! Details read and parsed ahead (BlockAhead), taken by the first LoadDetails of their slot.
        void Ahead(uint32_t i, std::string vault_id, vault::VaultDetails d) { m_ahead.insert_or_assign(i, Held{std::move(vault_id), std::move(d)}); }
        void ClearAhead() { m_ahead.clear(); }

    private:
        const Engine& m_e;
        struct Held {
            std::string vault_id;
            vault::VaultDetails details;
        };
        std::unordered_map<uint32_t, Held> m_ahead;
    };
    mutable StoreDetails m_detail_source{*this};
    //! Work a block of many vault spends needs before it is matched, done on every core: the
    //! trigger outputs' keys (returned) and the spent vaults' registrations (to m_detail_source).
    taproot::OutputKeyMemo BlockAhead(const Block& block);

    // --- vault families (engine_family.cpp) ---
    struct FamilyState {
        vault::FamilySpec spec;
        store::FamilyRow row;
    };
    //! What RegisterInto did with each request: its answer, and the slot it took if it was added.
    struct Registered {
        std::vector<boost::json::value> results;
        std::vector<std::optional<uint32_t>> added;
        std::vector<std::optional<int>> birth;
    };
    //! Validates and adds registrations to the registry, writing their rows (and rescans) into
    //! changes; links: the family link of each request (members), or null.
    Registered RegisterInto(const boost::json::array& requests, store::StateChanges& changes, const std::vector<MemberLink>* links = nullptr);
    Expected<void, std::string> LoadFamilies();
    //! Registers members [row.derived, upto) of f into changes. Returns: the registry slots added.
    std::vector<uint32_t> DeriveMembers(FamilyState& f, uint32_t upto, store::StateChanges& changes, std::optional<int> birth,
                                        std::string* first_error = nullptr);
    //! Deposits to family members: each family keeps gap_limit members registered beyond the
    //! highest one used. Returns: the registry slots added.
    std::vector<uint32_t> ExtendFamilies(const std::vector<vault::VaultEvent>& events, store::StateChanges& changes);
    Expected<boost::json::value, EngineError> AddFamily(vault::FamilySpec spec, const boost::json::object& params, std::string recovery_auth);
    //! Everything: the registry from the store (start; after a registration failed to be stored).
    //! ChainState: the registry in memory, its chain state replayed from the store (reorg,
    //! mempool removal, rescan): O(vaults the chain touched) instead of a million parses.
    enum class RebuildScope { Everything, ChainState };
    Expected<void, std::string> Rebuild(RebuildScope scope = RebuildScope::Everything, std::vector<store::VaultRow>* missing_cache = nullptr);
    void StartRescans();
    int64_t NextRescanId() const;
    boost::asio::awaitable<void> VerifyStoredRegistrations();
    //! Applies the events of one transaction; collects new triggers, confirms recoveries.
    void Apply(const Transaction& tx, std::optional<int> height, store::StateChanges* changes,
               const std::vector<vault::VaultEvent>& events);
    //! Decides for every open trigger at the current tip; plans and stages recoveries for those no
    //! live recovery answers. A plan that comes out as a dead recovery's very transaction brings
    //! it back to life once per tip (the chain may have changed the node's answer).
    void Evaluate(store::StateChanges& changes);
    //! Whether a confirmed transaction spent the trigger's outputs (none of its vaults tracks them).
    bool TriggerSpentOnChain(const vault::VaultEvent& ev) const;
    void Event(store::StateChanges& changes, std::string type, const std::string& vault_id, const std::string& txid,
               std::optional<int> height, boost::json::object data);
    std::string VaultIdOf(uint32_t idx) const;
    void PersistNow(store::StateChanges& changes);
    //! Writes the records of sweeps sent before they were written (TxAddedToMempool), in order.
    void WriteUnwritten();
    std::vector<store::StateChanges> m_unwritten;
    //! Whether tx touches the fee wallet (pays it or spends one of its coins).
    bool FeeWalletTouches(const Transaction& tx) const { return m_fee_wallet && m_fee_wallet->Touches(tx); }
    //! feewallet.low once when the confirmed balance falls below the reserve (again after it recovered).
    void CheckFeeReserve(store::StateChanges& changes);
    //! Climbs the pre-signed ladder of every recovery that stayed unconfirmed through a block.
    void BumpFees(store::StateChanges& changes);
    boost::asio::awaitable<void> RefreshFees();
    //! Fee-wallet coins our recoveries in flight spend (not to be used twice).
    std::set<OutPoint> ReservedFeeCoins() const;
    //! Gives each OP_VAULT plan a fee input from the fee wallet at the target feerate, if it can.
    //! Never a coin a live recovery spends (the recovery book's index), nor one in pass_picks: the
    //! coins picked earlier in the same pass, to which this call adds its own.
    void AttachFees(std::vector<vault::PlannedRecovery>& plans, std::optional<int> deadline, std::set<OutPoint>* pass_picks = nullptr);
    //! A CPFP child from the fee wallet for a recovery the node finds too cheap, or nullopt.
    std::optional<MutableTransaction> PlanCpfp(const store::RecoveryRow& row) const;
    //! An OP_VAULT recovery a block went by without: the same sweep with a bigger fee coin (RBF),
    //! or nullopt (no coin big enough, at the fee cap, or the sweep no longer valid).
    std::optional<MutableTransaction> PlanRbf(const store::RecoveryRow& row) const;
    //! Wakes the broadcaster. A new plan sends what was never accepted (at once, whatever else
    //! is live: during a mass exit seen in the mempool each trigger must not wait behind a
    //! rebroadcast of every earlier sweep); everything live is sent again at each block, on a
    //! node's return, at start, and when one of ours leaves the mempool.
    enum class Send { Everything, NewOnly };
    void KickBroadcaster(Send what = Send::Everything);
    boost::asio::awaitable<void> BroadcastLoop();
    boost::asio::awaitable<void> CheckDeployment();
    //! Runs the CCV enforcement probe (vault::ccv::MakeProbe) until it has an answer.
    boost::asio::awaitable<void> CheckCcv();
    //! One probe: nullopt when it could not be run (the note says why).
    boost::asio::awaitable<std::optional<bool>> ProbeCcv();
    //! Asks the node for an announced transaction (by txid) until it answers; applies the node's
    //! bytes, or drops it when the node has no such transaction.
    boost::asio::awaitable<void> ConfirmAnnounced(Transaction tx, chain::SeenAt seen);
    //! The sweeps a mempool transaction just planned: their reaction time runs from `seen`
    //! until BroadcastLoop hands them to the node.
    void TimeReaction(const store::StateChanges& planned, chain::SeenAt seen);
    boost::asio::awaitable<void> RescanLoop();
    int64_t Now() const;

    boost::asio::any_io_executor m_ex;
    NodePort& m_node;
    NodePort* m_announce_node{&m_node}; //!< ConfirmAnnounced (SetTriggerPath)
    NodePort* m_send_node{&m_node};     //!< BroadcastLoop (SetTriggerPath)
    std::map<Txid, chain::SeenAt> m_reaction_from; //!< TimeReaction: planned sweeps not yet sent
    metrics::Histogram m_reaction{metrics::ReactionBuckets()};
    store::Store& m_store;
    EngineOptions m_opts;
    vault::Registry m_registry;
    int m_tip{-1};
    std::optional<bool> m_vault_enforced;
    std::optional<bool> m_ccv_enforced;
    std::string m_ccv_probe_note; //!< why the probe has not answered yet (registration errors say it)

    std::map<Txid, TriggerInfo> m_triggers;                        //!< open and answered triggers by txid
    //! The triggers Evaluate must look at: those its last pass left open (not both alerted on and
    //! answered by a stored recovery, nor closed) and those seen since. A settled trigger opens
    //! again only when a recovery dies (the book's losses) or the triggers are replayed: then the
    //! next pass looks at them all. Without it every answer walked every earlier trigger.
    std::set<Txid> m_open_triggers;
    uint64_t m_book_losses_seen{0};
    bool m_evaluate_all{true};
    store::RecoveryBook m_recoveries;                              //!< our recoveries by txid, indexed
    std::map<uint32_t, Txid> m_unexpected;                          //!< pre-signed vaults spent unexpectedly: emergency txs due
    std::map<Txid, int> m_tried_at;                                 //!< dead recoveries: the tip they were last sent at
    std::map<Txid, int> m_sightings;                                //!< first sight of each trigger (stored)
    std::vector<std::pair<Txid, Transaction>> m_mempool;           //!< matched mempool txs, arrival order
    std::unordered_set<Txid, HashIdHasher> m_mempool_ids;
    //! Matched transactions of the recent blocks, by height: a mempool notification that arrives
    //! after the block that confirmed it (ZMQ and the RPC catch-up are not ordered) must not bring
    //! it back as unconfirmed. A disconnected block's leave the set: they may return legitimately.
    std::map<int, std::vector<Txid>> m_recent_confirmed;
    std::unordered_set<Txid, HashIdHasher> m_recent_confirmed_ids;
    std::vector<store::ApprovalRow> m_approvals;
    std::map<std::string, FamilyState> m_families;            //!< vault families by id
    std::unordered_map<uint32_t, MemberLink> m_member_of;      //!< registry slot -> its family (members only)
    bool m_need_rebuild{false};
    //! The state not stored held registrations (family members a block or a mempool deposit
    //! brought in): the pending replay reloads the registry too, so the retry registers them again.
    bool m_rebuild_registrations{false};
    bool m_batch_registered{false}; //!< the block batch in flight holds registrations
    //! The scope the pending replay needs (and the flag that asks for a full one is taken).
    RebuildScope PendingRebuildScope()
    {
        return std::exchange(m_rebuild_registrations, false) ? RebuildScope::Everything : RebuildScope::ChainState;
    }
    bool m_rebuild_posted{false}; //!< a chain-state replay is queued (mempool removals coalesce)

    // Broadcaster: one call in flight (BitcoindRpc is one connection).
    boost::asio::steady_timer m_bcast_wake;
    boost::asio::steady_timer m_ccv_wake; //!< the CCV probe's wait; cut short when a fee coin confirms
    bool m_bcast_running{false};
    bool m_bcast_kicked{false}; //!< kicked while a pass was in flight
    std::set<Txid> m_bcast_unsynced; //!< bookkeeping a kicked pass stored without waiting for the disk
    bool m_bcast_everything{true}; //!< the next pass sends every live recovery, not only new ones
    //! The send a pass stopped at, the node being down: the next pass starts after it, so no one
    //! recovery's failure can keep the others waiting behind it pass after pass.
    std::optional<Txid> m_bcast_stopped_at;
    bool m_node_down_reported{false}; //!< a node.unreachable is out with no node.recovered yet
    bool m_chain_stalled_reported{false}; //!< a chain.stalled is out with no chain.resumed yet
    bool m_stopping{false};
    // Rescans to do (registrations with a birth height below the tip, the rescan RPC), as stored.
    std::map<int64_t, store::RescanRow> m_rescans;
    int64_t m_last_rescan_id{0};
    bool m_rescan_running{false};
    std::optional<int> m_rescan_height; //!< the block being read
    // Fees.
    std::optional<vault::FeeWallet> m_fee_wallet;
    bool m_fee_low_reported{false};
    std::optional<vault::FeeRate> m_fee_estimate;   //!< the node's estimatesmartfee for 6 blocks, if it has one
    bool m_fee_refresh_running{false};
    std::map<Txid, int> m_sent_at;                   //!< the node's best height when it accepted each recovery (fee bumps wait for a later block)
    EngineStats m_stats;
    static constexpr size_t kEventLinesPerSecond = 200;
    log::LineBudget m_event_lines{kEventLinesPerSecond}; //!< event lines at info level (Event)
    //! While a mempool trigger is answered, its event lines wait here (each write to the log is
    //! 15 us of the answer, three a trigger), and so does the webhooks' kick: their poll is a
    //! transaction with an fsync, which would run before the broadcaster. Both follow the send.
    bool m_hold_lines{false};
    std::vector<std::string> m_held_lines;
    bool m_held_events_kick{false};
    void LogHeldLinesSoon(); //!< the held lines, logged by a handler queued behind the broadcaster's wake-up
};

} // namespace vw::daemon
