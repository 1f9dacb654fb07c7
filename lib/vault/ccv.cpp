#include "vault/ccv.h"

#include "crypto/sha256.h"
#include "script/ctv.h"
#include "script/script.h"
#include "util/hex.h"
#include "vault/opvault.h"

#include <set>

namespace vw::vault::ccv {

namespace {

constexpr uint8_t OP_TRUE = script::OP_1;
constexpr uint8_t OP_DUP = 0x76;
constexpr uint8_t OP_SWAP = 0x7c;
constexpr uint8_t OP_PICK = 0x79;
constexpr size_t MAX_STACK_ITEM = 520;

//! `0` (the NUMS key, by CCV's rule) or the alternate key, as both constructions push it.
void PushNakedKey(Bytes& s, const Params& p)
{
    if (p.alternate_key) script::PushData(s, p.alternate_key->span());
    else s.push_back(script::OP_0);
}

//! CScriptNum of at most 4 bytes, read as the interpreter reads CCV's index outside policy
//! (MINIMALDATA is policy, not consensus): non-minimal encodings are the same number.
std::optional<int64_t> ReadIndex(ByteSpan item)
{
    auto n = script::DecodeScriptNum(item, 4, /*require_minimal=*/false);
    if (!n) return std::nullopt;
    return *n;
}

//! An output index as CCV reads it: -1 is the current input's own index (BIP-443, for outputs
//! too: a thief may name the unvaulting output that way when the indexes coincide).
std::optional<uint32_t> ReadOutIndex(ByteSpan item, size_t vout_count, size_t n_in)
{
    auto n = ReadIndex(item);
    if (!n) return std::nullopt;
    const int64_t i = *n == -1 ? static_cast<int64_t>(n_in) : *n;
    if (i < 0 || static_cast<uint64_t>(i) >= vout_count) return std::nullopt;
    return static_cast<uint32_t>(i);
}

//! CastToBool: any non-zero byte, except a sign bit alone at the end (negative zero).
bool CastToBool(ByteSpan v)
{
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] != 0 && !(i + 1 == v.size() && v[i] == 0x80)) return true;
    }
    return false;
}

} // namespace

const crypto::XOnlyPubKey& NumsKey()
{
    static const crypto::XOnlyPubKey k =
        *crypto::XOnlyPubKey::Parse(*ParseHex("50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0"));
    return k;
}

std::string_view ToString(Construction c)
{
    switch (c) {
    case Construction::Ctv: return "ctv";
    case Construction::WithdrawalKey: return "withdrawal-key";
    }
    return "unknown";
}

std::optional<Construction> ParseConstruction(std::string_view s)
{
    if (s == "ctv") return Construction::Ctv;
    if (s == "withdrawal-key") return Construction::WithdrawalKey;
    return std::nullopt;
}

std::string_view ToString(Clause c)
{
    switch (c) {
    case Clause::Trigger: return "trigger";
    case Clause::TriggerAndRevault: return "trigger_and_revault";
    case Clause::Recover: return "recover";
    case Clause::Withdraw: return "withdraw";
    }
    return "unknown";
}

std::string_view ToString(CcvError e)
{
    switch (e) {
    case CcvError::NotScriptPath: return "not a script-path spend";
    case CcvError::UnknownLeaf: return "the leaf is not one of the vault's";
    case CcvError::BadStackSize: return "wrong number of witness items for the clause";
    case CcvError::ItemTooLarge: return "a witness item above 520 bytes";
    case CcvError::BadIndex: return "an output index that is not a number within the outputs";
    case CcvError::BadSignature: return "a trigger signature of a size no signature has";
    }
    return "unknown ccv error";
}

std::string_view ToString(RecoverError e)
{
    switch (e) {
    case RecoverError::NoInputs: return "no inputs to recover";
    case RecoverError::NoRecoverClause: return "the vault has no recover clause for its vault UTXOs (early_recover off)";
    case RecoverError::PrevoutMismatch: return "an input's scriptPubKey is not the vault's or its unvaulting output's";
    case RecoverError::SequenceNotReplaceable: return "recover nSequence must be <= 0xfffffffd (replaceable)";
    case RecoverError::AmountOutOfRange: return "amount out of range";
    case RecoverError::ChangeTooLarge: return "change exceeds the fee inputs";
    case RecoverError::DuplicateInput: return "the same outpoint is spent twice";
    case RecoverError::TweakFailed: return "the unvaulting key tweak failed";
    }
    return "unknown recover error";
}

Bytes MakeTriggerLeaf(const Params& p, const Uint256& unvaulting_root)
{
    // witness: <sig> <data> <out_i>; CCV checks vout[out_i] = unvaulting(data), default amount.
    Bytes s;
    PushNakedKey(s, p);
    script::PushData(s, unvaulting_root.span());
    s.push_back(script::OP_0);
    s.push_back(OP_CHECKCONTRACTVERIFY);
    script::PushData(s, p.unvault_key.span());
    s.push_back(script::OP_CHECKSIG);
    return s;
}

Bytes MakeTriggerAndRevaultLeaf(const Params& p, const Uint256& unvaulting_root)
{
    // witness: <sig> <data> <out_i> <revault_out_i>; first CCV: vout[revault_out_i] is this very
    // program (no data), amount deducted; second: the residual goes to the unvaulting output.
    Bytes s{script::OP_0, OP_SWAP, script::OP_1NEGATE, script::OP_1NEGATE};
    script::PushInt(s, MODE_CHECK_OUTPUT_DEDUCT_AMOUNT);
    s.push_back(OP_CHECKCONTRACTVERIFY);
    Bytes t = MakeTriggerLeaf(p, unvaulting_root);
    s.insert(s.end(), t.begin(), t.end());
    return s;
}

Bytes MakeRecoverLeaf(const crypto::XOnlyPubKey& recover_key)
{
    // witness: <out_i>; vout[out_i] = OP_1 <recover_key> (no data, no taptweak), default amount.
    Bytes s{script::OP_0, OP_SWAP};
    script::PushData(s, recover_key.span());
    s.push_back(script::OP_0);
    s.push_back(script::OP_0);
    s.push_back(OP_CHECKCONTRACTVERIFY);
    s.push_back(OP_TRUE);
    return s;
}

Bytes MakeWithdrawLeaf(const Params& p)
{
    // witness: <data>; the input must be this unvaulting program with that data, the delay past.
    Bytes s{OP_DUP, script::OP_1NEGATE};
    PushNakedKey(s, p);
    s.push_back(script::OP_1NEGATE);
    script::PushInt(s, MODE_CHECK_INPUT);
    s.push_back(OP_CHECKCONTRACTVERIFY);
    script::PushInt(s, p.spend_delay);
    s.push_back(script::OP_CHECKSEQUENCEVERIFY);
    s.push_back(script::OP_DROP);
    if (p.construction == Construction::Ctv) {
        s.push_back(script::OP_CHECKTEMPLATEVERIFY);
    } else {
        // vout[0] = OP_1 <data>, the whole amount; the key stays on the stack as the true result.
        s.insert(s.end(), {script::OP_0, script::OP_0});
        script::PushInt(s, 2);
        s.insert(s.end(), {OP_PICK, script::OP_0, script::OP_0, OP_CHECKCONTRACTVERIFY});
    }
    return s;
}

Bytes RecoverySpk(const crypto::XOnlyPubKey& recover_key) { return taproot::P2TRScript(recover_key.span()); }

Expected<crypto::TweakedKey, crypto::TweakError> EmbedData(const crypto::XOnlyPubKey& naked, ByteSpan data)
{
    if (data.empty()) return crypto::TweakedKey{naked.bytes(), 0};
    const Uint256 t = crypto::Sha256().Write(naked.span()).Write(data).Finalize();
    return crypto::TweakAdd(naked, t);
}

std::optional<std::string> Validate(const Params& p)
{
    if (p.alternate_key && !(*p.alternate_key == NumsKey())) {
        return "alternate_pk is a real key: it spends the vault and every unvaulting output by the key path, "
               "without trigger or delay, and no watchtower can stop that; register the vault with the NUMS key "
               "(no alternate_pk)";
    }
    // BIP-68 blocks: bit 22 (type) clear, the delay in the low 16 bits; CSV fails a larger one.
    if (p.spend_delay < 1 || p.spend_delay > 0xffff) {
        return "spend_delay must be 1..65535 blocks (a BIP-68 block delay)";
    }
    if (p.recover_key == p.unvault_key) {
        return "recover_pk equals unvault_pk: whoever can trigger would also hold the recovery key";
    }
    return std::nullopt;
}

std::optional<std::string> LeafHazard(ByteSpan script)
{
    auto ops = script::DecodeOps(script);
    if (!ops) return std::nullopt;
    for (size_t i = 0; i < ops->size(); ++i) {
        if ((*ops)[i].opcode != OP_CHECKCONTRACTVERIFY) continue;
        std::optional<int64_t> mode;
        if (i > 0) mode = script::OpAsNumber((*ops)[i - 1], 4, /*require_minimal=*/false);
        if (!mode) return "an OP_CHECKCONTRACTVERIFY whose mode is not a constant: a mode outside -1..2 lets anyone spend";
        if (*mode < MODE_CHECK_INPUT || *mode > MODE_CHECK_OUTPUT_DEDUCT_AMOUNT) {
            return "OP_CHECKCONTRACTVERIFY with undefined mode " + std::to_string(*mode) +
                   ": it succeeds at once (OP_SUCCESS), so anyone can spend the output";
        }
    }
    return std::nullopt;
}

Expected<Vault, std::string> Vault::FromParams(Params p)
{
    if (auto why = Validate(p)) return Unexpected{std::move(*why)};
    auto v = Derive(std::move(p));
    if (!v) return v;
    // Our own leaves: a hazard here would be a bug in the builders, caught before anything is guarded.
    for (const auto* t : {&v->m_tree, &v->m_unvaulting}) {
        for (const auto& leaf : t->leaves()) {
            if (auto h = LeafHazard(leaf.script)) return Unexpected{"internal: " + *h};
        }
    }
    return v;
}

Expected<Vault, std::string> Vault::Derive(Params p)
{
    Vault v{std::move(p)};
    const Params& q = v.m_params;
    auto unv = taproot::TapTree::FromLeaves({{MakeWithdrawLeaf(q), 1}, {MakeRecoverLeaf(q.recover_key), 1}});
    if (!unv) return Unexpected{std::string{"unvaulting tree: "} + std::string{taproot::ToString(unv.error())}};
    v.m_unvaulting = std::move(*unv);
    const Uint256& uroot = v.m_unvaulting.MerkleRoot();
    // The shapes of pymatt's Vault: [trigger, [trigger_and_revault, recover]] and its reductions.
    std::vector<taproot::Leaf> leaves;
    Bytes trigger = MakeTriggerLeaf(q, uroot);
    if (q.partial_revault && q.early_recover) {
        leaves = {{std::move(trigger), 1}, {MakeTriggerAndRevaultLeaf(q, uroot), 2}, {MakeRecoverLeaf(q.recover_key), 2}};
    } else if (q.partial_revault) {
        leaves = {{std::move(trigger), 1}, {MakeTriggerAndRevaultLeaf(q, uroot), 1}};
    } else if (q.early_recover) {
        leaves = {{std::move(trigger), 1}, {MakeRecoverLeaf(q.recover_key), 1}};
    } else {
        leaves = {{std::move(trigger), 0}};
    }
    auto tree = taproot::TapTree::FromLeaves(std::move(leaves));
    if (!tree) return Unexpected{std::string{"vault tree: "} + std::string{taproot::ToString(tree.error())}};
    v.m_tree = std::move(*tree);
    auto q_key = taproot::OutputKey(v.NakedKey(), v.m_tree.MerkleRoot());
    if (!q_key) return Unexpected{std::string{"vault output key: "} + std::string{taproot::ToString(q_key.error())}};
    v.m_output_key = *q_key;
    v.m_spk = taproot::P2TRScript(ByteSpan{v.m_output_key.xonly.data(), 32});
    return v;
}

const crypto::XOnlyPubKey& Vault::NakedKey() const
{
    return m_params.alternate_key ? *m_params.alternate_key : NumsKey();
}

std::string Vault::Address(std::string_view hrp) const { return AddressForSpk(m_spk, hrp).value_or(""); }

std::optional<size_t> Vault::LeafIndex(Clause c, bool unvaulting) const
{
    if (unvaulting) {
        if (c == Clause::Withdraw) return 0;
        if (c == Clause::Recover) return 1;
        return std::nullopt;
    }
    const bool r = m_params.partial_revault, e = m_params.early_recover;
    switch (c) {
    case Clause::Trigger: return 0;
    case Clause::TriggerAndRevault: return r ? std::optional<size_t>{1} : std::nullopt;
    case Clause::Recover: return e ? std::optional<size_t>{r ? 2 : 1} : std::nullopt;
    case Clause::Withdraw: return std::nullopt;
    }
    return std::nullopt;
}

std::optional<Clause> Vault::VaultClauseOf(ByteSpan script) const
{
    for (Clause c : {Clause::Trigger, Clause::TriggerAndRevault, Clause::Recover}) {
        auto i = LeafIndex(c);
        if (i && Equal(m_tree.leaves()[*i].script, script)) return c;
    }
    return std::nullopt;
}

std::optional<Clause> Vault::UnvaultingClauseOf(ByteSpan script) const
{
    if (Equal(m_unvaulting.leaves()[0].script, script)) return Clause::Withdraw;
    if (Equal(m_unvaulting.leaves()[1].script, script)) return Clause::Recover;
    return std::nullopt;
}

taproot::ControlBlock Vault::ControlBlockFor(Clause c) const
{
    return taproot::MakeControlBlock(m_tree, LeafIndex(c).value(), NakedKey(), m_output_key);
}

Expected<Unvaulting, crypto::TweakError> Vault::UnvaultingFor(ByteSpan data) const
{
    auto internal = EmbedData(NakedKey(), data);
    if (!internal) return Unexpected{internal.error()};
    const auto ik = crypto::XOnlyPubKey::FromTrusted(ByteSpan{internal->xonly.data(), 32});
    auto q = taproot::OutputKey(ik, m_unvaulting.MerkleRoot());
    if (!q) return Unexpected{crypto::TweakError::TweakOutOfRange};
    Unvaulting u{Bytes(data.begin(), data.end()),
                 *internal,
                 *q,
                 taproot::P2TRScript(ByteSpan{q->xonly.data(), 32}),
                 taproot::MakeControlBlock(m_unvaulting, 0, ik, *q),
                 taproot::MakeControlBlock(m_unvaulting, 1, ik, *q)};
    return u;
}

namespace {

//! The initial stack of a script-path witness whose leaf is script (annex stripped).
struct ScriptSpend {
    std::span<const Bytes> stack;
    const Bytes* leaf{nullptr};
};
Expected<ScriptSpend, CcvError> ScriptPathStack(std::span<const Bytes> witness)
{
    size_t n = witness.size();
    if (n >= 2 && !witness[n - 1].empty() && witness[n - 1][0] == taproot::ANNEX_TAG) --n;
    if (n < 2) return Unexpected{CcvError::NotScriptPath};
    for (size_t i = 0; i + 2 < n; ++i) {
        if (witness[i].size() > MAX_STACK_ITEM) return Unexpected{CcvError::ItemTooLarge};
    }
    return ScriptSpend{witness.subspan(0, n - 2), &witness[n - 2]};
}

Expected<Spend, CcvError> ParseClause(Clause c, std::span<const Bytes> st, size_t vout_count, size_t n_in)
{
    Spend s;
    s.clause = c;
    switch (c) {
    case Clause::Recover: {
        if (st.size() != 1) return Unexpected{CcvError::BadStackSize};
        auto i = ReadOutIndex(st[0], vout_count, n_in);
        if (!i) return Unexpected{CcvError::BadIndex};
        s.recover_out_i = *i;
        return s;
    }
    case Clause::Withdraw:
        if (st.size() != 1) return Unexpected{CcvError::BadStackSize};
        s.withdraw_data = st[0];
        return s;
    case Clause::Trigger:
    case Clause::TriggerAndRevault: {
        const size_t want = c == Clause::Trigger ? 3 : 4;
        if (st.size() != want) return Unexpected{CcvError::BadStackSize};
        if (st[0].size() != 64 && st[0].size() != 65) return Unexpected{CcvError::BadSignature};
        TriggerArgs a;
        a.signature = st[0];
        a.data = st[1];
        auto out = ReadOutIndex(st[2], vout_count, n_in);
        if (!out) return Unexpected{CcvError::BadIndex};
        a.out_i = *out;
        if (c == Clause::TriggerAndRevault) {
            auto rev = ReadOutIndex(st[3], vout_count, n_in);
            if (!rev) return Unexpected{CcvError::BadIndex};
            a.revault_out_i = *rev;
        }
        s.trigger = std::move(a);
        return s;
    }
    }
    return Unexpected{CcvError::UnknownLeaf};
}

} // namespace

Expected<Spend, CcvError> ClassifyVaultSpend(std::span<const Bytes> witness, const Vault& vault, size_t vout_count,
                                             size_t n_in)
{
    auto sp = ScriptPathStack(witness);
    if (!sp) return Unexpected{sp.error()};
    auto c = vault.VaultClauseOf(*sp->leaf);
    if (!c) return Unexpected{CcvError::UnknownLeaf};
    return ParseClause(*c, sp->stack, vout_count, n_in);
}

Expected<Spend, CcvError> ClassifyUnvaultingSpend(std::span<const Bytes> witness, const Vault& vault,
                                                  size_t vout_count, size_t n_in)
{
    auto sp = ScriptPathStack(witness);
    if (!sp) return Unexpected{sp.error()};
    auto c = vault.UnvaultingClauseOf(*sp->leaf);
    if (!c) return Unexpected{CcvError::UnknownLeaf};
    return ParseClause(*c, sp->stack, vout_count, n_in);
}

bool WithdrawUnconstrained(Construction c, ByteSpan data)
{
    // The withdraw leaf leaves data as the script's result: it must be true (CastToBool).
    return c == Construction::Ctv && data.size() != 32 && CastToBool(data);
}

namespace {
//! BIP-443's amount bookkeeping, one CCV check at a time in evaluation order (the node fails a
//! transaction at the first check that fails, before any later opcode of that input).
class AmountState
{
public:
    AmountState(std::span<const Amount> in, std::span<const Amount> out)
        : m_in(in), m_out(out), m_min(out.size(), 0), m_default(out.size(), 0), m_deduct(out.size(), 0) {}
    bool Check(size_t input, size_t output, int64_t mode)
    {
        if (input >= m_in.size()) return false;
        if (m_current != input) {
            m_current = input;
            m_residual = m_in[input].sats();
        }
        if (mode == MODE_CHECK_INPUT || mode == MODE_CHECK_OUTPUT_IGNORE_AMOUNT) return true;
        if (output >= m_out.size()) return false;
        const int64_t out = m_out[output].sats();
        if (mode == MODE_CHECK_OUTPUT) {
            if (m_deduct[output]) return false;
            m_min[output] += m_residual;
            m_residual = 0;
            m_default[output] = 1;
            return out >= m_min[output];
        }
        if (mode == MODE_CHECK_OUTPUT_DEDUCT_AMOUNT) {
            if (m_residual < out || m_default[output] || m_deduct[output]) return false;
            m_residual -= out;
            m_deduct[output] = 1;
        }
        return true;
    }

private:
    std::span<const Amount> m_in, m_out;
    std::vector<int64_t> m_min;
    std::vector<uint8_t> m_default, m_deduct;
    std::optional<size_t> m_current;
    int64_t m_residual{0};
};
} // namespace

bool CheckAmounts(std::span<const Amount> in_amounts, std::span<const Amount> out_amounts,
                  std::span<const AmountCheck> checks)
{
    AmountState st{in_amounts, out_amounts};
    return std::all_of(checks.begin(), checks.end(), [&](const AmountCheck& c) { return st.Check(c.input, c.output, c.mode); });
}

std::string_view ToString(TxRule r)
{
    switch (r) {
    case TxRule::PrevoutsMismatch: return "prevouts do not match the inputs";
    case TxRule::WrongPrevout: return "the input does not spend the vault output it is said to";
    case TxRule::WitnessProgramMismatch: return "Witness program hash mismatch";
    case TxRule::InvalidArguments: return "Invalid arguments for OP_CHECKCONTRACTVERIFY";
    case TxRule::EvalFalse: return "Script evaluated without error but finished with a false/empty top stack element";
    case TxRule::Malformed: return "malformed witness for the vault clause";
    case TxRule::BadSignature: return "Invalid Schnorr signature";
    case TxRule::ContractMismatch: return "Mismatching contract data or program";
    case TxRule::WrongAmount: return "Incorrect amount for OP_CHECKCONTRACTVERIFY";
    case TxRule::NotBip68Final: return "non-BIP68-final";
    case TxRule::CsvNotSatisfied: return "Locktime requirement not satisfied";
    case TxRule::CtvMismatch: return "Script failed an OP_CHECKTEMPLATEVERIFY operation";
    }
    return "unknown rule";
}

namespace {

Unexpected<TxFailure> Fail(TxRule r, size_t in) { return Unexpected{TxFailure{r, in}}; }

std::optional<Bytes> AnnexOf(const std::vector<Bytes>& w)
{
    if (w.size() >= 2 && !w.back().empty() && w.back()[0] == taproot::ANNEX_TAG) return w.back();
    return std::nullopt;
}

//! The leaf script and its version from a script-path witness (annex stripped). Pre: classified.
std::pair<ByteSpan, uint8_t> LeafOf(const std::vector<Bytes>& w)
{
    const size_t n = w.size() - (AnnexOf(w) ? 1 : 0);
    const Bytes& cb = w[n - 1];
    return {w[n - 2], static_cast<uint8_t>(cb.empty() ? taproot::LEAF_VERSION_TAPSCRIPT : cb[0] & 0xfe)};
}

} // namespace

Expected<void, TxFailure> CheckTx(const Transaction& tx, std::span<const TxOut> prevouts,
                                  std::span<const SpentOutput> spent, int64_t next_block_height)
{
    const auto& vin = tx.vin();
    const auto& vout = tx.vout();
    if (prevouts.size() != vin.size() || spent.size() != vin.size()) return Fail(TxRule::PrevoutsMismatch, 0);
    std::vector<Amount> in_amounts, out_amounts;
    for (const auto& p : prevouts) in_amounts.push_back(p.value);
    for (const auto& o : vout) out_amounts.push_back(o.value);
    AmountState amounts{in_amounts, out_amounts};
    // One CCV output check, as the opcode makes it: a P2TR target, the key, then the amount.
    auto ccv_out = [&](size_t i, uint32_t out, ByteSpan spk, int64_t mode) -> std::optional<TxRule> {
        if (out >= vout.size()) return TxRule::Malformed;
        if (!taproot::P2TRProgram(vout[out].script_pubkey)) return TxRule::InvalidArguments;
        if (!Equal(vout[out].script_pubkey, spk)) return TxRule::ContractMismatch;
        if (!amounts.Check(i, out, mode)) return TxRule::WrongAmount;
        return std::nullopt;
    };
    for (size_t i = 0; i < vin.size(); ++i) {
        const SpentOutput& so = spent[i];
        if (!so.vault) continue;
        const Vault& v = *so.vault;
        const auto& w = vin[i].witness;
        std::optional<Unvaulting> u;
        if (so.unvaulting_data) {
            auto uv = v.UnvaultingFor(*so.unvaulting_data);
            if (!uv || prevouts[i].script_pubkey != uv->spk) return Fail(TxRule::WrongPrevout, i);
            u = std::move(*uv);
        } else if (prevouts[i].script_pubkey != v.ScriptPubKey()) {
            return Fail(TxRule::WrongPrevout, i);
        }
        auto sp = so.unvaulting_data ? ClassifyUnvaultingSpend(w, v, vout.size(), i) : ClassifyVaultSpend(w, v, vout.size(), i);
        if (!sp && sp.error() == CcvError::NotScriptPath) continue; // the alternate key's: its signature only
        if (!sp) return Fail(TxRule::Malformed, i);
        // BIP-341 first: the control block must open the output it spends.
        const auto [leaf, leaf_version] = LeafOf(w);
        const size_t nw = w.size() - (AnnexOf(w) ? 1 : 0);
        auto cb = taproot::ParseControlBlock(w[nw - 1]);
        if (!cb || leaf_version != taproot::LEAF_VERSION_TAPSCRIPT ||
            !taproot::VerifyScriptPath(*cb, leaf, *taproot::P2TRProgram(prevouts[i].script_pubkey))) {
            return Fail(TxRule::WitnessProgramMismatch, i);
        }
        if (sp->clause == Clause::Recover) {
            if (auto r = ccv_out(i, sp->recover_out_i, v.RecoverySpk(), MODE_CHECK_OUTPUT)) return Fail(*r, i);
            continue;
        }
        if (sp->clause == Clause::Withdraw) {
            // BIP-68 is the transaction's, judged before any script runs.
            constexpr uint32_t DISABLE = 1u << 31, TYPE = 1u << 22, MASK = 0xffff;
            const uint32_t seq = vin[i].sequence;
            if (tx.version() >= 2 && (seq & DISABLE) == 0 && (seq & TYPE) == 0) {
                if (!so.confirm_height || next_block_height < *so.confirm_height + static_cast<int64_t>(seq & MASK)) {
                    return Fail(TxRule::NotBip68Final, i);
                }
            }
            // CCV checks this input against the data the witness reveals.
            auto revealed = v.UnvaultingFor(sp->withdraw_data);
            if (!revealed || revealed->spk != prevouts[i].script_pubkey) return Fail(TxRule::ContractMismatch, i);
            if (tx.version() < 2 || (seq & DISABLE) != 0 || (seq & TYPE) != 0 ||
                static_cast<int64_t>(seq & MASK) < v.params().spend_delay) {
                return Fail(TxRule::CsvNotSatisfied, i);
            }
            const Bytes& data = sp->withdraw_data;
            if (v.params().construction == Construction::Ctv) {
                // CTV with an argument of another size is a NOP (an upgrade hook).
                if (data.size() == 32 &&
                    ctv::TemplateHash(tx.mutable_copy(), static_cast<uint32_t>(i)) != Uint256::FromSpan(data)) {
                    return Fail(TxRule::CtvMismatch, i);
                }
            } else {
                // CCV's pk rules: empty = NUMS, -1 = this input's internal key, else 32 bytes.
                std::optional<crypto::XOnlyPubKey> pk;
                if (data.empty()) pk = NumsKey();
                else if (data.size() == 1 && data[0] == 0x81) pk = crypto::XOnlyPubKey::FromTrusted(u->internal_key.xonly);
                else if (data.size() == 32) pk = crypto::XOnlyPubKey::Parse(data);
                else return Fail(TxRule::InvalidArguments, i);
                if (!pk) return Fail(TxRule::ContractMismatch, i);
                if (auto r = ccv_out(i, 0, taproot::P2TRScript(pk->span()), MODE_CHECK_OUTPUT)) return Fail(*r, i);
            }
            // The data is the leaf's result.
            if (!CastToBool(data)) return Fail(TxRule::EvalFalse, i);
            continue;
        }
        // trigger / trigger_and_revault, in script order: the revault (deduct), the unvaulting
        // output (the residual), then the signature.
        const TriggerArgs& a = *sp->trigger;
        if (a.revault_out_i) {
            if (auto r = ccv_out(i, *a.revault_out_i, v.ScriptPubKey(), MODE_CHECK_OUTPUT_DEDUCT_AMOUNT)) return Fail(*r, i);
        }
        auto target = v.UnvaultingFor(a.data);
        if (!target) return Fail(TxRule::ContractMismatch, i);
        if (auto r = ccv_out(i, a.out_i, target->spk, MODE_CHECK_OUTPUT)) return Fail(*r, i);
        if (!VerifyScriptPathSig(tx, prevouts, i, a.signature, leaf, leaf_version, v.params().unvault_key, AnnexOf(w))) {
            return Fail(TxRule::BadSignature, i);
        }
    }
    return {};
}

Expected<RecoveryInput, RecoverError> Resolve(const RecoverInput& in)
{
    const Vault& v = *in.vault;
    if (in.unvaulting_data) {
        auto u = v.UnvaultingFor(*in.unvaulting_data);
        if (!u) return Unexpected{RecoverError::TweakFailed};
        if (in.prevout.script_pubkey != u->spk) return Unexpected{RecoverError::PrevoutMismatch};
        return RecoveryInput{in.outpoint, in.prevout, v.unvaulting_tree().leaves()[*v.LeafIndex(Clause::Recover, true)].script,
                             u->recover_cb.Serialize(), v.RecoverySpk()};
    }
    const auto i = v.LeafIndex(Clause::Recover);
    if (!i) return Unexpected{RecoverError::NoRecoverClause};
    if (in.prevout.script_pubkey != v.ScriptPubKey()) return Unexpected{RecoverError::PrevoutMismatch};
    return RecoveryInput{in.outpoint, in.prevout, v.tree().leaves()[*i].script, v.ControlBlockFor(Clause::Recover).Serialize(),
                         v.RecoverySpk()};
}

Expected<MutableTransaction, RecoveryError> BuildRecoverTx(std::span<const RecoveryInput> inputs,
                                                           const std::optional<TxOut>& change,
                                                           const RecoveryOptions& opts)
{
    if (inputs.empty()) return Unexpected{RecoveryError::NoInputs};
    if (opts.sequence > MAX_BIP125_RBF_SEQUENCE) return Unexpected{RecoveryError::SequenceNotReplaceable};
    std::set<OutPoint> seen;
    Amount fee_total{0};
    for (const auto& f : opts.fee_inputs) {
        if (!seen.insert(f.outpoint).second) return Unexpected{RecoveryError::DuplicateInput};
        auto s = CheckedAdd(fee_total, f.prevout.value);
        if (!s) return Unexpected{RecoveryError::AmountOutOfRange};
        fee_total = *s;
    }
    if (change) {
        if (!MoneyRange(change->value)) return Unexpected{RecoveryError::AmountOutOfRange};
        if (change->value > fee_total) return Unexpected{RecoveryError::ChangeTooLarge};
    }
    struct Group {
        Bytes spk;
        Amount total{0};
    };
    std::vector<Group> groups;
    std::vector<size_t> group_of;
    for (const auto& in : inputs) {
        if (!seen.insert(in.outpoint).second) return Unexpected{RecoveryError::DuplicateInput};
        const auto key = taproot::P2TRProgram(in.recovery_spk);
        const auto xk = key ? crypto::XOnlyPubKey::Parse(*key) : std::nullopt;
        if (!xk || in.leaf_script != MakeRecoverLeaf(*xk)) return Unexpected{RecoveryError::RecoverySpkMismatch};
        size_t g = 0;
        while (g < groups.size() && groups[g].spk != in.recovery_spk) ++g;
        if (g == groups.size()) groups.push_back({in.recovery_spk, Amount{0}});
        auto sum = CheckedAdd(groups[g].total, in.prevout.value);
        if (!sum) return Unexpected{RecoveryError::AmountOutOfRange};
        groups[g].total = *sum;
        group_of.push_back(g);
    }
    MutableTransaction tx;
    tx.version = opts.version;
    tx.locktime = opts.locktime;
    for (size_t i = 0; i < inputs.size(); ++i) {
        tx.vin.push_back(TxIn{inputs[i].outpoint, {}, opts.sequence,
                              {script::EncodeScriptNum(static_cast<int64_t>(group_of[i])), inputs[i].leaf_script,
                               inputs[i].control_block}});
    }
    for (const auto& f : opts.fee_inputs) tx.vin.push_back(TxIn{f.outpoint, {}, opts.sequence, f.witness});
    for (const auto& g : groups) tx.vout.push_back(TxOut{g.total, g.spk});
    if (change) tx.vout.push_back(*change);
    if (opts.fee_signer) {
        const std::vector<TxOut> spent = SpentOutputs(inputs, opts);
        for (size_t k = 0; k < opts.fee_inputs.size(); ++k) {
            const size_t n = inputs.size() + k;
            if (auto w = opts.fee_signer(tx, spent, n)) tx.vin[n].witness = std::move(*w);
        }
    }
    return tx;
}

Expected<MutableTransaction, RecoverError> BuildRecover(std::span<const RecoverInput> inputs,
                                                        const std::optional<TxOut>& change,
                                                        const RecoveryOptions& opts)
{
    if (inputs.empty()) return Unexpected{RecoverError::NoInputs};
    std::vector<RecoveryInput> resolved;
    for (const auto& in : inputs) {
        auto r = Resolve(in);
        if (!r) return Unexpected{r.error()};
        resolved.push_back(std::move(*r));
    }
    auto tx = BuildRecoverTx(resolved, change, opts);
    if (tx) return std::move(*tx);
    switch (tx.error()) {
    case RecoveryError::SequenceNotReplaceable: return Unexpected{RecoverError::SequenceNotReplaceable};
    case RecoveryError::ChangeTooLarge: return Unexpected{RecoverError::ChangeTooLarge};
    case RecoveryError::DuplicateInput: return Unexpected{RecoverError::DuplicateInput};
    default: return Unexpected{RecoverError::AmountOutOfRange};
    }
}

Probe MakeProbe(const crypto::XOnlyPubKey& dest)
{
    // <data: none> <index 0> <dest> <taptree: none> <mode 1> CCV 1
    Bytes leaf{script::OP_0, script::OP_0};
    script::PushData(leaf, dest.span());
    leaf.push_back(script::OP_0);
    script::PushInt(leaf, MODE_CHECK_OUTPUT_IGNORE_AMOUNT);
    leaf.push_back(OP_CHECKCONTRACTVERIFY);
    leaf.push_back(OP_TRUE);
    auto tree = taproot::TapTree::FromLeaves({{leaf, 0}});
    const auto q = taproot::OutputKey(NumsKey(), tree->MerkleRoot()).value();
    return Probe{std::move(leaf), taproot::P2TRScript(ByteSpan{q.xonly.data(), 32}),
                 taproot::MakeControlBlock(*tree, 0, NumsKey(), q)};
}

MutableTransaction ProbeSpend(const Probe& probe, const OutPoint& outpoint, Amount value, Amount fee,
                              const crypto::XOnlyPubKey& to)
{
    MutableTransaction tx;
    tx.version = 2;
    tx.vin.push_back(TxIn{outpoint, {}, 0xfffffffd, {probe.leaf, probe.cb.Serialize()}});
    tx.vout.push_back(TxOut{Amount{value.sats() - fee.sats()}, RecoverySpk(to)});
    return tx;
}

Enforcement JudgeProbe(const ProbeAnswer& valid, const ProbeAnswer& violating)
{
    const std::string& r = violating.reject_reason;
    const bool ccv_refusal = !violating.allowed && (r.find("Mismatching contract data or program") != std::string::npos ||
                                                    r.find("CHECKCONTRACTVERIFY") != std::string::npos);
    return valid.allowed && ccv_refusal ? Enforcement::Enforced : Enforcement::NotEnforced;
}

} // namespace vw::vault::ccv
