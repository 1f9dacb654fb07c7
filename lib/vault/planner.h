#pragma once
// After the matcher (matcher.h): the registry bookkeeping a transaction's events imply
// (ApplyEvents), and the recovery transactions a trigger calls for (PlanRecovery and its
// relatives: the operator's panic button, fee inputs, batching across triggers, RBF and
// pre-signed fee ladders). Pure: a Registry in, transactions out; nothing here talks to the node
// or decides whether to recover (policy.h).

#include "vault/lifecycle.h"
#include "vault/matcher.h"

#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace vw::vault {

//! Updates registry for events (in order): Deposit -> track (Deposit); Trigger -> the spent vault
//! UTXOs are spent, the trigger output(s) and revault outputs tracked, vaults -> Triggered;
//! Recovery / WithdrawalCompleted / UnexpectedSpend -> the spent UTXO is spent (see
//! Registry::SpendUtxo: confirmed spends untrack, mempool spends mark spent_by). Confirmed
//! Recovery leaving a vault with no live UTXO -> Recovered; confirmed WithdrawalCompleted ->
//! Withdrawn if no live UTXO is left, else Active. A Deposit to a Recovered/Withdrawn vault makes
//! it Active again. Flagged (malformed) events change nothing in the mempool; in a block, what
//! they spent is spent all the same (the chain is the truth). Idempotent for a repeated event.
void ApplyEvents(Registry& registry, std::span<const VaultEvent> events);

// --- Recovery planning --------------------------------------------------------------------------


struct PlannedRecovery {
    PlanKind kind{PlanKind::OpVaultUnauthorized};
    MutableTransaction tx;
    std::vector<RecoveryInput> inputs;  //!< opvault: the swept UTXOs, in tx input order
    std::vector<TxOut> spent;           //!< opvault: SpentOutputs(inputs, options) (aligned with vin)
    std::vector<uint32_t> vaults;       //!< vaults whose UTXOs it sweeps, ascending
    std::optional<size_t> variant;      //!< presigned: index into the trigger's recovery_txs
};

enum class PlanError {
    NotATrigger,      //!< the event is not a Trigger of a registered vault
    Malformed,        //!< the trigger is flagged: there is nothing valid to recover from it
    NoAuthKey,        //!< authorized recover leaf but no recovery_auth secret registered
    NothingToSweep,   //!< no live UTXO found (already recovered/spent)
    NoVariant,        //!< presigned: no variant meets min_fee
    BuildFailed,      //!< the recovery builder refused (build_error says why)
    NoSuchVault,      //!< PlanVaultRecovery: no live vault at that index
    NoDetails,        //!< a vault's registration could not be read (Registry::TakeDetailError says why)
};
std::string_view ToString(PlanError e);

struct PlanFailure {
    PlanError error{PlanError::NotATrigger};
    std::optional<RecoveryError> build_error;
};

//! bitcoind's MAX_STANDARD_TX_WEIGHT (400,000) less one P2TR key-path fee input (230 WU), one
//! P2TR change output (172 WU) and slack.
inline constexpr size_t MAX_RECOVERY_WEIGHT = 400'000 - 1'000;

struct PlanOptions {
    RecoveryOptions recovery;            //!< nSequence 0, version 2, OP_2 anchor by default; fee inputs
    std::optional<TxOut> change;         //!< authorized only
    std::optional<Uint256> aux;          //!< BIP-340 aux randomness for authorized signatures
    //! Presigned: the smallest fee (sats) the variant must pay; the cheapest variant meeting it is
    //! chosen (variants whose fee can not be computed from the trigger tx count as meeting it).
    Amount min_fee{0};
    //! Presigned: when set, choose by feerate instead (vault::ChooseRung): the cheapest variant
    //! paying at least this rate, else the best there is. Never NoVariant for a non-empty ladder.
    std::optional<FeeRate> min_feerate;
    //! Authorized opvault: also sweep the other live UTXOs of the triggered vaults' recovery
    //! groups (off by default: an authorized leaf reveals nothing an attacker can use).
    bool authorized_sweep_group{false};
    //! opvault: the most weight units one recovery may have; a sweep above it is split into
    //! consecutive, equal chunks (deterministic: the same inputs give the same transactions).
    //! Default: the standard 400,000 WU less room for a fee input and a change output.
    size_t max_weight{MAX_RECOVERY_WEIGHT};
    //! PlanRecovery: sweep only confirmed UTXOs, plus the trigger's own outputs (trigger and
    //! revault). An unconfirmed deposit is not the tower's to rely on: whoever made it can replace
    //! it (the sweep is evicted with it) or pin the sweep behind it.
    bool confirmed_only{false};
    //! PlanRecovery: outpoints not to sweep (a live recovery already spends them). A question, not
    //! a set: the engine answers it from its indexes, as building the set was a pass over every
    //! live recovery and trigger per decision.
    std::function<bool(const OutPoint&)> exclude;
};

//! Plans the recovery a Trigger event calls for (call after ApplyEvents for that event, so the
//! trigger and revault outputs are tracked). One transaction per recovery group (unauthorized) or
//! per recovery-auth key (authorized); usually exactly one.
//!  - opvault, unauthorized: the whole group sharing the revealed recovery-sPK hash: every live
//!    UTXO (trigger outputs, revault outputs, untouched deposits) of every live vault of the group,
//!    as one BuildUnauthorizedRecovery (defaults: anchor on, nSequence 0).
//!  - opvault, authorized: the trigger output(s) and revault outputs of the event (plus the
//!    group if asked), BuildAuthorizedRecovery with the vault's recovery_auth key.
//!  - presigned: the cheapest recovery variant of that trigger meeting opts.min_fee.
//! Input order (deterministic, so a re-plan after restart gives the same txid): vaults by
//! ascending registry index; within a vault its live UTXOs by (outpoint txid bytes, n); a UTXO
//! shared by several vaults (a batched trigger output) appears once, at its first vault. UTXOs
//! spent in the mempool (spent_by set) are skipped. This reproduces the reference node's
//! "vaults in registration order, each as its trigger output if triggered" order.
Expected<std::vector<PlannedRecovery>, PlanFailure> PlanRecovery(const Registry& registry, const VaultEvent& trigger,
                                                                 const PlanOptions& opts = {});

//! Plans the operator's panic button (recovervault): sweep every live UTXO of one vault now,
//! whatever its policy and approvals say. UTXOs already spent in the mempool (spent_by, e.g. by a
//! recovery in flight) are left to that transaction.
//!  - opvault, unauthorized: the vault's whole recovery group, as PlanRecovery does (the recover
//!    leaf reveals the group's recovery sPK, so every UTXO sharing it is swept together).
//!  - opvault, authorized: every live UTXO of this vault, signed with its recovery_auth.
//!  - presigned: for each live trigger output, the cheapest recovery variant of its trigger
//!    meeting opts.min_fee; for the live watched outpoints, the emergency txs (in registration
//!    order) whose watched inputs are all live and not taken by an earlier one.
//! Returns: the plans, or NoSuchVault, NoAuthKey, NothingToSweep (nothing live, or nothing
//! pre-signed spends what is live), BuildFailed.
Expected<std::vector<PlannedRecovery>, PlanFailure> PlanVaultRecovery(const Registry& registry, uint32_t vault,
                                                                      const PlanOptions& opts = {});

//! Adds a fee input to an OP_VAULT plan (rebuilding it with the same recovery inputs): for an
//! unauthorized plan the whole fee coin goes to fees (policy allows no change); an authorized one
//! may take a change output. signer signs the fee input (the fee wallet's key path). The recovery
//! inputs' witnesses are rebuilt (authorized: signed again, the sighash commits to every input).
//! Returns: the new plan, or NotATrigger for a presigned plan, NoAuthKey, BuildFailed (also for
//! a change output on an unauthorized plan).
//! The same with several fee inputs (each spent whole by an unauthorized plan).
Expected<PlannedRecovery, PlanFailure> WithFeeInputs(const Registry& registry, const PlannedRecovery& plan, std::vector<FeeInput> fees,
                                                     const std::optional<TxOut>& change, const FeeSigner& signer,
                                                     const RecoveryOptions& base = {}, const std::optional<Uint256>& aux = std::nullopt);
Expected<PlannedRecovery, PlanFailure> WithFeeInput(const Registry& registry, const PlannedRecovery& plan, const FeeInput& fee,
                                                    const std::optional<TxOut>& change, const FeeSigner& signer,
                                                    const RecoveryOptions& base = {}, const std::optional<Uint256>& aux = std::nullopt);

//! Returns: the rungs of a presigned trigger's ladder (aligned with trig.recovery_txs): each
//! variant's fee from value_of (the value of each input it spends; unknown -> unknown fee), vsize.
std::vector<Rung> PresignedLadder(const PresignedTrigger& trig, const std::function<std::optional<Amount>(const OutPoint&)>& value_of);

//! Batching across triggers: the authorized OP_VAULT plans of one pass (several trigger events at
//! once, a mass exit) that sign with the same recovery-auth key become one transaction, with one
//! recovery output per recovery group (BIP-345 lets an authorized recovery carry several groups;
//! an unauthorized one may carry only its own, by policy), split deterministically under
//! opts.max_weight. Inputs keep their order of first appearance; a UTXO in two plans is swept once.
//! Other plans, and a key with a single plan, pass through unchanged (in their order, merged ones
//! after them). No fee input is added (the caller funds the results).
//! Returns: the plans, or the first build failure.
Expected<std::vector<PlannedRecovery>, PlanFailure> MergeAuthorizedPlans(const Registry& registry, std::vector<PlannedRecovery> plans,
                                                                         const PlanOptions& opts = {});

//! The plan of an OP_VAULT recovery we built, read back from its transaction, to fund it again
//! with a bigger fee (RBF): the recovery inputs are its script-path inputs, each a UTXO tracked by
//! one of `vaults` (prevout from the registry; leaf and control block from the witness), in
//! transaction order; key-path inputs were fee inputs and are left out. The kind follows the
//! recover leaf (authorized or not).
//! Returns: the plan (tx = the given one), or NothingToSweep when a recovery input is no longer
//! tracked (spent by a confirmed transaction), NotATrigger when an input is no recover spend or
//! there is none.
Expected<PlannedRecovery, PlanFailure> PlanOfRecoveryTx(const Registry& registry, const Transaction& tx, std::span<const uint32_t> vaults);

//! Fee escalation of a pre-signed recovery: the next variant of trigger_txid's ladder above the
//! variant `current` (vault::NextRung; fees from the trigger outputs the registry tracks), or
//! nullopt at the top, for an unknown variant or when the fees cannot be told.
std::optional<PlannedRecovery> NextPresignedVariant(const Registry& registry, uint32_t vault, const Txid& trigger_txid, const Txid& current);

} // namespace vw::vault
