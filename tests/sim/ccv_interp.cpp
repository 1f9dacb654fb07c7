#include "ccv_interp.h"

#include "crypto/secp.h"
#include "crypto/sha256.h"
#include "script/ctv.h"
#include "script/script.h"
#include "script/sighash.h"
#include "script/taproot.h"
#include "util/serialize.h"

#include <algorithm>
#include <array>
#include <cstring>

// Deliberately no vault/ccv.h here: see ccv_interp.h.

namespace vw::sim::ccv_interp {

namespace {

constexpr size_t MAX_SCRIPT_ELEMENT_SIZE = 520;
constexpr size_t MAX_STACK_SIZE = 1000;
constexpr int64_t VALIDATION_WEIGHT_OFFSET = 50;
constexpr int64_t VALIDATION_WEIGHT_PER_SIGOP_PASSED = 50;
constexpr uint32_t SEQUENCE_LOCKTIME_DISABLE_FLAG = 1u << 31;
constexpr uint32_t SEQUENCE_LOCKTIME_TYPE_FLAG = 1u << 22;
constexpr uint32_t SEQUENCE_LOCKTIME_MASK = 0x0000ffff;
constexpr int SEQUENCE_LOCKTIME_GRANULARITY = 9;

constexpr uint8_t OP_0 = 0x00;
constexpr uint8_t OP_PUSHDATA4 = 0x4e;
constexpr uint8_t OP_1NEGATE = 0x4f;
constexpr uint8_t OP_1 = 0x51;
constexpr uint8_t OP_16 = 0x60;
constexpr uint8_t OP_DROP = 0x75;
constexpr uint8_t OP_DUP = 0x76;
constexpr uint8_t OP_PICK = 0x79;
constexpr uint8_t OP_SWAP = 0x7c;
constexpr uint8_t OP_CAT = 0x7e;
constexpr uint8_t OP_CHECKSIG = 0xac;
constexpr uint8_t OP_CHECKSEQUENCEVERIFY = 0xb2;
constexpr uint8_t OP_CHECKTEMPLATEVERIFY = 0xb3;
constexpr uint8_t OP_CHECKCONTRACTVERIFY = 0xbb;

//! BIP-443 modes.
constexpr int64_t CCV_MODE_CHECK_INPUT = -1;
constexpr int64_t CCV_MODE_CHECK_OUTPUT = 0;
constexpr int64_t CCV_MODE_CHECK_OUTPUT_IGNORE_AMOUNT = 1;
constexpr int64_t CCV_MODE_CHECK_OUTPUT_DEDUCT_AMOUNT = 2;

//! BIP-341's NUMS point H, which CCV substitutes for an empty pk.
constexpr std::array<uint8_t, 32> NUMS_KEY{0x50, 0x92, 0x9b, 0x74, 0xc1, 0xa0, 0x49, 0x54, 0xb7, 0x8b, 0x4b,
                                           0x60, 0x35, 0xe9, 0x7a, 0x5e, 0x07, 0x8a, 0x5a, 0x0f, 0x28, 0xec,
                                           0x96, 0xd5, 0x47, 0xbf, 0xee, 0x9a, 0xce, 0x80, 0x3a, 0xc0};

using Stack = std::vector<Bytes>;

//! BIP-342's OP_SUCCESSx set (Core IsOpSuccess), as the node of `f` has it: the CCV node has
//! redefined 0xbb and, with its OP_CAT flag, 0x7e.
bool IsOpSuccess(uint8_t op, const Flags& f)
{
    if (op == OP_CHECKCONTRACTVERIFY && f.ccv) return false;
    if (op == OP_CAT && f.ccv && f.op_cat) return false;
    return op == 80 || op == 98 || (op >= 126 && op <= 129) || (op >= 131 && op <= 134) || (op >= 137 && op <= 138) ||
           (op >= 141 && op <= 142) || (op >= 149 && op <= 153) || (op >= 187 && op <= 254);
}

bool Supported(uint8_t op, const Flags& f)
{
    if (op <= OP_PUSHDATA4 || op == OP_1NEGATE || (op >= OP_1 && op <= OP_16)) return true;
    switch (op) {
    case OP_DUP:
    case OP_DROP:
    case OP_SWAP:
    case OP_PICK:
    case OP_CHECKSIG:
    case OP_CHECKSEQUENCEVERIFY:
    case OP_CHECKTEMPLATEVERIFY:
        return true;
    case OP_CHECKCONTRACTVERIFY:
        return f.ccv;
    default:
        return false;
    }
}

bool CastToBool(const Bytes& v)
{
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] != 0) return !(i + 1 == v.size() && v[i] == 0x80); // negative zero
    }
    return false;
}

size_t SerializedWitnessSize(const std::vector<Bytes>& w)
{
    size_t n = CompactSizeLen(w.size());
    for (const auto& item : w) n += CompactSizeLen(item.size()) + item.size();
    return n;
}

//! The per-transaction data shared by its inputs: sighash and CTV midstates (built on first use)
//! and CCV's amount state (BIP-443 "transaction-wide initialization").
class TxContext
{
public:
    TxContext(const Transaction& tx, std::span<const TxOut> spent) : m_tx(tx), m_spent(spent) {}
    const Transaction& tx() const { return m_tx; }
    std::span<const TxOut> spent() const { return m_spent; }
    const sighash::Precomputed& Sighash()
    {
        if (!m_sighash) m_sighash = sighash::Precompute(m_tx.mutable_copy(), {m_spent.begin(), m_spent.end()}).value();
        return *m_sighash;
    }
    const ctv::Precomputed& Ctv()
    {
        if (!m_ctv) m_ctv.emplace(m_tx.mutable_copy());
        return *m_ctv;
    }

private:
    const Transaction& m_tx;
    std::span<const TxOut> m_spent;
    std::optional<sighash::Precomputed> m_sighash;
    std::optional<ctv::Precomputed> m_ctv;
};

struct AmountState {
    explicit AmountState(size_t n_out) : min_amount(n_out, 0), checked_default(n_out, 0), checked_deduct(n_out, 0) {}
    std::vector<int64_t> min_amount;
    std::vector<uint8_t> checked_default;
    std::vector<uint8_t> checked_deduct;
};

//! A script-path spend opened up to the point where the leaf runs (BIP-341 checks done).
struct Opened {
    InputResult::Status status{InputResult::Status::Skipped}; //!< Passed = opened, run the leaf
    std::optional<ScriptError> error;
    const Bytes* script{nullptr};
    size_t stack_items{0};
    std::optional<ByteSpan> annex;
    uint8_t leaf_version{0};
    Uint256 leaf_hash;
    Uint256 merkle_root;
    std::array<uint8_t, 32> internal_key{};
};

Opened OpenScriptPath(const Transaction& tx, size_t n_in, const TxOut& prevout)
{
    Opened o;
    auto program = taproot::P2TRProgram(prevout.script_pubkey);
    if (!program) return o; // not P2TR: not ours
    const TxIn& in = tx.vin()[n_in];
    auto fail = [&](ScriptError e) {
        o.status = InputResult::Status::Failed;
        o.error = e;
        return o;
    };
    if (!in.script_sig.empty()) return fail(ScriptError::WitnessMalleated);
    const auto& w = in.witness;
    if (w.empty()) return fail(ScriptError::WitnessEmpty);
    size_t n = w.size();
    if (n >= 2 && !w[n - 1].empty() && w[n - 1][0] == taproot::ANNEX_TAG) {
        o.annex = ByteSpan{w[n - 1]};
        --n;
    }
    if (n == 1) return o; // key path: not interpreted here
    const Bytes& control = w[n - 1];
    auto cb = taproot::ParseControlBlock(control);
    if (!cb) {
        return fail(cb.error() == taproot::TaprootError::BadControlSize ? ScriptError::WrongControlSize
                                                                         : ScriptError::WitnessProgramMismatch);
    }
    o.script = &w[n - 2];
    o.stack_items = n - 2;
    o.leaf_version = cb->leaf_version;
    o.leaf_hash = taproot::LeafHash(cb->leaf_version, *o.script);
    o.merkle_root = taproot::RootFromPath(o.leaf_hash, cb->path);
    o.internal_key = cb->internal_key;
    const auto p = crypto::XOnlyPubKey::Parse(cb->internal_key);
    std::array<uint8_t, 32> q{};
    std::memcpy(q.data(), program->data(), 32);
    if (!p || !crypto::TweakAddCheck(q, cb->parity, *p, taproot::TweakHash(p->span(), o.merkle_root))) {
        return fail(ScriptError::WitnessProgramMismatch);
    }
    o.status = InputResult::Status::Passed;
    return o;
}

//! One input's tapscript run (Core's ScriptExecutionData plus what CheckContract reads).
class Exec
{
public:
    Exec(TxContext& cx, size_t n_in, const Flags& f, AmountState* amounts, const Opened& o, int64_t weight)
        : m_cx(cx), m_n_in(n_in), m_f(f), m_amounts(amounts), m_o(o), m_weight_left(weight)
    {
    }

    enum class End { Done, Succeed };
    Expected<End, ScriptError> Run(Stack& st, ByteSpan script)
    {
        script::OpIterator it{script};
        while (auto op = it.Next()) {
            auto r = Step(st, *op);
            if (!r) return Unexpected{r.error()};
            if (*r == End::Succeed) return End::Succeed;
            if (st.size() > MAX_STACK_SIZE) return Unexpected{ScriptError::StackSize};
        }
        if (it.failed()) return Unexpected{ScriptError::BadOpcode}; // the OP_SUCCESS scan caught it already
        return End::Done;
    }

private:
    Expected<int64_t, ScriptError> Num(const Bytes& b, size_t max_size = 4) const
    {
        auto n = script::DecodeScriptNum(b, max_size, m_f.minimal_data);
        if (!n) return Unexpected{ScriptError::UnknownError}; // CScriptNum throws: "unknown error"
        return *n;
    }

    Expected<End, ScriptError> Step(Stack& st, const script::Op& op)
    {
        const uint8_t c = op.opcode;
        if (op.is_push) {
            if (op.data.size() > MAX_SCRIPT_ELEMENT_SIZE) return Unexpected{ScriptError::PushSize};
            if (m_f.minimal_data && !script::IsMinimalPush(op)) return Unexpected{ScriptError::MinimalData};
            st.emplace_back(op.data.begin(), op.data.end());
            return End::Done;
        }
        if (c == OP_1NEGATE || (c >= OP_1 && c <= OP_16)) {
            st.push_back(script::EncodeScriptNum(c == OP_1NEGATE ? -1 : c - (OP_1 - 1)));
            return End::Done;
        }
        switch (c) {
        case OP_DUP:
            if (st.empty()) return Unexpected{ScriptError::InvalidStackOperation};
            st.push_back(st.back());
            return End::Done;
        case OP_DROP:
            if (st.empty()) return Unexpected{ScriptError::InvalidStackOperation};
            st.pop_back();
            return End::Done;
        case OP_SWAP:
            if (st.size() < 2) return Unexpected{ScriptError::InvalidStackOperation};
            std::swap(st[st.size() - 1], st[st.size() - 2]);
            return End::Done;
        case OP_PICK: {
            if (st.size() < 2) return Unexpected{ScriptError::InvalidStackOperation};
            auto n = Num(st.back());
            if (!n) return Unexpected{n.error()};
            st.pop_back();
            if (*n < 0 || *n >= static_cast<int64_t>(st.size())) return Unexpected{ScriptError::InvalidStackOperation};
            st.push_back(st[st.size() - 1 - static_cast<size_t>(*n)]);
            return End::Done;
        }
        case OP_CHECKSIG: return CheckSig(st);
        case OP_CHECKSEQUENCEVERIFY: return CheckSequenceVerify(st);
        case OP_CHECKTEMPLATEVERIFY: return CheckTemplateVerify(st);
        case OP_CHECKCONTRACTVERIFY: return CheckContractVerify(st);
        default: break;
        }
        // Unreachable: the caller ran only leaves whose every opcode is Supported().
        return Unexpected{ScriptError::BadOpcode};
    }

    // ---- BIP-342 OP_CHECKSIG --------------------------------------------------------------------

    Expected<End, ScriptError> CheckSig(Stack& st)
    {
        if (st.size() < 2) return Unexpected{ScriptError::InvalidStackOperation};
        const Bytes sig = st[st.size() - 2];
        const Bytes& pk = st.back();
        const bool success = !sig.empty();
        if (success) {
            m_weight_left -= VALIDATION_WEIGHT_PER_SIGOP_PASSED;
            if (m_weight_left < 0) return Unexpected{ScriptError::ValidationWeight};
        }
        if (pk.empty()) return Unexpected{ScriptError::PubkeyType};
        if (pk.size() == 32) {
            if (success) {
                if (auto e = VerifySchnorr(sig, pk)) return Unexpected{*e};
            }
        } else if (m_f.discourage_upgradable_pubkeytype) {
            return Unexpected{ScriptError::DiscourageUpgradablePubkeyType};
        }
        st.pop_back();
        st.pop_back();
        st.push_back(success ? Bytes{1} : Bytes{});
        return End::Done;
    }

    std::optional<ScriptError> VerifySchnorr(Bytes sig, const Bytes& pk)
    {
        if (sig.size() != 64 && sig.size() != 65) return ScriptError::SchnorrSigSize;
        uint8_t hash_type = sighash::SIGHASH_DEFAULT;
        if (sig.size() == 65) {
            hash_type = sig.back();
            if (hash_type == sighash::SIGHASH_DEFAULT) return ScriptError::SchnorrSigHashtype;
            sig.pop_back();
        }
        auto h = sighash::Sighash(m_cx.tx().mutable_copy(), m_cx.Sighash(), static_cast<uint32_t>(m_n_in), hash_type,
                                  sighash::ScriptPath{m_o.leaf_hash, 0xffffffff}, m_o.annex);
        if (!h) return ScriptError::SchnorrSigHashtype;
        auto key = crypto::XOnlyPubKey::Parse(pk);
        if (!key || !crypto::SchnorrVerify(sig, h->span(), *key)) return ScriptError::SchnorrSig;
        return std::nullopt;
    }

    // ---- BIP-112 ------------------------------------------------------------------------------

    Expected<End, ScriptError> CheckSequenceVerify(Stack& st)
    {
        if (st.empty()) return Unexpected{ScriptError::InvalidStackOperation};
        auto n = Num(st.back(), 5);
        if (!n) return Unexpected{n.error()};
        if (*n < 0) return Unexpected{ScriptError::NegativeLocktime};
        if ((*n & SEQUENCE_LOCKTIME_DISABLE_FLAG) != 0) return End::Done; // a NOP: upgrade room
        const Transaction& tx = m_cx.tx();
        const int64_t tx_seq = tx.vin()[m_n_in].sequence;
        auto satisfied = [&] {
            if (static_cast<uint32_t>(tx.version()) < 2) return false;
            if ((tx_seq & SEQUENCE_LOCKTIME_DISABLE_FLAG) != 0) return false;
            constexpr int64_t mask = SEQUENCE_LOCKTIME_TYPE_FLAG | SEQUENCE_LOCKTIME_MASK;
            const int64_t tx_masked = tx_seq & mask, arg_masked = *n & mask;
            const bool both_blocks = tx_masked < SEQUENCE_LOCKTIME_TYPE_FLAG && arg_masked < SEQUENCE_LOCKTIME_TYPE_FLAG;
            const bool both_time = tx_masked >= SEQUENCE_LOCKTIME_TYPE_FLAG && arg_masked >= SEQUENCE_LOCKTIME_TYPE_FLAG;
            return (both_blocks || both_time) && arg_masked <= tx_masked;
        };
        if (!satisfied()) return Unexpected{ScriptError::UnsatisfiedLocktime};
        return End::Done;
    }

    // ---- BIP-119 ------------------------------------------------------------------------------

    Expected<End, ScriptError> CheckTemplateVerify(Stack& st)
    {
        if (!m_f.ctv) return End::Done; // OP_NOP4
        if (st.empty()) return Unexpected{ScriptError::InvalidStackOperation};
        const Bytes& h = st.back();
        if (h.size() == 32) {
            if (!Equal(m_cx.Ctv().Hash(static_cast<uint32_t>(m_n_in)).span(), h)) return Unexpected{ScriptError::TemplateMismatch};
        } else if (m_f.discourage_upgradable_ctv) {
            return Unexpected{ScriptError::DiscourageUpgradableNops};
        }
        return End::Done; // the argument stays on the stack
    }

    // ---- BIP-443 ------------------------------------------------------------------------------

    Expected<End, ScriptError> CheckContractVerify(Stack& st)
    {
        if (st.empty()) return Unexpected{ScriptError::InvalidStackOperation};
        auto mode = Num(st.back());
        if (!mode) return Unexpected{mode.error()};
        if (*mode < CCV_MODE_CHECK_INPUT || *mode > CCV_MODE_CHECK_OUTPUT_DEDUCT_AMOUNT) {
            // Undefined mode: OP_SUCCESS behaviour, the script succeeds here and now.
            st = {Bytes{1}};
            return End::Succeed;
        }
        if (st.size() < 5) return Unexpected{ScriptError::InvalidStackOperation};
        const Bytes& data = st[st.size() - 5];
        auto index = Num(st[st.size() - 4]);
        if (!index) return Unexpected{index.error()};
        const Bytes& pk = st[st.size() - 3];
        const Bytes& taptree = st[st.size() - 2];
        const Bytes minus_one{0x81};
        if (!pk.empty() && pk != minus_one && pk.size() != 32) return Unexpected{ScriptError::CcvWrongArgs};

        std::optional<Uint256> root;
        if (taptree.empty()) {
            // no taptweak
        } else if (taptree == minus_one) {
            root = m_o.merkle_root;
        } else if (taptree.size() == 32) {
            root = Uint256::FromSpan(taptree);
        } else {
            return Unexpected{ScriptError::CcvWrongArgs};
        }
        std::array<uint8_t, 32> naked{};
        if (pk == minus_one) naked = m_o.internal_key;
        else if (pk.empty()) naked = NUMS_KEY;
        else std::memcpy(naked.data(), pk.data(), 32);

        int64_t i = *index == -1 ? static_cast<int64_t>(m_n_in) : *index;
        const Transaction& tx = m_cx.tx();
        const size_t limit = *mode == CCV_MODE_CHECK_INPUT ? tx.vin().size() : tx.vout().size();
        if (i < 0 || i >= static_cast<int64_t>(limit)) return Unexpected{ScriptError::CcvOutOfBounds};
        const size_t idx = static_cast<size_t>(i);
        const Bytes& target = *mode == CCV_MODE_CHECK_INPUT ? m_cx.spent()[idx].script_pubkey : tx.vout()[idx].script_pubkey;
        auto program = taproot::P2TRProgram(target);
        if (!program) return Unexpected{ScriptError::CcvWrongArgs};
        if (!KeyMatches(*program, naked, data, root)) return Unexpected{ScriptError::CcvMismatch};

        if (!m_residual_init) { // BIP-443 input initialization, at the first CCV
            m_residual = m_cx.spent()[m_n_in].value.sats();
            m_residual_init = true;
        }
        if (m_amounts) {
            AmountState& a = *m_amounts;
            const int64_t out_value = *mode == CCV_MODE_CHECK_INPUT ? 0 : tx.vout()[idx].value.sats();
            if (*mode == CCV_MODE_CHECK_OUTPUT) {
                if (a.checked_deduct[idx]) return Unexpected{ScriptError::CcvWrongAmount};
                a.checked_default[idx] = 1;
                a.min_amount[idx] += m_residual;
                m_residual = 0;
                if (out_value < a.min_amount[idx]) return Unexpected{ScriptError::CcvWrongAmount};
            } else if (*mode == CCV_MODE_CHECK_OUTPUT_DEDUCT_AMOUNT) {
                if (a.checked_default[idx] || a.checked_deduct[idx]) return Unexpected{ScriptError::CcvWrongAmount};
                a.checked_deduct[idx] = 1;
                if (out_value > m_residual) return Unexpected{ScriptError::CcvWrongAmount};
                m_residual -= out_value;
            }
            // CCV_MODE_CHECK_INPUT, CCV_MODE_CHECK_OUTPUT_IGNORE_AMOUNT: no amount rule.
            static_assert(CCV_MODE_CHECK_OUTPUT_IGNORE_AMOUNT == 1);
        }
        st.resize(st.size() - 5);
        return End::Done;
    }

    //! Whether program == taptweak(naked + SHA256(naked || data)·G, root) (x coordinates; no data
    //! tweak for empty data, no taptweak without root).
    static bool KeyMatches(ByteSpan program, const std::array<uint8_t, 32>& naked_bytes, const Bytes& data,
                           const std::optional<Uint256>& root)
    {
        auto naked = crypto::XOnlyPubKey::Parse(naked_bytes);
        if (!naked) return false;
        std::array<uint8_t, 32> internal = naked_bytes;
        if (!data.empty()) {
            const Uint256 t = crypto::Sha256().Write(naked->span()).Write(data).Finalize();
            auto k = crypto::TweakAdd(*naked, t);
            if (!k) return false;
            internal = k->xonly;
        }
        if (!crypto::XOnlyPubKey::Parse(program)) return false; // the output key must be a point
        std::array<uint8_t, 32> final_key = internal;
        if (root) {
            auto ik = crypto::XOnlyPubKey::Parse(internal);
            if (!ik) return false;
            auto q = crypto::TweakAdd(*ik, taproot::TweakHash(ik->span(), *root));
            if (!q) return false;
            final_key = q->xonly;
        }
        return Equal(final_key, program);
    }

    TxContext& m_cx;
    size_t m_n_in;
    const Flags& m_f;
    AmountState* m_amounts;
    const Opened& m_o;
    int64_t m_weight_left;
    bool m_residual_init{false};
    int64_t m_residual{0}; //!< CCV's residual input amount, set at its first use
};

InputResult RunInput(TxContext& cx, size_t n_in, const Flags& f, AmountState* amounts)
{
    using S = InputResult::Status;
    const Transaction& tx = cx.tx();
    const Opened o = OpenScriptPath(tx, n_in, cx.spent()[n_in]);
    if (o.status != S::Passed) return {o.status, o.error};
    if (o.leaf_version != taproot::LEAF_VERSION_TAPSCRIPT) {
        if (f.discourage_upgradable_taproot_version) return {S::Failed, ScriptError::DiscourageUpgradableTaprootVersion};
        return {S::Passed, std::nullopt};
    }
    // Before anything runs: OP_SUCCESSx (which wins over everything after it), a truncated push,
    // and whether this interpreter knows every opcode.
    bool supported = true;
    script::OpIterator it{*o.script};
    while (auto op = it.Next()) {
        if (IsOpSuccess(op->opcode, f)) {
            if (f.discourage_op_success) return {S::Failed, ScriptError::DiscourageOpSuccess};
            return {S::Passed, std::nullopt};
        }
        if (!Supported(op->opcode, f)) supported = false;
    }
    if (it.failed()) return {S::Failed, ScriptError::BadOpcode};
    if (!supported) return {S::NotInterpreted, std::nullopt};

    const auto& w = tx.vin()[n_in].witness;
    Stack st(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(o.stack_items));
    if (st.size() > MAX_STACK_SIZE) return {S::Failed, ScriptError::StackSize};
    for (const auto& e : st) {
        if (e.size() > MAX_SCRIPT_ELEMENT_SIZE) return {S::Failed, ScriptError::PushSize};
    }
    Exec ex{cx, n_in, f, amounts, o, static_cast<int64_t>(SerializedWitnessSize(w)) + VALIDATION_WEIGHT_OFFSET};
    auto r = ex.Run(st, *o.script);
    if (!r) return {S::Failed, r.error()};
    if (st.size() != 1) return {S::Failed, ScriptError::CleanStack};
    if (!CastToBool(st.back())) return {S::Failed, ScriptError::EvalFalse};
    return {S::Passed, std::nullopt};
}

} // namespace

std::string_view ToString(ScriptError e)
{
    switch (e) {
    case ScriptError::EvalFalse: return "Script evaluated without error but finished with a false/empty top stack element";
    case ScriptError::CleanStack: return "Stack size must be exactly one after execution";
    case ScriptError::InvalidStackOperation: return "Operation not valid with the current stack size";
    case ScriptError::PushSize: return "Push value size limit exceeded";
    case ScriptError::StackSize: return "Stack size limit exceeded";
    case ScriptError::MinimalData: return "Data push larger than necessary";
    case ScriptError::UnknownError: return "unknown error";
    case ScriptError::BadOpcode: return "Opcode missing or not understood";
    case ScriptError::DiscourageOpSuccess: return "OP_SUCCESSx reserved for soft-fork upgrades";
    case ScriptError::DiscourageUpgradableNops: return "NOPx reserved for soft-fork upgrades";
    case ScriptError::DiscourageUpgradableTaprootVersion: return "Taproot version reserved for soft-fork upgrades";
    case ScriptError::DiscourageUpgradablePubkeyType: return "Public key version reserved for soft-fork upgrades";
    case ScriptError::PubkeyType: return "Public key is neither compressed or uncompressed";
    case ScriptError::SchnorrSigSize: return "Invalid Schnorr signature size";
    case ScriptError::SchnorrSigHashtype: return "Invalid Schnorr signature hash type";
    case ScriptError::SchnorrSig: return "Invalid Schnorr signature";
    case ScriptError::ValidationWeight: return "Too much signature validation relative to witness weight";
    case ScriptError::NegativeLocktime: return "Negative locktime";
    case ScriptError::UnsatisfiedLocktime: return "Locktime requirement not satisfied";
    case ScriptError::TemplateMismatch: return "Script failed an OP_CHECKTEMPLATEVERIFY operation";
    case ScriptError::CcvWrongArgs: return "Invalid arguments for OP_CHECKCONTRACTVERIFY";
    case ScriptError::CcvOutOfBounds: return "Index of input/output out of bounds in OP_CHECKCONTRACTVERIFY";
    case ScriptError::CcvMismatch: return "Mismatching contract data or program";
    case ScriptError::CcvWrongAmount: return "Incorrect amount for OP_CHECKCONTRACTVERIFY";
    case ScriptError::WitnessProgramMismatch: return "Witness program hash mismatch";
    case ScriptError::WrongControlSize: return "Invalid Taproot control block size";
    case ScriptError::WitnessEmpty: return "Witness program was passed an empty witness";
    case ScriptError::WitnessMalleated: return "Witness requires empty scriptSig";
    }
    return "unknown error";
}

Flags Flags::Mandatory()
{
    // MANDATORY_SCRIPT_VERIFY_FLAGS of the CCV node: P2SH, DERSIG, NULLDUMMY, CLTV, CSV, WITNESS,
    // TAPROOT. CCV has no flag (always on there); CTV and OP_CAT are not in the set.
    Flags f;
    f.ctv = false;
    f.track_amounts = false; // the node's second run passes no TransactionExecutionData
    f.minimal_data = false;
    f.discourage_op_success = false;
    f.discourage_upgradable_ctv = false;
    f.discourage_upgradable_pubkeytype = false;
    f.discourage_upgradable_taproot_version = false;
    f.op_cat = false;
    return f;
}

Flags Flags::Block()
{
    Flags f = Mandatory();
    f.ctv = true;
    f.track_amounts = true;
    f.op_cat = true;
    return f;
}

std::string TxResult::RejectReason() const
{
    if (ok()) return {};
    const std::string e{ToString(*error)};
    return mandatory ? "mandatory-script-verify-flag-failed (" + e + ")" : "non-mandatory-script-verify-flag (" + e + ")";
}

TxResult VerifyTx(const Transaction& tx, std::span<const TxOut> spent, const Flags& flags)
{
    TxContext cx{tx, spent};
    AmountState amounts{tx.vout().size()};
    TxResult r;
    for (size_t i = 0; i < tx.vin().size(); ++i) {
        InputResult in = RunInput(cx, i, flags, flags.track_amounts ? &amounts : nullptr);
        r.inputs.push_back(in);
        if (in.status != InputResult::Status::Failed) continue;
        r.failed_input = i;
        r.error = in.error;
        // CheckInputScripts: the same input again without the non-mandatory flags (and without
        // the amount state); still failing = a consensus failure.
        Flags m = Flags::Mandatory();
        m.ccv = flags.ccv;
        r.mandatory = RunInput(cx, i, m, nullptr).status == InputResult::Status::Failed;
        return r;
    }
    return r;
}

std::optional<size_t> FirstOpSuccessSpend(const Transaction& tx, std::span<const TxOut> spent)
{
    Flags v31 = Flags::Mandatory();
    v31.ccv = false;
    for (size_t i = 0; i < tx.vin().size(); ++i) {
        const Opened o = OpenScriptPath(tx, i, spent[i]);
        if (o.status != InputResult::Status::Passed || o.leaf_version != taproot::LEAF_VERSION_TAPSCRIPT) continue;
        script::OpIterator it{*o.script};
        while (auto op = it.Next()) {
            if (IsOpSuccess(op->opcode, v31)) return i;
        }
    }
    return std::nullopt;
}

std::string V31ScriptDebug(const Transaction& tx, size_t input)
{
    const auto& prev = tx.vin().at(input).prevout;
    return "input " + std::to_string(input) + " of " + tx.GetTxid().ToString() + " (wtxid " + tx.GetWtxid().ToString() +
           "), spending " + prev.txid.ToString() + ":" + std::to_string(prev.n);
}

bool SequenceLocksSatisfied(const Transaction& tx, std::span<const int> prev_heights, const SequenceLockContext& ctx)
{
    // CalculateSequenceLocks + EvaluateSequenceLocks.
    if (static_cast<uint32_t>(tx.version()) < 2) return true;
    int min_height = -1;
    int64_t min_time = -1;
    for (size_t i = 0; i < tx.vin().size(); ++i) {
        const uint32_t seq = tx.vin()[i].sequence;
        if ((seq & SEQUENCE_LOCKTIME_DISABLE_FLAG) != 0) continue;
        const int coin_height = prev_heights[i];
        if ((seq & SEQUENCE_LOCKTIME_TYPE_FLAG) != 0) {
            const int64_t coin_time = ctx.mtp_at ? ctx.mtp_at(std::max(coin_height - 1, 0)) : 0;
            min_time = std::max(min_time, coin_time + (static_cast<int64_t>(seq & SEQUENCE_LOCKTIME_MASK) << SEQUENCE_LOCKTIME_GRANULARITY) - 1);
        } else {
            min_height = std::max(min_height, coin_height + static_cast<int>(seq & SEQUENCE_LOCKTIME_MASK) - 1);
        }
    }
    return !(min_height >= ctx.next_height || min_time >= ctx.tip_mtp);
}

} // namespace vw::sim::ccv_interp
