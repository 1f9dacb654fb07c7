#pragma once
// A small tapscript interpreter for the simulator: enough of BIP-341/342 to run the BIP-443
// (OP_CHECKCONTRACTVERIFY) vault constructions and vaultwatch's enforcement probe the way the CCV
// node (Merkleize/bitcoin ccv-no-deferredchecks, Inquisition 28 base) runs them, and to find the
// OP_SUCCESSx that a node without CCV (Bitcoin Core v31) refuses by policy.
//
// Written from BIP-341/342/443/119/68/112 and the node's interpreter, deliberately without
// vw::vault::ccv: it is the independent judge the tower's own CCV logic is held to. It uses lib's
// primitives only (taproot hashing and control blocks, the BIP-341 sighash, BIP-340
// verification, the BIP-119 template hash, script decoding).
//
// Scope. Per input: a P2TR prevout (OP_1 <32>) spent by the script path with leaf version 0xc0
// is run, provided every opcode of the leaf is one of: pushes (OP_0, PUSHDATA1/2/4, OP_1NEGATE,
// OP_1..OP_16), OP_DUP, OP_DROP, OP_SWAP, OP_PICK, OP_CHECKSIG, OP_CHECKSEQUENCEVERIFY,
// OP_CHECKTEMPLATEVERIFY, OP_CHECKCONTRACTVERIFY. A leaf with any other opcode is "not
// interpreted" (the node would judge it; the simulator lets it pass), and so are key-path spends
// and other output types. The OP_SUCCESSx scan, the control block commitment and the leaf version
// rule run for every script-path spend, whatever the leaf holds.

#include "primitives/transaction.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vw::sim::ccv_interp {

//! The script errors this interpreter can raise, worded by ToString() exactly as the node's
//! ScriptErrorString words them.
enum class ScriptError {
    EvalFalse,
    CleanStack,
    InvalidStackOperation,
    PushSize,
    StackSize,
    MinimalData,
    UnknownError,          //!< a number that is too long or not minimally encoded (scriptnum_error)
    BadOpcode,             //!< a truncated push
    DiscourageOpSuccess,
    DiscourageUpgradableNops,
    DiscourageUpgradableTaprootVersion,
    DiscourageUpgradablePubkeyType,
    PubkeyType,
    SchnorrSigSize,
    SchnorrSigHashtype,
    SchnorrSig,
    ValidationWeight,
    NegativeLocktime,
    UnsatisfiedLocktime,
    TemplateMismatch,
    CcvWrongArgs,
    CcvOutOfBounds,
    CcvMismatch,
    CcvWrongAmount,
    WitnessProgramMismatch,
    WrongControlSize,
    WitnessEmpty,
    WitnessMalleated,
};
std::string_view ToString(ScriptError e);

//! The script verification flags that matter here, by Core's names. Policy() is what a mempool
//! uses; Mandatory() is its re-check that tells a policy failure from a consensus one; Block() is
//! a block's (consensus, CTV active).
struct Flags {
    bool ccv{true};                       //!< 0xbb is OP_CHECKCONTRACTVERIFY (else OP_SUCCESS187)
    bool ctv{true};                       //!< DEFAULT_CHECK_TEMPLATE_VERIFY_HASH (else OP_NOP4)
    bool track_amounts{true};             //!< CCV's transaction-wide amount state is kept
    bool minimal_data{true};              //!< MINIMALDATA (pushes and numbers)
    bool discourage_op_success{true};     //!< DISCOURAGE_OP_SUCCESS
    bool discourage_upgradable_ctv{true}; //!< DISCOURAGE_UPGRADABLE_CHECK_TEMPLATE_VERIFY_HASH
    bool discourage_upgradable_pubkeytype{true};
    bool discourage_upgradable_taproot_version{true};
    bool op_cat{true};                    //!< the CCV node's OP_CAT flag: 0x7e is not an OP_SUCCESS
    static Flags Policy() { return {}; }
    static Flags Mandatory();
    static Flags Block();
};

//! How one input came out.
struct InputResult {
    enum class Status {
        Skipped,        //!< not a taproot script-path spend (other output type, key path)
        NotInterpreted, //!< a tapscript with an opcode outside the supported set: not judged
        Passed,
        Failed,
    } status{Status::Skipped};
    std::optional<ScriptError> error; //!< Failed
};

//! A transaction's verdict: the inputs in order, up to and including the first that failed.
struct TxResult {
    std::vector<InputResult> inputs;
    std::optional<size_t> failed_input;
    std::optional<ScriptError> error;
    //! The failure persists under Flags::Mandatory() without the amount state (the node's second
    //! run): a consensus failure, labelled "mandatory".
    bool mandatory{false};

    bool ok() const { return !failed_input.has_value(); }
    //! Returns: the reject reason as the CCV node words it: "mandatory-script-verify-flag-failed
    //! (E)" or "non-mandatory-script-verify-flag (E)"; empty if ok().
    std::string RejectReason() const;
};

//! Runs every input of tx against spent (aligned with vin) in order, as CheckInputScripts does,
//! stopping at the first failure, which is then re-run under Flags::Mandatory() for its label.
//! Pre: spent.size() == tx.vin().size().
TxResult VerifyTx(const Transaction& tx, std::span<const TxOut> spent, const Flags& flags = Flags::Policy());

//! The v31 mempool without CCV: the first input that spends a tapscript leaf holding an
//! OP_SUCCESSx (0xbb included) with a valid control block, or nullopt. Only that rule: nothing
//! else is run. Pre: spent.size() == tx.vin().size().
std::optional<size_t> FirstOpSuccessSpend(const Transaction& tx, std::span<const TxOut> spent);

//! v31's reject reason for FirstOpSuccessSpend (PolicyScriptChecks: "mempool-script-verify-flag-
//! failed (%s)", src/validation.cpp) and its debug part (CScriptCheck: "input %i of %s (wtxid %s),
//! spending %s:%i").
inline constexpr std::string_view kV31OpSuccessReason = "mempool-script-verify-flag-failed (OP_SUCCESSx reserved for soft-fork upgrades)";
std::string V31ScriptDebug(const Transaction& tx, size_t input);

//! BIP-68 as the mempool checks it at the tip (CheckSequenceLocksAtTip): the tx would be in the
//! block at next_height, whose parent (the tip) has median time past tip_mtp; prev_heights[i] is
//! the height of input i's coin (next_height for a coin still in the mempool); mtp_at(h) is the
//! median time past of the active block at height h (only asked for time-based locks).
struct SequenceLockContext {
    int next_height{0};
    int64_t tip_mtp{0};
    std::function<int64_t(int)> mtp_at;
};
bool SequenceLocksSatisfied(const Transaction& tx, std::span<const int> prev_heights, const SequenceLockContext& ctx);

} // namespace vw::sim::ccv_interp
