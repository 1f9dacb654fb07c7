#pragma once
// Building OP_VAULT_RECOVER sweeps (BIP-345 "Recovery"; notes §4, §5, §6, §8, §12).
//
// Transaction layout (deterministic; every builder produces exactly this):
//   inputs:  the recovery inputs in the order given by the caller, then the fee inputs in the
//            order given. (The caller's order is kept so that a watchtower re-building the same
//            sweep from the same vault list gets the same txid; callers typically pass vaults in
//            registration order, each as its trigger output if triggered, else its vault UTXO.)
//   outputs: [change, if any] then one recovery output per recovery group (groups ordered by the
//            first input that uses them), then [0-value OP_2 ephemeral anchor, if requested].
//   version 2 and locktime 0 unless overridden; every input's nSequence = `sequence`.

#include "crypto/secp.h"
#include "primitives/transaction.h"
#include "util/bytes.h"
#include "util/expected.h"

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vw::vault {

//! A UTXO to sweep through its recover leaf: a vault UTXO or a trigger output.
struct RecoveryInput {
    OutPoint outpoint;
    TxOut prevout;            //!< amount and scriptPubKey of the UTXO (the sighash commits to both)
    Bytes leaf_script;        //!< the recover leaf
    Bytes control_block;      //!< for the recover leaf in the taptree of *this* UTXO
    Bytes recovery_spk;       //!< where the funds go; must hash to the leaf's recovery-sPK hash
};

//! An extra input that only pays fees. Its witness comes from `witness` or the signer callback.
struct FeeInput {
    OutPoint outpoint;
    TxOut prevout;
    std::vector<Bytes> witness; //!< used when no signer is given (may be empty: sign later)
};

//! Signs fee input n_in of the finished (unsigned-fee-input) tx; spent aligned with vin.
//! Returns: the witness, or nullopt to leave the input unsigned.
using FeeSigner = std::function<std::optional<std::vector<Bytes>>(const MutableTransaction& tx,
                                                                  std::span<const TxOut> spent, size_t n_in)>;

struct RecoveryOptions {
    uint32_t sequence{0};            //!< nSequence of every input; must be <= 0xfffffffd (replaceable)
    int32_t version{2};
    uint32_t locktime{0};
    //! Append a 0-value OP_2 ephemeral anchor (IMPL's anchor form). The reference node rejects an
    //! unauthorized recovery without it (vector A-none-recovery-no-anchor), so keep it on there.
    bool anchor{true};
    std::vector<FeeInput> fee_inputs;
    FeeSigner fee_signer;            //!< optional; called once per fee input after the tx is complete
};

enum class RecoveryError {
    NoInputs,
    NotRecoverLeaf,          //!< an input's leaf_script is not a recover leaf
    WrongAuthKind,           //!< unauthorized builder got an authorized leaf or vice versa
    AuthKeyMismatch,         //!< authorized leaf's key is not the signing key (or not `<pk> CHECKSIGVERIFY`)
    RecoverySpkMismatch,     //!< RecoverySpkHash(recovery_spk) != the leaf's hash
    MixedRecoveryHashes,     //!< unauthorized inputs with different recovery hashes (policy: one group)
    SequenceNotReplaceable,  //!< sequence > 0xfffffffd
    AmountOutOfRange,        //!< an amount or a sum outside MoneyRange
    ChangeTooLarge,          //!< authorized: change > fee inputs total
    DuplicateInput,          //!< the same outpoint twice
    SighashFailed,           //!< internal: sighash computation failed
};
std::string_view ToString(RecoveryError e);

//! Builds an unauthorized recovery: all inputs share one recovery sPK; one recovery output at
//! index 0 with value = sum of the recovery inputs; optional anchor; optional fee-only inputs
//! (no change output — policy allows at most recovery + anchor). Witness per recovery input:
//! [recovery vout idx as minimal CScriptNum (0 -> empty), leaf script, control block].
//! Returns: the transaction, or an error (nothing is built).
Expected<MutableTransaction, RecoveryError> BuildUnauthorizedRecovery(std::span<const RecoveryInput> inputs,
                                                                      const RecoveryOptions& opts = {});

//! Builds an authorized recovery: inputs grouped by recovery sPK (one output per group), an
//! optional change output (first), signed with auth_key: BIP-341 script-path sighash,
//! SIGHASH_DEFAULT, 64-byte signature; witness [idx, sig, leaf, control block].
//! In: every leaf is `20 <auth_key> ad 20 <hash> bc`; aux = BIP-340 aux randomness (nullopt =
//! zeros; pass fresh randomness in production). change: value and sPK of the change output.
Expected<MutableTransaction, RecoveryError> BuildAuthorizedRecovery(std::span<const RecoveryInput> inputs,
                                                                    const crypto::KeyPair& auth_key,
                                                                    const std::optional<TxOut>& change,
                                                                    const RecoveryOptions& opts = {},
                                                                    const std::optional<Uint256>& aux = std::nullopt);

//! Returns: the spent outputs aligned with tx.vin for a tx built from inputs + opts.fee_inputs.
std::vector<TxOut> SpentOutputs(std::span<const RecoveryInput> inputs, const RecoveryOptions& opts);

} // namespace vw::vault
