#pragma once
// The persistent store. The chain follower writes one transaction per block: the new cursor and
// every state change the block caused commit together or not at all.

#include "primitives/hash_types.h"
#include "util/bytes.h"
#include "util/uint256.h"
#include "util/expected.h"
#include "vault/lifecycle.h"

#include <cstdint>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vw::store {

struct Cursor {
    int height{-1};   //!< -1: nothing processed yet
    BlockHash hash;
    friend bool operator==(const Cursor&, const Cursor&) = default;
};

struct StoreError {
    enum class Kind {
        Open,       //!< cannot open or lock the database file
        Corrupt,    //!< a row or the schema is not what this version wrote: fatal, never defaulted
        Full,       //!< SQLITE_FULL: disk full; nothing was committed
        Busy,       //!< another writer holds the lock
        Io,         //!< any other SQLite failure
    } kind{Kind::Io};
    std::string message;
};

//! A registered vault as stored: enough to rebuild it exactly (registration order = idx).
struct VaultRow {
    uint32_t idx{0};           //!< registry slot (registration order)
    std::string vault_id;      //!< "v-" + 16 hex
    std::string kind;          //!< "opvault" | "presigned"
    std::string registration;  //!< canonical registration JSON, without secrets
    std::string policy;        //!< policy JSON
    bool removed{false};
    int64_t created_at{0};     //!< unix seconds
    Bytes output_key_cache;    //!< opvault: vault::EncodeOutputKeyCache of its output key; empty = none
    std::string recovery_auth; //!< opvault: hex secret of an authorized recover leaf, kept out of registration; empty = none
    std::string family_id;     //!< a member of this vault family; empty = registered on its own
    uint32_t family_index{0};  //!< its index in the family
    Bytes compact;             //!< opvault: vault::EncodeCompactVault, what a cold start loads; empty = none
    friend bool operator==(const VaultRow&, const VaultRow&) = default;
};

//! A vault row as a cold start reads it (Store::ScanVaults): no registration, no copies.
struct VaultRowView {
    uint32_t idx{0};
    std::string_view vault_id;
    std::string_view kind;
    std::string_view policy;
    bool removed{false};
    bool has_recovery_auth{false};
    std::string_view family_id;  //!< empty = registered on its own
    uint32_t family_index{0};
    ByteSpan compact;            //!< empty = none
};

//! A vault family (vault/family.h): registered once, its members derived and registered as
//! deposits come, a gap limit ahead of the highest member used.
struct FamilyRow {
    std::string id;            //!< "f-" + 16 hex (from the text form)
    std::string text;          //!< vault::FormatFamily, with its checksum
    std::string label;
    std::string policy;        //!< policy JSON, given to every member
    std::string recovery_auth; //!< hex secret of the recovery-auth key; empty = none (alert-only for an authorized leaf)
    uint32_t gap_limit{0};     //!< members registered beyond the highest used
    uint32_t derived{0};       //!< members 0..derived-1 are registered
    std::optional<int> birth_height;
    int64_t created_at{0};
    friend bool operator==(const FamilyRow&, const FamilyRow&) = default;
};

struct ApprovalRow {
    int64_t id{0};             //!< assigned by the store (0 = new)
    uint32_t vault_idx{0};
    std::string kind;          //!< "ctv_hash" | "trigger_txid"
    Uint256 value;             //!< CTV hash as pushed, or txid in serialization order
    std::optional<int> expiry_height;
    bool revoked{false};
    friend bool operator==(const ApprovalRow&, const ApprovalRow&) = default;
};

//! A pending rescan (a registration with a birth height below the tip, or the rescan RPC): kept
//! until done, so a restart resumes it. Progress is stored with what it found, block by block.
struct RescanRow {
    int64_t id{0};                     //!< chosen by the engine (> 0)
    std::optional<uint32_t> vault_idx; //!< the vault it looks for; nullopt = every vault
    int next_height{0};                //!< the next block to read
    int64_t created_at{0};             //!< unix seconds
    friend bool operator==(const RescanRow&, const RescanRow&) = default;
};

//! When the tower first saw a trigger: our tip then (its block's height if first seen there).
struct SightingRow {
    Txid txid;
    int seen_at{-1};
    friend bool operator==(const SightingRow&, const SightingRow&) = default;
};

//! A confirmed transaction that touched a registered vault. Replaying these in (height, pos)
//! order over the registrations rebuilds every vault's UTXOs and state.
struct VaultTxRow {
    int height{0};
    uint32_t pos{0};           //!< position in the block
    BlockHash block;
    Txid txid;
    Bytes tx;                  //!< serialized with witness
    friend bool operator==(const VaultTxRow&, const VaultTxRow&) = default;
};

//! A recovery the daemon decided to broadcast (persisted before the first broadcast).
struct RecoveryRow {
    Txid txid;
    vault::PlanKind kind{vault::PlanKind::OpVaultUnauthorized};
    Txid trigger_txid;
    std::vector<std::string> vault_ids;
    Bytes tx;                  //!< the signed transaction, serialized with witness
    vault::RecoveryState state{vault::RecoveryState::Planned};
    std::optional<int> deadline_height;
    std::optional<int> confirmed_height;
    int attempts{0};
    std::string last_error;
    int64_t created_at{0};
    friend bool operator==(const RecoveryRow&, const RecoveryRow&) = default;
};

//! One entry of the event log (also the webhook outbox's source).
struct EventRow {
    int64_t seq{0};            //!< assigned by the store, increasing
    int64_t created_at{0};     //!< unix seconds
    std::string type;          //!< webhook event type, e.g. "vault.trigger"
    std::string vault_id;      //!< empty when not about one vault
    std::string txid;          //!< display hex, empty when none
    std::optional<int> height;
    std::string data;          //!< JSON object
    friend bool operator==(const EventRow&, const EventRow&) = default;
};

//! A webhook endpoint (docs/product.md §7). The secret never leaves the store except to sign.
struct WebhookRow {
    std::string id;            //!< "wh-" + 16 hex (config hooks: derived from the URL, stable)
    std::string url;
    std::string secret;        //!< HMAC key for Vaultwatch-Signature
    std::string events;        //!< filter: "*" or comma-separated types / families ("recovery.*")
    bool enabled{true};        //!< a disabled hook is skipped (set in the store by an operator; a 410 does not disable it)
    std::string source;        //!< "config" (upserted at start from vaultwatch.conf) | "rpc"
    int64_t cursor{0};         //!< every event with seq <= cursor is queued for this hook (or filtered out)
    int64_t delivered{0};      //!< deliveries acknowledged with 2xx
    int64_t failed{0};         //!< deliveries given up after the retry horizon
    std::string last_error;    //!< last failure ('' after a success)
    int64_t created_at{0};     //!< unix seconds
    friend bool operator==(const WebhookRow&, const WebhookRow&) = default;
};

//! An outbox entry is pending until delivered (then deleted) or given up after the retry horizon
//! (failed: kept for inspection; a failed entry is never retried).
enum class DeliveryState : uint8_t { Pending, Failed };
std::string_view ToString(DeliveryState s); //!< "pending" | "failed"
std::optional<DeliveryState> ParseDeliveryState(std::string_view s);

//! One event owed to one webhook (the outbox). Deleted once delivered.
struct DeliveryRow {
    std::string webhook_id;
    int64_t event_seq{0};
    DeliveryState state{DeliveryState::Pending};
    int attempts{0};           //!< HTTP attempts made
    int64_t next_attempt_at{0};//!< unix milliseconds; 0 = now
    int64_t created_at{0};     //!< unix seconds of the event; the retry horizon counts from here
    std::optional<int> last_status; //!< HTTP status of the last attempt (none: no response)
    std::string last_error;
    friend bool operator==(const DeliveryRow&, const DeliveryRow&) = default;
};

//! Webhook writes, committed in one transaction.
struct WebhookChanges {
    std::vector<WebhookRow> webhooks;                            //!< insert or replace by id
    std::vector<DeliveryRow> deliveries;                         //!< insert or replace by (webhook_id, event_seq)
    std::vector<std::pair<std::string, int64_t>> delivered;      //!< (webhook_id, event_seq) rows to delete
    std::vector<std::string> removed;                            //!< webhook ids deleted with their deliveries
    //! As StateChanges::sync_in_background: for a delivery's bookkeeping (a power cut before the
    //! sync may deliver it again, as a crash before the commit would).
    bool sync_in_background{false};
    bool empty() const { return webhooks.empty() && deliveries.empty() && delivered.empty() && removed.empty(); }
};

//! Vault-state writes; inside a BlockBatch they commit with the cursor.
struct StateChanges {
    std::vector<VaultRow> vaults;          //!< insert or replace by idx
    std::vector<ApprovalRow> approvals;    //!< insert (id 0) or replace by id
    std::vector<VaultTxRow> vault_txs;     //!< insert (ignored if (height, pos) exists)
    std::vector<RecoveryRow> recoveries;   //!< insert or replace by txid
    std::vector<EventRow> events;          //!< appended, seq assigned
    std::vector<RescanRow> rescans;        //!< insert or replace by id
    std::vector<int64_t> rescans_done;     //!< rescan ids deleted
    std::vector<SightingRow> sightings;    //!< first sights (an existing one keeps the lower height)
    std::vector<FamilyRow> families;       //!< insert or replace by id
    //! false: committed to the WAL without waiting for the disk (a process crash loses nothing; a
    //! power cut may lose this commit until the next one that waits, which the caller makes right
    //! after). For a sweep planned in the mempool: it is written just after it is sent, and
    //! fsynced by the broadcaster's commit after the node's answer.
    bool wait_for_disk{true};
    //! With wait_for_disk: the commit returns once written, and the store's own thread syncs it
    //! (an fsync, 0.5-10 ms on this VM's disk and more on a busy one, does not hold the caller's
    //! thread, which answers triggers). For bookkeeping nothing waits on: the broadcaster's.
    bool sync_in_background{false};
    bool empty() const
    {
        return vaults.empty() && approvals.empty() && vault_txs.empty() && recoveries.empty() && events.empty() && rescans.empty() &&
               rescans_done.empty() && sightings.empty() && families.empty();
    }
};

//! Staged writes for one block, committed atomically with the cursor.
struct BlockBatch {
    Cursor new_cursor;
    //! Hash of each block now on our chain above the fork point (height -> hash), so a later
    //! reorg can find where we diverged without asking the node for history it may not keep.
    std::vector<std::pair<int, BlockHash>> connected;
    std::optional<int> disconnect_from; //!< forget remembered blocks and vault txs at heights >= this
    StateChanges state;
    //! Set by the listener when it could not read the block right (a vault's stored registration
    //! could not be read): nothing is committed and the block comes again, as after a store failure.
    std::optional<std::string> refused;
};

//! How the WAL was copied into the database file so far (SqliteStore).
struct StoreStats {
    uint64_t checkpoints_background{0}; //!< by the store's own thread, off every commit
    uint64_t checkpoints_inline{0};     //!< by a commit, when that thread fell far behind
    uint64_t wal_syncs_background{0};   //!< WAL syncs by that thread, for commits that did not wait
};

class Store
{
public:
    virtual ~Store() = default;
    virtual StoreStats Stats() const { return {}; }
    virtual Expected<Cursor, StoreError> LoadCursor() = 0;
    //! Returns: the hash we processed at height, if we remember it.
    virtual Expected<std::optional<BlockHash>, StoreError> BlockAt(int height) = 0;
    //! Commits the batch in one transaction (BEGIN IMMEDIATE ... COMMIT).
    virtual Expected<void, StoreError> Commit(const BlockBatch& batch) = 0;
    //! Commits changes not tied to a block (registration, approvals, mempool-time intents) in one
    //! transaction. Returns: the seq of each appended event, in order.
    virtual Expected<std::vector<int64_t>, StoreError> Apply(const StateChanges& changes) = 0;

    //! Rows with idx >= from, by idx, at most max of them; the idx must run on without a gap
    //! from `from` (else Corrupt).
    virtual Expected<std::vector<VaultRow>, StoreError> LoadVaults(uint32_t from = 0, size_t max = SIZE_MAX) = 0;
    //! What a cold start reads of the vault rows idx >= from (at most max, in idx order; a gap is
    //! Corrupt): f sees each row without its registration, as views valid during the call only.
    //! Returns: how many rows f saw.
    virtual Expected<size_t, StoreError> ScanVaults(uint32_t from, size_t max, const std::function<void(const VaultRowView&)>& f) = 0;
    //! Returns: the number of vault slots (the highest idx + 1; 0 when there is none).
    virtual Expected<size_t, StoreError> VaultSlots() = 0;
    //! Returns: the vault row at idx, or nullopt when there is none.
    virtual Expected<std::optional<VaultRow>, StoreError> LoadVault(uint32_t idx) = 0;
    virtual Expected<std::vector<ApprovalRow>, StoreError> LoadApprovals() = 0;  //!< by id
    virtual Expected<std::vector<VaultTxRow>, StoreError> LoadVaultTxs() = 0;    //!< by (height, pos)
    virtual Expected<std::vector<RescanRow>, StoreError> LoadRescans() = 0;      //!< by id
    virtual Expected<std::vector<SightingRow>, StoreError> LoadSightings() = 0;  //!< every first sight of a trigger
    virtual Expected<std::vector<FamilyRow>, StoreError> LoadFamilies() = 0;
    //! Testing: caps the database at max_pages pages (PRAGMA max_page_count), so that writes
    //! beyond it fail with Kind::Full as on a full disk. 0 = no cap.
    virtual Expected<void, StoreError> LimitPages(uint32_t max_pages) = 0;
    virtual Expected<std::vector<RecoveryRow>, StoreError> LoadRecoveries() = 0; //!< by created_at, txid
    //! Returns: up to limit events with seq > after_seq, oldest first.
    virtual Expected<std::vector<EventRow>, StoreError> LoadEvents(int64_t after_seq, size_t limit) = 0;
    //! Returns: the largest event seq ever assigned (0 when none).
    virtual Expected<int64_t, StoreError> LastEventSeq() = 0;

    // --- webhooks (the events table is the outbox's source) ---------------------------------
    virtual Expected<void, StoreError> ApplyWebhooks(const WebhookChanges& changes) = 0;
    virtual Expected<std::vector<WebhookRow>, StoreError> LoadWebhooks() = 0; //!< by created_at, id
    //! Returns: up to limit of the hook's deliveries in state, by event_seq.
    virtual Expected<std::vector<DeliveryRow>, StoreError> LoadDeliveries(const std::string& webhook_id, DeliveryState state,
                                                                         size_t limit) = 0;
    //! Returns: how many of the hook's deliveries are in state.
    virtual Expected<int64_t, StoreError> CountDeliveries(const std::string& webhook_id, DeliveryState state) = 0;
};

//! Opens (creating and migrating if needed) the SQLite database at path, in WAL mode.
Expected<std::unique_ptr<Store>, StoreError> OpenSqliteStore(const std::string& path);

} // namespace vw::store
