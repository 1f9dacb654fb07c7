#pragma once
// BIP-345 (OP_VAULT / OP_VAULT_RECOVER) logic for the watchtower: recognising recover and trigger
// leaves, validating a vault's taptree, parsing trigger witnesses, rebuilding the leaf-update
// (withdraw) script and deriving the trigger output, classifying inputs, and pure transaction-level
// checks mirroring the reference implementation (IMPL = jamesob/bitcoin 2023-02-opvault-inq).
// Everything here is pure: bytes in, values or typed errors out.

#include "crypto/secp.h"
#include "primitives/transaction.h"
#include "script/taproot.h"
#include "util/bytes.h"
#include "util/expected.h"
#include "util/uint256.h"

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vw::vault {

//! Size of an unauthorized recover leaf `20 <hash32> bc`; longer recover leaves are authorized
//! (IMPL: executing_script.size() > 32 + 2).
inline constexpr size_t UNAUTHORIZED_RECOVER_LEAF_SIZE = 34;
//! Tapscript stack elements are at most 520 bytes; scripts/witness items beyond the consensus
//! block weight are refused early as garbage.
inline constexpr size_t MAX_SCRIPT_ELEMENT_SIZE = 520;
inline constexpr size_t MAX_LEAF_SCRIPT_SIZE = 400'000;
//! The CTV-withdraw leaf-update body `OP_CHECKSEQUENCEVERIFY OP_DROP OP_CHECKTEMPLATEVERIFY`.
inline constexpr std::array<uint8_t, 3> CTV_WITHDRAW_BODY{0xb2, 0x75, 0xb3};
//! Highest nSequence a recovery input may carry (BIP-125 signalling; IMPL policy).
inline constexpr uint32_t MAX_BIP125_RBF_SEQUENCE = 0xfffffffd;

enum class VaultError {
    EmptyScript,            //!< a leaf script of zero bytes
    ScriptTooLarge,         //!< a leaf script above MAX_LEAF_SCRIPT_SIZE
    TruncatedScript,        //!< a push runs past the end of the script
    NotRecoverLeaf,         //!< script does not end in `20 <hash32> OP_VAULT_RECOVER`
    NotTriggerLeaf,         //!< script does not end in `<push-count> <body push> OP_VAULT`
    BadPushCount,           //!< push-count not a CScriptNum <= 4 bytes, or negative
    NotEnoughItems,         //!< fewer witness items than the leaf needs
    ItemTooLarge,           //!< a witness stack item above 520 bytes
    BadNumber,              //!< an index/amount item is not a CScriptNum of the allowed size
    BadTriggerIndex,        //!< trigger-vout-idx < 0 or >= vout count
    BadRevaultIndex,        //!< revault-vout-idx >= vout count or negative and != -1
    BadRevaultAmount,       //!< negative, or inconsistent with the revault index
    BadRecoveryIndex,       //!< recovery-vout-idx < 0 or >= vout count
    BadControlBlock,        //!< control block size/internal key invalid
    TweakOutOfRange,        //!< TapTweak >= n (negligible)
    TriggerOutputNotV1,     //!< vout[trigger idx] is not a 34-byte witness v1 program
    TriggerOutputMismatch,  //!< x-only key differs from the derived trigger output key
    InputOutOfRange,        //!< input index >= vin count
    NoWitness,              //!< input has an empty witness
    NotWithdrawLeaf,        //!< not `20 <ctv32> <delay> b2 75 b3`
};
std::string_view ToString(VaultError e);

//! Returns: TaggedHash("VaultRecoverySPK", CompactSize(len(spk)) || spk) (BIP-345, length-prefixed).
Uint256 RecoverySpkHash(ByteSpan spk);

//! Returns: the recover leaf `[20 <auth> ad] 20 <hash> bc`; with auth_key the IMPL/DEMO
//! ChecksigRecoveryAuth form (68 bytes), else the unauthorized form (34 bytes).
Bytes MakeRecoverLeaf(const Uint256& recovery_spk_hash, const std::optional<crypto::XOnlyPubKey>& auth_key);
//! Returns: the standard trigger leaf `20 <trigger> ad <push(delay)> 52 03 b2 75 b3 bb`.
Bytes MakeTriggerLeaf(const crypto::XOnlyPubKey& trigger_key, int64_t spend_delay);

struct RecoverLeaf {
    Uint256 recovery_spk_hash;
    bool authorized{false};                    //!< script longer than 34 bytes
    std::optional<crypto::XOnlyPubKey> auth_key; //!< set iff the prefix is exactly `20 <pk> ad`
};
//! Returns: the parsed recover leaf. Fails EmptyScript/ScriptTooLarge/TruncatedScript/NotRecoverLeaf.
//! Not checked: that the authorization prefix is satisfiable.
//! Whether keys in a leaf get their curve check (a field square root each). Trusted only for
//! leaves read back from our own store whose vault validated them before (Vault::FromSpec with a
//! known output key): an off-curve key would then be reported as a key, not as none.
//! (Vault::FromSpec refuses a leaf `20 <pk> ad` whose pk is off the curve, so none is stored.)
enum class LeafKeys { Check, Trusted };
Expected<RecoverLeaf, VaultError> ParseRecoverLeaf(ByteSpan script, LeafKeys keys = LeafKeys::Check);

struct TriggerLeaf {
    Bytes auth_prefix;                 //!< script bytes before the script-provided items
    std::optional<crypto::XOnlyPubKey> trigger_key; //!< set iff auth_prefix is exactly `20 <pk> ad`
    std::vector<Bytes> script_items;   //!< script-provided leaf-update items as stack values, in push order
    int64_t push_count{0};             //!< total leaf-update items (witness-provided + script-provided)
    Bytes body;                        //!< leaf-update script body
    //! The CSV delay when the body is CTV_WITHDRAW_BODY, push-count is 2 and exactly one item
    //! (the delay) is script-provided; otherwise nullopt.
    std::optional<int64_t> spend_delay;
    //! Returns: how many leaf-update items the witness supplies.
    size_t WitnessItemCount() const { return static_cast<size_t>(push_count) - script_items.size(); }
};
//! Returns: the parsed trigger leaf. The script-provided items are the longest run (at most
//! push-count) of push/small-number ops right before <push-count>; the rest of the script is the
//! authorization prefix. Numbers are decoded leniently (non-minimal accepted: MINIMALDATA is
//! policy only). Fails as ParseRecoverLeaf, plus NotTriggerLeaf and BadPushCount.
Expected<TriggerLeaf, VaultError> ParseTriggerLeaf(ByteSpan script, LeafKeys keys = LeafKeys::Check);

//! Returns: the leaf-update script: PushAll(items, deepest first) || body, i.e. the
//! witness-provided items (witness order) then the script-provided items, each with
//! script::PushAllItem, then leaf.body. In: witness_items.size() == leaf.WitnessItemCount()
//! (else NotEnoughItems).
Expected<Bytes, VaultError> BuildLeafUpdateScript(const TriggerLeaf& leaf, std::span<const Bytes> witness_items);

//! The standard CTV withdraw leaf written into a trigger output.
struct WithdrawLeaf {
    Uint256 ctv_hash;
    int64_t spend_delay{0};
};
//! Returns: the parsed `20 <ctv-hash> <push(delay)> b2 75 b3` leaf (delay decoded leniently,
//! up to 5 bytes as CSV does), else NotWithdrawLeaf (or a decoding error).
Expected<WithdrawLeaf, VaultError> ParseWithdrawLeaf(ByteSpan script);

//! The parsed witness of an input spending a trigger leaf (BIP-345 §"Triggering"; notes §8).
struct TriggerWitness {
    int64_t revault_amount{0};
    int32_t revault_vout_idx{-1};           //!< -1 = no revault
    uint32_t trigger_vout_idx{0};
    std::vector<Bytes> leaf_update_items;   //!< witness-provided items (e.g. the CTV hash), witness order
    std::vector<Bytes> auth_witness;        //!< the rest of the initial stack (e.g. trigger signature)
    Bytes leaf_script;
    Bytes control_block;
    std::optional<Bytes> annex;
};
//! Returns: the parsed trigger witness (annex stripped). Range rules checked here (from the tx
//! alone): trigger idx in [0, vout_count); revault idx == -1 or in [0, vout_count); revault
//! amount <= 7 bytes, >= 0, == 0 iff idx == -1. Not checked: the leaf's commitment to the prevout,
//! signatures, values (see CheckTriggerTx).
Expected<TriggerWitness, VaultError> ParseTriggerWitness(std::span<const Bytes> witness, const TriggerLeaf& leaf,
                                                         size_t vout_count);

//! Returns: the trigger output key (x-only + parity) of the taptree reached from control_block's
//! path with leaf_update_script as the new leaf under the same internal key and leaf version
//! (IMPL CheckVaultTrigger). Fails BadControlBlock / TweakOutOfRange.
Expected<crypto::TweakedKey, VaultError> DeriveTriggerOutputKey(ByteSpan control_block, ByteSpan leaf_update_script);

//! What a trigger output's key is computed from, read from the trigger input's witness alone (no
//! registry, no EC tweak): the control block's internal key, and the Merkle root with the leaf
//! update in place of the spent leaf. nullopt unless the witness spends an OP_VAULT trigger leaf
//! well formed for a transaction of vout_count outputs. For work done ahead (OutputKeyMemo): the
//! matcher still derives, and checks, each trigger output from its registered vault.
struct TriggerKeyInputs {
    std::array<uint8_t, 32> internal; //!< not checked to be a curve point (crypto::TweakAddUnparsed does)
    Uint256 merkle_root;
};
std::optional<TriggerKeyInputs> TriggerOutputKeyInputs(const std::vector<Bytes>& witness, size_t vout_count);
//! Returns: success iff spk is `51 20 <x>` with x == key.xonly (parity deliberately not compared).
Expected<void, VaultError> CheckTriggerOutputSpk(const crypto::TweakedKey& key, ByteSpan spk);

//! What the operator registers. Leaves are in BIP-341 depth-first order with their depths.
struct VaultSpec {
    crypto::XOnlyPubKey internal_key;
    std::vector<taproot::Leaf> leaves;
    Bytes recovery_spk;
    std::optional<crypto::XOnlyPubKey> recovery_auth_key; //!< required iff the recover leaf is authorized
};

//! The taptree of a trigger output: the vault's tree with one trigger leaf replaced.
struct TriggerOutputTree {
    taproot::TapTree tree;
    crypto::TweakedKey output_key;
    Bytes script_pubkey;
    size_t withdraw_index{0};  //!< index of the replaced leaf
    size_t recover_index{0};
    taproot::ControlBlock recover_cb;
    taproot::ControlBlock withdraw_cb;
};

//! A validated vault: exactly one recover leaf matching RecoverySpkHash(recovery_spk), at least
//! one trigger leaf with a parsable leaf-update and a spend delay.
class Vault
{
public:
    //! Returns: the vault, or an operator-facing message naming what is wrong.
    //! known_output_key: the output key this spec was found to have before (the store's cache):
    //! taken instead of redoing the tweak, and the leaves' keys are not curve-checked again
    //! (LeafKeys::Trusted). The caller vouches that it belongs to spec.
    static Expected<Vault, std::string> FromSpec(VaultSpec spec, const crypto::TweakedKey* known_output_key = nullptr);

    const VaultSpec& spec() const { return m_spec; }
    const taproot::TapTree& tree() const { return m_tree; }
    const Uint256& MerkleRoot() const { return m_tree.MerkleRoot(); }
    const crypto::TweakedKey& OutputKey() const { return m_output_key; }
    const Bytes& ScriptPubKey() const { return m_spk; }
    const Uint256& RecoverySpkHashValue() const { return m_recover.recovery_spk_hash; }
    const RecoverLeaf& recover_leaf() const { return m_recover; }
    size_t recover_index() const { return m_recover_index; }
    //! Indices (into tree().leaves()) of the trigger leaves, with their parsed form.
    const std::vector<size_t>& trigger_indices() const { return m_trigger_indices; }
    const TriggerLeaf& trigger_leaf(size_t k) const { return m_triggers.at(k); }
    //! Returns: the control block of leaf i in the vault's tree.
    taproot::ControlBlock ControlBlockFor(size_t leaf_index) const;
    //! Returns: the bech32m address of the vault output for hrp ("bc", "tb", "bcrt").
    std::string Address(std::string_view hrp) const;
    //! Returns: index into tree().leaves() of the leaf whose script equals script, or nullopt.
    std::optional<size_t> FindLeaf(ByteSpan script) const;
    //! Returns: the trigger output's tree when leaf leaf_index is replaced by leaf_update_script.
    //! keys: output keys computed ahead (may be null; a miss computes it here).
    Expected<TriggerOutputTree, VaultError> TriggerOutput(size_t leaf_index, ByteSpan leaf_update_script,
                                                          const taproot::OutputKeyMemo* keys = nullptr) const;

private:
    Vault(VaultSpec spec, taproot::TapTree tree) : m_spec(std::move(spec)), m_tree(std::move(tree)) {}
    VaultSpec m_spec;
    taproot::TapTree m_tree;
    crypto::TweakedKey m_output_key;
    Bytes m_spk;
    RecoverLeaf m_recover;
    size_t m_recover_index{0};
    std::vector<size_t> m_trigger_indices;
    std::vector<TriggerLeaf> m_triggers;
};

//! Returns: the bech32m address of any P2TR/segwit scriptPubKey, or nullopt for other scripts.
std::optional<std::string> AddressForSpk(ByteSpan spk, std::string_view hrp);

//! A trigger spend of a known vault, fully re-derived.
struct TriggerSpend {
    size_t leaf_index{0};           //!< into vault.tree().leaves()
    TriggerWitness witness;
    Bytes leaf_update_script;       //!< the rebuilt withdraw leaf
    crypto::TweakedKey trigger_key; //!< derived output key (matches vout[trigger idx] x-only)
    std::optional<int64_t> spend_delay;
};
//! A recovery spend via the recover leaf (of the vault UTXO or of a trigger output).
struct RecoverySpend {
    uint32_t recovery_vout_idx{0};
    bool authorized{false};
    std::vector<Bytes> auth_witness; //!< e.g. the 64-byte recovery-auth signature
    bool from_trigger_output{false}; //!< prevout is not the vault sPK itself
};
enum class SpendKind { Trigger, Recovery, KeyPath, Other };
std::string_view ToString(SpendKind k);
struct InputClass {
    SpendKind kind{SpendKind::Other};
    std::optional<TriggerSpend> trigger;
    std::optional<RecoverySpend> recovery;
};
//! Classifies input n_in of tx (spending prevout) against vault: key path (1 witness item after
//! annex), trigger (leaf = one of the vault's trigger leaves; witness parsed, withdraw leaf rebuilt,
//! trigger output derived and matched), recovery (leaf = the vault's recover leaf; index parsed and
//! range-checked) or other (e.g. the withdraw leaf of a trigger output, foreign leaves).
//! Returns an error for a malformed witness of a recognised leaf (such a tx is consensus-invalid).
//! Not checked: signatures, values (CheckTriggerTx/CheckRecoveryTx), that prevout belongs to vault.
Expected<InputClass, VaultError> ClassifyInput(const Transaction& tx, size_t n_in, const TxOut& prevout,
                                               const Vault& vault);

//! Errors of the transaction-level checks; ToString gives the node's reject text.
enum class TxCheckError {
    PrevoutsMismatch,           //!< prevouts.size() != vin.size()
    BadRecoveryIndex,           //!< "Invalid vault vout index given"
    RecoverySpkMismatch,        //!< "Vault recovery transaction has bad output structure" (consensus hash check)
    RecoveryValueTooLow,        //!< "Vault recovery output nValue too low"
    RecoveryNotReplaceable,     //!< "Vault recovery inputs must be replaceable" (policy)
    UnauthorizedBadStructure,   //!< "Vault recovery transaction has bad output structure" (policy)
    InsufficientRecoveryValue,  //!< deferred: "vault-insufficient-recovery-value"
    BadSignature,               //!< "Invalid Schnorr signature"
    MalformedWitness,           //!< a recognised leaf with an unparsable witness
    TriggerMismatch,            //!< "Trigger outputs not compatible with OP_VAULT"
    TriggerOutputNotV1,         //!< "OP_UNVAULT output must be at least witness v1"
    BadTriggerIndex,            //!< "Invalid vault vout index given" (trigger idx)
    BadRevault,                 //!< "Bad revault"
    InsufficientTriggerValue,   //!< deferred: "vault-insufficient-trigger-value"
    CtvMismatch,                //!< "Script failed an OP_CHECKTEMPLATEVERIFY operation"
    CsvNotSatisfied,            //!< "Locktime requirement not satisfied"
    NotBip68Final,              //!< "non-BIP68-final"
};
std::string_view ToString(TxCheckError e);

struct TxCheckFailure {
    TxCheckError error;
    size_t input{0}; //!< the offending input (0 for tx-wide deferred checks)
};

//! Returns: whether sig (64 bytes = SIGHASH_DEFAULT, 65 = explicit type) is pk's BIP-340
//! signature of a script-path spend of leaf_script by input n_in (prevouts aligned with vin).
bool VerifyScriptPathSig(const Transaction& tx, std::span<const TxOut> prevouts, size_t n_in, ByteSpan sig,
                         ByteSpan leaf_script, uint8_t leaf_version, const crypto::XOnlyPubKey& pk,
                         const std::optional<Bytes>& annex);

//! Checks every input of tx that spends a recover leaf (any prevout whose witness reveals a
//! parsable recover leaf) with the IMPL rules: recovery idx range, sPK-hash, per-input value,
//! nSequence <= 0xfffffffd (policy), unauthorized output structure (policy as the reference node
//! enforces it: exactly 2 outputs, the other one a 0-value OP_2 anchor), the standard authorized leaf's Schnorr signature (BIP-341
//! script-path sighash), then the deferred per-output sums. In: prevouts aligned with vin.
//! Returns: success if nothing fails (inputs without recover leaves are ignored).
//! Not checked: the taproot commitment of leaf+control block to the prevout.
Expected<void, TxCheckFailure> CheckRecoveryTx(const Transaction& tx, std::span<const TxOut> prevouts);

//! Checks every input whose leaf parses as a trigger leaf: witness ranges, trigger output
//! derivation (x-only match, 34-byte v1), revault sPK equality and amount <= input, the
//! short-circuit value check, the standard trigger key's signature if present, then the deferred
//! per-output sums. In: prevouts aligned with vin.
Expected<void, TxCheckFailure> CheckTriggerTx(const Transaction& tx, std::span<const TxOut> prevouts);

//! Checks a CTV withdrawal input n_in against its withdraw leaf (`<ctv> <delay> b2 75 b3`), in
//! the node's order: BIP-68 maturity, the CSV rule (version >= 2, disable flag clear, same lock type,
//! masked nSequence >= delay), the BIP-119 template hash; BIP-68 for block delays: next_block_height >=
//! trigger_confirm_height + delay (trigger_confirm_height = nullopt: unconfirmed, never final).
Expected<void, TxCheckFailure> CheckWithdrawalTx(const Transaction& tx, size_t n_in, const Uint256& ctv_hash,
                                                 int64_t spend_delay, std::optional<int64_t> trigger_confirm_height,
                                                 int64_t next_block_height);

} // namespace vw::vault
