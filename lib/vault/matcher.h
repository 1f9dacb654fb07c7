#pragma once
// The matcher (detect, then decide, then act): turns one transaction into the
// vault events it causes (docs/product.md §2), purely, against a const Registry. Nothing here decides
// what to do (policy.h) or talks to the node. The bookkeeping those events imply (ApplyEvents) and
// the recovery transactions a trigger calls for (PlanRecovery) are in planner.h.
//
// What is matched, per transaction:
//   outputs  paying an opvault's sPK                  -> Deposit (unless it is a trigger's revault output)
//            paying a fee-wallet sPK                  -> FeeWalletCoin
//   inputs   script path, registered trigger leaf     -> Trigger, once the control block + leaf are
//            (opvault)                                   shown to commit to the vault's output key;
//                                                        inputs sharing a trigger output form ONE event
//            script path, registered recover leaf     -> Recovery, once the control block + leaf commit
//                                                        to the vault's key or a tracked trigger output's key
//            spend of a tracked trigger output        -> WithdrawalCompleted (its withdraw leaf, committed
//            through any other leaf                      to the trigger output key), else UnexpectedSpend
//            spend of a tracked vault UTXO not        -> UnexpectedSpend (key path, foreign leaf, ...)
//            explained above
//            spend of a presigned watched outpoint    -> Trigger if the txid is a registered trigger of
//                                                        that vault, Recovery if it is one of its
//                                                        emergency txs, else UnexpectedSpend
//            spend of a presigned trigger output      -> Recovery if the txid is one of that trigger's
//                                                        recovery variants, else WithdrawalCompleted
// A leaf match is resolved by the output key the control block and leaf commit to (one EC tweak per
// input), looked up among the vaults' scriptPubKeys and the tracked trigger outputs: a leaf shared
// by many vaults costs no more than a unique one. A match that opens no registered vault's output
// (a forgery, or another watchtower's vault with the same leaf) is ignored and counted in MatchStats.
//
// Events are ordered: outputs-derived Deposit/FeeWalletCoin come after the input events, input
// events in input order (a Trigger at its first input), each group by vault index.

#include "primitives/transaction.h"
#include "vault/fees.h"
#include "vault/opvault.h"
#include "vault/presigned.h"
#include "vault/recovery.h"
#include "vault/registry.h"
#include "vault/watch_index.h"

#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <vector>

namespace vw::vault {

enum class EventKind : uint8_t {
    Deposit,             //!< an output paying an opvault's scriptPubKey
    Trigger,             //!< a vault was triggered (opvault trigger leaf / presigned unvault tx)
    Recovery,            //!< a UTXO of ours went through the recover leaf (or a pre-signed recovery)
    WithdrawalCompleted, //!< a trigger output was spent the way the trigger announced
    UnexpectedSpend,     //!< a tracked UTXO was spent any other way
    FeeWalletCoin,       //!< an output paying the fee wallet
};
std::string_view ToString(EventKind k); //!< "deposit", "trigger", ...

//! Why an event is flagged: the node would reject the transaction (it can only reach us from a
//! peer that does not enforce the rules, or a non-OP_VAULT chain). Still reported, still alerted.
enum class Flaw : uint8_t {
    None,
    MalformedWitness,      //!< a recognised leaf whose witness does not parse (vault_error says why)
    TriggerOutputMismatch, //!< vout[trigger idx] is not the trigger output the leaf-update implies
    CheckFailed,           //!< a consensus/policy check failed (check_error says which)
};
std::string_view ToString(Flaw f);

struct RevaultOutput {
    OutPoint outpoint;
    Amount amount;
    uint32_t vault{0}; //!< the vault whose input declared it
    Bytes spk;         //!< what it pays (the vault's own scriptPubKey unless the event is flagged)
    friend bool operator==(const RevaultOutput&, const RevaultOutput&) = default;
};

struct VaultEvent {
    EventKind kind{EventKind::Deposit};
    Txid txid;                       //!< of the matched transaction
    std::optional<int> height;       //!< block height; nullopt = mempool
    std::vector<uint32_t> vaults;    //!< registry indices concerned, ascending (empty for FeeWalletCoin)
    std::vector<uint32_t> inputs;    //!< input indices concerned (spends), ascending
    std::vector<OutPoint> spent;     //!< the prevouts of `inputs`, aligned

    //! Deposit/FeeWalletCoin: the new output. Trigger: the trigger output (opvault, when the
    //! witness parsed). Other spends: the UTXO spent (first of `inputs`), amount/spk if tracked.
    OutPoint outpoint;
    Amount amount;                   //!< when known (outputs; tracked UTXOs)
    Bytes spk;

    // --- Trigger ---
    std::optional<Uint256> ctv_hash;       //!< opvault CTV withdraw leaf
    std::optional<int64_t> spend_delay;    //!< opvault: from the leaf; presigned: registered
    std::optional<TriggerOutputTree> tree; //!< opvault: the trigger output's tree (recover it with tree->recover_cb)
    std::vector<RevaultOutput> revaults;
    std::optional<size_t> presigned_trigger; //!< presigned: index into PresignedVault::triggers
    std::vector<uint32_t> presigned_outputs; //!< presigned: vouts of the trigger its recovery txs spend
    std::vector<TxOut> presigned_txouts;     //!< presigned: those outputs, aligned

    // --- Recovery ---
    std::optional<uint32_t> recovery_vout;  //!< opvault: the recovery output index from the witness
    bool authorized{false};                 //!< opvault authorized recover leaf
    bool from_trigger_output{false};        //!< the spent UTXO is a trigger output
    bool emergency{false};                  //!< presigned: one of the vault's emergency txs

    // --- UnexpectedSpend ---
    bool key_path{false};                   //!< the spend used the taproot key path

    Flaw flaw{Flaw::None};
    std::optional<VaultError> vault_error;  //!< Flaw::MalformedWitness / TriggerOutputMismatch
    std::optional<TxCheckError> check_error; //!< Flaw::CheckFailed

    // --- ccv ---
    std::optional<Bytes> ccv_data;           //!< Trigger: the unvaulting output's data (CTV hash / withdrawal key)
    std::optional<ccv::CcvError> ccv_error;  //!< Flaw::MalformedWitness of a ccv clause
    std::optional<ccv::TxRule> ccv_rule;     //!< Flaw::TriggerOutputMismatch / CheckFailed of a ccv clause

    bool malformed() const { return flaw != Flaw::None; }
};

struct MatchStats {
    uint64_t leaf_matches{0};       //!< inputs spending through a registered leaf script
    uint64_t unconfirmed_leaves{0}; //!< of those, inputs whose control block opens no registered vault's output (ignored)
    uint64_t events{0};
    uint64_t output_keys_derived{0}; //!< spent outputs' keys computed from a control block (an EC tweak each)
};

struct MatchOptions {
    //! Optional: the outputs spent by the transaction, aligned with vin. When given, the full
    //! transaction-level checks (CheckTriggerTx / CheckRecoveryTx, including signatures and the
    //! deferred sums) flag events; otherwise only the checks that need no unknown amounts run.
    std::span<const TxOut> prevouts;
    MatchStats* stats{nullptr};
    //! The transaction's script-path spends were checked by a node (BIP-341: a control block
    //! commits to the key of the output it spends): so a tracked UTXO names its vaults without an
    //! EC tweak. Always so in a block; the engine says so for what the node's mempool holds.
    bool spends_checked{false};
    //! Trigger output keys computed ahead (a block's, on every core); null: each derived here.
    const taproot::OutputKeyMemo* output_keys{nullptr};
};

//! Returns: the events tx causes against registry (see the table above). block_height: the
//! height of the block containing tx, or nullopt for a mempool transaction (then BIP-68 maturity
//! of withdrawals is not judged). Pure; never fails (malformed transactions give flagged events
//! or nothing).
//! Named MatchTx, not Match: vault::Match is the scanner's match record (watch_index.h).
std::vector<VaultEvent> MatchTx(const Transaction& tx, const Registry& registry, std::optional<int> block_height,
                                const MatchOptions& opts = {});

//! Returns: whether tx touches the index at all (a watched outpoint spent, a registered leaf
//! used, a watched scriptPubKey paid): index lookups only, no registration read and no EC work.
//! MatchTx gives no event for a transaction this says false for.
bool TouchesIndex(const Transaction& tx, const WatchIndex& index);

//! The same, from the scanner's precomputed matches for this transaction (ScanBlock /
//! ScanTransaction output filtered to tx's tx_index; other entries are ignored), so the block path
//! does not look everything up again. In: matches were produced against registry.index() as it is now.
std::vector<VaultEvent> MatchTx(const Transaction& tx, const Registry& registry, std::optional<int> block_height,
                                std::span<const vault::Match> matches, const MatchOptions& opts = {});

} // namespace vw::vault
