#include "vault/recovery.h"

#include "script/script.h"
#include "script/sighash.h"
#include "script/taproot.h"
#include "vault/opvault.h"

#include <set>

namespace vw::vault {

std::string_view ToString(RecoveryError e)
{
    switch (e) {
    case RecoveryError::NoInputs: return "no recovery inputs";
    case RecoveryError::NotRecoverLeaf: return "input leaf is not an OP_VAULT_RECOVER leaf";
    case RecoveryError::WrongAuthKind: return "recover leaf authorization kind does not match the builder";
    case RecoveryError::AuthKeyMismatch: return "recover leaf is not <recovery-auth-key> OP_CHECKSIGVERIFY for the signing key";
    case RecoveryError::RecoverySpkMismatch: return "recovery scriptPubKey does not hash to the leaf's recovery-sPK hash";
    case RecoveryError::MixedRecoveryHashes: return "unauthorized recovery inputs use different recovery-sPK hashes";
    case RecoveryError::SequenceNotReplaceable: return "recovery nSequence must be <= 0xfffffffd (replaceable)";
    case RecoveryError::AmountOutOfRange: return "amount out of range";
    case RecoveryError::ChangeTooLarge: return "change exceeds the fee inputs";
    case RecoveryError::DuplicateInput: return "the same outpoint is spent twice";
    case RecoveryError::SighashFailed: return "sighash computation failed";
    }
    return "unknown recovery error";
}

std::vector<TxOut> SpentOutputs(std::span<const RecoveryInput> inputs, const RecoveryOptions& opts)
{
    std::vector<TxOut> spent;
    spent.reserve(inputs.size() + opts.fee_inputs.size());
    for (const auto& in : inputs) spent.push_back(in.prevout);
    for (const auto& f : opts.fee_inputs) spent.push_back(f.prevout);
    return spent;
}

namespace {

struct Group {
    Bytes spk;
    Amount total;
};

struct Plan {
    std::vector<Group> groups;
    std::vector<size_t> group_of; //!< per recovery input
    std::vector<RecoverLeaf> leaves;
};

//! Validates the inputs and groups them by recovery sPK in first-use order.
Expected<Plan, RecoveryError> MakePlan(std::span<const RecoveryInput> inputs, const RecoveryOptions& opts, bool authorized,
                                       const std::optional<crypto::XOnlyPubKey>& auth_pk)
{
    if (inputs.empty()) return Unexpected{RecoveryError::NoInputs};
    if (opts.sequence > MAX_BIP125_RBF_SEQUENCE) return Unexpected{RecoveryError::SequenceNotReplaceable};
    std::set<OutPoint> seen;
    for (const auto& in : inputs) {
        if (!seen.insert(in.outpoint).second) return Unexpected{RecoveryError::DuplicateInput};
    }
    for (const auto& f : opts.fee_inputs) {
        if (!seen.insert(f.outpoint).second) return Unexpected{RecoveryError::DuplicateInput};
        if (!MoneyRange(f.prevout.value)) return Unexpected{RecoveryError::AmountOutOfRange};
    }
    Plan p;
    for (const auto& in : inputs) {
        auto leaf = ParseRecoverLeaf(in.leaf_script);
        if (!leaf) return Unexpected{RecoveryError::NotRecoverLeaf};
        if (leaf->authorized != authorized) return Unexpected{RecoveryError::WrongAuthKind};
        if (authorized && (!leaf->auth_key || !auth_pk || !(*leaf->auth_key == *auth_pk))) {
            return Unexpected{RecoveryError::AuthKeyMismatch};
        }
        if (RecoverySpkHash(in.recovery_spk) != leaf->recovery_spk_hash) return Unexpected{RecoveryError::RecoverySpkMismatch};
        size_t g = 0;
        while (g < p.groups.size() && p.groups[g].spk != in.recovery_spk) ++g;
        if (g == p.groups.size()) {
            if (!authorized && !p.groups.empty()) return Unexpected{RecoveryError::MixedRecoveryHashes};
            p.groups.push_back({in.recovery_spk, Amount{0}});
        }
        auto sum = CheckedAdd(p.groups[g].total, in.prevout.value);
        if (!sum) return Unexpected{RecoveryError::AmountOutOfRange};
        p.groups[g].total = *sum;
        p.group_of.push_back(g);
        p.leaves.push_back(*leaf);
    }
    return p;
}

//! Builds the unsigned skeleton; recovery outputs start at first_recovery_vout.
MutableTransaction Skeleton(std::span<const RecoveryInput> inputs, const RecoveryOptions& opts, const Plan& p,
                            const std::optional<TxOut>& change)
{
    MutableTransaction tx;
    tx.version = opts.version;
    tx.locktime = opts.locktime;
    for (const auto& in : inputs) tx.vin.push_back(TxIn{in.outpoint, {}, opts.sequence, {}});
    for (const auto& f : opts.fee_inputs) tx.vin.push_back(TxIn{f.outpoint, {}, opts.sequence, f.witness});
    if (change) tx.vout.push_back(*change);
    for (const auto& g : p.groups) tx.vout.push_back(TxOut{g.total, g.spk});
    if (opts.anchor) tx.vout.push_back(TxOut{Amount{0}, Bytes{script::OP_2}});
    return tx;
}

void SignFeeInputs(MutableTransaction& tx, std::span<const RecoveryInput> inputs, const RecoveryOptions& opts)
{
    if (!opts.fee_signer) return;
    const std::vector<TxOut> spent = SpentOutputs(inputs, opts);
    for (size_t k = 0; k < opts.fee_inputs.size(); ++k) {
        const size_t n = inputs.size() + k;
        if (auto w = opts.fee_signer(tx, spent, n)) tx.vin[n].witness = std::move(*w);
    }
}

} // namespace

Expected<MutableTransaction, RecoveryError> BuildUnauthorizedRecovery(std::span<const RecoveryInput> inputs,
                                                                      const RecoveryOptions& opts)
{
    auto plan = MakePlan(inputs, opts, /*authorized=*/false, std::nullopt);
    if (!plan) return Unexpected{plan.error()};
    MutableTransaction tx = Skeleton(inputs, opts, *plan, std::nullopt);
    // Single group at index 0: the recovery vout index is 0, encoded as the empty vector.
    for (size_t i = 0; i < inputs.size(); ++i) {
        tx.vin[i].witness = {script::EncodeScriptNum(0), inputs[i].leaf_script, inputs[i].control_block};
    }
    SignFeeInputs(tx, inputs, opts);
    return tx;
}

Expected<MutableTransaction, RecoveryError> BuildAuthorizedRecovery(std::span<const RecoveryInput> inputs,
                                                                    const crypto::KeyPair& auth_key,
                                                                    const std::optional<TxOut>& change,
                                                                    const RecoveryOptions& opts,
                                                                    const std::optional<Uint256>& aux)
{
    auto plan = MakePlan(inputs, opts, /*authorized=*/true, auth_key.PubKey());
    if (!plan) return Unexpected{plan.error()};
    if (change) {
        Amount fee_total{0};
        for (const auto& f : opts.fee_inputs) {
            auto s = CheckedAdd(fee_total, f.prevout.value);
            if (!s) return Unexpected{RecoveryError::AmountOutOfRange};
            fee_total = *s;
        }
        if (!MoneyRange(change->value)) return Unexpected{RecoveryError::AmountOutOfRange};
        if (change->value > fee_total) return Unexpected{RecoveryError::ChangeTooLarge};
    }
    MutableTransaction tx = Skeleton(inputs, opts, *plan, change);
    const uint32_t first_recovery_vout = change ? 1u : 0u;
    const std::vector<TxOut> spent = SpentOutputs(inputs, opts);
    auto pre = sighash::Precompute(tx, spent);
    if (!pre) return Unexpected{RecoveryError::SighashFailed};
    for (size_t i = 0; i < inputs.size(); ++i) {
        const auto cb = taproot::ParseControlBlock(inputs[i].control_block);
        const uint8_t leaf_version = cb ? cb->leaf_version : taproot::LEAF_VERSION_TAPSCRIPT;
        const sighash::ScriptPath sp{taproot::LeafHash(leaf_version, inputs[i].leaf_script)};
        auto h = sighash::Sighash(tx, *pre, static_cast<uint32_t>(i), sighash::SIGHASH_DEFAULT, sp);
        if (!h) return Unexpected{RecoveryError::SighashFailed};
        const auto sig = auth_key.Sign(h->span(), aux);
        const uint32_t vout = first_recovery_vout + static_cast<uint32_t>(plan->group_of[i]);
        tx.vin[i].witness = {script::EncodeScriptNum(vout), Bytes(sig.begin(), sig.end()), inputs[i].leaf_script,
                             inputs[i].control_block};
    }
    SignFeeInputs(tx, inputs, opts);
    return tx;
}

} // namespace vw::vault
