#pragma once
// BIP-443 (OP_CHECKCONTRACTVERIFY) vaults: the "MATT vault" (a vault UTXO triggered into an
// unvaulting UTXO that commits, through CCV's data tweak, to what may be withdrawn after a
// relative delay; a keyless recover clause on both). Two constructions share the vault tree and
// differ in the unvaulting "withdraw" leaf:
//   ctv            Merkleize/pymatt examples/vault: the data is a BIP-119 template hash and the
//                  withdrawal is the CTV transaction;
//   withdrawal-key the node's feature_checkcontractverify_vaults.py: the data is an x-only key and
//                  the withdrawal sends everything to `OP_1 <key>`.
// Everything here is pure: parameters or bytes in, values or typed errors out.

#include "crypto/secp.h"
#include "primitives/transaction.h"
#include "script/taproot.h"
#include "util/bytes.h"
#include "util/expected.h"
#include "util/uint256.h"
#include "vault/recovery.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vw::vault::ccv {

//! OP_CHECKCONTRACTVERIFY is OP_SUCCESS187 redefined.
inline constexpr uint8_t OP_CHECKCONTRACTVERIFY = 0xbb;
//! The modes BIP-443 defines; any other value makes the opcode succeed (anyone can spend).
inline constexpr int64_t MODE_CHECK_INPUT = -1;
inline constexpr int64_t MODE_CHECK_OUTPUT = 0;
inline constexpr int64_t MODE_CHECK_OUTPUT_IGNORE_AMOUNT = 1;
inline constexpr int64_t MODE_CHECK_OUTPUT_DEDUCT_AMOUNT = 2;

//! BIP-341's provably unspendable x-only key, which CCV substitutes for a `0` pk.
const crypto::XOnlyPubKey& NumsKey();

enum class Construction : uint8_t { Ctv, WithdrawalKey };
std::string_view ToString(Construction c); //!< "ctv" | "withdrawal-key"
std::optional<Construction> ParseConstruction(std::string_view s);

//! A vault's parameters: everything its scriptPubKey commits to.
struct Params {
    Construction construction{Construction::Ctv};
    //! The key-path key; nullopt = the NUMS key (no key path). A real key here spends the vault
    //! and its unvaulting outputs without trigger or delay: Validate() refuses it.
    std::optional<crypto::XOnlyPubKey> alternate_key;
    int64_t spend_delay{0};
    crypto::XOnlyPubKey recover_key; //!< recoveries pay exactly `OP_1 <recover_key>`
    crypto::XOnlyPubKey unvault_key; //!< signs triggers
    bool partial_revault{true};      //!< has the trigger_and_revault clause
    bool early_recover{true};        //!< the vault UTXO itself has the recover clause
};

enum class Clause : uint8_t { Trigger, TriggerAndRevault, Recover, Withdraw };
std::string_view ToString(Clause c); //!< "trigger" | "trigger_and_revault" | "recover" | "withdraw"

//! Leaf scripts, byte for byte as both reference constructions write them.
Bytes MakeTriggerLeaf(const Params& p, const Uint256& unvaulting_root);
Bytes MakeTriggerAndRevaultLeaf(const Params& p, const Uint256& unvaulting_root);
Bytes MakeRecoverLeaf(const crypto::XOnlyPubKey& recover_key);
Bytes MakeWithdrawLeaf(const Params& p);
//! Returns: `OP_1 <recover_key>`, the only output a recover clause accepts (no BIP-86 tweak).
Bytes RecoverySpk(const crypto::XOnlyPubKey& recover_key);

//! Returns: naked + SHA256(naked || data)·G (plain SHA-256, BIP-443 tweak_embed_data), or naked
//! itself for empty data. Fails (negligibly) when the hash is not below the curve order.
Expected<crypto::TweakedKey, crypto::TweakError> EmbedData(const crypto::XOnlyPubKey& naked, ByteSpan data);

//! An unvaulting output of one vault for one data value (CTV hash or withdrawal key).
struct Unvaulting {
    Bytes data;
    crypto::TweakedKey internal_key; //!< the naked key tweaked with data (parity unused by taproot)
    crypto::TweakedKey output_key;
    Bytes spk;
    taproot::ControlBlock withdraw_cb;
    taproot::ControlBlock recover_cb;
};

//! A validated vault: its tree, key and scriptPubKey, and the unvaulting tree it triggers into.
class Vault
{
public:
    //! Returns: the vault, or an operator-facing message naming what is wrong (Validate()).
    static Expected<Vault, std::string> FromParams(Params p);
    //! Returns: the vault these parameters describe, without Validate(): for showing what a
    //! refused registration would have been, and for recognising its transactions in tests.
    //! Nothing the tower guards is built this way.
    static Expected<Vault, std::string> Derive(Params p);

    const Params& params() const { return m_params; }
    const crypto::XOnlyPubKey& NakedKey() const;
    const taproot::TapTree& tree() const { return m_tree; }
    const taproot::TapTree& unvaulting_tree() const { return m_unvaulting; }
    const crypto::TweakedKey& OutputKey() const { return m_output_key; }
    const Bytes& ScriptPubKey() const { return m_spk; }
    Bytes RecoverySpk() const { return ccv::RecoverySpk(m_params.recover_key); }
    std::string Address(std::string_view hrp) const;

    //! Returns: the index of clause c in tree() (Trigger, TriggerAndRevault, Recover) or in
    //! unvaulting_tree() (Withdraw; Recover with unvaulting = true), or nullopt if absent.
    std::optional<size_t> LeafIndex(Clause c, bool unvaulting = false) const;
    //! Returns: the clause whose leaf is script, in the vault's tree or the unvaulting tree.
    std::optional<Clause> VaultClauseOf(ByteSpan script) const;
    std::optional<Clause> UnvaultingClauseOf(ByteSpan script) const;
    //! Returns: the control block of clause c in the vault's tree. Pre: LeafIndex(c).
    taproot::ControlBlock ControlBlockFor(Clause c) const;
    //! Returns: the unvaulting output committing to data.
    Expected<Unvaulting, crypto::TweakError> UnvaultingFor(ByteSpan data) const;

private:
    explicit Vault(Params p) : m_params(std::move(p)) {}
    Params m_params;
    taproot::TapTree m_tree;
    taproot::TapTree m_unvaulting;
    crypto::TweakedKey m_output_key;
    Bytes m_spk;
};

//! Returns: nullopt if the parameters describe a vault the tower can guard, else why not: a real
//! key where the NUMS point belongs (a key path around trigger and delay), a delay CSV does not
//! read as blocks (BIP-68: 1..65535), or one key as both unvault and recover key. (Every
//! unvaulting output can be recovered: its tree always holds the recover clause.)
std::optional<std::string> Validate(const Params& p);

//! Returns: why a tapscript leaf using OP_CHECKCONTRACTVERIFY is unsafe to guard, or nullopt:
//! a CCV whose mode is not a constant pushed right before it, or a constant outside -1..2 (an
//! undefined mode succeeds at once: anyone can spend the output). Also nullopt for scripts that
//! do not decode (not CCV's concern).
std::optional<std::string> LeafHazard(ByteSpan script);

enum class CcvError {
    NotScriptPath,     //!< key path, or no control block
    UnknownLeaf,       //!< the leaf is none of the vault's
    BadStackSize,      //!< the clause takes a different number of witness items
    ItemTooLarge,      //!< a stack item above 520 bytes
    BadIndex,          //!< an index that is not a CScriptNum naming an output (-1: the input's own index)
    BadSignature,      //!< a trigger signature that is not 64 or 65 bytes
};
std::string_view ToString(CcvError e);

//! What the witness of a trigger or trigger_and_revault spend says.
struct TriggerArgs {
    Bytes signature;
    Bytes data;                         //!< the unvaulting output's state: CTV hash / withdrawal key
    uint32_t out_i{0};                  //!< the unvaulting output
    std::optional<uint32_t> revault_out_i;
};

//! An input spending a vault UTXO, or one of its unvaulting UTXOs, classified.
struct Spend {
    Clause clause{Clause::Recover};
    std::optional<TriggerArgs> trigger; //!< Trigger, TriggerAndRevault
    uint32_t recover_out_i{0};          //!< Recover
    Bytes withdraw_data;                //!< Withdraw: the data the withdrawal reveals
};

//! Classifies a witness spending the vault's scriptPubKey (vault or revault UTXO): trigger,
//! trigger_and_revault or recover, its items parsed and ranged against vout_count. A key-path
//! spend is NotScriptPath (only possible with an alternate key, which Validate refuses).
//! Not checked: the signature, the outputs' scripts and amounts (CheckTx).
//! n_in: the input's own index, which an index of -1 names (BIP-443: outputs included).
Expected<Spend, CcvError> ClassifyVaultSpend(std::span<const Bytes> witness, const Vault& vault, size_t vout_count,
                                             size_t n_in);
//! The same for a witness spending one of the vault's unvaulting outputs: withdraw or recover.
Expected<Spend, CcvError> ClassifyUnvaultingSpend(std::span<const Bytes> witness, const Vault& vault,
                                                  size_t vout_count, size_t n_in);

//! Returns: whether an unvaulting output with this data lets its withdraw clause spend anywhere.
//! ctv: CTV treats an argument that is not 32 bytes as a NOP, so the withdraw leaf then checks
//! only the delay (data that casts to false makes it fail instead). A thief who triggers with
//! such data steals at the delay if nobody recovers. (The node's mempool refuses such a CTV
//! argument as an upgrade hook; a block takes it: the thief needs a miner.)
bool WithdrawUnconstrained(Construction c, ByteSpan data);

//! BIP-443's amount rules over the CCV checks that vault clauses make, for a whole transaction:
//! each check is (input, output, mode), in script order per input. Mirrors the BIP's
//! output_min_amount / output_checked_* bookkeeping.
struct AmountCheck {
    size_t input{0};
    size_t output{0};
    int64_t mode{MODE_CHECK_OUTPUT};
};
//! Returns: whether the checks pass. In: in_amounts aligned with vin, out_amounts with vout;
//! checks grouped by input in evaluation order; an out-of-range index fails.
bool CheckAmounts(std::span<const Amount> in_amounts, std::span<const Amount> out_amounts,
                  std::span<const AmountCheck> checks);

//! What an input of a transaction spends, for CheckTx: a vault UTXO (vault set, no data), an
//! unvaulting UTXO (vault and data set), or anything else (vault null: not checked).
struct SpentOutput {
    const Vault* vault{nullptr};
    std::optional<Bytes> unvaulting_data;
    std::optional<int64_t> confirm_height; //!< unvaulting: for the BIP-68 maturity of a withdrawal
};

//! Why a vault clause's spend is invalid; ToString gives the node's wording where it has one.
enum class TxRule {
    PrevoutsMismatch,     //!< prevouts or spent not aligned with vin
    WrongPrevout,         //!< the prevout is not the vault's / unvaulting output's scriptPubKey
    WitnessProgramMismatch, //!< "Witness program hash mismatch": the control block does not open the prevout
    InvalidArguments,     //!< "Invalid arguments for OP_CHECKCONTRACTVERIFY": a checked output that is not P2TR
    EvalFalse,            //!< the leaf ends with a false result (a withdrawal whose data casts to false)
    Malformed,            //!< the witness does not parse for its leaf (CcvError)
    BadSignature,         //!< "Invalid Schnorr signature"
    ContractMismatch,     //!< "Mismatching contract data or program": an output is not what CCV checks
    WrongAmount,          //!< "Incorrect amount for OP_CHECKCONTRACTVERIFY"
    NotBip68Final,        //!< "non-BIP68-final"
    CsvNotSatisfied,      //!< "Locktime requirement not satisfied"
    CtvMismatch,          //!< "Script failed an OP_CHECKTEMPLATEVERIFY operation"
};
std::string_view ToString(TxRule r);
struct TxFailure {
    TxRule rule;
    size_t input{0};
};

//! Checks every input of tx that spends a vault or unvaulting output by the rules its clause
//! enforces (consensus as BIP-443, BIP-119 and BIP-68/112 define them): the clause's witness, the
//! trigger signature, each CCV output check (scriptPubKey, then the transaction's amounts),
//! and a withdrawal's delay and destination. next_block_height is the height the tx would be
//! mined at (BIP-68). Not checked: inputs whose SpentOutput has no vault, and key-path spends
//! (only an alternate key makes them, and Validate refuses one).
Expected<void, TxFailure> CheckTx(const Transaction& tx, std::span<const TxOut> prevouts,
                                  std::span<const SpentOutput> spent, int64_t next_block_height);

//! Builds the keyless recover of inputs already resolved to their recover leaf and control block
//! (what the planner keeps: no Vault pointer to outlive the registry's details), grouped by
//! recovery_spk in first-use order from output 0, then the optional change; witness per input
//! [group index, leaf, control block]; fee inputs after them (opts.anchor ignored). Each leaf must
//! be MakeRecoverLeaf of the key recovery_spk pays (`OP_1 <key>`), else RecoverySpkMismatch.
Expected<MutableTransaction, RecoveryError> BuildRecoverTx(std::span<const RecoveryInput> inputs,
                                                           const std::optional<TxOut>& change,
                                                           const RecoveryOptions& opts = {});

//! A vault or unvaulting UTXO to recover.
struct RecoverInput {
    OutPoint outpoint;
    TxOut prevout;
    const Vault* vault{nullptr};
    std::optional<Bytes> unvaulting_data; //!< set: an unvaulting output with this data
};

enum class RecoverError {
    NoInputs,
    NoRecoverClause,     //!< a vault UTXO of a vault without early recover
    PrevoutMismatch,     //!< an input's prevout scriptPubKey is not the vault's / unvaulting's
    SequenceNotReplaceable,
    AmountOutOfRange,
    ChangeTooLarge,
    DuplicateInput,
    TweakFailed,
};
std::string_view ToString(RecoverError e);

//! Returns: in resolved to its recover leaf, control block and recovery scriptPubKey (checked
//! against its vault), for BuildRecoverTx.
Expected<RecoveryInput, RecoverError> Resolve(const RecoverInput& in);

//! Builds a keyless recover of every input: one output `OP_1 <recover_key>` per recover key
//! (in first-use order, from index 0, so a single key's inputs all name output 0), each paying
//! the sum of its inputs (CCV's default mode makes it at least that; fees cannot come from it),
//! then an optional change output. Inputs: the recover inputs, then the fee inputs. Fees come from
//! opts.fee_inputs; opts.anchor is ignored (none is needed). Witness per input: [out_i, leaf,
//! control block]. Every prevout's scriptPubKey is checked against its vault.
Expected<MutableTransaction, RecoverError> BuildRecover(std::span<const RecoverInput> inputs,
                                                        const std::optional<TxOut>& change,
                                                        const RecoveryOptions& opts = {});

//! The enforcement probe: an output whose only leaf lets it be spent to exactly `OP_1 <dest>`
//! (CCV mode 1: the amount is free, so the spend pays its own fee). A node that enforces CCV
//! accepts a spend to dest and refuses one elsewhere for the CCV rule; a node without CCV refuses
//! both (OP_SUCCESS is non-standard) or accepts both, and the prototype OP_VAULT node (same byte)
//! refuses the valid one. The spends are only ever tested (testmempoolaccept), never sent.
struct Probe {
    Bytes leaf;
    Bytes spk;
    taproot::ControlBlock cb;
};
//! Returns: the probe paying to dest (under the NUMS key: no key path).
Probe MakeProbe(const crypto::XOnlyPubKey& dest);
//! Returns: a spend of the probe UTXO at outpoint (value) with one output of value - fee, to
//! dest (valid) or to other (violating the CCV check).
MutableTransaction ProbeSpend(const Probe& probe, const OutPoint& outpoint, Amount value, Amount fee,
                              const crypto::XOnlyPubKey& to);

//! What the node's testmempoolaccept said about one probe spend.
struct ProbeAnswer {
    bool allowed{false};
    std::string reject_reason;
};
enum class Enforcement : uint8_t { Enforced, NotEnforced };
//! Returns: Enforced only if the valid spend is allowed and the violating one refused for the CCV
//! check ("Mismatching contract data or program", or a reason naming OP_CHECKCONTRACTVERIFY). A
//! refusal of both, or an acceptance of both, proves the node does not enforce CCV.
Enforcement JudgeProbe(const ProbeAnswer& valid, const ProbeAnswer& violating);

} // namespace vw::vault::ccv
