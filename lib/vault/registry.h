#pragma once
// The in-memory vault registry (docs/product.md §2, §4, §6): every registered vault as a compact
// record (id, policy, approvals, state, the UTXOs it is known to hold) and its keys in the
// WatchIndex the scanner/matcher look transactions up in, kept in sync with all of that. A
// vault's full registration (VaultDetails) is held only when something needs it: read through
// the DetailSource (the daemon's store) and forgotten again by TrimDetails (docs/architecture.md,
// "Memory"). Rebuilt at start from the compact forms the store keeps (AddCompact), in
// registration order, then its UTXOs re-tracked. Pure: no I/O but through the DetailSource, no
// clock, no logging.
//
// Vault indices. Each vault gets a dense uint32 index (its position in registration order), used
// as VaultRef::vault in the WatchIndex. A removed vault keeps its slot (state Removed, nothing
// indexed) so indices never move; re-registering the same content revives the same slot.
// VaultRef::MAX_VAULT itself is reserved for fee-wallet scriptPubKeys.
//
// Not thread-safe: one thread (the chain strand). Even reads are writes when they load details.

#include "crypto/secp.h"
#include "primitives/transaction.h"
#include "util/bytes.h"
#include "util/expected.h"
#include "util/uint256.h"
#include "vault/ccv.h"
#include "vault/opvault.h"
#include "vault/policy.h"
#include "vault/presigned.h"
#include "util/flat_table.h"
#include "vault/watch_index.h"

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vw::vault {

//! A vault's stable identifier: "v-" followed by 16 lowercase hex characters, the first 8 bytes of
//! TaggedHash("vaultwatch/VaultId", canonical registration content). Content = what defines the
//! coins being watched (opvault: internal key, leaves with depths and versions, recovery sPK,
//! recovery-auth public key; presigned: the watched outpoints, triggers with their delays and
//! recovery txs, emergency txs — sorted, so the order of the request does not matter). Label,
//! policy, birth height and secrets are not part of it. Equal content = equal id, which is how a
//! re-registration is detected.
class VaultId
{
public:
    //! Returns: the id if s is exactly "v-" + 16 lowercase hex characters, else nullopt.
    static std::optional<VaultId> Parse(std::string_view s);
    //! Returns: the id of a 32-byte content hash (first 8 bytes, in order).
    static VaultId FromContentHash(const Uint256& h);
    //! Returns: "v-" + 16 lowercase hex characters.
    std::string str() const;
    //! Ordered as the strings are (hex keeps the byte order).
    friend auto operator<=>(const VaultId&, const VaultId&) = default;
    friend bool operator==(const VaultId&, const VaultId&) = default;
    uint64_t Cheap64() const
    {
        uint64_t v = 0;
        for (uint8_t b : m_bytes) v = (v << 8) | b;
        return v;
    }

private:
    // The 8 bytes, not the string: a million vaults keep two ids each (record, id map) in memory.
    std::array<uint8_t, 8> m_bytes{};
};
struct VaultIdHasher {
    size_t operator()(const VaultId& id) const { return static_cast<size_t>(id.Cheap64()); }
};

//! Returns: the id an opvault spec would get (In: a spec; not validated here).
VaultId ComputeVaultId(const VaultSpec& spec);
//! Returns: the id a validated presigned vault would get.
VaultId ComputeVaultId(const PresignedVault& v);
//! Returns: the id a ccv vault of these parameters gets.
VaultId ComputeVaultId(const ccv::Params& p);

//! The opvault output key kept in the store beside the registration, so that a cold start need
//! not redo the taproot tweak (an EC multiplication per vault, ~75% of the load time). 42 bytes:
//! version 1, parity, x(Q), then 8 bytes of a tagged hash binding them to the vault id (itself a
//! hash of the content, checked at load), so a corrupt or misplaced cache is caught, not used.
Bytes EncodeOutputKeyCache(const VaultId& id, const crypto::TweakedKey& q);
//! Returns: the key, or nullopt if bytes are not the cache of vault id.
std::optional<crypto::TweakedKey> DecodeOutputKeyCache(const VaultId& id, ByteSpan bytes);

enum class VaultKind : uint8_t { OpVault, Presigned, Ccv };
std::string_view ToString(VaultKind k); //!< "opvault" | "presigned" | "ccv"
std::optional<VaultKind> ParseVaultKind(std::string_view s);

//! docs/product.md §6 vault states.
enum class VaultState : uint8_t { Active, Triggered, Recovering, Recovered, Withdrawn, Removed };
std::string_view ToString(VaultState s); //!< "active" | "triggered" | ... (RPC spelling)
std::optional<VaultState> ParseVaultState(std::string_view s);

//! Why a UTXO is tracked.
enum class UtxoRole : uint8_t {
    Deposit, //!< an output paying the opvault's scriptPubKey (not created by a trigger)
    Revault, //!< the revault output of a trigger (same sPK as the vault)
    Trigger, //!< an opvault trigger output, or an output of a presigned trigger that its recovery txs spend
    Watched, //!< a presigned vault's registered outpoint
};
std::string_view ToString(UtxoRole r); //!< "deposit" | "revault" | "trigger" | "watched"

//! What is needed to recover (or recognise the withdrawal of) a trigger output.
struct TriggerUtxoInfo {
    Txid trigger_txid;
    int64_t spend_delay{0};
    std::optional<Uint256> ctv_hash;             //!< opvault CTV withdraw leaves only
    std::optional<TriggerOutputTree> tree;        //!< opvault: the output's taptree and control blocks
    std::optional<size_t> presigned_trigger;      //!< presigned: index into PresignedVault::triggers
    std::optional<Bytes> ccv_data;                //!< ccv: the unvaulting output's data (CTV hash / withdrawal key)
};

struct TrackedUtxo {
    OutPoint outpoint;
    Amount amount;
    Bytes spk;
    UtxoRole role{UtxoRole::Deposit};
    std::optional<int> height;        //!< confirmation height; nullopt = seen in the mempool only (or unknown for Watched)
    std::optional<Txid> spent_by;     //!< a mempool transaction spending it (confirmed spends untrack the UTXO)
    std::optional<TriggerUtxoInfo> trigger; //!< role == Trigger
    friend bool operator==(const TrackedUtxo& a, const TrackedUtxo& b)
    {
        return a.outpoint == b.outpoint && a.amount == b.amount && a.spk == b.spk && a.role == b.role &&
               a.height == b.height && a.spent_by == b.spent_by;
    }
};

//! What a vault's registration defines beyond what the matcher and the decision need at every
//! transaction: the full opvault spec and its taproot tree, the recovery-auth secret, a presigned
//! vault's transactions. At scale it is not kept in memory for every vault: the registry asks its
//! DetailSource (the store) when a transaction touches the vault, and TrimDetails forgets it again.
struct VaultDetails {
    std::optional<Vault> opvault;                //!< kind == OpVault
    //! opvault with an authorized recover leaf, when the operator gave the secret. Never logged,
    //! never returned by RPC; the KeyPair wipes itself.
    std::optional<crypto::KeyPair> recovery_auth;
    std::optional<PresignedVault> presigned;     //!< kind == Presigned
    std::optional<ccv::Vault> ccv;               //!< kind == Ccv
};

//! A vault's label in 8 bytes (a std::string takes 32): most vaults have a short one, or none.
class Label
{
public:
    Label() = default;
    Label(std::string_view s) { Assign(s); } // NOLINT: implicit, as a string is
    Label(const Label& o) { Assign(o.view()); }
    Label(Label&&) noexcept = default;
    Label& operator=(const Label& o)
    {
        if (this != &o) Assign(o.view());
        return *this;
    }
    Label& operator=(Label&&) noexcept = default;
    Label& operator=(std::string_view s)
    {
        Assign(s);
        return *this;
    }
    std::string_view view() const
    {
        if (!m_p) return {};
        uint32_t n = 0;
        std::memcpy(&n, m_p.get(), sizeof n);
        return {m_p.get() + sizeof n, n};
    }
    std::string str() const { return std::string(view()); }
    operator std::string_view() const { return view(); } // NOLINT: reads as the string it is
    bool empty() const { return !m_p; }
    friend bool operator==(const Label& a, std::string_view b) { return a.view() == b; }
    friend std::ostream& operator<<(std::ostream& o, const Label& l) { return o << l.view(); }

private:
    void Assign(std::string_view s)
    {
        if (s.empty()) return m_p.reset();
        const auto n = static_cast<uint32_t>(s.size());
        m_p = std::make_unique<char[]>(sizeof n + s.size());
        std::memcpy(m_p.get(), &n, sizeof n);
        std::memcpy(m_p.get() + sizeof n, s.data(), s.size());
    }
    std::unique_ptr<char[]> m_p;
};

//! The part of a vault kept in memory for every vault (88 bytes, docs/architecture.md "Memory"):
//! identity, policy and state, the UTXOs it holds, and what the decision needs to know of its
//! registration without reading it (shortest delay, whether it can be recovered).
struct VaultRecord {
    VaultId id;
    VaultKind kind{VaultKind::OpVault};
    VaultState state{VaultState::Active};
    bool authorized_recover{false};  //!< opvault: the recover leaf needs a signature
    bool holds_recovery_auth{false}; //!< opvault: and the operator gave its secret
    int32_t min_spend_delay{0};      //!< the shortest spend delay of its trigger leaves / presigned triggers
    Policy policy;
    std::optional<int> birth_height;
    Label label;
    std::vector<TrackedUtxo> utxos;              //!< in the order they were first tracked

    //! The operator's approvals of its withdrawals (few vaults have any: kept apart).
    std::span<const Approval> approvals() const
    {
        return m_approvals ? std::span<const Approval>{*m_approvals} : std::span<const Approval>{};
    }

    //! Returns: the shortest spend delay of the vault (trigger leaves / presigned triggers), or 0.
    int64_t MinSpendDelay() const { return min_spend_delay; }
    //! Returns: the tracked UTXO with that outpoint, or nullptr.
    const TrackedUtxo* FindUtxo(const OutPoint& o) const;
    //! opvault vault the tower can sweep by itself: unauthorized recover leaf, or its secret held.
    //! ccv: always (its recover clause is keyless).
    bool CanRecoverAlone() const
    {
        return (kind == VaultKind::OpVault && (!authorized_recover || holds_recovery_auth)) || kind == VaultKind::Ccv;
    }

private:
    friend class Registry;
    uint32_t m_group_next{UINT32_MAX};       //!< next member of its recovery group (registry-internal)
    uint32_t m_group{UINT32_MAX};            //!< its recovery group (registry-internal; in padding: free)
    std::unique_ptr<std::vector<Approval>> m_approvals;
    mutable std::unique_ptr<VaultDetails> m_details; //!< loaded details, or null (registry-internal)
};

//! The keys an opvault vault is indexed under, without its details: enough to register it at a
//! cold start (EncodeCompactVault) and to match every transaction that touches it.
struct IndexedLeaf {
    uint8_t version{0};
    RefKind kind{RefKind::TriggerLeaf}; //!< TriggerLeaf | RecoverLeaf
    uint32_t script_size{0};
    uint64_t script_fp{0};              //!< WatchIndex::LeafFingerprint(version, script)
    Uint256 hash;                       //!< its TapLeaf hash
    friend bool operator==(const IndexedLeaf&, const IndexedLeaf&) = default;
};
struct OpVaultKeys {
    std::vector<IndexedLeaf> leaves;     //!< trigger and recover leaves, in tree order
    Bytes spk;                           //!< the vault's P2TR scriptPubKey
    Uint256 recovery_spk_hash;
    //! Its preimage, kept with the vault's recovery group so that a trigger can be answered
    //! without reading the registration (Registry::RebuildFromTrigger). Empty when not known: a
    //! compact form written before it was kept, or a ccv vault.
    Bytes recovery_spk;
    friend bool operator==(const OpVaultKeys&, const OpVaultKeys&) = default;
};
//! Returns: the keys of a built vault.
OpVaultKeys KeysOf(const Vault& v);
//! Returns: the keys of a ccv vault (its leaves and scriptPubKey; no recovery-sPK hash).
OpVaultKeys KeysOf(const ccv::Vault& v);

//! A vault as a cold start loads it without its details: the hot record's registration-defined
//! fields and its index keys. Kept in the store beside each registration (EncodeCompactVault).
struct CompactVault {
    VaultId id;
    int32_t min_spend_delay{0};
    bool authorized_recover{false};
    bool holds_recovery_auth{false};
    std::optional<int> birth_height;
    std::string label;
    OpVaultKeys keys;
};
//! The compact form, bound to the vault id by a tagged-hash check (like the output-key cache), so
//! that a corrupt or misplaced row is caught, not used. opvault only.
Bytes EncodeCompactVault(const CompactVault& c);
//! Returns: the compact vault, or nullopt if bytes are not the compact form of vault id.
std::optional<CompactVault> DecodeCompactVault(const VaultId& id, ByteSpan bytes);

//! Why a vault's details could not be read.
struct DetailError {
    std::string message;
    //! true: the store could not answer now (I/O, busy): the same read may succeed later.
    //! false: what it holds is not a registration of this vault (corrupt): it never will.
    bool transient{true};
};

//! Where the registry reads a vault's details it does not hold (the daemon: the store's row).
class DetailSource
{
public:
    virtual ~DetailSource() = default;
    //! Returns: the details of the vault at slot i (whose id is id), or why they cannot be had.
    virtual Expected<VaultDetails, DetailError> LoadDetails(uint32_t i, const VaultId& id) = 0;
};

struct OpVaultRegistration {
    VaultSpec spec;
    //! Secret of spec.recovery_auth_key, if the operator gave it (authorized recover leaf).
    std::optional<crypto::KeyPair> recovery_auth;
    std::string label;
    Policy policy;
    std::optional<int> birth_height;
    //! The output key the store kept for this vault (DecodeOutputKeyCache): spares the taproot
    //! tweak at cold start. Only from the store; nullopt for a new registration.
    std::optional<crypto::TweakedKey> known_output_key;
};

struct CcvRegistration {
    ccv::Params params;
    std::string label;
    Policy policy;
    std::optional<int> birth_height;
};

struct PresignedRegistration {
    PresignedVault vault; //!< already validated by ValidatePresigned
    std::string label;
    Policy policy;
    std::optional<int> birth_height;
};

enum class RegistryError {
    AlreadyRegistered, //!< same content as a live vault (`existing` says which)
    InvalidVault,      //!< the spec does not validate (message says why)
    AuthKeyMismatch,   //!< recovery_auth secret does not belong to spec.recovery_auth_key
    AuthKeyUnexpected, //!< recovery_auth given for an unauthorized recover leaf
    UnsafePolicy,      //!< CheckPolicy refused the policy for the vault's shortest delay
    TooManyVaults,     //!< no index left below VaultRef::MAX_VAULT
};
std::string_view ToString(RegistryError e);

struct AddError {
    RegistryError code{RegistryError::InvalidVault};
    std::string message;              //!< operator-facing
    std::optional<VaultId> existing;  //!< AlreadyRegistered
};

struct AddResult {
    uint32_t index{0};
    VaultId id;
};

//! A registration validated and built into its record: the pure and costly half of adding a vault
//! (taproot tree, tweak, id, checks), independent of any registry, so that a cold start can
//! prepare on several threads and add in order (Registry::Add).
struct PreparedVault {
    VaultRecord record;
    VaultDetails details;
};
//! Returns: the compact form of an opvault vault (nullopt for presigned ones).
std::optional<CompactVault> CompactOf(const VaultRecord& rec, const VaultDetails& d);
//! Returns: the prepared vault, or the error AddOpVault gives for its content.
Expected<PreparedVault, AddError> PrepareOpVault(OpVaultRegistration reg);
//! Returns: the prepared vault, or the error AddPresigned gives for its content.
Expected<PreparedVault, AddError> PreparePresigned(PresignedRegistration reg);
//! Returns: the prepared vault, or the error AddCcv gives for its content.
Expected<PreparedVault, AddError> PrepareCcv(CcvRegistration reg);

//! A registered presigned trigger, found by its txid.
struct PresignedTriggerRef {
    uint32_t vault{0};
    size_t trigger{0}; //!< into PresignedVault::triggers
};

class Registry
{
public:
    Registry() = default;
    Registry(Registry&&) noexcept = default;
    Registry& operator=(Registry&&) noexcept = default;

    //! Validates (Vault::FromSpec, auth key, policy) and registers an opvault vault; indexes its
    //! trigger and recover leaves (with scripts) and its scriptPubKey.
    //! Returns: the index and id, or an error; on error nothing changes.
    Expected<AddResult, AddError> AddOpVault(OpVaultRegistration reg);
    //! Registers a validated presigned vault; indexes its watched outpoints (tracked as Watched
    //! UTXOs with unknown amount) and remembers its trigger txids.
    Expected<AddResult, AddError> AddPresigned(PresignedRegistration reg);
    //! Validates (ccv::Vault::FromParams, policy) and registers a ccv vault; indexes its trigger,
    //! trigger_and_revault and recover leaves and its scriptPubKey. Its recover leaf is shared by
    //! every vault of the same recovery key, but it joins no recovery group (that is opvault's
    //! preimage exposure; a ccv recover reveals nothing the scripts do not already show).
    Expected<AddResult, AddError> AddCcv(CcvRegistration reg);
    //! Adds a prepared vault: AlreadyRegistered / TooManyVaults, else its slot (a removed vault
    //! of the same id is revived in place) and its index entries.
    Expected<AddResult, AddError> Add(PreparedVault p);
    //! Adds a vault from its compact form, without its details (a cold start): AlreadyRegistered /
    //! TooManyVaults, else its slot and index entries; its details come from the DetailSource.
    //! removed: the slot of a removed vault (nothing indexed).
    Expected<AddResult, AddError> AddCompact(const CompactVault& c, const Policy& policy, bool removed = false);
    //! Room for n vaults in the records and the id map (a cold start knows how many come).
    void Reserve(size_t n);
    //! Forgets what the chain did to every vault: states back to Active (Removed stays), UTXOs
    //! back to what registration tracks (a presigned vault's watched outpoints), their index
    //! entries with them; registrations, policies and approvals are kept. For a replay of the
    //! stored history (a reorg, a transaction leaving the mempool) without re-registering.
    //! Returns: how many vaults had anything to forget (the others cost one check each).
    size_t ResetChainState();

    //! Marks the vault Removed and takes every key of it out of the index (UTXOs forgotten).
    //! Returns: false if no such live vault.
    bool Remove(const VaultId& id);

    std::optional<uint32_t> Find(const VaultId& id) const;
    //! Returns: the record at index i (including Removed ones), or nullptr past the end.
    const VaultRecord* Get(uint32_t i) const { return i < m_vaults.size() ? &m_vaults[i] : nullptr; }
    //! Returns: the details of vault i, read from the DetailSource if they are not held; nullptr
    //! past the end, for a removed vault, or when the source fails (TakeDetailError says why: the
    //! caller must not take "no details" for "not a vault of that kind"). Pointers stay valid
    //! until TrimDetails or Remove. Loading makes this a writer: one thread only.
    const VaultDetails* Details(uint32_t i) const;
    //! Vault i's details rebuilt without the DetailSource, from memory and the witness of an input
    //! spending its output through a trigger leaf: the witness gives the internal key and the
    //! trigger leaf, the vault's recovery group its recovery scriptPubKey. A trigger is then
    //! answered without a read of the store, which on a host that evicts cold file pages is a
    //! disk read of up to 2 ms. For an opvault vault of two leaves (a trigger leaf and an
    //! unauthorized recover leaf) whose recovery scriptPubKey is held; nullopt otherwise, and
    //! unless the rebuilt vault has vault i's id and the output key indexed under it (a forged
    //! witness cannot commit to that key). Reads only: helpers may call it together.
    //! spent_key: the key of the output the witness spends, when a node that validated the spend
    //! vouches that the witness commits to it (a block, the node's mempool) and it is vault i's
    //! (a tracked UTXO): the EC tweak is not done again. Else it is, and checked.
    std::optional<VaultDetails> RebuildFromTrigger(uint32_t i, const std::vector<Bytes>& witness,
                                                   const crypto::TweakedKey* spent_key = nullptr) const;
    //! Details(i), rebuilt from witness when it can be (RebuildFromTrigger), else read.
    const VaultDetails* DetailsForTrigger(uint32_t i, const std::vector<Bytes>& witness, const crypto::TweakedKey* spent_key = nullptr) const;
    //! Holds d (RebuildFromTrigger's, made on helper threads) as vault i's details, as Details
    //! does after a read. Returns: false (nothing held) for a removed vault, past the end, or
    //! details of another kind.
    bool HoldRebuilt(uint32_t i, VaultDetails d) const;
    //! Returns: how many details were rebuilt from a trigger's witness instead of read.
    uint64_t DetailsRebuilt() const { return m_details_rebuilt; }
    //! Returns: the first failure of the DetailSource since the last call, and forgets it.
    std::optional<DetailError> TakeDetailError() const;
    void SetDetailSource(DetailSource* source) { m_source = source; }
    //! Forgets the details of vaults that do not need them at hand (opvault vaults that are Active
    //! with no tracked trigger output), while more than keep are held. Returns: how many.
    size_t TrimDetails(size_t keep = 0);
    //! Returns: how many vaults have their details in memory.
    size_t DetailsHeld() const { return m_details_held; }
    //! Whether vault i's details are in memory now (Details would not read them).
    bool HoldsDetails(uint32_t i) const { return i < m_vaults.size() && m_vaults[i].m_details != nullptr; }
    //! Number of slots (live + removed).
    size_t size() const { return m_vaults.size(); }
    //! What a scrape and the fee reserve ask of every vault, kept as the records change: walking
    //! 10,000,000 records on the thread that answers triggers is 30-50 ms.
    struct Tally {
        std::array<std::array<uint64_t, 6>, 3> by_kind_state{}; //!< [VaultKind][VaultState]
        uint64_t sweepable{0};  //!< not removed, not alert-only, swept by the tower alone (CanRecoverAlone)
        uint64_t sweepable_batched{0}; //!< of those, authorized opvault or ccv (a sweep with change)
        friend bool operator==(const Tally&, const Tally&) = default;
    };
    const Tally& tally() const { return m_tally; }
    //! Counts them again from every record (for tests).
    Tally Recount() const;
    const WatchIndex& index() const { return m_index; }

    //! Returns: the live opvault vaults whose recover leaf commits to recovery_spk_hash, in index
    //! order (the "recovery group": revealing the preimage exposes all of them).
    std::vector<uint32_t> RecoveryGroup(const Uint256& recovery_spk_hash) const;
    //! Returns: the live presigned triggers with that txid (normally at most one).
    std::span<const PresignedTriggerRef> FindPresignedTrigger(const Txid& txid) const;

    // --- state the policy stage / daemon changes ---------------------------------------------
    bool SetState(uint32_t i, VaultState s);
    bool SetPolicy(uint32_t i, const Policy& p);
    bool AddApproval(uint32_t i, const Approval& a);
    std::vector<Approval>* MutableApprovals(uint32_t i);

    // --- UTXO tracking (normally through ApplyEvents in matcher.h) -----------------------------
    //! Tracks u for vault i and indexes its outpoint (VaultOutpoint, or TriggerOutpoint for role
    //! Trigger). If the outpoint is already tracked: fills in a height it did not have, keeps the rest.
    //! Returns: false for a removed/unknown vault.
    bool TrackUtxo(uint32_t i, TrackedUtxo u);
    //! A spend of vault i's outpoint o by txid. Confirmed (height set): the UTXO is untracked and
    //! unindexed. Mempool: it stays tracked and indexed with spent_by = txid (so the confirmation is
    //! matched again). Watched (presigned) outpoints stay indexed even when confirmed spent, since
    //! they are registration data. Returns: whether o was tracked.
    bool SpendUtxo(uint32_t i, const OutPoint& o, const Txid& txid, std::optional<int> height);

    // --- fee wallet ---------------------------------------------------------------------------
    //! Replaces the fee wallet's scriptPubKeys; they are indexed under FeeWalletRef() so that the
    //! scanner reports outputs paying them.
    void SetFeeWalletSpks(std::vector<Bytes> spks);
    const std::vector<Bytes>& FeeWalletSpks() const { return m_fee_spks; }
    static constexpr VaultRef FeeWalletRef() { return VaultRef{VaultRef::MAX_VAULT, RefKind::Other}; }

private:
    Expected<uint32_t, AddError> Slot(const VaultId& id);
    //! Puts rec at slot (Slot's answer: a removed vault's, or the next one).
    uint32_t Place(uint32_t slot, VaultRecord rec);
    void IndexKeys(uint32_t i, const OpVaultKeys& keys, bool join_group = true);
    void IndexVault(uint32_t i);
    void UnindexVault(uint32_t i, const VaultDetails& d);
    void JoinGroup(uint32_t i, const Uint256& h, ByteSpan recovery_spk);
    void LeaveGroup(uint32_t i, const Uint256& h);
    void IndexUtxo(uint32_t i, const TrackedUtxo& u);
    void UnindexUtxo(uint32_t i, const TrackedUtxo& u);

    //! Every change of a record's kind, state, policy or authorization goes through Place, Remove,
    //! SetState, SetPolicy or ResetChainState, which take it out of the tally and put it back.
    void Count(const VaultRecord& r, int sign);

    std::vector<VaultRecord> m_vaults;
    Tally m_tally;
    //! Slots by vault id: an open-addressing table of slot numbers (the ids are in m_vaults).
    FlatTable m_by_id;
    WatchIndex m_index;
    std::vector<Bytes> m_fee_spks;
    //! Recovery groups: the hash, the head of its members' list (VaultRecord::m_group_next), and
    //! the recovery scriptPubKey it is the hash of, when known and at most 34 bytes (P2TR, P2WSH
    //! and shorter: every standard one). A custodian's vaults share a few; each distinct one costs
    //! 36 bytes.
    struct Group {
        Uint256 hash;
        uint32_t head{UINT32_MAX};
        uint32_t size{0};
        uint8_t spk_size{0}; //!< 0: not known
        std::array<uint8_t, 34> spk{};
    };
    //! Keeps spk as the recovery scriptPubKey of vault i's group if it has none yet.
    void LearnRecoverySpk(uint32_t i, ByteSpan spk) const;
    mutable std::vector<Group> m_groups; // mutable: a read of details may teach a group its scriptPubKey
    FlatTable m_group_by_hash; //!< into m_groups
    std::vector<uint32_t> m_free_groups;
    std::unordered_map<Txid, std::vector<PresignedTriggerRef>, HashIdHasher> m_presigned;
    DetailSource* m_source{nullptr};
    mutable size_t m_details_held{0};
    mutable uint64_t m_details_rebuilt{0};
    mutable std::optional<DetailError> m_detail_error;
};

} // namespace vw::vault
